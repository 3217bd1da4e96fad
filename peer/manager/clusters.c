/*
 * clusters.c — peers started with "cluster": one cookie per cluster, and
 * the same kind of node names throughout (relay.c connects a member to the
 * others as it boots).
 *
 * A cluster is made by its first member's start and kept for the life of
 * peerd (a name and a cookie), so a member started later, even after all
 * others went, gets the same cookie.
 */
#include "manager_int.h"

#include <sys/random.h>

struct cluster { cluster *next; char *name, *cookie; bool longnames; };

static char *random_cookie(void)
{
    uint8_t r[20];
    char *s = malloc(sizeof r + 1);
    if (!s || getrandom(r, sizeof r, 0) != sizeof r) { free(s); return NULL; }
    for (size_t i = 0; i < sizeof r; i++) s[i] = (char)('A' + r[i] % 26);
    s[sizeof r] = 0;
    return s;
}

bool mgr_cluster_admit(pm *m, pm_start_opts *o, pm_req *r)
{
    cluster *c = m->clusters;
    while (c && strcmp(c->name, o->cluster)) c = c->next;
    if (!c) {
        if (!(c = calloc(1, sizeof *c)) || !(c->name = strdup(o->cluster)) ||
            !(c->cookie = o->cookie ? strdup(o->cookie) : random_cookie())) {
            if (c) { free(c->name); free(c); }
            mgr_finish(r, PM_ERR_NOMEM, NULL);
            return false;
        }
        c->longnames = o->longnames;
        c->next = m->clusters;
        m->clusters = c;
    }
    if (o->cookie && strcmp(o->cookie, c->cookie)) {
        mgr_finish(r, PM_ERR_CONFLICT, xasprintf("cluster %s: its members share a cookie, and this is another", c->name));
        return false;
    }
    if (o->longnames != c->longnames) {
        mgr_finish(r, PM_ERR_CONFLICT, xasprintf("cluster %s: its members have %s names", c->name, c->longnames ? "long" : "short"));
        return false;
    }
    if (!o->cookie && !(o->cookie = strdup(c->cookie))) { mgr_finish(r, PM_ERR_NOMEM, NULL); return false; }
    if (o->conn == PM_CONN_DIST) return true;   /* its connection hands the cookie over */
    /* Handed over as a distribution connection does: HOME with the
     * cookie, never on the command line. A HOME in env wins. */
    for (char **e = o->env; e && *e; e++)
        if (!strncmp(*e, "HOME=", 5)) return true;
    const char *home = conn_host_cookie_home(&m->host, o->cookie);
    size_t n = strv_len(o->env);
    char **env = home ? realloc(o->env, (n + 2) * sizeof *env) : NULL;
    if (env) o->env = env;
    if (!env || !(env[n] = xasprintf("HOME=%s", home))) {
        mgr_finish(r, PM_ERR_INTERNAL, xasprintf("cannot write the cookie for the node"));
        return false;
    }
    env[n + 1] = NULL;
    return true;
}

void mgr_clusters_free(pm *m)
{
    while (m->clusters) {
        cluster *c = m->clusters;
        m->clusters = c->next;
        free(c->name);
        free(c->cookie);
        free(c);
    }
}

/* A cluster member, once it has started, connects to every other member
 * whose node is up (running, or started and still booting: two members
 * booting at once still meet, as the later one connects to the earlier);
 * it is running when every connect_node has answered. */
int mgr_join_cluster(peer *p)
{
    int n = 0;
    for (peer *q = p->m->peers; p->opt->cluster && q; q = q->next)
        if (q != p && q->opt->cluster && !strcmp(q->opt->cluster, p->opt->cluster) && q->node && !q->removed &&
            q->state != ST_DOWN && !q->stopping)
            n += mgr_internal_call(p, P_JOIN, "net_kernel", "connect_node", q->node);
    return n;
}

/* A member's connect_node answered. true: connected. false or an
 * exception: the member could not be reached (a partition, another
 * cookie); /clusters shows who is connected to whom. */
void mgr_join_answered(peer *p, const char *klass, const uint8_t *result, size_t n)
{
    arena *a = arena_new();
    term *t = a && !strcmp(klass, "ok") ? etf_decode_body(a, result, n, NULL) : NULL;
    if (!t || !term_is_atom(t, "true"))
        mgr_plogf(p, "peer %s could not connect to a member of cluster %s", p->id, p->opt->cluster);
    arena_free(a);
}

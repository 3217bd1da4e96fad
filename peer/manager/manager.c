/*
 * manager.c — the peer manager, on peerd's one loop (loop.h): requests in,
 * handled as one batch at the end of the loop's turn (turn_end), after which
 * followers catch up and what died in the turn is freed.
 *
 * It watches a signalfd for SIGCHLD; each peer's control connection
 * (conn.h) watches its own pipes and sockets and delivers console bytes and
 * messages to relay.c. Nothing here blocks: writes queue in the connection
 * and wait for EPOLLOUT, reads take what is there. manager_int.h lists
 * which file holds which concern.
 */
#include "manager_int.h"

#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <dirent.h>
#include <sys/signalfd.h>
#include <unistd.h>

const int boot_bucket_ms[8] = { 100, 250, 500, 1000, 2500, 5000, 10000, 30000 };
const char *const state_names[] = { "booting", "running", "down" };

pm_req *pm_req_new(pm_op op, const char *id)
{
    pm_req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->op = op;
    r->exit_status = -1;
    r->client_fd = -1;
    if (id && !(r->id = strdup(id))) { free(r); return NULL; }
    return r;
}

void pm_req_free(pm_req *r)
{
    if (!r) return;
    free(r->id);
    free(r->to);
    free(r->sel);
    free(r->cluster);
    pm_start_opts_free(r->start);
    buf_free(&r->payload);
    free(r->detail);
    for (size_t i = 0; i < r->ninfo; i++) pm_peer_info_free(&r->info[i]);
    free(r->info);
    free(r->klass);
    if (r->reply_mem) free(r->reply_mem);
    else buf_free(&r->reply);
    free(r->console_tail);
    arena_free(r->identity_arena);
    arena_free(r->names_arena);
    free(r);
}

void pm_get_figures(const pm *m, pm_figures *out)
{
    memset(out, 0, sizeof *out);
    for (const peer *p = m->peers; p; p = p->next)
        if (!p->removed) out->peers[p->state]++;
    out->starts = m->starts;
    out->boot_failures = m->boot_failures;
    out->console_bytes = m->console_bytes;
    memcpy(out->events_by_type, m->events_by_type, sizeof out->events_by_type);
    out->boot_count = m->boot_count;
    out->boot_ms_sum = m->boot_ms_sum;
    out->boot_bucket_ms = boot_bucket_ms;
    memcpy(out->boot_buckets, m->boot_buckets, sizeof out->boot_buckets);
    out->unreachable = m->unreachable;
    out->unreachable_total = m->unreachable_total;
    out->tombstones = m->ntombs;
    out->tombstone_bytes = m->tomb_bytes;
}

/* Every peer held (those r's selector and cluster pick), in creation order. */
static void do_list(pm *m, pm_req *r)
{
    r->info = calloc((size_t)m->npeers + 1, sizeof *r->info);
    if (!r->info) { mgr_finish(r, PM_ERR_NOMEM, NULL); return; }
    /* Newest first in the list; reverse for creation order. */
    size_t n = 0;
    for (peer *p = m->peers; p; p = p->next)
        if (!p->removed && (!r->sel || selector_match(r->sel, p->opt->labels)) &&
            (!r->cluster || (p->opt->cluster && !strcmp(p->opt->cluster, r->cluster))))
            mgr_snapshot(p, &r->info[n++]);
    for (size_t i = 0; i < n / 2; i++) {
        pm_peer_info t = r->info[i];
        r->info[i] = r->info[n - 1 - i];
        r->info[n - 1 - i] = t;
    }
    r->ninfo = n;
    mgr_finish(r, PM_OK, NULL);
}

/* The node atom and creation of the peer's pids (term text needs them). */
static void do_identity(peer *p, pm_req *r)
{
    if (!p->node_atom) { mgr_finish(r, PM_ERR_NOCONNECTION, xasprintf("peer %s has not booted yet", p->id)); return; }
    r->identity_arena = arena_new();
    r->identity.node = r->identity_arena ? term_atom(r->identity_arena, p->node_atom->atom.s, p->node_atom->atom.len) : NULL;
    r->identity.creation = p->creation;
    r->calls_at_once = p->conn ? p->conn->ops->calls_at_once : 0;
    mgr_finish(r, r->identity.node ? PM_OK : PM_ERR_NOMEM, NULL);
}

static void handle_req(pm *m, pm_req *r)
{
    r->next = NULL;
    if (m->shutting_down && r->op != PM_LIST && r->op != PM_GET && r->op != PM_UNFOLLOW && r->op != PM_REFILL) {
        mgr_finish(r, PM_ERR_SHUTTING_DOWN, xasprintf("peerd is shutting down"));
        return;
    }
    if (r->op == PM_START) { mgr_do_start(m, r); return; }
    if (r->op == PM_UNFOLLOW) { mgr_do_unfollow(m, r); return; }
    if (r->op == PM_REFILL) { mgr_do_refill(r); return; }
    if (r->op == PM_FOLLOW && r->follow == PM_FOLLOW_EVENTS) { mgr_do_follow(m, NULL, r); return; }
    if (r->op == PM_LIST) { do_list(m, r); return; }
    peer *p = mgr_find_peer(m, r->id);
    if (!p) { mgr_not_found(m, r); return; }
    switch (r->op) {
    case PM_GET: mgr_answer_with_info(r, p, PM_OK, NULL); break;
    case PM_STOP: mgr_stop_begin(p, r); break;
    case PM_CALL: case PM_CAST: case PM_SEND: mgr_do_relay(m, p, r); break;
    case PM_WAIT: mgr_do_wait(m, p, r); break;
    case PM_LEASE: mgr_do_lease(m, p, r); break;
    case PM_FOLLOW: mgr_do_follow(m, p, r); break;
    case PM_IDENTITY: do_identity(p, r); break;
    default:
        mgr_finish(r, PM_ERR_INTERNAL, NULL);
    }
}

/* Requests are handled at the end of the loop's turn, as one batch. */
void pm_submit(pm *m, pm_req *r)
{
    r->next = NULL;
    if (m->stopped) {
        mgr_finish(r, PM_ERR_SHUTTING_DOWN, xasprintf("peerd is shutting down"));
        return;
    }
    if (m->qtail) m->qtail->next = r; else m->qhead = r;
    m->qtail = r;
    if (m->hook_turn == loop_turn(m->l)) loop_wake(m->l);   /* else this turn's end takes it */
}

bool pm_answer_now(pm *m, pm_req *r)
{
    switch (r->op) {
    case PM_GET: case PM_LIST: case PM_IDENTITY:
        r->next = NULL;
        if (m->stopped) mgr_finish(r, PM_ERR_SHUTTING_DOWN, xasprintf("peerd is shutting down"));
        else handle_req(m, r);
        return true;
    default:
        return false;
    }
}

static void drain_queue(pm *m)
{
    pm_req *r = m->qhead;
    m->qhead = m->qtail = NULL;
    m->batching = true;
    while (r) {
        pm_req *next = r->next;
        handle_req(m, r);
        r = next;
    }
    m->batching = false;
    for (peer *p = m->corked, *n; p; p = n) {
        n = p->next_corked;
        p->corked = false;
        if (!p->dead) mgr_flush_out(p);
    }
    m->corked = NULL;
}

/* The manager's end of a turn: the requests of the turn, then followers
 * catch up, then what died in the turn is freed. */
static int turn_end(void *ud)
{
    pm *m = ud;
    m->hook_turn = loop_turn(m->l);
    while (m->qhead) drain_queue(m);
    mgr_fill_followers(m);
    for (peer *p = m->graveyard, *next; p; p = next) {
        next = p->next;
        free(p);
    }
    m->graveyard = NULL;
    for (follower *f = m->dead_followers, *next; f; f = next) {
        next = f->next;
        free(f);
    }
    m->dead_followers = NULL;
    if (m->shutting_down && !m->peers && !m->stopped) {
        /* Followers of /events get the shutdown's last events, then the end. */
        for (follower *f = m->event_followers; f; f = f->next)
            if (!f->finished && !f->dead) { mgr_fill_events(f, true); mgr_finish_follower(f, STREAM_END); }
        m->stopped = true;
        if (m->quit_done) m->quit_done(m->quit_ud);
    }
    return -1;
}

static void on_signal_ready(loop_watch *w, uint32_t ev) { (void)ev; mgr_reap(w->ud); }

pm *pm_new(loop *l, const pm_config *cfg)
{
    pm *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->l = l;
    m->cfg = *cfg;
    m->host.l = l;
    m->host.cookie = cfg->cookie ? cfg->cookie : "peerd";
    m->host.dist_address = cfg->dist_address;
    if (getrandom(&m->instance, sizeof m->instance, 0) != sizeof m->instance) m->instance = (uint64_t)wall_ms() ^ (uint64_t)getpid() << 32;
    m->events = calloc(MAX_EVENTS, sizeof *m->events);
    if (!m->events) { free(m); return NULL; }
    if (!m->cfg.console_buffer) m->cfg.console_buffer = 1 << 20;
    if (!m->cfg.tombstone_ms) m->cfg.tombstone_ms = TOMBSTONE_MS;
    if (m->cfg.max_peers <= 0) m->cfg.max_peers = 256;
    /* SIGCHLD is blocked (the loop's helper thread blocks every signal
     * itself) and read from a signalfd on the loop. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    m->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    m->w_signal.fd = -1;
    if (m->sfd < 0 || loop_watch_fd(l, &m->w_signal, m->sfd, EPOLLIN, on_signal_ready, m) < 0 ||
        loop_on_turn_end(l, turn_end, m) < 0) { pm_free(m); return NULL; }
    /* Detached nodes re-parent to us, so we can wait for them and kill them. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    signal(SIGPIPE, SIG_IGN);
    return m;
}

uint64_t pm_instance(const pm *m) { return m->instance; }

void pm_quit(pm *m, void (*done)(void *ud), void *ud)
{
    m->quit_done = done;
    m->quit_ud = ud;
    if (!m->shutting_down) mgr_begin_shutdown(m);
    loop_wake(m->l);
}

void pm_free(pm *m)
{
    if (!m) return;
    mgr_timer_clear(m, &m->tomb_timer);
    while (m->tombs) {
        tombstone *t = m->tombs;
        m->tombs = t->next;
        if (t->info.crash_dump) unlink(t->info.crash_dump);
        pm_peer_info_free(&t->info);
        free(t);
    }
    if (m->dump_dir) {
        /* What is left there (a node that outlived its peer) goes too. */
        DIR *d = opendir(m->dump_dir);
        for (struct dirent *e; d && (e = readdir(d));)
            if (e->d_name[0] != '.') unlinkat(dirfd(d), e->d_name, 0);
        if (d) closedir(d);
        rmdir(m->dump_dir);
        free(m->dump_dir);
    }
    mgr_free_events(m);
    mgr_clusters_free(m);
    /* Followers whose responses never came back to unfollow (shutdown). */
    follower *lists[] = { m->event_followers, m->detached };
    for (int k = 0; k < 2; k++)
        for (follower *f = lists[k], *n; f; f = n) {
            n = f->next;
            if (f->client_fd >= 0) close(f->client_fd);
            stream_unref(f->s);
            free(f->to);
            mgr_drop_held(f);
            free(f);
        }
    if (m->sfd >= 0) { loop_unwatch(m->l, &m->w_signal); close(m->sfd); }
    conn_host_clear(&m->host);
    free(m);
}

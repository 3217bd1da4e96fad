/*
 * clusters.c — GET /clusters and GET /clusters/{name}: the members of a
 * cluster and who is connected to whom, from each member's own nodes()
 * (asked of every member at once), so that a test can wait for a full
 * mesh, or see the partition it made.
 */
#include "common.h"
#include "etf.h"
#include "groups.h"
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum MHD_Result listed(http_req *h)
{
    pm_req *r = h->pm;
    if (r->status != PM_OK) return http_pm_error(h, r);
    cJSON *o = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(o, "clusters");
    for (size_t i = 0; i < r->ninfo; i++) {
        const char *c = r->info[i].cluster;
        if (!c) continue;
        cJSON *e = NULL;
        for (cJSON *x = list->child; x && !e; x = x->next)
            if (!strcmp(cJSON_GetObjectItemCaseSensitive(x, "name")->valuestring, c)) e = x;
        if (!e) {
            e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "name", c);
            cJSON_AddNumberToObject(e, "members", 0);
            cJSON_AddNumberToObject(e, "running", 0);
            cJSON_AddItemToArray(list, e);
        }
        cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "members");
        cJSON_SetNumberValue(n, n->valuedouble + 1);
        if (!strcmp(r->info[i].state, "running")) {
            n = cJSON_GetObjectItemCaseSensitive(e, "running");
            cJSON_SetNumberValue(n, n->valuedouble + 1);
        }
    }
    return http_json(h, 200, o);
}

enum MHD_Result clusters_list(http_req *h)
{
    pm_req *r = pm_req_new(PM_LIST, NULL);
    return r ? http_submit(h, r, listed) : MHD_NO;
}

static pm_req *make_nodes(http_req *h, const group_peer *m)
{
    (void)h;
    pm_req *r = pm_req_new(PM_CALL, m->id);
    if (!r) return NULL;
    r->timeout_ms = 5000;
    etf_encode_atom(&r->payload, "erlang", 6);
    etf_encode_atom(&r->payload, "nodes", 5);
    buf_byte(&r->payload, NIL_EXT);
    if (r->payload.oom) { pm_req_free(r); return NULL; }
    return r;
}

/* The node names a member's nodes() answered, or NULL. */
static cJSON *connected(const pm_req *r)
{
    if (r->status != PM_OK || strcmp(r->klass, "ok")) return NULL;
    arena *a = arena_new();
    term *t = a ? etf_decode(a, r->reply.p, r->reply.len, NULL) : NULL;
    cJSON *list = t && (t->type == TERM_LIST || t->type == TERM_NIL) ? cJSON_CreateArray() : NULL;
    for (size_t i = 0; list && t->type == TERM_LIST && i < t->list.n; i++) {
        term *n = t->list.items[i];
        if (n->type != TERM_ATOM) continue;
        char name[300];
        snprintf(name, sizeof name, "%.*s", (int)n->atom.len, n->atom.s);
        cJSON_AddItemToArray(list, cJSON_CreateString(name));
    }
    arena_free(a);
    return list;
}

static bool names(const cJSON *list, const char *node)
{
    for (const cJSON *x = list ? list->child : NULL; x; x = x->next)
        if (!strcmp(x->valuestring, node)) return true;
    return false;
}

static enum MHD_Result asked(http_req *h)
{
    group *g = h->state;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", g->cluster);
    cJSON *members = cJSON_AddArrayToObject(o, "members");
    for (size_t i = 0; i < g->n; i++) {
        const group_peer *m = &g->member[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "id", m->id);
        if (m->info->node) cJSON_AddStringToObject(e, "node", m->info->node); else cJSON_AddNullToObject(e, "node");
        cJSON_AddStringToObject(e, "state", m->info->state);
        cJSON *c = m->req >= 0 ? connected(h->many[m->req]) : NULL;
        cJSON_AddItemToObject(e, "connected", c ? c : cJSON_CreateNull());
        cJSON_AddItemToArray(members, e);
    }
    /* A full mesh: every member running, and each one's nodes() naming
     * every other's node. A member booting, down or stopping, or one whose
     * nodes() did not answer, is not meshed. */
    bool full = true;
    for (cJSON *a = members->child; a && full; a = a->next) {
        const cJSON *seen = cJSON_GetObjectItemCaseSensitive(a, "connected");
        full = !strcmp(cJSON_GetObjectItemCaseSensitive(a, "state")->valuestring, "running") && cJSON_IsArray(seen);
        for (cJSON *b = members->child; b && full; b = b->next) {
            const cJSON *node = cJSON_GetObjectItemCaseSensitive(b, "node");
            full = a == b || (cJSON_IsString(node) && names(seen, node->valuestring));
        }
    }
    cJSON_AddBoolToObject(o, "full_mesh", full);
    return http_json(h, 200, o);
}

static enum MHD_Result members_listed(http_req *h)
{
    group *g = h->state;
    if (!g->n) return http_problemf(h, 404, "not_found", "no cluster %s: no live peer is its member", g->cluster);
    return group_fan_out(h, g, make_nodes, asked);
}

enum MHD_Result clusters_get(http_req *h)
{
    group *g = group_attach(h);
    if (!g) return MHD_NO;
    g->cluster = h->seg[1];
    return group_resolve(h, g, members_listed);
}

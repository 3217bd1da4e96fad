/*
 * groups.c — many peers in one request: the group a selector or a list of
 * ids names, stopped together (DELETE /peers?selector=) or called together
 * (POST /calls, POST /casts: erpc:multicall/cast over HTTP).
 *
 * A group request first lists the peers (one PM_LIST, answered at once from
 * what the manager holds), then hands one request per member to the manager
 * with http_submit_all: every call is sent before any is awaited, and the
 * answer is written when the last member has answered.
 */
#include "common.h"
#include "groups.h"
#include "handlers.h"
#include "term_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void group_free(group *g)
{
    if (!g) return;
    free(g->sel);
    for (size_t i = 0; i < g->nids; i++) free(g->ids[i]);
    free(g->ids);
    pm_req_free(g->list);
    free(g->member);
}

bool group_selector(http_req *h, const char *text, size_t n, selector **out, enum MHD_Result *answered)
{
    char err[256];
    selector *s = malloc(sizeof *s);
    if (!s) { *answered = MHD_NO; return false; }
    if (!selector_parse(s, text, n, err, sizeof err)) {
        free(s);
        *answered = http_problem(h, 400, "invalid_selector", err, NULL);
        return false;
    }
    *out = s;
    return true;
}

bool group_by_selector(http_req *h, group *g, const char *text, enum MHD_Result *answered)
{
    g->sel_text = text;
    return group_selector(h, text, strlen(text), &g->sel, answered);
}

bool group_from_body(http_req *h, const cJSON *body, group *g, enum MHD_Result *answered)
{
    const cJSON *sel = cJSON_GetObjectItemCaseSensitive(body, "selector");
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(body, "peers");
    if (!sel == !ids) {
        *answered = http_problem(h, 400, "invalid_arg", "give the peers as \"peers\" (an array of ids) or \"selector\" (labels), one of them", NULL);
        return false;
    }
    if (sel) {
        if (!cJSON_IsString(sel) || json_has_nul(sel)) {
            *answered = http_problem(h, 400, "invalid_selector", "selector: must be a string such as \"job=1234,role=db\"", NULL);
            return false;
        }
        return group_by_selector(h, g, sel->valuestring, answered);
    }
    int n = cJSON_GetArraySize(ids);
    if (!cJSON_IsArray(ids) || n < 1 || n > 10000) {
        *answered = http_problem(h, 400, "invalid_arg", "peers: must be an array of 1 to 10000 peer ids", NULL);
        return false;
    }
    g->ids = calloc((size_t)n + 1, sizeof *g->ids);
    if (!g->ids) { *answered = MHD_NO; return false; }
    for (const cJSON *e = ids->child; e; e = e->next) {
        if (!cJSON_IsString(e) || json_has_nul(e) || !e->valuestring[0]) {
            *answered = http_problemf(h, 400, "invalid_arg", "peers[%zu]: must be a peer id", g->nids);
            return false;
        }
        if (!(g->ids[g->nids++] = strdup(e->valuestring))) { *answered = MHD_NO; return false; }
    }
    return true;
}

static enum MHD_Result listed(http_req *h)
{
    group *g = h->state;
    pm_req *r = h->pm;
    h->pm = NULL;
    g->list = r;
    if (r->status != PM_OK) return http_pm_error(h, r);
    if (g->sel_text && !r->ninfo)
        return http_problemf(h, 404, "no_match", "selector \"%.200s\" picks no peer", g->sel_text);
    size_t n = g->ids ? g->nids : r->ninfo;
    g->member = calloc(n + 1, sizeof *g->member);
    if (!g->member) return MHD_NO;
    g->n = n;
    for (size_t i = 0; i < n; i++) {
        if (!g->ids) { g->member[i] = (group_peer){ r->info[i].id, &r->info[i], -1 }; continue; }
        g->member[i].id = g->ids[i];
        for (size_t k = 0; k < r->ninfo && !g->member[i].info; k++)
            if (!strcmp(r->info[k].id, g->ids[i])) g->member[i].info = &r->info[k];
    }
    return g->then(h);
}

enum MHD_Result group_resolve(http_req *h, group *g, http_then then)
{
    pm_req *r = pm_req_new(PM_LIST, NULL);
    if (!r) return MHD_NO;
    r->sel = g->sel;
    g->sel = NULL;
    if (g->cluster && !(r->cluster = strdup(g->cluster))) { pm_req_free(r); return MHD_NO; }
    g->then = then;
    return http_submit(h, r, listed);
}

enum MHD_Result group_fan_out(http_req *h, group *g, pm_req *(*make)(http_req *h, const group_peer *m), http_then then)
{
    pm_req **rs = calloc(g->n + 1, sizeof *rs);
    size_t k = 0;
    for (size_t i = 0; rs && i < g->n; i++) {
        g->member[i].req = -1;
        if (!g->member[i].info) continue;
        if (!(rs[k] = make(h, &g->member[i]))) {
            while (k) pm_req_free(rs[--k]);
            free(rs);
            return MHD_NO;
        }
        g->member[i].req = (long)k++;
    }
    if (!rs) return MHD_NO;
    return http_submit_all(h, rs, k, then);
}

cJSON *group_outcome(const http_req *h, const group_peer *m, cJSON *(*outcome)(const pm_req *r))
{
    /* The peer first: one object per member reads as a table. */
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "peer", m->id);
    if (m->info && m->info->node) cJSON_AddStringToObject(o, "node", m->info->node);
    else cJSON_AddNullToObject(o, "node");
    if (m->req < 0) {
        cJSON_AddStringToObject(o, "outcome", "error");
        cJSON_AddStringToObject(o, "code", "not_found");
        char d[300];
        snprintf(d, sizeof d, "no peer %.200s is running here", m->id);
        cJSON_AddStringToObject(o, "detail", d);
        return o;
    }
    cJSON *x = outcome(h->many[m->req]);
    if (!x) { cJSON_Delete(o); return NULL; }
    json_move_members(o, x);
    return o;
}

/* ---- DELETE /peers?selector= ---- */

static pm_req *make_stop(http_req *h, const group_peer *m)
{
    (void)h;
    return pm_req_new(PM_STOP, m->id);
}

static enum MHD_Result all_stopped(http_req *h)
{
    group *g = h->state;
    buf b = {0};
    buf_str(&b, "{\"peers\":[");
    bool first = true;
    for (size_t i = 0; i < g->n; i++) {
        const pm_req *r = h->many[g->member[i].req];
        /* A peer removed since it was listed answers with its tombstone. */
        const pm_peer_info *info = r->ninfo ? &r->info[0] : g->member[i].info;
        if (!first) buf_byte(&b, ',');
        first = false;
        peer_info_write(&b, info);
    }
    buf_str(&b, "]}");
    return http_buf(h, 200, "application/json; charset=utf-8", &b, NULL);
}

static enum MHD_Result stop_members(http_req *h)
{
    return group_fan_out(h, h->state, make_stop, all_stopped);
}

static void group_state_free(void *p)
{
    group_free(p);
    free(p);
}

group *group_attach(http_req *h)
{
    group *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    h->state = g;
    h->free_state = group_state_free;
    return g;
}

enum MHD_Result groups_delete(http_req *h)
{
    const char *sel = http_query(h, "selector");
    if (!sel)
        return http_problem(h, 400, "invalid_selector",
                            "selector: DELETE /peers stops the peers a selector picks (selector=* picks every peer)", NULL);
    group *g = group_attach(h);
    enum MHD_Result answered;
    if (!g) return MHD_NO;
    if (!group_by_selector(h, g, sel, &answered)) return answered;
    return group_resolve(h, g, stop_members);
}

/* ---- POST /calls, POST /casts ---- */

typedef struct {
    group g;                    /* first: the handler's state is a group */
    pm_op op;
    cJSON *body;
    buf payload;                /* M, F, A as ETF bodies, the same for every member */
    int64_t timeout_ms;
    bool ok, needs_ctx;         /* what prepare() made of the body */
    map_error e;
} multi;

static void multi_free(void *p)
{
    multi *s = p;
    if (!s) return;
    group_free(&s->g);
    cJSON_Delete(s->body);
    buf_free(&s->payload);
    free(s);
}

static pm_req *make_call(http_req *h, const group_peer *m)
{
    multi *s = h->state;
    pm_req *r = pm_req_new(s->op, m->id);
    if (!r) return NULL;
    r->timeout_ms = s->timeout_ms;
    r->wait_unreachable = call_wait_unreachable(s->body);
    buf_put(&r->payload, s->payload.p, s->payload.len);
    if (r->payload.oom) { pm_req_free(r); return NULL; }
    return r;
}

static enum MHD_Result multi_answered(http_req *h)
{
    multi *s = h->state;
    cJSON *o = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(o, "results");
    for (size_t i = 0; i < s->g.n; i++) {
        cJSON *item = group_outcome(h, &s->g.member[i], call_outcome_json);
        if (!item) { cJSON_Delete(o); return MHD_NO; }
        cJSON_AddItemToArray(list, item);
    }
    return http_json(h, 200, o);
}

static enum MHD_Result multi_members(http_req *h)
{
    http_then_converts(h);
    return group_fan_out(h, h->state, make_call, multi_answered);
}

/* The body read and mapped (pure: off the loop when large, http_work). */
static void multi_prepare(http_req *h)
{
    multi *s = h->state;
    s->e = (map_error){ 0, "", "" };
    if (!(s->body = http_parse_body(&h->body, s->e.detail, sizeof s->e.detail))) {
        snprintf(s->e.code, sizeof s->e.code, "invalid_json");
        return;
    }
    bool by_name = false;
    term_ctx none = {0};
    s->ok = call_payload(s->op, s->body, &none, true, &s->payload, &s->timeout_ms, &by_name, &s->e, &s->needs_ctx);
}

static enum MHD_Result multi_prepared(http_req *h)
{
    multi *s = h->state;
    enum MHD_Result answered;
    if (!s->body) return http_problem(h, 400, s->e.code, s->e.detail, NULL);
    /* Where the call goes is checked before what it is. */
    if (!group_from_body(h, s->body, &s->g, &answered)) return answered;
    if (!s->ok) {
        if (s->needs_ctx)
            return http_problem(h, 400, "invalid_term",
                                "args: pids, ports and references are of one node; give them as {\"$etf\": ...} in a group call", NULL);
        return http_problem(h, s->e.status ? s->e.status : 400, s->e.code, s->e.detail, NULL);
    }
    return group_resolve(h, &s->g, multi_members);
}

static enum MHD_Result multi_start(http_req *h, pm_op op)
{
    multi *s = calloc(1, sizeof *s);
    if (!s) return MHD_NO;
    s->op = op;
    h->state = s;
    h->free_state = multi_free;
    return http_work(h, multi_prepare, multi_prepared);
}

enum MHD_Result groups_call(http_req *h) { return multi_start(h, PM_CALL); }
enum MHD_Result groups_cast(http_req *h) { return multi_start(h, PM_CAST); }

/*
 * vitals.c — what a running node uses, asked on request only: its memory
 * (erlang:memory/0), process count, run queue and uptime, by four calls
 * sent together, and for a node on this host (peerd's own child, whose
 * os_pid peerd knows to be the node's) its resident memory and CPU from
 * /proc. For
 * GET /peers/{id}?vitals=1, GET /peers?vitals=1 and /metrics?vitals=SELECTOR.
 */
#include "vitals.h"
#include "etf.h"
#include "proc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VITALS_TIMEOUT_MS 2000

enum { ASK_MEMORY, ASK_PROCESSES, ASK_RUN_QUEUE, ASK_WALL_CLOCK, ASKS };
static const struct { const char *m, *f, *arg; } asks[ASKS] = {
    [ASK_MEMORY] = { "erlang", "memory", NULL },
    [ASK_PROCESSES] = { "erlang", "system_info", "process_count" },
    [ASK_RUN_QUEUE] = { "erlang", "statistics", "run_queue" },
    [ASK_WALL_CLOCK] = { "erlang", "statistics", "wall_clock" },
};

typedef struct {
    const pm_peer_info *info;   /* h->pm's, n of them */
    size_t n;
    size_t *first;              /* per peer: its first call in h->many, or SIZE_MAX (not running) */
} vitals_state;

static void state_free(void *p)
{
    vitals_state *s = p;
    if (s) free(s->first);
    free(s);
}

static pm_req *ask(const char *id, int k)
{
    pm_req *r = pm_req_new(PM_CALL, id);
    if (!r) return NULL;
    etf_encode_atom(&r->payload, asks[k].m, strlen(asks[k].m));
    etf_encode_atom(&r->payload, asks[k].f, strlen(asks[k].f));
    if (asks[k].arg) {
        static const uint8_t one[] = { 108, 0, 0, 0, 1 };   /* LIST_EXT of one, then NIL_EXT */
        buf_put(&r->payload, one, sizeof one);
        etf_encode_atom(&r->payload, asks[k].arg, strlen(asks[k].arg));
    }
    buf_byte(&r->payload, 106);
    r->timeout_ms = VITALS_TIMEOUT_MS;
    if (r->payload.oom) { pm_req_free(r); return NULL; }
    return r;
}

enum MHD_Result vitals_ask(http_req *h, const pm_peer_info *info, size_t n, http_then then)
{
    vitals_state *s = calloc(1, sizeof *s);
    size_t running = 0;
    for (size_t i = 0; i < n; i++) running += !strcmp(info[i].state, "running");
    pm_req **rs = calloc(running * ASKS + 1, sizeof *rs);
    if (!s || !rs || !(s->first = calloc(n + 1, sizeof *s->first))) {
        free(rs);
        state_free(s);
        return http_out_of_memory(h);
    }
    s->info = info;
    s->n = n;
    h->state = s;
    h->free_state = state_free;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        s->first[i] = SIZE_MAX;
        if (strcmp(info[i].state, "running")) continue;
        s->first[i] = k;
        for (int a = 0; a < ASKS; a++)
            if (!(rs[k++] = ask(info[i].id, a))) {
                while (k) pm_req_free(rs[--k]);
                free(rs);
                return http_out_of_memory(h);
            }
    }
    return http_submit_all(h, rs, k, then);
}

/* What the node answered: a term, or NULL with *why set. */
static term *answer(arena *a, const pm_req *r, const char **why)
{
    if (r->status != PM_OK) {
        unsigned st;
        *why = pm_error_code(r->status, &st);
        return NULL;
    }
    etf_error e = {0};
    term *t = strcmp(r->klass, "ok") ? NULL : etf_decode(a, r->reply.p, r->reply.len, &e);
    if (!t) *why = "bad_reply";
    return t;
}

typedef struct {
    const term *memory;         /* [{Type, Bytes}] */
    int64_t processes, run_queue, uptime_ms;
    bool local;                 /* on this host: the OS figures are read */
    proc_usage os;
} vitals;

static bool is_int(const term *t) { return t && t->type == TERM_INT; }

/* Peer i's vitals from its answers; false (why set) if it has none. */
static bool read_vitals(const http_req *h, size_t i, arena *a, vitals *v, const char **why)
{
    const vitals_state *s = h->state;
    if (s->first[i] == SIZE_MAX) { *why = "not_running"; return false; }
    term *t[ASKS];
    for (int k = 0; k < ASKS; k++)
        if (!(t[k] = answer(a, h->many[s->first[i] + (size_t)k], why))) return false;
    const term *wall = t[ASK_WALL_CLOCK];
    if ((t[ASK_MEMORY]->type != TERM_LIST && t[ASK_MEMORY]->type != TERM_NIL) || !is_int(t[ASK_PROCESSES]) ||
        !is_int(t[ASK_RUN_QUEUE]) || wall->type != TERM_TUPLE || wall->tuple.n != 2 || !is_int(wall->tuple.items[0])) {
        *why = "bad_reply";
        return false;
    }
    *v = (vitals){ .memory = t[ASK_MEMORY], .processes = t[ASK_PROCESSES]->i, .run_queue = t[ASK_RUN_QUEUE]->i,
                   .uptime_ms = wall->tuple.items[0]->i };
    const pm_peer_info *i_ = &s->info[i];
    v->local = i_->node_ours && i_->os_pid > 0 && proc_usage_of(i_->os_pid, &v->os);
    return true;
}

/* {Type, Bytes} pairs of erlang:memory/0, each to f. */
static void each_memory(const term *m, void (*f)(void *ud, const term *type, int64_t bytes), void *ud)
{
    for (size_t k = 0; m->type == TERM_LIST && k < m->list.n; k++) {
        const term *e = m->list.items[k];
        if (e->type == TERM_TUPLE && e->tuple.n == 2 && e->tuple.items[0]->type == TERM_ATOM && is_int(e->tuple.items[1]))
            f(ud, e->tuple.items[0], e->tuple.items[1]->i);
    }
}

/* erlang:memory/0's types are plain lowercase atoms: no escaping needed,
 * but anything else is left out. */
static bool plain_atom(const term *a)
{
    for (size_t k = 0; k < a->atom.len; k++)
        if (!((a->atom.s[k] >= 'a' && a->atom.s[k] <= 'z') || a->atom.s[k] == '_')) return false;
    return a->atom.len > 0;
}

typedef struct { buf *b; bool first; const char *peer; } writer;

static void json_memory(void *ud, const term *type, int64_t bytes)
{
    writer *w = ud;
    if (!plain_atom(type)) return;
    buf_printf(w->b, "%s\"%.*s\":%lld", w->first ? "" : ",", (int)type->atom.len, type->atom.s, (long long)bytes);
    w->first = false;
}

void vitals_write(buf *b, const http_req *h, size_t i)
{
    arena *a = arena_new();
    vitals v;
    const char *why = "out_of_memory";
    if (!a || !read_vitals(h, i, a, &v, &why)) {
        buf_printf(b, "\"vitals\":null,\"vitals_error\":\"%s\"", why);
        arena_free(a);
        return;
    }
    buf_str(b, "\"vitals\":{\"memory\":{");
    writer w = { b, true, NULL };
    each_memory(v.memory, json_memory, &w);
    buf_printf(b, "},\"processes\":%lld,\"run_queue\":%lld,\"uptime_ms\":%lld", (long long)v.processes,
               (long long)v.run_queue, (long long)v.uptime_ms);
    if (v.local) buf_printf(b, ",\"os\":{\"resident_bytes\":%lld,\"cpu_seconds\":%.2f}}", v.os.resident_bytes, v.os.cpu_seconds);
    else buf_str(b, ",\"os\":null}");
    arena_free(a);
}

static void prom_memory(void *ud, const term *type, int64_t bytes)
{
    writer *w = ud;
    if (plain_atom(type))
        buf_printf(w->b, "peerd_node_memory_bytes{peer=\"%s\",type=\"%.*s\"} %lld\n", w->peer, (int)type->atom.len,
                   type->atom.s, (long long)bytes);
}

void vitals_metrics(buf *b, const http_req *h)
{
    const vitals_state *s = h->state;
    static const char *const help[][2] = {
        { "peerd_node_up", "gauge" }, { "peerd_node_memory_bytes", "gauge" }, { "peerd_node_processes", "gauge" },
        { "peerd_node_run_queue", "gauge" }, { "peerd_node_uptime_seconds", "gauge" },
        { "peerd_node_resident_memory_bytes", "gauge" }, { "peerd_node_cpu_seconds_total", "counter" },
    };
    static const char *const says[] = {
        "1 if the peer's node answered for its vitals now (a peer the vitals selector picks), else 0.",
        "erlang:memory/0 of the node, by type.", "Processes on the node.", "The node's run queue.",
        "Time since the node started.", "The node's OS resident memory (nodes on this host).",
        "The node's OS CPU time, user and system (nodes on this host).",
    };
    arena *a = arena_new();
    vitals *v = calloc(s->n + 1, sizeof *v);
    bool *up = calloc(s->n + 1, sizeof *up);
    if (!a || !v || !up) { arena_free(a); free(v); free(up); b->oom = true; return; }
    for (size_t i = 0; i < s->n; i++) {
        const char *why;
        up[i] = read_vitals(h, i, a, &v[i], &why);
    }
    for (size_t f = 0; f < sizeof help / sizeof *help; f++) {
        buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", help[f][0], says[f], help[f][0], help[f][1]);
        for (size_t i = 0; i < s->n; i++) {
            const char *id = s->info[i].id;
            const vitals *x = &v[i];
            switch (f) {
            case 0: buf_printf(b, "peerd_node_up{peer=\"%s\"} %d\n", id, up[i]); break;
            case 1: if (up[i]) each_memory(x->memory, prom_memory, &(writer){ b, true, id }); break;
            case 2: if (up[i]) buf_printf(b, "peerd_node_processes{peer=\"%s\"} %lld\n", id, (long long)x->processes); break;
            case 3: if (up[i]) buf_printf(b, "peerd_node_run_queue{peer=\"%s\"} %lld\n", id, (long long)x->run_queue); break;
            case 4: if (up[i]) buf_printf(b, "peerd_node_uptime_seconds{peer=\"%s\"} %.3f\n", id, x->uptime_ms / 1000.0); break;
            case 5: if (up[i] && x->local) buf_printf(b, "peerd_node_resident_memory_bytes{peer=\"%s\"} %lld\n", id, x->os.resident_bytes); break;
            case 6: if (up[i] && x->local) buf_printf(b, "peerd_node_cpu_seconds_total{peer=\"%s\"} %.2f\n", id, x->os.cpu_seconds); break;
            }
        }
    }
    free(v);
    free(up);
    arena_free(a);
}

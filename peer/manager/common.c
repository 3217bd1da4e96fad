/*
 * common.c — what every file of the manager uses: answering a request
 * (mgr_finish, mgr_answer_with_info), a peer's info (mgr_snapshot,
 * mgr_copy_info, pm_peer_view), finding a peer, timers that fail what
 * needed them, and the log.
 */
#include "manager_int.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

void mgr_logf(pm *m, const char *fmt, ...)
{
    if (m->cfg.quiet) return;
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(NULL, fmt, ap);
    va_end(ap);
}

void mgr_log_about(pm *m, const char *id, const char *fmt, ...)
{
    if (m->cfg.quiet) return;
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(id, fmt, ap);
    va_end(ap);
}


void mgr_finish(pm_req *r, pm_status st, char *detail)
{
    if (r->op == PM_FOLLOW && st != PM_OK) {
        /* The manager took these over; it gives them up on failure. */
        if (r->client_fd >= 0) { close(r->client_fd); r->client_fd = -1; }
        if (r->stream) { stream_unref(r->stream); r->stream = NULL; }
    }
    r->status = st;
    if (detail) { free(r->detail); r->detail = detail; }
    r->done(r);
}

/* The peer as it is now, its strings the peer's own (view) or copies. */
static void fill_info(const peer *p, pm_peer_info *i)
{
    memset(i, 0, sizeof *i);
    i->id = p->id;
    i->node = p->node;
    i->down_reason = p->down_reason;
    i->connection = p->conn ? (char *)conn_describe(p->conn) : NULL;
    i->options_json = p->opt->options_json;
    i->labels_json = p->opt->labels_json;
    i->cluster = p->opt->cluster;
    i->state = state_names[p->state];
    i->os_pid = p->os_pid;
    i->node_ours = p->node_ours;
    i->argv = p->argv;
    i->created_at = p->created_at;
    i->booted_at = p->booted_at;
    i->down_at = p->down_at;
    i->lease_expires_at = p->lease_expires_at;
    i->console_bytes = p->console.end;
    i->incarnation = p->incarnation;
    i->unreachable_since = p->unreachable_since;
    i->heartbeat_ms = p->opt->heartbeat_ms;
    i->unreachable_ms = p->opt->unreachable_ms;
    i->crash_dump = p->dump_bytes >= 0 ? p->dump_path : NULL;
    i->crash_dump_bytes = p->dump_bytes;
}

void mgr_snapshot(const peer *p, pm_peer_info *i)
{
    pm_peer_info view;
    fill_info(p, &view);
    mgr_copy_info(i, &view);
}

bool pm_peer_view(pm *m, const char *id, pm_peer_info *view)
{
    peer *p = m->stopped ? NULL : mgr_find_peer(m, id);
    if (p) fill_info(p, view);
    return p != NULL;
}

void mgr_copy_info(pm_peer_info *dst, const pm_peer_info *src)
{
    *dst = *src;
    dst->id = xstrdup(src->id);
    dst->node = xstrdup(src->node);
    dst->down_reason = xstrdup(src->down_reason);
    dst->connection = xstrdup(src->connection);
    dst->options_json = xstrdup(src->options_json);
    dst->labels_json = xstrdup(src->labels_json);
    dst->cluster = xstrdup(src->cluster);
    dst->argv = strv_dup(src->argv);
    dst->crash_dump = xstrdup(src->crash_dump);
    dst->console_tail = NULL;
    if (src->console_tail && (dst->console_tail = malloc(src->console_tail_len + 1)))
        memcpy(dst->console_tail, src->console_tail, src->console_tail_len + 1);
    else
        dst->console_tail_len = 0;
}

void mgr_answer_with_info(pm_req *r, const peer *p, pm_status st, char *detail)
{
    r->info = calloc(1, sizeof *r->info);
    if (r->info) { mgr_snapshot(p, r->info); r->ninfo = 1; }
    mgr_finish(r, st, detail);
}

/* False (logged) when out of memory: the caller fails what needed it, so
 * that nothing waits for a timer that will never fire. */
bool mgr_timer_set(pm *m, tmr *t, uint64_t ms, void (*fire)(void *, tmr *), void *owner)
{
    if (loop_timer(m->l, t, ms, fire, owner)) return true;
    mgr_logf(m, "out of memory arming a timer of %llu ms", (unsigned long long)ms);
    return false;
}

void mgr_timer_clear(pm *m, tmr *t) { loop_timer_clear(m->l, t); }

peer *mgr_find_peer(pm *m, const char *id)
{
    for (peer *p = m->peers; p; p = p->next)
        if (!p->removed && !strcmp(p->id, id)) return p;
    return NULL;
}

void pm_peer_info_free(pm_peer_info *i)
{
    if (!i) return;
    free(i->id); free(i->node); free(i->down_reason); free(i->connection); free(i->options_json);
    free(i->labels_json); free(i->cluster);
    strv_free(i->argv);
    free(i->console_tail);
    free(i->crash_dump);
}

void mgr_fill_due(peer *p)
{
    if (p->followers && !p->fill_due) {
        p->fill_due = true;
        p->next_fill = p->m->fill_due;
        p->m->fill_due = p;
    }
}

bool mgr_since_elsewhere(const pm_req *r, uint64_t token, uint64_t reached)
{
    return (r->since_tagged && r->since_of != token) || r->since > reached;
}

const uint8_t *mgr_keep_bytes(peer *p, const uint8_t *inside, size_t n, uint8_t **mem)
{
    buf whole;
    size_t off;
    if (p->conn && conn_take(p->conn, inside, &whole, &off)) {
        *mem = whole.p;
        return whole.p + off;
    }
    if ((*mem = malloc(n))) memcpy(*mem, inside, n);
    return *mem;
}

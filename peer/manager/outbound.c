/*
 * outbound.c — what goes to the node: messages queued on the control
 * connection (within a batch of requests output is corked, so that one
 * write per peer carries the turn's requests), and calls made with their
 * entry in the pending table and their timeout.
 */
#include "manager_int.h"

#include <string.h>

void mgr_flush_out(peer *p)
{
    if (p->conn) conn_flush(p->conn);
}

/* Queues one ETF message (version byte included) on the control connection. */
bool mgr_send_etf(peer *p, const uint8_t *etf, size_t n)
{
    if (!conn_open(p)) return true;
    if (!conn_send(p->conn, etf, n)) return false;
    /* Within a batch of requests, one write per peer carries them all. */
    if (p->m->batching) {
        if (!p->corked) { p->corked = true; p->next_corked = p->m->corked; p->m->corked = p; }
        return true;
    }
    mgr_flush_out(p);
    return true;
}

/* {Tag, [Seq,] Payload...} where payload is ready-made ETF bodies. */
void mgr_tagged_head(buf *b, const char *tag, int arity, const uint64_t *seq)
{
    buf_byte(b, ETF_VERSION);
    buf_byte(b, SMALL_TUPLE_EXT);
    buf_byte(b, (uint8_t)arity);
    etf_encode_atom(b, tag, strlen(tag));
    if (seq) etf_encode_int(b, (int64_t)*seq);
}

bool mgr_send_tagged(peer *p, const char *tag, int arity, const uint64_t *seq, const uint8_t *body, size_t n)
{
    buf b = {0};
    mgr_tagged_head(&b, tag, arity, seq);
    buf_put(&b, body, n);
    bool sent = !b.oom && mgr_send_etf(p, b.p, b.len);
    buf_free(&b);
    return sent;
}

static void call_timeout(void *owner, tmr *t)
{
    (void)t;
    pending *c = owner;
    mgr_pending_take(c->p, c->seq);
    mgr_finish(c->req, PM_ERR_TIMEOUT, xasprintf("no reply within %lld ms", (long long)c->req->timeout_ms));
    mgr_pending_free(c);
}

bool mgr_send_call(peer *p, pending *c, const uint8_t *mfa, size_t n)
{
    if (mgr_send_tagged(p, "call", 5, &c->seq, mfa, n)) return true;
    mgr_pending_take(p, c->seq);
    return false;
}

bool mgr_send_internal(peer *p, enum pending_kind kind, const uint8_t *mfa, size_t n)
{
    pending *c = mgr_pending_new(p, kind);
    if (!c) return false;
    if (mgr_send_call(p, c, mfa, n)) return true;
    mgr_pending_free(c);
    return false;
}

/* Encodes M, F, [Args...] bodies for an internal call. */
/* M:F() on the node, or M:F(Atom) when atom is given. */
bool mgr_internal_call(peer *p, enum pending_kind kind, const char *mod, const char *fun, const char *atom)
{
    pending *c = mgr_pending_new(p, kind);
    if (!c) return false;
    buf b = {0};
    etf_encode_atom(&b, mod, strlen(mod));
    etf_encode_atom(&b, fun, strlen(fun));
    if (atom) {
        buf_byte(&b, LIST_EXT);      /* LIST_EXT of 1 */
        buf_u32(&b, 1);
        etf_encode_atom(&b, atom, strlen(atom));
    }
    buf_byte(&b, NIL_EXT);
    bool built = !b.oom, sent = built && mgr_send_call(p, c, b.p, b.len);
    buf_free(&b);
    if (!sent) {       /* taken back by mgr_send_call, or here */
        if (!built) mgr_pending_take(p, c->seq);
        mgr_pending_free(c);
    }
    return sent;
}

void mgr_client_call(peer *p, pm_req *r)
{
    pending *c = mgr_pending_new(p, P_CLIENT);
    if (!c) { mgr_finish(r, PM_ERR_NOMEM, NULL); return; }
    c->req = r;
    if (r->timeout_ms != PM_INFINITY && !mgr_timer_set(p->m, &c->timer, (uint64_t)r->timeout_ms, call_timeout, c)) {
        mgr_pending_free(mgr_pending_take(p, c->seq));
        mgr_finish(r, PM_ERR_INTERNAL, xasprintf("out of memory arming the call's timeout"));
        return;
    }
    if (!mgr_send_call(p, c, r->payload.p, r->payload.len)) {
        mgr_pending_free(c);
        mgr_finish(r, PM_ERR_NOMEM, NULL);
    }
}

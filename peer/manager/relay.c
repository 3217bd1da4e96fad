/*
 * relay.c — traffic on the control connection: a request's call, cast or
 * message sent (outbound.c), what the node sends back dispatched by tag,
 * and every call in flight failed when the connection goes.
 */
#include "manager_int.h"
#include "control.h"
#include "stdio_frame.h"

#include <unistd.h>

static void handle_reply(peer *p, uint64_t seq, const char *klass, const uint8_t *result, size_t n)
{
    pending *c = mgr_pending_take(p, seq);
    if (c) mgr_handle_reply(p, c, klass, result, n);
    /* else it timed out earlier: dropped, as OTP drops late replies */
}

void mgr_handle_reply(peer *p, pending *c, const char *klass, const uint8_t *result, size_t n)
{
    switch (c->kind) {
    case P_CLIENT: {
        pm_req *r = c->req;
        r->klass = strdup(klass);
        buf whole;
        size_t off;
        if (n >= PM_TAKE_MIN && !r->reply.len && p->conn && conn_take(p->conn, result, &whole, &off) && off) {
            /* A large result keeps the buffer it arrived in, where it
             * lies, behind a version byte: the loop neither copies it nor
             * touches its pages (here the first touch of a page from user
             * space is a fault, tens of ms for tens of MB). */
            whole.p[off - 1] = ETF_VERSION;
            buf_free(&r->reply);
            r->reply_mem = whole.p;
            r->reply = (buf){ .p = whole.p + off - 1, .len = n + 1, .cap = n + 1 };
        } else {
            buf_byte(&r->reply, ETF_VERSION);
            buf_put(&r->reply, result, n);
        }
        /* A reply naming other nodes waits for how the node numbers them. */
        if (!r->klass || r->reply.oom || !mgr_ask_names_in(p, r)) mgr_finish_reply(p, r);
        break;
    }
    case P_GETPID: case P_SELF:
        mgr_boot_answered(p, c->kind, klass, result, n);
        break;
    case P_JOIN:
        mgr_join_answered(p, klass, result, n);
        mgr_boot_call_done(p);
        break;
    case P_WATCHDOG:
        liveness_watchdog_answered(p, klass);
        mgr_boot_call_done(p);
        break;
    case P_BEAT:
        break;                  /* that it came is all (liveness_heard) */
    case P_IO:
        mgr_io_resume(p, c, klass, result, n);
        break;
    case P_NAMES:
        mgr_names_answered(p, c, klass, result, n);
        break;
    }
    mgr_pending_free(c);
}

/* The two messages a busy node sends most, read in place (control.h). */
static bool read_in_place(peer *p, const uint8_t *etf, size_t n)
{
    control_reply rep;
    if (control_read_reply(etf, n, &rep)) {
        handle_reply(p, rep.seq, rep.klass, rep.result, rep.result_len);
        return true;
    }
    control_put_chars pc;
    if (!control_read_put_chars(etf, n, &pc)) return false;
    mgr_console_write(p, pc.chars, pc.chars_len);
    buf b = {0};
    control_put_chars_reply(&b, &pc);
    if (!b.oom) mgr_send_io_reply(p, b.p, b.len);
    buf_free(&b);
    return true;
}

/* {message, To, Msg} with Msg over PM_MESSAGE_CONVERT_MAX: To decoded, Msg
 * kept as its bytes, so that a large message costs a copy, not a decode and
 * an encode on the loop. Not while messages are held for names (the order
 * would change). */
static bool large_message_in_place(peer *p, const uint8_t *etf, size_t n)
{
    control_message cm;
    if (p->held || n < 3 + PM_MESSAGE_CONVERT_MAX || !control_read_message(etf, n, &cm) || cm.msg_len <= PM_MESSAGE_CONVERT_MAX)
        return false;
    arena *a = arena_new();
    term *to = a ? etf_decode_body(a, cm.to, cm.to_len, NULL) : NULL;
    if (to) mgr_store_message_bytes(p, to, cm.msg, cm.msg_len);
    arena_free(a);
    return to != NULL;
}

/* One control message from the node. Returns false if the peer is gone. */
bool mgr_handle_message(peer *p, const uint8_t *etf, size_t n)
{
    liveness_heard(p);
    if (read_in_place(p, etf, n) || large_message_in_place(p, etf, n) || mgr_handle_large_format(p, etf, n)) return true;
    arena *a = arena_new();
    etf_error e = {0};
    term *t = a ? etf_decode(a, etf, n, &e) : NULL;
    if (!t && (!a || e.msg == etf_out_of_memory)) {
        /* Not malformed: peerd could not hold it. Whoever waits on it is
         * told so (mgr_handle_oversized), a boot that lost it fails. */
        arena_free(a);
        if (p->state == ST_BOOTING && n > 3 && etf[0] == ETF_VERSION && etf[1] == SMALL_TUPLE_EXT &&
            etf_atom_is(etf + 3, n - 3, "started")) {
            return mgr_boot_lost(p);
        }
        mgr_handle_oversized(p, etf, n, 0);
        return true;
    }
    if (!t || t->type != TERM_TUPLE || !t->tuple.n || t->tuple.items[0]->type != TERM_ATOM) {
        mgr_plogf(p, "peer %s sent a malformed control message (%s at byte %zu)", p->id, e.msg ? e.msg : "not a tagged tuple", e.pos);
        arena_free(a);
        return true;
    }
    term *tag = t->tuple.items[0];
    size_t ar = t->tuple.n;
    if (term_is_atom(tag, "started") && ar == 2) {
        if (!mgr_node_started(p, t->tuple.items[1])) {
            arena_free(a);
            return false;
        }
    } else if (term_is_atom(tag, "io_request") && ar == 4) {
        mgr_note_io_request(p);
        mgr_handle_io_request(p, a, t);
        return true;   /* the I/O continuation owns the arena */
    } else if (term_is_atom(tag, "message") && ar == 3) {
        if (mgr_hold_message(p, a, t->tuple.items[1], t->tuple.items[2])) return true;
        mgr_store_message(p, t->tuple.items[1], t->tuple.items[2]);
    } else if (term_is_atom(tag, "reply") && ar == 4 && t->tuple.items[1]->type == TERM_INT &&
               t->tuple.items[2]->type == TERM_ATOM) {
        /* A reply not read in place (an unusual encoding). */
        buf rb = {0};
        etf_encode(&rb, t->tuple.items[3]);
        char klass[16];
        snprintf(klass, sizeof klass, "%.*s", (int)t->tuple.items[2]->atom.len, t->tuple.items[2]->atom.s);
        handle_reply(p, (uint64_t)t->tuple.items[1]->i, klass, rb.p + 1, rb.len - 1);
        buf_free(&rb);
    } else {
        mgr_plogf(p, "peer %s sent an unknown control message", p->id);
    }
    arena_free(a);
    return true;
}

/* A control message over the frame limit (STDIO_MAX_FRAME, on either
 * connection): peerd does not hold it, but the node must not wait on it
 * forever or be cut off for it. Only its first bytes are at hand: enough for
 * the tag and the ids. A reply fails its call (502 reply_too_large); an I/O
 * request is answered {error, too_large}, so the writer gets an error and the
 * console a line saying what was dropped; a message is dropped with a log
 * line. The node keeps running. */
void mgr_handle_oversized(peer *p, const uint8_t *head, size_t n, size_t size)
{
    /* A reply, read in place: out of memory must not keep its call waiting. */
    size_t tag = n > 3 && head[0] == ETF_VERSION && head[1] == SMALL_TUPLE_EXT && head[2] >= 2 ? etf_atom_is(head + 3, n - 3, "reply") : 0;
    uint64_t seq;
    if (tag && etf_uint_at(head + 3 + tag, n - 3 - tag, &seq)) {
        pending *c = mgr_pending_take(p, seq);
        if (c && c->kind == P_CLIENT) {
            char *detail = NULL;
            if (size && asprintf(&detail, "the node's reply is %zu bytes, over the %u-byte limit of a control message; it was dropped",
                                 size, STDIO_MAX_FRAME) < 0) detail = NULL;
            mgr_finish(c->req, size ? PM_ERR_REPLY_TOO_LARGE : PM_ERR_NOMEM, detail);
            mgr_pending_free(c);
        } else if (c) {
            mgr_handle_reply(p, c, "error", NULL, 0);       /* peerd's own calls fail as an error reply */
        }
    } else {
        arena *a = arena_new();
        term *part[3] = { NULL, NULL, NULL };
        if (a && n > 3 && head[0] == ETF_VERSION && head[1] == SMALL_TUPLE_EXT) {
            size_t off = 3, used;
            for (int i = 0; i < 3 && i < head[2] && off < n; i++, off += used)
                if (!(part[i] = etf_decode_prefix(a, head + off, n - off, &used, NULL))) break;
        }
        if (part[0] && term_is_atom(part[0], "io_request") && part[1] && part[2]) {
            mgr_note_io_request(p);
            io_cont io = { .a = a, .from = part[1], .reply_as = part[2] };
            mgr_io_reply(p, &io, mgr_mk_tuple(a, 2, term_atomz(a, "error"), term_atomz(a, size ? "too_large" : "enomem")));
            char line[200];
            int k = size ? snprintf(line, sizeof line, "\n[peerd: an I/O request of %zu bytes (over %u) was refused; its text is not here]\n",
                                    size, STDIO_MAX_FRAME)
                         : snprintf(line, sizeof line, "\n[peerd: out of memory: an I/O request was refused; its text is not here]\n");
            mgr_console_write(p, line, (size_t)k);
        }
        arena_free(a);
    }
    if (size) mgr_plogf(p, "peer %s: dropped a control message of %zu bytes (over %u)", p->id, size, STDIO_MAX_FRAME);
    else mgr_plogf(p, "peer %s: out of memory: dropped a control message", p->id);
}

void mgr_do_relay(pm *m, peer *p, pm_req *r)
{
    (void)m;
    if (p->state != ST_RUNNING || !conn_open(p) || p->stopping) {
        mgr_finish(r, PM_ERR_NOCONNECTION, xasprintf("peer %s is %s", p->id, p->stopping ? "stopping" : state_names[p->state]));
        return;
    }
    if (liveness_refuses(p, r)) return;
    bool sent;
    switch (r->op) {
    case PM_CALL: mgr_client_call(p, r); return;
    case PM_CAST: sent = mgr_send_tagged(p, "cast", 4, NULL, r->payload.p, r->payload.len); break;
    default: sent = mgr_send_tagged(p, "message", 3, NULL, r->payload.p, r->payload.len); break;
    }
    mgr_finish(r, sent ? PM_OK : PM_ERR_NOMEM, NULL);
}

/* Fails every call in flight: the connection is gone. */
void mgr_fail_pending(peer *p, const char *why)
{
    /* Taken whole first: what an answer sets going finds no half-walked table. */
    pending **t = p->calls;
    uint32_t n = p->call_buckets;
    p->calls = NULL;
    p->call_buckets = p->ncalls = 0;
    for (uint32_t b = 0; b < n; b++) {
        pending *c = t[b];
        while (c) {
            pending *next = c->next;
            mgr_timer_clear(p->m, &c->timer);
            if (c->kind == P_CLIENT) mgr_finish(c->req, PM_ERR_NOCONNECTION, xasprintf("%s", why));
            if (c->kind == P_NAMES && c->req) mgr_finish_reply(p, c->req);   /* the reply came; only its names did not */
            mgr_pending_free(c);
            c = next;
        }
    }
    free(t);
    mgr_release_held(p, true);
}

/*
 * conn_dist.c — Erlang distribution as the control connection: peerd is a
 * hidden node (dist.h) and the peer connects back to it, as to OTP's origin
 * (README: "Distribution as the control connection"; the handshake and the
 * data phase are OTP's distribution protocol, its ERTS "Distribution
 * Protocol" documentation).
 *
 * The manager speaks the control protocol of the other connections ({call,
 * Seq, M, F, A}, {cast, M, F, A}, {message, To, Msg}, {io_reply, From,
 * ReplyAs, Reply} out; {started, Node}, {reply, Seq, Class, Result},
 * {io_request, ...}, {message, To, Msg} in), and this file translates:
 *   call     -> to rex: {Replier, {call, erpc, execute_call, [Seq, M, F, A], GL}}
 *               <- {rex, {badrpc, {'EXIT', {Seq, return | throw | exit, V}}}}
 *                  or {Seq, error, Reason, Stack}: {reply, Seq, Class, ...}
 *   cast     -> to rex: {'$gen_cast', {cast, M, F, A, GL}}
 *   message  -> to a registered name or a pid
 *   io_reply -> {io_reply, ReplyAs, Reply} to From
 * The boot's gen_server:call(Origin, group_leader) is answered here; what
 * the node sends to the group leader (io_request) and to the origin
 * ({started, Node}) goes up as it came, and anything else sent to peerd's
 * node goes up as {message, To, Msg}. User terms are spliced as the bytes
 * they are, never re-encoded.
 *
 * Pids of peerd's node: 1 the origin, 2 the group leader, 3 the replier.
 * The node is peerd's child (no -detached): its stdout is console.
 */
#include "conn.h"
#include "base64.h"
#include "dist.h"
#include "etf.h"
#include "tcp_frame.h"

#include <errno.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define DIST_CONNECT_MS 60000   /* as TCP's accept */
#define DIST_IN_PLACE (64u << 10) /* a call's value this large goes up where it lies */

enum { PID_ORIGIN = 1, PID_GL = 2, PID_REPLIER = 3 };
enum { CTL_LINK = 1, CTL_SEND = 2, CTL_REG_SEND = 6, CTL_SEND_TT = 12, CTL_REG_SEND_TT = 16, CTL_UNLINK_ID = 35, CTL_UNLINK_ID_ACK = 36 };

typedef struct {
    conn c;
    dist_node *d;
    dist_waiter w;              /* while peerd's node registers */
    const char *home;           /* the node's HOME, with its cookie */
    dist_expect e;
    char *alive, *cookie;
    int sock_fd;
    loop_watch w_sock;
    bool waiting;
    tmr connect_timer;
    tcp_decoder dec;            /* the data phase is {packet, 4}; a 0-length packet is a tick */
    buf pid[4];                 /* ETF bodies of peerd's pids, by PID_* */
    buf *up_buf;                /* the message going up now, for take */
} dist_conn;

/* ---- encoding ---- */

static void pid_body(buf *b, const char *node, uint32_t id, uint32_t creation)
{
    buf_byte(b, NEW_PID_EXT);            /* NEW_PID_EXT */
    size_t n = strlen(node);
    buf_byte(b, SMALL_ATOM_UTF8_EXT);           /* SMALL_ATOM_UTF8_EXT */
    buf_byte(b, (uint8_t)n);
    buf_put(b, node, n);
    buf_u32(b, id);
    buf_u32(b, 0);
    buf_u32(b, creation);
}

static void tuple(buf *b, size_t n) { buf_byte(b, SMALL_TUPLE_EXT); buf_byte(b, (uint8_t)n); }
static void small(buf *b, uint8_t v) { buf_byte(b, SMALL_INTEGER_EXT); buf_byte(b, v); }
static void atom(buf *b, const char *s) { etf_encode_atom(b, s, strlen(s)); }

/* Starts a data packet: length to be filled by end_packet, 'p', the control
 * message (version byte + body) to be written next. */
static size_t begin_packet(conn *c)
{
    size_t at = c->outq.len;
    buf_u32(&c->outq, 0);
    buf_byte(&c->outq, 112);
    buf_byte(&c->outq, ETF_VERSION);
    return at;
}

static void end_packet(conn *c, size_t at)
{
    if (c->outq.oom) return;
    uint32_t n = (uint32_t)(c->outq.len - at - 4);
    uint8_t *p = c->outq.p + at;
    p[0] = (uint8_t)(n >> 24); p[1] = (uint8_t)(n >> 16); p[2] = (uint8_t)(n >> 8); p[3] = (uint8_t)n;
}

/* SEND {2, '', To} or REG_SEND {6, Origin, '', Name}: then the message. */
static size_t send_to_pid(dist_conn *t, const uint8_t *to, size_t to_len)
{
    size_t at = begin_packet(&t->c);
    tuple(&t->c.outq, 3);
    small(&t->c.outq, CTL_SEND);
    atom(&t->c.outq, "");
    buf_put(&t->c.outq, to, to_len);
    buf_byte(&t->c.outq, ETF_VERSION);
    return at;
}

static size_t send_to_name(dist_conn *t, const uint8_t *name, size_t name_len)
{
    size_t at = begin_packet(&t->c);
    tuple(&t->c.outq, 4);
    small(&t->c.outq, CTL_REG_SEND);
    buf_put(&t->c.outq, t->pid[PID_ORIGIN].p, t->pid[PID_ORIGIN].len);
    atom(&t->c.outq, "");
    buf_put(&t->c.outq, name, name_len);
    buf_byte(&t->c.outq, ETF_VERSION);
    return at;
}

/* ---- what the manager sends ---- */

/* The byte spans of a tuple's elements: {Tag, E1, E2...} as sent. */
typedef struct { const uint8_t *p; size_t n; } span;

static size_t spans_of(const uint8_t *etf, size_t n, span *out, size_t max)
{
    if (n < 3 || etf[0] != ETF_VERSION || etf[1] != SMALL_TUPLE_EXT) return 0;
    size_t arity = etf[2], off = 3;
    for (size_t i = 0; i < arity && i < max; i++) {
        /* The manager's own encoding: the last element is the rest (a
         * call's arguments are not walked again). */
        size_t used = i + 1 == arity ? (off < n ? n - off : 0) : etf_prefix_len(etf + off, n - off);
        if (!used) return 0;
        out[i] = (span){ etf + off, used };
        off += used;
    }
    return arity <= max ? arity : 0;
}

static bool span_is(span s, const char *name) { return etf_atom_is(s.p, s.n, name) == s.n; }

static void send_msg(conn *c, const uint8_t *etf, size_t n)
{
    dist_conn *t = (dist_conn *)c;
    if (t->sock_fd < 0) return;
    span s[6];
    size_t k = spans_of(etf, n, s, 6);
    buf *q = &c->outq;
    size_t at;
    if (k == 5 && span_is(s[0], "call")) {
        /* {call, Seq, M, F, A} -> rex: {Replier, {call, erpc, execute_call, [Seq, M, F, A], GL}} */
        at = send_to_name(t, (const uint8_t *)"\x77\x03rex", 5);
        tuple(q, 2);
        buf_put(q, t->pid[PID_REPLIER].p, t->pid[PID_REPLIER].len);
        tuple(q, 5);
        atom(q, "call");
        atom(q, "erpc");
        atom(q, "execute_call");
        buf_byte(q, LIST_EXT);       /* LIST_EXT of 4 */
        buf_u32(q, 4);
        for (int i = 1; i < 5; i++) buf_put(q, s[i].p, s[i].n);
        buf_byte(q, NIL_EXT);
        buf_put(q, t->pid[PID_GL].p, t->pid[PID_GL].len);
        end_packet(c, at);
    } else if (k == 4 && span_is(s[0], "cast")) {
        /* {cast, M, F, A} -> rex: {'$gen_cast', {cast, M, F, A, GL}} */
        at = send_to_name(t, (const uint8_t *)"\x77\x03rex", 5);
        tuple(q, 2);
        atom(q, "$gen_cast");
        tuple(q, 5);
        atom(q, "cast");
        for (int i = 1; i < 4; i++) buf_put(q, s[i].p, s[i].n);
        buf_put(q, t->pid[PID_GL].p, t->pid[PID_GL].len);
        end_packet(c, at);
    } else if (k == 3 && span_is(s[0], "message")) {
        /* {message, To, Msg}: To a registered name or a pid. */
        uint8_t first = s[1].p[0];
        bool name = first == ATOM_EXT || first == SMALL_ATOM_EXT || first == ATOM_UTF8_EXT || first == SMALL_ATOM_UTF8_EXT;
        at = name ? send_to_name(t, s[1].p, s[1].n) : send_to_pid(t, s[1].p, s[1].n);
        buf_put(q, s[2].p, s[2].n);
        end_packet(c, at);
    } else if (k == 4 && span_is(s[0], "io_reply")) {
        /* {io_reply, From, ReplyAs, Reply} -> From ! {io_reply, ReplyAs, Reply} */
        at = send_to_pid(t, s[1].p, s[1].n);
        tuple(q, 3);
        atom(q, "io_reply");
        buf_put(q, s[2].p, s[2].n);
        buf_put(q, s[3].p, s[3].n);
        end_packet(c, at);
    }
}

/* ---- what the node sends ---- */

static bool not_taken(dist_conn *t, const uint8_t *msg, size_t n, size_t size);

/* b, made from msg, goes up; if it could not be made, msg is not taken.
 * The manager may take b (take below): it is then empty. */
static bool up(dist_conn *t, buf *b, const uint8_t *msg, size_t n)
{
    if (b->oom) return not_taken(t, msg, n, 0);
    t->up_buf = b;
    bool ok = t->c.ev->message(t->c.owner, b->p, b->len);
    t->up_buf = NULL;
    return ok;
}

/* A call's value, {rex, {badrpc, {'EXIT', {Seq, return, V}}}}, goes up as
 * {reply, Seq, ok, V} from its bytes, V never decoded here: a large V where
 * it lies, its new head written over the old one just before it (the
 * packet's buffer, which the manager may then take: take below); a small
 * one copied. -1 if msg is not that. */
static int rex_return(dist_conn *t, const uint8_t *msg, size_t n)
{
    span seq, v;
    if (!dist_rex_value(msg, n, &seq.p, &seq.n, &v.p, &v.n)) return -1;
    buf r = {0};
    buf_reserve(&r, 16 + seq.n + (v.n < DIST_IN_PLACE ? v.n : 0));
    buf_byte(&r, ETF_VERSION);
    tuple(&r, 4);
    atom(&r, "reply");
    buf_put(&r, seq.p, seq.n);
    atom(&r, "ok");
    if (v.n >= DIST_IN_PLACE && !r.oom && (size_t)(v.p - msg) >= r.len) {
        uint8_t *head = (uint8_t *)v.p - r.len;   /* the packet's own bytes, ours while it is delivered */
        memcpy(head, r.p, r.len);
        size_t len = r.len + v.n;
        buf_free(&r);
        return t->c.ev->message(t->c.owner, head, len);
    }
    buf_put(&r, v.p, v.n);
    bool ok = up(t, &r, msg, n);
    buf_free(&r);
    return ok;
}

static bool is_ours(const dist_conn *t, const term *pid, uint32_t id)
{
    const char *node = dist_name(t->d);
    return pid && pid->type == TERM_PID && pid->pid.id == id && pid->pid.node->atom.len == strlen(node) &&
           !memcmp(pid->pid.node->atom.s, node, pid->pid.node->atom.len);
}

/* {rex, {badrpc, {'EXIT', {Seq, Class, V[, Stack]}}}} -> {reply, Seq, Class, Result}. */
static bool rex_reply(dist_conn *t, const term *m, const uint8_t *msg, size_t n)
{
    const term *r = m->tuple.n == 2 ? m->tuple.items[1] : NULL;
    if (!r || r->type != TERM_TUPLE || r->tuple.n != 2 || !term_is_atom(r->tuple.items[0], "badrpc")) return true;
    r = r->tuple.items[1];
    if (r->type != TERM_TUPLE || r->tuple.n != 2 || !term_is_atom(r->tuple.items[0], "EXIT")) return true;
    r = r->tuple.items[1];
    if (r->type != TERM_TUPLE || r->tuple.n < 3 || r->tuple.items[0]->type != TERM_INT) return true;
    const term *klass = r->tuple.items[1];
    buf b = {0};
    buf_byte(&b, ETF_VERSION);
    tuple(&b, 4);
    atom(&b, "reply");
    etf_encode_body(&b, r->tuple.items[0]);
    if (term_is_atom(klass, "return") && r->tuple.n == 3) {
        atom(&b, "ok");
        etf_encode_body(&b, r->tuple.items[2]);
    } else {
        /* {Reason, Stacktrace}, as over standard_io; erpc keeps a stack for errors only. */
        bool error = term_is_atom(klass, "error") && r->tuple.n == 4;
        if (!error && !term_is_atom(klass, "throw") && !term_is_atom(klass, "exit")) { buf_free(&b); return true; }
        atom(&b, error ? "error" : term_is_atom(klass, "throw") ? "throw" : "exit");
        tuple(&b, 2);
        etf_encode_body(&b, r->tuple.items[2]);
        if (error) etf_encode_body(&b, r->tuple.items[3]);
        else buf_byte(&b, NIL_EXT);
    }
    bool ok = up(t, &b, msg, n);
    buf_free(&b);
    return ok;
}

/* A message that is a tuple of `arity` tagged `tag`, read from its first
 * bytes (the rest, an I/O request's text, is not decoded here). */
static bool tagged(const uint8_t *msg, size_t n, size_t arity, const char *tag)
{
    size_t len = strlen(tag);
    if (n < 5 || msg[1] != SMALL_TUPLE_EXT || msg[2] != arity) return false;
    if ((msg[3] == SMALL_ATOM_UTF8_EXT || msg[3] == SMALL_ATOM_EXT) && msg[4] == len) return n >= 5 + len && !memcmp(msg + 5, tag, len);
    if ((msg[3] == ATOM_UTF8_EXT || msg[3] == ATOM_EXT) && n >= 6 && msg[4] == 0 && msg[5] == len) return n >= 6 + len && !memcmp(msg + 6, tag, len);
    return false;
}

/* One message to peerd's node: to whom (a pid, or a registered name), and
 * the message as it came (version byte first). */
static bool delivered(dist_conn *t, arena *a, const term *to, const uint8_t *msg, size_t n)
{
    /* The node's output and its hello go up as they came, undecoded. */
    if ((is_ours(t, to, PID_GL) && tagged(msg, n, 4, "io_request")) || (is_ours(t, to, PID_ORIGIN) && tagged(msg, n, 2, "started")))
        return t->c.ev->message(t->c.owner, msg, n);
    int fast = is_ours(t, to, PID_REPLIER) ? rex_return(t, msg, n) : -1;
    if (fast >= 0) return fast;
    etf_error e = {0};
    term *m = etf_decode(a, msg, n, &e);
    if (!m) return e.msg == etf_out_of_memory ? not_taken(t, msg, n, 0) : true;
    if (to->type == TERM_PID && is_ours(t, to, PID_ORIGIN) && m->type == TERM_TUPLE && m->tuple.n == 3 &&
        term_is_atom(m->tuple.items[0], "$gen_call") && m->tuple.items[1]->type == TERM_TUPLE && m->tuple.items[1]->tuple.n == 2) {
        /* The boot's gen_server:call(Origin, group_leader) (and newer OTP's
         * {starting, Node}): From ! {Tag, Reply}. */
        const term *from = m->tuple.items[1]->tuple.items[0], *tag = m->tuple.items[1]->tuple.items[1];
        buf pid = {0};
        etf_encode_body(&pid, from);
        size_t at = send_to_pid(t, pid.p, pid.len);
        tuple(&t->c.outq, 2);
        etf_encode_body(&t->c.outq, tag);
        if (term_is_atom(m->tuple.items[2], "group_leader")) buf_put(&t->c.outq, t->pid[PID_GL].p, t->pid[PID_GL].len);
        else atom(&t->c.outq, "ok");
        end_packet(&t->c, at);
        buf_free(&pid);
        conn_flush(&t->c);
        return true;
    }
    if (to->type == TERM_PID && is_ours(t, to, PID_REPLIER) && m->type == TERM_TUPLE && m->tuple.n == 2 && term_is_atom(m->tuple.items[0], "rex"))
        return rex_reply(t, m, msg, n);
    buf b = {0};
    buf_byte(&b, ETF_VERSION);
    tuple(&b, 3);
    atom(&b, "message");
    etf_encode_body(&b, to);
    buf_put(&b, msg + 1, n - 1);
    bool ok = up(t, &b, msg, n);
    buf_free(&b);
    return ok;
}

/* What the manager is told of a message it cannot have (over the limit,
 * or no memory to take it), allocation-free: a call's reply,
 * {rex, {badrpc, {'EXIT', {Seq, ...}}}}, as the head of the {reply, Seq, ...}
 * the other connections would have sent, so that its call fails at once;
 * any other message as its own first bytes. */
static bool not_taken(dist_conn *t, const uint8_t *msg, size_t n, size_t size)
{
    const uint8_t *q = dist_rex_exit(msg, n), *end = msg + n;
    uint64_t seq = 0;
    bool reply = q && end - q > 3 && q[0] == SMALL_TUPLE_EXT && etf_uint_at(q + 2, (size_t)(end - q - 2), &seq);
    const conn_events *ev = t->c.ev;
    if (!reply) return (size ? ev->oversized(t->c.owner, msg, n, size) : ev->dropped(t->c.owner, msg, n)) && t->sock_fd >= 0;
    uint8_t head[21] = { ETF_VERSION, SMALL_TUPLE_EXT, 2, SMALL_ATOM_UTF8_EXT, 5, 'r', 'e', 'p', 'l', 'y', SMALL_BIG_EXT, 8, 0 };
    for (int i = 0; i < 8; i++) head[13 + i] = (uint8_t)(seq >> 8 * i);
    return (size ? ev->oversized(t->c.owner, head, sizeof head, size) : ev->dropped(t->c.owner, head, sizeof head)) && t->sock_fd >= 0;
}

/* A packet's message, found without decoding the control message. */
static bool message_of(const uint8_t *p, size_t n, const uint8_t **msg, size_t *mlen)
{
    size_t ctl = n > 2 && p[0] == 112 && p[1] == ETF_VERSION ? etf_prefix_len(p + 2, n - 2) : 0;
    if (!ctl || 2 + ctl >= n) return false;
    *msg = p + 2 + ctl;
    *mlen = n - 2 - ctl;
    return true;
}

/* A packet over the limit is not held, but its call must not wait for its
 * timeout (it fails as over the other connections, 502 reply_too_large).
 * Only the packet's first bytes are here. */
static bool oversized(void *ud, const uint8_t *head, size_t n, size_t size)
{
    dist_conn *t = ud;
    const uint8_t *msg;
    size_t mlen;
    if (!message_of(head, n, &msg, &mlen)) { msg = head; mlen = 0; }
    return not_taken(t, msg, mlen, size);
}

/* One data packet: 'p', the control message, then the message if any. */
static bool packet(void *ud, const uint8_t *p, size_t n)
{
    dist_conn *t = ud;
    if (!n) {                   /* a tick: answer it */
        buf_u32(&t->c.outq, 0);
        conn_flush(&t->c);
        return true;
    }
    const uint8_t *msg;
    size_t mlen;
    const buf *replier = &t->pid[PID_REPLIER];   /* a call's value, told from its bytes */
    int fast = dist_packet_to(p, n, replier->p, replier->len, &msg, &mlen) ? rex_return(t, msg, mlen) : -1;
    if (fast >= 0) return fast && t->sock_fd >= 0;
    arena *a = arena_new();
    term *ctl = NULL;
    bool ok = true;
    etf_error e = {0};
    if (!a || (!dist_read_packet(a, p, n, &ctl, &msg, &mlen, &e) && e.msg == etf_out_of_memory)) {
        arena_free(a);          /* its call, if it is a reply, fails at once */
        if (!message_of(p, n, &msg, &mlen)) { msg = p; mlen = 0; }
        return not_taken(t, msg, mlen, 0);
    }
    if (ctl && ctl->type == TERM_TUPLE && ctl->tuple.n >= 3 &&
        ctl->tuple.items[0]->type == TERM_INT) {
        int64_t op = ctl->tuple.items[0]->i;
        bool has_msg = mlen > 0;
        if ((op == CTL_SEND || op == CTL_SEND_TT) && has_msg) ok = delivered(t, a, ctl->tuple.items[2], msg, mlen);
        else if ((op == CTL_REG_SEND || op == CTL_REG_SEND_TT) && ctl->tuple.n >= 4 && has_msg) ok = delivered(t, a, ctl->tuple.items[3], msg, mlen);
        else if (op == CTL_UNLINK_ID && ctl->tuple.n == 4) {
            /* {35, Id, From, To} -> {36, Id, To, From} */
            size_t at = begin_packet(&t->c);
            tuple(&t->c.outq, 4);
            small(&t->c.outq, CTL_UNLINK_ID_ACK);
            etf_encode_body(&t->c.outq, ctl->tuple.items[1]);
            etf_encode_body(&t->c.outq, ctl->tuple.items[3]);
            etf_encode_body(&t->c.outq, ctl->tuple.items[2]);
            end_packet(&t->c, at);
            conn_flush(&t->c);
        }
        /* LINK, MONITOR_P, DEMONITOR_P, EXIT...: peerd's pids never die
         * while the connection lives; nothing to answer. */
    }
    arena_free(a);
    return ok && t->sock_fd >= 0;
}

/* ---- the socket ---- */

static void close_control(conn *c)
{
    dist_conn *t = (dist_conn *)c;
    conn_pause_clear(c);
    conn_close_fd(c, &t->sock_fd, &t->w_sock);
    if (t->waiting) dist_expect_remove(t->d, &t->e);
    t->waiting = false;
    loop_timer_clear(c->l, &t->connect_timer);
    c->outq.len = c->outq_off = 0;
    c->out_watching = false;
}

static void flush(conn *c)
{
    dist_conn *t = (dist_conn *)c;
    conn_write(c, t->sock_fd, &t->w_sock, conn_read_events(c));
}

static void on_sock(loop_watch *w, uint32_t events)
{
    conn *c = w->ud;
    dist_conn *t = w->ud;
    if (events & EPOLLOUT) flush(c);
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))) return;
    tcp_sink sink = { packet, oversized, t };
    int st = conn_read_packets(t->sock_fd, &t->dec, &sink, false);
    if (st < 0) conn_lose(c, st == CONN_NOMEM ? "{dist,enomem}" : "noconnection");
    else if (st == 1) conn_pause_reads(c, &t->w_sock);
}

static void connected(dist_expect *e, int fd, const uint8_t *rest, size_t n)
{
    dist_conn *t = (dist_conn *)((char *)e - offsetof(dist_conn, e));
    conn *c = &t->c;
    dist_expect_remove(t->d, e);
    t->waiting = false;
    loop_timer_clear(c->l, &t->connect_timer);
    t->sock_fd = fd;
    if (loop_watch_fd(c->l, &t->w_sock, fd, EPOLLIN | EPOLLRDHUP, on_sock, c) < 0) { conn_lose(c, "{watch_failed}"); return; }
    tcp_sink sink = { packet, oversized, t };
    if (n && !tcp_decode(&t->dec, rest, n, &sink)) return;
    flush(c);
}

static void connect_timeout(void *owner, tmr *tm)
{
    (void)tm;
    conn_lose(owner, "{dist,connect_timeout}");
}

/* ---- the interface ---- */

/* The node's arguments: -peer_detached -user peer -origin B64, B64 the
 * base64 of term_to_binary(Origin); false if out of memory. */
static bool node_args(dist_conn *t, char ***args, size_t *nargs)
{
    dist_node *d = t->d;
    for (uint32_t i = 1; i < 4; i++) pid_body(&t->pid[i], dist_name(d), i, dist_creation(d));
    buf origin = {0}, b64 = {0};
    buf_byte(&origin, ETF_VERSION);
    buf_put(&origin, t->pid[PID_ORIGIN].p, t->pid[PID_ORIGIN].len);
    base64_encode(&b64, origin.p, origin.len);
    bool ok = buf_cstr(&b64) && !origin.oom && !t->pid[PID_REPLIER].oom &&
              conn_push_arg(args, nargs, "-peer_detached") && conn_push_arg(args, nargs, "-user") &&
              conn_push_arg(args, nargs, "peer") && conn_push_arg(args, nargs, "-origin") &&
              conn_push_arg(args, nargs, (char *)b64.p);
    buf_free(&origin);
    buf_free(&b64);
    return ok;
}

static void dist_ready(dist_waiter *w, dist_node *d, const char *err)
{
    (void)d;
    dist_conn *t = (dist_conn *)((char *)w - offsetof(dist_conn, w));
    t->c.pending = false;
    char **args = NULL;
    size_t n = 0;
    char *why = err ? strdup(err) : NULL;
    if (!err && !node_args(t, &args, &n)) why = strdup("out of memory");
    t->c.ev->ready(t->c.owner, args, n, why);
}

static conn *create(conn_host *h, const pm_start_opts *o, const conn_events *ev, void *owner, char ***args, size_t *nargs, char **err)
{
    dist_node *d = conn_host_dist(h, o->longnames, err);
    if (!d) return NULL;
    if (dist_state(d) < 0) { *err = strdup(dist_error(d) ? dist_error(d) : "peerd's node is not in epmd"); return NULL; }
    dist_conn *t = calloc(1, sizeof *t);
    if (!t) { *err = strdup("out of memory"); return NULL; }
    conn_init(&t->c, &conn_dist_ops, h->l, ev, owner);
    t->c.raw = true;
    t->d = d;
    t->sock_fd = -1;
    t->w_sock.fd = -1;
    t->alive = strdup(o->name ? o->name : "");
    t->cookie = strdup(o->cookie ? o->cookie : h->cookie);
    t->home = t->cookie ? conn_host_cookie_home(h, t->cookie) : NULL;
    char *env = NULL;
    bool ok = t->alive && t->cookie && t->home && asprintf(&t->c.text, "distribution:%s", dist_name(d)) >= 0 &&
              asprintf(&env, "HOME=%s", t->home) >= 0 && conn_push_arg(&t->c.env, &t->c.nenv, env);
    free(env);
    if (ok && dist_state(d) > 0) ok = node_args(t, args, nargs);
    if (!ok) {
        *err = strdup(t->home || !t->cookie ? "out of memory" : "cannot write the cookie for the node");
        for (int i = 0; i < 4; i++) buf_free(&t->pid[i]);
        free(t->alive);
        free(t->cookie);
        conn_release(&t->c);
        return NULL;
    }
    t->e.alive = t->alive;
    t->e.cookie = t->cookie;
    t->e.connected = connected;
    if (dist_state(d) == 0) {
        /* peerd's node is still registering in epmd. */
        t->c.pending = true;
        t->w.ready = dist_ready;
        dist_when_ready(d, &t->w);
    }
    return &t->c;
}

static int attach(conn *c, int in_fd, int out_fd)
{
    dist_conn *t = (dist_conn *)c;
    (void)in_fd;
    if (conn_watch_stdout(c, out_fd) < 0 || !loop_timer(c->l, &t->connect_timer, DIST_CONNECT_MS, connect_timeout, c)) return -1;
    dist_expect_add(t->d, &t->e);
    t->waiting = true;
    return 0;
}

static bool is_open(const conn *c) { return ((const dist_conn *)c)->sock_fd >= 0; }
static bool is_waiting(const conn *c) { return ((const dist_conn *)c)->waiting; }
static void destroy(conn *c)
{
    dist_conn *t = (dist_conn *)c;
    if (c->pending) dist_waiter_remove(t->d, &t->w);
    close_control(c);
    tcp_decoder_free(&t->dec);
    for (int i = 0; i < 4; i++) buf_free(&t->pid[i]);
    free(t->alive);
    free(t->cookie);
    conn_release(c);
}

/* The message going up was made here (up): its buffer is given away; or
 * it lies in the packet as it came (rex_return): the packet's buffer. */
static bool take(conn *c, const uint8_t *inside, buf *out, size_t *off)
{
    dist_conn *t = (dist_conn *)c;
    buf *b = t->up_buf;
    if (!b) return tcp_decoder_take(&t->dec, inside, out, off);
    if (inside < b->p || inside >= b->p + b->len) return false;
    *out = *b;
    *off = (size_t)(inside - b->p);
    *b = (buf){0};
    t->up_buf = NULL;
    return true;
}

const conn_ops conn_dist_ops = {
    .name = "distribution", .create = create, .wants_stdin = false, .calls_at_once = 1024, .attach = attach, .send = send_msg,
    .flush = flush, .is_open = is_open, .is_waiting = is_waiting, .close = close_control, .drain = conn_drain_stdout,
    .take = take, .free = destroy,
};

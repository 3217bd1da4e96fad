/*
 * io_server.c — peerd is the node's group leader, as OTP's origin is: the
 * node's output comes as io_requests, answered here, and its text goes into
 * the console ring. Flow control holds io_replies while a console follower
 * lags (a terminal makes a writer wait the same way).
 */
#include "control.h"
#include "manager_int.h"
#include "io_format.h"
#include "utf8.h"

/* Flow control for followers that keep reading but read slower than the
 * node prints: the node's I/O requests wait for them (their io_replies are
 * held), as a terminal makes a writer wait, so that nothing is overwritten
 * in the ring before they have it. For IO_HOLD_MS at most: a follower that
 * lets that pass is slow and gets missed markers instead, and holds nothing
 * back until it has caught up again. */
static bool followers_lag(peer *p)
{
    uint64_t limit = p->console.max / 2;
    for (follower *f = p->followers; f; f = f->next) {
        /* A snapshot (once) holds nothing back: it is a copy of the ring
         * being read, not a reader the node writes to. */
        if (f->kind != PM_FOLLOW_CONSOLE || f->once || f->finished || f->dead) continue;
        uint64_t lag = p->console.end > f->pos ? p->console.end - f->pos : 0;
        if (f->slow) {
            if (lag > limit / 2) continue;
            f->slow = false;
        }
        if (lag > limit) return true;
    }
    return false;
}

static void io_hold_expired(void *owner, tmr *t);

/* Sends what is held, in order. What cannot be queued (out of memory)
 * stays held, and is tried again after IO_HOLD_MS: the node's writer
 * waits for its reply, never loses it. */
static void release_io(peer *p)
{
    mgr_timer_clear(p->m, &p->held_timer);
    size_t off = 0;
    while (off + 4 <= p->held_io.len) {
        const uint8_t *q = p->held_io.p + off;
        uint32_t n = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
        if (!mgr_send_etf(p, q + 4, n)) break;
        off += 4 + (size_t)n;
    }
    buf_consume(&p->held_io, off);
    if (p->held_io.len && !mgr_timer_set(p->m, &p->held_timer, IO_HOLD_MS, io_hold_expired, p))
        mgr_plogf(p, "peer %s: out of memory: %zu bytes of I/O replies wait for the next one to go", p->id, p->held_io.len);
}

static void io_hold_expired(void *owner, tmr *t)
{
    (void)t;
    peer *p = owner;
    uint64_t limit = p->console.max / 2;
    for (follower *f = p->followers; f; f = f->next)
        if (f->kind == PM_FOLLOW_CONSOLE && p->console.end > f->pos && p->console.end - f->pos > limit) f->slow = true;
    release_io(p);
}

/* An io_reply goes now, or after what is held, once no follower lags. */
void mgr_send_io_reply(peer *p, const uint8_t *etf, size_t n)
{
    if (!p->held_io.len && !followers_lag(p) && mgr_send_etf(p, etf, n)) return;
    size_t len = p->held_io.len;
    buf_u32(&p->held_io, (uint32_t)n);
    buf_put(&p->held_io, etf, n);
    if (p->held_io.oom) {       /* nowhere to keep it: the writer waits until the node is stopped */
        p->held_io.oom = false;
        p->held_io.len = len;
        mgr_plogf(p, "peer %s: out of memory: an I/O reply was lost; the process that wrote waits", p->id);
        return;
    }
    if (!p->held_timer.idx && !mgr_timer_set(p->m, &p->held_timer, IO_HOLD_MS, io_hold_expired, p))
        io_hold_expired(p, &p->held_timer);   /* no hold without its end */
}

/* Followers were filled: what they held back may go. */
void mgr_maybe_release_io(peer *p)
{
    if (p->held_io.len && !p->dead && !followers_lag(p)) release_io(p);
}

/* Appends chardata (iolist / unicode chardata) as UTF-8; false if not chardata. */
bool mgr_chardata_utf8(const term *t, bool unicode, buf *out, int depth)
{
    if (depth > 100) return false;
    uint8_t u[4];
    switch (t->type) {
    case TERM_BINARY:
        if (t->bin.bits != 8) return false;
        if (unicode) { buf_put(out, t->bin.data, t->bin.len); return true; }
        for (size_t i = 0; i < t->bin.len; i++) buf_put(out, u, utf8_put(u, t->bin.data[i]));
        return true;
    case TERM_NIL:
        return true;
    case TERM_INT:
        if (t->i < 0 || t->i > (unicode ? 0x10ffff : 255)) return false;
        {
            size_t k = utf8_put(u, (uint32_t)t->i);
            if (!k) return false;
            buf_put(out, u, k);
        }
        return true;
    case TERM_LIST:
        for (size_t i = 0; i < t->list.n; i++)
            if (!mgr_chardata_utf8(t->list.items[i], unicode, out, depth + 1)) return false;
        return t->list.tail->type == TERM_NIL || (t->list.tail->type == TERM_BINARY && mgr_chardata_utf8(t->list.tail, unicode, out, depth + 1));
    default:
        return false;
    }
}

term *mgr_mk_tuple(arena *a, size_t n, ...)
{
    term *t = term_tuple(a, n);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; t && i < n; i++) t->tuple.items[i] = va_arg(ap, term *);
    va_end(ap);
    return t;
}

void mgr_io_reply(peer *p, io_cont *io, term *reply)
{
    term *msg = mgr_mk_tuple(io->a, 4, term_atomz(io->a, "io_reply"), io->from, io->reply_as, reply);
    buf b = {0};
    if (msg) etf_encode(&b, msg);
    if (!b.oom && b.len) mgr_send_io_reply(p, b.p, b.len);
    buf_free(&b);
}

static bool put_chars_text(peer *p, const term *enc, const term *chars)
{
    buf out = {0};
    bool ok = mgr_chardata_utf8(chars, !enc || !term_is_atom(enc, "latin1"), &out, 0);
    if (ok) mgr_console_write(p, out.p, out.len);
    buf_free(&out);
    return ok;
}

/* Answers one I/O request; returns NULL when it went off to the node (MFA). */
static term *io_one(peer *p, io_cont *io, const term *r)
{
    arena *a = io->a;
    if (r->type == TERM_ATOM) {
        if (term_is_atom(r, "getopts")) {
            term *l = term_list(a, 2, NULL);
            if (l) {
                l->list.items[0] = mgr_mk_tuple(a, 2, term_atomz(a, "binary"), term_atomz(a, "false"));
                l->list.items[1] = mgr_mk_tuple(a, 2, term_atomz(a, "encoding"), term_atomz(a, "unicode"));
            }
            return l;
        }
        if (term_is_atom(r, "get_line") || term_is_atom(r, "get_chars")) return term_atomz(a, "eof");
        return mgr_mk_tuple(a, 2, term_atomz(a, "error"), term_atomz(a, "request"));
    }
    if (r->type != TERM_TUPLE || !r->tuple.n || r->tuple.items[0]->type != TERM_ATOM)
        return mgr_mk_tuple(a, 2, term_atomz(a, "error"), term_atomz(a, "request"));
    const term *tag = r->tuple.items[0];
    size_t n = r->tuple.n;
    if (term_is_atom(tag, "put_chars")) {
        /* {put_chars, Enc, Chars} | {put_chars, Chars} | {put_chars, Enc, M, F, A} | {put_chars, M, F, A} */
        if (n == 3 || n == 2) {
            bool ok = put_chars_text(p, n == 3 ? r->tuple.items[1] : NULL, r->tuple.items[n - 1]);
            return ok ? term_atomz(a, "ok") : mgr_mk_tuple(a, 2, term_atomz(a, "error"), term_atomz(a, "put_chars"));
        }
        if (n == 5 || n == 4) {
            /* The origin would apply(M, F, A). io_lib:format's plain cases
             * are done here; the rest we ask the node to do. */
            const term *m = r->tuple.items[n - 3], *f = r->tuple.items[n - 2], *fa = r->tuple.items[n - 1];
            if (term_is_atom(m, "io_lib") && term_is_atom(f, "format") && fa->type == TERM_LIST && fa->list.n == 2 &&
                fa->list.tail->type == TERM_NIL) {
                buf text = {0};
                bool done = io_format_fast(fa->list.items[0], fa->list.items[1], &text);
                if (done) mgr_console_write(p, text.p, text.len);
                buf_free(&text);
                if (done) return term_atomz(io->a, "ok");
            }
            pending *c = mgr_pending_new(p, P_IO);
            if (!c) return mgr_mk_tuple(a, 2, term_atomz(a, "error"), term_atomz(a, "put_chars"));
            c->io = io;
            buf b = {0};
            for (size_t i = n - 3; i < n; i++) etf_encode_body(&b, r->tuple.items[i]);
            bool built = !b.oom, sent = built && mgr_send_call(p, c, b.p, b.len);
            buf_free(&b);
            if (!sent) {            /* the request is answered as one that failed */
                if (!built) mgr_pending_take(p, c->seq);
                c->io = NULL;
                mgr_pending_free(c);
                return mgr_mk_tuple(a, 2, term_atomz(a, "error"), term_atomz(a, "put_chars"));
            }
            io->suspended = true;
            return NULL;
        }
    }
    if (term_is_atom(tag, "get_line") || term_is_atom(tag, "get_chars") || term_is_atom(tag, "get_until") ||
        term_is_atom(tag, "get_password"))
        return term_atomz(a, "eof");
    if (term_is_atom(tag, "setopts")) return term_atomz(a, "ok");
    if (term_is_atom(tag, "get_geometry")) return mgr_mk_tuple(a, 2, term_atomz(a, "error"), term_atomz(a, "enotsup"));
    return mgr_mk_tuple(a, 2, term_atomz(a, "error"), term_atomz(a, "request"));
}

/* Runs the requests of one io_request in order; an MFA put_chars suspends it
 * until the node's reply comes back (io_resume). */
static term *enomem(arena *a) { return mgr_mk_tuple(a, 2, term_atomz(a, "error"), term_atomz(a, "enomem")); }

/* The node's writer waits for every io_request's reply: out of memory
 * answers {error, enomem} if even that can be made, and says so if not. */
static void io_answer(peer *p, io_cont *io, term *reply)
{
    if (!reply) reply = enomem(io->a);
    if (reply) mgr_io_reply(p, io, reply);
    else mgr_plogf(p, "peer %s: out of memory answering an io_request; its writer waits", p->id);
}

static void io_step(peer *p, io_cont *io)
{
    while (io->i < io->n) {
        term *reply = io_one(p, io, io->reqs[io->i]);
        if (io->suspended) { io->suspended = false; return; }
        if (!reply) break;      /* out of memory: the rest is not done */
        io->last = reply;
        io->i++;
    }
    io_answer(p, io, io->i == io->n ? (io->last ? io->last : term_atomz(io->a, "ok")) : NULL);
    mgr_io_cont_free(io);
}

/* The node's formatted text back: written, and the io_request goes on. */
static void io_formatted(peer *p, io_cont *io, bool ok)
{
    io->last = ok ? term_atomz(io->a, "ok") : mgr_mk_tuple(io->a, 2, term_atomz(io->a, "error"), term_atomz(io->a, "put_chars"));
    io->i++;
    io_step(p, io);
}

/* ---- a large formatted text, made UTF-8 on the loop's helper ---- */

/* Text over this many bytes of ETF is decoded off the loop. */
#define IO_TEXT_ON_LOOP (256u << 10)

typedef struct {
    loop_work w;
    pm *m;
    char *peer;                 /* found again by id and incarnation */
    uint64_t incarnation;
    io_cont *io;
    uint8_t *mem;               /* freed with it; etf lies in it */
    const uint8_t *etf;         /* the chars, as the node sent them */
    size_t n;
    buf text;
    bool ok;
} io_text;

static void io_text_work(loop_work *w)
{
    io_text *t = (io_text *)w;
    arena *a = arena_new();
    term *chars = a ? etf_decode_body(a, t->etf, t->n, NULL) : NULL;
    t->ok = chars && mgr_chardata_utf8(chars, true, &t->text, 0) && !t->text.oom;
    arena_free(a);
}

static void io_text_done(loop_work *w)
{
    io_text *t = (io_text *)w;
    peer *p = mgr_find_peer(t->m, t->peer);
    if (p && p->incarnation == t->incarnation) {
        if (t->ok) mgr_console_write(p, t->text.p, t->text.len);
        io_formatted(p, t->io, t->ok);
    } else {
        mgr_io_cont_free(t->io);
    }
    buf_free(&t->text);
    free(t->mem);
    free(t->peer);
    free(t);
}

static bool io_text_start(peer *p, io_cont *io, const uint8_t *result, size_t n)
{
    io_text *t = calloc(1, sizeof *t);
    /* The text stays in the buffer it came in, if that can be taken. */
    if (!t || !(t->peer = strdup(p->id)) || !(t->etf = mgr_keep_bytes(p, result, n, &t->mem))) goto fail;
    t->n = n;
    t->m = p->m;
    t->incarnation = p->incarnation;
    t->io = io;
    t->w = (loop_work){ .work = io_text_work, .done = io_text_done };
    if (loop_queue_work(p->m->l, &t->w)) return true;
fail:
    if (t) { free(t->mem); free(t->peer); free(t); }
    return false;
}

void mgr_io_resume(peer *p, pending *c, const char *klass, const uint8_t *result, size_t n)
{
    io_cont *io = c->io;
    c->io = NULL;
    bool ok = !strcmp(klass, "ok");
    if (ok && n > IO_TEXT_ON_LOOP && io_text_start(p, io, result, n)) return;
    if (ok) {
        etf_error e = {0};
        term *chars = etf_decode_body(io->a, result, n, &e);
        ok = chars && put_chars_text(p, NULL, chars);
    }
    io_formatted(p, io, ok);
}

/* ---- a large format request, framed on the loop's helper ---- */

/* {call, Seq, io_lib, format, A}, A as the bytes it came in: the message
 * and its framing (twice its size over standard_io) are made by the
 * helper, in the helper's memory, and the loop queues the result without
 * a copy (conn_send_framed); the loop never touches those pages (here the
 * first touch of each is a fault: tens of ms for a few MB). */
typedef struct {
    loop_work w;
    pm *m;
    char *peer;                 /* found again by id and incarnation */
    uint64_t incarnation, seq;
    void (*frame)(buf *out, const uint8_t *etf, size_t n);
    uint8_t *mem;               /* the buffer A came in */
    const uint8_t *args;
    size_t args_len;
    buf out;                    /* framed */
} io_call;

static void io_call_free(io_call *t)
{
    buf_free(&t->out);
    free(t->mem);
    free(t->peer);
    free(t);
}

/* io_lib, format, A: the call's bodies. */
static void format_mfa(buf *b, const uint8_t *args, size_t n)
{
    etf_encode_atom(b, "io_lib", 6);
    etf_encode_atom(b, "format", 6);
    buf_put(b, args, n);
}

static void io_call_work(loop_work *w)
{
    io_call *t = (io_call *)w;
    buf msg = {0};
    mgr_tagged_head(&msg, "call", 5, &t->seq);
    format_mfa(&msg, t->args, t->args_len);
    if (!msg.oom) t->frame(&t->out, msg.p, msg.len);
    else t->out.oom = true;
    buf_free(&msg);
    free(t->mem);               /* A is in the message now */
    t->mem = NULL;
}

static void io_call_done(loop_work *w)
{
    io_call *t = (io_call *)w;
    peer *p = mgr_find_peer(t->m, t->peer);
    if (p && p->incarnation == t->incarnation && p->conn) {
        if (t->out.oom) {
            /* Out of memory: the writer is answered an error, as when the
             * request cannot be sent at all. */
            pending *c = mgr_pending_take(p, t->seq);
            if (c) { io_formatted(p, c->io, false); c->io = NULL; mgr_pending_free(c); }
        } else {
            conn_send_framed(p->conn, &t->out);
            mgr_flush_out(p);
        }
    }
    io_call_free(t);
}

/* The call sent from here: A copied into the message on the loop. False
 * if it could not be (c is out of the pending table then, not freed). */
static bool format_here(peer *p, pending *c, const uint8_t *args, size_t n)
{
    buf mfa = {0};
    format_mfa(&mfa, args, n);
    bool built = !mfa.oom, sent = built && mgr_send_call(p, c, mfa.p, mfa.len);
    buf_free(&mfa);
    if (!built) mgr_pending_take(p, c->seq);
    return sent;
}

/* Sends the call for c through the helper when the connection frames off
 * the loop and the buffer A came in can be taken, else here. False if it
 * could not be sent and the message was not taken (c is freed then; the
 * request goes the general way). */
static bool format_call(peer *p, pending *c, const uint8_t *args, size_t n)
{
    io_call *t = p->conn && p->conn->ops->frame && conn_open(p) ? calloc(1, sizeof *t) : NULL;
    buf whole;
    size_t off;
    if (!t || !(t->peer = strdup(p->id)) || !conn_take(p->conn, args, &whole, &off)) {
        if (t) free(t->peer);
        free(t);
        if (format_here(p, c, args, n)) return true;
        mgr_pending_free(c);
        return false;
    }
    t->m = p->m;
    t->incarnation = p->incarnation;
    t->seq = c->seq;
    t->frame = p->conn->ops->frame;
    t->mem = whole.p;
    t->args = whole.p + off;
    t->args_len = n;
    t->w = (loop_work){ .work = io_call_work, .done = io_call_done };
    if (loop_queue_work(p->m->l, &t->w)) return true;
    /* No helper: sent from here. The message is in t's buffer now, so it
     * cannot go the general way: if even this fails, the writer is
     * answered an error. */
    if (!format_here(p, c, t->args, n)) {
        io_formatted(p, c->io, false);
        c->io = NULL;
        mgr_pending_free(c);
    }
    io_call_free(t);
    return true;
}

/* {io_request, From, ReplyAs, {put_chars, Enc, io_lib, format, A}} of over
 * IO_TEXT_ON_LOOP bytes: From and ReplyAs decoded, A handed to the node to
 * format as the bytes it came in (never decoded here), its text made
 * UTF-8 off the loop when it comes back. */
bool mgr_handle_large_format(peer *p, const uint8_t *etf, size_t n)
{
    control_format cf;
    if (n < IO_TEXT_ON_LOOP || !control_read_format(etf, n, &cf)) return false;
    arena *a = arena_new();
    size_t used = 0;
    term *from = a ? etf_decode_prefix(a, cf.heads, cf.heads_len, &used, NULL) : NULL;
    term *reply_as = from ? etf_decode_body(a, cf.heads + used, cf.heads_len - used, NULL) : NULL;
    io_cont *io = reply_as ? calloc(1, sizeof *io) : NULL;
    pending *c = io ? mgr_pending_new(p, P_IO) : NULL;
    if (!c) { free(io); arena_free(a); return false; }
    io->a = a;
    io->from = from;
    io->reply_as = reply_as;
    io->reqs = &io->last;       /* one request, done once the node answers */
    io->n = 1;
    c->io = io;
    return format_call(p, c, cf.args, cf.args_len);   /* false: the request goes the general way */
}

void mgr_handle_io_request(peer *p, arena *a, term *msg)
{
    io_cont *io = calloc(1, sizeof *io);
    if (!io) {
        io_cont here = { .a = a, .from = msg->tuple.items[1], .reply_as = msg->tuple.items[2] };
        io_answer(p, &here, NULL);
        arena_free(a);
        return;
    }
    io->a = a;
    io->from = msg->tuple.items[1];
    io->reply_as = msg->tuple.items[2];
    term *req = msg->tuple.items[3];
    if (req->type == TERM_TUPLE && req->tuple.n == 2 && term_is_atom(req->tuple.items[0], "requests") &&
        req->tuple.items[1]->type == TERM_LIST) {
        io->reqs = req->tuple.items[1]->list.items;
        io->n = req->tuple.items[1]->list.n;
    } else {
        io->reqs = &msg->tuple.items[3];
        io->n = 1;
    }
    io_step(p, io);
}

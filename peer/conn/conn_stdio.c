/*
 * conn_stdio.c — the standard_io control connection: the node is started
 * with -user peer and speaks OTP's framed, nibble-encoded messages on its
 * stdin and stdout, interleaved with what it prints (stdio_frame.h).
 */
#include "conn.h"
#include "stdio_frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

typedef struct {
    conn c;
    int in_fd;                  /* the program's stdin: messages to the node */
    loop_watch w_in;
    stdio_decoder dec;
} stdio_conn;

static conn *create(conn_host *h, const pm_start_opts *o, const conn_events *ev, void *owner, char ***args, size_t *nargs, char **err)
{
    (void)o;
    stdio_conn *s = calloc(1, sizeof *s);
    if (!s || !conn_push_arg(args, nargs, "-user") || !conn_push_arg(args, nargs, "peer") || !(s->c.text = strdup("standard_io"))) {
        free(s);
        *err = strdup("out of memory");
        return NULL;
    }
    conn_init(&s->c, &conn_stdio_ops, h->l, ev, owner);
    s->in_fd = -1;
    s->w_in.fd = -1;
    return &s->c;
}

/* The sink of the decoder: console text and frames, in order. */
static void sink_console(void *ud, const uint8_t *d, size_t n) { conn *c = ud; c->ev->console(c->owner, d, n); }
static bool sink_frame(void *ud, const uint8_t *etf, size_t n) { conn *c = ud; return c->ev->message(c->owner, etf, n); }
static bool sink_oversized(void *ud, const uint8_t *head, size_t n, size_t size)
{
    conn *c = ud;
    return c->ev->oversized(c->owner, head, n, size);
}

static void close_control(conn *c)
{
    stdio_conn *s = (stdio_conn *)c;
    conn_close_fd(c, &s->in_fd, &s->w_in);
    c->outq.len = c->outq_off = 0;
    c->out_watching = false;
    c->raw = true;              /* what the program prints from now on is console */
}

/* A broken stream (a CRC that does not match, a frame over the limit with
 * no way to skip it) cannot be trusted again: the node is killed. */
static bool decode(conn *c, const uint8_t *d, size_t n)
{
    stdio_conn *s = (stdio_conn *)c;
    stdio_sink sink = { sink_console, sink_frame, c, sink_oversized };
    stdio_status st = stdio_decode(&s->dec, d, n, &sink);
    if (st == STDIO_OK) return true;
    if (st == STDIO_STOPPED) return false;
    char reason[64];
    snprintf(reason, sizeof reason, "{control_stream,%s}", stdio_status_text(st));
    close_control(c);
    c->ev->lost(c->owner, reason, true);
    return false;
}

static void flush(conn *c)
{
    stdio_conn *s = (stdio_conn *)c;
    conn_write(c, s->in_fd, &s->w_in, 0);
}

static void on_in(loop_watch *w, uint32_t ev) { (void)ev; flush(w->ud); }

static int attach(conn *c, int in_fd, int out_fd)
{
    stdio_conn *s = (stdio_conn *)c;
    s->in_fd = in_fd;
    c->decode = decode;
    if (conn_watch_stdout(c, out_fd) < 0) return -1;
    return loop_watch_fd(c->l, &s->w_in, in_fd, 0, on_in, c);
}

static void send_msg(conn *c, const uint8_t *etf, size_t n)
{
    if (((stdio_conn *)c)->in_fd >= 0) stdio_encode(&c->outq, etf, n);
}

static bool is_open(const conn *c) { return ((const stdio_conn *)c)->in_fd >= 0; }
static bool is_waiting(const conn *c) { (void)c; return false; }

static bool take(conn *c, const uint8_t *inside, buf *out, size_t *off)
{
    return stdio_decoder_take(&((stdio_conn *)c)->dec, inside, out, off);
}

static void destroy(conn *c)
{
    stdio_conn *s = (stdio_conn *)c;
    conn_close_fd(c, &s->in_fd, &s->w_in);
    stdio_decoder_free(&s->dec);
    conn_release(c);
}

const conn_ops conn_stdio_ops = {
    .name = "standard_io", .create = create, .wants_stdin = true, .calls_at_once = 256, .attach = attach, .send = send_msg, .frame = stdio_encode,
    .flush = flush, .is_open = is_open, .is_waiting = is_waiting, .close = close_control, .drain = conn_drain_stdout,
    .take = take, .free = destroy,
};

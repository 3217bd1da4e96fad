/*
 * conn.c — what every control connection shares (peer/conn/conn.c): a
 * message framed off the loop (conn_ops.frame) is queued by taking its
 * buffer when nothing is queued, behind what is queued otherwise, and
 * dropped when the connection is not open or the framing ran out of
 * memory; standard_io and TCP frame off the loop as they send.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "stdio_frame.h"
#include "tcp_frame.h"

static bool open_now;
static bool is_open(const conn *c) { (void)c; return open_now; }
static const conn_ops ops = { .name = "test", .is_open = is_open };

static buf framed(const char *s)
{
    buf b = {0};
    buf_str(&b, s);
    return b;
}

Test(conn, framed_bytes_are_taken_into_an_empty_queue_and_queued_behind_others)
{
    conn c = { .ops = &ops };
    open_now = true;
    buf enc = framed("first");
    uint8_t *p = enc.p;
    conn_send_framed(&c, &enc);
    cr_assert_eq(c.outq.p, p, "an empty queue takes the buffer, not a copy");
    cr_assert(c.outq.len == 5 && c.outq_off == 0 && !enc.p);
    c.outq_off = 2;             /* "fi" written */
    enc = framed("second");
    conn_send_framed(&c, &enc);
    cr_assert(!enc.p);
    cr_assert_eq(c.outq.len - c.outq_off, 9);
    cr_assert(!memcmp(c.outq.p + c.outq_off, "rstsecond", 9), "behind what is queued");
    open_now = false;
    enc = framed("late");
    conn_send_framed(&c, &enc);
    cr_assert(!enc.p && c.outq.len == 11, "not open: dropped");
    open_now = true;
    enc = framed("x");
    enc.oom = true;
    conn_send_framed(&c, &enc);
    cr_assert(!enc.p && c.outq.len == 11, "framing ran out of memory: dropped");
    buf_free(&c.outq);
}

Test(conn, standard_io_and_tcp_frame_as_they_send)
{
    static const uint8_t etf[] = { 131, 100, 0, 2, 'o', 'k' };
    buf a = {0}, b = {0};
    cr_assert_eq(conn_stdio_ops.frame, stdio_encode);
    cr_assert_eq(conn_tcp_ops.frame, tcp_encode);
    cr_assert_null(conn_dist_ops.frame, "distribution's framing reads the connection");
    stdio_encode(&a, etf, sizeof etf);
    conn_stdio_ops.frame(&b, etf, sizeof etf);
    cr_assert(a.len == b.len && !memcmp(a.p, b.p, a.len));
    buf_free(&a);
    buf_free(&b);
}

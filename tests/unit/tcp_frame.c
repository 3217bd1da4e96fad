/*
 * tcp_frame.c — OTP peer's TCP framing, {packet, 4} (peer/term/tcp_frame.c):
 * messages split across any reads, encoded as erl's gen_tcp would, and one
 * over the limit handed over by its head and the rest dropped.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "tcp_frame.h"

typedef struct { int frames, over; size_t sizes[8], over_size, head_len; char last[64]; } sink_log;

static bool on_frame(void *ud, const uint8_t *etf, size_t n)
{
    sink_log *l = ud;
    l->sizes[l->frames++] = n;
    memcpy(l->last, etf, n < sizeof l->last ? n : sizeof l->last);
    return true;
}

static bool on_oversized(void *ud, const uint8_t *head, size_t n, size_t size)
{
    (void)head;
    sink_log *l = ud;
    l->over++;
    l->over_size = size;
    l->head_len = n;
    return true;
}

Test(tcp_frame, messages_split_across_reads_of_any_size)
{
    buf wire = {0};
    tcp_encode(&wire, (const uint8_t *)"\x83" "abc", 4);
    tcp_encode(&wire, (const uint8_t *)"\x83", 1);
    tcp_encode(&wire, (const uint8_t *)"\x83" "0123456789", 11);
    cr_assert_eq(wire.len, 3 * 4 + 16);
    cr_assert(!memcmp(wire.p, "\0\0\0\x04\x83" "abc", 8), "a 4-byte big-endian length, then the message");
    for (size_t step = 1; step <= wire.len; step++) {
        tcp_decoder d = {0};
        sink_log l = {0};
        tcp_sink sink = { on_frame, on_oversized, &l };
        for (size_t at = 0; at < wire.len; at += step)
            cr_assert(tcp_decode(&d, wire.p + at, at + step <= wire.len ? step : wire.len - at, &sink));
        cr_assert_eq(l.frames, 3, "reads of %zu bytes", step);
        cr_assert_eq(l.sizes[0], 4);
        cr_assert_eq(l.sizes[1], 1);
        cr_assert_eq(l.sizes[2], 11);
        cr_assert(!memcmp(l.last, "\x83" "0123456789", 11));
        tcp_decoder_free(&d);
    }
    buf_free(&wire);
}

Test(tcp_frame, a_message_over_the_limit_goes_by_its_head)
{
    tcp_decoder d = { .max_frame = 1000 };
    sink_log l = {0};
    tcp_sink sink = { on_frame, on_oversized, &l };
    static uint8_t big[5000];
    memset(big, 'y', sizeof big);
    big[0] = 0x83;
    buf wire = {0};
    tcp_encode(&wire, big, sizeof big);
    tcp_encode(&wire, (const uint8_t *)"\x83" "after", 6);
    for (size_t at = 0; at < wire.len; at += 700)
        cr_assert(tcp_decode(&d, wire.p + at, at + 700 <= wire.len ? 700 : wire.len - at, &sink));
    cr_assert_eq(l.over, 1);
    cr_assert_eq(l.over_size, sizeof big, "its size, as its length said");
    cr_assert_leq(l.head_len, TCP_HEAD);
    cr_assert_eq(l.frames, 1, "the message after it arrives whole");
    cr_assert(!memcmp(l.last, "\x83" "after", 6));
    tcp_decoder_free(&d);
    buf_free(&wire);
}

/* A sink that takes the buffer of every message that starts with 'T' (as
 * the manager takes a large result's): the offset is right, a pointer
 * outside the message is refused, it is taken once, and what followed it
 * in the same read is still split, at every read size. */
typedef struct { tcp_decoder *d; int frames, taken; bool bad; char seen[8][16]; } take_log;

static bool take_frame(void *ud, const uint8_t *etf, size_t n)
{
    take_log *t = ud;
    memcpy(t->seen[t->frames], etf, n < 15 ? n : 15);
    t->frames++;
    if (etf[1] != 'T') return true;
    buf out;
    size_t off;
    uint8_t elsewhere = 0;
    t->bad |= tcp_decoder_take(t->d, &elsewhere, &out, &off) || tcp_decoder_take(t->d, etf + n, &out, &off);
    cr_assert(tcp_decoder_take(t->d, etf + 1, &out, &off));
    t->bad |= tcp_decoder_take(t->d, etf + 1, &(buf){0}, &(size_t){0});
    t->bad |= memcmp(out.p + off - 1, etf, n) != 0 || off < 5;
    buf_free(&out);
    t->taken++;
    return true;
}

Test(tcp_frame, a_sink_takes_the_buffer_and_what_followed_is_split)
{
    buf wire = {0};
    tcp_encode(&wire, (const uint8_t *)"\x83" "Taken-1", 8);
    tcp_encode(&wire, (const uint8_t *)"\x83" "kept", 5);
    tcp_encode(&wire, (const uint8_t *)"\x83" "Taken-2", 8);
    tcp_encode(&wire, (const uint8_t *)"\x83" "last", 5);
    for (size_t step = 1; step <= wire.len; step++) {
        tcp_decoder d = {0};
        take_log t = { .d = &d };
        tcp_sink sink = { take_frame, on_oversized, &t };
        for (size_t at = 0; at < wire.len; at += step)
            cr_assert(tcp_decode(&d, wire.p + at, at + step <= wire.len ? step : wire.len - at, &sink));
        cr_assert_eq(t.frames, 4, "step %zu", step);
        cr_expect_eq(t.taken, 2, "step %zu", step);
        cr_expect_not(t.bad, "step %zu", step);
        cr_expect_str_eq(t.seen[1], "\x83" "kept", "step %zu", step);
        cr_expect_str_eq(t.seen[3], "\x83" "last", "step %zu", step);
        cr_expect_eq(d.in.len, 0);
        tcp_decoder_free(&d);
    }
    buf_free(&wire);
}

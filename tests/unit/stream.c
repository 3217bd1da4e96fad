/*
 * stream.c — the loop-to-response byte stream (peer/runtime/stream.c):
 * bytes in order, a reader that parks on empty and is woken by the next
 * append or the end, a refill asked for once a full buffer drains below
 * half, and a client that goes away cutting it.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"

typedef struct { int parks, wakes; } reader;

static void park(void *ud) { ((reader *)ud)->parks++; }
static void wake(void *ud) { ((reader *)ud)->wakes++; }

static void append(stream *s, const char *text)
{
    buf_str(stream_append_begin(s), text);
    stream_append_end(s);
}

Test(stream, bytes_in_order_and_a_reader_parked_until_more)
{
    reader r = {0};
    stream *s = stream_new(park, wake, &r);
    cr_assert(s);
    char out[64];
    stream_state st;
    bool refill;
    cr_assert_eq(stream_take(s, out, sizeof out, &st, &refill), 0);
    cr_assert_eq(st, STREAM_OPEN);
    cr_assert_eq(r.parks, 1, "nothing there: the reader parks");
    append(s, "hello ");
    cr_assert_eq(r.wakes, 1, "an append wakes a parked reader");
    append(s, "world");
    cr_assert_eq(r.wakes, 1, "and only a parked one");
    size_t n = stream_take(s, out, 8, &st, &refill);
    cr_assert_eq(n, 8);
    n += stream_take(s, out + 8, sizeof out - 8, &st, &refill);
    cr_assert_eq(n, 11);
    cr_assert(!memcmp(out, "hello world", 11));
    stream_finish(s, STREAM_END);
    cr_assert_eq(stream_take(s, out, sizeof out, &st, &refill), 0);
    cr_assert_eq(st, STREAM_END, "drained and ended");
    stream_unref(s);
    stream_unref(s);
}

Test(stream, a_full_stream_asks_for_a_refill_once_half_drained)
{
    reader r = {0};
    stream *s = stream_new(park, wake, &r);
    static char chunk[64 << 10];
    memset(chunk, 'x', sizeof chunk);
    while (stream_room(s)) {
        buf_put(stream_append_begin(s), chunk, sizeof chunk);
        stream_append_end(s);
    }
    cr_assert_eq(stream_room(s), 0, "full: the loop stops filling");
    static char out[STREAM_CAP];
    stream_state st;
    bool refill = false;
    size_t took = stream_take(s, out, STREAM_CAP / 4, &st, &refill);
    cr_assert_eq(took, STREAM_CAP / 4);
    cr_assert(!refill, "three quarters full: not yet");
    stream_take(s, out, STREAM_CAP / 2, &st, &refill);
    cr_assert(refill, "below half: the loop is asked for more");
    stream_take(s, out, 1, &st, &refill);
    cr_assert(!refill, "asked once");
    stream_unref(s);
    stream_unref(s);
}

Test(stream, a_client_that_goes_away_cuts_it_and_wakes_the_reader)
{
    reader r = {0};
    stream *s = stream_new(park, wake, &r);
    char out[8];
    stream_state st;
    bool refill;
    stream_take(s, out, sizeof out, &st, &refill);
    cr_assert_eq(r.parks, 1);
    stream_client_gone(s);
    cr_assert_eq(r.wakes, 1, "the parked reader is woken to see it");
    append(s, "late");
    cr_assert_eq(stream_take(s, out, sizeof out, &st, &refill), 4);
    cr_assert_eq(st, STREAM_CUT, "what is read after is of a cut stream");
    stream_unref(s);
    stream_unref(s);
}

/* A block is taken whole, not copied, and only into an empty stream (what
 * is held goes first); a buffer past twice the cap is let go once emptied;
 * a block for a finished stream is freed (the leak checkers would see it). */
Test(stream, a_block_is_adopted_only_into_an_empty_stream)
{
    reader r = {0};
    stream *s = stream_new(park, wake, &r);
    size_t n = 3 * STREAM_CAP;
    uint8_t *block = malloc(n);
    memset(block, 'b', n);
    append(s, "a");
    cr_assert(!stream_adopt(s, block, n, n), "bytes held: not yet");
    static char out[4 * STREAM_CAP];
    stream_state st;
    bool refill;
    cr_assert_eq(stream_take(s, out, sizeof out, &st, &refill), 1);
    cr_assert_eq(stream_take(s, out, sizeof out, &st, &refill), 0);
    cr_assert_eq(r.parks, 1);
    cr_assert(stream_adopt(s, block, n, n));
    cr_assert_eq(s->data.p, block, "taken, not copied");
    cr_assert_eq(r.wakes, 1, "the parked reader is woken");
    cr_assert_eq(stream_room(s), 0, "over the cap: full");
    append(s, "c");
    size_t got = 0;
    while (got < n + 1) {
        size_t k = stream_take(s, out + got, 65536, &st, &refill);
        if (!k) break;
        got += k;
    }
    cr_assert_eq(got, n + 1);
    cr_assert(out[0] == 'b' && out[n - 1] == 'b' && out[n] == 'c', "in order");
    cr_assert_null(s->data.p, "emptied: the large buffer is let go");
    stream_finish(s, STREAM_END);
    block = malloc(16);
    cr_assert(stream_adopt(s, block, 16, 16), "finished: taken and freed");
    cr_assert_eq(stream_take(s, out, sizeof out, &st, &refill), 0);
    cr_assert_eq(st, STREAM_END);
    stream_unref(s);
    stream_unref(s);
}

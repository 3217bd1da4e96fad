/*
 * console_ring.c — the console ring keeps the newest bytes at absolute offsets.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "console_ring.h"

Test(console_ring, grows_then_wraps_keeping_offsets)
{
    console_ring r;
    console_ring_init(&r, 10000);
    char chunk[777];
    uint64_t written = 0;
    for (int i = 0; i < 100; i++) {
        for (size_t k = 0; k < sizeof chunk; k++) chunk[k] = (char)('a' + (written + k) % 26);
        console_ring_write(&r, chunk, sizeof chunk);
        written += sizeof chunk;
    }
    cr_expect_eq(r.end, written);
    cr_expect_eq(r.end - r.start, 10000);
    char out[20000];
    uint64_t since = 0;
    size_t n = console_ring_read(&r, &since, out, sizeof out);
    cr_expect_eq(since, written - 10000, "reading from 0 starts at the oldest kept byte");
    cr_expect_eq(n, 10000);
    for (size_t k = 0; k < n; k++) cr_assert_eq(out[k], (char)('a' + (since + k) % 26), "byte %zu", k);
    since = written - 5;
    cr_expect_eq(console_ring_read(&r, &since, out, sizeof out), 5);
    since = written + 100;
    cr_expect_eq(console_ring_read(&r, &since, out, sizeof out), 0);
    cr_expect_eq(since, written);
    console_ring_free(&r);
}

Test(console_ring, a_write_larger_than_the_ring_keeps_its_tail)
{
    console_ring r;
    console_ring_init(&r, 8);
    console_ring_write(&r, "0123456789abcdef", 16);
    char out[16];
    uint64_t since = 0;
    size_t n = console_ring_read(&r, &since, out, sizeof out);
    cr_expect_eq(n, 8);
    cr_expect_eq(since, 8);
    cr_expect_arr_eq(out, "89abcdef", 8);
    console_ring_free(&r);
}

/*
 * console_ring.c — the console ring keeps the newest bytes at absolute offsets.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "console_ring.h"

Test(console_ring, wraps_keeping_offsets)
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

/* Its size is mapped once, at the first write: never moved or grown. */
Test(console_ring, is_mapped_once_and_never_moves)
{
    console_ring r;
    console_ring_init(&r, (size_t)1 << 30);
    cr_expect_null(r.data, "nothing mapped before the first write");
    console_ring_write(&r, "hello", 5);
    uint8_t *at = r.data;
    cr_assert_not_null(at);
    cr_expect_eq(r.cap, (size_t)1 << 30);
    char big[65536];
    memset(big, 'x', sizeof big);
    for (int i = 0; i < 64; i++) console_ring_write(&r, big, sizeof big);
    cr_expect_eq(r.data, at, "the same memory after 4 MiB more");
    char out[5];
    uint64_t since = 0;
    cr_expect_eq(console_ring_read(&r, &since, out, 5), 5);
    cr_expect_arr_eq(out, "hello", 5);
    console_ring_free(&r);
}

/* No address space for it: what is printed is counted, not kept. */
Test(console_ring, without_memory_counts_what_it_cannot_keep)
{
    console_ring r;
    console_ring_init(&r, SIZE_MAX / 2);
    console_ring_write(&r, "lost", 4);
    cr_expect_null(r.data);
    cr_expect_eq(r.start, 4);
    cr_expect_eq(r.end, 4);
    char out[8];
    uint64_t since = 0;
    cr_expect_eq(console_ring_read(&r, &since, out, sizeof out), 0);
    cr_expect_eq(since, 4);
    console_ring_free(&r);
}

/*
 * tcp.c — libFuzzer target: the TCP {packet, 4} splitter, with a small
 * frame limit so that oversized messages are exercised, fed whole and in
 * two reads split where the first byte says. Split or whole, the same
 * messages and oversized heads must come out, in the same order.
 */
#include <stdlib.h>
#include <string.h>

#include "etf.h"
#include "tcp_frame.h"

static bool frame(void *ud, const uint8_t *etf, size_t n)
{
    buf *b = ud;
    uint8_t tag = 'F';
    buf_put(b, &tag, 1);
    buf_u32(b, (uint32_t)n);
    buf_put(b, etf, n);
    arena *a = arena_new();
    etf_error e = {0};
    etf_decode(a, etf, n, &e);
    arena_free(a);
    return true;
}

static bool oversized(void *ud, const uint8_t *head, size_t n, size_t size)
{
    buf *b = ud;
    uint8_t tag = 'O';
    buf_put(b, &tag, 1);
    buf_u32(b, (uint32_t)size);
    buf_put(b, head, n);
    return true;
}

static void run(const uint8_t *p, size_t n, size_t cut, buf *out)
{
    tcp_decoder d = { .max_frame = 64 };
    tcp_sink sink = { frame, oversized, out };
    tcp_decode(&d, p, cut, &sink);
    tcp_decode(&d, p + cut, n - cut, &sink);
    if (d.in.len > 4 + 64 + 4) abort();   /* never holds more than one message's worth */
    tcp_decoder_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size) return 0;
    size_t cut = data[0] % size;
    buf whole = {0}, split = {0};
    run(data + 1, size - 1, 0, &whole);
    run(data + 1, size - 1, cut < size - 1 ? cut : 0, &split);
    if (whole.len != split.len || (whole.len && memcmp(whole.p, split.p, whole.len))) abort();
    buf_free(&whole);
    buf_free(&split);
    return 0;
}

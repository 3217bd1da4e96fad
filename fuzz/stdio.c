/*
 * stdio.c — libFuzzer target: the standard_io stream decoder, fed in two
 * reads split where the first byte says, handing frames to the ETF decoder.
 */
#include <stdlib.h>

#include "etf.h"
#include "stdio_frame.h"

static void console(void *ud, const uint8_t *p, size_t n) { (void)ud; (void)p; (void)n; }

static bool frame(void *ud, const uint8_t *etf, size_t n)
{
    (void)ud;
    arena *a = arena_new();
    etf_error e = {0};
    etf_decode(a, etf, n, &e);
    arena_free(a);
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size) return 0;
    size_t cut = data[0] % size;
    stdio_decoder d = {0};
    stdio_sink sink = { console, frame, NULL };
    if (stdio_decode(&d, data + 1, cut, &sink) == STDIO_OK) stdio_decode(&d, data + 1 + cut, size - 1 - cut, &sink);
    stdio_decoder_free(&d);
    return 0;
}

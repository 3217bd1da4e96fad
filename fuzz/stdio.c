/*
 * stdio.c — libFuzzer target: the standard_io stream decoder, fed in two
 * reads split where the first byte says, handing frames to the ETF decoder.
 * Split or whole, the same console text, the same frames at the same places
 * in it, and the same status must come out.
 */
#include <stdlib.h>
#include <string.h>

#include "etf.h"
#include "stdio_frame.h"

typedef struct { buf text, frames; } seen;   /* frames: text offset, size, bytes */

static void console(void *ud, const uint8_t *p, size_t n) { buf_put(&((seen *)ud)->text, p, n); }

static bool frame(void *ud, const uint8_t *etf, size_t n)
{
    seen *s = ud;
    size_t at[2] = { s->text.len, n };
    buf_put(&s->frames, at, sizeof at);
    buf_put(&s->frames, etf, n);
    arena *a = arena_new();
    etf_error e = {0};
    etf_decode(a, etf, n, &e);
    arena_free(a);
    return true;
}

static stdio_status run(const uint8_t *p, size_t n, size_t cut, seen *s)
{
    stdio_decoder d = {0};
    stdio_sink sink = { console, frame, s, NULL };
    stdio_status st = stdio_decode(&d, p, cut, &sink);
    if (st == STDIO_OK) st = stdio_decode(&d, p + cut, n - cut, &sink);
    stdio_decoder_free(&d);
    return st;
}

static bool same(const buf *a, const buf *b) { return a->len == b->len && (!a->len || !memcmp(a->p, b->p, a->len)); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size) return 0;
    size_t cut = data[0] % size;
    seen split = {0}, whole = {0};
    if (run(data + 1, size - 1, cut, &split) != run(data + 1, size - 1, size - 1, &whole)) abort();
    if (!same(&split.text, &whole.text) || !same(&split.frames, &whole.frames)) abort();
    buf_free(&split.text); buf_free(&split.frames);
    buf_free(&whole.text); buf_free(&whole.frames);
    return 0;
}

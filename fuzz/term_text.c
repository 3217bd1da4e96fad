/*
 * term_text.c — libFuzzer target: the term text parser. What it accepts,
 * printed and parsed again, must be the same term (same ETF bytes).
 */
#include <stdlib.h>
#include <string.h>

#include "etf.h"
#include "term_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    arena *a = arena_new();
    term_ctx ctx = { term_atomz(a, "peer@host"), 7 };
    term_text_error e;
    term *t = term_parse(a, (const char *)data, size, &ctx, &e);
    if (t) {
        buf text = {0}, b1 = {0}, b2 = {0};
        term_print(&text, t);
        term *t2 = term_parse(a, (const char *)text.p, text.len, &ctx, &e);
        if (!t2) abort();
        etf_encode(&b1, t);
        etf_encode(&b2, t2);
        if (b1.len != b2.len || memcmp(b1.p, b2.p, b1.len)) abort();
        buf_free(&text); buf_free(&b1); buf_free(&b2);
    }
    arena_free(a);
    return 0;
}

/*
 * buf.c — growable byte buffer.
 */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool buf_reserve(buf *b, size_t extra)
{
    if (b->oom) return false;
    if (b->cap - b->len >= extra) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra) {
        if (cap > SIZE_MAX / 2) { b->oom = true; return false; }
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p) { b->oom = true; return false; }
    b->p = p;
    b->cap = cap;
    return true;
}

void buf_put(buf *b, const void *data, size_t n)
{
    if (!n || !buf_reserve(b, n)) return;
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

void buf_byte(buf *b, uint8_t c)
{
    if (b->len < b->cap || buf_reserve(b, 1)) b->p[b->len++] = c;
}

void buf_str(buf *b, const char *s) { buf_put(b, s, strlen(s)); }

void buf_u16(buf *b, uint16_t v)
{
    uint8_t x[2] = { v >> 8, v & 0xff };
    buf_put(b, x, 2);
}

void buf_u32(buf *b, uint32_t v)
{
    uint8_t x[4] = { v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff };
    buf_put(b, x, 4);
}

void buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) { buf_put(b, tmp, (size_t)n); return; }
    if (!buf_reserve(b, (size_t)n + 1)) return;
    va_start(ap, fmt);
    vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void buf_consume(buf *b, size_t n)
{
    if (n >= b->len) { b->len = 0; return; }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

char *buf_cstr(buf *b)
{
    if (!buf_reserve(b, 1)) return NULL;
    b->p[b->len] = 0;
    return (char *)b->p;
}

void buf_free(buf *b)
{
    free(b->p);
    *b = (buf){0};
}

void buf_dec(buf *b, uint64_t v)
{
    char d[20];
    int n = 0;
    do d[sizeof d - ++n] = (char)('0' + v % 10); while ((v /= 10));
    buf_put(b, d + sizeof d - n, (size_t)n);
}

void buf_hex(buf *b, uint64_t v, int digits)
{
    char d[16];
    for (int i = digits - 1; i >= 0; i--, v >>= 4) d[i] = "0123456789abcdef"[v & 15];
    buf_put(b, d, (size_t)digits);
}

/*
 * base64.c — base64 encoding and strict decoding (whitespace is not allowed).
 */
#include "base64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base64_encode(buf *out, const uint8_t *p, size_t n)
{
    if (!buf_reserve(out, (n + 2) / 3 * 4)) return;
    uint8_t *w = out->p + out->len;
    size_t i = 0;
    for (; i + 2 < n; i += 3, w += 4) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        w[0] = alphabet[v >> 18], w[1] = alphabet[(v >> 12) & 63], w[2] = alphabet[(v >> 6) & 63], w[3] = alphabet[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        w[0] = alphabet[v >> 18], w[1] = alphabet[(v >> 12) & 63], w[2] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=', w[3] = '=';
        w += 4;
    }
    out->len = (size_t)(w - out->p);
}

static int value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

bool base64_decode(buf *out, const char *s, size_t n)
{
    if (n % 4) return false;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            if (s[i + k] == '=' && i + 4 == n && k >= 2) { v[k] = 0; pad++; continue; }
            if (pad || (v[k] = value(s[i + k])) < 0) return false;
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        uint8_t b[3] = { (uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w };
        buf_put(out, b, (size_t)(3 - pad));
    }
    return !out->oom;
}

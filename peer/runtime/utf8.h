/*
 * utf8.h — strict UTF-8 decoding and encoding (no overlongs, no surrogates).
 */
#ifndef PEERD_UTF8_H
#define PEERD_UTF8_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* Decodes one code point at s[0..n); returns its length, 0 if invalid. */
static inline size_t utf8_next(const uint8_t *s, size_t n, uint32_t *cp)
{
    if (!n) return 0;
    uint8_t b = s[0];
    size_t len;
    uint32_t c;
    if (b < 0x80) { *cp = b; return 1; }
    else if ((b & 0xe0) == 0xc0) { len = 2; c = b & 0x1f; }
    else if ((b & 0xf0) == 0xe0) { len = 3; c = b & 0x0f; }
    else if ((b & 0xf8) == 0xf0) { len = 4; c = b & 0x07; }
    else return 0;
    if (n < len) return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xc0) != 0x80) return 0;
        c = c << 6 | (s[k] & 0x3f);
    }
    if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
        c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
    *cp = c;
    return len;
}

/* Code points in s[0..n), or -1 if it is not valid UTF-8; then *bad (if
 * given) is the offset of the first byte that is not. */
static inline long utf8_count(const uint8_t *s, size_t n, size_t *bad)
{
    long count = 0;
    uint32_t cp;
    for (size_t i = 0, k; i < n; i += k, count++)
        if (!(k = utf8_next(s + i, n - i, &cp))) {
            if (bad) *bad = i;
            return -1;
        }
    return count;
}

static inline bool utf8_valid(const uint8_t *s, size_t n)
{
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_next(s + i, n - i, &cp);
        if (!k) return false;
        i += k;
    }
    return true;
}

/* Writes cp as UTF-8 into out (4 bytes room); returns the length, 0 if not a code point. */
static inline size_t utf8_put(uint8_t *out, uint32_t cp)
{
    if (cp < 0x80) { out[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) { out[0] = (uint8_t)(0xc0 | cp >> 6); out[1] = (uint8_t)(0x80 | (cp & 0x3f)); return 2; }
    if (cp >= 0xd800 && cp <= 0xdfff) return 0;
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xe0 | cp >> 12); out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    if (cp > 0x10ffff) return 0;
    out[0] = (uint8_t)(0xf0 | cp >> 18); out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f)); out[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

#endif

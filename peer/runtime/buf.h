/*
 * buf.h — a growable byte buffer. Appends never fail loudly: on allocation
 * failure the buffer sets `oom` and ignores further appends, so a writer can
 * build a whole message and check once at the end.
 */
#ifndef PEERD_BUF_H
#define PEERD_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef struct { uint8_t *p; size_t len, cap; bool oom; } buf;

bool buf_reserve(buf *b, size_t extra);
void buf_put(buf *b, const void *data, size_t n);
void buf_byte(buf *b, uint8_t c);
void buf_str(buf *b, const char *s);
void buf_u16(buf *b, uint16_t v);
void buf_u32(buf *b, uint32_t v);
void buf_dec(buf *b, uint64_t v);              /* decimal digits */
void buf_hex(buf *b, uint64_t v, int digits);  /* lower-case, zero-padded to `digits` (<= 16) */
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_consume(buf *b, size_t n);   /* drops n bytes from the front */
char *buf_cstr(buf *b);               /* NUL-terminates (not counted in len) */
void buf_free(buf *b);

#endif

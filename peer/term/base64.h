/*
 * base64.h — RFC 4648 base64 (standard alphabet, padded), for "$etf" values.
 */
#ifndef PEERD_BASE64_H
#define PEERD_BASE64_H

#include "buf.h"

void base64_encode(buf *out, const uint8_t *p, size_t n);
/* Appends the decoded bytes; false on a character outside the alphabet or bad padding. */
bool base64_decode(buf *out, const char *s, size_t n);

#endif

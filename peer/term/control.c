/*
 * control.c — reading {reply, ...}, {io_request, ...} and {message, ...}
 * in place (see control.h). Every read is bounded by the message's end.
 */
#include "control.h"
#include "etf.h"

#include <string.h>

enum { SMALL_INTEGER = 97, INTEGER = 98, ATOM = 100, SMALL_TUPLE = 104, BINARY = 109, SMALL_ATOM_UTF8 = 119 };

static uint32_t rd32(const uint8_t *q) { return (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3]; }

/* An atom (ATOM_EXT or SMALL_ATOM_UTF8_EXT) at q, up to 255 bytes: its name
 * and length. Returns what follows it, or NULL. */
static const uint8_t *read_atom(const uint8_t *q, const uint8_t *end, const uint8_t **name, size_t *len)
{
    size_t left = (size_t)(end - q), head;
    if (left >= 3 && q[0] == ATOM && q[1] == 0) head = 3, *len = q[2];
    else if (left >= 2 && q[0] == SMALL_ATOM_UTF8) head = 2, *len = q[1];
    else return NULL;
    if (left - head < *len) return NULL;
    *name = q + head;
    return q + head + *len;
}

static const uint8_t *match_atom(const uint8_t *q, const uint8_t *end, const char *want)
{
    const uint8_t *name;
    size_t len;
    q = read_atom(q, end, &name, &len);
    return q && len == strlen(want) && !memcmp(name, want, len) ? q : NULL;
}

/* The head of {Tag, ...} with `arity` elements; returns what follows Tag. */
static const uint8_t *tagged_tuple(const uint8_t *etf, size_t n, int arity, const char *tag)
{
    if (n < 3 || etf[0] != ETF_VERSION || etf[1] != SMALL_TUPLE || etf[2] != arity) return NULL;
    return match_atom(etf + 3, etf + n, tag);
}

bool control_read_reply(const uint8_t *etf, size_t n, control_reply *out)
{
    const uint8_t *end = etf + n, *q = tagged_tuple(etf, n, 4, "reply");
    if (!q) return false;
    if (end - q >= 2 && q[0] == SMALL_INTEGER) out->seq = q[1], q += 2;
    else if (end - q >= 5 && q[0] == INTEGER && !(q[1] & 0x80)) out->seq = rd32(q + 1), q += 5;
    else return false;
    const uint8_t *name;
    size_t len;
    if (!(q = read_atom(q, end, &name, &len)) || len >= sizeof out->klass) return false;
    for (size_t i = 0; i < len; i++)
        if (name[i] < 'a' || name[i] > 'z') return false;   /* ok, throw, error, exit, crash */
    memcpy(out->klass, name, len);
    out->klass[len] = 0;
    out->result = q;
    out->result_len = (size_t)(end - q);
    return true;
}

/* From and ReplyAs at q (any terms: the decoder measures them); returns
 * what follows them, or NULL. */
static const uint8_t *read_heads(const uint8_t *q, const uint8_t *end, size_t *len)
{
    arena *a = arena_new();
    size_t from_len = 0, as_len = 0;
    bool heads = a && etf_decode_prefix(a, q, (size_t)(end - q), &from_len, NULL) &&
                 etf_decode_prefix(a, q + from_len, (size_t)(end - q) - from_len, &as_len, NULL);
    arena_free(a);
    *len = from_len + as_len;
    return heads ? q + *len : NULL;
}

bool control_read_put_chars(const uint8_t *etf, size_t n, control_put_chars *out)
{
    const uint8_t *end = etf + n, *q = tagged_tuple(etf, n, 4, "io_request");
    if (!q) return false;
    out->heads = q;
    if (!(q = read_heads(q, end, &out->heads_len))) return false;
    if (end - q < 2 || q[0] != SMALL_TUPLE || q[1] != 3 || !(q = match_atom(q + 2, end, "put_chars")) ||
        !(q = match_atom(q, end, "unicode")) || end - q < 5 || q[0] != BINARY || rd32(q + 1) != (size_t)(end - q) - 5)
        return false;
    out->chars = q + 5;
    out->chars_len = (size_t)(end - q) - 5;
    return true;
}

bool control_read_format(const uint8_t *etf, size_t n, control_format *out)
{
    const uint8_t *end = etf + n, *q = tagged_tuple(etf, n, 4, "io_request"), *enc;
    size_t len;
    if (!q) return false;
    out->heads = q;
    if (!(q = read_heads(q, end, &out->heads_len))) return false;
    if (end - q < 2 || q[0] != SMALL_TUPLE || q[1] != 5 || !(q = match_atom(q + 2, end, "put_chars")) ||
        !(q = read_atom(q, end, &enc, &len)) || !(q = match_atom(q, end, "io_lib")) || !(q = match_atom(q, end, "format")))
        return false;
    out->args = q;
    out->args_len = (size_t)(end - q);
    return out->args_len > 0;
}

bool control_read_message(const uint8_t *etf, size_t n, control_message *out)
{
    const uint8_t *end = etf + n, *q = tagged_tuple(etf, n, 3, "message");
    arena *a = q ? arena_new() : NULL;
    size_t to_len = 0;
    bool ok = a && etf_decode_prefix(a, q, (size_t)(end - q), &to_len, NULL) && to_len < (size_t)(end - q);
    arena_free(a);
    if (!ok) return false;
    out->to = q;
    out->to_len = to_len;
    out->msg = q + to_len;
    out->msg_len = (size_t)(end - q) - to_len;
    return true;
}

void control_put_chars_reply(buf *b, const control_put_chars *pc)
{
    buf_byte(b, ETF_VERSION);
    buf_byte(b, SMALL_TUPLE);
    buf_byte(b, 4);
    etf_encode_atom(b, "io_reply", 8);
    buf_put(b, pc->heads, pc->heads_len);
    etf_encode_atom(b, "ok", 2);
}

/*
 * etf.h — Erlang external term format (what term_to_binary/1 writes).
 *
 * The decoder reads every term a node can send, never past the buffer, no
 * deeper than ETF_MAX_DEPTH, and answers malformed input with an error that
 * names the byte offset. The encoder writes what OTP 25's term_to_binary/1
 * writes for the same term, byte for byte.
 */
#ifndef PEERD_ETF_H
#define PEERD_ETF_H

#include "buf.h"
#include "term.h"

#define ETF_VERSION 131
#define ETF_MAX_DEPTH 1000
#define ETF_MAX_INFLATED (64u << 20)

/* The tags, as OTP's erl_ext_dist names them. */
enum etf_tag {
    NEW_FLOAT_EXT = 70, BIT_BINARY_EXT = 77, COMPRESSED = 80, NEW_PID_EXT = 88,
    NEW_PORT_EXT = 89, NEWER_REFERENCE_EXT = 90, SMALL_INTEGER_EXT = 97,
    INTEGER_EXT = 98, FLOAT_EXT = 99, ATOM_EXT = 100, REFERENCE_EXT = 101,
    PORT_EXT = 102, PID_EXT = 103, SMALL_TUPLE_EXT = 104, LARGE_TUPLE_EXT = 105,
    NIL_EXT = 106, STRING_EXT = 107, LIST_EXT = 108, BINARY_EXT = 109,
    SMALL_BIG_EXT = 110, LARGE_BIG_EXT = 111, NEW_FUN_EXT = 112, EXPORT_EXT = 113,
    NEW_REFERENCE_EXT = 114, SMALL_ATOM_EXT = 115, MAP_EXT = 116,
    ATOM_UTF8_EXT = 118, SMALL_ATOM_UTF8_EXT = 119, V4_PORT_EXT = 120,
};

typedef struct { const char *msg; size_t pos; } etf_error;
/* etf_error.msg when a decode failed for want of memory, not for the bytes. */
extern const char etf_out_of_memory[];

/* Decodes a whole buffer that starts with the version byte 131. */
term *etf_decode(arena *a, const uint8_t *p, size_t n, etf_error *err);
/* Decodes one term body (no version byte) of exactly n bytes. */
term *etf_decode_body(arena *a, const uint8_t *p, size_t n, etf_error *err);
/* Decodes the term body at the start of p; *used is how many bytes it took. */
term *etf_decode_prefix(arena *a, const uint8_t *p, size_t n, size_t *used, etf_error *err);

/* Walks a term body (no version byte) without building it, calling
 * found(ud, id, len) with the bytes of each pid, port and reference (its
 * node atom included) outside funs, in order, until found returns false.
 * Linear in n and allocation-free, for a look at a large reply that the
 * loop must not decode. False if the bytes are not one term's shape (a
 * decode then says why). */
bool etf_walk_ids(const uint8_t *p, size_t n, bool (*found)(void *ud, const uint8_t *id, size_t len), void *ud);
/* In place, allocation-free: the length of the atom `name` at the start of
 * p (an ASCII name, in any of the atom encodings), or 0 if it is not there; the length of the
 * non-negative integer at the start of p that fits 64 bits, stored in *v,
 * or 0. */
size_t etf_atom_is(const uint8_t *p, size_t n, const char *name);
size_t etf_uint_at(const uint8_t *p, size_t n, uint64_t *v);
/* The length of the term body at the start of p, walked the same way
 * (linear, allocation-free); 0 if it is not a term's shape. */
size_t etf_prefix_len(const uint8_t *p, size_t n);

void etf_encode(buf *b, const term *t);        /* version byte + body */
void etf_encode_body(buf *b, const term *t);
void etf_encode_atom(buf *b, const char *s, size_t len);
void etf_encode_int(buf *b, int64_t v);

#endif

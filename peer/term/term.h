/*
 * term.h — Erlang terms in C.
 *
 * A term tree lives in an arena: every node, string and binary of one tree is
 * allocated from the same arena and freed with it at once. Trees are built by
 * the ETF decoder (etf.c), the term text parser (term_parse.c) and the JSON
 * mapping (term_json.c), and read by their encoders/printers.
 *
 * Integers that fit in int64 are TERM_INT; larger ones are TERM_BIG with the
 * magnitude as little-endian bytes, exactly as ETF carries it. Lists keep
 * their elements in an array plus the tail (TERM_NIL for a proper list).
 * Pids, ports and references keep the node atom and their numbers; funs keep
 * their ETF bytes whole, since nothing here can build one.
 */
#ifndef PEERD_TERM_H
#define PEERD_TERM_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef struct arena arena;

arena *arena_new(void);
void arena_free(arena *a);
void *arena_alloc(arena *a, size_t n);          /* zeroed, 8-aligned; NULL on OOM */
void *arena_dup(arena *a, const void *p, size_t n);
char *arena_strndup(arena *a, const char *s, size_t n);
size_t arena_used(const arena *a);

enum term_type {
    TERM_INT, TERM_BIG, TERM_FLOAT, TERM_ATOM, TERM_BINARY, TERM_NIL,
    TERM_LIST, TERM_TUPLE, TERM_MAP, TERM_PID, TERM_PORT, TERM_REF,
    TERM_FUN, TERM_EXPORT
};

typedef struct term term;
struct term {
    uint8_t type;
    union {
        int64_t i;
        double f;
        struct { const char *s; size_t len; } atom;                 /* UTF-8 */
        struct { const uint8_t *data; size_t len; uint8_t bits; } bin; /* bits used in last byte, 8 = whole */
        struct { const uint8_t *mag; size_t n; bool neg; } big;     /* little-endian magnitude, no leading zero bytes */
        struct { term **items; size_t n; term *tail; } list;
        struct { term **items; size_t n; } tuple;
        struct { term **kv; size_t n; } map;                         /* kv[2i] key, kv[2i+1] value */
        struct { term *node; uint32_t id, serial, creation; } pid;
        struct { term *node; uint64_t id; uint32_t creation; } port;
        struct { term *node; uint32_t creation; uint32_t ids[5]; uint8_t nids; } ref;
        struct { const uint8_t *etf; size_t len; term *module; int64_t index, uniq; term *pid; term **free; size_t nfree; } fun; /* etf: the whole NEW_FUN_EXT */
        struct { term *module, *function; int64_t arity; } exp;
    };
};

/* Builders (NULL on OOM). */
term *term_int(arena *a, int64_t v);
term *term_float(arena *a, double v);
term *term_atom(arena *a, const char *s, size_t len);
term *term_atomz(arena *a, const char *s);
term *term_binary(arena *a, const void *data, size_t len);
term *term_nil(arena *a);
term *term_tuple(arena *a, size_t n);           /* items zeroed, fill them */
term *term_list(arena *a, size_t n, term *tail); /* always a list node; tail NULL means [] */
term *term_map(arena *a, size_t n);
/* Integers given as text are taken up to this many digits (more than any
 * request needs; the conversion stays well under a millisecond). */
#define TERM_MAX_DIGITS 100000
/* A number macro as a string literal, for messages that name a limit. */
#define TERM_STR_(x) #x
#define TERM_STR(x) TERM_STR_(x)
term *term_big_from_decimal(arena *a, const char *digits, size_t n, bool neg, unsigned base);
/* An integer from a little-endian magnitude: INT when it fits int64, else BIG. */
term *term_big_from_mag(arena *a, const uint8_t *mag, size_t n, bool neg);

bool term_is_atom(const term *t, const char *s);
/* Two atoms with the same name. */
bool term_atom_eq(const term *a, const term *b);
/* Total order of Erlang terms (as map keys: integers before equal floats). */
int term_compare(const term *x, const term *y);
/* Sorts map keys in term order, as maps keep them; fails (false) on duplicate keys. */
bool term_map_sort(term *m);

/* Big integer helpers: decimal text of an integer term; buffer from arena. */
char *term_integer_to_decimal(arena *a, const term *t);

#endif

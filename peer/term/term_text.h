/*
 * term_text.h — Erlang term text, both ways.
 *
 * term_print writes what io_lib:format("~tp", [T]) writes on a node with the
 * default printable range (latin1), on one line. term_parse reads the term
 * syntax a user types in a shell: atoms, integers of any size, Base#Digits,
 * $c, floats, strings, binaries, tuples, lists, maps, `fun M:F/A`, and the
 * pids, ports and references a peer printed (resolved against that peer's
 * node name and creation).
 */
#ifndef PEERD_TERM_TEXT_H
#define PEERD_TERM_TEXT_H

#include "buf.h"
#include "term.h"

#define TERM_TEXT_MAX_DEPTH 1000

typedef struct {
    term *node;          /* the peer's node atom; NULL: pids/ports/refs are refused */
    uint32_t creation;
} term_ctx;

typedef struct { const char *msg; size_t pos; } term_text_error;

/* erl prints a pid, port or reference of a node other than its own as
 * <N.ID.SERIAL>, N being a number inside that node (its atom index of the
 * other node's name). term_names says which node is the peer (N = 0) and
 * the N of others, as the peer itself told (manager.c asks it). */
typedef struct { const term *node; uint32_t number; } term_node_number;
typedef struct {
    const term *self;               /* the peer's node atom */
    const term_node_number *v;
    size_t n;
} term_names;

void term_print(buf *b, const term *t);                 /* every identifier as the peer's own */
/* With names; an identifier of another node whose N is unknown shows the
 * node's name in its place (<b@host.81.0>), which cannot be read back. */
void term_print_names(buf *b, const term *t, const term_names *names);
void term_print_float(buf *b, double d);
void term_print_atom(buf *b, const char *s, size_t len);

/* Parses one term (an optional final '.' is allowed); NULL with err on failure. */
term *term_parse(arena *a, const char *s, size_t n, const term_ctx *ctx, term_text_error *err);
/* Constant term text's ETF body, encoded into *cache the first time (cache
 * starts zeroed and is kept: the code peerd evaluates on nodes). False if
 * the text is not a term or memory ran out; the next call tries again. */
bool term_text_etf_once(buf *cache, const char *s, size_t n);

#endif

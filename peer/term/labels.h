/*
 * labels.h — a peer's labels and the selectors that pick peers by them.
 *
 * Labels are "key=value" strings (a NULL-terminated vector). A selector is
 * Kubernetes' syntax: requirements separated by commas, all of which must
 * hold —
 *   key=value  key==value   the label is present with that value
 *   key!=value              absent, or present with another value
 *   key in (v1,v2)          present with one of the values
 *   key notin (v1,v2)       absent, or present with none of them
 *   key                     present (any value)
 *   !key                    absent
 * and "*" alone, which picks every peer. An empty (or blank) selector is
 * refused: it is what an unset shell variable gives, and acting on every
 * peer must be asked for in so many words.
 *
 * Keys are 1..63 characters of letters, digits, '-', '_', '.' and '/';
 * values 0..63 of letters, digits, '-', '_' and '.'. Neither can hold ',',
 * '=', '!', '(', ')', '*' or a blank, so a selector reads one way only.
 */
#ifndef PEERD_LABELS_H
#define PEERD_LABELS_H

#include <stdbool.h>
#include <stddef.h>

#define LABEL_MAX 63
#define LABELS_MAX 64
#define SELECTOR_MAX 4096       /* bytes of selector text */

bool label_key_ok(const char *s, size_t n);
bool label_value_ok(const char *s, size_t n);

/* The value of `key` in labels ("k=v" strings), or NULL. */
const char *labels_get(char *const *labels, const char *key);

/* key=v is IN with one value, key!=v NOTIN with one. */
enum sel_op { SEL_IN, SEL_NOTIN, SEL_EXISTS, SEL_ABSENT };
typedef struct {
    enum sel_op op;
    unsigned short key;         /* offsets into the selector's text */
    unsigned short values, nvalues;     /* NUL-separated, one after another */
} sel_req;
typedef struct selector {
    bool all;                   /* "*": every peer */
    size_t n;
    sel_req req[LABELS_MAX];
    char text[2 * SELECTOR_MAX + 2];   /* keys and values, each NUL-ended */
} selector;

static inline const char *sel_key(const selector *s, const sel_req *r) { return s->text + r->key; }

/* Parses text[0..n) into s. False with a message in err (naming the
 * offending requirement) if it is not a selector. */
bool selector_parse(selector *s, const char *text, size_t n, char *err, size_t errlen);
bool selector_match(const selector *s, char *const *labels);

#endif

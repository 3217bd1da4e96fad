/*
 * labels.h — a peer's labels and the selectors that pick peers by them.
 *
 * Labels are "key=value" strings (a NULL-terminated vector). A selector is
 * Kubernetes' equality-based syntax: requirements separated by commas, all
 * of which must hold —
 *   key=value  key==value   the label is present with that value
 *   key!=value              absent, or present with another value
 *   key                     present (any value)
 *   !key                    absent
 * An empty selector selects every peer.
 *
 * Keys are 1..63 characters of letters, digits, '-', '_', '.' and '/';
 * values 0..63 of letters, digits, '-', '_' and '.'. Neither can hold ',',
 * '=' or '!', so a selector reads one way only.
 */
#ifndef PEERD_LABELS_H
#define PEERD_LABELS_H

#include <stdbool.h>
#include <stddef.h>

#define LABEL_MAX 63
#define LABELS_MAX 64

bool label_key_ok(const char *s, size_t n);
bool label_value_ok(const char *s, size_t n);

/* The value of `key` in labels ("k=v" strings), or NULL. */
const char *labels_get(char *const *labels, const char *key);

enum sel_op { SEL_EQ, SEL_NE, SEL_EXISTS, SEL_ABSENT };
typedef struct { enum sel_op op; char key[LABEL_MAX + 1], value[LABEL_MAX + 1]; } sel_req;
typedef struct selector { size_t n; sel_req req[LABELS_MAX]; } selector;

/* Parses text[0..n) into s. False with a message in err (naming the
 * offending requirement) if it is not a selector. */
bool selector_parse(selector *s, const char *text, size_t n, char *err, size_t errlen);
bool selector_match(const selector *s, char *const *labels);

#endif

/*
 * term_check.c — the rules binary_to_term/1 of OTP 25 enforces, applied to a
 * term tree before it is encoded for a node.
 */
#include "term_check.h"
#include "buf.h"
#include "term_text.h"
#include "utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The way from the root to the term being checked, one step a level, on
 * the stack: written out only for an error. */
typedef struct step {
    const struct step *up;
    const char *fmt;    /* "[%zu]", "(node)"...: printf with i */
    size_t i;
} step;

typedef struct {
    const char *what;
    const step *at;     /* the innermost step, NULL at the root */
    char *err;
    size_t errlen;
    int depth;
} checker;

static void path_of(buf *b, const checker *c)
{
    buf_str(b, c->what);
    size_t n = 0;
    for (const step *s = c->at; s; s = s->up) n++;
    if (!n) return;
    const step **way = malloc(n * sizeof *way);
    if (!way) { buf_str(b, "..."); return; }
    size_t k = n;
    for (const step *s = c->at; s; s = s->up) way[--k] = s;
    for (k = 0; k < n; k++) {
        char one[64];
        snprintf(one, sizeof one, way[k]->fmt, way[k]->i);
        buf_str(b, one);
    }
    free(way);
}

static bool bad(checker *c, const term *t, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool bad(checker *c, const term *t, const char *fmt, ...)
{
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    buf path = {0}, shown = {0};
    path_of(&path, c);
    if (t) {
        term_print(&shown, t);
        if (shown.len > 80) { shown.len = 77; buf_str(&shown, "..."); }
    }
    snprintf(c->err, c->errlen, "%s: %s%s%s", buf_cstr(&path) ? (char *)path.p : "?",
             shown.len ? buf_cstr(&shown) : "", shown.len ? ": " : "", why);
    buf_free(&path);
    buf_free(&shown);
    return false;
}

static bool check(checker *c, const term *t);

/* Checks a child, its step (fmt printed with i) on the way for errors. */
static bool child(checker *c, const term *t, const char *fmt, size_t i)
{
    step s = { c->at, fmt, i };
    c->at = &s;
    bool ok = check(c, t);
    c->at = s.up;
    return ok;
}

static bool check_atom(checker *c, const term *t)
{
    if (t->type != TERM_ATOM) return bad(c, t, "must be an atom");
    size_t at;
    long chars = utf8_count((const uint8_t *)t->atom.s, t->atom.len, &at);
    if (chars < 0) return bad(c, NULL, "atom text is not valid UTF-8 (byte %zu)", at);
    if (chars > 255) return bad(c, NULL, "atom of %ld characters (at most 255)", chars);
    return true;
}

static int cmp_keys(const void *x, const void *y)
{
    return term_compare(*(term *const *)x, *(term *const *)y);
}

static bool check_map(checker *c, const term *t)
{
    for (size_t i = 0; i < t->map.n; i++) {
        if (!child(c, t->map.kv[2 * i], "#key{%zu}", i)) return false;
        if (!child(c, t->map.kv[2 * i + 1], "#{%zu}", i)) return false;
    }
    if (t->map.n < 2) return true;
    term **keys = malloc(t->map.n * sizeof *keys);
    if (!keys) return bad(c, NULL, "out of memory");
    for (size_t i = 0; i < t->map.n; i++) keys[i] = t->map.kv[2 * i];
    qsort(keys, t->map.n, sizeof *keys, cmp_keys);
    const term *dup = NULL;
    for (size_t i = 1; i < t->map.n && !dup; i++)
        if (!term_compare(keys[i - 1], keys[i])) dup = keys[i];
    free(keys);
    return dup ? bad(c, dup, "a map key given twice") : true;
}

static bool check(checker *c, const term *t)
{
    if (++c->depth > 10000) return bad(c, NULL, "nested deeper than %d", 10000);
    bool ok = true;
    switch (t->type) {
    case TERM_INT: case TERM_NIL: break;
    case TERM_BIG:
        if (t->big.n > TERM_MAX_BIG_BYTES) ok = bad(c, NULL, "integer of %zu bytes (erl takes at most 4194296)", t->big.n);
        break;
    case TERM_FLOAT:
        if (t->f != t->f || t->f - t->f != 0) ok = bad(c, NULL, "float is not finite");
        break;
    case TERM_ATOM: ok = check_atom(c, t); break;
    case TERM_BINARY:
        if (t->bin.bits < 1 || t->bin.bits > 8) ok = bad(c, NULL, "bitstring with %u bits in its last byte", t->bin.bits);
        else if (t->bin.bits < 8 && !t->bin.len) ok = bad(c, NULL, "bitstring with bits but no byte to hold them");
        else if (t->bin.len > UINT32_MAX) ok = bad(c, NULL, "binary of %zu bytes", t->bin.len);
        break;
    case TERM_LIST:
        for (size_t i = 0; ok && i < t->list.n; i++) ok = child(c, t->list.items[i], "[%zu]", i);
        if (ok) ok = child(c, t->list.tail, "[tail]", 0);
        break;
    case TERM_TUPLE:
        for (size_t i = 0; ok && i < t->tuple.n; i++) ok = child(c, t->tuple.items[i], "{%zu}", i + 1);
        break;
    case TERM_MAP: ok = check_map(c, t); break;
    case TERM_PID:
        if (!(ok = child(c, t->pid.node, "(node)", 0))) break;
        if (t->pid.id > TERM_MAX_PID_NUMBER) ok = bad(c, t, "process number %u is over 32767", t->pid.id);
        else if (t->pid.serial > TERM_MAX_PID_SERIAL) ok = bad(c, t, "serial %u is over 8191", t->pid.serial);
        break;
    case TERM_PORT:
        if (!(ok = child(c, t->port.node, "(node)", 0))) break;
        if (t->port.id > TERM_MAX_PORT_NUMBER) ok = bad(c, t, "port number %llu is over 268435455", (unsigned long long)t->port.id);
        break;
    case TERM_REF:
        if (!(ok = child(c, t->ref.node, "(node)", 0))) break;
        if (t->ref.nids < 1 || t->ref.nids > TERM_MAX_REF_WORDS) ok = bad(c, t, "reference of %u words (1 to 3)", t->ref.nids);
        else if (t->ref.ids[0] > TERM_MAX_REF_WORD0) ok = bad(c, t, "reference's last number %u is over 262143", t->ref.ids[0]);
        break;
    case TERM_EXPORT:
        ok = child(c, t->exp.module, "(module)", 0) && child(c, t->exp.function, "(function)", 0);
        if (ok && (t->exp.arity < 0 || t->exp.arity > 255)) ok = bad(c, NULL, "arity %lld (0 to 255)", (long long)t->exp.arity);
        break;
    case TERM_FUN:
        ok = child(c, t->fun.module, "(module)", 0) && child(c, t->fun.pid, "(creator)", 0);
        if (ok && (t->fun.index < INT32_MIN || t->fun.index > INT32_MAX || t->fun.uniq < INT32_MIN || t->fun.uniq > INT32_MAX))
            ok = bad(c, NULL, "fun index or uniq out of range");
        for (size_t i = 0; ok && i < t->fun.nfree; i++) ok = child(c, t->fun.free[i], "(free %zu)", i);
        break;
    default:
        ok = bad(c, NULL, "unknown term type %u", t->type);
    }
    c->depth--;
    return ok;
}

bool term_check(const term *t, const char *what, char *err, size_t errlen)
{
    checker c = { .what = what, .err = err, .errlen = errlen };
    err[0] = 0;
    return check(&c, t);
}

/*
 * term.c — arena allocation, term builders, term order, big integer text.
 */
#include "term.h"

#include <gmp.h>
#include <stdlib.h>
#include <string.h>

struct chunk { struct chunk *next; size_t size, used; max_align_t data[]; };
struct arena { struct chunk *head; size_t total; };

#define ARENA_FIRST (1000 - sizeof(struct chunk))

arena *arena_new(void) { return calloc(1, sizeof(arena)); }

void arena_free(arena *a)
{
    if (!a) return;
    for (struct chunk *c = a->head, *n; c; c = n) { n = c->next; free(c); }
    free(a);
}

size_t arena_used(const arena *a) { return a->total; }

void *arena_alloc(arena *a, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    struct chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        /* The first chunk fits malloc's per-thread cache (under 1 KiB in
         * all): most requests need no more, and a chunk of 4 KiB made
         * every request's first term a trip through malloc's large bins. */
        size_t size = !c ? ARENA_FIRST : c->size < 65536 ? c->size * 2 : 65536;
        if (size < n) size = n;
        c = malloc(sizeof *c + size);
        if (!c) return NULL;
        c->size = size; c->used = 0; c->next = a->head; a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    a->total += n;
    memset(p, 0, n);
    return p;
}

void *arena_dup(arena *a, const void *p, size_t n)
{
    void *q = arena_alloc(a, n ? n : 1);
    if (q && n) memcpy(q, p, n);
    return q;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
    char *q = arena_alloc(a, n + 1);
    if (q) memcpy(q, s, n);
    return q;
}

static term *node(arena *a, uint8_t type)
{
    term *t = arena_alloc(a, sizeof *t);
    if (t) t->type = type;
    return t;
}

term *term_int(arena *a, int64_t v) { term *t = node(a, TERM_INT); if (t) t->i = v; return t; }
term *term_float(arena *a, double v) { term *t = node(a, TERM_FLOAT); if (t) t->f = v; return t; }
term *term_nil(arena *a) { return node(a, TERM_NIL); }

term *term_atom(arena *a, const char *s, size_t len)
{
    term *t = node(a, TERM_ATOM);
    if (!t || !(t->atom.s = arena_strndup(a, s, len))) return NULL;
    t->atom.len = len;
    return t;
}

term *term_atomz(arena *a, const char *s) { return term_atom(a, s, strlen(s)); }

term *term_binary(arena *a, const void *data, size_t len)
{
    term *t = node(a, TERM_BINARY);
    if (!t || !(t->bin.data = arena_dup(a, data, len))) return NULL;
    t->bin.len = len;
    t->bin.bits = 8;
    return t;
}

term *term_tuple(arena *a, size_t n)
{
    term *t = node(a, TERM_TUPLE);
    if (!t || !(t->tuple.items = arena_alloc(a, (n ? n : 1) * sizeof(term *)))) return NULL;
    t->tuple.n = n;
    return t;
}

term *term_list(arena *a, size_t n, term *tail)
{
    term *t = node(a, TERM_LIST);
    if (!t || !(t->list.items = arena_alloc(a, (n ? n : 1) * sizeof(term *)))) return NULL;
    t->list.n = n;
    t->list.tail = tail ? tail : term_nil(a);
    return t->list.tail ? t : NULL;
}

term *term_map(arena *a, size_t n)
{
    term *t = node(a, TERM_MAP);
    if (!t || !(t->map.kv = arena_alloc(a, (n ? 2 * n : 1) * sizeof(term *)))) return NULL;
    t->map.n = n;
    return t;
}

bool term_atom_eq(const term *a, const term *b)
{
    return a->type == TERM_ATOM && b->type == TERM_ATOM && a->atom.len == b->atom.len && !memcmp(a->atom.s, b->atom.s, a->atom.len);
}

bool term_is_atom(const term *t, const char *s)
{
    size_t n = strlen(s);
    return t && t->type == TERM_ATOM && t->atom.len == n && memcmp(t->atom.s, s, n) == 0;
}

/* Normalises a magnitude into an INT term when it fits, else a BIG. */
term *term_big_from_mag(arena *a, const uint8_t *mag, size_t n, bool neg)
{
    while (n && mag[n - 1] == 0) n--;
    if (n <= 8) {
        uint64_t u = 0;
        for (size_t i = n; i-- > 0;) u = u << 8 | mag[i];
        if (!neg && u <= INT64_MAX) return term_int(a, (int64_t)u);
        if (neg && u <= (uint64_t)INT64_MAX + 1) return term_int(a, u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u);
    }
    term *t = node(a, TERM_BIG);
    if (!t || !(t->big.mag = arena_dup(a, mag, n))) return NULL;
    t->big.n = n;
    t->big.neg = neg;
    return t;
}


/* Integer text both ways goes through GMP, whose conversions are
 * O(n log^2 n): the schoolbook ones are quadratic, and a 300,000-digit
 * result took 16 s of the loop's one thread. */
term *term_big_from_decimal(arena *a, const char *digits, size_t n, bool neg, unsigned base)
{
    if (base < 2 || base > 36) return NULL;
    /* Most integers fit in 64 bits: no GMP for them. */
    if (n <= 12) {
        uint64_t v = 0;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            char c = digits[i];
            if (c == '_') continue;
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'z' ? c - 'a' + 10 : c >= 'A' && c <= 'Z' ? c - 'A' + 10 : 99;
            if (d >= (int)base) return NULL;
            v = v * base + (unsigned)d;     /* 36^12 < 2^63 */
            k++;
        }
        if (!k) return NULL;
        return term_int(a, neg ? -(int64_t)v : (int64_t)v);
    }
    char *s = malloc(n + 1);
    if (!s) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = digits[i];
        if (c == '_') continue;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'z' ? c - 'a' + 10 : c >= 'A' && c <= 'Z' ? c - 'A' + 10 : 99;
        if (d >= (int)base) { free(s); return NULL; }
        s[k++] = c;
    }
    s[k] = 0;
    term *t = NULL;
    mpz_t z;
    mpz_init(z);
    if (k && mpz_set_str(z, s, (int)base) == 0) {
        size_t len = (mpz_sizeinbase(z, 2) + 7) / 8;
        uint8_t *mag = arena_alloc(a, len + 1);
        size_t got = 0;
        if (mag) {
            mpz_export(mag, &got, -1, 1, 0, 0, z);  /* little-endian bytes, as ETF */
            t = term_big_from_mag(a, mag, got, neg);
        }
    }
    mpz_clear(z);
    free(s);
    return t;
}

char *term_integer_to_decimal(arena *a, const term *t)
{
    if (t->type == TERM_INT) {
        char *s = arena_alloc(a, 24);
        if (!s) return NULL;
        int64_t v = t->i;
        uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        char tmp[24]; int k = 0;
        do { tmp[k++] = (char)('0' + u % 10); u /= 10; } while (u);
        int j = 0;
        if (v < 0) s[j++] = '-';
        while (k) s[j++] = tmp[--k];
        s[j] = 0;
        return s;
    }
    mpz_t z;
    mpz_init(z);
    mpz_import(z, t->big.n, -1, 1, 0, 0, t->big.mag);
    if (t->big.neg) mpz_neg(z, z);
    char *out = arena_alloc(a, mpz_sizeinbase(z, 10) + 2);
    if (out) mpz_get_str(out, 10, z);
    mpz_clear(z);
    return out;
}

/* Term order classes; map keys order integers before floats. */
static int order_class(const term *t)
{
    switch (t->type) {
    case TERM_INT: case TERM_BIG: return 0;
    case TERM_FLOAT: return 1;
    case TERM_ATOM: return 2;
    case TERM_REF: return 3;
    case TERM_FUN: case TERM_EXPORT: return 4;
    case TERM_PORT: return 5;
    case TERM_PID: return 6;
    case TERM_TUPLE: return 7;
    case TERM_MAP: return 8;
    case TERM_NIL: return 9;
    case TERM_LIST: return 10;
    case TERM_BINARY: return 11;
    }
    return 12;
}

static int cmp_u(uint64_t a, uint64_t b) { return a < b ? -1 : a > b; }

static int cmp_bytes(const void *a, size_t an, const void *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? (c < 0 ? -1 : 1) : cmp_u(an, bn);
}

static int cmp_integer(const term *x, const term *y)
{
    bool xn = x->type == TERM_INT ? x->i < 0 : x->big.neg;
    bool yn = y->type == TERM_INT ? y->i < 0 : y->big.neg;
    if (xn != yn) return xn ? -1 : 1;
    if (x->type == TERM_INT && y->type == TERM_INT) return x->i < y->i ? -1 : x->i > y->i;
    /* A BIG is always larger in magnitude than any INT. */
    int mag;
    if (x->type == TERM_INT) mag = -1;
    else if (y->type == TERM_INT) mag = 1;
    else if (x->big.n != y->big.n) mag = x->big.n < y->big.n ? -1 : 1;
    else {
        mag = 0;
        for (size_t i = x->big.n; i-- > 0 && !mag;)
            mag = x->big.mag[i] < y->big.mag[i] ? -1 : x->big.mag[i] > y->big.mag[i];
    }
    return xn ? -mag : mag;
}

int term_compare(const term *x, const term *y)
{
    int cx = order_class(x), cy = order_class(y);
    if (cx != cy) return cx < cy ? -1 : 1;
    int c;
    switch (x->type) {
    case TERM_INT: case TERM_BIG: return cmp_integer(x, y);
    case TERM_FLOAT: return x->f < y->f ? -1 : x->f > y->f;
    case TERM_ATOM: return cmp_bytes(x->atom.s, x->atom.len, y->atom.s, y->atom.len);
    case TERM_NIL: return 0;
    case TERM_BINARY:
        if ((c = cmp_bytes(x->bin.data, x->bin.len, y->bin.data, y->bin.len))) return c;
        return cmp_u(x->bin.bits, y->bin.bits);
    case TERM_TUPLE:
        if (x->tuple.n != y->tuple.n) return cmp_u(x->tuple.n, y->tuple.n);
        for (size_t i = 0; i < x->tuple.n; i++)
            if ((c = term_compare(x->tuple.items[i], y->tuple.items[i]))) return c;
        return 0;
    case TERM_LIST: {
        size_t n = x->list.n < y->list.n ? x->list.n : y->list.n;
        for (size_t i = 0; i < n; i++)
            if ((c = term_compare(x->list.items[i], y->list.items[i]))) return c;
        if (x->list.n == y->list.n) return term_compare(x->list.tail, y->list.tail);
        /* The shorter one continues with its tail against the longer's next element. */
        if (x->list.n < y->list.n) {
            if (x->list.tail->type == TERM_NIL) return -1;
            return (c = term_compare(x->list.tail, y->list.items[n])) ? c : -1;
        }
        if (y->list.tail->type == TERM_NIL) return 1;
        return (c = term_compare(x->list.items[n], y->list.tail)) ? c : 1;
    }
    case TERM_MAP:
        if (x->map.n != y->map.n) return cmp_u(x->map.n, y->map.n);
        for (size_t i = 0; i < x->map.n; i++)
            if ((c = term_compare(x->map.kv[2 * i], y->map.kv[2 * i]))) return c;
        for (size_t i = 0; i < x->map.n; i++)
            if ((c = term_compare(x->map.kv[2 * i + 1], y->map.kv[2 * i + 1]))) return c;
        return 0;
    case TERM_PID:
        if ((c = term_compare(x->pid.node, y->pid.node))) return c;
        if ((c = cmp_u(x->pid.serial, y->pid.serial))) return c;
        if ((c = cmp_u(x->pid.id, y->pid.id))) return c;
        return cmp_u(x->pid.creation, y->pid.creation);
    case TERM_PORT:
        if ((c = term_compare(x->port.node, y->port.node))) return c;
        if ((c = cmp_u(x->port.id, y->port.id))) return c;
        return cmp_u(x->port.creation, y->port.creation);
    case TERM_REF:
        if ((c = term_compare(x->ref.node, y->ref.node))) return c;
        if (x->ref.nids != y->ref.nids) return cmp_u(x->ref.nids, y->ref.nids);
        for (int i = x->ref.nids; i-- > 0;)
            if ((c = cmp_u(x->ref.ids[i], y->ref.ids[i]))) return c;
        return cmp_u(x->ref.creation, y->ref.creation);
    case TERM_EXPORT:
        if (y->type != TERM_EXPORT) return 1;
        if ((c = term_compare(x->exp.module, y->exp.module))) return c;
        if ((c = term_compare(x->exp.function, y->exp.function))) return c;
        return x->exp.arity < y->exp.arity ? -1 : x->exp.arity > y->exp.arity;
    case TERM_FUN:
        if (y->type != TERM_FUN) return -1;
        return cmp_bytes(x->fun.etf, x->fun.len, y->fun.etf, y->fun.len);
    }
    return 0;
}

static int pair_cmp(const void *a, const void *b)
{
    return term_compare(*(term *const *)a, *(term *const *)b);
}

bool term_map_sort(term *m)
{
    size_t n = m->map.n;
    qsort(m->map.kv, n, 2 * sizeof(term *), pair_cmp);
    for (size_t i = 1; i < n; i++)
        if (term_compare(m->map.kv[2 * (i - 1)], m->map.kv[2 * i]) == 0) return false;
    return true;
}

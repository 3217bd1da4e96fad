/*
 * etf.c — libFuzzer target: the ETF decoder on arbitrary bytes. Whatever it
 * accepts must encode, decode again, and encode to the same bytes; printing
 * and the JSON mapping must not fail on it either, and term_check must judge
 * the term and its re-decoded copy alike.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "etf.h"
#include "io_format.h"
#include "term_check.h"
#include "term_json.h"
#include "term_text.h"

/* Identifiers outside funs, as etf_walk_ids finds them. */
static size_t count_ids(const term *t)
{
    switch (t->type) {
    case TERM_PID: case TERM_PORT: case TERM_REF: return 1;
    case TERM_TUPLE: { size_t n = 0; for (size_t i = 0; i < t->tuple.n; i++) n += count_ids(t->tuple.items[i]); return n; }
    case TERM_LIST: { size_t n = count_ids(t->list.tail); for (size_t i = 0; i < t->list.n; i++) n += count_ids(t->list.items[i]); return n; }
    case TERM_MAP: { size_t n = 0; for (size_t i = 0; i < 2 * t->map.n; i++) n += count_ids(t->map.kv[i]); return n; }
    default: return 0;
    }
}

static bool counted(void *ud, const uint8_t *id, size_t len)
{
    (void)id, (void)len;
    ++*(size_t *)ud;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    arena *a = arena_new();
    etf_error e = {0};
    /* The walk reads any bytes without harm; on a term the decoder takes
     * (uncompressed), it finds every identifier. */
    size_t walked = 0;
    bool walk_ok = size > 1 && data[0] == ETF_VERSION && etf_walk_ids(data + 1, size - 1, counted, &walked);
    term *t = etf_decode(a, data, size, &e);
    if (t && data[1] != 80 /* compressed */ && (!walk_ok || walked != count_ids(t))) abort();
    /* The in-place readers agree with the decoder: a term's length, an
     * atom, a non-negative integer. */
    if (size > 1) {
        size_t used = 0;
        term *p = etf_decode_prefix(a, data + 1, size - 1, &used, NULL);
        if (p && data[1] != 80 && etf_prefix_len(data + 1, size - 1) != used) abort();
        uint64_t v;
        size_t k = etf_uint_at(data + 1, size - 1, &v);
        if (k && (!p || k != used || !((p->type == TERM_INT && p->i >= 0 && (uint64_t)p->i == v) || (p->type == TERM_BIG && v > INT64_MAX))))
            abort();
        bool atom_tag = data[1] == ATOM_EXT || data[1] == ATOM_UTF8_EXT || data[1] == SMALL_ATOM_EXT || data[1] == SMALL_ATOM_UTF8_EXT;
        if (p && atom_tag && p->type == TERM_ATOM && p->atom.len < 64) {
            char name[64];
            memcpy(name, p->atom.s, p->atom.len);
            name[p->atom.len] = 0;
            bool ascii = true;
            for (size_t i = 0; i < p->atom.len; i++) ascii = ascii && name[i] > 0 && (unsigned char)name[i] < 0x80;
            if (ascii && etf_atom_is(data + 1, size - 1, name) != used) abort();
        }
    }
    if (t) {
        buf b1 = {0}, b2 = {0}, text = {0};
        etf_encode(&b1, t);
        term *t2 = etf_decode(a, b1.p, b1.len, &e);
        if (!t2) abort();
        etf_encode(&b2, t2);
        if (b1.len != b2.len || memcmp(b1.p, b2.p, b1.len)) abort();
        char err[256];
        if (term_check(t, "t", err, sizeof err) != term_check(t2, "t", err, sizeof err)) abort();
        term_print(&text, t);
        cJSON_Delete(term_to_json(t));
        if (t->type == TERM_TUPLE && t->tuple.n == 2) io_format_fast(t->tuple.items[0], t->tuple.items[1], &text);
        buf_free(&b1); buf_free(&b2); buf_free(&text);
    }
    arena_free(a);
    return 0;
}

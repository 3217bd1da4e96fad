/*
 * corpus.c — the codecs against what erl itself produces.
 *
 * Each record of tests/fixtures/terms.tsv (written by gen.escript with a real
 * erl) holds a term as typed, the hex of term_to_binary/1 and the text of
 * io_lib:format("~tp") on one line. For every record:
 *   - decoding erl's bytes and encoding them again gives the same bytes;
 *   - printing the decoded term gives erl's text;
 *   - parsing erl's text (and the typed source) gives erl's bytes.
 * PEERD_CORPUS names another file (CI regenerates it with the erl at hand).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etf.h"
#include "term_text.h"

typedef struct { char *src, *text; uint8_t *etf; size_t n; int line; } record;

static char *unescape(const char *s)
{
    char *o = malloc(strlen(s) + 1), *w = o;
    for (; *s; s++) {
        if (*s == '\\' && s[1]) {
            s++;
            *w++ = *s == 't' ? '\t' : *s == 'n' ? '\n' : *s;
        } else {
            *w++ = *s;
        }
    }
    *w = 0;
    return o;
}

static record *load(size_t *count)
{
    const char *path = getenv("PEERD_CORPUS");
    if (!path) path = PEERD_SOURCE_DIR "/tests/fixtures/terms.tsv";
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot open %s", path);
    record *r = NULL;
    size_t n = 0;
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    while (getline(&line, &cap, f) > 0) {
        lineno++;
        line[strcspn(line, "\n")] = 0;
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        cr_assert(t1 && t2, "%s:%d: malformed record", path, lineno);
        *t1 = *t2 = 0;
        r = realloc(r, (n + 1) * sizeof *r);
        record *x = &r[n++];
        x->line = lineno;
        x->src = unescape(line);
        x->text = unescape(t2 + 1);
        const char *hex = t1 + 1;
        x->n = strlen(hex) / 2;
        x->etf = malloc(x->n + 1);
        for (size_t i = 0; i < x->n; i++) sscanf(hex + 2 * i, "%2hhx", &x->etf[i]);
    }
    free(line);
    fclose(f);
    *count = n;
    return r;
}

static void unload(record *r, size_t n)
{
    for (size_t i = 0; i < n; i++) { free(r[i].src); free(r[i].text); free(r[i].etf); }
    free(r);
}

static char *hexof(const uint8_t *p, size_t n)
{
    char *s = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) sprintf(s + 2 * i, "%02X", p[i]);
    s[2 * n] = 0;
    return s;
}

Test(corpus, decode_then_encode_gives_erls_bytes)
{
    size_t n;
    record *r = load(&n);
    cr_assert_gt(n, 150, "the corpus is too small");
    for (size_t i = 0; i < n; i++) {
        arena *a = arena_new();
        etf_error e = {0};
        term *t = etf_decode(a, r[i].etf, r[i].n, &e);
        cr_expect(t, "line %d (%s): decode failed: %s at %zu", r[i].line, r[i].text, e.msg, e.pos);
        if (t) {
            buf b = {0};
            etf_encode(&b, t);
            char *got = hexof(b.p, b.len), *want = hexof(r[i].etf, r[i].n);
            cr_expect_str_eq(got, want, "line %d (%s): re-encoding differs", r[i].line, r[i].text);
            free(got); free(want);
            buf_free(&b);
        }
        arena_free(a);
    }
    unload(r, n);
}

Test(corpus, printing_gives_erls_text)
{
    size_t n;
    record *r = load(&n);
    for (size_t i = 0; i < n; i++) {
        arena *a = arena_new();
        etf_error e = {0};
        term *t = etf_decode(a, r[i].etf, r[i].n, &e);
        cr_assert(t, "line %d: decode failed", r[i].line);
        buf b = {0};
        term_print(&b, t);
        cr_expect_str_eq(buf_cstr(&b), r[i].text, "line %d: printed text differs", r[i].line);
        buf_free(&b);
        arena_free(a);
    }
    unload(r, n);
}

/* The peer's own pids print as <0.ID.SERIAL>; in the corpus that peer is the
 * escript's node, nonode@nohost with creation 0. */
static void parse_expect(const record *r, const char *text, const char *what)
{
    arena *a = arena_new();
    term_ctx ctx = { term_atomz(a, "nonode@nohost"), 0 };
    term_text_error e;
    term *t = term_parse(a, text, strlen(text), &ctx, &e);
    cr_expect(t, "line %d: parsing the %s %s failed: %s at %zu", r->line, what, text, e.msg, e.pos);
    if (t) {
        buf b = {0};
        etf_encode(&b, t);
        char *got = hexof(b.p, b.len), *want = hexof(r->etf, r->n);
        cr_expect_str_eq(got, want, "line %d: the %s %s parses to other bytes", r->line, what, text);
        free(got); free(want);
        buf_free(&b);
    }
    arena_free(a);
}

Test(corpus, parsing_gives_erls_bytes)
{
    size_t n;
    record *r = load(&n);
    for (size_t i = 0; i < n; i++) {
        if (!strncmp(r[i].text, "#Fun<", 5)) continue;   /* a local fun has no text form */
        parse_expect(&r[i], r[i].text, "printed text");
        if (r[i].src[0]) parse_expect(&r[i], r[i].src, "source text");
    }
    unload(r, n);
}

/*
 * term_parse.c — the term text parser: what a user types in a shell, read
 * into a term (term_text.h), with errors that say what was wrong and where.
 */
#include "etf.h"
#include "term_text.h"
#include "term_atom.h"
#include "utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    arena *a;
    const char *s, *p, *end;
    const term_ctx *ctx;
    term_text_error *err;
    int depth;
} parser;

static term *perr(parser *ps, const char *msg)
{
    if (!ps->err->msg) { ps->err->msg = msg; ps->err->pos = (size_t)(ps->p - ps->s); }
    return NULL;
}

static void skip_ws(parser *ps)
{
    for (;;) {
        while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\f' || *ps->p == '\v')) ps->p++;
        if (ps->p < ps->end && *ps->p == '%') {
            while (ps->p < ps->end && *ps->p != '\n') ps->p++;
            continue;
        }
        return;
    }
}

static bool at(parser *ps, const char *tok)
{
    size_t n = strlen(tok);
    return (size_t)(ps->end - ps->p) >= n && memcmp(ps->p, tok, n) == 0;
}

static bool eat(parser *ps, const char *tok)
{
    skip_ws(ps);
    if (!at(ps, tok)) return false;
    ps->p += strlen(tok);
    return true;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static uint32_t peek_cp(parser *ps, size_t *len)
{
    uint32_t c;
    *len = utf8_next((const uint8_t *)ps->p, (size_t)(ps->end - ps->p), &c);
    return *len ? c : 0xffffffff;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads one character of a quoted atom, string or $c (after the backslash logic). */
static bool read_char(parser *ps, uint32_t *out)
{
    if (ps->p >= ps->end) { perr(ps, "unterminated text"); return false; }
    if (*ps->p != '\\') {
        size_t k;
        uint32_t c = peek_cp(ps, &k);
        if (!k) { perr(ps, "invalid UTF-8"); return false; }
        ps->p += k;
        *out = c;
        return true;
    }
    ps->p++;
    if (ps->p >= ps->end) { perr(ps, "unterminated escape"); return false; }
    char c = *ps->p++;
    switch (c) {
    case 'b': *out = 8; return true;
    case 'd': *out = 127; return true;
    case 'e': *out = 27; return true;
    case 'f': *out = 12; return true;
    case 'n': *out = 10; return true;
    case 'r': *out = 13; return true;
    case 's': *out = 32; return true;
    case 't': *out = 9; return true;
    case 'v': *out = 11; return true;
    case '^':
        if (ps->p >= ps->end) { perr(ps, "unterminated escape"); return false; }
        *out = (uint32_t)(*ps->p++ & 31);
        return true;
    case 'x': {
        uint32_t v = 0;
        if (ps->p < ps->end && *ps->p == '{') {
            ps->p++;
            int nd = 0;
            while (ps->p < ps->end && hexval(*ps->p) >= 0 && nd < 8) { v = v * 16 + (uint32_t)hexval(*ps->p++); nd++; }
            if (!nd || ps->p >= ps->end || *ps->p != '}') { perr(ps, "bad \\x{...} escape"); return false; }
            ps->p++;
        } else {
            for (int i = 0; i < 2; i++) {
                if (ps->p >= ps->end || hexval(*ps->p) < 0) { perr(ps, "bad \\xHH escape"); return false; }
                v = v * 16 + (uint32_t)hexval(*ps->p++);
            }
        }
        if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) { perr(ps, "escape is not a character"); return false; }
        *out = v;
        return true;
    }
    default:
        if (c >= '0' && c <= '7') {
            uint32_t v = (uint32_t)(c - '0');
            for (int i = 0; i < 2 && ps->p < ps->end && *ps->p >= '0' && *ps->p <= '7'; i++) v = v * 8 + (uint32_t)(*ps->p++ - '0');
            *out = v;
            return true;
        }
        ps->p--;
        size_t k;
        uint32_t cp = peek_cp(ps, &k);
        if (!k) { perr(ps, "invalid UTF-8"); return false; }
        ps->p += k;
        *out = cp;
        return true;
    }
}

/* Reads quoted text up to `quote`; code points into out. */
static bool read_quoted(parser *ps, char quote, buf *out)
{
    ps->p++;
    for (;;) {
        if (ps->p >= ps->end) { perr(ps, quote == '"' ? "unterminated string" : "unterminated quoted atom"); return false; }
        if (*ps->p == quote) { ps->p++; return true; }
        uint32_t c;
        if (!read_char(ps, &c)) return false;
        buf_put(out, &c, sizeof c);
    }
}

static term *make_atom_cps(parser *ps, const uint32_t *cps, size_t n)
{
    if (n > 255) return perr(ps, "atom longer than 255 characters");
    uint8_t tmp[255 * 4];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = utf8_put(tmp + k, cps[i]);
        if (!l) return perr(ps, "atom has a character that is not one");
        k += l;
    }
    term *t = term_atom(ps->a, (const char *)tmp, k);
    return t ? t : perr(ps, "out of memory");
}

static term *parse_term(parser *ps);

static term *parse_number(parser *ps, bool neg)
{
    const char *start = ps->p;
    while (ps->p < ps->end && (is_digit(*ps->p) || (*ps->p == '_' && ps->p + 1 < ps->end && is_digit(ps->p[1]) && ps->p > start))) ps->p++;
    size_t ndig = (size_t)(ps->p - start);
    if (ps->p < ps->end && *ps->p == '#') {
        long base = 0;
        if (ndig > 2) return perr(ps, "base must be 2..36");
        for (const char *q = start; q < ps->p; q++) if (*q != '_') base = base * 10 + (*q - '0');
        if (base < 2 || base > 36) return perr(ps, "base must be 2..36");
        ps->p++;
        const char *ds = ps->p;
        while (ps->p < ps->end && (hexval(*ps->p) >= 0 || (*ps->p >= 'a' && *ps->p <= 'z') || (*ps->p >= 'A' && *ps->p <= 'Z') || *ps->p == '_')) ps->p++;
        if (ps->p == ds) return perr(ps, "digits expected after '#'");
        if ((size_t)(ps->p - ds) > TERM_MAX_DIGITS) return perr(ps, "integer too long (100000 digits at most)");
        term *t = term_big_from_decimal(ps->a, ds, (size_t)(ps->p - ds), neg, (unsigned)base);
        return t ? t : perr(ps, "digit out of range for the base");
    }
    if (ps->p + 1 < ps->end && *ps->p == '.' && is_digit(ps->p[1])) {
        ps->p++;
        while (ps->p < ps->end && (is_digit(*ps->p) || (*ps->p == '_' && ps->p + 1 < ps->end && is_digit(ps->p[1])))) ps->p++;
        if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
            const char *save = ps->p++;
            if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) ps->p++;
            if (ps->p < ps->end && is_digit(*ps->p)) { while (ps->p < ps->end && is_digit(*ps->p)) ps->p++; }
            else ps->p = save;
        }
        size_t len = (size_t)(ps->p - start);
        if (len > 1000) return perr(ps, "float too long");
        char tmp[1024];
        size_t k = 0;
        for (const char *q = start; q < ps->p; q++) if (*q != '_') tmp[k++] = *q;
        tmp[k] = 0;
        double d = strtod(tmp, NULL);
        if (d - d != 0) return perr(ps, "float out of range");
        term *t = term_float(ps->a, neg ? -d : d);
        return t ? t : perr(ps, "out of memory");
    }
    if (ndig > TERM_MAX_DIGITS) return perr(ps, "integer too long (100000 digits at most)");
    term *t = term_big_from_decimal(ps->a, start, ndig, neg, 10);
    return t ? t : perr(ps, "out of memory");
}

static term *parse_seq(parser *ps, const char *close, size_t *count, term ***items, term **tail)
{
    buf acc = {0};
    *count = 0;
    if (tail) *tail = NULL;
    if (!eat(ps, close)) {
        for (;;) {
            term *e = parse_term(ps);
            if (!e) { buf_free(&acc); return NULL; }
            buf_put(&acc, &e, sizeof e);
            if (eat(ps, ",")) continue;
            if (tail && eat(ps, "|")) {
                if (!(*tail = parse_term(ps))) { buf_free(&acc); return NULL; }
                if (!eat(ps, close)) { buf_free(&acc); return perr(ps, "expected ']' after the tail"); }
                break;
            }
            if (eat(ps, close)) break;
            buf_free(&acc);
            return perr(ps, close[0] == '}' ? "expected ',' or '}'" : "expected ',', '|' or ']'");
        }
    }
    *count = acc.len / sizeof(term *);
    *items = arena_dup(ps->a, acc.p, acc.len);
    buf_free(&acc);
    return acc.oom || !*items ? perr(ps, "out of memory") : (term *)1;
}

static bool read_uint(parser *ps, uint64_t *v, uint64_t max)
{
    skip_ws(ps);
    if (ps->p >= ps->end || !is_digit(*ps->p)) return false;
    *v = 0;
    while (ps->p < ps->end && is_digit(*ps->p)) {
        uint64_t d = (uint64_t)(*ps->p++ - '0');
        if (*v > (max - d) / 10) return false;
        *v = *v * 10 + d;
    }
    return true;
}

#define BITS_MAX (8u << 20)     /* of a binary written as text: 1 MiB, as a request body */

/* Bits written big-endian into bytes. */
typedef struct { buf b; uint64_t n; } bitw;

static void put_bit(bitw *w, unsigned bit)
{
    if (w->n % 8 == 0) buf_byte(&w->b, 0);
    if (bit && !w->b.oom) w->b.p[w->b.len - 1] |= (uint8_t)(0x80 >> (w->n % 8));
    w->n++;
}

/* n copies of one bit: whole bytes at a time where aligned. */
static void put_run(bitw *w, unsigned bit, uint64_t n)
{
    for (; n && w->n % 8; n--) put_bit(w, bit);
    size_t bytes = (size_t)(n / 8);
    if (bytes && buf_reserve(&w->b, w->b.len + bytes)) {
        memset(w->b.p + w->b.len, bit ? 0xff : 0, bytes);
        w->b.len += bytes;
        w->n += (uint64_t)bytes * 8;
    }
    for (n %= 8; n; n--) put_bit(w, bit);
}

/* The low `size` bits of an integer, big-endian, two's complement (what
 * erl's <<V:Size>> keeps). */
static bool put_int_bits(bitw *w, const term *v, uint64_t size)
{
    if (v->type == TERM_INT) {
        if (size == 8 && w->n % 8 == 0) {   /* the common segment, as erl prints binaries */
            buf_byte(&w->b, (uint8_t)v->i);
            w->n += 8;
            return !w->b.oom;
        }
        if (size > 64) put_run(w, v->i < 0, size - 64), size = 64;
        for (uint64_t k = size; k-- > 0;) put_bit(w, (unsigned)(((uint64_t)v->i >> k) & 1));
        return !w->b.oom;
    }
    const uint8_t *mag = v->big.mag;
    size_t n = v->big.n;
    uint8_t *m1 = NULL;
    if (v->big.neg) {
        /* -M is ~(M - 1). */
        if (!(m1 = malloc(n ? n : 1))) return false;
        memcpy(m1, mag, n);
        for (size_t i = 0; i < n && m1[i]-- == 0; i++) {}
        mag = m1;
    }
    unsigned flip = v->big.neg;
    if (size > (uint64_t)n * 8) put_run(w, flip, size - (uint64_t)n * 8), size = (uint64_t)n * 8;
    for (uint64_t k = size; k-- > 0;) put_bit(w, ((mag[k / 8] >> (k % 8)) & 1) ^ flip);
    free(m1);
    return !w->b.oom;
}

static term *parse_binary(parser *ps)
{
    bitw bits = {0};
    skip_ws(ps);
    if (!eat(ps, ">>")) {
        for (;;) {
            skip_ws(ps);
            buf cps = {0};
            bool is_string = false;
            const term *value = NULL;
            if (ps->p < ps->end && *ps->p == '"') {
                is_string = true;
                do {
                    if (!read_quoted(ps, '"', &cps)) { buf_free(&cps); buf_free(&bits.b); return NULL; }
                    skip_ws(ps);
                } while (ps->p < ps->end && *ps->p == '"');
            } else {
                term *v = parse_term(ps);
                if (!v) { buf_free(&bits.b); return NULL; }
                if (v->type != TERM_INT && v->type != TERM_BIG) { buf_free(&bits.b); return perr(ps, "binary segment must be an integer, a character or a string"); }
                value = v;
            }
            uint64_t size = 8;
            bool utf8 = false;
            if (eat(ps, ":")) {
                if (!read_uint(ps, &size, BITS_MAX)) { buf_free(&cps); buf_free(&bits.b); return perr(ps, "segment size must be a number of bits up to 8388608"); }
            }
            if (eat(ps, "/")) {
                skip_ws(ps);
                if (at(ps, "utf8")) { ps->p += 4; utf8 = true; }
                else if (at(ps, "integer")) ps->p += 7;
                else { buf_free(&cps); buf_free(&bits.b); return perr(ps, "segment type must be integer or utf8"); }
            }
            const uint32_t *cp = (const uint32_t *)cps.p;
            size_t ncp = is_string ? cps.len / 4 : 1;
            if (!utf8 && ncp && size > (BITS_MAX - bits.n) / ncp) { buf_free(&cps); buf_free(&bits.b); return perr(ps, "binary too large"); }
            if (!is_string && !utf8) {
                if (!put_int_bits(&bits, value, size)) { buf_free(&bits.b); return perr(ps, "out of memory"); }
                ncp = 0;
            }
            for (size_t i = 0; i < ncp; i++) {
                int64_t v = is_string ? cp[i] : value->type == TERM_INT ? value->i : -1;
                if (utf8) {
                    uint8_t u[4];
                    size_t l = utf8_put(u, (uint32_t)v);
                    if (v < 0 || !l) { buf_free(&cps); buf_free(&bits.b); return perr(ps, "not a character for /utf8"); }
                    for (size_t j = 0; j < l; j++)
                        for (int k = 7; k >= 0; k--) put_bit(&bits, (u[j] >> k) & 1);
                } else {
                    term c = { .type = TERM_INT, .i = v };
                    if (!put_int_bits(&bits, &c, size)) { buf_free(&cps); buf_free(&bits.b); return perr(ps, "out of memory"); }
                }
            }
            buf_free(&cps);
            if (bits.n > BITS_MAX) { buf_free(&bits.b); return perr(ps, "binary too large"); }
            if (eat(ps, ",")) continue;
            if (eat(ps, ">>")) break;
            buf_free(&bits.b);
            return perr(ps, "expected ',' or '>>'");
        }
    }
    size_t nbits = (size_t)bits.n, nbytes = bits.b.len;
    term *t = term_binary(ps->a, "", 0);
    uint8_t *d = t ? arena_alloc(ps->a, nbytes ? nbytes : 1) : NULL;
    if (!d || bits.b.oom) { buf_free(&bits.b); return perr(ps, "out of memory"); }
    if (nbytes) memcpy(d, bits.b.p, nbytes);
    t->bin.data = d;
    t->bin.len = nbytes;
    t->bin.bits = nbits % 8 ? (uint8_t)(nbits % 8) : 8;
    buf_free(&bits.b);
    return t;
}


/* <0.ID.SERIAL>, #Port<0.ID>, #Ref<0.A.B.C> — identifiers of the peer's node. */
static term *parse_identifier(parser *ps, uint8_t type)
{
    if (!ps->ctx || !ps->ctx->node) return perr(ps, "pids, ports and references need a running peer");
    uint64_t zero, v[5];
    int n = 0;
    if (!read_uint(ps, &zero, 0xffffffff)) return perr(ps, "number expected");
    if (zero != 0)
        return perr(ps, "a pid, port or reference of another node (<N.…> with N > 0: a number inside the node, not its name) "
                        "cannot be read from text; send the value's $etf instead");
    while (n < 5 && eat(ps, ".")) if (!read_uint(ps, &v[n++], 0xffffffffffffffffull)) return perr(ps, "number expected");
    if (!eat(ps, ">")) return perr(ps, "expected '>'");
    term *t = arena_alloc(ps->a, sizeof *t);
    if (!t) return perr(ps, "out of memory");
    t->type = type;
    if (type == TERM_PID) {
        if (n != 2 || v[0] > 0xffffffff || v[1] > 0xffffffff) return perr(ps, "a pid is <0.ID.SERIAL>");
        t->pid.node = ps->ctx->node; t->pid.id = (uint32_t)v[0]; t->pid.serial = (uint32_t)v[1];
        t->pid.creation = ps->ctx->creation;
    } else if (type == TERM_PORT) {
        if (n != 1) return perr(ps, "a port is #Port<0.ID>");
        t->port.node = ps->ctx->node; t->port.id = v[0]; t->port.creation = ps->ctx->creation;
    } else {
        if (n < 1) return perr(ps, "a reference is #Ref<0.A.B.C>");
        t->ref.node = ps->ctx->node; t->ref.creation = ps->ctx->creation; t->ref.nids = (uint8_t)n;
        for (int i = 0; i < n; i++) {
            if (v[i] > 0xffffffff) return perr(ps, "reference word out of range");
            t->ref.ids[n - 1 - i] = (uint32_t)v[i];
        }
    }
    return t;
}

static term *parse_atom_token(parser *ps)
{
    buf cps = {0};
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '\'') {
        if (!read_quoted(ps, '\'', &cps)) { buf_free(&cps); return NULL; }
    } else {
        size_t k;
        uint32_t c = peek_cp(ps, &k);
        if (!k || !atom_start(c)) return perr(ps, "atom expected");
        while (k && atom_char(c)) { buf_put(&cps, &c, 4); ps->p += k; c = peek_cp(ps, &k); }
    }
    term *t = make_atom_cps(ps, (const uint32_t *)cps.p, cps.len / 4);
    buf_free(&cps);
    return t;
}

static term *parse_term_inner(parser *ps)
{
    skip_ws(ps);
    if (ps->p >= ps->end) return perr(ps, "term expected, found end of text");
    char c = *ps->p;
    size_t count;
    term **items, *tail;
    if (c == '{') {
        ps->p++;
        if (!parse_seq(ps, "}", &count, &items, NULL)) return NULL;
        term *t = term_tuple(ps->a, 0);
        if (!t) return perr(ps, "out of memory");
        t->tuple.items = items; t->tuple.n = count;
        return t;
    }
    if (c == '[') {
        ps->p++;
        if (!parse_seq(ps, "]", &count, &items, &tail)) return NULL;
        if (!count) return term_nil(ps->a);
        term *t = term_list(ps->a, 0, tail);
        if (!t) return perr(ps, "out of memory");
        t->list.items = items; t->list.n = count;
        return t;
    }
    if (at(ps, "#{")) {
        ps->p += 2;
        buf acc = {0};
        if (!eat(ps, "}")) {
            for (;;) {
                term *k = parse_term(ps);
                if (!k) { buf_free(&acc); return NULL; }
                if (!eat(ps, "=>")) { buf_free(&acc); return perr(ps, "expected '=>'"); }
                term *v = parse_term(ps);
                if (!v) { buf_free(&acc); return NULL; }
                buf_put(&acc, &k, sizeof k);
                buf_put(&acc, &v, sizeof v);
                if (eat(ps, ",")) continue;
                if (eat(ps, "}")) break;
                buf_free(&acc);
                return perr(ps, "expected ',' or '}'");
            }
        }
        term *m = term_map(ps->a, 0);
        if (!m || acc.oom) { buf_free(&acc); return perr(ps, "out of memory"); }
        m->map.kv = arena_dup(ps->a, acc.p, acc.len);
        m->map.n = acc.len / (2 * sizeof(term *));
        buf_free(&acc);
        if (!m->map.kv) return perr(ps, "out of memory");
        if (!term_map_sort(m)) return perr(ps, "map has a duplicate key");
        return m;
    }
    if (at(ps, "<<")) { ps->p += 2; return parse_binary(ps); }
    if (at(ps, "#Fun<")) return perr(ps, "a fun's text (#Fun<...>) cannot be read back; send the value's $etf instead");
    if (at(ps, "#Ref<")) { ps->p += 5; return parse_identifier(ps, TERM_REF); }
    if (at(ps, "#Port<")) { ps->p += 6; return parse_identifier(ps, TERM_PORT); }
    if (c == '<') { ps->p++; return parse_identifier(ps, TERM_PID); }
    if (c == '"') {
        buf cps = {0};
        do {
            if (!read_quoted(ps, '"', &cps)) { buf_free(&cps); return NULL; }
            skip_ws(ps);
        } while (ps->p < ps->end && *ps->p == '"');
        size_t n = cps.len / 4;
        term *t = n ? term_list(ps->a, n, NULL) : term_nil(ps->a);
        if (!t || cps.oom) { buf_free(&cps); return perr(ps, "out of memory"); }
        for (size_t i = 0; i < n; i++)
            if (!(t->list.items[i] = term_int(ps->a, ((uint32_t *)cps.p)[i]))) { buf_free(&cps); return perr(ps, "out of memory"); }
        buf_free(&cps);
        return t;
    }
    if (c == '$') {
        ps->p++;
        uint32_t ch;
        if (!read_char(ps, &ch)) return NULL;
        return term_int(ps->a, ch);
    }
    if (c == '-' || c == '+') {
        ps->p++;
        skip_ws(ps);
        if (ps->p < ps->end && is_digit(*ps->p)) return parse_number(ps, c == '-');
        if (ps->p < ps->end && *ps->p == '$') {
            term *t = parse_term_inner(ps);
            if (t && c == '-') t->i = -t->i;
            return t;
        }
        return perr(ps, "number expected after sign");
    }
    if (is_digit(c)) return parse_number(ps, false);
    if (at(ps, "fun") && (ps->end - ps->p == 3 || !atom_char((uint8_t)ps->p[3]))) {
        ps->p += 3;
        term *m = parse_atom_token(ps);
        if (!m) return NULL;
        if (!eat(ps, ":")) return perr(ps, "expected ':' in fun M:F/A");
        term *f = parse_atom_token(ps);
        if (!f) return NULL;
        uint64_t ar;
        if (!eat(ps, "/") || !read_uint(ps, &ar, 255)) return perr(ps, "expected /Arity (0..255)");
        term *t = arena_alloc(ps->a, sizeof *t);
        if (!t) return perr(ps, "out of memory");
        t->type = TERM_EXPORT; t->exp.module = m; t->exp.function = f; t->exp.arity = (int64_t)ar;
        return t;
    }
    if (c == '\'' || atom_start((uint8_t)c) || (uint8_t)c >= 0xc3) {
        term *t = parse_atom_token(ps);
        return t;
    }
    if ((c >= 'A' && c <= 'Z') || c == '_') return perr(ps, "variables are not terms");
    return perr(ps, "unexpected character");
}

static term *parse_term(parser *ps)
{
    if (++ps->depth > TERM_TEXT_MAX_DEPTH) return perr(ps, "term nested deeper than " TERM_STR(TERM_TEXT_MAX_DEPTH) " levels");
    term *t = parse_term_inner(ps);
    ps->depth--;
    if (!t) return NULL;
    /* What people type at a shell that is not a term: say so, not just
     * which character was unexpected. */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '(')
        return perr(ps, "a function call: expressions are not terms (call the function itself, or write the value it returns)");
    if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-' || *ps->p == '*'))
        return perr(ps, "an operator: expressions are not terms (write the value itself)");
    if (t->type == TERM_ATOM && ps->p + 1 < ps->end && *ps->p == ':' && atom_start((uint8_t)ps->p[1]))
        return perr(ps, "a remote function call (M:F(...)): expressions are not terms (call the function itself, or write the value it returns)");
    return t;
}

term *term_parse(arena *a, const char *s, size_t n, const term_ctx *ctx, term_text_error *err)
{
    parser ps = { a, s, s, s + n, ctx, err, 0 };
    err->msg = NULL;
    err->pos = 0;
    term *t = parse_term(&ps);
    if (!t) return NULL;
    eat(&ps, ".");
    skip_ws(&ps);
    if (ps.p != ps.end) return perr(&ps, "text left after the term");
    return t;
}

bool term_text_etf_once(buf *cache, const char *s, size_t n)
{
    if (cache->len) return true;
    arena *a = arena_new();
    term_text_error te;
    term_ctx none = {0};
    term *t = a ? term_parse(a, s, n, &none, &te) : NULL;
    if (t) etf_encode_body(cache, t);
    arena_free(a);
    if (t && !cache->oom) return true;
    buf_free(cache);
    return false;
}

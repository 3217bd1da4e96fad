/*
 * term_print.c — the ~tp printer.
 *
 * It follows io_lib_pretty with an unlimited line length: no spaces after
 * commas, " => " in maps, strings and binaries printed as text only when
 * every character is printable Latin-1, floats in the shortest form that
 * reads back exactly, choosing fixed or scientific notation by length as
 * float_to_list(F, [short]) does. Characters above 255 only ever reach the
 * printer inside quoted atoms, which ~tp prints as they are.
 */
#include "term_text.h"
#include "term_atom.h"
#include "utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool latin1_printable(uint32_t c)
{
    return (c >= 32 && c <= 126) || (c >= 160 && c <= 255) ||
           (c >= 8 && c <= 13) || c == 27;
}

static void put_char_escaped(buf *b, uint32_t c, char quote)
{
    switch (c) {
    case '\n': buf_str(b, "\\n"); return;
    case '\r': buf_str(b, "\\r"); return;
    case '\t': buf_str(b, "\\t"); return;
    case '\v': buf_str(b, "\\v"); return;
    case '\b': buf_str(b, "\\b"); return;
    case '\f': buf_str(b, "\\f"); return;
    case 27: buf_str(b, "\\e"); return;
    case 127: buf_str(b, "\\d"); return;
    case '\\': buf_str(b, "\\\\"); return;
    }
    if (c == (uint32_t)quote) { buf_byte(b, '\\'); buf_byte(b, (uint8_t)quote); return; }
    if (c < 32 || (c >= 128 && c < 160)) { buf_printf(b, "\\%03o", c); return; }
    uint8_t u[4];
    buf_put(b, u, utf8_put(u, c));
}


static const char *const reserved[] = {
    "after", "and", "andalso", "band", "begin", "bnot", "bor", "bsl", "bsr", "bxor",
    "case", "catch", "cond", "div", "end", "fun", "if", "let", "not", "of", "or",
    "orelse", "receive", "rem", "try", "when", "xor", NULL
};

static bool atom_needs_quotes(const char *s, size_t len)
{
    if (!len) return true;
    uint32_t c;
    size_t k = utf8_next((const uint8_t *)s, len, &c);
    if (!k || !atom_start(c)) return true;
    for (size_t i = k; i < len; i += k)
        if (!(k = utf8_next((const uint8_t *)s + i, len - i, &c)) || !atom_char(c)) return true;
    for (const char *const *r = reserved; *r; r++)
        if (strlen(*r) == len && memcmp(*r, s, len) == 0) return true;
    return false;
}

void term_print_atom(buf *b, const char *s, size_t len)
{
    if (!atom_needs_quotes(s, len)) { buf_put(b, s, len); return; }
    buf_byte(b, '\'');
    uint32_t c;
    for (size_t i = 0, k; i < len; i += k) {
        if (!(k = utf8_next((const uint8_t *)s + i, len - i, &c))) { c = (uint8_t)s[i]; k = 1; }
        put_char_escaped(b, c, '\'');
    }
    buf_byte(b, '\'');
}

void term_print_float(buf *b, double d)
{
    if (d == 0) { buf_str(b, signbit(d) ? "-0.0" : "0.0"); return; }
    char e[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, d);
        if (strtod(e, NULL) == d) break;
    }
    /* e is now [-]D[.DDD]e[+-]XX with the shortest digits. */
    const char *p = e;
    bool neg = *p == '-';
    if (neg) p++;
    char digits[20];
    int n = 0;
    for (; *p != 'e'; p++)
        if (*p != '.') digits[n++] = *p;
    while (n > 1 && digits[n - 1] == '0') n--;
    int x = atoi(p + 1);

    /* The choice float_to_list(F, [short]) makes (erts' to_chars): fixed
     * notation when the last digit's exponent r is within [lower, upper],
     * except near 2^53 where fixed would show digits beyond the shortest. */
    int r = x - n + 1, lower, upper;
    uint64_t mant = 0;
    for (int i = 0; i < n; i++) mant = mant * 10 + (uint64_t)(digits[i] - '0');
    if (n == 1) { lower = -4; upper = 2; }
    else if (x >= 10) { lower = -(n + 2); upper = 2; }
    else { lower = -(n + 2); upper = 1; }
    bool fixed = lower <= r && r <= upper &&
                 !((mant >= (1ull << 53) && r == 0) || (mant > (1ull << 52) / 5 && r == 1) ||
                   (mant > (1ull << 51) / 25 && r == 2));
    if (neg) buf_byte(b, '-');
    if (!fixed) {
        buf_byte(b, (uint8_t)digits[0]);
        buf_byte(b, '.');
        if (n > 1) buf_put(b, digits + 1, (size_t)(n - 1));
        else buf_byte(b, '0');
        buf_printf(b, "e%d", x);
    } else if (r >= 0) {
        buf_put(b, digits, (size_t)n);
        for (int i = 0; i < r; i++) buf_byte(b, '0');
        buf_str(b, ".0");
    } else if (x >= 0) {
        buf_put(b, digits, (size_t)(x + 1));
        buf_byte(b, '.');
        buf_put(b, digits + x + 1, (size_t)(n - x - 1));
    } else {
        buf_str(b, "0.");
        for (int i = 0; i < -x - 1; i++) buf_byte(b, '0');
        buf_put(b, digits, (size_t)n);
    }
}

static bool printable_list(const term *t)
{
    if (t->type == TERM_NIL) return false;
    if (t->list.tail->type != TERM_NIL) return false;
    for (size_t i = 0; i < t->list.n; i++) {
        const term *e = t->list.items[i];
        if (e->type != TERM_INT || e->i < 0 || !latin1_printable((uint32_t)e->i)) return false;
    }
    return true;
}

static void print_binary(buf *b, const term *t)
{
    const uint8_t *d = t->bin.data;
    size_t n = t->bin.len;
    if (t->bin.bits != 8) {
        buf_str(b, "<<");
        for (size_t i = 0; i + 1 < n; i++) buf_printf(b, "%u,", d[i]);
        buf_printf(b, "%u:%u>>", d[n - 1] >> (8 - t->bin.bits), t->bin.bits);
        return;
    }
    if (!n) { buf_str(b, "<<>>"); return; }
    bool utf8 = true, wide = false, latin1 = true;
    uint32_t c;
    for (size_t i = 0, k; i < n && utf8; i += k) {
        if (!(k = utf8_next(d + i, n - i, &c)) || !latin1_printable(c)) utf8 = false;
        else if (c > 127) wide = true;
    }
    if (!utf8 || !wide)
        for (size_t i = 0; i < n && latin1; i++) latin1 = latin1_printable(d[i]);
    if (utf8 || latin1) {
        buf_str(b, "<<\"");
        if (utf8)
            for (size_t i = 0, k; i < n; i += k) { k = utf8_next(d + i, n - i, &c); put_char_escaped(b, c, '"'); }
        else
            for (size_t i = 0; i < n; i++) put_char_escaped(b, d[i], '"');
        buf_str(b, utf8 && wide ? "\"/utf8>>" : "\">>");
        return;
    }
    buf_str(b, "<<");
    for (size_t i = 0; i < n; i++) buf_printf(b, i ? ",%u" : "%u", d[i]);
    buf_str(b, ">>");
}

/* N of <N.ID.SERIAL>: 0 for the peer's own node; else what the names say. */
static uint32_t node_number(const term *node, const term_names *names)
{
    if (!names || !names->self || term_atom_eq(node, names->self)) return 0;
    for (size_t i = 0; i < names->n; i++)
        if (term_atom_eq(node, names->v[i].node)) return names->v[i].number;
    return 0;
}

/* An identifier of another node whose number is not known: its node's name
 * in the number's place, which says whose it is and cannot be read back. */
static void print_node_number(buf *b, const term *node, const term_names *names)
{
    uint32_t n = node_number(node, names);
    if (n || !names || !names->self || term_atom_eq(node, names->self)) buf_printf(b, "%u", n);
    else term_print_atom(b, node->atom.s, node->atom.len);
}

void term_print_names(buf *b, const term *t, const term_names *names)
{
    switch (t->type) {
    case TERM_INT: buf_printf(b, "%lld", (long long)t->i); break;
    case TERM_BIG: {
        arena *a = arena_new();
        char *s = a ? term_integer_to_decimal(a, t) : NULL;
        if (s) buf_str(b, s); else b->oom = true;
        arena_free(a);
        break;
    }
    case TERM_FLOAT: term_print_float(b, t->f); break;
    case TERM_ATOM: term_print_atom(b, t->atom.s, t->atom.len); break;
    case TERM_NIL: buf_str(b, "[]"); break;
    case TERM_BINARY: print_binary(b, t); break;
    case TERM_LIST:
        if (printable_list(t)) {
            buf_byte(b, '"');
            for (size_t i = 0; i < t->list.n; i++) put_char_escaped(b, (uint32_t)t->list.items[i]->i, '"');
            buf_byte(b, '"');
            break;
        }
        buf_byte(b, '[');
        for (size_t i = 0; i < t->list.n; i++) {
            if (i) buf_byte(b, ',');
            term_print_names(b, t->list.items[i], names);
        }
        if (t->list.tail->type != TERM_NIL) { buf_byte(b, '|'); term_print_names(b, t->list.tail, names); }
        buf_byte(b, ']');
        break;
    case TERM_TUPLE:
        buf_byte(b, '{');
        for (size_t i = 0; i < t->tuple.n; i++) {
            if (i) buf_byte(b, ',');
            term_print_names(b, t->tuple.items[i], names);
        }
        buf_byte(b, '}');
        break;
    case TERM_MAP:
        buf_str(b, "#{");
        for (size_t i = 0; i < t->map.n; i++) {
            if (i) buf_byte(b, ',');
            term_print_names(b, t->map.kv[2 * i], names);
            buf_str(b, " => ");
            term_print_names(b, t->map.kv[2 * i + 1], names);
        }
        buf_byte(b, '}');
        break;
    case TERM_PID:
        buf_byte(b, '<');
        print_node_number(b, t->pid.node, names);
        buf_printf(b, ".%u.%u>", t->pid.id, t->pid.serial);
        break;
    case TERM_PORT:
        buf_str(b, "#Port<");
        print_node_number(b, t->port.node, names);
        buf_printf(b, ".%llu>", (unsigned long long)t->port.id);
        break;
    case TERM_REF:
        buf_str(b, "#Ref<");
        print_node_number(b, t->ref.node, names);
        for (int i = t->ref.nids; i-- > 0;) buf_printf(b, ".%u", t->ref.ids[i]);
        buf_byte(b, '>');
        break;
    case TERM_FUN:
        buf_str(b, "#Fun<");
        term_print_atom(b, t->fun.module->atom.s, t->fun.module->atom.len);
        buf_printf(b, ".%lld.%lld>", (long long)t->fun.index, (long long)t->fun.uniq);
        break;
    case TERM_EXPORT:
        buf_str(b, "fun ");
        term_print_names(b, t->exp.module, names);
        buf_byte(b, ':');
        term_print_names(b, t->exp.function, names);
        buf_printf(b, "/%lld", (long long)t->exp.arity);
        break;
    }
}

void term_print(buf *b, const term *t) { term_print_names(b, t, NULL); }

/*
 * io_format.c — the plain cases of io_lib:format/2 (see io_format.h).
 */
#include "io_format.h"
#include "term_text.h"
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

/* Column of a ~p after which a term might be wrapped: io_lib_pretty keeps a
 * term on one line while it fits the 80-column line; this stays clear of
 * the edge. */
#define PRETTY_ROOM 75

typedef struct { uint32_t *cp; size_t n, cap; bool oom; } cps;

static void put(cps *o, uint32_t c)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        uint32_t *p = realloc(o->cp, cap * sizeof *p);
        if (!p) { o->oom = true; return; }
        o->cp = p;
        o->cap = cap;
    }
    o->cp[o->n++] = c;
}

static size_t column(const cps *o)
{
    size_t col = 0;
    for (size_t i = o->n; i-- > 0;) {
        if (o->cp[i] == '\n') break;
        col++;
    }
    return col;
}

static bool has_tab_on_line(const cps *o)
{
    for (size_t i = o->n; i-- > 0 && o->cp[i] != '\n';)
        if (o->cp[i] == '\t') return true;
    return false;
}

/* UTF-8 text into code points; false if not UTF-8. */
static bool put_utf8(cps *o, const uint8_t *s, size_t n)
{
    uint32_t c;
    for (size_t i = 0, k; i < n; i += k) {
        if (!(k = utf8_next(s + i, n - i, &c))) return false;
        put(o, c);
    }
    return true;
}

/* ~s / ~ts of a flat string, binary or atom. */
static bool put_string(cps *o, const term *a, bool unicode)
{
    switch (a->type) {
    case TERM_NIL:
        return true;
    case TERM_ATOM: {
        for (size_t i = 0; i < a->atom.len; i++)
            if ((uint8_t)a->atom.s[i] >= 0x80) return false;
        return put_utf8(o, (const uint8_t *)a->atom.s, a->atom.len);
    }
    case TERM_BINARY:
        if (a->bin.bits != 8) return false;
        if (unicode) return put_utf8(o, a->bin.data, a->bin.len);
        for (size_t i = 0; i < a->bin.len; i++) put(o, a->bin.data[i]);
        return true;
    case TERM_LIST:
        if (a->list.tail->type != TERM_NIL) return false;
        for (size_t i = 0; i < a->list.n; i++) {
            const term *e = a->list.items[i];
            if (e->type != TERM_INT || e->i < 0 || e->i > (unicode ? 0x10ffff : 255) || (e->i >= 0xd800 && e->i <= 0xdfff))
                return false;
        }
        for (size_t i = 0; i < a->list.n; i++) put(o, (uint32_t)a->list.items[i]->i);
        return true;
    default:
        return false;
    }
}

/* A pid, port or reference anywhere in t: the node prints those of other
 * nodes with numbers only it knows, so it formats them itself. */
static bool has_identifier(const term *t, int depth)
{
    if (depth > 100) return true;
    switch (t->type) {
    case TERM_PID: case TERM_PORT: case TERM_REF: case TERM_FUN: return true;
    case TERM_LIST:
        for (size_t i = 0; i < t->list.n; i++) if (has_identifier(t->list.items[i], depth + 1)) return true;
        return has_identifier(t->list.tail, depth + 1);
    case TERM_TUPLE:
        for (size_t i = 0; i < t->tuple.n; i++) if (has_identifier(t->tuple.items[i], depth + 1)) return true;
        return false;
    case TERM_MAP:
        for (size_t i = 0; i < 2 * t->map.n; i++) if (has_identifier(t->map.kv[i], depth + 1)) return true;
        return false;
    default: return false;
    }
}

/* ~w, ~p and ~tp through the ~tp printer, where they agree with it. */
static bool put_term(cps *o, const term *a, char kind, bool unicode)
{
    if (has_identifier(a, 0)) return false;
    if (kind == 'w' && a->type != TERM_INT && a->type != TERM_BIG && a->type != TERM_FLOAT && a->type != TERM_ATOM)
        return false;
    if (has_tab_on_line(o)) return false;
    buf b = {0};
    term_print(&b, a);
    bool ok = !b.oom;
    if (ok && !unicode)   /* ~p and ~w without t write other characters differently */
        for (size_t i = 0; i < b.len && ok; i++) ok = b.p[i] < 0x80;
    if (ok && kind == 'w')    /* ~tw of other characters is not checked against erl */
        for (size_t i = 0; i < b.len && ok; i++) ok = b.p[i] < 0x80;
    if (ok && kind == 'p' && column(o) + b.len > PRETTY_ROOM) ok = false;
    if (ok) ok = put_utf8(o, b.p, b.len);
    buf_free(&b);
    return ok;
}

bool io_format_fast(const term *format, const term *args, buf *out)
{
    /* The format's characters. */
    cps f = {0}, o = {0};
    bool ok = true;
    switch (format->type) {
    case TERM_LIST: case TERM_NIL: ok = put_string(&f, format, true); break;
    case TERM_BINARY: ok = format->bin.bits == 8; for (size_t i = 0; ok && i < format->bin.len; i++) put(&f, format->bin.data[i]); break;
    case TERM_ATOM: ok = put_utf8(&f, (const uint8_t *)format->atom.s, format->atom.len); break;
    default: ok = false;
    }
    if (args->type != TERM_NIL && (args->type != TERM_LIST || args->list.tail->type != TERM_NIL)) ok = false;
    size_t nargs = args->type == TERM_LIST ? args->list.n : 0, next = 0;
    for (size_t i = 0; ok && i < f.n; i++) {
        uint32_t c = f.cp[i];
        if (c != '~') { put(&o, c); continue; }
        if (++i == f.n) { ok = false; break; }
        bool unicode = false;
        if (f.cp[i] == 't') { unicode = true; if (++i == f.n) { ok = false; break; } }
        uint32_t d = f.cp[i];
        if (d == '~' && !unicode) { put(&o, '~'); continue; }
        if (d == 'n' && !unicode) { put(&o, '\n'); continue; }
        if (next == nargs) { ok = false; break; }
        const term *a = args->list.items[next++];
        switch (d) {
        case 'i': ok = !unicode; break;
        case 's': ok = put_string(&o, a, unicode); break;
        case 'w': case 'p': ok = put_term(&o, a, (char)d, unicode); break;
        case 'c':
            ok = a->type == TERM_INT && a->i >= 0 && a->i <= (unicode ? 0x10ffff : 255) && !(a->i >= 0xd800 && a->i <= 0xdfff);
            if (ok) put(&o, (uint32_t)a->i);
            break;
        case 'B':
            ok = !unicode && (a->type == TERM_INT || a->type == TERM_BIG);
            if (ok) {
                buf b = {0};
                term_print(&b, a);
                ok = !b.oom && put_utf8(&o, b.p, b.len);
                buf_free(&b);
            }
            break;
        default: ok = false;   /* widths, precisions, pads, other directives: the node's */
        }
    }
    if (next != nargs) ok = false;
    if (ok && !f.oom && !o.oom) {
        uint8_t u[4];
        for (size_t i = 0; i < o.n; i++) buf_put(out, u, utf8_put(u, o.cp[i]));
    }
    free(f.cp);
    free(o.cp);
    return ok && !f.oom && !o.oom;
}

/*
 * etf.c — external term format decoder and encoder.
 *
 * Decoding is recursive descent over a cursor that checks every read against
 * the end of the buffer. Counts that announce elements are checked against
 * the bytes left before anything is allocated, so a lying header cannot make
 * us allocate more than the input could describe.
 */
#include "etf.h"
#include "utf8.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

const char etf_out_of_memory[] = "out of memory";

typedef struct {
    arena *a;
    const uint8_t *p, *end, *start;
    etf_error *err;
    int depth;
} cur;

static term *fail(cur *c, const char *msg)
{
    if (c->err && !c->err->msg) { c->err->msg = msg; c->err->pos = (size_t)(c->p - c->start); }
    return NULL;
}

static bool need(cur *c, size_t n) { return (size_t)(c->end - c->p) >= n; }
static uint8_t rd8(cur *c) { return *c->p++; }
static uint16_t rd16(cur *c) { uint16_t v = (uint16_t)(c->p[0] << 8 | c->p[1]); c->p += 2; return v; }
static uint32_t rd32(cur *c)
{
    uint32_t v = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 | (uint32_t)c->p[2] << 8 | c->p[3];
    c->p += 4;
    return v;
}

static term *decode(cur *c);

static term *decode_atom_text(cur *c, size_t len, bool utf8)
{
    if (!need(c, len)) return fail(c, "atom runs past the end");
    const uint8_t *s = c->p;
    c->p += len;
    if (utf8) {
        long chars = utf8_count(s, len, NULL);
        if (chars < 0) return fail(c, "atom is not valid UTF-8");
        if (chars > 255) return fail(c, "atom longer than 255 characters");
        return term_atom(c->a, (const char *)s, len);
    }
    if (len > 255) return fail(c, "atom longer than 255 characters");
    /* Latin-1 to UTF-8. */
    char tmp[512];
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 0x80) tmp[k++] = (char)s[i];
        else { tmp[k++] = (char)(0xc0 | s[i] >> 6); tmp[k++] = (char)(0x80 | (s[i] & 0x3f)); }
    }
    return term_atom(c->a, tmp, k);
}

static term *decode_atom(cur *c)
{
    if (!need(c, 1)) return fail(c, "truncated atom");
    switch (rd8(c)) {
    case ATOM_EXT: if (!need(c, 2)) return fail(c, "truncated atom"); return decode_atom_text(c, rd16(c), false);
    case SMALL_ATOM_EXT: if (!need(c, 1)) return fail(c, "truncated atom"); return decode_atom_text(c, rd8(c), false);
    case ATOM_UTF8_EXT: if (!need(c, 2)) return fail(c, "truncated atom"); return decode_atom_text(c, rd16(c), true);
    case SMALL_ATOM_UTF8_EXT: if (!need(c, 1)) return fail(c, "truncated atom"); return decode_atom_text(c, rd8(c), true);
    }
    c->p--;
    return fail(c, "expected an atom");
}

static term *new_node(cur *c, uint8_t type)
{
    term *t = arena_alloc(c->a, sizeof *t);
    if (!t) return fail(c, etf_out_of_memory);
    t->type = type;
    return t;
}

static term *decode_fun(cur *c, const uint8_t *tag)
{
    if (!need(c, 4)) return fail(c, "truncated fun");
    uint32_t size = rd32(c);
    if (size < 5 || (size_t)(c->end - tag) < size + 0u) return fail(c, "fun size runs past the end");
    const uint8_t *fun_end = tag + 1 + size;
    if (fun_end > c->end) return fail(c, "fun size runs past the end");
    if (!need(c, 1 + 16 + 4 + 4)) return fail(c, "truncated fun");
    c->p += 1 + 16 + 4;             /* arity, uniq, index */
    uint32_t nfree = rd32(c);
    term *t = new_node(c, TERM_FUN);
    if (!t) return NULL;
    if (!(t->fun.module = decode_atom(c))) return NULL;
    term *old_index = decode(c), *old_uniq = old_index ? decode(c) : NULL;
    if (!old_uniq || old_index->type != TERM_INT || old_uniq->type != TERM_INT)
        return fail(c, "fun index/uniq must be integers");
    t->fun.index = old_index->i;
    t->fun.uniq = old_uniq->i;
    term *pid = decode(c);
    if (!pid || pid->type != TERM_PID) return fail(c, "fun creator must be a pid");
    t->fun.pid = pid;
    if (c->p > fun_end || (size_t)(fun_end - c->p) < nfree) return fail(c, "fun free variables run past the end");
    if (!(t->fun.free = arena_alloc(c->a, (nfree ? nfree : 1) * sizeof(term *)))) return fail(c, etf_out_of_memory);
    t->fun.nfree = nfree;
    for (uint32_t i = 0; i < nfree; i++)
        if (!(t->fun.free[i] = decode(c))) return NULL;
    if (c->p != fun_end) return fail(c, "fun size does not match its contents");
    t->fun.len = (size_t)(fun_end - tag);
    if (!(t->fun.etf = arena_dup(c->a, tag, t->fun.len))) return fail(c, etf_out_of_memory);
    return t;
}

static term *decode(cur *c)
{
    if (++c->depth > ETF_MAX_DEPTH) return fail(c, "term nested deeper than " TERM_STR(ETF_MAX_DEPTH) " levels");
    if (!need(c, 1)) return fail(c, "truncated term");
    const uint8_t *tag = c->p;
    uint8_t type = rd8(c);
    term *t = NULL;
    switch (type) {
    case SMALL_INTEGER_EXT:
        if (!need(c, 1)) return fail(c, "truncated integer");
        t = term_int(c->a, rd8(c));
        break;
    case INTEGER_EXT:
        if (!need(c, 4)) return fail(c, "truncated integer");
        t = term_int(c->a, (int32_t)rd32(c));
        break;
    case SMALL_BIG_EXT: case LARGE_BIG_EXT: {
        size_t n;
        if (type == SMALL_BIG_EXT) { if (!need(c, 2)) return fail(c, "truncated big integer"); n = rd8(c); }
        else { if (!need(c, 5)) return fail(c, "truncated big integer"); n = rd32(c); }
        uint8_t sign = rd8(c);
        if (sign > 1) return fail(c, "big integer sign must be 0 or 1");
        if (!need(c, n)) return fail(c, "big integer runs past the end");
        t = term_big_from_mag(c->a, c->p, n, sign == 1);
        c->p += n;
        break;
    }
    case NEW_FLOAT_EXT: {
        if (!need(c, 8)) return fail(c, "truncated float");
        uint64_t u = 0;
        for (int i = 0; i < 8; i++) u = u << 8 | rd8(c);
        double d;
        memcpy(&d, &u, 8);
        if (d != d || d - d != 0) return fail(c, "float is not finite");
        t = term_float(c->a, d);
        break;
    }
    case FLOAT_EXT: {
        if (!need(c, 31)) return fail(c, "truncated float");
        char tmp[32];
        memcpy(tmp, c->p, 31);
        tmp[31] = 0;
        c->p += 31;
        char *e;
        double d = strtod(tmp, &e);
        if (e == tmp || d != d || d - d != 0) return fail(c, "bad float text");
        t = term_float(c->a, d);
        break;
    }
    case ATOM_EXT: case SMALL_ATOM_EXT: case ATOM_UTF8_EXT: case SMALL_ATOM_UTF8_EXT:
        c->p--;
        t = decode_atom(c);
        break;
    case NIL_EXT:
        t = term_nil(c->a);
        break;
    case STRING_EXT: {
        if (!need(c, 2)) return fail(c, "truncated string");
        size_t n = rd16(c);
        if (!need(c, n)) return fail(c, "string runs past the end");
        if (n == 0) { t = term_nil(c->a); break; }
        if (!(t = term_list(c->a, n, NULL))) break;
        for (size_t i = 0; i < n; i++)
            if (!(t->list.items[i] = term_int(c->a, rd8(c)))) return fail(c, etf_out_of_memory);
        break;
    }
    case LIST_EXT: {
        if (!need(c, 4)) return fail(c, "truncated list");
        size_t n = rd32(c);
        if ((size_t)(c->end - c->p) < n + 1) return fail(c, "list length runs past the end");
        if (!(t = new_node(c, TERM_LIST))) return NULL;
        if (!(t->list.items = arena_alloc(c->a, (n ? n : 1) * sizeof(term *)))) return fail(c, etf_out_of_memory);
        t->list.n = n;
        for (size_t i = 0; i < n; i++)
            if (!(t->list.items[i] = decode(c))) return NULL;
        if (!(t->list.tail = decode(c))) return NULL;
        if (n == 0) t = t->list.tail;   /* [|T] is just T; OTP never writes it */
        break;
    }
    case SMALL_TUPLE_EXT: case LARGE_TUPLE_EXT: {
        size_t n;
        if (type == SMALL_TUPLE_EXT) { if (!need(c, 1)) return fail(c, "truncated tuple"); n = rd8(c); }
        else { if (!need(c, 4)) return fail(c, "truncated tuple"); n = rd32(c); }
        if ((size_t)(c->end - c->p) < n) return fail(c, "tuple arity runs past the end");
        if (!(t = term_tuple(c->a, n))) break;
        for (size_t i = 0; i < n; i++)
            if (!(t->tuple.items[i] = decode(c))) return NULL;
        break;
    }
    case MAP_EXT: {
        if (!need(c, 4)) return fail(c, "truncated map");
        size_t n = rd32(c);
        if ((size_t)(c->end - c->p) / 2 < n) return fail(c, "map size runs past the end");
        if (!(t = term_map(c->a, n))) break;
        for (size_t i = 0; i < 2 * n; i++)
            if (!(t->map.kv[i] = decode(c))) return NULL;
        break;
    }
    case BINARY_EXT: case BIT_BINARY_EXT: {
        if (!need(c, type == BINARY_EXT ? 4 : 5)) return fail(c, "truncated binary");
        size_t n = rd32(c);
        uint8_t bits = 8;
        if (type == BIT_BINARY_EXT) {
            bits = rd8(c);
            if (bits < 1 || bits > 8 || n == 0) return fail(c, "bad bitstring tail size");
        }
        if (!need(c, n)) return fail(c, "binary runs past the end");
        if (!(t = term_binary(c->a, c->p, n))) break;
        if (bits != 8) ((uint8_t *)t->bin.data)[n - 1] &= (uint8_t)(0xff << (8 - bits));
        t->bin.bits = bits;
        c->p += n;
        break;
    }
    case NEW_PID_EXT: case PID_EXT: {
        if (!(t = new_node(c, TERM_PID)) || !(t->pid.node = decode_atom(c))) return NULL;
        size_t cr = type == NEW_PID_EXT ? 4 : 1;
        if (!need(c, 8 + cr)) return fail(c, "truncated pid");
        t->pid.id = rd32(c);
        t->pid.serial = rd32(c);
        t->pid.creation = cr == 4 ? rd32(c) : rd8(c);
        break;
    }
    case NEW_PORT_EXT: case PORT_EXT: case V4_PORT_EXT: {
        if (!(t = new_node(c, TERM_PORT)) || !(t->port.node = decode_atom(c))) return NULL;
        if (type == V4_PORT_EXT) {
            if (!need(c, 12)) return fail(c, "truncated port");
            t->port.id = (uint64_t)rd32(c) << 32;
            t->port.id |= rd32(c);
            t->port.creation = rd32(c);
        } else {
            size_t cr = type == NEW_PORT_EXT ? 4 : 1;
            if (!need(c, 4 + cr)) return fail(c, "truncated port");
            t->port.id = rd32(c);
            t->port.creation = cr == 4 ? rd32(c) : rd8(c);
        }
        break;
    }
    case NEWER_REFERENCE_EXT: case NEW_REFERENCE_EXT: case REFERENCE_EXT: {
        size_t nids = 1;
        if (type != REFERENCE_EXT) {
            if (!need(c, 2)) return fail(c, "truncated reference");
            nids = rd16(c);
            if (nids < 1 || nids > 5) return fail(c, "reference must have 1 to 5 words");
        }
        if (!(t = new_node(c, TERM_REF)) || !(t->ref.node = decode_atom(c))) return NULL;
        size_t cr = type == NEWER_REFERENCE_EXT ? 4 : 1;
        if (type == REFERENCE_EXT) {
            if (!need(c, 4 + cr)) return fail(c, "truncated reference");
            t->ref.ids[0] = rd32(c);
            t->ref.creation = rd8(c);
        } else {
            if (!need(c, cr + 4 * nids)) return fail(c, "truncated reference");
            t->ref.creation = cr == 4 ? rd32(c) : rd8(c);
            for (size_t i = 0; i < nids; i++) t->ref.ids[i] = rd32(c);
        }
        t->ref.nids = (uint8_t)nids;
        break;
    }
    case EXPORT_EXT: {
        if (!(t = new_node(c, TERM_EXPORT)) || !(t->exp.module = decode_atom(c)) ||
            !(t->exp.function = decode_atom(c))) return NULL;
        term *ar = decode(c);
        if (!ar) return NULL;
        if (ar->type != TERM_INT || ar->i < 0 || ar->i > 255) return fail(c, "export arity must be 0..255");
        t->exp.arity = ar->i;
        break;
    }
    case NEW_FUN_EXT:
        t = decode_fun(c, tag);
        break;
    default:
        c->p--;
        return fail(c, "unknown term tag");
    }
    c->depth--;
    if (!t) return fail(c, etf_out_of_memory);
    return t;
}

term *etf_decode_body(arena *a, const uint8_t *p, size_t n, etf_error *err)
{
    cur c = { a, p, p + n, p, err, 0 };
    term *t = decode(&c);
    if (t && c.p != c.end) return fail(&c, "bytes left after the term");
    return t;
}

term *etf_decode_prefix(arena *a, const uint8_t *p, size_t n, size_t *used, etf_error *err)
{
    cur c = { a, p, p + n, p, err, 0 };
    term *t = decode(&c);
    *used = (size_t)(c.p - p);
    return t;
}

term *etf_decode(arena *a, const uint8_t *p, size_t n, etf_error *err)
{
    if (n < 1 || p[0] != ETF_VERSION) {
        if (err) { err->msg = "does not start with version byte 131"; err->pos = 0; }
        return NULL;
    }
    if (n >= 2 && p[1] == COMPRESSED) {
        if (n < 6) { if (err) { err->msg = "truncated compressed term"; err->pos = 1; } return NULL; }
        uLongf size = (uLongf)p[2] << 24 | (uLongf)p[3] << 16 | (uLongf)p[4] << 8 | p[5];
        if (size > ETF_MAX_INFLATED) { if (err) { err->msg = "compressed term too large"; err->pos = 2; } return NULL; }
        uint8_t *out = arena_alloc(a, size ? size : 1);
        uLongf got = size;
        if (!out || uncompress(out, &got, p + 6, n - 6) != Z_OK || got != size) {
            if (err) { err->msg = "bad compressed term"; err->pos = 6; }
            return NULL;
        }
        return etf_decode_body(a, out, size, err);
    }
    return etf_decode_body(a, p + 1, n - 1, err);
}

/* ---- encoding ---- */

void etf_encode_int(buf *b, int64_t v)
{
    if (v >= 0 && v <= 255) { buf_byte(b, SMALL_INTEGER_EXT); buf_byte(b, (uint8_t)v); return; }
    if (v >= INT32_MIN && v <= INT32_MAX) { buf_byte(b, INTEGER_EXT); buf_u32(b, (uint32_t)(int32_t)v); return; }
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint8_t mag[8]; int n = 0;
    while (u) { mag[n++] = u & 0xff; u >>= 8; }
    buf_byte(b, SMALL_BIG_EXT);
    buf_byte(b, (uint8_t)n);
    buf_byte(b, v < 0);
    buf_put(b, mag, (size_t)n);
}

void etf_encode_atom(buf *b, const char *s, size_t len)
{
    /* Latin-1 atoms go as ATOM_EXT, others as (SMALL_)ATOM_UTF8_EXT, as OTP 25 does. */
    uint8_t tmp[256];
    size_t k = 0;
    bool latin1 = true;
    for (size_t i = 0; i < len && latin1; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c < 0x80) { if (k < 256) tmp[k++] = c; }
        else if ((c == 0xc2 || c == 0xc3) && i + 1 < len) { if (k < 256) tmp[k++] = (uint8_t)((c & 3) << 6 | (s[i + 1] & 0x3f)); i++; }
        else latin1 = false;
    }
    if (latin1 && k <= 255) {
        buf_byte(b, ATOM_EXT);
        buf_u16(b, (uint16_t)k);
        buf_put(b, tmp, k);
    } else if (len <= 255) {
        buf_byte(b, SMALL_ATOM_UTF8_EXT);
        buf_byte(b, (uint8_t)len);
        buf_put(b, s, len);
    } else {
        buf_byte(b, ATOM_UTF8_EXT);
        buf_u16(b, (uint16_t)len);
        buf_put(b, s, len);
    }
}

static bool is_byte_list(const term *t)
{
    if (t->list.tail->type != TERM_NIL || t->list.n > 65535) return false;
    for (size_t i = 0; i < t->list.n; i++) {
        const term *e = t->list.items[i];
        if (e->type != TERM_INT || e->i < 0 || e->i > 255) return false;
    }
    return true;
}

void etf_encode_body(buf *b, const term *t)
{
    switch (t->type) {
    case TERM_INT: etf_encode_int(b, t->i); break;
    case TERM_BIG:
        if (t->big.n <= 255) { buf_byte(b, SMALL_BIG_EXT); buf_byte(b, (uint8_t)t->big.n); }
        else { buf_byte(b, LARGE_BIG_EXT); buf_u32(b, (uint32_t)t->big.n); }
        buf_byte(b, t->big.neg);
        buf_put(b, t->big.mag, t->big.n);
        break;
    case TERM_FLOAT: {
        uint64_t u;
        memcpy(&u, &t->f, 8);
        buf_byte(b, NEW_FLOAT_EXT);
        buf_u32(b, (uint32_t)(u >> 32));
        buf_u32(b, (uint32_t)u);
        break;
    }
    case TERM_ATOM: etf_encode_atom(b, t->atom.s, t->atom.len); break;
    case TERM_NIL: buf_byte(b, NIL_EXT); break;
    case TERM_LIST:
        if (is_byte_list(t)) {
            buf_byte(b, STRING_EXT);
            buf_u16(b, (uint16_t)t->list.n);
            for (size_t i = 0; i < t->list.n; i++) buf_byte(b, (uint8_t)t->list.items[i]->i);
            break;
        }
        buf_byte(b, LIST_EXT);
        buf_u32(b, (uint32_t)t->list.n);
        for (size_t i = 0; i < t->list.n; i++) etf_encode_body(b, t->list.items[i]);
        etf_encode_body(b, t->list.tail);
        break;
    case TERM_TUPLE:
        if (t->tuple.n <= 255) { buf_byte(b, SMALL_TUPLE_EXT); buf_byte(b, (uint8_t)t->tuple.n); }
        else { buf_byte(b, LARGE_TUPLE_EXT); buf_u32(b, (uint32_t)t->tuple.n); }
        for (size_t i = 0; i < t->tuple.n; i++) etf_encode_body(b, t->tuple.items[i]);
        break;
    case TERM_MAP:
        buf_byte(b, MAP_EXT);
        buf_u32(b, (uint32_t)t->map.n);
        for (size_t i = 0; i < 2 * t->map.n; i++) etf_encode_body(b, t->map.kv[i]);
        break;
    case TERM_BINARY:
        if (t->bin.bits == 8) { buf_byte(b, BINARY_EXT); buf_u32(b, (uint32_t)t->bin.len); }
        else { buf_byte(b, BIT_BINARY_EXT); buf_u32(b, (uint32_t)t->bin.len); buf_byte(b, t->bin.bits); }
        buf_put(b, t->bin.data, t->bin.len);
        break;
    case TERM_PID:
        buf_byte(b, NEW_PID_EXT);
        etf_encode_body(b, t->pid.node);
        buf_u32(b, t->pid.id);
        buf_u32(b, t->pid.serial);
        buf_u32(b, t->pid.creation);
        break;
    case TERM_PORT:
        if (t->port.id > UINT32_MAX) {
            buf_byte(b, V4_PORT_EXT);
            etf_encode_body(b, t->port.node);
            buf_u32(b, (uint32_t)(t->port.id >> 32));
            buf_u32(b, (uint32_t)t->port.id);
        } else {
            buf_byte(b, NEW_PORT_EXT);
            etf_encode_body(b, t->port.node);
            buf_u32(b, (uint32_t)t->port.id);
        }
        buf_u32(b, t->port.creation);
        break;
    case TERM_REF:
        buf_byte(b, NEWER_REFERENCE_EXT);
        buf_u16(b, t->ref.nids);
        etf_encode_body(b, t->ref.node);
        buf_u32(b, t->ref.creation);
        for (int i = 0; i < t->ref.nids; i++) buf_u32(b, t->ref.ids[i]);
        break;
    case TERM_EXPORT:
        buf_byte(b, EXPORT_EXT);
        etf_encode_body(b, t->exp.module);
        etf_encode_body(b, t->exp.function);
        etf_encode_int(b, t->exp.arity);
        break;
    case TERM_FUN:
        buf_put(b, t->fun.etf, t->fun.len);
        break;
    }
}

/* ---- walking without decoding ---- */

static uint32_t be32(const uint8_t *q) { return (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3]; }

/* The length of the atom term at q (tag included), or 0. */
static size_t atom_len(const uint8_t *q, const uint8_t *end)
{
    size_t left = (size_t)(end - q), len;
    if (left >= 3 && (q[0] == ATOM_EXT || q[0] == ATOM_UTF8_EXT)) len = 3 + ((size_t)q[1] << 8 | q[2]);
    else if (left >= 2 && (q[0] == SMALL_ATOM_EXT || q[0] == SMALL_ATOM_UTF8_EXT)) len = 2 + q[1];
    else return 0;
    return len <= left ? len : 0;
}

/* Walks the one term at the start of p: 1 with *used its length, 0 if
 * found stopped it, -1 if the bytes are not a term's shape. */
static int walk(const uint8_t *p, size_t n, bool (*found)(void *ud, const uint8_t *id, size_t len), void *ud, size_t *used)
{
    const uint8_t *q = p, *end = p + n;
    uint64_t left[ETF_MAX_DEPTH + 1];   /* terms still to walk at each level */
    int depth = 0;
    left[0] = 1;
    while (depth >= 0) {
        if (!left[depth]) { depth--; continue; }
        left[depth]--;
        if (q >= end) return -1;
        const uint8_t *start = q;
        size_t avail = (size_t)(end - q) - 1, skip = 0, a;
        uint64_t children = 0;
        uint8_t tag = *q++;
        switch (tag) {
        case SMALL_INTEGER_EXT: skip = 1; break;
        case INTEGER_EXT: skip = 4; break;
        case NEW_FLOAT_EXT: skip = 8; break;
        case FLOAT_EXT: skip = 31; break;
        case NIL_EXT: break;
        case ATOM_EXT: case ATOM_UTF8_EXT: case STRING_EXT:
            if (avail < 2) return -1;
            skip = 2 + ((size_t)q[0] << 8 | q[1]);
            break;
        case SMALL_ATOM_EXT: case SMALL_ATOM_UTF8_EXT: if (avail < 1) return -1; skip = 1 + (size_t)q[0]; break;
        case SMALL_BIG_EXT: if (avail < 1) return -1; skip = 2 + (size_t)q[0]; break;
        case LARGE_BIG_EXT: if (avail < 4) return -1; skip = 5 + (size_t)be32(q); break;
        case BINARY_EXT: if (avail < 4) return -1; skip = 4 + (size_t)be32(q); break;
        case BIT_BINARY_EXT: if (avail < 5) return -1; skip = 5 + (size_t)be32(q); break;
        case SMALL_TUPLE_EXT: if (avail < 1) return -1; children = q[0]; skip = 1; break;
        case LARGE_TUPLE_EXT: if (avail < 4) return -1; children = be32(q); skip = 4; break;
        case LIST_EXT: if (avail < 4) return -1; children = (uint64_t)be32(q) + 1; skip = 4; break;   /* and the tail */
        case MAP_EXT: if (avail < 4) return -1; children = 2 * (uint64_t)be32(q); skip = 4; break;
        case EXPORT_EXT: children = 3; break;
        case NEW_FUN_EXT: if (avail < 4) return -1; skip = (size_t)be32(q); break;    /* Size counts itself */
        case NEW_PID_EXT: case PID_EXT:
            if (!(a = atom_len(q, end))) return -1;
            skip = a + 8 + (tag == NEW_PID_EXT ? 4 : 1);
            break;
        case V4_PORT_EXT: case NEW_PORT_EXT: case PORT_EXT:
            if (!(a = atom_len(q, end))) return -1;
            skip = a + (tag == V4_PORT_EXT ? 12 : tag == NEW_PORT_EXT ? 8 : 5);
            break;
        case REFERENCE_EXT:
            if (!(a = atom_len(q, end))) return -1;
            skip = a + 5;
            break;
        case NEW_REFERENCE_EXT: case NEWER_REFERENCE_EXT: {
            if (avail < 2) return -1;
            size_t words = (size_t)q[0] << 8 | q[1];
            if (words < 1 || words > 5 || !(a = atom_len(q + 2, end))) return -1;
            skip = 2 + a + (tag == NEWER_REFERENCE_EXT ? 4 : 1) + 4 * words;
            break;
        }
        default: return -1;
        }
        if (skip > avail) return -1;
        q += skip;
        bool id = tag == NEW_PID_EXT || tag == PID_EXT || tag == V4_PORT_EXT || tag == NEW_PORT_EXT || tag == PORT_EXT ||
                  tag == REFERENCE_EXT || tag == NEW_REFERENCE_EXT || tag == NEWER_REFERENCE_EXT;
        if (id && found && !found(ud, start, (size_t)(q - start))) return 0;
        if (children) {
            if (depth == ETF_MAX_DEPTH) return -1;
            left[++depth] = children;
        }
    }
    *used = (size_t)(q - p);
    return 1;
}

size_t etf_atom_is(const uint8_t *p, size_t n, const char *name)
{
    size_t len = atom_len(p, p + n), k = strlen(name);
    size_t head = len && (p[0] == ATOM_EXT || p[0] == ATOM_UTF8_EXT) ? 3 : 2;
    return len && len == head + k && !memcmp(p + head, name, k) ? len : 0;
}

size_t etf_uint_at(const uint8_t *p, size_t n, uint64_t *v)
{
    if (n >= 2 && p[0] == SMALL_INTEGER_EXT) { *v = p[1]; return 2; }
    if (n >= 5 && p[0] == INTEGER_EXT) {
        int32_t i = (int32_t)be32(p + 1);
        if (i < 0) return 0;
        *v = (uint64_t)i;
        return 5;
    }
    if (n >= 3 && p[0] == SMALL_BIG_EXT && p[1] <= 8 && p[2] == 0 && n >= 3 + (size_t)p[1]) {
        uint64_t x = 0;
        for (int i = p[1]; i > 0; i--) x = x << 8 | p[2 + i];
        *v = x;
        return 3 + (size_t)p[1];
    }
    return 0;
}

bool etf_walk_ids(const uint8_t *p, size_t n, bool (*found)(void *ud, const uint8_t *id, size_t len), void *ud)
{
    size_t used;
    int r = walk(p, n, found, ud, &used);
    return r == 0 || (r == 1 && used == n);
}

size_t etf_prefix_len(const uint8_t *p, size_t n)
{
    size_t used;
    return walk(p, n, NULL, NULL, &used) == 1 ? used : 0;
}

void etf_encode(buf *b, const term *t)
{
    buf_byte(b, ETF_VERSION);
    etf_encode_body(b, t);
}

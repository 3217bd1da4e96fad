/*
 * term_json.c — the JSON <-> term mapping (term_json.h), both ways; the
 * JSON text itself is json.c's.
 */
#include "term_json.h"
#include "base64.h"
#include "etf.h"
#include "utf8.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- JSON -> term ---- */

typedef struct { arena *a; const term_ctx *ctx; char *err; size_t errlen; int depth; } jconv;

static term *jerr(jconv *c, const char *path, const char *fmt, const char *detail)
{
    if (!c->err[0]) {
        int n = snprintf(c->err, c->errlen, "%s: ", path);
        if (n > 0 && (size_t)n < c->errlen) snprintf(c->err + n, c->errlen - (size_t)n, fmt, detail ? detail : "");
    }
    return NULL;
}

static term *conv(jconv *c, const cJSON *j, const char *path);

static term *conv_number(jconv *c, const cJSON *j, const char *path)
{
    const char *s = j->valuestring;
    if (!s) return jerr(c, path, "number without text%s", NULL);
    if (strpbrk(s, ".eE")) {
        double d = strtod(s, NULL);
        if (d - d != 0) return jerr(c, path, "float out of range: %s", s);
        return term_float(c->a, d);
    }
    bool neg = s[0] == '-';
    size_t n = strlen(s + neg);
    if (n > TERM_MAX_DIGITS) return jerr(c, path, "integer too long (100000 digits at most)%s", NULL);
    return term_big_from_decimal(c->a, s + neg, n, neg, 10);
}

static term *conv_string(jconv *c, const cJSON *j, const char *path)
{
    (void)path;
    return term_binary(c->a, j->valuestring, json_strlen(j));
}

static bool is_special(const char *k)
{
    return !strcmp(k, "$atom") || !strcmp(k, "$tuple") || !strcmp(k, "$charlist") ||
           !strcmp(k, "$term") || !strcmp(k, "$etf") || !strcmp(k, "$map") || !strcmp(k, "$int") || !strcmp(k, "$float");
}

static term *conv_array_items(jconv *c, const cJSON *arr, const char *path, size_t *n, term ***items)
{
    *n = (size_t)cJSON_GetArraySize(arr);
    *items = arena_alloc(c->a, (*n ? *n : 1) * sizeof(term *));
    if (!*items) return jerr(c, path, "out of memory%s", NULL);
    size_t i = 0;
    char sub[256];
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        snprintf(sub, sizeof sub, "%s[%zu]", path, i);
        if (!((*items)[i] = conv(c, e, sub))) return NULL;
    }
    return (term *)1;
}

static term *conv_special(jconv *c, const cJSON *j, const char *key, const cJSON *v, const char *path)
{
    char sub[256];
    snprintf(sub, sizeof sub, "%s.%s", path, key);
    if (!strcmp(key, "$atom")) {
        if (!cJSON_IsString(v)) return jerr(c, sub, "must be a string%s", NULL);
        size_t len = json_strlen(v);
        long chars = utf8_count((const uint8_t *)v->valuestring, len, NULL);
        if (chars < 0) return jerr(c, sub, "not UTF-8%s", NULL);
        if (chars > 255) return jerr(c, sub, "atom longer than 255 characters%s", NULL);
        return term_atom(c->a, v->valuestring, len);
    }
    if (!strcmp(key, "$int")) {
        /* Decimal text (or a number), for integers past 2^53 that JSON
         * tools would round. */
        if (cJSON_IsNumber(v) && !strpbrk(v->valuestring, ".eE")) return conv_number(c, v, sub);
        if (!cJSON_IsString(v)) return jerr(c, sub, "must be a string of decimal digits%s", NULL);
        const char *d = v->valuestring;
        size_t len = json_strlen(v);
        bool neg = len && d[0] == '-';
        size_t digits = strspn(d + neg, "0123456789");
        if (!digits || neg + digits != len) return jerr(c, sub, "must be a string of decimal digits, as \"-123\"%s", NULL);
        if (digits > TERM_MAX_DIGITS) return jerr(c, sub, "integer too long (100000 digits at most)%s", NULL);
        return term_big_from_decimal(c->a, d + neg, digits, neg, 10);
    }
    if (!strcmp(key, "$float")) {
        /* A float's text ("3.0", "-0.0", "1.0e300") or a number: the form of
         * floats that JSON tools would turn into integers. */
        if (cJSON_IsNumber(v)) {
            double d = strtod(v->valuestring, NULL);
            if (d - d != 0) return jerr(c, sub, "float out of range: %s", v->valuestring);
            return term_float(c->a, d);
        }
        if (!cJSON_IsString(v)) return jerr(c, sub, "must be a float's text, as \"3.0\"%s", NULL);
        const char *d = v->valuestring;
        size_t len = json_strlen(v);
        char *end = NULL;
        bool ok = len && strspn(d, "0123456789.eE+-") == len && (d[0] == '-' || (d[0] >= '0' && d[0] <= '9'));
        double f = ok ? strtod(d, &end) : 0;
        if (!ok || end != d + len) return jerr(c, sub, "must be a float's text, as \"3.0\" or \"-1.5e300\"%s", NULL);
        if (f - f != 0) return jerr(c, sub, "float out of range: %s", d);
        return term_float(c->a, f);
    }
    if (!strcmp(key, "$tuple")) {
        if (!cJSON_IsArray(v)) return jerr(c, sub, "must be an array%s", NULL);
        size_t n; term **items;
        if (!conv_array_items(c, v, sub, &n, &items)) return NULL;
        term *t = term_tuple(c->a, 0);
        if (t) { t->tuple.items = items; t->tuple.n = n; }
        return t;
    }
    if (!strcmp(key, "$charlist")) {
        if (!cJSON_IsString(v)) return jerr(c, sub, "must be a string%s", NULL);
        const uint8_t *s = (const uint8_t *)v->valuestring;
        size_t len = json_strlen(v);
        long n = utf8_count(s, len, NULL);
        uint32_t cp = 0;
        if (n < 0) return jerr(c, sub, "not UTF-8%s", NULL);
        term *t = n ? term_list(c->a, (size_t)n, NULL) : term_nil(c->a);
        if (!t) return jerr(c, sub, "out of memory%s", NULL);
        for (size_t i = 0, k, e = 0; i < len; i += k, e++) {
            k = utf8_next(s + i, len - i, &cp);
            if (!(t->list.items[e] = term_int(c->a, cp))) return jerr(c, sub, "out of memory%s", NULL);
        }
        return t;
    }
    if (!strcmp(key, "$term")) {
        if (!cJSON_IsString(v)) return jerr(c, sub, "must be a string%s", NULL);
        term_text_error te;
        term *t = term_parse(c->a, v->valuestring, json_strlen(v), c->ctx, &te);
        if (!t) {
            char detail[160];
            snprintf(detail, sizeof detail, "%s at offset %zu", te.msg, te.pos);
            return jerr(c, sub, "bad Erlang term text: %s", detail);
        }
        return t;
    }
    if (!strcmp(key, "$etf")) {
        if (!cJSON_IsString(v)) return jerr(c, sub, "must be a string%s", NULL);
        buf raw = {0};
        if (!base64_decode(&raw, v->valuestring, json_strlen(v))) {
            buf_free(&raw);
            return jerr(c, sub, "not valid base64%s", NULL);
        }
        etf_error ee = {0};
        term *t = etf_decode(c->a, raw.p, raw.len, &ee);
        buf_free(&raw);
        if (!t) {
            char detail[160];
            snprintf(detail, sizeof detail, "%s at byte %zu", ee.msg, ee.pos);
            return jerr(c, sub, "bad external term format: %s", detail);
        }
        return t;
    }
    /* $map: [[K, V], ...] */
    if (!cJSON_IsArray(v)) return jerr(c, sub, "must be an array of [key, value] pairs%s", NULL);
    size_t n = (size_t)cJSON_GetArraySize(v), i = 0;
    term *m = term_map(c->a, n);
    if (!m) return jerr(c, sub, "out of memory%s", NULL);
    char pair[300];
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        snprintf(pair, sizeof pair, "%s[%zu]", sub, i);
        if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2) return jerr(c, pair, "must be a [key, value] pair%s", NULL);
        char kp[320], vp[320];
        snprintf(kp, sizeof kp, "%s[0]", pair);
        snprintf(vp, sizeof vp, "%s[1]", pair);
        if (!(m->map.kv[2 * i] = conv(c, e->child, kp)) || !(m->map.kv[2 * i + 1] = conv(c, e->child->next, vp)))
            return NULL;
    }
    if (!term_map_sort(m)) return jerr(c, sub, "duplicate key%s", NULL);
    (void)j;
    return m;
}

static term *conv(jconv *c, const cJSON *j, const char *path)
{
    if (++c->depth > JSON_MAX_DEPTH) return jerr(c, path, "nested deeper than " TERM_STR(JSON_MAX_DEPTH) " levels%s", NULL);
    term *t = NULL;
    if (cJSON_IsNumber(j)) t = conv_number(c, j, path);
    else if (cJSON_IsString(j)) t = conv_string(c, j, path);
    else if (cJSON_IsTrue(j)) t = term_atomz(c->a, "true");
    else if (cJSON_IsFalse(j)) t = term_atomz(c->a, "false");
    else if (cJSON_IsNull(j)) t = term_atomz(c->a, "null");
    else if (cJSON_IsArray(j)) {
        size_t n; term **items;
        if (!conv_array_items(c, j, path, &n, &items)) return NULL;
        if (!n) t = term_nil(c->a);
        else if ((t = term_list(c->a, 0, NULL))) { t->list.items = items; t->list.n = n; }
    } else if (cJSON_IsObject(j)) {
        const cJSON *first = j->child;
        int n = cJSON_GetArraySize(j);
        const cJSON *etf = cJSON_GetObjectItemCaseSensitive(j, "$etf");
        if (n == 1 && is_special(first->string)) t = conv_special(c, j, first->string, first, path);
        else if (n == 2 && etf && cJSON_GetObjectItemCaseSensitive(j, "$term")) t = conv_special(c, j, "$etf", etf, path);
        else {
            term *m = term_map(c->a, (size_t)n);
            if (!m) return jerr(c, path, "out of memory%s", NULL);
            size_t i = 0;
            char sub[300];
            for (const cJSON *e = j->child; e; e = e->next, i++) {
                snprintf(sub, sizeof sub, "%s.%s", path, e->string);
                if (!(m->map.kv[2 * i] = term_binary(c->a, e->string, strlen(e->string))) ||
                    !(m->map.kv[2 * i + 1] = conv(c, e, sub))) return c->err[0] ? NULL : jerr(c, sub, "out of memory%s", NULL);
            }
            if (!term_map_sort(m)) return jerr(c, path, "object has a duplicate key%s", NULL);
            t = m;
        }
    } else {
        return jerr(c, path, "unsupported JSON value%s", NULL);
    }
    c->depth--;
    if (!t && !c->err[0]) jerr(c, path, "out of memory%s", NULL);
    return t;
}

term *term_from_json(arena *a, const cJSON *j, const term_ctx *ctx, const char *path, char *err, size_t errlen)
{
    jconv c = { a, ctx, err, errlen, 0 };
    err[0] = 0;
    return conv(&c, j, path);
}

/* ---- term -> JSON ---- */

#define JSON_SAFE_INT 9007199254740991LL   /* 2^53 - 1: every integer up to it is a double */

static bool unicode_printable(uint32_t c)
{
    return (c >= 32 && c < 127) || (c >= 160 && c <= 0x10ffff && !(c >= 0xd800 && c <= 0xdfff) && c != 0xfffe && c != 0xffff) ||
           (c >= 8 && c <= 13) || c == 27;
}

/* A C string's text: what cJSON would have kept of it. */
static void put_cstring(buf *b, buf *text)
{
    char *s = buf_cstr(text);
    if (s) json_put_string(b, s, strlen(s));
    else b->oom = true;
}

static void put_with_etf(buf *b, const term *t, bool include_text, const term_names *names)
{
    buf text = {0}, etf = {0}, b64 = {0};
    buf_byte(b, '{');
    if (include_text) {
        term_print_names(&text, t, names);
        buf_str(b, "\"$term\":");
        put_cstring(b, &text);
        buf_byte(b, ',');
    }
    etf_encode(&etf, t);
    base64_encode(&b64, etf.p, etf.len);
    buf_str(b, "\"$etf\":");
    put_cstring(b, &b64);
    if (etf.oom || text.oom) b->oom = true;
    buf_byte(b, '}');
    buf_free(&text); buf_free(&etf); buf_free(&b64);
}

static void put_int(buf *b, int64_t i)
{
    if (i < 0) buf_byte(b, '-');
    buf_dec(b, i < 0 ? -(uint64_t)i : (uint64_t)i);
}

/* A one-key object whose value is a string, as {"$int":"123"}: the key
 * and the string's opening quote; the string's text follows, then the
 * closing. */
static void put_tag_open(buf *b, const char *tag)
{
    buf_str(b, "{\"");
    buf_str(b, tag);
    buf_str(b, "\":\"");
}

static void put_tag_close(buf *b) { buf_str(b, "\"}"); }

static bool object_keys_ok(const term *t)
{
    for (size_t i = 0; i < t->map.n; i++) {
        const term *k = t->map.kv[2 * i];
        if (k->type != TERM_BINARY || k->bin.bits != 8 || !utf8_valid(k->bin.data, k->bin.len) ||
            memchr(k->bin.data, 0, k->bin.len)) return false;
    }
    /* A one-key object whose key is a special form would read back as that form. */
    if (t->map.n == 1) {
        const term *k = t->map.kv[0];
        char key[16];
        if (k->bin.len < sizeof key) {
            memcpy(key, k->bin.data, k->bin.len);
            key[k->bin.len] = 0;
            if (is_special(key)) return false;
        }
    }
    if (t->map.n == 2) {
        bool etf = false, text = false;
        for (size_t i = 0; i < 2; i++) {
            const term *k = t->map.kv[2 * i];
            etf |= k->bin.len == 4 && !memcmp(k->bin.data, "$etf", 4);
            text |= k->bin.len == 5 && !memcmp(k->bin.data, "$term", 5);
        }
        if (etf && text) return false;
    }
    return true;
}

static void put_term(buf *b, const term *t, const term_names *names);

static void put_items(buf *b, term *const *items, size_t n, const term_names *names)
{
    buf_byte(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i) buf_byte(b, ',');
        put_term(b, items[i], names);
    }
    buf_byte(b, ']');
}

static void put_term(buf *b, const term *t, const term_names *names)
{
    switch (t->type) {
    /* A bare JSON number only where JSON tools read it back as the same
     * term: JavaScript and jq hold numbers as doubles, so integers past
     * 2^53 are tagged $int, and floats they would print as integers (3.0,
     * -0.0, 1.0e300) $float. */
    case TERM_INT: {
        bool tagged = t->i > JSON_SAFE_INT || t->i < -JSON_SAFE_INT;
        if (tagged) put_tag_open(b, "$int");
        put_int(b, t->i);
        if (tagged) put_tag_close(b);
        return;
    }
    case TERM_BIG: {
        arena *a = arena_new();
        char *s = a ? term_integer_to_decimal(a, t) : NULL;
        if (s) { put_tag_open(b, "$int"); buf_str(b, s); put_tag_close(b); }
        else b->oom = true;
        arena_free(a);
        return;
    }
    case TERM_FLOAT: {
        /* 2^52 on, every float is an integer. */
        bool tagged = t->f >= 4503599627370496.0 || t->f <= -4503599627370496.0 || t->f == (double)(int64_t)t->f;
        if (tagged) put_tag_open(b, "$float");
        term_print_float(b, t->f);
        if (tagged) put_tag_close(b);
        return;
    }
    case TERM_ATOM:
        if (term_is_atom(t, "true")) buf_str(b, "true");
        else if (term_is_atom(t, "false")) buf_str(b, "false");
        else if (term_is_atom(t, "null")) buf_str(b, "null");
        else if (memchr(t->atom.s, 0, t->atom.len)) put_with_etf(b, t, true, names);   /* a C string would cut it */
        else {
            put_tag_open(b, "$atom");
            json_put_chars(b, t->atom.s, t->atom.len);
            put_tag_close(b);
        }
        return;
    case TERM_BINARY:
        if (t->bin.bits != 8) put_with_etf(b, t, true, names);
        else if (utf8_valid(t->bin.data, t->bin.len) && !memchr(t->bin.data, 0, t->bin.len))
            json_put_string(b, (const char *)t->bin.data, t->bin.len);
        else put_with_etf(b, t, false, names);
        return;
    case TERM_NIL:
        buf_str(b, "[]");
        return;
    case TERM_LIST: {
        if (t->list.tail->type != TERM_NIL) { put_with_etf(b, t, true, names); return; }
        bool printable = true;
        for (size_t i = 0; i < t->list.n && printable; i++) {
            const term *e = t->list.items[i];
            printable = e->type == TERM_INT && e->i >= 0 && e->i <= 0x10ffff && e->i != 0 && unicode_printable((uint32_t)e->i);
        }
        if (!printable) { put_items(b, t->list.items, t->list.n, names); return; }
        put_tag_open(b, "$charlist");
        for (size_t i = 0; i < t->list.n; i++) {
            char u[4];
            json_put_chars(b, u, utf8_put((uint8_t *)u, (uint32_t)t->list.items[i]->i));
        }
        put_tag_close(b);
        return;
    }
    case TERM_TUPLE:
        buf_str(b, "{\"$tuple\":");
        put_items(b, t->tuple.items, t->tuple.n, names);
        buf_byte(b, '}');
        return;
    case TERM_MAP: {
        bool object = object_keys_ok(t);
        buf_str(b, object ? "{" : "{\"$map\":[");
        for (size_t i = 0; i < t->map.n; i++) {
            const term *k = t->map.kv[2 * i];
            if (i) buf_byte(b, ',');
            if (object) {
                json_put_string(b, (const char *)k->bin.data, k->bin.len);
                buf_byte(b, ':');
                put_term(b, t->map.kv[2 * i + 1], names);
            } else {
                put_items(b, t->map.kv + 2 * i, 2, names);
            }
        }
        buf_str(b, object ? "}" : "]}");
        return;
    }
    case TERM_PID: case TERM_PORT: case TERM_REF: case TERM_FUN: case TERM_EXPORT:
        put_with_etf(b, t, true, names);
        return;
    }
}

bool term_json_print(buf *b, const term *t, const term_names *names)
{
    put_term(b, t, names);
    return !b->oom;
}

cJSON *term_to_json_names(const term *t, const term_names *names)
{
    buf b = {0};
    put_term(&b, t, names);
    char *s = buf_cstr(&b);
    cJSON *j = s ? cJSON_CreateRaw(s) : NULL;
    buf_free(&b);
    return j;
}

cJSON *term_to_json(const term *t) { return term_to_json_names(t, NULL); }

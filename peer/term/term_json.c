/*
 * term_json.c — JSON <-> term mapping.
 */
#include "term_json.h"
#include "base64.h"
#include "etf.h"
#include "utf8.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parsing with exact numbers ---- */

/* Walks the JSON text in document order and hands each number literal and
 * string to the next item of the tree, which cJSON built in the same order:
 * a number gets its literal text in valuestring, a string its decoded length
 * in valueint (cJSON's C strings end at the first NUL; the bytes after an
 * escaped \u0000 are there, the length is not). */
typedef struct { const char *p, *end; } scan;

enum { TOK_END, TOK_STRING, TOK_NUMBER };

static int next_token(scan *s, const char **start, size_t *len)
{
    while (s->p < s->end) {
        char c = *s->p;
        if (c == '"') {
            *start = ++s->p;
            for (; s->p < s->end && *s->p != '"'; s->p++)
                if (*s->p == '\\') s->p++;
            *len = (size_t)(s->p - *start);
            s->p++;
            return TOK_STRING;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            *start = s->p;
            while (s->p < s->end && (strchr("+-.eE", *s->p) || (*s->p >= '0' && *s->p <= '9'))) s->p++;
            *len = (size_t)(s->p - *start);
            return TOK_NUMBER;
        }
        s->p++;
    }
    return TOK_END;
}

static unsigned hex4(const char *p)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v = v << 4 | (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* The decoded length of a string literal's body cJSON accepted, in bytes,
 * as cJSON decodes it; *nul is set if it holds a NUL. */
static size_t decoded_length(const char *p, size_t n, bool *nul)
{
    size_t len = 0;
    *nul = false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == 0) *nul = true;
        if (p[i] != '\\') { len++; continue; }
        if (++i < n && p[i] != 'u') { len++; continue; }
        if (i + 4 >= n) break;
        unsigned u = hex4(p + i + 1);
        i += 4;
        if (u >= 0xd800 && u <= 0xdbff) { len += 4; i += 6; }   /* and its low half */
        else { len += u < 0x80 ? 1 : u < 0x800 ? 2 : 3; if (!u) *nul = true; }
    }
    return len;
}

/* Where attach is in the document, for its errors: "args[2].$tuple[0]". */
typedef struct { char path[200]; size_t len; json_error *err; const char *text; } where;

/* Appends ".key" (60 bytes of it at most) or "[index]" to the path, cut
 * at its end; by hand, as it runs for every member of every body. */
static void where_push(where *w, const cJSON *item, size_t index, bool in_object, size_t *saved)
{
    *saved = w->len;
    char tmp[64], *t = tmp;
    if (in_object) {
        if (w->len) *t++ = '.';
        for (size_t i = 0; i < 60 && item->string[i]; i++) *t++ = item->string[i];
    } else {
        char digits[24];
        int d = 0;
        do digits[d++] = (char)('0' + index % 10); while ((index /= 10) && d < (int)sizeof digits);
        *t++ = '[';
        while (d) *t++ = digits[--d];
        *t++ = ']';
    }
    size_t n = (size_t)(t - tmp), room = sizeof w->path - 1 - w->len;
    if (n > room) n = room;
    memcpy(w->path + w->len, tmp, n);
    w->len += n;
    w->path[w->len] = 0;
}

static bool fail_at(where *w, const char *at, const char *fmt, const char *what)
{
    if (!w->err) return false;
    w->err->pos = (size_t)(at - w->text);
    snprintf(w->err->msg, sizeof w->err->msg, fmt, what);
    return false;
}

static int key_order(const void *x, const void *y)
{
    return strcmp((*(const cJSON *const *)x)->string, (*(const cJSON *const *)y)->string);
}

/* The first key that an object holds twice, or NULL: pairwise for a few
 * keys, sorted for many, so that a body of many keys costs n log n. */
static const char *duplicate_key(const cJSON *object)
{
    size_t n = 0;
    for (const cJSON *c = object->child; c; c = c->next) n++;
    if (n < 2) return NULL;
    if (n <= 16) {
        for (const cJSON *c = object->child; c; c = c->next)
            for (const cJSON *d = c->next; d; d = d->next)
                if (!strcmp(c->string, d->string)) return c->string;
        return NULL;
    }
    const cJSON **keys = malloc(n * sizeof *keys);
    if (!keys) return NULL;
    size_t i = 0;
    for (const cJSON *c = object->child; c; c = c->next) keys[i++] = c;
    qsort(keys, n, sizeof *keys, key_order);
    const char *dup = NULL;
    for (i = 1; i < n && !dup; i++)
        if (!strcmp(keys[i - 1]->string, keys[i]->string)) dup = keys[i]->string;
    free(keys);
    return dup;
}

static bool attach(cJSON *item, scan *s, bool in_object, bool top, where *w)
{
    const char *start;
    size_t len, bad, index = 0;
    bool nul;
    for (; item; item = item->next, index++) {
        if (in_object) {
            if (next_token(s, &start, &len) != TOK_STRING) return false;
            decoded_length(start, len, &nul);
            if (nul) return fail_at(w, start, "an object key holds a NUL (\\u0000)%s", "");
            if (utf8_count((const uint8_t *)start, len, &bad) < 0)
                return fail_at(w, start + bad, "an object key is not UTF-8%s", "");
        }
        size_t saved = w->len;
        if (!top) where_push(w, item, index, in_object, &saved);
        if (cJSON_IsNumber(item)) {
            if (next_token(s, &start, &len) != TOK_NUMBER) return false;
            if (!(item->valuestring = malloc(len + 1))) return fail_at(w, start, "out of memory%s", "");
            memcpy(item->valuestring, start, len);
            item->valuestring[len] = 0;
        } else if (cJSON_IsString(item)) {
            if (next_token(s, &start, &len) != TOK_STRING) return false;
            /* Text must be UTF-8; bytes that are not go as {"$etf": ...} or base64. */
            if (utf8_count((const uint8_t *)start, len, &bad) < 0)
                return fail_at(w, start + bad, "%s: a string that is not UTF-8 (bytes go as {\"$etf\": ...} or base64)", w->path);
            size_t n = decoded_length(start, len, &nul);
            if (n > INT_MAX) return fail_at(w, start, "%s: string too long", w->path);
            item->valueint = (int)n;
        }
        if (cJSON_IsObject(item)) {
            const char *dup = duplicate_key(item);
            if (dup) {
                char m[300];
                snprintf(m, sizeof m, "%.150s%s\"%.100s\"", w->path, w->len ? ": the key " : "the key ", dup);
                /* At the object's brace: no string lies between the last token and it. */
                const char *brace = memchr(s->p, '{', (size_t)(s->end - s->p));
                return fail_at(w, brace ? brace : s->p, "%s is given twice", m);
            }
        }
        if (item->child && !attach(item->child, s, cJSON_IsObject(item), false, w)) return false;
        w->len = saved;
        w->path[saved] = 0;
    }
    return true;
}

size_t json_strlen(const cJSON *j)
{
    size_t n = strlen(j->valuestring);
    return j->valueint > 0 && (size_t)j->valueint > n ? (size_t)j->valueint : n;
}

bool json_has_nul(const cJSON *j)
{
    return json_strlen(j) != strlen(j->valuestring);
}

/* Where the text first nests deeper than max, or len if it never does. */
static size_t too_deep(const char *text, size_t len, size_t max)
{
    size_t depth = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '"') {
            for (i++; i < len && text[i] != '"'; i++)
                if (text[i] == '\\') i++;
        } else if (c == '[' || c == '{') {
            if (++depth > max) return i;
        } else if ((c == ']' || c == '}') && depth) {
            depth--;
        }
    }
    return len;
}

cJSON *json_parse(const char *text, size_t len, json_error *err)
{
    where w = { .err = err, .text = text };
    /* Bounded before cJSON recurses: deep nesting is refused cheaply. */
    size_t deep = too_deep(text, len, JSON_MAX_DEPTH);
    if (deep < len) {
        char m[64];
        snprintf(m, sizeof m, "%d", JSON_MAX_DEPTH);
        fail_at(&w, text + deep, "arrays and objects nested deeper than %s", m);
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!root) {
        fail_at(&w, end ? end : text, "not valid JSON%s", "");
        return NULL;
    }
    /* Only white space may follow the value. */
    for (const char *p = end; p < text + len; p++)
        if (!strchr(" \t\r\n", *p) || !*p) {
            cJSON_Delete(root);
            fail_at(&w, p, "not valid JSON: more after the value%s", "");
            return NULL;
        }
    scan s = { text, text + len };
    if (!attach(root, &s, false, true, &w)) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

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

cJSON *json_text(const char *s, size_t n)
{
    buf b = {0};
    buf_byte(&b, '"');
    for (size_t i = 0, k; i < n; i += k) {
        uint32_t cp;
        k = utf8_next((const uint8_t *)s + i, n - i, &cp);
        if (!k) { buf_str(&b, "\\ufffd"); k = 1; continue; }
        if (cp == '"' || cp == '\\') { buf_byte(&b, '\\'); buf_byte(&b, (uint8_t)cp); }
        else if (cp < 0x20 || cp == 0x7f) buf_printf(&b, "\\u%04x", cp);
        else buf_put(&b, s + i, k);
    }
    buf_byte(&b, '"');
    char *text = buf_cstr(&b);
    cJSON *j = text ? cJSON_CreateRaw(text) : NULL;
    buf_free(&b);
    return j;
}

static bool unicode_printable(uint32_t c)
{
    return (c >= 32 && c < 127) || (c >= 160 && c <= 0x10ffff && !(c >= 0xd800 && c <= 0xdfff) && c != 0xfffe && c != 0xffff) ||
           (c >= 8 && c <= 13) || c == 27;
}

/* One byte of a string that JSON must escape, as cJSON escapes it. */
static void put_escape(buf *b, uint8_t c)
{
    buf_byte(b, '\\');
    switch (c) {
    case '"': case '\\': buf_byte(b, c); break;
    case '\b': buf_byte(b, 'b'); break;
    case '\f': buf_byte(b, 'f'); break;
    case '\n': buf_byte(b, 'n'); break;
    case '\r': buf_byte(b, 'r'); break;
    case '\t': buf_byte(b, 't'); break;
    default: buf_str(b, "u00"); buf_hex(b, c, 2);
    }
}

static bool must_escape(uint8_t c) { return c < 32 || c == '"' || c == '\\'; }

void json_put_string(buf *b, const char *s, size_t n)
{
    buf_byte(b, '"');
    size_t from = 0;
    for (size_t i = 0; i < n; i++)
        if (must_escape((uint8_t)s[i])) {
            buf_put(b, s + from, i - from);
            put_escape(b, (uint8_t)s[i]);
            from = i + 1;
        }
    buf_put(b, s + from, n - from);
    buf_byte(b, '"');
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
    case TERM_INT:
        if (t->i > JSON_SAFE_INT || t->i < -JSON_SAFE_INT) {
            buf_str(b, "{\"$int\":\"");
            put_int(b, t->i);
            buf_str(b, "\"}");
        } else {
            put_int(b, t->i);
        }
        return;
    case TERM_BIG: {
        arena *a = arena_new();
        char *s = a ? term_integer_to_decimal(a, t) : NULL;
        if (s) { buf_str(b, "{\"$int\":\""); buf_str(b, s); buf_str(b, "\"}"); }
        else b->oom = true;
        arena_free(a);
        return;
    }
    case TERM_FLOAT:
        if (t->f >= 4503599627370496.0 || t->f <= -4503599627370496.0 || t->f == (double)(int64_t)t->f) {   /* 2^52 on: integers */
            buf_str(b, "{\"$float\":\"");
            term_print_float(b, t->f);
            buf_str(b, "\"}");
        } else {
            term_print_float(b, t->f);
        }
        return;
    case TERM_ATOM:
        if (term_is_atom(t, "true")) buf_str(b, "true");
        else if (term_is_atom(t, "false")) buf_str(b, "false");
        else if (term_is_atom(t, "null")) buf_str(b, "null");
        else if (memchr(t->atom.s, 0, t->atom.len)) put_with_etf(b, t, true, names);   /* a C string would cut it */
        else {
            buf_str(b, "{\"$atom\":");
            json_put_string(b, t->atom.s, t->atom.len);
            buf_byte(b, '}');
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
        buf_str(b, "{\"$charlist\":\"");
        for (size_t i = 0; i < t->list.n; i++) {
            uint32_t cp = (uint32_t)t->list.items[i]->i;
            uint8_t u[4];
            if (cp < 0x80 && must_escape((uint8_t)cp)) put_escape(b, (uint8_t)cp);
            else buf_put(b, u, utf8_put(u, cp));
        }
        buf_str(b, "\"}");
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

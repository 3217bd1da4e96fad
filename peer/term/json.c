/*
 * json.c — JSON text as peerd reads and writes it: strict parsing that
 * keeps every number's digits, and strings escaped as cJSON escapes them.
 * What the text means as an Erlang term is term_json.c's.
 */
#include "json.h"
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

/* ---- writing ---- */

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

void json_put_chars(buf *b, const char *s, size_t n)
{
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c >= 32 && c != '"' && c != '\\') continue;
        buf_put(b, s + from, i - from);
        put_escape(b, c);
        from = i + 1;
    }
    buf_put(b, s + from, n - from);
}

void json_put_string(buf *b, const char *s, size_t n)
{
    buf_byte(b, '"');
    json_put_chars(b, s, n);
    buf_byte(b, '"');
}

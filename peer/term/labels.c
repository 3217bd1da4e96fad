/*
 * labels.c — label syntax and selectors (labels.h).
 */
#include "labels.h"

#include <stdio.h>
#include <string.h>

static bool value_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

bool label_key_ok(const char *s, size_t n)
{
    if (n < 1 || n > LABEL_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!value_char(s[i]) && s[i] != '/') return false;
    return true;
}

bool label_value_ok(const char *s, size_t n)
{
    if (n > LABEL_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!value_char(s[i])) return false;
    return true;
}

const char *labels_get(char *const *labels, const char *key)
{
    size_t k = strlen(key);
    for (char *const *l = labels; l && *l; l++)
        if (!strncmp(*l, key, k) && (*l)[k] == '=') return *l + k + 1;
    return NULL;
}

static bool is_space(char c) { return c == ' ' || c == '\t'; }

static void trim(const char **t, size_t *n)
{
    while (*n && is_space(**t)) (*t)++, (*n)--;
    while (*n && is_space((*t)[*n - 1])) (*n)--;
}

/* Where parsing writes: the selector, its text's fill, the error. */
typedef struct {
    selector *s;
    size_t used;
    const char *req;            /* the requirement being read, for messages */
    size_t reqlen;
    char *err;
    size_t errlen;
} reader;

static bool fail(reader *r, const char *why)
{
    snprintf(r->err, r->errlen, "selector: \"%.*s\": %s", (int)(r->reqlen > 80 ? 80 : r->reqlen), r->req, why);
    return false;
}

static unsigned short keep(reader *r, const char *t, size_t n)
{
    size_t at = r->used;
    memcpy(r->s->text + at, t, n);
    r->s->text[at + n] = 0;
    r->used += n + 1;
    return (unsigned short)at;
}

static bool key_in(reader *r, sel_req *q, const char *t, size_t n)
{
    if (!label_key_ok(t, n)) {
        char why[120];
        snprintf(why, sizeof why, "a label key must be 1 to %d letters, digits, '-', '_', '.' or '/'", LABEL_MAX);
        return fail(r, why);
    }
    q->key = keep(r, t, n);
    return true;
}

static bool value_in(reader *r, sel_req *q, const char *t, size_t n)
{
    trim(&t, &n);
    if (!label_value_ok(t, n)) {
        char why[120];
        snprintf(why, sizeof why, "a label value must be 0 to %d letters, digits, '-', '_' or '.'", LABEL_MAX);
        return fail(r, why);
    }
    unsigned short at = keep(r, t, n);
    if (!q->nvalues++) q->values = at;
    return true;
}

/* key in (v1,v2), key notin (v1,v2): t[0..n) trimmed, with its '(' at open. */
static bool parse_set(reader *r, sel_req *q, const char *t, size_t n, size_t open)
{
    size_t k = 0;
    while (k < open && !is_space(t[k])) k++;
    const char *word = t + k;
    size_t wlen = open - k;
    trim(&word, &wlen);
    if (wlen == 2 && !memcmp(word, "in", 2)) q->op = SEL_IN;
    else if (wlen == 5 && !memcmp(word, "notin", 5)) q->op = SEL_NOTIN;
    else return fail(r, "a set is written key in (v1,v2) or key notin (v1,v2)");
    if (t[n - 1] != ')') return fail(r, "the set's ')' must end the requirement");
    if (!key_in(r, q, t, k)) return false;
    const char *v = t + open + 1, *end = t + n - 1;
    size_t vlen = (size_t)(end - v);
    trim(&v, &vlen);
    if (!vlen) return fail(r, "a set needs at least one value");
    for (;;) {
        const char *comma = memchr(v, ',', (size_t)(end - v));
        const char *stop = comma ? comma : end;
        if (!value_in(r, q, v, (size_t)(stop - v))) return false;
        if (!comma) return true;
        v = comma + 1;
    }
}

/* One requirement, t[0..n). */
static bool parse_req(reader *r, sel_req *q, const char *t, size_t n)
{
    trim(&t, &n);
    r->req = t;
    r->reqlen = n;
    *q = (sel_req){0};
    if (n == 1 && *t == '*') return fail(r, "\"*\" picks every peer, and stands alone");
    const char *open = memchr(t, '(', n);
    if (open) return parse_set(r, q, t, n, (size_t)(open - t));
    if (memchr(t, ')', n)) return fail(r, "a ')' without its '('");
    const char *eq = memchr(t, '=', n);
    if (!eq) {
        q->op = SEL_EXISTS;
        const char *key = t;
        size_t klen = n;
        if (n && *t == '!') { q->op = SEL_ABSENT; key++; klen--; }
        trim(&key, &klen);
        /* "job in a,b": a set without its parentheses. */
        const char *blank = memchr(key, ' ', klen);
        size_t tail = blank ? (size_t)(key + klen - blank) : 0;
        if (blank && ((tail >= 3 && !memcmp(blank, " in", 3) && (tail == 3 || blank[3] == ' ')) ||
                      (tail >= 6 && !memcmp(blank, " notin", 6) && (tail == 6 || blank[6] == ' '))))
            return fail(r, "a set is written key in (v1,v2) or key notin (v1,v2)");
        return key_in(r, q, key, klen);
    }
    q->op = SEL_IN;
    size_t klen = (size_t)(eq - t);
    const char *val = eq + 1;
    if (klen && t[klen - 1] == '!') { q->op = SEL_NOTIN; klen--; }
    else if (val < t + n && *val == '=') val++;
    const char *key = t;
    trim(&key, &klen);
    return key_in(r, q, key, klen) && value_in(r, q, val, (size_t)(t + n - val));
}

bool selector_parse(selector *s, const char *text, size_t n, char *err, size_t errlen)
{
    s->n = 0;
    s->all = false;
    reader r = { s, 0, text, n, err, errlen };
    const char *t = text;
    size_t len = n;
    trim(&t, &len);
    if (!len) {
        snprintf(err, errlen, "selector: empty, which would pick every peer; give \"*\" to pick every peer on purpose");
        return false;
    }
    if (n > SELECTOR_MAX) {
        snprintf(err, errlen, "selector: longer than %d bytes", SELECTOR_MAX);
        return false;
    }
    if (len == 1 && *t == '*') return s->all = true;
    /* Requirements end at commas outside parentheses. */
    size_t start = 0;
    int depth = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n) {
            if (text[i] == '(' && ++depth > 1) {
                r.req = text + start, r.reqlen = n - start;
                return fail(&r, "sets do not nest");
            }
            if (text[i] == ')') depth--;
            if (text[i] != ',' || depth > 0) continue;
        }
        if (depth > 0) {
            r.req = text + start, r.reqlen = n - start;
            return fail(&r, "a '(' without its ')'");
        }
        if (s->n == LABELS_MAX) {
            snprintf(err, errlen, "selector: more than %d requirements", LABELS_MAX);
            return false;
        }
        if (!parse_req(&r, &s->req[s->n++], text + start, i - start)) return false;
        depth = 0;
        start = i + 1;
    }
    return true;
}

static bool among(const selector *s, const sel_req *q, const char *v)
{
    const char *x = s->text + q->values;
    for (unsigned i = 0; i < q->nvalues; i++, x += strlen(x) + 1)
        if (!strcmp(x, v)) return true;
    return false;
}

bool selector_match(const selector *s, char *const *labels)
{
    if (s->all) return true;
    for (size_t i = 0; i < s->n; i++) {
        const sel_req *q = &s->req[i];
        const char *v = labels_get(labels, sel_key(s, q));
        bool ok = q->op == SEL_IN ? v && among(s, q, v)
                : q->op == SEL_NOTIN ? !v || !among(s, q, v)
                : q->op == SEL_EXISTS ? v != NULL
                : v == NULL;
        if (!ok) return false;
    }
    return true;
}

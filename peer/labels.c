/*
 * labels.c — label syntax and equality selectors (labels.h).
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

/* One requirement, text[0..n) with surrounding blanks trimmed. */
static bool parse_req(sel_req *r, const char *t, size_t n, char *err, size_t errlen)
{
    while (n && is_space(*t)) t++, n--;
    while (n && is_space(t[n - 1])) n--;
    const char *eq = memchr(t, '=', n);
    const char *key = t, *val = NULL;
    size_t klen = n, vlen = 0;
    if (!eq) {
        r->op = SEL_EXISTS;
        if (n && *t == '!') { r->op = SEL_ABSENT; key++; klen--; }
        while (klen && is_space(*key)) key++, klen--;
    } else {
        r->op = SEL_EQ;
        klen = (size_t)(eq - t);
        val = eq + 1;
        if (klen && t[klen - 1] == '!') { r->op = SEL_NE; klen--; }
        else if (val < t + n && *val == '=') val++;
        vlen = (size_t)(t + n - val);
        while (klen && is_space(key[klen - 1])) klen--;
        while (vlen && is_space(*val)) val++, vlen--;
    }
    if (!label_key_ok(key, klen)) {
        snprintf(err, errlen, "selector: \"%.*s\": a label key must be 1 to %d letters, digits, '-', '_', '.' or '/'",
                 (int)(n > 80 ? 80 : n), t, LABEL_MAX);
        return false;
    }
    if (val && !label_value_ok(val, vlen)) {
        snprintf(err, errlen, "selector: \"%.*s\": a label value must be 0 to %d letters, digits, '-', '_' or '.'",
                 (int)(n > 80 ? 80 : n), t, LABEL_MAX);
        return false;
    }
    memcpy(r->key, key, klen);
    r->key[klen] = 0;
    memcpy(r->value, val ? val : "", vlen);
    r->value[vlen] = 0;
    return true;
}

bool selector_parse(selector *s, const char *text, size_t n, char *err, size_t errlen)
{
    s->n = 0;
    size_t blank = 0;
    while (blank < n && is_space(text[blank])) blank++;
    if (blank == n) return true;
    for (size_t at = 0; at <= n;) {
        const char *comma = memchr(text + at, ',', n - at);
        size_t end = comma ? (size_t)(comma - text) : n;
        if (s->n == LABELS_MAX) {
            snprintf(err, errlen, "selector: more than %d requirements", LABELS_MAX);
            return false;
        }
        if (!parse_req(&s->req[s->n++], text + at, end - at, err, errlen)) return false;
        at = end + 1;
    }
    return true;
}

bool selector_match(const selector *s, char *const *labels)
{
    for (size_t i = 0; i < s->n; i++) {
        const sel_req *r = &s->req[i];
        const char *v = labels_get(labels, r->key);
        bool ok = r->op == SEL_EQ ? v && !strcmp(v, r->value)
                : r->op == SEL_NE ? !v || strcmp(v, r->value)
                : r->op == SEL_EXISTS ? v != NULL
                : v == NULL;
        if (!ok) return false;
    }
    return true;
}

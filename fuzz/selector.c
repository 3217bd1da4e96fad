/*
 * selector.c — libFuzzer target: label selectors as they come in a query
 * (?selector=) or a body, and labels as a start gives them. A selector that
 * parses must only name valid keys and values, and must select a label set
 * made to meet it (unless two of its requirements contradict).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "labels.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static selector s;
    char err[256];
    if (!selector_parse(&s, (const char *)data, size, err, sizeof err)) {
        if (!memchr(err, 0, sizeof err) || strncmp(err, "selector: ", 10)) abort();
        return 0;
    }
    if (s.all) return selector_match(&s, NULL) ? 0 : (abort(), 0);
    if (!s.n || s.n > LABELS_MAX) abort();
    char *labels[LABELS_MAX + 1] = {0}, mem[LABELS_MAX][2 * LABEL_MAX + 2];
    size_t n = 0;
    for (size_t i = 0; i < s.n; i++) {
        const sel_req *r = &s.req[i];
        const char *key = sel_key(&s, r), *v = s.text + r->values;
        if (!label_key_ok(key, strlen(key))) abort();
        for (unsigned k = 0; k < r->nvalues; k++, v += strlen(v) + 1)
            if (!label_value_ok(v, strlen(v))) abort();
        if ((r->op == SEL_IN || r->op == SEL_NOTIN) && !r->nvalues) abort();
        /* A label set that meets every requirement, unless two contradict. */
        if ((r->op == SEL_IN || r->op == SEL_EXISTS) && !labels_get(labels, key)) {
            strcpy(mem[n], key);
            strcat(mem[n], "=");
            strcat(mem[n], r->op == SEL_IN ? s.text + r->values : "");
            labels[n] = mem[n];
            n++;
        }
    }
    static selector one;
    bool contradicts = false;
    for (size_t i = 0; i < s.n; i++) {
        one = s;
        one.n = 1;
        one.req[0] = s.req[i];
        if (!selector_match(&one, labels)) contradicts = true;
    }
    if (!contradicts && !selector_match(&s, labels)) abort();
    return 0;
}

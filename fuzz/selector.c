/*
 * selector.c — libFuzzer target: label selectors as they come in a query
 * (?selector=) or a body, and labels as a start gives them. A selector that
 * parses must only name valid keys and values, and must select a label set
 * made to meet it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "labels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    selector s;
    char err[256];
    if (!selector_parse(&s, (const char *)data, size, err, sizeof err)) return 0;
    if (s.n > LABELS_MAX) abort();
    char *labels[LABELS_MAX + 1] = {0}, mem[LABELS_MAX][2 * LABEL_MAX + 2];
    size_t n = 0;
    for (size_t i = 0; i < s.n; i++) {
        const sel_req *r = &s.req[i];
        if (!label_key_ok(r->key, strlen(r->key)) || !label_value_ok(r->value, strlen(r->value))) abort();
        /* A label set that meets every requirement, unless two contradict. */
        if ((r->op == SEL_EQ || r->op == SEL_EXISTS) && !labels_get(labels, r->key)) {
            strcpy(mem[n], r->key);
            strcat(mem[n], "=");
            strcat(mem[n], r->op == SEL_EQ ? r->value : "");
            labels[n] = mem[n];
            n++;
        }
    }
    bool contradicts = false;
    for (size_t i = 0; i < s.n; i++) {
        const sel_req *r = &s.req[i];
        const char *v = labels_get(labels, r->key);
        if (r->op == SEL_EQ && strcmp(v, r->value)) contradicts = true;
        if (r->op == SEL_NE && v && !strcmp(v, r->value)) contradicts = true;
        if (r->op == SEL_ABSENT && v) contradicts = true;
    }
    if (!contradicts && !selector_match(&s, labels)) abort();
    return 0;
}

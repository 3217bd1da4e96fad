/*
 * console_ring.c — growable ring buffer with absolute offsets.
 */
#include "console_ring.h"

#include <stdlib.h>
#include <string.h>

void console_ring_init(console_ring *r, size_t max) { *r = (console_ring){ .max = max ? max : 1 }; }

static void grow(console_ring *r, size_t want)
{
    size_t cap = r->cap ? r->cap : 4096;
    while (cap < want && cap < r->max) cap *= 2;
    if (cap > r->max) cap = r->max;
    if (cap <= r->cap) return;
    uint8_t *d = malloc(cap);
    if (!d) return;
    /* Keep the invariant: the byte at offset o lives at data[o % cap]. */
    for (uint64_t o = r->start; o < r->end; o++) d[o % cap] = r->data[o % r->cap];
    free(r->data);
    r->data = d;
    r->cap = cap;
}

void console_ring_write(console_ring *r, const void *p, size_t n)
{
    const uint8_t *s = p;
    size_t used = (size_t)(r->end - r->start);
    if (used + n > r->cap && r->cap < r->max) grow(r, used + n);
    if (!r->cap) { r->start = r->end += n; return; }
    if (n > r->cap) { s += n - r->cap; r->start = r->end += n - r->cap; n = r->cap; }
    size_t pos = (size_t)(r->end % r->cap), first = r->cap - pos < n ? r->cap - pos : n;
    memcpy(r->data + pos, s, first);
    memcpy(r->data, s + first, n - first);
    r->end += n;
    if (r->end - r->start > r->cap) r->start = r->end - r->cap;
}

size_t console_ring_read(const console_ring *r, uint64_t *since, void *out, size_t max)
{
    if (*since < r->start) *since = r->start;
    if (*since > r->end) *since = r->end;
    size_t n = (size_t)(r->end - *since);
    if (n > max) n = max;
    uint8_t *o = out;
    for (size_t done = 0; done < n;) {
        size_t pos = (size_t)((*since + done) % r->cap);
        size_t chunk = r->cap - pos < n - done ? r->cap - pos : n - done;
        memcpy(o + done, r->data + pos, chunk);
        done += chunk;
    }
    return n;
}

void console_ring_free(console_ring *r) { free(r->data); r->data = NULL; r->cap = 0; }

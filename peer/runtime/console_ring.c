/*
 * console_ring.c — ring buffer with absolute offsets. Its whole size is
 * mapped at the first write, untouched: the kernel gives it pages as they
 * are first written, so a ring costs what it holds, and never grows by
 * copying what it holds (a copy of tens of MB into fresh pages, on the
 * loop, would be one long turn).
 */
#include "console_ring.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void console_ring_init(console_ring *r, size_t max) { *r = (console_ring){ .max = max ? max : 1 }; }

void console_ring_write(console_ring *r, const void *p, size_t n)
{
    const uint8_t *s = p;
    if (!r->data && n) {
        void *d = mmap(NULL, r->max, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        /* Without memory the offsets still count what was printed. */
        if (d == MAP_FAILED) { r->start = r->end += n; return; }
        r->data = d;
        r->cap = r->max;
    }
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

void console_ring_free(console_ring *r)
{
    if (r->data) munmap(r->data, r->cap);
    r->data = NULL;
    r->cap = 0;
}

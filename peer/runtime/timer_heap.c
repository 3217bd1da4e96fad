/*
 * timer_heap.c — binary min-heap with removal by index.
 */
#include "timer_heap.h"

#include <stdlib.h>

static void place(timer_heap *th, size_t i, tmr *t) { th->h[i] = t; t->idx = i + 1; }

static void sift_up(timer_heap *th, size_t i)
{
    tmr *t = th->h[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (th->h[parent]->at <= t->at) break;
        place(th, i, th->h[parent]);
        i = parent;
    }
    place(th, i, t);
}

static void sift_down(timer_heap *th, size_t i)
{
    tmr *t = th->h[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        uint64_t best = t->at;
        if (l < th->n && th->h[l]->at < best) { m = l; best = th->h[l]->at; }
        if (r < th->n && th->h[r]->at < best) m = r;
        if (m == i) break;
        place(th, i, th->h[m]);
        i = m;
    }
    place(th, i, t);
}

bool timer_heap_add(timer_heap *th, tmr *t, uint64_t at)
{
    if (t->idx) timer_heap_remove(th, t);
    if (th->n == th->cap) {
        size_t cap = th->cap ? th->cap * 2 : 64;
        tmr **h = realloc(th->h, cap * sizeof *h);
        if (!h) return false;
        th->h = h;
        th->cap = cap;
    }
    t->at = at;
    th->h[th->n] = t;
    sift_up(th, th->n++);
    return true;
}

void timer_heap_remove(timer_heap *th, tmr *t)
{
    if (!t->idx) return;
    size_t i = t->idx - 1;
    t->idx = 0;
    tmr *last = th->h[--th->n];
    if (i == th->n) return;
    th->h[i] = last;
    last->idx = i + 1;
    if (i > 0 && th->h[(i - 1) / 2]->at > last->at) sift_up(th, i);
    else sift_down(th, i);
}

void timer_heap_free(timer_heap *th) { free(th->h); *th = (timer_heap){0}; }

/*
 * timer_heap.h — a binary min-heap of deadlines (monotonic ms). Timers are
 * embedded in their owners; `idx` is the heap slot + 1, 0 when not armed.
 */
#ifndef PEERD_TIMER_HEAP_H
#define PEERD_TIMER_HEAP_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef struct tmr tmr;
struct tmr {
    uint64_t at;
    size_t idx;
    void (*fire)(void *owner, tmr *t);
    void *owner;
};

typedef struct { tmr **h; size_t n, cap; } timer_heap;

bool timer_heap_add(timer_heap *th, tmr *t, uint64_t at);
void timer_heap_remove(timer_heap *th, tmr *t);
static inline tmr *timer_heap_top(const timer_heap *th) { return th->n ? th->h[0] : NULL; }
void timer_heap_free(timer_heap *th);

#endif

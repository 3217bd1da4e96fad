/*
 * console_ring.h — the last bytes a node printed, addressed by absolute
 * offsets counted from its first byte ever. Its `max` bytes are mapped at the
 * first write and take memory as they are written; once full, it overwrites
 * the oldest bytes.
 */
#ifndef PEERD_CONSOLE_RING_H
#define PEERD_CONSOLE_RING_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *data;
    size_t cap, max;       /* cap: max once mapped, 0 before (or without memory) */
    uint64_t start, end;   /* offsets of the oldest kept byte and one past the newest */
} console_ring;

void console_ring_init(console_ring *r, size_t max);
void console_ring_write(console_ring *r, const void *p, size_t n);
/* Copies bytes from offset *since (raised to the oldest kept byte) up to the
 * end, at most `max` bytes; returns the count and sets *since to the start. */
size_t console_ring_read(const console_ring *r, uint64_t *since, void *out, size_t max);
void console_ring_free(console_ring *r);

#endif

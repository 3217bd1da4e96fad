/*
 * console.c — a peer's console: what its node printed going into the ring
 * (its followers and snapshots are filled from it at the turn's end,
 * followers.c), a removed peer's kept tail framed, and its tail for a
 * failed boot's answer.
 */
#include "manager_int.h"

/* Output goes into the ring now; followers catch up from it once the
 * loop has handled everything that woke it (fill_followers): the node gets
 * its io_reply first, and many small writes reach a follower as one push. */
void mgr_console_write(peer *p, const void *data, size_t n)
{
    if (!n) return;
    console_ring_write(&p->console, data, n);
    p->m->console_bytes += n;
    mgr_fill_due(p);
}

/* The console from r->since to the ring's end, framed, after a reset or a
 * missed marker when that position is of another incarnation or no longer
 * kept; sets r's range and incarnation. False when out of memory. */
bool mgr_console_frame(buf *out, const pm_framer *fr, pm_req *r, const console_ring *ring, uint64_t token, const char *id)
{
    uint64_t since = r->since;
    if (mgr_since_elsewhere(r, token, ring->end)) {
        fr->reset(out, PM_FOLLOW_CONSOLE, token, id);
        since = 0;
    }
    if (since < ring->start) {
        fr->missed(out, PM_FOLLOW_CONSOLE, token, ring->start - since, ring->start);
        since = ring->start;
    }
    size_t avail = (size_t)(ring->end - since);
    uint8_t *d = malloc(avail + 1);
    if (!d) return false;
    size_t n = console_ring_read(ring, &since, d, avail);
    if (n) fr->console(out, token, since + n, d, n);
    free(d);
    r->range_start = since;
    r->range_end = since + n;
    r->incarnation = token;
    return !out->oom;
}

/* The last TAIL_BYTES of the console, for a failed boot or a timeout. */
char *mgr_console_tail(const peer *p)
{
    uint64_t since = p->console.end > TAIL_BYTES ? p->console.end - TAIL_BYTES : 0;
    char *s = malloc(TAIL_BYTES + 1);
    if (!s) return NULL;
    size_t n = console_ring_read(&p->console, &since, s, TAIL_BYTES);
    s[n] = 0;
    return s;
}

/*
 * tombstones.c — what is kept of a removed peer for TOMBSTONE_MS: its last
 * info and the end of its console, so that a client learns what became of
 * it (410) rather than that it never was (404).
 */
#include "manager_int.h"

#include <malloc.h>
#include <unistd.h>

static void drop_tomb(pm *m, tombstone **tp)
{
    tombstone *t = *tp;
    *tp = t->next;
    m->ntombs--;
    m->tomb_bytes -= t->bytes;
    if (t->info.crash_dump) unlink(t->info.crash_dump);
    pm_peer_info_free(&t->info);
    free(t);
}

/* Drops the expired tombstones, then the oldest while over MAX_TOMBSTONES
 * or MAX_TOMBSTONE_BYTES (the newest is first in the list). */
static void prune(pm *m, uint64_t now)
{
    for (tombstone **tp = &m->tombs; *tp;) {
        if ((*tp)->expires <= now) drop_tomb(m, tp);
        else tp = &(*tp)->next;
    }
    while (m->tombs && (m->ntombs > MAX_TOMBSTONES || m->tomb_bytes > MAX_TOMBSTONE_BYTES)) {
        tombstone **tp = &m->tombs;
        while ((*tp)->next) tp = &(*tp)->next;
        drop_tomb(m, tp);
    }
}

static void sweep(void *owner, tmr *timer);

/* The timer that drops tombstones as they expire, armed for the oldest. */
static void arm_sweep(pm *m)
{
    const tombstone *oldest = m->tombs;
    while (oldest && oldest->next) oldest = oldest->next;
    if (!oldest) { mgr_timer_clear(m, &m->tomb_timer); return; }
    uint64_t now = loop_now();
    /* Without the timer they still go, at the next removal. */
    mgr_timer_set(m, &m->tomb_timer, oldest->expires > now ? oldest->expires - now : 0, sweep, m);
}

static void sweep(void *owner, tmr *timer)
{
    (void)timer;
    pm *m = owner;
    prune(m, loop_now());
    /* What removed peers held (rings, tails) goes back to the system, not
     * only to the allocator's free lists. */
    malloc_trim(0);
    arm_sweep(m);
}

bool mgr_add_tombstone(pm *m, const peer *p)
{
    for (tombstone **tp = &m->tombs; *tp; tp = &(*tp)->next)
        if (p->id && !strcmp((*tp)->info.id, p->id)) { drop_tomb(m, tp); break; }
    tombstone *t = calloc(1, sizeof *t);
    if (!t) return false;
    mgr_snapshot(p, &t->info);
    /* The end of the console (from a character's start) outlives the node,
     * so that a crash report stays readable. */
    uint64_t at = p->console.end > TOMB_TAIL_BYTES ? p->console.end - TOMB_TAIL_BYTES : 0;
    if (at < p->console.start) at = p->console.start;
    char *tail = malloc((size_t)(p->console.end - at) + 1);
    if (tail) {
        size_t n = console_ring_read(&p->console, &at, tail, (size_t)(p->console.end - at)), skip = 0;
        while (skip < 3 && skip < n && at > 0 && ((uint8_t)tail[skip] & 0xc0) == 0x80) skip++;
        memmove(tail, tail + skip, n - skip);
        tail[n - skip] = 0;
        t->info.console_tail = tail;
        t->info.console_tail_len = n - skip;
        t->info.console_tail_at = at + skip;
    }
    uint64_t now = loop_now();
    t->expires = now + m->cfg.tombstone_ms;
    t->bytes = sizeof *t + t->info.console_tail_len;
    t->next = m->tombs;
    m->tombs = t;
    m->ntombs++;
    m->tomb_bytes += t->bytes;
    bool holds_dump = t->info.crash_dump != NULL;     /* prune may drop t itself */
    prune(m, now);
    arm_sweep(m);
    return holds_dump;
}

static const tombstone *find_tomb(pm *m, const char *id)
{
    uint64_t now = loop_now();
    for (tombstone *t = m->tombs; t; t = t->next)
        if (t->expires > now && !strcmp(t->info.id, id)) return t;
    return NULL;
}

/* A removed peer's console: the tail its tombstone kept, as a snapshot or
 * as a stream that ends at once. */
static void tomb_console(const tombstone *t, pm_req *r)
{
    const pm_peer_info *i = &t->info;
    console_ring ring;
    console_ring_init(&ring, i->console_tail_len);
    ring.start = ring.end = i->console_tail_at;
    console_ring_write(&ring, i->console_tail, i->console_tail_len);
    bool ok = mgr_console_frame(stream_append_begin(r->stream), r->framer, r, &ring, i->incarnation, i->id);
    stream_append_end(r->stream);
    stream_finish(r->stream, STREAM_END);
    if (r->client_fd >= 0) { close(r->client_fd); r->client_fd = -1; }
    stream_unref(r->stream);
    r->stream = NULL;
    console_ring_free(&ring);
    mgr_finish(r, ok ? PM_OK : PM_ERR_NOMEM, NULL);
}

void mgr_not_found(pm *m, pm_req *r)
{
    const tombstone *t = find_tomb(m, r->id);
    bool console = r->op == PM_FOLLOW && r->follow == PM_FOLLOW_CONSOLE;
    if (t && console && t->info.console_tail) { tomb_console(t, r); return; }
    if (t && (r->info = calloc(1, sizeof *r->info))) {
        mgr_copy_info(r->info, &t->info);
        r->ninfo = 1;
        if (r->op == PM_WAIT && r->want_down) { mgr_finish(r, PM_OK, NULL); return; }
        mgr_finish(r, PM_ERR_GONE, xasprintf("peer %s was removed: %s", r->id, t->info.down_reason ? t->info.down_reason : "stopped"));
        return;
    }
    mgr_finish(r, PM_ERR_NOT_FOUND, xasprintf("no peer %s", r->id));
}

/*
 * pending.c — the calls in flight on a peer's control connection, by
 * sequence number (the node's replies carry it): made, taken when the reply
 * comes (or the call times out), and failed together when the connection
 * goes (relay.c). outbound.c sends; io_server.c and messages.c park their
 * own continuations here.
 */
#include "manager_int.h"

/* The table doubles while the calls in flight outnumber its buckets (up to
 * CALL_BUCKETS_MAX), so a reply finds its call in a step or two with a
 * batch's 1024 in flight as with one; a table that cannot grow keeps its
 * longer chains. */
static void grow(peer *p)
{
    uint32_t n = p->call_buckets ? p->call_buckets * 2 : CALL_BUCKETS_MIN;
    pending **t = calloc(n, sizeof *t);
    if (!t) return;
    for (uint32_t b = 0; b < p->call_buckets; b++)
        for (pending *c = p->calls[b], *next; c; c = next) {
            next = c->next;
            c->next = t[c->seq & (n - 1)];
            t[c->seq & (n - 1)] = c;
        }
    free(p->calls);
    p->calls = t;
    p->call_buckets = n;
}

pending *mgr_pending_new(peer *p, enum pending_kind kind)
{
    if (p->ncalls >= p->call_buckets && p->call_buckets < CALL_BUCKETS_MAX) grow(p);
    if (!p->calls) return NULL;
    pending *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->seq = p->seq++;
    c->kind = kind;
    c->p = p;
    pending **b = &p->calls[c->seq & (p->call_buckets - 1)];
    c->next = *b;
    *b = c;
    p->ncalls++;
    return c;
}

pending *mgr_pending_take(peer *p, uint64_t seq)
{
    if (!p->calls) return NULL;
    for (pending **pp = &p->calls[seq & (p->call_buckets - 1)]; *pp; pp = &(*pp)->next)
        if ((*pp)->seq == seq) {
            pending *c = *pp;
            *pp = c->next;
            p->ncalls--;
            mgr_timer_clear(p->m, &c->timer);
            return c;
        }
    return NULL;
}

void mgr_io_cont_free(io_cont *io)
{
    if (!io) return;
    arena_free(io->a);
    free(io);
}

void mgr_pending_free(pending *c)
{
    mgr_io_cont_free(c->io);
    arena_free(c->na);
    free(c);
}

/*
 * pending.c — the calls in flight on a peer's control connection, by
 * sequence number (the node's replies carry it): made, taken when the reply
 * comes (or the call times out), and failed together when the connection
 * goes (relay.c). outbound.c sends; io_server.c and messages.c park their
 * own continuations here.
 */
#include "manager_int.h"

pending *mgr_pending_new(peer *p, enum pending_kind kind)
{
    pending *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->seq = p->seq++;
    c->kind = kind;
    c->p = p;
    size_t b = c->seq % CALL_BUCKETS;
    c->next = p->calls[b];
    p->calls[b] = c;
    return c;
}

pending *mgr_pending_take(peer *p, uint64_t seq)
{
    for (pending **pp = &p->calls[seq % CALL_BUCKETS]; *pp; pp = &(*pp)->next)
        if ((*pp)->seq == seq) {
            pending *c = *pp;
            *pp = c->next;
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

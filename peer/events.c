/*
 * events.c — the event log: the last MAX_EVENTS lifecycle events, fed to
 * followers of /events and to a peer's notify_url.
 */
#include "manager_int.h"

/* Records an event, feeds followers of /events, and the peer's notify_url. */
void emit_event(pm *m, const peer *p, const char *type, const char *reason)
{
    const char *labels = p->opt->labels_json ? p->opt->labels_json : "{}";
    size_t lid = strlen(p->id) + 1, lnode = p->node ? strlen(p->node) + 1 : 0, lreason = reason ? strlen(reason) + 1 : 0;
    size_t llabels = strlen(labels) + 1;
    char *mem = malloc(lid + lnode + lreason + llabels);
    if (!mem) return;
    event_slot *slot = &m->events[(m->event_seq + 1) % MAX_EVENTS];
    free(slot->mem);
    slot->mem = mem;
    pm_event *e = &slot->e;
    *e = (pm_event){ .seq = ++m->event_seq, .time = wall_ms(), .type = type, .incarnation = p->incarnation };
    e->peer = memcpy(mem, p->id, lid);
    if (lnode) e->node = memcpy(mem + lid, p->node, lnode);
    if (lreason) e->reason = memcpy(mem + lid + lnode, reason, lreason);
    e->labels_json = memcpy(mem + lid + lnode + lreason, labels, llabels);
    if (p->opt->notify_url && m->cfg.notify) m->cfg.notify(p->opt->notify_url, e, m->instance, m->cfg.notify_ud);
    for (follower *f = m->event_followers; f; f = f->next) fill(f);
}

void free_events(pm *m)
{
    for (size_t i = 0; m->events && i < MAX_EVENTS; i++) free(m->events[i].mem);
    free(m->events);
    m->events = NULL;
}

/*
 * events.c — the event log: the last MAX_EVENTS lifecycle events, fed to
 * followers of /events and to a peer's notify_url.
 */
#include "manager_int.h"

const char *const pm_event_types[PM_EVENT_TYPES] = {
    "created", "booted", "boot_failed", "down", "crashed", "stopped", "removed", "lease_expired",
    "unreachable", "reachable", "webhook_failed", "other",
};

static void count(pm *m, const char *type)
{
    int i = 0;
    while (i < PM_EVENT_TYPES - 1 && strcmp(pm_event_types[i], type)) i++;
    m->events_by_type[i]++;
}

/* Records a copy of `like` (its seq and time are made here) and feeds
 * followers of /events; NULL out of memory. */
static const pm_event *record(pm *m, const pm_event *like)
{
    const char *labels = like->labels_json ? like->labels_json : "{}";
    size_t lid = strlen(like->peer) + 1, lnode = like->node ? strlen(like->node) + 1 : 0;
    size_t lreason = like->reason ? strlen(like->reason) + 1 : 0, llabels = strlen(labels) + 1;
    char *mem = malloc(lid + lnode + lreason + llabels);
    if (!mem) return NULL;
    event_slot *slot = &m->events[(m->event_seq + 1) % MAX_EVENTS];
    free(slot->mem);
    slot->mem = mem;
    count(m, like->type);
    pm_event *e = &slot->e;
    *e = (pm_event){ .seq = ++m->event_seq, .time = wall_ms(), .type = like->type, .incarnation = like->incarnation };
    e->peer = memcpy(mem, like->peer, lid);
    if (lnode) e->node = memcpy(mem + lid, like->node, lnode);
    if (lreason) e->reason = memcpy(mem + lid + lnode, like->reason, lreason);
    e->labels_json = memcpy(mem + lid + lnode + lreason, labels, llabels);
    for (follower *f = m->event_followers; f; f = f->next) mgr_fill(f);
    return e;
}

/* Records an event, feeds followers of /events, and the peer's notify_url. */
void mgr_emit_event(pm *m, const peer *p, const char *type, const char *reason)
{
    pm_event like = { .type = type, .peer = p->id, .node = p->node, .reason = reason,
                      .incarnation = p->incarnation, .labels_json = p->opt->labels_json };
    const pm_event *e = record(m, &like);
    if (!e) mgr_plogf(p, "peer %s: out of memory recording its %s event; it is not in the log, nor posted", p->id, type);
    else if (p->opt->notify_url && m->cfg.notify) m->cfg.notify(p->opt->notify_url, e, m->instance, m->cfg.notify_ud);
}

void pm_record_event(pm *m, const pm_event *e)
{
    if (!record(m, e)) mgr_log_about(m, e->peer, "peer %s: out of memory recording its %s event; it is not in the log", e->peer, e->type);
}

void mgr_free_events(pm *m)
{
    for (size_t i = 0; m->events && i < MAX_EVENTS; i++) free(m->events[i].mem);
    free(m->events);
    m->events = NULL;
}

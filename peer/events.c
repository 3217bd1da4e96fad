/*
 * events.c — the event log: the last MAX_EVENTS lifecycle events, fed to
 * followers of /events and to a peer's notify_url.
 */
#include "manager_int.h"

#include <cjson/cJSON.h>

void pm_iso_time(char *out, size_t n, int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour % 24, tm.tm_min % 60, tm.tm_sec % 61, (int)(ms % 1000));
}

/* Records an event, feeds followers of /events, and the peer's notify_url. */
void emit_event(pm *m, const peer *p, const char *type, const char *reason)
{
    char when[64];
    pm_iso_time(when, sizeof when, wall_ms());
    char id[48], inc[24];
    snprintf(id, sizeof id, "%016llx-%llu", (unsigned long long)m->instance, (unsigned long long)(m->event_seq + 1));
    snprintf(inc, sizeof inc, "%016llx", (unsigned long long)p->incarnation);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddNumberToObject(o, "seq", (double)(m->event_seq + 1));
    cJSON_AddStringToObject(o, "time", when);
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddStringToObject(o, "peer", p->id);
    cJSON_AddStringToObject(o, "incarnation", inc);
    if (p->node) cJSON_AddStringToObject(o, "node", p->node); else cJSON_AddNullToObject(o, "node");
    if (reason) cJSON_AddStringToObject(o, "reason", reason); else cJSON_AddNullToObject(o, "reason");
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!line) return;
    uint64_t seq = ++m->event_seq;
    char **slot = &m->events[seq % MAX_EVENTS];
    free(*slot);
    *slot = line;
    if (p->opt->notify_url && m->cfg.notify) m->cfg.notify(p->opt->notify_url, line, m->cfg.notify_ud);
    for (follower *f = m->event_followers; f; f = f->next) fill(f);
}

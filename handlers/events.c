/*
 * events.c — GET /events: every peer's lifecycle as it happens (created,
 * booted, boot_failed, down, crashed, stopped, removed, lease_expired), as an
 * NDJSON stream or SSE. ?since=SEQ replays what is still kept (the last
 * 10000); ?follow=0 answers what is kept and ends.
 */
#include "follow.h"
#include "handlers.h"

#include <string.h>

enum MHD_Result events_get(http_req *h)
{
    uint64_t since;
    enum MHD_Result answered;
    if (!http_since(h, &since, &answered)) return answered;
    if (http_flag(h, "link"))
        return http_problem(h, 400, "invalid_arg", "link: the event feed belongs to no one peer; link a peer's console or messages instead", NULL);
    pm_req *r = pm_req_new(PM_FOLLOW, NULL);
    if (!r) return MHD_NO;
    r->follow = PM_FOLLOW_EVENTS;
    r->since = since;
    r->sse = http_wants_sse(h);
    const char *f = http_query(h, "follow");
    r->once = f && (!strcmp(f, "0") || !strcmp(f, "false") || !strcmp(f, "no"));
    return http_follow(h, r, r->sse ? "text/event-stream" : "application/x-ndjson");
}

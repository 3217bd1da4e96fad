/*
 * events.c — GET /events: every peer's lifecycle as it happens (created,
 * booted, boot_failed, down, crashed, stopped, removed, lease_expired), as an
 * NDJSON stream or SSE. ?since= (or Last-Event-ID) replays what is still
 * kept (the last 10000) after an event id of this peerd instance, or every
 * kept event after a reset marker when the id is of another; ?follow=0
 * answers what is kept and ends.
 */
#include "follow.h"
#include "frame.h"
#include "handlers.h"

#include <string.h>

enum MHD_Result events_get(http_req *h)
{
    http_pos since;
    bool link, follow = true;
    enum MHD_Result answered;
    if (!http_since(h, &since, &answered) || !http_flag(h, "link", &link, &answered)) return answered;
    if (http_query(h, "follow") && !http_flag(h, "follow", &follow, &answered)) return answered;
    if (link)
        return http_problem(h, 400, "invalid_arg", "link: the event feed belongs to no one peer; link a peer's console or messages instead", NULL);
    pm_req *r = pm_req_new(PM_FOLLOW, NULL);
    if (!r) return MHD_NO;
    r->follow = PM_FOLLOW_EVENTS;
    r->since = since.n;
    r->since_of = since.of;
    r->since_tagged = since.tagged;
    bool sse = http_wants_sse(h);
    r->framer = sse ? &frame_sse : &frame_text;
    r->once = !follow;
    return http_follow(h, r, sse ? "text/event-stream" : "application/x-ndjson");
}

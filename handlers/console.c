/*
 * console.c — /peers/{id}/console and /peers/{id}/messages: what the node
 * printed (raw output and relayed I/O, in order) and what its processes sent
 * to the origin; as a snapshot, or followed live (?follow=1), as chunked
 * text, NDJSON, or SSE (Accept: text/event-stream, for snapshots too),
 * optionally linked (?link=1) so that the peer stops when the client goes
 * away. A snapshot is a stream that ends at what was kept when it was asked:
 * the loop frames a stream's room of it a turn, however large the console
 * or the messages. A position (?since= or Last-Event-ID) is a number or an
 * id of the peer's incarnation.
 */
#include "common.h"
#include "follow.h"
#include "frame.h"
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The query every console and messages request shares. */
typedef struct { http_pos since; bool follow, link; } stream_query;

static bool read_query(http_req *h, stream_query *q, enum MHD_Result *answered)
{
    if (!http_since(h, &q->since, answered) || !http_flag(h, "follow", &q->follow, answered) ||
        !http_flag(h, "link", &q->link, answered)) return false;
    if (q->link && http_refuse_read_only(h, "link=1 (the peer is stopped when the stream ends)", answered)) return false;
    if (q->link && !q->follow) {
        *answered = http_problem(h, 400, "invalid_arg", "link: only a following request (follow=1) can be linked", NULL);
        return false;
    }
    return true;
}

static void set_since(pm_req *r, const stream_query *q)
{
    r->since = q->since.n;
    r->since_of = q->since.of;
    r->since_tagged = q->since.tagged;
}

static enum MHD_Result follow(http_req *h, enum pm_follow_kind kind, const stream_query *q, const char *plain_type)
{
    pm_req *r = pm_req_new(PM_FOLLOW, h->seg[1]);
    if (!r) return MHD_NO;
    r->follow = kind;
    r->once = !q->follow;
    set_since(r, q);
    bool sse = http_wants_sse(h);
    r->framer = sse ? &frame_sse : &frame_text;
    r->link = q->link;
    const char *to = http_query(h, "to");
    if (to && !(r->to = strdup(to))) { pm_req_free(r); return MHD_NO; }
    return http_follow(h, r, sse ? "text/event-stream" : plain_type);
}

enum MHD_Result console_get(http_req *h)
{
    stream_query q;
    enum MHD_Result answered;
    if (!read_query(h, &q, &answered)) return answered;
    return follow(h, PM_FOLLOW_CONSOLE, &q, "text/plain; charset=utf-8");
}

enum MHD_Result messages_get(http_req *h)
{
    stream_query q;
    enum MHD_Result answered;
    if (!read_query(h, &q, &answered)) return answered;
    return follow(h, PM_FOLLOW_MESSAGES, &q, "application/x-ndjson");
}

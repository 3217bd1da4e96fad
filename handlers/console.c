/*
 * console.c — /peers/{id}/console and /peers/{id}/messages: what the node
 * printed (raw output and relayed I/O, in order) and what its processes sent
 * to the origin; as a snapshot, or followed live (?follow=1) as chunked text,
 * NDJSON, or SSE (Accept: text/event-stream, for snapshots too), optionally linked (?link=1) so
 * that the peer stops when the client goes away. A position (?since= or
 * Last-Event-ID) is a number or an id of the peer's incarnation.
 */
#include "common.h"
#include "follow.h"
#include "frame.h"
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum MHD_Result console_answered(http_req *h)
{
    pm_req *r = h->pm;
    if (r->status != PM_OK) return http_pm_error(h, r);
    char start[24], end[24], inc[24];
    snprintf(start, sizeof start, "%llu", (unsigned long long)r->range_start);
    snprintf(end, sizeof end, "%llu", (unsigned long long)r->range_end);
    snprintf(inc, sizeof inc, "%016llx", (unsigned long long)r->incarnation);
    const char *headers[] = { "X-Console-Start", start, "X-Console-End", end, "X-Peer-Incarnation", inc, NULL };
    /* The snapshot (up to the console's 1 MiB) is answered from the
     * buffer it was framed in, not a copy. */
    return http_buf(h, 200, r->framer == &frame_sse ? "text/event-stream" : "text/plain; charset=utf-8", &r->reply, headers);
}

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
    if (q.follow) return follow(h, PM_FOLLOW_CONSOLE, &q, "text/plain; charset=utf-8");
    /* A snapshot is framed as the stream would be: SSE if asked for. */
    pm_req *r = pm_req_new(PM_CONSOLE, h->seg[1]);
    if (!r) return MHD_NO;
    r->framer = http_wants_sse(h) ? &frame_sse : &frame_text;
    set_since(r, &q);
    return http_submit(h, r, console_answered);
}

static enum MHD_Result messages_answered(http_req *h)
{
    pm_req *r = h->pm;
    if (r->status != PM_OK) return http_pm_error(h, r);
    char inc[24];
    snprintf(inc, sizeof inc, "%016llx", (unsigned long long)r->incarnation);
    const char *headers[] = { "X-Peer-Incarnation", inc, NULL };
    return http_buf(h, 200, r->framer == &frame_sse ? "text/event-stream" : "application/x-ndjson", &r->reply, headers);
}

enum MHD_Result messages_get(http_req *h)
{
    stream_query q;
    enum MHD_Result answered;
    if (!read_query(h, &q, &answered)) return answered;
    if (q.follow) return follow(h, PM_FOLLOW_MESSAGES, &q, "application/x-ndjson");
    pm_req *r = pm_req_new(PM_MESSAGES, h->seg[1]);
    if (!r) return MHD_NO;
    r->framer = http_wants_sse(h) ? &frame_sse : &frame_text;
    set_since(r, &q);
    const char *to = http_query(h, "to");
    if (to && !(r->to = strdup(to))) { pm_req_free(r); return MHD_NO; }
    return http_submit(h, r, messages_answered);
}

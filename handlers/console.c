/*
 * console.c — /peers/{id}/console and /peers/{id}/messages: what the node
 * printed (raw output and relayed I/O, in order) and what its processes sent
 * to the origin; as a snapshot, or followed live (?follow=1) as chunked text,
 * NDJSON or SSE (Accept: text/event-stream), optionally linked (?link=1) so
 * that the peer stops when the client goes away.
 */
#include "common.h"
#include "follow.h"
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum MHD_Result console_answered(http_req *h)
{
    pm_req *r = h->pm;
    if (r->status != PM_OK) return http_pm_error(h, r);
    char start[24], end[24];
    snprintf(start, sizeof start, "%llu", (unsigned long long)r->range_start);
    snprintf(end, sizeof end, "%llu", (unsigned long long)r->range_end);
    const char *headers[] = { "X-Console-Start", start, "X-Console-End", end, NULL };
    return http_bytes(h, 200, "text/plain; charset=utf-8", r->reply.p ? (char *)r->reply.p : "", r->reply.len, headers);
}

static enum MHD_Result follow(http_req *h, enum pm_follow_kind kind, uint64_t since, const char *plain_type)
{
    pm_req *r = pm_req_new(PM_FOLLOW, h->seg[1]);
    if (!r) return MHD_NO;
    r->follow = kind;
    r->since = since;
    r->sse = http_wants_sse(h);
    r->link = http_flag(h, "link");
    const char *to = http_query(h, "to");
    if (to && !(r->to = strdup(to))) { pm_req_free(r); return MHD_NO; }
    return http_follow(h, r, r->sse ? "text/event-stream" : plain_type);
}

static bool check_link(http_req *h, enum MHD_Result *answered)
{
    if (http_flag(h, "link") && !http_flag(h, "follow")) {
        *answered = http_problem(h, 400, "invalid_arg", "link: only a following request (follow=1) can be linked", NULL);
        return false;
    }
    return true;
}

enum MHD_Result console_get(http_req *h)
{
    uint64_t since;
    enum MHD_Result answered;
    if (!http_since(h, &since, &answered) || !check_link(h, &answered)) return answered;
    if (http_flag(h, "follow")) return follow(h, PM_FOLLOW_CONSOLE, since, "text/plain; charset=utf-8");
    pm_req *r = pm_req_new(PM_CONSOLE, h->seg[1]);
    if (!r) return MHD_NO;
    r->since = since;
    return http_submit(h, r, console_answered);
}

static enum MHD_Result messages_answered(http_req *h)
{
    pm_req *r = h->pm;
    if (r->status != PM_OK) return http_pm_error(h, r);
    return http_bytes(h, 200, "application/x-ndjson", r->reply.p ? (char *)r->reply.p : "", r->reply.len, NULL);
}

enum MHD_Result messages_get(http_req *h)
{
    uint64_t since;
    enum MHD_Result answered;
    if (!http_since(h, &since, &answered) || !check_link(h, &answered)) return answered;
    if (http_flag(h, "follow")) return follow(h, PM_FOLLOW_MESSAGES, since, "application/x-ndjson");
    pm_req *r = pm_req_new(PM_MESSAGES, h->seg[1]);
    if (!r) return MHD_NO;
    r->since = since;
    const char *to = http_query(h, "to");
    if (to && !(r->to = strdup(to))) { pm_req_free(r); return MHD_NO; }
    return http_submit(h, r, messages_answered);
}

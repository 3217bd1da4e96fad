/*
 * console.c — /peers/{id}/console and /peers/{id}/messages: what the node
 * printed (raw output and relayed I/O, in order) and what its processes sent
 * to the origin.
 */
#include "common.h"
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

enum MHD_Result console_get(http_req *h)
{
    uint64_t since = 0;
    const char *q = http_query(h, "since");
    if (q && !query_uint(q, &since)) return http_problem(h, 400, "invalid_arg", "since: must be a byte offset (a non-negative integer)", NULL);
    const char *follow = http_query(h, "follow");
    if (follow && strcmp(follow, "0") && strcmp(follow, "false"))
        return http_problem(h, 400, "invalid_arg", "follow: streaming is not available in this version of peerd", NULL);
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
    uint64_t since = 0;
    const char *q = http_query(h, "since");
    if (q && !query_uint(q, &since)) return http_problem(h, 400, "invalid_arg", "since: must be a message sequence number", NULL);
    const char *follow = http_query(h, "follow");
    if (follow && strcmp(follow, "0") && strcmp(follow, "false"))
        return http_problem(h, 400, "invalid_arg", "follow: streaming is not available in this version of peerd", NULL);
    pm_req *r = pm_req_new(PM_MESSAGES, h->seg[1]);
    if (!r) return MHD_NO;
    r->since = since;
    const char *to = http_query(h, "to");
    if (to && !(r->to = strdup(to))) { pm_req_free(r); return MHD_NO; }
    return http_submit(h, r, messages_answered);
}

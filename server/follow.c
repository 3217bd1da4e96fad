/*
 * follow.c — streaming responses driven by the manager's loop.
 */
#include "follow.h"
#include "answer.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void park(void *ud) { MHD_suspend_connection(((http_feed *)ud)->conn); }
static void wake(void *ud) { http_feed *f = ud; http_resume(f->srv, f->conn); }

bool http_feed_init(http_feed *f, http_req *h)
{
    f->srv = h->srv;
    f->conn = h->conn;
    return (f->s = stream_new(park, wake, f)) != NULL;
}

static ssize_t feed_reader(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    http_feed *f = cls;
    if (f->pull && !stream_held(f->s)) f->more(f);
    stream_state st;
    bool refill;
    size_t n = stream_take(f->s, out, max, &st, &refill);
    if (refill) f->more(f);
    if (n) return (ssize_t)n;
    /* A client that went away is not an error (libmicrohttpd would log one):
     * nothing reaches it either way. */
    if (st == STREAM_END || f->s->gone) return MHD_CONTENT_READER_END_OF_STREAM;
    if (st == STREAM_CUT) return MHD_CONTENT_READER_END_WITH_ERROR;
    return 0;   /* parked: the connection is suspended until data comes */
}

static void feed_release(void *cls)
{
    http_feed *f = cls;
    stream *s = f->s;
    f->done(f);         /* may free f */
    stream_unref(s);
}

struct MHD_Response *http_feed_response(http_feed *f, size_t block)
{
    return MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, block, feed_reader, f, feed_release);
}

typedef struct {
    http_feed f;                /* first: the response's ud */
    void *follower;             /* the manager's handle, for refill and unfollow */
    const char *type;
    bool counted;               /* a following response: one of --max-streams */
    /* Made up front, so that no allocation can fail them: the manager must
     * hear of the end, and of a reader that wants more (or the stream
     * stalls, parked, with nothing to wake it). */
    pm_req *unfollow;
    pm_req *refill;
    bool refill_sent;           /* submitted, not yet handled */
} http_stream;

static void free_req(pm_req *r) { pm_req_free(r); }

/* The refill request comes back for the next time, or is freed if its
 * stream ended meanwhile. */
static void refilled(pm_req *r)
{
    http_stream *hs = r->ud;
    if (hs) hs->refill_sent = false;
    else pm_req_free(r);
}

static void ask_refill(http_feed *f)
{
    http_stream *hs = (http_stream *)f;
    if (hs->refill_sent) return;        /* the one on its way fills to now */
    hs->refill_sent = true;
    hs->refill->follower = hs->follower;
    free(hs->refill->detail);
    hs->refill->detail = NULL;
    hs->refill->status = PM_OK;
    pm_submit(hs->f.srv->pm, hs->refill);
}

static void ended(http_feed *f)
{
    http_stream *hs = (http_stream *)f;
    /* The end of a stream needs no allocation: a follower the manager never
     * hears of would hold its stream, and fill it, until its peer goes. */
    if (hs->follower) {
        hs->unfollow->follower = hs->follower;
        pm_submit(hs->f.srv->pm, hs->unfollow);
    } else {
        pm_req_free(hs->unfollow);
    }
    if (hs->refill_sent) hs->refill->ud = NULL;
    else pm_req_free(hs->refill);
    hs->f.srv->streams -= hs->counted;
    free(hs);
}

/* A stream that never became a response (an error, HEAD). */
static void state_free(void *p)
{
    if (p) feed_release(p);
}

static ssize_t head_reader(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)cls, (void)pos, (void)out, (void)max;
    return MHD_CONTENT_READER_END_OF_STREAM;
}

static enum MHD_Result followed(http_req *h)
{
    pm_req *r = h->pm;
    http_stream *hs = h->state;
    if (r->status != PM_OK) return http_pm_error(h, r);
    hs->follower = r->follower;
    /* HEAD: the headers alone. libmicrohttpd 0.9.75 ends a chunked
     * response to HEAD with "0\r\n\r\n" (a body, which a kept-alive client
     * reads as the start of the next response), even one without a body
     * that only says chunked. So HEAD gets no chunking: a response of
     * unknown length without it, after which the connection closes (what
     * GET's would send is never known in advance). */
    bool head = !strcmp(h->method, "HEAD");
    struct MHD_Response *resp = head ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, head_reader, NULL, NULL)
                                     : http_feed_response(&hs->f, 16384);
    if (!resp) return MHD_NO;
    if (head) MHD_set_response_options(resp, MHD_RF_HTTP_VERSION_1_0_ONLY, MHD_RO_END);
    else h->state = NULL;    /* the response owns it now */
    char start[24], end[24], token[24];
    snprintf(token, sizeof token, "%016llx", (unsigned long long)r->incarnation);
    snprintf(start, sizeof start, "%llu", (unsigned long long)r->range_start);
    snprintf(end, sizeof end, "%llu", (unsigned long long)r->range_end);
    /* A console's offsets: where it starts, and where a snapshot ends. */
    bool console = r->follow == PM_FOLLOW_CONSOLE;
    const char *headers[] = { MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache",
                              r->follow == PM_FOLLOW_EVENTS ? "X-Peerd-Instance" : "X-Peer-Incarnation", token,
                              console ? "X-Console-Start" : NULL, start,
                              console && r->once ? "X-Console-End" : NULL, end, NULL };
    if (!http_headers(resp, hs->type, headers)) return MHD_NO;
    http_count_response(h, 200);
    enum MHD_Result res = MHD_queue_response(h->conn, 200, resp);
    MHD_destroy_response(resp);
    return res;
}

enum MHD_Result http_follow(http_req *h, pm_req *r, const char *type)
{
    http_server *s = h->srv;
    /* What is kept, answered at once (follow=0), is not a following response. */
    bool counted = !r->once;
    if (counted && s->streams >= s->max_streams) {
        pm_req_free(r);
        return http_problemf(h, 503, "too_many_streams", "peerd serves %d open streams at most (--max-streams)", s->max_streams);
    }
    http_stream *hs = calloc(1, sizeof *hs);
    if (hs) {
        http_feed_init(&hs->f, h);
        hs->unfollow = pm_req_new(PM_UNFOLLOW, NULL);
        hs->refill = pm_req_new(PM_REFILL, NULL);
    }
    if (!hs || !hs->f.s || !hs->unfollow || !hs->refill) {
        if (hs && hs->f.s) stream_unref(hs->f.s), stream_unref(hs->f.s);    /* neither side has it */
        if (hs) pm_req_free(hs->unfollow), pm_req_free(hs->refill);
        free(hs);
        pm_req_free(r);
        return http_out_of_memory(h);
    }
    hs->f.more = ask_refill;
    hs->f.done = ended;
    hs->counted = counted;
    s->streams += counted;
    hs->type = type;
    hs->unfollow->done = free_req;
    hs->refill->done = refilled;
    hs->refill->ud = hs;
    h->state = hs;
    h->free_state = state_free;
    /* The manager watches a dup of the socket to see the client hang up
     * even while the response is parked. A snapshot is never parked for
     * long (what it sends is kept already): libmicrohttpd sees its client go. */
    const union MHD_ConnectionInfo *ci = r->once ? NULL : MHD_get_connection_info(h->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    r->client_fd = ci ? loop_fd_high(fcntl(ci->connect_fd, F_DUPFD_CLOEXEC, 0)) : -1;
    r->stream = hs->f.s;
    return http_submit(h, r, followed);
}

bool http_wants_sse(http_req *h)
{
    const char *accept = MHD_lookup_connection_value(h->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    return accept && strstr(accept, "text/event-stream");
}

bool http_flag(http_req *h, const char *key, bool *on, enum MHD_Result *answered)
{
    const char *v = http_query(h, key);
    *on = false;
    if (!v || !strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no")) return true;
    if (!*v || !strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes")) { *on = true; return true; }
    *answered = http_problemf(h, 400, "invalid_arg", "%s: must be 1, true, yes, 0, false or no", key);
    return false;
}

/* A decimal uint64 and nothing else: no sign, no space, no overflow. */
static bool decimal(const char *s, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    if (s == end) return false;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9') return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

bool http_since(http_req *h, http_pos *pos, enum MHD_Result *answered)
{
    const char *q = http_query(h, "since");
    const char *key = "since";
    if (!q && http_wants_sse(h)) {
        q = MHD_lookup_connection_value(h->conn, MHD_HEADER_KIND, "Last-Event-ID");
        key = "Last-Event-ID";
    }
    *pos = (http_pos){0};
    if (!q) return true;
    /* N, or an id TOKEN-N (16 hex digits, '-', N) as the streams give them. */
    const char *dash = strchr(q, '-'), *end = q + strlen(q);
    bool ok;
    if (!dash) {
        ok = decimal(q, end, &pos->n);
    } else {
        ok = dash - q == 16 && decimal(dash + 1, end, &pos->n);
        for (const char *c = q; ok && c < dash; c++) {
            int x = *c >= '0' && *c <= '9' ? *c - '0' : *c >= 'a' && *c <= 'f' ? *c - 'a' + 10 : -1;
            if (x < 0) ok = false;
            else pos->of = pos->of << 4 | (uint64_t)x;
        }
        pos->tagged = ok;
    }
    if (!ok) {
        *answered = http_problemf(h, 400, "invalid_arg", "%s: must be an id as the stream gives it (TOKEN-N: 16 hex digits, '-', a number) "
                                                         "or a number, at most %llu", key, (unsigned long long)UINT64_MAX);
        return false;
    }
    return true;
}

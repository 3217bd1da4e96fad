/*
 * batch.c — POST /peers/{id}/calls: a batch of calls as NDJSON, one call
 * per line (the body of /call), answered as NDJSON, one outcome per call,
 * in the order of the lines, each as soon as it and those before it are in.
 *
 * The calls are pipelined over the one control connection: as many are in
 * flight at once as the connection says are worth it (conn.h's
 * calls_at_once: 256 over standard_io, 1024 over TCP and distribution;
 * the node runs each in a process of its own), and a new one goes out as
 * an answer is written. Lines are parsed as they are reached, so the first
 * answers stream while later lines wait; a client that stops reading stops
 * the batch from sending more.
 *
 * The answers go out through a stream (server/follow.h's http_feed, as
 * the console's do): the batch writes the answers that are in and sends
 * calls to fill the window when the response's reader finds the stream
 * empty and when an answer comes; the reader parks in between.
 */
#include "common.h"
#include "follow.h"
#include "handlers.h"
#include "term_json.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_WINDOW 1024     /* the most calls in flight at once; a batch's own window may be less */
#define BATCH_PARSE_TURN (256u << 10) /* bytes of lines read in one go: the rest waits for the next */

typedef struct batch batch;
typedef struct {
    batch *b;
    pm_req *req;                /* NULL: answered in place (a line that is not a call) */
    char *text;                 /* the answer's line, set when answered */
    size_t line;                /* 1-based line number in the body */
    double sent;                /* when its call went to the manager (metrics_now) */
    loop_work work;             /* a large reply's outcome, made on the loop's helper */
} slot;

struct batch {
    http_feed f;                /* first: the response's; f.s holds the answers not yet sent */
    char *peer;
    buf body;                   /* taken from the request */
    size_t pos;                 /* next byte of body to read a line from */
    term_ctx ctx;               /* the peer's node, for pids in text */
    arena *ctx_arena;
    slot ring[BATCH_WINDOW];    /* calls sent and not yet written, in line order */
    size_t head, count;         /* ring[head] is the oldest */
    size_t window;              /* calls in flight at most, <= BATCH_WINDOW */
    size_t line;                /* lines read so far */
    bool gone;                  /* the response ended */
    bool pumping;               /* in pump: an answer that comes meanwhile is written by it */
    size_t inflight;            /* requests the manager holds */
};

/* The line of an answer that could not be made: not allocated, so that
 * the slot is answered all the same (line_free knows it). */
static char nomem_line[] = "{\"outcome\":\"error\",\"code\":\"out_of_memory\",\"detail\":\"" HTTP_NOMEM_DETAIL "\"}";

static void line_free(char *text)
{
    if (text != nomem_line) free(text);
}

static void batch_free(batch *b)
{
    for (size_t i = 0; i < b->count; i++) {
        slot *s = &b->ring[(b->head + i) % BATCH_WINDOW];
        line_free(s->text);
    }
    arena_free(b->ctx_arena);
    buf_free(&b->body);
    stream_unref(b->f.s);
    free(b->peer);
    free(b);
}

/* b's text, or nomem_line if b ran out of memory. */
static char *line_done(buf *b)
{
    if (buf_cstr(b)) return (char *)b->p;
    buf_free(b);
    return nomem_line;
}

static void line_begin(buf *b, size_t line)
{
    buf_str(b, "{\"line\":");
    buf_dec(b, line);
}

/* The line of an answer: {"line": N, ...the outcome}, printed as text, so
 * that the loop only copies it out. */
static char *line_text(size_t line, const pm_req *r)
{
    buf b = {0};
    line_begin(&b, line);
    call_outcome_print(&b, r);
    buf_byte(&b, '}');
    return line_done(&b);
}

static void pump(http_feed *f);

/* The answer is in s->text: the slot can be written. */
static void outcome_in(slot *s)
{
    batch *b = s->b;
    pm_req_free(s->req);
    s->req = NULL;
    b->inflight--;
    if (b->gone) {
        if (!b->inflight) batch_free(b);
        return;
    }
    if (s == &b->ring[b->head] && !b->pumping) pump(&b->f);     /* the stream wakes its reader */
}

static void convert(loop_work *w)
{
    slot *s = (slot *)((char *)w - offsetof(slot, work));
    s->text = line_text(s->line, s->req);
}

static void converted(loop_work *w) { outcome_in((slot *)((char *)w - offsetof(slot, work))); }

static void call_done(pm_req *r)
{
    slot *s = r->ud;
    batch *b = s->b;
    metrics_count_call(b->f.srv->fig, VIA_BATCH, http_call_outcome(r), metrics_now() - s->sent);
    if (!b->gone) {
        /* A large reply is turned into its line off the loop (http.h). */
        s->work = (loop_work){ .work = convert, .done = converted };
        if (r->reply.len > HTTP_OFF_LOOP_BYTES && loop_queue_work(b->f.srv->l, &s->work)) return;
        s->text = line_text(s->line, r);
    }
    outcome_in(s);
}

/* A line answered in place with an error: refused (peerd's own lack of
 * memory is an error), counted as a batch's call. */
static void refused(batch *b, slot *s, const char *code, const char *detail)
{
    bool oom = !strcmp(code, "out_of_memory");
    metrics_count_call(b->f.srv->fig, VIA_BATCH, oom ? CALL_ERROR : CALL_REFUSED, 0);
    buf t = {0};
    line_begin(&t, s->line);
    call_error_print(&t, code, detail);
    buf_byte(&t, '}');
    s->text = line_done(&t);
}

/* Reads the next non-blank line into a slot: a call sent, or an error
 * answered in place. False at the end of the body. */
static bool next_call(batch *b)
{
    const char *p = (const char *)b->body.p;
    size_t n = b->body.len;
    while (b->pos < n) {
        size_t start = b->pos;
        const char *nl = memchr(p + start, '\n', n - start);
        size_t end = nl ? (size_t)(nl - p) : n;
        b->pos = nl ? end + 1 : n;
        b->line++;
        size_t k = start;
        while (k < end && strchr(" \t\r", p[k])) k++;
        if (k == end) continue;
        slot *s = &b->ring[(b->head + b->count++) % BATCH_WINDOW];
        *s = (slot){ .b = b, .line = b->line };
        char d[700];
        if (end - start > HTTP_MAX_BODY) {
            snprintf(d, sizeof d, "line %zu: %zu bytes; a call is limited to %u bytes, as the body of /call", b->line,
                     end - start, HTTP_MAX_BODY);
            refused(b, s, "too_large", d);
            return true;
        }
        json_error je;
        cJSON *j = json_parse(p + start, end - start, &je);
        if (!j || !cJSON_IsObject(j)) {
            if (j) snprintf(d, sizeof d, "line %zu: must be a JSON object", b->line);
            else snprintf(d, sizeof d, "line %zu: %s (at byte %zu of the line)", b->line, je.msg, je.pos);
            refused(b, s, "invalid_json", d);
            cJSON_Delete(j);
            return true;
        }
        pm_req *r = pm_req_new(PM_CALL, b->peer);
        map_error e = { 0, "", "" };
        bool needs_ctx = false, by_name = false;
        if (!r) { refused(b, s, "out_of_memory", HTTP_NOMEM_DETAIL); cJSON_Delete(j); return true; }
        if (!call_payload(PM_CALL, j, &b->ctx, false, &r->payload, &r->timeout_ms, &by_name, &e, &needs_ctx)) {
            snprintf(d, sizeof d, "line %zu: %s", b->line, e.detail);
            refused(b, s, e.code[0] ? e.code : "invalid_arg", d);
            pm_req_free(r);
            cJSON_Delete(j);
            return true;
        }
        r->wait_unreachable = call_wait_unreachable(j);
        cJSON_Delete(j);
        s->req = r;
        r->ud = s;
        r->done = call_done;
        s->sent = metrics_now();
        b->inflight++;
        pm_submit(b->f.srv->pm, r);
        return true;
    }
    return false;
}

/* Writes the answers in, in order, while the stream has room, then fills
 * the window: with lines up to BATCH_PARSE_TURN bytes, so that a large
 * batch is read over turns (what is left is read when the reader has
 * taken what was written, or an answer comes). Ends the stream after the
 * last answer. */
static void pump(http_feed *f)
{
    batch *b = (batch *)f;
    size_t from = b->pos;
    buf *out = stream_append_begin(f->s);
    b->pumping = true;
    for (;;) {
        while (b->count && b->ring[b->head].text && stream_room(f->s)) {
            slot *s = &b->ring[b->head];
            size_t n = strlen(s->text);
            if (n < STREAM_CAP) {
                buf_put(out, s->text, n);
                buf_byte(out, '\n');
                line_free(s->text);
            } else {
                /* A long line (made off the loop) is handed over, not
                 * copied, once the reader has taken what is before it;
                 * an empty stream asks for more (pull). Its NUL becomes
                 * the newline. */
                stream_append_end(f->s);
                if (stream_held(f->s)) { out = stream_append_begin(f->s); break; }
                s->text[n] = '\n';
                stream_adopt(f->s, (uint8_t *)s->text, n + 1, n + 1);
                out = stream_append_begin(f->s);
            }
            s->text = NULL;
            b->head = (b->head + 1) % BATCH_WINDOW;
            b->count--;
        }
        if (b->count == b->window || !stream_room(f->s) || b->pos - from >= BATCH_PARSE_TURN || !next_call(b))
            break;
    }
    b->pumping = false;
    stream_append_end(f->s);
    if (!b->count && b->pos >= b->body.len) stream_finish(f->s, STREAM_END);
}

static void ended(http_feed *f)
{
    batch *b = (batch *)f;
    b->gone = true;
    if (!b->inflight) batch_free(b);
}

static enum MHD_Result identified(http_req *h)
{
    pm_req *r = h->pm;
    if (r->status != PM_OK) return http_pm_error(h, r);
    batch *b = calloc(1, sizeof *b);
    if (!b || !(b->peer = strdup(h->seg[1])) || !http_feed_init(&b->f, h)) {
        if (b) free(b->peer);
        free(b);
        return http_out_of_memory(h);
    }
    b->f.pull = true;
    b->f.more = pump;
    b->f.done = ended;
    b->ctx = r->identity;
    b->window = r->calls_at_once && r->calls_at_once < BATCH_WINDOW ? r->calls_at_once : BATCH_WINDOW;
    b->ctx_arena = r->identity_arena;
    r->identity_arena = NULL;
    b->body = h->body;
    h->body = (buf){0};
    struct MHD_Response *resp = http_feed_response(&b->f, 32768);
    if (!resp) { stream_unref(b->f.s); batch_free(b); return MHD_NO; }
    static const char *const headers[] = { MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache", NULL };
    if (!http_headers(resp, "application/x-ndjson", headers)) return MHD_NO;
    http_count_response(h, 200);
    enum MHD_Result res = MHD_queue_response(h->conn, 200, resp);
    MHD_destroy_response(resp);
    return res;
}

enum MHD_Result batch_calls(http_req *h)
{
    size_t i = 0;
    while (i < h->body.len && strchr(" \t\r\n", h->body.p[i])) i++;
    if (i == h->body.len)
        return http_problem(h, 400, "invalid_arg", "the body must be calls as NDJSON: one {\"module\", \"function\", \"args\"} object per line", NULL);
    /* The peer's identity first: it says the peer runs (or answers 404,
     * 409), and lets term text in args name the peer's pids. */
    pm_req *r = pm_req_new(PM_IDENTITY, h->seg[1]);
    return r ? http_submit(h, r, identified) : MHD_NO;
}

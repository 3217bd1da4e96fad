/*
 * respond.c — answers: bodies (a block at a time when large), JSON and
 * problem+json, and the figures they count for /metrics. An answer made on
 * the loop's helper (park.c) is kept there and queued back on the loop.
 */
#include "http.h"
#include "answer.h"
#include "http_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- figures for /metrics ---- */

void http_count_response(http_req *h, unsigned status)
{
    if (h->counted) return;
    h->counted = true;
    double now = metrics_now();
    metrics_count_request(h->srv->fig, h->route, h->method_ix, status, now - h->arrived);
    /* A call route answered with an error before any call went: refused. */
    if (h->via && !h->call_seen && status >= 400) metrics_count_call(h->srv->fig, h->via, CALL_REFUSED, 0);
}

call_outcome http_call_outcome(const pm_req *r)
{
    return r->status == PM_OK ? (strcmp(r->klass, "ok") ? CALL_EXCEPTION : CALL_OK)
         : r->status == PM_ERR_TIMEOUT ? CALL_TIMEOUT
         : r->status == PM_ERR_NOCONNECTION ? CALL_NOCONNECTION
         : r->status == PM_ERR_NOT_FOUND || r->status == PM_ERR_GONE ? CALL_REFUSED
         : CALL_ERROR;
}

void http_count_call(http_req *h, const pm_req *r, double since)
{
    if (!h->via || r->op != PM_CALL) return;
    h->call_seen = true;
    metrics_count_call(h->srv->fig, h->via, http_call_outcome(r), metrics_now() - since);
}

enum MHD_Result http_queue(http_req *h, unsigned status, struct MHD_Response *resp)
{
    if (!resp) return MHD_NO;
    if (h->off_loop) {          /* on the helper: the loop queues it */
        if (h->kept) MHD_destroy_response(h->kept);
        h->kept = resp;
        h->kept_status = status;
        return MHD_YES;
    }
    http_count_response(h, status);
    enum MHD_Result r = MHD_queue_response(h->conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

/* A body over HTTP_SEND_WHOLE goes out a block at a time: libmicrohttpd
 * hands a whole buffer to one send(), which on loopback, with a client
 * reading as fast, copies tens of megabytes in one turn of the loop. From a
 * callback it sends what its write buffer holds per run. */
#define HTTP_SEND_WHOLE (256u << 10)

typedef struct { void *p; size_t n; } body_block;

static ssize_t body_reader(void *cls, uint64_t pos, char *out, size_t max)
{
    body_block *b = cls;
    if (pos >= b->n) return MHD_CONTENT_READER_END_OF_STREAM;
    size_t k = b->n - (size_t)pos < max ? b->n - (size_t)pos : max;
    memcpy(out, (char *)b->p + pos, k);
    return (ssize_t)k;
}

static void body_free(void *cls)
{
    body_block *b = cls;
    free(b->p);
    free(b);
}

/* A response that takes p (malloc'd, n bytes), or NULL (p freed). */
static struct MHD_Response *body_response(void *p, size_t n)
{
    if (n <= HTTP_SEND_WHOLE) {
        struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(n, p, free);
        if (!r) free(p);
        return r;
    }
    body_block *b = malloc(sizeof *b);
    struct MHD_Response *r = b ? MHD_create_response_from_callback(n, 64 << 10, body_reader, b, body_free) : NULL;
    if (!r) { free(b); free(p); return NULL; }
    *b = (body_block){ p, n };
    return r;
}

bool http_headers(struct MHD_Response *resp, const char *type, const char *const *headers)
{
    bool ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type) == MHD_YES;
    for (size_t i = 0; ok && headers && headers[i]; i += 2)
        ok = MHD_add_response_header(resp, headers[i], headers[i + 1]) == MHD_YES;
    if (!ok) MHD_destroy_response(resp);
    return ok;
}

enum MHD_Result http_bytes(http_req *h, unsigned status, const char *type, const void *p, size_t n,
                           const char *const *headers)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, (void *)p, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    if (!http_headers(resp, type, headers)) return MHD_NO;
    return http_queue(h, status, resp);
}

enum MHD_Result http_file(http_req *h, unsigned status, const char *type, int fd, uint64_t size)
{
    /* libmicrohttpd sends it with sendfile, 128 KiB a call. */
    struct MHD_Response *resp = MHD_create_response_from_fd64(size, fd);
    if (!resp) { close(fd); return MHD_NO; }
    if (!http_headers(resp, type, NULL)) return MHD_NO;
    return http_queue(h, status, resp);
}

enum MHD_Result http_buf(http_req *h, unsigned status, const char *type, buf *b, const char *const *headers)
{
    if (b->oom) {
        buf_free(b);
        return http_out_of_memory(h);
    }
    struct MHD_Response *resp = body_response(b->p, b->len);
    *b = (buf){0};
    if (!resp) return MHD_NO;
    if (!http_headers(resp, type, headers)) return MHD_NO;
    return http_queue(h, status, resp);
}

/* cJSON allocates through here: a failed allocation leaves an object
 * without a member, or a parse that says "not JSON", with nothing to tell.
 * A response made while one failed (this thread's count moved since the
 * request's step began) is not sent: the request answers out_of_memory. */
static _Thread_local unsigned long json_failed;

static void *json_malloc(size_t n)
{
    void *p = malloc(n);
    json_failed += !p;
    return p;
}

void http_json_init(void)
{
    cJSON_Hooks hooks = { json_malloc, free };
    cJSON_InitHooks(&hooks);
}

unsigned long http_json_failures(void) { return json_failed; }

enum MHD_Result http_out_of_memory(http_req *h)
{
    h->json_mark = json_failed;
    h->answering_oom = true;
    return http_problem(h, 503, "out_of_memory", HTTP_NOMEM_DETAIL, NULL);
}

static enum MHD_Result json_typed(http_req *h, unsigned status, cJSON *body, const char *type, const char *const *headers)
{
    char *s = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (json_failed != h->json_mark) {
        free(s);
        if (h->answering_oom) return MHD_NO;    /* even that could not be made */
        return http_out_of_memory(h);
    }
    if (!s) return MHD_NO;
    struct MHD_Response *resp = body_response(s, strlen(s));
    if (!resp) return MHD_NO;
    if (!http_headers(resp, type, headers)) return MHD_NO;
    return http_queue(h, status, resp);
}

enum MHD_Result http_json(http_req *h, unsigned status, cJSON *body)
{
    return json_typed(h, status, body, "application/json; charset=utf-8", NULL);
}

static const char *status_title(unsigned status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Content Too Large";
    case 422: return "Unprocessable Content";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    }
    return "Error";
}

static void answered_here(pm_req *r) { (void)r; }

/* Path before body: a problem with what a request carries (400, 413, 415),
 * on a path naming a peer that is not here, is that peer's 404 (or its
 * 410, removed) instead, as a user reads the request from the left. The
 * check costs only requests already refused. */
static bool path_first(http_req *h, unsigned status, enum MHD_Result *answered)
{
    if (h->off_loop || h->path_checked || (status != 400 && status != 413 && status != 415) || h->nseg < 2 ||
        strcmp(h->seg[0], "peers"))
        return false;
    h->path_checked = true;
    pm_peer_info view;
    if (pm_peer_view(h->srv->pm, h->seg[1], &view)) return false;
    pm_req *r = pm_req_new(PM_GET, h->seg[1]);
    if (!r) return false;
    r->done = answered_here;
    bool missing = pm_answer_now(h->srv->pm, r) && r->status != PM_OK;
    if (missing) *answered = http_pm_error(h, r);
    pm_req_free(r);
    return missing;
}

enum MHD_Result http_problem_with(http_req *h, unsigned status, const char *code, const char *detail, cJSON *extra,
                                  const char *const *headers)
{
    enum MHD_Result answered;
    if (path_first(h, status, &answered)) {
        cJSON_Delete(extra);
        return answered;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "about:blank");
    cJSON_AddStringToObject(o, "title", status_title(status));
    cJSON_AddNumberToObject(o, "status", status);
    cJSON_AddStringToObject(o, "detail", detail ? detail : status_title(status));
    cJSON_AddStringToObject(o, "error", code);
    if (extra) {
        for (cJSON *e = extra->child, *n; e; e = n) {
            n = e->next;
            cJSON_AddItemToObject(o, e->string, cJSON_DetachItemViaPointer(extra, e));
        }
        cJSON_Delete(extra);
    }
    return json_typed(h, status, o, "application/problem+json", headers);
}

enum MHD_Result http_problem(http_req *h, unsigned status, const char *code, const char *detail, cJSON *extra)
{
    return http_problem_with(h, status, code, detail, extra, NULL);
}

enum MHD_Result http_problemf(http_req *h, unsigned status, const char *code, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return http_problem(h, status, code, detail, NULL);
}


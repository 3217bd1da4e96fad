/*
 * notify.c — webhook delivery with libcurl's multi socket interface on the
 * loop: curl says which sockets to watch and when to call it back, the loop
 * watches them (loop_watch) and keeps its timer; no thread of its own.
 *
 * Each destination (a notify_url) has a queue and at most one POST in
 * flight, so a receiver gets its events one at a time, in the order they
 * happened. A POST answered 2xx is delivered; a 4xx other than 408 and 429
 * is the receiver refusing that event, which is not tried again; anything
 * else (no connection, a timeout, 5xx, 408, 429) is tried again after
 * 250 ms, 500 ms, 1 s, 2 s and 4 s, the events behind it waiting. An event
 * given up on is counted, logged, and recorded in the event log as
 * webhook_failed (which is not itself posted), and the queue moves on.
 */
#include "notify.h"
#include "log.h"
#include "frame.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#define NOTIFY_TRIES 6
#define NOTIFY_TIMEOUT_MS 5000L
#define NOTIFY_STOP_MS 1000
#define NOTIFY_QUEUE_MAX 10000  /* events waiting per destination */

/* One event waiting for its destination, with what its failure would record. */
typedef struct event_out {
    struct event_out *next;
    char *json;
    char *peer, *node, *labels_json;
    uint64_t incarnation;
    const char *type;           /* a static string (pm_event.type) */
} event_out;

typedef struct dest {
    struct dest *next;
    notifier *n;
    char *url;
    event_out *head, **tail;
    size_t queued;
    int tries;                  /* of the head */
    CURL *easy;                 /* the head in flight */
    struct curl_slist *headers;
    tmr retry;
} dest;

/* A socket curl asked the loop to watch. */
typedef struct { loop_watch w; notifier *n; } watched;

struct notifier {
    loop *l;
    pm *m;
    CURLM *multi;
    tmr curl_timer, stop_timer;
    dest *dests;
    int running;
    bool stopping;
    void (*stopped)(void *ud);
    void *stopped_ud;
    notify_figures fig;
};

static size_t discard(char *p, size_t size, size_t n, void *ud) { (void)p; (void)ud; return size * n; }

static void event_out_free(event_out *e)
{
    free(e->json);
    free(e->peer);
    free(e->node);
    free(e->labels_json);
    free(e);
}

static void transfer_end(dest *d)
{
    if (d->easy) {
        curl_multi_remove_handle(d->n->multi, d->easy);
        curl_easy_cleanup(d->easy);
        d->easy = NULL;
    }
    curl_slist_free_all(d->headers);
    d->headers = NULL;
}

static void dest_free(dest *d)
{
    notifier *n = d->n;
    for (dest **dp = &n->dests; *dp; dp = &(*dp)->next)
        if (*dp == d) { *dp = d->next; break; }
    loop_timer_clear(n->l, &d->retry);
    transfer_end(d);
    while (d->head) {
        event_out *e = d->head;
        d->head = e->next;
        event_out_free(e);
    }
    n->fig.queued -= d->queued;
    free(d->url);
    free(d);
}

static void launch(dest *d);

/* The head is done with, delivered or not; the next one goes. */
static void pop(dest *d)
{
    event_out *e = d->head;
    d->head = e->next;
    if (!d->head) d->tail = &d->head;
    d->queued--;
    d->n->fig.queued--;
    d->tries = 0;
    event_out_free(e);
    if (d->head) launch(d);     /* stopping too: what the second allows */
    else dest_free(d);
}

static void give_up(dest *d, const char *why)
{
    notifier *n = d->n;
    event_out *e = d->head;
    n->fig.failed++;
    char reason[600];
    snprintf(reason, sizeof reason, "%s event to %.300s: %s", e->type, d->url, why);
    log_msg(NULL, "webhook: %s; given up", reason);
    if (n->m) {
        pm_event about = { .type = "webhook_failed", .peer = e->peer, .node = e->node, .reason = reason,
                           .incarnation = e->incarnation, .labels_json = e->labels_json };
        pm_record_event(n->m, &about);
    }
    pop(d);
}

static void launch(dest *d)
{
    notifier *n = d->n;
    d->easy = curl_easy_init();
    d->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (!d->easy || !d->headers || curl_easy_setopt(d->easy, CURLOPT_URL, d->url) != CURLE_OK) {
        transfer_end(d);
        give_up(d, "out of memory");
        return;
    }
    curl_easy_setopt(d->easy, CURLOPT_POSTFIELDS, d->head->json);
    curl_easy_setopt(d->easy, CURLOPT_HTTPHEADER, d->headers);
    curl_easy_setopt(d->easy, CURLOPT_TIMEOUT_MS, NOTIFY_TIMEOUT_MS);
    curl_easy_setopt(d->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(d->easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(d->easy, CURLOPT_PRIVATE, d);
    if (curl_multi_add_handle(n->multi, d->easy) != CURLM_OK) {
        transfer_end(d);
        give_up(d, "curl cannot take the transfer");
    }
}

static void retry_due(void *owner, tmr *t) { (void)t; launch(owner); }

static void maybe_stopped(notifier *n)
{
    if (!n->stopping || n->dests || !n->stopped) return;
    void (*done)(void *) = n->stopped;
    n->stopped = NULL;
    loop_timer_clear(n->l, &n->stop_timer);
    done(n->stopped_ud);
}

/* A transfer's end: delivered, refused, or due again after a backoff. */
static void finished(dest *d, CURLcode res, long code)
{
    notifier *n = d->n;
    transfer_end(d);
    if (res == CURLE_OK && code >= 200 && code < 300) {
        n->fig.delivered++;
        pop(d);
        return;
    }
    char why[200];
    if (res != CURLE_OK) snprintf(why, sizeof why, "%s", curl_easy_strerror(res));
    else snprintf(why, sizeof why, "answered HTTP %ld", code);
    bool refused = res == CURLE_OK && code >= 400 && code < 500 && code != 408 && code != 429;
    if (refused || ++d->tries >= NOTIFY_TRIES || n->stopping) {
        if (!refused && !n->stopping) snprintf(why + strlen(why), sizeof why - strlen(why), " (tried %d times)", d->tries);
        give_up(d, why);
        return;
    }
    n->fig.retries++;
    if (!loop_timer(n->l, &d->retry, (uint64_t)(250LL << (d->tries - 1)), retry_due, d))
        give_up(d, "no timer for the retry");
}

static void collect(notifier *n)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(n->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        dest *d;
        long code = 0;
        CURLcode res = msg->data.result;   /* msg dies with its handle */
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&d);
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
        finished(d, res, code);
    }
    maybe_stopped(n);
}

static void on_socket_ready(loop_watch *w, uint32_t ev)
{
    watched *ws = w->ud;
    notifier *n = ws->n;
    int flags = (ev & EPOLLIN ? CURL_CSELECT_IN : 0) | (ev & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                (ev & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
    curl_multi_socket_action(n->multi, w->fd, flags, &n->running);
    collect(n);
}

static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    notifier *n = userp;
    watched *ws = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (ws) {
            loop_unwatch(n->l, &ws->w);
            curl_multi_assign(n->multi, s, NULL);
            loop_defer_free(n->l, ws);   /* this turn's events may name it */
        }
        return 0;
    }
    uint32_t events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    if (!ws) {
        if (!(ws = calloc(1, sizeof *ws))) return -1;
        ws->n = n;
        ws->w.fd = -1;
        if (loop_watch_fd(n->l, &ws->w, s, events, on_socket_ready, ws) < 0) { free(ws); return -1; }
        curl_multi_assign(n->multi, s, ws);
        return 0;
    }
    return loop_rewatch(n->l, &ws->w, events) < 0 ? -1 : 0;
}

static void curl_timer_due(void *owner, tmr *t)
{
    (void)t;
    notifier *n = owner;
    curl_multi_socket_action(n->multi, CURL_SOCKET_TIMEOUT, 0, &n->running);
    collect(n);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    notifier *n = userp;
    if (timeout_ms < 0) loop_timer_clear(n->l, &n->curl_timer);
    else if (!loop_timer(n->l, &n->curl_timer, (uint64_t)timeout_ms, curl_timer_due, n)) return -1;
    return 0;
}

notifier *notifier_start(loop *l)
{
    notifier *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->l = l;
    if (!(n->multi = curl_multi_init())) { free(n); return NULL; }
    curl_multi_setopt(n->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(n->multi, CURLMOPT_SOCKETDATA, n);
    curl_multi_setopt(n->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(n->multi, CURLMOPT_TIMERDATA, n);
    return n;
}

void notifier_report_to(notifier *n, pm *m) { n->m = m; }

static char *dup_or_null(const char *s, bool *oom)
{
    if (!s) return NULL;
    char *c = strdup(s);
    if (!c) *oom = true;
    return c;
}

void notifier_post(const char *url, const pm_event *e, uint64_t instance, void *ud)
{
    notifier *n = ud;
    dest *d = n->dests;
    while (d && strcmp(d->url, url)) d = d->next;
    if (d && d->queued >= NOTIFY_QUEUE_MAX) {
        n->fig.failed++;
        log_msg(e->peer, "webhook: %s event to %.300s: %d events already wait there; dropped", e->type, url, NOTIFY_QUEUE_MAX);
        return;
    }
    buf json = {0};
    frame_event_json(&json, instance, e);
    event_out *o = calloc(1, sizeof *o);
    bool oom = !o || !buf_cstr(&json);
    if (o) {
        o->json = (char *)json.p;
        o->peer = dup_or_null(e->peer, &oom);
        o->node = dup_or_null(e->node, &oom);
        o->labels_json = dup_or_null(e->labels_json, &oom);
        o->incarnation = e->incarnation;
        o->type = e->type;
    } else {
        buf_free(&json);
    }
    if (!oom && !d) {
        if (!(d = calloc(1, sizeof *d)) || !(d->url = strdup(url))) { free(d); d = NULL; oom = true; }
        else {
            d->n = n;
            d->tail = &d->head;
            d->next = n->dests;
            n->dests = d;
        }
    }
    if (oom) {
        if (o) event_out_free(o);
        n->fig.failed++;
        log_msg(e->peer, "webhook: %s event to %.300s: out of memory; dropped", e->type, url);
        return;
    }
    *d->tail = o;
    d->tail = &o->next;
    d->queued++;
    n->fig.queued++;
    if (d->head == o) launch(d);
}

void notifier_figures(const notifier *n, notify_figures *out) { *out = n->fig; }

static void stop_deadline(void *owner, tmr *t)
{
    (void)t;
    notifier *n = owner;
    while (n->dests) dest_free(n->dests);
    maybe_stopped(n);
}

void notifier_quit(notifier *n, void (*done)(void *ud), void *ud)
{
    n->stopping = true;
    n->stopped = done;
    n->stopped_ud = ud;
    /* A destination waiting to retry is dropped; one with a POST in flight
     * gets up to a second for it. */
    for (dest *d = n->dests, *next; d; d = next) {
        next = d->next;
        if (!d->easy) dest_free(d);
    }
    if (n->dests && !loop_timer(n->l, &n->stop_timer, NOTIFY_STOP_MS, stop_deadline, n))
        while (n->dests) dest_free(n->dests);
    maybe_stopped(n);
}

void notifier_free(notifier *n)
{
    if (!n) return;
    while (n->dests) dest_free(n->dests);
    loop_timer_clear(n->l, &n->curl_timer);
    loop_timer_clear(n->l, &n->stop_timer);
    curl_multi_cleanup(n->multi);
    free(n);
}

/*
 * notify.c — webhook delivery with libcurl's multi socket interface on the
 * loop: curl says which sockets to watch and when to call it back, the loop
 * watches them (loop_watch) and keeps its timer; no thread of its own.
 *
 * A delivery is tried up to NOTIFY_TRIES times (2xx counts as delivered),
 * waiting 250 ms, 500 ms, 1 s... between tries. Deliveries to one URL may
 * overlap; each event carries its id and seq so a receiver can order them.
 */
#include "notify.h"
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

typedef struct delivery {
    struct delivery *next;      /* every delivery, in flight or waiting to retry */
    notifier *n;
    char *url, *json;
    int tries;
    CURL *easy;
    struct curl_slist *headers;
    tmr retry;
} delivery;

/* A socket curl asked the loop to watch. */
typedef struct { loop_watch w; notifier *n; } watched;

struct notifier {
    loop *l;
    CURLM *multi;
    tmr curl_timer, stop_timer;
    delivery *all;
    int running;
    bool stopping;
    void (*stopped)(void *ud);
    void *stopped_ud;
};

static size_t discard(char *p, size_t size, size_t n, void *ud) { (void)p; (void)ud; return size * n; }

static void delivery_free(delivery *d)
{
    notifier *n = d->n;
    for (delivery **dp = &n->all; *dp; dp = &(*dp)->next)
        if (*dp == d) { *dp = d->next; break; }
    loop_timer_clear(n->l, &d->retry);
    if (d->easy) { curl_multi_remove_handle(n->multi, d->easy); curl_easy_cleanup(d->easy); }
    curl_slist_free_all(d->headers);
    free(d->url);
    free(d->json);
    free(d);
}

static void launch(delivery *d)
{
    notifier *n = d->n;
    d->easy = curl_easy_init();
    d->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (!d->easy || !d->headers) { delivery_free(d); return; }
    curl_easy_setopt(d->easy, CURLOPT_URL, d->url);
    curl_easy_setopt(d->easy, CURLOPT_POSTFIELDS, d->json);
    curl_easy_setopt(d->easy, CURLOPT_HTTPHEADER, d->headers);
    curl_easy_setopt(d->easy, CURLOPT_TIMEOUT_MS, NOTIFY_TIMEOUT_MS);
    curl_easy_setopt(d->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(d->easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(d->easy, CURLOPT_PRIVATE, d);
    if (curl_multi_add_handle(n->multi, d->easy) != CURLM_OK) delivery_free(d);
}

static void retry_due(void *owner, tmr *t) { (void)t; launch(owner); }

static void maybe_stopped(notifier *n)
{
    if (!n->stopping || n->all || !n->stopped) return;
    void (*done)(void *) = n->stopped;
    n->stopped = NULL;
    loop_timer_clear(n->l, &n->stop_timer);
    done(n->stopped_ud);
}

/* Finished transfers: delivered, given up, or due again after a backoff. */
static void collect(notifier *n)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(n->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        delivery *d;
        long code = 0;
        CURLcode res = msg->data.result;   /* msg dies with its handle */
        CURL *easy = msg->easy_handle;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&d);
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
        curl_multi_remove_handle(n->multi, easy);
        curl_easy_cleanup(easy);
        d->easy = NULL;
        curl_slist_free_all(d->headers);
        d->headers = NULL;
        bool ok = res == CURLE_OK && code >= 200 && code < 300;
        if (ok || ++d->tries >= NOTIFY_TRIES || n->stopping) {
            if (!ok)
                fprintf(stderr, "peerd: webhook %s failed (%s, HTTP %ld)%s\n", d->url, curl_easy_strerror(res), code,
                        n->stopping ? "" : "; giving up");
            delivery_free(d);
        } else {
            loop_timer(n->l, &d->retry, (uint64_t)(250LL << (d->tries - 1)), retry_due, d);
        }
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

void notifier_post(const char *url, const pm_event *e, uint64_t instance, void *ud)
{
    notifier *n = ud;
    buf json = {0};
    frame_event_json(&json, instance, e);
    delivery *d = calloc(1, sizeof *d);
    if (!d || !buf_cstr(&json) || !(d->url = strdup(url))) {
        free(d);
        buf_free(&json);
        return;
    }
    d->json = (char *)json.p;
    d->n = n;
    d->next = n->all;
    n->all = d;
    launch(d);
}

static void stop_deadline(void *owner, tmr *t)
{
    (void)t;
    notifier *n = owner;
    while (n->all) delivery_free(n->all);
    maybe_stopped(n);
}

void notifier_quit(notifier *n, void (*done)(void *ud), void *ud)
{
    n->stopping = true;
    n->stopped = done;
    n->stopped_ud = ud;
    /* Retries not yet due are dropped; what is in flight gets a second. */
    for (delivery *d = n->all, *next; d; d = next) {
        next = d->next;
        if (!d->easy) delivery_free(d);
    }
    if (n->all) loop_timer(n->l, &n->stop_timer, NOTIFY_STOP_MS, stop_deadline, n);
    maybe_stopped(n);
}

void notifier_free(notifier *n)
{
    if (!n) return;
    while (n->all) delivery_free(n->all);
    loop_timer_clear(n->l, &n->curl_timer);
    loop_timer_clear(n->l, &n->stop_timer);
    curl_multi_cleanup(n->multi);
    free(n);
}

/*
 * notify.c — webhook delivery with libcurl multi on one thread.
 *
 * A delivery is tried up to NOTIFY_TRIES times (2xx counts as delivered),
 * waiting 250 ms, 500 ms, 1 s... between tries. Deliveries to one URL may
 * overlap; each event carries its seq so a receiver can order them.
 */
#include "notify.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOTIFY_TRIES 6
#define NOTIFY_TIMEOUT_MS 5000L

typedef struct delivery {
    struct delivery *next;
    char *url, *json;
    int tries;
    long long due;              /* monotonic ms */
    CURL *easy;
    struct curl_slist *headers;
} delivery;

struct notifier {
    pthread_t thread;
    pthread_mutex_t lock;
    delivery *incoming;         /* queued by other threads */
    bool stopping;
    CURLM *multi;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t discard(char *p, size_t size, size_t n, void *ud) { (void)p; (void)ud; return size * n; }

static void delivery_free(delivery *d)
{
    if (d->easy) curl_easy_cleanup(d->easy);
    curl_slist_free_all(d->headers);
    free(d->url);
    free(d->json);
    free(d);
}

static void launch(notifier *n, delivery *d)
{
    d->easy = curl_easy_init();
    if (!d->easy) return;
    d->headers = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(d->easy, CURLOPT_URL, d->url);
    curl_easy_setopt(d->easy, CURLOPT_POSTFIELDS, d->json);
    curl_easy_setopt(d->easy, CURLOPT_HTTPHEADER, d->headers);
    curl_easy_setopt(d->easy, CURLOPT_TIMEOUT_MS, NOTIFY_TIMEOUT_MS);
    curl_easy_setopt(d->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(d->easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(d->easy, CURLOPT_PRIVATE, d);
    curl_multi_add_handle(n->multi, d->easy);
}

static void *run(void *arg)
{
    notifier *n = arg;
    delivery *waiting = NULL;   /* not yet due */
    int running = 0;
    for (;;) {
        pthread_mutex_lock(&n->lock);
        delivery *in = n->incoming;
        n->incoming = NULL;
        bool stopping = n->stopping;
        pthread_mutex_unlock(&n->lock);
        while (in) {
            delivery *next = in->next;
            in->next = waiting;
            waiting = in;
            in = next;
        }
        long long now = now_ms(), next_due = -1;
        for (delivery **dp = &waiting; *dp;) {
            delivery *d = *dp;
            if (d->due <= now) { *dp = d->next; launch(n, d); running++; continue; }
            if (next_due < 0 || d->due < next_due) next_due = d->due;
            dp = &d->next;
        }
        if (stopping && !running) break;
        curl_multi_perform(n->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(n->multi, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            delivery *d;
            long code = 0;
            CURLcode res = msg->data.result;   /* msg dies with its handle */
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&d);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            curl_multi_remove_handle(n->multi, msg->easy_handle);
            curl_easy_cleanup(d->easy);
            d->easy = NULL;
            curl_slist_free_all(d->headers);
            d->headers = NULL;
            if ((res == CURLE_OK && code >= 200 && code < 300) || ++d->tries >= NOTIFY_TRIES || stopping) {
                if (!(code >= 200 && code < 300))
                    fprintf(stderr, "peerd: webhook %s failed (%s, HTTP %ld)%s\n", d->url,
                            curl_easy_strerror(res), code, stopping ? "" : "; giving up");
                delivery_free(d);
            } else {
                d->due = now_ms() + (250LL << (d->tries - 1));
                d->next = waiting;
                waiting = d;
            }
        }
        if (stopping && !running) break;
        int wait = 1000;
        if (next_due >= 0) { long long w = next_due - now_ms(); wait = w < 0 ? 0 : w < wait ? (int)w : wait; }
        if (stopping) wait = 50;
        curl_multi_poll(n->multi, NULL, 0, wait, NULL);
    }
    while (waiting) { delivery *d = waiting; waiting = d->next; delivery_free(d); }
    return NULL;
}

notifier *notifier_start(void)
{
    notifier *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    pthread_mutex_init(&n->lock, NULL);
    n->multi = curl_multi_init();
    if (!n->multi || pthread_create(&n->thread, NULL, run, n)) {
        if (n->multi) curl_multi_cleanup(n->multi);
        free(n);
        return NULL;
    }
    return n;
}

void notifier_post(const char *url, const char *json, void *ud)
{
    notifier *n = ud;
    delivery *d = calloc(1, sizeof *d);
    if (!d || !(d->url = strdup(url)) || !(d->json = strdup(json))) {
        if (d) { free(d->url); free(d); }
        return;
    }
    d->due = 0;
    pthread_mutex_lock(&n->lock);
    d->next = n->incoming;
    n->incoming = d;
    pthread_mutex_unlock(&n->lock);
    curl_multi_wakeup(n->multi);
}

void notifier_stop(notifier *n)
{
    if (!n) return;
    pthread_mutex_lock(&n->lock);
    n->stopping = true;
    pthread_mutex_unlock(&n->lock);
    curl_multi_wakeup(n->multi);
    pthread_join(n->thread, NULL);
    /* Anything queued after the thread's last look. */
    while (n->incoming) { delivery *d = n->incoming; n->incoming = d->next; delivery_free(d); }
    curl_multi_cleanup(n->multi);
    pthread_mutex_destroy(&n->lock);
    free(n);
}

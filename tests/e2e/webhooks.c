/*
 * webhooks.c — a peer's notify_url: every event of its peer and no other's,
 * one POST at a time per receiver, in order through retries, a refusal or
 * a receiver given up on recorded in the event log and counted in /metrics.
 * The receiver is libmicrohttpd with a thread per connection, so that
 * overlapping POSTs would be seen.
 */
#include <criterion/criterion.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

typedef struct {
    pthread_mutex_t lock;
    char log[65536];            /* bodies accepted, one a line */
    size_t len;
    int fail_first;             /* answer 500 to this many POSTs */
    const char *fail_type;      /* answer 503 to every event of this type */
    const char *refuse_type;    /* answer 404 to every event of this type */
    int delay_ms;               /* before answering */
    int posts, now, most;       /* POSTs seen; in progress now; at most at once */
} receiver;


static enum MHD_Result hook(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                            const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)url; (void)method; (void)version;
    receiver *h = cls;
    char **body = (char **)con_cls;
    if (!*body) {
        *body = calloc(1, 65536);
        pthread_mutex_lock(&h->lock);
        if (++h->now > h->most) h->most = h->now;
        h->posts++;
        pthread_mutex_unlock(&h->lock);
        return MHD_YES;
    }
    if (*upload_size) {
        size_t have = strlen(*body);
        if (have + *upload_size < 65535) memcpy(*body + have, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (h->delay_ms) usleep((useconds_t)h->delay_ms * 1000);
    unsigned status = 204;
    pthread_mutex_lock(&h->lock);
    char want[64] = "";
    if (h->fail_first > 0) h->fail_first--, status = 500;
    else if (h->fail_type && (snprintf(want, sizeof want, "\"type\":\"%s\"", h->fail_type), strstr(*body, want))) status = 503;
    else if (h->refuse_type && (snprintf(want, sizeof want, "\"type\":\"%s\"", h->refuse_type), strstr(*body, want))) status = 404;
    else if (h->len + strlen(*body) + 2 < sizeof h->log) {
        h->len += (size_t)sprintf(h->log + h->len, "%s\n", *body);
    }
    h->now--;
    pthread_mutex_unlock(&h->lock);
    free(*body);
    *body = NULL;
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result r = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static struct MHD_Daemon *receive(receiver *h, int *port)
{
    pthread_mutex_init(&h->lock, NULL);
    struct MHD_Daemon *md = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                                             hook, h, MHD_OPTION_END);
    cr_assert(md);
    *port = MHD_get_daemon_info(md, MHD_DAEMON_INFO_BIND_PORT)->port;
    return md;
}

/* Waits until the receiver's log holds needle. */
static bool received(receiver *h, const char *needle, int ms)
{
    for (int waited = 0;; waited += 20) {
        pthread_mutex_lock(&h->lock);
        bool has = strstr(h->log, needle) != NULL;
        pthread_mutex_unlock(&h->lock);
        if (has || waited >= ms) return has;
        usleep(20000);
    }
}

/* The types of the events in the log, in order, comma-separated. */
static void types_in(receiver *h, char *out, size_t len)
{
    out[0] = 0;
    pthread_mutex_lock(&h->lock);
    for (const char *p = h->log; (p = strstr(p, "\"type\":\"")); ) {
        p += 8;
        const char *q = strchr(p, '"');
        snprintf(out + strlen(out), len - strlen(out), "%s%.*s", out[0] ? "," : "", (int)(q - p), p);
    }
    pthread_mutex_unlock(&h->lock);
}

/* The receiver logs a body before it answers, and peerd counts the answer:
 * a figure is waited for. */
static double metric_until(peerd *d, const char *name, double want, int ms)
{
    double v = metric(d, name);
    for (int waited = 0; v != want && waited < ms; waited += 20) {
        usleep(20000);
        v = metric(d, name);
    }
    return v;
}

Test(webhooks, every_event_of_its_peer_and_no_other, .timeout = 60)
{
    static receiver h;
    int port;
    struct MHD_Daemon *md = receive(&h, &port);
    peerd *d = peerd_start(NULL);
    char opts[256];
    snprintf(opts, sizeof opts, "{\"notify_url\":\"http://127.0.0.1:%d/hook\",\"labels\":{\"job\":\"hooked\"}}", port);
    char *id = start_peer(d, opts);
    char *other = start_peer(d, "{}");     /* another peer's events do not go there */
    delete_peer(d, id);
    cr_assert(received(&h, "\"type\":\"removed\"", 5000), "the webhook got the removal: %s", h.log);
    char types[256];
    types_in(&h, types, sizeof types);
    cr_assert_str_eq(types, "created,booted,stopped,removed");
    char want[320];
    snprintf(want, sizeof want, "\"peer\":\"%s\"", id);
    cr_assert(strstr(h.log, want), "%s", h.log);
    cr_assert(strstr(h.log, "\"labels\":{\"job\":\"hooked\"}"), "the webhook's events carry the labels: %s", h.log);
    cr_assert_eq(metric_until(d, "peerd_webhook_deliveries_total{outcome=\"delivered\"}", 4, 3000), 4);
    cr_assert_eq(metric(d, "peerd_webhook_queued"), 0);
    free(id);
    free(other);
    peerd_stop(d);
    MHD_stop_daemon(md);
}

/* A receiver that fails its first three POSTs and answers slowly: every
 * event arrives once, in order, never two POSTs at once. */
Test(webhooks, in_order_one_at_a_time_through_retries, .timeout = 60)
{
    static receiver h = { .fail_first = 3, .delay_ms = 150 };
    int port;
    struct MHD_Daemon *md = receive(&h, &port);
    peerd *d = peerd_start(NULL);
    char opts[256];
    snprintf(opts, sizeof opts, "{\"notify_url\":\"http://127.0.0.1:%d/hook\",\"wait_boot\":false}", port);
    resp *r = http(d, "POST", "/peers", opts);
    cr_assert_eq(r->status, 202, "%s", r->body);
    char *id = strdup(jstr(r, "id"));
    resp_free(r);
    resp_free(wait_state(d, id, "running", 30000));
    delete_peer(d, id);
    cr_assert(received(&h, "\"type\":\"removed\"", 15000), "%s", h.log);
    char types[256];
    types_in(&h, types, sizeof types);
    cr_assert_str_eq(types, "created,booted,stopped,removed");
    cr_assert_eq(h.most, 1, "%d POSTs at once", h.most);
    cr_assert_eq(h.posts, 7, "4 events and 3 failures: %d POSTs", h.posts);
    cr_assert_eq(metric_until(d, "peerd_webhook_deliveries_total{outcome=\"delivered\"}", 4, 3000), 4);
    cr_assert_eq(metric(d, "peerd_webhook_retries_total"), 3);
    cr_assert_eq(metric(d, "peerd_webhook_deliveries_total{outcome=\"failed\"}"), 0);
    free(id);
    peerd_stop(d);
    MHD_stop_daemon(md);
}

/* An event the receiver refuses (4xx) is not tried again; one it keeps
 * failing (5xx) is given up on after six tries, about 8 s; both are in the
 * event log as webhook_failed, naming why, and the events after them
 * arrive, in order. */
Test(webhooks, refused_and_given_up_events_are_logged_and_counted, .timeout = 90)
{
    static receiver h = { .fail_type = "created", .refuse_type = "stopped" };
    int port;
    struct MHD_Daemon *md = receive(&h, &port);
    peerd *d = peerd_start(NULL);
    char opts[256];
    snprintf(opts, sizeof opts, "{\"notify_url\":\"http://127.0.0.1:%d/hook\"}", port);
    char *id = start_peer(d, opts);
    delete_peer(d, id);
    cr_assert(received(&h, "\"type\":\"removed\"", 30000), "%s", h.log);
    char types[256];
    types_in(&h, types, sizeof types);
    cr_assert_str_eq(types, "booted,removed");
    cr_assert_eq(h.posts, 6 + 1 + 1 + 1, "%d POSTs", h.posts);
    cr_assert_eq(metric_until(d, "peerd_webhook_deliveries_total{outcome=\"delivered\"}", 2, 3000), 2);
    cr_assert_eq(metric(d, "peerd_webhook_deliveries_total{outcome=\"failed\"}"), 2);
    cr_assert_eq(metric(d, "peerd_webhook_retries_total"), 5);

    resp *r = http(d, "GET", "/events?follow=0", NULL);
    char want[600];
    snprintf(want, sizeof want, "\"type\":\"webhook_failed\",\"peer\":\"%s\"", id);
    const char *first = strstr(r->body, want);
    cr_assert(first, "%s", r->body);
    cr_assert(strstr(r->body, "created event to http://127.0.0.1:"), "%s", r->body);
    cr_assert(strstr(r->body, "answered HTTP 503 (tried 6 times)"), "%s", r->body);
    cr_assert(strstr(r->body, "stopped event to http://127.0.0.1:"), "%s", r->body);
    cr_assert(strstr(r->body, "answered HTTP 404\""), "a refusal is not tried again: %s", r->body);
    resp_free(r);
    free(id);
    peerd_stop(d);
    MHD_stop_daemon(md);
}

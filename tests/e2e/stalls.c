/*
 * stalls.c — one loop serves every client, so no client's request may hold
 * it: while the heaviest requests peerd knows are served (the largest
 * results, integers and terms both ways, batches, multicalls, floods of
 * console and messages, selectors over many peers), GET /healthz is sent
 * every 10 ms and none of them may wait longer than STALL_BOUND_MS.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* What a loaded 2-core machine holds to: the node, the helper thread, the
 * clients and the probe share the CPUs. */
#define STALL_BOUND_MS 100

typedef struct {
    peerd *d;
    volatile bool stop;
    double worst_ms;
    int probes, failed;
} probe;

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p, (void)ud;
    return size * n;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void *probe_main(void *arg)
{
    probe *pr = arg;
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "%s/healthz", pr->d->base);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    while (!pr->stop) {
        double t0 = now_ms();
        long status = 0;
        if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        double ms = now_ms() - t0;
        if (status != 200) pr->failed++;
        if (ms > pr->worst_ms) pr->worst_ms = ms;
        pr->probes++;
        usleep(10000);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static resp *post(peerd *d, const char *path, const char *body)
{
    return http(d, "POST", path, body);
}

static void expect_status(resp *r, long status, const char *what)
{
    cr_expect_eq(r->status, status, "%s: %ld %.300s", what, r->status, r->body ? r->body : "");
    resp_free(r);
}

Test(stalls, no_request_holds_the_loop, .timeout = 300)
{
    const char *opts[] = { "--max-peers", "64", NULL };
    peerd *d = peerd_start(opts);
    /* The nodes below peerd's priority: this measures peerd's turns, not how
     * the kernel shares two CPUs between the loop and nodes that compute. */
    char *p = start_peer(d, "{\"labels\":{\"role\":\"heavy\"},\"exec\":[\"nice\",\"-n\",\"19\",\"erl\"]}");
    char *group[16];
    for (int i = 0; i < 16; i++) group[i] = start_peer(d, "{\"labels\":{\"role\":\"member\",\"stall\":\"yes\"},\"exec\":[\"nice\",\"-n\",\"19\",\"erl\"]}");

    probe pr = { .d = d };
    pthread_t t;
    pthread_create(&t, NULL, probe_main, &pr);
    usleep(100000);

    char path[256], url[256];
    snprintf(path, sizeof path, "/peers/%s/call", p);

    /* The console flooded and the messages followed, all the while. */
    snprintf(url, sizeof url, "/peers/%s/console?follow=1", p);
    pid_t console = curl_spawn(d, url, "/tmp/peerd-stalls-console.out", NULL);
    snprintf(url, sizeof url, "/peers/%s/messages?follow=1", p);
    pid_t messages = curl_spawn(d, url, "/tmp/peerd-stalls-messages.out", NULL);
    node_eval(d, p, "io:put_chars(user, binary:copy(<<\"flood \">>, 5000000))", true);

    /* Results: a 9,030,900-digit integer, 30 MB of binary, a list of 2,000,000. */
    resp *r = post(d, path, "{\"module\":\"erlang\",\"function\":\"bsl\",\"args\":[1,30000000],\"timeout_ms\":60000}");
    cr_expect_eq(r->status, 200, "%.200s", r->body);
    const char *digits = jstr(r, "result");
    cr_expect(digits && strlen(digits) == 9030900, "2^30000000 has 9,030,900 digits: %zu", digits ? strlen(digits) : 0);
    resp_free(r);
    expect_status(post(d, path, "{\"module\":\"binary\",\"function\":\"copy\",\"args\":[\"x\",30000000],\"timeout_ms\":60000}"), 200, "30 MB binary");
    expect_status(post(d, path, "{\"module\":\"lists\",\"function\":\"seq\",\"args\":[1,2000000],\"timeout_ms\":60000}"), 200, "a list of 2,000,000");

    /* Terms in the request: the largest integer taken, a 1 MiB body of numbers. */
    {
        size_t n = 100000;   /* the most digits taken */
        char *body = malloc(n + 200);
        int k = sprintf(body, "{\"module\":\"erlang\",\"function\":\"integer_to_list\",\"args\":\"[");
        memset(body + k, '7', n);
        strcpy(body + k + n, "]\",\"timeout_ms\":60000}");
        r = post(d, path, body);
        cr_expect_eq(r->status, 200, "%.200s", r->body);
        const char *res = jstr(r, "result");
        cr_expect(res && strlen(res) == n + 2, "100,000 sevens came back as a string");
        resp_free(r);
        free(body);
        size_t cap = 1 << 20;
        body = malloc(cap);
        k = sprintf(body, "{\"module\":\"erlang\",\"function\":\"length\",\"args\":[[");
        int count = 0;
        while ((size_t)k < cap - 64) {
            count++;
            k += sprintf(body + k, "%s%d", count > 1 ? "," : "", count);
        }
        sprintf(body + k, "]]}");
        r = post(d, path, body);
        cr_expect_eq(r->status, 200, "%.200s", r->body);
        char want[32];
        snprintf(want, sizeof want, "%d", count);
        cr_expect_str_eq(jstr(r, "result"), want);
        resp_free(r);
        free(body);
    }

    /* eval and a multicall of large results; a batch of 10,000 with a large line. */
    snprintf(url, sizeof url, "/peers/%s/eval", p);
    expect_status(post(d, url, "{\"expr\":\"lists:duplicate(500000, {a, <<\\\"b\\\">>}).\"}"), 200, "eval");
    expect_status(post(d, "/calls", "{\"selector\":\"role=member\",\"module\":\"lists\",\"function\":\"seq\",\"args\":[1,200000]}"), 200,
                  "multicall");
    {
        size_t cap = 10001 * 80;
        char *body = malloc(cap);
        size_t k = 0;
        k += (size_t)sprintf(body + k, "{\"module\":\"lists\",\"function\":\"seq\",\"args\":[1,1000000],\"timeout_ms\":60000}\n");
        for (int i = 0; i < 10000; i++) k += (size_t)sprintf(body + k, "{\"module\":\"erlang\",\"function\":\"abs\",\"args\":[%d]}\n", -i);
        snprintf(url, sizeof url, "/peers/%s/calls", p);
        r = http_body(d, "POST", url, body, k, "application/x-ndjson", NULL);
        cr_expect_eq(r->status, 200);
        cr_expect(r->body && strstr(r->body, "\"line\":10001,\"outcome\":\"ok\",\"result\":\"9999\""), "the batch came back whole");
        resp_free(r);
        free(body);
    }

    /* A large message to peerd, and selectors over the group. */
    node_eval(d, p, "user ! {message, inbox, lists:seq(1, 1500000)}", true);
    for (int i = 0; i < 20; i++) expect_status(http(d, "GET", "/peers?selector=role%3Dmember,stall", NULL), 200, "selector");

    cr_expect(file_has("/tmp/peerd-stalls-console.out", "flood flood", 30000), "the flood reached its follower");
    cr_expect(file_has("/tmp/peerd-stalls-messages.out", "\"to\":\"inbox\"", 30000), "the message reached its follower");
    expect_status(http(d, "DELETE", "/peers?selector=stall%3Dyes", NULL), 200, "group delete");

    pr.stop = true;
    pthread_join(t, NULL);
    r = http(d, "GET", "/healthz", NULL);
    double longest = jnum(r, "longest_turn_ms");
    resp_free(r);
    cr_log_info("stalls: %d probes, worst %.1f ms; longest turn %.1f ms", pr.probes, pr.worst_ms, longest);
    cr_expect_gt(pr.probes, 100, "the probe ran all along: %d", pr.probes);
    cr_expect_eq(pr.failed, 0, "every probe was answered 200");
    cr_expect_lt(pr.worst_ms, STALL_BOUND_MS, "a probe waited %.1f ms", pr.worst_ms);
    cr_expect_lt(longest, STALL_BOUND_MS, "the loop was busy %.1f ms at once", longest);

    delete_peer(d, p);
    child_wait(console, 10000);
    child_wait(messages, 10000);
    unlink("/tmp/peerd-stalls-console.out");
    unlink("/tmp/peerd-stalls-messages.out");
    for (int i = 0; i < 16; i++) free(group[i]);
    free(p);
    peerd_stop(d);
}

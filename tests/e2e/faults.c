/*
 * faults.c — a peerd whose timers cannot be armed (from 2.5 s after its
 * start, by PEERD_FAULT_TIMERS_AFTER_MS, as if out of memory): what needed
 * a timer fails, saying so, and nothing hangs — a call with a timeout, a
 * lease renewal, a batch over TCP (its reads go on unpaused), the HTTP
 * deadline sweep, and the whole shutdown. And a
 * peerd whose allocations fail now and then: each request is still
 * answered, and no node is lost.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

typedef struct { char *p; size_t len; } buf_t;

Test(injected_faults, timers_that_cannot_be_armed_fail_what_needed_them, .timeout = 90)
{
    setenv("PEERD_FAULT_TIMERS_AFTER_MS", "3000", 1);
    double t0 = now_s();
    peerd *d = peerd_start(NULL);
    unsetenv("PEERD_FAULT_TIMERS_AFTER_MS");
    char *id = start_peer(d, "{\"connection\":0,\"lease_ms\":600000,\"heartbeat_ms\":0}");
    cr_assert_lt(now_s() - t0, 3.9, "the peer booted before the timers fail (else the test says nothing)");
    while (now_s() - t0 < 3.2) usleep(50000);

    char path[256];
    snprintf(path, sizeof path, "/peers/%s/call", id);
    resp *r = http(d, "POST", path, "{\"module\":\"erlang\",\"function\":\"node\",\"timeout_ms\":1000}");
    cr_assert_eq(r->status, 500, "%s", r->body);
    cr_assert_str_eq(jstr(r, "detail"), "out of memory arming the call's timeout", "%s", r->body);
    resp_free(r);
    r = http(d, "POST", path, "{\"module\":\"erlang\",\"function\":\"node\",\"timeout_ms\":\"infinity\"}");
    cr_assert_eq(r->status, 200, "a call that needs no timer still goes: %s", r->body);
    resp_free(r);
    /* A batch whose calls need no timer: over TCP, with a window of calls
     * in flight, reads of the node's socket pause between bursts of
     * replies, on a timer (conn.h); with none to be had they go on. */
    enum { N = 3000 };
    static char lines[N * 80];
    size_t len = 0;
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(lines + len, sizeof lines - len, "{\"module\":\"erlang\",\"function\":\"node\",\"timeout_ms\":\"infinity\"}\n");
    snprintf(path, sizeof path, "/peers/%s/calls", id);
    r = http_body(d, "POST", path, lines, len, "application/x-ndjson", NULL);
    cr_assert_eq(r->status, 200, "%.300s", r->body);
    int ok = 0;
    for (const char *p = r->body; (p = strstr(p, "\"outcome\":\"ok\"")); p++) ok++;
    cr_assert_eq(ok, N, "%d of %d calls answered: %.300s", ok, N, r->body);
    resp_free(r);
    snprintf(path, sizeof path, "/peers/%s/lease", id);
    r = http(d, "PUT", path, NULL);
    cr_assert_eq(r->status, 500, "%s", r->body);
    cr_assert_str_eq(jstr(r, "detail"), "out of memory arming the lease", "%s", r->body);
    resp_free(r);
    /* The deadline sweep runs without its timer, from the loop's turns. */
    sleep(2);
    r = http(d, "GET", "/healthz", NULL);
    cr_assert_eq(r->status, 200);
    resp_free(r);
    /* And the stop completes: the peer, HTTP, the webhooks, without timers. */
    double t1 = now_s();
    cr_assert_eq(peerd_stop(d), 0);
    cr_assert_lt(now_s() - t1, 15, "the stop took %.1f s", now_s() - t1);
    free(id);
}

#ifndef PEERD_SANITIZED
/* One request that may fail at the socket (libmicrohttpd closes a
 * connection it has no memory for): its status, 0 if none came, and
 * whether the body was JSON (problem+json when an error). */
typedef struct { long status; bool json, problem; CURLcode rc; char code[64], text[160]; } outcome;

static size_t keep(char *p, size_t size, size_t n, void *ud)
{
    buf_t *b = ud;
    size_t k = size * n;
    char *q = realloc(b->p, b->len + k + 1);
    if (!q) return 0;
    memcpy(q + b->len, p, k);
    b->p = q;
    b->len += k;
    b->p[b->len] = 0;
    return k;
}

static outcome attempt(peerd *d, const char *method, const char *path, const char *body)
{
    outcome o = {0};
    buf_t b = {0};
    char url[512];
    snprintf(url, sizeof url, "%s%s", d->base, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 15L);
    struct curl_slist *h = NULL;
    if (body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    o.rc = curl_easy_perform(c);
    if (o.rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &o.status);
        char *ct = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        size_t from = b.len > 100 ? b.len - 100 : 0;   /* the end says more than the head */
        snprintf(o.text, sizeof o.text, "[%s] ...%.*s", ct ? ct : "no type", (int)(b.len - from), b.p ? b.p + from : "");
        cJSON *j = b.p ? cJSON_Parse(b.p) : NULL;
        o.json = j != NULL;
        o.problem = ct && strstr(ct, "application/problem+json");
        const cJSON *code = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
        if (cJSON_IsString(code)) snprintf(o.code, sizeof o.code, "%s", code->valuestring);
        cJSON_Delete(j);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(b.p);
    return o;
}

/* The beam processes whose parent is peerd. */
static int nodes_of(pid_t parent)
{
    int n = 0;
    DIR *dir = opendir("/proc");
    for (struct dirent *e; dir && (e = readdir(dir));) {
        char path[300], line[512];
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fgets(line, sizeof line, f)) {
            char *close = strrchr(line, ')');
            int ppid = 0;
            if (close && strstr(line, "(beam") && sscanf(close + 2, "%*c %d", &ppid) == 1 && ppid == parent) n++;
        }
        fclose(f);
    }
    if (dir) closedir(dir);
    return n;
}

/* peerd with an allocator that fails one allocation in 53 for 6 s
 * (tests/e2e/failmalloc.c): every request in that time — calls, a batch,
 * lists, console and events, starts and stops — is answered whole (or, when
 * libmicrohttpd itself had no memory, its connection closed) and none
 * waits; no node is leaked or left unheld; and after it, all works. */
Test(injected_faults, allocations_that_fail_reach_their_requests, .timeout = 120)
{
    setenv("LD_PRELOAD", FAILMALLOC_SO, 1);
    setenv("FAILMALLOC_EVERY", "53", 1);
    setenv("FAILMALLOC_AFTER_MS", "4000", 1);
    setenv("FAILMALLOC_FOR_MS", "6000", 1);
    double t0 = now_s();
    peerd *d = peerd_start(NULL);
    unsetenv("LD_PRELOAD");
    unsetenv("FAILMALLOC_EVERY");
    unsetenv("FAILMALLOC_AFTER_MS");
    unsetenv("FAILMALLOC_FOR_MS");
    char *id = start_peer(d, "{\"heartbeat_ms\":0}");
    cr_assert_lt(now_s() - t0, 3.9, "the peer booted before allocations fail (else the test says nothing)");
    while (now_s() - t0 < 4.1) usleep(20000);

    char call_path[128], batch_path[128], console_path[128], get_path[128], eval_path[128];
    snprintf(call_path, sizeof call_path, "/peers/%s/call", id);
    snprintf(eval_path, sizeof eval_path, "/peers/%s/eval", id);
    snprintf(batch_path, sizeof batch_path, "/peers/%s/calls", id);
    snprintf(console_path, sizeof console_path, "/peers/%s/console", id);
    snprintf(get_path, sizeof get_path, "/peers/%s", id);
    static const char *const starts_stop = "{\"heartbeat_ms\":0,\"labels\":{\"faults\":\"yes\"}}";
    struct { const char *method, *path, *body; } reqs[] = {
        { "POST", call_path, "{\"module\":\"erlang\",\"function\":\"self\"}" },
        { "POST", batch_path, "[{\"module\":\"erlang\",\"function\":\"node\"},{\"module\":\"lists\",\"function\":\"seq\",\"args\":[1,50]}]" },
        /* Large pieces: a batch line handed to its stream whole, and a
         * large format framed on the helper, its text kept where it came. */
        { "POST", batch_path, "[{\"module\":\"erlang\",\"function\":\"node\"},{\"module\":\"lists\",\"function\":\"seq\",\"args\":[1,60000]}]" },
        { "POST", eval_path, "{\"expr\":\"io:format(\\\"~w~n\\\", [lists:seq(1, 60000)]).\"}" },
        { "GET", "/peers", NULL },
        { "GET", get_path, NULL },
        { "GET", console_path, NULL },
        { "GET", "/events?follow=0", NULL },
        { "GET", "/metrics", NULL },
        { "POST", "/peers", starts_stop },
        { "DELETE", "/peers?selector=faults%3Dyes", NULL },
    };
    int n = 0, answered = 0, closed = 0, oom = 0;
    while (now_s() - t0 < 9.8) {
        for (size_t i = 0; i < sizeof reqs / sizeof *reqs; i++, n++) {
            double t = now_s();
            outcome o = attempt(d, reqs[i].method, reqs[i].path, reqs[i].body);
            cr_assert_lt(now_s() - t, 10, "%s %s waited %.1f s", reqs[i].method, reqs[i].path, now_s() - t);
            if (o.rc != CURLE_OK) {
                cr_assert(o.rc == CURLE_GOT_NOTHING || o.rc == CURLE_RECV_ERROR || o.rc == CURLE_PARTIAL_FILE,
                          "%s %s: %s", reqs[i].method, reqs[i].path, curl_easy_strerror(o.rc));
                closed++;
                continue;
            }
            answered++;
            if (o.status >= 400) {
                cr_assert(o.problem && o.code[0], "%s %s: %ld without a problem+json naming it: %s", reqs[i].method, reqs[i].path, o.status, o.text);
                oom += !strcmp(o.code, "out_of_memory");
            }
        }
    }
    cr_log_info("%d requests while allocations failed: %d answered (%d out_of_memory), %d connections closed", n, answered, oom, closed);
    while (now_s() - t0 < 10.3) usleep(20000);

    /* After: the first peer answers, peerd holds every node it started. */
    resp *r = http(d, "POST", call_path, "{\"module\":\"erlang\",\"function\":\"node\"}");
    cr_assert_eq(r->status, 200, "%s", r->body);
    resp_free(r);
    r = http(d, "DELETE", "/peers?selector=faults%3Dyes", NULL);
    cr_assert(r->status == 200 || r->status == 404, "%ld %s", r->status, r->body);
    resp_free(r);
    r = http(d, "GET", "/peers", NULL);
    cr_assert_eq(r->status, 200);
    int held = cJSON_GetArraySize(r->json);
    resp_free(r);
    double t1 = now_s();
    while (nodes_of(d->pid) > held && now_s() - t1 < 10) usleep(50000);
    cr_assert_eq(nodes_of(d->pid), held, "every node peerd started is one it holds");
    delete_peer(d, id);
    cr_assert_eq(peerd_stop(d), 0);
    free(id);
}
#else
Test(injected_faults, allocations_that_fail_reach_their_requests)
{
    cr_skip_test("an LD_PRELOAD allocator cannot stand in front of the sanitizer's own (the plain build runs this)");
}
#endif

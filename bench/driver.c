/*
 * driver.c — the peerd side of bench/run: the same work as native.escript,
 * through peerd's HTTP API with libcurl. Prints "peerd CONN METRIC VALUE".
 *   driver BASE_URL standard_io|tcp|distribution   boot, console, io:format lines
 *   driver BASE_URL fanout                   console to 100 followers
 *   driver BASE_URL scale N PID              N peers held: memory, idle CPU, all callable
 * Call latency and throughput, and GET throughput, are measured with wrk
 * (bench/run): a client that costs the shared CPUs less than libcurl does.
 */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *base;

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

typedef struct { char *p; size_t n; } body;

static size_t keep(char *p, size_t size, size_t n, void *ud)
{
    body *b = ud;
    b->p = realloc(b->p, b->n + size * n + 1);
    memcpy(b->p + b->n, p, size * n);
    b->n += size * n;
    b->p[b->n] = 0;
    return size * n;
}

static size_t count(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    *(size_t *)ud += size * n;
    return size * n;
}

static CURL *easy;

static long request(const char *method, const char *path, const char *json, body *out)
{
    if (!easy) easy = curl_easy_init();
    char url[1024];
    snprintf(url, sizeof url, "%s%s", base, path);
    body b = {0};
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, json ? (long)strlen(json) : 0L);
    if (!json) curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L), curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &b);
    if (curl_easy_perform(easy) != CURLE_OK) { fprintf(stderr, "driver: %s %s failed\n", method, path); exit(1); }
    long code;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    if (out) *out = b; else free(b.p);
    return code;
}

static char *start_peer(const char *opts)
{
    body b;
    if (request("POST", "/peers", opts, &b) != 201) { fprintf(stderr, "driver: start failed: %s\n", b.p); exit(1); }
    cJSON *j = cJSON_Parse(b.p);
    char *id = strdup(cJSON_GetObjectItem(j, "id")->valuestring);
    cJSON_Delete(j);
    free(b.p);
    return id;
}

static void stop_peer(const char *id)
{
    char path[256];
    snprintf(path, sizeof path, "/peers/%s", id);
    request("DELETE", path, NULL, NULL);
}

static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }

static void out(const char *conn, const char *metric, double v) { printf("peerd %s %s %.1f\n", conn, metric, v); fflush(stdout); }

/* Evaluates Erlang code on the node (erl_scan -> erl_parse -> erl_eval), the
 * last step cast or called. */
static void eval_on_node(const char *id, const char *code, bool cast)
{
    char path[256], json[4096];
    body b;
    snprintf(path, sizeof path, "/peers/%s/call", id);
    snprintf(json, sizeof json, "{\"module\":\"erl_scan\",\"function\":\"string\",\"args\":[{\"$charlist\":\"%s.\"}]}", code);
    request("POST", path, json, &b);
    cJSON *j = cJSON_Parse(b.p);
    free(b.p);
    char *toks = cJSON_PrintUnformatted(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "value"), "$tuple"), 1));
    cJSON_Delete(j);
    size_t n = strlen(toks) + 200;
    char *req = malloc(n);
    snprintf(req, n, "{\"module\":\"erl_parse\",\"function\":\"parse_exprs\",\"args\":[%s]}", toks);
    request("POST", path, req, &b);
    j = cJSON_Parse(b.p);
    free(b.p);
    char *exprs = cJSON_PrintUnformatted(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "value"), "$tuple"), 1));
    cJSON_Delete(j);
    n = strlen(exprs) + 200;
    req = realloc(req, n);
    snprintf(req, n, "{\"module\":\"erl_eval\",\"function\":\"exprs\",\"args\":[%s,[]],\"timeout_ms\":300000}", exprs);
    if (cast) {
        snprintf(path, sizeof path, "/peers/%s/cast", id);
        req[strlen(req) - strlen(",\"timeout_ms\":300000}")] = 0;
        strcat(req, "}");
    }
    request("POST", path, req, NULL);
    free(req); free(toks); free(exprs);
}

/* opts may hold one %d, for a name per start. */
static void boot(const char *conn, const char *opts)
{
    double t[7];
    for (int i = 0; i < 7; i++) {
        char o[256];
        snprintf(o, sizeof o, opts, i);
        double t0 = now_us();
        char *id = start_peer(o);
        t[i] = now_us() - t0;
        stop_peer(id);
        free(id);
    }
    qsort(t, 7, sizeof *t, cmp);
    out(conn, "boot_ms", t[3] / 1000);
}

/* Followers of one peer's console, each counting bytes until `want`. */
static double console(const char *id, int followers, size_t chunks)
{
    char url[1024], path[256];
    body b;
    snprintf(path, sizeof path, "/peers/%s", id);
    request("GET", path, NULL, &b);
    cJSON *j = cJSON_Parse(b.p);
    free(b.p);
    long long since = (long long)cJSON_GetObjectItem(j, "console_bytes")->valuedouble;
    cJSON_Delete(j);
    snprintf(url, sizeof url, "%s/peers/%s/console?follow=1&since=%lld", base, id, since);
    CURLM *m = curl_multi_init();
    size_t *got = calloc((size_t)followers, sizeof *got);
    for (int i = 0; i < followers; i++) {
        CURL *e = curl_easy_init();
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, count);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &got[i]);
        curl_multi_add_handle(m, e);
    }
    int running;
    for (int i = 0; i < 20; i++) { curl_multi_perform(m, &running); curl_multi_poll(m, NULL, 0, 10, NULL); }
    char code[256];
    snprintf(code, sizeof code, "B = binary:copy(<<\\\"x\\\">>, 65536), [io:put_chars(user, B) || _ <- lists:seq(1, %zu)], ok", chunks);
    double t0 = now_us();
    eval_on_node(id, code, true);
    size_t want = chunks * 65536;
    for (;;) {
        curl_multi_perform(m, &running);
        int complete = 0;
        for (int i = 0; i < followers; i++) complete += got[i] >= want;
        if (complete == followers) break;
        curl_multi_poll(m, NULL, 0, 10, NULL);
    }
    double t = now_us() - t0;
    free(got);
    /* The streams are left to close with the peer. */
    return (double)want / 1e6 / (t / 1e6);
}

static long rss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long kb = 0;
    while (f && fgets(line, sizeof line, f)) if (!strncmp(line, "VmRSS:", 6)) kb = atol(line + 6);
    if (f) fclose(f);
    return kb;
}

static long cpu_ticks(int pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    long ut = 0, st = 0;
    if (f && fgets(line, sizeof line, f)) sscanf(strrchr(line, ')') + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st);
    if (f) fclose(f);
    return ut + st;
}

int main(int argc, char **argv)
{
    if (argc < 3) { fputs("usage: driver BASE_URL standard_io|tcp|distribution|fanout|scale N PID\n", stderr); return 2; }
    base = argv[1];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *mode = argv[2];
    if (!strcmp(mode, "standard_io") || !strcmp(mode, "tcp") || !strcmp(mode, "distribution")) {
        const char *opts = !strcmp(mode, "tcp") ? "{\"connection\":0}"
                         : !strcmp(mode, "distribution") ? "{\"name\":\"bench_%d\",\"connection\":\"distribution\"}" : "{}";
        boot(mode, opts);
        char o[256];
        snprintf(o, sizeof o, opts, 100);
        char *id = start_peer(o);
        out(mode, "console_mb_per_s", console(id, 1, 320));
        double t0 = now_us();
        eval_on_node(id, "[io:format(user, \\\"line ~p~n\\\", [I]) || I <- lists:seq(1, 20000)], ok", false);
        out(mode, "format_lines_per_s", 20000 / ((now_us() - t0) / 1e6));
        stop_peer(id);
    } else if (!strcmp(mode, "fanout")) {
        char *id = start_peer("{}");
        out("standard_io", "fanout100_mb_per_s", console(id, 100, 32));
        stop_peer(id);
    } else if (!strcmp(mode, "scale") && argc > 4) {
        int n = atoi(argv[3]), pid = atoi(argv[4]);
        long rss0 = rss_kb(pid);
        char **ids = calloc((size_t)n, sizeof *ids);
        double t0 = now_us();
        for (int i = 0; i < n; i++) {
            body b;
            long code = request("POST", "/peers", "{\"wait_boot\":false,\"env\":{\"ERL_FLAGS\":\"+S 1 +SDio 1\"}}", &b);
            if (code != 202) { fprintf(stderr, "driver: peer %d: %ld %s\n", i, code, b.p); return 1; }
            cJSON *j = cJSON_Parse(b.p);
            ids[i] = strdup(cJSON_GetObjectItem(j, "id")->valuestring);
            cJSON_Delete(j);
            free(b.p);
        }
        int ok = 0;
        for (int i = 0; i < n; i++) {
            char path[256];
            snprintf(path, sizeof path, "/peers/%s/wait?state=running&timeout_ms=600000", ids[i]);
            request("GET", path, NULL, NULL);
            snprintf(path, sizeof path, "/peers/%s/call", ids[i]);
            body b;
            if (request("POST", path, "{\"module\":\"erlang\",\"function\":\"node\",\"args\":[]}", &b) == 200) ok++;
            free(b.p);
        }
        double boot_all = (now_us() - t0) / 1e6;
        long rss1 = rss_kb(pid), c0 = cpu_ticks(pid);
        sleep(5);
        long c1 = cpu_ticks(pid);
        out("standard_io", "peers_callable", ok);
        out("standard_io", "seconds_to_boot_all", boot_all);
        out("standard_io", "peerd_kib_per_peer", (double)(rss1 - rss0) / n);
        out("standard_io", "idle_cpu_percent", (c1 - c0) / 5.0 / sysconf(_SC_CLK_TCK) * 100);
        for (int i = 0; i < n; i++) { stop_peer(ids[i]); free(ids[i]); }
        free(ids);
    } else {
        fputs("driver: unknown mode\n", stderr);
        return 2;
    }
    if (easy) curl_easy_cleanup(easy);
    curl_global_cleanup();
    return 0;
}

/*
 * metrics.c — GET /metrics is Prometheus text (every line parses, and
 * Debian's promtool finds nothing to say), its counters move with what peerd
 * does (every call however it came, refusals, requests by route, events by
 * type, the process), and a real Prometheus scraping peerd answers rate()
 * and histogram_quantile() queries with what the traffic was.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* The value of a sample line "name{labels} value" (labels as written), or -1. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, series, n) && p[n] == ' ') return atof(p + n + 1);
    return -1;
}

static char *metrics(peerd *d)
{
    resp *r = http(d, "GET", "/metrics", NULL);
    cr_assert_eq(r->status, 200);
    cr_expect(!strncmp(r->ctype, "text/plain; version=0.0.4", 25), "%s", r->ctype);
    char *t = strdup(r->body);
    resp_free(r);
    return t;
}

/* promtool check metrics reads the text from stdin: silent and 0 when it
 * is clean (names, units, types, HELP and histogram conventions). */
static void promtool_clean(const char *text)
{
    needs(!sh("command -v promtool >/dev/null"), "promtool (Debian's prometheus)");
    char in[] = "/tmp/peerd-metrics-XXXXXX";
    int fd = mkstemp(in);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char out[64];
    snprintf(out, sizeof out, "%s.out", in);
    int rc = sh("promtool check metrics < %s > %s 2>&1", in, out);
    char *said = slurp(out, NULL);
    cr_expect_eq(rc, 0, "promtool check metrics: %s", said ? said : "?");
    cr_expect(said && !said[0], "promtool check metrics has something to say: %s", said ? said : "?");
    free(said);
    unlink(in);
    unlink(out);
}

Test(metrics, prometheus_text_whose_counters_move, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *before = metrics(d);
    regex_t sample_re, help_re;
    cr_assert_eq(regcomp(&sample_re, "^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"[^\"]*\"(,[a-zA-Z_][a-zA-Z0-9_]*=\"[^\"]*\")*\\})? (-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|\\+Inf|NaN)$", REG_EXTENDED), 0);
    cr_assert_eq(regcomp(&help_re, "^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped))$", REG_EXTENDED), 0);
    char *copy = strdup(before), *save = NULL;
    int lines = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save), lines++)
        cr_expect(!regexec(line[0] == '#' ? &help_re : &sample_re, line, 0, NULL, 0), "not Prometheus text: %s", line);
    free(copy);
    cr_expect_gt(lines, 20);

    char *id = start_peer(d, "{}");
    resp_free(call(d, id, "erlang", "node", "[]"));
    resp_free(call(d, id, "erlang", "node", "[]"));
    resp_free(call(d, id, "erlang", "throw", "\"[x]\""));
    resp_free(call(d, id, "io", "format", "\"[user, \\\"12345\\\", []]\""));
    char *after = metrics(d);
    promtool_clean(after);
    cr_expect_eq(sample(after, "peerd_peer_starts_total") - sample(before, "peerd_peer_starts_total"), 1);
    cr_expect_eq(sample(after, "peerd_peers{state=\"running\"}"), 1);
    cr_expect_eq(sample(after, "peerd_calls_total{kind=\"call\",outcome=\"ok\"}"), 3, "%s", after);
    cr_expect_eq(sample(after, "peerd_calls_total{kind=\"call\",outcome=\"exception\"}"), 1);
    cr_expect_eq(sample(after, "peerd_call_seconds_count"), 4);
    cr_expect_eq(sample(after, "peerd_call_seconds_bucket{le=\"+Inf\"}"), 4);
    cr_expect_eq(sample(after, "peerd_call_seconds_bucket{le=\"60\"}"), 4);
    cr_expect_eq(sample(after, "peerd_call_seconds_bucket{le=\"5e-05\"}") >= 0, 1, "the first bucket is 50 µs");
    cr_expect_eq(sample(after, "peerd_boot_seconds_count"), 1);
    cr_expect_geq(sample(after, "peerd_console_bytes_total"), 5);
    cr_expect_eq(sample(after, "peerd_http_requests_total{route=\"/peers/{id}/call\",method=\"POST\",status=\"200\"}"), 3);
    cr_expect_eq(sample(after, "peerd_http_requests_total{route=\"/peers/{id}/call\",method=\"POST\",status=\"422\"}"), 1);
    cr_expect_eq(sample(after, "peerd_http_requests_total{route=\"/peers\",method=\"POST\",status=\"201\"}"), 1);
    /* Prometheus's own scrapes are a route of their own, not API traffic. */
    cr_expect_eq(sample(after, "peerd_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"200\"}"), 1);
    cr_expect_eq(sample(after, "peerd_http_request_duration_seconds_count{route=\"/peers/{id}/call\",method=\"POST\"}"), 4);
    cr_expect_eq(sample(after, "peerd_events_total{type=\"created\"}"), 1);
    cr_expect_eq(sample(after, "peerd_events_total{type=\"booted\"}"), 1);
    cr_expect_eq(sample(after, "peerd_events_total{type=\"stopped\"}"), 0);
    cr_expect_eq(sample(after, "peerd_open_streams"), 0);
    regfree(&sample_re);
    regfree(&help_re);
    free(before);
    free(after);
    free(id);
    peerd_stop(d);
}

/* Every call counted however it came, with its outcome; refusals too. */
Test(metrics, every_call_is_counted_by_kind_and_outcome, .timeout = 90)
{
    peerd *d = peerd_start(NULL);
    char *a = start_peer(d, "{\"labels\":{\"m\":\"x\"}}");
    char *b = start_peer(d, "{\"labels\":{\"m\":\"x\"}}");
    char path[256];
    resp_free(call(d, a, "erlang", "node", "[]"));
    resp *r = http(d, "POST", "/peers/nobody/call", "{\"module\":\"erlang\",\"function\":\"node\"}");
    cr_expect_eq(r->status, 404);
    resp_free(r);
    snprintf(path, sizeof path, "/peers/%s/call", a);
    r = http(d, "POST", path, "{\"module\":\"erlang\"}");
    cr_expect_eq(r->status, 400);
    resp_free(r);
    r = http(d, "POST", path, "{\"module\":\"timer\",\"function\":\"sleep\",\"args\":[1000],\"timeout_ms\":50}");
    cr_expect_eq(r->status, 504, "%s", r->body);
    resp_free(r);
    /* A batch: two calls and a line that is none. */
    snprintf(path, sizeof path, "/peers/%s/calls", a);
    const char *lines = "{\"module\":\"erlang\",\"function\":\"node\"}\nnot json\n{\"module\":\"erlang\",\"function\":\"node\"}\n";
    r = http_body(d, "POST", path, lines, strlen(lines), "application/x-ndjson", NULL);
    cr_expect_eq(r->status, 200, "%s", r->body);
    resp_free(r);
    /* A multicall to both, and one whose selector picks no one. */
    r = http(d, "POST", "/calls", "{\"selector\":\"m=x\",\"module\":\"erlang\",\"function\":\"node\"}");
    cr_expect_eq(r->status, 200, "%s", r->body);
    resp_free(r);
    r = http(d, "POST", "/calls", "{\"selector\":\"m=nothing\",\"module\":\"erlang\",\"function\":\"node\"}");
    cr_expect_eq(r->status, 404, "%s", r->body);
    resp_free(r);
    snprintf(path, sizeof path, "/peers/%s/eval", b);
    r = http(d, "POST", path, "{\"expr\":\"1 + 1.\"}");
    cr_expect_eq(r->status, 200, "%s", r->body);
    resp_free(r);

    char *m = metrics(d);
    struct { const char *kind, *outcome; double n; } want[] = {
        { "call", "ok", 1 }, { "call", "refused", 2 }, { "call", "timeout", 1 }, { "call", "exception", 0 },
        { "batch", "ok", 2 }, { "batch", "refused", 1 },
        { "multicall", "ok", 2 }, { "multicall", "refused", 1 },
        { "eval", "ok", 1 },
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        char series[128];
        snprintf(series, sizeof series, "peerd_calls_total{kind=\"%s\",outcome=\"%s\"}", want[i].kind, want[i].outcome);
        cr_expect_eq(sample(m, series), want[i].n, "%s: %g, not %g", series, sample(m, series), want[i].n);
    }
    /* Refusals are not in the time histogram: 1 + 1 + 2 + 2 + 1 calls made. */
    cr_expect_eq(sample(m, "peerd_call_seconds_count"), 7, "%s", m);
    /* The timeout: between 50 ms and the 100 ms bucket. */
    cr_expect_eq(sample(m, "peerd_call_seconds_bucket{le=\"0.02\"}") + 1, sample(m, "peerd_call_seconds_count"));
    cr_expect_eq(sample(m, "peerd_http_requests_total{route=\"/peers/{id}/call\",method=\"POST\",status=\"404\"}"), 1);
    cr_expect_eq(sample(m, "peerd_http_requests_total{route=\"/calls\",method=\"POST\",status=\"404\"}"), 1);
    cr_expect_eq(sample(m, "peerd_http_requests_total{route=\"/peers/{id}/calls\",method=\"POST\",status=\"200\"}"), 1);
    /* A path no route has, and a method the route does not take. */
    resp_free(http(d, "GET", "/no/such/thing", NULL));
    resp_free(http(d, "PATCH", "/peers", NULL));
    free(m);
    m = metrics(d);
    cr_expect_eq(sample(m, "peerd_http_requests_total{route=\"other\",method=\"GET\",status=\"404\"}"), 1, "%s", m);
    cr_expect_eq(sample(m, "peerd_http_requests_total{route=\"/peers\",method=\"PATCH\",status=\"405\"}"), 1);
    promtool_clean(m);
    free(m);
    free(a);
    free(b);
    peerd_stop(d);
}

Test(metrics, the_process_and_the_build, .timeout = 30)
{
    peerd *d = peerd_start(NULL);
    char *m = metrics(d);
    cr_expect_gt(sample(m, "process_resident_memory_bytes"), 1 << 20, "%s", m);
    cr_expect_gt(sample(m, "process_virtual_memory_bytes"), sample(m, "process_resident_memory_bytes"));
    cr_expect_geq(sample(m, "process_cpu_seconds_total"), 0);
    double fds = sample(m, "process_open_fds");
    cr_expect_gt(fds, 3);
    cr_expect_geq(sample(m, "process_max_fds"), fds);
    double started = sample(m, "process_start_time_seconds");
    cr_expect(started > (double)time(NULL) - 60 && started <= (double)time(NULL) + 1, "start time %f", started);
    char *id = start_peer(d, "{}");
    free(m);
    m = metrics(d);
    cr_expect_gt(sample(m, "process_open_fds"), fds, "a peer's descriptors are counted");
    cr_expect(strstr(m, "\npeerd_build_info{version=\"0.1.0\",libmicrohttpd=\"0.9."), "%s", m);
    free(m);
    free(id);
    peerd_stop(d);
}

/* ---- a real Prometheus ---- */

typedef struct { char *p; size_t len; } buf_t;

static size_t gather(char *p, size_t size, size_t n, void *ud)
{
    buf_t *b = ud;
    char *q = realloc(b->p, b->len + size * n + 1);
    if (!q) return 0;
    memcpy(q + b->len, p, size * n);
    b->p = q;
    b->len += size * n;
    b->p[b->len] = 0;
    return size * n;
}

/* A query's one value (an instant vector of one sample), or NAN (also while
 * Prometheus is not up yet). */
static double query(int port, const char *promql)
{
    CURL *c = curl_easy_init();
    char *q = curl_easy_escape(c, promql, 0);
    char url[1024];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/query?query=%s", port, q);
    curl_free(q);
    buf_t body = { 0 };
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, gather);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    double v = NAN;
    cJSON *j = rc == CURLE_OK && body.p ? cJSON_Parse(body.p) : NULL;
    const cJSON *result = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "data"), "result");
    if (cJSON_GetArraySize(result) == 1) {
        const cJSON *value = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(result, 0), "value"), 1);
        if (cJSON_IsString(value)) v = atof(value->valuestring);
    }
    cJSON_Delete(j);
    free(body.p);
    return v;
}

/* Waits up to ms for a query to give want. */
static bool query_until(int prom, const char *promql, double want, int ms)
{
    for (int waited = 0; waited < ms; waited += 200) {
        if (query(prom, promql) == want) return true;
        usleep(200000);
    }
    return false;
}

Test(metrics, prometheus_scrapes_and_its_queries_answer_the_traffic, .timeout = 120)
{
    needs(!sh("command -v prometheus >/dev/null"), "prometheus (Debian's)");
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{}");
    char dir[] = "/tmp/peerd-prom-XXXXXX";
    cr_assert(mkdtemp(dir));
    char cfg[128], log[128];
    snprintf(cfg, sizeof cfg, "%s/prometheus.yml", dir);
    snprintf(log, sizeof log, "%s/prometheus.log", dir);
    FILE *f = fopen(cfg, "w");
    fprintf(f, "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
               "scrape_configs:\n  - job_name: peerd\n    static_configs:\n      - targets: ['127.0.0.1:%d']\n", d->port);
    fclose(f);
    int prom = free_port();
    /* timeout: gone even if an assertion ends the test before its kill. */
    cr_assert_eq(sh("timeout 110 prometheus --config.file=%s --storage.tsdb.path=%s/data --web.listen-address=127.0.0.1:%d "
                    "> %s 2>&1 & echo $! > %s/pid", cfg, dir, prom, log, dir), 0);
    /* Up, and scraping peerd: the calls' counter is there at 0. */
    cr_assert(query_until(prom, "up{job=\"peerd\"}", 1, 30000), "prometheus never scraped peerd; see %s", log);
    cr_assert(query_until(prom, "peerd_calls_total{kind=\"call\",outcome=\"ok\"}", 0, 10000));

    /* Known traffic: 200 quick calls and 30 that take 150 ms. */
    for (int i = 0; i < 200; i++) resp_free(call(d, id, "erlang", "node", "[]"));
    for (int i = 0; i < 30; i++) resp_free(call(d, id, "timer", "sleep", "[150]"));
    cr_assert(query_until(prom, "peerd_calls_total{kind=\"call\",outcome=\"ok\"}", 230, 10000),
              "prometheus never saw the 230 calls");
    sleep(2);   /* two more scrapes: the window's last points after the traffic */

    /* rate(): the scrapes are traffic at a known rate, one a second. */
    double scrapes = query(prom, "rate(peerd_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"200\"}[10s])");
    cr_expect(scrapes > 0.7 && scrapes < 1.3, "scrapes a second: %f", scrapes);
    /* Every call in the window: increase() over the whole run is 230 give or
     * take its extrapolation to the window's ends. */
    double calls = query(prom, "sum(increase(peerd_calls_total{kind=\"call\"}[5m]))");
    cr_expect(calls >= 229 && calls < 300, "increase of calls: %f", calls);
    /* histogram_quantile(): half are quick (well under 20 ms); the slowest
     * 13 % took 150 ms, in the (0.1, 0.2] bucket. */
    double p50 = query(prom, "histogram_quantile(0.5, sum by (le) (rate(peerd_call_seconds_bucket[5m])))");
    cr_expect(p50 > 0 && p50 <= 0.02, "p50 %f", p50);
    double p99 = query(prom, "histogram_quantile(0.99, sum by (le) (rate(peerd_call_seconds_bucket[5m])))");
    cr_expect(p99 > 0.1 && p99 <= 0.2, "p99 %f", p99);
    double http99 = query(prom, "histogram_quantile(0.99, sum by (le) "
                                 "(rate(peerd_http_request_duration_seconds_bucket{route=\"/peers/{id}/call\"}[5m])))");
    cr_expect(http99 > 0.1 && http99 <= 0.2, "HTTP p99 of /call %f", http99);

    sh("kill $(cat %s/pid); sleep 0.3; rm -rf %s", dir, dir);
    free(id);
    peerd_stop(d);
}

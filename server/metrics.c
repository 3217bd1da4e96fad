/*
 * metrics.c — the HTTP side's figures and the process's, as Prometheus text
 * (the text format's conventions: _total counters, seconds, bytes,
 * cumulative histogram buckets).
 */
#include "metrics.h"
#include "proc.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <dirent.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

const double metrics_bucket_s[METRICS_BUCKETS] = {
    0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
    0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60,
};

static const char *const method_names[METRICS_METHODS] = { "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other" };
static const char *const via_names[VIA_KINDS] = { "", "call", "batch", "multicall", "eval" };
static const char *const outcome_names[CALL_OUTCOMES] = { "ok", "exception", "timeout", "noconnection", "error", "refused" };

double metrics_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int metrics_method(const char *method)
{
    for (int i = 0; i < METRICS_METHODS - 1; i++)
        if (!strcmp(method, method_names[i])) return i;
    return METRICS_METHODS - 1;
}

static void observe(metrics_histogram *h, double seconds)
{
    int i = 0;
    while (i < METRICS_BUCKETS && seconds > metrics_bucket_s[i]) i++;
    if (i < METRICS_BUCKETS) h->bucket[i]++;
    h->count++;
    h->sum += seconds;
}

void metrics_count_request(metrics *m, int route, int method, unsigned status, double seconds)
{
    if (route < 0 || route >= METRICS_ROUTES) route = METRICS_ROUTES - 1;
    metrics_cell *c = &m->cell[route][method];
    int i = 0;
    while (i < METRICS_STATUSES - 1 && c->status[i] && c->status[i] != status) i++;
    if (!c->status[i]) c->status[i] = (uint16_t)status;
    else if (c->status[i] != status) c->status[i] = 0, i = METRICS_STATUSES - 1;   /* the last slot: "other" */
    c->count[i]++;
    observe(&c->latency, seconds);
}

void metrics_count_call(metrics *m, call_via via, call_outcome outcome, double seconds)
{
    if (via <= VIA_NONE || via >= VIA_KINDS) return;
    m->calls[via][outcome]++;
    if (outcome != CALL_REFUSED) observe(&m->call_latency, seconds);
}

/* One histogram's lines; labels is "" or `k="v",...` without the braces. */
static void write_histogram(buf *b, const char *name, const char *labels, const metrics_histogram *h)
{
    uint64_t cum = 0;
    const char *sep = labels[0] ? "," : "";
    for (int i = 0; i < METRICS_BUCKETS; i++) {
        cum += h->bucket[i];
        buf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, metrics_bucket_s[i], (unsigned long long)cum);
    }
    buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)h->count);
    if (labels[0]) {
        buf_printf(b, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, labels, h->sum, name, labels, (unsigned long long)h->count);
    } else {
        buf_printf(b, "%s_sum %.6f\n%s_count %llu\n", name, h->sum, name, (unsigned long long)h->count);
    }
}

static void write_requests(buf *b, const metrics *m, const char *(*route_name)(int route))
{
    buf_str(b, "# HELP peerd_http_requests_total HTTP responses, by route (its template), method and status.\n"
               "# TYPE peerd_http_requests_total counter\n");
    for (int r = 0; r < METRICS_ROUTES; r++)
        for (int k = 0; k < METRICS_METHODS; k++) {
            const metrics_cell *c = &m->cell[r][k];
            for (int i = 0; i < METRICS_STATUSES && c->count[i]; i++) {
                char status[8] = "other";
                if (c->status[i]) snprintf(status, sizeof status, "%u", c->status[i]);
                buf_printf(b, "peerd_http_requests_total{route=\"%s\",method=\"%s\",status=\"%s\"} %llu\n", route_name(r),
                           method_names[k], status, (unsigned long long)c->count[i]);
            }
        }
    buf_str(b, "# HELP peerd_http_request_duration_seconds Time from a request's arrival to its response's start "
               "(a stream's first byte), by route and method.\n"
               "# TYPE peerd_http_request_duration_seconds histogram\n");
    for (int r = 0; r < METRICS_ROUTES; r++)
        for (int k = 0; k < METRICS_METHODS; k++) {
            if (!m->cell[r][k].latency.count) continue;
            char labels[160];
            snprintf(labels, sizeof labels, "route=\"%s\",method=\"%s\"", route_name(r), method_names[k]);
            write_histogram(b, "peerd_http_request_duration_seconds", labels, &m->cell[r][k].latency);
        }
}

static void write_calls(buf *b, const metrics *m)
{
    buf_str(b, "# HELP peerd_calls_total Calls, by how they came (call, batch, multicall, eval) and outcome.\n"
               "# TYPE peerd_calls_total counter\n");
    for (int v = VIA_NONE + 1; v < VIA_KINDS; v++)
        for (int o = 0; o < CALL_OUTCOMES; o++)
            buf_printf(b, "peerd_calls_total{kind=\"%s\",outcome=\"%s\"} %llu\n", via_names[v], outcome_names[o],
                       (unsigned long long)m->calls[v][o]);
    buf_str(b, "# HELP peerd_call_seconds Time from a call's going to its peer to its answer (every kind; refusals not).\n"
               "# TYPE peerd_call_seconds histogram\n");
    write_histogram(b, "peerd_call_seconds", "", &m->call_latency);
}

static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    long n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1;       /* opendir's own */
}

static void write_process(buf *b, const metrics *m)
{
    proc_usage u;
    if (proc_usage_of(0, &u)) {
        buf_printf(b, "# HELP process_cpu_seconds_total User and system CPU time spent.\n# TYPE process_cpu_seconds_total counter\n"
                      "process_cpu_seconds_total %.2f\n", u.cpu_seconds);
        buf_printf(b, "# HELP process_resident_memory_bytes Resident memory.\n# TYPE process_resident_memory_bytes gauge\n"
                      "process_resident_memory_bytes %lld\n", u.resident_bytes);
        buf_printf(b, "# HELP process_virtual_memory_bytes Virtual memory.\n# TYPE process_virtual_memory_bytes gauge\n"
                      "process_virtual_memory_bytes %llu\n", u.virtual_bytes);
    }
    long fds = open_fds();
    if (fds >= 0)
        buf_printf(b, "# HELP process_open_fds Open file descriptors.\n# TYPE process_open_fds gauge\nprocess_open_fds %ld\n", fds);
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl))
        buf_printf(b, "# HELP process_max_fds The most file descriptors it may open.\n# TYPE process_max_fds gauge\n"
                      "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    buf_printf(b, "# HELP process_start_time_seconds Start time, seconds since the Unix epoch.\n"
                  "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %.3f\n", m->started);
    buf_printf(b, "# HELP peerd_build_info peerd's version and its libraries'.\n# TYPE peerd_build_info gauge\n"
                  "peerd_build_info{version=\"%s\",libmicrohttpd=\"%s\",cjson=\"%s\",libcurl=\"%s\"} 1\n",
               PEERD_VERSION, MHD_get_version(), cJSON_Version(), curl_version_info(CURLVERSION_NOW)->version);
}

void metrics_write(buf *b, const metrics *m, const char *(*route_name)(int route))
{
    write_calls(b, m);
    write_requests(b, m, route_name);
    write_process(b, m);
}

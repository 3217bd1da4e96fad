/*
 * meta.c — /healthz, /openapi.yaml and /random-name.
 */
#include "common.h"
#include "labels.h"
#include "handlers.h"
#include "notify.h"
#include "router.h"
#include "vitals.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char openapi_yaml[];
extern const size_t openapi_yaml_len;
extern const char dashboard_html[];
extern const size_t dashboard_html_len;

/* GET / — the dashboard: one static page compiled into peerd, no CDN. */
enum MHD_Result meta_dashboard(http_req *h)
{
    const char *headers[] = { "Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'", NULL };
    return http_bytes(h, 200, "text/html; charset=utf-8", dashboard_html, dashboard_html_len, headers);
}

/* GET /favicon.ico — the dashboard's icon, an SVG (browsers ask for it). */
enum MHD_Result meta_favicon(http_req *h)
{
    static const char svg[] =
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'>"
        "<rect width='32' height='32' rx='7' fill='#1f5fbf'/>"
        "<circle cx='10' cy='16' r='4.5' fill='#fff'/><circle cx='22' cy='16' r='4.5' fill='#fff'/>"
        "<path d='M14.5 16h3' stroke='#fff' stroke-width='2.5'/></svg>";
    const char *headers[] = { "Cache-Control", "max-age=86400", NULL };
    return http_bytes(h, 200, "image/svg+xml", svg, sizeof svg - 1, headers);
}

/* Liveness, and the longest the loop has been busy at once since start:
 * every client waited that long at worst. */
enum MHD_Result meta_healthz(http_req *h)
{
    char ok[128];
    const loop_stats *st = loop_get_stats(h->srv->l);
    int n = snprintf(ok, sizeof ok, "{\"status\":\"ok\",\"instance\":\"%016llx\",\"longest_turn_ms\":%.3f}",
                     (unsigned long long)pm_instance(h->srv->pm), (double)st->longest_us / 1000.0);
    return http_bytes(h, 200, "application/json; charset=utf-8", ok, (size_t)n, NULL);
}

/* What the request's token may do: the dashboard hides what it cannot. */
enum MHD_Result meta_scope(http_req *h)
{
    const char *scope = !h->srv->token ? "open" : h->read_only ? "read" : "control";
    char body[64];
    int n = snprintf(body, sizeof body, "{\"scope\":\"%s\"}", scope);
    return http_bytes(h, 200, "application/json; charset=utf-8", body, (size_t)n, NULL);
}

enum MHD_Result meta_openapi(http_req *h)
{
    return http_bytes(h, 200, "application/yaml", openapi_yaml, openapi_yaml_len, NULL);
}

enum MHD_Result meta_random_name(http_req *h)
{
    const char *prefix = http_query(h, "prefix");
    if (prefix && !valid_name(prefix))
        return http_problem(h, 400, "invalid_arg", "prefix: must be 1 to 200 letters, digits, '_', '-' or '.'", NULL);
    char *name = pm_random_name(prefix ? prefix : "peer");
    if (!name) return MHD_NO;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    free(name);
    return http_json(h, 200, o);
}

/* The manager's figures in Prometheus text. */
static void manager_metrics(buf *b, const pm_figures *f)
{
    static const char *const states[] = { "booting", "running", "down" };
    buf_str(b, "# HELP peerd_peers Peers held, by state.\n# TYPE peerd_peers gauge\n");
    for (int i = 0; i < 3; i++) buf_printf(b, "peerd_peers{state=\"%s\"} %d\n", states[i], f->peers[i]);
    buf_printf(b, "# HELP peerd_peer_starts_total Peers started (spawned).\n# TYPE peerd_peer_starts_total counter\n"
                  "peerd_peer_starts_total %llu\n", (unsigned long long)f->starts);
    buf_printf(b, "# HELP peerd_boot_failures_total Peers that did not boot.\n# TYPE peerd_boot_failures_total counter\n"
                  "peerd_boot_failures_total %llu\n", (unsigned long long)f->boot_failures);
    buf_str(b, "# HELP peerd_boot_seconds Time from start to running.\n# TYPE peerd_boot_seconds histogram\n");
    for (int i = 0; i < PM_BOOT_BUCKETS; i++)
        buf_printf(b, "peerd_boot_seconds_bucket{le=\"%g\"} %llu\n", f->boot_bucket_ms[i] / 1000.0, (unsigned long long)f->boot_buckets[i]);
    buf_printf(b, "peerd_boot_seconds_bucket{le=\"+Inf\"} %llu\npeerd_boot_seconds_sum %.3f\npeerd_boot_seconds_count %llu\n",
               (unsigned long long)f->boot_count, f->boot_ms_sum / 1000.0, (unsigned long long)f->boot_count);
    buf_printf(b, "# HELP peerd_console_bytes_total Bytes the nodes printed.\n# TYPE peerd_console_bytes_total counter\n"
                  "peerd_console_bytes_total %llu\n", (unsigned long long)f->console_bytes);
    buf_str(b, "# HELP peerd_events_total Events recorded in the event log, by type.\n# TYPE peerd_events_total counter\n");
    for (int i = 0; i < PM_EVENT_TYPES; i++)
        buf_printf(b, "peerd_events_total{type=\"%s\"} %llu\n", pm_event_types[i], (unsigned long long)f->events_by_type[i]);
    buf_printf(b, "# HELP peerd_peers_unreachable Running peers not heard from within their heartbeat.\n"
                  "# TYPE peerd_peers_unreachable gauge\npeerd_peers_unreachable %d\n", f->unreachable);
    buf_printf(b, "# HELP peerd_unreachable_total Times a peer became unreachable.\n"
                  "# TYPE peerd_unreachable_total counter\npeerd_unreachable_total %llu\n", (unsigned long long)f->unreachable_total);
    buf_printf(b, "# HELP peerd_tombstones Removed peers still answered with 410.\n# TYPE peerd_tombstones gauge\n"
                  "peerd_tombstones %zu\n", f->tombstones);
    buf_printf(b, "# HELP peerd_tombstone_bytes Memory the tombstones hold, their console tails included.\n"
                  "# TYPE peerd_tombstone_bytes gauge\npeerd_tombstone_bytes %zu\n", f->tombstone_bytes);
}

/* How long the loop's turns take: what one client's work costs the others. */
static void loop_metrics(buf *b, const loop_stats *st)
{
    buf_str(b, "# HELP peerd_loop_turn_seconds Time the loop was busy in one turn (every client waits that long at worst).\n"
               "# TYPE peerd_loop_turn_seconds histogram\n");
    for (int i = 0; i < LOOP_TURN_BUCKETS; i++)
        buf_printf(b, "peerd_loop_turn_seconds_bucket{le=\"%g\"} %llu\n", loop_turn_bucket_s[i], (unsigned long long)st->bucket[i]);
    buf_printf(b, "peerd_loop_turn_seconds_bucket{le=\"+Inf\"} %llu\npeerd_loop_turn_seconds_sum %.6f\npeerd_loop_turn_seconds_count %llu\n",
               (unsigned long long)st->turns, st->seconds, (unsigned long long)st->turns);
    buf_printf(b, "# HELP peerd_loop_longest_turn_seconds The longest turn since peerd started.\n"
                  "# TYPE peerd_loop_longest_turn_seconds gauge\npeerd_loop_longest_turn_seconds %.6f\n",
               (double)st->longest_us / 1e6);
}

static void webhook_metrics(buf *b, const notifier *n)
{
    notify_figures f;
    notifier_figures(n, &f);
    buf_printf(b, "# HELP peerd_webhook_deliveries_total Events posted to a notify_url, by outcome (failed: given up on).\n"
                  "# TYPE peerd_webhook_deliveries_total counter\n"
                  "peerd_webhook_deliveries_total{outcome=\"delivered\"} %llu\n"
                  "peerd_webhook_deliveries_total{outcome=\"failed\"} %llu\n",
               (unsigned long long)f.delivered, (unsigned long long)f.failed);
    buf_printf(b, "# HELP peerd_webhook_retries_total Posts tried again after a failure.\n"
                  "# TYPE peerd_webhook_retries_total counter\npeerd_webhook_retries_total %llu\n", (unsigned long long)f.retries);
    buf_printf(b, "# HELP peerd_webhook_queued Events waiting for their notify_url, or in flight.\n"
                  "# TYPE peerd_webhook_queued gauge\npeerd_webhook_queued %zu\n", f.queued);
}

static void stream_metrics(buf *b, const http_server *s)
{
    buf_printf(b, "# HELP peerd_open_streams Following responses open now.\n# TYPE peerd_open_streams gauge\n"
                  "peerd_open_streams %d\n", s->streams);
}

static enum MHD_Result write_metrics(http_req *h, bool vitals)
{
    pm_figures f;
    pm_get_figures(h->srv->pm, &f);
    buf b = {0};
    manager_metrics(&b, &f);
    loop_metrics(&b, loop_get_stats(h->srv->l));
    if (h->srv->hooks) webhook_metrics(&b, h->srv->hooks);
    stream_metrics(&b, h->srv);
    metrics_write(&b, h->srv->fig, router_route_name);
    if (vitals) vitals_metrics(&b, h);
    enum MHD_Result res = b.oom ? http_out_of_memory(h)
                                : http_bytes(h, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len, NULL);
    buf_free(&b);
    return res;
}

static enum MHD_Result with_vitals(http_req *h) { return write_metrics(h, true); }

static enum MHD_Result vitals_listed(http_req *h)
{
    pm_req *r = h->pm;
    if (r->status != PM_OK) return http_pm_error(h, r);
    return vitals_ask(h, r->info, r->ninfo, with_vitals);
}

/* GET /metrics[?vitals=SELECTOR] — Prometheus text: the manager's figures,
 * the loop's, the webhooks', the streams', the HTTP side's and the
 * process's (server/metrics.c); with vitals, those of the nodes of the
 * running peers the selector picks, asked now. */
enum MHD_Result meta_metrics(http_req *h)
{
    const char *sel = http_query(h, "vitals");
    if (!sel) return write_metrics(h, false);
    pm_req *r = pm_req_new(PM_LIST, NULL);
    if (!r) return http_out_of_memory(h);
    char err[256];
    if (!(r->sel = malloc(sizeof *r->sel))) { pm_req_free(r); return http_out_of_memory(h); }
    if (!selector_parse(r->sel, sel, strlen(sel), err, sizeof err)) {
        pm_req_free(r);
        /* The parser names its text "selector"; here it is vitals=. */
        bool named = !strncmp(err, "selector", 8);
        return http_problemf(h, 400, "invalid_selector", "vitals%s%s", named ? "" : ": ", named ? err + 8 : err);
    }
    return http_submit(h, r, vitals_listed);
}

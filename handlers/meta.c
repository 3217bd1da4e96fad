/*
 * meta.c — /healthz, /openapi.yaml and /random-name.
 */
#include "common.h"
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>

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

enum MHD_Result meta_healthz(http_req *h)
{
    char ok[64];
    int n = snprintf(ok, sizeof ok, "{\"status\":\"ok\",\"instance\":\"%016llx\"}", (unsigned long long)pm_instance(g_server->pm));
    return http_bytes(h, 200, "application/json; charset=utf-8", ok, (size_t)n, NULL);
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

static enum MHD_Result metrics_answered(http_req *h)
{
    pm_req *r = h->pm;
    if (r->status != PM_OK) return http_pm_error(h, r);
    http_metrics_text(&r->reply);
    if (r->reply.oom) return http_problem(h, 500, "internal", "out of memory", NULL);
    return http_bytes(h, 200, "text/plain; version=0.0.4; charset=utf-8", r->reply.p, r->reply.len, NULL);
}

/* GET /metrics — Prometheus text: the manager's figures, then the HTTP side's. */
enum MHD_Result meta_metrics(http_req *h)
{
    pm_req *r = pm_req_new(PM_METRICS, NULL);
    return r ? http_submit(h, r, metrics_answered) : MHD_NO;
}

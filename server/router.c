/*
 * router.c — the route table. A route is a method and a path pattern whose
 * "{id}" segment names a peer; the handler finds it in h->seg[1].
 */
#include "router.h"
#include "handlers.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *method;
    const char *pattern[4];     /* segments; "*" matches the peer id (or module name) */
    int nseg;
    enum MHD_Result (*fn)(http_req *h);
    size_t max_body;            /* 0: HTTP_MAX_BODY */
    const char *name;           /* its template, for /metrics */
    call_via via;               /* its calls are counted as this kind */
} route;

static const route routes[] = {
    { "GET", { "healthz" }, 1, meta_healthz, 0, "/healthz", VIA_NONE },
    { "GET", { "metrics" }, 1, meta_metrics, 0, "/metrics", VIA_NONE },
    { "GET", { "scope" }, 1, meta_scope, 0, "/scope", VIA_NONE },
    { "GET", { NULL }, 0, meta_dashboard, 0, "/", VIA_NONE },
    { "GET", { "favicon.ico" }, 1, meta_favicon, 0, "/favicon.ico", VIA_NONE },
    { "GET", { "openapi.yaml" }, 1, meta_openapi, 0, "/openapi.yaml", VIA_NONE },
    { "GET", { "random-name" }, 1, meta_random_name, 0, "/random-name", VIA_NONE },
    { "GET", { "peers" }, 1, peers_list, 0, "/peers", VIA_NONE },
    { "POST", { "peers" }, 1, peers_create, 0, "/peers", VIA_NONE },
    { "GET", { "peers", "*" }, 2, peers_get, 0, "/peers/{id}", VIA_NONE },
    { "DELETE", { "peers" }, 1, groups_delete, 0, "/peers", VIA_NONE },
    { "DELETE", { "peers", "*" }, 2, peers_delete, 0, "/peers/{id}", VIA_NONE },
    { "POST", { "calls" }, 1, groups_call, 0, "/calls", VIA_MULTICALL },
    { "POST", { "casts" }, 1, groups_cast, 0, "/casts", VIA_NONE },
    { "POST", { "peers", "*", "call" }, 3, calls_call, 0, "/peers/{id}/call", VIA_CALL },
    { "POST", { "peers", "*", "cast" }, 3, calls_cast, 0, "/peers/{id}/cast", VIA_NONE },
    { "POST", { "peers", "*", "send" }, 3, calls_send, 0, "/peers/{id}/send", VIA_NONE },
    { "GET", { "peers", "*", "console" }, 3, console_get, 0, "/peers/{id}/console", VIA_NONE },
    { "GET", { "peers", "*", "messages" }, 3, messages_get, 0, "/peers/{id}/messages", VIA_NONE },
    { "GET", { "peers", "*", "wait" }, 3, peers_wait, 0, "/peers/{id}/wait", VIA_NONE },
    { "GET", { "peers", "*", "crash_dump" }, 3, peers_crash_dump, 0, "/peers/{id}/crash_dump", VIA_NONE },
    { "PUT", { "peers", "*", "lease" }, 3, peers_lease, 0, "/peers/{id}/lease", VIA_NONE },
    { "GET", { "events" }, 1, events_get, 0, "/events", VIA_NONE },
    { "POST", { "peers", "*", "calls" }, 3, batch_calls, HTTP_MAX_UPLOAD, "/peers/{id}/calls", VIA_BATCH },
    { "POST", { "peers", "*", "eval" }, 3, code_eval, 0, "/peers/{id}/eval", VIA_EVAL },
    { "PUT", { "peers", "*", "modules", "*" }, 4, code_load, HTTP_MAX_UPLOAD, "/peers/{id}/modules/{module}", VIA_NONE },
    { "PUT", { "modules", "*" }, 2, code_load_group, HTTP_MAX_UPLOAD, "/modules/{module}", VIA_NONE },
    { "GET", { "clusters" }, 1, clusters_list, 0, "/clusters", VIA_NONE },
    { "GET", { "clusters", "*" }, 2, clusters_get, 0, "/clusters/{name}", VIA_NONE },
};

static bool path_matches(const route *r, const http_req *h)
{
    if (r->nseg != h->nseg) return false;
    for (int i = 0; i < r->nseg; i++)
        if (strcmp(r->pattern[i], "*") && strcmp(r->pattern[i], h->seg[i])) return false;
    return true;
}

#define NROUTES (sizeof routes / sizeof *routes)
_Static_assert(NROUTES < METRICS_ROUTES, "a metrics route for each, and one for no route");

void router_classify(http_req *h)
{
    h->max_body = HTTP_MAX_BODY;
    h->route = METRICS_ROUTES - 1;
    h->via = VIA_NONE;
    bool head = !strcmp(h->method, "HEAD");
    for (size_t i = 0; i < NROUTES; i++) {
        const route *r = &routes[i];
        if (!path_matches(r, h)) continue;
        if (h->route == METRICS_ROUTES - 1) h->route = (int)i;     /* the first of the path's: one name per path */
        if (!strcmp(r->method, h->method) || (head && !strcmp(r->method, "GET"))) {
            if (r->max_body) h->max_body = r->max_body;
            h->via = r->via;
            return;
        }
    }
}

const char *router_route_name(int route)
{
    return route >= 0 && (size_t)route < NROUTES ? routes[route].name : "other";
}

enum MHD_Result router_dispatch(http_req *h)
{
    char allow[128] = "";
    bool head = !strcmp(h->method, "HEAD");
    for (size_t i = 0; i < NROUTES; i++) {
        const route *r = &routes[i];
        if (!path_matches(r, h)) continue;
        if (!strcmp(r->method, h->method) || (head && !strcmp(r->method, "GET"))) return r->fn(h);
        if (allow[0]) strncat(allow, ", ", sizeof allow - strlen(allow) - 1);
        strncat(allow, r->method, sizeof allow - strlen(allow) - 1);
        if (!strcmp(r->method, "GET")) strncat(allow, ", HEAD", sizeof allow - strlen(allow) - 1);
    }
    if (!allow[0]) return http_problemf(h, 404, "not_found", "no such resource: %s %s", h->method, h->url);
    char detail[256];
    snprintf(detail, sizeof detail, "%s is not allowed here; allowed: %s", h->method, allow);
    const char *headers[] = { "Allow", allow, NULL };
    return http_problem_with(h, 405, "method_not_allowed", detail, NULL, headers);
}

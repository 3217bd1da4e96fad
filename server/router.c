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
} route;

static const route routes[] = {
    { "GET", { "healthz" }, 1, meta_healthz, 0 },
    { "GET", { "metrics" }, 1, meta_metrics, 0 },
    { "GET", { "scope" }, 1, meta_scope, 0 },
    { "GET", { NULL }, 0, meta_dashboard, 0 },
    { "GET", { "favicon.ico" }, 1, meta_favicon, 0 },
    { "GET", { "openapi.yaml" }, 1, meta_openapi, 0 },
    { "GET", { "random-name" }, 1, meta_random_name, 0 },
    { "GET", { "peers" }, 1, peers_list, 0 },
    { "POST", { "peers" }, 1, peers_create, 0 },
    { "GET", { "peers", "*" }, 2, peers_get, 0 },
    { "DELETE", { "peers" }, 1, groups_delete, 0 },
    { "DELETE", { "peers", "*" }, 2, peers_delete, 0 },
    { "POST", { "calls" }, 1, groups_call, 0 },
    { "POST", { "casts" }, 1, groups_cast, 0 },
    { "POST", { "peers", "*", "call" }, 3, calls_call, 0 },
    { "POST", { "peers", "*", "cast" }, 3, calls_cast, 0 },
    { "POST", { "peers", "*", "send" }, 3, calls_send, 0 },
    { "GET", { "peers", "*", "console" }, 3, console_get, 0 },
    { "GET", { "peers", "*", "messages" }, 3, messages_get, 0 },
    { "GET", { "peers", "*", "wait" }, 3, peers_wait, 0 },
    { "GET", { "peers", "*", "crash_dump" }, 3, peers_crash_dump, 0 },
    { "PUT", { "peers", "*", "lease" }, 3, peers_lease, 0 },
    { "GET", { "events" }, 1, events_get, 0 },
    { "POST", { "peers", "*", "calls" }, 3, batch_calls, HTTP_MAX_UPLOAD },
    { "POST", { "peers", "*", "eval" }, 3, code_eval, 0 },
    { "PUT", { "peers", "*", "modules", "*" }, 4, code_load, HTTP_MAX_UPLOAD },
    { "PUT", { "modules", "*" }, 2, code_load_group, HTTP_MAX_UPLOAD },
    { "GET", { "clusters" }, 1, clusters_list, 0 },
    { "GET", { "clusters", "*" }, 2, clusters_get, 0 },
};

static bool path_matches(const route *r, const http_req *h)
{
    if (r->nseg != h->nseg) return false;
    for (int i = 0; i < r->nseg; i++)
        if (strcmp(r->pattern[i], "*") && strcmp(r->pattern[i], h->seg[i])) return false;
    return true;
}

size_t router_body_limit(const http_req *h)
{
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
        if (routes[i].max_body && !strcmp(routes[i].method, h->method) && path_matches(&routes[i], h)) return routes[i].max_body;
    return HTTP_MAX_BODY;
}

enum MHD_Result router_dispatch(http_req *h)
{
    char allow[128] = "";
    bool head = !strcmp(h->method, "HEAD");
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
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

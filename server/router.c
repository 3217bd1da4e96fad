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
    const char *pattern[4];     /* segments; "*" matches the peer id */
    int nseg;
    enum MHD_Result (*fn)(http_req *h);
} route;

static const route routes[] = {
    { "GET", { "healthz" }, 1, meta_healthz },
    { "GET", { "metrics" }, 1, meta_metrics },
    { "GET", { NULL }, 0, meta_dashboard },
    { "GET", { "openapi.yaml" }, 1, meta_openapi },
    { "GET", { "random-name" }, 1, meta_random_name },
    { "GET", { "peers" }, 1, peers_list },
    { "POST", { "peers" }, 1, peers_create },
    { "GET", { "peers", "*" }, 2, peers_get },
    { "DELETE", { "peers", "*" }, 2, peers_delete },
    { "POST", { "peers", "*", "call" }, 3, calls_call },
    { "POST", { "peers", "*", "cast" }, 3, calls_cast },
    { "POST", { "peers", "*", "send" }, 3, calls_send },
    { "GET", { "peers", "*", "console" }, 3, console_get },
    { "GET", { "peers", "*", "messages" }, 3, messages_get },
    { "GET", { "peers", "*", "wait" }, 3, peers_wait },
    { "PUT", { "peers", "*", "lease" }, 3, peers_lease },
    { "GET", { "events" }, 1, events_get },
};

static bool path_matches(const route *r, const http_req *h)
{
    if (r->nseg != h->nseg) return false;
    for (int i = 0; i < r->nseg; i++)
        if (strcmp(r->pattern[i], "*") && strcmp(r->pattern[i], h->seg[i])) return false;
    return true;
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

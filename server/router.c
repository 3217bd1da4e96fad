/*
 * router.c — the route table. A route is a method and a path pattern whose
 * "{id}" segment names a peer; the handler finds it in h->seg[1].
 */
#include "router.h"
#include "handlers.h"
#include "frame.h"

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
    }
    if (!allow[0]) return http_problemf(h, 404, "not_found", "no such resource: %s %s", h->method, h->url);
    char detail[256];
    snprintf(detail, sizeof detail, "%s is not allowed here; allowed: %s", h->method, allow);
    const char *headers[] = { "Allow", allow, NULL };
    return http_problem_with(h, 405, "method_not_allowed", detail, NULL, headers);
}

static void add_time(cJSON *o, const char *key, int64_t ms)
{
    if (!ms) { cJSON_AddNullToObject(o, key); return; }
    char s[64];
    iso_time(s, sizeof s, ms);
    cJSON_AddStringToObject(o, key, s);
}

static void add_str_or_null(cJSON *o, const char *key, const char *v)
{
    if (v) cJSON_AddStringToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

cJSON *peer_info_json(const pm_peer_info *i)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", i->id ? i->id : "");
    add_str_or_null(o, "node", i->node);
    cJSON_AddStringToObject(o, "state", i->state);
    add_str_or_null(o, "down_reason", i->down_reason);
    if (i->connection && !strncmp(i->connection, "tcp:", 4)) {
        char ip[64] = "";
        int port = 0;
        sscanf(i->connection + 4, "%63[^:]:%d", ip, &port);
        cJSON *c = cJSON_AddObjectToObject(o, "connection");
        cJSON_AddStringToObject(c, "ip", ip);
        cJSON_AddNumberToObject(c, "port", port);
    } else {
        cJSON_AddStringToObject(o, "connection", "standard_io");
    }
    if (i->os_pid) cJSON_AddNumberToObject(o, "os_pid", i->os_pid);
    else cJSON_AddNullToObject(o, "os_pid");
    add_str_or_null(o, "exec", i->argv ? i->argv[0] : NULL);
    cJSON *args = cJSON_AddArrayToObject(o, "args");
    for (size_t k = 1; i->argv && i->argv[0] && i->argv[k]; k++) cJSON_AddItemToArray(args, cJSON_CreateString(i->argv[k]));
    /* The manager keeps the options as the JSON text it was given: no re-parse. */
    cJSON_AddItemToObject(o, "options", cJSON_CreateRaw(i->options_json ? i->options_json : "{}"));
    add_time(o, "created_at", i->created_at);
    add_time(o, "booted_at", i->booted_at);
    add_time(o, "down_at", i->down_at);
    cJSON_AddNumberToObject(o, "console_bytes", (double)i->console_bytes);
    char inc[24];
    snprintf(inc, sizeof inc, "%016llx", (unsigned long long)i->incarnation);
    cJSON_AddStringToObject(o, "incarnation", inc);
    add_time(o, "lease_expires_at", i->lease_expires_at);
    return o;
}

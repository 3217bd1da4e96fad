/*
 * peers.c — /peers and /peers/{id}: start (peer:start/1), list, get_state,
 * stop. Start options are validated here with OTP's error names and handed
 * to the manager normalised; the normalised form is echoed in `options`.
 */
#include "common.h"
#include "handlers.h"
#include "router.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const known[] = {
    "name", "longnames", "host", "peer_down", "connection", "exec", "detached", "args",
    "post_process_args", "env", "wait_boot", "shutdown", "lease_ms", "notify_url", NULL
};

typedef struct { char code[32]; char detail[512]; } opt_error;

static bool bad(opt_error *e, const char *code, const char *fmt, const char *field)
{
    snprintf(e->code, sizeof e->code, "%s", code);
    snprintf(e->detail, sizeof e->detail, fmt, field);
    return false;
}

static char **string_array(const cJSON *j, bool nonempty)
{
    if (!cJSON_IsArray(j)) return NULL;
    int n = cJSON_GetArraySize(j);
    if (nonempty && n == 0) return NULL;
    char **v = calloc((size_t)n + 1, sizeof *v);
    int i = 0;
    for (const cJSON *e = j->child; v && e; e = e->next, i++) {
        if (!cJSON_IsString(e) || (nonempty && i == 0 && !e->valuestring[0]) || !(v[i] = strdup(e->valuestring))) {
            for (int k = 0; k < i; k++) free(v[k]);
            free(v);
            return NULL;
        }
    }
    return v;
}

static bool valid_host(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 253) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '.'))
            return false;
    return true;
}

/* ms, or PM_INFINITY for "infinity"; a shutdown time must be 1000..2^32-1. */
static bool shutdown_ms(const cJSON *j, int64_t *ms)
{
    if (cJSON_IsString(j) && !strcmp(j->valuestring, "infinity")) { *ms = PM_INFINITY; return true; }
    return json_int(j, ms) && *ms >= 1000 && *ms <= 4294967295LL;
}

static bool parse_options(const cJSON *body, pm_start_opts *o, cJSON *norm, opt_error *e)
{
    for (const cJSON *f = body->child; f; f = f->next) {
        bool ok = false;
        for (const char *const *k = known; *k && !ok; k++) ok = !strcmp(*k, f->string);
        if (!ok) return bad(e, "invalid_arg", "unknown start option: %s", f->string);
    }
    const cJSON *j;
    o->peer_down = PM_DOWN_STOP;
    o->conn = PM_CONN_STDIO;
    o->detached = true;
    o->wait_boot_ms = 15000;
    o->shutdown = PM_SHUTDOWN_HALT;
    o->shutdown_ms = 5000;

    if ((j = cJSON_GetObjectItemCaseSensitive(body, "name")) && !cJSON_IsNull(j)) {
        if (!cJSON_IsString(j) || !valid_name(j->valuestring))
            return bad(e, "invalid_arg", "name: must be a node name of 1 to 200 letters, digits, '_', '-' or '.' (no '@': use host)%s", "");
        o->name = strdup(j->valuestring);
        cJSON_AddStringToObject(norm, "name", o->name);
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(body, "longnames"))) {
        if (!cJSON_IsBool(j)) return bad(e, "invalid_arg", "longnames: must be true or false%s", "");
        o->longnames = cJSON_IsTrue(j);
    }
    cJSON_AddBoolToObject(norm, "longnames", o->longnames);
    if ((j = cJSON_GetObjectItemCaseSensitive(body, "host")) && !cJSON_IsNull(j)) {
        if (!cJSON_IsString(j) || !valid_host(j->valuestring)) return bad(e, "invalid_arg", "host: must be a host name%s", "");
        if (!o->name) return bad(e, "invalid_arg", "host: needs name (a node without a name has no host part)%s", "");
        o->host = strdup(j->valuestring);
        cJSON_AddStringToObject(norm, "host", o->host);
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(body, "peer_down"))) {
        if (cJSON_IsString(j) && !strcmp(j->valuestring, "stop")) o->peer_down = PM_DOWN_STOP;
        else if (cJSON_IsString(j) && !strcmp(j->valuestring, "continue")) o->peer_down = PM_DOWN_CONTINUE;
        else if (cJSON_IsString(j) && !strcmp(j->valuestring, "crash")) o->peer_down = PM_DOWN_CRASH;
        else return bad(e, "invalid_arg", "peer_down: must be \"stop\", \"continue\" or \"crash\"%s", "");
    }
    static const char *const downs[] = { "stop", "continue", "crash" };
    cJSON_AddStringToObject(norm, "peer_down", downs[o->peer_down]);

    if ((j = cJSON_GetObjectItemCaseSensitive(body, "connection"))) {
        int64_t port;
        if (cJSON_IsString(j) && !strcmp(j->valuestring, "standard_io")) {
            o->conn = PM_CONN_STDIO;
        } else if (json_int(j, &port)) {
            if (port < 0 || port > 65535) return bad(e, "invalid_arg", "connection: port must be 0..65535%s", "");
            o->conn = PM_CONN_TCP;
            o->tcp_port = (int)port;
        } else if (cJSON_IsObject(j)) {
            const cJSON *ip = cJSON_GetObjectItemCaseSensitive(j, "ip"), *pt = cJSON_GetObjectItemCaseSensitive(j, "port");
            struct in_addr a;
            if (cJSON_GetArraySize(j) != 2 || !cJSON_IsString(ip) || inet_pton(AF_INET, ip->valuestring, &a) != 1)
                return bad(e, "invalid_arg", "connection: {\"ip\": an IPv4 address, \"port\": 0..65535} expected%s", "");
            if (!json_int(pt, &port) || port < 0 || port > 65535)
                return bad(e, "invalid_arg", "connection.port: must be 0..65535%s", "");
            o->conn = PM_CONN_TCP;
            o->tcp_port = (int)port;
            o->tcp_ip = strdup(ip->valuestring);
        } else {
            return bad(e, "invalid_arg", "connection: must be \"standard_io\", a port number or {\"ip\", \"port\"}%s", "");
        }
    }
    if (o->conn == PM_CONN_STDIO) cJSON_AddStringToObject(norm, "connection", "standard_io");
    else if (!o->tcp_ip) cJSON_AddNumberToObject(norm, "connection", o->tcp_port);
    else {
        cJSON *c = cJSON_AddObjectToObject(norm, "connection");
        cJSON_AddStringToObject(c, "ip", o->tcp_ip);
        cJSON_AddNumberToObject(c, "port", o->tcp_port);
    }

    if ((j = cJSON_GetObjectItemCaseSensitive(body, "exec"))) {
        if (cJSON_IsString(j) && j->valuestring[0]) {
            o->exec = calloc(2, sizeof *o->exec);
            if (o->exec) o->exec[0] = strdup(j->valuestring);
        } else if (!(o->exec = string_array(j, true))) {
            return bad(e, "exec", "exec: must be a program, or a non-empty array of strings (program, then its arguments)%s", "");
        }
        cJSON_AddItemToObject(norm, "exec", cJSON_Duplicate(j, true));
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(body, "detached"))) {
        if (!cJSON_IsBool(j)) return bad(e, "invalid_arg", "detached: must be true or false%s", "");
        o->detached = cJSON_IsTrue(j);
        if (!o->detached && o->conn == PM_CONN_STDIO)
            return bad(e, "detached", "detached: cannot be false with the standard_io connection%s", "");
    }
    cJSON_AddBoolToObject(norm, "detached", o->detached);
    if ((j = cJSON_GetObjectItemCaseSensitive(body, "args"))) {
        if (!(o->args = string_array(j, false))) return bad(e, "invalid_arg", "args: must be an array of strings%s", "");
        cJSON_AddItemToObject(norm, "args", cJSON_Duplicate(j, true));
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(body, "post_process_args"))) {
        if (!(o->post_process_args = string_array(j, false)))
            return bad(e, "invalid_arg", "post_process_args: must be an array of strings%s", "");
        cJSON_AddItemToObject(norm, "post_process_args", cJSON_Duplicate(j, true));
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(body, "env"))) {
        if (!cJSON_IsObject(j)) return bad(e, "invalid_arg", "env: must be an object of strings%s", "");
        int n = cJSON_GetArraySize(j), i = 0;
        o->env = calloc((size_t)n + 1, sizeof *o->env);
        for (const cJSON *v = j->child; o->env && v; v = v->next) {
            if (!cJSON_IsString(v) || !v->string[0] || strchr(v->string, '='))
                return bad(e, "invalid_arg", "env.%s: must be a string, under a name without '='", v->string);
            if (asprintf(&o->env[i++], "%s=%s", v->string, v->valuestring) < 0) return bad(e, "invalid_arg", "env%s: out of memory", "");
        }
        cJSON_AddItemToObject(norm, "env", cJSON_Duplicate(j, true));
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(body, "wait_boot"))) {
        int64_t ms;
        if (cJSON_IsFalse(j)) o->wait_boot_ms = PM_NO_WAIT;
        else if (cJSON_IsString(j) && !strcmp(j->valuestring, "infinity")) o->wait_boot_ms = PM_INFINITY;
        else if (json_int(j, &ms) && ms >= 0 && ms <= 4294967295LL) o->wait_boot_ms = ms;
        else return bad(e, "invalid_arg", "wait_boot: must be milliseconds, \"infinity\" or false%s", "");
    }
    if (o->wait_boot_ms == PM_NO_WAIT) cJSON_AddFalseToObject(norm, "wait_boot");
    else if (o->wait_boot_ms == PM_INFINITY) cJSON_AddStringToObject(norm, "wait_boot", "infinity");
    else cJSON_AddNumberToObject(norm, "wait_boot", (double)o->wait_boot_ms);

    if ((j = cJSON_GetObjectItemCaseSensitive(body, "shutdown"))) {
        const cJSON *halt = cJSON_IsObject(j) && cJSON_GetArraySize(j) == 1 ? cJSON_GetObjectItemCaseSensitive(j, "halt") : NULL;
        if (cJSON_IsString(j) && !strcmp(j->valuestring, "close")) o->shutdown = PM_SHUTDOWN_CLOSE;
        else if (cJSON_IsString(j) && !strcmp(j->valuestring, "halt")) o->shutdown = PM_SHUTDOWN_HALT;
        else if (halt && shutdown_ms(halt, &o->shutdown_ms)) o->shutdown = PM_SHUTDOWN_HALT;
        else if (shutdown_ms(j, &o->shutdown_ms)) o->shutdown = PM_SHUTDOWN_STOP;
        else return bad(e, "shutdown", "shutdown: must be \"close\", \"halt\", {\"halt\": ms}, ms or \"infinity\" (ms from 1000 to 4294967295)%s", "");
    }
    if (o->shutdown == PM_SHUTDOWN_CLOSE) cJSON_AddStringToObject(norm, "shutdown", "close");
    else {
        cJSON *v = o->shutdown_ms == PM_INFINITY ? cJSON_CreateString("infinity") : cJSON_CreateNumber((double)o->shutdown_ms);
        if (o->shutdown == PM_SHUTDOWN_HALT) {
            cJSON *hobj = cJSON_AddObjectToObject(norm, "shutdown");
            cJSON_AddItemToObject(hobj, "halt", v);
        } else {
            cJSON_AddItemToObject(norm, "shutdown", v);
        }
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(body, "lease_ms")) && !cJSON_IsNull(j)) {
        if (!json_int(j, &o->lease_ms) || o->lease_ms < 1 || o->lease_ms > 4294967295LL)
            return bad(e, "invalid_arg", "lease_ms: must be a positive number of milliseconds%s", "");
        cJSON_AddNumberToObject(norm, "lease_ms", (double)o->lease_ms);
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(body, "notify_url")) && !cJSON_IsNull(j)) {
        if (!cJSON_IsString(j) || (strncmp(j->valuestring, "http://", 7) && strncmp(j->valuestring, "https://", 8)) ||
            strlen(j->valuestring) > 2048 || strpbrk(j->valuestring, " \r\n"))
            return bad(e, "invalid_arg", "notify_url: must be an http:// or https:// URL%s", "");
        o->notify_url = strdup(j->valuestring);
        cJSON_AddStringToObject(norm, "notify_url", o->notify_url);
    }
    return true;
}

static enum MHD_Result created(http_req *h)
{
    pm_req *r = h->pm;
    if (r->status != PM_OK) return http_pm_error(h, r);
    bool async = r->ninfo && !strcmp(r->info[0].state, "booting");
    return http_json(h, async ? 202 : 201, peer_info_json(&r->info[0]));
}

enum MHD_Result peers_create(http_req *h)
{
    enum MHD_Result answered;
    cJSON *body = http_body_json(h, &answered);
    if (!body) return answered;
    pm_start_opts *o = calloc(1, sizeof *o);
    cJSON *norm = cJSON_CreateObject();
    opt_error e = { "", "" };
    bool ok = o && norm && parse_options(body, o, norm, &e);
    cJSON_Delete(body);
    if (!ok) {
        pm_start_opts_free(o);
        cJSON_Delete(norm);
        return e.code[0] ? http_problem(h, 400, e.code, e.detail, NULL) : http_problem(h, 500, "internal", "out of memory", NULL);
    }
    o->options_json = cJSON_PrintUnformatted(norm);
    cJSON_Delete(norm);
    if (g_server->allow_exec) {
        const char *prog = o->exec ? o->exec[0] : "erl";
        char *real = resolve_program(prog);
        bool allowed = false;
        for (char **a = g_server->allow_exec; real && *a && !allowed; a++) allowed = !strcmp(*a, real);
        free(real);
        if (!allowed) {
            enum MHD_Result res = http_problemf(h, 403, "exec_not_allowed",
                                                "exec: %s is not among the programs peerd may start (--allow-exec)", prog);
            pm_start_opts_free(o);
            return res;
        }
    }
    pm_req *r = pm_req_new(PM_START, NULL);
    if (!r) { pm_start_opts_free(o); return http_problem(h, 500, "internal", "out of memory", NULL); }
    r->start = o;
    return http_submit(h, r, created);
}

static enum MHD_Result listed(http_req *h)
{
    pm_req *r = h->pm;
    if (r->status != PM_OK) return http_pm_error(h, r);
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "peers");
    for (size_t i = 0; i < r->ninfo; i++) cJSON_AddItemToArray(arr, peer_info_json(&r->info[i]));
    return http_json(h, 200, o);
}

enum MHD_Result peers_list(http_req *h)
{
    pm_req *r = pm_req_new(PM_LIST, NULL);
    return r ? http_submit(h, r, listed) : MHD_NO;
}

static enum MHD_Result one_peer(http_req *h)
{
    pm_req *r = h->pm;
    if (r->status != PM_OK) return http_pm_error(h, r);
    return http_json(h, 200, peer_info_json(&r->info[0]));
}

enum MHD_Result peers_get(http_req *h)
{
    pm_req *r = pm_req_new(PM_GET, h->seg[1]);
    return r ? http_submit(h, r, one_peer) : MHD_NO;
}

enum MHD_Result peers_delete(http_req *h)
{
    pm_req *r = pm_req_new(PM_STOP, h->seg[1]);
    return r ? http_submit(h, r, one_peer) : MHD_NO;
}

/* GET /peers/{id}/wait?state=running|down&timeout_ms=N — answers as soon as
 * the state is reached; the manager wakes it, nothing polls. */
enum MHD_Result peers_wait(http_req *h)
{
    const char *state = http_query(h, "state");
    const char *t = http_query(h, "timeout_ms");
    if (!state || (strcmp(state, "running") && strcmp(state, "down")))
        return http_problem(h, 400, "invalid_arg", "state: must be running or down", NULL);
    int64_t timeout = 30000;
    if (t && !strcmp(t, "infinity")) timeout = PM_INFINITY;
    else if (t) {
        uint64_t v;
        if (!query_uint(t, &v) || v > 4294967295ULL) return http_problem(h, 400, "invalid_arg", "timeout_ms: must be milliseconds or infinity", NULL);
        timeout = (int64_t)v;
    }
    pm_req *r = pm_req_new(PM_WAIT, h->seg[1]);
    if (!r) return MHD_NO;
    r->want_down = !strcmp(state, "down");
    r->timeout_ms = timeout;
    return http_submit(h, r, one_peer);
}

/* PUT /peers/{id}/lease [{"lease_ms": N}] — renews the lease (and changes its length). */
enum MHD_Result peers_lease(http_req *h)
{
    enum MHD_Result answered;
    cJSON *body = http_body_json(h, &answered);
    if (!body) return answered;
    int64_t ms = 0;
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(body, "lease_ms");
    bool ok = !j || (json_int(j, &ms) && ms >= 1 && ms <= 4294967295LL);
    bool extra = body->child && (!j || cJSON_GetArraySize(body) > 1);
    cJSON_Delete(body);
    if (!ok) return http_problem(h, 400, "invalid_arg", "lease_ms: must be a positive number of milliseconds", NULL);
    if (extra) return http_problem(h, 400, "invalid_arg", "only lease_ms may be given", NULL);
    pm_req *r = pm_req_new(PM_LEASE, h->seg[1]);
    if (!r) return MHD_NO;
    r->lease_ms = ms;
    return http_submit(h, r, one_peer);
}

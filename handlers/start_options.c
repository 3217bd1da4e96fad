/*
 * start_options.c — the start options of POST /peers, checked one by one
 * with OTP's error names, defaults filled in as OTP's peer has them.
 */
#include "common.h"
#include "start_options.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const known[] = {
    "name", "longnames", "host", "peer_down", "connection", "cookie", "exec", "detached", "args",
    "post_process_args", "env", "wait_boot", "shutdown", "lease_ms", "notify_url", "labels", "cluster", "heartbeat_ms",
    "unreachable_ms", NULL
};

static bool bad(start_options_error *e, const char *code, const char *fmt, const char *field)
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

bool start_options_parse(const cJSON *body, pm_start_opts *o, cJSON *norm, start_options_error *e)
{
    for (const cJSON *f = body->child; f; f = f->next) {
        bool ok = false;
        for (const char *const *k = known; *k && !ok; k++) ok = !strcmp(*k, f->string);
        if (!ok) return bad(e, "invalid_arg", "unknown start option: %s", f->string);
    }
    /* Names, arguments, environment and URLs are C strings on their way to
     * execve and curl: one that holds a NUL would be cut there, so it is refused. */
    char where[256];
    if (json_find_nul(body, "", where, sizeof where))
        return bad(e, "invalid_arg", "%s: holds a NUL character (\\u0000), which no name, argument or environment value can carry", where);
    const cJSON *j;
    o->peer_down = PM_DOWN_STOP;
    o->conn = PM_CONN_STDIO;
    o->detached = true;
    o->wait_boot_ms = 15000;
    o->shutdown = PM_SHUTDOWN_HALT;
    o->shutdown_ms = 5000;

    if ((j = cJSON_GetObjectItemCaseSensitive(body, "cluster")) && !cJSON_IsNull(j)) {
        if (!cJSON_IsString(j) || !valid_name(j->valuestring))
            return bad(e, "invalid_arg", "cluster: must be a name of 1 to 200 letters, digits, '_', '-' or '.'%s", "");
        o->cluster = strdup(j->valuestring);
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(body, "name")) && !cJSON_IsNull(j)) {
        if (!cJSON_IsString(j) || !valid_name(j->valuestring))
            return bad(e, "invalid_arg", "name: must be a node name of 1 to 200 letters, digits, '_', '-' or '.' (no '@': use host)%s", "");
        o->name = strdup(j->valuestring);
    } else if (o->cluster) {
        /* A cluster's members are distributed: one without a name gets
         * peer:random_name(Cluster)'s. */
        o->name = pm_random_name(o->cluster);
    }
    if (o->name) cJSON_AddStringToObject(norm, "name", o->name);
    if (o->cluster) cJSON_AddStringToObject(norm, "cluster", o->cluster);
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
        } else if (cJSON_IsString(j) && !strcmp(j->valuestring, "distribution")) {
            if (!o->name) return bad(e, "invalid_arg", "connection: \"distribution\" needs a name: the node must be distributed%s", "");
            o->conn = PM_CONN_DIST;
            o->detached = false;    /* the node stays peerd's child */
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
            return bad(e, "invalid_arg", "connection: must be \"standard_io\", \"distribution\", a port number or {\"ip\", \"port\"}%s", "");
        }
    }
    if (o->conn == PM_CONN_STDIO) cJSON_AddStringToObject(norm, "connection", "standard_io");
    else if (o->conn == PM_CONN_DIST) cJSON_AddStringToObject(norm, "connection", "distribution");
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
        if (o->detached && o->conn == PM_CONN_DIST)
            return bad(e, "detached", "detached: a distribution node stays peerd's child (its console is its stdout)%s", "");
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
            if (asprintf(&o->env[i++], "%s=%s", v->string, v->valuestring) < 0) return false;
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
    /* Liveness (peer/manager/liveness.c): -1 takes peerd's --heartbeat and --unreachable. */
    o->heartbeat_ms = o->unreachable_ms = -1;
    if ((j = cJSON_GetObjectItemCaseSensitive(body, "heartbeat_ms")) && !cJSON_IsNull(j)) {
        if (!json_int(j, &o->heartbeat_ms) || (o->heartbeat_ms != 0 && (o->heartbeat_ms < 100 || o->heartbeat_ms > 3600000)))
            return bad(e, "invalid_arg", "heartbeat_ms: must be 0 (none) or 100 to 3600000 milliseconds%s", "");
        cJSON_AddNumberToObject(norm, "heartbeat_ms", (double)o->heartbeat_ms);
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(body, "unreachable_ms")) && !cJSON_IsNull(j)) {
        if (!json_int(j, &o->unreachable_ms) || o->unreachable_ms < 200 || o->unreachable_ms > 86400000)
            return bad(e, "invalid_arg", "unreachable_ms: must be 200 to 86400000 milliseconds%s", "");
        if (o->heartbeat_ms > 0 && o->unreachable_ms <= o->heartbeat_ms)
            return bad(e, "invalid_arg", "unreachable_ms: must be longer than heartbeat_ms%s", "");
        cJSON_AddNumberToObject(norm, "unreachable_ms", (double)o->unreachable_ms);
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(body, "cookie")) && !cJSON_IsNull(j)) {
        /* A secret: kept, never echoed in the options. */
        bool ok = cJSON_IsString(j) && j->valuestring[0] && strlen(j->valuestring) <= 255;
        for (const char *c = ok ? j->valuestring : ""; *c; c++) ok = ok && *c > ' ' && *c <= '~';
        if (!ok) return bad(e, "invalid_arg", "cookie: must be 1 to 255 printable ASCII characters, no spaces%s", "");
        if (o->conn != PM_CONN_DIST && !o->cluster)
            return bad(e, "invalid_arg", "cookie: only a \"distribution\" connection or a cluster member has one%s", "");
        o->cookie = strdup(j->valuestring);
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(body, "labels")) && !cJSON_IsNull(j)) {
        if (!cJSON_IsObject(j)) return bad(e, "invalid_arg", "labels: must be an object of strings%s", "");
        int n = cJSON_GetArraySize(j), i = 0;
        if (n > LABELS_MAX) return bad(e, "invalid_arg", "labels: at most 64%s", "");
        o->labels = calloc((size_t)n + 1, sizeof *o->labels);
        for (const cJSON *v = j->child; o->labels && v; v = v->next) {
            if (!label_key_ok(v->string, strlen(v->string)))
                return bad(e, "invalid_arg", "labels.%.80s: a label key must be 1 to 63 letters, digits, '-', '_', '.' or '/'", v->string);
            if (!cJSON_IsString(v) || !label_value_ok(v->valuestring, strlen(v->valuestring)))
                return bad(e, "invalid_arg", "labels.%.80s: a label value must be a string of 0 to 63 letters, digits, '-', '_' or '.'", v->string);
            if (labels_get(o->labels, v->string)) return bad(e, "invalid_arg", "labels.%.80s: given twice", v->string);
            if (asprintf(&o->labels[i++], "%s=%s", v->string, v->valuestring) < 0) return false;
        }
        cJSON_AddItemToObject(norm, "labels", cJSON_Duplicate(j, true));
        o->labels_json = cJSON_PrintUnformatted(j);
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


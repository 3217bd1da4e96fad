/*
 * answer.c — the manager's answers as HTTP.
 */
#include "answer.h"
#include "frame.h"
#include "term_json.h"

#include <stdio.h>
#include <string.h>

const char *pm_error_code(pm_status st, unsigned *status)
{
    switch (st) {
    case PM_ERR_NOT_FOUND: *status = 404; return "not_found";
    case PM_ERR_GONE: *status = 410; return "gone";
    case PM_ERR_EXISTS: *status = 409; return "already_exists";
    case PM_ERR_TOO_MANY: *status = 503; return "too_many_peers";
    case PM_ERR_BOOT_FAILED: case PM_ERR_SPAWN: case PM_ERR_LISTEN: *status = 502; return "boot_failed";
    case PM_ERR_TIMEOUT: *status = 504; return "timeout";
    case PM_ERR_NOCONNECTION: *status = 409; return "noconnection";
    case PM_ERR_SHUTTING_DOWN: *status = 503; return "shutting_down";
    case PM_ERR_REPLY_TOO_LARGE: *status = 502; return "reply_too_large";
    case PM_ERR_NO_LEASE: *status = 400; return "no_lease";
    case PM_ERR_CONFLICT: *status = 409; return "cluster_conflict";
    case PM_ERR_NOMEM: *status = 503; return "out_of_memory";
    case PM_OK: case PM_ERR_INTERNAL: break;
    }
    *status = 500;
    return "internal";
}

enum MHD_Result http_pm_error(http_req *h, const pm_req *r)
{
    const char *d = r->detail;
    unsigned status;
    const char *code = pm_error_code(r->status, &status);
    cJSON *extra = NULL;
    switch (r->status) {
    case PM_OK: return http_problem(h, 500, "internal", "no error", NULL);
    case PM_ERR_GONE:
        extra = cJSON_CreateObject();
        if (r->ninfo) {
            cJSON_AddItemToObject(extra, "peer", peer_info_json(&r->info[0]));
            /* The end of its console, for the crash report of a node that died. */
            if (r->info[0].console_tail) cJSON_AddItemToObject(extra, "console_tail", json_text(r->info[0].console_tail, r->info[0].console_tail_len));
        }
        break;
    case PM_ERR_BOOT_FAILED: case PM_ERR_SPAWN:
        extra = cJSON_CreateObject();
        if (r->exit_status >= 0) cJSON_AddNumberToObject(extra, "exit_status", r->exit_status);
        else cJSON_AddNullToObject(extra, "exit_status");
        cJSON_AddItemToObject(extra, "console_tail", json_text(r->console_tail ? r->console_tail : "", r->console_tail ? strlen(r->console_tail) : 0));
        if (r->ninfo) cJSON_AddItemToObject(extra, "peer", peer_info_json(&r->info[0]));
        break;
    case PM_ERR_TIMEOUT:
        if (r->console_tail) {
            extra = cJSON_CreateObject();
            cJSON_AddItemToObject(extra, "console_tail", json_text(r->console_tail, strlen(r->console_tail)));
        }
        break;
    case PM_ERR_SHUTTING_DOWN: if (!d) d = "peerd is shutting down"; break;
    case PM_ERR_INTERNAL: if (!d) d = "internal error"; break;
    case PM_ERR_NOMEM: if (!d) d = HTTP_NOMEM_DETAIL; break;
    default: break;
    }
    return http_problem(h, status, code, d, extra);
}

static void put_key(buf *out, const char *key)
{
    buf_put(out, ",\"", 2);
    buf_str(out, key);
    buf_put(out, "\":", 2);
}

static void put_str_or_null(buf *out, const char *key, const char *v)
{
    put_key(out, key);
    if (v) json_put_string(out, v, strlen(v)); else buf_str(out, "null");
}

static void put_time(buf *out, const char *key, int64_t ms)
{
    put_key(out, key);
    if (!ms) { buf_str(out, "null"); return; }
    buf_byte(out, '"');
    buf_iso_time(out, ms);
    buf_byte(out, '"');
}

/* Written directly rather than through cJSON: GET /peers/{id} is the
 * request a dashboard makes most. Key order and escapes are cJSON's. */
void peer_info_write(buf *out, const pm_peer_info *i)
{
    buf_str(out, "{\"id\":");
    json_put_string(out, i->id ? i->id : "", i->id ? strlen(i->id) : 0);
    put_str_or_null(out, "node", i->node);
    put_key(out, "state");
    json_put_string(out, i->state, strlen(i->state));
    put_str_or_null(out, "down_reason", i->down_reason);
    put_key(out, "connection");
    if (i->connection && !strncmp(i->connection, "tcp:", 4)) {
        char ip[64] = "";
        int port = 0;
        sscanf(i->connection + 4, "%63[^:]:%d", ip, &port);
        buf_str(out, "{\"ip\":");
        json_put_string(out, ip, strlen(ip));
        buf_str(out, ",\"port\":");
        buf_dec(out, (uint64_t)port);
        buf_byte(out, '}');
    } else if (i->connection && !strncmp(i->connection, "distribution:", 13)) {
        buf_str(out, "\"distribution\"");
    } else {
        buf_str(out, "\"standard_io\"");
    }
    /* peerd's own node, for a distribution peer: the node its -origin names. */
    put_str_or_null(out, "origin_node", i->connection && !strncmp(i->connection, "distribution:", 13) ? i->connection + 13 : NULL);
    put_key(out, "os_pid");
    if (i->os_pid > 0) buf_dec(out, (uint64_t)i->os_pid); else buf_str(out, "null");
    put_str_or_null(out, "exec", i->argv ? i->argv[0] : NULL);
    put_key(out, "args");
    buf_byte(out, '[');
    for (size_t k = 1; i->argv && i->argv[0] && i->argv[k]; k++) {
        if (k > 1) buf_byte(out, ',');
        json_put_string(out, i->argv[k], strlen(i->argv[k]));
    }
    buf_byte(out, ']');
    /* The manager keeps the options as the JSON text it was given: no re-parse. */
    put_key(out, "options");
    buf_str(out, i->options_json ? i->options_json : "{}");
    put_key(out, "labels");
    buf_str(out, i->labels_json ? i->labels_json : "{}");
    put_str_or_null(out, "cluster", i->cluster);
    put_time(out, "created_at", i->created_at);
    put_time(out, "booted_at", i->booted_at);
    put_time(out, "down_at", i->down_at);
    put_key(out, "console_bytes");
    buf_dec(out, i->console_bytes);
    put_key(out, "incarnation");
    buf_byte(out, '"');
    buf_hex(out, i->incarnation, 16);
    buf_byte(out, '"');
    put_time(out, "lease_expires_at", i->lease_expires_at);
    put_time(out, "unreachable_since", i->unreachable_since);
    put_key(out, "heartbeat_ms");
    buf_dec(out, (uint64_t)(i->heartbeat_ms > 0 ? i->heartbeat_ms : 0));
    put_key(out, "unreachable_ms");
    buf_dec(out, (uint64_t)(i->unreachable_ms > 0 ? i->unreachable_ms : 0));
    put_key(out, "crash_dump_bytes");
    if (i->crash_dump) buf_dec(out, (uint64_t)i->crash_dump_bytes);
    else buf_str(out, "null");
    buf_byte(out, '}');
}

cJSON *peer_info_json(const pm_peer_info *i)
{
    buf b = {0};
    peer_info_write(&b, i);
    cJSON *j = buf_cstr(&b) ? cJSON_CreateRaw((char *)b.p) : NULL;
    buf_free(&b);
    return j;
}

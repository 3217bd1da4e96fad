/*
 * peers.c — /peers and /peers/{id}: start (peer:start/1), list, get_state,
 * stop. Start options are validated here with OTP's error names and handed
 * to the manager normalised; the normalised form is echoed in `options`.
 */
#include "common.h"
#include "groups.h"
#include "handlers.h"
#include "start_options.h"
#include "follow.h"
#include "vitals.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static enum MHD_Result peer_answer(http_req *h, unsigned status, const pm_peer_info *i)
{
    buf b = {0};
    buf_reserve(&b, 1024);
    peer_info_write(&b, i);
    return http_buf(h, status, "application/json; charset=utf-8", &b, NULL);
}

static enum MHD_Result created(http_req *h)
{
    pm_req *r = h->pm;
    if (r->status != PM_OK) return http_pm_error(h, r);
    bool async = r->ninfo && !strcmp(r->info[0].state, "booting");
    return peer_answer(h, async ? 202 : 201, &r->info[0]);
}

enum MHD_Result peers_create(http_req *h)
{
    enum MHD_Result answered;
    cJSON *body = http_body_json(h, &answered);
    if (!body) return answered;
    pm_start_opts *o = calloc(1, sizeof *o);
    cJSON *norm = cJSON_CreateObject();
    start_options_error e = { "", "" };
    bool ok = o && norm && start_options_parse(body, o, norm, &e);
    cJSON_Delete(body);
    if (!ok) {
        pm_start_opts_free(o);
        cJSON_Delete(norm);
        return e.code[0] ? http_problem(h, 400, e.code, e.detail, NULL) : http_out_of_memory(h);
    }
    o->options_json = cJSON_PrintUnformatted(norm);
    cJSON_Delete(norm);
    if (h->srv->allow_exec) {
        const char *prog = o->exec ? o->exec[0] : "erl";
        char *real = resolve_program(prog);
        bool allowed = false;
        for (char **a = h->srv->allow_exec; real && *a && !allowed; a++) allowed = !strcmp(*a, real);
        free(real);
        if (!allowed) {
            enum MHD_Result res = http_problemf(h, 403, "exec_not_allowed",
                                                "exec: %s is not among the programs peerd may start (--allow-exec)", prog);
            pm_start_opts_free(o);
            return res;
        }
    }
    pm_req *r = pm_req_new(PM_START, NULL);
    if (!r) { pm_start_opts_free(o); return http_out_of_memory(h); }
    r->start = o;
    return http_submit(h, r, created);
}

/* A peer object with its vitals (h->state's peer i) among its members. */
static void with_vitals(buf *b, const http_req *h, size_t i)
{
    size_t at = b->len;
    peer_info_write(b, &h->pm->info[i]);
    if (b->oom || b->len == at) return;
    b->len--;           /* its closing brace */
    buf_byte(b, ',');
    vitals_write(b, h, i);
    buf_byte(b, '}');
}

static enum MHD_Result write_list(http_req *h, bool vitals)
{
    pm_req *r = h->pm;
    buf b = {0};
    buf_str(&b, "{\"peers\":[");
    for (size_t i = 0; i < r->ninfo; i++) {
        if (i) buf_byte(&b, ',');
        if (vitals) with_vitals(&b, h, i);
        else peer_info_write(&b, &r->info[i]);
    }
    buf_str(&b, "]}");
    return http_buf(h, 200, "application/json; charset=utf-8", &b, NULL);
}

static enum MHD_Result listed_with_vitals(http_req *h) { return write_list(h, true); }

static enum MHD_Result listed(http_req *h)
{
    pm_req *r = h->pm;
    if (r->status != PM_OK) return http_pm_error(h, r);
    bool vitals = false;
    enum MHD_Result answered;
    if (http_query(h, "vitals") && !http_flag(h, "vitals", &vitals, &answered)) return answered;
    if (vitals) return vitals_ask(h, r->info, r->ninfo, listed_with_vitals);
    return write_list(h, false);
}

/* GET /peers[?selector=LABELS][&cluster=NAME] */
enum MHD_Result peers_list(http_req *h)
{
    const char *sel = http_query(h, "selector"), *cluster = http_query(h, "cluster");
    pm_req *r = pm_req_new(PM_LIST, NULL);
    if (!r) return MHD_NO;
    enum MHD_Result answered;
    if (sel && !group_selector(h, sel, strlen(sel), &r->sel, &answered)) { pm_req_free(r); return answered; }
    if (cluster && !(r->cluster = strdup(cluster))) { pm_req_free(r); return MHD_NO; }
    return http_submit(h, r, listed);
}

static enum MHD_Result one_peer(http_req *h)
{
    pm_req *r = h->pm;
    if (r->status != PM_OK) return http_pm_error(h, r);
    return peer_answer(h, 200, &r->info[0]);
}

static enum MHD_Result one_with_vitals(http_req *h)
{
    buf b = {0};
    with_vitals(&b, h, 0);
    return http_buf(h, 200, "application/json; charset=utf-8", &b, NULL);
}

static enum MHD_Result one_peer_for_vitals(http_req *h)
{
    pm_req *r = h->pm;
    if (r->status != PM_OK) return http_pm_error(h, r);
    return vitals_ask(h, r->info, 1, one_with_vitals);
}

enum MHD_Result peers_get(http_req *h)
{
    bool vitals = false;
    enum MHD_Result answered;
    if (http_query(h, "vitals") && !http_flag(h, "vitals", &vitals, &answered)) return answered;
    /* The request a dashboard makes most: written from the manager's view
     * of the peer, no request and no copy. */
    pm_peer_info view;
    if (!vitals && pm_peer_view(h->srv->pm, h->seg[1], &view)) return peer_answer(h, 200, &view);
    pm_req *r = pm_req_new(PM_GET, h->seg[1]);
    return r ? http_submit(h, r, vitals ? one_peer_for_vitals : one_peer) : MHD_NO;
}

enum MHD_Result peers_delete(http_req *h)
{
    pm_req *r = pm_req_new(PM_STOP, h->seg[1]);
    return r ? http_submit(h, r, one_peer) : MHD_NO;
}

/* GET /peers/{id}/crash_dump — the erl_crash.dump its node left, kept with
 * the peer and its tombstone. */
static enum MHD_Result dump_found(http_req *h)
{
    pm_req *r = h->pm;
    if (r->status != PM_OK && (r->status != PM_ERR_GONE || !r->ninfo)) return http_pm_error(h, r);
    const pm_peer_info *i = &r->info[0];
    int fd = i->crash_dump ? open(i->crash_dump, O_RDONLY | O_CLOEXEC) : -1;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        if (fd >= 0) close(fd);
        return http_problemf(h, 404, "no_crash_dump", "peer %s: its node left no crash dump%s", i->id,
                             strcmp(i->state, "down") ? " (it is running)" : "");
    }
    return http_file(h, 200, "text/plain; charset=utf-8", fd, (uint64_t)st.st_size);
}

enum MHD_Result peers_crash_dump(http_req *h)
{
    pm_req *r = pm_req_new(PM_GET, h->seg[1]);
    return r ? http_submit(h, r, dump_found) : MHD_NO;
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

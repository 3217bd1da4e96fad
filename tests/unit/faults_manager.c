/*
 * faults_manager.c — the manager out of memory: with a real erl node over
 * each control connection, each allocation a call makes fails in turn
 * (only that one), and the call is still answered at once — with its result
 * whole or an error — the node still answers the next call, and nothing
 * leaks (valgrind and ASan run this). A stop is answered and its node goes.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

#include "etf.h"
#include "loop.h"
#include "manager.h"

extern unsigned fail_at, calls;
extern bool fail_once;

static void fail_only(unsigned nth) { fail_at = nth; calls = 0; fail_once = true; }
static unsigned faults_off(void) { unsigned used = calls; fail_at = 0; return used; }

typedef struct { loop *l; int done; } driver;

static void on_done(pm_req *r)
{
    driver *d = r->ud;
    d->done++;
    loop_stop(d->l);
}

/* Submits r (the nth allocation from here failing, if nth) and turns the
 * loop until it is answered: *used says how many allocations that took. */
static pm_req *run(driver *d, pm *m, pm_req *r, unsigned nth, unsigned *used)
{
    r->ud = d;
    r->done = on_done;
    d->done = 0;
    if (nth) fail_only(nth);
    pm_submit(m, r);
    while (!d->done) cr_assert_eq(loop_run(d->l), 0);
    unsigned u = faults_off();
    if (used) *used = u;
    return r;
}

static pm_start_opts *opts(enum pm_conn conn)
{
    pm_start_opts *o = calloc(1, sizeof *o);
    cr_assert(o);
    o->conn = conn;
    o->detached = conn == PM_CONN_TCP;
    if (conn == PM_CONN_DIST) {
        char name[64];
        snprintf(name, sizeof name, "faults_%d", (int)getpid());
        o->name = strdup(name);
    }
    o->wait_boot_ms = 15000;
    o->shutdown = PM_SHUTDOWN_HALT;
    o->shutdown_ms = 5000;
    o->heartbeat_ms = -1;
    o->unreachable_ms = -1;
    o->options_json = strdup("{}");
    return o;
}

static char *start(driver *d, pm *m, enum pm_conn conn)
{
    pm_req *r = pm_req_new(PM_START, NULL);
    cr_assert(r);
    r->start = opts(conn);
    run(d, m, r, 0, NULL);
    cr_assert_eq(r->status, PM_OK, "%s", r->detail ? r->detail : "");
    char *id = strdup(r->info[0].id);
    pm_req_free(r);
    return id;
}

/* erlang:F() as a call. NULL if the request itself could not be made. */
static pm_req *call(driver *d, pm *m, const char *id, const char *f, unsigned nth, unsigned *used)
{
    if (nth) fail_only(nth);
    pm_req *r = pm_req_new(PM_CALL, id);
    if (r) {
        etf_encode_atom(&r->payload, "erlang", 6);
        etf_encode_atom(&r->payload, f, strlen(f));
        buf_byte(&r->payload, NIL_EXT);
        r->timeout_ms = 3000;
    }
    if (!r || r->payload.oom) {
        unsigned u = faults_off();
        if (used) *used = u;
        pm_req_free(r);
        return NULL;
    }
    unsigned before = calls;
    run(d, m, r, 0, used);
    if (used) *used += before;
    return r;
}

static void quit_done(void *ud) { loop_stop(ud); }

/* Each allocation of a call fails in turn, over one control connection. */
static void calls_fail_in_turn(enum pm_conn conn)
{
    driver d = { .l = loop_new() };
    pm_config cfg = { .console_buffer = 1 << 16, .max_peers = 4, .quiet = true, .cookie = "unit", .heartbeat_ms = 0, .unreachable_ms = 60000 };
    pm *m = pm_new(d.l, &cfg);
    cr_assert(m);
    char *id = start(&d, m, conn);

    unsigned failed = 0, restarts = 0, nth;
    for (nth = 1;; nth++) {
        unsigned used = 0;
        pm_req *r = call(&d, m, id, "self", nth, &used);
        if (r) {
            cr_assert(r->status != PM_ERR_TIMEOUT, "allocation %u: a failure is answered at once, not by the call's timeout", nth);
            cr_assert(r->status == PM_OK || r->status == PM_ERR_NOMEM || r->detail,
                      "an error says what failed (status %d at allocation %u)", r->status, nth);
            if (r->status != PM_OK) failed++;
            else {
                cr_assert(r->klass && !strcmp(r->klass, "ok") && !r->reply.oom, "an answer is whole (allocation %u)", nth);
                arena *a = arena_new();
                term *t = etf_decode(a, r->reply.p, r->reply.len, NULL);
                cr_assert(t && t->type == TERM_PID, "the node's reply as it sent it (allocation %u)", nth);
                arena_free(a);
            }
            pm_req_free(r);
        }
        /* The next call, with nothing failing, is answered by the node —
         * or its peer went down, saying so, and a new one takes its place. */
        pm_req *next = call(&d, m, id, "self", 0, NULL);
        cr_assert(next);
        if (next->status != PM_OK) {
            cr_assert(next->status == PM_ERR_NOCONNECTION || next->status == PM_ERR_GONE || next->status == PM_ERR_NOT_FOUND,
                      "after allocation %u failed, the peer neither answers nor is down (status %d)", nth, next->status);
            free(id);
            id = start(&d, m, conn);
            restarts++;
        }
        pm_req_free(next);
        if (used < nth) break;          /* nothing failed: every allocation was tried */
    }
    cr_assert_gt(nth, 5, "a call made %u allocations: the wrap is not in place", nth - 1);
    cr_log_info("%s: a call's %u allocations failed in turn: %u answered with an error, %u peers restarted",
                conn == PM_CONN_STDIO ? "standard_io" : conn == PM_CONN_TCP ? "tcp" : "distribution", nth - 1, failed, restarts);

    pm_req *r = run(&d, m, pm_req_new(PM_STOP, id), 0, NULL);
    cr_assert_eq(r->status, PM_OK);
    pm_req_free(r);
    free(id);
    pm_quit(m, quit_done, d.l);
    cr_assert_eq(loop_run(d.l), 0);
    pm_free(m);
    loop_free(d.l);
}

Test(faults_manager, a_call_over_standard_io, .timeout = 120) { calls_fail_in_turn(PM_CONN_STDIO); }
Test(faults_manager, a_call_over_tcp, .timeout = 120) { calls_fail_in_turn(PM_CONN_TCP); }
Test(faults_manager, a_call_over_distribution, .timeout = 120) { calls_fail_in_turn(PM_CONN_DIST); }

/* A stop, each of its allocations failing in turn: answered, and the
 * node's process is gone. */
Test(faults_manager, a_stop, .timeout = 240)
{
    driver d = { .l = loop_new() };
    pm_config cfg = { .console_buffer = 1 << 16, .max_peers = 4, .quiet = true, .cookie = "unit", .heartbeat_ms = 0, .unreachable_ms = 60000 };
    pm *m = pm_new(d.l, &cfg);
    cr_assert(m);
    unsigned nth;
    for (nth = 1;; nth++) {
        char *id = start(&d, m, PM_CONN_STDIO);
        pm_req *g = run(&d, m, pm_req_new(PM_GET, id), 0, NULL);
        pid_t pid = g->info[0].os_pid;
        pm_req_free(g);
        cr_assert_gt(pid, 0);
        unsigned used;
        pm_req *r = run(&d, m, pm_req_new(PM_STOP, id), nth, &used);
        cr_assert(r->status == PM_OK || r->status == PM_ERR_NOMEM, "allocation %u: status %d", nth, r->status);
        bool stopped = r->status == PM_OK;
        pm_req_free(r);
        if (!stopped) {                 /* refused whole: the stop can be asked again */
            r = run(&d, m, pm_req_new(PM_STOP, id), 0, NULL);
            cr_assert_eq(r->status, PM_OK, "allocation %u: the second stop", nth);
            pm_req_free(r);
        }
        cr_assert(kill(pid, 0) != 0, "allocation %u: the node's process %d is gone", nth, (int)pid);
        free(id);
        if (used < nth) break;
    }
    cr_log_info("a stop's %u allocations failed in turn", nth - 1);
    pm_quit(m, quit_done, d.l);
    cr_assert_eq(loop_run(d.l), 0);
    pm_free(m);
    loop_free(d.l);
}

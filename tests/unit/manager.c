/*
 * manager.c — the peer manager alone, on a loop of its own, with real erl
 * nodes over each control connection and no HTTP: a start answered once the node is up, a call relayed
 * and its reply kept as ETF, a call that times out, a stop answered with
 * the final peer, requests for a peer it does not hold, and a timer that
 * cannot be armed failing the call that needed it.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "etf.h"
#include "loop.h"
#include "manager.h"

typedef struct { loop *l; int done; } driver;

static void on_done(pm_req *r)
{
    driver *d = r->ud;
    d->done++;
    loop_stop(d->l);
}

/* Submits r and turns the loop until it is answered. */
static pm_req *run(driver *d, pm *m, pm_req *r)
{
    r->ud = d;
    r->done = on_done;
    d->done = 0;
    pm_submit(m, r);
    while (!d->done) cr_assert_eq(loop_run(d->l), 0);
    return r;
}

static pm_req *start(driver *d, pm *m, int64_t heartbeat, enum pm_conn conn)
{
    pm_start_opts *o = calloc(1, sizeof *o);
    o->conn = conn;
    o->detached = conn == PM_CONN_TCP;
    if (conn == PM_CONN_DIST) {
        char name[64];
        snprintf(name, sizeof name, "unit_%d", (int)getpid());
        o->name = strdup(name);
    }
    o->wait_boot_ms = 15000;
    o->shutdown = PM_SHUTDOWN_HALT;
    o->shutdown_ms = 5000;
    o->heartbeat_ms = heartbeat;
    o->unreachable_ms = -1;
    o->options_json = strdup("{}");
    pm_req *r = pm_req_new(PM_START, NULL);
    r->start = o;
    return run(d, m, r);
}

/* erlang:F() as a call's payload. */
static pm_req *call(driver *d, pm *m, const char *id, const char *f, int64_t timeout_ms)
{
    pm_req *r = pm_req_new(PM_CALL, id);
    etf_encode_atom(&r->payload, "erlang", 6);
    etf_encode_atom(&r->payload, f, strlen(f));
    buf_byte(&r->payload, NIL_EXT);
    r->timeout_ms = timeout_ms;
    return run(d, m, r);
}

static void quit_done(void *ud) { loop_stop(ud); }

/* The same over each control connection (conn_stdio.c, conn_tcp.c,
 * conn_dist.c): the manager sees them only through conn.h. */
static void lifecycle(enum pm_conn conn)
{
    driver d = { .l = loop_new() };
    pm_config cfg = { .console_buffer = 1 << 16, .max_peers = 4, .quiet = true, .cookie = "unit", .heartbeat_ms = 0, .unreachable_ms = 60000 };
    pm *m = pm_new(d.l, &cfg);
    cr_assert(m);

    pm_req *r = start(&d, m, -1, conn);
    cr_assert_eq(r->status, PM_OK, "%s", r->detail ? r->detail : "");
    cr_assert_eq(r->ninfo, 1);
    cr_assert_str_eq(r->info[0].state, "running");
    cr_assert_eq(r->info[0].heartbeat_ms, 0, "peerd's default, as configured");
    char *id = strdup(r->info[0].id);
    pm_req_free(r);

    r = call(&d, m, id, "node", 5000);
    cr_assert_eq(r->status, PM_OK);
    cr_assert_str_eq(r->klass, "ok");
    arena *a = arena_new();
    term *t = etf_decode(a, r->reply.p, r->reply.len, NULL);
    cr_assert(t && t->type == TERM_ATOM, "the reply is kept as the node's ETF");
    if (conn != PM_CONN_DIST) cr_assert(term_is_atom(t, "nonode@nohost"));
    arena_free(a);
    pm_req_free(r);

    /* A call that needs a timer that cannot be armed fails, saying so. */
    loop_fail_timers(d.l, 1);
    r = call(&d, m, id, "node", 5000);
    loop_fail_timers(d.l, 0);
    cr_assert_eq(r->status, PM_ERR_INTERNAL);
    cr_assert(r->detail && strstr(r->detail, "arming the call's timeout"), "%s", r->detail);
    pm_req_free(r);

    r = call(&d, m, "no-such-peer", "node", 5000);
    cr_assert_eq(r->status, PM_ERR_NOT_FOUND);
    pm_req_free(r);

    r = run(&d, m, pm_req_new(PM_STOP, id));
    cr_assert_eq(r->status, PM_OK);
    cr_assert_str_eq(r->info[0].state, "down");
    pm_req_free(r);

    r = call(&d, m, id, "node", 5000);
    cr_assert_eq(r->status, PM_ERR_GONE, "a removed peer answers with its tombstone");
    pm_req_free(r);

    pm_quit(m, quit_done, d.l);
    cr_assert_eq(loop_run(d.l), 0);
    pm_free(m);
    loop_free(d.l);
    free(id);
}

Test(manager, standard_io, .timeout = 60) { lifecycle(PM_CONN_STDIO); }
Test(manager, tcp, .timeout = 60) { lifecycle(PM_CONN_TCP); }
Test(manager, distribution, .timeout = 60) { lifecycle(PM_CONN_DIST); }

/*
 * faults.c — a peerd whose timers cannot be armed (from 2.5 s after its
 * start, by PEERD_FAULT_TIMERS_AFTER_MS, as if out of memory): what needed
 * a timer fails, saying so, and nothing hangs — a call with a timeout, a
 * lease renewal, the HTTP deadline sweep, and the whole shutdown.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

Test(injected_faults, timers_that_cannot_be_armed_fail_what_needed_them, .timeout = 90)
{
    setenv("PEERD_FAULT_TIMERS_AFTER_MS", "3000", 1);
    double t0 = now_s();
    peerd *d = peerd_start(NULL);
    unsetenv("PEERD_FAULT_TIMERS_AFTER_MS");
    char *id = start_peer(d, "{\"lease_ms\":600000,\"heartbeat_ms\":0}");
    cr_assert_lt(now_s() - t0, 2.9, "the peer booted before the timers fail (else the test says nothing)");
    while (now_s() - t0 < 3.2) usleep(50000);

    char path[256];
    snprintf(path, sizeof path, "/peers/%s/call", id);
    resp *r = http(d, "POST", path, "{\"module\":\"erlang\",\"function\":\"node\",\"timeout_ms\":1000}");
    cr_assert_eq(r->status, 500, "%s", r->body);
    cr_assert_str_eq(jstr(r, "detail"), "out of memory arming the call's timeout", "%s", r->body);
    resp_free(r);
    r = http(d, "POST", path, "{\"module\":\"erlang\",\"function\":\"node\",\"timeout_ms\":\"infinity\"}");
    cr_assert_eq(r->status, 200, "a call that needs no timer still goes: %s", r->body);
    resp_free(r);
    snprintf(path, sizeof path, "/peers/%s/lease", id);
    r = http(d, "PUT", path, NULL);
    cr_assert_eq(r->status, 500, "%s", r->body);
    cr_assert_str_eq(jstr(r, "detail"), "out of memory arming the lease", "%s", r->body);
    resp_free(r);
    /* The deadline sweep runs without its timer, from the loop's turns. */
    sleep(2);
    r = http(d, "GET", "/healthz", NULL);
    cr_assert_eq(r->status, 200);
    resp_free(r);
    /* And the stop completes: the peer, HTTP, the webhooks, without timers. */
    double t1 = now_s();
    cr_assert_eq(peerd_stop(d), 0);
    cr_assert_lt(now_s() - t1, 15, "the stop took %.1f s", now_s() - t1);
    free(id);
}

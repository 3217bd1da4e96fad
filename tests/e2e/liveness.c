/*
 * liveness.c — a node peerd does not hear from: unreachable (an event, the
 * peer, /metrics, calls that fail at once or wait when asked), reachable
 * again with nothing lost, down after unreachable_ms; and the other side: a
 * node whose origin falls silent halts by itself, on every connection.
 * Silence is made here with SIGSTOP (of the node, or of peerd); across a
 * real partition, in hosts.c. Heartbeats are 200 ms and the limit 2 s.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static const char *const fast[] = { "--heartbeat", "0.2", "--unreachable", "2", NULL };

static resp *peer_of(peerd *d, const char *id)
{
    char path[256];
    snprintf(path, sizeof path, "/peers/%s", id);
    return http(d, "GET", path, NULL);
}

Test(liveness, unreachable_then_reachable_then_down, .timeout = 60)
{
    peerd *d = peerd_start(fast);
    char *id = start_peer(d, "{}");
    resp *r = peer_of(d, id);
    cr_assert_eq(jnum(r, "heartbeat_ms"), 200, "%s", r->body);
    cr_assert_eq(jnum(r, "unreachable_ms"), 2000, "%s", r->body);
    cr_assert(strstr(r->body, "\"unreachable_since\":null"), "%s", r->body);
    resp_free(r);
    pid_t node = os_pid_of(d, id);

    /* Silent: within two heartbeats it is unreachable, and says since when. */
    kill(node, SIGSTOP);
    char path[256], want[300];
    snprintf(path, sizeof path, "/events?follow=0");
    snprintf(want, sizeof want, "\"type\":\"unreachable\",\"peer\":\"%s\"", id);
    r = http_until(d, "GET", path, NULL, has_text, want, 3000);
    cr_assert(strstr(r->body, want), "%s", r->body);
    cr_assert(strstr(r->body, "\"reason\":\"not heard from for "), "%s", r->body);
    resp_free(r);
    r = peer_of(d, id);
    cr_assert_str_eq(jstr(r, "state"), "running", "%s", r->body);
    cr_assert(jstr(r, "unreachable_since"), "%s", r->body);
    resp_free(r);
    cr_assert_eq(metric(d, "peerd_peers_unreachable"), 1);
    cr_assert_eq(metric(d, "peerd_unreachable_total"), 1);

    /* A call fails at once, saying why; one that asks to wait waits. */
    double t0 = now_s();
    r = call(d, id, "erlang", "node", "[]");
    cr_assert_eq(r->status, 409, "%s", r->body);
    cr_assert_str_eq(jstr(r, "error"), "noconnection", "%s", r->body);
    cr_assert(strstr(jstr(r, "detail"), "has not been heard from for"), "%s", r->body);
    cr_assert(strstr(jstr(r, "detail"), "\"wait_unreachable\": true"), "%s", r->body);
    cr_assert_lt(now_s() - t0, 0.5, "at once");
    resp_free(r);
    snprintf(path, sizeof path, "/peers/%s/call", id);
    pid_t c = fork();
    if (c == 0) {
        usleep(600000);
        kill(node, SIGCONT);
        _exit(0);
    }
    r = http(d, "POST", path, "{\"module\":\"erlang\",\"function\":\"abs\",\"args\":[-7],\"wait_unreachable\":true}");
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_assert_str_eq(jstr(r, "result"), "7", "%s", r->body);
    resp_free(r);
    child_wait(c, 5000);

    /* Heard again: reachable, with an event. */
    snprintf(want, sizeof want, "\"type\":\"reachable\",\"peer\":\"%s\"", id);
    r = http_until(d, "GET", "/events?follow=0", NULL, has_text, want, 3000);
    cr_assert(strstr(r->body, "\"reason\":\"heard again after "), "%s", r->body);
    resp_free(r);
    r = peer_of(d, id);
    cr_assert(strstr(r->body, "\"unreachable_since\":null"), "%s", r->body);
    resp_free(r);
    cr_assert_eq(metric(d, "peerd_peers_unreachable"), 0);

    /* Silent past unreachable_ms: down, naming the silence, and removed. */
    kill(node, SIGSTOP);
    snprintf(path, sizeof path, "/peers/%s", id);
    r = http_until(d, "GET", path, NULL, has_status, &(long){ 410 }, 6000);
    cr_assert_eq(r->status, 410, "%s", r->body);
    cr_assert(strstr(r->body, "\"down_reason\":\"{unreachable,"), "%s", r->body);
    resp_free(r);
    kill(node, SIGCONT);
    cr_assert(process_gone(node, 5000), "the node it declared down is stopped");
    cr_assert_eq(metric(d, "peerd_peers_unreachable"), 0);
    free(id);
    cr_assert_eq(peerd_stop(d), 0);
}

/* What a chatty node prints while it is unreachable is all there once it
 * is heard again: its output waited in the pipe. */
Test(liveness, nothing_is_lost_while_unreachable, .timeout = 60)
{
    peerd *d = peerd_start(fast);
    char *id = start_peer(d, "{}");
    resp *r = node_eval(d, id, "spawn(fun() -> [begin io:format(user, \"line ~b~n\", [N]), timer:sleep(10) end || N <- lists:seq(1, 300)] end), ok", false);
    cr_assert_eq(r->status, 200, "%s", r->body);
    resp_free(r);
    pid_t node = os_pid_of(d, id);
    usleep(300000);
    kill(node, SIGSTOP);
    usleep(1200000);     /* unreachable, not yet down */
    kill(node, SIGCONT);
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/console", id);
    r = http_until(d, "GET", path, NULL, has_text, "line 300\n", 10000);
    expect_in_order(r->body, "line %1$d\n", 1, 300);
    resp_free(r);
    r = http(d, "GET", "/events?follow=0", NULL);
    cr_assert(strstr(r->body, "\"type\":\"unreachable\""), "%s", r->body);
    cr_assert(strstr(r->body, "\"type\":\"reachable\""), "%s", r->body);
    cr_assert(!strstr(r->body, "\"type\":\"down\""), "%s", r->body);
    resp_free(r);
    delete_peer(d, id);
    free(id);
    cr_assert_eq(peerd_stop(d), 0);
}

/* peerd silent (stopped) past the limit: each node halts by itself, over
 * standard_io, TCP and distribution, though nothing closed its connection. */
Test(liveness, nodes_halt_when_their_origin_falls_silent, .timeout = 60)
{
    peerd *d = peerd_start(fast);
    const char *opts[] = { "{}", "{\"connection\":0}", "{\"connection\":\"distribution\",\"name\":\"%s\"}" };
    pid_t nodes[3];
    char *ids[3];
    for (int i = 0; i < 3; i++) {
        char o[200];
        snprintf(o, sizeof o, opts[i], unique_name("silent"));
        ids[i] = start_peer(d, o);
        nodes[i] = os_pid_of(d, ids[i]);
    }
    kill(d->pid, SIGSTOP);
    double t0 = now_s();
    for (int i = 0; i < 3; i++) {
        /* Gone means exited: a zombie waits for peerd to reap it. */
        bool gone = false;
        while (!gone && now_s() - t0 < 6) {
            char stat[64], line[256] = "";
            snprintf(stat, sizeof stat, "/proc/%d/stat", (int)nodes[i]);
            FILE *f = fopen(stat, "r");
            if (f) { if (!fgets(line, sizeof line, f)) line[0] = 0; fclose(f); }
            const char *rp = strrchr(line, ')');
            gone = !f || (rp && rp[2] == 'Z');
            if (!gone) usleep(50000);
        }
        cr_expect(gone, "node %d (%s) still runs %.1f s after its origin fell silent", (int)nodes[i], opts[i], now_s() - t0);
    }
    cr_expect_lt(now_s() - t0, 4.5, "within the limit (2 s) and a beat");
    kill(d->pid, SIGCONT);
    for (int i = 0; i < 3; i++) free(ids[i]);
    cr_assert_eq(peerd_stop(d), 0);
}

/* Each start may set its own; 0 turns the heartbeat off. */
Test(liveness, per_peer_settings_and_their_checks, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{\"heartbeat_ms\":0}");
    resp *r = peer_of(d, id);
    cr_assert_eq(jnum(r, "heartbeat_ms"), 0, "%s", r->body);
    resp_free(r);
    pid_t node = os_pid_of(d, id);
    kill(node, SIGSTOP);
    sleep(1);
    r = peer_of(d, id);
    cr_assert(strstr(r->body, "\"unreachable_since\":null"), "no heartbeat, no judgement: %s", r->body);
    resp_free(r);
    kill(node, SIGCONT);
    delete_peer(d, id);
    free(id);
    id = start_peer(d, "{\"heartbeat_ms\":300,\"unreachable_ms\":900}");
    r = peer_of(d, id);
    cr_assert_eq(jnum(r, "heartbeat_ms"), 300, "%s", r->body);
    cr_assert_eq(jnum(r, "unreachable_ms"), 900, "%s", r->body);
    cr_assert(strstr(r->body, "\"heartbeat_ms\":300,\"unreachable_ms\":900"), "in the options too: %s", r->body);
    resp_free(r);
    delete_peer(d, id);
    free(id);
    static const struct { const char *body, *says; } bad[] = {
        { "{\"heartbeat_ms\":50}", "heartbeat_ms: must be 0 (none) or 100 to 3600000 milliseconds" },
        { "{\"heartbeat_ms\":\"1s\"}", "heartbeat_ms: must be" },
        { "{\"unreachable_ms\":100}", "unreachable_ms: must be 200 to 86400000 milliseconds" },
        { "{\"heartbeat_ms\":1000,\"unreachable_ms\":1000}", "unreachable_ms: must be longer than heartbeat_ms" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        r = http(d, "POST", "/peers", bad[i].body);
        cr_assert_eq(r->status, 400, "%s", r->body);
        cr_assert(strstr(jstr(r, "detail"), bad[i].says), "%s", r->body);
        resp_free(r);
    }
    r = http(d, "POST", "/peers/x/call", "{\"module\":\"m\",\"function\":\"f\",\"wait_unreachable\":1}");
    cr_assert_eq(r->status, 404, "the path first: %s", r->body);
    resp_free(r);
    char err[512];
    const char *flags[] = { "--heartbeat", "0.01", NULL };
    cr_assert_eq(peerd_refused(flags, err, sizeof err), 2);
    cr_assert(strstr(err, "--heartbeat must be 0, or 0.1 to 3600 seconds"), "%s", err);
    cr_assert_eq(peerd_stop(d), 0);
}

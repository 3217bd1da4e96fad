/*
 * distribution.c — Erlang distribution as the control connection: peerd is
 * a hidden node, the peer connects back to it. Against real
 * erl nodes: boot, calls with every exception class, cast, console, messages
 * both ways (by pid and by {Name, PeerdNode}), every shutdown mode,
 * peer_down, the cookie (peerd's own, a start's, --cookie-file's; never on
 * the command line), a boot that fails for a foreign cookie, long names,
 * and no node left after SIGKILL or SIGTERM of peerd.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static char *start_dist(peerd *d, const char *name, const char *extra)
{
    char opts[512];
    snprintf(opts, sizeof opts, "{\"name\":\"%s\",\"connection\":\"distribution\"%s%s}", name, extra ? "," : "", extra ? extra : "");
    return start_peer(d, opts);
}

/* The atom a call answered (its value, unquoted). */
static const char *atom_of(const resp *r)
{
    cJSON *a = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r->json, "value"), "$atom");
    return cJSON_IsString(a) ? a->valuestring : "";
}

static char *origin_of(peerd *d, const char *id)
{
    char path[256];
    snprintf(path, sizeof path, "/peers/%s", id);
    resp *r = http(d, "GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_assert_str_eq(jstr(r, "connection"), "distribution", "%s", r->body);
    const char *o = jstr(r, "origin_node");
    cr_assert(o && !strncmp(o, "peerd_", 6), "origin_node: %s", r->body);
    char *s = strdup(o);
    resp_free(r);
    return s;
}

Test(distribution, basic, .timeout = 120)
{
    peerd *d = peerd_start(NULL);
    char name[64];
    snprintf(name, sizeof name, "%s", unique_name("dist"));
    char *id = start_dist(d, name, NULL);
    pid_t os_pid = os_pid_of(d, id);
    cr_assert_gt(os_pid, 0);
    free(origin_of(d, id));

    resp *r = call(d, id, "erlang", "node", "[]");
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect(!strncmp(atom_of(r), name, strlen(name)) && atom_of(r)[strlen(name)] == '@', "%s", r->body);
    resp_free(r);

    /* Every class, as over standard_io: {Reason, Stacktrace}. */
    r = call(d, id, "erlang", "throw", "\"[ball]\"");
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect_str_eq(jstr(r, "class"), "throw");
    cr_expect_str_eq(jstr(r, "reason"), "ball");
    resp_free(r);
    r = call(d, id, "erlang", "exit", "\"[gone]\"");
    cr_expect_str_eq(jstr(r, "class"), "exit");
    cr_expect_str_eq(jstr(r, "reason"), "gone");
    resp_free(r);
    r = call(d, id, "erlang", "error", "\"[badarg]\"");
    cr_expect_str_eq(jstr(r, "class"), "error");
    cr_expect_str_eq(jstr(r, "reason"), "badarg");
    cr_expect(strstr(jstr(r, "stacktrace"), "{erlang,error,[badarg]"), "stacktrace: %s", r->body);
    resp_free(r);

    /* A cast, then a call that sees it. */
    peer_cast(d, id, "application", "set_env", "\"[kernel, dist_test, yes]\"");
    for (int i = 0; i < 100; i++) {
        r = call(d, id, "application", "get_env", "\"[kernel, dist_test]\"");
        if (r->status != 200 || strcmp(jstr(r, "result"), "undefined")) break;
        resp_free(r);
        usleep(20000);
    }
    cr_expect_str_eq(jstr(r, "result"), "{ok,yes}", "%s", r->body);
    resp_free(r);

    /* The node's output, through its group leader (peerd), in the console. */
    r = call(d, id, "io", "format", "\"[\\\"dist says ~p~n\\\", [42]]\"");
    cr_expect_eq(r->status, 200, "%s", r->body);
    resp_free(r);
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/console", id);
    r = http(d, "GET", path, NULL);
    cr_expect(strstr(r->body, "dist says 42\n"), "console: %s", r->body);
    resp_free(r);

    /* A second node is left for peerd's SIGTERM to stop. */
    char name2[64];
    snprintf(name2, sizeof name2, "%s", unique_name("dist"));
    char *id2 = start_dist(d, name2, NULL);
    pid_t os_pid2 = os_pid_of(d, id2);
    delete_peer(d, id);
    cr_expect(process_gone(os_pid, 10000), "the stopped node %d is still running", (int)os_pid);
    cr_expect_eq(peerd_stop(d), 0);
    cr_expect(process_gone(os_pid2, 10000), "node %d outlived peerd", (int)os_pid2);
    free(id);
    free(id2);
}

Test(distribution, needs_a_name, .timeout = 30)
{
    peerd *d = peerd_start(NULL);
    resp *r = http(d, "POST", "/peers", "{\"connection\":\"distribution\"}");
    cr_expect_eq(r->status, 400, "%s", r->body);
    cr_expect(strstr(jstr(r, "detail"), "needs a name"), "%s", r->body);
    resp_free(r);
    r = http(d, "POST", "/peers", "{\"name\":\"x\",\"cookie\":\"abc\"}");
    cr_expect_eq(r->status, 400, "a cookie without distribution: %s", r->body);
    resp_free(r);
    r = http(d, "POST", "/peers", "{\"name\":\"x\",\"connection\":\"distribution\",\"cookie\":\"a b\"}");
    cr_expect_eq(r->status, 400, "%s", r->body);
    resp_free(r);
    r = http(d, "POST", "/peers", "{\"name\":\"x\",\"connection\":\"distribution\",\"detached\":true}");
    cr_expect_eq(r->status, 400, "%s", r->body);
    resp_free(r);
    peerd_stop(d);
}

Test(distribution, messages_both_ways, .timeout = 120)
{
    peerd *d = peerd_start(NULL);
    char name[64];
    snprintf(name, sizeof name, "%s", unique_name("distmsg"));
    char *id = start_dist(d, name, NULL);
    char *origin = origin_of(d, id);
    char code[1024];
    /* To a registered name on peerd's node. */
    snprintf(code, sizeof code, "{inbox, '%s'} ! {hello, 1}", origin);
    resp_free(node_eval(d, id, code, false));
    /* To a pid of peerd's node: the group leader of a call is one. */
    resp_free(node_eval(d, id, "group_leader() ! {to_pid, 2}", false));
    /* peerd to a registered process on the node, which answers by name. */
    snprintf(code, sizeof code, "register(echo, spawn(fun() -> receive M -> {inbox, '%s'} ! {echoed, M} end end))", origin);
    resp_free(node_eval(d, id, code, false));
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/send", id);
    resp *r = http(d, "POST", path, "{\"to\":\"echo\",\"message\":{\"$term\":\"ping\"}}");
    cr_expect_eq(r->status, 202, "%s", r->body);
    resp_free(r);
    snprintf(path, sizeof path, "/peers/%s/messages", id);
    const char *const want[] = { "\"to\":\"inbox\",\"result\":\"{hello,1}\"", "\"result\":\"{to_pid,2}\"",
                                 "\"result\":\"{echoed,ping}\"", NULL };
    r = http_until(d, "GET", path, NULL, has_all, want, 5000);
    cr_expect(has_all(r, want), "messages: %s", r->body);
    /* The one to a pid names it as the node prints it: a pid of another node. */
    cr_expect(strstr(r->body, "\"to\":\"<"), "to a pid: %s", r->body);
    resp_free(r);
    delete_peer(d, id);
    peerd_stop(d);
    free(origin);
    free(id);
}

/* The shutdown family (close, halt, init:stop, with OTP's bounds) runs over
 * distribution in conformance.c, as distribution/shutdown_*. */

Test(distribution, peer_down_continue, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char name[64];
    snprintf(name, sizeof name, "%s", unique_name("distpd"));
    char *id = start_dist(d, name, "\"peer_down\":\"continue\"");
    pid_t os_pid = os_pid_of(d, id);
    kill(os_pid, SIGKILL);
    resp *r = wait_state(d, id, "down", 10000);
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(jstr(r, "state"), "down");
    resp_free(r);
    r = call(d, id, "erlang", "node", "[]");
    cr_expect_eq(r->status, 409, "a call on a node that is down: %s", r->body);
    resp_free(r);
    delete_peer(d, id);
    peerd_stop(d);
    free(id);
}

Test(distribution, sigkill_of_peerd_leaves_no_node, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    pid_t pids[3];
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s", unique_name("distkill"));
        char *id = start_dist(d, name, NULL);
        pids[i] = os_pid_of(d, id);
        free(id);
    }
    peerd_kill(d);
    for (int i = 0; i < 3; i++) cr_expect(process_gone(pids[i], 10000), "node %d outlived a SIGKILLed peerd", (int)pids[i]);
}

/* The node gets the cookie through a private HOME: never in its argv. */
static void expect_cookie(peerd *d, const char *id, const char *want, const char *not_in_argv)
{
    resp *r = call(d, id, "erlang", "get_cookie", "[]");
    cr_expect_eq(r->status, 200, "%s", r->body);
    if (want) cr_expect_str_eq(jstr(r, "result"), want);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)os_pid_of(d, id));
    size_t n;
    char *cmd = slurp(path, &n);
    for (size_t i = 0; cmd && i < n; i++) if (!cmd[i]) cmd[i] = ' ';
    const char *cookie = want ? want : jstr(r, "result");
    cr_expect(cmd && !strstr(cmd, cookie) && (!not_in_argv || !strstr(cmd, not_in_argv)), "the cookie shows in ps: %s", cmd);
    free(cmd);
    resp_free(r);
}

Test(distribution, cookies, .timeout = 120)
{
    /* peerd's own: random, so two peerd never share one. */
    peerd *d = peerd_start(NULL);
    char name[64];
    snprintf(name, sizeof name, "%s", unique_name("distck"));
    char *id = start_dist(d, name, NULL);
    expect_cookie(d, id, NULL, NULL);
    free(id);
    /* A start's own. */
    snprintf(name, sizeof name, "%s", unique_name("distck"));
    id = start_dist(d, name, "\"cookie\":\"start_cookie_1\"");
    expect_cookie(d, id, "start_cookie_1", NULL);
    char path[256];
    snprintf(path, sizeof path, "/peers/%s", id);
    resp *r = http(d, "GET", path, NULL);
    cr_expect(!strstr(r->body, "start_cookie_1"), "the cookie is echoed: %s", r->body);
    resp_free(r);
    free(id);
    peerd_stop(d);

    /* --cookie-file's. */
    char file[] = "/tmp/peerd-cookie-test-XXXXXX";
    int fd = mkstemp(file);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, "file_cookie_2\n", 14), 14);
    close(fd);
    const char *args[] = { "--cookie-file", file, NULL };
    d = peerd_start(args);
    snprintf(name, sizeof name, "%s", unique_name("distck"));
    id = start_dist(d, name, NULL);
    expect_cookie(d, id, "file_cookie_2", NULL);
    free(id);
    peerd_stop(d);
    unlink(file);
}

Test(distribution, foreign_cookie_fails_the_boot_and_says_why, .timeout = 60)
{
    char home[] = "/tmp/peerd-home-test-XXXXXX", file[128];
    cr_assert(mkdtemp(home));
    snprintf(file, sizeof file, "%s/.erlang.cookie", home);
    FILE *f = fopen(file, "w");
    fputs("not_peerds", f);
    fclose(f);
    chmod(file, 0400);
    peerd *d = peerd_start(NULL);
    char body[512];
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"connection\":\"distribution\",\"env\":{\"HOME\":\"%s\"},\"wait_boot\":20000}",
             unique_name("distbad"), home);
    resp *r = http(d, "POST", "/peers", body);
    cr_expect_eq(r->status, 502, "%s", r->body);
    cr_expect_str_eq(jstr(r, "error"), "boot_failed");
    cr_expect(strstr(jstr(r, "detail"), "cookie"), "the likely cause: %s", r->body);
    resp_free(r);
    peerd_stop(d);
    unlink(file);
    rmdir(home);
}

Test(distribution, long_names, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char name[64];
    snprintf(name, sizeof name, "%s", unique_name("distlong"));
    char *id = start_dist(d, name, "\"longnames\":true,\"host\":\"127.0.0.1\"");
    char *origin = origin_of(d, id);
    cr_expect(strchr(strchr(origin, '@'), '.'), "a long name has a dotted host: %s", origin);
    resp *r = call(d, id, "erlang", "node", "[]");
    char want[128];
    snprintf(want, sizeof want, "%s@127.0.0.1", name);
    cr_expect_str_eq(atom_of(r), want, "%s", r->body);
    resp_free(r);
    delete_peer(d, id);
    peerd_stop(d);
    free(origin);
    free(id);
}

/* OTP's dist_up_down: the node drops its connection to the origin
 * (disconnect_node): it goes down, as the origin's monitor fires. */
Test(distribution, dist_up_down, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char name[64];
    snprintf(name, sizeof name, "%s", unique_name("distud"));
    char *id = start_dist(d, name, "\"peer_down\":\"continue\"");
    char *origin = origin_of(d, id);
    char args[256];
    snprintf(args, sizeof args, "\"['%s']\"", origin);
    peer_cast(d, id, "erlang", "disconnect_node", args);
    resp *r = wait_state(d, id, "down", 10000);
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(jstr(r, "state"), "down");
    resp_free(r);
    delete_peer(d, id);
    peerd_stop(d);
    free(origin);
    free(id);
}

/* OTP's dist_localhost: a node named on host localhost. */
Test(distribution, dist_localhost, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char name[64];
    snprintf(name, sizeof name, "%s", unique_name("distlh"));
    char *id = start_dist(d, name, "\"host\":\"localhost\"");
    resp *r = call(d, id, "erlang", "node", "[]");
    char want[128];
    snprintf(want, sizeof want, "%s@localhost", name);
    cr_expect_str_eq(atom_of(r), want, "%s", r->body);
    resp_free(r);
    delete_peer(d, id);
    peerd_stop(d);
    free(id);
}

/* peerd answers the node's ticks: with net_ticktime 4 a silent origin
 * would be dropped within 4 s; the node is still there after 6. */
Test(distribution, ticks_are_answered, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char name[64];
    snprintf(name, sizeof name, "%s", unique_name("disttick"));
    char *id = start_dist(d, name, "\"args\":[\"-kernel\",\"net_ticktime\",\"4\"]");
    sleep(6);
    resp *r = call(d, id, "erlang", "node", "[]");
    cr_expect_eq(r->status, 200, "the connection outlived its tick time: %s", r->body);
    resp_free(r);
    delete_peer(d, id);
    peerd_stop(d);
    free(id);
}

/* A lease runs out over distribution as over the other connections. */
Test(distribution, lease, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char name[64];
    snprintf(name, sizeof name, "%s", unique_name("distlease"));
    char *id = start_dist(d, name, "\"lease_ms\":1000");
    pid_t os_pid = os_pid_of(d, id);
    char path[256];
    snprintf(path, sizeof path, "/peers/%s", id);
    resp *r = http_until(d, "GET", path, NULL, has_status, &(long){ 410 }, 5000);
    cr_expect_eq(r->status, 410, "the lease ran out: %s", r->body);
    cr_expect(strstr(r->body, "lease_expired"), "%s", r->body);
    resp_free(r);
    cr_expect(process_gone(os_pid, 10000), "the node %d still runs", (int)os_pid);
    peerd_stop(d);
    free(id);
}

/* OTP's dist: the node is connected to its origin — peerd's node, hidden. */
Test(distribution, dist, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char name[64];
    snprintf(name, sizeof name, "%s", unique_name("distdist"));
    char *id = start_dist(d, name, NULL);
    char *origin = origin_of(d, id);
    resp *r = call(d, id, "erlang", "nodes", "\"[hidden]\"");
    char want[160];
    snprintf(want, sizeof want, "[%s]", origin);
    cr_expect_str_eq(jstr(r, "result"), want, "%s", r->body);
    resp_free(r);
    r = call(d, id, "erlang", "nodes", "[]");
    cr_expect_str_eq(jstr(r, "result"), "[]", "peerd's node is hidden: %s", r->body);
    resp_free(r);
    delete_peer(d, id);
    peerd_stop(d);
    free(origin);
    free(id);
}

/* Starts while peerd's node is still registering in epmd wait for it; a
 * burst of them all boot. */
Test(distribution, starts_at_once, .timeout = 90)
{
    peerd *d = peerd_start(NULL);
    char ids[4][64];
    for (int i = 0; i < 4; i++) {
        char opts[256];
        snprintf(opts, sizeof opts, "{\"name\":\"%s\",\"connection\":\"distribution\",\"wait_boot\":false}", unique_name("distburst"));
        resp *r = http(d, "POST", "/peers", opts);
        cr_assert_eq(r->status, 202, "%s", r->body);
        snprintf(ids[i], sizeof ids[i], "%s", jstr(r, "id"));
        resp_free(r);
    }
    for (int i = 0; i < 4; i++) {
        resp *r = wait_state(d, ids[i], "running", 30000);
        cr_expect_str_eq(jstr(r, "state"), "running", "%s", r->body);
        resp_free(r);
    }
    cr_expect_eq(peerd_stop(d), 0);
}

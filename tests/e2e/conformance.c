/*
 * conformance.c — OTP's own peer_SUITE (lib/stdlib/test/peer_SUITE.erl),
 * case by case, over HTTP against real nodes. Cases that OTP runs for both
 * alternative connections run here as standard_io/NAME and tcp/NAME, and
 * those that hold over distribution too as distribution/NAME (a name is
 * added: a distribution peer needs one). The cases of OTP's dist group that
 * need distribution itself are in distribution.c.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Start a peer with extra options on top of the connection. */
static char *start_with(peerd *d, const char *conn, const char *extra)
{
    char opts[1024], named[512];
    if (strstr(conn, "distribution") && (!extra || !strstr(extra, "\"name\""))) {
        snprintf(named, sizeof named, "\"name\":\"%s\"%s%s", unique_name("dist"), extra && *extra ? "," : "", extra ? extra : "");
        extra = named;
    }
    snprintf(opts, sizeof opts, "{\"connection\":%s%s%s}", conn, extra && *extra ? "," : "", extra ? extra : "");
    return start_peer(d, opts);
}

static const char *result_of(resp *r) { return jstr(r, "result") ? jstr(r, "result") : "(none)"; }

/* The text a peer's console holds, waiting up to ms for `needle`. */
static char *console_with(peerd *d, const char *id, const char *needle, int ms)
{
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/console", id);
    resp *r = http_until(d, "GET", path, NULL, has_text, needle, ms);
    char *text = strdup(r->body);
    resp_free(r);
    return text;
}

#define BOTH(name)                                                                   \
    static void name(const char *conn);                                             \
    Test(standard_io, name, .timeout = 90) { name("\"standard_io\""); }              \
    Test(tcp, name, .timeout = 90) { name("0"); }                                    \
    static void name(const char *conn)

/* The same, and over distribution. */
#define ALL(name)                                                                    \
    static void name(const char *conn);                                             \
    Test(standard_io, name, .timeout = 90) { name("\"standard_io\""); }              \
    Test(tcp, name, .timeout = 90) { name("0"); }                                    \
    Test(distribution, name, .timeout = 90) { name("\"distribution\""); }            \
    static void name(const char *conn)

/* basic: call, exception, and "fancy RPC" — a process on the node receives a
 * message sent through peerd and forwards one back to the origin. */
BOTH(basic)
{
    peerd *d = peerd_start(NULL);
    char *id = start_with(d, conn, NULL);
    resp *r = call(d, id, "erlang", "node", "[]");
    cr_expect_str_eq(result_of(r), "nonode@nohost");
    resp_free(r);
    r = call(d, id, "erlang", "throw", "\"[ball]\"");
    cr_expect_str_eq(jstr(r, "class"), "throw");
    cr_expect_str_eq(jstr(r, "reason"), "ball");
    resp_free(r);
    r = node_eval(d, id, "spawn(fun() -> receive do -> group_leader() ! {message, inbox, done} end end)", false);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, "value");
    char *pid_json = cJSON_PrintUnformatted(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(v, "$tuple"), 1));
    resp_free(r);
    char path[256], body[512];
    snprintf(path, sizeof path, "/peers/%s/send", id);
    snprintf(body, sizeof body, "{\"to\":%s,\"message\":{\"$atom\":\"do\"}}", pid_json);
    r = http(d, "POST", path, body);
    cr_expect_eq(r->status, 202, "%s", r->body);
    resp_free(r);
    snprintf(path, sizeof path, "/peers/%s/messages?to=inbox&follow=1", id);
    const char *out = "/tmp/peerd-conf-basic.out";
    pid_t c = curl_spawn(d, path, out, NULL);
    cr_expect(file_has(out, "\"result\":\"done\"", 5000), "the spawned process forwarded done to the origin");
    delete_peer(d, id);
    child_wait(c, 5000);
    unlink(out);
    free(pid_json);
    free(id);
    peerd_stop(d);
}

/* peer_states: booting, running, {down, _} with peer_down continue. */
BOTH(peer_states)
{
    peerd *d = peerd_start(NULL);
    char opts[128];
    snprintf(opts, sizeof opts, "{\"connection\":%s,\"wait_boot\":false,\"peer_down\":\"continue\"}", conn);
    resp *r = http(d, "POST", "/peers", opts);
    cr_assert_eq(r->status, 202);
    cr_expect_str_eq(jstr(r, "state"), "booting");
    char *id = strdup(jstr(r, "id"));
    resp_free(r);
    r = wait_state(d, id, "running", 20000);
    cr_expect_str_eq(jstr(r, "state"), "running");
    resp_free(r);
    peer_cast(d, id, "erlang", "halt", "[]");
    r = wait_state(d, id, "down", 10000);
    cr_expect_eq(r->status, 200);
    cr_expect_str_eq(jstr(r, "state"), "down");
    cr_expect(jstr(r, "down_reason"), "down carries its reason: %s", r->body);
    resp_free(r);
    delete_peer(d, id);
    free(id);
    peerd_stop(d);
}

/* cast: set_env by cast, a call to application_controller orders it, get_env sees it. */
ALL(cast)
{
    peerd *d = peerd_start(NULL);
    char *id = start_with(d, conn, NULL);
    resp *r = call(d, id, "application", "get_env", "\"[kernel, foo]\"");
    cr_expect_str_eq(result_of(r), "undefined");
    resp_free(r);
    peer_cast(d, id, "application", "set_env", "\"[kernel, foo, bar]\"");
    resp_free(call(d, id, "sys", "get_state", "\"[application_controller]\""));
    r = call(d, id, "application", "get_env", "\"[kernel, foo]\"");
    cr_expect_str_eq(result_of(r), "{ok,bar}");
    resp_free(r);
    delete_peer(d, id);
    free(id);
    peerd_stop(d);
}

/* detached: I/O of a detached node reaches the origin through the connection. */
ALL(detached)
{
    peerd *d = peerd_start(NULL);
    char *id = start_with(d, conn, NULL);
    resp_free(call(d, id, "io", "format", "\"[\\\"one.\\\"]\""));
    resp_free(call(d, id, "erlang", "apply", "\"[io, format, [\\\"two.\\\"]]\""));
    char *text = console_with(d, id, "one.two.", 5000);
    cr_expect(strstr(text, "one.two."), "console: %s", text);
    free(text);
    delete_peer(d, id);
    free(id);
    peerd_stop(d);
}

/* dyn_peer: a peer started without a name becomes distributed at run time. */
BOTH(dyn_peer)
{
    peerd *d = peerd_start(NULL);
    char *id = start_with(d, conn, NULL);
    char node[128], args[256];
    snprintf(node, sizeof node, "%s@forced.host", unique_name("dyn_peer"));
    snprintf(args, sizeof args, "\"[['%s', longnames]]\"", node);
    resp *r = call(d, id, "net_kernel", "start", args);
    cr_expect_eq(r->status, 200, "%s", r->body);
    resp_free(r);
    r = call(d, id, "erlang", "node", "[]");
    char want[160];
    snprintf(want, sizeof want, "'%s'", node);
    cr_expect_str_eq(result_of(r), want);
    resp_free(r);
    delete_peer(d, id);
    free(id);
    peerd_stop(d);
}

/* stop_peer: a node busy in -eval still stops when its connection closes. */
ALL(stop_peer)
{
    peerd *d = peerd_start(NULL);
    char extra[256];
    snprintf(extra, sizeof extra, "\"name\":\"%s\",\"args\":[\"-eval\",\"timer:sleep(60000).\"]", unique_name("stop_peer"));
    char *id = start_with(d, conn, extra);
    double t0 = now_ms();
    delete_peer(d, id);
    cr_expect_lt(now_ms() - t0, 5000);
    free(id);
    peerd_stop(d);
}

/* shutdown_*: the node's VM is blocked for a while (erts_debug block), then
 * stopped; the bounds are OTP's. */
static void shutdown_test(const char *conn, const char *shutdown, int block_ms, bool stop_while_blocked, int max_wait_ms)
{
    peerd *d = peerd_start(NULL);
    char extra[256];
    snprintf(extra, sizeof extra, "\"name\":\"%s\",\"shutdown\":%s", unique_name("shutdown"), shutdown);
    char *id = start_with(d, conn, extra);
    char code[256];
    const int ensure_blocked = 500;
    snprintf(code, sizeof code, "erts_debug:set_internal_state(available_internal_state, true), "
             "erts_debug:set_internal_state(block, %d)", block_ms + ensure_blocked);
    double block_start = now_ms();
    node_eval(d, id, code, true);
    usleep(ensure_blocked * 1000);
    double start = now_ms();
    delete_peer(d, id);
    double wait = now_ms() - start, left = block_ms + ensure_blocked - (start - block_start);
    cr_expect_leq(wait, max_wait_ms, "%s: stop took %.0f ms, at most %d", shutdown, wait, max_wait_ms);
    if (!stop_while_blocked) cr_expect_geq(wait, left - 50, "%s: stop took %.0f ms, the node was blocked %.0f ms more", shutdown, wait, left);
    free(id);
    peerd_stop(d);
}

ALL(shutdown_halt) { shutdown_test(conn, "\"halt\"", 500, false, 1000); }
ALL(shutdown_halt_timeout) { shutdown_test(conn, "{\"halt\":1000}", 5000, true, 1500); }
ALL(shutdown_stop) { shutdown_test(conn, "\"infinity\"", 500, false, 2000); }
ALL(shutdown_stop_timeout) { shutdown_test(conn, "1000", 5000, true, 2500); }
ALL(shutdown_close) { shutdown_test(conn, "\"close\"", 5000, true, 200); }

/* init_debug: -init_debug output (raw stdout before boot) is in the console. */
Test(standard_io, init_debug, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char extra[256];
    snprintf(extra, sizeof extra, "\"name\":\"%s\",\"shutdown\":1000,\"args\":[\"-init_debug\"]", unique_name("init_debug"));
    char *id = start_with(d, "\"standard_io\"", extra);
    char *text = console_with(d, id, "{progress,preloaded}", 2000);
    cr_expect(!strncmp(text, "{progress,preloaded}", 20), "every boot script starts with this: %.80s", text);
    free(text);
    delete_peer(d, id);
    free(id);
    peerd_stop(d);
}

/* io_redirect: output to user and to the group leader, in order. */
ALL(io_redirect)
{
    peerd *d = peerd_start(NULL);
    char *id = start_with(d, conn, NULL);
    resp_free(call(d, id, "io", "format", "\"[user, \\\"test.\\\", []]\""));
    resp_free(call(d, id, "erlang", "apply", "\"[io, format, [\\\"second.\\\"]]\""));
    resp *r = call(d, id, "erlang", "nodes", "[]");
    cr_expect_str_eq(result_of(r), "[]", "no distribution connection");
    resp_free(r);
    char *text = console_with(d, id, "test.second.", 5000);
    cr_expect_str_eq(text, "test.second.");
    free(text);
    delete_peer(d, id);
    free(id);
    peerd_stop(d);
}

/* multi_node: four nodes booting at once. */
ALL(multi_node)
{
    peerd *d = peerd_start(NULL);
    char ids[4][64];
    for (int i = 0; i < 4; i++) {
        char opts[256];
        snprintf(opts, sizeof opts, "{\"connection\":%s,\"name\":\"%s\",\"wait_boot\":false}", conn, unique_name("multi_node"));
        resp *r = http(d, "POST", "/peers", opts);
        cr_assert_eq(r->status, 202, "%s", r->body);
        snprintf(ids[i], sizeof ids[i], "%s", jstr(r, "id"));
        resp_free(r);
    }
    for (int i = 0; i < 4; i++) {
        resp *r = wait_state(d, ids[i], "running", 30000);
        cr_expect_eq(r->status, 200, "%s", r->body);
        resp_free(r);
    }
    for (int i = 0; i < 4; i++) delete_peer(d, ids[i]);
    peerd_stop(d);
}

/* duplicate_name: within one peerd, 409; across two, the second erl cannot
 * register the name and exits with status 1. */
ALL(duplicate_name)
{
    peerd *d = peerd_start(NULL), *d2 = peerd_start(NULL);
    char extra[128], opts[256];
    const char *name = unique_name("duplicate_name");
    snprintf(extra, sizeof extra, "\"name\":\"%s\"", name);
    char *id = start_with(d, conn, extra);
    snprintf(opts, sizeof opts, "{\"name\":\"%s\"}", name);
    resp *r = http(d, "POST", "/peers", opts);
    cr_expect_eq(r->status, 409);
    resp_free(r);
    r = http(d2, "POST", "/peers", opts);
    cr_expect_eq(r->status, 502, "%s", r->body);
    cr_expect_str_eq(jstr(r, "error"), "boot_failed");
    cr_expect_eq(jnum(r, "exit_status"), 1);
    cr_expect(jstr(r, "console_tail") && strstr(jstr(r, "console_tail"), "name"), "the node says why: %s", r->body);
    resp_free(r);
    delete_peer(d, id);
    free(id);
    peerd_stop(d);
    peerd_stop(d2);
}

/* cntrl_channel_handler_crash: killing the node's end of the connection halts it. */
ALL(cntrl_channel_handler_crash)
{
    peerd *d = peerd_start(NULL);
    char *id = start_with(d, conn, NULL);
    resp *r = call(d, id, "erlang", "whereis", "\"[user]\"");
    char args[256];
    snprintf(args, sizeof args, "\"[%s, kill]\"", result_of(r));
    resp_free(r);
    peer_cast(d, id, "erlang", "exit", args);
    r = wait_state(d, id, "down", 5000);
    cr_expect_eq(r->status, 200, "the node halted: %s", r->body);
    resp_free(r);
    free(id);
    peerd_stop(d);
}

/* attached: a node under run_erl (detached false), TCP only as in OTP. */
Test(tcp, attached, .timeout = 60)
{
    needs(!access("/usr/bin/run_erl", X_OK), "run_erl (erlang-base)");
    char dir[] = "/tmp/peerd-run_erl-XXXXXX";
    cr_assert(mkdtemp(dir));
    peerd *d = peerd_start(NULL);
    char opts[1024];
    snprintf(opts, sizeof opts, "{\"connection\":0,\"detached\":false,\"exec\":\"run_erl\","
             "\"post_process_args\":[\"%s/\",\"%s\",\"erl {args_quoted}\"]}", dir, dir);
    char *id = start_peer(d, opts);
    resp *r = call(d, id, "erlang", "node", "[]");
    cr_expect_str_eq(result_of(r), "nonode@nohost");
    resp_free(r);
    delete_peer(d, id);
    free(id);
    peerd_stop(d);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

/* errors: options are refused at once with OTP's error names. */
Test(dist, errors, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    const char *cases[][2] = {
        { "{\"args\":\"atom\"}", "invalid_arg" },
        { "{\"args\":[\"1\",[\"2\"]]}", "invalid_arg" },
        { "{\"exec\":{\"atom\":1}}", "exec" },
        { "{\"exec\":[\"erl\",5]}", "exec" },
        { "{\"shutdown\":{\"halt\":999}}", "shutdown" },
        { "{\"connection\":\"standard_io\",\"detached\":false}", "detached" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        resp *r = http(d, "POST", "/peers", cases[i][0]);
        cr_expect_eq(r->status, 400, "%s: %s", cases[i][0], r->body);
        cr_expect_str_eq(jstr(r, "error"), cases[i][1], "%s", cases[i][0]);
        resp_free(r);
    }
    peerd_stop(d);
}

/* peer_down_boot: -no_epmd with a name cannot boot: exit status 1. */
Test(dist, peer_down_boot, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char opts[256];
    snprintf(opts, sizeof opts, "{\"connection\":\"standard_io\",\"name\":\"%s\",\"args\":[\"-no_epmd\"]}", unique_name("peer_down_boot"));
    resp *r = http(d, "POST", "/peers", opts);
    cr_expect_eq(r->status, 502, "%s", r->body);
    cr_expect_str_eq(jstr(r, "error"), "boot_failed");
    cr_expect_eq(jnum(r, "exit_status"), 1);
    cr_expect(jstr(r, "console_tail") && strlen(jstr(r, "console_tail")) > 0, "the node's last words: %s", r->body);
    resp_free(r);
    peerd_stop(d);
}

/* peer_down_continue: the peer stays, down, until stopped. */
Test(dist, peer_down_continue, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{\"peer_down\":\"continue\"}");
    peer_cast(d, id, "erlang", "halt", "[]");
    resp *r = wait_state(d, id, "down", 5000);
    char path[256];
    cr_expect_eq(r->status, 200);
    resp_free(r);
    snprintf(path, sizeof path, "/peers/%s", id);
    r = http(d, "GET", path, NULL);
    cr_expect_eq(r->status, 200, "still there: %s", r->body);
    cr_expect_str_eq(jstr(r, "state"), "down");
    resp_free(r);
    delete_peer(d, id);
    free(id);
    peerd_stop(d);
}

/* peer_down_crash_tcp: crash mode over TCP: down with tcp_closed, event crashed. */
Test(dist, peer_down_crash_tcp, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char opts[256];
    snprintf(opts, sizeof opts, "{\"name\":\"%s\",\"peer_down\":\"crash\",\"connection\":0}", unique_name("crash_tcp"));
    char *id = start_peer(d, opts);
    resp *r = call(d, id, "erlang", "nodes", "\"[connected]\"");
    cr_expect_str_eq(result_of(r), "[]");
    resp_free(r);
    peer_cast(d, id, "erlang", "halt", "[0]");
    r = wait_state(d, id, "down", 5000);
    cr_expect_eq(r->status, 200);
    cr_expect_str_eq(jstr(r, "down_reason"), "tcp_closed");
    resp_free(r);
    r = http(d, "GET", "/events?follow=0", NULL);
    char want[256];
    snprintf(want, sizeof want, "\"type\":\"crashed\",\"peer\":\"%s\"", id);
    cr_expect(strstr(r->body, want), "%s", r->body);
    resp_free(r);
    free(id);
    peerd_stop(d);
}

/* post_process_args: OTP's bash example. */
Test(dist, post_process_args, .timeout = 60)
{
    needs(!access("/bin/bash", X_OK), "bash");
    peerd *d = peerd_start(NULL);
    char opts[256];
    snprintf(opts, sizeof opts, "{\"name\":\"%s\",\"exec\":[\"/bin/bash\",\"-c\",\"erl\"],\"post_process_args\":[\"-c\",\"erl {args}\"]}",
             unique_name("post_process_args"));
    char *id = start_peer(d, opts);
    resp *r = call(d, id, "erlang", "node", "[]");
    cr_expect(strstr(result_of(r), "post_process_args"), "%s", r->body);
    resp_free(r);
    delete_peer(d, id);
    free(id);
    peerd_stop(d);
}

/* Boot failures say why: a program that is not erl. */
Test(dist, boot_failure_of_a_program_that_is_not_erl, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    resp *r = http(d, "POST", "/peers", "{\"exec\":\"/bin/ls\"}");
    cr_expect_eq(r->status, 502, "%s", r->body);
    cr_expect_neq(jnum(r, "exit_status"), 0);
    cr_expect(jstr(r, "console_tail") && strstr(jstr(r, "console_tail"), "ls"), "ls says what it did not like: %s", r->body);
    resp_free(r);
    peerd_stop(d);
}

/*
 * lifecycle.c — starting without waiting and /wait, stopping peers every
 * way OTP's peer does, peer_down, the messages a node sends to its origin,
 * and peerd's own death.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static void stop_with(const char *connection, const char *shutdown)
{
    peerd *d = peerd_start(NULL);
    char opts[256];
    snprintf(opts, sizeof opts, "{\"connection\":%s,\"shutdown\":%s}", connection, shutdown);
    char *id = start_peer(d, opts);
    pid_t pid = os_pid_of(d, id);
    char path[256];
    snprintf(path, sizeof path, "/peers/%s", id);
    resp *r = http(d, "DELETE", path, NULL);
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(jstr(r, "state"), "down");
    resp_free(r);
    cr_expect(process_gone(pid, 10000), "node of %s still running", opts);
    r = http(d, "GET", path, NULL);
    cr_expect_eq(r->status, 410, "a stopped peer leaves a tombstone: %s", r->body);
    cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r->json, "peer"), "state")->valuestring, "down");
    resp_free(r);
    free(id);
    cr_expect_eq(peerd_stop(d), 0);
}

Test(shutdown, close_stdio, .timeout = 60) { stop_with("\"standard_io\"", "\"close\""); }
Test(shutdown, close_tcp, .timeout = 60) { stop_with("0", "\"close\""); }
Test(shutdown, halt_stdio, .timeout = 60) { stop_with("\"standard_io\"", "\"halt\""); }
Test(shutdown, halt_tcp, .timeout = 60) { stop_with("0", "{\"halt\":2000}"); }
Test(shutdown, init_stop_stdio, .timeout = 60) { stop_with("\"standard_io\"", "3000"); }
Test(shutdown, init_stop_tcp, .timeout = 60) { stop_with("0", "3000"); }

/* A node that ignores init:stop is killed once the deadline passes. */
Test(shutdown, deadline_kills_a_stuck_node, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{\"shutdown\":1000}");
    pid_t pid = os_pid_of(d, id);
    /* Hold init:stop up: suspend the init process itself. */
    resp *r = call(d, id, "erlang", "whereis", "\"[init]\"");
    char args[256];
    snprintf(args, sizeof args, "\"[%s]\"", jstr(r, "result"));
    resp_free(r);
    peer_cast(d, id, "erlang", "suspend_process", args);
    char path[256];
    usleep(200000);
    double t0 = now_s();
    snprintf(path, sizeof path, "/peers/%s", id);
    r = http(d, "DELETE", path, NULL);
    double took = now_s() - t0;
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(jstr(r, "down_reason"), "killed", "%s", r->body);
    cr_expect_geq(took, 0.9, "waited for the deadline (%.2fs)", took);
    cr_expect_lt(took, 5.0, "then killed the node (%.2fs)", took);
    resp_free(r);
    cr_expect(process_gone(pid, 5000));
    free(id);
    peerd_stop(d);
}

Test(peer_down, stop_removes_and_continue_keeps, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    const char *modes[] = { "stop", "continue" };
    for (int i = 0; i < 2; i++) {
        char opts[128], path[256];
        snprintf(opts, sizeof opts, "{\"peer_down\":\"%s\"}", modes[i]);
        char *id = start_peer(d, opts);
        peer_cast(d, id, "erlang", "halt", "[7]");
        snprintf(path, sizeof path, "/peers/%s", id);
        long want = i == 0 ? 410 : 200;
        resp *r = wait_state(d, id, "down", 5000);
        cr_expect_eq(r->status, 200, "%s: %s", modes[i], r->body);
        resp_free(r);
        r = http(d, "GET", path, NULL);
        cr_expect_eq(r->status, want, "%s: %s", modes[i], r->body);
        if (want == 200) cr_expect_str_eq(jstr(r, "state"), "down");
        resp_free(r);
        if (i == 1) {
            r = http(d, "DELETE", path, NULL);
            cr_expect_eq(r->status, 200, "continue: DELETE removes the down peer: %s", r->body);
            cr_expect_str_eq(jstr(r, "down_reason"), "{exit_status,7}");
            resp_free(r);
        }
        free(id);
    }
    peerd_stop(d);
}

static resp *wait_messages(peerd *d, const char *path)
{
    return http_until(d, "GET", path, NULL, has_body, NULL, 2000);
}

Test(messages, forwarded_to_the_origin_are_kept, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{}");
    peer_cast(d, id, "erlang", "send", "\"[user, {message, inbox, done}]\"");
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/messages?to=inbox", id);
    resp *r = wait_messages(d, path);
    char *inc = incarnation_of(d, id), want[512];
    snprintf(want, sizeof want, "{\"id\":\"%s-1\",\"seq\":1,\"to\":\"inbox\",\"result\":\"done\",\"value\":{\"$atom\":\"done\"}}\n", inc);
    cr_expect_str_eq(r->body, want);
    cr_expect_str_eq(r->ctype, "application/x-ndjson");
    resp_free(r);
    /* send/3: the node's user process gets {message, other, ...} and forwards it. */
    snprintf(path, sizeof path, "/peers/%s/send", id);
    r = http(d, "POST", path, "{\"to\":\"user\",\"message_text\":\"{message, other, {1, <<\\\"x\\\">>}}\"}");
    cr_expect_eq(r->status, 202, "%s", r->body);
    resp_free(r);
    snprintf(path, sizeof path, "/peers/%s/messages?since=1", id);
    r = wait_messages(d, path);
    snprintf(want, sizeof want, "{\"id\":\"%s-2\",\"seq\":2,\"to\":\"other\",\"result\":\"{1,<<\\\"x\\\">>}\",\"value\":{\"$tuple\":[1,\"x\"]}}\n", inc);
    cr_expect_str_eq(r->body, want);
    resp_free(r);
    free(inc);
    free(id);
    peerd_stop(d);
}

Test(peerd, sigkill_leaves_no_node_behind, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    pid_t pids[4];
    const char *opts[] = { "{}", "{\"connection\":0}", "{\"connection\":{\"ip\":\"127.0.0.1\",\"port\":0}}", "{\"shutdown\":\"close\"}" };
    for (int i = 0; i < 4; i++) {
        char *id = start_peer(d, opts[i]);
        pids[i] = os_pid_of(d, id);
        free(id);
    }
    peerd_kill(d);
    for (int i = 0; i < 4; i++) cr_expect(process_gone(pids[i], 10000), "node %d (%s) outlived peerd's SIGKILL", (int)pids[i], opts[i]);
}

/* What a node starts and leaves running (peerd adopts it as the nodes'
 * subreaper) is stopped with peerd. */
Test(peerd, what_nodes_leave_running_does_not_outlive_it, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{}");
    resp *r = call(d, id, "os", "cmd", "\"[\\\"sh -c 'sleep 31415 >/dev/null 2>&1 \\u0026 echo $!'\\\"]\"");
    cr_assert_eq(r->status, 200, "%s", r->body);
    pid_t orphan = (pid_t)atoi(jstr(r, "result") + 1);      /* "\"PID\\n\"" */
    resp_free(r);
    cr_assert_gt(orphan, 1);
    cr_assert_eq(kill(orphan, 0), 0, "the background program runs");
    cr_assert_eq(peerd_stop(d), 0);
    cr_expect(process_gone(orphan, 5000), "pid %d outlived peerd", (int)orphan);
    free(id);
}

/* A child of parent named comm (from /proc), or 0. */
static pid_t child_named(pid_t parent, const char *comm)
{
    char cmd[160], out[32] = "";
    snprintf(cmd, sizeof cmd, "ps -o pid=,comm= --ppid %d | awk '$2 == \"%s\" { print $1; exit }'", (int)parent, comm);
    FILE *f = popen(cmd, "r");
    if (f) { if (!fgets(out, sizeof out, f)) out[0] = 0; pclose(f); }
    return (pid_t)atoi(out);
}

/* But not epmd, which a named node starts and leaves running as erl means
 * it to: the host's, every node's there (here one on a port of its own, so
 * the host's is not touched). */
Test(peerd, the_epmd_a_node_starts_outlives_it, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    int port = free_port();
    /* erl's own race: `epmd -daemon` returns before the new epmd listens,
     * and a node that asks it first fails its boot with econnrefused (a
     * loaded machine shows it). That epmd comes up all the same; a second
     * node finds it. */
    char opts[256];
    resp *r = NULL;
    for (int try = 0; try < 2; try++) {
        resp_free(r);   /* NULL on the first try */
        snprintf(opts, sizeof opts, "{\"name\":\"%s\",\"env\":{\"ERL_EPMD_PORT\":\"%d\"}}", unique_name("epmd"), port);
        r = http(d, "POST", "/peers", opts);
        if (!(r->status == 502 && strstr(r->body, "register/listen error: econnrefused"))) break;
    }
    cr_assert_eq(r->status, 201, "POST /peers %s: %ld %s", opts, r->status, r->body);
    cr_assert_str_eq(jstr(r, "state"), "running");
    char *id = strdup(jstr(r, "id"));
    resp_free(r);
    pid_t epmd = 0;
    for (int i = 0; i < 100 && !(epmd = child_named(d->pid, "epmd")); i++) usleep(50000);
    cr_assert_gt(epmd, 1, "the node's epmd (port %d) became peerd's child", port);
    cr_assert_eq(peerd_stop(d), 0);
    cr_expect_eq(kill(epmd, 0), 0, "epmd (pid %d) was stopped with peerd", (int)epmd);
    kill(epmd, SIGTERM);
    free(id);
}

/* A crashing node's erl_crash.dump is its own, kept with its peer (and its
 * tombstone), and never lands in peerd's working directory. */
Test(peerd, crash_dumps_are_each_peers_own, .timeout = 60)
{
    unlink("erl_crash.dump");
    peerd *d = peerd_start(NULL);
    char *a = start_peer(d, "{}"), *b = start_peer(d, "{\"peer_down\":\"continue\"}"), *c = start_peer(d, "{}");
    peer_cast(d, a, "erlang", "halt", "\"[\\\"boom a\\\"]\"");     /* term text: a string */
    peer_cast(d, b, "erlang", "halt", "\"[\\\"boom b\\\"]\"");
    resp_free(wait_state(d, b, "down", 10000));
    char path[256];
    snprintf(path, sizeof path, "/peers/%s", a);
    resp *r = http_until(d, "GET", path, NULL, has_status, &(long){ 410 }, 10000);
    cr_assert_eq(r->status, 410, "%s", r->body);
    const cJSON *gone = cJSON_GetObjectItemCaseSensitive(r->json, "peer");
    double a_bytes = cJSON_GetObjectItemCaseSensitive(gone, "crash_dump_bytes")->valuedouble;
    cr_assert_gt(a_bytes, 1000, "%s", r->body);
    resp_free(r);
    const char *ids[] = { a, b };
    const char *slogans[] = { "Slogan: boom a\n", "Slogan: boom b\n" };
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "/peers/%s/crash_dump", ids[i]);
        r = http(d, "GET", path, NULL);
        cr_assert_eq(r->status, 200, "%s", r->body);
        cr_assert(strstr(r->ctype, "text/plain"), "%s", r->ctype);
        cr_assert(!strncmp(r->body, "=erl_crash_dump:", 16), "%.100s", r->body);
        cr_assert(strstr(r->body, slogans[i]), "%.300s", r->body);
        if (i == 0) cr_assert_eq((double)strlen(r->body), a_bytes);
        resp_free(r);
    }
    snprintf(path, sizeof path, "/peers/%s", b);
    r = http(d, "GET", path, NULL);
    cr_assert_gt(jnum(r, "crash_dump_bytes"), 1000, "%s", r->body);
    resp_free(r);
    snprintf(path, sizeof path, "/peers/%s/crash_dump", c);
    r = http(d, "GET", path, NULL);
    cr_assert_eq(r->status, 404, "%s", r->body);
    cr_assert_str_eq(jstr(r, "error"), "no_crash_dump", "%s", r->body);
    cr_assert(strstr(jstr(r, "detail"), "(it is running)"), "%s", r->body);
    resp_free(r);
    snprintf(path, sizeof path, "/peers/%s", c);
    r = http(d, "GET", path, NULL);
    cr_assert(strstr(r->body, "\"crash_dump_bytes\":null"), "%s", r->body);
    resp_free(r);
    cr_assert_neq(access("erl_crash.dump", F_OK), 0, "a dump landed in the working directory");
    delete_peer(d, b);
    delete_peer(d, c);
    free(a); free(b); free(c);
    cr_assert_eq(peerd_stop(d), 0);
}

/* A local node's TCP control connection is offered on loopback only. */
Test(peerd, a_local_tcp_peer_listens_on_loopback, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    resp *r = http(d, "POST", "/peers", "{\"connection\":0,\"wait_boot\":false}");
    cr_assert_eq(r->status, 202, "%s", r->body);
    const cJSON *ip = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r->json, "connection"), "ip");
    cr_assert(cJSON_IsString(ip) && !strcmp(ip->valuestring, "127.0.0.1"), "%s", r->body);
    cr_assert(strstr(r->body, "\"-origin\",\"127.0.0.1\""), "%s", r->body);
    char *id = strdup(jstr(r, "id"));
    resp_free(r);
    resp_free(wait_state(d, id, "running", 30000));
    delete_peer(d, id);
    free(id);
    cr_assert_eq(peerd_stop(d), 0);
}

Test(meta, healthz_random_name_openapi_list, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    resp *r = http(d, "GET", "/healthz", NULL);
    cr_expect_str_eq(jstr(r, "status"), "ok");
    const char *inst = jstr(r, "instance");
    cr_expect(inst && strlen(inst) == 16 && strspn(inst, "0123456789abcdef") == 16, "an instance id: %s", r->body);
    resp_free(r);
    r = http(d, "GET", "/random-name?prefix=ci", NULL);
    char want[64];
    snprintf(want, sizeof want, "-%d", (int)d->pid);
    cr_expect(jstr(r, "name") && !strncmp(jstr(r, "name"), "ci-", 3) && strstr(jstr(r, "name"), want), "%s", r->body);
    resp_free(r);
    r = http(d, "GET", "/openapi.yaml", NULL);
    cr_expect_eq(r->status, 200);
    cr_expect(strstr(r->body, "openapi: 3"), "served the OpenAPI document");
    resp_free(r);
    char *a = start_peer(d, "{}"), *b = start_peer(d, "{\"connection\":0}");
    r = http(d, "GET", "/peers", NULL);
    cJSON *peers = cJSON_GetObjectItemCaseSensitive(r->json, "peers");
    cr_expect_eq(cJSON_GetArraySize(peers), 2);
    cr_expect_str_eq(cJSON_GetArrayItem(peers, 0)->child->valuestring, a, "in creation order");
    resp_free(r);
    free(a);
    free(b);
    peerd_stop(d);
}

Test(lifecycle, async_start_of_four_named_peers_then_wait, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char names[4][64];
    for (int i = 0; i < 4; i++) {
        snprintf(names[i], sizeof names[i], "%s", unique_name("async"));
        char opts[320];
        snprintf(opts, sizeof opts, "{\"name\":\"%s\",\"wait_boot\":false}", names[i]);
        resp *r = http(d, "POST", "/peers", opts);
        cr_expect_eq(r->status, 202, "%s", r->body);
        cr_expect_str_eq(jstr(r, "state"), "booting");
        resp_free(r);
    }
    char nodes[4][128];
    for (int i = 0; i < 4; i++) {
        resp *r = wait_state(d, names[i], "running", 20000);
        cr_assert_eq(r->status, 200, "%s", r->body);
        cr_expect_str_eq(jstr(r, "state"), "running");
        snprintf(nodes[i], sizeof nodes[i], "%s", jstr(r, "node"));
        resp_free(r);
    }
    for (int i = 0; i < 4; i++)
        for (int k = i + 1; k < 4; k++) cr_expect_str_neq(nodes[i], nodes[k]);
    resp *r = wait_state(d, names[0], "down", 200);
    cr_expect_eq(r->status, 504, "a running peer does not go down by itself: %s", r->body);
    cr_expect_str_eq(jstr(r, "error"), "timeout");
    resp_free(r);
    peerd_stop(d);
}

/*
 * calls.c — calls and casts over both control connections, against real
 * erl nodes: node/0, exceptions, cast then call, the console, stop, and no
 * node left behind once peerd has exited; a named node; terms that must
 * come back as they went (big integers, pids as text and as values).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static const char *const connections[] = { "\"standard_io\"", "0" };

static void expect_node_is_nonode(peerd *d, const char *id)
{
    resp *r = call(d, id, "erlang", "node", "[]");
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(jstr(r, "result"), "nonode@nohost");
    cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, "value");
    cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(v, "$atom")->valuestring, "nonode@nohost");
    resp_free(r);
}

static void scenario(const char *connection)
{
    peerd *d = peerd_start(NULL);
    char opts[128];
    snprintf(opts, sizeof opts, "{\"connection\":%s}", connection);
    char *id = start_peer(d, opts);
    char path[256];
    snprintf(path, sizeof path, "/peers/%s", id);
    resp *info = http(d, "GET", path, NULL);
    cr_assert_eq(info->status, 200);
    pid_t os_pid = (pid_t)jnum(info, "os_pid");
    cr_assert_gt(os_pid, 0, "os_pid is learned at boot: %s", info->body);
    resp_free(info);

    expect_node_is_nonode(d, id);

    /* peer:call(Peer, erlang, throw, [ball]) -> exception throw:ball */
    resp *r = call(d, id, "erlang", "throw", "\"[ball]\"");
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect_str_eq(r->ctype, "application/problem+json");
    cr_expect_str_eq(jstr(r, "error"), "exception");
    cr_expect_str_eq(jstr(r, "class"), "throw");
    cr_expect_str_eq(jstr(r, "reason"), "ball");
    resp_free(r);

    /* cast set_env, then call get_env */
    peer_cast(d, id, "application", "set_env", "[{\"$atom\":\"kernel\"},{\"$atom\":\"foo\"},{\"$atom\":\"bar\"}]");
    /* A cast runs in a process of its own on the node: give it a moment. */
    for (int i = 0; i < 100; i++) {
        r = call(d, id, "application", "get_env", "\"[kernel, foo]\"");
        if (r->status != 200 || strcmp(jstr(r, "result"), "undefined")) break;
        resp_free(r);
        usleep(20000);
    }
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(jstr(r, "result"), "{ok,bar}");
    char *value = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(r->json, "value"));
    cr_expect_str_eq(value, "{\"$tuple\":[{\"$atom\":\"ok\"},{\"$atom\":\"bar\"}]}");
    free(value);
    resp_free(r);

    /* What the node prints through the relayed I/O lands in its console. */
    r = call(d, id, "io", "format", "\"[user, \\\"test.\\\", []]\"");
    cr_expect_eq(r->status, 200, "%s", r->body);
    resp_free(r);
    snprintf(path, sizeof path, "/peers/%s/console", id);
    r = http(d, "GET", path, NULL);
    cr_expect_eq(r->status, 200);
    cr_expect(strstr(r->body, "test."), "console: %s", r->body);
    cr_expect_str_eq(r->console_end, "5");
    resp_free(r);

    /* A second peer is left running for peerd's own shutdown to stop. */
    char *id2 = start_peer(d, opts);
    snprintf(path, sizeof path, "/peers/%s", id2);
    info = http(d, "GET", path, NULL);
    pid_t os_pid2 = (pid_t)jnum(info, "os_pid");
    resp_free(info);

    snprintf(path, sizeof path, "/peers/%s", id);
    r = http(d, "DELETE", path, NULL);
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(jstr(r, "state"), "down");
    resp_free(r);
    cr_expect(process_gone(os_pid, 10000), "the stopped node %d is still running", (int)os_pid);

    cr_expect_eq(peerd_stop(d), 0, "peerd exits 0 on SIGTERM");
    cr_expect(process_gone(os_pid2, 10000), "node %d outlived peerd", (int)os_pid2);
    free(id);
    free(id2);
}

Test(calls, standard_io, .timeout = 120) { scenario(connections[0]); }
Test(calls, tcp, .timeout = 120) { scenario(connections[1]); }

Test(calls, named_peer_reports_its_node, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char opts[256], want[128];
    const char *name = unique_name("named");
    snprintf(opts, sizeof opts, "{\"name\":\"%s\"}", name);
    snprintf(want, sizeof want, "%s@", name);
    char *id = start_peer(d, opts);
    cr_expect_str_eq(id, name, "a named peer's id is its name");
    resp *r = call(d, id, "erlang", "node", "[]");
    cJSON *atom = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r->json, "value"), "$atom");
    cr_expect(r->status == 200 && cJSON_IsString(atom) && !strncmp(atom->valuestring, want, strlen(want)), "%s", r->body);
    resp_free(r);
    free(id);
    cr_expect_eq(peerd_stop(d), 0);
}

Test(calls, big_integers_and_pids_round_trip, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{}");
    resp *r = call(d, id, "erlang", "+", "[123456789012345678901234567890, 1]");
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(jstr(r, "result"), "123456789012345678901234567891");
    resp_free(r);
    /* A pid from one result can be sent back as text and as its value. */
    r = call(d, id, "erlang", "whereis", "\"[init]\"");
    cr_assert_eq(r->status, 200, "%s", r->body);
    char args[512];
    snprintf(args, sizeof args, "\"[%s]\"", jstr(r, "result"));
    char *value = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(r->json, "value"));
    resp_free(r);
    r = call(d, id, "erlang", "is_process_alive", args);
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(jstr(r, "result"), "true");
    resp_free(r);
    snprintf(args, sizeof args, "[%s]", value);
    r = call(d, id, "erlang", "is_process_alive", args);
    cr_expect_str_eq(jstr(r, "result"), "true", "%s", r->body);
    resp_free(r);
    free(value);
    free(id);
    peerd_stop(d);
}

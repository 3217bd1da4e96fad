/*
 * errors.c — every bad request gets a problem+json answer naming what was
 * wrong, and peerd keeps serving.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static peerd *d;
static void up(void) { d = peerd_start(NULL); }
static void down(void) { peerd_stop(d); }

static void expect_problem(resp *r, long status, const char *code, const char *detail_part)
{
    cr_expect_eq(r->status, status, "status %ld, want %ld: %s", r->status, status, r->body);
    cr_expect_str_eq(r->ctype, "application/problem+json", "%s", r->body);
    cr_assert(r->json, "not JSON: %s", r->body);
    cr_expect_str_eq(jstr(r, "error"), code, "%s", r->body);
    cr_expect_eq(jnum(r, "status"), status);
    cr_expect_str_eq(jstr(r, "type"), "about:blank");
    if (detail_part) cr_expect(jstr(r, "detail") && strstr(jstr(r, "detail"), detail_part), "detail should mention '%s': %s", detail_part, r->body);
    resp_free(r);
}

TestSuite(errors, .init = up, .fini = down, .timeout = 60);

Test(errors, bad_json_is_400)
{
    expect_problem(http(d, "POST", "/peers", "{not json"), 400, "invalid_json", "not valid JSON");
    expect_problem(http(d, "POST", "/peers", "[1]"), 400, "invalid_json", "must be a JSON object");
}

/* A body nested past the limit says so, where: 511 arrays in args are 513
 * levels with the body's object and args' own array. */
Test(errors, nesting_past_the_limit_names_it_and_where)
{
    char *id = start_peer(d, "{}"), path[200], body[1400];
    snprintf(path, sizeof path, "/peers/%s/call", id);
    for (int n = 510; n <= 511; n++) {
        int len = snprintf(body, sizeof body, "{\"module\":\"erlang\",\"function\":\"length\",\"args\":[");
        for (int i = 0; i < n; i++) body[len++] = '[';
        for (int i = 0; i < n; i++) body[len++] = ']';
        snprintf(body + len, sizeof body - (size_t)len, "]}");
        resp *r = http(d, "POST", path, body);
        if (n == 510) {
            cr_expect_eq(r->status, 200, "%s", r->body);
            resp_free(r);
        } else {
            expect_problem(r, 400, "invalid_json", "the request body: arrays and objects nested deeper than 512 (at byte 557)");
        }
    }
    delete_peer(d, id);
    free(id);
}

/* JSON is read strictly, and the error says which rule and where. */
Test(errors, strings_must_be_utf8_and_keys_given_once)
{
    char *id = start_peer(d, "{}");
    char path[128];
    snprintf(path, sizeof path, "/peers/%s/call", id);
    expect_problem(http(d, "POST", path, "{\"module\":\"erlang\",\"function\":\"atom_to_list\",\"args\":[\"ok\",\"\xff\xfe\"]}"),
                   400, "invalid_json", "args[1]: a string that is not UTF-8");
    expect_problem(http(d, "POST", path, "{\"module\":\"erlang\",\"module\":\"lists\",\"function\":\"reverse\",\"args\":[[]]}"),
                   400, "invalid_json", "the key \"module\" is given twice");
    expect_problem(http(d, "POST", "/peers", "{\"name\":\"a\",\"labels\":{\"x\":\"1\",\"x\":\"2\"}}"), 400, "invalid_json",
                   "labels: the key \"x\" is given twice");
    /* The same rules for a body read off the loop (over 32 KiB). */
    size_t n = 40000;
    char *big = malloc(n + 200);
    int k = sprintf(big, "{\"module\":\"erlang\",\"function\":\"length\",\"args\":[[");
    for (size_t i = 0; i < n / 4; i++) k += sprintf(big + k, "%s1", i ? "," : "");
    sprintf(big + k, "],\"\xc0\x80\"]}");
    expect_problem(http(d, "POST", path, big), 400, "invalid_json", "args[1]: a string that is not UTF-8");
    sprintf(big + k, "]],\"args\":[]}");
    expect_problem(http(d, "POST", path, big), 400, "invalid_json", "the key \"args\" is given twice");
    sprintf(big + k, "]]}");
    resp *r = http(d, "POST", path, big);
    cr_expect_eq(r->status, 200, "%.200s", r->body);
    resp_free(r);
    free(big);
    /* Unicode as UTF-8 and as escapes both reach the node. */
    r = http(d, "POST", path, "{\"module\":\"erlang\",\"function\":\"byte_size\",\"args\":[\"\xc3\xa9\\u00e9\\ud83d\\ude00\"]}");
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(jstr(r, "result"), "8");
    resp_free(r);
    delete_peer(d, id);
    free(id);
}

Test(errors, unknown_peer_is_404)
{
    expect_problem(http(d, "GET", "/peers/nosuchpeer", NULL), 404, "not_found", "nosuchpeer");
    expect_problem(http(d, "POST", "/peers/nosuchpeer/call", "{\"module\":\"erlang\",\"function\":\"node\"}"), 404, "not_found", NULL);
    expect_problem(http(d, "DELETE", "/peers/nosuchpeer", NULL), 404, "not_found", NULL);
}

/* The first check that fails in the order a user reads the request: the
 * path's peer before what the body or query holds. */
Test(errors, the_path_is_judged_before_the_body)
{
    static const struct { const char *method, *path, *body, *ctype; } wrong_body[] = {
        { "POST", "/peers/%s/calls", "", "application/x-ndjson" },
        { "POST", "/peers/%s/call", "{not json", "application/json" },
        { "POST", "/peers/%s/call", "{\"module\":1}", "application/json" },
        { "POST", "/peers/%s/send", "{}", "application/json" },
        { "POST", "/peers/%s/eval", "{\"expr\":\"\"}", "application/json" },
        { "PUT", "/peers/%s/modules/m", "", "application/octet-stream" },
        { "GET", "/peers/%s/wait?state=nonsense", NULL, NULL },
    };
    char *gone = start_peer(d, "{}");
    delete_peer(d, gone);
    for (int removed = 0; removed < 2; removed++)
        for (size_t i = 0; i < sizeof wrong_body / sizeof *wrong_body; i++) {
            char path[200];
            snprintf(path, sizeof path, wrong_body[i].path, removed ? gone : "nosuchpeer");
            const char *b = wrong_body[i].body;
            resp *r = http_body(d, wrong_body[i].method, path, b, b ? strlen(b) : 0, wrong_body[i].ctype, NULL);
            expect_problem(r, removed ? 410 : 404, removed ? "gone" : "not_found", NULL);
        }
    free(gone);
}

Test(errors, unknown_path_is_404_and_wrong_method_405)
{
    expect_problem(http(d, "GET", "/nothing/here", NULL), 404, "not_found", "/nothing/here");
    resp *r = http(d, "PUT", "/peers", "{}");
    cr_expect_str_eq(r->allow, "GET, HEAD, POST, DELETE", "HEAD works wherever GET does");
    expect_problem(r, 405, "method_not_allowed", "PUT");
}

Test(errors, start_options_are_checked_with_otps_error_names)
{
    expect_problem(http(d, "POST", "/peers", "{\"bogus\":1}"), 400, "invalid_arg", "bogus");
    expect_problem(http(d, "POST", "/peers", "{\"name\":\"a@b\"}"), 400, "invalid_arg", "name");
    expect_problem(http(d, "POST", "/peers", "{\"args\":[1]}"), 400, "invalid_arg", "args");
    expect_problem(http(d, "POST", "/peers", "{\"exec\":[]}"), 400, "exec", "exec");
    expect_problem(http(d, "POST", "/peers", "{\"exec\":5}"), 400, "exec", "exec");
    expect_problem(http(d, "POST", "/peers", "{\"shutdown\":999}"), 400, "shutdown", "1000");
    expect_problem(http(d, "POST", "/peers", "{\"shutdown\":{\"halt\":\"x\"}}"), 400, "shutdown", NULL);
    expect_problem(http(d, "POST", "/peers", "{\"detached\":false}"), 400, "detached", "standard_io");
    expect_problem(http(d, "POST", "/peers", "{\"connection\":70000}"), 400, "invalid_arg", "connection");
    expect_problem(http(d, "POST", "/peers", "{\"connection\":{\"ip\":\"nope\",\"port\":0}}"), 400, "invalid_arg", "connection");
    expect_problem(http(d, "POST", "/peers", "{\"wait_boot\":-1}"), 400, "invalid_arg", "wait_boot");
    expect_problem(http(d, "POST", "/peers", "{\"env\":{\"A\":1}}"), 400, "invalid_arg", "env.A");
    expect_problem(http(d, "POST", "/peers", "{\"peer_down\":\"explode\"}"), 400, "invalid_arg", "peer_down");
    expect_problem(http(d, "POST", "/peers", "{\"host\":\"h\"}"), 400, "invalid_arg", "host");
}

Test(errors, boot_failure_says_why)
{
    resp *r = http(d, "POST", "/peers", "{\"exec\":[\"sh\",\"-c\",\"echo not an erl; exit 3\"]}");
    cr_expect_eq(r->status, 502, "%s", r->body);
    cr_expect_str_eq(jstr(r, "error"), "boot_failed");
    cr_expect_eq(jnum(r, "exit_status"), 3);
    cr_expect(jstr(r, "console_tail") && strstr(jstr(r, "console_tail"), "not an erl"), "%s", r->body);
    resp_free(r);
    expect_problem(http(d, "POST", "/peers", "{\"exec\":\"/no/such/program\"}"), 502, "boot_failed", "No such file");
    /* A node name that is taken: the second erl exits with status 1. */
    const char *name = unique_name("dup");
    char opts[256];
    snprintf(opts, sizeof opts, "{\"name\":\"%s\"}", name);
    char *id = start_peer(d, opts);
    expect_problem(http(d, "POST", "/peers", opts), 409, "already_exists", name);
    free(id);
}

Test(errors, boot_timeout_stops_the_node)
{
    expect_problem(http(d, "POST", "/peers", "{\"wait_boot\":1}"), 504, "timeout", "1 ms");
    resp *r = http(d, "GET", "/peers", NULL);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r->json, "peers")), 0, "%s", r->body);
    resp_free(r);
}

Test(errors, call_errors)
{
    char *id = start_peer(d, "{}");
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/call", id);
    resp *r = call(d, id, "no_such_module", "f", "[]");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(jstr(r, "class"), "error");
    cr_expect_str_eq(jstr(r, "reason"), "undef");
    cr_expect(strstr(jstr(r, "stacktrace"), "no_such_module"), "%s", r->body);
    resp_free(r);
    r = call(d, id, "erlang", "exit", "\"[{shutdown, 1}]\"");
    cr_expect_str_eq(jstr(r, "class"), "exit");
    cr_expect_str_eq(jstr(r, "reason"), "{shutdown,1}");
    resp_free(r);
    expect_problem(http(d, "POST", path, "{\"module\":\"timer\",\"function\":\"sleep\",\"args\":[2000],\"timeout_ms\":100}"), 504, "timeout", "100 ms");
    /* The late reply is dropped and the peer still answers. */
    r = call(d, id, "erlang", "node", "[]");
    cr_expect_eq(r->status, 200);
    resp_free(r);
    expect_problem(http(d, "POST", path, "{\"module\":\"erlang\",\"function\":\"node\",\"args\":\"[a,\"}"), 400, "invalid_term", "args");
    expect_problem(http(d, "POST", path, "{\"module\":\"erlang\",\"function\":\"node\",\"args\":\"{a}\"}"), 400, "invalid_arg", "proper list");
    expect_problem(http(d, "POST", path, "{\"module\":5,\"function\":\"node\"}"), 400, "invalid_arg", "module");
    expect_problem(http(d, "POST", path, "{\"module\":\"m\",\"function\":\"f\",\"timeout_ms\":\"soon\"}"), 400, "invalid_arg", "timeout_ms");
    expect_problem(http(d, "POST", path, "{\"module\":\"m\",\"function\":\"f\",\"args\":[{\"$etf\":\"###\"}]}"), 400, "invalid_term", "args[0].$etf");
    expect_problem(http(d, "POST", path, "{\"module\":\"m\",\"function\":\"f\",\"args\":\"[<0.1.2>]\",\"extra\":1}"), 400, "invalid_arg", "extra");
    snprintf(path, sizeof path, "/peers/%s/send", id);
    expect_problem(http(d, "POST", path, "{\"to\":5,\"message\":1}"), 400, "invalid_arg", "to");
    expect_problem(http(d, "POST", path, "{\"to\":\"x\"}"), 400, "invalid_arg", "message");
    free(id);
}

Test(errors, oversized_body_is_413)
{
    size_t n = (1u << 20) + 100;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = 0;
    expect_problem(http(d, "POST", "/peers", big), 413, "too_large", "1048576");
    free(big);
    resp *r = http(d, "GET", "/healthz", NULL);
    cr_expect_eq(r->status, 200, "still serving");
    resp_free(r);
}

Test(errors, noconnection_once_down)
{
    char *id = start_peer(d, "{\"peer_down\":\"continue\"}");
    peer_cast(d, id, "erlang", "halt", "[]");
    resp *r = wait_state(d, id, "down", 5000);
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(jstr(r, "down_reason"), "{exit_status,0}");
    resp_free(r);
    expect_problem(call(d, id, "erlang", "node", "[]"), 409, "noconnection", "down");
    free(id);
}

/*
 * security.c — tokens on every endpoint but /healthz (and a read-only one), HTTPS,
 * loopback-only without a token, --allow-exec, limits, a battery of
 * malformed requests that leaves peerd serving, and signals.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

typedef struct { const char *method, *path, *body; } endpoint;

static const endpoint every_endpoint[] = {
    { "GET", "/peers", NULL },
    { "POST", "/peers", "{}" },
    { "GET", "/peers/x", NULL },
    { "DELETE", "/peers/x", NULL },
    { "POST", "/peers/x/call", "{\"module\":\"erlang\",\"function\":\"node\"}" },
    { "POST", "/peers/x/cast", "{\"module\":\"erlang\",\"function\":\"node\"}" },
    { "POST", "/peers/x/send", "{\"to\":\"user\",\"message\":1}" },
    { "GET", "/peers/x/console", NULL },
    { "GET", "/peers/x/messages", NULL },
    { "GET", "/peers/x/wait?state=down&timeout_ms=1", NULL },
    { "PUT", "/peers/x/lease", NULL },
    { "GET", "/events?follow=0", NULL },
    { "GET", "/random-name", NULL },
    { "GET", "/openapi.yaml", NULL },
    { "GET", "/no/such/path", NULL },
};

Test(security, a_token_guards_every_endpoint_but_healthz, .timeout = 60)
{
    const char *path = "/tmp/peerd-token-test";
    FILE *f = fopen(path, "w");
    fputs("s3cret-token\n", f);
    fclose(f);
    const char *args[] = { "--token-file", path, NULL };
    peerd *d = peerd_start(args);
    for (size_t i = 0; i < sizeof every_endpoint / sizeof *every_endpoint; i++) {
        const endpoint *e = &every_endpoint[i];
        for (int attempt = 0; attempt < 2; attempt++) {
            snprintf(d->token, sizeof d->token, "%s", attempt ? "wrong-token" : "");
            resp *r = http(d, e->method, e->path, e->body);
            cr_expect_eq(r->status, 401, "%s %s with %s: %ld %s", e->method, e->path, attempt ? "a wrong token" : "no token", r->status, r->body);
            cr_expect_str_eq(r->ctype, "application/problem+json");
            cr_expect_str_eq(jstr(r, "error"), "unauthorized");
            cr_expect_str_eq(jstr(r, "detail"), attempt ? "Authorization: the token is not this peerd's"
                                                        : "this peerd needs Authorization: Bearer TOKEN", "%s", r->body);
            resp_free(r);
        }
        snprintf(d->token, sizeof d->token, "s3cret-token");
        resp *r = http(d, e->method, e->path, e->body);
        cr_expect_neq(r->status, 401, "%s %s with the token: %s", e->method, e->path, r->body);
        resp_free(r);
    }
    d->token[0] = 0;
    resp *r = http(d, "GET", "/healthz", NULL);
    cr_expect_eq(r->status, 200, "/healthz needs no token");
    resp_free(r);
    r = http(d, "GET", "/", NULL);
    cr_expect_eq(r->status, 200, "the dashboard page loads, then asks for the token");
    cr_expect(strstr(r->ctype, "text/html") && strstr(r->body, "<title>peerd</title>"), "%s", r->ctype);
    resp_free(r);
    r = http(d, "GET", "/events?follow=0&access_token=s3cret-token", NULL);
    cr_expect_eq(r->status, 200, "a stream may carry the token as access_token");
    resp_free(r);
    /* Each 401 says why. */
    static const struct { const char *path, *auth, *detail; } why[] = {
        { "/events?follow=0&access_token=wrong", NULL, "access_token: the token is not this peerd's" },
        { "/peers?access_token=s3cret-token", NULL,
          "access_token: only the GET streams (/events, a peer's console and messages) take the token in the URL; "
          "send Authorization: Bearer TOKEN" },
        { "/peers", "Authorization: Basic czNjcmV0LXRva2Vu", "Authorization: only the Bearer scheme is taken (Authorization: Bearer TOKEN)" },
    };
    for (size_t i = 0; i < sizeof why / sizeof *why; i++) {
        const char *headers[] = { why[i].auth, NULL };
        r = http_with(d, "GET", why[i].path, NULL, why[i].auth ? headers : NULL);
        cr_expect_eq(r->status, 401, "%s: %s", why[i].path, r->body);
        cr_expect_str_eq(jstr(r, "detail"), why[i].detail, "%s", r->body);
        resp_free(r);
    }
    unlink(path);
    peerd_stop(d);
}

/* A second token that reads: every GET and HEAD answers as with the
 * control token, every write is 403 read_only naming what needs the
 * control token, and so is a console linked to its peer (its end would
 * stop the peer). The peer is untouched by all of it. */
Test(security, a_read_only_token_reads_and_nothing_more, .timeout = 60)
{
    const char *control = "/tmp/peerd-token-control", *reader = "/tmp/peerd-token-read";
    FILE *f = fopen(control, "w");
    fputs("control-token\n", f);
    fclose(f);
    f = fopen(reader, "w");
    fputs("read-token\n", f);
    fclose(f);
    const char *args[] = { "--token-file", control, "--read-token-file", reader, NULL };
    peerd *d = peerd_start(args);
    snprintf(d->token, sizeof d->token, "control-token");
    char *id = start_peer(d, "{\"heartbeat_ms\":0}");
    resp *r = http(d, "GET", "/scope", NULL);
    cr_expect_str_eq(jstr(r, "scope"), "control", "%s", r->body);
    resp_free(r);
    snprintf(d->token, sizeof d->token, "read-token");
    char peer[128], console[160], linked[192], wait[192];
    snprintf(peer, sizeof peer, "/peers/%s", id);
    snprintf(console, sizeof console, "/peers/%s/console", id);
    snprintf(linked, sizeof linked, "/peers/%s/console?follow=1&link=1", id);
    snprintf(wait, sizeof wait, "/peers/%s/wait?state=running&timeout_ms=100", id);
    const char *reads[] = { "/peers", peer, console, wait, "/events?follow=0", "/metrics", "/clusters", "/openapi.yaml", "/random-name" };
    for (size_t i = 0; i < sizeof reads / sizeof *reads; i++) {
        r = http(d, "GET", reads[i], NULL);
        cr_expect_eq(r->status, 200, "GET %s with the read-only token: %ld %s", reads[i], r->status, r->body);
        resp_free(r);
    }
    r = http(d, "GET", "/scope", NULL);
    cr_expect_str_eq(jstr(r, "scope"), "read", "%s", r->body);
    resp_free(r);
    for (size_t i = 0; i < sizeof every_endpoint / sizeof *every_endpoint; i++) {
        const endpoint *e = &every_endpoint[i];
        if (!strcmp(e->method, "GET")) continue;
        char path[256];
        snprintf(path, sizeof path, "%s", e->path);
        char *x = strstr(path, "/x");      /* the real peer, so that only the scope can refuse */
        if (x && (x[2] == '/' || !x[2])) {
            char rest[128];
            snprintf(rest, sizeof rest, "%s", x + 2);
            snprintf(x, sizeof path - (size_t)(x - path), "/%s%s", id, rest);
        }
        r = http(d, e->method, path, e->body);
        cr_expect_eq(r->status, 403, "%s %s with the read-only token: %ld %s", e->method, path, r->status, r->body);
        cr_expect_str_eq(jstr(r, "error"), "read_only", "%s", r->body);
        char want[96];
        snprintf(want, sizeof want, "%s needs the control token: this one may only read (GET and HEAD)", e->method);
        cr_expect_str_eq(jstr(r, "detail"), want, "%s", r->body);
        resp_free(r);
    }
    r = http(d, "GET", linked, NULL);
    cr_expect_eq(r->status, 403, "a linked stream would stop the peer when it ends: %s", r->body);
    cr_expect_str_eq(jstr(r, "error"), "read_only");
    resp_free(r);
    snprintf(d->token, sizeof d->token, "wrong-token");
    r = http(d, "GET", "/peers", NULL);
    cr_expect_eq(r->status, 401);
    resp_free(r);
    snprintf(d->token, sizeof d->token, "control-token");
    r = http(d, "GET", peer, NULL);
    cr_expect_str_eq(jstr(r, "state"), "running", "the peer is untouched: %s", r->body);
    resp_free(r);
    delete_peer(d, id);
    free(id);
    peerd_stop(d);
    unlink(control);
    unlink(reader);
}

/* A read-only token alone guards nothing, and one equal to the control
 * token reads as control: both are refused at start. */
Test(security, a_read_only_token_needs_a_different_control_token)
{
    static const struct { const char *env, *says; } bad[] = {
        { "PEERD_READ_TOKEN=r", "a read-only token needs a control token" },
        { "PEERD_TOKEN=same PEERD_READ_TOKEN=same", "the read-only token is the control token" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char cmd[512], out[512] = "";
        snprintf(cmd, sizeof cmd, "env -u PEERD_TOKEN %s %s --listen 127.0.0.1:0 2>&1", bad[i].env, PEERD_BIN);
        FILE *p = popen(cmd, "r");
        size_t n = fread(out, 1, sizeof out - 1, p);
        out[n] = 0;
        int st = pclose(p);
        cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2, "%s: exit 2", bad[i].env);
        cr_expect(strstr(out, bad[i].says) != NULL, "%s: %s", bad[i].env, out);
    }
}

Test(security, peerd_token_from_the_environment, .timeout = 60)
{
    setenv("PEERD_TOKEN", "env-token", 1);
    peerd *d = peerd_start(NULL);
    unsetenv("PEERD_TOKEN");
    resp *r = http(d, "GET", "/peers", NULL);
    cr_expect_eq(r->status, 401);
    resp_free(r);
    snprintf(d->token, sizeof d->token, "env-token");
    r = http(d, "GET", "/peers", NULL);
    cr_expect_eq(r->status, 200);
    resp_free(r);
    peerd_stop(d);
}

Test(security, https_with_a_self_signed_certificate, .timeout = 60)
{
    char dir[] = "/tmp/peerd-tls-XXXXXX";
    cr_assert(mkdtemp(dir));
    char cmd[1024], cert[300], key[300];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cmd, sizeof cmd, "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 1 "
             "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null", key, cert);
    cr_assert_eq(system(cmd), 0, "openssl made a certificate");
    const char *args[] = { "--tls-cert", cert, "--tls-key", key, NULL };
    peerd *d = peerd_start(args);
    cr_expect(!strncmp(d->base, "https://", 8), "%s", d->base);
    snprintf(d->cainfo, sizeof d->cainfo, "%.250s", cert);
    char *id = start_peer(d, "{}");
    resp *r = call(d, id, "erlang", "node", "[]");
    cr_expect_str_eq(jstr(r, "result"), "nonode@nohost", "a call over HTTPS, certificate verified");
    resp_free(r);
    free(id);
    peerd_stop(d);
    unlink(cert);
    unlink(key);
    rmdir(dir);
}

Test(security, non_loopback_without_a_token_is_refused, .timeout = 60)
{
    char err[1024];
    const char *open_args[] = { "--listen", "0.0.0.0:0", NULL };
    cr_expect_eq(peerd_refused(open_args, err, sizeof err), 2);
    cr_expect(strstr(err, "without a token"), "%s", err);
    const char *bad_tls[] = { "--tls-cert", "/nonexistent", NULL };
    cr_expect_eq(peerd_refused(bad_tls, err, sizeof err), 2, "%s", err);
    const char *bad_exec[] = { "--allow-exec", "/no/such/program", NULL };
    cr_expect_eq(peerd_refused(bad_exec, err, sizeof err), 2, "%s", err);
    /* A port taken: said once, with the reason. */
    peerd *first = peerd_start(NULL);
    char spec[64];
    snprintf(spec, sizeof spec, "127.0.0.1:%s", strrchr(first->base, ':') + 1);
    const char *taken[] = { "--listen", spec, NULL };
    cr_expect_eq(peerd_refused(taken, err, sizeof err), 1, "%s", err);
    char want[128];
    snprintf(want, sizeof want, "peerd: cannot listen on %s: Address already in use\n", spec);
    cr_expect_str_eq(err, want);
    peerd_stop(first);
    const char *not_spec[] = { "--listen", "8080", NULL };
    cr_expect_eq(peerd_refused(not_spec, err, sizeof err), 1, "%s", err);
    cr_expect_str_eq(err, "peerd: cannot listen on 8080: not HOST:PORT\n");
    const char *insecure[] = { "--listen", "0.0.0.0:0", "--insecure", NULL };
    peerd *d = peerd_start(insecure);   /* serves, and answers on loopback */
    resp *r = http(d, "GET", "/healthz", NULL);
    cr_expect_eq(r->status, 200);
    resp_free(r);
    peerd_stop(d);
}

Test(security, allow_exec_limits_the_programs, .timeout = 60)
{
    const char *args[] = { "--allow-exec", "erl", NULL };
    peerd *d = peerd_start(args);
    resp *r = http(d, "POST", "/peers", "{\"exec\":[\"sh\",\"-c\",\"erl\"]}");
    cr_expect_eq(r->status, 403, "%s", r->body);
    cr_expect_str_eq(jstr(r, "error"), "exec_not_allowed");
    cr_expect(strstr(jstr(r, "detail"), "sh"), "%s", r->body);
    resp_free(r);
    free(start_peer(d, "{}"));
    free(start_peer(d, "{\"exec\":\"/usr/bin/erl\"}"));
    peerd_stop(d);
}

Test(security, limits_have_their_own_codes, .timeout = 60)
{
    const char *args[] = { "--max-peers", "1", "--max-streams", "1", NULL };
    peerd *d = peerd_start(args);
    char *id = start_peer(d, "{}");
    resp *r = http(d, "POST", "/peers", "{}");
    cr_expect_eq(r->status, 503, "%s", r->body);
    cr_expect_str_eq(jstr(r, "error"), "too_many_peers");
    resp_free(r);
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/console?follow=1", id);
    const char *out = "/tmp/peerd-limit-stream.out";
    pid_t c = curl_spawn(d, path, out, NULL);
    usleep(500000);
    r = http(d, "GET", "/events", NULL);
    cr_expect_eq(r->status, 503, "%s", r->body);
    cr_expect_str_eq(jstr(r, "error"), "too_many_streams");
    resp_free(r);
    kill(c, SIGKILL);
    child_wait(c, 5000);
    unlink(out);
    free(id);
    peerd_stop(d);
}

/* At least 30 malformed requests, each a 4xx problem+json; peerd serves on. */
Test(security, malformed_requests_get_problems_and_peerd_serves_on, .timeout = 120)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{}");
    char call_path[256], send_path[256], console_path[512], since_path[256], wait_path[256];
    snprintf(call_path, sizeof call_path, "/peers/%s/call", id);
    snprintf(since_path, sizeof since_path, "/peers/%s/console?since=-1", id);
    snprintf(wait_path, sizeof wait_path, "/peers/%s/wait?state=sideways", id);
    snprintf(send_path, sizeof send_path, "/peers/%s/send", id);
    char *deep = malloc(4000);
    memset(deep, '[', 1500);
    memset(deep + 1500, ']', 1500);
    deep[3000] = 0;
    char *deep_args = malloc(4100);
    snprintf(deep_args, 4100, "{\"module\":\"m\",\"function\":\"f\",\"args\":%s}", deep);
    char *big_atom = malloc(400);
    snprintf(big_atom, 400, "{\"module\":\"%0300d\",\"function\":\"f\"}", 0);
    struct { const char *method; const char *path; const char *body; long status; } cases[] = {
        { "POST", "/peers", "{", 400 },
        { "POST", "/peers", "nul\x01l", 400 },
        { "POST", "/peers", "[]", 400 },
        { "POST", "/peers", "\"text\"", 400 },
        { "POST", "/peers", "{\"a\":1} trailing", 400 },
        { "POST", "/peers", deep, 400 },
        { "POST", "/peers", "{\"name\":5}", 400 },
        { "POST", "/peers", "{\"name\":\"a b\"}", 400 },
        { "POST", "/peers", "{\"name\":\"\"}", 400 },
        { "POST", "/peers", "{\"longnames\":\"yes\"}", 400 },
        { "POST", "/peers", "{\"connection\":\"carrier pigeon\"}", 400 },
        { "POST", "/peers", "{\"connection\":{\"ip\":\"1.2.3.4\"}}", 400 },
        { "POST", "/peers", "{\"exec\":\"\"}", 400 },
        { "POST", "/peers", "{\"exec\":[1,2]}", 400 },
        { "POST", "/peers", "{\"args\":\"-noshell\"}", 400 },
        { "POST", "/peers", "{\"env\":[\"A=1\"]}", 400 },
        { "POST", "/peers", "{\"env\":{\"A=B\":\"1\"}}", 400 },
        { "POST", "/peers", "{\"wait_boot\":true}", 400 },
        { "POST", "/peers", "{\"shutdown\":\"later\"}", 400 },
        { "POST", "/peers", "{\"lease_ms\":0}", 400 },
        { "POST", "/peers", "{\"notify_url\":\"ftp://x\"}", 400 },
        { "POST", "/peers", "{\"post_process_args\":{}}", 400 },
        { "POST", call_path, "{}", 400 },
        { "POST", call_path, "{\"module\":\"m\"}", 400 },
        { "POST", call_path, big_atom, 400 },
        { "POST", call_path, deep_args, 400 },
        { "POST", call_path, "{\"module\":\"m\",\"function\":\"f\",\"args\":\"[1,2\"}", 400 },
        { "POST", call_path, "{\"module\":\"m\",\"function\":\"f\",\"args\":\"[X]\"}", 400 },
        { "POST", call_path, "{\"module\":\"m\",\"function\":\"f\",\"args\":\"[<<1:67108865>>]\"}", 400 },
        { "POST", call_path, "{\"module\":\"m\",\"function\":\"f\",\"args\":[{\"$etf\":\"g2E=\"}]}", 400 },
        { "POST", call_path, "{\"module\":\"m\",\"function\":\"f\",\"args\":[{\"$etf\":\"g3AAAAAA\"}]}", 400 },
        { "POST", call_path, "{\"module\":\"m\",\"function\":\"f\",\"args\":[{\"$atom\":[]}]}", 400 },
        { "POST", call_path, "{\"module\":\"m\",\"function\":\"f\",\"args\":[{\"$tuple\":{}}]}", 400 },
        { "POST", call_path, "{\"module\":\"m\",\"function\":\"f\",\"args\":\"[<0.1>]\"}", 400 },
        { "POST", call_path, "{\"module\":\"m\",\"function\":\"f\",\"args\":\"[#Ref<1.2.3>]\"}", 400 },
        { "POST", call_path, "{\"module\":\"m\",\"function\":\"f\",\"args\":[{\"a\":1,\"a\":2}]}", 400 },
        { "POST", send_path, "{\"to\":\"<1.2.3>\",\"message\":1}", 400 },
        { "POST", send_path, "{\"to\":\"x\",\"message\":1,\"message_text\":\"1\"}", 400 },
        { "GET", since_path, NULL, 400 },
        { "GET", wait_path, NULL, 400 },
        { "GET", "/peers/x/wait?state=sideways", NULL, 404 },     /* the path first */
        { "GET", "/random-name?prefix=a%20b", NULL, 400 },
        { "GET", "/events?since=abc", NULL, 400 },
        { "PATCH", "/peers", "{}", 405 },
        { "GET", "/peers/x/y/z/w", NULL, 404 },
        { "GET", "/nope", NULL, 404 },
        { "POST", "/peers/nope/call", "{\"module\":\"m\",\"function\":\"f\"}", 404 },
    };
    size_t n = sizeof cases / sizeof *cases;
    cr_assert_geq(n, 30);
    for (size_t i = 0; i < n; i++) {
        resp *r = http(d, cases[i].method, cases[i].path, cases[i].body);
        cr_expect_eq(r->status, cases[i].status, "case %zu (%s %s %.60s): %ld %s", i, cases[i].method, cases[i].path,
                     cases[i].body ? cases[i].body : "", r->status, r->body);
        cr_expect_str_eq(r->ctype, "application/problem+json", "case %zu", i);
        cr_expect(jstr(r, "error") && jstr(r, "detail") && jnum(r, "status") == cases[i].status, "case %zu: %s", i, r->body);
        resp_free(r);
    }
    snprintf(console_path, sizeof console_path, "/peers/%s", id);
    resp *r = call(d, id, "erlang", "node", "[]");
    cr_expect_eq(r->status, 200, "the peer still answers: %s", r->body);
    resp_free(r);
    free(deep); free(deep_args); free(big_atom); free(id);
    cr_expect_eq(peerd_stop(d), 0);
}

static void ten_nodes(peerd *d, pid_t pids[10])
{
    for (int i = 0; i < 10; i++) {
        char opts[128];
        snprintf(opts, sizeof opts, "{\"connection\":%s,\"wait_boot\":false}", i % 2 ? "0" : "\"standard_io\"");
        resp *r = http(d, "POST", "/peers", opts);
        cr_assert_eq(r->status, 202, "%s", r->body);
        char *id = strdup(jstr(r, "id"));
        resp_free(r);
        r = wait_state(d, id, "running", 30000);
        cr_assert_eq(r->status, 200, "%s", r->body);
        pids[i] = (pid_t)jnum(r, "os_pid");
        resp_free(r);
        free(id);
    }
}

Test(signals, sigkill_of_peerd_leaves_none_of_ten_nodes, .timeout = 120)
{
    peerd *d = peerd_start(NULL);
    pid_t pids[10];
    ten_nodes(d, pids);
    peerd_kill(d);
    for (int i = 0; i < 10; i++) cr_expect(process_gone(pids[i], 10000), "node %d (%s) outlived SIGKILL", (int)pids[i], i % 2 ? "tcp" : "standard_io");
}

Test(signals, sigterm_stops_ten_nodes_cleanly, .timeout = 120)
{
    peerd *d = peerd_start(NULL);
    pid_t pids[10];
    ten_nodes(d, pids);
    cr_expect_eq(peerd_stop(d), 0, "exit 0 after SIGTERM");
    for (int i = 0; i < 10; i++) cr_expect(process_gone(pids[i], 1000), "node %d was stopped before peerd exited", (int)pids[i]);
}

/* Open streams at SIGTERM: they end, and what the HTTP side hands the
 * manager after its loop has gone is answered, not lost (a sanitizer build
 * reports a leak otherwise). */
Test(signals, sigterm_with_open_streams_exits_cleanly, .timeout = 60)
{
    for (int round = 0; round < 3; round++) {
        peerd *d = peerd_start(NULL);
        char *id = start_peer(d, "{}");
        resp_free(call(d, id, "io", "format", "\"[user, \\\"ready~n\\\", []]\""));
        char path[256];
        snprintf(path, sizeof path, "/peers/%s/console?follow=1", id);
        const char *o1 = "/tmp/peerd-sigterm-events.out", *o2 = "/tmp/peerd-sigterm-console.out";
        pid_t c1 = curl_spawn(d, "/events", o1, NULL), c2 = curl_spawn(d, path, o2, NULL);
        cr_assert(file_has(o1, "\"type\":\"booted\"", 5000), "the event stream is open");
        cr_assert(file_has(o2, "ready", 5000), "the console stream is open");
        cr_expect_eq(peerd_stop(d), 0);
        cr_expect_eq(child_wait(c1, 5000), 0, "the event stream ended cleanly");
        cr_expect_eq(child_wait(c2, 5000), 0, "the console stream ended cleanly");
        unlink(o1);
        unlink(o2);
        free(id);
    }
}

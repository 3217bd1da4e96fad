/*
 * lossless.c — streams and values that lose nothing, across restarts and
 * the tools users pipe them through.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static const char *const sse_accept = "Accept: text/event-stream";

static void put_chars(peerd *d, const char *id, const char *json_string)
{
    size_t n = strlen(json_string) + 200;
    char *body = malloc(n), path[256];
    snprintf(body, n, "{\"module\":\"io\",\"function\":\"put_chars\",\"args\":[{\"$atom\":\"user\"},%s]}", json_string);
    snprintf(path, sizeof path, "/peers/%s/call", id);
    resp *r = http(d, "POST", path, body);
    cr_assert_eq(r->status, 200, "%s", r->body);
    resp_free(r);
    free(body);
}

/* GET with extra headers: Accept for SSE and a Last-Event-ID. */
static resp *get_sse(peerd *d, const char *path, const char *last_id)
{
    char h[128];
    snprintf(h, sizeof h, "Last-Event-ID: %s", last_id ? last_id : "");
    const char *headers[] = { sse_accept, last_id ? h : NULL, NULL };
    return http_with(d, "GET", path, NULL, headers);
}

Test(lossless, sse_data_is_split_at_cr_lf_and_crlf, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{}");
    put_chars(d, id, "\"10%\\r50%\\r100%\\nA\\r\\nB\\n\"");
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/console?follow=1", id);
    const char *out = "/tmp/peerd-lossless-cr.out";
    const char *args[] = { "-H", sse_accept, NULL };
    pid_t c = curl_spawn(d, path, out, args);
    cr_assert(file_has(out, "data: B\n", 5000), "the stream came");
    kill(c, SIGKILL);
    child_wait(c, 5000);
    char *raw = slurp(out, NULL);
    /* No CR may reach the client inside a data: line: SSE parsers end the line there. */
    cr_expect_null(strchr(raw, '\r'), "a bare CR went out: %s", raw);
    cr_expect(strstr(raw, "data: 10%\ndata: 50%\ndata: 100%\ndata: A\ndata: B\n"), "every line a data line: %s", raw);
    free(raw);
    free(id);
    peerd_stop(d);
}

/* A snapshot (no follow) is framed as the stream is: SSE when the client
 * asks for it, reset marker included, as /events?follow=0 does. */
Test(lossless, snapshots_honour_accept_as_streams_do, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{}");
    put_chars(d, id, "\"hello\\n\"");
    peer_cast(d, id, "erlang", "send", "\"[user, {message, inbox, done}]\"");
    char *inc = incarnation_of(d, id), path[256], want[512];
    snprintf(path, sizeof path, "/peers/%s/messages", id);
    resp *r = get_sse(d, path, NULL);
    for (int i = 0; i < 100 && !r->body[0]; i++) {
        resp_free(r);
        usleep(50000);
        r = get_sse(d, path, NULL);
    }
    cr_assert_str_eq(r->ctype, "text/event-stream", "%s", r->body);
    snprintf(want, sizeof want, "event: message\nid: %s-1\ndata: {\"id\":\"%s-1\",\"seq\":1,\"to\":\"inbox\",\"result\":\"done\",\"value\":{\"$atom\":\"done\"}}\n\n", inc, inc);
    cr_assert_str_eq(r->body, want);
    resp_free(r);
    snprintf(path, sizeof path, "/peers/%s/console", id);
    r = get_sse(d, path, NULL);
    cr_assert_str_eq(r->ctype, "text/event-stream", "%s", r->body);
    cr_assert(strstr(r->body, "data: hello\n"), "%s", r->body);
    resp_free(r);
    snprintf(path, sizeof path, "/peers/%s/console?since=0123456789abcdef-3", id);      /* another incarnation's */
    r = get_sse(d, path, NULL);
    snprintf(want, sizeof want, "event: reset\nid: %s-0\n", inc);
    cr_assert(!strncmp(r->body, want, strlen(want)), "%s", r->body);
    resp_free(r);
    r = http(d, "GET", path, NULL);                                  /* and plain without it */
    cr_assert_str_eq(r->ctype, "text/plain; charset=utf-8");
    cr_assert(!strstr(r->body, "event: "), "%s", r->body);
    resp_free(r);
    free(inc);
    free(id);
    peerd_stop(d);
}

/* 220 KB through a 64 KB ring, then a position long overwritten: the
 * stream starts with a missed marker counting what is gone, in each form. */
Test(lossless, a_position_no_longer_kept_is_reported_missed, .timeout = 90)
{
    const char *extra[] = { "--console-buffer", "64K", NULL };
    peerd *d = peerd_start(extra);
    char *id = start_peer(d, "{}");
    size_t n = 220 * 1024;
    char *big = malloc(n + 3);
    big[0] = '"';
    for (size_t i = 1; i <= n; i++) big[i] = i % 64 ? 'x' : '.';
    big[n + 1] = '"';
    big[n + 2] = 0;
    put_chars(d, id, big);
    free(big);
    char *inc = incarnation_of(d, id);
    char path[256], last[64];
    snprintf(last, sizeof last, "%s-1000", inc);

    snprintf(path, sizeof path, "/peers/%s/console?since=1000", id);
    resp *r = http(d, "GET", path, NULL);
    unsigned long long missed = 0;
    cr_expect_eq(sscanf(r->body, "\n[peerd: %llu bytes of console output missed here]\n", &missed), 1, "snapshot: %.100s", r->body);
    cr_expect_eq(missed + 1000, strtoull(r->console_start, NULL, 10), "missed counts from 1000 to the oldest kept byte");
    resp_free(r);

    /* SSE with Last-Event-ID: the first event says what was missed. */
    const char *out = "/tmp/peerd-lossless-missed.out";
    char h[128];
    snprintf(h, sizeof h, "Last-Event-ID: %s", last);
    const char *args[] = { "-H", sse_accept, "-H", h, NULL };
    snprintf(path, sizeof path, "/peers/%s/console?follow=1", id);
    pid_t c = curl_spawn(d, path, out, args);
    cr_assert(file_has(out, "\n\n", 5000));
    kill(c, SIGKILL);
    child_wait(c, 5000);
    char *raw = slurp(out, NULL), want[128];
    snprintf(want, sizeof want, "event: missed\nid: %s-%llu\ndata: %llu\n\n", inc, missed + 1000, missed);
    cr_expect(!strncmp(raw, want, strlen(want)), "SSE starts with %s, got %.200s", want, raw);
    free(raw);
    unlink(out);
    free(inc);
    free(id);
    peerd_stop(d);
}

/* A peer deleted and started again under its name is a new incarnation:
 * an id of the old one replays the new console from its start, marked. */
Test(lossless, an_id_of_another_incarnation_replays_from_the_start, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    const char *name = unique_name("inc");
    char opts[128];
    snprintf(opts, sizeof opts, "{\"name\":\"%s\"}", name);
    char *id = start_peer(d, opts);
    put_chars(d, id, "\"the first node printed this line\\n\"");
    char *old = incarnation_of(d, id);
    delete_peer(d, id);
    free(id);
    id = start_peer(d, opts);
    put_chars(d, id, "\"second\\n\"");
    char *inc = incarnation_of(d, id);
    cr_expect_str_neq(old, inc, "a new start is a new incarnation");

    char path[256], want[512];
    snprintf(path, sizeof path, "/peers/%s/console?since=%s-30", id, old);
    resp *r = http(d, "GET", path, NULL);
    snprintf(want, sizeof want, "[peerd: reset: the id asked for is not of this node; incarnation %s of peer %s from its start]\nsecond\n", inc, id);
    cr_expect_str_eq(r->body, want);
    resp_free(r);
    /* A bare offset past anything this incarnation printed is another's too. */
    snprintf(path, sizeof path, "/peers/%s/console?since=30", id);
    r = http(d, "GET", path, NULL);
    cr_expect_str_eq(r->body, want);
    resp_free(r);
    /* The same id of this incarnation resumes where it says. */
    snprintf(path, sizeof path, "/peers/%s/console?since=%s-3", id, inc);
    r = http(d, "GET", path, NULL);
    cr_expect_str_eq(r->body, "ond\n");
    resp_free(r);

    /* SSE: an event reset (carrying the new incarnation), then the data. */
    snprintf(want, sizeof want, "%s-30", old);
    snprintf(path, sizeof path, "/peers/%s/console?follow=1", id);
    const char *out = "/tmp/peerd-lossless-reset.out";
    char h[600];
    snprintf(h, sizeof h, "Last-Event-ID: %s", want);
    const char *args[] = { "-H", sse_accept, "-H", h, NULL };
    pid_t c = curl_spawn(d, path, out, args);
    cr_assert(file_has(out, "data: second", 5000));
    kill(c, SIGKILL);
    child_wait(c, 5000);
    char *raw = slurp(out, NULL);
    snprintf(want, sizeof want, "event: reset\nid: %s-0\ndata: {\"incarnation\":\"%s\"}\n\nid: %s-7\ndata: second\n", inc, inc, inc);
    cr_expect(!strncmp(raw, want, strlen(want)), "want %s got %s", want, raw);
    free(raw);
    unlink(out);

    /* Messages: the same, as an NDJSON line. */
    snprintf(path, sizeof path, "/peers/%s/messages?since=%s-5", id, old);
    r = http(d, "GET", path, NULL);
    snprintf(want, sizeof want, "{\"reset\":{\"incarnation\":\"%s\"}}\n", inc);
    cr_expect_str_eq(r->body, want);
    resp_free(r);
    free(old);
    free(inc);
    free(id);
    peerd_stop(d);
}

/* After a restart of peerd, an event id of the old instance (or a bare
 * seq past the newest) gets a reset marker and every event kept. */
Test(lossless, event_ids_of_another_peerd_reset, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{}");
    resp *r = http(d, "GET", "/events?follow=0", NULL);
    char old_id[64];
    const char *last = r->body;     /* the last line */
    for (const char *nl; (nl = strchr(last, '\n')) && nl[1]; last = nl + 1) {}
    cr_assert(sscanf(last, "{\"id\":\"%63[^\"]\"", old_id) == 1, "events carry ids: %s", r->body);
    resp_free(r);
    free(id);
    peerd_stop(d);

    d = peerd_start(NULL);
    r = http(d, "GET", "/healthz", NULL);
    char inst[32];
    snprintf(inst, sizeof inst, "%s", jstr(r, "instance"));
    resp_free(r);
    cr_expect(strncmp(inst, old_id, 16), "a new instance id");
    id = start_peer(d, "{}");
    char path[128], want[128];
    snprintf(want, sizeof want, "{\"reset\":{\"instance\":\"%s\"}}\n{\"id\":\"%s-1\",", inst, inst);
    snprintf(path, sizeof path, "/events?follow=0&since=%s", old_id);
    r = http(d, "GET", path, NULL);
    cr_expect(!strncmp(r->body, want, strlen(want)), "want %s got %s", want, r->body);
    resp_free(r);
    r = http(d, "GET", "/events?follow=0&since=100", NULL);
    cr_expect(!strncmp(r->body, want, strlen(want)), "a bare seq past the newest: want %s got %s", want, r->body);
    resp_free(r);
    snprintf(path, sizeof path, "/events?follow=0&since=%s-1", inst);
    r = http(d, "GET", path, NULL);
    cr_expect(!strstr(r->body, "reset") && strstr(r->body, "\"seq\":2,"), "an id of this instance resumes: %s", r->body);
    resp_free(r);
    r = get_sse(d, "/events?follow=0", old_id);
    snprintf(want, sizeof want, "event: reset\nid: %s-0\ndata: {\"instance\":\"%s\"}\n\n", inst, inst);
    cr_expect(!strncmp(r->body, want, strlen(want)), "want %s got %s", want, r->body);
    resp_free(r);
    free(id);
    peerd_stop(d);
}

Test(lossless, sigterm_ends_the_event_feed_after_its_last_events, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{}");
    const char *out = "/tmp/peerd-lossless-events.out";
    pid_t c = curl_spawn(d, "/events", out, NULL);
    cr_assert(file_has(out, "\"booted\"", 5000));
    peerd_stop(d);
    cr_expect_eq(child_wait(c, 10000), 0, "curl saw a clean end");
    char *raw = slurp(out, NULL), want[128];
    snprintf(want, sizeof want, "\"type\":\"stopped\",\"peer\":\"%s\"", id);
    cr_expect(strstr(raw, want), "the feed has the shutdown's stop: %s", raw);
    snprintf(want, sizeof want, "\"type\":\"removed\",\"peer\":\"%s\"", id);
    cr_expect(strstr(raw, want), "and its removal: %s", raw);
    free(raw);
    unlink(out);
    free(id);
}

/* A node that boots and then dies leaves its console with the tombstone. */
Test(lossless, a_node_that_dies_after_boot_keeps_its_console, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{}");
    resp *r = call(d, id, "io", "put_chars", "\"[user, <<\\\"my last words\\\\n\\\">>]\"");
    cr_assert_eq(r->status, 200, "%s", r->body);
    resp_free(r);
    peer_cast(d, id, "erlang", "halt", "[3]");
    char path[256];
    snprintf(path, sizeof path, "/peers/%s", id);
    r = http_until(d, "GET", path, NULL, has_status, &(long){ 410 }, 10000);
    cr_assert_eq(r->status, 410, "%s", r->body);
    const char *tail = jstr(r, "console_tail");
    cr_expect(tail && strstr(tail, "my last words\n"), "the 410 carries the end of the console: %s", r->body);
    resp_free(r);
    snprintf(path, sizeof path, "/peers/%s/console", id);
    r = http(d, "GET", path, NULL);
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect(strstr(r->body, "my last words\n"), "%s", r->body);
    resp_free(r);
    snprintf(path, sizeof path, "/peers/%s/console?follow=1", id);
    r = get_sse(d, path, NULL);
    cr_expect(r->status == 200 && strstr(r->body, "data: my last words"), "followed, it ends at once: %s", r->body);
    resp_free(r);
    free(id);
    peerd_stop(d);
}

Test(lossless, query_numbers_and_flags_out_of_range_are_refused, .timeout = 30)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{}"), console[200], messages[200];
    snprintf(console, sizeof console, "/peers/%s/console?follow=2", id);
    snprintf(messages, sizeof messages, "/peers/%s/messages?link=maybe", id);
    const char *bad[] = { "/events?since=18446744073709551616", "/events?follow=on", "/events?since=abc-1",
                          "/events?since=0123456789abcdef-", "/events?since=0123456789ABCDEF-1", "/events?since=+1",
                          console, messages, NULL };
    for (int i = 0; bad[i]; i++) {
        resp *r = http(d, "GET", bad[i], NULL);
        cr_expect_eq(r->status, 400, "%s: %ld %s", bad[i], r->status, r->body);
        cr_expect(strstr(r->body, "invalid_arg"), "%s", r->body);
        resp_free(r);
    }
    resp *r = get_sse(d, "/events?follow=0", "99999999999999999999");
    cr_expect_eq(r->status, 400, "Last-Event-ID out of range: %s", r->body);
    resp_free(r);
    r = http(d, "GET", "/events?since=18446744073709551615&follow=0", NULL);
    cr_expect_eq(r->status, 200, "the largest number is a number: %s", r->body);
    resp_free(r);
    free(id);
    peerd_stop(d);
}

/* Runs a shell command with `in` on its stdin; returns its stdout. */
static char *filter(const char *cmd, const char *in)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/tmp/peerd-lossless-%d.json", (int)getpid());
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(in, f);
    fclose(f);
    snprintf(line, sizeof line, "%s < %s", cmd, path);
    FILE *p = popen(line, "r");
    cr_assert(p, "%s", line);
    size_t n = 0, cap = strlen(in) * 2 + 64;
    char *out = calloc(1, cap);
    size_t k;
    while ((k = fread(out + n, 1, cap - n - 1, p)) > 0) n += k;
    cr_assert_eq(pclose(p), 0, "%s failed on %s", cmd, in);
    unlink(path);
    while (n && out[n - 1] == '\n') out[--n] = 0;
    return out;
}

/* What a result's `value` is after JavaScript and jq have read and written
 * it is still the same term: sent back, it is =:= to the original. */
Test(lossless, values_survive_javascript_and_jq, .timeout = 120)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{}");
    const char *terms[] = { "3.0", "-0.0", "0.0", "1.0e300", "-2.0e22", "0.1", "2.5e-320", "4503599627370495.5",
                            "9007199254740991", "9007199254740993", "-9007199254740993", "123456789012345678901234567890",
                            "[1.5, 2.0, -0.0, 7]", "#{<<\"f\">> => 3.0, <<\"n\">> => 18446744073709551616}", "{1.0e-10, 1.0}", NULL };
    const char *tools[] = { "jq -c .", "node -e 'process.stdout.write(JSON.stringify(JSON.parse(require(\"fs\").readFileSync(0, \"utf8\"))))'", NULL };
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/call", id);
    for (int i = 0; terms[i]; i++) {
        cJSON *req = cJSON_CreateObject();
        cJSON_AddStringToObject(req, "module", "erlang");
        cJSON_AddStringToObject(req, "function", "element");
        char args[256];
        snprintf(args, sizeof args, "[1, {%s}]", terms[i]);
        cJSON_AddStringToObject(req, "args", args);
        char *body = cJSON_PrintUnformatted(req);
        resp *r = http(d, "POST", path, body);
        cr_assert_eq(r->status, 200, "%s: %s", terms[i], r->body);
        /* The value's text as peerd wrote it (cJSON would round it as a tool does). */
        const char *v = strstr(r->body, ",\"value\":");
        cr_assert(v && r->body[r->len - 1] == '}', "%s", r->body);
        char *value = strndup(v + 9, (size_t)(r->body + r->len - 1 - (v + 9)));
        resp_free(r);
        cJSON_free(body);
        cJSON_Delete(req);
        for (int t = 0; tools[t]; t++) {
            char *back = filter(tools[t], value);
            size_t n = strlen(back) + strlen(terms[i]) * 2 + 200;
            char *call_body = malloc(n), *quoted;
            cJSON *s = cJSON_CreateString(terms[i]);
            quoted = cJSON_PrintUnformatted(s);
            snprintf(call_body, n, "{\"module\":\"erlang\",\"function\":\"=:=\",\"args\":[%s,{\"$term\":%s}]}", back, quoted);
            r = http(d, "POST", path, call_body);
            cr_expect(r->status == 200 && !strcmp(jstr(r, "result"), "true"), "%s: value %s through `%.7s` is %s, which is not =:= to it: %s",
                      terms[i], value, tools[t], back, r->body);
            resp_free(r);
            cJSON_free(quoted);
            cJSON_Delete(s);
            free(call_body);
            free(back);
        }
        free(value);
    }
    free(id);
    peerd_stop(d);
}

/* A pid of another node prints as erl prints it on the peer (<N.ID.SERIAL>,
 * N the peer's own number for that node) in results, values and messages;
 * as text it cannot be sent back (N is not the node), as $etf it can. */
Test(lossless, identifiers_of_other_nodes_print_as_erl_prints_them, .timeout = 90)
{
    peerd *d = peerd_start(NULL);
    char opts[128], args[256];
    char bname[64];
    snprintf(bname, sizeof bname, "%s", unique_name("other"));
    snprintf(opts, sizeof opts, "{\"name\":\"%s\"}", unique_name("here"));
    char *a = start_peer(d, opts);
    snprintf(opts, sizeof opts, "{\"name\":\"%s\"}", bname);
    char *b = start_peer(d, opts);
    char path[256];
    snprintf(path, sizeof path, "/peers/%s", b);
    resp *r = http(d, "GET", path, NULL);
    char bnode[128];
    snprintf(bnode, sizeof bnode, "%s", jstr(r, "node"));
    resp_free(r);

    snprintf(args, sizeof args, "\"['%s', erlang, whereis, [init]]\"", bnode);
    r = call(d, a, "rpc", "call", args);
    cr_assert_eq(r->status, 200, "%s", r->body);
    char result[64];
    snprintf(result, sizeof result, "%s", jstr(r, "result"));
    cr_expect(strncmp(result, "<0.", 3) && !strcmp(result + strcspn(result, "."), ".0.0>"), "init of the other node: %s", result);
    const char *v = strstr(r->body, ",\"value\":");
    char *value = strndup(v + 9, (size_t)(r->body + r->len - 1 - (v + 9)));
    resp_free(r);
    /* What erl itself prints for it, on that peer. */
    snprintf(args, sizeof args, "[%s]", value);
    r = call(d, a, "erlang", "pid_to_list", args);
    cr_expect_eq(r->status, 200, "the value goes back as it came: %s", r->body);
    char want[80];
    snprintf(want, sizeof want, "\"%s\"", result);
    cr_expect_str_eq(jstr(r, "result"), want, "peerd prints what erl prints");
    resp_free(r);
    /* Its text is refused, pointing to $etf. */
    snprintf(args, sizeof args, "\"[%s]\"", result);
    r = call(d, a, "erlang", "is_pid", args);
    cr_expect(r->status == 400 && strstr(r->body, "$etf"), "%s", r->body);
    resp_free(r);

    /* A message naming it: the same text. */
    snprintf(path, sizeof path, "/peers/%s/send", a);
    char body[512];
    snprintf(body, sizeof body, "{\"to\":\"user\",\"message\":{\"$tuple\":[{\"$atom\":\"message\"},{\"$atom\":\"inbox\"},[%s]]}}", value);
    r = http(d, "POST", path, body);
    cr_expect_eq(r->status, 202, "%s", r->body);
    resp_free(r);
    snprintf(path, sizeof path, "/peers/%s/messages?follow=1", a);
    const char *out = "/tmp/peerd-lossless-names.out";
    pid_t c = curl_spawn(d, path, out, NULL);
    snprintf(want, sizeof want, "\"result\":\"[%s]\"", result);
    cr_expect(file_has(out, want, 5000), "the message prints it as erl does");
    kill(c, SIGKILL);
    child_wait(c, 5000);
    unlink(out);

    /* In a reply of 1.4 MB (walked for identifiers off the loop), on a
     * peer that has not named that node yet: the same form. */
    snprintf(opts, sizeof opts, "{\"name\":\"%s\"}", unique_name("third"));
    char *third = start_peer(d, opts);
    snprintf(path, sizeof path, "/peers/%s/eval", third);
    snprintf(body, sizeof body, "{\"expr\":\"{rpc:call('%s', erlang, whereis, [init]), lists:duplicate(700000, 1)}.\"}", bnode);
    r = http(d, "POST", path, body);
    cr_assert_eq(r->status, 200, "%.300s", r->body);
    const char *big = jstr(r, "result");
    cr_assert(big && strlen(big) > 1400000, "the whole list came back");
    char *pid = strndup(big + 1, strcspn(big + 1, ","));
    cr_expect(pid[0] == '<' && strncmp(pid, "<0.", 3) && pid[1] >= '1' && pid[1] <= '9' && !strcmp(pid + strcspn(pid, "."), ".0.0>"),
              "init of the other node, numbered: %s", pid);
    free(pid);
    resp_free(r);
    free(third);
    free(value);
    free(a);
    free(b);
    peerd_stop(d);
}

/* A follower that keeps reading, but slower than the node prints, loses
 * nothing: the node's output waits for it (16 MB through a 256 KiB ring to
 * a client reading 3 MB/s). */
Test(lossless, a_follower_slower_than_the_node_loses_nothing, .timeout = 90)
{
    const char *extra[] = { "--console-buffer", "256K", NULL };
    peerd *d = peerd_start(extra);
    char *id = start_peer(d, "{}");
    char path[256], *inc = incarnation_of(d, id);
    snprintf(path, sizeof path, "/peers/%s/console?follow=1&since=%s-0", id, inc);
    free(inc);
    const char *out = "/tmp/peerd-lossless-slow.out";
    const char *args[] = { "--limit-rate", "3M", NULL };
    pid_t c = curl_spawn(d, path, out, args);
    usleep(300 * 1000);
    node_eval(d, id, "B = binary:copy(<<\"x\">>, 65536), [io:put_chars(user, B) || _ <- lists:seq(1, 256)], io:put_chars(user, <<\"end\\n\">>)", true);
    cr_assert(file_has(out, "end\n", 60000), "the end of the output arrived");
    kill(c, SIGKILL);
    child_wait(c, 5000);
    size_t n = 0;
    char *got = slurp(out, &n);
    cr_expect_null(strstr(got, "missed"), "no missed marker");
    size_t xs = 0;
    for (size_t i = 0; i < n; i++) xs += got[i] == 'x';
    cr_expect_eq(xs, (size_t)256 * 65536, "every byte the node printed: %zu", xs);
    free(got);
    unlink(out);
    free(id);
    peerd_stop(d);
}

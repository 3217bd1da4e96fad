/*
 * streams.c — console and messages followed live (chunked, SSE),
 * the event feed, streams cut by peer_down and linked to their peer,
 * fan-out to 100 followers, a follower behind the ring, large messages — against real nodes, with real curl where a
 * user would use it.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static char *out_file(const char *tag)
{
    static char path[8][128];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 128, "/tmp/peerd-stream-%d-%s.out", (int)getpid(), tag);
    return p;
}

static void print_on_node(peerd *d, const char *id, const char *fmt_args)
{
    char args[512];
    snprintf(args, sizeof args, "\"[user, %s]\"", fmt_args);
    resp *r = call(d, id, "io", "format", args);
    cr_assert_eq(r->status, 200, "%s", r->body);
    resp_free(r);
}

Test(streams, curl_follows_the_console_until_the_peer_stops, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{}");
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/console?follow=1", id);
    const char *out = out_file("follow");
    pid_t curl = curl_spawn(d, path, out, NULL);
    for (int i = 0; i < 3; i++) {
        char a[64];
        snprintf(a, sizeof a, "\\\"tick~p~n\\\", [%d]", i);
        print_on_node(d, id, a);
    }
    cr_expect(file_has(out, "tick2\n", 5000), "the follower saw the ticks as they came");
    delete_peer(d, id);
    cr_expect_eq(child_wait(curl, 10000), 0, "curl ends with exit 0 once the peer is down");
    char *got = slurp(out, NULL);
    cr_expect_str_eq(got, "tick0\ntick1\ntick2\n");
    free(got);
    unlink(out);
    free(id);
    peerd_stop(d);
}

/* The data of an SSE stream, joined, and the last id seen. */
static char *sse_data(const char *raw, char *last_id, size_t idlen)
{
    size_t cap = strlen(raw) + 1, n = 0;
    char *data = calloc(1, cap);
    const char *p = raw;
    bool first_line = true;
    while (*p) {
        const char *eol = strchr(p, '\n');
        if (!eol) break;   /* a partial line: the event is not complete */
        size_t len = (size_t)(eol - p);
        if (len == 0) first_line = true;   /* end of event */
        else if (!strncmp(p, "data: ", 6)) {
            if (!first_line) data[n++] = '\n';
            memcpy(data + n, p + 6, len - 6);
            n += len - 6;
            first_line = false;
        } else if (!strncmp(p, "id: ", 4) && last_id) {
            snprintf(last_id, idlen, "%.*s", (int)(len - 4), p + 4);
        }
        p = eol + 1;
    }
    data[n] = 0;
    return data;
}

Test(streams, sse_resumes_from_last_event_id_losing_and_repeating_nothing, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{}");
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/console?follow=1", id);
    const char *sse[] = { "-H", "Accept: text/event-stream", NULL };
    const char *out1 = out_file("sse1");
    pid_t c1 = curl_spawn(d, path, out1, sse);
    print_on_node(d, id, "\\\"a~nb~n\\\", []");
    print_on_node(d, id, "\\\"partial\\\", []");
    cr_assert(file_has(out1, "data: partial", 5000));
    kill(c1, SIGKILL);
    child_wait(c1, 5000);
    char last_id[32] = "";
    char *raw1 = slurp(out1, NULL);
    char *part1 = sse_data(raw1, last_id, sizeof last_id);
    cr_assert(last_id[0], "events carry ids: %s", raw1);
    print_on_node(d, id, "\\\" line~nc~n\\\", []");
    char header[64];
    snprintf(header, sizeof header, "Last-Event-ID: %s", last_id);
    const char *resume[] = { "-H", "Accept: text/event-stream", "-H", header, NULL };
    const char *out2 = out_file("sse2");
    pid_t c2 = curl_spawn(d, path, out2, resume);
    cr_assert(file_has(out2, "data: c", 5000));
    delete_peer(d, id);
    cr_expect_eq(child_wait(c2, 10000), 0);
    char *raw2 = slurp(out2, NULL);
    char *part2 = sse_data(raw2, NULL, 0);
    size_t n1 = strlen(part1), n2 = strlen(part2);
    char *all = malloc(n1 + n2 + 1);
    memcpy(all, part1, n1);
    memcpy(all + n1, part2, n2 + 1);
    cr_expect_str_eq(all, "a\nb\npartial line\nc\n", "first stream + resumed stream = the console, once");
    snprintf(path, sizeof path, "/peers/%s", id);
    free(all); free(raw1); free(raw2); free(part1); free(part2);
    unlink(out1); unlink(out2);
    free(id);
    peerd_stop(d);
}

Test(streams, peer_down_crash_cuts_linked_streams, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{\"peer_down\":\"crash\"}");
    print_on_node(d, id, "\\\"ready~n\\\", []");
    char linked[256], plain[256];
    snprintf(linked, sizeof linked, "/peers/%s/console?follow=1&link=1", id);
    snprintf(plain, sizeof plain, "/peers/%s/console?follow=1", id);
    const char *o1 = out_file("crash1"), *o2 = out_file("crash2");
    pid_t c1 = curl_spawn(d, linked, o1, NULL), c2 = curl_spawn(d, plain, o2, NULL);
    cr_assert(file_has(o1, "ready", 5000) && file_has(o2, "ready", 5000));
    peer_cast(d, id, "erlang", "halt", "[3]");
    cr_expect_neq(child_wait(c1, 10000), 0, "a linked stream is cut off without a clean end");
    cr_expect_eq(child_wait(c2, 10000), 0, "an unlinked stream ends cleanly");
    resp *r = wait_state(d, id, "down", 5000);
    cr_expect_eq(r->status, 200);
    cr_expect_str_eq(jstr(r, "down_reason"), "{exit_status,3}");
    resp_free(r);
    r = http(d, "GET", "/events?follow=0", NULL);
    cr_expect(strstr(r->body, "\"type\":\"crashed\""), "%s", r->body);
    resp_free(r);
    unlink(o1); unlink(o2);
    free(id);
    peerd_stop(d);
}

Test(streams, killing_a_linked_curl_stops_its_peer, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{}");
    print_on_node(d, id, "\\\"ready~n\\\", []");
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/console?follow=1&link=1", id);
    const char *out = out_file("link");
    pid_t c = curl_spawn(d, path, out, NULL);
    cr_assert(file_has(out, "ready", 5000));
    kill(c, SIGKILL);
    child_wait(c, 5000);
    resp *r = wait_state(d, id, "down", 10000);
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(jstr(r, "down_reason"), "link_closed");
    resp_free(r);
    unlink(out);
    free(id);
    peerd_stop(d);
}

Test(streams, messages_follow_and_events_replay, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{}");
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/messages?follow=1&to=inbox", id);
    const char *out = out_file("msgs");
    pid_t c = curl_spawn(d, path, out, NULL);
    peer_cast(d, id, "erlang", "send", "\"[user, {message, other, skipped}]\"");
    peer_cast(d, id, "erlang", "send", "\"[user, {message, inbox, done}]\"");
    cr_expect(file_has(out, "\"done\"", 5000));
    delete_peer(d, id);
    cr_expect_eq(child_wait(c, 10000), 0);
    char *got = slurp(out, NULL);
    cr_expect(strstr(got, "\"to\":\"inbox\",\"result\":\"done\"") && !strstr(got, "skipped"), "%s", got);
    free(got);
    unlink(out);
    /* Every change of this peer, replayed from the start. */
    resp *r = http(d, "GET", "/events?since=0&follow=0", NULL);
    cr_expect_str_eq(r->ctype, "application/x-ndjson");
    const char *types[] = { "created", "booted", "stopped", "removed" };
    const char *at = r->body;
    for (int i = 0; i < 4; i++) {
        char want[64];
        snprintf(want, sizeof want, "\"type\":\"%s\"", types[i]);
        at = strstr(at, want);
        cr_expect(at, "event %s in order: %s", types[i], r->body);
        if (!at) break;
    }
    resp_free(r);
    r = http(d, "GET", "/events?since=3&follow=0", NULL);
    cr_expect(!strstr(r->body, "\"seq\":3,") && strstr(r->body, "\"seq\":4,"), "since skips what was seen: %s", r->body);
    resp_free(r);
    free(id);
    peerd_stop(d);
}

/* ---- 100 followers ---- */

#define FOLLOWERS 100
#define LINES 5000

typedef struct { char *data; size_t len; } sink;

static size_t sink_write(char *p, size_t size, size_t n, void *ud)
{
    sink *s = ud;
    s->data = realloc(s->data, s->len + size * n + 1);
    memcpy(s->data + s->len, p, size * n);
    s->len += size * n;
    return size * n;
}

typedef struct { CURLM *multi; volatile int still; } fanout;

static void *pump(void *arg)
{
    fanout *f = arg;
    int running = 1;
    while (running) {
        curl_multi_perform(f->multi, &running);
        f->still = running;
        curl_multi_poll(f->multi, NULL, 0, 100, NULL);
    }
    f->still = 0;
    return NULL;
}

Test(streams, one_hundred_followers_of_a_chatty_node_get_every_byte, .timeout = 120)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{}");
    char url[256];
    snprintf(url, sizeof url, "%s/peers/%s/console?follow=1", d->base, id);
    fanout f = { curl_multi_init(), 1 };
    static sink sinks[FOLLOWERS];
    CURL *easy[FOLLOWERS];
    for (int i = 0; i < FOLLOWERS; i++) {
        sinks[i] = (sink){0};
        easy[i] = curl_easy_init();
        curl_easy_setopt(easy[i], CURLOPT_URL, url);
        curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, sink_write);
        curl_easy_setopt(easy[i], CURLOPT_WRITEDATA, &sinks[i]);
        curl_multi_add_handle(f.multi, easy[i]);
    }
    pthread_t t;
    pthread_create(&t, NULL, pump, &f);
    /* The node prints LINES lines itself, as fast as it can. */
    char code[128];
    snprintf(code, sizeof code, "[io:format(user, \"line ~6..0B~n\", [I]) || I <- lists:seq(1, %d)], ok", LINES);
    node_eval(d, id, code, true);
    resp *r = NULL;
    for (int i = 0; i < 600; i++) {   /* until the last line is in the console */
        char path[256];
        snprintf(path, sizeof path, "/peers/%s/console?since=%d", id, (LINES - 1) * 12);
        resp_free(r);
        r = http(d, "GET", path, NULL);
        if (r->len == 12) break;
        usleep(50000);
    }
    cr_expect_eq(r->len, 12, "the node printed everything");
    resp_free(r);
    delete_peer(d, id);
    pthread_join(t, NULL);
    size_t want_len = (size_t)LINES * 12;
    char *want = malloc(want_len + 1);
    for (int i = 1; i <= LINES; i++) sprintf(want + (size_t)(i - 1) * 12, "line %06d\n", i);
    int complete = 0;
    for (int i = 0; i < FOLLOWERS; i++) {
        long code_ = 0;
        curl_easy_getinfo(easy[i], CURLINFO_RESPONSE_CODE, &code_);
        if (code_ == 200 && sinks[i].len == want_len && !memcmp(sinks[i].data, want, want_len)) complete++;
        else cr_log_error("follower %d: HTTP %ld, %zu bytes of %zu", i, code_, sinks[i].len, want_len);
        curl_multi_remove_handle(f.multi, easy[i]);
        curl_easy_cleanup(easy[i]);
        free(sinks[i].data);
    }
    cr_expect_eq(complete, FOLLOWERS, "every follower got every byte, in order");
    curl_multi_cleanup(f.multi);
    free(want);
    free(id);
    peerd_stop(d);
}

/* A follower slower than the node falls behind a small ring: it is told how
 * many bytes it missed, and what it got plus what it missed is everything. */
Test(streams, a_follower_behind_the_ring_is_told_what_it_missed, .timeout = 90)
{
    const char *args[] = { "--console-buffer", "16K", NULL };
    peerd *d = peerd_start(args);
    char *id = start_peer(d, "{}");
    print_on_node(d, id, "\\\"ready~n\\\", []");
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/console?follow=1", id);
    const char *out = out_file("slow");
    const char *slow[] = { "--limit-rate", "200k", NULL };
    pid_t c = curl_spawn(d, path, out, slow);
    cr_assert(file_has(out, "ready", 5000));
    resp *r = node_eval(d, id, "[io:put_chars(user, binary:copy(<<\"x\">>, 100000)) || _ <- lists:seq(1, 10)], ok", false);
    cr_assert_eq(r->status, 200, "%s", r->body);
    resp_free(r);
    delete_peer(d, id);
    cr_expect_eq(child_wait(c, 60000), 0);
    char *got = slurp(out, NULL);
    size_t xs = 0, missed = 0, markers = 0;
    for (const char *p = got; *p; p++) {
        if (*p == 'x') { xs++; continue; }
        unsigned long long n;
        if (*p == '[' && sscanf(p, "[peerd: %llu bytes of console output missed here]", &n) == 1) {
            missed += n;
            markers++;
            p = strchr(p, ']');
        }
    }
    cr_expect_gt(markers, 0, "the slow follower was told it missed output");
    cr_expect_eq(xs + missed, 1000000, "received %zu + missed %zu", xs, missed);
    free(got);
    unlink(out);
    free(id);
    peerd_stop(d);
}

/* A message over 32 KiB comes as its external term format only ($etf),
 * which goes back to the node as the same term; one over 16 MiB comes as
 * its size; the small one after both comes as usual, in order. */
Test(streams, large_messages_come_as_etf_and_huge_ones_as_their_size, .timeout = 90)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{}");
    node_eval(d, id, "user ! {message, inbox, {big, lists:seq(1, 20000)}}, "
                     "user ! {message, inbox, binary:copy(<<\"z\">>, 17000000)}, user ! {message, inbox, small}", true);
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/messages", id);
    resp *r = http_until(d, "GET", path, NULL, has_text, "\"result\":\"small\"", 10000);
    cr_assert(r->body && strstr(r->body, "\"result\":\"small\""), "%.300s", r->body);
    char *nl1 = strchr(r->body, '\n'), *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
    cr_assert(nl2, "three lines");
    *nl1 = *nl2 = 0;
    cJSON *big = cJSON_Parse(r->body), *huge = cJSON_Parse(nl1 + 1);
    cr_assert(big && huge);
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(big, "result")), "no text for a large message");
    cJSON *etf = cJSON_GetObjectItem(cJSON_GetObjectItem(big, "value"), "$etf");
    cr_assert(cJSON_IsString(etf), "the value is {\"$etf\": ...}");
    cr_expect_eq(cJSON_GetObjectItem(huge, "dropped_bytes")->valuedouble, 17000005.0);
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(huge, "value")));
    /* The $etf goes back to the node as the term it was. */
    size_t blen = strlen(etf->valuestring) + 200;
    char *body = malloc(blen);
    snprintf(body, blen, "{\"module\":\"erlang\",\"function\":\"phash2\",\"args\":[{\"$etf\":\"%s\"}]}", etf->valuestring);
    snprintf(path, sizeof path, "/peers/%s/call", id);
    resp *a = http(d, "POST", path, body);
    snprintf(path, sizeof path, "/peers/%s/eval", id);
    resp *b = http(d, "POST", path, "{\"expr\":\"erlang:phash2({big, lists:seq(1, 20000)}).\"}");
    cr_expect_eq(a->status, 200, "%.200s", a->body);
    cr_expect_str_eq(jstr(a, "result"), jstr(b, "result"), "the same term");
    resp_free(a);
    resp_free(b);
    free(body);
    cJSON_Delete(big);
    cJSON_Delete(huge);
    resp_free(r);
    delete_peer(d, id);
    free(id);
    peerd_stop(d);
}

/* A large message reaches followers in pieces of a stream's room (no turn
 * encodes all of it), and whole: the NDJSON line and the SSE data line are
 * the snapshot's line byte for byte, and the small message after it
 * follows in order. */
Test(streams, a_large_message_follows_whole_in_pieces, .timeout = 90)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{}");
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/messages?follow=1", id);
    const char *out = out_file("large"), *sse_out = out_file("large-sse");
    const char *sse[] = { "-H", "Accept: text/event-stream", NULL };
    pid_t c = curl_spawn(d, path, out, NULL), cs = curl_spawn(d, path, sse_out, sse);
    usleep(300000);
    /* About 2 MB of ETF: 2.7 MB of base64, ten pieces and more. */
    node_eval(d, id, "user ! {message, inbox, {big, lists:seq(1, 400000)}}, user ! {message, inbox, small}", true);
    cr_assert(file_has(out, "\"result\":\"small\"", 20000), "the follower got both");
    cr_assert(file_has(sse_out, "\"result\":\"small\"", 20000), "the SSE follower got both");
    snprintf(path, sizeof path, "/peers/%s/messages", id);
    resp *r = http(d, "GET", path, NULL);
    char *nl = strchr(r->body, '\n');
    cr_assert(nl);
    size_t len = (size_t)(nl - r->body) + 1;
    cr_assert_gt(len, 2000000, "a large message: %zu bytes", len);
    size_t n;
    char *got = slurp(out, &n);
    cr_expect(n > len && !memcmp(got, r->body, len), "the followed line is the snapshot's");
    cr_expect(strstr(got + len, "\"result\":\"small\""), "then the small one");
    free(got);
    got = slurp(sse_out, &n);
    char head[128];
    int k = snprintf(head, sizeof head, "event: message\nid: ");
    cr_assert(n > len && !strncmp(got, head, (size_t)k), "%.100s", got);
    char *data = strstr(got, "\ndata: ");
    cr_assert(data);
    data += 7;
    cr_expect(!memcmp(data, r->body, len - 1) && !memcmp(data + len - 1, "\n\n", 2), "the SSE data line is the snapshot's line");
    cr_expect(strstr(data + len, "event: message\n") && strstr(data + len, "\"result\":\"small\""), "then the small one");
    free(got);
    resp_free(r);
    delete_peer(d, id);
    child_wait(c, 10000);
    child_wait(cs, 10000);
    unlink(out);
    unlink(sse_out);
    free(id);
    peerd_stop(d);
}

/* Reads a raw response into got (cap bytes, NUL-terminated) until `until`
 * has come, the connection ends, or nothing comes for 10 s; returns its length. */
static size_t recv_until(int fd, char *got, size_t cap, const char *until)
{
    size_t n = 0, k = strlen(until);
    got[0] = 0;
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 10000) <= 0) break;
        ssize_t m = recv(fd, got + n, cap - n - 1, 0);
        if (m <= 0) break;
        size_t from = n > k ? n - k : 0;       /* `until` may straddle two reads */
        n += (size_t)m;
        got[n] = 0;
        if (strstr(got + from, until)) break;
    }
    return n;
}

/* The body of a chunked response read raw (headers, then chunks), joined. */
static size_t dechunk(const char *raw, size_t len, char *out)
{
    const char *s = strstr(raw, "\r\n\r\n"), *end = raw + len;
    size_t n = 0;
    for (s = s ? s + 4 : end; s < end;) {
        char *after;
        unsigned long k = strtoul(s, &after, 16);
        if (after == s || after + 2 > end || (size_t)(end - after - 2) < k) break;
        memcpy(out + n, after + 2, k);
        n += k;
        s = after + 2 + k + 2;
    }
    out[n] = 0;
    return n;
}

/* A follower that stopped reading halfway through a large message, which
 * then leaves the log with the next five (10,005 newer ones): the follower
 * holds it and gets it whole, then the marker for the five, then the rest. */
Test(streams, a_large_message_leaving_the_log_midway_still_reaches_its_follower, .timeout = 120)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{}");
    int fd = peerd_connect(d, 4096);
    char req[256];
    int k = snprintf(req, sizeof req, "GET /peers/%s/messages?follow=1 HTTP/1.1\r\nHost: x\r\n\r\n", id);
    cr_assert_eq(send(fd, req, (size_t)k, 0), k);
    usleep(300000);
    /* 12 MB of ETF, 16 MB of base64: far more than the socket buffers hold. */
    node_eval(d, id, "user ! {message, inbox, binary:copy(<<\"z\">>, 12000000)}", true);
    usleep(500000);
    node_eval(d, id, "[user ! {message, inbox, N} || N <- lists:seq(1, 10005)], ok", false);   /* a call: they are all in when it answers */
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/messages?since=9995", id);
    resp *r = http_until(d, "GET", path, NULL, has_text, "\"result\":\"10005\"", 10000);
    cr_assert(r->body && strstr(r->body, "\"result\":\"10005\""), "the node's messages came: %.200s", r->body);
    resp_free(r);
    /* Now read: until the last one. */
    size_t cap = 40 << 20;
    char *got = malloc(cap), *body = malloc(cap);
    size_t n = recv_until(fd, got, cap, "\"result\":\"10005\"");
    close(fd);
    size_t len = dechunk(got, n, body);
    /* The large one: head, then the base64 of 131, 109, <<12000000:32>> and
     * 12,000,000 z ("enp6" for each zzz). */
    const char *line_end = memchr(body, '\n', len);
    cr_assert(line_end, "a first line: %zu bytes", len);
    const char *b64 = strstr(body, "\"g20AtxsA");
    cr_assert(b64 && b64 < line_end, "the large message first: %.200s", body);
    b64++;
    size_t b64_len = (size_t)(line_end - b64) - 3;        /* "}} before the newline */
    bool whole = b64_len == 16000008 && !memcmp(line_end - 3, "\"}}", 3);
    for (size_t i = 8; whole && i < b64_len; i += 4) whole = !memcmp(b64 + i, "enp6", 4);
    cr_expect(whole, "the 12 MB message whole: %zu base64 bytes", b64_len);
    cr_expect(!strncmp(line_end + 1, "{\"missed\":5}\n", 13), "then the 5 that left the log with it: %.60s", line_end + 1);
    cr_expect(strstr(line_end, "\"result\":\"10005\""), "then the newest");
    free(got);
    free(body);
    r = http(d, "GET", "/healthz", NULL);
    cr_expect_eq(r->status, 200);
    resp_free(r);
    r = call(d, id, "erlang", "abs", "[-3]");
    cr_expect_str_eq(jstr(r, "result"), "3", "%s", r->body);
    resp_free(r);
    delete_peer(d, id);
    free(id);
    peerd_stop(d);
}

/* ms an expression takes to run on the node (a call: it waits). */
static double timed_eval(peerd *d, const char *id, const char *code)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    resp *r = node_eval(d, id, code, false);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_expect_eq(r->status, 200, "%s", r->body);
    resp_free(r);
    return (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
}

/* A snapshot is a copy of the ring being read, not a reader the node writes
 * to: one that is not read holds the node's output back not at all (a
 * follower that lags would, 2 s), and where the node overwrote what it had
 * not sent yet, it says so with the missed marker. */
Test(streams, a_snapshot_read_slowly_holds_nothing_back, .timeout = 120)
{
    const char *opts[] = { "--console-buffer", "16M", NULL };
    peerd *d = peerd_start(opts);
    char *id = start_peer(d, "{}");
    /* How long 32 MiB take to print, 8 KiB a write, with no reader. */
    const char *print = "B = binary:copy(<<\"b\">>, 8192), [io:put_chars(user, B) || _ <- lists:seq(1, 4096)], ok";
    double base_ms = timed_eval(d, id, print);
    /* Then a full 16 MiB ring: far more than the snapshot's stream and the
     * sockets' buffers take at once. */
    node_eval(d, id, "B = binary:copy(<<\"a\">>, 1048576), [io:put_chars(user, B) || _ <- lists:seq(1, 16)], ok", false);
    int fd = peerd_connect(d, 4096);
    char req[256];
    int k = snprintf(req, sizeof req, "GET /peers/%s/console HTTP/1.1\r\nHost: x\r\n\r\n", id);
    cr_assert_eq(send(fd, req, (size_t)k, 0), k);
    usleep(300000);
    /* 32 MiB more, 8 KiB a write, while the snapshot is not read. */
    double ms = timed_eval(d, id, print);
    cr_log_info("streams: 32 MiB printed in %.0f ms, %.0f ms beside an unread snapshot", base_ms, ms);
    cr_expect_lt(ms, base_ms + 1000, "the node printed 32 MiB in %.0f ms (%.0f alone), not held back for the snapshot (a hold is 2000 ms)",
                 ms, base_ms);
    size_t cap = 40 << 20;
    char *got = malloc(cap), *body = malloc(cap);
    size_t n = recv_until(fd, got, cap, "\r\n0\r\n\r\n");     /* the last chunk */
    close(fd);
    cr_expect(strstr(got, "X-Console-End: 50331648\r\n"), "the snapshot ends where the console was: %.300s", got);
    size_t len = dechunk(got, n, body);
    const char *marker = strstr(body, "\n[peerd: ");
    cr_expect(marker && strstr(marker, " bytes of console output missed here]\n"), "what was overwritten is marked");
    /* Around the markers only what was there when it was asked: a's. */
    size_t as = 0, other = 0;
    for (size_t i = 0; i < len; i++) {
        if (body[i] == '\n' && !strncmp(body + i, "\n[peerd: ", 9)) {
            const char *e = strstr(body + i, "here]\n");
            if (e) { i = (size_t)(e - body) + 5; continue; }
        }
        if (body[i] == 'a') as++; else other++;
    }
    cr_expect(as > 0 && other == 0, "then the rest of what was there, nothing printed after it was asked: %zu a's, %zu others", as, other);
    free(got);
    free(body);
    delete_peer(d, id);
    free(id);
    peerd_stop(d);
}

/*
 * limits.c — no request can kill a node, cut a byte, or lock peerd out.
 *
 * Each test sends what used to halt a node or change a value on its way, and
 * then proves the node is still the same node (its OS pid answers) and that
 * what arrived is what was sent.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static peerd *d;
static char *id;
static double os_pid;

static void up(void)
{
    d = peerd_start(NULL);
    id = start_peer(d, "{}");
    char path[256];
    snprintf(path, sizeof path, "/peers/%s", id);
    resp *r = http(d, "GET", path, NULL);
    os_pid = jnum(r, "os_pid");
    resp_free(r);
}

static void down(void)
{
    free(id);
    peerd_stop(d);
}

/* The peer is running, with the same OS process as at the start. */
static void node_alive(void)
{
    char path[256];
    snprintf(path, sizeof path, "/peers/%s", id);
    resp *r = http(d, "GET", path, NULL);
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(jstr(r, "state"), "running", "%s", r->body);
    cr_expect_eq(jnum(r, "os_pid"), os_pid, "the node was replaced: %s", r->body);
    resp_free(r);
    r = call(d, id, "erlang", "node", "[]");
    cr_expect_eq(r->status, 200, "the node no longer answers: %s", r->body);
    resp_free(r);
}

/* A call whose result text must be `result`. */
static void call_expect(const char *module, const char *function, const char *args, const char *result)
{
    resp *r = call(d, id, module, function, args);
    cr_expect_str_eq(jstr(r, "result"), result, "%s:%s(%s): %s", module, function, args, r->body);
    resp_free(r);
}

static void expect_error(resp *r, long status, const char *code, const char *detail_part)
{
    cr_expect_eq(r->status, status, "status %ld, want %ld: %s", r->status, status, r->body);
    cr_expect_str_eq(r->ctype, "application/problem+json", "%s", r->body);
    cr_expect_str_eq(jstr(r, "error"), code, "%s", r->body);
    if (detail_part) cr_expect(jstr(r, "detail") && strstr(jstr(r, "detail"), detail_part), "detail should name '%s': %s", detail_part, r->body);
    resp_free(r);
}

static resp *post(const char *what, const char *body)
{
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/%s", id, what);
    return http(d, "POST", path, body);
}

TestSuite(limits, .init = up, .fini = down, .timeout = 90);

/* Out-of-range identifiers, bitstrings, maps and big integers that erl's
 * binary_to_term refuses are refused here, naming where, in every form. */
Test(limits, terms_a_node_cannot_decode_are_refused)
{
    expect_error(call(d, id, "erlang", "node", "\"[<0.32768.0>]\""), 400, "invalid_term", "args[0]: <0.32768.0>: process number 32768");
    expect_error(call(d, id, "erlang", "node", "\"[ok, <0.1.8192>]\""), 400, "invalid_term", "args[1]");
    expect_error(call(d, id, "erlang", "node", "\"[{#Port<0.268435456>}]\""), 400, "invalid_term", "args[0]{1}");
    expect_error(call(d, id, "erlang", "node", "\"[#Ref<0.1.2.3.4>]\""), 400, "invalid_term", "4 words");
    expect_error(call(d, id, "erlang", "node", "\"[#Ref<0.1.2.262144>]\""), 400, "invalid_term", "262144");
    /* $etf: <0.32768.0> of nonode@nohost; a map with a key twice; a bitstring
     * with 0 bits; an atom that is not UTF-8. */
    expect_error(call(d, id, "erlang", "node", "[{\"$etf\":\"g1hkAA1ub25vZGVAbm9ob3N0AACAAAAAAAAAAAAA\"}]"), 400, "invalid_term", "process number 32768");
    expect_error(call(d, id, "erlang", "node", "[{\"$etf\":\"g3QAAAACYQFhAWEBYQI=\"}]"), 400, "invalid_term", "twice");
    expect_error(call(d, id, "erlang", "node", "[{\"$etf\":\"g3cCwIA=\"}]"), 400, "invalid_term", "UTF-8");
    expect_error(post("send", "{\"to\":\"<0.40000.0>\",\"message\":1}"), 400, "invalid_term", "to");
    expect_error(post("send", "{\"to\":\"x\",\"message_text\":\"{<0.1.9000>}\"}"), 400, "invalid_term", "message_text{1}");
    expect_error(post("cast", "{\"module\":\"erlang\",\"function\":\"node\",\"args\":\"[<0.99999.0>]\"}"), 400, "invalid_term", "args[0]");
    node_alive();
    /* The limits themselves go through. */
    call_expect("erlang", "is_pid", "\"[<0.32767.8191>]\"", "true");
    call_expect("erlang", "is_reference", "\"[#Ref<0.1.2.262143>]\"", "true");
    node_alive();
}

/* A NUL inside a string reaches the node byte for byte, or is refused. */
Test(limits, nul_is_carried_or_refused_never_cut)
{
    call_expect("erlang", "iolist_to_binary", "[[\"a\\u0000b\"]]", "<<97,0,98>>");
    call_expect("erlang", "atom_to_list", "[{\"$atom\":\"a\\u0000b\"}]", "[97,0,98]");
    call_expect("erlang", "length", "[{\"$charlist\":\"a\\u0000b\"}]", "3");
    resp *r = call(d, id, "erlang", "byte_size", "[{\"$term\":\"<<\\\"a\\u0000b\\\">>\"}]");
    cr_expect(r->status == 200 || r->status == 400, "%s", r->body);
    if (r->status == 200) cr_expect_str_eq(jstr(r, "result"), "3", "%s", r->body);
    resp_free(r);
    /* The module name is the atom 'erlang\0junk', not erlang. */
    r = post("call", "{\"module\":\"erlang\\u0000junk\",\"function\":\"node\"}");
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect(strstr(r->body, "erlang\\\\000junk") != NULL, "the whole module name reached the node: %s", r->body);
    resp_free(r);
    expect_error(http(d, "POST", "/peers", "{\"name\":\"x\\u0000y\"}"), 400, "invalid_arg", "name");
    expect_error(http(d, "POST", "/peers", "{\"env\":{\"A\":\"x\\u0000y\"}}"), 400, "invalid_arg", "env.A");
    expect_error(http(d, "POST", "/peers", "{\"args\":[\"-s\",\"a\\u0000b\"]}"), 400, "invalid_arg", "args[1]");
    expect_error(call(d, id, "erlang", "node", "[{\"a\\u0000b\":1}]"), 400, "invalid_json", "NUL");
    expect_error(post("call", "{\"module\":\"erlang\",\"function\":\"node\",\"timeout_ms\":\"infinity\\u0000\"}"), 400, "invalid_arg", "timeout_ms");
    /* %00 in the path or the query: refused, and t%00x does not stand for t. */
    char path[256];
    snprintf(path, sizeof path, "/peers/%s%%00whatever", id);
    expect_error(http(d, "DELETE", path, NULL), 400, "invalid_arg", "%00");
    expect_error(http(d, "GET", "/events?since=1%002", NULL), 400, "invalid_arg", "%00");
    /* Decoded once: %2541 is "%41", not "A". */
    snprintf(path, sizeof path, "/peers/%s%%2541", id);
    expect_error(http(d, "GET", path, NULL), 404, "not_found", "%41");
    node_alive();
}

/* Name ! Msg raises when nothing has the name, which halted the node. */
Test(limits, send_to_an_unregistered_name_keeps_the_node)
{
    expect_error(post("send", "{\"to\":\"nobody_here\",\"message\":1}"), 404, "not_registered", "nobody_here");
    node_alive();
    /* A registered name still gets the message, as it was sent. */
    resp *r = node_eval(d, id, "register(box, spawn(fun() -> receive M -> io:format(user, \"box got ~w~n\", [M]) end end))", false);
    cr_expect_eq(r->status, 200, "%s", r->body);
    resp_free(r);
    r = post("send", "{\"to\":\"box\",\"message\":[\"a\\u0000b\",{\"$atom\":\"x\"}]}");
    cr_expect_eq(r->status, 202, "%s", r->body);
    resp_free(r);
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/console", id);
    bool seen = false;
    for (int i = 0; i < 50 && !seen; i++) {
        r = http(d, "GET", path, NULL);
        seen = strstr(r->body, "box got [<<97,0,98>>,x]") != NULL;
        resp_free(r);
        if (!seen) usleep(100000);
    }
    cr_expect(seen, "the registered process got the message byte for byte");
    node_alive();
}

/* ---- connections ---- */

static int connect_from(const char *source, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in src = { .sin_family = AF_INET }, dst = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, source, &src.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&src, sizeof src) < 0 || connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

/* True once the server has closed fd (EOF or reset), waiting up to ms. */
static bool closed_by_server(int fd, int ms)
{
    struct pollfd p = { fd, POLLIN, 0 };
    if (poll(&p, 1, ms) <= 0) return false;
    char c[256];
    return recv(fd, c, sizeof c, MSG_DONTWAIT) <= 0;
}

/* Connections that send half a request and then nothing: past the cap per
 * client address they are refused, and the rest are closed at the request
 * deadline; other clients are served all along. A call parked on the node and
 * a followed console outlive the deadline. */
Test(limits, half_sent_requests_do_not_lock_anyone_out, .timeout = 120)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    const char *opts[] = { "--request-timeout", "2", "--max-conns-per-client", "100", NULL };
    peerd *e = peerd_start(opts);
    char *p = start_peer(e, "{}");
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/console?follow=1", p);
    pid_t follower = curl_spawn(e, path, "/tmp/peerd-limits-follow.out", NULL);

    int n = rl.rlim_cur > 3000 ? 2000 : (int)rl.rlim_cur / 2, open_ = 0;
    int *fds = calloc((size_t)n, sizeof *fds);
    for (int i = 0; i < n; i++) {
        fds[i] = connect_from(i % 2 ? "127.0.0.2" : "127.0.0.3", e->port);
        if (fds[i] >= 0 && send(fds[i], "GET /hea", 8, MSG_NOSIGNAL) == 8) open_++;
    }
    cr_assert(open_ > 150, "could open only %d connections", open_);
    double t0 = now_s();
    resp *r = http(e, "GET", "/healthz", NULL);
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect(now_s() - t0 < 1.5, "GET /healthz took %.2f s behind %d half-sent requests", now_s() - t0, open_);
    resp_free(r);
    /* A call that waits on the node longer than the request deadline. */
    t0 = now_s();
    r = call(e, p, "timer", "sleep", "[3000]");
    cr_expect_eq(r->status, 200, "a parked call is not cut by the request deadline: %s", r->body);
    resp_free(r);
    /* By now (3 s past a 2 s deadline, swept once a second) all are closed. */
    int closed = 0;
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0) { closed += closed_by_server(fds[i], 1500); close(fds[i]); }
    cr_expect_eq(closed, open_, "%d of %d half-sent requests closed", closed, open_);
    free(fds);
    /* The follower is still there and gets what the node prints now. */
    peer_cast(e, p, "io", "format", "[{\"$atom\":\"user\"},\"after the deadline~n\",[]]");
    cr_expect(file_has("/tmp/peerd-limits-follow.out", "after the deadline", 5000), "the followed console outlived the request deadline");
    delete_peer(e, p);
    cr_expect_eq(child_wait(follower, 5000), 0);
    free(p);
    peerd_stop(e);
}

/* Closes every fd[i] that the server has closed (EOF or reset) and sets it
 * to -1, until none has been closed for settle_ms; returns how many were. */
static int reap_closed(int *fds, int n, int settle_ms)
{
    struct pollfd *p = calloc((size_t)n, sizeof *p);
    int closed = 0;
    for (double quiet_since = now_s(); now_s() - quiet_since < settle_ms / 1000.0;) {
        for (int i = 0; i < n; i++) p[i] = (struct pollfd){ fds[i], POLLIN, 0 };
        if (poll(p, (nfds_t)n, 100) <= 0) continue;
        for (int i = 0; i < n; i++) {
            char c;
            if (fds[i] < 0 || !p[i].revents || recv(fds[i], &c, 1, MSG_DONTWAIT) > 0) continue;
            close(fds[i]);
            fds[i] = -1;
            closed++;
            quiet_since = now_s();
        }
    }
    free(p);
    return closed;
}

/* GET /healthz on an open connection: true if it answers 200. */
static bool healthz_on(int fd)
{
    const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    char reply[512] = "";
    if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)) return false;
    struct pollfd p = { fd, POLLIN, 0 };
    return poll(&p, 1, 5000) == 1 && recv(fd, reply, sizeof reply - 1, 0) > 0 && strstr(reply, "HTTP/1.1 200");
}

/* peerd holds 960 HTTP connections at once (libmicrohttpd's select mode
 * takes descriptors below 1024): past that a new one is closed at once and
 * the log says so, those held are served, and one that closes makes room. */
Test(limits, connections_past_960_are_closed_at_once, .timeout = 120)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 1200) cr_skip_test("1000 connections need a descriptor limit above 1200 (%lu)", (unsigned long)rl.rlim_cur);
    const char *opts[] = { "--max-conns-per-client", "2000", NULL };
    peerd *e = peerd_start(opts);
    enum { N = 1000, HELD = 960 };
    int fds[N], opened = 0;
    for (int i = 0; i < N; i++) opened += (fds[i] = connect_from("127.0.0.2", e->port)) >= 0;
    cr_assert_eq(opened, N, "%d of %d connected", opened, N);
    int closed = reap_closed(fds, N, 1500);
    cr_expect_eq(closed, N - HELD, "%d of %d closed at once (%d held)", closed, N, N - closed);
    cr_expect(file_has(e->log, "reached connection limit", 2000), "the log says why (%s)", e->log);
    int late = connect_from("127.0.0.3", e->port);
    cr_expect(late >= 0 && closed_by_server(late, 2000), "one more, from another client, is closed too");
    if (late >= 0) close(late);
    /* The held ones are served: the first, every 97th, the last. */
    int served = 0, tried = 0, last = N - 1;
    while (last > 0 && fds[last] < 0) last--;
    for (int i = 0; i < N; i++) {
        if (fds[i] < 0 || (tried && i % 97 && i != last)) continue;
        tried++;
        served += healthz_on(fds[i]);
    }
    cr_expect_eq(served, tried, "%d of %d held connections served", served, tried);
    /* Ten close: new clients are served again. */
    for (int i = 0, k = 0; i < N && k < 10; i++)
        if (fds[i] >= 0) { close(fds[i]); fds[i] = -1; k++; }
    bool again = false;
    for (int i = 0; i < 50 && !again; i++) {
        int fd = connect_from("127.0.0.3", e->port);
        again = fd >= 0 && healthz_on(fd);
        if (fd >= 0) close(fd);
        if (!again) usleep(100000);
    }
    cr_expect(again, "a new client is served once ten have left");
    for (int i = 0; i < N; i++) if (fds[i] >= 0) close(fds[i]);
    peerd_stop(e);
}

/* --idle-timeout: a kept-alive connection with nothing to do is closed
 * after it; a call parked on its node longer than that is not cut. */
Test(limits, idle_connections_close_and_parked_calls_do_not, .timeout = 60)
{
    const char *opts[] = { "--idle-timeout", "1", NULL };
    peerd *e = peerd_start(opts);
    char *p = start_peer(e, "{}");
    int fd = connect_from("127.0.0.1", e->port);
    cr_assert(fd >= 0 && healthz_on(fd), "a first request on the connection");
    double t0 = now_s();
    cr_expect(closed_by_server(fd, 4000), "the idle connection is closed");
    cr_expect(now_s() - t0 > 0.8, "not before the idle timeout (%.2f s)", now_s() - t0);
    close(fd);
    resp *r = call(e, p, "timer", "sleep", "[2500]");
    cr_expect_eq(r->status, 200, "a call parked 2.5 s under a 1 s idle timeout: %s", r->body);
    resp_free(r);
    delete_peer(e, p);
    free(p);
    peerd_stop(e);
}

/* peerd's descriptors, as /proc shows them: pipes and sockets below 1024,
 * and how many at 1024 and above. */
static void count_fds(pid_t pid, int *low_pipes, int *low_sockets, int *high)
{
    char dir[64], path[400], target[128];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    *low_pipes = *low_sockets = *high = 0;
    DIR *dp = opendir(dir);
    cr_assert(dp);
    for (struct dirent *de; (de = readdir(dp));) {
        if (de->d_name[0] == '.') continue;
        int fd = atoi(de->d_name);
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n <= 0) continue;
        target[n] = 0;
        if (fd >= 1024) (*high)++;
        else if (!strncmp(target, "pipe:", 5)) (*low_pipes)++;
        else if (!strncmp(target, "socket:", 7)) (*low_sockets)++;
    }
    closedir(dp);
}

/* What peerd holds for a node (its pipes, its sockets, a linked stream's
 * watch on the client's socket) sits at descriptor 1024 and above: the
 * numbers below are left to HTTP connections, which select sets hold. */
Test(limits, node_descriptors_leave_the_low_numbers_to_http, .timeout = 120)
{
    peerd *e = peerd_start(NULL);
    resp_free(http(e, "GET", "/healthz", NULL));
    int pipes0, sockets0, high0, pipes, sockets, high;
    usleep(200000);
    count_fds(e->pid, &pipes0, &sockets0, &high0);
    char dist[128];
    snprintf(dist, sizeof dist, "{\"connection\":\"distribution\",\"name\":\"%s\"}", unique_name("fds"));
    char *io = start_peer(e, "{}"), *tcp = start_peer(e, "{\"connection\":0}"), *di = start_peer(e, dist);
    char path[400];
    snprintf(path, sizeof path, "/peers/%s/console?follow=1&link=1", io);
    pid_t follower = curl_spawn(e, path, "/dev/null", NULL);
    usleep(500000);
    for (int i = 0; i < 30; i++) {
        count_fds(e->pid, &pipes, &sockets, &high);
        if (pipes == pipes0 && sockets <= sockets0 + 1 && high >= high0 + 5) break;
        usleep(100000);
    }
    cr_expect_eq(pipes, pipes0, "no pipe of a node below 1024 (%d, %d before)", pipes, pipes0);
    cr_expect_leq(sockets, sockets0 + 1, "below 1024 only the follower's HTTP connection is new (%d sockets, %d before)", sockets, sockets0);
    cr_expect_geq(high, high0 + 5, "stdio's two pipes, the TCP and distribution sockets, the link's watch: %d at 1024 and above, %d before", high, high0);
    kill(follower, SIGTERM);            /* the linked stream ends: its peer is stopped */
    child_wait(follower, 5000);
    delete_peer(e, tcp);
    delete_peer(e, di);
    free(io);
    free(tcp);
    free(di);
    peerd_stop(e);
}

/* A body over the limit sent without waiting for 100 Continue: the 413 is
 * read by the client every time, not a reset. */
Test(limits, oversized_body_gets_its_413)
{
    size_t n = 3u << 20;
    char *body = malloc(n);
    memset(body, '[', n);
    char head[256];
    int hl = snprintf(head, sizeof head, "POST /peers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                         "Content-Length: %zu\r\n\r\n", n);
    int got = 0;
    for (int i = 0; i < 20; i++) {
        int fd = connect_from("127.0.0.1", d->port);
        cr_assert(fd >= 0);
        send(fd, head, (size_t)hl, MSG_NOSIGNAL);
        for (size_t off = 0; off < n;) {
            ssize_t w = send(fd, body + off, n - off, MSG_NOSIGNAL);
            if (w <= 0) break;
            off += (size_t)w;
        }
        char reply[2048] = "";
        size_t rl = 0;
        ssize_t k;
        while (rl < sizeof reply - 1 && (k = recv(fd, reply + rl, sizeof reply - 1 - rl, 0)) > 0) {
            rl += (size_t)k;
            if (strstr(reply, "}")) break;
        }
        got += strstr(reply, "HTTP/1.1 413") && strstr(reply, "too_large");
        close(fd);
    }
    free(body);
    cr_expect_eq(got, 20, "%d of 20 oversized requests read their 413", got);
    node_alive();
}

/* A reply, or an I/O request, over the 64 MiB frame limit is dropped, not
 * held: the call answers 502 reply_too_large, the writer gets an error and
 * the console says what is missing; the node keeps running. Every
 * connection (over distribution the call's reply is read from the head of
 * the packet, the I/O request too). */
Test(limits, messages_over_the_frame_limit_keep_the_node, .timeout = 240)
{
    char dist[128];
    snprintf(dist, sizeof dist, "{\"connection\":\"distribution\",\"name\":\"%s\"}", unique_name("big"));
    const char *opts[] = { "{}", "{\"connection\":0}", dist };
    for (int i = 0; i < 3; i++) {
        char *p = start_peer(d, opts[i]);
        char path[256];
        snprintf(path, sizeof path, "/peers/%s/call", p);
        resp *r = http(d, "POST", path, "{\"module\":\"binary\",\"function\":\"copy\",\"args\":\"[<<\\\"x\\\">>, 70000000]\",\"timeout_ms\":120000}");
        cr_expect_eq(r->status, 502, "%s: %s", opts[i], r->body);
        cr_expect_str_eq(jstr(r, "error"), "reply_too_large", "%s", r->body);
        resp_free(r);
        /* Cast: 140 MB of standard_io nibbles take longer than a call's 5 s. */
        node_eval(d, p, "begin catch io:put_chars(user, binary:copy(<<\"y\">>, 70000000)), io:put_chars(user, \"after\\n\") end", true);
        snprintf(path, sizeof path, "/peers/%s/console", p);
        bool seen = false;
        for (int k = 0; k < 600 && !seen; k++) {
            r = http(d, "GET", path, NULL);
            seen = strstr(r->body, "after\n") != NULL;
            if (seen) cr_expect(strstr(r->body, "an I/O request of 70000"), "%s: %s", opts[i], r->body);
            resp_free(r);
            if (!seen) usleep(100000);
        }
        cr_expect(seen, "%s: the node went on printing after the refused write", opts[i]);
        r = call(d, p, "erlang", "node", "[]");
        cr_expect_eq(r->status, 200, "%s: the node still answers: %s", opts[i], r->body);
        resp_free(r);
        delete_peer(d, p);
        free(p);
    }
}

/*
 * protocol.c — the edges of HTTP itself, sent as raw bytes: HEAD without a
 * body, pipelined requests answered in order, and what malformed or absurd
 * requests get. peerd's own answers are problem+json; the ones libmicrohttpd
 * gives before peerd sees a request (README: "HTTP edges") keep their status
 * and close the connection, and peerd serves the next client all the same.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static peerd *d;

static void setup(void) { d = peerd_start(NULL); }
static void teardown(void) { peerd_stop(d); }

TestSuite(protocol, .init = setup, .fini = teardown, .timeout = 60);

typedef struct { char *p; size_t n; bool closed; } reply;

/* Sends req as it is, then reads until the server closes or has sent
 * nothing for quiet_ms. */
/* A connection to peerd; rcvbuf, if not 0, its receive buffer (set before
 * connecting, so that the window is that small from the start). */
static reply raw(const void *req, size_t len, int quiet_ms)
{
    reply r = { calloc(1, 1), 0, false };
    int fd = peerd_connect(d, 0);
    for (size_t off = 0; off < len;) {
        ssize_t k = send(fd, (const char *)req + off, len - off, MSG_NOSIGNAL);
        if (k <= 0) break;      /* refused midway: read what came */
        off += (size_t)k;
    }
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, quiet_ms) <= 0) break;
        char b[65536];
        ssize_t k = recv(fd, b, sizeof b, 0);
        if (k <= 0) { r.closed = true; break; }
        r.p = realloc(r.p, r.n + (size_t)k + 1);
        memcpy(r.p + r.n, b, (size_t)k);
        r.n += (size_t)k;
        r.p[r.n] = 0;
    }
    close(fd);
    return r;
}

static reply raws(const char *req, int quiet_ms) { return raw(req, strlen(req), quiet_ms); }

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static void still_serving(void)
{
    resp *r = http(d, "GET", "/healthz", NULL);
    cr_expect_eq(r->status, 200, "peerd serves the next client");
    resp_free(r);
}

Test(protocol, head_of_a_stream_has_no_body)
{
    const char *paths[] = { "/events?follow=0", "/events?follow=1" };
    for (int i = 0; i < 2; i++) {
        char req[256];
        snprintf(req, sizeof req, "HEAD %s HTTP/1.1\r\nHost: x\r\n\r\n", paths[i]);
        reply r = raws(req, 1000);
        cr_expect(!strncmp(r.p, "HTTP/1.1 200", 12), "%s: %s", paths[i], r.p);
        cr_expect(strstr(r.p, "Content-Type: application/x-ndjson"), "%s: the headers GET has: %s", paths[i], r.p);
        const char *end = strstr(r.p, "\r\n\r\n");
        cr_expect(end && end + 4 == r.p + r.n, "%s: nothing after the headers: %s", paths[i], r.p);
        cr_expect(r.closed, "%s: the connection ends with the headers", paths[i]);
        free(r.p);
    }
    /* A console, then GET on the same connection: HEAD sent no body the GET
     * could be read as. */
    char *id = start_peer(d, "{}");
    char req[512];
    snprintf(req, sizeof req, "HEAD /peers/%s/console?follow=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", id);
    reply r = raws(req, 1000);
    const char *end = strstr(r.p, "\r\n\r\n");
    cr_expect(end && end + 4 == r.p + r.n, "no chunk terminator, nothing after the headers: %s", r.p);
    free(r.p);
    /* HEAD of a plain resource on a kept-alive connection: both answered. */
    r = raws("HEAD /peers HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 500);
    cr_expect_eq(count(r.p, "HTTP/1.1 200"), 2, "%s", r.p);
    cr_expect_eq(count(r.p, "{\"status\":\"ok\""), 1, "only GET has a body: %s", r.p);
    free(r.p);
    delete_peer(d, id);
    free(id);
}

Test(protocol, pipelined_requests_are_answered_in_order)
{
    char *id = start_peer(d, "{}");
    char req[1024];
    const char *call = "{\"module\":\"erlang\",\"function\":\"abs\",\"args\":[-7]}";
    snprintf(req, sizeof req,
             "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
             "POST /peers/%s/call HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s"
             "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
             "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
             id, strlen(call), call);
    reply r = raws(req, 3000);
    const char *a = strstr(r.p, "HTTP/1.1 200"), *b = a ? strstr(a + 1, "\"result\":\"7\"") : NULL;
    const char *c = b ? strstr(b, "HTTP/1.1 404") : NULL, *e = c ? strstr(c, "HTTP/1.1 200") : NULL;
    cr_expect(a && b && c && e, "four answers in the order asked: %s", r.p);
    cr_expect(c && strstr(c, "application/problem+json"), "the 404 is problem+json");
    cr_expect(r.closed);
    free(r.p);
    delete_peer(d, id);
    free(id);
}

static long cpu_ticks(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    cr_assert(f && fgets(line, sizeof line, f));
    fclose(f);
    long utime = 0, stime = 0;
    const char *p = strrchr(line, ')');
    cr_assert(p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime, &stime) == 2);
    return utime + stime;
}

/* While a call is parked on its node, its client's next request, already
 * sent, waits behind it, and so does a client that has half-closed its
 * connection after its call: neither costs the loop anything (a socket
 * readable while libmicrohttpd does not read it is left unwatched), and
 * both are answered when the call is. */
Test(protocol, requests_behind_a_parked_call_wait_at_no_cost)
{
    char *id = start_peer(d, "{}");
    char req[1024];
    const char *call = "{\"module\":\"timer\",\"function\":\"sleep\",\"args\":[1500]}";
    int n = snprintf(req, sizeof req,
                     "POST /peers/%s/call HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s"
                     "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                     id, strlen(call), call);
    int half = peerd_connect(d, 0);
    const char *end_of_call = strstr(req, "GET /healthz");
    cr_assert(send(half, req, (size_t)(end_of_call - req), MSG_NOSIGNAL) == end_of_call - req);
    shutdown(half, SHUT_WR);
    long t0 = cpu_ticks(d->pid);
    double w0 = now_s();
    reply r = raw(req, (size_t)n, 3000);
    long ticks = cpu_ticks(d->pid) - t0;
    const char *first = strstr(r.p, "HTTP/1.1 200"), *result = first ? strstr(first, "\"result\":\"ok\"") : NULL;
    const char *second = result ? strstr(result, "HTTP/1.1 200") : NULL;
    cr_expect(first && result && second && strstr(second, "\"status\":\"ok\""), "the call, then the request behind it: %s", r.p);
    cr_expect(now_s() - w0 >= 1.4, "the second waited for the first");
    cr_expect_lt(ticks, 30, "peerd used %ld ticks of CPU in the %.1f s the call was parked", ticks, now_s() - w0);
    char got[256] = "";
    struct pollfd p = { half, POLLIN, 0 };
    cr_expect(poll(&p, 1, 3000) == 1 && recv(half, got, sizeof got - 1, 0) > 0 && !strncmp(got, "HTTP/1.1 200", 12),
              "the half-closed client got its answer: %s", got);
    close(half);
    free(r.p);
    delete_peer(d, id);
    free(id);
}

/* A client that stops reading a large answer holds nothing up and costs
 * the loop nothing while it does not read (its socket waits for EPOLLOUT),
 * and then gets every byte. */
Test(protocol, a_reader_that_stalls_costs_nothing_and_gets_everything)
{
    char *id = start_peer(d, "{}");
    char req[1024];
    const char *call = "{\"module\":\"binary\",\"function\":\"copy\",\"args\":[\"x\",8000000],\"timeout_ms\":60000}";
    int n = snprintf(req, sizeof req,
                     "POST /peers/%s/call HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     id, strlen(call), call);
    int fd = peerd_connect(d, 4096);
    cr_assert(send(fd, req, (size_t)n, MSG_NOSIGNAL) == n);
    char head[64];
    struct pollfd p = { fd, POLLIN, 0 };
    cr_assert(poll(&p, 1, 30000) == 1 && recv(fd, head, 12, 0) == 12, "the answer starts");
    cr_expect(!strncmp(head, "HTTP/1.1 200", 12));
    long t0 = cpu_ticks(d->pid);
    usleep(1500000);
    long ticks = cpu_ticks(d->pid) - t0;
    cr_expect_lt(ticks, 20, "peerd used %ld ticks of CPU in 1.5 s its reader did not read", ticks);
    still_serving();
    size_t got = 12, xs = 0;
    char b[65536];
    for (ssize_t k; poll(&p, 1, 5000) == 1 && (k = recv(fd, b, sizeof b, 0)) > 0;) {
        got += (size_t)k;
        for (ssize_t i = 0; i < k; i++) xs += b[i] == 'x';
        if (xs == 16000000) break;
    }
    cr_expect_eq(xs, 16000000, "every byte of the result, as result and as value (%zu bytes read)", got);
    close(fd);
    delete_peer(d, id);
    free(id);
}

/* Bodies that cannot be read: a Content-Length that is not a number, or
 * past any number; a chunk size past any number. libmicrohttpd answers
 * these before peerd sees the request. */
Test(protocol, malformed_lengths_are_refused_and_the_connection_closed)
{
    struct { const char *req, *status; } cases[] = {
        { "POST /peers HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", "HTTP/1.1 400" },
        { "POST /peers HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", "HTTP/1.1 400" },
        { "POST /peers HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", "HTTP/1.1 413" },
        { "POST /peers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n", "HTTP/1.1 413" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        reply r = raws(cases[i].req, 2000);
        cr_expect(!strncmp(r.p, cases[i].status, strlen(cases[i].status)), "%s-> %s", cases[i].req, r.p);
        cr_expect(r.closed, "%s: the connection is closed", cases[i].req);
        free(r.p);
    }
    still_serving();
}

/* A length peerd's route does not take is peerd's own 413, as problem+json. */
Test(protocol, a_body_over_the_limit_is_peerds_413)
{
    reply r = raws("POST /peers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2000000000\r\n"
                   "Expect: 100-continue\r\n\r\n", 2000);
    cr_expect(!strncmp(r.p, "HTTP/1.1 413", 12), "%s", r.p);
    cr_expect(strstr(r.p, "application/problem+json") && strstr(r.p, "\"error\":\"too_large\""), "%s", r.p);
    free(r.p);
    still_serving();
}

Test(protocol, oversized_headers_and_unknown_versions)
{
    size_t n = 100000;
    char *req = malloc(n + 100);
    int k = sprintf(req, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + k, 'a', n);
    strcpy(req + k + n, "\r\n\r\n");
    reply r = raw(req, strlen(req), 2000);
    /* 431 when the client reads it before the close; a reset otherwise. */
    cr_expect(r.n == 0 || !strncmp(r.p, "HTTP/1.1 431", 12), "%s", r.p);
    cr_expect(r.closed || r.n == 0, "the connection is not kept");
    free(r.p);
    free(req);
    r = raws("GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", 2000);
    cr_expect(!strncmp(r.p, "HTTP/1.1 505", 12), "%s", r.p);
    cr_expect(r.closed);
    free(r.p);
    r = raws("GET /healthz HTTP/1.0\r\n\r\n", 2000);
    cr_expect(strstr(r.p, " 200 ") && strstr(r.p, "{\"status\":\"ok\""), "HTTP/1.0 is served: %s", r.p);
    free(r.p);
    still_serving();
}

/* What libmicrohttpd 0.9.75 sends for a malformed Content-Length: its
 * status line and headers twice (README says why). This test notices the
 * day a libmicrohttpd without that bug is in use, so README can change. */
Test(protocol, libmicrohttpd_0975_repeats_the_head_of_its_own_400)
{
    reply r = raws("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 2000);
    cr_expect(!strncmp(r.p, "HTTP/1.1 400", 12), "%s", r.p);
    cr_expect_eq(count(r.p, "HTTP/1.1 400 Bad Request\r\n"), 2, "the known double head: %s", r.p);
    free(r.p);
    still_serving();
}

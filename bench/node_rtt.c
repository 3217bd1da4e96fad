/*
 * node_rtt.c — the floor under any origin's call latency: a node started as
 * peerd starts it (erl -user peer, standard_io), driven by the smallest
 * origin there is: one blocking loop that writes {call, Seq, erlang, node,
 * []} and waits for the reply. No HTTP, no threads, no JSON.
 *   node_rtt          prints "floor standard_io node_rtt_us MEDIAN"
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "etf.h"
#include "spawn.h"
#include "stdio_frame.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }

static void ignore_text(void *ud, const uint8_t *p, size_t n) { (void)ud; (void)p; (void)n; }
static bool got_frame(void *ud, const uint8_t *etf, size_t n) { (void)etf; (void)n; ++*(int *)ud; return true; }

/* Blocks until one more control message has come. */
static void wait_frame(int fd, stdio_decoder *d)
{
    int frames = 0;
    stdio_sink sink = { ignore_text, got_frame, &frames, NULL };
    uint8_t chunk[4096];
    while (!frames) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        poll(&pfd, 1, -1);
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r == 0) { fputs("node_rtt: the node went away\n", stderr); exit(1); }
        if (r > 0 && stdio_decode(d, chunk, (size_t)r, &sink) != STDIO_OK) { fputs("node_rtt: bad stream\n", stderr); exit(1); }
    }
}

int main(void)
{
    char *argv[] = { "erl", "-user", "peer", NULL };
    int in, out;
    pid_t pid;
    if (spawn_node(argv, NULL, &in, &out, &pid)) { perror("node_rtt: erl"); return 1; }
    stdio_decoder d = {0};
    wait_frame(out, &d);   /* {started, Node} */
    enum { WARM = 200, N = 5000 };
    static double t[N];
    for (int i = 0; i < WARM + N; i++) {
        buf call = {0}, frame = {0};
        buf_byte(&call, ETF_VERSION);
        buf_byte(&call, 104);
        buf_byte(&call, 5);
        etf_encode_atom(&call, "call", 4);
        etf_encode_int(&call, i);
        etf_encode_atom(&call, "erlang", 6);
        etf_encode_atom(&call, "node", 4);
        buf_byte(&call, 106);
        stdio_encode(&frame, call.p, call.len);
        double t0 = now_us();
        for (size_t off = 0; off < frame.len;) {
            ssize_t w = write(in, frame.p + off, frame.len - off);
            if (w > 0) off += (size_t)w;
            else { struct pollfd pfd = { in, POLLOUT, 0 }; poll(&pfd, 1, -1); }
        }
        wait_frame(out, &d);
        if (i >= WARM) t[i - WARM] = now_us() - t0;
        buf_free(&call);
        buf_free(&frame);
    }
    qsort(t, N, sizeof *t, cmp);
    printf("floor standard_io node_rtt_us %.1f\n", t[N / 2]);
    close(in);   /* the node halts on EOF, as under peerd */
    stdio_decoder_free(&d);
    return 0;
}

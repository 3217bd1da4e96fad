/*
 * node_rtt.c — the floor under any origin's call latency: a node started as
 * peerd starts it (erl -user peer, over standard_io or TCP), driven by the
 * smallest origin there is: one blocking loop that writes {call, Seq,
 * erlang, node, []} and waits for the reply. No HTTP, no threads, no JSON.
 *   node_rtt standard_io|tcp|distribution   prints "floor CONN node_rtt_us MEDIAN"
 *   node_rtt CONN pipe   the same origin pipelining a batch as peerd does:
 *       10,000 calls with as many in flight as peerd keeps over CONN, every
 *       free slot written at once, the node's socket ACKed at every read;
 *       the best of three. Prints "pipe CONN calls_per_s RATE" and the
 *       node's CPU per call over the three ("pipe CONN node_cpu_us US").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node_link.h"
#include "proc.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }

static bool got_frame(void *ud, const uint8_t *etf, size_t n) { (void)etf; (void)n; ++*(int *)ud; return true; }

/* N calls with at most W in flight: write what the window allows, read once. */
static double pipelined(node_link *n, uint64_t *seq, int total, int window)
{
    int sent = 0, done = 0;
    double t0 = now_us();
    while (done < total) {
        if (sent - done < window && sent < total) {
            buf frames = {0};
            for (; sent - done < window && sent < total; sent++) node_link_call(n, &frames, (*seq)++);
            node_link_write(n, &frames);
            buf_free(&frames);
        }
        int got = 0;
        if (!node_link_read(n, got_frame, &got)) { fputs("node_rtt: the node went away\n", stderr); exit(1); }
        done += got;
    }
    return total / ((now_us() - t0) / 1e6);
}

int main(int argc, char **argv)
{
    const char *conn = argc > 1 ? argv[1] : "standard_io";
    node_link n;
    node_link_start(&n, conn);
    if (argc > 2 && !strcmp(argv[2], "pipe")) {
        int window = strcmp(conn, "standard_io") ? 1024 : 256;   /* peerd's calls_at_once */
        n.quickack = true;
        uint64_t seq = 0;
        pipelined(&n, &seq, 10000, window);   /* warm-up */
        double best = 0;
        proc_usage u0 = {0}, u1 = {0};
        proc_usage_of(n.pid, &u0);
        for (int r = 0; r < 3; r++) {
            double rate = pipelined(&n, &seq, 10000, window);
            if (rate > best) best = rate;
        }
        proc_usage_of(n.pid, &u1);
        printf("pipe %s calls_per_s %.0f\npipe %s node_cpu_us %.1f\n", conn, best, conn, (u1.cpu_seconds - u0.cpu_seconds) * 1e6 / 30000);
        node_link_stop(&n);
        return 0;
    }
    enum { WARM = 200, N = 5000 };
    static double t[N];
    for (int i = 0; i < WARM + N; i++) {
        buf frame = {0};
        node_link_call(&n, &frame, (uint64_t)i);
        double t0 = now_us();
        node_link_write(&n, &frame);
        int frames = 0;
        while (!frames)
            if (!node_link_read(&n, got_frame, &frames)) { fputs("node_rtt: the node went away\n", stderr); return 1; }
        if (i >= WARM) t[i - WARM] = now_us() - t0;
        buf_free(&frame);
    }
    qsort(t, N, sizeof *t, cmp);
    printf("floor %s node_rtt_us %.1f\n", conn, t[N / 2]);
    node_link_stop(&n);   /* the node halts when its connection closes, as under peerd */
    return 0;
}

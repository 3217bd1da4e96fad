/*
 * node_rtt.c — the floor under any origin's call latency: a node started as
 * peerd starts it (erl -user peer, over standard_io or TCP), driven by the
 * smallest origin there is: one blocking loop that writes {call, Seq,
 * erlang, node, []} and waits for the reply. No HTTP, no threads, no JSON.
 *   node_rtt standard_io|tcp|distribution   prints "floor CONN node_rtt_us MEDIAN"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node_link.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }

static bool got_frame(void *ud, const uint8_t *etf, size_t n) { (void)etf; (void)n; ++*(int *)ud; return true; }

int main(int argc, char **argv)
{
    const char *conn = argc > 1 ? argv[1] : "standard_io";
    node_link n;
    node_link_start(&n, conn);
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

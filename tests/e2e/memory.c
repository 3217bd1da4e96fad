/*
 * memory.c — what removed peers held goes back: tombstones expire on their
 * own (--tombstone-ttl), and peerd's resident memory after many rounds of
 * peers started, printing and removed returns to where it was.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kb = atol(line + 6);
    if (f) fclose(f);
    return kb;
}

static void round_of(peerd *d, int round, int n)
{
    char *ids[8];
    for (int i = 0; i < n; i++) {
        char opts[128];
        snprintf(opts, sizeof opts, "{\"name\":\"%s\"}", unique_name(round % 2 ? "odd" : "even"));
        ids[i] = start_peer(d, opts);
        /* 500 KB of console each, half its ring. */
        node_eval(d, ids[i], "[io:format(\"line ~p ~s~n\", [N, lists:duplicate(200, $x)]) || N <- lists:seq(1, 2500)], ok", false);
    }
    for (int i = 0; i < n; i++) {
        delete_peer(d, ids[i]);
        free(ids[i]);
    }
}

Test(memory, removed_peers_leave_nothing_behind, .timeout = 300)
{
    const char *opts[] = { "--tombstone-ttl", "1", NULL };
    peerd *d = peerd_start(opts);
    round_of(d, 0, 4);             /* what a first round allocates for good */
    sleep(2);
    long base = rss_kb(d->pid);
    for (int r = 1; r <= 20; r++) round_of(d, r, 4);
    cr_expect_gt(metric(d, "peerd_tombstones"), 0, "tombstones right after the rounds");
    sleep(2);                      /* past the ttl: the sweep has run */
    cr_expect_eq(metric(d, "peerd_tombstones"), 0, "every tombstone expired");
    cr_expect_eq(metric(d, "peerd_tombstone_bytes"), 0);
    long after = rss_kb(d->pid);
    cr_log_info("memory: RSS %ld kB after one round, %ld kB after 20 more", base, after);
#if !defined(__SANITIZE_ADDRESS__)  /* ASan keeps freed memory in quarantine */
    cr_expect_lt(after, base + 2048, "RSS returned within 2 MiB of where it was: %ld -> %ld kB", base, after);
#endif
    peerd_stop(d);
}

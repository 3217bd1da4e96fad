/*
 * mhd_loop.h — libmicrohttpd served as peerd serves it, for the yardsticks
 * (bare_mhd, bare_relay): external mode on one epoll loop in one thread,
 * libmicrohttpd in select mode, the listening socket and each connection
 * watched by the loop itself and their readiness handed to
 * MHD_run_from_select, run again in the same turn while an answer is being
 * written or it says "timeout 0" (four runs at most, as peerd's turn end).
 * One more descriptor may be watched (a node's replies), and a hook runs
 * after libmicrohttpd's runs (where a relay writes what it corked, as
 * peerd's manager does after its HTTP hook), followed by the runs its
 * resumes need. mhd_epoll: libmicrohttpd's own epoll mode instead, its
 * epoll descriptor watched (as peerd ran before), to show what that cost.
 */
#ifndef PEERD_BENCH_MHD_LOOP_H
#define PEERD_BENCH_MHD_LOOP_H

#include <microhttpd.h>
#include <stdbool.h>

typedef struct {
    int ep;
    struct MHD_Daemon *d;
    bool mhd_epoll;             /* libmicrohttpd's epoll mode, not peerd's */
    bool resumed;               /* set by who resumes a connection */
    int fd;                     /* the one more descriptor, or -1 */
    void (*on_fd)(void *ud);
    void (*turn_end)(void *ud);
    void *ud;
} mhd_loop;

/* Starts libmicrohttpd on PORT (0: any) in external mode; false on failure. */
bool mhd_loop_start(mhd_loop *l, unsigned port, MHD_AccessHandlerCallback answer, MHD_RequestCompletedCallback done);
unsigned mhd_loop_port(const mhd_loop *l);
/* Runs forever. */
void mhd_loop_run(mhd_loop *l);

#endif

/*
 * mhd_loop.h — libmicrohttpd served as peerd serves it, for the yardsticks
 * (bare_mhd, bare_relay): external mode on one epoll loop in one thread,
 * its epoll descriptor watched beside the loop's own, MHD_run when it is
 * ready, and again at the end of a turn that resumed a connection or was
 * told "timeout 0" (three runs at most, as peerd's turn_end). One more
 * descriptor may be watched (a node's replies), and a hook runs last in
 * each turn, after libmicrohttpd's runs (where a relay writes what it
 * corked, as peerd's manager does after its HTTP hook).
 */
#ifndef PEERD_BENCH_MHD_LOOP_H
#define PEERD_BENCH_MHD_LOOP_H

#include <microhttpd.h>
#include <stdbool.h>

typedef struct {
    int ep;
    struct MHD_Daemon *d;
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

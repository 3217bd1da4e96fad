/*
 * mhd_loop.c — libmicrohttpd on one epoll loop, as peerd runs it.
 */
#include "mhd_loop.h"

#include <stdint.h>
#include <sys/epoll.h>

#define RUNS_PER_TURN 3

bool mhd_loop_start(mhd_loop *l, unsigned port, MHD_AccessHandlerCallback answer, MHD_RequestCompletedCallback done)
{
    l->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO, (uint16_t)port, NULL, NULL, answer, l,
                            MHD_OPTION_NOTIFY_COMPLETED, done, l, MHD_OPTION_CONNECTION_LIMIT, 10000u,
                            MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_END);
    if (!l->d || (l->ep = epoll_create1(EPOLL_CLOEXEC)) < 0) return false;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_EPOLL_FD);
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 0 };
    if (!di || epoll_ctl(l->ep, EPOLL_CTL_ADD, di->epoll_fd, &ev) < 0) return false;
    if (l->fd >= 0) {
        ev.data.u32 = 1;
        if (epoll_ctl(l->ep, EPOLL_CTL_ADD, l->fd, &ev) < 0) return false;
    }
    return true;
}

unsigned mhd_loop_port(const mhd_loop *l) { return MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_BIND_PORT)->port; }

void mhd_loop_run(mhd_loop *l)
{
    MHD_UNSIGNED_LONG_LONG to = 0;
    for (;;) {
        int wait = MHD_get_timeout(l->d, &to) == MHD_YES ? (to > 1000 ? 1000 : (int)to) : 1000;
        struct epoll_event ev[16];
        int n = epoll_wait(l->ep, ev, 16, wait);
        if (n == 0) MHD_run(l->d);      /* a timeout of its own */
        for (int i = 0; i < n; i++) {
            if (ev[i].data.u32) l->on_fd(l->ud);
            else { l->resumed = false; MHD_run(l->d); }
        }
        if (MHD_get_timeout(l->d, &to) != MHD_YES) to = 1000;
        for (int runs = 0; runs < RUNS_PER_TURN && (l->resumed || to == 0); runs++) {
            l->resumed = false;
            MHD_run(l->d);
            if (MHD_get_timeout(l->d, &to) != MHD_YES) to = 1000;
        }
        if (l->turn_end) l->turn_end(l->ud);
    }
}

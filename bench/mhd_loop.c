/*
 * mhd_loop.c — libmicrohttpd on one epoll loop, as peerd runs it (select
 * mode driven by the loop's own epoll, server/http.c), or in libmicrohttpd's
 * own epoll mode (what peerd ran before), to show what that one cost.
 */
#include "mhd_loop.h"

#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>

#define RUNS_PER_TURN 4
#define WRITE_TRIES 2
#define TAG_FD 1                /* the one more descriptor's epoll tag; sockets are fd + 2 */

/* Select mode: what the loop saw, what MHD wants, how each socket is watched. */
static fd_set rs, ws, want_r, want_w, muted, out;
static unsigned char tries[FD_SETSIZE];
static int max_fd, listen_fd;
static bool ready;

static void watch(mhd_loop *l, int fd)
{
    uint32_t e = (FD_ISSET(fd, &muted) ? 0u : EPOLLIN) | (FD_ISSET(fd, &out) ? EPOLLOUT : 0u);
    struct epoll_event ev = { .events = e, .data.u32 = 2 + (uint32_t)fd };
    if (!e) epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL);
    else if (epoll_ctl(l->ep, EPOLL_CTL_MOD, fd, &ev) < 0) epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev);
}

static void on_conn(void *cls, struct MHD_Connection *c, void **sc, enum MHD_ConnectionNotificationCode code)
{
    mhd_loop *l = cls;
    (void)sc;
    int fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD)->connect_fd;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 2 + (uint32_t)fd };
        epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev);
        return;
    }
    epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL);
    FD_CLR(fd, &rs); FD_CLR(fd, &ws); FD_CLR(fd, &want_r); FD_CLR(fd, &want_w); FD_CLR(fd, &muted); FD_CLR(fd, &out);
    tries[fd] = 0;
}

bool mhd_loop_start(mhd_loop *l, unsigned port, MHD_AccessHandlerCallback answer, MHD_RequestCompletedCallback done)
{
    unsigned flags = MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO | (l->mhd_epoll ? MHD_USE_EPOLL : 0);
    l->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, answer, l,
                            MHD_OPTION_NOTIFY_COMPLETED, done, l, MHD_OPTION_CONNECTION_LIMIT, 960u,
                            MHD_OPTION_NOTIFY_CONNECTION, l->mhd_epoll ? NULL : on_conn, l,
                            MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_END);
    if (!l->d || (l->ep = epoll_create1(EPOLL_CLOEXEC)) < 0) return false;
    struct epoll_event ev = { .events = EPOLLIN };
    if (l->mhd_epoll) {
        ev.data.u32 = 0;
        if (epoll_ctl(l->ep, EPOLL_CTL_ADD, MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_EPOLL_FD)->epoll_fd, &ev) < 0) return false;
    } else {
        listen_fd = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_LISTEN_FD)->listen_fd;
        ev.data.u32 = 2 + (uint32_t)listen_fd;
        if (epoll_ctl(l->ep, EPOLL_CTL_ADD, listen_fd, &ev) < 0) return false;
        FD_SET(listen_fd, &want_r);
        max_fd = listen_fd;
    }
    if (l->fd >= 0) {
        ev.data.u32 = TAG_FD;
        if (epoll_ctl(l->ep, EPOLL_CTL_ADD, l->fd, &ev) < 0) return false;
    }
    return true;
}

unsigned mhd_loop_port(const mhd_loop *l) { return MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_BIND_PORT)->port; }

/* One select-mode run, then what MHD wants next (as server/http.c run_once). */
static void run_once(mhd_loop *l)
{
    fd_set es, r2, w2;
    int top = max_fd;
    for (int fd = 0; fd <= top; fd++)
        if (FD_ISSET(fd, &rs) && !FD_ISSET(fd, &want_r) && fd != listen_fd && !FD_ISSET(fd, &muted)) {
            FD_CLR(fd, &rs);
            FD_SET(fd, &muted);
            watch(l, fd);
        }
    FD_ZERO(&es);
    ready = false;
    l->resumed = false;
    MHD_run_from_select(l->d, &rs, &ws, &es);
    FD_ZERO(&r2);
    FD_ZERO(&w2);
    MHD_socket m = -1;
    MHD_get_fdset2(l->d, &r2, &w2, &es, &m, FD_SETSIZE);
    if (m > top) top = m;
    for (int fd = 0; fd <= top; fd++) {
        bool wants_w = FD_ISSET(fd, &w2);
        if (FD_ISSET(fd, &muted) && FD_ISSET(fd, &r2)) { FD_CLR(fd, &muted); watch(l, fd); }
        if (!wants_w) {
            tries[fd] = 0;
            if (FD_ISSET(fd, &out)) { FD_CLR(fd, &out); watch(l, fd); }
        } else if (FD_ISSET(fd, &ws) && !FD_ISSET(fd, &out) && ++tries[fd] > WRITE_TRIES) {
            FD_SET(fd, &out);
            watch(l, fd);
        }
    }
    want_r = r2;
    want_w = w2;
    FD_ZERO(&rs);
    FD_ZERO(&ws);
    for (int fd = 0; fd <= top; fd++)
        if (FD_ISSET(fd, &w2) && !FD_ISSET(fd, &out)) { FD_SET(fd, &ws); ready = true; }
    max_fd = top;
}

static void run_select(mhd_loop *l)
{
    MHD_UNSIGNED_LONG_LONG to = 0;
    for (;;) {
        int wait = ready || l->resumed ? 0 : MHD_get_timeout(l->d, &to) == MHD_YES ? (to > 1000 ? 1000 : (int)to) : 1000;
        struct epoll_event ev[64];
        int n = epoll_wait(l->ep, ev, 64, wait);
        bool due = n == 0;
        for (int i = 0; i < n; i++) {
            if (ev[i].data.u32 == TAG_FD) { l->on_fd(l->ud); continue; }
            int fd = (int)ev[i].data.u32 - 2;
            if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) FD_SET(fd, &rs);
            if (ev[i].events & EPOLLOUT) FD_SET(fd, &ws);
            if (fd > max_fd) max_fd = fd;
            ready = true;
        }
        /* The hook after the runs (a relay writes what it corked, or bare_mhd
         * resumes what it parked), then the runs that answers take. */
        for (int pass = 0; pass < 2; pass++) {
            for (int runs = 0; runs < RUNS_PER_TURN && (due || ready || l->resumed || (runs && to == 0)); runs++) {
                due = false;
                run_once(l);
                if (MHD_get_timeout(l->d, &to) != MHD_YES) to = 1000;
            }
            if (pass == 0 && l->turn_end) l->turn_end(l->ud);
            if (!l->resumed) break;
        }
    }
}

/* libmicrohttpd's own epoll mode, as peerd ran it before. */
static void run_epoll(mhd_loop *l)
{
    MHD_UNSIGNED_LONG_LONG to = 0;
    for (;;) {
        int wait = MHD_get_timeout(l->d, &to) == MHD_YES ? (to > 1000 ? 1000 : (int)to) : 1000;
        struct epoll_event ev[16];
        int n = epoll_wait(l->ep, ev, 16, wait);
        if (n == 0) MHD_run(l->d);      /* a timeout of its own */
        for (int i = 0; i < n; i++) {
            if (ev[i].data.u32 == TAG_FD) l->on_fd(l->ud);
            else { l->resumed = false; MHD_run(l->d); }
        }
        for (int pass = 0; pass < 2; pass++) {
            if (MHD_get_timeout(l->d, &to) != MHD_YES) to = 1000;
            for (int runs = 0; runs < RUNS_PER_TURN && (l->resumed || to == 0); runs++) {
                l->resumed = false;
                MHD_run(l->d);
                if (MHD_get_timeout(l->d, &to) != MHD_YES) to = 1000;
            }
            if (pass == 0 && l->turn_end) l->turn_end(l->ud);
            if (!l->resumed) break;
        }
    }
}

void mhd_loop_run(mhd_loop *l)
{
    if (l->mhd_epoll) run_epoll(l);
    else run_select(l);
}

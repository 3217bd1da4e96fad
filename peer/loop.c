/*
 * loop.c — see loop.h.
 */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define LOOP_BATCH 256

struct loop {
    int ep;
    timer_heap timers;
    struct { loop_hook_fn fn; void *ud; } hooks[LOOP_MAX_HOOKS];
    int nhooks;
    void **deferred;
    size_t ndeferred, deferred_cap;
    bool woken, stopped;
    bool before_hooks;          /* in steps 2 and 3: this turn's hooks are still to run */
    uint64_t turn;
};

loop *loop_new(void)
{
    loop *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    if ((l->ep = epoll_create1(EPOLL_CLOEXEC)) < 0) { free(l); return NULL; }
    return l;
}

static void free_deferred(loop *l)
{
    for (size_t i = 0; i < l->ndeferred; i++) free(l->deferred[i]);
    l->ndeferred = 0;
}

void loop_free(loop *l)
{
    if (!l) return;
    free_deferred(l);
    free(l->deferred);
    timer_heap_free(&l->timers);
    close(l->ep);
    free(l);
}

int loop_watch_fd(loop *l, loop_watch *w, int fd, uint32_t events, loop_io_fn fn, void *ud)
{
    struct epoll_event ev = { .events = events, .data.ptr = w };
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) < 0) return -1;
    w->fd = fd;
    w->fn = fn;
    w->ud = ud;
    return 0;
}

int loop_rewatch(loop *l, loop_watch *w, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = w };
    return epoll_ctl(l->ep, EPOLL_CTL_MOD, w->fd, &ev);
}

void loop_unwatch(loop *l, loop_watch *w)
{
    if (w->fd < 0) return;
    epoll_ctl(l->ep, EPOLL_CTL_DEL, w->fd, NULL);
    w->fd = -1;
}

uint64_t loop_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool loop_timer(loop *l, tmr *t, uint64_t ms, void (*fire)(void *owner, tmr *t), void *owner)
{
    t->fire = fire;
    t->owner = owner;
    return timer_heap_add(&l->timers, t, loop_now() + ms);
}

void loop_timer_clear(loop *l, tmr *t) { timer_heap_remove(&l->timers, t); }

int loop_on_turn_end(loop *l, loop_hook_fn fn, void *ud)
{
    if (l->nhooks == LOOP_MAX_HOOKS) return -1;
    l->hooks[l->nhooks].fn = fn;
    l->hooks[l->nhooks].ud = ud;
    l->nhooks++;
    return 0;
}

/* Before the hooks, they will see what was queued this very turn. */
int loop_on_turn_end_first(loop *l, loop_hook_fn fn, void *ud)
{
    if (l->nhooks == LOOP_MAX_HOOKS) return -1;
    memmove(&l->hooks[1], &l->hooks[0], (size_t)l->nhooks * sizeof l->hooks[0]);
    l->hooks[0].fn = fn;
    l->hooks[0].ud = ud;
    l->nhooks++;
    return 0;
}

void loop_wake(loop *l) { if (!l->before_hooks) l->woken = true; }
uint64_t loop_turn(const loop *l) { return l->turn; }

bool loop_defer_free(loop *l, void *p)
{
    if (l->ndeferred == l->deferred_cap) {
        size_t cap = l->deferred_cap ? 2 * l->deferred_cap : 64;
        void **d = realloc(l->deferred, cap * sizeof *d);
        if (!d) { free(p); return false; }
        l->deferred = d;
        l->deferred_cap = cap;
    }
    l->deferred[l->ndeferred++] = p;
    return true;
}

void loop_stop(loop *l) { l->stopped = true; }

/* The bound of the next wait: the earliest timer, or what the hooks asked. */
static int wait_ms(loop *l, int hooks_bound)
{
    if (l->woken) return 0;
    int ms = hooks_bound;
    tmr *t = timer_heap_top(&l->timers);
    if (t) {
        uint64_t now = loop_now();
        uint64_t d = t->at > now ? t->at - now : 0;
        if (d > 86400000) d = 86400000;
        if (ms < 0 || (int)d < ms) ms = (int)d;
    }
    return ms;
}

int loop_run(loop *l)
{
    struct epoll_event evs[LOOP_BATCH];
    int bound = -1;
    while (!l->stopped) {
        int n = epoll_wait(l->ep, evs, LOOP_BATCH, wait_ms(l, bound));
        if (n < 0 && errno != EINTR) return -1;
        l->woken = false;
        l->before_hooks = true;
        l->turn++;
        for (int i = 0; i < n; i++) {
            loop_watch *w = evs[i].data.ptr;
            if (w->fd >= 0) w->fn(w, evs[i].events);
        }
        uint64_t now = loop_now();
        for (tmr *t; (t = timer_heap_top(&l->timers)) && t->at <= now;) {
            timer_heap_remove(&l->timers, t);
            t->fire(t->owner, t);
        }
        l->before_hooks = false;
        bound = -1;
        for (int i = 0; i < l->nhooks; i++) {
            int b = l->hooks[i].fn(l->hooks[i].ud);
            if (b >= 0 && (bound < 0 || b < bound)) bound = b;
        }
        free_deferred(l);
    }
    return 0;
}

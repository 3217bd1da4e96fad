/*
 * loop.c — see loop.h.
 */
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/eventfd.h>
#include <signal.h>
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
    loop_stats stats;
    struct helper *helper;      /* NULL until work is first queued */
    unsigned fail_timers_at, timer_calls;   /* loop_fail_timers */
    uint64_t fail_timers_from;              /* loop_fail_timers_from */
};

/* The helper thread and what it shares with the loop, under mu: the queue
 * of work to do and the list of work done, which the loop takes when the
 * eventfd says so. Nothing else crosses between the threads. */
struct helper {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    loop_work *todo, *todo_tail, *done;
    bool quit;
    int efd;
    loop_watch w;
    unsigned pending;           /* loop side: queued, done() not yet run */
};

const double loop_turn_bucket_s[LOOP_TURN_BUCKETS] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                       0.05, 0.1, 0.25, 1 };

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

static void helper_stop(loop *l);

void loop_free(loop *l)
{
    if (!l) return;
    helper_stop(l);
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

int loop_fd_high(int fd)
{
    if (fd < 0 || fd >= LOOP_FD_HIGH) return fd;
    int high = fcntl(fd, F_DUPFD_CLOEXEC, LOOP_FD_HIGH);
    if (high < 0) return fd;
    close(fd);
    return high;
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
    if ((l->fail_timers_at && ++l->timer_calls >= l->fail_timers_at) || (l->fail_timers_from && loop_now() >= l->fail_timers_from)) {
        timer_heap_remove(&l->timers, t);       /* as a failed add leaves it */
        return false;
    }
    return timer_heap_add(&l->timers, t, loop_now() + ms);
}

void loop_fail_timers(loop *l, unsigned nth)
{
    l->fail_timers_at = nth;
    l->timer_calls = 0;
}

void loop_fail_timers_from(loop *l, uint64_t at_ms) { l->fail_timers_from = at_ms; }

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

/* ---- the helper thread ---- */

static void *helper_main(void *arg)
{
    struct helper *hp = arg;
    /* Below the loop's priority: with both CPUs busy, the loop (every
     * client's next turn) runs first; the conversion only finishes later. */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 5) < 0) { /* as it was, then */ }
    pthread_mutex_lock(&hp->mu);
    for (;;) {
        while (!hp->todo && !hp->quit) pthread_cond_wait(&hp->cv, &hp->mu);
        if (!hp->todo) break;
        loop_work *w = hp->todo;
        if (!(hp->todo = w->next)) hp->todo_tail = NULL;
        pthread_mutex_unlock(&hp->mu);
        w->work(w);
        pthread_mutex_lock(&hp->mu);
        w->next = hp->done;
        hp->done = w;
        uint64_t one = 1;
        if (write(hp->efd, &one, sizeof one) < 0) { /* the counter is only a doorbell */ }
    }
    pthread_mutex_unlock(&hp->mu);
    return NULL;
}

/* The doorbell rang: done() of everything finished, in the order queued. */
static void helper_ready(loop_watch *w, uint32_t ev)
{
    (void)ev;
    struct helper *hp = w->ud;
    uint64_t n;
    if (read(hp->efd, &n, sizeof n) < 0) { /* EAGAIN: rung and read already */ }
    pthread_mutex_lock(&hp->mu);
    loop_work *list = hp->done;
    hp->done = NULL;
    pthread_mutex_unlock(&hp->mu);
    loop_work *rev = NULL;
    while (list) { loop_work *next = list->next; list->next = rev; rev = list; list = next; }
    while (rev) {
        loop_work *next = rev->next;
        hp->pending--;
        rev->done(rev);
        rev = next;
    }
}

static struct helper *helper_start(loop *l)
{
    struct helper *hp = calloc(1, sizeof *hp);
    if (!hp) return NULL;
    hp->w.fd = -1;
    if ((hp->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) { free(hp); return NULL; }
    pthread_mutex_init(&hp->mu, NULL);
    pthread_cond_init(&hp->cv, NULL);
    /* The helper takes no signals: they stay the loop's (SIGCHLD, SIGTERM). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&hp->thread, NULL, helper_main, hp);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc || loop_watch_fd(l, &hp->w, hp->efd, EPOLLIN, helper_ready, hp) < 0) {
        if (!rc) { hp->quit = true; pthread_cond_signal(&hp->cv); pthread_join(hp->thread, NULL); }
        close(hp->efd);
        free(hp);
        return NULL;
    }
    return hp;
}

static void helper_stop(loop *l)
{
    struct helper *hp = l->helper;
    if (!hp) return;
    pthread_mutex_lock(&hp->mu);
    hp->quit = true;
    pthread_cond_signal(&hp->cv);
    pthread_mutex_unlock(&hp->mu);
    pthread_join(hp->thread, NULL);
    loop_unwatch(l, &hp->w);
    close(hp->efd);
    pthread_mutex_destroy(&hp->mu);
    pthread_cond_destroy(&hp->cv);
    free(hp);
    l->helper = NULL;
}

bool loop_queue_work(loop *l, loop_work *w)
{
    if (!l->helper && !(l->helper = helper_start(l))) return false;
    struct helper *hp = l->helper;
    w->next = NULL;
    pthread_mutex_lock(&hp->mu);
    if (hp->todo_tail) hp->todo_tail->next = w; else hp->todo = w;
    hp->todo_tail = w;
    pthread_cond_signal(&hp->cv);
    pthread_mutex_unlock(&hp->mu);
    hp->pending++;
    return true;
}

unsigned loop_work_pending(const loop *l) { return l->helper ? l->helper->pending : 0; }

/* ---- turns ---- */

const loop_stats *loop_get_stats(const loop *l) { return &l->stats; }

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void count_turn(loop_stats *st, uint64_t us)
{
    double s = (double)us / 1e6;
    st->turns++;
    st->seconds += s;
    for (int i = LOOP_TURN_BUCKETS - 1; i >= 0 && s <= loop_turn_bucket_s[i]; i--) st->bucket[i]++;
    if (us > st->longest_us) {
        st->longest_us = us;
        st->longest_at_ms = loop_now();
    }
}

int loop_run(loop *l)
{
    struct epoll_event evs[LOOP_BATCH];
    int bound = -1;
    while (!l->stopped) {
        int n = epoll_wait(l->ep, evs, LOOP_BATCH, wait_ms(l, bound));
        if (n < 0 && errno != EINTR) return -1;
        uint64_t began = now_us();
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
        count_turn(&l->stats, now_us() - began);
    }
    l->stopped = false;         /* it may be run again */
    return 0;
}

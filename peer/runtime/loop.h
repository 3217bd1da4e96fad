/*
 * loop.h — the one event loop: descriptors, timers and end-of-turn hooks,
 * knowing nothing of what it serves. Models: Redis src/ae.c (file events,
 * time events, beforesleep) and libuv's uv_run (named phases).
 *
 * A turn:
 *   1. wait in epoll until a descriptor is ready, the earliest timer is due,
 *      or the bound the hooks asked for has passed (0 after loop_wake);
 *   2. call each ready watch, in the order epoll reported them;
 *   3. fire the timers that are due;
 *   4. run the end-of-turn hooks in the order they were added; each returns
 *      how long the next wait may be at most (-1: no bound);
 *   5. free what was handed to loop_defer_free during the turn.
 * Everything runs on the thread that calls loop_run; nothing here is
 * thread-safe, and nothing needs to be.
 */
#ifndef PEERD_LOOP_H
#define PEERD_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "timer_heap.h"

typedef struct loop loop;
typedef struct loop_watch loop_watch;

/* events: EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLHUP, EPOLLERR as epoll gave them. */
typedef void (*loop_io_fn)(loop_watch *w, uint32_t events);

/* Embedded in its owner; the owner must stay allocated until the end of the
 * turn in which it unwatches (loop_defer_free), since the turn's batch of
 * events may still name it. */
struct loop_watch {
    int fd;                     /* -1 when not watching */
    loop_io_fn fn;
    void *ud;
};

loop *loop_new(void);
void loop_free(loop *l);

/* Starts watching fd for events; -1 (errno set) if epoll refuses. */
int loop_watch_fd(loop *l, loop_watch *w, int fd, uint32_t events, loop_io_fn fn, void *ud);
/* Changes what w waits for; -1 (errno set) on failure. */
int loop_rewatch(loop *l, loop_watch *w, uint32_t events);
/* Stops watching (the descriptor stays open); events of this turn for w are
 * dropped. Safe to call on a watch that is not watching. */
void loop_unwatch(loop *l, loop_watch *w);

/* Descriptors held for long (a node's pipes and sockets) live at
 * LOOP_FD_HIGH and above, leaving the numbers below to sockets that can
 * only use those: select sets (the HTTP server's) hold descriptors below
 * FD_SETSIZE. Moves fd there and returns its new number, or returns fd as
 * it is if it cannot move (a descriptor limit at 1024: then every number is
 * low anyway). The new descriptor is close-on-exec. */
#define LOOP_FD_HIGH 1024
int loop_fd_high(int fd);

/* Monotonic milliseconds. */
uint64_t loop_now(void);
/* Arms t to fire once, ms from now (re-arming moves it); false if out of memory. */
bool loop_timer(loop *l, tmr *t, uint64_t ms, void (*fire)(void *owner, tmr *t), void *owner);
void loop_timer_clear(loop *l, tmr *t);
/* Fault injection, for tests: the nth loop_timer call from now fails (as
 * out of memory would: the timer is left unarmed), and every one after it,
 * until this is called with 0. */
void loop_fail_timers(loop *l, unsigned nth);
/* ...or every one from loop_now() == at_ms on (0: never). */
void loop_fail_timers_from(loop *l, uint64_t at_ms);

/* An end-of-turn hook: returns the longest the next wait may be, in ms
 * (0: turn again at once; -1: no bound). */
typedef int (*loop_hook_fn)(void *ud);
/* Adds a hook (at most LOOP_MAX_HOOKS), after those added so far, or
 * before them (first); -1 if there is no room. */
#define LOOP_MAX_HOOKS 8
int loop_on_turn_end(loop *l, loop_hook_fn fn, void *ud);
int loop_on_turn_end_first(loop *l, loop_hook_fn fn, void *ud);

/* Something was queued that the hooks will handle: they run at the end of
 * this turn if it is still before them, else the next wait is 0. */
void loop_wake(loop *l);
/* The number of the turn running now: a hook that remembers the turn it
 * last ran in knows whether work queued now will still see it this turn. */
uint64_t loop_turn(const loop *l);
/* free(p) at the end of this turn; false if out of memory (then p was freed
 * at once: do not call it while p may still be named by this turn's events). */
bool loop_defer_free(loop *l, void *p);

/* Work that cannot be split across turns and grows with its input (turning
 * a reply of up to 64 MiB into text): work() runs on the loop's helper
 * thread, then done() on the loop, in a later turn. work() may touch only
 * what w's owner handed it; the owner keeps w allocated until done() runs.
 * The helper starts with the first work queued. Model: libuv's threadpool
 * (uv_queue_work). False if the helper cannot be started: nothing was
 * queued, and the caller does the work itself. */
typedef struct loop_work loop_work;
struct loop_work {
    void (*work)(loop_work *w);
    void (*done)(loop_work *w);
    loop_work *next;            /* the loop's */
};
bool loop_queue_work(loop *l, loop_work *w);
/* Work queued whose done() has not run yet. */
unsigned loop_work_pending(const loop *l);

/* How long turns take (step 1's wait excluded), for /metrics and /healthz. */
#define LOOP_TURN_BUCKETS 12
extern const double loop_turn_bucket_s[LOOP_TURN_BUCKETS];
typedef struct {
    uint64_t turns, bucket[LOOP_TURN_BUCKETS];  /* bucket[i]: turns of at most loop_turn_bucket_s[i] */
    double seconds;             /* all turns together */
    uint64_t longest_us;        /* the longest turn since the loop started */
    uint64_t longest_at_ms;     /* when it ended (loop_now) */
} loop_stats;
const loop_stats *loop_get_stats(const loop *l);

/* Runs turns until loop_stop (then it can be run again); returns 0, or -1
 * if epoll_wait failed. */
int loop_run(loop *l);
void loop_stop(loop *l);

#endif

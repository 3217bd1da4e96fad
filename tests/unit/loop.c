/*
 * loop.c — the event loop alone: watches, timers, hooks, wake and stop.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "loop.h"

typedef struct { loop *l; int fired[8]; int nfired; tmr t[4]; int reads; loop_watch w[2]; int fds[2][2]; int turns; } ctx;

static void fire(void *owner, tmr *t)
{
    ctx *c = owner;
    c->fired[c->nfired++] = (int)(t - c->t);
    if (c->nfired == 3) loop_stop(c->l);
}

Test(loop, timers_fire_in_deadline_order_and_cleared_ones_do_not)
{
    ctx c = { .l = loop_new() };
    cr_assert(c.l);
    /* 100 ms apart: arming stays in order under valgrind too. */
    uint64_t t0 = loop_now();
    loop_timer(c.l, &c.t[0], 300, fire, &c);
    loop_timer(c.l, &c.t[1], 100, fire, &c);
    loop_timer(c.l, &c.t[2], 200, fire, &c);
    loop_timer(c.l, &c.t[3], 150, fire, &c);
    loop_timer_clear(c.l, &c.t[3]);
    cr_assert_eq(loop_run(c.l), 0);
    cr_expect_eq(c.nfired, 3);
    cr_expect(c.fired[0] == 1 && c.fired[1] == 2 && c.fired[2] == 0, "order %d %d %d", c.fired[0], c.fired[1], c.fired[2]);
    cr_expect_geq(loop_now() - t0, 300, "the loop slept until the last deadline");
    loop_free(c.l);
}

/* Both pipes are ready in one batch; the first callback unwatches the
 * second, whose event in the same batch must be dropped. */
static void on_read(loop_watch *w, uint32_t ev)
{
    ctx *c = w->ud;
    cr_expect(ev & EPOLLIN);
    char b[8];
    if (read(w->fd, b, sizeof b) > 0) c->reads++;
    loop_watch *other = w == &c->w[0] ? &c->w[1] : &c->w[0];
    loop_unwatch(c->l, other);
    loop_stop(c->l);
}

Test(loop, an_unwatched_descriptor_gets_no_more_events_in_the_batch)
{
    ctx c = { .l = loop_new() };
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(pipe(c.fds[i]), 0);
        cr_assert_eq(loop_watch_fd(c.l, &c.w[i], c.fds[i][0], EPOLLIN, on_read, &c), 0);
        cr_assert_eq(write(c.fds[i][1], "x", 1), 1);
    }
    loop_run(c.l);
    cr_expect_eq(c.reads, 1, "exactly one of the two ready watches ran");
    cr_expect_eq(c.w[0].fd == -1 || c.w[1].fd == -1, true);
    cr_expect_eq(loop_watch_fd(c.l, &c.w[0], -5, EPOLLIN, on_read, &c), -1, "a bad descriptor is an error, not a silent hang");
    for (int i = 0; i < 2; i++) { close(c.fds[i][0]); close(c.fds[i][1]); }
    loop_free(c.l);
}

/* A hook runs at the end of every turn; wake makes the next turn immediate,
 * and a hook's bound wakes the loop with nothing else to do. */
static int hook(void *ud)
{
    ctx *c = ud;
    if (++c->turns < 5) { loop_wake(c->l); return -1; }
    if (c->turns < 8) return 5;
    loop_stop(c->l);
    return -1;
}

Test(loop, hooks_run_each_turn_and_bound_the_wait)
{
    ctx c = { .l = loop_new() };
    cr_assert_eq(loop_on_turn_end(c.l, hook, &c), 0);
    uint64_t t0 = loop_now();
    loop_wake(c.l);   /* nothing else would end the first wait */
    loop_run(c.l);
    cr_expect_eq(c.turns, 8);
    uint64_t took = loop_now() - t0;
    cr_expect(took >= 10 && took < 1000, "three bounded waits of 5 ms took %llu ms", (unsigned long long)took);
    for (int i = 1; i < LOOP_MAX_HOOKS; i++) cr_expect_eq(loop_on_turn_end(c.l, hook, &c), 0);
    cr_expect_eq(loop_on_turn_end(c.l, hook, &c), -1, "past the last slot, -1");
    loop_free(c.l);
}

static void *freed;
static int free_hook(void *ud)
{
    ctx *c = ud;
    if (c->turns++ == 0) { freed = malloc(64); cr_assert(loop_defer_free(c->l, freed)); loop_wake(c->l); }
    else loop_stop(c->l);
    return -1;
}

Test(loop, deferred_frees_happen_at_the_end_of_the_turn)
{
    ctx c = { .l = loop_new() };
    loop_on_turn_end(c.l, free_hook, &c);
    loop_wake(c.l);
    loop_run(c.l);   /* under ASan/valgrind a leak or double free here fails the run */
    cr_expect_eq(c.turns, 2);
    loop_free(c.l);
}

/* ---- work on the helper thread ---- */

#include <pthread.h>

typedef struct {
    loop_work w;
    loop *l;
    pthread_t worker_thread;    /* where work() ran */
    int order, *next;           /* done()s count up in the order queued */
    bool worked, done_on_loop;
    int *left;
} job;

static pthread_t loop_thread;

static void job_work(loop_work *w)
{
    job *j = (job *)w;
    j->worker_thread = pthread_self();
    usleep(2000);
    j->worked = true;
}

static void job_done(loop_work *w)
{
    job *j = (job *)w;
    j->done_on_loop = pthread_equal(pthread_self(), loop_thread);
    j->order = (*j->next)++;
    if (--*j->left == 0) loop_stop(j->l);
}

Test(loop, work_runs_off_the_loop_and_completes_on_it_in_order)
{
    loop *l = loop_new();
    cr_assert(l);
    loop_thread = pthread_self();
    job jobs[5];
    int next = 0, left = 5;
    for (int i = 0; i < 5; i++) {
        jobs[i] = (job){ .w = { .work = job_work, .done = job_done }, .l = l, .next = &next, .left = &left };
        cr_assert(loop_queue_work(l, &jobs[i].w));
    }
    cr_expect_eq(loop_work_pending(l), 5);
    cr_assert_eq(loop_run(l), 0);
    for (int i = 0; i < 5; i++) {
        cr_expect(jobs[i].worked);
        cr_expect(!pthread_equal(jobs[i].worker_thread, loop_thread), "work %d ran on the loop's thread", i);
        cr_expect(jobs[i].done_on_loop, "done %d ran off the loop", i);
        cr_expect_eq(jobs[i].order, i, "done %d came as %d", i, jobs[i].order);
    }
    cr_expect_eq(loop_work_pending(l), 0);
    loop_free(l);
}

/* A turn that takes 30 ms shows in the histogram and as the longest. */
static void slow(void *owner, tmr *t)
{
    (void)t;
    usleep(30000);
    loop_stop(owner);
}

Test(loop, turns_are_timed)
{
    loop *l = loop_new();
    tmr t = {0};
    loop_timer(l, &t, 0, slow, l);
    cr_assert_eq(loop_run(l), 0);
    const loop_stats *st = loop_get_stats(l);
    cr_expect_geq(st->turns, 1);
    cr_expect_geq(st->longest_us, 30000, "longest %llu us", (unsigned long long)st->longest_us);
    cr_expect_lt(st->longest_us, 2000000);
    /* Cumulative buckets: none at or below 10 ms holds it, 50 ms does. */
    int i10 = 6, i50 = 8;
    cr_expect_eq(loop_turn_bucket_s[i10], 0.01);
    cr_expect_eq(loop_turn_bucket_s[i50], 0.05);
    cr_expect_eq(st->bucket[i10], st->turns - 1);
    cr_expect_eq(st->bucket[i50], st->turns);
    cr_expect_geq(st->seconds, 0.03);
    loop_free(l);
}

/* Fault injection: from the nth arming on, loop_timer fails and leaves the
 * timer unarmed (as a failed heap growth does), until turned off. */
Test(loop, injected_timer_failures_leave_the_timer_unarmed)
{
    ctx c = { .l = loop_new() };
    cr_assert(c.l);
    cr_assert(loop_timer(c.l, &c.t[0], 50, fire, &c));
    loop_fail_timers(c.l, 2);
    cr_assert(loop_timer(c.l, &c.t[1], 60, fire, &c), "the first call from now still works");
    cr_assert(!loop_timer(c.l, &c.t[2], 70, fire, &c), "the second fails");
    cr_assert(!loop_timer(c.l, &c.t[0], 80, fire, &c), "and every one after, re-arming included");
    cr_assert_eq(c.t[0].idx, 0, "a failed re-arm leaves it unarmed");
    loop_fail_timers(c.l, 0);
    cr_assert(loop_timer(c.l, &c.t[2], 10, fire, &c));
    cr_assert(loop_timer(c.l, &c.t[3], 20, fire, &c));
    cr_assert_eq(loop_run(c.l), 0);
    cr_assert_eq(c.nfired, 3);
    cr_assert_eq(c.fired[0], 2);
    cr_assert_eq(c.fired[1], 3);
    cr_assert_eq(c.fired[2], 1, "t[0], disarmed by its failed re-arm, never fires");
    loop_free(c.l);
}

/* A descriptor held for long moves to LOOP_FD_HIGH or above, still the same
 * file, close-on-exec, its old number free; with a descriptor limit at
 * LOOP_FD_HIGH it stays where it is, and -1 stays -1. */
Test(loop, long_held_descriptors_move_above_the_low_numbers)
{
    struct rlimit old, low_limit;
    getrlimit(RLIMIT_NOFILE, &old);
    if (old.rlim_max <= LOOP_FD_HIGH) cr_skip_test("the descriptor limit (%lu) leaves no room above %d", (unsigned long)old.rlim_max, LOOP_FD_HIGH);
    low_limit = old;
    low_limit.rlim_cur = old.rlim_max;
    setrlimit(RLIMIT_NOFILE, &low_limit);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    int low = p[0];
    int high = loop_fd_high(p[0]);
    cr_expect_geq(high, LOOP_FD_HIGH);
    cr_expect_eq(fcntl(low, F_GETFD), -1, "the old number is closed");
    cr_expect_eq(fcntl(high, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    cr_expect_eq(write(p[1], "x", 1), 1);
    char c = 0;
    cr_expect_eq(read(high, &c, 1), 1);
    cr_expect_eq(c, 'x', "the same pipe");
    cr_expect_eq(loop_fd_high(high), high, "one already high stays");
    cr_expect_eq(loop_fd_high(-1), -1);
    close(high);

    low_limit.rlim_cur = LOOP_FD_HIGH;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low_limit), 0);
    int fd = dup(p[1]);
    cr_expect_eq(loop_fd_high(fd), fd, "no room above: it stays");
    setrlimit(RLIMIT_NOFILE, &old);
    close(fd);
    close(p[1]);
}

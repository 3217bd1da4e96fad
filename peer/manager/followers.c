/*
 * followers.c — clients following a peer's console or messages, or the event
 * feed, through a stream (stream.h); a snapshot is a follower that ends at
 * what was kept when it was asked (once). The loop fills a stream while it
 * has room; a client that reads resumes the filling, so no turn frames more
 * than a stream's room of a large console or message log.
 */
#include "manager_int.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

/* Closes a descriptor of the manager's, and stops watching it. */
static void close_fd(pm *m, int *fd, loop_watch *w)
{
    if (*fd < 0) return;
    if (w && w->fd == *fd) loop_unwatch(m->l, w);
    close(*fd);
    *fd = -1;
}

void mgr_fill_followers(pm *m)
{
    for (peer *p = m->fill_due, *n; p; p = n) {
        n = p->next_fill;
        p->fill_due = false;
        if (p->dead) continue;   /* its followers were handed everything when it went */
        for (follower *f = p->followers; f; f = f->next) mgr_fill(f);
        mgr_maybe_release_io(p);
    }
    m->fill_due = NULL;
}

/* `missed` units are gone from before `resume`. */
static void push_missed(follower *f, uint64_t missed, uint64_t resume)
{
    f->framer->missed(stream_append_begin(f->s), f->kind, f->token, missed, resume);
    stream_append_end(f->s);
}

/* The follower has seen all there will be: end its response. */
void mgr_finish_follower(follower *f, stream_state how)
{
    if (f->finished) return;
    f->finished = true;
    stream_finish(f->s, how);
}

static bool peer_done(const peer *p) { return !p || p->state == ST_DOWN || p->removed; }

/* peer_down crash: a linked follower of a node that went down by itself is
 * cut off without a clean end. */
static bool crash_cuts(const follower *f)
{
    const peer *p = f->p;
    return f->link && p && p->opt->peer_down == PM_DOWN_CRASH && !p->stopping && p->state == ST_DOWN;
}

/* Where a console follower ends for now: the ring's end, or a snapshot's. */
static uint64_t console_end(const follower *f)
{
    return f->p->console.end < f->until ? f->p->console.end : f->until;
}

static void fill_console(follower *f, bool all)
{
    const console_ring *ring = &f->p->console;
    uint8_t chunk[16384];
    for (;;) {
        size_t room = all ? sizeof chunk : stream_room(f->s);
        uint64_t end = console_end(f);
        if (!room || f->pos >= end) break;
        if (room > end - f->pos) room = (size_t)(end - f->pos);
        if (f->pos < ring->start) {
            push_missed(f, ring->start - f->pos, ring->start);
            f->pos = ring->start;
            continue;
        }
        uint64_t since = f->pos;
        size_t n = console_ring_read(ring, &since, chunk, room < sizeof chunk ? room : sizeof chunk);
        f->pos = since + n;
        f->framer->console(stream_append_begin(f->s), f->token, f->pos, chunk, n);
        stream_append_end(f->s);
    }
}

/* A large message, a piece at a time while the stream has room (all of it
 * with `all`); true once it is all written. */
static bool fill_large_message(follower *f, const pm_message *v, bool all)
{
    size_t whole = v->len + 1;          /* with the version byte */
    while (f->part < whole) {
        size_t room = all ? whole : stream_room(f->s);
        if (!room) return false;        /* the rest when the reader has taken some */
        size_t take = room / 4 * 3 > 3 ? room / 4 * 3 : 3;     /* base64: 4 bytes for 3 */
        size_t to = whole - f->part > take ? f->part + take : whole;
        f->framer->message_part(stream_append_begin(f->s), f->token, v, f->part, to);
        stream_append_end(f->s);
        f->part = to;
    }
    f->part = 0;
    return true;
}

static void fill_messages(follower *f, bool all)
{
    const peer *p = f->p;
    if (f->held) {
        pm_message v;
        mgr_message_view(f->held, &v);
        if (!fill_large_message(f, &v, all)) return;
        f->pos = f->held->seq + 1;
        mgr_drop_held(f);
    }
    term_names names = mgr_names_of(p);
    if (p->msgs && f->pos < p->msgs->seq) {
        push_missed(f, p->msgs->seq - f->pos, p->msgs->seq - 1);
        f->pos = p->msgs->seq;
    }
    for (message *g = p->msgs; g && g->seq <= f->until; g = g->next) {
        if (g->seq < f->pos) continue;
        if (!all && !stream_room(f->s)) return;
        if (f->to && strcmp(f->to, g->to)) { f->pos = g->seq + 1; continue; }
        pm_message v;
        mgr_message_view(g, &v);
        if (v.etf && v.len > PM_MESSAGE_CONVERT_MAX) {
            if (!fill_large_message(f, &v, all)) return;
        } else {
            f->framer->message(stream_append_begin(f->s), f->token, &v, &names);
            stream_append_end(f->s);
        }
        f->pos = g->seq + 1;
    }
}

/* A message leaves the log while followers have written part of it: each
 * holds it, and finishes it before what follows (a missed marker, if more
 * left meanwhile). The last to finish it frees it. */
void mgr_message_leaves(peer *p, message *g)
{
    for (follower *f = p->followers; f; f = f->next)
        if (f->kind == PM_FOLLOW_MESSAGES && f->part && f->pos == g->seq && !f->finished && !f->held) {
            f->held = g;
            g->holders++;
        }
}

void mgr_drop_held(follower *f)
{
    message *g = f->held;
    f->held = NULL;
    if (g && !--g->holders) mgr_message_free(g);
}

void mgr_fill_events(follower *f, bool all)
{
    pm *m = f->m;
    uint64_t oldest = m->event_seq >= MAX_EVENTS ? m->event_seq - MAX_EVENTS + 1 : 1;
    if (f->pos < oldest) { push_missed(f, oldest - f->pos, oldest - 1); f->pos = oldest; }
    while (f->pos <= m->event_seq && (all || stream_room(f->s))) {
        f->framer->event(stream_append_begin(f->s), f->token, &m->events[f->pos % MAX_EVENTS].e);
        stream_append_end(f->s);
        f->pos++;
    }
}

void mgr_fill(follower *f)
{
    if (f->finished || f->dead) return;
    if (f->kind == PM_FOLLOW_EVENTS) {
        mgr_fill_events(f, false);
        if (f->once && f->pos > f->m->event_seq) mgr_finish_follower(f, STREAM_END);
        return;
    }
    if (!f->p) return;
    if (f->kind == PM_FOLLOW_CONSOLE) fill_console(f, false);
    else fill_messages(f, false);
    /* Down and all sent: a clean end. */
    bool drained = f->kind == PM_FOLLOW_CONSOLE ? f->pos >= console_end(f)
                                                 : !f->held && (!f->p->msgs_tail || f->pos > f->p->msgs_tail->seq || f->pos > f->until);
    if ((peer_done(f->p) || f->once) && drained) mgr_finish_follower(f, crash_cuts(f) ? STREAM_CUT : STREAM_END);
}

/* The peer is going away: hand each follower the rest (past its buffer's
 * cap: the ring goes with the peer) and end it; `cut` ends linked ones
 * without a clean end, as peer_down crash asks. */
void mgr_release_followers(peer *p, bool cut)
{
    pm *m = p->m;
    for (follower *f = p->followers, *n; f; f = n) {
        n = f->next;
        if (!f->finished) {
            if (f->kind == PM_FOLLOW_CONSOLE) fill_console(f, true);
            else fill_messages(f, true);
            mgr_finish_follower(f, (cut && f->link) || crash_cuts(f) ? STREAM_CUT : STREAM_END);
        }
        f->p = NULL;
        f->next = m->detached;
        m->detached = f;
    }
    p->followers = NULL;
}

/* The client of a follower went away (or its response ended early). */
static void follower_client_gone(follower *f)
{
    if (f->client_fd >= 0) close_fd(f->m, &f->client_fd, &f->w_client);
    stream_client_gone(f->s);
    if (f->link && f->p && !f->p->stopping && !f->p->removed) {
        mgr_plogf(f->p, "peer %s: its linked client went away; stopping it", f->p->id);
        f->p->stop_reason = "link_closed";
        mgr_stop_begin(f->p, NULL);
    }
}

/* A follower sits on its peer's list, the event feed's, or the detached one. */
static void unlink_follower(pm *m, follower *f)
{
    follower **lists[] = { f->p ? &f->p->followers : NULL, &m->event_followers, &m->detached };
    for (int k = 0; k < 3; k++)
        for (follower **fp = lists[k]; fp && *fp; fp = &(*fp)->next)
            if (*fp == f) { *fp = f->next; return; }
}

/* The client of a follower hung up (it is watched even while parked). */
static void on_client_ready(loop_watch *w, uint32_t ev)
{
    (void)ev;
    follower *f = w->ud;
    if (f->dead) return;
    close_fd(f->m, &f->client_fd, &f->w_client);
    if (!f->finished) follower_client_gone(f);
}

void mgr_do_follow(pm *m, peer *p, pm_req *r)
{
    follower *f = calloc(1, sizeof *f);
    if (!f) { mgr_finish(r, PM_ERR_NOMEM, NULL); return; }
    f->m = m;
    f->kind = r->follow;
    f->s = r->stream;
    r->stream = NULL;
    f->p = p;
    f->framer = r->framer;
    f->once = r->once;
    f->link = r->link && p;
    f->to = r->to;
    r->to = NULL;
    f->client_fd = r->client_fd;
    r->client_fd = -1;
    f->token = r->incarnation = p ? p->incarnation : m->instance;
    uint64_t reached = f->kind == PM_FOLLOW_CONSOLE ? p->console.end : p ? p->msg_seq : m->event_seq;
    bool reset = mgr_since_elsewhere(r, f->token, reached);
    if (reset) {
        f->framer->reset(stream_append_begin(f->s), f->kind, f->token, p ? p->id : NULL);
        stream_append_end(f->s);
    }
    /* A console offset, or the seq last seen; what is no longer kept is
     * reported missed by fill. */
    f->pos = f->kind == PM_FOLLOW_CONSOLE ? (reset ? 0 : r->since) : (reset ? 0 : r->since) + 1;
    /* A snapshot ends at what is kept now: output that comes while it is
     * read is the next one's. */
    f->until = f->once && p ? reached : UINT64_MAX;
    if (f->kind == PM_FOLLOW_CONSOLE) {
        r->range_start = f->pos > p->console.start ? f->pos : p->console.start;
        r->range_end = reached;
    }
    f->w_client.fd = -1;
    if (f->client_fd >= 0 && loop_watch_fd(m->l, &f->w_client, f->client_fd, EPOLLRDHUP, on_client_ready, f) < 0) {
        /* Without the watch a linked client's hang-up would go unseen. */
        int err = errno;
        close(f->client_fd);
        stream_unref(f->s);
        free(f->to);
        free(f);
        mgr_finish(r, PM_ERR_INTERNAL, xasprintf("cannot watch the client's connection: %s", strerror(err)));
        return;
    }
    follower **list = p ? &p->followers : &m->event_followers;
    f->next = *list;
    *list = f;
    r->follower = f;
    mgr_finish(r, PM_OK, NULL);
    mgr_fill(f);
}

/* The response is gone; free the follower after this batch of events. */
void mgr_do_unfollow(pm *m, pm_req *r)
{
    follower *f = r->follower;
    mgr_finish(r, PM_OK, NULL);
    if (!f) return;
    /* A client that leaves a linked stream before its end stops the peer. */
    if (!f->finished) follower_client_gone(f);
    else if (f->client_fd >= 0) close_fd(m, &f->client_fd, &f->w_client);
    unlink_follower(m, f);
    stream_unref(f->s);
    free(f->to);
    mgr_drop_held(f);
    f->dead = true;
    f->next = m->dead_followers;
    m->dead_followers = f;
}

/* The reader drained a starved stream: fill it again. */
void mgr_do_refill(pm_req *r)
{
    follower *f = r->follower;
    mgr_finish(r, PM_OK, NULL);
    if (f && !f->dead) mgr_fill(f);
    if (f && !f->dead && f->p) mgr_maybe_release_io(f->p);
}

/*
 * manager.c — the peer manager, on peerd's one loop (loop.h).
 *
 * It watches a signalfd for SIGCHLD; each peer's control connection
 * (conn.h) watches its own pipes and sockets and delivers console bytes and
 * messages here; requests are handled as one batch at the end of the loop's
 * turn (turn_end), after which followers catch up. Nothing here blocks:
 * writes queue in the connection and wait for EPOLLOUT, reads take what is
 * there.
 *
 * Lifecycle of a peer: booting (spawned, waiting for {started, Node}, then
 * two pipelined calls learn os:getpid() and self() for the node's OS pid and
 * its pid creation), running, down. A peer that was stopped or that went down
 * with peer_down = stop is removed and leaves a tombstone; its struct lives on
 * (hidden) until its processes are reaped.
 *
 * peerd is a child subreaper, so a node that detaches (-detached, the TCP
 * connection's default) becomes our child when its launcher exits: we can
 * see it exit, and kill it if a shutdown deadline passes.
 */
#include "manager.h"
#include "cmdline.h"
#include "conn.h"
#include "console_ring.h"
#include "control.h"
#include "etf.h"
#include "io_format.h"
#include "spawn.h"
#include "stdio_frame.h"
#include "term_json.h"
#include "timer_heap.h"
#include "utf8.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TOMBSTONE_MS (15 * 60 * 1000)
#define MAX_TOMBSTONES 10000
#define MAX_MESSAGES 10000
#define TAIL_BYTES 2048
#define MAX_NAMES 4096              /* other nodes' numbers kept per peer */
#define IO_HOLD_MS 2000             /* an io_reply waits for lagging followers this long at most */
#define TOMB_TAIL_BYTES 16384       /* of the console, kept with a tombstone */
#define CALL_BUCKETS 64
#define MAX_EVENTS 10000

static const int boot_bucket_ms[8] = { 100, 250, 500, 1000, 2500, 5000, 10000, 30000 };

enum peer_state { ST_BOOTING, ST_RUNNING, ST_DOWN };
static const char *const state_names[] = { "booting", "running", "down" };

typedef struct peer peer;
typedef struct follower follower;

/* A client following a peer's console or messages, or the event feed. The
 * loop fills its stream from `pos` while there is room; it is freed only on
 * PM_UNFOLLOW, so the response side's handle stays valid until then. */
struct follower {
    follower *next;
    pm *m;
    enum pm_follow_kind kind;
    stream *s;
    peer *p;                    /* NULL for events, or once the peer is gone */
    uint64_t pos;               /* console offset / next message or event seq */
    uint64_t token;             /* the peer's incarnation, or the instance for events: ids are TOKEN-POS */
    bool sse, link, once, finished, dead;
    bool slow;                  /* let an I/O hold expire: gets missed markers, holds nothing */
    char *to;
    int client_fd;
    loop_watch w_client;
};

/* A GET /wait in progress. */
typedef struct waiter { struct waiter *next; pm_req *req; peer *p; tmr timer; } waiter;

typedef struct {
    arena *a;
    term *from, *reply_as, **reqs, *last;
    size_t n, i;
} io_cont;

enum pending_kind { P_CLIENT, P_GETPID, P_SELF, P_IO, P_NAMES };
typedef struct pending pending;
struct pending {
    pending *next;
    uint64_t seq;
    enum pending_kind kind;
    pm_req *req;
    io_cont *io;
    peer *p;
    tmr timer;
    arena *na;                  /* P_NAMES: the nodes asked about, in order */
    term **asked;
    size_t nasked;
};

/* A message from the node that waits for the node to say how it numbers
 * the other nodes it names (P_NAMES), behind any earlier one. */
typedef struct held { struct held *next; arena *a; term *to, *content; } held;

typedef struct message { struct message *next; uint64_t seq; char *to, *line; size_t len; } message;

struct peer {
    peer *next;
    pm *m;
    char *id, *node, *down_reason;
    uint64_t incarnation;       /* this start of the peer: console and message ids are of it */
    enum peer_state state;
    pm_start_opts *opt;
    char **argv;
    pid_t child, os_pid;
    bool node_ours;             /* os_pid is a process we can wait for and kill */
    int exit_status;            /* of the child, -1 while unknown */
    conn *conn;                 /* the control connection (conn.h) */
    uint64_t seq;
    pending *calls[CALL_BUCKETS];
    int boot_calls;             /* internal boot calls still unanswered */
    console_ring console;
    message *msgs, *msgs_tail;
    size_t nmsgs;
    uint64_t msg_seq;
    pm_req *boot_waiters, *stop_waiters;
    tmr boot_timer, stop_timer, lease_timer;
    buf held_io;                /* io_replies held for lagging followers: u32 length, ETF */
    tmr held_timer;
    int64_t created_at, booted_at, down_at, lease_expires_at;
    uint64_t boot_started;      /* monotonic ms */
    bool stopping, killed, removed, dead;
    bool corked;                /* output waits for the end of the batch */
    peer *next_corked;
    bool fill_due;              /* console followers get new output at the end of the batch */
    peer *next_fill;
    arena *ident;               /* node atom of the peer's pids */
    term *node_atom;
    uint32_t creation;
    follower *followers;
    waiter *waiters;
    const char *stop_reason;    /* down_reason a stop ends with, if not "stopped" */
    /* N of <N.ID.SERIAL> for other nodes, as this node prints them (0: it
     * could not say); term_text.h. */
    arena *names_arena;
    term_node_number *names;
    size_t nnames;
    held *held, *held_tail;
};

typedef struct tombstone { struct tombstone *next; pm_peer_info info; uint64_t expires; } tombstone;

struct pm {
    pm_config cfg;
    loop *l;
    int sfd;                    /* SIGCHLD */
    loop_watch w_signal;
    pm_req *qhead, *qtail;      /* requests for the end of this turn */
    bool shutting_down;
    bool stopped;               /* shut down: pm_submit answers itself */
    void (*quit_done)(void *ud);
    void *quit_ud;
    peer *peers;
    peer *graveyard;            /* freed at the end of an event batch */
    bool batching;              /* handling a batch of requests: cork output */
    peer *corked;               /* peers with output held for the batch */
    peer *fill_due;             /* peers whose console followers are behind */
    follower *event_followers, *detached, *dead_followers;
    char **events;              /* the last MAX_EVENTS event lines, by seq % MAX_EVENTS */
    /* Figures for /metrics. */
    uint64_t starts, boot_failures, console_bytes, boot_ms_sum, boot_count;
    uint64_t boot_buckets[8];   /* cumulative counts at boot_bucket_ms */
    uint64_t event_seq;         /* seq of the newest event */
    uint64_t instance;          /* random per process: event ids are of it */
    uint64_t incarnations;      /* peers started so far */
    int npeers;                 /* live (not removed) peers */
    tombstone *tombs;
    size_t ntombs;
};

/* ---- small helpers ---- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void logf_(pm *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(pm *m, const char *fmt, ...)
{
    if (m->cfg.quiet) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "peerd: %s\n", line);
}

/* splitmix64's finaliser: a bijection, so distinct inputs give distinct ids. */
static uint64_t mix64(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static char *xstrdup(const char *s) { return s ? strdup(s) : NULL; }

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    return s;
}

static void strv_free(char **v)
{
    if (!v) return;
    for (char **p = v; *p; p++) free(*p);
    free(v);
}

static size_t strv_len(char *const *v)
{
    size_t n = 0;
    while (v && v[n]) n++;
    return n;
}

static char **strv_dup(char *const *v)
{
    size_t n = strv_len(v);
    char **d = calloc(n + 1, sizeof *d);
    for (size_t i = 0; d && i < n; i++)
        if (!(d[i] = strdup(v[i]))) { strv_free(d); return NULL; }
    return d;
}

void pm_start_opts_free(pm_start_opts *o)
{
    if (!o) return;
    free(o->name); free(o->host); free(o->tcp_ip); free(o->options_json); free(o->notify_url);
    strv_free(o->exec); strv_free(o->args); strv_free(o->post_process_args); strv_free(o->env);
    free(o);
}

void pm_peer_info_free(pm_peer_info *i)
{
    if (!i) return;
    free(i->id); free(i->node); free(i->down_reason); free(i->connection); free(i->options_json);
    strv_free(i->argv);
    free(i->console_tail);
}

pm_req *pm_req_new(pm_op op, const char *id)
{
    pm_req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->op = op;
    r->exit_status = -1;
    r->client_fd = -1;
    if (id && !(r->id = strdup(id))) { free(r); return NULL; }
    return r;
}

void pm_req_free(pm_req *r)
{
    if (!r) return;
    free(r->id);
    free(r->to);
    pm_start_opts_free(r->start);
    buf_free(&r->payload);
    free(r->detail);
    for (size_t i = 0; i < r->ninfo; i++) pm_peer_info_free(&r->info[i]);
    free(r->info);
    free(r->klass);
    buf_free(&r->reply);
    free(r->console_tail);
    arena_free(r->identity_arena);
    arena_free(r->names_arena);
    free(r);
}

char *pm_random_name(const char *prefix)
{
    static atomic_uint_fast64_t unique;
    uint64_t u = atomic_fetch_add(&unique, 1) + 1;
    return xasprintf("%s-%llu-%d", prefix ? prefix : "peer", (unsigned long long)u, (int)getpid());
}

/* ---- answering requests ---- */

static void finish(pm_req *r, pm_status st, char *detail)
{
    if (r->op == PM_FOLLOW && st != PM_OK) {
        /* The manager took these over; it gives them up on failure. */
        if (r->client_fd >= 0) { close(r->client_fd); r->client_fd = -1; }
        if (r->stream) { stream_unref(r->stream); r->stream = NULL; }
    }
    r->status = st;
    if (detail) { free(r->detail); r->detail = detail; }
    r->done(r);
}

static void snapshot(const peer *p, pm_peer_info *i)
{
    memset(i, 0, sizeof *i);
    i->id = xstrdup(p->id);
    i->node = xstrdup(p->node);
    i->down_reason = xstrdup(p->down_reason);
    i->connection = xstrdup(p->conn ? p->conn->ops->describe(p->conn) : NULL);
    i->options_json = xstrdup(p->opt->options_json);
    i->state = state_names[p->state];
    i->os_pid = p->os_pid;
    i->argv = strv_dup(p->argv);
    i->created_at = p->created_at;
    i->booted_at = p->booted_at;
    i->down_at = p->down_at;
    i->lease_expires_at = p->lease_expires_at;
    i->console_bytes = p->console.end;
    i->incarnation = p->incarnation;
}

static void copy_info(pm_peer_info *dst, const pm_peer_info *src)
{
    *dst = *src;
    dst->id = xstrdup(src->id);
    dst->node = xstrdup(src->node);
    dst->down_reason = xstrdup(src->down_reason);
    dst->connection = xstrdup(src->connection);
    dst->options_json = xstrdup(src->options_json);
    dst->argv = strv_dup(src->argv);
    dst->console_tail = NULL;
    if (src->console_tail && (dst->console_tail = malloc(src->console_tail_len + 1)))
        memcpy(dst->console_tail, src->console_tail, src->console_tail_len + 1);
    else
        dst->console_tail_len = 0;
}

static void answer_with_info(pm_req *r, const peer *p, pm_status st, char *detail)
{
    r->info = calloc(1, sizeof *r->info);
    if (r->info) { snapshot(p, r->info); r->ninfo = 1; }
    finish(r, st, detail);
}

/* ---- descriptors ---- */

/* Closes a descriptor of the manager's, and stops watching it. */
static void close_fd(pm *m, int *fd, loop_watch *w)
{
    if (*fd < 0) return;
    if (w && w->fd == *fd) loop_unwatch(m->l, w);
    close(*fd);
    *fd = -1;
}

static bool conn_open(const peer *p) { return p->conn && p->conn->ops->is_open(p->conn); }
static bool conn_waiting(const peer *p) { return p->conn && p->conn->ops->is_waiting(p->conn); }

/* ---- timers ---- */

static void timer_set(pm *m, tmr *t, uint64_t ms, void (*fire)(void *, tmr *), void *owner)
{
    if (!loop_timer(m->l, t, ms, fire, owner)) logf_(m, "out of memory arming a timer of %llu ms", (unsigned long long)ms);
}

static void timer_clear(pm *m, tmr *t) { loop_timer_clear(m->l, t); }

/* ---- sending ---- */

static void flush_out(peer *p)
{
    if (p->conn) p->conn->ops->flush(p->conn);
}

/* Queues one ETF message (version byte included) on the control connection. */
static void send_etf(peer *p, const uint8_t *etf, size_t n)
{
    if (!conn_open(p)) return;
    p->conn->ops->send(p->conn, etf, n);
    /* Within a batch of requests, one write per peer carries them all. */
    if (p->m->batching) {
        if (!p->corked) { p->corked = true; p->next_corked = p->m->corked; p->m->corked = p; }
        return;
    }
    flush_out(p);
}

/* {Tag, [Seq,] Payload...} where payload is ready-made ETF bodies. */
static void send_tagged(peer *p, const char *tag, int arity, const uint64_t *seq, const uint8_t *body, size_t n)
{
    buf b = {0};
    buf_byte(&b, ETF_VERSION);
    buf_byte(&b, 104);
    buf_byte(&b, (uint8_t)arity);
    etf_encode_atom(&b, tag, strlen(tag));
    if (seq) etf_encode_int(&b, (int64_t)*seq);
    buf_put(&b, body, n);
    if (!b.oom) send_etf(p, b.p, b.len);
    buf_free(&b);
}

/* ---- pending calls ---- */

static pending *pending_new(peer *p, enum pending_kind kind)
{
    pending *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->seq = p->seq++;
    c->kind = kind;
    c->p = p;
    size_t b = c->seq % CALL_BUCKETS;
    c->next = p->calls[b];
    p->calls[b] = c;
    return c;
}

static pending *pending_take(peer *p, uint64_t seq)
{
    for (pending **pp = &p->calls[seq % CALL_BUCKETS]; *pp; pp = &(*pp)->next)
        if ((*pp)->seq == seq) {
            pending *c = *pp;
            *pp = c->next;
            timer_clear(p->m, &c->timer);
            return c;
        }
    return NULL;
}

static void io_cont_free(io_cont *io)
{
    if (!io) return;
    arena_free(io->a);
    free(io);
}

static void pending_free(pending *c)
{
    io_cont_free(c->io);
    arena_free(c->na);
    free(c);
}

static void call_timeout(void *owner, tmr *t)
{
    (void)t;
    pending *c = owner;
    pending_take(c->p, c->seq);
    finish(c->req, PM_ERR_TIMEOUT, xasprintf("no reply within %lld ms", (long long)c->req->timeout_ms));
    pending_free(c);
}

static void send_call(peer *p, pending *c, const uint8_t *mfa, size_t n)
{
    send_tagged(p, "call", 5, &c->seq, mfa, n);
}

/* Encodes M, F, [Args...] bodies for an internal call. */
static void internal_call(peer *p, enum pending_kind kind, const char *mod, const char *fun)
{
    pending *c = pending_new(p, kind);
    if (!c) return;
    buf b = {0};
    etf_encode_atom(&b, mod, strlen(mod));
    etf_encode_atom(&b, fun, strlen(fun));
    buf_byte(&b, 106);
    send_call(p, c, b.p, b.len);
    buf_free(&b);
}

static void finish_reply(peer *p, pm_req *r);
static void release_held(peer *p, bool all);

/* Fails every call in flight: the connection is gone. */
static void fail_pending(peer *p, const char *why)
{
    for (int b = 0; b < CALL_BUCKETS; b++) {
        pending *c = p->calls[b];
        p->calls[b] = NULL;
        while (c) {
            pending *next = c->next;
            timer_clear(p->m, &c->timer);
            if (c->kind == P_CLIENT) finish(c->req, PM_ERR_NOCONNECTION, xasprintf("%s", why));
            if (c->kind == P_NAMES && c->req) finish_reply(p, c->req);   /* the reply came; only its names did not */
            pending_free(c);
            c = next;
        }
    }
    release_held(p, true);
}

/* ---- console ---- */

/* Flow control for followers that keep reading but read slower than the
 * node prints: the node's I/O requests wait for them (their io_replies are
 * held), as a terminal makes a writer wait, so that nothing is overwritten
 * in the ring before they have it. For IO_HOLD_MS at most: a follower that
 * lets that pass is slow and gets missed markers instead, and holds nothing
 * back until it has caught up again. */
static bool followers_lag(peer *p)
{
    uint64_t limit = p->console.max / 2;
    for (follower *f = p->followers; f; f = f->next) {
        if (f->kind != PM_FOLLOW_CONSOLE || f->finished || f->dead) continue;
        uint64_t lag = p->console.end > f->pos ? p->console.end - f->pos : 0;
        if (f->slow) {
            if (lag > limit / 2) continue;
            f->slow = false;
        }
        if (lag > limit) return true;
    }
    return false;
}

static void release_io(peer *p)
{
    timer_clear(p->m, &p->held_timer);
    for (size_t off = 0; off + 4 <= p->held_io.len;) {
        const uint8_t *q = p->held_io.p + off;
        uint32_t n = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
        send_etf(p, q + 4, n);
        off += 4 + (size_t)n;
    }
    p->held_io.len = 0;
}

static void io_hold_expired(void *owner, tmr *t)
{
    (void)t;
    peer *p = owner;
    uint64_t limit = p->console.max / 2;
    for (follower *f = p->followers; f; f = f->next)
        if (f->kind == PM_FOLLOW_CONSOLE && p->console.end > f->pos && p->console.end - f->pos > limit) f->slow = true;
    release_io(p);
}

/* An io_reply goes now, or after what is held, once no follower lags. */
static void send_io_reply(peer *p, const uint8_t *etf, size_t n)
{
    if (!p->held_io.len && !followers_lag(p)) { send_etf(p, etf, n); return; }
    buf_u32(&p->held_io, (uint32_t)n);
    buf_put(&p->held_io, etf, n);
    if (!p->held_timer.idx) timer_set(p->m, &p->held_timer, IO_HOLD_MS, io_hold_expired, p);
}

/* Followers were filled: what they held back may go. */
static void maybe_release_io(peer *p)
{
    if (p->held_io.len && !p->dead && !followers_lag(p)) release_io(p);
}

static void fill(follower *f);

/* Output goes into the ring now; followers catch up from it once the
 * loop has handled everything that woke it (fill_followers): the node gets
 * its io_reply first, and many small writes reach a follower as one push. */
static void console_write(peer *p, const void *data, size_t n)
{
    if (!n) return;
    console_ring_write(&p->console, data, n);
    p->m->console_bytes += n;
    if (p->followers && !p->fill_due) {
        p->fill_due = true;
        p->next_fill = p->m->fill_due;
        p->m->fill_due = p;
    }
}

static void fill_followers(pm *m)
{
    for (peer *p = m->fill_due, *n; p; p = n) {
        n = p->next_fill;
        p->fill_due = false;
        if (p->dead) continue;   /* its followers were handed everything when it went */
        for (follower *f = p->followers; f; f = f->next)
            if (f->kind == PM_FOLLOW_CONSOLE) fill(f);
        maybe_release_io(p);
    }
    m->fill_due = NULL;
}

static char *console_tail(const peer *p)
{
    uint64_t since = p->console.end > TAIL_BYTES ? p->console.end - TAIL_BYTES : 0;
    char *s = malloc(TAIL_BYTES + 1);
    if (!s) return NULL;
    size_t n = console_ring_read(&p->console, &since, s, TAIL_BYTES);
    s[n] = 0;
    return s;
}

/* Appends chardata (iolist / unicode chardata) as UTF-8; false if not chardata. */
static bool chardata_utf8(const term *t, bool unicode, buf *out, int depth)
{
    if (depth > 100) return false;
    uint8_t u[4];
    switch (t->type) {
    case TERM_BINARY:
        if (t->bin.bits != 8) return false;
        if (unicode) { buf_put(out, t->bin.data, t->bin.len); return true; }
        for (size_t i = 0; i < t->bin.len; i++) buf_put(out, u, utf8_put(u, t->bin.data[i]));
        return true;
    case TERM_NIL:
        return true;
    case TERM_INT:
        if (t->i < 0 || t->i > (unicode ? 0x10ffff : 255)) return false;
        {
            size_t k = utf8_put(u, (uint32_t)t->i);
            if (!k) return false;
            buf_put(out, u, k);
        }
        return true;
    case TERM_LIST:
        for (size_t i = 0; i < t->list.n; i++)
            if (!chardata_utf8(t->list.items[i], unicode, out, depth + 1)) return false;
        return t->list.tail->type == TERM_NIL || (t->list.tail->type == TERM_BINARY && chardata_utf8(t->list.tail, unicode, out, depth + 1));
    default:
        return false;
    }
}

/* ---- events ---- */

void pm_iso_time(char *out, size_t n, int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour % 24, tm.tm_min % 60, tm.tm_sec % 61, (int)(ms % 1000));
}

static void fill(follower *f);

/* Records an event, feeds followers of /events, and the peer's notify_url. */
static void emit_event(pm *m, const peer *p, const char *type, const char *reason)
{
    char when[64];
    pm_iso_time(when, sizeof when, wall_ms());
    char id[48], inc[24];
    snprintf(id, sizeof id, "%016llx-%llu", (unsigned long long)m->instance, (unsigned long long)(m->event_seq + 1));
    snprintf(inc, sizeof inc, "%016llx", (unsigned long long)p->incarnation);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddNumberToObject(o, "seq", (double)(m->event_seq + 1));
    cJSON_AddStringToObject(o, "time", when);
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddStringToObject(o, "peer", p->id);
    cJSON_AddStringToObject(o, "incarnation", inc);
    if (p->node) cJSON_AddStringToObject(o, "node", p->node); else cJSON_AddNullToObject(o, "node");
    if (reason) cJSON_AddStringToObject(o, "reason", reason); else cJSON_AddNullToObject(o, "reason");
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!line) return;
    uint64_t seq = ++m->event_seq;
    char **slot = &m->events[seq % MAX_EVENTS];
    free(*slot);
    *slot = line;
    if (p->opt->notify_url && m->cfg.notify) m->cfg.notify(p->opt->notify_url, line, m->cfg.notify_ud);
    for (follower *f = m->event_followers; f; f = f->next) fill(f);
}

/* ---- followers ---- */

/* One SSE event. Every line of the data is a data: line, split where the
 * SSE grammar ends a line (CR, LF or CRLF), so that no parser drops what
 * follows a bare CR; the client joins the lines with LF. */
static void push_sse(stream *s, const char *event, uint64_t token, uint64_t pos, const uint8_t *data, size_t n)
{
    buf b = {0};
    if (event) buf_printf(&b, "event: %s\n", event);
    buf_printf(&b, "id: %016llx-%llu\n", (unsigned long long)token, (unsigned long long)pos);
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || data[i] == '\n' || data[i] == '\r') {
            buf_str(&b, "data: ");
            buf_put(&b, data + start, i - start);
            buf_byte(&b, '\n');
            if (i + 1 < n && data[i] == '\r' && data[i + 1] == '\n') i++;
            start = i + 1;
        }
    }
    buf_byte(&b, '\n');
    if (!b.oom) stream_push(s, b.p, b.len);
    buf_free(&b);
}

/* `missed` units (bytes, messages, events) are gone from before `resume`,
 * the id a client would resume from. */
static void push_missed(follower *f, uint64_t missed, uint64_t resume)
{
    char text[128];
    int n = snprintf(text, sizeof text, "%llu", (unsigned long long)missed);
    if (f->sse) { push_sse(f->s, "missed", f->token, resume, (uint8_t *)text, (size_t)n); return; }
    if (f->kind == PM_FOLLOW_CONSOLE)
        n = snprintf(text, sizeof text, "\n[peerd: %llu bytes of console output missed here]\n", (unsigned long long)missed);
    else
        n = snprintf(text, sizeof text, "{\"missed\":%llu}\n", (unsigned long long)missed);
    stream_push(f->s, text, (size_t)n);
}

/* The id the client gave is of another incarnation (or instance): what
 * follows is this one's from its start. */
static void reset_marker(buf *b, enum pm_follow_kind kind, bool sse, uint64_t token, const char *peer_id)
{
    const char *what = kind == PM_FOLLOW_EVENTS ? "instance" : "incarnation";
    if (sse)
        buf_printf(b, "event: reset\nid: %016llx-0\ndata: {\"%s\":\"%016llx\"}\n\n", (unsigned long long)token, what,
                   (unsigned long long)token);
    else if (kind == PM_FOLLOW_CONSOLE)
        buf_printf(b, "[peerd: reset: the id asked for is not of this node; incarnation %016llx of peer %s from its start]\n",
                   (unsigned long long)token, peer_id);
    else
        buf_printf(b, "{\"reset\":{\"%s\":\"%016llx\"}}\n", what, (unsigned long long)token);
}

/* A reader's `since` is of another incarnation when it says so, or when it
 * is past anything this one has reached. */
static bool since_elsewhere(const pm_req *r, uint64_t token, uint64_t reached)
{
    return (r->since_tagged && r->since_of != token) || r->since > reached;
}

/* The follower has seen all there will be: end its response. */
static void finish_follower(follower *f, stream_state how)
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

static void fill_console(follower *f, bool all)
{
    const console_ring *ring = &f->p->console;
    uint8_t chunk[16384];
    for (;;) {
        size_t room = all ? sizeof chunk : stream_room(f->s);
        if (!room || f->pos >= ring->end) break;
        if (f->pos < ring->start) {
            push_missed(f, ring->start - f->pos, ring->start);
            f->pos = ring->start;
            continue;
        }
        uint64_t since = f->pos;
        size_t n = console_ring_read(ring, &since, chunk, room < sizeof chunk ? room : sizeof chunk);
        f->pos = since + n;
        if (f->sse) push_sse(f->s, NULL, f->token, f->pos, chunk, n);
        else stream_push(f->s, chunk, n);
    }
}

static void fill_messages(follower *f, bool all)
{
    const peer *p = f->p;
    if (p->msgs && f->pos < p->msgs->seq) {
        push_missed(f, p->msgs->seq - f->pos, p->msgs->seq - 1);
        f->pos = p->msgs->seq;
    }
    for (message *g = p->msgs; g; g = g->next) {
        if (g->seq < f->pos) continue;
        if (!all && !stream_room(f->s)) return;
        f->pos = g->seq + 1;
        if (f->to && strcmp(f->to, g->to)) continue;
        if (f->sse) push_sse(f->s, "message", f->token, g->seq, (uint8_t *)g->line, g->len);
        else { stream_push(f->s, g->line, g->len); stream_push(f->s, "\n", 1); }
    }
}

static void fill_events(follower *f, bool all)
{
    pm *m = f->m;
    uint64_t oldest = m->event_seq >= MAX_EVENTS ? m->event_seq - MAX_EVENTS + 1 : 1;
    if (f->pos < oldest) { push_missed(f, oldest - f->pos, oldest - 1); f->pos = oldest; }
    while (f->pos <= m->event_seq && (all || stream_room(f->s))) {
        const char *line = m->events[f->pos % MAX_EVENTS];
        if (f->sse) push_sse(f->s, "peer", f->token, f->pos, (const uint8_t *)line, strlen(line));
        else { stream_push(f->s, line, strlen(line)); stream_push(f->s, "\n", 1); }
        f->pos++;
    }
}

static void fill(follower *f)
{
    if (f->finished || f->dead) return;
    if (f->kind == PM_FOLLOW_EVENTS) {
        fill_events(f, false);
        if (f->once && f->pos > f->m->event_seq) finish_follower(f, STREAM_END);
        return;
    }
    if (!f->p) return;
    if (f->kind == PM_FOLLOW_CONSOLE) fill_console(f, false);
    else fill_messages(f, false);
    /* Down and all sent: a clean end. */
    bool drained = f->kind == PM_FOLLOW_CONSOLE ? f->pos >= f->p->console.end
                                                 : !f->p->msgs_tail || f->pos > f->p->msgs_tail->seq;
    if ((peer_done(f->p) || f->once) && drained) finish_follower(f, crash_cuts(f) ? STREAM_CUT : STREAM_END);
}

/* The peer is going away: hand each follower the rest (past its buffer's
 * cap: the ring goes with the peer) and end it; `cut` ends linked ones
 * without a clean end, as peer_down crash asks. */
static void release_followers(peer *p, bool cut)
{
    pm *m = p->m;
    for (follower *f = p->followers, *n; f; f = n) {
        n = f->next;
        if (!f->finished) {
            if (f->kind == PM_FOLLOW_CONSOLE) fill_console(f, true);
            else fill_messages(f, true);
            finish_follower(f, (cut && f->link) || crash_cuts(f) ? STREAM_CUT : STREAM_END);
        }
        f->p = NULL;
        f->next = m->detached;
        m->detached = f;
    }
    p->followers = NULL;
}

static void stop_begin(peer *p, pm_req *waiter);

/* The client of a follower went away (or its response ended early). */
static void follower_client_gone(follower *f)
{
    if (f->client_fd >= 0) close_fd(f->m, &f->client_fd, &f->w_client);
    f->s->gone = true;
    bool parked = f->s->parked;
    f->s->parked = false;
    if (parked) f->s->wake(f->s->ud);
    if (f->link && f->p && !f->p->stopping && !f->p->removed) {
        logf_(f->m, "peer %s: its linked client went away; stopping it", f->p->id);
        f->p->stop_reason = "link_closed";
        stop_begin(f->p, NULL);
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

/* ---- waiting ---- */

static void waiter_answer(waiter *w, pm_status st, char *detail)
{
    peer *p = w->p;
    for (waiter **wp = &p->waiters; *wp; wp = &(*wp)->next)
        if (*wp == w) { *wp = w->next; break; }
    timer_clear(p->m, &w->timer);
    if (st == PM_OK || st == PM_ERR_NOCONNECTION) answer_with_info(w->req, p, st, detail);
    else finish(w->req, st, detail);
    free(w);
}

/* Answers the waits that the peer's new state settles. */
static void wake_waiters(peer *p)
{
    for (waiter *w = p->waiters, *n; w; w = n) {
        n = w->next;
        if (p->state == ST_DOWN || p->removed)
            waiter_answer(w, w->req->want_down ? PM_OK : PM_ERR_NOCONNECTION,
                          w->req->want_down ? NULL : xasprintf("peer %s went down before it was running", p->id));
        else if (p->state == ST_RUNNING && !w->req->want_down)
            waiter_answer(w, PM_OK, NULL);
    }
}

static void wait_timeout(void *owner, tmr *t)
{
    (void)t;
    waiter *w = owner;
    waiter_answer(w, PM_ERR_TIMEOUT, xasprintf("peer %s did not reach %s within %lld ms", w->p->id,
                                               w->req->want_down ? "down" : "running", (long long)w->req->timeout_ms));
}

/* ---- lifecycle ---- */

static void peer_free(peer *p)
{
    pm *m = p->m;
    for (peer **pp = &m->peers; *pp; pp = &(*pp)->next)
        if (*pp == p) { *pp = p->next; break; }
    timer_clear(m, &p->boot_timer);
    timer_clear(m, &p->stop_timer);
    timer_clear(m, &p->lease_timer);
    timer_clear(m, &p->held_timer);
    buf_free(&p->held_io);
    if (p->conn) p->conn->ops->free(p->conn);
    p->conn = NULL;
    fail_pending(p, "peer removed");
    release_followers(p, false);
    while (p->waiters) waiter_answer(p->waiters, PM_ERR_NOCONNECTION, xasprintf("peer %s was removed", p->id));
    free(p->id); free(p->node); free(p->down_reason);
    pm_start_opts_free(p->opt);
    strv_free(p->argv);
    console_ring_free(&p->console);
    for (message *g = p->msgs, *n; g; g = n) { n = g->next; free(g->to); free(g->line); free(g); }
    arena_free(p->ident);
    arena_free(p->names_arena);
    free(p->names);
    /* Events of this epoll batch may still name p: free it after the batch. */
    p->dead = true;
    p->next = m->graveyard;
    m->graveyard = p;
}

static bool processes_gone(const peer *p) { return !p->child && !(p->node_ours && p->os_pid); }

/* A removed peer's struct lives until its processes are reaped. */
static void maybe_free(peer *p)
{
    if (p->removed && processes_gone(p) && !p->stop_waiters) peer_free(p);
}

static void add_tombstone(pm *m, const peer *p)
{
    uint64_t now = now_ms();
    /* Drop expired ones, and the oldest when over the cap. */
    for (tombstone **tp = &m->tombs; *tp;) {
        tombstone *t = *tp;
        bool drop = t->expires < now || (m->ntombs >= MAX_TOMBSTONES && !t->next);
        if (drop || (p->id && !strcmp(t->info.id, p->id))) {
            *tp = t->next;
            pm_peer_info_free(&t->info);
            free(t);
            m->ntombs--;
        } else {
            tp = &t->next;
        }
    }
    tombstone *t = calloc(1, sizeof *t);
    if (!t) return;
    snapshot(p, &t->info);
    /* The end of the console (from a character's start) outlives the node,
     * so that a crash report stays readable. */
    uint64_t at = p->console.end > TOMB_TAIL_BYTES ? p->console.end - TOMB_TAIL_BYTES : 0;
    if (at < p->console.start) at = p->console.start;
    char *tail = malloc((size_t)(p->console.end - at) + 1);
    if (tail) {
        size_t n = console_ring_read(&p->console, &at, tail, (size_t)(p->console.end - at)), skip = 0;
        while (skip < 3 && skip < n && at > 0 && ((uint8_t)tail[skip] & 0xc0) == 0x80) skip++;
        memmove(tail, tail + skip, n - skip);
        tail[n - skip] = 0;
        t->info.console_tail = tail;
        t->info.console_tail_len = n - skip;
        t->info.console_tail_at = at + skip;
    }
    t->expires = now + TOMBSTONE_MS;
    t->next = m->tombs;
    m->tombs = t;
    m->ntombs++;
}

static void remove_peer(peer *p, bool tomb)
{
    if (p->removed) return;
    p->removed = true;
    p->m->npeers--;
    if (tomb) add_tombstone(p->m, p);
    timer_clear(p->m, &p->lease_timer);
    wake_waiters(p);
    release_followers(p, p->opt->peer_down == PM_DOWN_CRASH && !p->stopping);
    emit_event(p->m, p, "removed", p->down_reason);
    maybe_free(p);
}

static void kill_processes(peer *p)
{
    if (p->child) kill(-p->child, SIGKILL), kill(p->child, SIGKILL);
    if (p->node_ours && p->os_pid) kill(p->os_pid, SIGKILL);
    p->killed = true;
}

/* Closes the control connection; the node halts when it sees that. */
static void close_control(peer *p)
{
    if (p->conn) p->conn->ops->close(p->conn);
}

static void set_down(peer *p, const char *reason)
{
    if (p->state == ST_DOWN) return;
    p->state = ST_DOWN;
    p->down_at = wall_ms();
    free(p->down_reason);
    p->down_reason = xstrdup(reason);
    timer_clear(p->m, &p->boot_timer);
    fail_pending(p, "the peer is down");
    wake_waiters(p);
    for (follower *f = p->followers; f; f = f->next) fill(f);
}

static void stop_complete(peer *p)
{
    pm_req *w = p->stop_waiters;
    p->stop_waiters = NULL;
    set_down(p, p->killed ? "killed" : p->stop_reason ? p->stop_reason : "stopped");
    logf_(p->m, "peer %s stopped%s", p->id, p->killed ? " (killed after the shutdown deadline)" : "");
    emit_event(p->m, p, "stopped", p->down_reason);
    while (w) {
        pm_req *next = w->next;
        answer_with_info(w, p, PM_OK, NULL);
        w = next;
    }
    remove_peer(p, true);
}

/* A stop is complete when the control connection is closed and, unless the
 * shutdown is `close`, the node's processes are gone. */
static bool check_stop(peer *p)
{
    if (!p->stopping || p->removed) return false;
    if (conn_open(p) || conn_waiting(p)) return false;
    if (p->opt->shutdown != PM_SHUTDOWN_CLOSE && !processes_gone(p)) return false;
    timer_clear(p->m, &p->stop_timer);
    stop_complete(p);
    return true;
}

static void stop_deadline(void *owner, tmr *t)
{
    (void)t;
    peer *p = owner;
    close_control(p);
    kill_processes(p);
    check_stop(p);
}

static void stop_begin(peer *p, pm_req *waiter)
{
    pm *m = p->m;
    if (waiter) { waiter->next = p->stop_waiters; p->stop_waiters = waiter; }
    if (p->stopping) return;
    p->stopping = true;
    if (p->conn) p->conn->raw = true;   /* what it prints from now on is console only */
    timer_clear(m, &p->boot_timer);
    timer_clear(m, &p->lease_timer);
    /* Whoever waited for the boot learns it will not happen. */
    for (pm_req *w = p->boot_waiters, *n; w; w = n) {
        n = w->next;
        finish(w, PM_ERR_BOOT_FAILED, xasprintf("the peer was stopped while booting"));
    }
    p->boot_waiters = NULL;
    if (p->state == ST_DOWN || (!conn_open(p) && !conn_waiting(p) && processes_gone(p))) {
        stop_complete(p);
        return;
    }
    int64_t ms = p->opt->shutdown_ms;
    if (p->opt->shutdown == PM_SHUTDOWN_STOP && conn_open(p) && p->state == ST_RUNNING) {
        /* {cast, init, stop, []}; the node closes the connection when done. */
        static const uint8_t init_stop[] = { 100, 0, 4, 'i', 'n', 'i', 't', 100, 0, 4, 's', 't', 'o', 'p', 106 };
        send_tagged(p, "cast", 4, NULL, init_stop, sizeof init_stop);
    } else {
        close_control(p);
        if (p->opt->shutdown == PM_SHUTDOWN_STOP && ms == PM_INFINITY) ms = 5000;
    }
    if (ms != PM_INFINITY) timer_set(m, &p->stop_timer, (uint64_t)ms, stop_deadline, p);
    check_stop(p);
}

static void lease_expired(void *owner, tmr *t);

static void boot_succeeded(peer *p)
{
    p->state = ST_RUNNING;
    p->booted_at = wall_ms();
    timer_clear(p->m, &p->boot_timer);
    uint64_t took = now_ms() - p->boot_started;
    logf_(p->m, "peer %s running as %s (os pid %d) after %llu ms", p->id, p->node ? p->node : "?",
          (int)p->os_pid, (unsigned long long)took);
    p->m->boot_count++;
    p->m->boot_ms_sum += took;
    for (int i = 0; i < 8; i++) if (took <= (uint64_t)boot_bucket_ms[i]) p->m->boot_buckets[i]++;
    for (pm_req *w = p->boot_waiters, *n; w; w = n) {
        n = w->next;
        answer_with_info(w, p, PM_OK, NULL);
    }
    p->boot_waiters = NULL;
    /* A lease runs from the moment the client can act on the peer. */
    if (p->opt->lease_ms) {
        timer_set(p->m, &p->lease_timer, (uint64_t)p->opt->lease_ms, lease_expired, p);
        p->lease_expires_at = wall_ms() + p->opt->lease_ms;
    }
    emit_event(p->m, p, "booted", NULL);
    wake_waiters(p);
}

/* The control connection or the node is gone. May free p. */
static void conn_lost(peer *p, const char *reason)
{
    pm *m = p->m;
    close_control(p);
    if (p->removed) { maybe_free(p); return; }
    if (p->stopping) { check_stop(p); return; }
    if (p->state == ST_BOOTING) {
        logf_(m, "peer %s failed to boot: %s", p->id, reason);
        bool waited = p->boot_waiters != NULL;
        set_down(p, reason);
        for (pm_req *w = p->boot_waiters, *n; w; w = n) {
            n = w->next;
            w->exit_status = p->exit_status;
            w->console_tail = console_tail(p);
            answer_with_info(w, p, PM_ERR_BOOT_FAILED, xasprintf("%s", reason));
        }
        p->boot_waiters = NULL;
        emit_event(m, p, "boot_failed", reason);
        m->boot_failures++;
        if (waited) { kill_processes(p); remove_peer(p, false); return; }
    } else {
        set_down(p, reason);
        logf_(m, "peer %s went down: %s", p->id, reason);
        emit_event(m, p, p->opt->peer_down == PM_DOWN_CRASH ? "crashed" : "down", reason);
    }
    if (p->opt->peer_down != PM_DOWN_CONTINUE) remove_peer(p, true);
}

static void boot_timeout(void *owner, tmr *t)
{
    (void)t;
    peer *p = owner;
    logf_(p->m, "peer %s did not boot within %lld ms; stopping it", p->id, (long long)p->opt->wait_boot_ms);
    set_down(p, "timeout");
    emit_event(p->m, p, "boot_failed", "timeout");
    p->m->boot_failures++;
    for (pm_req *w = p->boot_waiters, *n; w; w = n) {
        n = w->next;
        w->console_tail = console_tail(p);
        answer_with_info(w, p, PM_ERR_TIMEOUT, xasprintf("the node did not boot within %lld ms", (long long)p->opt->wait_boot_ms));
    }
    p->boot_waiters = NULL;
    close_control(p);
    kill_processes(p);
    remove_peer(p, false);
}

static void io_step(peer *p, io_cont *io);

static term *mk_tuple(arena *a, size_t n, ...)
{
    term *t = term_tuple(a, n);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; t && i < n; i++) t->tuple.items[i] = va_arg(ap, term *);
    va_end(ap);
    return t;
}

static void io_reply(peer *p, io_cont *io, term *reply)
{
    term *msg = mk_tuple(io->a, 4, term_atomz(io->a, "io_reply"), io->from, io->reply_as, reply);
    buf b = {0};
    if (msg) etf_encode(&b, msg);
    if (!b.oom && b.len) send_io_reply(p, b.p, b.len);
    buf_free(&b);
}

static bool put_chars_text(peer *p, const term *enc, const term *chars)
{
    buf out = {0};
    bool ok = chardata_utf8(chars, !enc || !term_is_atom(enc, "latin1"), &out, 0);
    if (ok) console_write(p, out.p, out.len);
    buf_free(&out);
    return ok;
}

/* Answers one I/O request; returns NULL when it went off to the node (MFA). */
static term *io_one(peer *p, io_cont *io, const term *r)
{
    arena *a = io->a;
    if (r->type == TERM_ATOM) {
        if (term_is_atom(r, "getopts")) {
            term *l = term_list(a, 2, NULL);
            if (l) {
                l->list.items[0] = mk_tuple(a, 2, term_atomz(a, "binary"), term_atomz(a, "false"));
                l->list.items[1] = mk_tuple(a, 2, term_atomz(a, "encoding"), term_atomz(a, "unicode"));
            }
            return l;
        }
        if (term_is_atom(r, "get_line") || term_is_atom(r, "get_chars")) return term_atomz(a, "eof");
        return mk_tuple(a, 2, term_atomz(a, "error"), term_atomz(a, "request"));
    }
    if (r->type != TERM_TUPLE || !r->tuple.n || r->tuple.items[0]->type != TERM_ATOM)
        return mk_tuple(a, 2, term_atomz(a, "error"), term_atomz(a, "request"));
    const term *tag = r->tuple.items[0];
    size_t n = r->tuple.n;
    if (term_is_atom(tag, "put_chars")) {
        /* {put_chars, Enc, Chars} | {put_chars, Chars} | {put_chars, Enc, M, F, A} | {put_chars, M, F, A} */
        if (n == 3 || n == 2) {
            bool ok = put_chars_text(p, n == 3 ? r->tuple.items[1] : NULL, r->tuple.items[n - 1]);
            return ok ? term_atomz(a, "ok") : mk_tuple(a, 2, term_atomz(a, "error"), term_atomz(a, "put_chars"));
        }
        if (n == 5 || n == 4) {
            /* The origin would apply(M, F, A). io_lib:format's plain cases
             * are done here; the rest we ask the node to do. */
            const term *m = r->tuple.items[n - 3], *f = r->tuple.items[n - 2], *fa = r->tuple.items[n - 1];
            if (term_is_atom(m, "io_lib") && term_is_atom(f, "format") && fa->type == TERM_LIST && fa->list.n == 2 &&
                fa->list.tail->type == TERM_NIL) {
                buf text = {0};
                bool done = io_format_fast(fa->list.items[0], fa->list.items[1], &text);
                if (done) console_write(p, text.p, text.len);
                buf_free(&text);
                if (done) return term_atomz(io->a, "ok");
            }
            pending *c = pending_new(p, P_IO);
            if (!c) return mk_tuple(a, 2, term_atomz(a, "error"), term_atomz(a, "put_chars"));
            c->io = io;
            buf b = {0};
            for (size_t i = n - 3; i < n; i++) etf_encode_body(&b, r->tuple.items[i]);
            send_call(p, c, b.p, b.len);
            buf_free(&b);
            return NULL;
        }
    }
    if (term_is_atom(tag, "get_line") || term_is_atom(tag, "get_chars") || term_is_atom(tag, "get_until") ||
        term_is_atom(tag, "get_password"))
        return term_atomz(a, "eof");
    if (term_is_atom(tag, "setopts")) return term_atomz(a, "ok");
    if (term_is_atom(tag, "get_geometry")) return mk_tuple(a, 2, term_atomz(a, "error"), term_atomz(a, "enotsup"));
    return mk_tuple(a, 2, term_atomz(a, "error"), term_atomz(a, "request"));
}

/* Runs the requests of one io_request in order; an MFA put_chars suspends it
 * until the node's reply comes back (io_resume). */
static void io_step(peer *p, io_cont *io)
{
    while (io->i < io->n) {
        term *reply = io_one(p, io, io->reqs[io->i]);
        if (!reply) return;
        io->last = reply;
        io->i++;
    }
    io_reply(p, io, io->last ? io->last : term_atomz(io->a, "ok"));
    io_cont_free(io);
}

static void io_resume(peer *p, pending *c, const char *klass, const uint8_t *result, size_t n)
{
    io_cont *io = c->io;
    c->io = NULL;
    term *r = NULL;
    if (!strcmp(klass, "ok")) {
        etf_error e = {0};
        term *chars = etf_decode_body(io->a, result, n, &e);
        if (chars && put_chars_text(p, NULL, chars)) r = term_atomz(io->a, "ok");
    }
    io->last = r ? r : mk_tuple(io->a, 2, term_atomz(io->a, "error"), term_atomz(io->a, "put_chars"));
    io->i++;
    io_step(p, io);
}

static void handle_io_request(peer *p, arena *a, term *msg)
{
    io_cont *io = calloc(1, sizeof *io);
    if (!io) return;
    io->a = a;
    io->from = msg->tuple.items[1];
    io->reply_as = msg->tuple.items[2];
    term *req = msg->tuple.items[3];
    if (req->type == TERM_TUPLE && req->tuple.n == 2 && term_is_atom(req->tuple.items[0], "requests") &&
        req->tuple.items[1]->type == TERM_LIST) {
        io->reqs = req->tuple.items[1]->list.items;
        io->n = req->tuple.items[1]->list.n;
    } else {
        io->reqs = &msg->tuple.items[3];
        io->n = 1;
    }
    io_step(p, io);
}

static term_names names_of(const peer *p) { return (term_names){ p->node_atom, p->names, p->nnames }; }

static void store_message(peer *p, const term *to, const term *content)
{
    cJSON *o = cJSON_CreateObject();
    buf text = {0};
    char id[48];
    snprintf(id, sizeof id, "%016llx-%llu", (unsigned long long)p->incarnation, (unsigned long long)++p->msg_seq);
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddNumberToObject(o, "seq", (double)p->msg_seq);
    term_names names = names_of(p);
    if (to->type == TERM_ATOM) buf_put(&text, to->atom.s, to->atom.len);
    else term_print_names(&text, to, &names);
    char *to_name = buf_cstr(&text) ? strdup((char *)text.p) : NULL;
    cJSON_AddStringToObject(o, "to", to_name ? to_name : "");
    text.len = 0;
    term_print_names(&text, content, &names);
    cJSON_AddStringToObject(o, "result", buf_cstr(&text) ? (char *)text.p : "");
    cJSON *v = term_to_json_names(content, &names);
    if (v) cJSON_AddItemToObject(o, "value", v);
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    buf_free(&text);
    message *g = calloc(1, sizeof *g);
    if (!line || !g || !to_name) { free(line); free(g); free(to_name); return; }
    g->seq = p->msg_seq;
    g->to = to_name;
    g->line = line;
    g->len = strlen(line);
    if (p->msgs_tail) p->msgs_tail->next = g; else p->msgs = g;
    p->msgs_tail = g;
    if (++p->nmsgs > MAX_MESSAGES) {
        message *old = p->msgs;
        p->msgs = old->next;
        free(old->to);
        free(old->line);
        free(old);
        p->nmsgs--;
    }
    for (follower *f = p->followers; f; f = f->next)
        if (f->kind == PM_FOLLOW_MESSAGES) fill(f);
}

/* ---- how the node numbers other nodes ---- */

/* The tags of pids, ports and references in ETF: a reply without one of
 * these bytes names no node, and is not decoded here. */
static bool may_name_nodes(const uint8_t *d, size_t n)
{
    static const bool tag[256] = { [88] = 1, [89] = 1, [90] = 1, [101] = 1, [102] = 1, [103] = 1, [114] = 1, [120] = 1 };
    for (size_t i = 0; i < n; i++) if (tag[d[i]]) return true;
    return false;
}

static const term *node_of(const term *t)
{
    return t->type == TERM_PID ? t->pid.node : t->type == TERM_PORT ? t->port.node : t->ref.node;
}

static bool node_known(const peer *p, const term *node)
{
    if (p->node_atom && term_atom_eq(node, p->node_atom)) return true;
    for (size_t i = 0; i < p->nnames; i++) if (term_atom_eq(node, p->names[i].node)) return true;
    return false;
}

/* One identifier per node in t whose number is not known yet. */
static void unknown_nodes(const peer *p, const term *t, const term **ids, size_t *n, size_t max, int depth)
{
    if (!t || depth > 200 || *n >= max) return;
    switch (t->type) {
    case TERM_PID: case TERM_PORT: case TERM_REF: {
        const term *node = node_of(t);
        if (node_known(p, node)) return;
        for (size_t i = 0; i < *n; i++) if (term_atom_eq(node_of(ids[i]), node)) return;
        ids[(*n)++] = t;
        return;
    }
    case TERM_LIST:
        for (size_t i = 0; i < t->list.n; i++) unknown_nodes(p, t->list.items[i], ids, n, max, depth + 1);
        unknown_nodes(p, t->list.tail, ids, n, max, depth + 1);
        return;
    case TERM_TUPLE:
        for (size_t i = 0; i < t->tuple.n; i++) unknown_nodes(p, t->tuple.items[i], ids, n, max, depth + 1);
        return;
    case TERM_MAP:
        for (size_t i = 0; i < 2 * t->map.n; i++) unknown_nodes(p, t->map.kv[i], ids, n, max, depth + 1);
        return;
    default:
        return;
    }
}

static void add_name(peer *p, const term *node, uint32_t number)
{
    if (p->nnames >= MAX_NAMES || (!p->names_arena && !(p->names_arena = arena_new()))) return;
    term_node_number *v = realloc(p->names, (p->nnames + 1) * sizeof *v);
    term *copy = term_atom(p->names_arena, node->atom.s, node->atom.len);
    if (!v || !copy) { if (v) p->names = v; return; }
    p->names = v;
    v[p->nnames++] = (term_node_number){ copy, number };
}

/* Asks the node how it prints identifiers of the nodes in a and b that it
 * has not told yet: io_lib:format("~w", [[Id, ...]]), one identifier per
 * node. The call's answer `req` (or, without one, the held messages) waits
 * for the reply. False when there is nothing to ask. */
static bool ask_names(peer *p, const term *a, const term *b, pm_req *req)
{
    const term *ids[16];
    size_t n = 0;
    unknown_nodes(p, a, ids, &n, 16, 0);
    unknown_nodes(p, b, ids, &n, 16, 0);
    if (!n || !conn_open(p)) return false;
    pending *c = pending_new(p, P_NAMES);
    arena *na = c ? arena_new() : NULL;
    term *list = na ? term_list(na, n, NULL) : NULL, *fmt = na ? term_list(na, 2, NULL) : NULL;
    term *args = na ? term_list(na, 2, NULL) : NULL;
    if (!list || !fmt || !args || !(c->asked = arena_alloc(na, n * sizeof *c->asked))) {
        if (c) { pending_take(p, c->seq); pending_free(c); }
        arena_free(na);
        return false;
    }
    c->na = na;
    c->req = req;
    c->nasked = n;
    fmt->list.items[0] = term_int(na, '~');
    fmt->list.items[1] = term_int(na, 'w');
    for (size_t i = 0; i < n; i++) {
        list->list.items[i] = (term *)ids[i];
        c->asked[i] = term_atom(na, node_of(ids[i])->atom.s, node_of(ids[i])->atom.len);
    }
    args->list.items[0] = fmt;
    args->list.items[1] = term_list(na, 1, NULL);
    if (args->list.items[1]) args->list.items[1]->list.items[0] = list;
    buf mfa = {0};
    etf_encode_atom(&mfa, "io_lib", 6);
    etf_encode_atom(&mfa, "format", 6);
    etf_encode_body(&mfa, args);
    send_call(p, c, mfa.p, mfa.len);
    buf_free(&mfa);
    return true;
}

/* A call's answer, with the numbers of the other nodes its reply names. */
static void finish_reply(peer *p, pm_req *r)
{
    if (p->nnames && p->node_atom && r->reply.len > 1 && may_name_nodes(r->reply.p + 1, r->reply.len - 1) &&
        (r->names_arena = arena_new())) {
        arena *a = r->names_arena;
        term_node_number *v = arena_alloc(a, p->nnames * sizeof *v);
        r->names.self = term_atom(a, p->node_atom->atom.s, p->node_atom->atom.len);
        for (size_t i = 0; v && i < p->nnames; i++)
            v[i] = (term_node_number){ term_atom(a, p->names[i].node->atom.s, p->names[i].node->atom.len), p->names[i].number };
        if (v && r->names.self) { r->names.v = v; r->names.n = p->nnames; }
        else r->names.self = NULL;
    }
    finish(r, PM_OK, NULL);
}

/* Stores held messages in order until one names a node not asked about yet;
 * with `all`, every one (the connection is gone: printed as they are). */
static void release_held(peer *p, bool all)
{
    while (p->held) {
        held *h = p->held;
        if (!all && ask_names(p, h->to, h->content, NULL)) return;
        p->held = h->next;
        if (!p->held) p->held_tail = NULL;
        store_message(p, h->to, h->content);
        arena_free(h->a);
        free(h);
    }
}

/* A message waits if it names a node whose number is unknown, or if an
 * earlier one waits. True if held (the arena goes with it). */
static bool hold_message(peer *p, arena *a, term *to, term *content)
{
    if (!p->held && !ask_names(p, to, content, NULL)) return false;
    held *h = malloc(sizeof *h);
    if (!h) return false;
    *h = (held){ NULL, a, to, content };
    if (p->held_tail) p->held_tail->next = h; else p->held = h;
    p->held_tail = h;
    return true;
}

/* The node's answer to ask_names: the N of each node asked, read from the
 * text of the identifiers in order ("[<81.0.0>,#Ref<82.1.2.3>]"). */
static void names_answered(peer *p, pending *c, const char *klass, const uint8_t *result, size_t n)
{
    arena *a = arena_new();
    etf_error e = {0};
    term *t = a && !strcmp(klass, "ok") ? etf_decode_body(a, result, n, &e) : NULL;
    buf text = {0};
    const char *s = t && chardata_utf8(t, true, &text, 0) && buf_cstr(&text) ? (char *)text.p : "";
    for (size_t i = 0; i < c->nasked; i++) {
        unsigned long number = 0;
        const char *lt = strchr(s, '<');
        if (lt) {
            char *end;
            number = strtoul(lt + 1, &end, 10);
            if (*end != '.' || number > UINT32_MAX) number = 0;
            s = end;
        }
        /* 0: the node did not say; the node's name is shown in its place. */
        if (!node_known(p, c->asked[i])) add_name(p, c->asked[i], (uint32_t)number);
    }
    buf_free(&text);
    arena_free(a);
    if (c->req) finish_reply(p, c->req);
    else release_held(p, false);
}

static void handle_reply(peer *p, uint64_t seq, const char *klass, const uint8_t *result, size_t n)
{
    pending *c = pending_take(p, seq);
    if (!c) return;   /* timed out earlier: dropped, as OTP drops late replies */
    switch (c->kind) {
    case P_CLIENT: {
        pm_req *r = c->req;
        r->klass = strdup(klass);
        buf_byte(&r->reply, ETF_VERSION);
        buf_put(&r->reply, result, n);
        /* A reply naming other nodes waits for how the node numbers them. */
        arena *a = may_name_nodes(result, n) ? arena_new() : NULL;
        term *t = a ? etf_decode_body(a, result, n, NULL) : NULL;
        bool asked = t && ask_names(p, t, NULL, r);
        arena_free(a);
        if (!asked) finish_reply(p, r);
        break;
    }
    case P_GETPID: case P_SELF: {
        arena *a = arena_new();
        etf_error e = {0};
        term *t = a && !strcmp(klass, "ok") ? etf_decode_body(a, result, n, &e) : NULL;
        if (c->kind == P_GETPID && t && t->type == TERM_LIST) {
            /* os:getpid() is a string of digits. */
            pid_t pid = 0;
            for (size_t i = 0; i < t->list.n && t->list.items[i]->type == TERM_INT; i++)
                pid = pid * 10 + (pid_t)(t->list.items[i]->i - '0');
            p->os_pid = pid;
            /* Ours when it is our child (spawned directly, or re-parented to
             * us as subreaper after -detached). */
            char path[64], line[512];
            snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
            FILE *f = fopen(path, "r");
            if (f && fgets(line, sizeof line, f)) {
                char *rp = strrchr(line, ')');
                int ppid = 0;
                char st;
                if (rp && sscanf(rp + 1, " %c %d", &st, &ppid) == 2) p->node_ours = ppid == getpid() || pid == p->child;
            }
            if (f) fclose(f);
        } else if (c->kind == P_SELF && t && t->type == TERM_PID) {
            arena_free(p->ident);
            p->ident = a;
            a = NULL;
            p->node_atom = t->pid.node;
            p->creation = t->pid.creation;
        }
        arena_free(a);
        if (--p->boot_calls == 0 && p->state == ST_BOOTING) boot_succeeded(p);
        break;
    }
    case P_IO:
        io_resume(p, c, klass, result, n);
        break;
    case P_NAMES:
        names_answered(p, c, klass, result, n);
        break;
    }
    pending_free(c);
}

/* The two messages a busy node sends most, read in place (control.h). */
static bool read_in_place(peer *p, const uint8_t *etf, size_t n)
{
    control_reply rep;
    if (control_read_reply(etf, n, &rep)) {
        handle_reply(p, rep.seq, rep.klass, rep.result, rep.result_len);
        return true;
    }
    control_put_chars pc;
    if (!control_read_put_chars(etf, n, &pc)) return false;
    console_write(p, pc.chars, pc.chars_len);
    buf b = {0};
    control_put_chars_reply(&b, &pc);
    if (!b.oom) send_io_reply(p, b.p, b.len);
    buf_free(&b);
    return true;
}

/* One control message from the node. Returns false if the peer is gone. */
static bool handle_message(peer *p, const uint8_t *etf, size_t n)
{
    if (read_in_place(p, etf, n)) return true;
    arena *a = arena_new();
    etf_error e = {0};
    term *t = a ? etf_decode(a, etf, n, &e) : NULL;
    if (!t || t->type != TERM_TUPLE || !t->tuple.n || t->tuple.items[0]->type != TERM_ATOM) {
        logf_(p->m, "peer %s sent a malformed control message (%s at byte %zu)", p->id, e.msg ? e.msg : "not a tagged tuple", e.pos);
        arena_free(a);
        return true;
    }
    term *tag = t->tuple.items[0];
    size_t ar = t->tuple.n;
    if (term_is_atom(tag, "started") && ar == 2) {
        buf nb = {0};
        term_print(&nb, t->tuple.items[1]);
        if (t->tuple.items[1]->type == TERM_ATOM) { nb.len = 0; buf_put(&nb, t->tuple.items[1]->atom.s, t->tuple.items[1]->atom.len); }
        free(p->node);
        p->node = buf_cstr(&nb) ? strdup((char *)nb.p) : NULL;
        buf_free(&nb);
        if (p->state == ST_BOOTING && !p->boot_calls) {
            p->boot_calls = 2;
            internal_call(p, P_GETPID, "os", "getpid");
            internal_call(p, P_SELF, "erlang", "self");
        }
    } else if (term_is_atom(tag, "io_request") && ar == 4) {
        handle_io_request(p, a, t);
        return true;   /* the I/O continuation owns the arena */
    } else if (term_is_atom(tag, "message") && ar == 3) {
        if (hold_message(p, a, t->tuple.items[1], t->tuple.items[2])) return true;
        store_message(p, t->tuple.items[1], t->tuple.items[2]);
    } else if (term_is_atom(tag, "reply") && ar == 4 && t->tuple.items[1]->type == TERM_INT &&
               t->tuple.items[2]->type == TERM_ATOM) {
        /* A reply not read in place (an unusual encoding). */
        buf rb = {0};
        etf_encode(&rb, t->tuple.items[3]);
        char klass[16];
        snprintf(klass, sizeof klass, "%.*s", (int)t->tuple.items[2]->atom.len, t->tuple.items[2]->atom.s);
        handle_reply(p, (uint64_t)t->tuple.items[1]->i, klass, rb.p + 1, rb.len - 1);
        buf_free(&rb);
    } else {
        logf_(p->m, "peer %s sent an unknown control message", p->id);
    }
    arena_free(a);
    return true;
}

/* A control message over the frame limit (STDIO_MAX_FRAME, on either
 * connection): peerd does not hold it, but the node must not wait on it
 * forever or be cut off for it. Only its first bytes are at hand: enough for
 * the tag and the ids. A reply fails its call (502 reply_too_large); an I/O
 * request is answered {error, too_large}, so the writer gets an error and the
 * console a line saying what was dropped; a message is dropped with a log
 * line. The node keeps running. */
static void handle_oversized(peer *p, const uint8_t *head, size_t n, size_t size)
{
    arena *a = arena_new();
    term *part[3] = { NULL, NULL, NULL };
    if (a && n > 3 && head[0] == ETF_VERSION && head[1] == 104 /* SMALL_TUPLE_EXT */) {
        size_t off = 3, used;
        for (int i = 0; i < 3 && i < head[2] && off < n; i++, off += used)
            if (!(part[i] = etf_decode_prefix(a, head + off, n - off, &used, NULL))) break;
    }
    if (part[0] && term_is_atom(part[0], "reply") && part[1] && part[1]->type == TERM_INT) {
        pending *c = pending_take(p, (uint64_t)part[1]->i);
        if (c && c->kind == P_CLIENT) {
            char *detail;
            if (asprintf(&detail, "the node's reply is %zu bytes, over the %u-byte limit of a control message; it was dropped",
                         size, STDIO_MAX_FRAME) < 0) detail = NULL;
            finish(c->req, PM_ERR_REPLY_TOO_LARGE, detail);
        } else if (c && c->kind == P_IO) io_resume(p, c, "error", NULL, 0);
        if (c) pending_free(c);
    } else if (part[0] && term_is_atom(part[0], "io_request") && part[1] && part[2]) {
        io_cont io = { .a = a, .from = part[1], .reply_as = part[2] };
        io_reply(p, &io, mk_tuple(a, 2, term_atomz(a, "error"), term_atomz(a, "too_large")));
        char line[200];
        int k = snprintf(line, sizeof line, "\n[peerd: an I/O request of %zu bytes (over %u) was refused; its text is not here]\n",
                         size, STDIO_MAX_FRAME);
        console_write(p, line, (size_t)k);
    }
    logf_(p->m, "peer %s: dropped a control message of %zu bytes (over %u)", p->id, size, STDIO_MAX_FRAME);
    arena_free(a);
}

/* ---- reading ---- */

/* What the control connection delivers (conn.h). */
static void conn_console(void *owner, const uint8_t *d, size_t n) { console_write(owner, d, n); }
static bool conn_message(void *owner, const uint8_t *etf, size_t n) { return handle_message(owner, etf, n); }
static bool conn_oversized(void *owner, const uint8_t *head, size_t n, size_t size)
{
    handle_oversized(owner, head, n, size);
    return true;
}
static void conn_lost_event(void *owner, const char *reason, bool kill)
{
    peer *p = owner;
    if (kill) {
        logf_(p->m, "peer %s: broken control stream %s; killing it", p->id, reason);
        kill_processes(p);
    }
    conn_lost(p, reason);
}
static const conn_events peer_conn_events = { conn_console, conn_message, conn_oversized, conn_lost_event };

static void on_child_exit(pm *m, pid_t pid, int status)
{
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    for (peer *p = m->peers; p; p = p->next) {
        if (pid == p->child) {
            p->child = 0;
            p->exit_status = code;
            char reason[32];
            snprintf(reason, sizeof reason, "{exit_status,%d}", code);
            /* Take the last output before judging, so none of it is lost. */
            if (p->conn && !p->conn->ops->drain(p->conn)) return;
            if (pid == p->os_pid) p->node_ours = false;
            bool node_is_child = p->opt->conn == PM_CONN_STDIO || !p->opt->detached;
            if (node_is_child || code != 0) { conn_lost(p, reason); return; }
            /* The -detached launcher is done; the node lives on. */
            if (p->removed) maybe_free(p); else check_stop(p);
            return;
        }
        if (p->node_ours && pid == p->os_pid) {
            p->node_ours = false;
            if (conn_open(p)) { conn_lost(p, "tcp_closed"); return; }
            if (p->removed) maybe_free(p); else check_stop(p);
            return;
        }
    }
}

static void reap(pm *m)
{
    struct signalfd_siginfo si;
    while (read(m->sfd, &si, sizeof si) == sizeof si) {}
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) break;
        on_child_exit(m, pid, status);
    }
}

/* ---- starting ---- */


/* Local IPv4 addresses to offer the node, loopback first (as OTP does). */
static peer *find_peer(pm *m, const char *id)
{
    for (peer *p = m->peers; p; p = p->next)
        if (!p->removed && !strcmp(p->id, id)) return p;
    return NULL;
}

static void lease_expired(void *owner, tmr *t);

static void do_start(pm *m, pm_req *r)
{
    pm_start_opts *o = r->start;
    r->start = NULL;
    if (m->shutting_down) { pm_start_opts_free(o); finish(r, PM_ERR_SHUTTING_DOWN, NULL); return; }
    char *id = o->name ? strdup(o->name) : pm_random_name("peer");
    if (o->name && find_peer(m, id)) {
        finish(r, PM_ERR_EXISTS, xasprintf("a peer named %s already exists", id));
        free(id); pm_start_opts_free(o); return;
    }
    if (m->npeers >= m->cfg.max_peers) {
        finish(r, PM_ERR_TOO_MANY, xasprintf("peerd holds %d peers already (--max-peers)", m->npeers));
        free(id); pm_start_opts_free(o); return;
    }
    peer *p = calloc(1, sizeof *p);
    if (!p) { free(id); pm_start_opts_free(o); finish(r, PM_ERR_INTERNAL, NULL); return; }
    p->m = m;
    p->id = id;
    p->opt = o;
    p->incarnation = mix64(m->instance + ++m->incarnations);
    p->exit_status = -1;
    p->created_at = wall_ms();
    p->boot_started = now_ms();
    console_ring_init(&p->console, m->cfg.console_buffer);

    /* The connection first (it may listen), then the command line (cmdline.h). */
    char **conn_args = NULL, *err = NULL;
    size_t nconn = 0;
    const conn_ops *ops = o->conn == PM_CONN_TCP ? &conn_tcp_ops : &conn_stdio_ops;
    if (!(p->conn = ops->create(m->l, o, &peer_conn_events, p, &conn_args, &nconn, &err))) {
        finish(r, PM_ERR_LISTEN, err);
        peer_free(p);
        strv_free(conn_args);
        return;
    }
    char **argv = cmdline_build(o, conn_args);
    strv_free(conn_args);
    bool ok = argv != NULL;
    p->argv = argv;
    p->next = m->peers;
    m->peers = p;
    m->npeers++;
    if (!ok) { finish(r, PM_ERR_INTERNAL, xasprintf("out of memory")); remove_peer(p, false); return; }

    int in_fd = -1, out_fd = -1;
    int e = spawn_node(argv, o->env, ops->wants_stdin ? &in_fd : NULL, &out_fd, &p->child);
    if (e) {
        logf_(m, "peer %s: cannot start %s: %s", p->id, argv[0], strerror(e));
        r->exit_status = -1;
        finish(r, PM_ERR_SPAWN, xasprintf("cannot execute %s: %s", argv[0], strerror(e)));
        close_control(p);
        remove_peer(p, false);
        return;
    }
    logf_(m, "peer %s starting: %s (pid %d)", p->id, argv[0], (int)p->child);
    emit_event(m, p, "created", NULL);
    m->starts++;
    if (o->lease_ms) {
        timer_set(m, &p->lease_timer, (uint64_t)o->lease_ms, lease_expired, p);
        p->lease_expires_at = wall_ms() + o->lease_ms;
    }
    if (p->conn->ops->attach(p->conn, in_fd, out_fd) < 0) {
        int err = errno;
        finish(r, PM_ERR_INTERNAL, xasprintf("cannot watch the node's descriptors: %s", strerror(err)));
        kill_processes(p);
        close_control(p);
        set_down(p, "{watch_failed}");
        remove_peer(p, true);
        return;
    }
    if (o->wait_boot_ms == PM_NO_WAIT) {
        answer_with_info(r, p, PM_OK, NULL);
        return;
    }
    r->next = NULL;
    p->boot_waiters = r;
    if (o->wait_boot_ms != PM_INFINITY) timer_set(m, &p->boot_timer, (uint64_t)o->wait_boot_ms, boot_timeout, p);
}

/* ---- requests ---- */

static void lease_expired(void *owner, tmr *t)
{
    (void)t;
    peer *p = owner;
    logf_(p->m, "peer %s: lease of %lld ms expired; stopping it", p->id, (long long)p->opt->lease_ms);
    emit_event(p->m, p, "lease_expired", "lease_expired");
    p->stop_reason = "lease_expired";
    stop_begin(p, NULL);
}

static void do_lease(pm *m, peer *p, pm_req *r)
{
    if (p->stopping || p->state == ST_DOWN) {
        finish(r, PM_ERR_NOCONNECTION, xasprintf("peer %s is %s", p->id, p->stopping ? "stopping" : "down"));
        return;
    }
    if (r->lease_ms) p->opt->lease_ms = r->lease_ms;
    if (!p->opt->lease_ms) {
        finish(r, PM_ERR_NOCONNECTION, xasprintf("peer %s has no lease: give lease_ms", p->id));
        return;
    }
    timer_set(m, &p->lease_timer, (uint64_t)p->opt->lease_ms, lease_expired, p);
    p->lease_expires_at = wall_ms() + p->opt->lease_ms;
    answer_with_info(r, p, PM_OK, NULL);
}

static void do_wait(pm *m, peer *p, pm_req *r)
{
    if (p->state == ST_DOWN || (p->state == ST_RUNNING && !r->want_down)) {
        if (p->state == ST_DOWN && !r->want_down)
            answer_with_info(r, p, PM_ERR_NOCONNECTION, xasprintf("peer %s is down", p->id));
        else
            answer_with_info(r, p, PM_OK, NULL);
        return;
    }
    waiter *w = calloc(1, sizeof *w);
    if (!w) { finish(r, PM_ERR_INTERNAL, NULL); return; }
    w->req = r;
    w->p = p;
    w->next = p->waiters;
    p->waiters = w;
    if (r->timeout_ms != PM_INFINITY) timer_set(m, &w->timer, (uint64_t)r->timeout_ms, wait_timeout, w);
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

static void do_follow(pm *m, peer *p, pm_req *r)
{
    follower *f = calloc(1, sizeof *f);
    if (!f) { finish(r, PM_ERR_INTERNAL, NULL); return; }
    f->m = m;
    f->kind = r->follow;
    f->s = r->stream;
    r->stream = NULL;
    f->p = p;
    f->sse = r->sse;
    f->once = r->once;
    f->link = r->link && p;
    f->to = r->to;
    r->to = NULL;
    f->client_fd = r->client_fd;
    r->client_fd = -1;
    f->token = r->incarnation = p ? p->incarnation : m->instance;
    uint64_t reached = f->kind == PM_FOLLOW_CONSOLE ? p->console.end : p ? p->msg_seq : m->event_seq;
    bool reset = since_elsewhere(r, f->token, reached);
    if (reset) {
        buf b = {0};
        reset_marker(&b, f->kind, f->sse, f->token, p ? p->id : NULL);
        if (!b.oom) stream_push(f->s, b.p, b.len);
        buf_free(&b);
    }
    /* A console offset, or the seq last seen; what is no longer kept is
     * reported missed by fill. */
    f->pos = f->kind == PM_FOLLOW_CONSOLE ? (reset ? 0 : r->since) : (reset ? 0 : r->since) + 1;
    if (f->kind == PM_FOLLOW_CONSOLE) r->range_start = f->pos > p->console.start ? f->pos : p->console.start;
    f->w_client.fd = -1;
    if (f->client_fd >= 0 && loop_watch_fd(m->l, &f->w_client, f->client_fd, EPOLLRDHUP, on_client_ready, f) < 0) {
        /* Without the watch a linked client's hang-up would go unseen. */
        int err = errno;
        close(f->client_fd);
        stream_unref(f->s);
        free(f->to);
        free(f);
        finish(r, PM_ERR_INTERNAL, xasprintf("cannot watch the client's connection: %s", strerror(err)));
        return;
    }
    follower **list = p ? &p->followers : &m->event_followers;
    f->next = *list;
    *list = f;
    r->follower = f;
    finish(r, PM_OK, NULL);
    fill(f);
}

/* The response is gone; free the follower after this batch of events. */
static void do_unfollow(pm *m, pm_req *r)
{
    follower *f = r->follower;
    finish(r, PM_OK, NULL);
    if (!f) return;
    /* A client that leaves a linked stream before its end stops the peer. */
    if (!f->finished) follower_client_gone(f);
    else if (f->client_fd >= 0) close_fd(m, &f->client_fd, &f->w_client);
    unlink_follower(m, f);
    stream_unref(f->s);
    free(f->to);
    f->dead = true;
    f->next = m->dead_followers;
    m->dead_followers = f;
}

static const tombstone *find_tomb(pm *m, const char *id)
{
    uint64_t now = now_ms();
    for (tombstone *t = m->tombs; t; t = t->next)
        if (t->expires >= now && !strcmp(t->info.id, id)) return t;
    return NULL;
}

static void console_snapshot(pm_req *r, const console_ring *ring, uint64_t incarnation, const char *id);

/* A removed peer's console: the tail its tombstone kept, as a snapshot or
 * as a stream that ends at once. */
static void tomb_console(const tombstone *t, pm_req *r)
{
    const pm_peer_info *i = &t->info;
    console_ring ring;
    console_ring_init(&ring, i->console_tail_len);
    ring.start = ring.end = i->console_tail_at;
    console_ring_write(&ring, i->console_tail, i->console_tail_len);
    if (r->op == PM_CONSOLE) {
        console_snapshot(r, &ring, i->incarnation, i->id);
    } else {
        uint64_t asked = r->since;
        buf b = {0};
        if (since_elsewhere(r, i->incarnation, ring.end)) {
            reset_marker(&b, PM_FOLLOW_CONSOLE, r->sse, i->incarnation, i->id);
            if (!b.oom) stream_push(r->stream, b.p, b.len);
            b.len = 0;
            asked = 0;
        }
        uint64_t since = asked < ring.start ? ring.start : asked;
        if (asked < ring.start) {
            char n[24];
            int k = snprintf(n, sizeof n, "%llu", (unsigned long long)(ring.start - asked));
            if (r->sse) push_sse(r->stream, "missed", i->incarnation, ring.start, (uint8_t *)n, (size_t)k);
            else buf_printf(&b, "\n[peerd: %s bytes of console output missed here]\n", n);
        }
        if (!b.oom) stream_push(r->stream, b.p, b.len);
        buf_free(&b);
        size_t len = (size_t)(ring.end - since);
        uint8_t *d = malloc(len + 1);
        if (d) {
            console_ring_read(&ring, &since, d, len);
            if (r->sse && len) push_sse(r->stream, NULL, i->incarnation, ring.end, d, len);
            else stream_push(r->stream, d, len);
        }
        free(d);
        stream_finish(r->stream, STREAM_END);
        r->range_start = since;
        r->incarnation = i->incarnation;
        if (r->client_fd >= 0) { close(r->client_fd); r->client_fd = -1; }
        stream_unref(r->stream);
        r->stream = NULL;
        finish(r, PM_OK, NULL);
    }
    console_ring_free(&ring);
}

static void not_found(pm *m, pm_req *r)
{
    const tombstone *t = find_tomb(m, r->id);
    bool console = r->op == PM_CONSOLE || (r->op == PM_FOLLOW && r->follow == PM_FOLLOW_CONSOLE);
    if (t && console && t->info.console_tail) { tomb_console(t, r); return; }
    if (t && (r->info = calloc(1, sizeof *r->info))) {
        copy_info(r->info, &t->info);
        r->ninfo = 1;
        if (r->op == PM_WAIT && r->want_down) { finish(r, PM_OK, NULL); return; }
        finish(r, PM_ERR_GONE, xasprintf("peer %s was removed: %s", r->id, t->info.down_reason ? t->info.down_reason : "stopped"));
        return;
    }
    finish(r, PM_ERR_NOT_FOUND, xasprintf("no peer %s", r->id));
}

static void do_relay(pm *m, peer *p, pm_req *r)
{
    (void)m;
    if (p->state != ST_RUNNING || !conn_open(p) || p->stopping) {
        finish(r, PM_ERR_NOCONNECTION, xasprintf("peer %s is %s", p->id, p->stopping ? "stopping" : state_names[p->state]));
        return;
    }
    switch (r->op) {
    case PM_CALL: {
        pending *c = pending_new(p, P_CLIENT);
        if (!c) { finish(r, PM_ERR_INTERNAL, NULL); return; }
        c->req = r;
        if (r->timeout_ms != PM_INFINITY) timer_set(p->m, &c->timer, (uint64_t)r->timeout_ms, call_timeout, c);
        send_call(p, c, r->payload.p, r->payload.len);
        return;
    }
    case PM_CAST: send_tagged(p, "cast", 4, NULL, r->payload.p, r->payload.len); break;
    default: send_tagged(p, "message", 3, NULL, r->payload.p, r->payload.len); break;
    }
    finish(r, PM_OK, NULL);
}

static void begin_shutdown(pm *m);

static void metrics(pm *m, pm_req *r)
{
    int by_state[3] = { 0, 0, 0 };
    for (peer *p = m->peers; p; p = p->next)
        if (!p->removed) by_state[p->state]++;
    buf *b = &r->reply;
    buf_str(b, "# HELP peerd_peers Peers held, by state.\n# TYPE peerd_peers gauge\n");
    for (int i = 0; i < 3; i++) buf_printf(b, "peerd_peers{state=\"%s\"} %d\n", state_names[i], by_state[i]);
    buf_printf(b, "# HELP peerd_peer_starts_total Peers started (spawned).\n# TYPE peerd_peer_starts_total counter\n"
                  "peerd_peer_starts_total %llu\n", (unsigned long long)m->starts);
    buf_printf(b, "# HELP peerd_boot_failures_total Peers that did not boot.\n# TYPE peerd_boot_failures_total counter\n"
                  "peerd_boot_failures_total %llu\n", (unsigned long long)m->boot_failures);
    buf_str(b, "# HELP peerd_boot_seconds Time from start to running.\n# TYPE peerd_boot_seconds histogram\n");
    for (int i = 0; i < 8; i++)
        buf_printf(b, "peerd_boot_seconds_bucket{le=\"%g\"} %llu\n", boot_bucket_ms[i] / 1000.0, (unsigned long long)m->boot_buckets[i]);
    buf_printf(b, "peerd_boot_seconds_bucket{le=\"+Inf\"} %llu\npeerd_boot_seconds_sum %.3f\npeerd_boot_seconds_count %llu\n",
               (unsigned long long)m->boot_count, m->boot_ms_sum / 1000.0, (unsigned long long)m->boot_count);
    buf_printf(b, "# HELP peerd_console_bytes_total Bytes the nodes printed.\n# TYPE peerd_console_bytes_total counter\n"
                  "peerd_console_bytes_total %llu\n", (unsigned long long)m->console_bytes);
    buf_printf(b, "# HELP peerd_events_total Lifecycle events recorded.\n# TYPE peerd_events_total counter\n"
                  "peerd_events_total %llu\n", (unsigned long long)m->event_seq);
    finish(r, b->oom ? PM_ERR_INTERNAL : PM_OK, NULL);
}

/* GET /console: what is kept from `since` on, after a reset or missed
 * marker when the client's position is of another incarnation or no longer
 * kept. A removed peer's console is the tail its tombstone kept. */
static void console_snapshot(pm_req *r, const console_ring *ring, uint64_t incarnation, const char *id)
{
    uint64_t since = r->since;
    buf *b = &r->reply;
    if (since_elsewhere(r, incarnation, ring->end)) {
        reset_marker(b, PM_FOLLOW_CONSOLE, false, incarnation, id);
        since = 0;
    }
    if (since < ring->start) {
        buf_printf(b, "\n[peerd: %llu bytes of console output missed here]\n", (unsigned long long)(ring->start - since));
        since = ring->start;
    }
    size_t avail = (size_t)(ring->end - since), before = b->len;
    if (!buf_reserve(b, b->len + avail + 1)) { finish(r, PM_ERR_INTERNAL, NULL); return; }
    b->len += console_ring_read(ring, &since, b->p + b->len, avail);
    r->range_start = since;
    r->range_end = since + (b->len - before);
    r->incarnation = incarnation;
    finish(r, PM_OK, NULL);
}

static void handle_req(pm *m, pm_req *r)
{
    r->next = NULL;
    if (m->shutting_down && r->op != PM_LIST && r->op != PM_GET && r->op != PM_UNFOLLOW && r->op != PM_REFILL) {
        finish(r, PM_ERR_SHUTTING_DOWN, xasprintf("peerd is shutting down"));
        return;
    }
    if (r->op == PM_START) { do_start(m, r); return; }
    if (r->op == PM_METRICS) { metrics(m, r); return; }
    if (r->op == PM_UNFOLLOW) { do_unfollow(m, r); return; }
    if (r->op == PM_REFILL) {
        follower *f = r->follower;
        finish(r, PM_OK, NULL);
        if (f && !f->dead) fill(f);
        if (f && !f->dead && f->p) maybe_release_io(f->p);
        return;
    }
    if (r->op == PM_FOLLOW && r->follow == PM_FOLLOW_EVENTS) { do_follow(m, NULL, r); return; }
    if (r->op == PM_LIST) {
        r->info = calloc((size_t)m->npeers + 1, sizeof *r->info);
        if (!r->info) { finish(r, PM_ERR_INTERNAL, NULL); return; }
        /* Newest first in the list; reverse for creation order. */
        size_t n = 0;
        for (peer *p = m->peers; p; p = p->next)
            if (!p->removed) snapshot(p, &r->info[n++]);
        for (size_t i = 0; i < n / 2; i++) {
            pm_peer_info t = r->info[i];
            r->info[i] = r->info[n - 1 - i];
            r->info[n - 1 - i] = t;
        }
        r->ninfo = n;
        finish(r, PM_OK, NULL);
        return;
    }
    peer *p = find_peer(m, r->id);
    if (!p) { not_found(m, r); return; }
    switch (r->op) {
    case PM_GET: answer_with_info(r, p, PM_OK, NULL); break;
    case PM_STOP: stop_begin(p, r); break;
    case PM_CALL: case PM_CAST: case PM_SEND: do_relay(m, p, r); break;
    case PM_CONSOLE: console_snapshot(r, &p->console, p->incarnation, p->id); break;
    case PM_MESSAGES: {
        uint64_t since = r->since;
        if (since_elsewhere(r, p->incarnation, p->msg_seq)) {
            reset_marker(&r->reply, PM_FOLLOW_MESSAGES, false, p->incarnation, p->id);
            since = 0;
        }
        if (p->msgs && since + 1 < p->msgs->seq)
            buf_printf(&r->reply, "{\"missed\":%llu}\n", (unsigned long long)(p->msgs->seq - since - 1));
        for (message *g = p->msgs; g; g = g->next) {
            if (g->seq <= since || (r->to && strcmp(r->to, g->to))) continue;
            buf_put(&r->reply, g->line, g->len);
            buf_byte(&r->reply, '\n');
        }
        r->incarnation = p->incarnation;
        finish(r, r->reply.oom ? PM_ERR_INTERNAL : PM_OK, NULL);
        break;
    }
    case PM_WAIT: do_wait(m, p, r); break;
    case PM_LEASE: do_lease(m, p, r); break;
    case PM_FOLLOW: do_follow(m, p, r); break;
    case PM_IDENTITY:
        if (!p->node_atom) { finish(r, PM_ERR_NOCONNECTION, xasprintf("peer %s has not booted yet", p->id)); break; }
        r->identity_arena = arena_new();
        r->identity.node = r->identity_arena ? term_atom(r->identity_arena, p->node_atom->atom.s, p->node_atom->atom.len) : NULL;
        r->identity.creation = p->creation;
        finish(r, r->identity.node ? PM_OK : PM_ERR_INTERNAL, NULL);
        break;
    default:
        finish(r, PM_ERR_INTERNAL, NULL);
    }
}

/* ---- the loop ---- */

/* Requests are handled at the end of the loop's turn, as one batch. */
void pm_submit(pm *m, pm_req *r)
{
    r->next = NULL;
    if (m->stopped) {
        finish(r, PM_ERR_SHUTTING_DOWN, xasprintf("peerd is shutting down"));
        return;
    }
    if (m->qtail) m->qtail->next = r; else m->qhead = r;
    m->qtail = r;
    loop_wake(m->l);
}

bool pm_answer_now(pm *m, pm_req *r)
{
    switch (r->op) {
    case PM_GET: case PM_LIST: case PM_CONSOLE: case PM_MESSAGES: case PM_IDENTITY: case PM_METRICS:
        r->next = NULL;
        if (m->stopped) finish(r, PM_ERR_SHUTTING_DOWN, xasprintf("peerd is shutting down"));
        else handle_req(m, r);
        return true;
    default:
        return false;
    }
}

static void drain_queue(pm *m)
{
    pm_req *r = m->qhead;
    m->qhead = m->qtail = NULL;
    m->batching = true;
    while (r) {
        pm_req *next = r->next;
        handle_req(m, r);
        r = next;
    }
    m->batching = false;
    for (peer *p = m->corked, *n; p; p = n) {
        n = p->next_corked;
        p->corked = false;
        if (!p->dead) flush_out(p);
    }
    m->corked = NULL;
}

static void begin_shutdown(pm *m)
{
    m->shutting_down = true;
    for (peer *p = m->peers, *n; p; p = n) {
        n = p->next;
        if (!p->removed) stop_begin(p, NULL);
    }
}

/* The manager's end of a turn: the requests of the turn, then followers
 * catch up, then what died in the turn is freed. */
static int turn_end(void *ud)
{
    pm *m = ud;
    while (m->qhead) drain_queue(m);
    fill_followers(m);
    for (peer *p = m->graveyard, *next; p; p = next) {
        next = p->next;
        free(p);
    }
    m->graveyard = NULL;
    for (follower *f = m->dead_followers, *next; f; f = next) {
        next = f->next;
        free(f);
    }
    m->dead_followers = NULL;
    if (m->shutting_down && !m->peers && !m->stopped) {
        /* Followers of /events get the shutdown's last events, then the end. */
        for (follower *f = m->event_followers; f; f = f->next)
            if (!f->finished && !f->dead) { fill_events(f, true); finish_follower(f, STREAM_END); }
        m->stopped = true;
        if (m->quit_done) m->quit_done(m->quit_ud);
    }
    return -1;
}

static void on_signal_ready(loop_watch *w, uint32_t ev) { (void)ev; reap(w->ud); }

pm *pm_new(loop *l, const pm_config *cfg)
{
    pm *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->l = l;
    m->cfg = *cfg;
    if (getrandom(&m->instance, sizeof m->instance, 0) != sizeof m->instance) m->instance = (uint64_t)wall_ms() ^ (uint64_t)getpid() << 32;
    m->events = calloc(MAX_EVENTS, sizeof *m->events);
    if (!m->events) { free(m); return NULL; }
    if (!m->cfg.console_buffer) m->cfg.console_buffer = 1 << 20;
    if (m->cfg.max_peers <= 0) m->cfg.max_peers = 256;
    /* SIGCHLD is blocked (before any thread starts, so in every one) and
     * read from a signalfd on the loop. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    m->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    m->w_signal.fd = -1;
    if (m->sfd < 0 || loop_watch_fd(l, &m->w_signal, m->sfd, EPOLLIN, on_signal_ready, m) < 0 ||
        loop_on_turn_end(l, turn_end, m) < 0) { pm_free(m); return NULL; }
    /* Detached nodes re-parent to us, so we can wait for them and kill them. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    signal(SIGPIPE, SIG_IGN);
    return m;
}

uint64_t pm_instance(const pm *m) { return m->instance; }

void pm_quit(pm *m, void (*done)(void *ud), void *ud)
{
    m->quit_done = done;
    m->quit_ud = ud;
    if (!m->shutting_down) begin_shutdown(m);
    loop_wake(m->l);
}

void pm_free(pm *m)
{
    if (!m) return;
    while (m->tombs) {
        tombstone *t = m->tombs;
        m->tombs = t->next;
        pm_peer_info_free(&t->info);
        free(t);
    }
    for (size_t i = 0; m->events && i < MAX_EVENTS; i++) free(m->events[i]);
    free(m->events);
    /* Followers whose responses never came back to unfollow (shutdown). */
    follower *lists[] = { m->event_followers, m->detached };
    for (int k = 0; k < 2; k++)
        for (follower *f = lists[k], *n; f; f = n) {
            n = f->next;
            if (f->client_fd >= 0) close(f->client_fd);
            stream_unref(f->s);
            free(f->to);
            free(f);
        }
    if (m->sfd >= 0) { loop_unwatch(m->l, &m->w_signal); close(m->sfd); }
    free(m);
}

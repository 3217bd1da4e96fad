/*
 * manager_int.h — what the manager's files share: the peer, its followers,
 * pending calls and waiters, the manager itself, and the functions one
 * concern calls in another, each named mgr_. Nothing outside peer/manager/
 * includes it; the manager's interface is manager.h.
 *
 *   manager.c     requests in, the end-of-turn batch, pm_new/pm_quit/pm_free
 *   common.c      what every file uses: answers, a peer's info, timers, the log
 *   lifecycle.c   start, boot, down, removal, reaping; leases and waits
 *   shutdown.c    stopping a peer as its `shutdown` option says
 *   outbound.c    what goes to the node: messages, calls with their timeouts
 *   relay.c       requests relayed, what the node sends dispatched by tag
 *   pending.c     the calls in flight, by sequence number
 *   io_server.c   the node's group leader: io_requests, and their flow control
 *   messages.c    the message log, and how the node numbers other nodes
 *   console.c     the console: writes into the ring, framed stretches, its tail
 *   followers.c   streams of console, messages and events
 *   events.c      the event log
 *   tombstones.c  what is kept of removed peers
 *   clusters.c    cluster members' cookie, names, and meeting at boot
 *   liveness.c    heartbeats, unreachable peers, the node's watchdog
 */
#ifndef PEERD_MANAGER_INT_H
#define PEERD_MANAGER_INT_H

#include "manager.h"
#include "conn.h"
#include "console_ring.h"
#include "etf.h"
#include "timer_heap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOMBSTONE_MS (15 * 60 * 1000)  /* pm_config.tombstone_ms's default */
#define MAX_TOMBSTONES 10000
#define MAX_TOMBSTONE_BYTES (16u << 20) /* of all tombstones, their console tails included */
#define MAX_MESSAGES 10000
#define MAX_MESSAGE_BYTES (16u << 20)   /* of the messages a peer's log keeps (the newest always) */
#define TAIL_BYTES 2048
#define MAX_NAMES 4096              /* other nodes' numbers kept per peer */
#define IO_HOLD_MS 2000             /* an io_reply waits for lagging followers this long at most */
#define TOMB_TAIL_BYTES 16384       /* of the console, kept with a tombstone */
#define CALL_BUCKETS_MIN 64         /* a peer's first table of calls in flight */
#define CALL_BUCKETS_MAX 1024       /* and its largest (8 KiB): a batch's window */
#define MAX_EVENTS 10000

extern const int boot_bucket_ms[8];

enum peer_state { ST_BOOTING, ST_RUNNING, ST_DOWN };
extern const char *const state_names[];

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
    size_t part;                /* of a large message at pos, the bytes written (pm_framer.message_part) */
    struct message *held;       /* that message, gone from the log since: the follower finishes it */
    uint64_t token;             /* the peer's incarnation, or the instance for events: ids are TOKEN-POS */
    const pm_framer *framer;    /* how its stream is written (manager.h) */
    uint64_t until;             /* once (a snapshot): the console offset / last seq it ends at */
    bool link, once, finished, dead;
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
    bool suspended;             /* a request went to the node; its reply resumes this */
} io_cont;

enum pending_kind { P_CLIENT, P_GETPID, P_SELF, P_JOIN, P_IO, P_NAMES, P_WATCHDOG, P_BEAT };
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

/* A message from the node in its peer's log: `to` as text, the message as
 * an ETF body (etf, len bytes) lying in mem, which is freed with it (a
 * large one keeps the buffer it arrived in); etf NULL: one over
 * PM_MESSAGE_MAX, dropped, len its size. One that leaves the log while
 * followers are partway through it lives on until the last of them
 * (holders) has it. */
typedef struct message { struct message *next; uint64_t seq; char *to; uint8_t *mem; const uint8_t *etf; size_t len; int holders; } message;

/* An event in the log; its strings live in `mem`. */
typedef struct { pm_event e; char *mem; } event_slot;

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
    char *dump_path;            /* where its node writes a crash dump (ERL_CRASH_DUMP); NULL: not peerd's to say */
    int64_t dump_bytes;         /* the dump's size once the node is gone; -1: none */
    bool dump_kept;             /* its tombstone owns the file now */
    uint64_t heard_at;          /* monotonic ms: the node's last word (liveness.c) */
    int64_t unreachable_since;  /* epoch ms since when it is unheard; 0: it is heard */
    bool beat_out;              /* a heartbeat went and nothing came back since */
    tmr beat_timer;
    conn *conn;                 /* the control connection (conn.h) */
    uint64_t seq;
    pending **calls;            /* in flight, by seq & (call_buckets - 1) (pending.c) */
    uint32_t call_buckets, ncalls;
    uint64_t io_turn;           /* 1 + the loop's turn in which an I/O request of the node's came (mgr_note_io_request) */
    int boot_calls;             /* internal boot calls still unanswered */
    console_ring console;
    message *msgs, *msgs_tail;
    size_t nmsgs, msg_bytes;
    uint64_t msg_seq;
    pm_req *boot_waiters, *stop_waiters;
    pm_req *start_req;          /* the start, while the connection is pending (conn.h) */
    tmr boot_timer, stop_timer, lease_timer;
    buf held_io;                /* io_replies held for lagging followers: u32 length, ETF */
    tmr held_timer;
    int64_t created_at, booted_at, down_at, lease_expires_at;
    uint64_t boot_started;      /* monotonic ms */
    bool stopping, killed, removed, dead;
    bool corked;                /* output waits for the end of the batch */
    peer *next_corked;
    bool fill_due;              /* followers get new output at the end of the turn (mgr_fill_due) */
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

typedef struct cluster cluster;

typedef struct tombstone { struct tombstone *next; pm_peer_info info; uint64_t expires; size_t bytes; } tombstone;

struct pm {
    pm_config cfg;
    loop *l;
    conn_host host;             /* what the peers' connections share (conn.h) */
    int sfd;                    /* SIGCHLD */
    loop_watch w_signal;
    pm_req *qhead, *qtail;      /* requests for the end of this turn */
    uint64_t hook_turn;         /* the loop's turn in which turn_end last ran */
    bool shutting_down;
    bool stopped;               /* shut down: pm_submit answers itself */
    void (*quit_done)(void *ud);
    void *quit_ud;
    peer *peers;
    peer *graveyard;            /* freed at the end of an event batch */
    bool batching;              /* handling a batch of requests: cork output */
    peer *corked;               /* peers with output held for the batch */
    peer *fill_due;             /* peers whose followers are behind */
    follower *event_followers, *detached, *dead_followers;
    event_slot *events;         /* the last MAX_EVENTS events, by seq % MAX_EVENTS */
    /* Figures for /metrics. */
    uint64_t starts, boot_failures, console_bytes, boot_ms_sum, boot_count;
    uint64_t boot_buckets[8];   /* cumulative counts at boot_bucket_ms */
    uint64_t event_seq;         /* seq of the newest event */
    uint64_t events_by_type[PM_EVENT_TYPES];   /* recorded, by pm_event_types */
    uint64_t instance;          /* random per process: event ids are of it */
    uint64_t incarnations;      /* peers started so far */
    int npeers;                 /* live (not removed) peers */
    tombstone *tombs;           /* newest first */
    char *dump_dir;             /* the nodes' crash dumps (made at the first start); NULL: none yet */
    int unreachable;            /* running peers unheard now */
    uint64_t unreachable_total;
    size_t ntombs, tomb_bytes;
    tmr tomb_timer;             /* the oldest's expiry */
    cluster *clusters;          /* clusters.c */
};

/* ---- small helpers ---- */

static inline int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline char *xstrdup(const char *s) { return s ? strdup(s) : NULL; }

/* An I/O request of the node's came in this turn: a process on the node
 * waits on peerd's reply (io_turn holds the turn + 1; 0: never). */
static inline void mgr_note_io_request(peer *p) { p->io_turn = loop_turn(p->m->l) + 1; }
static inline bool mgr_io_requested_now(const peer *p) { return p->io_turn == loop_turn(p->m->l) + 1; }

static inline char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    return s;
}

static inline void strv_free(char **v)
{
    if (!v) return;
    for (char **p = v; *p; p++) free(*p);
    free(v);
}

static inline size_t strv_len(char *const *v)
{
    size_t n = 0;
    while (v && v[n]) n++;
    return n;
}

static inline char **strv_dup(char *const *v)
{
    size_t n = strv_len(v);
    char **d = calloc(n + 1, sizeof *d);
    for (size_t i = 0; d && i < n; i++)
        if (!(d[i] = strdup(v[i]))) { strv_free(d); return NULL; }
    return d;
}

static inline bool conn_open(const peer *p) { return p->conn && p->conn->ops->is_open(p->conn); }

static inline bool conn_waiting(const peer *p) { return p->conn && conn_is_waiting(p->conn); }

/* ---- across concerns ---- */

/* common.c */
/* The peer's console and message followers are filled at the end of the
 * turn (mgr_fill_followers): many small writes reach them as one push. */
void mgr_fill_due(peer *p);
/* A reader's `since` is of another incarnation when it says so, or when it
 * is past anything this one has reached. */
bool mgr_since_elsewhere(const pm_req *r, uint64_t token, uint64_t reached);
void mgr_logf(pm *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A line about the peer with this id: the log carries it (log.h). */
void mgr_log_about(pm *m, const char *id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define mgr_plogf(p, ...) mgr_log_about((p)->m, (p)->id, __VA_ARGS__)
void mgr_finish(pm_req *r, pm_status st, char *detail);
void mgr_snapshot(const peer *p, pm_peer_info *i);
void mgr_copy_info(pm_peer_info *dst, const pm_peer_info *src);
void mgr_answer_with_info(pm_req *r, const peer *p, pm_status st, char *detail);
bool mgr_timer_set(pm *m, tmr *t, uint64_t ms, void (*fire)(void *, tmr *), void *owner);
void mgr_timer_clear(pm *m, tmr *t);
peer *mgr_find_peer(pm *m, const char *id);

/* lifecycle.c */
bool mgr_processes_gone(const peer *p);
void mgr_remove_peer(peer *p, bool tomb);
void mgr_set_down(peer *p, const char *reason);
void mgr_reap(pm *m);
void mgr_do_start(pm *m, pm_req *r);
void mgr_do_lease(pm *m, peer *p, pm_req *r);
void mgr_do_wait(pm *m, peer *p, pm_req *r);

/* The node is not heard from: close, kill what is ours, down with reason. */
void mgr_declare_down(peer *p, const char *reason);
/* The boot's replies (relay.c dispatches them here); false: the peer is gone. */
bool mgr_node_started(peer *p, const term *node);
bool mgr_boot_lost(peer *p);        /* out of memory for the boot's own state */
void mgr_boot_answered(peer *p, enum pending_kind kind, const char *klass, const uint8_t *result, size_t n);
void mgr_boot_call_done(peer *p);   /* one of the boot's calls answered */

/* shutdown.c */
void mgr_kill_processes(peer *p);
void mgr_close_control(peer *p);
bool mgr_check_stop(peer *p);
void mgr_stop_begin(peer *p, pm_req *waiter);
void mgr_begin_shutdown(pm *m);

/* pending.c */
pending *mgr_pending_new(peer *p, enum pending_kind kind);
pending *mgr_pending_take(peer *p, uint64_t seq);
void mgr_pending_free(pending *c);
void mgr_io_cont_free(io_cont *io);

/* outbound.c */
void mgr_flush_out(peer *p);
/* Sends queue a message to the node (dropped if the connection is not
 * open): false only when out of memory, with nothing queued. A call that
 * cannot go is taken back from the pending table (still the caller's to
 * free and to answer). */
bool mgr_send_etf(peer *p, const uint8_t *etf, size_t n);
/* Within a control message's handling: its bytes at `inside` (n of them)
 * kept where they came, the connection's buffer taken (no copy into new
 * memory on the loop: a fault a page), or copied if it cannot be. *mem is
 * what to free; NULL if out of memory. */
const uint8_t *mgr_keep_bytes(peer *p, const uint8_t *inside, size_t n, uint8_t **mem);
/* The head of {Tag, [Seq,] ...} with its version byte: what follows are
 * the rest's ETF bodies. */
void mgr_tagged_head(buf *b, const char *tag, int arity, const uint64_t *seq);
bool mgr_send_tagged(peer *p, const char *tag, int arity, const uint64_t *seq, const uint8_t *body, size_t n);
bool mgr_send_call(peer *p, pending *c, const uint8_t *mfa, size_t n);
/* An internal call (M, F, Args as ETF bodies) whose reply goes by kind. */
bool mgr_send_internal(peer *p, enum pending_kind kind, const uint8_t *mfa, size_t n);
/* M:F() on the node, or M:F(Atom) when atom is given, as an internal call. */
bool mgr_internal_call(peer *p, enum pending_kind kind, const char *mod, const char *fun, const char *atom);
/* A client's call (r->payload) with its timeout; r is finished if it cannot go. */
void mgr_client_call(peer *p, pm_req *r);

/* relay.c */
void mgr_fail_pending(peer *p, const char *why);
bool mgr_handle_message(peer *p, const uint8_t *etf, size_t n);
/* The reply to c (taken from the pending table) goes to whoever waits; c is freed. */
void mgr_handle_reply(peer *p, pending *c, const char *klass, const uint8_t *result, size_t n);
void mgr_handle_oversized(peer *p, const uint8_t *head, size_t n, size_t size);
void mgr_do_relay(pm *m, peer *p, pm_req *r);

/* io_server.c */
void mgr_send_io_reply(peer *p, const uint8_t *etf, size_t n);
void mgr_maybe_release_io(peer *p);
bool mgr_chardata_utf8(const term *t, bool unicode, buf *out, int depth);
term *mgr_mk_tuple(arena *a, size_t n, ...);
void mgr_io_reply(peer *p, io_cont *io, term *reply);
void mgr_io_resume(peer *p, pending *c, const char *klass, const uint8_t *result, size_t n);
void mgr_handle_io_request(peer *p, arena *a, term *msg);
bool mgr_handle_large_format(peer *p, const uint8_t *etf, size_t n);

/* messages.c */
void mgr_store_message(peer *p, const term *to, const term *content);
void mgr_store_message_bytes(peer *p, const term *to, const uint8_t *content, size_t len);
bool mgr_may_name_nodes(const uint8_t *d, size_t n);
bool mgr_ask_names(peer *p, const term *a, const term *b, pm_req *req);
bool mgr_ask_names_in(peer *p, pm_req *r);
void mgr_finish_reply(peer *p, pm_req *r);
void mgr_release_held(peer *p, bool all);
bool mgr_hold_message(peer *p, arena *a, term *to, term *content);
void mgr_names_answered(peer *p, pending *c, const char *klass, const uint8_t *result, size_t n);
void mgr_message_view(const message *g, pm_message *v);
void mgr_message_leaves(peer *p, message *g);
void mgr_drop_held(follower *f);
void mgr_message_free(message *g);
term_names mgr_names_of(const peer *p);

/* console.c */
void mgr_console_write(peer *p, const void *data, size_t n);
bool mgr_console_frame(buf *out, const pm_framer *fr, pm_req *r, const console_ring *ring, uint64_t token, const char *id);
char *mgr_console_tail(const peer *p);

/* followers.c */
void mgr_fill_followers(pm *m);
void mgr_finish_follower(follower *f, stream_state how);
void mgr_fill_events(follower *f, bool all);
void mgr_fill(follower *f);
void mgr_do_refill(pm_req *r);
void mgr_release_followers(peer *p, bool cut);
void mgr_do_follow(pm *m, peer *p, pm_req *r);
void mgr_do_unfollow(pm *m, pm_req *r);

/* events.c */
void mgr_emit_event(pm *m, const peer *p, const char *type, const char *reason);
void mgr_free_events(pm *m);

/* clusters.c */
/* Gives a cluster member its cluster's cookie (made by the first member);
 * false, r answered, if it cannot be a member. */
bool mgr_cluster_admit(pm *m, pm_start_opts *o, pm_req *r);
void mgr_clusters_free(pm *m);

/* tombstones.c */
/* True if the tombstone holds the peer's crash dump file (it unlinks it). */
bool mgr_add_tombstone(pm *m, const peer *p);
void mgr_note_crash_dump(peer *p);
/* clusters.c: a starting member connects to every other member that is up;
 * returns how many connect_node calls went. */
int mgr_join_cluster(peer *p);
void mgr_join_answered(peer *p, const char *klass, const uint8_t *result, size_t n);

/* liveness.c: heartbeats, unreachable, the node's watchdog. */
int liveness_boot(peer *p);
void liveness_watchdog_answered(peer *p, const char *klass);
void liveness_start(peer *p);
void liveness_heard(peer *p);
void liveness_stop(peer *p);
bool liveness_refuses(peer *p, pm_req *r);
void mgr_not_found(pm *m, pm_req *r);

#endif

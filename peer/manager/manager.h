/*
 * manager.h — the peer manager: peerd's part of OTP's peer module.
 *
 * The manager lives on peerd's one loop (loop.h) and owns every peer: its
 * child process, control connection (standard_io pipes or a TCP socket),
 * timers, console ring and message queue. Handlers on the same loop submit
 * a pm_req; the manager handles the turn's requests as one batch at the
 * end of the turn (so that one write to a node carries all of them) and
 * calls req->done, which must only hand the request back (e.g. resume an
 * HTTP connection).
 *
 * Calls are relayed without the loop decoding arguments or results: the
 * submitter encodes M, F, A in ETF, the loop frames {call, Seq, M, F, A}, and
 * hands back the reply's Class and the raw ETF of its Result.
 */
#ifndef PEERD_MANAGER_H
#define PEERD_MANAGER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "start_opts.h"
#include "labels.h"
#include "loop.h"
#include "stream.h"
#include "term_text.h"

typedef struct pm pm;

/* ---- records the manager hands out ----
 * peer/ writes no wire format: streams and snapshots are written by a
 * framer (pm_framer) that the HTTP side chooses per request, from these
 * records and positions. */

/* A lifecycle event. `seq` numbers the events of this peerd instance. */
typedef struct pm_event {
    uint64_t seq;
    int64_t time;               /* epoch ms */
    const char *type;           /* created, booted, boot_failed, down, crashed, stopped, removed, lease_expired,
                                 * webhook_failed (pm_record_event) */
    const char *peer, *node, *reason;   /* node and reason may be NULL */
    uint64_t incarnation;
    const char *labels_json;    /* the peer's labels as a JSON object */
} pm_event;

/* A message a node sent to peerd: to whom (an atom's name, or the printed
 * pid), and the message as an ETF body (no version byte). One over
 * PM_MESSAGE_CONVERT_MAX bytes is kept as it came and shown as ETF only:
 * turning it into text would hold the loop (the HTTP side converts a call's
 * large reply off the loop; a stream has no request to wait on). One over
 * PM_MESSAGE_MAX is dropped: etf is NULL, len its size. */
#define PM_MESSAGE_CONVERT_MAX (32u << 10)
/* A call's result of this many bytes or more keeps the connection's own
 * buffer (conn_take) rather than a copy. */
#define PM_TAKE_MIN (256u << 10)
#define PM_MESSAGE_MAX (16u << 20)
typedef struct pm_message {
    uint64_t seq;               /* per incarnation, from 1 */
    const char *to;
    const uint8_t *etf;
    size_t len;
} pm_message;

enum pm_follow_kind { PM_FOLLOW_CONSOLE, PM_FOLLOW_MESSAGES, PM_FOLLOW_EVENTS };

/* How records become the bytes of a response; every function appends to
 * out. Ids are TOKEN-POS: the token is the peer's incarnation (console,
 * messages) or peerd's instance (events). */
typedef struct pm_framer {
    /* Console bytes; `end` is the offset just past them. */
    void (*console)(buf *out, uint64_t token, uint64_t end, const uint8_t *d, size_t n);
    /* `names`: how the node numbers the other nodes the message names. */
    void (*message)(buf *out, uint64_t token, const pm_message *g, const term_names *names);
    /* A large message (etf over PM_MESSAGE_CONVERT_MAX) to a follower, a
     * piece at a time so that no turn encodes more than the stream has
     * room for: bytes [from, to) of its ETF with the version byte in
     * front (from and to multiples of 3, but the last `to`, len + 1).
     * The first piece writes the head, the last the tail. */
    void (*message_part)(buf *out, uint64_t token, const pm_message *g, size_t from, size_t to);
    void (*event)(buf *out, uint64_t token, const pm_event *e);
    /* `missed` units of `kind` (bytes, messages, events) are no longer kept
     * before `resume`, the position a client would resume from. */
    void (*missed)(buf *out, enum pm_follow_kind kind, uint64_t token, uint64_t missed, uint64_t resume);
    /* The position asked for is of another incarnation (or instance): what
     * follows is this one's from its start. */
    void (*reset)(buf *out, enum pm_follow_kind kind, uint64_t token, const char *peer_id);
} pm_framer;

/* The manager's figures (GET /metrics). */
#define PM_BOOT_BUCKETS 8
#define PM_EVENT_TYPES 12
/* The event log's types, the last "other" (none is). */
extern const char *const pm_event_types[PM_EVENT_TYPES];
typedef struct {
    int peers[3];               /* by state: booting, running, down */
    uint64_t starts, boot_failures, console_bytes;
    uint64_t events_by_type[PM_EVENT_TYPES];    /* events recorded, by pm_event_types */
    uint64_t boot_count, boot_ms_sum;
    const int *boot_bucket_ms;  /* PM_BOOT_BUCKETS upper bounds, ms */
    uint64_t boot_buckets[PM_BOOT_BUCKETS];   /* cumulative counts */
    size_t tombstones, tombstone_bytes;         /* removed peers remembered, and what they hold */
    int unreachable;                            /* running peers not heard from now */
    uint64_t unreachable_total;                 /* times a peer became unreachable */
} pm_figures;

typedef struct {
    size_t console_buffer;      /* bytes kept per peer */
    int max_peers;
    uint64_t tombstone_ms;      /* how long a removed peer is remembered (410); 0: 15 minutes */
    bool quiet;                 /* no log lines */
    const char *cookie;         /* distribution peers' cookie unless a start gives one (not NULL) */
    const char *dist_address;   /* IPv4 address of peerd's long-name node; NULL: the host's */
    int64_t heartbeat_ms;       /* peers' default heartbeat (0: none) */
    int64_t unreachable_ms;     /* and how long unheard before down */
    /* Called on the loop for every event of a peer started with notify_url:
     * must only queue what it needs (the event is the caller's to copy),
     * never block. */
    void (*notify)(const char *url, const struct pm_event *e, uint64_t instance, void *ud);
    void *notify_ud;
} pm_config;

typedef enum {
    PM_OK = 0,
    PM_ERR_NOT_FOUND,       /* no such peer */
    PM_ERR_GONE,            /* removed; info is the tombstone */
    PM_ERR_EXISTS,          /* name taken */
    PM_ERR_TOO_MANY,        /* --max-peers */
    PM_ERR_BOOT_FAILED,     /* exit_status / console_tail set */
    PM_ERR_TIMEOUT,         /* boot or call timeout */
    PM_ERR_NOCONNECTION,    /* not running / control connection gone */
    PM_ERR_SPAWN,           /* could not start the program (detail) */
    PM_ERR_LISTEN,          /* could not listen for the TCP connection (detail) */
    PM_ERR_SHUTTING_DOWN,
    PM_ERR_INTERNAL,
    PM_ERR_REPLY_TOO_LARGE, /* the node's reply was over the frame limit and dropped (detail) */
    PM_ERR_NO_LEASE,        /* PUT lease without lease_ms on a peer that has none */
    PM_ERR_CONFLICT,        /* the start does not fit its cluster (cookie, kind of names) */
    PM_ERR_NOMEM,           /* peerd ran out of memory doing it (no detail: making one would allocate) */
} pm_status;

/* A snapshot of one peer, owned by whoever holds it. */
typedef struct {
    char *id, *node, *down_reason, *connection, *options_json;
    char *labels_json, *cluster;    /* labels as a JSON object ("{}": none); cluster or NULL */
    const char *state;          /* "booting", "running", "down" */
    pid_t os_pid;               /* 0 until known */
    bool node_ours;             /* os_pid is the node's, on this host: peerd's child (or adopted) */
    char **argv;                /* final command line */
    int64_t created_at, booted_at, down_at, lease_expires_at;   /* epoch ms, 0 = none */
    uint64_t console_bytes;
    uint64_t incarnation;       /* unique per start of a peer, across peerd instances */
    char *console_tail;         /* tombstones: the last TOMB_TAIL bytes of the console */
    size_t console_tail_len;
    uint64_t console_tail_at;   /* offset of console_tail's first byte */
    int64_t unreachable_since;  /* epoch ms since when it has not been heard from; 0: it is */
    int64_t heartbeat_ms, unreachable_ms;
    char *crash_dump;           /* the node's erl_crash.dump once it exited, or NULL */
    int64_t crash_dump_bytes;   /* its size; -1: none */
} pm_peer_info;

void pm_peer_info_free(pm_peer_info *i);

typedef enum {
    PM_START, PM_LIST, PM_GET, PM_STOP, PM_CALL, PM_CAST, PM_SEND,
    PM_IDENTITY, PM_WAIT, PM_LEASE,
    PM_FOLLOW,                  /* attach a stream: console, messages or events (a snapshot: once) */
    PM_REFILL,                  /* the reader drained a starved stream */
    PM_UNFOLLOW,                /* the response is gone: detach the stream */
} pm_op;

typedef struct pm_req pm_req;
struct pm_req {
    pm_op op;
    char *id;                   /* peer id (not for START/LIST) */
    pm_start_opts *start;       /* START: taken over by the manager */
    buf payload;                /* CALL/CAST: ETF bodies of M, F, A; SEND: To, Msg */
    int64_t timeout_ms;         /* CALL: ms or PM_INFINITY */
    uint64_t since;             /* FOLLOW: console byte offset; messages, events: seq */
    uint64_t since_of;          /* the incarnation (instance for events) `since` is of */
    bool since_tagged;          /* since_of was given: an id, not a bare number */
    char *to;                   /* FOLLOW messages: only those sent to this name */
    selector *sel;              /* LIST: only the peers it selects (owned); NULL: all */
    char *cluster;              /* LIST: only the members of this cluster */
    bool want_down;             /* WAIT: for "down" (else "running") */
    bool wait_unreachable;      /* CALL, CAST, SEND: go to an unreachable peer anyway, and wait */
    int64_t lease_ms;           /* LEASE: new lease length, 0 = keep */
    enum pm_follow_kind follow; /* FOLLOW */
    const pm_framer *framer;    /* FOLLOW: how the stream is written */
    bool link;                  /* FOLLOW: stop the peer when the client goes */
    bool once;                  /* FOLLOW: a snapshot: end after what is kept now (no follow) */
    int client_fd;              /* FOLLOW: a dup of the client socket, watched for hang-up; -1 */
    stream *stream;             /* FOLLOW: the manager takes one reference */
    void *follower;             /* FOLLOW answer, REFILL/UNFOLLOW input: the manager's handle */

    /* Answer. */
    pm_status status;
    char *detail;               /* human-readable detail of an error */
    pm_peer_info *info;         /* START/GET/STOP/LIST (ninfo of them) */
    size_t ninfo;
    char *klass;                /* CALL: "ok", "throw", "error", "exit", "crash" */
    buf reply;                  /* CALL: ETF (with version byte) of the result */
    uint8_t *reply_mem;         /* CALL: if set, reply lies inside it (a large result keeps
                                 * the buffer it arrived in) and it is what is freed */
    uint64_t range_start, range_end;  /* FOLLOW console: the offsets the stream starts at (and, once, ends at) */
    uint64_t incarnation;       /* FOLLOW: the peer's (the instance for events) */
    int exit_status;            /* BOOT_FAILED: -1 if unknown */
    char *console_tail;         /* BOOT_FAILED */
    term_names names;           /* CALL: how the node numbers the other nodes in reply (in names_arena) */
    arena *names_arena;
    term_ctx identity;          /* IDENTITY: node atom (in identity_arena) and creation */
    arena *identity_arena;
    unsigned calls_at_once;     /* IDENTITY: calls worth having in flight at once (conn.h); 0 unknown */

    void (*done)(pm_req *req);
    void *ud;
    pm_req *next;               /* the manager's queue link */
};

pm_req *pm_req_new(pm_op op, const char *id);
void pm_req_free(pm_req *r);

/* A manager on loop l (it watches SIGCHLD there and adds an end-of-turn
 * hook). Process-wide, and once per process: it blocks SIGCHLD in the
 * calling thread (read from a signalfd instead), makes the process a child
 * subreaper (nodes that detach re-parent to it, to be waited for and
 * killed), and ignores SIGPIPE (a node's closed pipe is an error return). */
pm *pm_new(loop *l, const pm_config *cfg);
/* On the loop's thread; r->done runs at the end of the turn. */
void pm_submit(pm *m, pm_req *r);
/* Answers r at once (r->done runs before this returns) when it needs
 * nothing but what the manager holds: GET, LIST, CONSOLE, MESSAGES,
 * IDENTITY. False (r untouched) for the rest, which go through
 * pm_submit: what is sent to a node goes out once per turn. */
bool pm_answer_now(pm *m, pm_req *r);
/* Stops every peer as its `shutdown` says; once none is left, followers of
 * /events have had the last events and done(ud) runs (then every request
 * is answered shutting_down). */
void pm_quit(pm *m, void (*done)(void *ud), void *ud);
/* Only after pm_quit's done, or before the loop ever ran: it frees what is
 * left (tombstones, events, followers never unfollowed, crash dumps) and
 * does not stop nodes. */
void pm_free(pm *m);

/* This peerd's instance id: random, fixed for the life of the process.
 * Stream ids are "%016llx-%llu" of it (events) or of a peer's incarnation. */
uint64_t pm_instance(const pm *m);
/* Records an event that is not the manager's own (a webhook given up on:
 * type, peer, node, reason, incarnation and labels as given; seq and time
 * made here) for followers of /events; it goes to no notify_url. */
void pm_record_event(pm *m, const pm_event *e);

void pm_get_figures(const pm *m, pm_figures *out);

/* A live peer as it is now, without a request: the strings are the
 * manager's, good until the caller returns to the loop (never free it).
 * False if no such peer is held (then ask with PM_GET: it may be gone). */
bool pm_peer_view(pm *m, const char *id, pm_peer_info *view);

/* OTP's peer:random_name/1: PREFIX-UNIQUE-OSPID. */
char *pm_random_name(const char *prefix);

#endif

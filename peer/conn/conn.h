/*
 * conn.h — a peer's control connection, behind one interface; one file per
 * kind (conn_stdio.c, conn_tcp.c, conn_dist.c). Models: Redis's
 * connection.h (a table of functions per transport) and curl's cfilters.h
 * (each callback's contract beside it).
 *
 * A connection owns the program's pipes and, for TCP, the listening and
 * connected sockets; it watches them on the loop itself, frames what the
 * peer sends, and delivers what arrives as conn_events: console bytes, one
 * control message at a time, an oversized message's head, and the loss of
 * the connection. The peer (manager.c) knows nothing of pipes or sockets.
 */
#ifndef PEERD_CONN_H
#define PEERD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "buf.h"
#include "loop.h"
#include "start_opts.h"
#include "tcp_frame.h"

typedef struct conn conn;
typedef struct dist_node dist_node;

/* What the connections of one manager share: its loop, and for the
 * distribution connection peerd's hidden nodes (short and long names, made
 * at first use), the default cookie and the private homes that hand a
 * cookie to a node (conn.c). */
typedef struct {
    loop *l;
    const char *cookie;         /* peerd's: random, or --cookie-file's */
    const char *dist_address;   /* the long-name node's address (--dist-address); NULL: the host's */
    dist_node *dist[2];         /* [longnames] */
    struct cookie_home *homes;
} conn_host;

/* peerd's hidden node for this kind of name, started at first use; NULL
 * with *err (malloc'd) if it cannot be. */
dist_node *conn_host_dist(conn_host *h, bool longnames, char **err);
/* A private directory (0700) whose .erlang.cookie (0400) holds cookie: the
 * HOME a node gets, so that the cookie never shows in ps. NULL on failure. */
const char *conn_host_cookie_home(conn_host *h, const char *cookie);
/* Stops the hidden nodes and removes the cookie homes. */
void conn_host_clear(conn_host *h);

/* What a connection tells its peer. message and oversized return false when
 * the peer is gone as a result (it may stop itself on a message): the
 * connection must then not touch itself again. */
typedef struct {
    void (*console)(void *owner, const uint8_t *d, size_t n);
    bool (*message)(void *owner, const uint8_t *etf, size_t n);
    /* A message over the limit (size bytes), not held: its first bytes. */
    bool (*oversized)(void *owner, const uint8_t *head, size_t n, size_t size);
    /* A message there was no memory to take: its first bytes, a call's
     * reply given as the head of {reply, Seq, ...} so that its call fails. */
    bool (*dropped)(void *owner, const uint8_t *head, size_t n);
    /* The control connection closed or broke; reason is Erlang text
     * ("tcp_closed", "{control_stream,crc_mismatch}"); with kill, the node
     * must be killed (its stream can no longer be trusted). The connection
     * has closed its control side already. */
    void (*lost)(void *owner, const char *reason, bool kill);
    /* A connection created pending (c->pending) is ready: the node's
     * arguments (the owner's now), or why it cannot be (err, malloc'd). */
    void (*ready)(void *owner, char **args, size_t nargs, char *err);
    /* How many calls sent on the connection wait for their replies (the
     * owner may say 0 when the node waits on it: reads then never pause). */
    unsigned (*awaited)(void *owner);
} conn_events;

typedef struct {
    const char *name;
    /* Set up for a peer about to start: listen (TCP), and append the node's
     * arguments (-user peer [-origin IPS PORT], -detached...) to *args; or
     * set c->pending and give them later through ev->ready (distribution,
     * while peerd's node registers in epmd). NULL with *err (malloc'd) if
     * it cannot. */
    conn *(*create)(conn_host *h, const pm_start_opts *o, const conn_events *ev, void *owner,
                    char ***args, size_t *nargs, char **err);
    bool wants_stdin;           /* the program's stdin is the control channel */
    /* Calls worth having in flight at once on one connection (a batch's
     * window): a node over standard_io reads all that is written and starts
     * a process for each call at once, and more than a few hundred make it
     * slower per call; over TCP it reads a call at a time. */
    unsigned calls_at_once;
    /* Takes the started program's pipes (in_fd -1 unless wants_stdin) and
     * starts watching; -1 with errno if the loop refuses. */
    int (*attach)(conn *c, int in_fd, int out_fd);
    /* Queues one message (ETF with its version byte), framed, into outq;
     * flush sends it (the peer flushes once per batch). Dropped when not
     * open. Out of memory shows as outq.oom (conn_send undoes it). */
    void (*send)(conn *c, const uint8_t *etf, size_t n);
    /* Frames one message into out as send would into outq, touching
     * nothing of a connection's: callable off the loop, so that a large
     * message is framed on the helper (conn_send_framed queues it). NULL:
     * this kind cannot (distribution: its framing reads the connection). */
    void (*frame)(buf *out, const uint8_t *etf, size_t n);
    void (*flush)(conn *c);     /* writes what is queued, as far as the kernel takes it */
    bool (*is_open)(const conn *c);     /* messages can go out */
    bool (*is_waiting)(const conn *c);  /* still waiting for the node to connect */
    /* Closes the control channel (the node halts when it sees that); the
     * program's stdout stays open and is read as console from now on. */
    void (*close)(conn *c);
    /* The program exited: read what its stdout still holds, then close it.
     * False if the peer is gone as a result. */
    bool (*drain)(conn *c);
    /* "standard_io", "tcp:IP:PORT", "distribution:NODE"; NULL: c->text */
    const char *(*describe)(const conn *c);
    /* Within ev->message only: the buffer the message is in, whole, to
     * out, with the offset of inside (a byte of the message) in it; the
     * connection reads on into a new one. NULL or false: copy instead. */
    bool (*take)(conn *c, const uint8_t *inside, buf *out, size_t *off);
    void (*free)(conn *c);
} conn_ops;

/* What every kind shares; each file extends it (first member). */
struct conn {
    const conn_ops *ops;
    loop *l;
    const conn_events *ev;
    void *owner;
    int out_fd;                 /* the program's stdout */
    loop_watch w_out;
    bool raw;                   /* stdout is console only (TCP, or standard_io once closed) */
    bool pending;               /* the node's arguments come through ev->ready */
    /* Takes stdout's bytes when not raw; false if the peer is gone. */
    bool (*decode)(conn *c, const uint8_t *d, size_t n);
    buf outq;                   /* framed, not yet written */
    size_t outq_off;
    bool out_watching;          /* EPOLLOUT armed on the write side */
    char *text;                 /* describe() */
    char **env;                 /* "K=V" the program gets besides the peer's env (NULL-terminated; may be NULL) */
    size_t nenv;
    bool reads_paused;          /* conn_pause_reads: the socket's EPOLLIN is off until pause_timer */
    tmr pause_timer;
    loop_watch *paused_w;
};

extern const conn_ops conn_stdio_ops, conn_tcp_ops, conn_dist_ops;

/* The operations as callers write them (conn_ops says what each does). */
static inline int conn_attach(conn *c, int in_fd, int out_fd) { return c->ops->attach(c, in_fd, out_fd); }
/* False if out of memory: the message is not queued, and what was queued
 * before it is as it was (a failed append leaves outq's bytes in place). */
static inline bool conn_send(conn *c, const uint8_t *etf, size_t n)
{
    size_t len = c->outq.len;
    c->ops->send(c, etf, n);
    if (!c->outq.oom) return true;
    c->outq.oom = false;
    c->outq.len = len;
    return false;
}
/* Queues what ops->frame made, taking enc: into an empty queue by taking
 * its buffer (the loop does not copy it, nor touch its pages), else after
 * what is queued. Dropped when not open. Then conn_flush. */
void conn_send_framed(conn *c, buf *enc);
static inline void conn_flush(conn *c) { c->ops->flush(c); }
static inline bool conn_is_open(const conn *c) { return c->ops->is_open(c); }
static inline bool conn_is_waiting(const conn *c) { return c->ops->is_waiting(c); }
static inline void conn_close(conn *c) { c->ops->close(c); }
static inline bool conn_drain(conn *c) { return c->ops->drain(c); }
static inline bool conn_take(conn *c, const uint8_t *inside, buf *out, size_t *off)
{
    return c->ops->take && c->ops->take(c, inside, out, off);
}
static inline const char *conn_describe(const conn *c) { return c->ops->describe ? c->ops->describe(c) : c->text; }
static inline void conn_free(conn *c) { c->ops->free(c); }

/* Reads from one node in one turn of the loop, at most (then the turn ends:
 * followers are filled, HTTP writes, other nodes are read). A turn that read
 * more than the console ring holds would overwrite what a follower that
 * keeps up has not been handed yet. */
#define CONN_READS_PER_TURN 4   /* of CONN_READ_SIZE */
#define CONN_READ_SIZE (64u << 10)

/* Shared by the kinds (conn.c). */
void conn_init(conn *c, const conn_ops *ops, loop *l, const conn_events *ev, void *owner);
/* Takes the program's stdout and watches it: console, or c->decode's. */
int conn_watch_stdout(conn *c, int out_fd);
/* What conn_ops.drain does for every kind: the rest of stdout, then close it. */
bool conn_drain_stdout(conn *c);
/* Writes outq to fd; arms or disarms EPOLLOUT on w (base: its other events). */
void conn_write(conn *c, int fd, loop_watch *w, uint32_t base);
void conn_close_fd(conn *c, int *fd, loop_watch *w);
/* Closes the control side (ops->close) and tells the peer it is lost. */
void conn_lose(conn *c, const char *reason);
/* Reads what a {packet, 4} socket has (CONN_READS_PER_TURN reads at most)
 * and hands each message to sink: 1 when it read all there was, 0 when
 * there may be more (or the sink stopped), CONN_CLOSED when the other side
 * closed it, CONN_NOMEM. With quickack the socket ACKs at once after each
 * read. */
enum { CONN_CLOSED = -1, CONN_NOMEM = -2 };
int conn_read_packets(int fd, tcp_decoder *dec, const tcp_sink *sink, bool quickack);

/* A node's socket read dry while at least CONN_PAUSE_AWAITED calls await
 * their replies: its EPOLLIN stays off for CONN_PAUSE_MS, and the replies
 * that come meanwhile are read at once, in one or two reads instead of a
 * read (and an ACK, and a turn) for every few. With that many calls
 * queued the node has work for longer than the pause: a batch over TCP or
 * distribution (its window is 1024), not /call's clients. Not while the
 * node waits on peerd (an I/O request came this turn: the writer's next
 * one would wait out every pause). EPOLLRDHUP stays on. */
#define CONN_PAUSE_AWAITED 256
#define CONN_PAUSE_MS 1
void conn_pause_reads(conn *c, loop_watch *w);
/* The events a socket that reads messages is watched for besides EPOLLOUT. */
static inline uint32_t conn_read_events(const conn *c) { return c->reads_paused ? EPOLLRDHUP : EPOLLIN | EPOLLRDHUP; }
/* Ends a pause at once, the watch left as it is (the socket is closing). */
void conn_pause_clear(conn *c);
/* Appends a copy of s to a NULL-terminated argv of *n; false if out of memory. */
bool conn_push_arg(char ***v, size_t *n, const char *s);
void conn_release(conn *c);     /* closes stdout, frees what conn_init set up, and c at the end of the turn */

#endif

/*
 * node_link.h — the smallest origin's side of a control connection, for the
 * benchmarks' yardsticks (node_rtt, bare_relay): start `erl -user peer` over
 * standard_io, TCP or distribution as peerd does, frame {call, Seq, erlang,
 * node, []}, split what the node sends into control messages. Blocking, no
 * loop. Over distribution it is a hidden node of its own (epmd, handshake,
 * rex calls through erpc:execute_call), and hands replies on as {reply,
 * Seq, Class, Result}, as the other connections carry them.
 */
#ifndef PEERD_BENCH_NODE_LINK_H
#define PEERD_BENCH_NODE_LINK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "stdio_frame.h"
#include "tcp_frame.h"

#include <pthread.h>

typedef struct {
    bool tcp, dist;
    bool quickack;              /* ACK every read at once (a pipelining origin, as peerd) */
    int epmd_fd;
    char node[300];             /* distribution: this origin's name */
    uint32_t creation;
    buf pid_origin, pid_gl, pid_reply;
    pthread_mutex_t wlock;      /* writes come from two threads in bare_relay */
    int wfd, rfd;               /* write calls to, read messages from (the same socket over TCP) */
    int out_fd;                 /* the node's stdout (TCP: console only) */
    pid_t pid;
    stdio_decoder sd;
    tcp_decoder td;
} node_link;

/* Starts the node ("standard_io", "tcp" or "distribution") and waits for
 * its {started, Node}; exits on failure. The descriptors are blocking. */
void node_link_start(node_link *n, const char *conn);
/* Appends {call, Seq, erlang, node, []}, framed for the connection. */
void node_link_call(const node_link *n, buf *out, uint64_t seq);
/* Writes all of b (blocking). */
void node_link_write(const node_link *n, const buf *b);
/* Reads once (blocking) and hands each whole control message to fn;
 * false when the node went away. */
bool node_link_read(node_link *n, bool (*fn)(void *ud, const uint8_t *etf, size_t len), void *ud);
/* Closes the connection: the node halts. */
void node_link_stop(node_link *n);

#endif

/*
 * dist.h — peerd as a hidden Erlang node, for the distribution control
 * connection (conn_dist.c). One per name kind (short, long) per peerd:
 * published in epmd under a name unique to the process, listening on the
 * address its host part resolves to, accepting the nodes that peerd starts
 * and running the distribution handshake (OTP's distribution protocol, ERTS
 * documentation "Distribution Protocol") on the
 * loop. A node whose handshake names a node that is expected (its alive
 * name, before '@') and proves the expected cookie is handed to the waiter
 * with its socket; any other connection is closed.
 */
#ifndef PEERD_DIST_H
#define PEERD_DIST_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "loop.h"
#include "etf.h"
#include "term.h"

/* Distribution flags peerd offers and needs (OTP 25's mandatory set, as a
 * hidden node: not DFLAG_PUBLISHED). */
#define DIST_FLAGS (0x4ull /* EXTENDED_REFERENCES */ | 0x8 /* DIST_MONITOR */ | 0x10 /* FUN_TAGS */ | \
                    0x80 /* NEW_FUN_TAGS */ | 0x100 /* EXTENDED_PIDS_PORTS */ | 0x200 /* EXPORT_PTR_TAG */ | \
                    0x400 /* BIT_BINARIES */ | 0x800 /* NEW_FLOATS */ | 0x4000 /* SMALL_ATOM_TAGS */ | \
                    0x10000 /* UTF8_ATOMS */ | 0x20000 /* MAP_TAG */ | 0x40000 /* BIG_CREATION */ | \
                    0x1000000 /* HANDSHAKE_23 */ | 0x2000000 /* UNLINK_ID */ | 0x4000000 /* MANDATORY_25_DIGEST */)

typedef struct dist_node dist_node;

/* A node peerd started and waits for. */
typedef struct dist_expect {
    struct dist_expect *next;
    const char *alive;          /* its name before '@' */
    const char *cookie;
    /* The handshake is done: the (non-blocking) socket is the waiter's, with
     * the bytes read past the handshake. */
    void (*connected)(struct dist_expect *e, int fd, const uint8_t *rest, size_t n);
} dist_expect;

/* Listens, and starts publishing peerd as a hidden node in epmd (starting
 * `epmd -daemon` if none runs) on the loop: the node is ready once epmd has
 * answered (dist_when_ready). A long-name node takes `address` (an IPv4
 * address, NULL: the host's own) as its host part and listens there, so
 * that nodes on other hosts can reach it. NULL with *err (malloc'd) if it
 * cannot listen. */
dist_node *dist_start(loop *l, bool longnames, const char *address, char **err);
void dist_free(dist_node *d);

/* Waits for the registration: ready(w, d, NULL) once the node has its
 * creation, ready(w, d, why) if it cannot have one; at once if settled. */
typedef struct dist_waiter {
    struct dist_waiter *next;
    void (*ready)(struct dist_waiter *w, dist_node *d, const char *err);
} dist_waiter;
void dist_when_ready(dist_node *d, dist_waiter *w);
void dist_waiter_remove(dist_node *d, dist_waiter *w);
int dist_state(const dist_node *d);             /* 0 registering, 1 ready, -1 failed */
const char *dist_error(const dist_node *d);     /* why it failed */

const char *dist_name(const dist_node *d);      /* alive@host */
uint32_t dist_creation(const dist_node *d);     /* from epmd: valid once ready */
void dist_expect_add(dist_node *d, dist_expect *e);
void dist_expect_remove(dist_node *d, dist_expect *e);

/* Readers of what a node sends (also fuzz/dist.c's targets). send_name:
 * 'N' Flags:64 Creation:32 NLen:16 Name -> the name's bytes. */
bool dist_read_name(const uint8_t *m, size_t n, const uint8_t **name, size_t *len);
/* challenge_reply: 'r' Challenge:32 Digest:128. */
bool dist_read_reply(const uint8_t *m, size_t n, uint32_t *challenge, const uint8_t **digest);
/* A data packet: 'p', the control message (decoded into a), then the
 * message with its version byte (*mlen 0 if none). False if not one
 * (err says why when it was the control message's decode). */
bool dist_read_packet(arena *a, const uint8_t *p, size_t n, term **ctl, const uint8_t **msg, size_t *mlen, etf_error *err);
/* The same packet told from its bytes, nothing decoded: a SEND, {2, '',
 * To}, to the pid whose ETF body is pid (as peerd encodes it), and its
 * message (version byte first). False if it is not that, byte for byte. */
bool dist_packet_to(const uint8_t *p, size_t n, const uint8_t *pid, size_t pid_len, const uint8_t **msg, size_t *mlen);
/* Where {Seq, Class, ...} starts in rex's answer to an erpc call, {rex,
 * {badrpc, {'EXIT', {Seq, Class, ...}}}} (msg with its version byte, or
 * only its first bytes): the three tags are read, nothing is walked. NULL
 * if msg does not start so. */
const uint8_t *dist_rex_exit(const uint8_t *msg, size_t n);
/* An erpc call's value as rex sends it, {rex, {badrpc, {'EXIT', {Seq,
 * return, V}}}} (msg with its version byte): the bytes of Seq (an integer)
 * and of V, V walked once. False if msg is not that. */
bool dist_rex_value(const uint8_t *msg, size_t n, const uint8_t **seq, size_t *seq_len, const uint8_t **v, size_t *v_len);

/* The handshake's digest: MD5(cookie ++ integer_to_list(challenge)). */
void dist_digest(const char *cookie, uint32_t challenge, uint8_t out[16]);

#endif

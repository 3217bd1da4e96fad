/*
 * dist.c — peerd's hidden node: epmd, the listening socket, and the
 * accepting side of the distribution handshake (OTP 23+, "N" messages;
 * erts' erl_dist_protocol). See dist.h.
 *
 * The handshake, as the node (A) connects to peerd (B); every message has a
 * 2-byte length:
 *   A: 'N' Flags:64 Creation:32 NLen:16 Name     (send_name)
 *   B: 's' "ok"                                   (status)
 *   B: 'N' Flags:64 Challenge:32 Creation:32 NLen:16 Name
 *   A: 'r' ChallengeA:32 Digest:128               (MD5(Cookie ++ ChallengeB as text))
 *   B: 'a' Digest:128                             (MD5(Cookie ++ ChallengeA as text))
 * then the data phase, 4-byte lengths (conn_dist.c). MD5 is GnuTLS's (it is
 * there already, under libmicrohttpd).
 */
#include "dist.h"
#include "etf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define EPMD_PORT 4369
#define HANDSHAKE_MS 5000

extern char **environ;

typedef struct handshake {
    struct handshake *next;
    dist_node *d;
    int fd;
    loop_watch w;
    tmr timer;
    buf in;
    int step;                   /* 0: waiting for the name, 1: for the reply */
    uint32_t challenge;
    dist_expect *e;
    bool dead;
} handshake;

struct dist_node {
    loop *l;
    char *name;                 /* alive@host */
    char *alive;
    uint16_t port;
    uint32_t creation;
    int state;                  /* 0 registering in epmd, 1 ready, -1 failed (error) */
    char *error;
    dist_waiter *waiters;
    bool epmd_spawned;
    int tries;
    tmr retry;
    buf epmd_in;
    int epmd_fd, listen_fd;
    loop_watch w_listen, w_epmd;
    dist_expect *expected;
    handshake *shakes;
};

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put16(buf *b, uint16_t v) { buf_byte(b, (uint8_t)(v >> 8)); buf_byte(b, (uint8_t)v); }
static void put32(buf *b, uint32_t v) { put16(b, (uint16_t)(v >> 16)); put16(b, (uint16_t)v); }
static void put64(buf *b, uint64_t v) { put32(b, (uint32_t)(v >> 32)); put32(b, (uint32_t)v); }

void dist_digest(const char *cookie, uint32_t challenge, uint8_t out[16])
{
    buf b = {0};
    buf_str(&b, cookie);
    buf_dec(&b, challenge);
    if (b.oom || gnutls_hash_fast(GNUTLS_DIG_MD5, b.p, b.len, out) < 0) memset(out, 0, 16);
    buf_free(&b);
}

/* ---- reading what a node sends ---- */

bool dist_read_name(const uint8_t *m, size_t n, const uint8_t **name, size_t *len)
{
    if (n < 15 || m[0] != 'N') return false;   /* OTP 23+ nodes say 'N' to a version-6 node */
    size_t nlen = get16(m + 13);
    if (15 + nlen > n) return false;
    *name = m + 15;
    *len = nlen;
    return true;
}

bool dist_read_reply(const uint8_t *m, size_t n, uint32_t *challenge, const uint8_t **digest)
{
    if (n != 21 || m[0] != 'r') return false;
    *challenge = get32(m + 1);
    *digest = m + 5;
    return true;
}

bool dist_read_packet(arena *a, const uint8_t *p, size_t n, term **ctl, const uint8_t **msg, size_t *mlen, etf_error *err)
{
    if (n < 3 || p[0] != 112 || p[1] != ETF_VERSION) return false;
    size_t used = 0;
    if (!(*ctl = etf_decode_prefix(a, p + 2, n - 2, &used, err))) return false;
    *msg = p + 2 + used;
    *mlen = n - 2 - used;
    return *mlen == 0 || (*msg)[0] == ETF_VERSION;
}

bool dist_packet_to(const uint8_t *p, size_t n, const uint8_t *pid, size_t pid_len, const uint8_t **msg, size_t *mlen)
{
    static const uint8_t head[] = { 112, ETF_VERSION, SMALL_TUPLE_EXT, 3, SMALL_INTEGER_EXT, 2 /* SEND */ };
    size_t at = sizeof head, unused;
    if (n <= at || memcmp(p, head, at) || !(unused = etf_atom_is(p + at, n - at, ""))) return false;
    at += unused;
    if (n - at <= pid_len || memcmp(p + at, pid, pid_len) || p[at + pid_len] != ETF_VERSION) return false;
    *msg = p + at + pid_len;
    *mlen = n - at - pid_len;
    return true;
}

/* X of {Tag, X} at q (NULL: q is not that, or NULL). */
static const uint8_t *pair_tagged(const uint8_t *q, const uint8_t *end, const char *tag)
{
    size_t a;
    if (!q || end - q < 3 || q[0] != SMALL_TUPLE_EXT || q[1] != 2 || !(a = etf_atom_is(q + 2, (size_t)(end - q - 2), tag))) return NULL;
    return q + 2 + a;
}

const uint8_t *dist_rex_exit(const uint8_t *msg, size_t n)
{
    const uint8_t *end = msg + n, *q = n > 1 && msg[0] == ETF_VERSION ? msg + 1 : NULL;
    return pair_tagged(pair_tagged(pair_tagged(q, end, "rex"), end, "badrpc"), end, "EXIT");
}

bool dist_rex_value(const uint8_t *msg, size_t n, const uint8_t **seq, size_t *seq_len, const uint8_t **v, size_t *v_len)
{
    /* Peeled from the outside in, each {Tag, X} by its tag alone: V runs
     * to the end, which bounds every tuple around it. */
    const uint8_t *end = msg + n, *q = dist_rex_exit(msg, n);
    if (!q || end - q < 3 || q[0] != SMALL_TUPLE_EXT || q[1] != 3) return false;
    q += 2;
    size_t sn = etf_prefix_len(q, (size_t)(end - q)), ret;
    if (!sn || (q[0] != SMALL_INTEGER_EXT && q[0] != INTEGER_EXT && q[0] != SMALL_BIG_EXT)) return false;
    *seq = q;
    *seq_len = sn;
    q += sn;
    if (!(ret = etf_atom_is(q, (size_t)(end - q), "return"))) return false;
    q += ret;
    if (q >= end || etf_prefix_len(q, (size_t)(end - q)) != (size_t)(end - q)) return false;
    *v = q;
    *v_len = (size_t)(end - q);
    return true;
}

/* ---- epmd, on the loop ----
 * Connect to 127.0.0.1:4369 (non-blocking); refused: start `epmd -daemon`
 * (its launcher is reaped with the nodes) and try again every 50 ms, 2 s at
 * most; connected: ALIVE2_REQ, and the answer's creation makes the node
 * ready. The connection stays open: epmd forgets the name when it closes. */

#define EPMD_RETRY_MS 50
#define EPMD_TRIES 40

static void epmd_try(dist_node *d);

static void ready_or_failed(dist_node *d, const char *err)
{
    if (err) {
        d->state = -1;
        d->error = strdup(err);
        if (d->epmd_fd >= 0) { loop_unwatch(d->l, &d->w_epmd); close(d->epmd_fd); d->epmd_fd = -1; }
    } else {
        d->state = 1;
    }
    while (d->waiters) {
        dist_waiter *w = d->waiters;
        d->waiters = w->next;
        w->ready(w, d, d->error);
    }
}

/* epmd closing on us unregisters the name: nodes could not find peerd any
 * more, so the node is failed for the next start to make a new one. */
static void on_epmd(loop_watch *w, uint32_t ev)
{
    (void)ev;
    dist_node *d = w->ud;
    uint8_t junk[64];
    ssize_t n = read(d->epmd_fd, junk, sizeof junk);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        loop_unwatch(d->l, w);
        d->state = -1;
        free(d->error);
        d->error = strdup("epmd closed peerd's registration");
    }
}

/* ALIVE2_X_RESP (118, Result, Creation:32) or ALIVE2_RESP (121, Result, Creation:16). */
static void on_epmd_reply(loop_watch *w, uint32_t ev)
{
    (void)ev;
    dist_node *d = w->ud;
    uint8_t r[16];
    ssize_t n = read(d->epmd_fd, r, sizeof r);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n > 0) buf_put(&d->epmd_in, r, (size_t)n);
    const uint8_t *p = d->epmd_in.p;
    size_t have = d->epmd_in.len, need = have >= 1 && p[0] == 121 ? 4 : 6;
    if (n > 0 && have < need) return;
    loop_unwatch(d->l, w);
    if (n <= 0 || (p[0] != 118 && p[0] != 121) || p[1] != 0) {
        char *err;
        if (asprintf(&err, "epmd refused to publish %s (is the name in use?)", d->alive) < 0) err = NULL;
        ready_or_failed(d, err ? err : "epmd refused to publish peerd");
        free(err);
        return;
    }
    d->creation = p[0] == 118 ? get32(p + 2) : get16(p + 2);
    buf_free(&d->epmd_in);
    if (loop_watch_fd(d->l, &d->w_epmd, d->epmd_fd, EPOLLIN, on_epmd, d) < 0) { ready_or_failed(d, "cannot watch epmd"); return; }
    ready_or_failed(d, NULL);
}

static void epmd_retry(void *owner, tmr *t)
{
    (void)t;
    epmd_try(owner);
}

/* Refused: start epmd once, then try again a while. */
static void epmd_refused(dist_node *d)
{
    if (d->epmd_fd >= 0) { loop_unwatch(d->l, &d->w_epmd); close(d->epmd_fd); d->epmd_fd = -1; }
    if (!d->epmd_spawned) {
        d->epmd_spawned = true;
        char *argv[] = { "epmd", "-daemon", NULL };
        pid_t pid;
        if (posix_spawnp(&pid, "epmd", NULL, NULL, argv, environ) != 0) {
            ready_or_failed(d, "cannot reach epmd on 127.0.0.1:4369, nor start it (epmd -daemon)");
            return;
        }
    }
    if (++d->tries >= EPMD_TRIES || !loop_timer(d->l, &d->retry, EPMD_RETRY_MS, epmd_retry, d))
        ready_or_failed(d, "cannot reach epmd on 127.0.0.1:4369 (epmd -daemon was started)");
}

static void on_epmd_connected(loop_watch *w, uint32_t ev)
{
    (void)ev;
    dist_node *d = w->ud;
    int e = 0;
    socklen_t len = sizeof e;
    getsockopt(d->epmd_fd, SOL_SOCKET, SO_ERROR, &e, &len);
    if (e) { epmd_refused(d); return; }
    buf b = {0};
    size_t nlen = strlen(d->alive);
    put16(&b, (uint16_t)(13 + nlen));
    buf_byte(&b, 120);          /* ALIVE2_REQ */
    put16(&b, d->port);
    buf_byte(&b, 72);           /* hidden node */
    buf_byte(&b, 0);            /* TCP/IPv4 */
    put16(&b, 6);
    put16(&b, 5);
    put16(&b, (uint16_t)nlen);
    buf_put(&b, d->alive, nlen);
    put16(&b, 0);
    bool sent = !b.oom && write(d->epmd_fd, b.p, b.len) == (ssize_t)b.len;   /* tiny, on a fresh socket */
    buf_free(&b);
    if (!sent || loop_rewatch(d->l, w, EPOLLIN) < 0) { ready_or_failed(d, "cannot talk to epmd"); return; }
    w->fn = on_epmd_reply;
}

static void epmd_try(dist_node *d)
{
    d->epmd_fd = loop_fd_high(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(EPMD_PORT), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (d->epmd_fd < 0) { ready_or_failed(d, "cannot make a socket for epmd"); return; }
    if (connect(d->epmd_fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) { epmd_refused(d); return; }
    if (loop_watch_fd(d->l, &d->w_epmd, d->epmd_fd, EPOLLOUT, on_epmd_connected, d) < 0) ready_or_failed(d, "cannot watch epmd");
}

/* ---- the handshake ---- */

static void shake_end(handshake *h)
{
    if (h->dead) return;
    h->dead = true;
    loop_timer_clear(h->d->l, &h->timer);
    if (h->w.fd >= 0) loop_unwatch(h->d->l, &h->w);
    for (handshake **hp = &h->d->shakes; *hp; hp = &(*hp)->next)
        if (*hp == h) { *hp = h->next; break; }
    buf_free(&h->in);
    loop_defer_free(h->d->l, h);
}

static void shake_fail(handshake *h)
{
    if (h->fd >= 0) close(h->fd);
    h->fd = -1;
    shake_end(h);
}

static void shake_timeout(void *owner, tmr *t)
{
    (void)t;
    shake_fail(owner);
}

static bool send_all(int fd, const buf *b)
{
    /* Handshake messages are small and the socket fresh: the kernel takes
     * them whole; anything else fails the handshake. */
    return !b->oom && write(fd, b->p, b->len) == (ssize_t)b->len;
}

static dist_expect *find_expected(dist_node *d, const uint8_t *name, size_t n)
{
    const uint8_t *at = memchr(name, '@', n);
    size_t alive = at ? (size_t)(at - name) : n;
    for (dist_expect *e = d->expected; e; e = e->next)
        if (strlen(e->alive) == alive && !memcmp(e->alive, name, alive)) return e;
    return NULL;
}

/* One handshake message (without its length); false to give up. */
static bool shake_step(handshake *h, const uint8_t *m, size_t n)
{
    dist_node *d = h->d;
    if (h->step == 0) {
        const uint8_t *name;
        size_t nlen;
        if (!dist_read_name(m, n, &name, &nlen) || !(h->e = find_expected(d, name, nlen))) return false;
        buf b = {0};
        put16(&b, 3);
        buf_put(&b, "sok", 3);
        size_t name_len = strlen(d->name);
        if (getrandom(&h->challenge, sizeof h->challenge, 0) != sizeof h->challenge) h->challenge ^= (uint32_t)(uintptr_t)h;
        put16(&b, (uint16_t)(19 + name_len));
        buf_byte(&b, 'N');
        put64(&b, DIST_FLAGS);
        put32(&b, h->challenge);
        put32(&b, d->creation);
        put16(&b, (uint16_t)name_len);
        buf_str(&b, d->name);
        bool ok = send_all(h->fd, &b);
        buf_free(&b);
        h->step = 1;
        return ok;
    }
    if (m[0] == 'c') return true;                   /* send_complement: only after an old 'n' */
    uint32_t theirs;
    const uint8_t *digest;
    if (!dist_read_reply(m, n, &theirs, &digest)) return false;
    uint8_t want[16];
    dist_digest(h->e->cookie, h->challenge, want);
    if (memcmp(want, digest, 16)) return false;     /* another cookie: as a node does, say nothing */
    buf b = {0};
    put16(&b, 17);
    buf_byte(&b, 'a');
    uint8_t ack[16];
    dist_digest(h->e->cookie, theirs, ack);
    buf_put(&b, ack, 16);
    bool ok = send_all(h->fd, &b);
    buf_free(&b);
    h->step = 2;
    return ok;
}

static void on_shake(loop_watch *w, uint32_t ev)
{
    (void)ev;
    handshake *h = w->ud;
    if (h->dead) return;
    uint8_t chunk[4096];
    ssize_t r = read(h->fd, chunk, sizeof chunk);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (r <= 0) { shake_fail(h); return; }
    buf_put(&h->in, chunk, (size_t)r);
    size_t off = 0;
    while (h->step < 2 && h->in.len - off >= 2) {
        size_t len = get16(h->in.p + off);
        if (h->in.len - off < 2 + len) break;
        if (!len || !shake_step(h, h->in.p + off + 2, len)) { shake_fail(h); return; }
        off += 2 + len;
    }
    if (h->step < 2) {
        buf_consume(&h->in, off);
        return;
    }
    /* Connected: the socket and what followed the handshake go to the waiter. */
    dist_expect *e = h->e;
    int fd = h->fd;
    loop_unwatch(h->d->l, &h->w);
    h->fd = -1;
    buf rest = h->in;
    h->in = (buf){0};
    shake_end(h);
    e->connected(e, fd, rest.p + off, rest.len - off);
    buf_free(&rest);
}

static void on_listen(loop_watch *w, uint32_t ev)
{
    (void)ev;
    dist_node *d = w->ud;
    for (;;) {
        int fd = loop_fd_high(accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (fd < 0) return;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        handshake *h = calloc(1, sizeof *h);
        if (!h) { close(fd); continue; }
        h->d = d;
        h->fd = fd;
        h->w.fd = -1;
        if (loop_watch_fd(d->l, &h->w, fd, EPOLLIN, on_shake, h) < 0 || !loop_timer(d->l, &h->timer, HANDSHAKE_MS, shake_timeout, h)) {
            if (h->w.fd >= 0) loop_unwatch(d->l, &h->w);
            close(fd);
            free(h);
            continue;
        }
        h->next = d->shakes;
        d->shakes = h;
    }
}

/* ---- the node ---- */

/* The host part: the short host name (as erl -sname takes it), or for long
 * names the host's IPv4 address (a dotted name a node surely resolves). */
static char *host_part(bool longnames, const char *address, struct in_addr *addr)
{
    if (longnames && address) return inet_pton(AF_INET, address, addr) == 1 ? strdup(address) : NULL;
    char host[256];
    if (gethostname(host, sizeof host) < 0) strcpy(host, "localhost");
    host[sizeof host - 1] = 0;
    char *dot = strchr(host, '.');
    if (dot && !longnames) *dot = 0;
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res = NULL;
    addr->s_addr = htonl(INADDR_LOOPBACK);
    if (getaddrinfo(host, NULL, &hints, &res) == 0 && res) {
        *addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
        freeaddrinfo(res);
    } else if (!longnames) {
        strcpy(host, "localhost");
    }
    if (!longnames) return strdup(host);
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, addr, ip, sizeof ip);
    return strdup(ip);
}

dist_node *dist_start(loop *l, bool longnames, const char *address, char **err)
{
    dist_node *d = calloc(1, sizeof *d);
    if (!d) { *err = strdup("out of memory"); return NULL; }
    d->l = l;
    d->epmd_fd = d->listen_fd = -1;
    d->w_listen.fd = d->w_epmd.fd = -1;
    struct in_addr addr;
    char *host = host_part(longnames, address, &addr);
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, 0) != sizeof r) r = (uint32_t)getpid();
    if (!host || asprintf(&d->alive, "peerd_%d_%08x%s", (int)getpid(), r, longnames ? "_l" : "") < 0 ||
        asprintf(&d->name, "%s@%s", d->alive, host) < 0) {
        free(host);
        *err = strdup("out of memory");
        dist_free(d);
        return NULL;
    }
    free(host);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr = addr };
    socklen_t len = sizeof sa;
    d->listen_fd = loop_fd_high(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (d->listen_fd < 0 || bind(d->listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(d->listen_fd, 128) < 0 ||
        getsockname(d->listen_fd, (struct sockaddr *)&sa, &len) < 0) {
        if (asprintf(err, "cannot listen for nodes on %s: %s", inet_ntoa(addr), strerror(errno)) < 0) *err = NULL;
        dist_free(d);
        return NULL;
    }
    d->port = ntohs(sa.sin_port);
    if (loop_watch_fd(l, &d->w_listen, d->listen_fd, EPOLLIN, on_listen, d) < 0) {
        *err = strdup("cannot watch the node's listening socket");
        dist_free(d);
        return NULL;
    }
    epmd_try(d);
    return d;
}

void dist_free(dist_node *d)
{
    if (!d) return;
    loop_timer_clear(d->l, &d->retry);
    buf_free(&d->epmd_in);
    free(d->error);
    while (d->shakes) shake_fail(d->shakes);
    if (d->listen_fd >= 0) { loop_unwatch(d->l, &d->w_listen); close(d->listen_fd); }
    if (d->epmd_fd >= 0) { loop_unwatch(d->l, &d->w_epmd); close(d->epmd_fd); }
    free(d->name);
    free(d->alive);
    free(d);
}

const char *dist_name(const dist_node *d) { return d->name; }
int dist_state(const dist_node *d) { return d->state; }
const char *dist_error(const dist_node *d) { return d->error; }

void dist_when_ready(dist_node *d, dist_waiter *w)
{
    if (d->state) { w->ready(w, d, d->error); return; }
    w->next = d->waiters;
    d->waiters = w;
}

void dist_waiter_remove(dist_node *d, dist_waiter *w)
{
    for (dist_waiter **wp = &d->waiters; *wp; wp = &(*wp)->next)
        if (*wp == w) { *wp = w->next; return; }
}
uint32_t dist_creation(const dist_node *d) { return d->creation; }

void dist_expect_add(dist_node *d, dist_expect *e)
{
    e->next = d->expected;
    d->expected = e;
}

void dist_expect_remove(dist_node *d, dist_expect *e)
{
    if (!d) return;
    for (handshake *h = d->shakes, *n; h; h = n) {
        n = h->next;
        if (h->e == e) shake_fail(h);
    }
    for (dist_expect **ep = &d->expected; *ep; ep = &(*ep)->next)
        if (*ep == e) { *ep = e->next; return; }
}

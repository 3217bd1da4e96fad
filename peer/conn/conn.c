/*
 * conn.c — what every control connection shares: the program's stdout, the
 * queue of framed messages and its writing. See conn.h.
 */
#include "conn.h"
#include "dist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

void conn_init(conn *c, const conn_ops *ops, loop *l, const conn_events *ev, void *owner)
{
    c->ops = ops;
    c->l = l;
    c->ev = ev;
    c->owner = owner;
    c->out_fd = -1;
    c->w_out.fd = -1;
}

void conn_close_fd(conn *c, int *fd, loop_watch *w)
{
    if (*fd < 0) return;
    if (w && w->fd == *fd) loop_unwatch(c->l, w);
    close(*fd);
    *fd = -1;
}

void conn_lose(conn *c, const char *reason)
{
    c->ops->close(c);
    c->ev->lost(c->owner, reason, false);
}

int conn_read_packets(int fd, tcp_decoder *dec, const tcp_sink *sink, bool quickack)
{
    for (int rounds = 0; rounds < CONN_READS_PER_TURN; rounds++) {
        size_t room;
        uint8_t *at = tcp_decode_room(dec, CONN_READ_SIZE, &room);
        if (!at) return CONN_NOMEM;
        /* The room of a buffer grown for a large message is megabytes:
         * a read takes 64 KiB of it all the same, or one turn would read
         * (and fault in) most of the message at once. */
        if (room > CONN_READ_SIZE) room = CONN_READ_SIZE;
        ssize_t r = read(fd, at, room);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EAGAIN) return 0;
        if (r <= 0) return CONN_CLOSED;
        if (quickack) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
        }
        if (!tcp_decode_commit(dec, (size_t)r, sink)) return 0;   /* the peer or the connection is gone */
        if ((size_t)r < room) return 1;   /* drained: epoll says when more comes */
    }
    return 0;
}

static void pause_over(void *owner, tmr *t)
{
    (void)t;
    conn *c = owner;
    c->reads_paused = false;
    if (c->paused_w->fd >= 0) loop_rewatch(c->l, c->paused_w, conn_read_events(c) | (c->out_watching ? EPOLLOUT : 0));
}

void conn_pause_reads(conn *c, loop_watch *w)
{
    if (c->reads_paused || !c->ev->awaited || c->ev->awaited(c->owner) < CONN_PAUSE_AWAITED) return;
    /* Without a timer (out of memory) the socket is simply read on. */
    if (!loop_timer(c->l, &c->pause_timer, CONN_PAUSE_MS, pause_over, c)) return;
    c->reads_paused = true;
    c->paused_w = w;
    loop_rewatch(c->l, w, conn_read_events(c) | (c->out_watching ? EPOLLOUT : 0));
}

void conn_pause_clear(conn *c)
{
    loop_timer_clear(c->l, &c->pause_timer);
    c->reads_paused = false;
}

bool conn_push_arg(char ***v, size_t *n, const char *s)
{
    char **nv = realloc(*v, (*n + 2) * sizeof *nv);
    if (!nv) return false;
    *v = nv;
    if (!(nv[*n] = strdup(s))) return false;
    nv[++*n] = NULL;
    return true;
}

/* Reads what stdout has now; false if the peer is gone. */
static bool read_stdout(conn *c, bool *eof)
{
    uint8_t chunk[65536];
    *eof = false;
    for (int rounds = 0; rounds < CONN_READS_PER_TURN && c->out_fd >= 0; rounds++) {
        ssize_t r = read(c->out_fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return true;   /* EAGAIN */
        if (r == 0) { *eof = true; return true; }
        if (c->raw) c->ev->console(c->owner, chunk, (size_t)r);
        else if (!c->decode(c, chunk, (size_t)r)) return false;
        /* A short read emptied the pipe: epoll (level-triggered) reports
         * what comes next, so no read is spent on EAGAIN. */
        if ((size_t)r < sizeof chunk) return true;
    }
    return true;
}

static void on_stdout(loop_watch *w, uint32_t ev)
{
    (void)ev;
    conn *c = w->ud;
    bool eof;
    if (!read_stdout(c, &eof)) return;
    if (eof) conn_close_fd(c, &c->out_fd, &c->w_out);
}

int conn_watch_stdout(conn *c, int out_fd)
{
    c->out_fd = out_fd;
    return loop_watch_fd(c->l, &c->w_out, out_fd, EPOLLIN, on_stdout, c);
}

bool conn_drain_stdout(conn *c)
{
    bool eof;
    if (c->out_fd >= 0 && !read_stdout(c, &eof)) return false;
    conn_close_fd(c, &c->out_fd, &c->w_out);
    return true;
}

void conn_send_framed(conn *c, buf *enc)
{
    if (!c->ops->is_open(c) || enc->oom) {
        buf_free(enc);
        return;
    }
    if (c->outq_off == c->outq.len) {
        buf_free(&c->outq);
        c->outq = *enc;
        c->outq_off = 0;
    } else {
        buf_put(&c->outq, enc->p, enc->len);   /* out of memory: dropped, as a send would be */
        c->outq.oom = false;
        buf_free(enc);
    }
    *enc = (buf){0};
}

void conn_write(conn *c, int fd, loop_watch *w, uint32_t base)
{
    if (fd < 0) { c->outq.len = c->outq_off = 0; return; }
    while (c->outq_off < c->outq.len) {
        ssize_t n = write(fd, c->outq.p + c->outq_off, c->outq.len - c->outq_off);
        if (n > 0) { c->outq_off += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        /* EPIPE and friends: the reader is gone; its exit tells the rest. */
        c->outq.len = c->outq_off = 0;
        break;
    }
    if (c->outq_off == c->outq.len) c->outq.len = c->outq_off = 0;
    bool want = c->outq.len > 0;
    if (want != c->out_watching && w->fd >= 0) {
        c->out_watching = want;
        loop_rewatch(c->l, w, base | (want ? EPOLLOUT : 0));
    }
}

void conn_release(conn *c)
{
    conn_pause_clear(c);
    conn_close_fd(c, &c->out_fd, &c->w_out);
    buf_free(&c->outq);
    free(c->text);
    for (size_t i = 0; i < c->nenv; i++) free(c->env[i]);
    free(c->env);
    loop_defer_free(c->l, c);   /* this turn's events may still name its watches */
}

/* ---- what connections share ---- */

struct cookie_home { struct cookie_home *next; char *cookie, *dir; };

dist_node *conn_host_dist(conn_host *h, bool longnames, char **err)
{
    /* A node that epmd refused or dropped is made again for the next start. */
    if (h->dist[longnames] && dist_state(h->dist[longnames]) < 0) { dist_free(h->dist[longnames]); h->dist[longnames] = NULL; }
    if (!h->dist[longnames]) h->dist[longnames] = dist_start(h->l, longnames, h->dist_address, err);
    return h->dist[longnames];
}

const char *conn_host_cookie_home(conn_host *h, const char *cookie)
{
    for (struct cookie_home *k = h->homes; k; k = k->next)
        if (!strcmp(k->cookie, cookie)) return k->dir;
    struct cookie_home *k = calloc(1, sizeof *k);
    char tmpl[] = "/tmp/peerd-home-XXXXXX", path[64];
    if (!k || !mkdtemp(tmpl)) { free(k); return NULL; }
    snprintf(path, sizeof path, "%s/.erlang.cookie", tmpl);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
    size_t n = strlen(cookie);
    bool ok = fd >= 0 && write(fd, cookie, n) == (ssize_t)n;
    if (fd >= 0) close(fd);
    if (!ok || !(k->cookie = strdup(cookie)) || !(k->dir = strdup(tmpl))) {
        unlink(path);
        rmdir(tmpl);
        free(k->cookie);
        free(k);
        return NULL;
    }
    k->next = h->homes;
    h->homes = k;
    return k->dir;
}

void conn_host_clear(conn_host *h)
{
    for (int i = 0; i < 2; i++) { dist_free(h->dist[i]); h->dist[i] = NULL; }
    while (h->homes) {
        struct cookie_home *k = h->homes;
        h->homes = k->next;
        char path[64];
        snprintf(path, sizeof path, "%s/.erlang.cookie", k->dir);
        unlink(path);
        rmdir(k->dir);
        free(k->dir);
        free(k->cookie);
        free(k);
    }
}

/*
 * conn_tcp.c — the TCP control connection: peerd listens, the node is
 * started with -user peer -origin IPS PORT and connects back; messages are
 * {packet, 4} (tcp_frame.h). The program's stdout is plain console.
 */
#include "conn.h"
#include "tcp_frame.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define TCP_ACCEPT_MS 60000

typedef struct {
    conn c;
    int listen_fd, sock_fd;
    loop_watch w_listen, w_sock;
    tcp_decoder dec;
    tmr accept_timer;
} tcp_conn;

/* Where the node may reach peerd: the address listened on, or every IPv4
 * address of this host that is up, loopback first (-origin takes a list). */
static char *origin_ips(const char *ip)
{
    if (ip) return strdup(ip);
    buf b = {0};
    buf_str(&b, "127.0.0.1");
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) == 0) {
        for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
            if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & 1 /* IFF_UP */)) continue;
            char s[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, s, sizeof s);
            if (strncmp(s, "127.", 4)) { buf_byte(&b, ','); buf_str(&b, s); }
        }
        freeifaddrs(ifs);
    }
    char *s = buf_cstr(&b) ? strdup((char *)b.p) : NULL;
    buf_free(&b);
    return s;
}

static int tcp_listen(const char *ip, int port, int *out_port, char **err)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    if (ip && inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
        if (asprintf(err, "not an IPv4 address: %s", ip) < 0) *err = NULL;
        return -1;
    }
    int fd = loop_fd_high(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    int one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 1) < 0) {
        if (asprintf(err, "cannot listen on %s:%d: %s", ip ? ip : "0.0.0.0", port, strerror(errno)) < 0) *err = NULL;
        if (fd >= 0) close(fd);
        return -1;
    }
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *out_port = ntohs(sa.sin_port);
    return fd;
}

static conn *create(conn_host *h, const pm_start_opts *o, const conn_events *ev, void *owner, char ***args, size_t *nargs, char **err)
{
    tcp_conn *t = calloc(1, sizeof *t);
    if (!t) { *err = strdup("out of memory"); return NULL; }
    conn_init(&t->c, &conn_tcp_ops, h->l, ev, owner);
    t->c.raw = true;
    t->sock_fd = -1;
    t->w_listen.fd = t->w_sock.fd = -1;
    /* A local node (no exec) reaches peerd on loopback, and only there;
     * one that exec runs may be anywhere: every address, unless ip says. */
    const char *ip = o->tcp_ip ? o->tcp_ip : !o->exec ? "127.0.0.1" : NULL;
    int port = 0;
    if ((t->listen_fd = tcp_listen(ip, o->tcp_port, &port, err)) < 0) { free(t); return NULL; }
    char *ips = origin_ips(ip), portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    bool ok = ips && (!o->detached || (conn_push_arg(args, nargs, "-detached") && conn_push_arg(args, nargs, "-peer_detached"))) &&
              conn_push_arg(args, nargs, "-user") && conn_push_arg(args, nargs, "peer") && conn_push_arg(args, nargs, "-origin") &&
              conn_push_arg(args, nargs, ips) && conn_push_arg(args, nargs, portstr) &&
              asprintf(&t->c.text, "tcp:%s:%d", ip ? ip : "0.0.0.0", port) >= 0;
    free(ips);
    if (!ok) {
        close(t->listen_fd);
        free(t);
        *err = strdup("out of memory");
        return NULL;
    }
    return &t->c;
}

static void close_control(conn *c)
{
    tcp_conn *t = (tcp_conn *)c;
    conn_pause_clear(c);
    conn_close_fd(c, &t->sock_fd, &t->w_sock);
    conn_close_fd(c, &t->listen_fd, &t->w_listen);
    loop_timer_clear(c->l, &t->accept_timer);
    c->outq.len = c->outq_off = 0;
    c->out_watching = false;
}

static void flush(conn *c)
{
    tcp_conn *t = (tcp_conn *)c;
    conn_write(c, t->sock_fd, &t->w_sock, conn_read_events(c));
}

static bool sink_frame(void *ud, const uint8_t *etf, size_t n)
{
    conn *c = ud;
    return c->ev->message(c->owner, etf, n) && ((tcp_conn *)c)->sock_fd >= 0;
}

static bool sink_oversized(void *ud, const uint8_t *head, size_t n, size_t size)
{
    conn *c = ud;
    return c->ev->oversized(c->owner, head, n, size) && ((tcp_conn *)c)->sock_fd >= 0;
}

static void on_sock(loop_watch *w, uint32_t events)
{
    conn *c = w->ud;
    tcp_conn *t = w->ud;
    if (events & EPOLLOUT) flush(c);
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))) return;
    tcp_sink sink = { sink_frame, sink_oversized, c };
    /* ACK at once: the node's socket runs Nagle, and a second small message
     * it sends (a reply after an io_request, the second of two replies)
     * would otherwise wait for our delayed ACK, up to 40 ms. */
    int st = conn_read_packets(t->sock_fd, &t->dec, &sink, true);
    if (st < 0) conn_lose(c, st == CONN_NOMEM ? "{tcp,enomem}" : "tcp_closed");
    else if (st == 1) conn_pause_reads(c, &t->w_sock);
}

static void on_listen(loop_watch *w, uint32_t ev)
{
    (void)ev;
    conn *c = w->ud;
    tcp_conn *t = w->ud;
    int fd = loop_fd_high(accept4(t->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (fd < 0) {
        /* Out of descriptors or memory the listener stays readable, and the
         * loop would spin on it: the node cannot be taken, say so. */
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            char why[64];
            snprintf(why, sizeof why, "{accept,%s}", errno == EMFILE ? "emfile" : errno == ENFILE ? "enfile" : "enomem");
            conn_lose(c, why);
        }
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    conn_close_fd(c, &t->listen_fd, &t->w_listen);
    loop_timer_clear(c->l, &t->accept_timer);
    t->sock_fd = fd;
    if (loop_watch_fd(c->l, &t->w_sock, fd, EPOLLIN | EPOLLRDHUP, on_sock, c) < 0) { conn_lose(c, "{watch_failed}"); return; }
    flush(c);
}

static void accept_timeout(void *owner, tmr *tm)
{
    (void)tm;
    conn_lose(owner, "{inet_async,timeout}");
}

static int attach(conn *c, int in_fd, int out_fd)
{
    tcp_conn *t = (tcp_conn *)c;
    (void)in_fd;
    if (conn_watch_stdout(c, out_fd) < 0 ||
        loop_watch_fd(c->l, &t->w_listen, t->listen_fd, EPOLLIN, on_listen, c) < 0 ||
        !loop_timer(c->l, &t->accept_timer, TCP_ACCEPT_MS, accept_timeout, c)) return -1;
    return 0;
}

static void send_msg(conn *c, const uint8_t *etf, size_t n)
{
    if (((tcp_conn *)c)->sock_fd >= 0) tcp_encode(&c->outq, etf, n);
}

static bool is_open(const conn *c) { return ((const tcp_conn *)c)->sock_fd >= 0; }
static bool is_waiting(const conn *c) { return ((const tcp_conn *)c)->listen_fd >= 0; }

static bool take(conn *c, const uint8_t *inside, buf *out, size_t *off)
{
    return tcp_decoder_take(&((tcp_conn *)c)->dec, inside, out, off);
}

static void destroy(conn *c)
{
    close_control(c);
    tcp_decoder_free(&((tcp_conn *)c)->dec);
    conn_release(c);
}

const conn_ops conn_tcp_ops = {
    .name = "tcp", .create = create, .wants_stdin = false, .calls_at_once = 1024, .attach = attach, .send = send_msg, .frame = tcp_encode,
    .flush = flush, .is_open = is_open, .is_waiting = is_waiting, .close = close_control, .drain = conn_drain_stdout,
    .take = take, .free = destroy,
};

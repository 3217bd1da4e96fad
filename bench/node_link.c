/*
 * node_link.c — see node_link.h.
 */
#include "node_link.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "etf.h"
#include "spawn.h"

static void blocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK); }

static void die(const char *what) { perror(what); exit(1); }

static bool started(void *ud, const uint8_t *etf, size_t n) { (void)etf; (void)n; *(bool *)ud = true; return true; }

void node_link_start(node_link *n, bool tcp)
{
    *n = (node_link){ .tcp = tcp };
    int listen_fd = -1, in = -1;
    char port[16];
    char *argv[8] = { "erl", "-user", "peer", NULL };
    if (tcp) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof sa;
        if ((listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
            listen(listen_fd, 1) < 0 || getsockname(listen_fd, (struct sockaddr *)&sa, &len) < 0) die("node_link: listen");
        snprintf(port, sizeof port, "%d", ntohs(sa.sin_port));
        argv[3] = "-origin";
        argv[4] = "127.0.0.1";
        argv[5] = port;
    }
    if (spawn_node(argv, NULL, tcp ? NULL : &in, &n->out_fd, &n->pid)) die("node_link: erl");
    blocking(n->out_fd);
    if (tcp) {
        if ((n->wfd = n->rfd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC)) < 0) die("node_link: accept");
        int one = 1;
        setsockopt(n->wfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        close(listen_fd);
    } else {
        blocking(in);
        n->wfd = in;
        n->rfd = n->out_fd;
    }
    bool up = false;
    while (!up)
        if (!node_link_read(n, started, &up)) { fputs("node_link: the node went away while booting\n", stderr); exit(1); }
}

void node_link_call(const node_link *n, buf *out, uint64_t seq)
{
    buf call = {0};
    buf_byte(&call, ETF_VERSION);
    buf_byte(&call, 104);
    buf_byte(&call, 5);
    etf_encode_atom(&call, "call", 4);
    etf_encode_int(&call, (int64_t)seq);
    etf_encode_atom(&call, "erlang", 6);
    etf_encode_atom(&call, "node", 4);
    buf_byte(&call, 106);
    if (n->tcp) tcp_encode(out, call.p, call.len);
    else stdio_encode(out, call.p, call.len);
    buf_free(&call);
}

void node_link_write(const node_link *n, const buf *b)
{
    for (size_t off = 0; off < b->len;) {
        ssize_t w = write(n->wfd, b->p + off, b->len - off);
        if (w > 0) off += (size_t)w;
        else if (w < 0) die("node_link: write");
    }
}

static void ignore_text(void *ud, const uint8_t *p, size_t n) { (void)ud; (void)p; (void)n; }

bool node_link_read(node_link *n, bool (*fn)(void *ud, const uint8_t *etf, size_t len), void *ud)
{
    uint8_t chunk[65536];
    ssize_t r = read(n->rfd, chunk, sizeof chunk);
    if (r <= 0) return false;
    if (n->tcp) {
        tcp_sink sink = { fn, NULL, ud };
        return tcp_decode(&n->td, chunk, (size_t)r, &sink);
    }
    stdio_sink sink = { ignore_text, fn, ud, NULL };
    return stdio_decode(&n->sd, chunk, (size_t)r, &sink) == STDIO_OK;
}

void node_link_stop(node_link *n)
{
    close(n->wfd);
    if (n->rfd != n->wfd) close(n->rfd);
    if (n->out_fd != n->rfd) close(n->out_fd);
    stdio_decoder_free(&n->sd);
    tcp_decoder_free(&n->td);
}

/*
 * node_link.c — see node_link.h.
 */
#include "node_link.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base64.h"
#include "control.h"
#include "dist.h"
#include "etf.h"
#include "proc.h"

static void blocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK); }

static void die(const char *what) { perror(what); exit(1); }

static bool started(void *ud, const uint8_t *etf, size_t n) { (void)etf; (void)n; *(bool *)ud = true; return true; }

static void dist_start_node(node_link *n);

void node_link_start(node_link *n, const char *conn)
{
    bool tcp = !strcmp(conn, "tcp");
    *n = (node_link){ .tcp = tcp, .dist = !strcmp(conn, "distribution"), .epmd_fd = -1 };
    pthread_mutex_init(&n->wlock, NULL);
    if (n->dist) { dist_start_node(n); return; }
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

static void dist_call(const node_link *n, buf *out, uint64_t seq);

void node_link_call(const node_link *n, buf *out, uint64_t seq)
{
    if (n->dist) { dist_call(n, out, seq); return; }
    buf call = {0};
    buf_byte(&call, ETF_VERSION);
    buf_byte(&call, SMALL_TUPLE_EXT);
    buf_byte(&call, 5);
    etf_encode_atom(&call, "call", 4);
    etf_encode_int(&call, (int64_t)seq);
    etf_encode_atom(&call, "erlang", 6);
    etf_encode_atom(&call, "node", 4);
    buf_byte(&call, NIL_EXT);
    if (n->tcp) tcp_encode(out, call.p, call.len);
    else stdio_encode(out, call.p, call.len);
    buf_free(&call);
}

void node_link_write(const node_link *n, const buf *b)
{
    pthread_mutex_lock((pthread_mutex_t *)&n->wlock);
    for (size_t off = 0; off < b->len;) {
        ssize_t w = write(n->wfd, b->p + off, b->len - off);
        if (w > 0) off += (size_t)w;
        else if (w < 0) die("node_link: write");
    }
    pthread_mutex_unlock((pthread_mutex_t *)&n->wlock);
}

static void ignore_text(void *ud, const uint8_t *p, size_t n) { (void)ud; (void)p; (void)n; }

/* ---- distribution: the smallest hidden node ---- */

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put16(buf *b, unsigned v) { buf_byte(b, (uint8_t)(v >> 8)); buf_byte(b, (uint8_t)v); }

static void read_full(int fd, void *p, size_t n)
{
    for (size_t got = 0; got < n;) {
        ssize_t r = read(fd, (uint8_t *)p + got, n - got);
        if (r <= 0) die("node_link: read");
        got += (size_t)r;
    }
}

static void write_all(int fd, const buf *b)
{
    if (b->oom || write(fd, b->p, b->len) != (ssize_t)b->len) die("node_link: write");
}

/* One handshake message (2-byte length); malloc'd, its length in *n. */
static uint8_t *hs_read(int fd, size_t *n)
{
    uint8_t l[2];
    read_full(fd, l, 2);
    *n = (size_t)(l[0] << 8 | l[1]);
    uint8_t *m = malloc(*n + 1);
    read_full(fd, m, *n);
    return m;
}

static void pid_body(buf *b, const char *node, uint32_t id, uint32_t creation)
{
    buf_byte(b, NEW_PID_EXT);
    buf_byte(b, SMALL_ATOM_UTF8_EXT);
    buf_byte(b, (uint8_t)strlen(node));
    buf_str(b, node);
    buf_u32(b, id);
    buf_u32(b, 0);
    buf_u32(b, creation);
}

static void dist_send(node_link *n, const buf *ctl, const buf *msg)
{
    buf p = {0};
    buf_u32(&p, (uint32_t)(2 + ctl->len + (msg ? 1 + msg->len : 0)));
    buf_byte(&p, 112);
    buf_byte(&p, ETF_VERSION);
    buf_put(&p, ctl->p, ctl->len);
    if (msg) { buf_byte(&p, ETF_VERSION); buf_put(&p, msg->p, msg->len); }
    node_link_write(n, &p);
    buf_free(&p);
}

static void dist_start_node(node_link *n)
{
    /* A cookie in a private HOME, a listening socket, epmd. */
    static char home[] = "/tmp/node_link-XXXXXX";
    char path[64], host[256];
    if (!mkdtemp(home)) die("node_link: mkdtemp");
    snprintf(path, sizeof path, "%s/.erlang.cookie", home);
    FILE *f = fopen(path, "w");
    fputs("node_link_bench", f);
    fclose(f);
    chmod(path, 0400);
    gethostname(host, sizeof host);
    host[sizeof host - 1] = 0;
    if (strchr(host, '.')) *strchr(host, '.') = 0;
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res = NULL;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (getaddrinfo(host, NULL, &hints, &res) == 0 && res) { sa.sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr; freeaddrinfo(res); }
    else strcpy(host, "localhost");
    snprintf(n->node, sizeof n->node, "node_link_%d@%s", (int)getpid(), host);
    socklen_t len = sizeof sa;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 1) < 0 || getsockname(lfd, (struct sockaddr *)&sa, &len) < 0)
        die("node_link: listen");
    if (system("epmd -daemon") != 0) die("node_link: epmd");
    struct sockaddr_in ep = { .sin_family = AF_INET, .sin_port = htons(4369), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    for (int i = 0; i < 40; i++) {
        n->epmd_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (connect(n->epmd_fd, (struct sockaddr *)&ep, sizeof ep) == 0) break;
        close(n->epmd_fd);
        n->epmd_fd = -1;
        usleep(50000);
    }
    if (n->epmd_fd < 0) die("node_link: epmd");
    char alive[64];
    snprintf(alive, sizeof alive, "node_link_%d", (int)getpid());
    buf b = {0};
    put16(&b, 13 + strlen(alive));
    buf_byte(&b, 120);
    put16(&b, ntohs(sa.sin_port));
    buf_byte(&b, 72);
    buf_byte(&b, 0);
    put16(&b, 6);
    put16(&b, 5);
    put16(&b, strlen(alive));
    buf_str(&b, alive);
    put16(&b, 0);
    write_all(n->epmd_fd, &b);
    b.len = 0;
    uint8_t r[6];
    read_full(n->epmd_fd, r, 2);
    if (r[1] != 0) die("node_link: epmd refused the name");
    read_full(n->epmd_fd, r + 2, r[0] == 118 ? 4 : 2);
    n->creation = r[0] == 118 ? be32(r + 2) : (uint32_t)(r[2] << 8 | r[3]);
    pid_body(&n->pid_origin, n->node, 1, n->creation);
    pid_body(&n->pid_gl, n->node, 2, n->creation);
    pid_body(&n->pid_reply, n->node, 3, n->creation);

    /* The node: -sname, -user peer -origin B64, HOME with the cookie. */
    buf origin = {0}, b64 = {0};
    buf_byte(&origin, ETF_VERSION);
    buf_put(&origin, n->pid_origin.p, n->pid_origin.len);
    base64_encode(&b64, origin.p, origin.len);
    char name[64], env_home[128];
    snprintf(name, sizeof name, "node_link_peer_%d", (int)getpid());
    snprintf(env_home, sizeof env_home, "HOME=%s", home);
    char *argv[] = { "erl", "-sname", name, "-peer_detached", "-user", "peer", "-origin", buf_cstr(&b64), NULL };
    char *env[] = { env_home, NULL };
    if (spawn_node(argv, env, NULL, &n->out_fd, &n->pid)) die("node_link: erl");
    blocking(n->out_fd);
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) die("node_link: accept");
    close(lfd);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    n->wfd = n->rfd = fd;

    /* The handshake, as peer/conn/dist.c runs it. */
    size_t len_m;
    uint8_t *m = hs_read(fd, &len_m);
    const uint8_t *nm;
    size_t nlen;
    if (!dist_read_name(m, len_m, &nm, &nlen)) die("node_link: send_name");
    free(m);
    uint32_t challenge = 0x5eed1234;
    put16(&b, 3);
    buf_str(&b, "sok");
    put16(&b, 19 + strlen(n->node));
    buf_byte(&b, 'N');
    buf_u32(&b, (uint32_t)(DIST_FLAGS >> 32));
    buf_u32(&b, (uint32_t)DIST_FLAGS);
    buf_u32(&b, challenge);
    buf_u32(&b, n->creation);
    put16(&b, strlen(n->node));
    buf_str(&b, n->node);
    write_all(fd, &b);
    b.len = 0;
    m = hs_read(fd, &len_m);
    uint32_t theirs;
    const uint8_t *digest;
    uint8_t want[16];
    dist_digest("node_link_bench", challenge, want);
    if (!dist_read_reply(m, len_m, &theirs, &digest) || memcmp(want, digest, 16)) die("node_link: challenge_reply");
    free(m);
    put16(&b, 17);
    buf_byte(&b, 'a');
    dist_digest("node_link_bench", theirs, want);
    buf_put(&b, want, 16);
    write_all(fd, &b);
    buf_free(&b);
    buf_free(&origin);
    buf_free(&b64);
    bool up = false;
    while (!up)
        if (!node_link_read(n, started, &up)) { fputs("node_link: the node went away while booting\n", stderr); exit(1); }
}

/* REG_SEND to rex: {Replier, {call, erpc, execute_call, [Seq, erlang, node, []], GL}} */
static void dist_call(const node_link *n, buf *out, uint64_t seq)
{
    buf p = {0};
    buf_byte(&p, 112);
    buf_byte(&p, ETF_VERSION);
    buf_byte(&p, SMALL_TUPLE_EXT); buf_byte(&p, 4);
    buf_byte(&p, SMALL_INTEGER_EXT); buf_byte(&p, 6);
    buf_put(&p, n->pid_origin.p, n->pid_origin.len);
    etf_encode_atom(&p, "", 0);
    etf_encode_atom(&p, "rex", 3);
    buf_byte(&p, ETF_VERSION);
    buf_byte(&p, SMALL_TUPLE_EXT); buf_byte(&p, 2);
    buf_put(&p, n->pid_reply.p, n->pid_reply.len);
    buf_byte(&p, SMALL_TUPLE_EXT); buf_byte(&p, 5);
    etf_encode_atom(&p, "call", 4);
    etf_encode_atom(&p, "erpc", 4);
    etf_encode_atom(&p, "execute_call", 12);
    buf_byte(&p, LIST_EXT); buf_u32(&p, 4);
    etf_encode_int(&p, (int64_t)seq);
    etf_encode_atom(&p, "erlang", 6);
    etf_encode_atom(&p, "node", 4);
    buf_byte(&p, NIL_EXT);
    buf_byte(&p, NIL_EXT);
    buf_put(&p, n->pid_gl.p, n->pid_gl.len);
    buf_u32(out, (uint32_t)p.len);
    buf_put(out, p.p, p.len);
    buf_free(&p);
}

struct dist_read { node_link *n; bool (*fn)(void *, const uint8_t *, size_t); void *ud; };

/* A data packet: ticks and the boot's group_leader call are answered here;
 * {started, Node} and rex replies (as {reply, Seq, ok, V}) go on. */
static bool dist_packet(void *ud, const uint8_t *p, size_t len)
{
    struct dist_read *dr = ud;
    node_link *n = dr->n;
    if (!len) { buf t = {0}; buf_u32(&t, 0); node_link_write(n, &t); buf_free(&t); return true; }
    arena *a = arena_new();
    term *ctl, *m;
    const uint8_t *msg;
    size_t mlen;
    bool go = true;
    if (dist_read_packet(a, p, len, &ctl, &msg, &mlen, NULL) && mlen && (m = etf_decode(a, msg, mlen, NULL)) && m->type == TERM_TUPLE) {
        if (m->tuple.n == 3 && term_is_atom(m->tuple.items[0], "$gen_call")) {
            const term *from = m->tuple.items[1]->tuple.items[0], *tag = m->tuple.items[1]->tuple.items[1];
            buf c = {0}, r = {0};
            buf_byte(&c, SMALL_TUPLE_EXT); buf_byte(&c, 3);
            buf_byte(&c, SMALL_INTEGER_EXT); buf_byte(&c, 2);
            etf_encode_atom(&c, "", 0);
            etf_encode_body(&c, from);
            buf_byte(&r, SMALL_TUPLE_EXT); buf_byte(&r, 2);
            etf_encode_body(&r, tag);
            buf_put(&r, n->pid_gl.p, n->pid_gl.len);
            dist_send(n, &c, &r);
            buf_free(&c);
            buf_free(&r);
        } else if (m->tuple.n == 2 && term_is_atom(m->tuple.items[0], "started")) {
            go = dr->fn(dr->ud, msg, mlen);
        } else if (m->tuple.n == 2 && term_is_atom(m->tuple.items[0], "rex")) {
            /* {rex, {badrpc, {'EXIT', {Seq, return, V}}}} */
            const term *e = m->tuple.items[1];
            if (e->type == TERM_TUPLE && e->tuple.n == 2) e = e->tuple.items[1];
            if (e->type == TERM_TUPLE && e->tuple.n == 2) e = e->tuple.items[1];
            if (e->type == TERM_TUPLE && e->tuple.n == 3) {
                buf r = {0};
                buf_byte(&r, ETF_VERSION);
                buf_byte(&r, SMALL_TUPLE_EXT); buf_byte(&r, 4);
                etf_encode_atom(&r, "reply", 5);
                etf_encode_body(&r, e->tuple.items[0]);
                etf_encode_atom(&r, "ok", 2);
                etf_encode_body(&r, e->tuple.items[2]);
                go = dr->fn(dr->ud, r.p, r.len);
                buf_free(&r);
            }
        }
    }
    arena_free(a);
    return go;
}

bool node_link_read(node_link *n, bool (*fn)(void *ud, const uint8_t *etf, size_t len), void *ud)
{
    uint8_t chunk[65536];
    ssize_t r = read(n->rfd, chunk, sizeof chunk);
    if (r <= 0) return false;
    if (n->quickack && (n->tcp || n->dist)) {   /* as peerd: the node's Nagle waits on our ACK */
        int one = 1;
        setsockopt(n->rfd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    }
    if (n->dist) {
        struct dist_read dr = { n, fn, ud };
        tcp_sink sink = { dist_packet, NULL, &dr };
        return tcp_decode(&n->td, chunk, (size_t)r, &sink);
    }
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
    if (n->epmd_fd >= 0) close(n->epmd_fd);
    stdio_decoder_free(&n->sd);
    tcp_decoder_free(&n->td);
    buf_free(&n->pid_origin);
    buf_free(&n->pid_gl);
    buf_free(&n->pid_reply);
}

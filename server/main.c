/*
 * main.c — peerd: an HTTP service that starts, controls and stops Erlang
 * peer nodes, as OTP's peer module does from an Erlang origin.
 *
 * One thread serves everything on one loop (peer/runtime/loop.h): the peer manager
 * (peer/manager/), HTTP (server/http.c, libmicrohttpd in external mode) and
 * the webhooks (server/notify.c, libcurl's multi socket interface) and the
 * stop signals (a signalfd). SIGINT/SIGTERM stop every peer, let the
 * streams drain, close every connection, give webhooks in flight a second,
 * and end the loop.
 */
#include "http.h"
#include "log.h"
#include "loop.h"
#include "manager.h"
#include "notify.h"
#include "proc.h"
#include "router.h"

#include <curl/curl.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fputs("usage: peerd [options]\n"
          "  --listen HOST:PORT     address to serve HTTP on (default 127.0.0.1:8080;\n"
          "                         port 0 picks a free port; [::1]:PORT for IPv6)\n"
          "  --console-buffer SIZE  console bytes kept per peer (default 1M; K/M suffixes)\n"
          "  --max-peers N          most peers at once (default 256)\n"
          "  --token-file FILE      require Authorization: Bearer TOKEN (or set PEERD_TOKEN)\n"
          "  --read-token-file FILE a second token that may only read: GET and HEAD\n"
          "                         (or set PEERD_READ_TOKEN; needs the first)\n"
          "  --insecure             allow a non-loopback address without a token\n"
          "  --tls-cert FILE --tls-key FILE   serve HTTPS\n"
          "  --allow-exec PATH      programs a peer may be started with (repeatable)\n"
          "  --max-streams N        open following responses at most (default 1024)\n"
          "  --request-timeout S    a request's headers, then its body, must arrive\n"
          "                         within S seconds each (default 30)\n"
          "  --idle-timeout S       close a connection idle this long (default 60)\n"
          "  --max-conns-per-client N  connections from one address at most (default 256)\n"
          "  --cookie-file FILE     the cookie of distribution peers (default: random\n"
          "                         per peerd); never ~/.erlang.cookie unless given\n"
          "  --dist-address IP      where peerd's long-name node listens, and its host\n"
          "                         part, for distribution nodes on other hosts\n"
          "  --tombstone-ttl S      how long a removed peer answers 410 rather than 404\n"
          "                         (default 900 seconds)\n"
          "  --heartbeat S          a heartbeat to each running peer every S seconds;\n"
          "                         unanswered for as long, the peer is unreachable\n"
          "                         (default 5; 0: none; 0.1 at least; a start's heartbeat_ms wins)\n"
          "  --unreachable S        unheard for S seconds, a peer is declared down, and its\n"
          "                         node halts by itself (default 60; a start's unreachable_ms wins)\n"
          "  --quiet                no log lines on stderr\n"
          "  --log-format text|json each log line as text after its time (default), or\n"
          "                         as one JSON object: time, peer (if about one), msg\n"
          "  --help, --version\n", f);
}

static bool parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) return false;
    if (*end == 'K' || *end == 'k') { v <<= 10; end++; }
    else if (*end == 'M' || *end == 'm') { v <<= 20; end++; }
    else if (*end == 'G' || *end == 'g') { v <<= 30; end++; }
    if (*end || v == 0) return false;
    *out = (size_t)v;
    return true;
}

static bool parse_count(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || *s == '-' || v < lo || v > hi) return false;
    *out = (unsigned)v;
    return true;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char *data = NULL;
    size_t n = 0, cap = 0;
    char chunk[4096];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (n + k + 1 > cap) { cap = (n + k + 1) * 2; char *d = realloc(data, cap); if (!d) break; data = d; }
        memcpy(data + n, chunk, k);
        n += k;
    }
    fclose(f);
    if (data) data[n] = 0;
    return data;
}

static char *trimmed(char *s)
{
    if (!s) return NULL;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = 0;
    return s;
}

static bool is_loopback(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return false;
    if (ss.ss_family == AF_INET) return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a)) return true;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return false;
}

char *resolve_program(const char *prog);

/* Binds HOST:PORT; prints the address it got. Says why once if it cannot. */
static int listen_on(const char *spec, char *shown, size_t shown_len)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof host) {
        fprintf(stderr, "peerd: cannot listen on %s: not HOST:PORT\n", spec);
        return -1;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = 0;
    char *h = host;
    if (h[0] == '[' && h[strlen(h) - 1] == ']') { h[strlen(h) - 1] = 0; h++; }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res;
    int e = getaddrinfo(h, colon + 1, &hints, &res);
    if (e) { fprintf(stderr, "peerd: cannot resolve %s: %s\n", spec, gai_strerror(e)); return -1; }
    int fd = -1, why = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        int one = 1;
        if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
            if (!why) why = errno;      /* the first address's reason */
            if (fd >= 0) close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "peerd: cannot listen on %s: %s\n", spec, strerror(why));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    char addr[128], port[16];
    getnameinfo((struct sockaddr *)&ss, len, addr, sizeof addr, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(shown, shown_len, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", addr, port);
    return fd;
}

/* The stop, in order: the peers (pm_quit), HTTP (http_quit), the webhooks
 * in flight (notifier_quit), then the loop. */
typedef struct { loop *l; http_server *srv; pm *m; notifier *hooks; bool asked; } stopping;

static void hooks_done(void *ud) { loop_stop(((stopping *)ud)->l); }
static void http_done(void *ud) { stopping *st = ud; notifier_quit(st->hooks, hooks_done, st); }
static void peers_done(void *ud) { stopping *st = ud; http_quit(st->srv, http_done, st); }

static void on_stop_signal(loop_watch *w, uint32_t ev)
{
    (void)ev;
    stopping *st = w->ud;
    struct signalfd_siginfo si;
    while (read(w->fd, &si, sizeof si) == sizeof si) {
        if (st->asked) continue;
        st->asked = true;
        log_msg(NULL, "%s: stopping every peer", strsignal((int)si.ssi_signo));
        pm_quit(st->m, peers_done, st);
    }
}

/* The HTTP side's figures: large (every route by method), so not on the stack. */
static metrics fig;

int main(int argc, char **argv)
{
    struct timespec start;
    clock_gettime(CLOCK_REALTIME, &start);
    fig.started = (double)start.tv_sec + start.tv_nsec / 1e9;
    http_json_init();
    const char *listen_spec = "127.0.0.1:8080";
    pm_config cfg = { .console_buffer = 1 << 20, .max_peers = 256, .heartbeat_ms = 5000, .unreachable_ms = 60000 };
    const char *read_token_file = NULL;
    const char *token_file = NULL, *cert_file = NULL, *key_file = NULL, *cookie_file = NULL;
    bool insecure = false;
    char **allow = NULL;
    size_t nallow = 0;
    int max_streams = 1024;
    bool log_json = false;
    unsigned request_timeout = 30, idle_timeout = 60, conns_per_ip = 256;
    static const struct option opts[] = {
        { "listen", required_argument, NULL, 'l' },
        { "console-buffer", required_argument, NULL, 'c' },
        { "max-peers", required_argument, NULL, 'm' },
        { "quiet", no_argument, NULL, 'q' },
        { "log-format", required_argument, NULL, 'L' },
        { "cookie-file", required_argument, NULL, 'k' },
        { "dist-address", required_argument, NULL, 'a' },
        { "token-file", required_argument, NULL, 'T' },
        { "read-token-file", required_argument, NULL, 'r' },
        { "insecure", no_argument, NULL, 'I' },
        { "tls-cert", required_argument, NULL, 'C' },
        { "tls-key", required_argument, NULL, 'K' },
        { "allow-exec", required_argument, NULL, 'A' },
        { "max-streams", required_argument, NULL, 'S' },
        { "request-timeout", required_argument, NULL, 'R' },
        { "idle-timeout", required_argument, NULL, 'D' },
        { "max-conns-per-client", required_argument, NULL, 'P' },
        { "tombstone-ttl", required_argument, NULL, 'G' },
        { "heartbeat", required_argument, NULL, 'H' },
        { "unreachable", required_argument, NULL, 'U' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l': listen_spec = optarg; break;
        case 'c':
            if (!parse_size(optarg, &cfg.console_buffer)) { fprintf(stderr, "peerd: --console-buffer: bad size %s\n", optarg); return 2; }
            break;
        case 'm': cfg.max_peers = atoi(optarg); if (cfg.max_peers < 1) { fputs("peerd: --max-peers must be >= 1\n", stderr); return 2; } break;
        case 'q': cfg.quiet = true; break;
        case 'L':
            if (!strcmp(optarg, "json")) log_json = true;
            else if (strcmp(optarg, "text")) { fprintf(stderr, "peerd: --log-format must be text or json, not %s\n", optarg); return 2; }
            break;
        case 'k': cookie_file = optarg; break;
        case 'a': {
            struct in_addr a;
            if (inet_pton(AF_INET, optarg, &a) != 1) { fprintf(stderr, "peerd: --dist-address %s: not an IPv4 address\n", optarg); return 2; }
            cfg.dist_address = optarg;
            break;
        }
        case 'T': token_file = optarg; break;
        case 'r': read_token_file = optarg; break;
        case 'I': insecure = true; break;
        case 'C': cert_file = optarg; break;
        case 'K': key_file = optarg; break;
        case 'S': max_streams = atoi(optarg); if (max_streams < 1) { fputs("peerd: --max-streams must be >= 1\n", stderr); return 2; } break;
        case 'R': if (!parse_count(optarg, 1, 86400, &request_timeout)) { fputs("peerd: --request-timeout must be 1..86400 seconds\n", stderr); return 2; } break;
        case 'D': if (!parse_count(optarg, 1, 86400, &idle_timeout)) { fputs("peerd: --idle-timeout must be 1..86400 seconds\n", stderr); return 2; } break;
        case 'G': {
            unsigned ttl;
            if (!parse_count(optarg, 1, 86400, &ttl)) { fputs("peerd: --tombstone-ttl must be 1..86400 seconds\n", stderr); return 2; }
            cfg.tombstone_ms = (uint64_t)ttl * 1000;
            break;
        }
        case 'H': case 'U': {
            char *end;
            errno = 0;
            double s = strtod(optarg, &end);
            bool hb = c == 'H';
            if (errno || end == optarg || *end || !(hb ? s == 0 || (s >= 0.1 && s <= 3600) : s >= 0.2 && s <= 86400)) {
                fprintf(stderr, "peerd: --%s must be %s seconds\n", hb ? "heartbeat" : "unreachable", hb ? "0, or 0.1 to 3600" : "0.2 to 86400");
                return 2;
            }
            *(hb ? &cfg.heartbeat_ms : &cfg.unreachable_ms) = (int64_t)(s * 1000 + 0.5);
            break;
        }
        case 'P': if (!parse_count(optarg, 1, 10000, &conns_per_ip)) { fputs("peerd: --max-conns-per-client must be 1..10000\n", stderr); return 2; } break;
        case 'A': {
            char *real = resolve_program(optarg);
            if (!real) { fprintf(stderr, "peerd: --allow-exec %s: no such program\n", optarg); return 2; }
            allow = realloc(allow, (nallow + 2) * sizeof *allow);
            allow[nallow++] = real;
            allow[nallow] = NULL;
            break;
        }
        case 'h': usage(stdout); return 0;
        case 'V': printf("peerd %s\n", PEERD_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) { usage(stderr); return 2; }
    log_setup(log_json ? LOG_JSON : LOG_TEXT, cfg.quiet);

    /* Buffers of 256 KiB and more (console rings, large replies and
     * answers) are mapped and unmapped by themselves: glibc's threshold
     * would otherwise rise with the first one freed, and later ones would
     * come from the heap, where a removed peer's ring stays as a hole. */
    mallopt(M_MMAP_THRESHOLD, 256 << 10);

    /* Each peer holds two or three descriptors and each stream one: take
     * every descriptor the hard limit allows. */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }

    /* Signals are taken by this thread only; every thread inherits the mask. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    sigdelset(&stop, SIGCHLD);
    signal(SIGPIPE, SIG_IGN);

    char *token = NULL, *token_text = NULL;
    if (token_file) {
        token = trimmed(token_text = read_file(token_file));
        if (!token || !*token) { fprintf(stderr, "peerd: --token-file %s: cannot read a token from it\n", token_file); return 2; }
    } else if (getenv("PEERD_TOKEN") && *getenv("PEERD_TOKEN")) {
        token = getenv("PEERD_TOKEN");
    }
    char *read_token = NULL, *read_token_text = NULL;
    if (read_token_file) {
        read_token = trimmed(read_token_text = read_file(read_token_file));
        if (!read_token || !*read_token) {
            fprintf(stderr, "peerd: --read-token-file %s: cannot read a token from it\n", read_token_file);
            return 2;
        }
    } else if (getenv("PEERD_READ_TOKEN") && *getenv("PEERD_READ_TOKEN")) {
        read_token = getenv("PEERD_READ_TOKEN");
    }
    if (read_token && !token) {
        fputs("peerd: a read-only token needs a control token (--token-file or PEERD_TOKEN): without one, anyone may do anything\n", stderr);
        return 2;
    }
    if (read_token && !strcmp(read_token, token)) {
        fputs("peerd: the read-only token is the control token; give two different tokens\n", stderr);
        return 2;
    }
    /* The cookie of distribution peers: random, so that two peerd on one
     * host cannot reach each other's nodes, unless one is given. */
    char cookie_buf[33], *cookie_text = NULL;
    if (cookie_file) {
        cfg.cookie = trimmed(cookie_text = read_file(cookie_file));
        if (!cfg.cookie || !*cfg.cookie) { fprintf(stderr, "peerd: --cookie-file %s: cannot read a cookie from it\n", cookie_file); return 2; }
    } else {
        uint8_t r[16];
        if (getrandom(r, sizeof r, 0) != sizeof r) { fputs("peerd: no randomness for a cookie\n", stderr); return 1; }
        for (int i = 0; i < 16; i++) snprintf(cookie_buf + 2 * i, 3, "%02X", r[i]);
        cfg.cookie = cookie_buf;
    }
    char *cert = NULL, *key = NULL;
    if (!cert_file != !key_file) { fputs("peerd: --tls-cert and --tls-key go together\n", stderr); return 2; }
    if (cert_file && (!(cert = read_file(cert_file)) || !(key = read_file(key_file)))) {
        fprintf(stderr, "peerd: cannot read %s\n", cert ? key_file : cert_file);
        return 2;
    }
    if (cert && !MHD_is_feature_supported(MHD_FEATURE_TLS)) { fputs("peerd: this libmicrohttpd has no TLS\n", stderr); return 2; }

    char shown[200];
    int fd = listen_on(listen_spec, shown, sizeof shown);
    if (fd < 0) return 1;       /* listen_on said why */
    /* Anyone who reaches peerd can run code on its nodes. */
    if (!is_loopback(fd) && !token && !insecure) {
        fprintf(stderr, "peerd: refusing to listen on %s without a token (--token-file or PEERD_TOKEN), "
                        "unless --insecure is given\n", shown);
        return 2;
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    loop *l = loop_new();
    /* For the tests only: every timer armed from this many ms after the
     * start fails, as out of memory would (tests/e2e/faults.c). */
    const char *fault = getenv("PEERD_FAULT_TIMERS_AFTER_MS");
    if (l && fault && *fault) loop_fail_timers_from(l, loop_now() + strtoull(fault, NULL, 10));
    notifier *hooks = l ? notifier_start(l) : NULL;
    if (!hooks) { fputs("peerd: cannot start the webhook notifier\n", stderr); return 1; }
    cfg.notify = notifier_post;
    cfg.notify_ud = hooks;
    pm *m = pm_new(l, &cfg);
    if (!m) { fputs("peerd: cannot start the peer manager\n", stderr); return 1; }
    notifier_report_to(hooks, m);
    http_server srv = { .pm = m, .hooks = hooks, .dispatch = router_dispatch, .classify = router_classify, .fig = &fig, .token = token, .read_token = read_token, .allow_exec = allow, .max_streams = max_streams,
                        .request_timeout_s = request_timeout, .idle_timeout_s = idle_timeout,
                        .max_conns_per_ip = conns_per_ip,
                        .tls_cert = cert, .tls_key = key };
    if (http_start(&srv, l, fd) < 0) { fputs("peerd: cannot start the HTTP server\n", stderr); return 1; }
    stopping st = { l, &srv, m, hooks, false };
    int sfd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);
    loop_watch w_stop = { .fd = -1 };
    if (sfd < 0 || loop_watch_fd(l, &w_stop, sfd, EPOLLIN, on_stop_signal, &st) < 0) {
        fputs("peerd: cannot watch for signals\n", stderr);
        return 1;
    }
    printf("peerd listening on %s://%s\n", cert ? "https" : "http", shown);
    fflush(stdout);

    if (loop_run(l) < 0) { perror("peerd: epoll_wait"); return 1; }
    loop_unwatch(l, &w_stop);
    close(sfd);
    pm_free(m);
    /* What the nodes left running (peerd adopted it as their subreaper)
     * does not outlive peerd. */
    spawn_stop_children(1000, cfg.quiet);
    notifier_free(hooks);
    curl_global_cleanup();
    loop_free(l);
    free(token_text);
    free(read_token_text);
    free(cookie_text);
    free(cert);
    free(key);
    for (size_t i = 0; i < nallow; i++) free(allow[i]);
    free(allow);
    log_msg(NULL, "stopped");
    return 0;
}

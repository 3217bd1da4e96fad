/*
 * main.c — peerd: an HTTP service that starts, controls and stops Erlang
 * peer nodes, as OTP's peer module does from an Erlang origin.
 *
 * Threads: the peer manager's event loop (peer/manager.c), libmicrohttpd's
 * worker threads (server/http.c), and this main thread, which waits for
 * SIGINT/SIGTERM to shut everything down in order and meanwhile, once a
 * second, closes connections whose request is overdue.
 */
#include "http.h"
#include "manager.h"
#include "notify.h"

#include <curl/curl.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fputs("usage: peerd [options]\n"
          "  --listen HOST:PORT     address to serve HTTP on (default 127.0.0.1:8080;\n"
          "                         port 0 picks a free port; [::1]:PORT for IPv6)\n"
          "  --console-buffer SIZE  console bytes kept per peer (default 1M; K/M suffixes)\n"
          "  --max-peers N          most peers at once (default 256)\n"
          "  --threads N            HTTP worker threads (default 2)\n"
          "  --token-file FILE      require Authorization: Bearer TOKEN (or set PEERD_TOKEN)\n"
          "  --insecure             allow a non-loopback address without a token\n"
          "  --tls-cert FILE --tls-key FILE   serve HTTPS\n"
          "  --allow-exec PATH      programs a peer may be started with (repeatable)\n"
          "  --max-streams N        open following responses at most (default 1024)\n"
          "  --request-timeout S    a request's headers, then its body, must arrive\n"
          "                         within S seconds each (default 30)\n"
          "  --idle-timeout S       close a connection idle this long (default 60)\n"
          "  --max-conns-per-client N  connections from one address at most (default 256)\n"
          "  --quiet                no log lines on stderr\n"
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

/* Binds HOST:PORT; prints the address it got. */
static int listen_on(const char *spec, char *shown, size_t shown_len)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof host) return -1;
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = 0;
    char *h = host;
    if (h[0] == '[' && h[strlen(h) - 1] == ']') { h[strlen(h) - 1] = 0; h++; }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res;
    int e = getaddrinfo(h, colon + 1, &hints, &res);
    if (e) { fprintf(stderr, "peerd: cannot resolve %s: %s\n", spec, gai_strerror(e)); return -1; }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        int one = 1;
        if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (fd >= 0 && (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0)) {
            fprintf(stderr, "peerd: cannot listen on %s: %s\n", spec, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) return -1;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    char addr[128], port[16];
    getnameinfo((struct sockaddr *)&ss, len, addr, sizeof addr, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(shown, shown_len, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", addr, port);
    return fd;
}

int main(int argc, char **argv)
{
    const char *listen_spec = "127.0.0.1:8080";
    pm_config cfg = { .console_buffer = 1 << 20, .max_peers = 256 };
    unsigned threads = 2;
    const char *token_file = NULL, *cert_file = NULL, *key_file = NULL;
    bool insecure = false;
    char **allow = NULL;
    size_t nallow = 0;
    int max_streams = 1024;
    unsigned request_timeout = 30, idle_timeout = 60, conns_per_ip = 256;
    static const struct option opts[] = {
        { "listen", required_argument, NULL, 'l' },
        { "console-buffer", required_argument, NULL, 'c' },
        { "max-peers", required_argument, NULL, 'm' },
        { "threads", required_argument, NULL, 't' },
        { "quiet", no_argument, NULL, 'q' },
        { "token-file", required_argument, NULL, 'T' },
        { "insecure", no_argument, NULL, 'I' },
        { "tls-cert", required_argument, NULL, 'C' },
        { "tls-key", required_argument, NULL, 'K' },
        { "allow-exec", required_argument, NULL, 'A' },
        { "max-streams", required_argument, NULL, 'S' },
        { "request-timeout", required_argument, NULL, 'R' },
        { "idle-timeout", required_argument, NULL, 'D' },
        { "max-conns-per-client", required_argument, NULL, 'P' },
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
        case 't': threads = (unsigned)atoi(optarg); if (threads < 1 || threads > 64) { fputs("peerd: --threads must be 1..64\n", stderr); return 2; } break;
        case 'q': cfg.quiet = true; break;
        case 'T': token_file = optarg; break;
        case 'I': insecure = true; break;
        case 'C': cert_file = optarg; break;
        case 'K': key_file = optarg; break;
        case 'S': max_streams = atoi(optarg); if (max_streams < 1) { fputs("peerd: --max-streams must be >= 1\n", stderr); return 2; } break;
        case 'R': if (!parse_count(optarg, 1, 86400, &request_timeout)) { fputs("peerd: --request-timeout must be 1..86400 seconds\n", stderr); return 2; } break;
        case 'D': if (!parse_count(optarg, 1, 86400, &idle_timeout)) { fputs("peerd: --idle-timeout must be 1..86400 seconds\n", stderr); return 2; } break;
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
    char *cert = NULL, *key = NULL;
    if (!cert_file != !key_file) { fputs("peerd: --tls-cert and --tls-key go together\n", stderr); return 2; }
    if (cert_file && (!(cert = read_file(cert_file)) || !(key = read_file(key_file)))) {
        fprintf(stderr, "peerd: cannot read %s\n", cert ? key_file : cert_file);
        return 2;
    }
    if (cert && !MHD_is_feature_supported(MHD_FEATURE_TLS)) { fputs("peerd: this libmicrohttpd has no TLS\n", stderr); return 2; }

    char shown[200];
    int fd = listen_on(listen_spec, shown, sizeof shown);
    if (fd < 0) { fprintf(stderr, "peerd: cannot listen on %s\n", listen_spec); return 1; }
    /* Anyone who reaches peerd can run code on its nodes. */
    if (!is_loopback(fd) && !token && !insecure) {
        fprintf(stderr, "peerd: refusing to listen on %s without a token (--token-file or PEERD_TOKEN), "
                        "unless --insecure is given\n", shown);
        return 2;
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    notifier *hooks = notifier_start();
    if (!hooks) { fputs("peerd: cannot start the webhook notifier\n", stderr); return 1; }
    cfg.notify = notifier_post;
    cfg.notify_ud = hooks;
    pm *m = pm_new(&cfg);
    if (!m || pm_start(m) < 0) { fputs("peerd: cannot start the peer manager\n", stderr); return 1; }
    http_server srv = { .pm = m, .token = token, .allow_exec = allow, .max_streams = max_streams,
                        .request_timeout_s = request_timeout, .idle_timeout_s = idle_timeout,
                        .max_conns_per_ip = conns_per_ip,
                        .tls_cert = cert, .tls_key = key };
    if (http_start(&srv, fd, threads) < 0) { fputs("peerd: cannot start the HTTP server\n", stderr); return 1; }
    printf("peerd listening on %s://%s\n", cert ? "https" : "http", shown);
    fflush(stdout);

    /* Once a second, connections whose request is overdue are closed. */
    int sig;
    struct timespec tick = { 1, 0 };
    while ((sig = sigtimedwait(&stop, NULL, &tick)) < 0) http_sweep(&srv);
    if (!cfg.quiet) fprintf(stderr, "peerd: %s: stopping every peer\n", strsignal(sig));
    pm_shutdown(m);
    http_stop(&srv);
    pm_free(m);
    notifier_stop(hooks);
    curl_global_cleanup();
    free(token_text);
    free(cert);
    free(key);
    for (size_t i = 0; i < nallow; i++) free(allow[i]);
    free(allow);
    if (!cfg.quiet) fputs("peerd: stopped\n", stderr);
    return 0;
}

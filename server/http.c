/*
 * http.c — libmicrohttpd on the loop: the daemon in external mode, request
 * contexts and their bodies, paths and the token, connection deadlines and
 * limits. How answers are written is respond.c; how a request waits (on the
 * manager, on the loop's helper) is park.c.
 */
#include "http.h"
#include "http_int.h"
#include "log.h"
#include "term_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void req_free(http_req *h)
{
    if (!h) return;
    if (h->free_state) h->free_state(h->state);
    if (h->kept) MHD_destroy_response(h->kept);
    pm_req_free(h->pm);
    for (size_t i = 0; i < h->nmany; i++) pm_req_free(h->many[i]);
    free(h->many);
    buf_free(&h->body);
    free(h->path);
    free(h->url);
    free(h);
}

const char *http_query(http_req *h, const char *key)
{
    return MHD_lookup_connection_value(h->conn, MHD_GET_ARGUMENT_KIND, key);
}

cJSON *http_parse_body(const buf *body, char *detail, size_t n)
{
    size_t len = body->len, i = 0;
    while (i < len && strchr(" \t\r\n", body->p[i])) i++;
    if (i == len) return cJSON_CreateObject();
    json_error e;
    cJSON *j = json_parse((const char *)body->p, len, &e);
    if (!j) {
        snprintf(detail, n, "the request body: %s (at byte %zu)", e.msg, e.pos);
        return NULL;
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        snprintf(detail, n, "the request body must be a JSON object");
        return NULL;
    }
    return j;
}

cJSON *http_body_json(http_req *h, enum MHD_Result *answered)
{
    char detail[400];
    cJSON *j = http_parse_body(&h->body, detail, sizeof detail);
    if (!j) *answered = http_problem(h, 400, "invalid_json", detail, NULL);
    return j;
}

/* Splits the path, which libmicrohttpd has percent-decoded already. A path
 * deeper than any route gets nseg 5, which matches nothing. */
static bool split_path(http_req *h, const char *url)
{
    h->url = strdup(url);
    h->path = strdup(url);
    if (!h->path || !h->url) return false;
    char *save = NULL;
    for (char *tok = strtok_r(h->path, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        if (h->nseg == 4) { h->nseg = 5; break; }
        h->seg[h->nseg++] = tok;
    }
    return true;
}

/* Constant time in the token's length: no early exit on the first difference. */
static bool token_matches(const char *given, const char *token)
{
    size_t n = strlen(token), m = strlen(given);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)(token[i] ^ (i < m ? given[i] : 0));
    return diff == 0;
}

/* The control token, or the read-only one (h->read_only set), or neither
 * (false). Both are compared, whichever matches: the time taken does not
 * say which one a guess came close to. */
static bool token_ok(http_req *h, const char *given)
{
    bool control = token_matches(given, h->srv->token);
    bool read = h->srv->read_token && token_matches(given, h->srv->read_token);
    h->read_only = read && !control;
    return control || read;
}

/* NULL if h may go on, or why not (the 401's detail). */
static const char *unauthorized_why(http_req *h)
{
    const char *token = h->srv->token;
    if (!token) return NULL;
    bool get = !strcmp(h->method, "GET") || !strcmp(h->method, "HEAD");
    /* Liveness, and the dashboard page itself (it asks for the token) and its icon. */
    if (get && ((h->nseg == 1 && (!strcmp(h->seg[0], "healthz") || !strcmp(h->seg[0], "favicon.ico"))) || h->nseg == 0))
        return NULL;
    const char *auth = MHD_lookup_connection_value(h->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth) {
        if (strncasecmp(auth, "Bearer ", 7)) return "Authorization: only the Bearer scheme is taken (Authorization: Bearer TOKEN)";
        return token_ok(h, auth + 7) ? NULL : "Authorization: the token is not this peerd's";
    }
    /* EventSource cannot send headers: the GET streams (/events, a peer's
     * console and messages) may carry ?access_token=; nothing else may, as
     * a token in a URL lands in logs. */
    bool stream = get && ((h->nseg == 1 && !strcmp(h->seg[0], "events")) ||
                          (h->nseg == 3 && !strcmp(h->seg[0], "peers") &&
                           (!strcmp(h->seg[2], "console") || !strcmp(h->seg[2], "messages"))));
    const char *q = MHD_lookup_connection_value(h->conn, MHD_GET_ARGUMENT_KIND, "access_token");
    if (!q) return "this peerd needs Authorization: Bearer TOKEN";
    if (!stream)
        return "access_token: only the GET streams (/events, a peer's console and messages) take the token in the URL; "
               "send Authorization: Bearer TOKEN";
    return token_ok(h, q) ? NULL : "access_token: the token is not this peerd's";
}

bool http_refuse_read_only(http_req *h, const char *what, enum MHD_Result *answered)
{
    if (!h->read_only) return false;
    *answered = http_problemf(h, 403, "read_only", "%s needs the control token: this one may only read (GET and HEAD)", what);
    return true;
}

static enum MHD_Result unauthorized(http_req *h, const char *why)
{
    const char *headers[] = { "WWW-Authenticate", "Bearer realm=\"peerd\"", NULL };
    return http_problem_with(h, 401, "unauthorized", why, NULL, headers);
}

/* ---- connections: deadlines, %00, per-client limits ---- */

static http_conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void set_deadline(const http_server *s, http_conn *hc, bool on)
{
    if (hc) hc->deadline_ms = on ? (int64_t)loop_now() + (int64_t)s->request_timeout_s * 1000 : 0;
}

static void on_http_fd(loop_watch *w, uint32_t ev);

/* A connection peerd could not take on (no memory for its state, or epoll
 * refused its socket): libmicrohttpd reads its end at the next run and
 * closes it. */
static void drop_conn(http_server *s, int fd)
{
    shutdown(fd, SHUT_RDWR);
    FD_SET(fd, &s->sel.dropped);
    FD_SET(fd, &s->sel.rs);
    if (fd > s->sel.max_fd) s->sel.max_fd = fd;
    s->sel.ready = true;
}

/* Forgets fd: its connection is closing. */
static void sel_forget(http_sel *z, int fd)
{
    z->conn[fd] = NULL;
    FD_CLR(fd, &z->rs); FD_CLR(fd, &z->ws); FD_CLR(fd, &z->want_r); FD_CLR(fd, &z->want_w);
    FD_CLR(fd, &z->muted); FD_CLR(fd, &z->out); FD_CLR(fd, &z->dropped);
    z->tries[fd] = 0;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    http_server *s = cls;
    http_conn *hc = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        int fd = ci ? ci->connect_fd : -1;
        if (fd < 0 || fd >= FD_SETSIZE) return;         /* libmicrohttpd refuses those itself */
        if (!(hc = calloc(1, sizeof *hc))) { drop_conn(s, fd); return; }
        hc->fd = fd;
        hc->w.fd = -1;
        if (loop_watch_fd(s->l, &hc->w, fd, EPOLLIN, on_http_fd, s) < 0) { free(hc); drop_conn(s, fd); return; }
        s->sel.conn[fd] = hc;
        set_deadline(s, hc, true);      /* the first request's headers */
        if ((hc->next = s->conns)) hc->next->prev = hc;
        s->conns = hc;
        *socket_context = hc;
    } else {
        /* Out of the list, the loop and the sets before libmicrohttpd
         * closes the descriptor, so neither the sweep nor epoll ever holds
         * a number that a new connection reuses (a linked stream's dup of
         * the socket would keep epoll's entry alive past the close). */
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci && ci->connect_fd >= 0 && ci->connect_fd < FD_SETSIZE) sel_forget(&s->sel, ci->connect_fd);
        if (!hc) return;
        if (hc->prev) hc->prev->next = hc->next; else s->conns = hc->next;
        if (hc->next) hc->next->prev = hc->prev;
        loop_unwatch(s->l, &hc->w);
        loop_defer_free(s->l, hc);
        *socket_context = NULL;
    }
}

/* The request line has arrived (raw, before decoding): its headers are due
 * within --request-timeout, and a %00 in it is refused, since the decoded
 * path and query are C strings that a NUL would cut short. */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *c)
{
    http_conn *hc = conn_of(c);
    if (hc) {
        if (!hc->deadline_ms) set_deadline(cls, hc, true);
        hc->nul_in_url = strstr(uri, "%00") != NULL;
    }
    return NULL;
}

void http_sweep(http_server *s)
{
    int64_t now = (int64_t)loop_now();
    for (http_conn *hc = s->conns; hc; hc = hc->next) {
        if (hc->deadline_ms && hc->deadline_ms < now && hc->fd >= 0) {
            /* libmicrohttpd sees the end of the stream and closes it itself. */
            shutdown(hc->fd, SHUT_RDWR);
            hc->deadline_ms = 0;
        }
    }
}

/* Bytes of an oversized body read and dropped before the 413 is sent, so
 * that the client, still sending, reads the answer instead of a reset. */
#define HTTP_MAX_DISCARD (64u << 20)

static enum MHD_Result too_large(http_req *h)
{
    return http_problemf(h, 413, "too_large", "request bodies here are limited to %zu bytes", h->max_body);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    http_server *s = cls;
    http_req *h = *con_cls;
    if (h) h->json_mark = http_json_failures();
    if (!h) {
        h = calloc(1, sizeof *h);
        if (!h) return MHD_NO;
        h->json_mark = http_json_failures();
        *con_cls = h;
        h->srv = s;
        h->conn = conn;
        h->method = method;
        if (!split_path(h, url)) return MHD_NO;
        h->arrived = metrics_now();
        h->method_ix = metrics_method(method);
        h->max_body = HTTP_MAX_BODY;
        h->route = -1;
        if (s->classify) s->classify(h);
        http_conn *hc = conn_of(conn);
        set_deadline(s, hc, true);      /* now the body's */
        if (hc && hc->nul_in_url) {
            set_deadline(s, hc, false);
            return http_problem(h, 400, "invalid_arg", "the path or query holds %00 (a NUL character), which no peer id, name or value can carry", NULL);
        }
        /* Refused before a byte of the body is read. */
        const char *why = unauthorized_why(h);
        if (why) { set_deadline(s, hc, false); return unauthorized(h, why); }
        enum MHD_Result refused;
        if (strcmp(method, "GET") && strcmp(method, "HEAD") && http_refuse_read_only(h, method, &refused)) {
            set_deadline(s, hc, false);
            return refused;
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        unsigned long long length = cl ? strtoull(cl, NULL, 10) : 0;
        if (length > h->max_body) {
            h->too_large = true;
            /* A client that waits for 100 Continue sends nothing more; one
             * that does not is sending the body now: read it (up to a bound)
             * and answer at its end, or it may get a reset instead. */
            const char *expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
            if ((expect && !strcasecmp(expect, "100-continue")) || length > HTTP_MAX_DISCARD) {
                set_deadline(s, hc, false);
                return too_large(h);
            }
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (h->body.len + *upload_size > h->max_body) h->too_large = true;
        if (h->too_large) {
            h->discarded += *upload_size;
            if (h->discarded > HTTP_MAX_DISCARD) return MHD_NO;
        } else {
            buf_put(&h->body, upload, *upload_size);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    set_deadline(s, conn_of(conn), false);  /* the request is in */
    if (h->then) {
        if (!h->answered) return MHD_YES;
        http_then then = h->then;
        h->then = NULL;
        return http_run_then(h, then);
    }
    if (h->too_large) return too_large(h);
    if (h->body.oom) return http_out_of_memory(h);
    return s->dispatch(h);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    http_server *s = cls;
    set_deadline(s, conn_of(conn), false);  /* idle until the next request line */
    req_free(*con_cls);
    *con_cls = NULL;
    /* A connection ended by an error (a response cut short) is closed by
     * libmicrohttpd's next run, which nothing else may bring soon: the
     * client would wait, its socket open, for unrelated traffic. */
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        s->resumed = true;
        if (s->hook_turn == loop_turn(s->l)) loop_wake(s->l);
    }
}

/* ---- libmicrohttpd on the loop ----
 *
 * libmicrohttpd runs in its select mode, driven by the loop: the listening
 * socket and every connection's are the loop's own watches (EPOLLIN,
 * level-triggered), and what epoll reported during the turn is handed to
 * MHD_run_from_select as its sets at the turn's end. Its epoll mode would
 * cost every request that waits on a node two epoll_ctl and a read that
 * fails with EAGAIN (it takes a suspended socket out of its epoll set, puts
 * it back on resume and assumes it readable); here a request waits at no
 * cost: a suspended connection is simply not in libmicrohttpd's sets.
 *
 * After each run libmicrohttpd says what it wants (MHD_get_fdset2):
 * - a write is given on the next run without asking epoll (a socket is
 *   almost always writable, and an answer takes a run or two more to
 *   finish); only one still wanting to write after HTTP_WRITE_TRIES such
 *   runs waits for EPOLLOUT;
 * - a socket that turns readable while libmicrohttpd does not read it
 *   (parked, or still writing) would be reported every turn: it is
 *   unwatched until libmicrohttpd wants to read it again.
 * Select sets hold descriptors below FD_SETSIZE: peerd keeps its own above
 * (loop_fd_high), and libmicrohttpd closes a connection that would not fit.
 * A resume wakes nothing by itself: the turn's end runs libmicrohttpd, this
 * turn's or, at once, the next (http_resume). */

#define HTTP_WRITE_TRIES 2
#define HTTP_RUNS_PER_TURN 4

static void on_http_fd(loop_watch *w, uint32_t ev)
{
    http_server *s = w->ud;
    int fd = w->fd;
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) FD_SET(fd, &s->sel.rs);
    if (ev & EPOLLOUT) FD_SET(fd, &s->sel.ws);
    if (fd > s->sel.max_fd) s->sel.max_fd = fd;
    s->sel.ready = true;
}

/* Watches a connection's socket as its sets say: EPOLLIN unless muted,
 * EPOLLOUT while a write waits; neither, not at all (a hang-up is reported
 * even to a watch that asks for nothing). The listening socket is never
 * muted nor written: its watch stays as http_start made it. */
static void rewatch(http_server *s, int fd)
{
    http_sel *z = &s->sel;
    if (!z->conn[fd]) return;
    loop_watch *w = &z->conn[fd]->w;
    uint32_t ev = (FD_ISSET(fd, &z->muted) ? 0u : EPOLLIN) | (FD_ISSET(fd, &z->out) ? EPOLLOUT : 0u);
    int rc = 0;
    if (!ev) loop_unwatch(s->l, w);
    else if (w->fd >= 0) rc = loop_rewatch(s->l, w, ev);
    else rc = loop_watch_fd(s->l, w, fd, ev, on_http_fd, s);
    if (rc < 0) drop_conn(s, fd);
}

/* One run of libmicrohttpd on what the loop saw, then what it wants next. */
static void run_once(http_server *s)
{
    http_sel *z = &s->sel;
    fd_set es, want_r, want_w;
    int top = z->max_fd;
    for (int fd = 0; fd <= top; fd++)
        if (FD_ISSET(fd, &z->rs) && !FD_ISSET(fd, &z->want_r) && z->conn[fd] && !FD_ISSET(fd, &z->muted) &&
            !FD_ISSET(fd, &z->dropped)) {
            FD_CLR(fd, &z->rs);
            FD_SET(fd, &z->muted);
            rewatch(s, fd);
        }
    FD_ZERO(&es);
    z->ready = false;
    s->resumed = false;
    MHD_run_from_select(s->daemon, &z->rs, &z->ws, &es);
    FD_ZERO(&want_r);
    FD_ZERO(&want_w);
    MHD_socket max = -1;
    MHD_get_fdset2(s->daemon, &want_r, &want_w, &es, &max, FD_SETSIZE);
    if (max > top) top = max;
    for (int fd = 0; fd <= top; fd++) {
        bool wants_w = FD_ISSET(fd, &want_w);
        if (FD_ISSET(fd, &z->muted) && FD_ISSET(fd, &want_r)) {
            FD_CLR(fd, &z->muted);
            rewatch(s, fd);
        }
        if (!wants_w) {
            z->tries[fd] = 0;
            if (FD_ISSET(fd, &z->out)) { FD_CLR(fd, &z->out); rewatch(s, fd); }
        } else if (FD_ISSET(fd, &z->ws) && !FD_ISSET(fd, &z->out) && ++z->tries[fd] > HTTP_WRITE_TRIES) {
            FD_SET(fd, &z->out);
            rewatch(s, fd);
        }
    }
    z->want_r = want_r;
    z->want_w = want_w;
    /* The next run's sets: every wanted write that does not wait for
     * epoll, and a dropped connection until libmicrohttpd has closed it. */
    FD_ZERO(&z->ws);
    for (int fd = 0; fd <= top; fd++)
        if (FD_ISSET(fd, &want_w) && !FD_ISSET(fd, &z->out)) { FD_SET(fd, &z->ws); z->ready = true; }
    z->rs = z->dropped;
    for (int fd = 0; fd <= top && !z->ready; fd++) z->ready = FD_ISSET(fd, &z->dropped);
    z->max_fd = top;
}

static void sweep_tick(void *owner, tmr *t);
static void stop_tick(void *owner, tmr *t);

static int turn_end(void *ud)
{
    http_server *s = ud;
    if (s->stop_retry) {
        s->stop_retry = false;
        stop_tick(s, &s->stop_timer);
    }
    s->hook_turn = loop_turn(s->l);
    if (!s->daemon) return -1;
    uint64_t now = loop_now();
    if (!s->sweep_armed && now - s->swept_at >= 1000) sweep_tick(s, &s->sweep_timer);
    MHD_UNSIGNED_LONG_LONG to = 1;
    /* A request read, parked and answered, or resumed and answered, takes
     * libmicrohttpd a run or two more, each saying "timeout 0" or wanting
     * a write: those runs are taken here (HTTP_RUNS_PER_TURN at most)
     * rather than by turning the whole loop for each. */
    for (int runs = 0; runs < HTTP_RUNS_PER_TURN; runs++) {
        bool due = s->sel.ready || s->resumed || (s->run_at && now >= s->run_at) || (runs && to == 0);
        if (!due) break;
        run_once(s);
        if (MHD_get_timeout(s->daemon, &to) != MHD_YES) to = UINT64_MAX;
        s->run_at = to == UINT64_MAX ? 0 : now + to;
    }
    if (s->sel.ready || s->resumed) to = 0;
    else if (MHD_get_timeout(s->daemon, &to) != MHD_YES) { s->run_at = 0; return s->stop_retry ? 10 : s->sweep_armed ? -1 : 1000; }
    if (to > 86400000) to = 86400000;
    s->run_at = now + to;
    /* What runs from here without its timer needs the loop to turn. */
    if (!s->sweep_armed && to > 1000) to = 1000;
    if (s->stop_retry && to > 10) to = 10;
    return (int)to;
}

static void sweep_tick(void *owner, tmr *t)
{
    (void)t;
    http_server *s = owner;
    http_sweep(s);
    /* Without its timer the sweep runs from the end of a turn instead
     * (turn_end), a second apart, until the timer can be armed again. */
    s->sweep_armed = loop_timer(s->l, &s->sweep_timer, 1000, sweep_tick, s);
    s->swept_at = loop_now();
}

/* libmicrohttpd's own lines go into peerd's log, with their time. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    log_msg(NULL, "http: %s", msg);
}

/* Connections at once: a select set's descriptors, less the few peerd
 * opens low before it serves (its own are kept above: loop_fd_high). */
#define HTTP_MAX_CONNS (FD_SETSIZE - 64)

int http_start(http_server *s, loop *l, int listen_fd)
{
    s->l = l;
    s->w_listen.fd = -1;
    unsigned flags = MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    if (s->tls_cert) flags |= MHD_USE_TLS;
    /* The certificate and key, or nothing: the array ends at once. */
    struct MHD_OptionItem tls[] = {
        { s->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)s->tls_cert },
        { MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)s->tls_key },
        { MHD_OPTION_END, 0, NULL },
    };
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                                 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                                 MHD_OPTION_LISTEN_SOCKET, listen_fd,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                                 MHD_OPTION_URI_LOG_CALLBACK, on_request_line, s,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNS,
                                 MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->max_conns_per_ip,
                                 MHD_OPTION_CONNECTION_TIMEOUT, s->idle_timeout_s,
                                 MHD_OPTION_ARRAY, tls,
                                 MHD_OPTION_END);
    if (!s->daemon) return -1;
    FD_SET(listen_fd, &s->sel.want_r);
    s->sel.max_fd = listen_fd;
    if (listen_fd >= FD_SETSIZE || loop_watch_fd(l, &s->w_listen, listen_fd, EPOLLIN, on_http_fd, s) < 0 ||
        loop_on_turn_end_first(l, turn_end, s) < 0 || !(s->sweep_armed = loop_timer(l, &s->sweep_timer, 1000, sweep_tick, s))) {
        loop_unwatch(l, &s->w_listen);
        MHD_stop_daemon(s->daemon);
        s->daemon = NULL;
        return -1;
    }
    return 0;
}

/* Shutdown, after the manager ended every stream: no new connections, then
 * up to two seconds for the streams' last chunks to reach their clients,
 * then every connection is closed and done(ud) runs. */
static void stop_tick(void *owner, tmr *t)
{
    (void)t;
    http_server *s = owner;
    /* Answers being converted on the helper come back (their work is
     * bounded); then the streams get up to two seconds. */
    if (loop_work_pending(s->l) || (s->streams > 0 && loop_now() < s->stop_by)) {
        /* No timer to wait with: the end of the next turn asks again. */
        s->stop_retry = !loop_timer(s->l, &s->stop_timer, 10, stop_tick, s);
        return;
    }
    loop_timer_clear(s->l, &s->sweep_timer);
    loop_unwatch(s->l, &s->w_listen);
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    if (s->stopped) s->stopped(s->stopped_ud);
}

void http_quit(http_server *s, void (*done)(void *ud), void *ud)
{
    s->stopped = done;
    s->stopped_ud = ud;
    if (!s->daemon) { if (done) done(ud); return; }
    MHD_socket listener = MHD_quiesce_daemon(s->daemon);
    loop_unwatch(s->l, &s->w_listen);
    if (listener != MHD_INVALID_SOCKET) close(listener);
    s->stop_by = loop_now() + 2000;
    s->stop_retry = !loop_timer(s->l, &s->stop_timer, 0, stop_tick, s);
}

/*
 * http.h — HTTP plumbing over libmicrohttpd: one http_req per request
 * (http.c), JSON and problem+json responses (respond.c), and the hand-off
 * to the peer manager and the loop's helper (park.c).
 *
 * libmicrohttpd runs on peerd's one loop (loop.h), in external mode. A
 * handler either answers at once or calls http_submit(): that suspends the
 * connection and hands a pm_req to the manager, which answers it at the end
 * of the turn; the connection resumes and `then` turns the answer into a
 * response. Nothing waits for a peer.
 */
#ifndef PEERD_HTTP_H
#define PEERD_HTTP_H

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <sys/select.h>

#include "buf.h"
#include "loop.h"
#include "manager.h"
#include "metrics.h"

#define HTTP_MAX_BODY (1u << 20)
#define HTTP_MAX_UPLOAD (64u << 20)     /* a module's code, a batch of calls */

typedef struct http_req http_req;
typedef struct http_server http_server;
typedef enum MHD_Result (*http_then)(http_req *h);

struct http_req {
    http_server *srv;
    struct MHD_Connection *conn;
    const char *method;
    char *url;                  /* the path as sent */
    char *path;                 /* decoded path, cut into seg[] */
    char *seg[4];               /* path segments */
    int nseg;
    buf body;
    bool too_large;
    bool read_only;             /* authenticated by the read-only token: GET and HEAD only */
    size_t max_body;            /* the route's limit */
    uint64_t discarded;         /* body bytes read past the limit, so that the 413 arrives */
    pm_req *pm;                 /* in flight or answered */
    pm_req **many;              /* http_submit_all's requests */
    size_t nmany, left;         /* how many, and how many still unanswered */
    http_then then;
    bool answered;
    bool path_checked;          /* the peer the path names was looked for (http_problem) */
    bool inline_answer;         /* the manager is answering within http_submit */
    void *state;                /* a handler's own data, freed with free_state */
    void (*free_state)(void *);
    /* Answers converted off the loop (http_then_converts). */
    bool then_converts;         /* the next `then` only turns the answer into a response */
    bool off_loop;              /* `then` runs on the helper now: responses are kept, not queued */
    loop_work work;
    http_then work_then;        /* the converting `then` run there */
    unsigned long json_mark;    /* http_json_failures() when this step began */
    bool answering_oom;         /* http_out_of_memory is making the answer */
    void (*work_fn)(http_req *h);   /* http_work's work */
    http_then work_next;        /* what runs on the loop afterwards */
    enum MHD_Result work_rc;
    struct MHD_Response *kept;  /* the response `then` made there, queued back on the loop */
    unsigned kept_status;
    /* For /metrics (set as the request arrives, by http_server.classify). */
    double arrived;             /* metrics_now() */
    double submitted;           /* when its last request went to the manager */
    int route, method_ix;       /* the route's index (router.h; -1: none), metrics_method() */
    call_via via;               /* a call route: its calls are counted as this kind */
    bool call_seen;             /* a call of its went to a peer (else an error answer is a refusal) */
    bool counted;               /* its response is counted */
};

/* An answer whose replies hold more bytes than this is turned into its
 * response on the loop's helper thread (http_then_converts): decoding and
 * printing a term runs at 10-20 MB/s, and a 64 MiB reply would hold every
 * other client for seconds. */
#define HTTP_OFF_LOOP_BYTES (32u << 10)

/* One per TCP connection, from accept to close (MHD's socket context). */
typedef struct http_conn {
    struct http_conn *prev, *next;      /* in http_server.conns */
    int fd;
    loop_watch w;                       /* its socket, on the loop (http.c) */
    int64_t deadline_ms;                /* the request must be in by then; 0: not receiving one */
    bool nul_in_url;                    /* this request's path or query held %00 */
} http_conn;

/* libmicrohttpd runs in select mode on the loop (http.c): what the loop
 * saw ready, what libmicrohttpd asked for, and how each socket is watched. */
typedef struct {
    fd_set rs, ws;                      /* ready since the last run */
    fd_set want_r, want_w;              /* what libmicrohttpd asked for after it */
    fd_set muted;                       /* readable, not wanted: unwatched until wanted */
    fd_set out;                         /* a write that did not finish: waits for EPOLLOUT */
    fd_set dropped;                     /* shut down by peerd, to be closed by libmicrohttpd */
    unsigned char tries[FD_SETSIZE];    /* runs in a row given a write unasked */
    http_conn *conn[FD_SETSIZE];        /* by descriptor */
    int max_fd;                         /* the highest descriptor in any set */
    bool ready;                         /* rs or ws holds one */
} http_sel;

struct http_server {
    pm *pm;
    const struct notifier *hooks;       /* the webhooks, for their figures; may be NULL */
    enum MHD_Result (*dispatch)(http_req *h);   /* the route table (router.h) */
    /* Sets h's max_body (the largest body its route takes), route and via. */
    void (*classify)(http_req *h);
    loop *l;
    struct MHD_Daemon *daemon;
    loop_watch w_listen;                /* the listening socket (-1 once quiesced) */
    http_sel sel;                       /* libmicrohttpd's select sets, kept by the loop */
    bool resumed;                       /* a connection was resumed this turn */
    uint64_t hook_turn;                 /* the loop's turn in which its hook last ran */
    uint64_t run_at;                    /* when libmicrohttpd wants to run again (its timeout); 0: never */
    tmr sweep_timer, stop_timer;
    uint64_t stop_by;
    bool sweep_armed;                   /* the deadline sweep's timer is armed */
    bool stop_retry;                    /* the stop could not arm its timer: go on at the turn's end */
    uint64_t swept_at;                  /* when it last ran (loop_now) */
    void (*stopped)(void *ud);
    void *stopped_ud;
    unsigned request_timeout_s;         /* headers, then body, each within this */
    unsigned idle_timeout_s;            /* a connection with nothing to do */
    unsigned max_conns_per_ip;
    http_conn *conns;
    const char *token;          /* bearer token; NULL: no authentication */
    const char *read_token;     /* a token that reads (GET, HEAD) and no more; NULL: none */
    char **allow_exec;          /* NULL-terminated; NULL: any program */
    int max_streams;            /* open following responses at most */
    int streams;
    const char *tls_cert, *tls_key;   /* PEM text; NULL: plain HTTP */
    metrics *fig;                       /* the HTTP side's figures for /metrics */
};

/* Serves on loop l from the listening socket; -1 if it cannot. */
int http_start(http_server *s, loop *l, int listen_fd);
/* Closes every connection whose request has not come in by its deadline
 * (--request-timeout); a loop timer calls it once a second. */
void http_sweep(http_server *s);
/* Stops accepting, lets open streams drain (2 s at most), closes every
 * connection, then calls done(ud). */
void http_quit(http_server *s, void (*done)(void *ud), void *ud);
/* The request was authenticated by the read-only token: answers 403
 * read_only saying that `what` needs the control token, and returns true. */
bool http_refuse_read_only(http_req *h, const char *what, enum MHD_Result *answered);
/* Resumes a suspended connection (the end of the turn runs libmicrohttpd). */
void http_resume(http_server *s, struct MHD_Connection *c);

/* Responses (all return what MHD_queue_response returned). */
enum MHD_Result http_json(http_req *h, unsigned status, cJSON *body);   /* takes body */
/* The file open on fd (taken), size bytes of it. */
enum MHD_Result http_file(http_req *h, unsigned status, const char *type, int fd, uint64_t size);
enum MHD_Result http_bytes(http_req *h, unsigned status, const char *type, const void *p, size_t n,
                           const char *const *headers);                 /* NULL-terminated name, value pairs */
/* Content-Type and the name/value pairs in headers (NULL-ended, or NULL) on
 * resp; false, and resp destroyed, if one could not be added. */
bool http_headers(struct MHD_Response *resp, const char *type, const char *const *headers);
/* The detail of every 503 out_of_memory. */
#define HTTP_NOMEM_DETAIL "peerd ran out of memory answering this request; nothing was done that needs undoing, and it may be retried"
/* b's bytes as the body, handed over (no copy; b is emptied); 500 if b ran out of memory. */
enum MHD_Result http_buf(http_req *h, unsigned status, const char *type, buf *b, const char *const *headers);
enum MHD_Result http_problem(http_req *h, unsigned status, const char *code, const char *detail, cJSON *extra);
/* 503 out_of_memory (or the connection closed, if even that cannot be made). */
enum MHD_Result http_out_of_memory(http_req *h);
/* cJSON's allocations, counted per thread (http_json_init installs it):
 * a JSON response made while one failed answers http_out_of_memory. */
void http_json_init(void);
unsigned long http_json_failures(void);
/* The same with extra response headers (NULL-terminated name, value pairs). */
enum MHD_Result http_problem_with(http_req *h, unsigned status, const char *code, const char *detail, cJSON *extra,
                                  const char *const *headers);
enum MHD_Result http_problemf(http_req *h, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Suspends the connection and hands r to the manager; `then` runs when answered. */
enum MHD_Result http_submit(http_req *h, pm_req *r, http_then then);

/* Hands all n requests to the manager at once (they go out in the same
 * turn, none awaited before another is sent) and suspends the connection;
 * `then` runs when every one is answered, with them in h->many. Takes the
 * array and the requests. */
enum MHD_Result http_submit_all(http_req *h, pm_req **rs, size_t n, http_then then);

const char *http_query(http_req *h, const char *key);

/* work(h), then then(h): for work that grows with the request (turning a
 * large body into terms). With a body over HTTP_OFF_LOOP_BYTES, work runs
 * on the loop's helper thread while the connection is suspended: it reads
 * and writes h->body and h->state and touches nothing else; then runs on
 * the loop afterwards. */
enum MHD_Result http_work(http_req *h, void (*work)(http_req *h), http_then then);

/* The body as JSON, touching nothing else (http_work may run it off the
 * loop); NULL and why in detail (400 invalid_json) on failure. */
cJSON *http_parse_body(const buf *body, char *detail, size_t n);

/* The next `then` of h (http_submit, http_submit_all) only turns the
 * answer into a response: when the replies hold more than
 * HTTP_OFF_LOOP_BYTES it runs on the loop's helper thread, so it reads h,
 * its state and its answers, answers through the response functions
 * above, and touches nothing else (no submit, no manager, no server
 * state). */
void http_then_converts(http_req *h);

/* Counts h's response for /metrics (on the loop; once). */
void http_count_response(http_req *h, unsigned status);
/* What an answered PM_CALL's caller got, for /metrics. */
call_outcome http_call_outcome(const pm_req *r);
/* Counts an answered call of h's (a PM_CALL; on the loop) as h->via. */
void http_count_call(http_req *h, const pm_req *r, double since);
/* The body as JSON (an empty body is {}); on failure it has answered 400. */
cJSON *http_body_json(http_req *h, enum MHD_Result *answered);

#endif

/*
 * harness.h — end-to-end test support: a real peerd process on a free
 * loopback port, driven over HTTP with libcurl.
 */
#ifndef PEERD_TEST_HARNESS_H
#define PEERD_TEST_HARNESS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;
    int port;
    char base[64];
    char log[128];
    char token[128];    /* sent as Authorization: Bearer when set */
    char cainfo[256];   /* CA file for https */
} peerd;

typedef struct {
    long status;
    char *body;
    size_t len;
    char ctype[128];
    char allow[128];
    char console_start[32], console_end[32];
    cJSON *json;        /* the body parsed, when it is JSON */
} resp;

/* Starts build/peerd --listen 127.0.0.1:0 [extra...]; asserts it came up
 * (its address from the first line it prints). Every suite starts peerd so:
 * the JavaScript ones (contract, browser) through tests/lib/peerd.mjs. */
peerd *peerd_start(const char *const *extra);
/* Runs peerd with these arguments expecting it to refuse to start; returns
 * its exit status and what it printed on stderr (in err, errlen). */
int peerd_refused(const char *const *args, char *err, size_t errlen);
/* SIGTERM, then waits; returns the exit status (or -1). */
int peerd_stop(peerd *d);
/* peerd_stop, and *log what it wrote on stderr (malloc'd; NULL if none). */
int peerd_stop_with_log(peerd *d, char **log);
void peerd_kill(peerd *d);

resp *http(peerd *d, const char *method, const char *path, const char *body);
/* The same with extra request headers ("Name: value", NULL-terminated). */
resp *http_with(peerd *d, const char *method, const char *path, const char *body, const char *const *headers);
/* Any body (len bytes of Content-Type ctype). */
resp *http_body(peerd *d, const char *method, const char *path, const void *body, size_t len, const char *ctype,
                const char *const *headers);
void resp_free(resp *r);

/* Shorthands: the string / number at a key of r->json (NULL / -1 if absent). */
const char *jstr(const resp *r, const char *key);
double jnum(const resp *r, const char *key);

/* Starts a peer with these options (a JSON object); asserts 201; returns its id. */
char *start_peer(peerd *d, const char *options);
/* The peer's incarnation (GET /peers/ID), malloc'd. */
char *incarnation_of(peerd *d, const char *id);
/* POST /peers/ID/cast; asserts 202. */
void peer_cast(peerd *d, const char *id, const char *module, const char *function, const char *args_json);
/* DELETE /peers/ID; asserts 200 and state down. */
void delete_peer(peerd *d, const char *id);
/* POST /peers/ID/call; returns the response. */
resp *call(peerd *d, const char *id, const char *module, const char *function, const char *args_json);

/* Evaluates Erlang expressions on the node, as the shell would: the tokens
 * and forms travel as JSON values (erl_scan -> erl_parse -> erl_eval), which
 * also proves that `value` maps back to the same term. With cast, the last
 * step is a cast and NULL is returned. */
resp *node_eval(peerd *d, const char *id, const char *code, bool cast);
/* Waits (GET /wait) for a state; returns the response. */
resp *wait_state(peerd *d, const char *id, const char *state, int timeout_ms);
/* Makes the request every 20 ms until done(response, ud) holds or ms have
 * passed; returns the last response (done or not: the caller asserts). */
resp *http_until(peerd *d, const char *method, const char *path, const char *body,
                 bool (*done)(const resp *r, const void *ud), const void *ud, int ms);
/* Predicates for it: the status is *(const long *)ud; the body holds the
 * string ud; the body holds every string of the NULL-terminated array ud;
 * a body at all. */
bool has_status(const resp *r, const void *status);
bool has_text(const resp *r, const void *needle);
bool has_all(const resp *r, const void *needles);
bool has_body(const resp *r, const void *unused);
/* Starts the curl program on a path of peerd; its stdout goes to out_path. */
pid_t curl_spawn(peerd *d, const char *path, const char *out_path, const char *const *extra_args);
/* Waits for a child; returns its exit status, or -1 if it did not end in ms. */
int child_wait(pid_t pid, int ms);
/* True once the file holds needle, waiting up to ms. */
bool file_has(const char *path, const char *needle, int ms);
/* A file's whole content (malloc'd). */
char *slurp(const char *path, size_t *len);
/* A raw TCP connection to peerd; rcvbuf, if not 0, set before connecting. */
int peerd_connect(peerd *d, int rcvbuf);

/* Runs a shell command made like printf; its exit status (-1 if it did not exit). */
int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A TCP port on 127.0.0.1 that was free a moment ago. */
int free_port(void);
/* Deletes every link holding an address in 10.A.B.0/24: what a test that
 * failed before its cleanup left on a subnet another is about to use (its
 * route would win over the new link's). */
void drop_links_in(int a, int b);

/* Starts epmd in network namespace ns, as a host with Erlang installed has
 * one running, and returns once it listens (asserts so within 10 s). Left
 * to its first node, it races it: `epmd -daemon` returns before the new
 * epmd listens, and a node that asks it first fails its boot with
 * econnrefused. */
void epmd_up_in(const char *ns);

/* A node name unique to this test process. */
const char *unique_name(const char *prefix);
/* True once the process is gone (or a zombie), waiting up to ms. */
bool process_gone(pid_t pid, int ms);

/* The peer's os_pid (GET /peers/{id}). */
pid_t os_pid_of(peerd *d, const char *id);
/* One sample of GET /metrics, named as printed (labels included); asserts
 * it is there. */
double metric(peerd *d, const char *sample);
/* A string member of a JSON object, or NULL. */
const char *field(const cJSON *o, const char *key);
/* Monotonic seconds. */
double now_s(void);
/* Asserts that body holds fmt's text for every n from `from` to `to`, in
 * that order; fmt names the number as %1$d, as often as it needs. */
void expect_in_order(const char *body, const char *fmt, int from, int to);

/* The one skip policy. What ./dev.sh test installs is required: a test
 * that finds it missing fails (needs). What the machine may not allow —
 * root, network namespaces, a working container engine — skips the test,
 * saying why (cr_skip_test). */
#define needs(present, what) \
    cr_assert((present), "%s is missing: ./dev.sh test installs it", (what))

#endif

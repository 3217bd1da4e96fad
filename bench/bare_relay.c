/*
 * bare_relay.c — the bound under any HTTP origin's calls/s: the smallest
 * origin that relays HTTP calls to a node. libmicrohttpd (its own polling
 * thread, epoll) takes POST /…/call, writes {call, Seq, erlang, node, []} to
 * the node at once and suspends the connection; one thread reads the node's
 * replies and resumes each connection with {"result":NAME}. No JSON
 * parsing, no term text, no batching, no state but the calls in flight.
 *   bare_relay PORT standard_io|tcp|distribution   PORT 0: any free port; prints the one it took
 */
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "etf.h"
#include "node_link.h"

#define SLOTS 4096              /* calls in flight, by seq % SLOTS */

typedef struct {
    struct MHD_Connection *conn;
    uint64_t seq;
    bool sent, answered;
    char result[256];
} call;

static node_link node;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static call *inflight[SLOTS];
static uint64_t next_seq;

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)cls; (void)url; (void)method; (void)version; (void)upload;
    call *k = *con_cls;
    if (!k) {
        if (!(k = calloc(1, sizeof *k))) return MHD_NO;
        k->conn = c;
        *con_cls = k;
        return MHD_YES;
    }
    if (*upload_size) { *upload_size = 0; return MHD_YES; }   /* the body is read, as peerd reads one */
    if (!k->sent) {
        k->sent = true;
        buf frame = {0};
        pthread_mutex_lock(&lock);
        k->seq = next_seq++;
        inflight[k->seq % SLOTS] = k;
        node_link_call(&node, &frame, k->seq);
        node_link_write(&node, &frame);
        MHD_suspend_connection(c);
        pthread_mutex_unlock(&lock);
        buf_free(&frame);
        return MHD_YES;
    }
    char body[300];
    int n = snprintf(body, sizeof body, "{\"result\":\"%s\"}", k->result);
    struct MHD_Response *r = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
    enum MHD_Result res = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return res;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls; (void)c; (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

/* A reply: {reply, Seq, ok, Atom}; the atom's text is the result. */
static bool on_message(void *ud, const uint8_t *etf, size_t len)
{
    (void)ud;
    control_reply rep;
    if (!control_read_reply(etf, len, &rep)) return true;
    pthread_mutex_lock(&lock);
    call *k = inflight[rep.seq % SLOTS];
    if (k && k->seq == rep.seq) {
        inflight[rep.seq % SLOTS] = NULL;
        const uint8_t *a = rep.result;
        size_t n = 0, off = 0;
        if (rep.result_len >= 2 && (a[0] == SMALL_ATOM_UTF8_EXT || a[0] == SMALL_ATOM_EXT)) n = a[1], off = 2;
        else if (rep.result_len >= 3 && (a[0] == ATOM_UTF8_EXT || a[0] == ATOM_EXT)) n = (size_t)a[1] << 8 | a[2], off = 3;
        if (off + n > rep.result_len || n >= sizeof k->result) n = 0;
        memcpy(k->result, a + off, n);
        k->result[n] = 0;
        k->answered = true;
        MHD_resume_connection(k->conn);
    }
    pthread_mutex_unlock(&lock);
    return true;
}

static void *reader(void *arg)
{
    (void)arg;
    while (node_link_read(&node, on_message, NULL)) {}
    fputs("bare_relay: the node went away\n", stderr);
    exit(1);
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 8082;
    node_link_start(&node, argc > 2 ? argv[2] : "standard_io");
    pthread_t t;
    pthread_create(&t, NULL, reader, NULL);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO,
                                            (uint16_t)port, NULL, NULL, answer, NULL,
                                            MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    if (!d) return 1;
    printf("bare_relay listening on %u\n", (unsigned)MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port);
    fflush(stdout);
    pause();
    return 0;
}

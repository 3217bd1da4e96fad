/*
 * bare_relay.c — the bound under any HTTP origin's calls/s: the smallest
 * origin that relays HTTP calls to a node, built as peerd is built: one
 * thread, one epoll loop holding libmicrohttpd (external mode) and the
 * node's descriptor. POST /…/call suspends its connection and corks
 * {call, Seq, erlang, node, []}; the turn's calls go to the node in one
 * write at its end; a reply resumes its connection with {"result":NAME}.
 * No JSON parsing, no term text, no state but the calls in flight.
 *   bare_relay PORT standard_io|tcp|distribution   PORT 0: any free port; prints the one it took
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "etf.h"
#include "mhd_loop.h"
#include "node_link.h"

#define SLOTS 4096              /* calls in flight, by seq % SLOTS */

typedef struct {
    struct MHD_Connection *conn;
    uint64_t seq;
    bool sent;
    char result[256];
} call;

static node_link node;
static mhd_loop hl = { .fd = -1 };
static call *inflight[SLOTS];
static uint64_t next_seq;
static buf corked;

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
        k->seq = next_seq++;
        inflight[k->seq % SLOTS] = k;
        node_link_call(&node, &corked, k->seq);
        MHD_suspend_connection(c);
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
        MHD_resume_connection(k->conn);
        hl.resumed = true;
    }
    return true;
}

static void on_node(void *ud)
{
    (void)ud;
    if (!node_link_read(&node, on_message, NULL)) { fputs("bare_relay: the node went away\n", stderr); exit(1); }
}

static void flush(void *ud)
{
    (void)ud;
    if (!corked.len) return;
    node_link_write(&node, &corked);
    corked.len = 0;
}

int main(int argc, char **argv)
{
    unsigned port = argc > 1 ? (unsigned)atoi(argv[1]) : 8082;
    node_link_start(&node, argc > 2 ? argv[2] : "standard_io");
    hl.fd = node.rfd;
    hl.on_fd = on_node;
    hl.turn_end = flush;
    if (!mhd_loop_start(&hl, port, answer, completed)) return 1;
    printf("bare_relay listening on %u\n", mhd_loop_port(&hl));
    fflush(stdout);
    mhd_loop_run(&hl);
    return 0;
}

/*
 * bare_mhd.c — a yardstick for HTTP overhead: libmicrohttpd answering every
 * request (its body read and dropped) with a fixed JSON body the size of a
 * peer object, and nothing else. THREADS 0 serves as peerd does (external
 * mode on one epoll loop, mhd_loop.c): the floor's HTTP round trip; more
 * is a pool of that many threads (poll, suspend/resume allowed), the
 * fastest libmicrohttpd here, for GET /peers/{id}.
 *   bare_mhd PORT THREADS [park] [epoll]   PORT 0: any free port; prints the one it took
 * park (THREADS 0): every request is parked as peerd parks one waiting on a
 * node (MHD_suspend_connection), resumed at the end of the turn and
 * answered then; against the same without park, what parking costs.
 * epoll: libmicrohttpd's own epoll mode instead of peerd's select mode on
 * the loop, where parking cost two epoll_ctl and a failed read a request.
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mhd_loop.h"

static char reply[700];
static bool park;
static struct MHD_Connection *parked[1024];
static size_t nparked;
static mhd_loop hl = { .fd = -1 };

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls; (void)c; (void)con_cls; (void)toe;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)cls; (void)url; (void)method; (void)version; (void)upload;
    if (!*con_cls) { *con_cls = (void *)1; return MHD_YES; }
    if (*upload_size) { *upload_size = 0; return MHD_YES; }   /* a body is read, as peerd reads one */
    if (park && *con_cls == (void *)1 && nparked < sizeof parked / sizeof *parked) {
        *con_cls = (void *)2;
        MHD_suspend_connection(c);
        parked[nparked++] = c;
        return MHD_YES;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(reply), reply, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
    enum MHD_Result res = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return res;
}

/* The turn's parked requests resumed, and libmicrohttpd run to answer them
 * (mhd_loop.c), as peerd's turn end does once the node has replied. */
static void unpark(void *ud)
{
    (void)ud;
    if (!nparked) return;
    for (size_t i = 0; i < nparked; i++) MHD_resume_connection(parked[i]);
    nparked = 0;
    hl.resumed = true;
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 8081;
    unsigned threads = argc > 2 ? (unsigned)atoi(argv[2]) : 2;
    memset(reply, 'x', sizeof reply - 1);
    reply[0] = '"';
    reply[sizeof reply - 2] = '"';
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "park")) park = true;
        else if (!strcmp(argv[i], "epoll")) hl.mhd_epoll = true;
    }
    if (threads == 0) {
        hl.turn_end = unpark;
        if (!mhd_loop_start(&hl, (unsigned)port, answer, completed)) return 1;
        printf("bare_mhd listening on %u\n", mhd_loop_port(&hl));
        fflush(stdout);
        mhd_loop_run(&hl);
    }
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO,
                                            (uint16_t)port, NULL, NULL, answer, NULL,
                                            MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_END);
    if (!d) return 1;
    printf("bare_mhd listening on %u\n", (unsigned)MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port);
    fflush(stdout);
    pause();
    return 0;
}

/*
 * start_opts.h — what a start asks for, normalised: the options the
 * connection (conn.h) and the command line (cmdline.h) are made from, and
 * the manager keeps with the peer. Below the manager: knows nothing of it.
 */
#ifndef PEERD_START_OPTS_H
#define PEERD_START_OPTS_H

#include <stdbool.h>
#include <stdint.h>

enum pm_conn { PM_CONN_STDIO, PM_CONN_TCP, PM_CONN_DIST };
enum pm_peer_down { PM_DOWN_STOP, PM_DOWN_CONTINUE, PM_DOWN_CRASH };
enum pm_shutdown { PM_SHUTDOWN_CLOSE, PM_SHUTDOWN_HALT, PM_SHUTDOWN_STOP };

#define PM_INFINITY (-1)
#define PM_NO_WAIT (-2)

/* Normalised start options; every pointer is malloc'd and owned by it. */
typedef struct {
    char *name;                 /* NULL: not distributed */
    bool longnames;
    char *host;
    enum pm_peer_down peer_down;
    enum pm_conn conn;
    char *tcp_ip;               /* NULL: listen on every address */
    int tcp_port;
    char **exec;                /* program and leading args; NULL: "erl" */
    bool detached;
    char **args;
    char **post_process_args;   /* NULL: none */
    char **env;                 /* "K=V" */
    int64_t wait_boot_ms;       /* ms, PM_INFINITY or PM_NO_WAIT */
    enum pm_shutdown shutdown;
    int64_t shutdown_ms;        /* ms or PM_INFINITY */
    int64_t lease_ms;           /* 0: no lease */
    int64_t heartbeat_ms;       /* a beat every so often (liveness.c); 0: none; -1: the configured default */
    int64_t unreachable_ms;     /* declared down after so long unheard; -1: the configured default */
    char *notify_url;           /* NULL: none */
    char *cookie;               /* distribution: the node's cookie; NULL: peerd's */
    char **labels;              /* "key=value" (labels.h); NULL: none */
    char *labels_json;          /* the same as a JSON object */
    char *cluster;              /* NULL: in no cluster */
    char *options_json;         /* the normalised options as the client sees them */
} pm_start_opts;

void pm_start_opts_free(pm_start_opts *o);

#endif

/*
 * cmdline.h — the node's command line, in OTP 25 peer's order:
 *
 *   EXEC [exec args] [-sname|-name NAME[@HOST]] CONN_ARGS [ARGS]
 *
 * so that an -extra among ARGS cannot swallow -user peer. With
 * post_process_args, EXEC is followed by that template instead, with
 * {args} (everything after EXEC, joined by spaces), {args_quoted} (the same,
 * each shell-quoted) and a lone "{args...}" (each as its own argument)
 * expanded.
 */
#ifndef PEERD_CMDLINE_H
#define PEERD_CMDLINE_H

#include "start_opts.h"

/* A NULL-terminated, malloc'd argv; NULL if out of memory. conn_args are
 * what the control connection asks for (-user peer, -origin IPS PORT...). */
char **cmdline_build(const pm_start_opts *o, char *const *conn_args);
void cmdline_free(char **argv);

#endif

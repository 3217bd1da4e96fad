/*
 * spawn.h — starting the node's program with its standard streams piped.
 */
#ifndef PEERD_SPAWN_H
#define PEERD_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

/* Starts argv[0] (searched on PATH) with extra "K=V" environment entries.
 * stdin is a pipe (*in_fd, our end) or /dev/null when in_fd is NULL; stdout
 * and stderr go to one pipe (*out_fd). The child gets its own process group.
 * Returns 0 or an errno value (ENOENT, EACCES...). Our ends are non-blocking
 * and close-on-exec. */
int spawn_node(char *const argv[], char *const env_extra[], int *in_fd, int *out_fd, pid_t *pid);

#endif

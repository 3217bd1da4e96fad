/*
 * proc.h — processes: starting the node's program with its standard streams piped, and stopping what is left.
 */
#ifndef PEERD_PROC_H
#define PEERD_PROC_H

#include <stdbool.h>
#include <sys/types.h>

/* Starts argv[0] (searched on PATH) with extra "K=V" environment entries.
 * stdin is a pipe (*in_fd, our end) or /dev/null when in_fd is NULL; stdout
 * and stderr go to one pipe (*out_fd). The child gets its own process group.
 * Returns 0 or an errno value (ENOENT, EACCES...). Our ends are non-blocking
 * and close-on-exec. */
int spawn_node(char *const argv[], char *const env_extra[], int *in_fd, int *out_fd, pid_t *pid);

/* Stops every process still a child of this one: what the nodes left
 * behind and peerd adopted as their subreaper (a program a node ran in the
 * background), but not epmd, which is the host's. SIGTERM, then SIGKILL
 * after grace_ms, and reaped. Blocks up to about twice grace_ms: for the
 * end of the process, once the loop is done. Names each one on stderr
 * unless quiet; returns how many there were. */
int spawn_stop_children(int grace_ms, bool quiet);

/* What a process uses, from /proc/PID/stat (pid 0: this process). */
typedef struct { double cpu_seconds; long long resident_bytes; unsigned long long virtual_bytes; } proc_usage;
bool proc_usage_of(pid_t pid, proc_usage *u);

#endif

/*
 * proc.c — posix_spawnp with piped stdio, and the children left at the end (proc.h).
 *
 * posix_spawnp reports exec failures (a missing program) as its return value
 * in glibc, which makes "exec" errors exact without a fork-and-report dance.
 */
#include "proc.h"
#include "log.h"
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char **merge_env(char *const extra[])
{
    size_t n = 0, m = 0;
    while (environ[n]) n++;
    while (extra && extra[m]) m++;
    char **env = calloc(n + m + 1, sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        /* An extra entry overrides the inherited one of the same name. */
        const char *eq = strchr(environ[i], '=');
        size_t len = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        bool overridden = false;
        for (size_t j = 0; j < m && !overridden; j++)
            overridden = strncmp(extra[j], environ[i], len) == 0 && extra[j][len] == '=';
        if (!overridden) env[k++] = environ[i];
    }
    for (size_t j = 0; j < m; j++) env[k++] = extra[j];
    return env;
}

int spawn_node(char *const argv[], char *const env_extra[], int *in_fd, int *out_fd, pid_t *pid)
{
    int in[2] = { -1, -1 }, out[2] = { -1, -1 };
    int err = 0;
    char **env = merge_env(env_extra);
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    if (!env) return ENOMEM;
    if (pipe2(out, O_CLOEXEC) < 0 || (in_fd && pipe2(in, O_CLOEXEC) < 0)) {
        err = errno;
        goto fail_pipes;
    }
    /* The file actions allocate: one that fails would start a node whose
     * stdio is not its pipes, a node peerd never hears (found by injecting
     * allocation failures), so it is not started. */
    if ((err = posix_spawn_file_actions_init(&fa))) goto fail_pipes;
    if ((err = posix_spawnattr_init(&attr))) {
        posix_spawn_file_actions_destroy(&fa);
        goto fail_pipes;
    }
    if (!(err = in_fd ? posix_spawn_file_actions_adddup2(&fa, in[0], 0)
                      : posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) &&
        !(err = posix_spawn_file_actions_adddup2(&fa, out[1], 1)))
        err = posix_spawn_file_actions_adddup2(&fa, out[1], 2);
    if (err) {
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        goto fail_pipes;
    }
    /* Own process group: a ^C on peerd's terminal is peerd's to handle. */
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigset_t deflt;
    sigemptyset(&deflt);
    sigaddset(&deflt, SIGPIPE);
    sigaddset(&deflt, SIGCHLD);
    posix_spawnattr_setsigdefault(&attr, &deflt);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    err = posix_spawnp(pid, argv[0], &fa, &attr, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(out[1]);
    out[1] = -1;
    if (in_fd) { close(in[0]); in[0] = -1; }
    if (err) goto fail_pipes;
    /* Held as long as the node lives: above the numbers kept for HTTP. */
    out[0] = loop_fd_high(out[0]);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    *out_fd = out[0];
    if (in_fd) { in[1] = loop_fd_high(in[1]); fcntl(in[1], F_SETFL, O_NONBLOCK); *in_fd = in[1]; }
    free(env);
    return 0;
fail_pipes:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0) close(in[i]);
        if (out[i] >= 0) close(out[i]);
    }
    free(env);
    return err;
}

/* The pids whose parent is this process, from /proc, but for epmd: the
 * host's name server, which a node starts and leaves running as erl means
 * it to, is every node's on the host (another peerd's, the user's own):
 * stopping it would unpublish them all. */
static size_t children(pid_t *out, size_t max)
{
    pid_t self = getpid();
    size_t n = 0;
    DIR *d = opendir("/proc");
    for (struct dirent *e; d && (e = readdir(d)) && n < max;) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        char path[300], stat[512];
        snprintf(path, sizeof path, "/proc/%.20s/stat", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t len = read(fd, stat, sizeof stat - 1);
        close(fd);
        if (len <= 0) continue;
        stat[len] = 0;
        /* pid (comm) state ppid: comm may hold anything but ends at the last ')'. */
        const char *lp = strchr(stat, '('), *rp = strrchr(stat, ')');
        int ppid;
        char state;
        if (lp && rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && ppid == self && state != 'Z' &&
            !(rp - lp == 5 && memcmp(lp + 1, "epmd", 4) == 0))
            out[n++] = (pid_t)atoi(e->d_name);
    }
    if (d) closedir(d);
    return n;
}

static void reap_all(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
}

int spawn_stop_children(int grace_ms, bool quiet)
{
    pid_t pids[256];
    int stopped = 0;
    reap_all();
    for (int round = 0, ms = 0; ; round++) {
        size_t n = children(pids, sizeof pids / sizeof *pids);
        if (!n) break;
        bool late = ms >= grace_ms;
        for (size_t i = 0; i < n; i++) {
            if (round == 0 && !quiet) {
                char path[64], comm[64] = "?";
                snprintf(path, sizeof path, "/proc/%d/comm", (int)pids[i]);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                ssize_t len = fd >= 0 ? read(fd, comm, sizeof comm - 1) : -1;
                if (fd >= 0) close(fd);
                if (len > 0) comm[len - (comm[len - 1] == '\n')] = 0;
                log_msg(NULL, "stopping %s (pid %d), left behind by a node", comm, (int)pids[i]);
            }
            kill(pids[i], late ? SIGKILL : SIGTERM);
        }
        if (round == 0) stopped = (int)n;
        if (ms >= 2 * grace_ms) break;
        usleep(20000);
        ms += 20;
        reap_all();
    }
    reap_all();
    return stopped;
}

bool proc_usage_of(pid_t pid, proc_usage *u)
{
    char path[64], text[1024];
    if (pid) snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    else snprintf(path, sizeof path, "/proc/self/stat");
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    const char *p = strrchr(text, ')');
    unsigned long long ut, st;
    long long pages;
    /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
     * cutime cstime priority nice threads itrealvalue starttime vsize rss */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %*u %llu %lld",
                     &ut, &st, &u->virtual_bytes, &pages) != 4)
        return false;
    u->cpu_seconds = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    u->resident_bytes = pages * sysconf(_SC_PAGESIZE);
    return true;
}

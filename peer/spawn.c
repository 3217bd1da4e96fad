/*
 * spawn.c — posix_spawnp with piped stdio.
 *
 * posix_spawnp reports exec failures (a missing program) as its return value
 * in glibc, which makes "exec" errors exact without a fork-and-report dance.
 */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
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
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    if (in_fd) posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    else posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, out[1], 2);
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
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    *out_fd = out[0];
    if (in_fd) { fcntl(in[1], F_SETFL, O_NONBLOCK); *in_fd = in[1]; }
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

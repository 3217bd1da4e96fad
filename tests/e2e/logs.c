/*
 * logs.c — peerd's log as an operator reads it: every line with its time
 * (RFC 3339, UTC), lines about a peer carrying its id, --log-format json
 * (one object a line), libmicrohttpd's own lines in the same form, and no
 * line for a client that simply went away.
 */
#include <criterion/criterion.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static bool rfc3339(const char *s)
{
    regex_t re;
    regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$", REG_EXTENDED | REG_NOSUB);
    bool ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

/* Seconds between the time at the head of a line and now. */
static double age_of(const char *when)
{
    struct tm tm = {0};
    if (!strptime(when, "%Y-%m-%dT%H:%M:%S", &tm)) return 1e9;
    return difftime(time(NULL), timegm(&tm));
}

/* A peer's life with clients that hang up: a console followed by curl,
 * stopped; the event feed likewise. */
static char *traffic(peerd *d)
{
    char *id = start_peer(d, "{\"heartbeat_ms\":0}");
    resp *r = call(d, id, "erlang", "node", "[]");
    cr_assert_eq(r->status, 200, "%s", r->body);
    resp_free(r);
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/console?follow=1", id);
    for (int i = 0; i < 3; i++) {
        pid_t c = curl_spawn(d, i < 2 ? path : "/events", "/tmp/peerd-logs-follow.out", NULL);
        usleep(300000);
        kill(c, SIGTERM);
        waitpid(c, NULL, 0);
    }
    usleep(200000);
    delete_peer(d, id);
    return id;
}

Test(logs, json_lines_have_time_peer_and_no_client_gone, .timeout = 60)
{
    static const char *const args[] = { "--log-format", "json", NULL };
    peerd *d = peerd_start(args);
    char *id = traffic(d);
    char *log = NULL;
    cr_assert_eq(peerd_stop_with_log(d, &log), 0);
    int lines = 0, about = 0;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
        lines++;
        cJSON *j = cJSON_Parse(line);
        cr_assert(cJSON_IsObject(j), "not one JSON object: %s", line);
        const cJSON *when = cJSON_GetObjectItemCaseSensitive(j, "time"), *msg = cJSON_GetObjectItemCaseSensitive(j, "msg"),
                    *peer = cJSON_GetObjectItemCaseSensitive(j, "peer");
        cr_assert(cJSON_IsString(when) && rfc3339(when->valuestring), "time: %s", line);
        cr_expect_lt(age_of(when->valuestring), 120, "the time is now's (UTC): %s", line);
        cr_assert(cJSON_IsString(msg), "msg: %s", line);
        cr_expect(!strstr(msg->valuestring, "Closing connection"), "a client that went away is not logged: %s", line);
        if (strstr(msg->valuestring, id)) {
            about++;
            cr_expect(cJSON_IsString(peer) && !strcmp(peer->valuestring, id), "a line about %s names it: %s", id, line);
        }
        cJSON_Delete(j);
    }
    cr_expect_geq(about, 3, "starting, running and stopped (%d lines)", lines);
    free(log);
    free(id);
}

Test(logs, text_lines_begin_with_their_time, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *id = traffic(d);
    char *log = NULL;
    cr_assert_eq(peerd_stop_with_log(d, &log), 0);
    int lines = 0;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
        lines++;
        char when[32] = "";
        const char *sp = strchr(line, ' ');
        cr_assert(sp && sp - line < (long)sizeof when, "%s", line);
        memcpy(when, line, (size_t)(sp - line));
        cr_expect(rfc3339(when) && !strncmp(sp, " peerd: ", 8), "time, then peerd: %s", line);
        cr_expect(!strstr(line, "Closing connection"), "a client that went away is not logged: %s", line);
    }
    cr_expect_geq(lines, 3);
    free(log);
    free(id);
}

Test(logs, an_unknown_format_is_refused)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s --log-format xml 2>&1", PEERD_BIN);
    FILE *p = popen(cmd, "r");
    char out[256] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int st = pclose(p);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2, "exit 2");
    cr_expect(strstr(out, "--log-format must be text or json") != NULL, "%s", out);
}

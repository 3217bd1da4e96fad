/*
 * metrics.c — GET /metrics is Prometheus text (every line parses), and its
 * counters move with what peerd does.
 */
#include <criterion/criterion.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* The value of a sample line "name{labels} value" (labels as written), or -1. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, series, n) && p[n] == ' ') return atof(p + n + 1);
    return -1;
}

static char *metrics(peerd *d)
{
    resp *r = http(d, "GET", "/metrics", NULL);
    cr_assert_eq(r->status, 200);
    cr_expect(!strncmp(r->ctype, "text/plain; version=0.0.4", 25), "%s", r->ctype);
    char *t = strdup(r->body);
    resp_free(r);
    return t;
}

Test(metrics, prometheus_text_whose_counters_move, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *before = metrics(d);
    regex_t sample_re, help_re;
    cr_assert_eq(regcomp(&sample_re, "^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"[^\"]*\"(,[a-zA-Z_][a-zA-Z0-9_]*=\"[^\"]*\")*\\})? (-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|\\+Inf|NaN)$", REG_EXTENDED), 0);
    cr_assert_eq(regcomp(&help_re, "^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped))$", REG_EXTENDED), 0);
    char *copy = strdup(before), *save = NULL;
    int lines = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save), lines++)
        cr_expect(!regexec(line[0] == '#' ? &help_re : &sample_re, line, 0, NULL, 0), "not Prometheus text: %s", line);
    free(copy);
    cr_expect_gt(lines, 20);

    char *id = start_peer(d, "{}");
    resp_free(call(d, id, "erlang", "node", "[]"));
    resp_free(call(d, id, "erlang", "node", "[]"));
    resp_free(call(d, id, "erlang", "throw", "\"[x]\""));
    resp_free(call(d, id, "io", "format", "\"[user, \\\"12345\\\", []]\""));
    char *after = metrics(d);
    cr_expect_eq(sample(after, "peerd_peer_starts_total") - sample(before, "peerd_peer_starts_total"), 1);
    cr_expect_eq(sample(after, "peerd_peers{state=\"running\"}"), 1);
    cr_expect_eq(sample(after, "peerd_calls_total{outcome=\"ok\"}"), 3, "%s", after);
    cr_expect_eq(sample(after, "peerd_calls_total{outcome=\"exception\"}"), 1);
    cr_expect_eq(sample(after, "peerd_call_seconds_count"), 4);
    cr_expect_eq(sample(after, "peerd_call_seconds_bucket{le=\"+Inf\"}"), 4);
    cr_expect_eq(sample(after, "peerd_boot_seconds_count"), 1);
    cr_expect_geq(sample(after, "peerd_console_bytes_total"), 5);
    cr_expect_gt(sample(after, "peerd_http_requests_total{status=\"200\"}"), sample(before, "peerd_http_requests_total{status=\"200\"}"));
    cr_expect_eq(sample(after, "peerd_http_requests_total{status=\"422\"}"), 1);
    cr_expect_eq(sample(after, "peerd_open_streams"), 0);
    regfree(&sample_re);
    regfree(&help_re);
    free(before);
    free(after);
    free(id);
    peerd_stop(d);
}

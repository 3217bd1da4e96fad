/*
 * vitals.c — what a node uses, on request: GET /peers/{id}?vitals=1,
 * GET /peers?vitals=1 and /metrics?vitals=SELECTOR, against real nodes (a
 * thousand processes spawned show in the count; a node behind a wrapper
 * that forks is not "on this host"; a stopped node times out).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const cJSON *vitals_of(const resp *r)
{
    return cJSON_GetObjectItem(r->json, "vitals");
}

static double num(const cJSON *o, const char *path1, const char *path2)
{
    const cJSON *x = cJSON_GetObjectItem(o, path1);
    if (path2) x = cJSON_GetObjectItem(x, path2);
    cr_assert(cJSON_IsNumber(x), "%s.%s: %s", path1, path2 ? path2 : "", cJSON_PrintUnformatted(o));
    return x->valuedouble;
}

static resp *get_vitals(peerd *d, const char *id)
{
    char path[256];
    snprintf(path, sizeof path, "/peers/%s?vitals=1", id);
    resp *r = http(d, "GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    return r;
}

Test(vitals, a_running_node_says_what_it_uses, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{}");
    char path[256];
    snprintf(path, sizeof path, "/peers/%s", id);
    resp *plain = http(d, "GET", path, NULL);
    cr_expect(!cJSON_GetObjectItem(plain->json, "vitals"), "asked for nothing, the node is not asked: %s", plain->body);
    resp_free(plain);

    resp *r = get_vitals(d, id);
    const cJSON *v = vitals_of(r);
    cr_assert(cJSON_IsObject(v), "%s", r->body);
    cr_expect_gt(num(v, "memory", "total"), 1 << 20);
    cr_expect_gt(num(v, "memory", "processes"), 0);
    cr_expect_gt(num(v, "memory", "code"), 0);
    double procs = num(v, "processes", NULL);
    cr_expect_gt(procs, 10);
    cr_expect_geq(num(v, "run_queue", NULL), 0);
    double up = num(v, "uptime_ms", NULL);
    cr_expect_gt(up, 0);
    cr_expect_gt(num(v, "os", "resident_bytes"), 10 << 20, "a BEAM's resident memory");
    cr_expect_gt(num(v, "os", "cpu_seconds"), 0);
    resp_free(r);

    /* A thousand processes more, and the figures are the node's. */
    resp_free(node_eval(d, id, "[spawn(timer, sleep, [60000]) || _ <- lists:seq(1, 1000)], ok", false));
    r = get_vitals(d, id);
    v = vitals_of(r);
    cr_expect_geq(num(v, "processes", NULL), procs + 1000, "%s", r->body);
    cr_expect_gt(num(v, "uptime_ms", NULL), up);
    resp_free(r);
    free(id);
    peerd_stop(d);
}

Test(vitals, the_list_asks_every_running_peer_and_says_why_not_for_the_others, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *a = start_peer(d, "{}");
    char *b = start_peer(d, "{\"peer_down\":\"continue\"}");
    resp_free(node_eval(d, b, "erlang:halt(3)", true));
    resp_free(wait_state(d, b, "down", 10000));
    resp *r = http(d, "GET", "/peers?vitals=1", NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    const cJSON *peers = cJSON_GetObjectItem(r->json, "peers");
    cr_assert_eq(cJSON_GetArraySize(peers), 2, "%s", r->body);
    for (int i = 0; i < 2; i++) {
        const cJSON *p = cJSON_GetArrayItem(peers, i);
        const char *id = field(p, "id");
        if (!strcmp(id, a)) {
            cr_expect(cJSON_IsObject(cJSON_GetObjectItem(p, "vitals")), "%s", r->body);
            cr_expect(cJSON_IsNull(cJSON_GetObjectItem(p, "vitals_error")) || !cJSON_GetObjectItem(p, "vitals_error"));
        } else {
            cr_expect(cJSON_IsNull(cJSON_GetObjectItem(p, "vitals")), "%s", r->body);
            cr_expect_str_eq(field(p, "vitals_error"), "not_running");
        }
    }
    resp_free(r);
    r = http(d, "GET", "/peers?vitals=maybe", NULL);
    cr_expect_eq(r->status, 400);
    cr_expect(strstr(r->body, "vitals"), "%s", r->body);
    resp_free(r);
    free(a);
    free(b);
    peerd_stop(d);
}

Test(vitals, a_node_elsewhere_has_no_os_figures_and_a_stopped_one_times_out, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    /* bash runs erl as its child: the node is not peerd's own, as one
     * through ssh or in a container is not. */
    char *id = start_peer(d, "{\"exec\":[\"/bin/bash\",\"-c\",\"erl\"],\"post_process_args\":[\"-c\",\"erl {args}; exit $?\"]}");
    resp *r = get_vitals(d, id);
    const cJSON *v = vitals_of(r);
    cr_assert(cJSON_IsObject(v), "%s", r->body);
    cr_expect_gt(num(v, "processes", NULL), 10);
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(v, "os")), "%s", r->body);
    resp_free(r);

    char *still = start_peer(d, "{}");
    resp_free(get_vitals(d, still));    /* booted whole: os_pid is the node's */
    pid_t pid = os_pid_of(d, still);
    cr_assert_gt(pid, 0);
    kill(pid, SIGSTOP);
    double t0 = now_s();
    r = get_vitals(d, still);
    double took = now_s() - t0;
    cr_expect(cJSON_IsNull(vitals_of(r)), "%s", r->body);
    cr_expect_str_eq(field(r->json, "vitals_error"), "timeout");
    cr_expect(took > 1.5 && took < 4, "took %.2f s (2 s to answer)", took);
    resp_free(r);
    kill(pid, SIGCONT);
    free(id);
    free(still);
    peerd_stop(d);
}

Test(vitals, metrics_export_them_for_the_peers_a_selector_picks, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *a = start_peer(d, "{\"labels\":{\"watch\":\"yes\"}}");
    char *b = start_peer(d, "{}");
    resp *r = http(d, "GET", "/metrics?vitals=watch%3Dyes", NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    char line[256];
    snprintf(line, sizeof line, "\npeerd_node_up{peer=\"%s\"} 1\n", a);
    cr_expect(strstr(r->body, line), "%s", r->body);
    snprintf(line, sizeof line, "\npeerd_node_memory_bytes{peer=\"%s\",type=\"total\"} ", a);
    cr_expect(strstr(r->body, line), "%s", r->body);
    snprintf(line, sizeof line, "\npeerd_node_resident_memory_bytes{peer=\"%s\"} ", a);
    cr_expect(strstr(r->body, line));
    snprintf(line, sizeof line, "peer=\"%s\"", b);
    cr_expect(!strstr(r->body, line), "the selector picked %s only", a);
    resp_free(r);
    /* Without vitals=, no node is asked. */
    r = http(d, "GET", "/metrics", NULL);
    cr_expect(!strstr(r->body, "peerd_node_"), "no vitals unless asked");
    resp_free(r);
    r = http(d, "GET", "/metrics?vitals=", NULL);
    cr_expect_eq(r->status, 400);
    cr_expect(strstr(r->body, "\"vitals: empty"), "the error names the parameter: %s", r->body);
    resp_free(r);
    free(a);
    free(b);
    peerd_stop(d);
}

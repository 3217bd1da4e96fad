/*
 * groups.c — orchestrating many nodes, against real erl nodes:
 * labels and selectors, a group of 20 started, multicalled and deleted by
 * selector; multicall outcomes (not_found, exception, timeout); a 3-node
 * cluster made, seen as a full mesh, split with erlang:disconnect_node and
 * seen split; a module compiled by erlc here, loaded and called, reloaded,
 * loaded on a group; eval; a batch of 10,000 calls answered in order,
 * a batch's calls in flight, as many at once as its connection takes.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static const cJSON *item(const resp *r, const char *key, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r->json, key), i);
}

static int count_of(const resp *r, const char *key)
{
    return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r->json, key));
}

Test(groups, labels_select_multicall_and_delete_a_group_of_20, .timeout = 240)
{
    peerd *d = peerd_start(NULL);
    char opts[256];
    /* Started without waiting for each boot: 20 nodes boot side by side. */
    for (int i = 0; i < 20; i++) {
        snprintf(opts, sizeof opts, "{\"labels\":{\"job\":\"1234\",\"role\":\"%s\"},\"wait_boot\":false}", i % 2 ? "db" : "web");
        resp *r = http(d, "POST", "/peers", opts);
        cr_assert_eq(r->status, 202, "%s", r->body);
        cr_assert_str_eq(field(cJSON_GetObjectItemCaseSensitive(r->json, "labels"), "job"), "1234", "%s", r->body);
        resp_free(r);
    }
    char *other = start_peer(d, "{\"labels\":{\"job\":\"99\"}}");
    char *bare = start_peer(d, "{}");

    resp *r = http(d, "GET", "/peers?selector=job=1234", NULL);
    cr_assert_eq(count_of(r, "peers"), 20, "%s", r->body);
    for (int i = 0; i < 20; i++) {
        resp *w = wait_state(d, field(item(r, "peers", i), "id"), "running", 30000);
        cr_assert_eq(w->status, 200, "%s", w->body);
        resp_free(w);
    }
    resp_free(r);
    r = http(d, "GET", "/peers?selector=job%3D%3D1234,role!%3Ddb", NULL);   /* ==, != */
    cr_assert_eq(count_of(r, "peers"), 10, "%s", r->body);
    resp_free(r);
    r = http(d, "GET", "/peers?selector=!job", NULL);
    cr_assert_eq(count_of(r, "peers"), 1, "%s", r->body);
    cr_assert_str_eq(field(item(r, "peers", 0), "id"), bare);
    resp_free(r);
    r = http(d, "GET", "/peers?selector=job", NULL);
    cr_assert_eq(count_of(r, "peers"), 21, "%s", r->body);
    resp_free(r);
    r = http(d, "GET", "/peers?selector=job%20in%20(99,%201234)", NULL);   /* sets, as Kubernetes has */
    cr_assert_eq(count_of(r, "peers"), 21, "%s", r->body);
    resp_free(r);
    r = http(d, "GET", "/peers?selector=role%20notin%20(db),job%20in%20(1234)", NULL);
    cr_assert_eq(count_of(r, "peers"), 10, "%s", r->body);
    resp_free(r);
    r = http(d, "GET", "/peers?selector=role%20notin%20(db)", NULL);       /* absent is none of them */
    cr_assert_eq(count_of(r, "peers"), 12, "%s", r->body);
    resp_free(r);
    r = http(d, "GET", "/peers?selector=*", NULL);
    cr_assert_eq(count_of(r, "peers"), 22, "%s", r->body);
    resp_free(r);

    /* Every node answers, each with its own os pid. */
    r = http(d, "POST", "/calls", "{\"selector\":\"job=1234\",\"module\":\"os\",\"function\":\"getpid\"}");
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_assert_eq(count_of(r, "results"), 20, "%s", r->body);
    for (int i = 0; i < 20; i++) {
        const cJSON *o = item(r, "results", i);
        cr_assert_str_eq(field(o, "outcome"), "ok", "%s", r->body);
        char path[128];
        snprintf(path, sizeof path, "/peers/%s", field(o, "peer"));
        resp *p = http(d, "GET", path, NULL);
        char pid[32];
        snprintf(pid, sizeof pid, "\"%d\"", (int)jnum(p, "os_pid"));
        cr_assert_str_eq(field(o, "result"), pid, "%s vs %s", field(o, "result"), pid);
        resp_free(p);
    }
    resp_free(r);
    /* A cast to the group: each node sets an environment value we then find. */
    r = http(d, "POST", "/casts", "{\"selector\":\"role=db\",\"module\":\"application\",\"function\":\"set_env\","
                                  "\"args\":\"[kernel, peerd_mark, yes]\"}");
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_assert_eq(count_of(r, "results"), 10, "%s", r->body);
    resp_free(r);
    for (int tries = 0;; tries++) {
        r = http(d, "POST", "/calls", "{\"selector\":\"job=1234\",\"module\":\"application\",\"function\":\"get_env\",\"args\":\"[kernel, peerd_mark]\"}");
        int marked = 0;
        for (int i = 0; i < 20; i++) marked += strcmp(field(item(r, "results", i), "result"), "undefined") != 0;
        resp_free(r);
        if (marked == 10) break;
        cr_assert(tries < 50, "%d of 10 db nodes ran the cast", marked);
        usleep(100000);
    }

    /* Events carry the labels. */
    r = http(d, "GET", "/events?follow=0", NULL);
    cr_assert(strstr(r->body, "\"labels\":{\"job\":\"1234\",\"role\":\"db\"}"), "%.300s", r->body);
    resp_free(r);

    /* The one-line cleanup: every peer of the job stopped and answered. */
    r = http(d, "DELETE", "/peers?selector=job=1234", NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_assert_eq(count_of(r, "peers"), 20, "%s", r->body);
    for (int i = 0; i < 20; i++) {
        const cJSON *p = item(r, "peers", i);
        cr_assert_str_eq(field(p, "state"), "down", "%s", r->body);
        char path[128];
        snprintf(path, sizeof path, "/peers/%s", field(p, "id"));
        resp *g = http(d, "GET", path, NULL);
        cr_assert_eq(g->status, 410, "%s", g->body);
        resp_free(g);
    }
    resp_free(r);
    r = http(d, "GET", "/peers", NULL);
    cr_assert_eq(count_of(r, "peers"), 2, "%s", r->body);
    resp_free(r);
    r = http(d, "DELETE", "/peers?selector=job=1234", NULL);    /* nothing left to stop: said so */
    cr_assert_eq(r->status, 404, "%s", r->body);
    cr_assert_str_eq(jstr(r, "error"), "no_match", "%s", r->body);
    cr_assert_str_eq(jstr(r, "detail"), "selector \"job=1234\" picks no peer", "%s", r->body);
    resp_free(r);
    delete_peer(d, other);
    delete_peer(d, bare);
    free(other);
    free(bare);
    cr_assert_eq(peerd_stop(d), 0);
}

Test(groups, bad_labels_and_selectors, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    static const struct { const char *method, *path, *body, *code, *says; } cases[] = {
        { "POST", "/peers", "{\"labels\":{\"a b\":\"x\"}}", "invalid_arg", "labels.a b" },
        { "POST", "/peers", "{\"labels\":{\"k\":\"x,y\"}}", "invalid_arg", "labels.k" },
        { "POST", "/peers", "{\"labels\":{\"k\":1}}", "invalid_arg", "labels.k" },
        { "POST", "/peers", "{\"labels\":[\"k\"]}", "invalid_arg", "labels" },
        { "GET", "/peers?selector=a=b,,c", NULL, "invalid_selector", "selector" },
        { "GET", "/peers?selector=a=%3Cb%3E", NULL, "invalid_selector", "a=<b>" },
        { "DELETE", "/peers", NULL, "invalid_selector", "selector" },
        { "POST", "/calls", "{\"module\":\"erlang\",\"function\":\"node\"}", "invalid_arg", "peers" },
        { "POST", "/calls", "{\"selector\":\"a\",\"peers\":[],\"module\":\"erlang\",\"function\":\"node\"}", "invalid_arg", "one of them" },
        { "POST", "/calls", "{\"peers\":[],\"module\":\"erlang\",\"function\":\"node\"}", "invalid_arg", "peers: must be an array of 1 to" },
        { "GET", "/peers?selector=job%20in%20(a,b", NULL, "invalid_selector", "a '(' without its ')'" },
        { "GET", "/peers?selector=job%20in%20a,b", NULL, "invalid_selector", "\"job in a\": a set is written key in (v1,v2)" },
        { "POST", "/calls", "{\"peers\":[1],\"module\":\"erlang\",\"function\":\"node\"}", "invalid_arg", "peers[0]" },
        { "POST", "/calls", "{\"selector\":\"a\",\"module\":\"erlang\"}", "invalid_arg", "function" },
        { "POST", "/calls", "{\"selector\":\"a\",\"module\":\"erlang\",\"function\":\"node\",\"to\":1}", "invalid_arg", "unknown field: to" },
        { "PUT", "/modules/m", "x", "invalid_selector", "selector" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        resp *r = http(d, cases[i].method, cases[i].path, cases[i].body);
        cr_assert_eq(r->status, 400, "%s %s: %ld %s", cases[i].method, cases[i].path, r->status, r->body);
        cr_assert_str_eq(jstr(r, "error"), cases[i].code, "%s", r->body);
        cr_assert(strstr(jstr(r, "detail"), cases[i].says), "%s", r->body);
        resp_free(r);
    }
    cr_assert_eq(peerd_stop(d), 0);
}

/* An empty selector (an unset variable in a script) acts on nothing, on
 * every operation; "*" is how every peer is asked for; a selector that
 * picks nothing is 404 no_match where it would act. */
Test(groups, empty_selectors_refused_and_unmatched_ones_said, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *a = start_peer(d, "{\"labels\":{\"job\":\"a\"}}"), *b = start_peer(d, "{\"labels\":{\"job\":\"b\"}}");
    static const struct { const char *method, *path, *body; } empty[] = {
        { "DELETE", "/peers?selector=", NULL },
        { "DELETE", "/peers?selector=%20%20", NULL },
        { "GET", "/peers?selector=", NULL },
        { "PUT", "/modules/m?selector=", "x" },
        { "POST", "/calls", "{\"selector\":\"\",\"module\":\"erlang\",\"function\":\"halt\"}" },
        { "POST", "/casts", "{\"selector\":\" \",\"module\":\"erlang\",\"function\":\"halt\"}" },
    };
    for (size_t i = 0; i < sizeof empty / sizeof *empty; i++) {
        resp *r = http(d, empty[i].method, empty[i].path, empty[i].body);
        cr_assert_eq(r->status, 400, "%s %s: %ld %s", empty[i].method, empty[i].path, r->status, r->body);
        cr_assert_str_eq(jstr(r, "error"), "invalid_selector", "%s", r->body);
        cr_assert(strstr(jstr(r, "detail"), "empty, which would pick every peer; give \"*\""), "%s", r->body);
        resp_free(r);
    }
    resp *r = http(d, "GET", "/peers?selector=job", NULL);
    cr_assert_eq(count_of(r, "peers"), 2, "both still there: %s", r->body);
    for (int i = 0; i < 2; i++) cr_assert_str_eq(field(item(r, "peers", i), "state"), "running", "%s", r->body);
    resp_free(r);

    static const struct { const char *method, *path, *body; } none[] = {
        { "DELETE", "/peers?selector=job=c", NULL },
        { "PUT", "/modules/m?selector=job%20in%20(c,d)", "x" },
        { "POST", "/calls", "{\"selector\":\"job=a,job=b\",\"module\":\"erlang\",\"function\":\"node\"}" },
        { "POST", "/casts", "{\"selector\":\"jbo\",\"module\":\"erlang\",\"function\":\"node\"}" },
    };
    for (size_t i = 0; i < sizeof none / sizeof *none; i++) {
        r = http(d, none[i].method, none[i].path, none[i].body);
        cr_assert_eq(r->status, 404, "%s %s: %ld %s", none[i].method, none[i].path, r->status, r->body);
        cr_assert_str_eq(jstr(r, "error"), "no_match", "%s", r->body);
        cr_assert(strstr(jstr(r, "detail"), "picks no peer"), "%s", r->body);
        resp_free(r);
    }
    r = http(d, "GET", "/peers?selector=job=c", NULL);      /* a list that finds nothing is a list */
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_assert_eq(count_of(r, "peers"), 0, "%s", r->body);
    resp_free(r);

    r = http(d, "POST", "/calls", "{\"selector\":\"*\",\"module\":\"erlang\",\"function\":\"node\"}");
    cr_assert_eq(count_of(r, "results"), 2, "%s", r->body);
    resp_free(r);
    r = http(d, "DELETE", "/peers?selector=*", NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_assert_eq(count_of(r, "peers"), 2, "%s", r->body);
    resp_free(r);
    free(a);
    free(b);
    cr_assert_eq(peerd_stop(d), 0);
}

Test(groups, multicall_outcomes, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *a = start_peer(d, "{}"), *b = start_peer(d, "{}");
    char body[512];
    snprintf(body, sizeof body, "{\"peers\":[\"%s\",\"nope\",\"%s\"],\"module\":\"lists\",\"function\":\"nth\",\"args\":[1,[7]]}", a, b);
    resp *r = http(d, "POST", "/calls", body);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_assert_str_eq(field(item(r, "results", 0), "outcome"), "ok", "%s", r->body);
    cr_assert_str_eq(field(item(r, "results", 0), "peer"), a);
    cr_assert_str_eq(field(item(r, "results", 1), "outcome"), "error", "%s", r->body);
    cr_assert_str_eq(field(item(r, "results", 1), "code"), "not_found", "%s", r->body);
    cr_assert_str_eq(field(item(r, "results", 2), "result"), "7", "%s", r->body);
    resp_free(r);
    /* All sent before any is awaited: two 1.5 s sleeps take 1.5 s, not 3. */
    snprintf(body, sizeof body, "{\"peers\":[\"%s\",\"%s\"],\"module\":\"timer\",\"function\":\"sleep\",\"args\":[1500]}", a, b);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = http(d, "POST", "/calls", body);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_assert_str_eq(field(item(r, "results", 1), "outcome"), "ok", "%s", r->body);
    cr_assert(took < 2.9, "two sleeps of 1.5 s took %.2f s: not sent together", took);
    resp_free(r);
    snprintf(body, sizeof body, "{\"peers\":[\"%s\",\"%s\"],\"module\":\"erlang\",\"function\":\"error\",\"args\":[\"boom\"]}", a, b);
    r = http(d, "POST", "/calls", body);
    cr_assert_str_eq(field(item(r, "results", 0), "outcome"), "exception", "%s", r->body);
    cr_assert_str_eq(field(item(r, "results", 0), "class"), "error", "%s", r->body);
    cr_assert_str_eq(field(item(r, "results", 0), "reason"), "<<\"boom\">>", "%s", r->body);
    resp_free(r);
    snprintf(body, sizeof body, "{\"peers\":[\"%s\"],\"module\":\"timer\",\"function\":\"sleep\",\"args\":[3000],\"timeout_ms\":100}", a);
    r = http(d, "POST", "/calls", body);
    cr_assert_str_eq(field(item(r, "results", 0), "outcome"), "timeout", "%s", r->body);
    resp_free(r);
    delete_peer(d, a);
    delete_peer(d, b);
    free(a);
    free(b);
    cr_assert_eq(peerd_stop(d), 0);
}

static bool full_mesh(peerd *d, const char *name, char **body)
{
    char path[128];
    snprintf(path, sizeof path, "/clusters/%s", name);
    resp *r = http(d, "GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    bool full = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->json, "full_mesh"));
    if (body) *body = strdup(r->body);
    resp_free(r);
    return full;
}

Test(groups, cluster_made_split_and_joined, .timeout = 180)
{
    peerd *d = peerd_start(NULL);
    const char *c = unique_name("c");
    char opts[256], *id[4];
    /* Three booting at once still meet (the second over TCP). */
    for (int i = 0; i < 3; i++) {
        char o[300];
        snprintf(o, sizeof o, "{\"cluster\":\"%s\",\"wait_boot\":false%s}", c, i == 1 ? ",\"connection\":0" : "");
        resp *r = http(d, "POST", "/peers", o);
        cr_assert_eq(r->status, 202, "%s", r->body);
        id[i] = strdup(jstr(r, "id"));
        cr_assert_str_eq(jstr(r, "cluster"), c, "%s", r->body);
        resp_free(r);
    }
    /* Booting members are not a mesh yet. */
    char *body;
    cr_assert(!full_mesh(d, c, &body), "%s", body);
    cr_assert(strstr(body, "\"state\":\"booting\""), "%s", body);
    free(body);
    for (int i = 0; i < 3; i++) resp_free(wait_state(d, id[i], "running", 30000));
    cr_assert(full_mesh(d, c, &body), "%s", body);
    free(body);
    /* The cookie is the cluster's, never the command line's. */
    char path[256];
    snprintf(path, sizeof path, "/peers/%s", id[0]);
    resp *r = http(d, "GET", path, NULL);
    cr_assert(!strstr(r->body, "setcookie"), "%s", r->body);
    resp_free(r);

    /* A partition: the first member drops the second. */
    char node1[256];
    snprintf(path, sizeof path, "/peers/%s", id[1]);
    r = http(d, "GET", path, NULL);
    snprintf(node1, sizeof node1, "%s", jstr(r, "node"));
    resp_free(r);
    char call[512];
    snprintf(call, sizeof call, "{\"module\":\"erlang\",\"function\":\"disconnect_node\",\"args\":[{\"$atom\":\"%s\"}]}", node1);
    snprintf(path, sizeof path, "/peers/%s/call", id[0]);
    r = http(d, "POST", path, call);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_assert_str_eq(jstr(r, "result"), "true", "%s", r->body);
    resp_free(r);
    cr_assert(!full_mesh(d, c, &body), "still a full mesh after the split: %s", body);
    cJSON *j = cJSON_Parse(body);
    const cJSON *m0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "members"), 0);
    const cJSON *seen = cJSON_GetObjectItemCaseSensitive(m0, "connected");
    cr_assert(cJSON_IsArray(seen), "%s", body);
    for (const cJSON *n = seen->child; n; n = n->next) cr_assert_str_neq(n->valuestring, node1, "%s", body);
    cJSON_Delete(j);
    free(body);

    /* A fourth member (over distribution: its handshake with peerd uses the
     * cluster's cookie too) is connected to every member before it runs. */
    snprintf(opts, sizeof opts, "{\"cluster\":\"%s\",\"connection\":\"distribution\"}", c);
    id[3] = start_peer(d, opts);
    full_mesh(d, c, &body);
    j = cJSON_Parse(body);
    const cJSON *m3 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "members"), 3);
    cr_assert_str_eq(field(m3, "id"), id[3], "%s", body);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(m3, "connected")), 3, "%s", body);
    cJSON_Delete(j);
    free(body);

    /* A member whose node went down (kept, peer_down "continue") is not meshed. */
    snprintf(opts, sizeof opts, "{\"cluster\":\"%s\",\"peer_down\":\"continue\"}", c);
    char *gone = start_peer(d, opts);
    peer_cast(d, gone, "erlang", "halt", "[]");
    resp_free(wait_state(d, gone, "down", 10000));
    cr_assert(!full_mesh(d, c, &body), "%s", body);
    cr_assert(strstr(body, "\"state\":\"down\""), "%s", body);
    free(body);
    delete_peer(d, gone);
    free(gone);

    /* Another cookie does not fit the cluster. */
    snprintf(opts, sizeof opts, "{\"cluster\":\"%s\",\"cookie\":\"other\"}", c);
    r = http(d, "POST", "/peers", opts);
    cr_assert_eq(r->status, 409, "%s", r->body);
    cr_assert_str_eq(jstr(r, "error"), "cluster_conflict", "%s", r->body);
    resp_free(r);
    r = http(d, "GET", "/clusters", NULL);
    cr_assert(strstr(r->body, "\"members\":4"), "%s", r->body);
    resp_free(r);
    snprintf(path, sizeof path, "/peers?cluster=%s", c);
    r = http(d, "GET", path, NULL);
    cr_assert_eq(count_of(r, "peers"), 4, "%s", r->body);
    resp_free(r);
    for (int i = 0; i < 4; i++) { delete_peer(d, id[i]); free(id[i]); }
    r = http(d, "GET", "/clusters/nope", NULL);
    cr_assert_eq(r->status, 404, "%s", r->body);
    resp_free(r);
    cr_assert_eq(peerd_stop(d), 0);
}

/* erlc compiles NAME.erl holding src into a temporary directory; returns
 * the .beam's bytes. */
static char *compile(const char *name, const char *src, size_t *len)
{
    char dir[] = "/tmp/peerd-erlc-XXXXXX";
    cr_assert(mkdtemp(dir));
    char path[256], cmd[600];
    snprintf(path, sizeof path, "%s/%s.erl", dir, name);
    FILE *f = fopen(path, "w");
    fputs(src, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "erlc -o %s %s", dir, path);
    cr_assert_eq(system(cmd), 0, "erlc failed");
    snprintf(path, sizeof path, "%s/%s.beam", dir, name);
    char *beam = slurp(path, len);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    return beam;
}

Test(groups, modules_compiled_loaded_and_called, .timeout = 120)
{
    peerd *d = peerd_start(NULL);
    char *a = start_peer(d, "{\"labels\":{\"code\":\"yes\"}}"), *b = start_peer(d, "{\"labels\":{\"code\":\"yes\"}}");
    size_t n1, n2;
    char *v1 = compile("peerd_under_test", "-module(peerd_under_test).\n-export([v/0]).\nv() -> {version, 1}.\n", &n1);
    char *v2 = compile("peerd_under_test", "-module(peerd_under_test).\n-export([v/0]).\nv() -> {version, 2}.\n", &n2);
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/modules/peerd_under_test", a);
    resp *r = http_body(d, "PUT", path, v1, n1, "application/octet-stream", NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_assert_eq(jnum(r, "bytes"), (double)n1);
    resp_free(r);
    r = call(d, a, "peerd_under_test", "v", "[]");
    cr_assert_str_eq(jstr(r, "result"), "{version,1}", "%s", r->body);
    resp_free(r);
    /* Loaded again and again (purged each time, as l/1 does). */
    for (int i = 0; i < 3; i++) {
        r = http_body(d, "PUT", path, i % 2 ? v1 : v2, i % 2 ? n1 : n2, "application/octet-stream", NULL);
        cr_assert_eq(r->status, 200, "%s", r->body);
        resp_free(r);
    }
    r = call(d, a, "peerd_under_test", "v", "[]");
    cr_assert_str_eq(jstr(r, "result"), "{version,2}", "%s", r->body);
    resp_free(r);
    /* What the node would answer with a bare badfile, said exactly. */
    snprintf(path, sizeof path, "/peers/%s/modules/other_name", a);
    char shown[160];
    snprintf(shown, sizeof shown, "the .beam is cut short: its header says %zu bytes, the body has %zu", n1, n1 - 10);
    const struct { const void *code; size_t len; const char *detail; } bad[] = {
        { v1, n1, "the .beam is module peerd_under_test, not other_name (the path names the module it loads)" },
        { v1, n1 - 10, shown },
        { "not a beam at all", 17, "the body is not a .beam file (one begins with FOR1, its size, BEAM)" },
        { "", 0, "the body must be the module's code (a .beam file, as erlc writes it)" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        r = http_body(d, "PUT", path, bad[i].code, bad[i].len, "application/octet-stream", NULL);
        cr_assert_eq(r->status, 400, "%s", r->body);
        cr_assert_str_eq(jstr(r, "error"), "invalid_arg", "%s", r->body);
        cr_assert_str_eq(jstr(r, "detail"), bad[i].detail, "%s", r->body);
        resp_free(r);
    }
    /* What only the node can judge: its answer, named. */
    size_t n3;
    char *v3 = compile("peerd_on_load", "-module(peerd_on_load).\n-on_load(init/0).\ninit() -> nope.\n", &n3);
    snprintf(path, sizeof path, "/peers/%s/modules/peerd_on_load", a);
    r = http_body(d, "PUT", path, v3, n3, "application/octet-stream", NULL);
    cr_assert_eq(r->status, 422, "%s", r->body);
    cr_assert_str_eq(jstr(r, "error"), "load_failed", "%s", r->body);
    cr_assert(strstr(jstr(r, "detail"), "on_load_failure"), "%s", r->body);
    resp_free(r);
    memset(v3 + n3 / 2, 0xff, n3 - n3 / 2);         /* the right name, broken chunks */
    r = http_body(d, "PUT", path, v3, n3, "application/octet-stream", NULL);
    cr_assert_eq(r->status, 422, "%s", r->body);
    cr_assert(strstr(jstr(r, "detail"), "badfile"), "%s", r->body);
    resp_free(r);
    free(v3);
    /* Path before body: a peer that is not here is the answer. */
    r = http_body(d, "PUT", "/peers/nobody/modules/m", "", 0, "application/octet-stream", NULL);
    cr_assert_eq(r->status, 404, "%s", r->body);
    resp_free(r);
    /* A group gets it at once. */
    r = http_body(d, "PUT", "/modules/peerd_under_test?selector=code=yes", v1, n1, "application/octet-stream", NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_assert_eq(count_of(r, "results"), 2, "%s", r->body);
    cr_assert_str_eq(field(item(r, "results", 1), "outcome"), "ok", "%s", r->body);
    resp_free(r);
    r = call(d, b, "peerd_under_test", "v", "[]");
    cr_assert_str_eq(jstr(r, "result"), "{version,1}", "%s", r->body);
    resp_free(r);
    free(v1);
    free(v2);
    delete_peer(d, a);
    delete_peer(d, b);
    free(a);
    free(b);
    cr_assert_eq(peerd_stop(d), 0);
}

Test(groups, eval, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *a = start_peer(d, "{}");
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/eval", a);
    resp *r = http(d, "POST", path, "{\"expr\":\"X = lists:seq(1,3), lists:sum(X).\"}");
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_assert_str_eq(jstr(r, "result"), "6", "%s", r->body);
    cr_assert_str_eq(field(cJSON_GetObjectItemCaseSensitive(r->json, "bindings"), "X"), "[1,2,3]", "%s", r->body);
    resp_free(r);
    /* No full stop, unicode, a fun. */
    r = http(d, "POST", path, "{\"expr\":\"F = fun(S) -> string:uppercase(S) end, F(\\\"h\\u00e9llo\\\")\"}");
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_assert_str_eq(jstr(r, "result"), "\"H\u00c9LLO\"", "%s", r->body);
    resp_free(r);
    /* Errors point at the user's own text, as they wrote it. */
    static const struct { const char *expr, *detail; } bad[] = {
        { "X = ,", "expr: line 1, column 5: syntax error before: ','" },
        { "\\\"open", "expr: line 1, column 1: unterminated string starting with \"open\"" },
        { "1 +", "expr: line 1, column 4: the expressions end before they are complete" },
        { "1,\\n  2 +", "expr: line 2, column 6: the expressions end before they are complete" },
        { "1 + .", "expr: line 1, column 5: syntax error before: '.'" },
        { "   ", "expr: line 1, column 4: the expressions end before they are complete" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"expr\":\"%s\"}", bad[i].expr);
        r = http(d, "POST", path, body);
        cr_assert_eq(r->status, 400, "%s", r->body);
        cr_assert_str_eq(jstr(r, "error"), "invalid_expr", "%s", r->body);
        cr_assert_str_eq(jstr(r, "detail"), bad[i].detail, "%s", r->body);
        resp_free(r);
    }
    /* A value nested past the decoder's limit names it, as /call does. */
    r = http(d, "POST", path, "{\"expr\":\"lists:foldl(fun(_, A) -> [A] end, [], lists:seq(1, 1000))\"}");
    cr_assert_eq(r->status, 502, "%s", r->body);
    cr_assert_str_eq(jstr(r, "error"), "bad_reply", "%s", r->body);
    cr_assert(strstr(jstr(r, "detail"), "nested deeper than 1000"), "%s", r->body);
    resp_free(r);
    r = http(d, "POST", path, "{\"expr\":\"1 / 0.\"}");
    cr_assert_eq(r->status, 422, "%s", r->body);
    cr_assert_str_eq(jstr(r, "reason"), "badarith", "%s", r->body);
    resp_free(r);
    r = http(d, "POST", path, "{\"expr\":\"timer:sleep(2000).\",\"timeout_ms\":100}");
    cr_assert_eq(r->status, 504, "%s", r->body);
    resp_free(r);
    r = http(d, "POST", path, "{\"expr\":1}");
    cr_assert_eq(r->status, 400, "%s", r->body);
    resp_free(r);
    delete_peer(d, a);
    free(a);
    cr_assert_eq(peerd_stop(d), 0);
}

static void batch_of(const char *connection)
{
    peerd *d = peerd_start(NULL);
    char opts[128];
    snprintf(opts, sizeof opts, "{\"connection\":%s}", connection);
    char *a = start_peer(d, opts);
    enum { N = 10000 };
    size_t cap = (size_t)N * 80 + 256, len = 0;
    char *body = malloc(cap);
    for (int i = 1; i <= N; i++) {
        if (i == 5000) len += (size_t)snprintf(body + len, cap - len, "not a call\n\n");
        /* Odd lines sleep a little: answers come out of order, and are written in order. */
        if (i % 1000 == 7) len += (size_t)snprintf(body + len, cap - len, "{\"module\":\"timer\",\"function\":\"sleep\",\"args\":[50]}\n");
        else len += (size_t)snprintf(body + len, cap - len, "{\"module\":\"erlang\",\"function\":\"abs\",\"args\":[%d]}\n", -i);
    }
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/calls", a);
    resp *r = http_body(d, "POST", path, body, len, "application/x-ndjson", NULL);
    cr_assert_eq(r->status, 200, "%.300s", r->body);
    cr_assert(strstr(r->ctype, "ndjson"), "%s", r->ctype);
    int n = 0, line = 0;
    for (char *p = r->body, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
        *nl = 0;
        cJSON *o = cJSON_Parse(p);
        cr_assert(o, "not JSON: %s", p);
        int at = (int)cJSON_GetObjectItemCaseSensitive(o, "line")->valuedouble;
        cr_assert_gt(at, line, "line %d after %d: out of order", at, line);
        line = at;
        const char *outcome = field(o, "outcome");
        if (n == 4999) {
            cr_assert_str_eq(outcome, "error", "%s", p);
            cr_assert_str_eq(field(o, "code"), "invalid_json", "%s", p);
        } else {
            int i = n < 4999 ? n + 1 : n;
            cr_assert_str_eq(outcome, "ok", "%s", p);
            char want[32];
            snprintf(want, sizeof want, "%d", i);
            cr_assert_str_eq(field(o, "result"), i % 1000 == 7 ? "ok" : want, "answer %d: %s", n, p);
        }
        cJSON_Delete(o);
        n++;
    }
    cr_assert_eq(n, N + 1, "%d answers", n);
    resp_free(r);
    free(body);
    /* The peer still serves single calls. */
    r = call(d, a, "erlang", "abs", "[-3]");
    cr_assert_str_eq(jstr(r, "result"), "3", "%s", r->body);
    resp_free(r);
    r = http_body(d, "POST", "/peers/nope/calls", "{}\n", 3, "application/x-ndjson", NULL);
    cr_assert_eq(r->status, 404, "%s", r->body);
    resp_free(r);
    delete_peer(d, a);
    free(a);
    cr_assert_eq(peerd_stop(d), 0);
}

/* A batch keeps as many calls in flight as its connection takes at once
 * (256 over standard_io, 1024 over TCP): with more lines than that, each
 * sleeping two seconds, the node is seen running that many at once (its
 * processes in timer:sleep/1, counted while the batch runs), never more. */
static void batch_window_of(const char *opts, int window)
{
    peerd *d = peerd_start(NULL);
    char *a = start_peer(d, opts);
    int calls = window + 50;
    char file[64];
    snprintf(file, sizeof file, "/tmp/peerd-batch-window-%d.ndjson", (int)getpid());
    FILE *f = fopen(file, "w");
    cr_assert(f);
    for (int i = 0; i < calls; i++) fputs("{\"module\":\"timer\",\"function\":\"sleep\",\"args\":[2000]}\n", f);
    fclose(f);
    char path[256], data[80], out[80];
    snprintf(path, sizeof path, "/peers/%s/calls", a);
    snprintf(data, sizeof data, "@%s", file);
    snprintf(out, sizeof out, "%s.out", file);
    const char *const args[] = { "-H", "Content-Type: application/x-ndjson", "--data-binary", data, NULL };
    pid_t curl = curl_spawn(d, path, out, args);
    int most = 0;
    for (double until = now_s() + 1.5; now_s() < until && most < window;) {
        resp *r = node_eval(d, a, "length([P || P <- processes(), process_info(P, current_function) =:= "
                                  "{current_function, {timer, sleep, 1}}])", false);
        int n = 0;
        cr_assert_eq(sscanf(jstr(r, "result") ? jstr(r, "result") : "", "{value,%d,", &n), 1, "%s", r->body);
        resp_free(r);
        if (n > most) most = n;
        usleep(50 * 1000);
    }
    cr_assert_eq(most, window, "%d calls seen running at once, not %d", most, window);
    cr_assert_eq(child_wait(curl, 10000), 0);
    size_t len = 0;
    char *body = slurp(out, &len);
    int answers = 0;
    for (const char *p = body; (p = strstr(p, "\"outcome\":\"ok\"")); p++) answers++;
    cr_assert_eq(answers, calls, "%d answers: %.300s", answers, body);
    free(body);
    unlink(file);
    unlink(out);
    delete_peer(d, a);
    free(a);
    cr_assert_eq(peerd_stop(d), 0);
}

Test(groups, batch_runs_256_calls_at_a_time_standard_io, .timeout = 60) { batch_window_of("{}", 256); }
Test(groups, batch_runs_1024_calls_at_a_time_tcp, .timeout = 60) { batch_window_of("{\"connection\":0}", 1024); }

/* Long answer lines (made off the loop, handed to the response without a
 * copy once what is before them is taken) between short ones: every line
 * whole and in order. */
Test(groups, batch_long_answers_between_short_ones, .timeout = 120)
{
    peerd *d = peerd_start(NULL);
    char *a = start_peer(d, "{}");
    const char *body = "{\"module\":\"erlang\",\"function\":\"abs\",\"args\":[-1]}\n"
                       "{\"module\":\"lists\",\"function\":\"seq\",\"args\":[1,300000]}\n"
                       "{\"module\":\"erlang\",\"function\":\"abs\",\"args\":[-2]}\n"
                       "{\"module\":\"lists\",\"function\":\"seq\",\"args\":[1,300001]}\n"
                       "{\"module\":\"lists\",\"function\":\"seq\",\"args\":[1,300002]}\n"
                       "{\"module\":\"erlang\",\"function\":\"abs\",\"args\":[-3]}\n";
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/calls", a);
    resp *r = http_body(d, "POST", path, body, strlen(body), "application/x-ndjson", NULL);
    cr_assert_eq(r->status, 200, "%.300s", r->body);
    const char *want[] = { "1", NULL, "2", NULL, NULL, "3" };
    const int len[] = { 0, 300000, 0, 300001, 300002, 0 };
    int n = 0;
    for (char *p = r->body, *nl; (nl = strchr(p, '\n')); p = nl + 1, n++) {
        *nl = 0;
        cr_assert_lt(n, 6, "six lines");
        cJSON *o = cJSON_Parse(p);
        cr_assert(o, "line %d is not JSON (%zu bytes)", n + 1, strlen(p));
        cr_assert_eq((int)cJSON_GetObjectItemCaseSensitive(o, "line")->valuedouble, n + 1);
        if (want[n]) {
            cr_assert_str_eq(field(o, "result"), want[n]);
        } else {
            cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "value");
            cr_assert_eq(cJSON_GetArraySize(v), len[n], "line %d: the whole list", n + 1);
            cr_assert_eq(cJSON_GetArrayItem(v, len[n] - 1)->valuedouble, (double)len[n]);
        }
        cJSON_Delete(o);
    }
    cr_assert_eq(n, 6, "%d lines", n);
    resp_free(r);
    delete_peer(d, a);
    free(a);
    cr_assert_eq(peerd_stop(d), 0);
}

Test(groups, batch_of_10000_calls_in_order_standard_io, .timeout = 180) { batch_of("\"standard_io\""); }
Test(groups, batch_of_10000_calls_in_order_tcp, .timeout = 180) { batch_of("0"); }
Test(groups, batch_of_10000_calls_in_order_distribution, .timeout = 180) { batch_of("\"distribution\",\"name\":\"batch10k\""); }

/* The node halts in the middle of a batch, with a window of calls in flight
 * (over TCP and distribution peerd then pauses its reads of the socket
 * between bursts of replies, conn.h): every line is answered, in order, ok
 * before the halt, else noconnection (or gone, once the peer is removed
 * with its node); the response ends. */
static void batch_node_halts_of(const char *opts)
{
    peerd *d = peerd_start(NULL);
    char *a = start_peer(d, opts);
    enum { N = 3000, HALT = 1500 };
    size_t cap = (size_t)N * 80, len = 0;
    char *body = malloc(cap);
    for (int i = 1; i <= N; i++)
        len += (size_t)snprintf(body + len, cap - len, i == HALT ? "{\"module\":\"erlang\",\"function\":\"halt\"}\n"
                                                                 : "{\"module\":\"erlang\",\"function\":\"abs\",\"args\":[%d]}\n", -i);
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/calls", a);
    resp *r = http_body(d, "POST", path, body, len, "application/x-ndjson", NULL);
    cr_assert_eq(r->status, 200, "%.300s", r->body);
    int n = 0, ok = 0;
    for (char *p = r->body, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
        *nl = 0;
        cJSON *o = cJSON_Parse(p);
        cr_assert(o, "not JSON: %s", p);
        cr_assert_eq((int)cJSON_GetObjectItemCaseSensitive(o, "line")->valuedouble, ++n, "%s", p);
        if (!strcmp(field(o, "outcome"), "ok")) {
            cr_assert_lt(n, HALT, "line %d answered after the halt: %s", n, p);
            char want[32];
            snprintf(want, sizeof want, "%d", n);
            cr_assert_str_eq(field(o, "result"), want, "%s", p);
            ok++;
        } else {
            const char *code = field(o, "code");
            cr_assert(!strcmp(code, "noconnection") || !strcmp(code, "gone"), "line %d: %s", n, p);
            cr_assert(n >= HALT - 1024, "line %d failed though the node was running its calls: %s", n, p);
        }
        cJSON_Delete(o);
    }
    cr_assert_eq(n, N, "%d lines answered", n);
    cr_assert_gt(ok, 0, "no line answered before the halt");
    resp_free(r);
    free(body);
    snprintf(path, sizeof path, "/peers/%s", a);
    r = http(d, "GET", path, NULL);
    cr_assert_eq(r->status, 410, "the peer is gone with its node: %s", r->body);
    resp_free(r);
    free(a);
    cr_assert_eq(peerd_stop(d), 0);
}

/* A batch holds 300 calls in flight on the node (each sleeping 6 s), so
 * that reads of its socket may pause between bursts; meanwhile a call
 * prints 5000 lines, each an I/O request that waits for peerd's reply.
 * Reads must not pause while the node waits on peerd: paused, every line
 * would wait out a pause of 1 ms (5 s at least); read at once, the lines
 * take a fraction of a second. */
static void batch_leaves_io_flowing_of(const char *opts)
{
    peerd *d = peerd_start(NULL);
    char *a = start_peer(d, opts);
    char file[64], out[80], data[80], path[256];
    snprintf(file, sizeof file, "/tmp/peerd-batch-io-%d.ndjson", (int)getpid());
    FILE *f = fopen(file, "w");
    cr_assert(f);
    for (int i = 0; i < 300; i++) fputs("{\"module\":\"timer\",\"function\":\"sleep\",\"args\":[6000]}\n", f);
    fclose(f);
    snprintf(out, sizeof out, "%s.out", file);
    snprintf(data, sizeof data, "@%s", file);
    snprintf(path, sizeof path, "/peers/%s/calls", a);
    const char *const args[] = { "-H", "Content-Type: application/x-ndjson", "--data-binary", data, NULL };
    pid_t curl = curl_spawn(d, path, out, args);
    for (int seen = 0; seen < 300;) {     /* all 300 asleep on the node */
        resp *r = node_eval(d, a, "length([P || P <- processes(), process_info(P, current_function) =:= "
                                  "{current_function, {timer, sleep, 1}}])", false);
        cr_assert_eq(sscanf(jstr(r, "result") ? jstr(r, "result") : "", "{value,%d,", &seen), 1, "%s", r->body);
        resp_free(r);
        if (seen < 300) usleep(20 * 1000);
    }
    double t0 = now_s();
    resp *r = node_eval(d, a, "[io:format(\"line ~p~n\", [I]) || I <- lists:seq(1, 5000)], ok", false);
    double took = now_s() - t0;
    cr_assert_eq(r->status, 200, "%s", r->body);
    resp_free(r);
    cr_assert_lt(took, 3.0, "5000 lines printed in %.2f s while the batch ran", took);
    cr_assert_eq(child_wait(curl, 20000), 0);
    unlink(file);
    unlink(out);
    delete_peer(d, a);
    free(a);
    cr_assert_eq(peerd_stop(d), 0);
}

Test(groups, batch_leaves_the_nodes_io_flowing_tcp, .timeout = 90) { batch_leaves_io_flowing_of("{\"connection\":0}"); }
Test(groups, batch_leaves_the_nodes_io_flowing_distribution, .timeout = 90)
{
    batch_leaves_io_flowing_of("{\"connection\":\"distribution\",\"name\":\"iobatch\"}");
}

Test(groups, batch_whose_node_halts_tcp, .timeout = 120) { batch_node_halts_of("{\"connection\":0}"); }
Test(groups, batch_whose_node_halts_distribution, .timeout = 120) { batch_node_halts_of("{\"connection\":\"distribution\",\"name\":\"halts\"}"); }

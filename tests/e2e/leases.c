/*
 * leases.c — a peer tied to a client that renews a lease (PUT
 * /peers/{id}/lease), OTP's link for clients that cannot hold a connection:
 * an unrenewed lease stops its peer (lease_expired) and a renewed one keeps
 * it; a renewal without one is 400 no_lease, a new lease_ms shows in the
 * options; lease_expires_at is the same in a start's answer and a GET right
 * after, and null once down. (Over distribution: distribution::lease.)
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

Test(leases, an_unrenewed_lease_stops_its_peer_and_a_renewed_one_keeps_it, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *lapsed = start_peer(d, "{\"lease_ms\":1000}");
    char *kept = start_peer(d, "{\"lease_ms\":1000}");
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/lease", kept);
    for (int i = 0; i < 8; i++) {
        resp *r = http(d, "PUT", path, NULL);
        cr_expect_eq(r->status, 200, "%s", r->body);
        resp_free(r);
        usleep(300000);
    }
    resp *r = wait_state(d, lapsed, "down", 5000);
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(jstr(r, "down_reason"), "lease_expired");
    resp_free(r);
    snprintf(path, sizeof path, "/peers/%s", kept);
    r = http(d, "GET", path, NULL);
    cr_expect_str_eq(jstr(r, "state"), "running", "a renewed lease keeps its peer");
    resp_free(r);
    r = http(d, "GET", "/events?follow=0", NULL);
    char want[256];
    snprintf(want, sizeof want, "\"type\":\"lease_expired\",\"peer\":\"%s\"", lapsed);
    cr_expect(strstr(r->body, want), "%s", r->body);
    resp_free(r);
    free(kept);
    free(lapsed);
    peerd_stop(d);
}

Test(leases, renewal_sets_the_lease_and_a_down_peer_holds_none, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{\"peer_down\":\"continue\"}");
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/lease", id);
    resp *r = http(d, "PUT", path, "{}");
    cr_expect_eq(r->status, 400, "%s", r->body);
    cr_expect_str_eq(jstr(r, "error"), "no_lease");
    resp_free(r);
    r = http(d, "PUT", path, "{\"lease_ms\":60000}");
    cr_expect_eq(r->status, 200, "%s", r->body);
    cJSON *lease = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r->json, "options"), "lease_ms");
    cr_expect(cJSON_IsNumber(lease) && lease->valuedouble == 60000, "options follow the new lease: %s", r->body);
    cr_expect(jstr(r, "lease_expires_at"), "%s", r->body);
    resp_free(r);
    /* Down: no lease. */
    peer_cast(d, id, "erlang", "halt", "[]");
    resp_free(wait_state(d, id, "down", 10000));
    snprintf(path, sizeof path, "/peers/%s", id);
    r = http(d, "GET", path, NULL);
    cr_expect_str_eq(jstr(r, "state"), "down");
    cr_expect(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r->json, "lease_expires_at")), "a down peer holds no lease: %s", r->body);
    resp_free(r);
    delete_peer(d, id);
    free(id);

    /* The start's answer and a GET right after agree on when the lease ends. */
    r = http(d, "POST", "/peers", "{\"lease_ms\":60000}");
    cr_assert_eq(r->status, 201, "%s", r->body);
    char *started = strdup(jstr(r, "lease_expires_at"));
    snprintf(path, sizeof path, "/peers/%s", jstr(r, "id"));
    resp_free(r);
    r = http(d, "GET", path, NULL);
    cr_expect_str_eq(jstr(r, "lease_expires_at"), started, "%s", r->body);
    resp_free(r);
    free(started);
    peerd_stop(d);
}

/*
 * openapi.c — what openapi.yaml promises where it and peerd once
 * disagreed: a program that cannot be started
 * leaves created, boot_failed and removed events and a 410 tombstone; HEAD
 * is in Allow and passes where GET does; access_token counts on the GET
 * streams only; a follow=0 answer is not one of --max-streams.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

Test(openapi, a_program_that_cannot_start_leaves_a_tombstone, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    resp *r = http(d, "POST", "/peers", "{\"name\":\"nostart\",\"exec\":\"/nonexistent/erl\"}");
    cr_expect_eq(r->status, 502, "%s", r->body);
    resp_free(r);
    r = http(d, "GET", "/peers/nostart", NULL);
    cr_expect_eq(r->status, 410, "the id answers for what became of it: %s", r->body);
    cr_expect(strstr(r->body, "spawn_failed"), "%s", r->body);
    resp_free(r);
    r = http(d, "GET", "/events?follow=0", NULL);
    const char *created = strstr(r->body, "\"type\":\"created\",\"peer\":\"nostart\"");
    const char *failed = strstr(r->body, "\"type\":\"boot_failed\",\"peer\":\"nostart\"");
    const char *removed = strstr(r->body, "\"type\":\"removed\",\"peer\":\"nostart\"");
    cr_expect(created && failed && removed && created < failed && failed < removed, "created, boot_failed, removed: %s", r->body);
    resp_free(r);
    peerd_stop(d);
}

Test(openapi, head_and_the_token, .timeout = 60)
{
    char file[] = "/tmp/peerd-token-contract-XXXXXX";
    int fd = mkstemp(file);
    cr_assert_eq(write(fd, "contract-token\n", 15), 15);
    close(fd);
    const char *args[] = { "--token-file", file, NULL };
    peerd *d = peerd_start(args);
    resp *r = http(d, "HEAD", "/healthz", NULL);
    cr_expect_eq(r->status, 200, "HEAD /healthz as GET /healthz");
    resp_free(r);
    r = http(d, "PATCH", "/healthz", NULL);
    cr_expect_eq(r->status, 401);
    resp_free(r);
    /* access_token: on GET streams, not elsewhere. */
    r = http(d, "GET", "/events?follow=0&access_token=contract-token", NULL);
    cr_expect_eq(r->status, 200, "%s", r->body);
    resp_free(r);
    r = http(d, "GET", "/peers?access_token=contract-token", NULL);
    cr_expect_eq(r->status, 401, "not on a plain GET: %s", r->body);
    resp_free(r);
    r = http(d, "POST", "/peers?access_token=contract-token", "{}");
    cr_expect_eq(r->status, 401, "not on a POST: %s", r->body);
    resp_free(r);
    strcpy(d->token, "contract-token");
    r = http(d, "PATCH", "/healthz", NULL);
    cr_expect_eq(r->status, 405);
    cr_expect_str_eq(r->allow, "GET, HEAD");
    resp_free(r);
    peerd_stop(d);
    unlink(file);
}

Test(openapi, follow_0_is_not_a_stream, .timeout = 60)
{
    const char *args[] = { "--max-streams", "1", NULL };
    peerd *d = peerd_start(args);
    const char *out = "/tmp/peerd-contract-events.out";
    pid_t c = curl_spawn(d, "/events", out, NULL);
    usleep(300000);
    resp *r = http(d, "GET", "/events", NULL);
    cr_expect_eq(r->status, 503, "the one stream is taken: %s", r->body);
    resp_free(r);
    r = http(d, "GET", "/events?follow=0", NULL);
    cr_expect_eq(r->status, 200, "what is kept, answered at once: %s", r->body);
    resp_free(r);
    peerd_stop(d);
    child_wait(c, 5000);
    unlink(out);
}

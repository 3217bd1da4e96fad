/*
 * request_json.c — libFuzzer target: request bodies as peerd reads them:
 * JSON parsing with exact numbers, start options, and the JSON -> term
 * mapping of call arguments and messages. A term from JSON must map back to
 * JSON and from there to the same term.
 */
#include <stdlib.h>
#include <string.h>

#include "etf.h"
#include "start_options.h"
#include "term_json.h"

static void check_round_trip(arena *a, const term *t, const term_ctx *ctx)
{
    cJSON *j = term_to_json(t);
    if (!j) abort();
    char *s = cJSON_PrintUnformatted(j);
    cJSON *back = s ? json_parse(s, strlen(s), NULL) : NULL;
    char err[256];
    term *t2 = back ? term_from_json(a, back, ctx, "v", err, sizeof err) : NULL;
    if (!t2) abort();
    buf b1 = {0}, b2 = {0};
    etf_encode(&b1, t);
    etf_encode(&b2, t2);
    if (b1.len != b2.len || memcmp(b1.p, b2.p, b1.len)) abort();
    buf_free(&b1); buf_free(&b2);
    cJSON_free(s);
    cJSON_Delete(j);
    cJSON_Delete(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *j = json_parse((const char *)data, size, NULL);
    if (!j) return 0;
    if (cJSON_IsObject(j)) {
        pm_start_opts *o = calloc(1, sizeof *o);
        cJSON *norm = cJSON_CreateObject();
        start_options_error e;
        start_options_parse(j, o, norm, &e);
        pm_start_opts_free(o);
        cJSON_Delete(norm);
    }
    arena *a = arena_new();
    term_ctx ctx = { term_atomz(a, "peer@host"), 7 };
    char err[512];
    term *t = term_from_json(a, j, &ctx, "body", err, sizeof err);
    if (t) check_round_trip(a, t, &ctx);
    arena_free(a);
    cJSON_Delete(j);
    return 0;
}

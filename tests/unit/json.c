/*
 * json.c — the JSON <-> term mapping (peer/term/term_json.h), both ways, and that a
 * `value` sent back reproduces the same term.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "etf.h"
#include "term_json.h"
#include "term_text.h"

static term *from_json(arena *a, const char *json, char *err, size_t errlen)
{
    cJSON *j = json_parse(json, strlen(json), NULL);
    cr_assert(j, "bad JSON in the test: %s", json);
    term *t = term_from_json(a, j, NULL, "v", err, errlen);
    cJSON_Delete(j);
    return t;
}

static void expect_maps_to(const char *json, const char *text)
{
    arena *a = arena_new();
    char err[256];
    term *t = from_json(a, json, err, sizeof err);
    cr_assert(t, "%s: %s", json, err);
    buf b = {0};
    term_print(&b, t);
    cr_expect_str_eq(buf_cstr(&b), text, "JSON %s", json);
    buf_free(&b);
    arena_free(a);
}

Test(json, json_to_term)
{
    expect_maps_to("123456789012345678901234567890", "123456789012345678901234567890");
    expect_maps_to("-5", "-5");
    expect_maps_to("1.5", "1.5");
    expect_maps_to("1e3", "1.0e3");
    expect_maps_to("\"héllo\"", "<<\"héllo\"/utf8>>");
    expect_maps_to("[true, false, null]", "[true,false,null]");
    expect_maps_to("{\"$atom\":\"ok\"}", "ok");
    expect_maps_to("{\"$tuple\":[1,{\"$atom\":\"a\"}]}", "{1,a}");
    expect_maps_to("{\"$charlist\":\"abc\"}", "\"abc\"");
    expect_maps_to("{\"$term\":\"{x, [1|2]}\"}", "{x,[1|2]}");
    expect_maps_to("{\"$etf\":\"g2QAAWE=\"}", "a");
    expect_maps_to("{\"b\":1,\"a\":[2]}", "#{<<\"a\">> => [2],<<\"b\">> => 1}");
    expect_maps_to("{\"$map\":[[1,2],[{\"$atom\":\"k\"},\"v\"]]}", "#{1 => 2,k => <<\"v\">>}");
    expect_maps_to("{\"$term\":\"<0.1.2>\",\"$etf\":\"g2QAAWE=\"}", "a");
    expect_maps_to("[]", "[]");
    /* Tagged numbers, and the bare forms JSON tools turn them into. */
    expect_maps_to("{\"$int\":\"-123456789012345678901234567890\"}", "-123456789012345678901234567890");
    expect_maps_to("{\"$int\":9007199254740993}", "9007199254740993");
    expect_maps_to("{\"$float\":\"-0.0\"}", "-0.0");
    expect_maps_to("{\"$float\":3}", "3.0");
    expect_maps_to("{\"$float\":\"1e300\"}", "1.0e300");
    expect_maps_to("1e-10", "1.0e-10");
}

static void expect_error(const char *json, const char *msg)
{
    arena *a = arena_new();
    char err[256];
    cr_expect_null(from_json(a, json, err, sizeof err), "%s should fail", json);
    cr_expect(strstr(err, msg), "%s: error '%s' should mention '%s'", json, err, msg);
    arena_free(a);
}

Test(json, errors_name_the_value)
{
    expect_error("[1, {\"$atom\": 5}]", "v[1].$atom: must be a string");
    expect_error("{\"$etf\":\"!!!\"}", "v.$etf: not valid base64");
    expect_error("{\"$etf\":\"g2E=\"}", "v.$etf: bad external term format");
    expect_error("{\"$term\":\"{a,\"}", "v.$term: bad Erlang term text");
    expect_error("{\"$tuple\":5}", "v.$tuple: must be an array");
    expect_error("{\"$map\":[[1]]}", "v.$map[0]: must be a [key, value] pair");
    expect_error("{\"$int\":\"12a\"}", "v.$int: must be a string of decimal digits");
    expect_error("{\"$int\":1.5}", "v.$int: must be a string of decimal digits");
    expect_error("{\"$float\":\"inf\"}", "v.$float: must be a float's text");
    expect_error("{\"$float\":\"1e999\"}", "v.$float: float out of range");
    expect_error("{\"$float\":\" 1.0\"}", "v.$float: must be a float's text");
}

/* term -> JSON -> term must give the same bytes. */
static void expect_round_trip(const char *text, const char *want_json)
{
    arena *a = arena_new();
    term_ctx ctx = { term_atomz(a, "nonode@nohost"), 0 };
    term_text_error te;
    term *t = term_parse(a, text, strlen(text), &ctx, &te);
    cr_assert(t, "%s: %s", text, te.msg);
    cJSON *j = term_to_json(t);
    char *s = cJSON_PrintUnformatted(j);
    if (want_json) cr_expect_str_eq(s, want_json, "term %s", text);
    char err[256];
    cJSON *back = json_parse(s, strlen(s), NULL);
    term *t2 = term_from_json(a, back, &ctx, "v", err, sizeof err);
    cr_assert(t2, "%s -> %s: %s", text, s, err);
    buf b1 = {0}, b2 = {0};
    etf_encode(&b1, t);
    etf_encode(&b2, t2);
    cr_expect(b1.len == b2.len && !memcmp(b1.p, b2.p, b1.len), "%s -> %s does not map back", text, s);
    buf_free(&b1); buf_free(&b2);
    cJSON_Delete(j); cJSON_Delete(back); cJSON_free(s);
    arena_free(a);
}

Test(json, values_map_back_to_the_same_term)
{
    expect_round_trip("{ok,bar}", "{\"$tuple\":[{\"$atom\":\"ok\"},{\"$atom\":\"bar\"}]}");
    expect_round_trip("'nonode@nohost'", "{\"$atom\":\"nonode@nohost\"}");
    expect_round_trip("123456789012345678901234567890", "{\"$int\":\"123456789012345678901234567890\"}");
    expect_round_trip("9007199254740991", "9007199254740991");
    expect_round_trip("-9007199254740991", "-9007199254740991");
    expect_round_trip("9007199254740992", "{\"$int\":\"9007199254740992\"}");
    expect_round_trip("-9007199254740993", "{\"$int\":\"-9007199254740993\"}");
    expect_round_trip("1.0", "{\"$float\":\"1.0\"}");
    expect_round_trip("3.0", "{\"$float\":\"3.0\"}");
    expect_round_trip("-0.0", "{\"$float\":\"-0.0\"}");
    expect_round_trip("0.0", "{\"$float\":\"0.0\"}");
    expect_round_trip("1.0e100", "{\"$float\":\"1.0e100\"}");
    expect_round_trip("4503599627370495.5", "4503599627370495.5");
    expect_round_trip("1.5", "1.5");
    expect_round_trip("0.1", "0.1");
    expect_round_trip("1.0e-10", "1.0e-10");
    expect_round_trip("<<\"bin\">>", "\"bin\"");
    expect_round_trip("<<255,0>>", "{\"$etf\":\"g20AAAAC/wA=\"}");
    expect_round_trip("<<1:3>>", NULL);
    expect_round_trip("\"abc\"", "{\"$charlist\":\"abc\"}");
    expect_round_trip("[1,2,3]", "[1,2,3]");
    expect_round_trip("[]", "[]");
    expect_round_trip("[a|b]", NULL);
    expect_round_trip("#{<<\"k\">> => 1}", "{\"k\":1}");
    expect_round_trip("#{k => 1}", "{\"$map\":[[{\"$atom\":\"k\"},1]]}");
    expect_round_trip("#{<<\"$atom\">> => <<\"x\">>}", "{\"$map\":[[\"$atom\",\"x\"]]}");
    expect_round_trip("<0.85.0>", NULL);
    expect_round_trip("#Ref<0.1.2.3>", NULL);
    expect_round_trip("fun erlang:node/0", NULL);
    expect_round_trip("{true,false,null,undefined}", "{\"$tuple\":[true,false,null,{\"$atom\":\"undefined\"}]}");
}

Test(json, parse_keeps_every_digit_and_bounds_depth)
{
    cJSON *j = json_parse("[12345678901234567890123, 1.25e2]", 33, NULL);
    cr_assert(j);
    cr_expect_str_eq(j->child->valuestring, "12345678901234567890123");
    cr_expect_str_eq(j->child->next->valuestring, "1.25e2");
    cJSON_Delete(j);
    char deep[2 * JSON_MAX_DEPTH + 10];
    size_t n = JSON_MAX_DEPTH + 1;
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    cr_expect_null(json_parse(deep, 2 * n, NULL));
    cr_expect_null(json_parse("{\"a\":1} x", 9, NULL));
}

static void expect_refused(const char *text, const char *msg, size_t pos)
{
    json_error e;
    cJSON *j = json_parse(text, strlen(text), &e);
    cr_expect_null(j, "%s was accepted", text);
    cJSON_Delete(j);
    cr_expect_str_eq(e.msg, msg, "%s", text);
    cr_expect_eq(e.pos, pos, "%s: at %zu, expected %zu", text, e.pos, pos);
}

Test(json, strings_must_be_utf8_and_the_error_names_where)
{
    expect_refused("{\"args\":[\"ok\",\"\xff\xfe\"]}", "args[1]: a string that is not UTF-8 (bytes go as {\"$etf\": ...} or base64)", 15);
    expect_refused("[\"\xc0\x80\"]", "[0]: a string that is not UTF-8 (bytes go as {\"$etf\": ...} or base64)", 2);     /* overlong NUL */
    expect_refused("[\"\xed\xa0\x80\"]", "[0]: a string that is not UTF-8 (bytes go as {\"$etf\": ...} or base64)", 2); /* a surrogate */
    expect_refused("{\"a\":{\"b\":[1,{\"c\":\"x\xe2\x82\"}]}}", "a.b[1].c: a string that is not UTF-8 (bytes go as {\"$etf\": ...} or base64)", 20);
    expect_refused("{\"\xff\":1}", "an object key is not UTF-8", 2);
    const char *ok = "[\"h\xc3\xa9llo \xf0\x9f\x98\x80\", \"\\ud83d\\ude00\"]";
    cJSON *j = json_parse(ok, strlen(ok), NULL);
    cr_expect(j, "UTF-8 text and escaped pairs are taken");
    cJSON_Delete(j);
}

Test(json, a_key_given_twice_is_refused_by_name)
{
    expect_refused("{\"module\":\"erlang\",\"module\":\"lists\"}", "the key \"module\" is given twice", 0);
    expect_refused("{\"args\":[{\"$map\":[],\"x\":1,\"x\":2}]}", "args[0]: the key \"x\" is given twice", 9);
    /* Many keys: sorted, not compared pairwise (n log n). */
    buf b = {0};
    buf_str(&b, "{");
    for (int i = 0; i < 50000; i++) buf_printf(&b, "\"k%d\":%d,", i, i);
    buf_str(&b, "\"k777\":0}");
    json_error e;
    cr_expect_null(json_parse((const char *)b.p, b.len, &e));
    cr_expect_str_eq(e.msg, "the key \"k777\" is given twice");
    b.len -= 9;
    buf_str(&b, "\"last\":0}");
    cJSON *j = json_parse((const char *)b.p, b.len, &e);
    cr_expect(j, "50,001 distinct keys are taken");
    cJSON_Delete(j);
    buf_free(&b);
}

Test(json, errors_say_which_rule_failed)
{
    char deep[2 * JSON_MAX_DEPTH + 10];
    size_t n = JSON_MAX_DEPTH + 1;
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = 0;
    expect_refused(deep, "arrays and objects nested deeper than 512", JSON_MAX_DEPTH);
    expect_refused("{\"a\":1} x", "not valid JSON: more after the value", 8);
    expect_refused("{\"a\":}", "not valid JSON", 5);
    expect_refused("{\"a\\u0000b\":1}", "an object key holds a NUL (\\u0000)", 2);
}

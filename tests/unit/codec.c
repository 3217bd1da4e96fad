/*
 * codec.c — ETF and term text edge cases the corpus does not reach:
 * malformed input is refused with a position, limits hold.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "etf.h"
#include "term_text.h"
#include "term_check.h"

static const char *decode_error(const uint8_t *p, size_t n, size_t *pos)
{
    arena *a = arena_new();
    etf_error e = {0};
    term *t = etf_decode(a, p, n, &e);
    arena_free(a);
    if (pos) *pos = e.pos;
    return t ? NULL : e.msg;
}

Test(etf, refuses_truncated_and_lying_input)
{
    const uint8_t no_version[] = { 97, 1 };
    cr_expect_str_eq(decode_error(no_version, 2, NULL), "does not start with version byte 131");
    const uint8_t trunc_int[] = { 131, 98, 0, 0 };
    cr_expect_str_eq(decode_error(trunc_int, sizeof trunc_int, NULL), "truncated integer");
    const uint8_t lying_list[] = { 131, 108, 0xff, 0xff, 0xff, 0xff, 106 };
    cr_expect_str_eq(decode_error(lying_list, sizeof lying_list, NULL), "list length runs past the end");
    const uint8_t lying_bin[] = { 131, 109, 0, 0, 0, 9, 1 };
    cr_expect_str_eq(decode_error(lying_bin, sizeof lying_bin, NULL), "binary runs past the end");
    const uint8_t trailing[] = { 131, 97, 1, 0 };
    size_t pos;
    cr_expect_str_eq(decode_error(trailing, sizeof trailing, &pos), "bytes left after the term");
    cr_expect_eq(pos, 2);
    const uint8_t unknown[] = { 131, 200 };
    cr_expect_str_eq(decode_error(unknown, sizeof unknown, NULL), "unknown term tag");
    const uint8_t bad_utf8[] = { 131, 119, 1, 0xff };
    cr_expect_str_eq(decode_error(bad_utf8, sizeof bad_utf8, NULL), "atom is not valid UTF-8");
    const uint8_t nan[] = { 131, 70, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0 };
    cr_expect_str_eq(decode_error(nan, sizeof nan, NULL), "float is not finite");
}

Test(etf, limits_depth)
{
    size_t depth = ETF_MAX_DEPTH + 10;
    uint8_t *p = malloc(1 + 2 * depth + 1);
    p[0] = 131;
    for (size_t i = 0; i < depth; i++) { p[1 + 2 * i] = 104; p[2 + 2 * i] = 1; }
    p[1 + 2 * depth] = 106;
    cr_expect_str_eq(decode_error(p, 2 + 2 * depth, NULL), "term nested deeper than 1000 levels");
    free(p);
}

Test(etf, byte_lists_switch_to_list_ext_past_65535)
{
    arena *a = arena_new();
    for (size_t n = 65535; n <= 65536; n++) {
        term *l = term_list(a, n, NULL);
        for (size_t i = 0; i < n; i++) l->list.items[i] = term_int(a, 7);
        buf b = {0};
        etf_encode(&b, l);
        cr_expect_eq(b.p[1], n == 65535 ? 107 : 108, "a list of %zu bytes", n);
        buf_free(&b);
    }
    arena_free(a);
}

Test(etf, decodes_compressed_terms)
{
    /* term_to_binary(lists:duplicate(100, $a), [compressed]) */
    const uint8_t z[] = { 131, 80, 0, 0, 0, 103, 120, 156, 203, 102, 72, 73, 164, 3, 0, 0, 204, 203, 38, 180 };
    arena *a = arena_new();
    etf_error e = {0};
    term *t = etf_decode(a, z, sizeof z, &e);
    cr_assert(t, "%s", e.msg);
    cr_expect_eq(t->type, TERM_LIST);
    cr_expect_eq(t->list.n, 100);
    arena_free(a);
}

static const char *parse_error(const char *s, size_t *pos)
{
    static char msg[200];
    arena *a = arena_new();
    term_text_error e;
    term *t = term_parse(a, s, strlen(s), NULL, &e);
    if (pos) *pos = e.pos;
    if (!t) snprintf(msg, sizeof msg, "%s", e.msg);
    arena_free(a);
    return t ? NULL : msg;
}

Test(term_text, errors_name_the_position)
{
    size_t pos;
    cr_expect_str_eq(parse_error("{a, b", &pos), "expected ',' or '}'");
    cr_expect_eq(pos, 5);
    cr_expect_str_eq(parse_error("[a, B]", &pos), "variables are not terms");
    cr_expect_eq(pos, 4);
    cr_expect_str_eq(parse_error("\"abc", &pos), "unterminated string");
    cr_expect_str_eq(parse_error("<0.1.2>", &pos), "pids, ports and references need a running peer");
    cr_expect_str_eq(parse_error("a b", &pos), "text left after the term");
    cr_expect_str_eq(parse_error("37#1", &pos), "base must be 2..36");
    cr_expect_str_eq(parse_error("#{a => 1, a => 2}", &pos), "map has a duplicate key");
    cr_expect_str_eq(parse_error("", &pos), "term expected, found end of text");
    cr_expect_str_eq(parse_error("<<1:8388609>>", &pos), "segment size must be a number of bits up to 8388608");
    cr_expect_str_eq(parse_error("<<1:99999999999999999999999>>", &pos), "segment size must be a number of bits up to 8388608");
    cr_expect_str_eq(parse_error("<<1:8388608,1:1>>", &pos), "binary too large");
    /* What a shell user types that is not a term is named for what it is. */
    cr_expect(strstr(parse_error("[node()]", &pos), "a function call: expressions are not terms"));
    cr_expect_eq(pos, 5);
    cr_expect(strstr(parse_error("[erlang:node()]", &pos), "a remote function call (M:F(...)): expressions are not terms"));
    cr_expect(strstr(parse_error("{1 + 2}", &pos), "an operator: expressions are not terms"));
    cr_expect(strstr(parse_error("[#Fun<erl_eval.6.1234>]", &pos), "send the value's $etf instead"));
    cr_expect_eq(parse_error("[a, b].", &pos), NULL);
    cr_expect_eq(parse_error("  {a, % comment\n b}  ", &pos), NULL);
}

/* term_check's error for the term of text s with the atom bad put where
 * the atom y is (found by walk), or NULL if it passes. */
static const char *check_error(const char *s, term **(*walk)(term *))
{
    static char msg[300];
    char big[257];
    memset(big, 'a', 256);
    big[256] = 0;
    arena *a = arena_new();
    term_text_error e;
    term *t = term_parse(a, s, strlen(s), NULL, &e);
    cr_assert(t, "%s: %s", s, e.msg);
    if (walk) *walk(t) = term_atom(a, big, 256);
    bool ok = term_check(t, "args", msg, sizeof msg);
    arena_free(a);
    return ok ? NULL : msg;
}

static term **in_list(term *t) { return &t->list.items[1]->tuple.items[1]->list.items[1]; }
static term **in_tail(term *t) { return &t->list.tail; }
static term **in_map(term *t) { return &t->map.kv[1]->list.items[0]; }

/* term_check names the way to what erl would refuse, step by step. */
Test(term_check, names_the_path_to_what_erl_refuses)
{
    const char *why = "atom of 256 characters (at most 255)", *e;
    cr_expect_str_eq(e = check_error("[ok, {a, [x, y]}]", in_list), "args[1]{2}[1]: atom of 256 characters (at most 255)", "%s", e ? e : why);
    cr_expect_str_eq(e = check_error("[a | y]", in_tail), "args[tail]: atom of 256 characters (at most 255)", "%s", e ? e : why);
    cr_expect_str_eq(e = check_error("#{k => [y]}", in_map), "args#{0}[0]: atom of 256 characters (at most 255)", "%s", e ? e : why);
    cr_expect_eq(check_error("y", NULL), NULL);
    cr_expect_eq(check_error("[ok, {a, [x, y]}, #{k => v}]", NULL), NULL);
}

Test(term_text, limits_depth)
{
    size_t depth = TERM_TEXT_MAX_DEPTH + 5;
    char *s = malloc(2 * depth + 1);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = 0;
    cr_expect_str_eq(parse_error(s, NULL), "term nested deeper than 1000 levels");
    free(s);
}

Test(term_text, adjacent_strings_concatenate)
{
    arena *a = arena_new();
    term_text_error e;
    term *t = term_parse(a, "\"ab\" \"cd\"", 9, NULL, &e);
    buf b = {0};
    term_print(&b, t);
    cr_expect_str_eq(buf_cstr(&b), "\"abcd\"");
    buf_free(&b);
    arena_free(a);
}

/* Identifiers of other nodes print with the number the peer gave for that
 * node, or its name where it gave none; as text they are refused. */
Test(term_text, identifiers_of_other_nodes)
{
    arena *a = arena_new();
    term_ctx ctx = { term_atomz(a, "me@h"), 1 };
    term_text_error e;
    term *t = term_parse(a, "[<0.5.0>, #Ref<0.1.2.3>, #Port<0.7>]", 36, &ctx, &e);
    cr_assert(t, "%s", e.msg);
    term *other = term_atomz(a, "other@h"), *third = term_atomz(a, "third@h");
    t->list.items[0]->pid.node = other;
    t->list.items[1]->ref.node = other;
    t->list.items[2]->port.node = third;
    term_node_number v[] = { { other, 8472 } };
    term_names names = { ctx.node, v, 1 };
    buf b = {0};
    term_print_names(&b, t, &names);
    cr_expect_str_eq(buf_cstr(&b), "[<8472.5.0>,#Ref<8472.1.2.3>,#Port<third@h.7>]");
    buf_free(&b);
    cr_expect_null(term_parse(a, "<8472.5.0>", 10, &ctx, &e));
    cr_expect(strstr(e.msg, "send the value's $etf instead"), "%s", e.msg);
    arena_free(a);
}

/*
 * differential.c — every term peerd would send, a real erl can decode.
 *
 * Tens of thousands of inputs — ETF made at random with every field biased
 * to the edges the runtime checks (pid, port and reference numbers, bitstring
 * tails, atom bytes, big integer sizes, floats, map keys, funs), Erlang term
 * text and JSON made the same way, and the fuzz corpora — go through peerd's
 * parsers and term_check exactly as a request would. What passes is encoded
 * and written out; tests/fixtures/decode_all.escript then runs
 * binary_to_term/1 on each in a real erl, as the peer's control process does.
 * One term that erl refuses fails the test. The file also holds a sample of
 * the terms term_check refuses, marked: erl must refuse many of them too,
 * the proof that a refusal on the erl side is seen. (Not all: for other
 * nodes' pids, ports and references term_check is stricter than erl.)
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "base64.h"
#include "etf.h"
#include "term_check.h"
#include "term_json.h"
#include "term_text.h"

#define N_ETF 30000
#define N_TEXT 6000
#define N_JSON 3000

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return rng;
}
static unsigned pick(unsigned n) { return (unsigned)(rnd() % n); }

/* Values at and around each limit term_check and erl enforce. */
static const uint64_t edges32[] = { 0, 1, 255, 256, 8191, 8192, 32767, 32768, 262143, 262144,
                                    (1u << 28) - 1, 1u << 28, 0x7fffffff, 0x80000000u, 0xffffffffu };
static uint32_t edge32(void) { return pick(3) ? (uint32_t)edges32[pick(sizeof edges32 / sizeof *edges32)] : (uint32_t)rnd(); }

static const char *const nodes[] = { "nonode@nohost", "other@host", "", "a" };

static void atom_bytes(buf *b, const char *s, size_t n)
{
    buf_byte(b, SMALL_ATOM_UTF8_EXT);               /* SMALL_ATOM_UTF8_EXT */
    buf_byte(b, (uint8_t)n);
    buf_put(b, s, n);
}

static void gen_atom(buf *b)
{
    static const char *const bad[] = { "\xc0\x80", "\xed\xa0\x80", "\xff", "\xf4\x90\x80\x80", "a\xe2\x82" };
    switch (pick(6)) {
    case 0: { const char *s = bad[pick(5)]; atom_bytes(b, s, strlen(s)); return; }
    case 1: {                       /* 254..256 characters, some of two bytes */
        size_t chars = 254 + pick(3), two = pick(2);
        buf_byte(b, ATOM_UTF8_EXT);           /* ATOM_UTF8_EXT */
        buf_u16(b, (uint16_t)(chars * (two ? 2 : 1)));
        for (size_t i = 0; i < chars; i++) buf_put(b, two ? "\xc3\xa9" : "a", two ? 2 : 1);
        return;
    }
    case 2: {                       /* ATOM_EXT, Latin-1 bytes */
        size_t n = pick(4);
        buf_byte(b, ATOM_EXT); buf_u16(b, (uint16_t)n);
        for (size_t i = 0; i < n; i++) buf_byte(b, (uint8_t)rnd());
        return;
    }
    default: {
        const char *s = nodes[pick(4)];
        atom_bytes(b, s, strlen(s));
    }
    }
}

static void gen_node(buf *b)
{
    const char *s = nodes[pick(4)];
    if (pick(10)) atom_bytes(b, s, strlen(s)); else gen_atom(b);
}

static void gen(buf *b, int depth);

static void gen_fun(buf *b, int depth)
{
    buf inner = {0};
    buf_byte(&inner, (uint8_t)pick(300));                  /* arity */
    for (int i = 0; i < 16; i++) buf_byte(&inner, (uint8_t)rnd());
    buf_u32(&inner, pick(4));                               /* index */
    uint32_t nfree = pick(3);
    buf_u32(&inner, nfree);
    atom_bytes(&inner, "m", 1);
    if (pick(4)) { buf_byte(&inner, SMALL_INTEGER_EXT); buf_byte(&inner, (uint8_t)pick(3)); }
    else { buf_byte(&inner, INTEGER_EXT); buf_u32(&inner, edge32()); }   /* old index */
    buf_byte(&inner, INTEGER_EXT); buf_u32(&inner, edge32());            /* old uniq */
    buf_byte(&inner, NEW_PID_EXT); atom_bytes(&inner, "nonode@nohost", 13);
    buf_u32(&inner, pick(2) ? 1 : edge32()); buf_u32(&inner, 0); buf_u32(&inner, 0);
    for (uint32_t i = 0; i < nfree; i++) gen(&inner, depth + 1);
    buf_byte(b, 112);
    buf_u32(b, (uint32_t)inner.len + 4);
    buf_put(b, inner.p, inner.len);
    buf_free(&inner);
}

static void gen(buf *b, int depth)
{
    unsigned kind = depth > 4 ? pick(8) : pick(19);
    switch (kind) {
    case 0: buf_byte(b, SMALL_INTEGER_EXT); buf_byte(b, (uint8_t)rnd()); break;
    case 1: buf_byte(b, INTEGER_EXT); buf_u32(b, edge32()); break;
    case 2: {                                               /* SMALL_BIG_EXT */
        size_t n = pick(12);
        buf_byte(b, SMALL_BIG_EXT); buf_byte(b, (uint8_t)n); buf_byte(b, (uint8_t)pick(2));
        for (size_t i = 0; i < n; i++) buf_byte(b, (uint8_t)rnd());
        break;
    }
    case 3: {                                               /* NEW_FLOAT_EXT, some not finite */
        uint64_t u = rnd();
        if (!pick(6)) u = (u & 0x800fffffffffffffull) | 0x7ff0000000000000ull;
        buf_byte(b, 70); buf_u32(b, (uint32_t)(u >> 32)); buf_u32(b, (uint32_t)u);
        break;
    }
    case 4: gen_atom(b); break;
    case 5: buf_byte(b, NIL_EXT); break;
    case 6: {                                               /* BINARY_EXT / BIT_BINARY_EXT */
        uint32_t n = pick(4);
        if (pick(2)) { buf_byte(b, BINARY_EXT); buf_u32(b, n); }
        else { buf_byte(b, BIT_BINARY_EXT); buf_u32(b, n); buf_byte(b, (uint8_t)pick(10)); }
        for (uint32_t i = 0; i < n; i++) buf_byte(b, (uint8_t)rnd());
        break;
    }
    case 7: {                                               /* NEW_PID_EXT */
        buf_byte(b, NEW_PID_EXT); gen_node(b);
        buf_u32(b, edge32()); buf_u32(b, edge32()); buf_u32(b, pick(2) ? 0 : edge32());
        break;
    }
    case 8: case 9: {                                       /* NEW_PORT_EXT / V4_PORT_EXT */
        if (kind == 8) { buf_byte(b, 89); gen_node(b); buf_u32(b, edge32()); }
        else { buf_byte(b, 120); gen_node(b); buf_u32(b, pick(2) ? 0 : edge32()); buf_u32(b, edge32()); }
        buf_u32(b, pick(2) ? 0 : edge32());
        break;
    }
    case 10: {                                              /* NEWER_REFERENCE_EXT */
        uint16_t n = (uint16_t)(1 + pick(5));
        buf_byte(b, NEWER_REFERENCE_EXT); buf_u16(b, n); gen_node(b); buf_u32(b, pick(2) ? 0 : edge32());
        for (uint16_t i = 0; i < n; i++) buf_u32(b, edge32());
        break;
    }
    case 11: {                                              /* EXPORT_EXT */
        buf_byte(b, 113); atom_bytes(b, "m", 1); gen_atom(b);
        uint32_t ar = pick(300);
        if (ar < 256) { buf_byte(b, SMALL_INTEGER_EXT); buf_byte(b, (uint8_t)ar); } else { buf_byte(b, INTEGER_EXT); buf_u32(b, ar); }
        break;
    }
    case 12: gen_fun(b, depth); break;
    case 13: case 14: {                                     /* LIST_EXT */
        uint32_t n = pick(4);
        buf_byte(b, LIST_EXT); buf_u32(b, n);
        for (uint32_t i = 0; i <= n; i++) gen(b, depth + 1);
        break;
    }
    case 15: case 16: {                                     /* SMALL_TUPLE_EXT */
        uint32_t n = pick(4);
        buf_byte(b, SMALL_TUPLE_EXT); buf_byte(b, (uint8_t)n);
        for (uint32_t i = 0; i < n; i++) gen(b, depth + 1);
        break;
    }
    default: {                                              /* MAP_EXT, keys from a few so that some repeat */
        uint32_t n = pick(4);
        buf_byte(b, MAP_EXT); buf_u32(b, n);
        for (uint32_t i = 0; i < n; i++) {
            if (pick(2)) { buf_byte(b, SMALL_INTEGER_EXT); buf_byte(b, (uint8_t)pick(3)); }
            else { buf_byte(b, 70); buf_u32(b, pick(2) ? 0x3ff00000u : 0x80000000u); buf_u32(b, 0); } /* 1.0 or -0.0 */
            gen(b, depth + 1);
        }
        break;
    }
    }
}

/* 0 to 3 generated items between open and close. */
static void gen_seq(buf *b, int depth, const char *open, const char *sep, const char *close, void (*item)(buf *, int))
{
    buf_str(b, open);
    unsigned n = pick(4);
    for (unsigned i = 0; i < n; i++) {
        if (i) buf_str(b, sep);
        item(b, depth + 1);
    }
    buf_str(b, close);
}

/* One generated piece of Erlang term text. */
static void gen_text(buf *b, int depth)
{
    switch (depth > 3 ? pick(9) : pick(12)) {
    case 0: buf_printf(b, "<0.%u.%u>", edge32(), edge32()); break;
    case 1: buf_printf(b, "#Port<0.%u>", edge32()); break;
    case 2: {
        unsigned n = 1 + pick(5);
        buf_str(b, "#Ref<0");
        for (unsigned i = 0; i < n; i++) buf_printf(b, ".%u", edge32());
        buf_str(b, ">");
        break;
    }
    case 3: buf_printf(b, "<<%u:%u>>", pick(300), pick(20)); break;
    case 4: buf_printf(b, "%u.%ue%d", pick(10), pick(100), (int)pick(700) - 350); break;
    case 5: buf_printf(b, "'\\x{%X}'", pick(4) ? pick(0x110000) : 0xd800 + pick(0x800)); break;
    case 6: buf_printf(b, "#{a => 1, %s => 2}", pick(2) ? "a" : "b"); break;
    case 7: buf_printf(b, "#{1 => x, %s => y}", pick(2) ? "1" : "1.0"); break;
    case 8: buf_printf(b, "fun m:f/%u", pick(300)); break;
    default:
        if (pick(2)) gen_seq(b, depth, "{", ", ", "}", gen_text);
        else gen_seq(b, depth, "[", ", ", "]", gen_text);
    }
}

static void gen_json(buf *b, int depth)
{
    switch (depth > 3 ? pick(6) : pick(9)) {
    case 0: buf_printf(b, "{\"$atom\":\"\\u%04x%s\"}", pick(0x10000), pick(2) ? "" : "x"); break;
    case 1: buf_printf(b, "{\"$charlist\":\"a\\u0000\\u%04x\"}", pick(0xd800)); break;
    case 2: buf_printf(b, "%u.%ue%d", pick(10), pick(10), (int)pick(700) - 350); break;
    case 3: buf_printf(b, "\"a\\u0000b\\ud83d\\ude00\""); break;
    case 4: {
        buf raw = {0}, b64 = {0};
        buf_byte(&raw, 131);
        gen(&raw, 2);
        base64_encode(&b64, raw.p, raw.len);
        buf_printf(b, "{\"$etf\":\"%.*s\"}", (int)b64.len, (const char *)b64.p);
        buf_free(&raw); buf_free(&b64);
        break;
    }
    case 5: {
        buf text = {0};
        gen_text(&text, 2);
        buf_str(b, "{\"$term\":\"");
        for (size_t i = 0; i < text.len; i++) {
            if (text.p[i] == '"' || text.p[i] == '\\') buf_byte(b, '\\');
            buf_byte(b, text.p[i]);
        }
        buf_str(b, "\"}");
        buf_free(&text);
        break;
    }
    case 6: buf_printf(b, "{\"$map\":[[1,2],[%s,3]]}", pick(2) ? "1" : "1.0"); break;
    default:
        if (pick(2)) gen_seq(b, depth, "{\"$tuple\":[", ",", "]}", gen_json);
        else gen_seq(b, depth, "[", ",", "]", gen_json);
    }
}

typedef struct { FILE *out; size_t sent, refused, parse_errors; term_ctx ctx; } run;

/* What a request would do with a parsed term: check it, then encode it. */
static void consider(run *r, const term *t)
{
    char err[512];
    buf e = {0};
    etf_encode(&e, t);
    bool ok = term_check(t, "t", err, sizeof err);
    if (ok) r->sent++; else r->refused++;
    /* Refused terms go out marked, a sample of them, for erl to refuse too. */
    if (ok || r->refused % 16 == 1) {
        if (!ok) fputs("! ", r->out);
        for (size_t i = 0; i < e.len; i++) fprintf(r->out, "%02x", e.p[i]);
        fputc('\n', r->out);
    }
    buf_free(&e);
}

static void from_etf(run *r, const uint8_t *p, size_t n)
{
    arena *a = arena_new();
    etf_error ee = {0};
    term *t = etf_decode(a, p, n, &ee);
    if (t) consider(r, t); else r->parse_errors++;
    arena_free(a);
}

static void from_text(run *r, const char *s, size_t n)
{
    arena *a = arena_new();
    term_text_error te;
    term *t = term_parse(a, s, n, &r->ctx, &te);
    if (t) consider(r, t); else r->parse_errors++;
    arena_free(a);
}

static void from_json(run *r, const char *s, size_t n)
{
    arena *a = arena_new();
    cJSON *j = json_parse(s, n, NULL);
    char err[512];
    term *t = j ? term_from_json(a, j, &r->ctx, "t", err, sizeof err) : NULL;
    if (t) consider(r, t); else r->parse_errors++;
    cJSON_Delete(j);
    arena_free(a);
}

static void corpus(run *r, const char *dir, void (*each)(run *, const char *, size_t))
{
    char path[512];
    snprintf(path, sizeof path, "%s/fuzz/corpus/%s", PEERD_SOURCE_DIR, dir);
    DIR *d = opendir(path);
    cr_assert(d, "no corpus at %s", path);
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char file[800];
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        FILE *f = fopen(file, "rb");
        if (!f) continue;
        char data[65536];
        size_t n = fread(data, 1, sizeof data, f);
        fclose(f);
        each(r, data, n);
    }
    closedir(d);
}

static void etf_file(run *r, const char *s, size_t n) { from_etf(r, (const uint8_t *)s, n); }

/* A request body: each term-valued field as a handler maps it. */
static void json_file(run *r, const char *s, size_t n)
{
    cJSON *j = json_parse(s, n, NULL);
    if (!j) { r->parse_errors++; return; }
    static const char *const fields[] = { "args", "message", "to" };
    for (size_t i = 0; i < 3; i++) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, fields[i]);
        arena *a = arena_new();
        char err[512];
        term *t = NULL;
        if (cJSON_IsString(f) && (i == 0 || f->valuestring[0] == '<')) {
            term_text_error te;
            t = term_parse(a, f->valuestring, json_strlen(f), &r->ctx, &te);
        } else if (f) {
            t = term_from_json(a, f, &r->ctx, fields[i], err, sizeof err);
        }
        if (t) consider(r, t);
        arena_free(a);
    }
    cJSON_Delete(j);
}

Test(differential, every_term_peerd_would_send_decodes_in_erl, .timeout = 300)
{
    if (system("command -v escript >/dev/null 2>&1") != 0) cr_skip_test("escript (erlang-base) is not installed");
    char path[] = "/tmp/peerd-differential-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    run r = { .out = fdopen(fd, "w") };
    arena *ctx_arena = arena_new();
    /* The escript's node is not distributed: nonode@nohost, creation 0, so
     * pids of that node are its own and get the runtime's strictest checks. */
    r.ctx.node = term_atomz(ctx_arena, "nonode@nohost");
    r.ctx.creation = 0;

    for (int i = 0; i < N_ETF; i++) {
        buf b = {0};
        buf_byte(&b, 131);
        gen(&b, 0);
        from_etf(&r, b.p, b.len);
        buf_free(&b);
    }
    for (int i = 0; i < N_TEXT; i++) {
        buf b = {0};
        gen_text(&b, 0);
        from_text(&r, (const char *)b.p, b.len);
        buf_free(&b);
    }
    for (int i = 0; i < N_JSON; i++) {
        buf b = {0};
        gen_json(&b, 0);
        from_json(&r, (const char *)b.p, b.len);
        buf_free(&b);
    }
    /* The big integer limit, exactly. */
    for (uint32_t n = TERM_MAX_BIG_BYTES; n <= TERM_MAX_BIG_BYTES + 1; n++) {
        buf b = {0};
        buf_byte(&b, 131); buf_byte(&b, 111); buf_u32(&b, n); buf_byte(&b, 0);
        for (uint32_t k = 0; k < n; k++) buf_byte(&b, 1);
        from_etf(&r, b.p, b.len);
        buf_free(&b);
    }
    corpus(&r, "etf", etf_file);
    corpus(&r, "term_text", from_text);
    corpus(&r, "request_json", json_file);
    fclose(r.out);
    arena_free(ctx_arena);

    char cmd[700], line[4096];
    snprintf(cmd, sizeof cmd, "escript %s/tests/fixtures/decode_all.escript %s 2>&1", PEERD_SOURCE_DIR, path);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    char last[4096] = "";
    int shown = 0;
    while (fgets(line, sizeof line, p)) {
        if (shown++ < 20) fprintf(stderr, "%.300s", line);
        snprintf(last, sizeof last, "%s", line);
    }
    int status = pclose(p);
    unlink(path);
    fprintf(stderr, "differential: %zu terms sent, %zu refused by term_check, %zu not parsed; erl: %s",
            r.sent, r.refused, r.parse_errors, last);
    cr_expect(r.sent > 10000, "too few terms got through to test anything: %zu", r.sent);
    cr_expect(r.refused > 1000, "too few terms refused to test the limits: %zu", r.refused);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "erl refused terms that peerd would send: %s", last);
    unsigned long ok = 0, bad = 0, seen = 0, marked = 0;
    cr_expect(sscanf(last, "%lu decoded, %lu refused, %lu of %lu", &ok, &bad, &seen, &marked) == 4, "%s", last);
    cr_expect_eq(ok, r.sent, "erl saw %lu of %zu terms", ok, r.sent);
    cr_expect(seen > 100, "erl refused too few of the terms term_check refuses to show refusals are seen: %s", last);
}

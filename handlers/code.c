/*
 * code.c — code on the node: PUT /peers/{id}/modules/{module} and
 * PUT /modules/{module}?selector= load a .beam sent as the body
 * (code:purge/1, then code:load_binary/3, as the shell's l/1 does), and
 * POST /peers/{id}/eval evaluates Erlang expressions (erl_scan, erl_parse,
 * erl_eval), as a person at the node's shell would type them.
 *
 * Everything goes over the control connection as calls: nothing is
 * installed on the node and no file system is shared with it.
 */
#include "common.h"
#include "etf.h"
#include "groups.h"
#include "handlers.h"
#include "term_check.h"
#include "term_json.h"
#include "term_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- modules ---- */

typedef struct {
    group g;                    /* first: a group load's state is a group */
    char module[256];
    const uint8_t *code;        /* the body */
    size_t len;
    bool purged;
} load_state;

static void load_free(void *p)
{
    load_state *s = p;
    if (!s) return;
    group_free(&s->g);
    free(s);
}

/* A path segment as a module name (an atom the node accepts), or 400. */
static bool module_name(http_req *h, const char *seg, char *out, size_t outlen, enum MHD_Result *answered)
{
    arena *a = arena_new();
    term *t = a ? term_atom(a, seg, strlen(seg)) : NULL;
    char err[300];
    bool ok = t && strlen(seg) < outlen && term_check(t, "module", err, sizeof err);
    arena_free(a);
    if (!ok) {
        *answered = http_problem(h, 400, "invalid_arg", "module: must be a module name (an atom of at most 255 characters)", NULL);
        return false;
    }
    snprintf(out, outlen, "%s", seg);
    return true;
}

/* STRING_EXT: a string of bytes (code:load_binary wants a file name as a list). */
static void put_string_ext(buf *b, const char *s)
{
    size_t n = strlen(s);
    buf_byte(b, STRING_EXT);
    buf_u16(b, (uint16_t)n);
    buf_put(b, s, n);
}

/* code:purge(M), or code:load_binary(M, "M.beam", Code). */
static pm_req *load_req(const load_state *s, const char *id)
{
    pm_req *r = pm_req_new(PM_CALL, id);
    if (!r) return NULL;
    buf *b = &r->payload;
    r->timeout_ms = 60000;
    etf_encode_atom(b, "code", 4);
    size_t n = strlen(s->module);
    if (!s->purged) {
        etf_encode_atom(b, "purge", 5);
        buf_byte(b, LIST_EXT);
        buf_u32(b, 1);
        etf_encode_atom(b, s->module, n);
        buf_byte(b, NIL_EXT);
    } else {
        char file[300];
        snprintf(file, sizeof file, "%s.beam", s->module);
        etf_encode_atom(b, "load_binary", 11);
        buf_byte(b, LIST_EXT);
        buf_u32(b, 3);
        etf_encode_atom(b, s->module, n);
        put_string_ext(b, file);
        buf_byte(b, BINARY_EXT);
        buf_u32(b, (uint32_t)s->len);
        buf_put(b, s->code, s->len);
        buf_byte(b, NIL_EXT);
    }
    if (b->oom) { pm_req_free(r); return NULL; }
    return r;
}

/* The outcome of code:load_binary: {module, M} is loaded; {error, What} is
 * a load_failed error naming What (badfile, not_purged, on_load_failure...). */
static cJSON *load_outcome(const pm_req *r)
{
    cJSON *o = call_outcome_json(r);
    const cJSON *outcome = cJSON_GetObjectItemCaseSensitive(o, "outcome");
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(o, "result");
    if (!o || !cJSON_IsString(outcome) || strcmp(outcome->valuestring, "ok")) return o;
    if (cJSON_IsString(res) && !strncmp(res->valuestring, "{module,", 8)) return o;   /* {module, M}: loaded */
    char detail[700];
    snprintf(detail, sizeof detail, "the node did not load the module: %.600s", cJSON_IsString(res) ? res->valuestring : "?");
    cJSON_Delete(o);
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "outcome", "error");
    cJSON_AddStringToObject(o, "code", "load_failed");
    cJSON_AddStringToObject(o, "detail", detail);
    return o;
}

static enum MHD_Result one_loaded(http_req *h)
{
    load_state *s = h->state;
    pm_req *r = h->pm;
    if (r->status != PM_OK) return http_pm_error(h, r);
    if (!s->purged) {
        /* The purge's answer (true: old code was there and went) matters
         * only in that it came: now the load. */
        s->purged = true;
        pm_req *l = load_req(s, h->seg[1]);
        return l ? http_submit(h, l, one_loaded) : MHD_NO;
    }
    cJSON *o = load_outcome(r);
    if (!o) return MHD_NO;
    const char *outcome = cJSON_GetObjectItemCaseSensitive(o, "outcome")->valuestring;
    if (!strcmp(outcome, "ok")) {
        cJSON_Delete(o);
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "module", s->module);
        cJSON_AddNumberToObject(a, "bytes", (double)s->len);
        return http_json(h, 200, a);
    }
    if (!strcmp(outcome, "exception")) {
        char d[700];
        snprintf(d, sizeof d, "%s:%.600s", cJSON_GetObjectItemCaseSensitive(o, "class")->valuestring,
                 cJSON_GetObjectItemCaseSensitive(o, "reason")->valuestring);
        cJSON_DeleteItemFromObject(o, "outcome");
        return http_problem(h, 422, "exception", d, o);
    }
    char d[700];
    snprintf(d, sizeof d, "%s", cJSON_GetObjectItemCaseSensitive(o, "detail")->valuestring);
    cJSON_Delete(o);
    return http_problem(h, 422, "load_failed", d, NULL);
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* What is wrong with code as module's .beam, or NULL: the checks the node
 * would answer with a bare badfile, made here so that the answer says
 * which. A compressed .beam (gzip) goes to the node as it is. */
static const char *beam_problem(const uint8_t *p, size_t n, const char *module, char *why, size_t len)
{
    if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b) return NULL;
    if (n < 12 || memcmp(p, "FOR1", 4) || memcmp(p + 8, "BEAM", 4)) {
        snprintf(why, len, "the body is not a .beam file (one begins with FOR1, its size, BEAM)");
        return why;
    }
    uint64_t whole = (uint64_t)be32(p + 4) + 8;
    if (whole != n) {
        snprintf(why, len, "the .beam is %s: its header says %llu bytes, the body has %zu", whole > n ? "cut short" : "followed by more",
                 (unsigned long long)whole, n);
        return why;
    }
    /* The atom table's first atom is the module's name. */
    for (size_t at = 12; at + 8 <= n;) {
        uint32_t size = be32(p + at + 4);
        const uint8_t *c = p + at + 8;
        if (size > n - at - 8) break;
        if ((!memcmp(p + at, "AtU8", 4) || !memcmp(p + at, "Atom", 4)) && size >= 5) {
            int32_t count = (int32_t)be32(c);
            size_t name_len, skip = 1;
            if (count > 0) name_len = c[4];
            else if (!(c[4] & 0x08)) name_len = c[4] >> 4;       /* OTP 26's compact lengths */
            else if (!(c[4] & 0x10) && size >= 6) { name_len = (size_t)(c[4] & 0xe0) << 3 | c[5]; skip = 2; }
            else return NULL;
            if (4 + skip + name_len > size) break;
            const char *name = (const char *)c + 4 + skip;
            if (name_len != strlen(module) || memcmp(name, module, name_len)) {
                snprintf(why, len, "the .beam is module %.*s, not %s (the path names the module it loads)", (int)name_len, name, module);
                return why;
            }
            return NULL;
        }
        at += 8 + (((size_t)size + 3) & ~(size_t)3);
    }
    snprintf(why, len, "the .beam has no atom table that names its module");
    return why;
}

static load_state *load_begin(http_req *h, const char *seg, enum MHD_Result *answered)
{
    load_state *s = calloc(1, sizeof *s);
    if (!s) { *answered = MHD_NO; return NULL; }
    h->state = s;
    h->free_state = load_free;
    if (!module_name(h, seg, s->module, sizeof s->module, answered)) return NULL;
    return s;
}

/* The body, checked as the module's .beam. */
static bool load_body(http_req *h, load_state *s, enum MHD_Result *answered)
{
    if (!h->body.len) {
        *answered = http_problem(h, 400, "invalid_arg", "the body must be the module's code (a .beam file, as erlc writes it)", NULL);
        return false;
    }
    char why[400];
    if (beam_problem(h->body.p, h->body.len, s->module, why, sizeof why)) {
        *answered = http_problem(h, 400, "invalid_arg", why, NULL);
        return false;
    }
    s->code = h->body.p;
    s->len = h->body.len;
    return true;
}

enum MHD_Result code_load(http_req *h)
{
    enum MHD_Result answered;
    load_state *s = load_begin(h, h->seg[3], &answered);
    if (!s || !load_body(h, s, &answered)) return answered;
    pm_req *r = load_req(s, h->seg[1]);
    return r ? http_submit(h, r, one_loaded) : MHD_NO;
}

static pm_req *make_load(http_req *h, const group_peer *m)
{
    return load_req(h->state, m->id);
}

static enum MHD_Result group_loaded(http_req *h)
{
    load_state *s = h->state;
    if (!s->purged) {
        s->purged = true;
        return group_fan_out(h, &s->g, make_load, group_loaded);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "module", s->module);
    cJSON *list = cJSON_AddArrayToObject(o, "results");
    for (size_t i = 0; i < s->g.n; i++) {
        cJSON *item = group_outcome(h, &s->g.member[i], load_outcome);
        if (!item) { cJSON_Delete(o); return MHD_NO; }
        cJSON_DeleteItemFromObject(item, "result");
        cJSON_DeleteItemFromObject(item, "value");
        cJSON_AddItemToArray(list, item);
    }
    return http_json(h, 200, o);
}

static enum MHD_Result group_purge(http_req *h)
{
    load_state *s = h->state;
    enum MHD_Result answered;
    /* The path and the peers it picks judged, now the body. */
    if (!load_body(h, s, &answered)) return answered;
    return group_fan_out(h, &s->g, make_load, group_loaded);
}

enum MHD_Result code_load_group(http_req *h)
{
    const char *sel = http_query(h, "selector");
    enum MHD_Result answered;
    if (!sel) return http_problem(h, 400, "invalid_selector", "selector: PUT /modules/{module} loads on the peers a selector picks (selector=* picks every peer)", NULL);
    load_state *s = load_begin(h, h->seg[1], &answered);
    if (!s || !group_by_selector(h, &s->g, sel, &answered)) return answered;
    return group_resolve(h, &s->g, group_purge);
}

/* ---- eval ---- */

/* The expression the node evaluates, with S bound to the text (UTF-8),
 * scanned from line 1, column 1 so that positions are the user's own:
 *   case erl_scan:string(unicode:characters_to_list(S), {1, 1}) of
 *       {ok, T0, End} ->
 *           Added = T0 =:= [] orelse element(1, lists:last(T0)) =/= dot,
 *           T = case Added of true -> T0 ++ [{dot, End}]; false -> T0 end,
 *           case erl_parse:parse_exprs(T) of
 *               {ok, E} -> {value, V, B} = erl_eval:exprs(E, erl_eval:new_bindings()), {value, V, B};
 *               {error, {End, _, _}} when Added ->
 *                   {parse_error, End, <<"the expressions end before they are complete">>};
 *               {error, {L, M, D}} -> {parse_error, L, unicode:characters_to_binary(M:format_error(D))}
 *           end;
 *       {error, {L, M, D}, _} -> {parse_error, L, unicode:characters_to_binary(M:format_error(D))}
 *   end
 * as erl_parse:parse_exprs gives it (erl 25). The full stop the shell
 * wants is added as a token where the text ends, never as text. */
static const char eval_form[] =
    "{'case',1,{call,1,{remote,1,{atom,1,erl_scan},{atom,1,string}},[{call,1,{remote,1,{atom,1,unicode},{atom"
    ",1,characters_to_list}},[{var,1,'S'}]},{tuple,1,[{integer,1,1},{integer,1,1}]}]},[{clause,1,[{tuple,1,[{"
    "atom,1,ok},{var,1,'T0'},{var,1,'End'}]}],[],[{match,1,{var,1,'Added'},{op,1,'orelse',{op,1,'=:=',{var,1,"
    "'T0'},{nil,1}},{op,1,'=/=',{call,1,{atom,1,element},[{integer,1,1},{call,1,{remote,1,{atom,1,lists},{ato"
    "m,1,last}},[{var,1,'T0'}]}]},{atom,1,dot}}}},{match,1,{var,1,'T'},{'case',1,{var,1,'Added'},[{clause,1,["
    "{atom,1,true}],[],[{op,1,'++',{var,1,'T0'},{cons,1,{tuple,1,[{atom,1,dot},{var,1,'End'}]},{nil,1}}}]},{c"
    "lause,1,[{atom,1,false}],[],[{var,1,'T0'}]}]}},{'case',1,{call,1,{remote,1,{atom,1,erl_parse},{atom,1,pa"
    "rse_exprs}},[{var,1,'T'}]},[{clause,1,[{tuple,1,[{atom,1,ok},{var,1,'E'}]}],[],[{match,1,{tuple,1,[{atom"
    ",1,value},{var,1,'V'},{var,1,'B'}]},{call,1,{remote,1,{atom,1,erl_eval},{atom,1,exprs}},[{var,1,'E'},{ca"
    "ll,1,{remote,1,{atom,1,erl_eval},{atom,1,new_bindings}},[]}]}},{tuple,1,[{atom,1,value},{var,1,'V'},{var"
    ",1,'B'}]}]},{clause,1,[{tuple,1,[{atom,1,error},{tuple,1,[{var,1,'End'},{var,1,'_'},{var,1,'_'}]}]}],[[{"
    "var,1,'Added'}]],[{tuple,1,[{atom,1,parse_error},{var,1,'End'},{bin,1,[{bin_element,1,{string,1,\"the exp"
    "ressions end before they are complete\"},default,default}]}]}]},{clause,1,[{tuple,1,[{atom,1,error},{tupl"
    "e,1,[{var,1,'L'},{var,1,'M'},{var,1,'D'}]}]}],[],[{tuple,1,[{atom,1,parse_error},{var,1,'L'},{call,1,{re"
    "mote,1,{atom,1,unicode},{atom,1,characters_to_binary}},[{call,1,{remote,1,{var,1,'M'},{atom,1,format_err"
    "or}},[{var,1,'D'}]}]}]}]}]}]},{clause,1,[{tuple,1,[{atom,1,error},{tuple,1,[{var,1,'L'},{var,1,'M'},{var"
    ",1,'D'}]},{var,1,'_'}]}],[],[{tuple,1,[{atom,1,parse_error},{var,1,'L'},{call,1,{remote,1,{atom,1,unicod"
    "e},{atom,1,characters_to_binary}},[{call,1,{remote,1,{var,1,'M'},{atom,1,format_error}},[{var,1,'D'}]}]}"
    "]}]}]}";

/* erl_eval:expr(Form, [{'S', Text}], none, none, value) as a call's
 * payload: the value alone comes back, not the wrapper's own bindings
 * (which would carry the text, its tokens and its forms). */
static bool eval_payload(buf *out, const char *text, size_t n)
{
    static buf form;
    if (!term_text_etf_once(&form, eval_form, sizeof eval_form - 1)) return false;
    etf_encode_atom(out, "erl_eval", 8);
    etf_encode_atom(out, "expr", 4);
    buf_byte(out, LIST_EXT);
    buf_u32(out, 5);
    buf_put(out, form.p, form.len);
    buf_byte(out, LIST_EXT);                 /* [{'S', <<Text>>}] */
    buf_u32(out, 1);
    buf_byte(out, SMALL_TUPLE_EXT);
    buf_byte(out, 2);
    etf_encode_atom(out, "S", 1);
    buf_byte(out, BINARY_EXT);
    buf_u32(out, (uint32_t)n);
    buf_put(out, text, n);
    buf_byte(out, NIL_EXT);
    etf_encode_atom(out, "none", 4);
    etf_encode_atom(out, "none", 4);
    etf_encode_atom(out, "value", 5);
    buf_byte(out, NIL_EXT);
    return !out->oom;
}

/* "line L, column C" for erl_scan's {L, C}; the term as text otherwise. */
static void location_of(buf *b, const term *loc, const term_names *names)
{
    b->len = 0;
    if (loc->type == TERM_TUPLE && loc->tuple.n == 2 && loc->tuple.items[0]->type == TERM_INT && loc->tuple.items[1]->type == TERM_INT)
        buf_printf(b, "line %lld, column %lld", (long long)loc->tuple.items[0]->i, (long long)loc->tuple.items[1]->i);
    else if (loc->type == TERM_INT)
        buf_printf(b, "line %lld", (long long)loc->i);
    else
        term_print_names(b, loc, names);
    buf_cstr(b);
}

static void text_of(buf *b, const term *t, const term_names *names)
{
    b->len = 0;
    term_print_names(b, t, names);
    buf_cstr(b);
}

static enum MHD_Result evaluated(http_req *h)
{
    pm_req *r = h->pm;
    if (r->status != PM_OK) return http_pm_error(h, r);
    if (strcmp(r->klass, "ok")) {
        /* The expressions raised: as a call that raised. */
        cJSON *o = call_outcome_json(r);
        if (!o) return MHD_NO;
        char d[700];
        const cJSON *klass = cJSON_GetObjectItemCaseSensitive(o, "class"), *reason = cJSON_GetObjectItemCaseSensitive(o, "reason");
        snprintf(d, sizeof d, "%s:%.600s", cJSON_IsString(klass) ? klass->valuestring : r->klass,
                 cJSON_IsString(reason) ? reason->valuestring : "?");
        cJSON_DeleteItemFromObject(o, "outcome");
        return http_problem(h, 422, "exception", d, o);
    }
    arena *a = arena_new();
    etf_error ee = {0};
    /* {value, V, Bindings} or {parse_error, Location, Message}. */
    term *res = a ? etf_decode(a, r->reply.p, r->reply.len, &ee) : NULL;
    if (!res) {
        arena_free(a);
        if (!a) return MHD_NO;
        return http_problemf(h, 502, "bad_reply", "the node's reply could not be decoded: %s at byte %zu (the value is "
                             "the second element of {value, V, Bindings})", ee.msg ? ee.msg : "?", ee.pos);
    }
    if (res->type != TERM_TUPLE || res->tuple.n != 3) {
        arena_free(a);
        return http_problem(h, 502, "bad_reply", "the node's answer to the evaluation was not {value, V, Bindings}", NULL);
    }
    const term_names *names = &r->names;
    buf text = {0};
    enum MHD_Result out;
    if (term_is_atom(res->tuple.items[0], "parse_error")) {
        term *loc = res->tuple.items[1], *msg = res->tuple.items[2];
        location_of(&text, loc, names);
        char d[900];
        snprintf(d, sizeof d, "expr: %s: %.*s", text.p ? (char *)text.p : "?",
                 msg->type == TERM_BINARY ? (int)(msg->bin.len > 700 ? 700 : msg->bin.len) : 1,
                 msg->type == TERM_BINARY ? (const char *)msg->bin.data : "?");
        out = http_problem(h, 400, "invalid_expr", d, NULL);
    } else {
        term *v = res->tuple.items[1], *bindings = res->tuple.items[2];
        cJSON *o = cJSON_CreateObject();
        text_of(&text, v, names);
        cJSON_AddStringToObject(o, "result", text.p ? (char *)text.p : "");
        cJSON *vj = term_to_json_names(v, names);
        cJSON_AddItemToObject(o, "value", vj);
        /* The bindings the expressions made, as the shell shows them. */
        cJSON *bj = cJSON_AddObjectToObject(o, "bindings");
        for (size_t i = 0; bindings->type == TERM_LIST && i < bindings->list.n; i++) {
            term *b = bindings->list.items[i];
            if (b->type != TERM_TUPLE || b->tuple.n != 2 || b->tuple.items[0]->type != TERM_ATOM) continue;
            char name[300];
            snprintf(name, sizeof name, "%.*s", (int)b->tuple.items[0]->atom.len, b->tuple.items[0]->atom.s);
            text_of(&text, b->tuple.items[1], names);
            cJSON_AddStringToObject(bj, name, text.p ? (char *)text.p : "");
        }
        for (size_t i = 0; bindings->type == TERM_MAP && i < bindings->map.n; i++) {
            term *k = bindings->map.kv[2 * i];
            if (k->type != TERM_ATOM) continue;
            char name[300];
            snprintf(name, sizeof name, "%.*s", (int)k->atom.len, k->atom.s);
            text_of(&text, bindings->map.kv[2 * i + 1], names);
            cJSON_AddStringToObject(bj, name, text.p ? (char *)text.p : "");
        }
        if (vj && !text.oom) {
            out = http_json(h, 200, o);
        } else {
            cJSON_Delete(o);
            out = http_out_of_memory(h);
        }
    }
    buf_free(&text);
    arena_free(a);
    return out;
}

enum MHD_Result code_eval(http_req *h)
{
    enum MHD_Result answered;
    cJSON *body = http_body_json(h, &answered);
    if (!body) return answered;
    const cJSON *expr = cJSON_GetObjectItemCaseSensitive(body, "expr");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "timeout_ms");
    int64_t timeout = 5000, ms;
    const char *bad = NULL;
    for (const cJSON *f = body->child; f && !bad; f = f->next)
        if (strcmp(f->string, "expr") && strcmp(f->string, "timeout_ms")) bad = "only expr and timeout_ms may be given";
    if (!bad && (!cJSON_IsString(expr) || !json_strlen(expr))) bad = "expr: must be a string of Erlang expressions, such as \"X = 2, X * 21.\"";
    if (!bad && t) {
        if (cJSON_IsString(t) && !strcmp(t->valuestring, "infinity")) timeout = PM_INFINITY;
        else if (json_int(t, &ms) && ms >= 0 && ms <= 4294967295LL) timeout = ms;
        else bad = "timeout_ms: must be milliseconds (0..4294967295) or \"infinity\"";
    }
    if (bad) { cJSON_Delete(body); return http_problem(h, 400, "invalid_arg", bad, NULL); }
    pm_req *r = pm_req_new(PM_CALL, h->seg[1]);
    bool ok = r && eval_payload(&r->payload, expr->valuestring, json_strlen(expr));
    cJSON_Delete(body);
    if (!ok) { pm_req_free(r); return http_out_of_memory(h); }
    r->timeout_ms = timeout;
    http_then_converts(h);
    return http_submit(h, r, evaluated);
}

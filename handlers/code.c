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
    buf_byte(b, 107);
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
        buf_byte(b, 108);
        buf_u32(b, 1);
        etf_encode_atom(b, s->module, n);
        buf_byte(b, 106);
    } else {
        char file[300];
        snprintf(file, sizeof file, "%s.beam", s->module);
        etf_encode_atom(b, "load_binary", 11);
        buf_byte(b, 108);
        buf_u32(b, 3);
        etf_encode_atom(b, s->module, n);
        put_string_ext(b, file);
        buf_byte(b, 109);
        buf_u32(b, (uint32_t)s->len);
        buf_put(b, s->code, s->len);
        buf_byte(b, 106);
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

static load_state *load_begin(http_req *h, const char *seg, enum MHD_Result *answered)
{
    load_state *s = calloc(1, sizeof *s);
    if (!s) { *answered = MHD_NO; return NULL; }
    h->state = s;
    h->free_state = load_free;
    if (!module_name(h, seg, s->module, sizeof s->module, answered)) return NULL;
    if (!h->body.len) {
        *answered = http_problem(h, 400, "invalid_arg", "the body must be the module's code (a .beam file, as erlc writes it)", NULL);
        return NULL;
    }
    s->code = h->body.p;
    s->len = h->body.len;
    return s;
}

enum MHD_Result code_load(http_req *h)
{
    enum MHD_Result answered;
    load_state *s = load_begin(h, h->seg[3], &answered);
    if (!s) return answered;
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
    return group_fan_out(h, &s->g, make_load, group_loaded);
}

enum MHD_Result code_load_group(http_req *h)
{
    const char *sel = http_query(h, "selector");
    enum MHD_Result answered;
    if (!sel) return http_problem(h, 400, "invalid_selector", "selector: PUT /modules/{module} loads on the peers a selector picks (selector=* picks every peer)", NULL);
    load_state *s = load_begin(h, h->seg[1], &answered);
    if (!s) return answered;
    if (!group_by_selector(h, &s->g, sel, &answered)) return answered;
    return group_resolve(h, &s->g, group_purge);
}

/* ---- eval ---- */

/* The expressions the node evaluates, with S bound to the text (UTF-8):
 *   case erl_scan:string(unicode:characters_to_list(S), 1) of
 *       {ok, T, _} ->
 *           case erl_parse:parse_exprs(T) of
 *               {ok, E} -> {value, V, B} = erl_eval:exprs(E, erl_eval:new_bindings()), {value, V, B};
 *               {error, {L, M, D}} -> {parse_error, L, unicode:characters_to_binary(M:format_error(D))}
 *           end;
 *       {error, {L, M, D}, _} -> {parse_error, L, unicode:characters_to_binary(M:format_error(D))}
 *   end.
 * as erl_parse:parse_exprs gives it (erl 25). */
static const char eval_forms[] =
    "[{'case',1,{call,1,{remote,1,{atom,1,erl_scan},{atom,1,string}},[{call,1,{remote,1,{atom,1,unicode},"
    "{atom,1,characters_to_list}},[{var,1,'S'}]},{integer,1,1}]},[{clause,1,[{tuple,1,[{atom,1,ok},{var,1,'T'},"
    "{var,1,'_'}]}],[],[{'case',1,{call,1,{remote,1,{atom,1,erl_parse},{atom,1,parse_exprs}},[{var,1,'T'}]},"
    "[{clause,1,[{tuple,1,[{atom,1,ok},{var,1,'E'}]}],[],[{match,1,{tuple,1,[{atom,1,value},{var,1,'V'},"
    "{var,1,'B'}]},{call,1,{remote,1,{atom,1,erl_eval},{atom,1,exprs}},[{var,1,'E'},{call,1,{remote,1,"
    "{atom,1,erl_eval},{atom,1,new_bindings}},[]}]}},{tuple,1,[{atom,1,value},{var,1,'V'},{var,1,'B'}]}]},"
    "{clause,1,[{tuple,1,[{atom,1,error},{tuple,1,[{var,1,'L'},{var,1,'M'},{var,1,'D'}]}]}],[],[{tuple,1,"
    "[{atom,1,parse_error},{var,1,'L'},{call,1,{remote,1,{atom,1,unicode},{atom,1,characters_to_binary}},"
    "[{call,1,{remote,1,{var,1,'M'},{atom,1,format_error}},[{var,1,'D'}]}]}]}]}]}]},{clause,1,[{tuple,1,"
    "[{atom,1,error},{tuple,1,[{var,1,'L'},{var,1,'M'},{var,1,'D'}]},{var,1,'_'}]}],[],[{tuple,1,"
    "[{atom,1,parse_error},{var,1,'L'},{call,1,{remote,1,{atom,1,unicode},{atom,1,characters_to_binary}},"
    "[{call,1,{remote,1,{var,1,'M'},{atom,1,format_error}},[{var,1,'D'}]}]}]}]}]}]";

/* erl_eval:exprs(Forms, [{'S', Text}]) as a call's payload. */
static bool eval_payload(buf *out, const char *text, size_t n)
{
    static buf forms;           /* encoded once */
    if (!forms.len) {
        arena *a = arena_new();
        term_text_error te;
        term_ctx none = {0};
        term *t = a ? term_parse(a, eval_forms, sizeof eval_forms - 1, &none, &te) : NULL;
        if (t) etf_encode_body(&forms, t);
        arena_free(a);
        if (!t || forms.oom) { buf_free(&forms); return false; }
    }
    etf_encode_atom(out, "erl_eval", 8);
    etf_encode_atom(out, "exprs", 5);
    buf_byte(out, 108);
    buf_u32(out, 2);
    buf_put(out, forms.p, forms.len);
    buf_byte(out, 108);                 /* [{'S', <<Text>>}] */
    buf_u32(out, 1);
    buf_byte(out, 104);
    buf_byte(out, 2);
    etf_encode_atom(out, "S", 1);
    buf_byte(out, 109);
    buf_u32(out, (uint32_t)n);
    buf_put(out, text, n);
    buf_byte(out, 106);
    buf_byte(out, 106);
    return !out->oom;
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
    term *t = a ? etf_decode(a, r->reply.p, r->reply.len, &ee) : NULL;
    /* {value, Result, WrapperBindings}; Result {value, V, B} or {parse_error, L, Msg}. */
    term *res = t && t->type == TERM_TUPLE && t->tuple.n == 3 ? t->tuple.items[1] : NULL;
    if (!res || res->type != TERM_TUPLE || res->tuple.n != 3) {
        arena_free(a);
        return http_problem(h, 502, "bad_reply", "the node's answer to the evaluation was not {value, V, Bindings}", NULL);
    }
    const term_names *names = &r->names;
    buf text = {0};
    enum MHD_Result out;
    if (term_is_atom(res->tuple.items[0], "parse_error")) {
        term *loc = res->tuple.items[1], *msg = res->tuple.items[2];
        text_of(&text, loc, names);
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
        cJSON_AddItemToObject(o, "value", vj ? vj : cJSON_CreateNull());
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
        out = http_json(h, 200, o);
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
    /* As at the shell, the expressions end with a full stop; one is added
     * when the text does not end with one. */
    size_t n = json_strlen(expr), end = n;
    while (end && (expr->valuestring[end - 1] == ' ' || expr->valuestring[end - 1] == '\n' ||
                   expr->valuestring[end - 1] == '\t' || expr->valuestring[end - 1] == '\r')) end--;
    buf text = {0};
    buf_put(&text, expr->valuestring, n);
    if (!end || expr->valuestring[end - 1] != '.') buf_str(&text, "\n.");
    cJSON_Delete(body);
    pm_req *r = pm_req_new(PM_CALL, h->seg[1]);
    bool ok = r && !text.oom && eval_payload(&r->payload, (const char *)text.p, text.len);
    buf_free(&text);
    if (!ok) { pm_req_free(r); return http_problem(h, 500, "internal", "out of memory", NULL); }
    r->timeout_ms = timeout;
    http_then_converts(h);
    return http_submit(h, r, evaluated);
}

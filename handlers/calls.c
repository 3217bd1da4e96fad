/*
 * calls.c — /peers/{id}/call, /cast, /send: peer:call/4,5, cast/4, send/3.
 *
 * Arguments are mapped to terms and encoded here, in the handler; the
 * manager only frames them. Text that names a pid, port or reference of the
 * peer needs the peer's node name and creation: the handler then asks the
 * manager for them (PM_IDENTITY) and maps the request again.
 */
#include "common.h"
#include "etf.h"
#include "handlers.h"
#include "term_check.h"
#include "term_json.h"
#include "term_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NEEDS_PEER "pids, ports and references need a running peer"

typedef struct {
    pm_op op;
    cJSON *body;
    term_ctx ctx;
    arena *ctx_arena;
    bool by_name;               /* a send to a registered name, made as a call */
    /* What prepare() made of the body (on the loop's helper when large). */
    bool ok, needs_ctx;
    buf payload;
    int64_t timeout_ms;
    map_error e;
} call_state;

static void state_free(void *p)
{
    call_state *s = p;
    if (!s) return;
    cJSON_Delete(s->body);
    buf_free(&s->payload);
    arena_free(s->ctx_arena);
    free(s);
}

static bool fail(map_error *e, const char *code, const char *detail)
{
    e->status = 400;
    snprintf(e->code, sizeof e->code, "%s", code);
    snprintf(e->detail, sizeof e->detail, "%s", detail);
    return false;
}

/* Out of memory is peerd's, not the request's: 503, whatever the codec said. */
static bool no_memory(map_error *e)
{
    fail(e, "out_of_memory", HTTP_NOMEM_DETAIL);
    e->status = 503;
    return false;
}

/* The codecs say "out of memory" in their messages (etf_out_of_memory). */
static bool is_oom(const char *msg)
{
    return strstr(msg, etf_out_of_memory) != NULL;
}

/* A JSON string as an atom, byte for byte (NULs included), or NULL and 400. */
static term *atom_of(arena *a, const cJSON *j, const char *key, map_error *e)
{
    char d[160];
    if (!cJSON_IsString(j) || !json_strlen(j)) {
        snprintf(d, sizeof d, "%s: must be a non-empty string (an atom name)", key);
        fail(e, "invalid_arg", d);
        return NULL;
    }
    term *t = term_atom(a, j->valuestring, json_strlen(j));
    if (!t) { no_memory(e); return NULL; }
    if (term_check(t, key, d, sizeof d)) return t;
    fail(e, "invalid_arg", d);
    return NULL;
}

static bool atom_field(arena *a, const cJSON *body, const char *key, buf *out, map_error *e)
{
    term *t = atom_of(a, cJSON_GetObjectItemCaseSensitive(body, key), key, e);
    if (t) etf_encode_body(out, t);
    return t != NULL;
}

/* t itself if the node can decode it (term_check.h); else NULL and 400 invalid_term. */
static term *decodable(term *t, const char *what, map_error *e)
{
    char err[512];
    if (term_check(t, what, err, sizeof err)) return t;
    is_oom(err) ? no_memory(e) : fail(e, "invalid_term", err);
    return NULL;
}

/* Erlang text to a term; `what` names it in the error. A pid, port or
 * reference before the peer's identity is known sets *needs_ctx. */
static term *text_term(arena *a, const cJSON *j, const term_ctx *ctx, const char *what, map_error *e, bool *needs_ctx)
{
    const char *text = j->valuestring;
    size_t len = json_strlen(j);
    term_text_error te;
    term *v = term_parse(a, text, len, ctx, &te);
    if (!v) {
        char err[512];
        if (!ctx->node && !strcmp(te.msg, NEEDS_PEER)) *needs_ctx = true;
        snprintf(err, sizeof err, "%s: %s at offset %zu", what, te.msg, te.pos);
        is_oom(te.msg) ? no_memory(e) : fail(e, "invalid_term", err);
    }
    return v ? decodable(v, what, e) : NULL;
}

/* The JSON mapping's counterpart of text_term. */
static term *json_term(arena *a, const cJSON *j, const term_ctx *ctx, const char *path, map_error *e, bool *needs_ctx)
{
    char err[512];
    term *v = term_from_json(a, j, ctx, path, err, sizeof err);
    if (!v) {
        if (!ctx->node && strstr(err, NEEDS_PEER)) *needs_ctx = true;
        is_oom(err) ? no_memory(e) : fail(e, "invalid_term", err);
    }
    return v ? decodable(v, path, e) : NULL;
}

/* A term from JSON, or from Erlang text in `text_key` if given instead. */
static term *value_field(arena *a, const cJSON *body, const char *key, const char *text_key, const term_ctx *ctx,
                         map_error *e, bool *needs_ctx)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(body, key);
    const cJSON *t = text_key ? cJSON_GetObjectItemCaseSensitive(body, text_key) : NULL;
    char err[512];
    if (t) {
        if (j) { snprintf(err, sizeof err, "give %s or %s, not both", key, text_key); fail(e, "invalid_arg", err); return NULL; }
        if (!cJSON_IsString(t)) { snprintf(err, sizeof err, "%s: must be a string of Erlang term text", text_key); fail(e, "invalid_arg", err); return NULL; }
        return text_term(a, t, ctx, text_key, e, needs_ctx);
    }
    if (!j) { snprintf(err, sizeof err, "%s: missing", key); fail(e, "invalid_arg", err); return NULL; }
    return json_term(a, j, ctx, key, e, needs_ctx);
}

/* Fields of a group call's body that say where it goes, not what. */
static bool target_field(const char *k) { return !strcmp(k, "peers") || !strcmp(k, "selector"); }

bool call_wait_unreachable(const cJSON *body)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "wait_unreachable"));
}

bool call_payload(pm_op op, const cJSON *body, const term_ctx *ctx, bool group, buf *out, int64_t *timeout,
                  bool *by_name, map_error *e, bool *needs_ctx)
{
    arena *a = arena_new();
    if (!a) return no_memory(e);
    bool ok = false;
    char err[600];
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(body, "wait_unreachable");
    if (w && !cJSON_IsBool(w)) {
        fail(e, "invalid_arg", "wait_unreachable: must be true or false");
        goto out;
    }
    if (op == PM_SEND) {
        for (const cJSON *f = body->child; f; f = f->next)
            if (strcmp(f->string, "to") && strcmp(f->string, "message") && strcmp(f->string, "message_text") &&
                strcmp(f->string, "wait_unreachable")) {
                snprintf(err, sizeof err, "unknown field: %s", f->string);
                fail(e, "invalid_arg", err);
                goto out;
            }
        const cJSON *to = cJSON_GetObjectItemCaseSensitive(body, "to");
        term *dest = NULL;
        if (cJSON_IsString(to) && to->valuestring[0] == '<') {
            if (!(dest = text_term(a, to, ctx, "to", e, needs_ctx))) goto out;
        } else if (cJSON_IsString(to)) {
            if (!(dest = atom_of(a, to, "to", e))) goto out;
        } else if (cJSON_IsObject(to)) {
            if (!(dest = json_term(a, to, ctx, "to", e, needs_ctx))) goto out;
        } else {
            fail(e, "invalid_arg", "to: must be a registered name, a pid \"<0.N.M>\" or {\"$etf\": ...}");
            goto out;
        }
        if (dest->type != TERM_ATOM && dest->type != TERM_PID) { fail(e, "invalid_arg", "to: must be an atom or a pid"); goto out; }
        term *msg = value_field(a, body, "message", "message_text", ctx, e, needs_ctx);
        if (!msg) goto out;
        *by_name = dest->type == TERM_ATOM;
        if (*by_name) {
            /* The node's control process runs Name ! Msg, which raises (and
             * halts the node) when nothing has that name. So a send by name
             * goes as a call of erlang:send(Name, Msg, []), whose badarg
             * comes back as an answer. */
            term *args = term_list(a, 3, NULL);
            if (!args || !(args->list.items[2] = term_nil(a))) goto out;
            args->list.items[0] = dest;
            args->list.items[1] = msg;
            etf_encode_atom(out, "erlang", 6);
            etf_encode_atom(out, "send", 4);
            etf_encode_body(out, args);
            *timeout = 5000;
        } else {
            etf_encode_body(out, dest);
            etf_encode_body(out, msg);
        }
        ok = true;
        goto out;
    }
    for (const cJSON *f = body->child; f; f = f->next)
        if (strcmp(f->string, "module") && strcmp(f->string, "function") && strcmp(f->string, "args") &&
            strcmp(f->string, "wait_unreachable") &&
            (op != PM_CALL || strcmp(f->string, "timeout_ms")) && (!group || !target_field(f->string))) {
            snprintf(err, sizeof err, "unknown field: %s", f->string);
            fail(e, "invalid_arg", err);
            goto out;
        }
    if (!atom_field(a, body, "module", out, e) || !atom_field(a, body, "function", out, e)) goto out;
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(body, "args");
    term *list;
    if (!args) {
        list = term_nil(a);
    } else if (cJSON_IsString(args)) {
        if (!(list = text_term(a, args, ctx, "args", e, needs_ctx))) goto out;
        if ((list->type != TERM_LIST && list->type != TERM_NIL) || (list->type == TERM_LIST && list->list.tail->type != TERM_NIL)) {
            fail(e, "invalid_arg", "args: the Erlang text must be a proper list, e.g. \"[kernel, foo]\"");
            goto out;
        }
    } else if (cJSON_IsArray(args)) {
        if (!(list = json_term(a, args, ctx, "args", e, needs_ctx))) goto out;
    } else {
        fail(e, "invalid_arg", "args: must be an array, or a string of Erlang text that is a list");
        goto out;
    }
    etf_encode_body(out, list);
    *timeout = 5000;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "timeout_ms");
    if (t) {
        int64_t ms;
        if (cJSON_IsString(t) && !json_has_nul(t) && !strcmp(t->valuestring, "infinity")) *timeout = PM_INFINITY;
        else if (json_int(t, &ms) && ms >= 0 && ms <= 4294967295LL) *timeout = ms;
        else { fail(e, "invalid_arg", "timeout_ms: must be milliseconds (0..4294967295) or \"infinity\""); goto out; }
    }
    ok = true;
out:
    arena_free(a);
    if ((!ok && !e->code[0]) || (ok && out->oom)) return no_memory(e);
    return ok;
}

/* Where an outcome's members go: into a cJSON object (o), or printed onto
 * b as the same text cJSON would print, so that the calls answered most
 * (/call's 200, every line of a batch) build no tree. */
typedef struct { cJSON *o; buf *b; bool first; } members;

static void put_key(members *m, const char *key)
{
    if (!m->first) buf_byte(m->b, ',');
    m->first = false;
    json_put_string(m->b, key, strlen(key));
    buf_byte(m->b, ':');
}

static void put_string(members *m, const char *key, const char *s)
{
    if (m->o) { cJSON_AddStringToObject(m->o, key, s); return; }
    put_key(m, key);
    json_put_string(m->b, s, strlen(s));
}

/* False if it ran out of memory (a tree's item: its text could not be made). */
static bool put_term(members *m, const char *key, const term *t, const term_names *names)
{
    if (m->o) {
        cJSON *v = term_to_json_names(t, names);
        cJSON_AddItemToObject(m->o, key, v);
        return v != NULL;
    }
    put_key(m, key);
    return term_json_print(m->b, t, names);
}

/* An answered CALL's reply as members: result and value when it returned;
 * class, reason, reason_value and stacktrace when it raised (detail gets
 * "class:reason"). REPLY_BAD (detail says why) if the reply cannot be
 * decoded, REPLY_NOMEM if peerd ran out of memory printing it. */
enum reply_fit { REPLY_OK, REPLY_BAD, REPLY_NOMEM };

static bool raised(const pm_req *r) { return strcmp(r->klass, "ok") != 0; }

static enum reply_fit reply_into(members *m, const pm_req *r, char *detail, size_t dlen)
{
    arena *a = arena_new();
    etf_error ee = {0};
    term *t = a ? etf_decode(a, r->reply.p, r->reply.len, &ee) : NULL;
    if (!t) {
        arena_free(a);
        if (!a || ee.msg == etf_out_of_memory) return REPLY_NOMEM;
        snprintf(detail, dlen, "the node's reply could not be decoded: %s at byte %zu", ee.msg ? ee.msg : "?", ee.pos);
        return REPLY_BAD;
    }
    buf text = {0}, st = {0};
    const term_names *names = &r->names;   /* how the node numbers other nodes */
    bool v;
    if (!raised(r)) {
        term_print_names(&text, t, names);
        put_string(m, "result", buf_cstr(&text) ? (char *)text.p : "");
        v = put_term(m, "value", t, names);
    } else {
        /* {Reason, Stacktrace} for throw/error/exit; the bare reason for crash. */
        term *reason = t, *stack = NULL;
        if (strcmp(r->klass, "crash") && t->type == TERM_TUPLE && t->tuple.n == 2) {
            reason = t->tuple.items[0];
            stack = t->tuple.items[1];
        }
        put_string(m, "class", r->klass);
        term_print_names(&text, reason, names);
        put_string(m, "reason", buf_cstr(&text) ? (char *)text.p : "");
        v = put_term(m, "reason_value", reason, names);
        if (stack) term_print_names(&st, stack, names);
        put_string(m, "stacktrace", buf_cstr(&st) ? (char *)st.p : "[]");
        snprintf(detail, dlen, "%s:%.600s", r->klass, buf_cstr(&text) ? (char *)text.p : "");
    }
    bool oom = !v || text.oom || st.oom;
    buf_free(&text);
    buf_free(&st);
    arena_free(a);
    return oom ? REPLY_NOMEM : REPLY_OK;
}

static void outcome_error(members *m, const char *outcome, const char *code, const char *detail)
{
    put_string(m, "outcome", outcome);
    put_string(m, "code", code);
    put_string(m, "detail", detail);
}

/* The outcome's members (openapi.yaml: Outcome). */
static void outcome_into(members *m, const pm_req *r)
{
    if (r->status != PM_OK) {
        unsigned st;
        const char *code = pm_error_code(r->status, &st);
        outcome_error(m, !strcmp(code, "timeout") || !strcmp(code, "noconnection") ? code : "error", code,
                      r->detail ? r->detail : code);
        return;
    }
    if (r->op != PM_CALL) {
        put_string(m, "outcome", "ok");
        return;
    }
    char detail[700];
    size_t mark = m->b ? m->b->len : 0;
    put_string(m, "outcome", raised(r) ? "exception" : "ok");
    enum reply_fit fit = reply_into(m, r, detail, sizeof detail);
    if (fit == REPLY_OK) return;
    /* Taken back; the error instead. */
    if (m->o) {
        cJSON_Delete(m->o->child);
        m->o->child = NULL;
    } else {
        m->b->len = mark;
        m->first = !mark;
    }
    if (fit == REPLY_BAD) outcome_error(m, "error", "bad_reply", detail);
    else outcome_error(m, "error", "out_of_memory", HTTP_NOMEM_DETAIL);
}

cJSON *call_outcome_json(const pm_req *r)
{
    members m = { cJSON_CreateObject(), NULL, false };
    if (m.o) outcome_into(&m, r);
    return m.o;
}

void call_outcome_print(buf *b, const pm_req *r)
{
    members m = { NULL, b, false };
    outcome_into(&m, r);
}

void call_error_print(buf *b, const char *code, const char *detail)
{
    members m = { NULL, b, false };
    outcome_error(&m, "error", code, detail);
}

static enum MHD_Result call_answered(http_req *h)
{
    pm_req *r = h->pm;
    if (r->status != PM_OK) return http_pm_error(h, r);
    call_state *s = h->state;
    if (s->by_name) {
        if (!strcmp(r->klass, "ok")) return http_bytes(h, 202, "application/json; charset=utf-8", "{}", 2, NULL);
        const cJSON *to = cJSON_GetObjectItemCaseSensitive(s->body, "to");
        if (!strcmp(r->klass, "error"))
            return http_problemf(h, 404, "not_registered", "no process is registered as %s on the node; nothing was sent",
                                 to->valuestring);
    }
    if (r->op != PM_CALL) return http_bytes(h, 202, "application/json; charset=utf-8", "{}", 2, NULL);
    char detail[700];
    buf b = {0};
    /* A return is printed without a tree; an exception's members join the problem object. */
    members m = { raised(r) ? cJSON_CreateObject() : NULL, &b, true };
    buf_byte(&b, '{');
    enum reply_fit fit = !raised(r) || m.o ? reply_into(&m, r, detail, sizeof detail) : REPLY_NOMEM;
    buf_byte(&b, '}');
    if (fit != REPLY_OK) {
        cJSON_Delete(m.o);
        buf_free(&b);
        return fit == REPLY_BAD ? http_problem(h, 502, "bad_reply", detail, NULL) : http_out_of_memory(h);
    }
    if (m.o) {
        buf_free(&b);
        return http_problem(h, 422, "exception", detail, m.o);
    }
    return http_buf(h, 200, "application/json; charset=utf-8", &b, NULL);
}

static enum MHD_Result submit(http_req *h);

static enum MHD_Result identity_answered(http_req *h)
{
    pm_req *r = h->pm;
    call_state *s = h->state;
    if (r->status != PM_OK) return http_pm_error(h, r);
    s->ctx = r->identity;
    s->ctx_arena = r->identity_arena;
    r->identity_arena = NULL;
    return submit(h);
}

/* The body read and mapped to the payload: pure, so that a large body is
 * turned into terms off the loop (http_work). */
static void prepare(http_req *h)
{
    call_state *s = h->state;
    s->e = (map_error){ 0, "", "" };
    s->needs_ctx = s->ok = false;
    if (!s->body && !(s->body = http_parse_body(&h->body, s->e.detail, sizeof s->e.detail))) {
        snprintf(s->e.code, sizeof s->e.code, "invalid_json");
        return;
    }
    s->payload.len = 0;
    s->payload.oom = false;
    s->ok = call_payload(s->op, s->body, &s->ctx, false, &s->payload, &s->timeout_ms, &s->by_name, &s->e, &s->needs_ctx);
}

static enum MHD_Result prepared(http_req *h)
{
    call_state *s = h->state;
    if (!s->ok) {
        if (s->needs_ctx && s->body) {
            pm_req *ir = pm_req_new(PM_IDENTITY, h->seg[1]);
            return ir ? http_submit(h, ir, identity_answered) : MHD_NO;
        }
        return http_problem(h, s->e.status ? s->e.status : 400, s->e.code, s->e.detail, NULL);
    }
    pm_req *r = pm_req_new(s->op, h->seg[1]);
    if (!r) return MHD_NO;
    r->payload = s->payload;
    r->timeout_ms = s->timeout_ms;
    r->wait_unreachable = call_wait_unreachable(s->body);
    s->payload = (buf){0};
    if (s->by_name) r->op = PM_CALL;
    http_then_converts(h);
    return http_submit(h, r, call_answered);
}

static enum MHD_Result submit(http_req *h)
{
    return http_work(h, prepare, prepared);
}

static enum MHD_Result start(http_req *h, pm_op op)
{
    call_state *s = calloc(1, sizeof *s);
    if (!s) return MHD_NO;
    s->op = op;
    h->state = s;
    h->free_state = state_free;
    return submit(h);
}

enum MHD_Result calls_call(http_req *h) { return start(h, PM_CALL); }
enum MHD_Result calls_cast(http_req *h) { return start(h, PM_CAST); }
enum MHD_Result calls_send(http_req *h) { return start(h, PM_SEND); }

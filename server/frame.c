/*
 * frame.c — plain, NDJSON and SSE forms of the manager's records.
 */
#include "frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "answer.h"
#include "base64.h"
#include "etf.h"
#include "term_json.h"

void buf_iso_time(buf *out, int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char s[24];
    int v[] = { tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour % 24, tm.tm_min % 60, tm.tm_sec % 61, (int)(ms % 1000) };
    static const char sep[] = "--T::.Z";
    static const int width[] = { 4, 2, 2, 2, 2, 2, 3 };
    int k = 0;
    for (int i = 0; i < 7; i++) {
        for (int d = width[i] - 1; d >= 0; d--, v[i] /= 10) s[k + d] = (char)('0' + v[i] % 10);
        k += width[i];
        s[k++] = sep[i];
    }
    buf_put(out, s, (size_t)k);
}

void iso_time(char *out, size_t n, int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour % 24, tm.tm_min % 60, tm.tm_sec % 61, (int)(ms % 1000));
}

/* o as text, unless an allocation failed since `mark` (a member missing):
 * then out is out of memory, which cuts the stream it is for. */
static void put_json(buf *out, cJSON *o, unsigned long mark)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    if (s && http_json_failures() == mark) buf_str(out, s); else out->oom = true;
    free(s);
    cJSON_Delete(o);
}

void frame_event_json(buf *out, uint64_t instance, const pm_event *e)
{
    unsigned long mark = http_json_failures();
    char when[64], id[48], inc[24];
    iso_time(when, sizeof when, e->time);
    snprintf(id, sizeof id, "%016llx-%llu", (unsigned long long)instance, (unsigned long long)e->seq);
    snprintf(inc, sizeof inc, "%016llx", (unsigned long long)e->incarnation);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddNumberToObject(o, "seq", (double)e->seq);
    cJSON_AddStringToObject(o, "time", when);
    cJSON_AddStringToObject(o, "type", e->type);
    cJSON_AddStringToObject(o, "peer", e->peer);
    cJSON_AddStringToObject(o, "incarnation", inc);
    if (e->node) cJSON_AddStringToObject(o, "node", e->node); else cJSON_AddNullToObject(o, "node");
    if (e->reason) cJSON_AddStringToObject(o, "reason", e->reason); else cJSON_AddNullToObject(o, "reason");
    cJSON_AddRawToObject(o, "labels", e->labels_json ? e->labels_json : "{}");
    put_json(out, o, mark);
}

/* A message too large to print here: its ETF as {"$etf": base64}, which
 * costs a pass over its bytes (in pieces: large_message_part); one
 * dropped: its size. Written directly: base64 needs no escapes, and cJSON
 * would copy it twice more. */
static void large_message_head(buf *out, uint64_t incarnation, const pm_message *g)
{
    buf_printf(out, "{\"id\":\"%016llx-%llu\",\"seq\":%llu,\"to\":", (unsigned long long)incarnation,
               (unsigned long long)g->seq, (unsigned long long)g->seq);
    json_put_string(out, g->to, strlen(g->to));
    if (!g->etf) buf_printf(out, ",\"result\":null,\"value\":null,\"dropped_bytes\":%zu}", g->len);
    else buf_str(out, ",\"result\":null,\"value\":{\"$etf\":\"");
}

/* Bytes [from, to) of the version byte and the body, as base64. The
 * version byte and the body's first two bytes make one whole base64
 * group, so the body is encoded where it lies, not copied behind 131. */
static void large_message_part(buf *out, uint64_t incarnation, const pm_message *g, size_t from, size_t to)
{
    if (!from) large_message_head(out, incarnation, g);
    if (!g->etf) return;
    if (!from && to) {
        const uint8_t head[3] = { ETF_VERSION, g->etf[0], g->etf[1] };
        base64_encode(out, head, 3);
        from = 3;
    }
    if (to > from) base64_encode(out, g->etf + from - 1, to - from);
    if (to == g->len + 1) buf_str(out, "\"}}");
}

void frame_message_json(buf *out, uint64_t incarnation, const pm_message *g, const term_names *names)
{
    char id[48];
    snprintf(id, sizeof id, "%016llx-%llu", (unsigned long long)incarnation, (unsigned long long)g->seq);
    if (!g->etf || g->len > PM_MESSAGE_CONVERT_MAX) {
        large_message_part(out, incarnation, g, 0, g->etf ? g->len + 1 : 0);
        return;
    }
    unsigned long mark = http_json_failures();
    arena *a = arena_new();
    term *t = a ? etf_decode_body(a, g->etf, g->len, NULL) : NULL;   /* stored as valid ETF: NULL is memory */
    buf text = {0};
    if (t) term_print_names(&text, t, names);
    if (!t || !buf_cstr(&text)) {
        out->oom = true;
        buf_free(&text);
        arena_free(a);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddNumberToObject(o, "seq", (double)g->seq);
    cJSON_AddStringToObject(o, "to", g->to);
    cJSON_AddStringToObject(o, "result", (char *)text.p);
    cJSON *v = term_to_json_names(t, names);
    if (v) cJSON_AddItemToObject(o, "value", v);
    else out->oom = true;       /* no value: out of memory too */
    put_json(out, o, mark);
    buf_free(&text);
    arena_free(a);
}

/* ---- plain and NDJSON ---- */

static void text_console(buf *out, uint64_t token, uint64_t end, const uint8_t *d, size_t n)
{
    (void)token, (void)end;
    buf_put(out, d, n);
}

static void text_message(buf *out, uint64_t token, const pm_message *g, const term_names *names)
{
    frame_message_json(out, token, g, names);
    buf_byte(out, '\n');
}

static void text_message_part(buf *out, uint64_t token, const pm_message *g, size_t from, size_t to)
{
    large_message_part(out, token, g, from, to);
    if (to == g->len + 1) buf_byte(out, '\n');
}

static void text_event(buf *out, uint64_t token, const pm_event *e)
{
    frame_event_json(out, token, e);
    buf_byte(out, '\n');
}

static void text_missed(buf *out, enum pm_follow_kind kind, uint64_t token, uint64_t missed, uint64_t resume)
{
    (void)token, (void)resume;
    if (kind == PM_FOLLOW_CONSOLE) buf_printf(out, "\n[peerd: %llu bytes of console output missed here]\n", (unsigned long long)missed);
    else buf_printf(out, "{\"missed\":%llu}\n", (unsigned long long)missed);
}

static void text_reset(buf *out, enum pm_follow_kind kind, uint64_t token, const char *peer_id)
{
    if (kind == PM_FOLLOW_CONSOLE)
        buf_printf(out, "[peerd: reset: the id asked for is not of this node; incarnation %016llx of peer %s from its start]\n",
                   (unsigned long long)token, peer_id);
    else
        buf_printf(out, "{\"reset\":{\"%s\":\"%016llx\"}}\n", kind == PM_FOLLOW_EVENTS ? "instance" : "incarnation",
                   (unsigned long long)token);
}

const pm_framer frame_text = { text_console, text_message, text_message_part, text_event, text_missed, text_reset };

/* ---- Server-Sent Events ---- */

/* One event. Every line of the data is a data: line, split where the SSE
 * grammar ends a line (CR, LF or CRLF), so that no parser drops what follows
 * a bare CR; the client joins the lines with LF. */
static void sse_event(buf *out, const char *event, uint64_t token, uint64_t pos, const uint8_t *data, size_t n)
{
    if (event) buf_printf(out, "event: %s\n", event);
    buf_printf(out, "id: %016llx-%llu\n", (unsigned long long)token, (unsigned long long)pos);
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || data[i] == '\n' || data[i] == '\r') {
            buf_str(out, "data: ");
            buf_put(out, data + start, i - start);
            buf_byte(out, '\n');
            if (i + 1 < n && data[i] == '\r' && data[i + 1] == '\n') i++;
            start = i + 1;
        }
    }
    buf_byte(out, '\n');
}

static void sse_console(buf *out, uint64_t token, uint64_t end, const uint8_t *d, size_t n)
{
    sse_event(out, NULL, token, end, d, n);
}

static void sse_message(buf *out, uint64_t token, const pm_message *g, const term_names *names)
{
    buf json = {0};
    frame_message_json(&json, token, g, names);
    sse_event(out, "message", token, g->seq, json.p, json.len);
    if (json.oom) out->oom = true;
    buf_free(&json);
}

/* Its JSON is one line (base64, and a name whose controls are escaped):
 * one data: line, written as it goes. */
static void sse_message_part(buf *out, uint64_t token, const pm_message *g, size_t from, size_t to)
{
    if (!from) buf_printf(out, "event: message\nid: %016llx-%llu\ndata: ", (unsigned long long)token, (unsigned long long)g->seq);
    large_message_part(out, token, g, from, to);
    if (to == g->len + 1) buf_str(out, "\n\n");
}

static void sse_peer_event(buf *out, uint64_t token, const pm_event *e)
{
    buf json = {0};
    frame_event_json(&json, token, e);
    sse_event(out, "peer", token, e->seq, json.p, json.len);
    if (json.oom) out->oom = true;
    buf_free(&json);
}

static void sse_missed(buf *out, enum pm_follow_kind kind, uint64_t token, uint64_t missed, uint64_t resume)
{
    (void)kind;
    char n[24];
    int k = snprintf(n, sizeof n, "%llu", (unsigned long long)missed);
    sse_event(out, "missed", token, resume, (const uint8_t *)n, (size_t)k);
}

static void sse_reset(buf *out, enum pm_follow_kind kind, uint64_t token, const char *peer_id)
{
    (void)peer_id;
    buf_printf(out, "event: reset\nid: %016llx-0\ndata: {\"%s\":\"%016llx\"}\n\n", (unsigned long long)token,
               kind == PM_FOLLOW_EVENTS ? "instance" : "incarnation", (unsigned long long)token);
}

const pm_framer frame_sse = { sse_console, sse_message, sse_message_part, sse_peer_event, sse_missed, sse_reset };

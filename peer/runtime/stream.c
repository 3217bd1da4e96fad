/*
 * stream.c — the loop-to-response byte stream.
 */
#include "stream.h"

#include <stdlib.h>
#include <string.h>

stream *stream_new(void (*park)(void *), void (*wake)(void *), void *ud)
{
    stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->refs = 2;   /* the loop and the response */
    s->park = park;
    s->wake = wake;
    s->ud = ud;
    return s;
}

void stream_unref(stream *s)
{
    if (!s || --s->refs) return;
    buf_free(&s->data);
    free(s);
}

static void wake_reader(stream *s)
{
    if (s->parked) {
        s->parked = false;
        s->wake(s->ud);
    }
}

size_t stream_room(stream *s)
{
    size_t used = s->data.len - s->off;
    size_t room = used < STREAM_CAP ? STREAM_CAP - used : 0;
    if (!room) s->starved = true;
    return room;
}

buf *stream_append_begin(stream *s)
{
    if (s->off == s->data.len) s->off = s->data.len = 0;
    else if (s->off >= STREAM_CAP) {   /* a reader that never empties it: keep the buffer bounded */
        buf_consume(&s->data, s->off);
        s->off = 0;
    }
    s->begun = s->data.len;
    return &s->data;
}

void stream_append_end(stream *s)
{
    if (s->data.oom && s->state == STREAM_OPEN) s->state = STREAM_CUT;
    if (s->state != STREAM_OPEN) {      /* finished, or cut: what comes now is not sent */
        s->data.oom = false;
        s->data.len = s->begun;
    }
    if (s->data.len > s->begun || s->state == STREAM_CUT) wake_reader(s);
}

bool stream_adopt(stream *s, uint8_t *p, size_t len, size_t cap)
{
    if (s->state != STREAM_OPEN) { free(p); return true; }
    if (stream_held(s)) return false;
    buf_free(&s->data);
    s->data = (buf){ .p = p, .len = len, .cap = cap };
    s->off = 0;
    if (len) wake_reader(s);
    return true;
}

void stream_client_gone(stream *s)
{
    s->gone = true;
    bool parked = s->parked;
    s->parked = false;
    if (parked) s->wake(s->ud);
}

void stream_finish(stream *s, stream_state how)
{
    if (s->state == STREAM_OPEN) s->state = how;
    wake_reader(s);
}

size_t stream_take(stream *s, void *out, size_t max, stream_state *st, bool *refill)
{
    size_t avail = s->data.len - s->off, n = avail < max ? avail : max;
    if (n) memcpy(out, s->data.p + s->off, n);
    s->off += n;
    if (s->off == s->data.len) {
        s->off = s->data.len = 0;
        /* Emptied: a buffer grown (or adopted) past the cap is not kept for
         * the stream's life. */
        if (s->data.cap > 2 * STREAM_CAP) buf_free(&s->data);
    }
    *refill = false;
    if (s->starved && s->data.len - s->off < STREAM_CAP / 2) {
        s->starved = false;
        *refill = true;
    }
    *st = n || s->gone ? (s->gone ? STREAM_CUT : STREAM_OPEN) : s->state;
    if (!n && *st == STREAM_OPEN) {
        s->parked = true;
        s->park(s->ud);
    }
    return n;
}

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
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->refs, 2);   /* the loop and the response */
    s->park = park;
    s->wake = wake;
    s->ud = ud;
    return s;
}

void stream_unref(stream *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
    pthread_mutex_destroy(&s->lock);
    buf_free(&s->data);
    free(s);
}

static void wake_locked(stream *s)
{
    if (s->parked) {
        s->parked = false;
        s->wake(s->ud);
    }
}

size_t stream_room(stream *s)
{
    pthread_mutex_lock(&s->lock);
    size_t used = s->data.len - s->off;
    size_t room = used < STREAM_CAP ? STREAM_CAP - used : 0;
    if (!room) s->starved = true;
    pthread_mutex_unlock(&s->lock);
    return room;
}

void stream_push(stream *s, const void *p, size_t n)
{
    if (!n) return;
    pthread_mutex_lock(&s->lock);
    if (s->off == s->data.len) s->off = s->data.len = 0;
    buf_put(&s->data, p, n);
    wake_locked(s);
    pthread_mutex_unlock(&s->lock);
}

void stream_finish(stream *s, stream_state how)
{
    pthread_mutex_lock(&s->lock);
    if (s->state == STREAM_OPEN) s->state = how;
    wake_locked(s);
    pthread_mutex_unlock(&s->lock);
}

size_t stream_take(stream *s, void *out, size_t max, stream_state *st, bool *refill)
{
    pthread_mutex_lock(&s->lock);
    size_t avail = s->data.len - s->off, n = avail < max ? avail : max;
    if (n) memcpy(out, s->data.p + s->off, n);
    s->off += n;
    if (s->off == s->data.len) s->off = s->data.len = 0;
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
    pthread_mutex_unlock(&s->lock);
    return n;
}

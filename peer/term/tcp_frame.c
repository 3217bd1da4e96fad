/*
 * tcp_frame.c — see tcp_frame.h.
 */
#include "tcp_frame.h"

#include <string.h>

uint8_t *tcp_decode_room(tcp_decoder *d, size_t want, size_t *room)
{
    if (!buf_reserve(&d->in, d->in.len + want)) return NULL;
    *room = d->in.cap - d->in.len;
    return d->in.p + d->in.len;
}

bool tcp_decode_commit(tcp_decoder *d, size_t n, const tcp_sink *sink)
{
    uint32_t max = d->max_frame ? d->max_frame : TCP_MAX_FRAME;
    size_t head = TCP_HEAD < max ? TCP_HEAD : max;
    d->in.len += n;
    size_t off = 0;
    bool go = true;
    if (d->skip) {      /* the rest of a message over the limit */
        off = d->skip < d->in.len ? (size_t)d->skip : d->in.len;
        d->skip -= off;
    }
    while (go && !d->skip && d->in.len - off >= 4) {
        const uint8_t *q = d->in.p + off;
        uint32_t len = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
        size_t have = d->in.len - off - 4;
        if (len > max) {
            if (have < head) break;             /* its head is still on its way */
            go = sink->oversized(sink->ud, q + 4, head, len);
            size_t take = have < len ? have : len;
            off += 4 + take;
            d->skip = len - take;
            continue;
        }
        if (have < len) break;                  /* the rest of it is still on its way */
        off += 4 + (size_t)len;
        d->delivering = q + 4, d->delivering_n = len;
        go = sink->frame(sink->ud, q + 4, len);
        d->delivering = NULL;
        if (d->taken) {             /* in is now what followed the message */
            d->taken = false;
            off = 0;
        }
    }
    buf_consume(&d->in, off);
    return go;
}

bool tcp_decode(tcp_decoder *d, const uint8_t *p, size_t n, const tcp_sink *sink)
{
    size_t room;
    uint8_t *at = tcp_decode_room(d, n, &room);
    if (!at) return false;
    if (n) memcpy(at, p, n);
    return tcp_decode_commit(d, n, sink);
}

void tcp_decoder_free(tcp_decoder *d) { buf_free(&d->in); }

bool tcp_decoder_take(tcp_decoder *d, const uint8_t *inside, buf *out, size_t *off)
{
    if (!d->delivering || inside < d->delivering || inside >= d->delivering + d->delivering_n) return false;
    buf rest = {0};
    size_t end = (size_t)(d->delivering - d->in.p) + d->delivering_n;   /* what follows the message */
    if (end < d->in.len) buf_put(&rest, d->in.p + end, d->in.len - end);
    if (rest.oom) { buf_free(&rest); return false; }
    *out = d->in;
    *off = (size_t)(inside - d->in.p);
    d->in = rest;
    d->taken = true;
    d->delivering = NULL;
    return true;
}

void tcp_encode(buf *out, const uint8_t *etf, size_t n)
{
    buf_u32(out, (uint32_t)n);
    buf_put(out, etf, n);
}

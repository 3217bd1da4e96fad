/*
 * stdio_frame.c — nibble framing of the standard_io control connection.
 */
#include "stdio_frame.h"

#include <zlib.h>

static bool is_nibble(uint8_t b) { return (b & 0xC3) == 0xC3; }

static uint8_t nibble(uint8_t b) { return (b >> 2) & 15; }

/* Where the frame in progress next needs looking at: the end of its size
 * field, then the end of its CRC. */
static size_t frame_boundary(const stdio_decoder *d) { return d->frame.len < 4 ? 4 : (size_t)d->size + 8; }

/* The payload's CRC, brought up to what has arrived: a frame's CRC is
 * taken as its bytes come in, not all at once at its end (a 64 MiB frame's
 * would hold the loop for tens of milliseconds). */
static void crc_payload(stdio_decoder *d)
{
    if (d->frame.len <= 4) return;
    size_t have = d->frame.len - 4 < d->size ? d->frame.len - 4 : d->size;
    if (have > d->crc_done) {
        d->crc = (uint32_t)crc32(d->crc, d->frame.p + 4 + d->crc_done, (uInt)(have - d->crc_done));
        d->crc_done = have;
    }
}

/* Acts on a frame that just reached its boundary. */
static stdio_status frame_step(stdio_decoder *d, const stdio_sink *sink)
{
    const uint8_t *p = d->frame.p;
    if (d->frame.len == 4) {
        d->size = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        d->crc = (uint32_t)crc32(0, NULL, 0);
        d->crc_done = 0;
        if (d->size <= (d->max_frame ? d->max_frame : STDIO_MAX_FRAME)) return STDIO_OK;
        if (!sink->oversized) return STDIO_TOO_LARGE;
        d->skipping = true;
        d->seen = 0;
        d->crc = (uint32_t)crc32(0, NULL, 0);
        d->frame.len = 0;
        return STDIO_OK;
    }
    const uint8_t *etf = p + 4, *c = etf + d->size;
    uint32_t crc = (uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 | (uint32_t)c[2] << 8 | c[3];
    crc_payload(d);
    if (d->crc != crc) return STDIO_CRC;
    d->frame.len = 0;
    d->in_sink = true;
    bool go = sink->frame(sink->ud, etf, d->size);
    d->in_sink = false;
    return go ? STDIO_OK : STDIO_STOPPED;
}

/* Bytes of a frame over the limit: its head is kept, the rest only goes
 * into its CRC; at its end the sink hears of it. */
static stdio_status skip_bytes(stdio_decoder *d, const uint8_t *b, size_t k, const stdio_sink *sink)
{
    while (k) {
        if (d->seen < d->size) {
            size_t take = d->size - d->seen < k ? d->size - d->seen : k;
            if (d->frame.len < STDIO_HEAD) {
                size_t keep = STDIO_HEAD - d->frame.len < take ? STDIO_HEAD - d->frame.len : take;
                buf_put(&d->frame, b, keep);
            }
            d->crc = (uint32_t)crc32(d->crc, b, (uInt)take);
            d->seen += (uint32_t)take;
            b += take, k -= take;
            continue;
        }
        d->tail[d->seen++ - d->size] = *b++;
        k--;
        if (d->seen == d->size + 4) {
            uint32_t crc = (uint32_t)d->tail[0] << 24 | (uint32_t)d->tail[1] << 16 | (uint32_t)d->tail[2] << 8 | d->tail[3];
            d->skipping = false;
            if (crc != d->crc) return STDIO_CRC;
            bool go_on = sink->oversized(sink->ud, d->frame.p, d->frame.len, d->size);
            d->frame.len = 0;
            if (!go_on) return STDIO_STOPPED;
        }
    }
    return STDIO_OK;
}

/* A run of nibble bytes in a frame over the limit, decoded a block at a time. */
static size_t skip_run(stdio_decoder *d, const uint8_t *in, size_t n, const stdio_sink *sink, stdio_status *st)
{
    uint8_t tmp[4096];
    if (d->have_high) {
        d->have_high = false;
        tmp[0] = (uint8_t)(d->high << 4 | nibble(in[0]));
        *st = skip_bytes(d, tmp, 1, sink);
        return 1;
    }
    if (n == 1) { d->high = nibble(in[0]); d->have_high = true; *st = STDIO_OK; return 1; }
    size_t left = (size_t)d->size + 4 - d->seen, take = n / 2;
    if (take > left) take = left;
    if (take > sizeof tmp) take = sizeof tmp;
    for (size_t i = 0; i < take; i++) tmp[i] = (uint8_t)(nibble(in[2 * i]) << 4 | nibble(in[2 * i + 1]));
    *st = skip_bytes(d, tmp, take, sink);
    return 2 * take;
}

/* A run of nibble bytes: whole bytes go into the frame up to its next
 * boundary at a time, in one tight loop. */
static stdio_status decode_run(stdio_decoder *d, const uint8_t *in, size_t n, const stdio_sink *sink)
{
    while (n) {
        if (d->skipping) {
            stdio_status st;
            size_t k = skip_run(d, in, n, sink, &st);
            if (st != STDIO_OK) return st;
            in += k, n -= k;
            continue;
        }
        size_t boundary = frame_boundary(d);
        if (d->have_high) {   /* the low half of a byte split across runs or reads */
            d->have_high = false;
            buf_byte(&d->frame, (uint8_t)(d->high << 4 | nibble(*in)));
            in++, n--;
        } else if (n == 1) {
            d->high = nibble(*in);
            d->have_high = true;
            return STDIO_OK;
        } else {
            size_t take = boundary - d->frame.len;
            if (take > n / 2) take = n / 2;
            /* No reserving ahead: the frame's bytes pay for its buffer. */
            if (!buf_reserve(&d->frame, take)) return STDIO_TOO_LARGE;
            uint8_t *w = d->frame.p + d->frame.len;
            for (size_t i = 0; i < take; i++) w[i] = (uint8_t)(nibble(in[2 * i]) << 4 | nibble(in[2 * i + 1]));
            d->frame.len += take;
            in += 2 * take, n -= 2 * take;
            crc_payload(d);
        }
        if (d->frame.oom) return STDIO_TOO_LARGE;
        if (d->frame.len == boundary) {
            stdio_status s = frame_step(d, sink);
            if (s != STDIO_OK) return s;
        }
    }
    return STDIO_OK;
}

stdio_status stdio_decode(stdio_decoder *d, const uint8_t *in, size_t n, const stdio_sink *sink)
{
    size_t text = 0;   /* start of a run of console bytes */
    for (size_t i = 0; i < n;) {
        if (!is_nibble(in[i])) { i++; continue; }
        if (i > text) sink->console(sink->ud, in + text, i - text);
        size_t end = i + 1;
        while (end < n && is_nibble(in[end])) end++;
        stdio_status s = decode_run(d, in + i, end - i, sink);
        if (s != STDIO_OK) return s;
        i = text = end;
    }
    if (n > text) sink->console(sink->ud, in + text, n - text);
    return STDIO_OK;
}

bool stdio_decoder_take(stdio_decoder *d, const uint8_t *inside, buf *out, size_t *off)
{
    /* frame_step has set len to 0 before the sink runs: the frame is the
     * size, the payload and the CRC from the buffer's start. */
    size_t whole = (size_t)d->size + 8;
    if (!d->in_sink || d->skipping || !d->frame.p || whole > d->frame.cap || inside < d->frame.p + 4 || inside >= d->frame.p + 4 + d->size)
        return false;
    *out = d->frame;
    out->len = whole;
    *off = (size_t)(inside - d->frame.p);
    d->frame = (buf){0};
    d->in_sink = false;         /* taken once */
    return true;
}

void stdio_decoder_free(stdio_decoder *d) { buf_free(&d->frame); }

static const uint8_t enc[16] = {
    0xC3, 0xC7, 0xCB, 0xCF, 0xD3, 0xD7, 0xDB, 0xDF,
    0xE3, 0xE7, 0xEB, 0xEF, 0xF3, 0xF7, 0xFB, 0xFF,
};

void stdio_encode(buf *out, const uint8_t *etf, size_t n)
{
    uint8_t head[4] = { (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n };
    uint32_t crc = (uint32_t)crc32(0, etf, (uInt)n);
    uint8_t tail[4] = { (uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8), (uint8_t)crc };
    if (!buf_reserve(out, (n + 8) * 2)) return;
    uint8_t *w = out->p + out->len;
    for (int i = 0; i < 4; i++) { *w++ = enc[head[i] >> 4]; *w++ = enc[head[i] & 15]; }
    for (size_t i = 0; i < n; i++) { *w++ = enc[etf[i] >> 4]; *w++ = enc[etf[i] & 15]; }
    for (int i = 0; i < 4; i++) { *w++ = enc[tail[i] >> 4]; *w++ = enc[tail[i] & 15]; }
    out->len += (n + 8) * 2;
}

const char *stdio_status_text(stdio_status s)
{
    switch (s) {
    case STDIO_OK: return "ok";
    case STDIO_CRC: return "crc_mismatch";
    case STDIO_TOO_LARGE: return "frame_too_large";
    case STDIO_STOPPED: return "stopped";
    }
    return "unknown";
}

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

/* Acts on a frame that just reached its boundary. */
static stdio_status frame_step(stdio_decoder *d, const stdio_sink *sink)
{
    const uint8_t *p = d->frame.p;
    if (d->frame.len == 4) {
        d->size = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        return d->size > STDIO_MAX_FRAME ? STDIO_TOO_LARGE : STDIO_OK;
    }
    const uint8_t *etf = p + 4, *c = etf + d->size;
    uint32_t crc = (uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 | (uint32_t)c[2] << 8 | c[3];
    if (crc32(0, etf, d->size) != crc) return STDIO_CRC;
    d->frame.len = 0;
    return sink->frame(sink->ud, etf, d->size) ? STDIO_OK : STDIO_STOPPED;
}

/* A run of nibble bytes: whole bytes go into the frame up to its next
 * boundary at a time, in one tight loop. */
static stdio_status decode_run(stdio_decoder *d, const uint8_t *in, size_t n, const stdio_sink *sink)
{
    while (n) {
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

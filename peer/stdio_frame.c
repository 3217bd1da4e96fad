/*
 * stdio_frame.c — nibble framing of the standard_io control connection.
 */
#include "stdio_frame.h"

#include <zlib.h>

static bool is_nibble(uint8_t b) { return (b & 0xC3) == 0xC3; }

static stdio_status frame_byte(stdio_decoder *d, uint8_t byte, const stdio_sink *sink)
{
    buf_byte(&d->frame, byte);
    if (d->frame.oom) return STDIO_TOO_LARGE;
    size_t len = d->frame.len;
    if (len == 4) {
        const uint8_t *p = d->frame.p;
        d->size = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        /* No reserving ahead: the frame's bytes pay for its buffer. */
        if (d->size > STDIO_MAX_FRAME) return STDIO_TOO_LARGE;
    } else if (len > 4 && len == (size_t)d->size + 8) {
        const uint8_t *etf = d->frame.p + 4, *c = etf + d->size;
        uint32_t crc = (uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 | (uint32_t)c[2] << 8 | c[3];
        if (crc32(0, etf, d->size) != crc) return STDIO_CRC;
        d->frame.len = 0;
        if (!sink->frame(sink->ud, etf, d->size)) return STDIO_STOPPED;
    }
    return STDIO_OK;
}

stdio_status stdio_decode(stdio_decoder *d, const uint8_t *in, size_t n, const stdio_sink *sink)
{
    size_t text = 0;   /* start of a run of console bytes */
    for (size_t i = 0; i < n; i++) {
        uint8_t b = in[i];
        if (!is_nibble(b)) continue;
        if (i > text) sink->console(sink->ud, in + text, i - text);
        text = i + 1;
        uint8_t nib = (b >> 2) & 15;
        if (!d->have_high) { d->high = nib; d->have_high = true; continue; }
        d->have_high = false;
        stdio_status s = frame_byte(d, (uint8_t)(d->high << 4 | nib), sink);
        if (s != STDIO_OK) return s;
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

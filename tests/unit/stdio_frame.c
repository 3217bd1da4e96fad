/*
 * stdio_frame.c — the standard_io control stream: OTP's framing byte for
 * byte, console text split out in order, every split point, CRC failures.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "stdio_frame.h"

/* What OTP's peer:encode_port_data(term_to_binary({started, a@b})) writes. */
static const uint8_t started_etf[] = { 131, 104, 2, 100, 0, 7, 115, 116, 97, 114, 116, 101, 100, 100, 0, 3, 97, 64, 98 };
static const uint8_t started_frame[] = {
    195, 195, 195, 195, 195, 195, 199, 207, 227, 207, 219, 227, 195, 203, 219, 211, 195, 195, 195, 223, 223, 207, 223,
    211, 219, 199, 223, 203, 223, 211, 219, 215, 219, 211, 219, 211, 195, 195, 195, 207, 219, 199, 211, 195, 219, 203,
    247, 247, 223, 247, 251, 211, 219, 215 };

typedef struct { buf console; buf frames; int nframes; } sink_state;

static void on_console(void *ud, const uint8_t *p, size_t n) { buf_put(&((sink_state *)ud)->console, p, n); }
static bool on_frame(void *ud, const uint8_t *p, size_t n)
{
    sink_state *s = ud;
    buf_put(&s->frames, p, n);
    s->nframes++;
    /* Mark the frame's place in the console stream. */
    buf_str(&s->console, "<F>");
    return true;
}

Test(stdio, encodes_as_otp_does)
{
    buf b = {0};
    stdio_encode(&b, started_etf, sizeof started_etf);
    cr_assert_eq(b.len, sizeof started_frame);
    cr_expect_arr_eq(b.p, started_frame, sizeof started_frame);
    buf_free(&b);
}

Test(stdio, splits_console_and_frames_at_every_boundary)
{
    buf in = {0};
    buf_str(&in, "boot text\n");
    buf_put(&in, started_frame, 20);
    buf_str(&in, "inside!");
    buf_put(&in, started_frame + 20, sizeof started_frame - 20);
    buf_str(&in, "after\n");
    buf_put(&in, started_frame, sizeof started_frame);
    for (size_t cut = 0; cut <= in.len; cut++) {
        stdio_decoder d = {0};
        sink_state s = {0};
        stdio_sink sink = { on_console, on_frame, &s, NULL };
        cr_assert_eq(stdio_decode(&d, in.p, cut, &sink), STDIO_OK);
        cr_assert_eq(stdio_decode(&d, in.p + cut, in.len - cut, &sink), STDIO_OK);
        cr_assert_eq(s.nframes, 2, "cut at %zu", cut);
        cr_expect_str_eq(buf_cstr(&s.console), "boot text\ninside!<F>after\n<F>", "cut at %zu", cut);
        cr_expect_arr_eq(s.frames.p, started_etf, sizeof started_etf);
        buf_free(&s.console); buf_free(&s.frames);
        stdio_decoder_free(&d);
    }
    buf_free(&in);
}

Test(stdio, a_bad_crc_is_reported)
{
    uint8_t bad[sizeof started_frame];
    memcpy(bad, started_frame, sizeof bad);
    bad[sizeof bad - 1] ^= 0x04;   /* flip a bit of the last CRC nibble */
    stdio_decoder d = {0};
    sink_state s = {0};
    stdio_sink sink = { on_console, on_frame, &s, NULL };
    cr_expect_eq(stdio_decode(&d, bad, sizeof bad, &sink), STDIO_CRC);
    cr_expect_eq(s.nframes, 0);
    stdio_decoder_free(&d);
    buf_free(&s.console);
}

Test(stdio, an_oversized_frame_is_refused)
{
    /* Size 0xFFFFFFFF. */
    uint8_t huge[8];
    for (int i = 0; i < 8; i++) huge[i] = 0xFF;
    stdio_decoder d = {0};
    sink_state s = {0};
    stdio_sink sink = { on_console, on_frame, &s, NULL };
    cr_expect_eq(stdio_decode(&d, huge, sizeof huge, &sink), STDIO_TOO_LARGE);
    stdio_decoder_free(&d);
}

static bool on_oversized(void *ud, const uint8_t *head, size_t n, size_t size)
{
    sink_state *s = ud;
    buf_printf(&s->console, "<BIG %zu:", size);
    buf_put(&s->console, head, n);
    buf_str(&s->console, ">");
    return true;
}

/* A frame over the limit is not held: its head (STDIO_HEAD bytes) reaches
 * the sink with its size once the whole frame has passed its CRC check, the
 * text around it and the next frame come through, at every split point. */
Test(stdio, a_frame_over_the_limit_is_skipped_with_its_head_kept)
{
    uint8_t big[STDIO_HEAD + 500];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)('a' + i % 26);
    buf in = {0};
    buf_str(&in, "before ");
    stdio_encode(&in, big, sizeof big);
    buf_str(&in, " between ");
    buf_put(&in, started_frame, sizeof started_frame);
    buf_str(&in, " end");
    for (size_t cut = 0; cut <= in.len; cut += 7) {
        stdio_decoder d = { .max_frame = 100 };
        sink_state s = {0};
        stdio_sink sink = { on_console, on_frame, &s, on_oversized };
        cr_assert_eq(stdio_decode(&d, in.p, cut, &sink), STDIO_OK);
        cr_assert_eq(stdio_decode(&d, in.p + cut, in.len - cut, &sink), STDIO_OK);
        buf want = {0};
        buf_printf(&want, "before <BIG %zu:", sizeof big);
        buf_put(&want, big, STDIO_HEAD);
        buf_str(&want, "> between <F> end");
        cr_assert_eq(s.console.len, want.len, "cut %zu", cut);
        cr_assert_arr_eq(s.console.p, want.p, want.len, "cut %zu", cut);
        cr_assert_eq(s.nframes, 1);
        buf_free(&want); buf_free(&s.console); buf_free(&s.frames);
        stdio_decoder_free(&d);
    }
    /* A skipped frame whose CRC is wrong still breaks the stream, and with
     * no oversized sink, a frame over the limit is too large, as before. */
    in.p[7 + 2 * (4 + sizeof big) + 3] ^= 4;
    stdio_decoder d = { .max_frame = 100 };
    sink_state s = {0};
    stdio_sink sink = { on_console, on_frame, &s, on_oversized };
    cr_expect_eq(stdio_decode(&d, in.p, in.len, &sink), STDIO_CRC);
    stdio_decoder_free(&d);
    stdio_decoder d2 = { .max_frame = 100 };
    stdio_sink plain = { on_console, on_frame, &s, NULL };
    cr_expect_eq(stdio_decode(&d2, in.p, in.len, &plain), STDIO_TOO_LARGE);
    stdio_decoder_free(&d2);
    buf_free(&s.console); buf_free(&s.frames); buf_free(&in);
}

/* A sink that takes the frame's buffer (stdio_decoder_take) as the manager
 * does for a large result: the buffer holds the whole frame, the offset
 * points at the byte asked for, and the decoder reads the next frame into
 * a new buffer. A pointer outside the payload is refused. */
typedef struct { stdio_decoder *d; buf taken[2]; size_t off[2]; int n; bool outside; } take_state;

static bool take_frame(void *ud, const uint8_t *etf, size_t n)
{
    take_state *t = ud;
    uint8_t elsewhere = 0;
    t->outside |= stdio_decoder_take(t->d, &elsewhere, &t->taken[t->n], &t->off[t->n]);
    t->outside |= stdio_decoder_take(t->d, etf + n, &t->taken[t->n], &t->off[t->n]);   /* the CRC, not the payload */
    cr_assert(stdio_decoder_take(t->d, etf + 1, &t->taken[t->n], &t->off[t->n]));
    cr_assert_not(stdio_decoder_take(t->d, etf + 1, &(buf){0}, &(size_t){0}), "taken once only");
    t->n++;
    return true;
}

static void ignore_console(void *ud, const uint8_t *p, size_t n) { (void)ud; (void)p; (void)n; }

Test(stdio, a_sink_takes_the_frame_buffer_and_decoding_goes_on)
{
    buf in = {0};
    stdio_encode(&in, started_etf, sizeof started_etf);
    buf_str(&in, "text");
    stdio_encode(&in, started_etf, sizeof started_etf);
    stdio_decoder d = {0};
    take_state t = { .d = &d };
    stdio_sink sink = { ignore_console, take_frame, &t, NULL };
    cr_assert_eq(stdio_decode(&d, in.p, in.len, &sink), STDIO_OK);
    cr_assert_eq(t.n, 2);
    cr_expect_not(t.outside);
    /* Half a frame in: its buffer is not to be had outside the sink. */
    cr_assert_eq(stdio_decode(&d, in.p, in.len / 4, &sink), STDIO_OK);
    buf late;
    size_t late_off;
    cr_assert_not_null(d.frame.p);
    cr_expect_not(stdio_decoder_take(&d, d.frame.p + 5, &late, &late_off), "not outside the sink");
    for (int i = 0; i < 2; i++) {
        cr_expect_eq(t.taken[i].len, 4 + sizeof started_etf + 4);
        cr_expect_eq(t.off[i], 5);
        cr_expect_arr_eq(t.taken[i].p + 4, started_etf, sizeof started_etf);
        buf_free(&t.taken[i]);
    }
    stdio_decoder_free(&d);
    buf_free(&in);
}

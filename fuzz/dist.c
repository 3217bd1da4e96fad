/*
 * dist.c — libFuzzer target: what a node sends over distribution, as peerd
 * reads it (peer/conn/dist.h): the handshake's send_name and challenge_reply,
 * and the data phase — {packet, 4} split, 'p' + control message + message,
 * each message decoded as conn_dist.c decodes it.
 */
#include <stdint.h>
#include <stdlib.h>

#include "dist.h"
#include "etf.h"
#include "tcp_frame.h"

/* A pid as peerd encodes its replier's: NEW_PID_EXT of 'peerd@host'. */
static const uint8_t replier[] = { 88, 119, 10, 'p', 'e', 'e', 'r', 'd', '@', 'h', 'o', 's', 't', 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1 };

static bool packet(void *ud, const uint8_t *p, size_t n)
{
    (void)ud;
    arena *a = arena_new();
    term *ctl;
    const uint8_t *msg, *seq, *v;
    size_t mlen, seq_len, v_len;
    if (a && dist_read_packet(a, p, n, &ctl, &msg, &mlen, NULL) && mlen) {
        etf_decode(a, msg, mlen, NULL);
        dist_rex_value(msg, mlen, &seq, &seq_len, &v, &v_len);
    }
    arena_free(a);
    /* A call's value told from its bytes, as conn_dist.c reads it first. */
    if (dist_packet_to(p, n, replier, sizeof replier, &msg, &mlen) && dist_rex_value(msg, mlen, &seq, &seq_len, &v, &v_len) &&
        (seq < msg || seq + seq_len > msg + mlen || v + v_len != msg + mlen))
        abort();
    return true;
}

static bool oversized(void *ud, const uint8_t *head, size_t n, size_t size)
{
    (void)ud; (void)head; (void)n; (void)size;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *name, *digest;
    size_t len;
    uint32_t challenge;
    dist_read_name(data, size, &name, &len);
    dist_read_reply(data, size, &challenge, &digest);
    tcp_decoder d = { .max_frame = 1 << 16 };
    tcp_sink sink = { packet, oversized, NULL };
    /* Two reads, split where the first byte says, as a socket may. */
    size_t cut = size ? data[0] % (size + 1) : 0;
    if (tcp_decode(&d, data, cut, &sink)) tcp_decode(&d, data + cut, size - cut, &sink);
    tcp_decoder_free(&d);
    return 0;
}

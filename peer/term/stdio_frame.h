/*
 * stdio_frame.h — the standard_io control stream of OTP's peer.
 *
 * Each control message is <<Size:32, Etf:Size/binary, Crc32(Etf):32>>, sent
 * nibble by nibble: byte B becomes 0xC3|(B>>4)<<2 then 0xC3|(B&15)<<2, i.e.
 * bit pattern 11xxxx11. Any other byte on the node's stdout is console text.
 * The decoder splits one stream into both, in order, across reads.
 */
#ifndef PEERD_STDIO_FRAME_H
#define PEERD_STDIO_FRAME_H

#include "buf.h"

#define STDIO_MAX_FRAME (64u << 20)
/* Of a frame over STDIO_MAX_FRAME, the first bytes kept (the rest is only
 * checked against its CRC): enough for the message's tag and ids. */
#define STDIO_HEAD 1024u

typedef struct {
    buf frame;          /* assembled frame bytes (size, payload, crc); the head of a skipped one */
    uint8_t high;       /* first nibble of a byte in progress */
    bool have_high;
    bool skipping;      /* in a frame over the limit */
    uint32_t size;      /* payload size once the first 4 bytes are in */
    uint32_t seen;      /* of a skipped frame: payload and CRC bytes so far */
    uint32_t crc;       /* CRC of the payload so far (of the frame assembled, or skipped) */
    size_t crc_done;    /* of the frame assembled: payload bytes in crc */
    uint8_t tail[4];    /* of a skipped frame: its CRC as sent */
    uint32_t max_frame; /* 0: STDIO_MAX_FRAME (tests set less) */
    bool in_sink;       /* a frame is in sink->frame now (stdio_decoder_take) */
} stdio_decoder;

typedef struct {
    void (*console)(void *ud, const uint8_t *p, size_t n);
    /* Returns false to stop decoding (the peer went away). */
    bool (*frame)(void *ud, const uint8_t *etf, size_t n);
    void *ud;
    /* A frame over STDIO_MAX_FRAME, whole and intact, of which only the
     * first bytes were kept. NULL: such a frame is STDIO_TOO_LARGE. */
    bool (*oversized)(void *ud, const uint8_t *head, size_t n, size_t size);
} stdio_sink;

typedef enum { STDIO_OK = 0, STDIO_CRC = 1, STDIO_TOO_LARGE = 2, STDIO_STOPPED = 3 } stdio_status;

stdio_status stdio_decode(stdio_decoder *d, const uint8_t *in, size_t n, const stdio_sink *sink);
void stdio_decoder_free(stdio_decoder *d);
/* Within sink->frame only: hands the buffer the frame is in (its size,
 * payload and CRC, whole) to out, with the offset of inside (a byte of the
 * payload) in it; the decoder goes on with a new buffer. A large message
 * is then kept without a copy (a copy of tens of MB into new memory is
 * a turn of the loop spent in page faults). False if inside is not there. */
bool stdio_decoder_take(stdio_decoder *d, const uint8_t *inside, buf *out, size_t *off);
/* Appends the nibble-encoded frame for one ETF message. */
void stdio_encode(buf *out, const uint8_t *etf, size_t n);
const char *stdio_status_text(stdio_status s);

#endif

/*
 * tcp_frame.h — the TCP control connection of OTP's peer: {packet, 4}, each
 * message <<Size:32, Etf:Size/binary>>. The decoder splits a byte stream
 * into messages across reads; a message over TCP_MAX_FRAME is handed over
 * by its first TCP_HEAD bytes and the rest dropped as it arrives, so that
 * the node is neither cut off nor allowed to make peerd hold it.
 */
#ifndef PEERD_TCP_FRAME_H
#define PEERD_TCP_FRAME_H

#include "buf.h"
#include "stdio_frame.h"

#define TCP_MAX_FRAME STDIO_MAX_FRAME
#define TCP_HEAD STDIO_HEAD

typedef struct {
    buf in;             /* bytes not yet split */
    uint64_t skip;      /* bytes still to drop of a message over the limit */
    uint32_t max_frame; /* 0: TCP_MAX_FRAME (tests set less) */
    /* The message in the sink now (for tcp_decoder_take), and whether in
     * was taken during the sink. */
    const uint8_t *delivering;
    size_t delivering_n;
    bool taken;
} tcp_decoder;

typedef struct {
    /* Both return false to stop decoding (the peer went away). */
    bool (*frame)(void *ud, const uint8_t *etf, size_t n);
    bool (*oversized)(void *ud, const uint8_t *head, size_t n, size_t size);
    void *ud;
} tcp_sink;

/* Room for at least `want` more bytes to be read straight into the
 * decoder: returns where, and how much room (NULL if out of memory). */
uint8_t *tcp_decode_room(tcp_decoder *d, size_t want, size_t *room);
/* The n bytes just read into the room: splits what is complete. False if
 * the sink stopped it. */
bool tcp_decode_commit(tcp_decoder *d, size_t n, const tcp_sink *sink);
/* Both in one, copying p. */
bool tcp_decode(tcp_decoder *d, const uint8_t *p, size_t n, const tcp_sink *sink);
void tcp_decoder_free(tcp_decoder *d);
/* Within sink->frame only: hands the buffer the message is in to out,
 * with the offset of inside (a byte of the message) in it; the bytes
 * after the message are copied into a new buffer and decoding goes on
 * there. False if inside is not in the message, or out of memory. */
bool tcp_decoder_take(tcp_decoder *d, const uint8_t *inside, buf *out, size_t *off);
/* Appends one message in {packet, 4}. */
void tcp_encode(buf *out, const uint8_t *etf, size_t n);

#endif

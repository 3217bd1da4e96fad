/*
 * control.h — the control messages a busy node sends most, read in place.
 *
 * {reply, Seq, Class, Result} answers every call, and
 * {io_request, From, ReplyAs, {put_chars, unicode, Binary}} is what
 * io:put_chars sends, 64 KiB at a time when a node prints fast; a large
 * io:format request and a large {message, To, Msg} are read here too, so
 * that the loop never decodes them whole. None is decoded into terms:
 * Result, Binary, A and Msg are handed on as the bytes they are (the client
 * decodes a result; the console ring takes the text; the node formats A),
 * and From and ReplyAs go back in the io_reply as they came. Any other message, or
 * these in an encoding not read here, is left to etf_decode.
 */
#ifndef PEERD_CONTROL_H
#define PEERD_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef struct {
    uint64_t seq;
    char klass[16];             /* ok, throw, error, exit, crash */
    const uint8_t *result;      /* ETF body of Result (no version byte) */
    size_t result_len;
} control_reply;

/* Reads a whole message (version byte first). False: not one read here. */
bool control_read_reply(const uint8_t *etf, size_t n, control_reply *out);

typedef struct {
    const uint8_t *heads;       /* ETF bodies of From and ReplyAs, as sent */
    size_t heads_len;
    const uint8_t *chars;       /* the binary's bytes: UTF-8 text */
    size_t chars_len;
} control_put_chars;

bool control_read_put_chars(const uint8_t *etf, size_t n, control_put_chars *out);

/* {io_request, From, ReplyAs, {put_chars, Enc, io_lib, format, A}}: A is
 * handed to the node to format as the bytes it came in. */
typedef struct {
    const uint8_t *heads;       /* ETF bodies of From and ReplyAs, as sent */
    size_t heads_len;
    const uint8_t *args;        /* ETF body of A */
    size_t args_len;
} control_format;

bool control_read_format(const uint8_t *etf, size_t n, control_format *out);

/* {message, To, Msg}: Msg kept as the bytes it came in. */
typedef struct {
    const uint8_t *to;          /* ETF body of To */
    size_t to_len;
    const uint8_t *msg;         /* ETF body of Msg */
    size_t msg_len;
} control_message;

bool control_read_message(const uint8_t *etf, size_t n, control_message *out);

/* The answer to it: {io_reply, From, ReplyAs, ok}, version byte first. */
void control_put_chars_reply(buf *b, const control_put_chars *pc);

#endif

/*
 * io_format.h — io_lib:format/2 in C, for the plain cases.
 *
 * A node's io:format(user, ...) reaches the origin as
 * {put_chars, unicode, io_lib, format, [Format, Args]}. OTP's origin applies
 * it locally; peerd would have to call back to the node, one more round trip
 * per line. This formats the cases whose output is certain — literal text,
 * ~n ~~ ~i, ~s/~ts of flat strings, binaries and atoms, ~c, ~B, ~w of numbers
 * and atoms, ~p/~tp of terms that fit on the line — and declines the rest
 * (field widths, precisions, pads, ~e ~f ~g ~x ~P ~W..., anything that could
 * wrap), which then go to the node as before.
 */
#ifndef PEERD_IO_FORMAT_H
#define PEERD_IO_FORMAT_H

#include "buf.h"
#include "term.h"

/* Appends the UTF-8 text and returns true, or returns false (out unchanged
 * in length) when the node should format it. */
bool io_format_fast(const term *format, const term *args, buf *out);

#endif

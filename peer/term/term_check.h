/*
 * term_check.h — is this a term OTP 25's binary_to_term/1 accepts?
 *
 * The peer's control process decodes every {call,...}, {cast,...} and
 * {message,...} with binary_to_term/1; one it cannot decode halts the node.
 * So no term goes to a node before term_check has passed it. The rules are
 * the runtime's (erts/emulator/beam/external.c of OTP 25, each one confirmed
 * against erl by tests/unit/differential.c):
 *
 *   atoms          valid UTF-8, at most 255 characters
 *   floats         finite
 *   integers       a magnitude of at most 4,194,296 bytes
 *   bitstrings     1..7 bits in a last byte that exists
 *   maps           no key twice
 *   pids           number 0..32767, serial 0..8191
 *   ports          number 0..2^28-1
 *   references     1..3 words, the first 0..2^18-1
 *   funs, exports  module and name atoms as above, arity 0..255, the
 *                  creator pid and free variables as any term
 *
 * The runtime enforces the pid, port and reference limits for the node's own
 * identifiers only; here they hold for every node's, since no OTP 25 node
 * makes larger ones and peerd cannot always know the node's current name.
 */
#ifndef PEERD_TERM_CHECK_H
#define PEERD_TERM_CHECK_H

#include <stddef.h>

#include "term.h"

#define TERM_MAX_BIG_BYTES 4194296u
#define TERM_MAX_PID_NUMBER 32767u
#define TERM_MAX_PID_SERIAL 8191u
#define TERM_MAX_PORT_NUMBER ((1u << 28) - 1)
#define TERM_MAX_REF_WORDS 3
#define TERM_MAX_REF_WORD0 ((1u << 18) - 1)

/* True if erl can decode t. Otherwise err says where and why: `what` names
 * the value ("args"), followed by the path inside it ([i] a list element
 * from 0, {i} a tuple element from 1, #{k} a map key's value, #key{k} a key). */
bool term_check(const term *t, const char *what, char *err, size_t errlen);

#endif

/*
 * term_atom.h — which atoms need no quotes, the rule the printer writes by
 * and the parser reads by (erl_scan: a lower-case Latin-1 letter first, then
 * letters, digits, '_' and '@').
 */
#ifndef PEERD_TERM_ATOM_H
#define PEERD_TERM_ATOM_H

#include <stdbool.h>
#include <stdint.h>

static inline bool atom_start(uint32_t c) { return (c >= 'a' && c <= 'z') || (c >= 223 && c <= 255 && c != 247); }

static inline bool atom_char(uint32_t c)
{
    return atom_start(c) || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '@' ||
           (c >= 192 && c <= 222 && c != 215);
}

#endif

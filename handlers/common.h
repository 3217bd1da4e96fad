/*
 * common.h — small JSON helpers shared by the handlers.
 */
#ifndef PEERD_HANDLERS_COMMON_H
#define PEERD_HANDLERS_COMMON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A JSON number written as an integer (json_parse keeps its text). */
bool json_int(const cJSON *j, int64_t *out);
/* True if a string in j holds a NUL (\u0000); out gets its path ("env.A",
 * "args[2]"), below `path`. */
bool json_find_nul(const cJSON *j, const char *path, char *out, size_t outlen);
/* Moves every member of object src to the end of dst, in order; frees src. */
void json_move_members(cJSON *dst, cJSON *src);
/* Query-string unsigned integer; false if present but malformed. */
bool query_uint(const char *s, uint64_t *out);
/* Node names, prefixes: letters, digits, '_', '-', '.'; 1..200 chars. */
bool valid_name(const char *s);

/* The program's canonical path (PATH searched when it has no '/'), or NULL. */
char *resolve_program(const char *prog);

#endif

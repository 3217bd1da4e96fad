/*
 * json.h — JSON text as peerd reads and writes it.
 *
 * JSON numbers must keep every digit, so request bodies are parsed with
 * json_parse(), which is cJSON plus the literal text of each number kept in
 * the number item's valuestring.
 */
#ifndef PEERD_JSON_H
#define PEERD_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define JSON_MAX_DEPTH 512

/* cJSON_ParseWithLength + number texts + string lengths, strictly: every
 * string must be UTF-8 and no object may hold a key twice (cJSON takes
 * either without a word). NULL on bad JSON; then err (if given) says where
 * and why, naming the key or element ("args[2]", "module"). */
typedef struct { size_t pos; char msg[320]; } json_error;
cJSON *json_parse(const char *text, size_t len, json_error *err);

/* A parsed string's length in bytes: a JSON string may hold NULs (\u0000),
 * which end valuestring as a C string but not as data. */
size_t json_strlen(const cJSON *j);
/* True if the string holds a NUL, so that it cannot be a C string. */
bool json_has_nul(const cJSON *j);

/* Arbitrary bytes (console text) as a JSON string: NULs kept as \u0000,
 * each byte that is not part of valid UTF-8 shown as U+FFFD. */
cJSON *json_text(const char *s, size_t n);

/* s as a JSON string, escaped as cJSON escapes: " and \, \b \f \n \r \t,
 * the other bytes below 32 as \u00xx; every other byte as it is. */
void json_put_string(buf *b, const char *s, size_t n);
/* The same without the quotes: a part of a string. */
void json_put_chars(buf *b, const char *s, size_t n);

#endif

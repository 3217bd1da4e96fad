/*
 * term_json.h — the JSON <-> Erlang term mapping that openapi/openapi.yaml
 * describes ("Terms in JSON" in its introduction; TermJson).
 *
 * JSON numbers must keep every digit, so request bodies are parsed with
 * json_parse(), which is cJSON plus the literal text of each number kept in
 * the number item's valuestring.
 */
#ifndef PEERD_TERM_JSON_H
#define PEERD_TERM_JSON_H

#include <cjson/cJSON.h>

#include "term.h"
#include "term_text.h"

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

/* JSON -> term. `path` names the value in errors ("args[2]"). err gets a message. */
term *term_from_json(arena *a, const cJSON *j, const term_ctx *ctx, const char *path,
                     char *err, size_t errlen);

/* term -> JSON text, so that the JSON maps back to the same term; the
 * $term text of identifiers printed with names (term_text.h; NULL: each
 * as the peer's own). False if b ran out of memory. */
bool term_json_print(buf *b, const term *t, const term_names *names);
/* The same as a cJSON item (raw: printed as it is). NULL on OOM. */
cJSON *term_to_json(const term *t);
cJSON *term_to_json_names(const term *t, const term_names *names);

/* s as a JSON string, escaped as cJSON escapes: " and \, \b \f \n \r \t,
 * the other bytes below 32 as \u00xx; every other byte as it is. */
void json_put_string(buf *b, const char *s, size_t n);

#endif

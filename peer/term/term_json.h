/*
 * term_json.h — the JSON <-> Erlang term mapping that openapi/openapi.yaml
 * describes ("Terms in JSON" in its introduction; TermJson), both ways.
 * JSON text itself (parsing with exact numbers, strings) is json.h's.
 */
#ifndef PEERD_TERM_JSON_H
#define PEERD_TERM_JSON_H

#include "json.h"
#include "term.h"
#include "term_text.h"

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

#endif

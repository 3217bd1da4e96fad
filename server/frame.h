/*
 * frame.h — the wire forms of what the peer manager hands out: console
 * bytes, messages and events as plain text and NDJSON, or as Server-Sent
 * Events; the JSON of an event and of a message; the API's times.
 */
#ifndef PEERD_FRAME_H
#define PEERD_FRAME_H

#include "buf.h"
#include "manager.h"

/* Console as it was printed, messages and events one JSON object a line;
 * markers as a console line or a JSON line. */
extern const pm_framer frame_text;
/* Server-Sent Events: ids TOKEN-POS, event types message, peer, missed, reset. */
extern const pm_framer frame_sse;

/* {"id","seq","time","type","peer","incarnation","node","reason"} */
void frame_event_json(buf *out, uint64_t instance, const pm_event *e);
/* {"id","seq","to","result","value"}: the message as term text and as JSON. */
void frame_message_json(buf *out, uint64_t incarnation, const pm_message *g, const term_names *names);

/* Epoch milliseconds as ISO 8601 UTC with milliseconds (the API's times). */
void iso_time(char *out, size_t n, int64_t ms);
/* The same, appended (no printf: the peer object has three). */
void buf_iso_time(buf *out, int64_t ms);

#endif

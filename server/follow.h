/*
 * follow.h — streaming responses (chunked text, NDJSON or SSE) fed by the
 * peer manager through a stream (peer/runtime/stream.h). The response parks its
 * connection (MHD suspend) when there is nothing to send, and the loop
 * resumes it when there is.
 */
#ifndef PEERD_FOLLOW_H
#define PEERD_FOLLOW_H

#include "http.h"

/* A response whose body comes through a stream (peer/runtime/stream.h):
 * the reader takes what is there, parks the connection (MHD suspend) when
 * nothing is, and is resumed by the next append or the stream's end. The
 * producer is asked for more through `more`: when the stream drained below
 * half after the producer found it full, and also, with `pull`, whenever
 * the reader finds it empty (a producer that fills it on demand). `done`
 * runs once when the response ends, however it ends; the response's
 * reference to the stream is dropped after it, the producer keeps its own
 * (stream_unref when it is through). */
typedef struct http_feed http_feed;
struct http_feed {
    http_server *srv;
    struct MHD_Connection *conn;
    stream *s;
    bool pull;
    void (*more)(http_feed *f);
    void (*done)(http_feed *f);
};
/* f->s made for h's connection; false out of memory. */
bool http_feed_init(http_feed *f, http_req *h);
/* f's response, its body read `block` bytes at a time; NULL out of memory
 * (done has not run). */
struct MHD_Response *http_feed_response(http_feed *f, size_t block);

/* Attaches a stream to r (a PM_FOLLOW request with its kind and filters set)
 * and submits it; answers 200 with a streaming body of `type` when the
 * manager accepts, or the manager's error. */
enum MHD_Result http_follow(http_req *h, pm_req *r, const char *type);

/* True when the client asked for SSE (Accept: text/event-stream). */
bool http_wants_sse(http_req *h);
/* A position in a stream: a number, or an id TOKEN-N whose token names the
 * peer incarnation (console, messages) or peerd instance (events) it is of. */
typedef struct { uint64_t n, of; bool tagged; } http_pos;
/* since= or, for SSE, Last-Event-ID; false (after answering 400) if malformed. */
bool http_since(http_req *h, http_pos *pos, enum MHD_Result *answered);
/* A boolean query flag: 1/true/yes/empty or 0/false/no; anything else is
 * answered 400 and false returned. */
bool http_flag(http_req *h, const char *key, bool *on, enum MHD_Result *answered);

#endif

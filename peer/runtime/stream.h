/*
 * stream.h — a one-way byte stream from the manager's loop to one HTTP
 * response (console and message followers, the event feed).
 *
 * The manager appends (stream_append_begin/end) up to a cap and then waits for the
 * reader to drain; the reader (the response's content callback) takes bytes
 * (stream_take). When the reader finds nothing, it parks (suspends the
 * connection), and the next push or finish wakes it (resumes it). Both sides
 * run on the one loop; neither blocks, and an idle stream costs nothing.
 */
#ifndef PEERD_STREAM_H
#define PEERD_STREAM_H

#include <stdbool.h>

#include "buf.h"

#define STREAM_CAP (256u << 10)

typedef enum { STREAM_OPEN, STREAM_END, STREAM_CUT } stream_state;

typedef struct stream stream;
struct stream {
    buf data;
    size_t off;                 /* bytes of data already taken */
    size_t begun;               /* data.len at stream_append_begin */
    stream_state state;
    bool parked;                /* the reader waits for data */
    bool starved;               /* the loop stopped filling: buffer was full */
    bool gone;                  /* the client went away */
    int refs;
    void (*park)(void *ud);     /* reader side: suspend the response */
    void (*wake)(void *ud);     /* loop side: resume it */
    void *ud;
};

stream *stream_new(void (*park)(void *), void (*wake)(void *), void *ud);
void stream_unref(stream *s);

/* Loop side. Returns how many more bytes fit (0: full). */
size_t stream_room(stream *s);
/* Appending in place (a framer writes straight into the stream): append to
 * the buffer begin returns, then call end, which wakes the reader. An
 * append that ran out of memory cuts the stream (the client sees it end
 * without its last chunk, and resumes from where it was); what is
 * appended to a finished or cut stream is dropped. */
buf *stream_append_begin(stream *s);
void stream_append_end(stream *s);
/* Appends a heap block (of `cap` bytes, `len` used) by taking it, not by
 * copying: a large piece made off the loop (a batch's long answer line)
 * costs the loop no copy into new memory, which is a page fault every 4
 * KiB. Only into an empty stream: false if bytes are held (the caller
 * waits for the reader to take them), or the stream is finished or cut
 * (the block is freed then, as an append would be dropped). */
bool stream_adopt(stream *s, uint8_t *p, size_t len, size_t cap);
void stream_finish(stream *s, stream_state how);   /* END or CUT, after what was pushed */
/* The reader's client went away: nothing more is wanted; a parked reader
 * is woken to see it. */
void stream_client_gone(stream *s);

/* Bytes appended and not yet taken. */
static inline size_t stream_held(const stream *s) { return s->data.len - s->off; }

/* Reader side: copies up to max bytes. Returns the count; 0 with *st OPEN
 * means it parked; *st END/CUT when everything is taken. *refill is set when
 * the loop should be asked for more (it stopped filling and there is room). */
size_t stream_take(stream *s, void *out, size_t max, stream_state *st, bool *refill);

#endif

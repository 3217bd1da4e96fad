/*
 * log.h — peerd's log: one line per event on stderr, each with its time
 * (RFC 3339, UTC, milliseconds) and, for a line about a peer, the peer's
 * id. As text:
 *
 *   2026-12-03T21:30:00.123Z peerd: peer peer-1-42 stopped
 *
 * or as JSON, one object a line (for journald, Loki, Elasticsearch):
 *
 *   {"time":"2026-12-03T21:30:00.123Z","peer":"peer-1-42","msg":"peer peer-1-42 stopped"}
 *
 * Lines are written whole with one write(2), so that a line is never
 * interleaved with another process's output on the same descriptor.
 */
#ifndef PEERD_LOG_H
#define PEERD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { LOG_TEXT, LOG_JSON } log_format;

/* How lines are written from now on (default: text, not quiet). */
void log_setup(log_format f, bool quiet);
/* One line; peer is the id of the peer it is about, or NULL. */
void log_msg(const char *peer, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(const char *peer, const char *fmt, va_list ap);
/* The line as it would be written, without its newline, into out (size
 * n, at least 64): what log_msg writes, for tests. Returns its length. */
size_t log_format_line(char *out, size_t n, log_format f, int64_t unix_ms, const char *peer, const char *msg);

#endif

/*
 * log.c — peerd's log lines, as text or JSON, each with its time.
 */
#include "log.h"
#include "utf8.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static log_format format = LOG_TEXT;
static bool quiet;

void log_setup(log_format f, bool q)
{
    format = f;
    quiet = q;
}

/* s as the inside of a JSON string: quotes, backslashes and control
 * characters escaped, bytes that are not UTF-8 as U+FFFD. Stops short of
 * the end of out rather than cut an escape. */
static size_t json_text(char *out, size_t n, const char *s)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        char esc[8];
        uint32_t cp;
        size_t k = 1;
        const char *put = esc;
        if (*p == '"' || *p == '\\') { esc[0] = '\\'; esc[1] = (char)*p; k = 2; }
        else if (*p == '\n') { memcpy(esc, "\\n", 2); k = 2; }
        else if (*p == '\t') { memcpy(esc, "\\t", 2); k = 2; }
        else if (*p < 0x20 || *p == 0x7f) { snprintf(esc, sizeof esc, "\\u%04x", *p); k = 6; }
        else if (*p < 0x80) { esc[0] = (char)*p; }
        else if ((k = utf8_next(p, strnlen((const char *)p, 4), &cp))) { put = (const char *)p; }
        else { memcpy(esc, "\\ufffd", 6); k = 6; }
        if (w + k >= n) break;
        memcpy(out + w, put, k);
        w += k;
        p += put == (const char *)p ? k : 1;
    }
    out[w] = 0;
    return w;
}

size_t log_format_line(char *out, size_t n, log_format f, int64_t unix_ms, const char *peer, const char *msg)
{
    time_t sec = (time_t)(unix_ms / 1000);
    int ms = (int)(unix_ms % 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char when[32];
    size_t t = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + t, sizeof when - t, ".%03dZ", ms);
    if (f == LOG_TEXT) {
        int k = snprintf(out, n, "%s peerd: %s", when, msg);
        return k < 0 ? 0 : (size_t)k < n ? (size_t)k : n - 1;
    }
    size_t w = (size_t)snprintf(out, n, "{\"time\":\"%s\"", when);
    if (peer && w + 12 < n) {
        memcpy(out + w, ",\"peer\":\"", 9);
        w += 9;
        w += json_text(out + w, n - w - 3, peer);
        out[w++] = '"';
    }
    if (w + 12 < n) {
        memcpy(out + w, ",\"msg\":\"", 8);
        w += 8;
        w += json_text(out + w, n - w - 3, msg);
        out[w++] = '"';
    }
    out[w++] = '}';
    out[w] = 0;
    return w;
}

void log_vmsg(const char *peer, const char *fmt, va_list ap)
{
    if (quiet) return;
    char msg[1024], line[3072];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t len = strlen(msg);
    while (len && msg[len - 1] == '\n') msg[--len] = 0;   /* libmicrohttpd's end in one */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    size_t k = log_format_line(line, sizeof line - 1, format, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, peer, msg);
    line[k++] = '\n';
    ssize_t r = write(STDERR_FILENO, line, k);
    (void)r;    /* nowhere to say that the log cannot be written */
}

void log_msg(const char *peer, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(peer, fmt, ap);
    va_end(ap);
}

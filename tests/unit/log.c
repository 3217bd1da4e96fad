/*
 * log.c — a log line as text and as JSON (peer/runtime/log.c): the time in
 * RFC 3339, the peer's id, and a message escaped as JSON string text
 * (quotes, controls, UTF-8 kept, bytes that are not UTF-8 as U+FFFD).
 */
#include <criterion/criterion.h>

#include "log.h"

Test(log, a_line_as_text_and_as_json)
{
    char out[256];
    int64_t t = 1764797955123;      /* 2025-12-03T21:39:15.123Z, in ms */
    log_format_line(out, sizeof out, LOG_TEXT, t, "p-1", "peer p-1 stopped");
    cr_expect_str_eq(out, "2025-12-03T21:39:15.123Z peerd: peer p-1 stopped");
    log_format_line(out, sizeof out, LOG_JSON, t, "p-1", "say \"h\xc3\xa9\"\n\t\x01 \xff\xc0\xaf end");
    cr_expect_str_eq(out, "{\"time\":\"2025-12-03T21:39:15.123Z\",\"peer\":\"p-1\","
                          "\"msg\":\"say \\\"h\xc3\xa9\\\"\\n\\t\\u0001 \\ufffd\\ufffd\\ufffd end\"}");
    log_format_line(out, sizeof out, LOG_JSON, t, NULL, "no peer");
    cr_expect_str_eq(out, "{\"time\":\"2025-12-03T21:39:15.123Z\",\"msg\":\"no peer\"}");
}

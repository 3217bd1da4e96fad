/*
 * node_io.c — the node's I/O relayed through peerd, its group leader: the
 * put_chars fast path (ReplyAs kept, latin1 as UTF-8), input requests,
 * getopts, format and request lists, into the console in order.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* A call whose result text must be `result`. */
static void call_expect(peerd *d, const char *id, const char *module, const char *function, const char *args,
                        const char *result)
{
    resp *r = call(d, id, module, function, args);
    cr_expect_str_eq(jstr(r, "result"), result, "%s:%s(%s): %s", module, function, args, r->body);
    resp_free(r);
}

/* Console output is copied straight from the control stream (the put_chars
 * fast path): the reply still carries any ReplyAs back as the node sent it,
 * and latin1 text, which the fast path leaves alone, still comes out as
 * UTF-8 in order. On both connections. */
Test(node_io, put_chars_reply_as_and_encodings, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    const char *opts[] = { "{}", "{\"connection\":0}" };
    for (int i = 0; i < 2; i++) {
        char *id = start_peer(d, opts[i]);
        resp *r = node_eval(d, id, "user ! {io_request, self(), {tag, [1, <<\"two\">>]}, {put_chars, unicode, <<\"q\\x{e9}|\"/utf8>>}}, "
                                   "receive {io_reply, {tag, [1, <<\"two\">>]}, R} -> R after 5000 -> no_reply end", false);
        cr_expect(strstr(r->body, "{value,ok,") != NULL, "the io_reply came back to ReplyAs: %s", r->body);
        resp_free(r);
        call_expect(d, id, "io", "request", "\"[user, {put_chars, latin1, <<233, $|>>}]\"", "ok");
        call_expect(d, id, "io", "put_chars", "\"[user, <<\\\"end\\\">>]\"", "ok");
        char path[256];
        snprintf(path, sizeof path, "/peers/%s/console", id);
        r = http(d, "GET", path, NULL);
        cr_expect(strstr(r->body, "q\xc3\xa9|\xc3\xa9|end") != NULL, "%s: %s", opts[i], r->body);
        resp_free(r);
        delete_peer(d, id);
        free(id);
    }
    peerd_stop(d);
}

/* The node's I/O requests, as the origin's group leader would answer them. */
Test(node_io, relayed_io_requests, .timeout = 60)
{
    peerd *d = peerd_start(NULL);
    char *id = start_peer(d, "{}");
    call_expect(d, id, "io", "get_line", "\"[user, \\\"prompt> \\\"]\"", "eof");   /* input requests get eof */
    call_expect(d, id, "io", "getopts", "\"[user]\"", "[{binary,false},{encoding,unicode}]");
    call_expect(d, id, "io", "put_chars", "\"[user, <<\\\"raw|\\\">>]\"", "ok");
    call_expect(d, id, "io", "format", "\"[user, \\\"~ts|\\\", [<<\\\"h\\\\x{e9}llo\\\"/utf8>>]]\"", "ok");
    call_expect(d, id, "io", "request", "\"[user, {requests, [{put_chars, unicode, <<\\\"a\\\">>}, {put_chars, unicode, io_lib, format, [\\\"~p|\\\", [x]]}]}]\"", "ok");
    resp *r;
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/console", id);
    r = http(d, "GET", path, NULL);
    cr_expect_str_eq(r->body, "raw|h\xc3\xa9llo|ax|", "all relayed output, in order, as UTF-8");
    resp_free(r);
    snprintf(path, sizeof path, "/peers/%s/console?since=4", id);
    r = http(d, "GET", path, NULL);
    cr_expect_str_eq(r->body, "h\xc3\xa9llo|ax|");
    cr_expect_str_eq(r->console_start, "4");
    resp_free(r);
    free(id);
    peerd_stop(d);
}

/* io:format of a large term (its arguments over 256 KiB): the node
 * formats it (the call back to it is framed off the loop over standard_io
 * and TCP, and sent from the loop over distribution), and its text, made
 * UTF-8 off the loop, reaches the console whole, before what the writer
 * prints next. Over each connection. */
Test(node_io, a_large_format_prints_whole_over_each_connection, .timeout = 120)
{
    peerd *d = peerd_start(NULL);
    const char *opts[] = { "{}", "{\"connection\":0}", "{\"name\":\"large-format\",\"connection\":\"distribution\"}" };
    for (int i = 0; i < 3; i++) {
        char *id = start_peer(d, opts[i]);
        resp *r = node_eval(d, id, "io:format(\"~w~n\", [lists:seq(1, 100000)]), io:format(\"after~n\"), ok", false);
        cr_expect(strstr(r->body, "{value,ok,"), "%s: %s", opts[i], r->body);
        resp_free(r);
        char path[256];
        snprintf(path, sizeof path, "/peers/%s/console", id);
        r = http_until(d, "GET", path, NULL, has_text, "after\n", 20000);
        const char *head = r->body ? strstr(r->body, "[1,2,3,") : NULL;
        cr_expect(head && strstr(head, ",99999,100000]\nafter\n"), "%s: the whole list, then the next line", opts[i]);
        size_t digits = 0, commas = 0;
        for (const char *q = head; q && *q != ']'; q++) digits += *q >= '0' && *q <= '9', commas += *q == ',';
        cr_expect_eq(commas, 99999, "%s: every element", opts[i]);
        cr_expect_eq(digits, 488895, "%s: every digit", opts[i]);
        resp_free(r);
        delete_peer(d, id);
        free(id);
    }
    peerd_stop(d);
}

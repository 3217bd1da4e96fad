/*
 * control.c — libFuzzer target: the control messages read in place
 * (peer/term/control.c) against the full ETF decoder. Whatever is read in place
 * must be what etf_decode makes of the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "etf.h"

static bool same_term(const term *a, const term *b)
{
    buf x = {0}, y = {0};
    etf_encode_body(&x, a);
    etf_encode_body(&y, b);
    bool same = x.len == y.len && !memcmp(x.p, y.p, x.len);
    buf_free(&x);
    buf_free(&y);
    return same;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    arena *a = arena_new();
    etf_error e = {0};
    term *t = etf_decode(a, data, size, &e);
    control_reply rep;
    if (control_read_reply(data, size, &rep)) {
        /* A reply whose Result is malformed fails both ways. */
        term *result = etf_decode_body(a, rep.result, rep.result_len, &e);
        if (!t != !result) abort();
        if (t && (t->type != TERM_TUPLE || t->tuple.n != 4 || !term_is_atom(t->tuple.items[0], "reply") ||
                  t->tuple.items[1]->type != TERM_INT || (uint64_t)t->tuple.items[1]->i != rep.seq ||
                  !term_is_atom(t->tuple.items[2], rep.klass) || !same_term(t->tuple.items[3], result)))
            abort();
    }
    control_put_chars pc;
    if (control_read_put_chars(data, size, &pc)) {
        if (!t || t->type != TERM_TUPLE || t->tuple.n != 4) abort();
        const term *req = t->tuple.items[3];
        if (req->type != TERM_TUPLE || req->tuple.n != 3 || !term_is_atom(req->tuple.items[1], "unicode")) abort();
        const term *bin = req->tuple.items[2];
        if (bin->type != TERM_BINARY || bin->bin.bits != 8 || bin->bin.len != pc.chars_len ||
            memcmp(bin->bin.data, pc.chars, pc.chars_len))
            abort();
        buf b = {0};
        control_put_chars_reply(&b, &pc);
        term *reply = etf_decode(a, b.p, b.len, &e);
        if (!reply || reply->type != TERM_TUPLE || reply->tuple.n != 4 || !term_is_atom(reply->tuple.items[0], "io_reply") ||
            !same_term(reply->tuple.items[1], t->tuple.items[1]) || !same_term(reply->tuple.items[2], t->tuple.items[2]) ||
            !term_is_atom(reply->tuple.items[3], "ok"))
            abort();
        buf_free(&b);
    }
    /* Read in place, the parts are what the decoder makes of the whole
     * (when the whole decodes: the bytes handed on are not checked here). */
    control_format cf;
    if (control_read_format(data, size, &cf) && t) {
        const term *req = t->type == TERM_TUPLE && t->tuple.n == 4 ? t->tuple.items[3] : NULL;
        size_t used = 0;
        term *from = etf_decode_prefix(a, cf.heads, cf.heads_len, &used, NULL);
        term *as = from ? etf_decode_body(a, cf.heads + used, cf.heads_len - used, NULL) : NULL;
        term *args = etf_decode_body(a, cf.args, cf.args_len, NULL);
        if (!req || req->type != TERM_TUPLE || req->tuple.n != 5 || !term_is_atom(req->tuple.items[3], "format") || !as || !args ||
            !same_term(from, t->tuple.items[1]) || !same_term(as, t->tuple.items[2]) || !same_term(args, req->tuple.items[4]))
            abort();
    }
    control_message cm;
    if (control_read_message(data, size, &cm) && t) {
        term *to = etf_decode_body(a, cm.to, cm.to_len, NULL), *msg = etf_decode_body(a, cm.msg, cm.msg_len, NULL);
        if (t->type != TERM_TUPLE || t->tuple.n != 3 || !to || !msg || !same_term(to, t->tuple.items[1]) ||
            !same_term(msg, t->tuple.items[2]))
            abort();
    }
    arena_free(a);
    return 0;
}

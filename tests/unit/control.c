/*
 * control.c — control messages read in place, on bytes erl's
 * term_to_binary wrote (OTP 25): {reply, ...} and put_chars io_requests,
 * and the io_reply peerd answers with, byte for byte as erl would write it.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "control.h"

/* term_to_binary({reply, 300, error, {badarg, []}}) */
static const uint8_t reply_msg[] = { 131, 104, 4, 100, 0, 5, 114, 101, 112, 108, 121, 98, 0, 0, 1, 44, 100, 0, 5, 101,
    114, 114, 111, 114, 104, 2, 100, 0, 6, 98, 97, 100, 97, 114, 103, 106 };
/* term_to_binary({io_request, <0.85.0>, {tag, [1, <<"two">>]}, {put_chars, unicode, <<"hé!"/utf8>>}}) */
static const uint8_t put_chars_msg[] = { 131, 104, 4, 100, 0, 10, 105, 111, 95, 114, 101, 113, 117, 101, 115, 116, 88,
    100, 0, 13, 110, 111, 110, 111, 100, 101, 64, 110, 111, 104, 111, 115, 116, 0, 0, 0, 85, 0, 0, 0, 0, 0, 0, 0, 0,
    104, 2, 100, 0, 3, 116, 97, 103, 108, 0, 0, 0, 2, 97, 1, 109, 0, 0, 0, 3, 116, 119, 111, 106, 104, 3, 100, 0, 9,
    112, 117, 116, 95, 99, 104, 97, 114, 115, 100, 0, 7, 117, 110, 105, 99, 111, 100, 101, 109, 0, 0, 0, 4, 104, 195,
    169, 33 };
/* term_to_binary({io_reply, <0.85.0>, {tag, [1, <<"two">>]}, ok}) */
static const uint8_t io_reply_msg[] = { 131, 104, 4, 100, 0, 8, 105, 111, 95, 114, 101, 112, 108, 121, 88, 100, 0, 13,
    110, 111, 110, 111, 100, 101, 64, 110, 111, 104, 111, 115, 116, 0, 0, 0, 85, 0, 0, 0, 0, 0, 0, 0, 0, 104, 2, 100,
    0, 3, 116, 97, 103, 108, 0, 0, 0, 2, 97, 1, 109, 0, 0, 0, 3, 116, 119, 111, 106, 100, 0, 2, 111, 107 };
/* term_to_binary({io_request, <0.85.0>, {tag, [1, <<"two">>]}, {put_chars, latin1, <<233>>}}) */
static const uint8_t latin1_msg[] = { 131, 104, 4, 100, 0, 10, 105, 111, 95, 114, 101, 113, 117, 101, 115, 116, 88,
    100, 0, 13, 110, 111, 110, 111, 100, 101, 64, 110, 111, 104, 111, 115, 116, 0, 0, 0, 85, 0, 0, 0, 0, 0, 0, 0, 0,
    104, 2, 100, 0, 3, 116, 97, 103, 108, 0, 0, 0, 2, 97, 1, 109, 0, 0, 0, 3, 116, 119, 111, 106, 104, 3, 100, 0, 9,
    112, 117, 116, 95, 99, 104, 97, 114, 115, 100, 0, 6, 108, 97, 116, 105, 110, 49, 109, 0, 0, 0, 1, 233 };

Test(control, reads_a_reply_leaving_the_result_as_bytes)
{
    control_reply r;
    cr_assert(control_read_reply(reply_msg, sizeof reply_msg, &r));
    cr_expect_eq(r.seq, 300);
    cr_expect_str_eq(r.klass, "error");
    static const uint8_t body[] = { 104, 2, 100, 0, 6, 98, 97, 100, 97, 114, 103, 106 };   /* {badarg, []} */
    cr_assert_eq(r.result_len, sizeof body);
    cr_expect_arr_eq(r.result, body, sizeof body);
    control_put_chars pc;
    cr_expect_not(control_read_put_chars(reply_msg, sizeof reply_msg, &pc));
}

Test(control, answers_put_chars_as_erl_would)
{
    control_put_chars pc;
    cr_assert(control_read_put_chars(put_chars_msg, sizeof put_chars_msg, &pc));
    cr_assert_eq(pc.chars_len, 4);
    cr_expect_arr_eq(pc.chars, "h\xc3\xa9!", 4);
    buf b = {0};
    control_put_chars_reply(&b, &pc);
    cr_assert_eq(b.len, sizeof io_reply_msg);
    cr_expect_arr_eq(b.p, io_reply_msg, sizeof io_reply_msg);
    buf_free(&b);
    control_reply r;
    cr_expect_not(control_read_reply(put_chars_msg, sizeof put_chars_msg, &r));
}

Test(control, leaves_what_it_does_not_read_to_the_decoder)
{
    control_put_chars pc;
    control_reply r;
    cr_expect_not(control_read_put_chars(latin1_msg, sizeof latin1_msg, &pc), "latin1 text needs converting");
    for (size_t n = 0; n < sizeof put_chars_msg; n++)
        cr_expect_not(control_read_put_chars(put_chars_msg, n, &pc), "cut at %zu", n);
    for (size_t n = 0; n < sizeof reply_msg; n++)
        if (n < 16) cr_expect_not(control_read_reply(reply_msg, n, &r), "cut at %zu", n);
}

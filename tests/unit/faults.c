/*
 * faults.c — the codecs out of memory: every allocation they make fails in
 * turn (an allocator that fails from its nth call, by the linker's --wrap
 * of malloc, calloc and realloc), and each either answers what it would
 * have or fails cleanly, with nothing leaked (valgrind and ASan run this).
 * And a stream whose append cannot grow its buffer.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "etf.h"
#include "labels.h"
#include "stream.h"
#include "term.h"
#include "term_json.h"
#include "term_text.h"


void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);

/* From the nth allocation on, or (fail_once) only the nth. Shared with
 * faults_manager.c. */
unsigned fail_at, calls;
bool fail_once;
static bool fails(void)
{
    if (!fail_at) return false;
    ++calls;
    return fail_once ? calls == fail_at : calls >= fail_at;
}
void *__wrap_malloc(size_t n) { return fails() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return fails() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return fails() ? NULL : __real_realloc(p, n); }

static void fail_from(unsigned nth) { fail_at = nth; calls = 0; fail_once = false; }

static const char *const texts[] = {
    "{ok, [1, 2.5, <<\"bin\">>, \"chars\", #{a => {b, [c]}}, 123456789012345678901234567890], 'x y'}",
    "[{K, V} || K <- x]",       /* refused either way */
    "#{<<\"k\">> => [1, [2, [3, [4]]]], 1 => -1}",
};

/* Text, then ETF, then text again, with the nth allocation failing: the
 * same text or a clean failure. */
Test(faults, term_text_and_etf_fail_cleanly_at_every_allocation)
{
    for (size_t k = 0; k < sizeof texts / sizeof *texts; k++) {
        char *want = NULL;
        {
            arena *a = arena_new();
            term_ctx none = {0};
            term_text_error te;
            term *t = term_parse(a, texts[k], strlen(texts[k]), &none, &te);
            if (t) {
                buf b = {0};
                term_print(&b, t);
                want = strndup((char *)b.p, b.len);
                buf_free(&b);
            }
            arena_free(a);
        }
        for (unsigned nth = 1;; nth++) {
            fail_from(nth);
            arena *a = arena_new();
            term_ctx none = {0};
            term_text_error te;
            term *t = a ? term_parse(a, texts[k], strlen(texts[k]), &none, &te) : NULL;
            buf etf = {0}, text = {0};
            if (t) etf_encode(&etf, t);
            term *back = t && !etf.oom ? etf_decode(a, etf.p, etf.len, NULL) : NULL;
            if (back) term_print(&text, back);
            bool whole = back && !text.oom;
            unsigned used = calls;
            fail_from(0);
            if (whole) cr_assert(want && text.len == strlen(want) && !memcmp(text.p, want, text.len), "text %zu, failing at %u", k, nth);
            buf_free(&etf);
            buf_free(&text);
            arena_free(a);
            if (used < nth) {           /* nothing failed: every allocation was tried */
                if (k == 0) cr_assert_gt(nth, 10, "the first text makes %u allocations: the wrap is not in place", nth - 1);
                break;
            }
        }
        free(want);
    }
}

/* JSON to terms and back, the same way (cJSON allocates through the
 * failing allocator too, by its hooks). */
Test(faults, json_fails_cleanly_at_every_allocation)
{
    static const char doc[] = "{\"args\":[1,\"two\",{\"$atom\":\"three\"},{\"$tuple\":[4,[5.5]]},{\"k\":null}]}";
    cJSON_Hooks hooks = { __wrap_malloc, free };
    cJSON_InitHooks(&hooks);
    for (unsigned nth = 1;; nth++) {
        fail_from(nth);
        json_error je;
        cJSON *j = json_parse(doc, sizeof doc - 1, &je);
        arena *a = j ? arena_new() : NULL;
        term_ctx none = {0};
        char err[300];
        term *t = a ? term_from_json(a, cJSON_GetObjectItemCaseSensitive(j, "args"), &none, "args", err, sizeof err) : NULL;
        cJSON *back = t ? term_to_json(t) : NULL;
        unsigned used = calls;
        fail_from(0);
        cJSON_Delete(back);
        arena_free(a);
        cJSON_Delete(j);
        if (used < nth) {
            cr_assert_gt(nth, 10, "the JSON made %u allocations: the wrap is not in place", nth - 1);
            break;
        }
    }
    cJSON_InitHooks(NULL);
}

/* term -> JSON text with the nth allocation failing (from it on, or it
 * alone): the same text, or false whenever an allocation failed (never a
 * shorter text). */
Test(faults, term_json_print_fails_cleanly_at_every_allocation)
{
    static const char text[] = "{<0.42.0>, 123456789012345678901234567890, \"chars\\n\", #{{k} => <<1:3>>, <<\"key\">> => 1.5}, "
                               "[x | y], 3.0, <<0, 200>>, 'a b'}";
    arena *a = arena_new();
    term_ctx ctx = { term_atomz(a, "nonode@nohost"), 0 };
    term_text_error te;
    term *t = term_parse(a, text, sizeof text - 1, &ctx, &te);
    cr_assert(t, "%s", te.msg);
    buf want = {0};
    cr_assert(term_json_print(&want, t, NULL));
    buf_cstr(&want);
    for (unsigned nth = 1, once = 0; once < 2; nth++) {
        buf b = {0};
        fail_from(nth);
        fail_once = once;
        bool ok = term_json_print(&b, t, NULL);
        unsigned used = calls;
        fail_from(0);
        if (used < nth) {
            cr_assert(ok && b.len == want.len && !memcmp(b.p, want.p, b.len), "nothing failed, yet not the same text");
            cr_assert_gt(nth, 5, "the printing made %u allocations: the wrap is not in place", nth - 1);
            buf_free(&b);
            once++;
            nth = 0;
            continue;
        }
        cr_assert(!ok, "allocation %u failed and the printing said nothing", nth);
        buf_free(&b);
    }
    buf_free(&want);
    arena_free(a);
}

/* A buffer that cannot grow says so once and stays so (its sticky oom). */
Test(faults, a_buffer_out_of_memory_stays_so)
{
    buf b = {0};
    buf_str(&b, "before");
    fail_from(1);
    for (int i = 0; i < 100; i++) buf_str(&b, "0123456789abcdef0123456789abcdef0123456789abcdef");
    fail_from(0);
    cr_assert(b.oom);
    buf_str(&b, "after");
    cr_assert(b.oom, "still out of memory: what follows a lost write is not written");
    buf_free(&b);
}

static void count_wake(void *ud) { ++*(int *)ud; }
static void no_park(void *ud) { (void)ud; }

/* An append that runs out of memory cuts the stream: its reader gets what
 * came before, whole, then the cut (its client resumes from there), and is
 * woken to see it; what is appended after is dropped. */
Test(faults, a_stream_append_out_of_memory_cuts_it)
{
    int wakes = 0;
    stream *s = stream_new(no_park, count_wake, &wakes);
    cr_assert(s);
    buf_str(stream_append_begin(s), "whole");
    stream_append_end(s);
    static char big[64 << 10];
    memset(big, 'x', sizeof big);
    fail_from(1);
    buf_put(stream_append_begin(s), big, sizeof big);
    stream_append_end(s);
    fail_from(0);
    buf_str(stream_append_begin(s), "late");
    stream_append_end(s);
    char out[64];
    stream_state st;
    bool refill;
    size_t n = stream_take(s, out, sizeof out, &st, &refill);
    cr_assert_eq(n, 5);
    cr_assert(!memcmp(out, "whole", 5));
    cr_assert_eq(stream_take(s, out, sizeof out, &st, &refill), 0);
    cr_assert_eq(st, STREAM_CUT, "cut where the lost append began");
    stream_unref(s);
    stream_unref(s);
}

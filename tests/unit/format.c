/*
 * format.c — io_lib:format's plain cases done in C, against what erl writes
 * (tests/fixtures/formats.tsv, written by gen_formats.escript): the cases
 * marked fast must be formatted here byte for byte as erl does, the ones
 * marked node must be left to the node.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io_format.h"
#include "term_text.h"

Test(io_format, plain_cases_as_erl_writes_them_the_rest_left_to_the_node)
{
    const char *path = getenv("PEERD_FORMATS");
    if (!path) path = PEERD_SOURCE_DIR "/tests/fixtures/formats.tsv";
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot open %s", path);
    char *line = NULL;
    size_t cap = 0;
    int n = 0, fast = 0;
    while (getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = 0;
        char *fields[4] = { line };
        for (int i = 1; i < 4; i++) {
            fields[i] = strchr(fields[i - 1], '\t');
            cr_assert(fields[i], "malformed record: %s", line);
            *fields[i]++ = 0;
        }
        arena *a = arena_new();
        term_ctx ctx = { term_atomz(a, "nonode@nohost"), 0 };
        term_text_error e;
        term *fmt = term_parse(a, fields[0], strlen(fields[0]), &ctx, &e);
        term *args = term_parse(a, fields[1], strlen(fields[1]), &ctx, &e);
        cr_assert(fmt && args, "%s / %s: %s", fields[0], fields[1], e.msg);
        buf out = {0};
        bool handled = io_format_fast(fmt, args, &out);
        bool want_fast = !strcmp(fields[2], "fast");
        cr_expect_eq(handled, want_fast, "io_lib:format(%s, %s) should be done %s", fields[0], fields[1], want_fast ? "here" : "by the node");
        if (handled) {
            char *hex = malloc(out.len * 2 + 1);
            for (size_t i = 0; i < out.len; i++) sprintf(hex + 2 * i, "%02X", out.p[i]);
            hex[out.len * 2] = 0;
            cr_expect_str_eq(hex, fields[3], "io_lib:format(%s, %s) differs from erl", fields[0], fields[1]);
            free(hex);
            fast++;
        }
        buf_free(&out);
        arena_free(a);
        n++;
    }
    free(line);
    fclose(f);
    cr_expect_gt(n, 25);
    cr_expect_gt(fast, 15);
}

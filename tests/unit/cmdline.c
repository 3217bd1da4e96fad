/*
 * cmdline.c — the node's command line, in OTP 25 peer's order.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "buf.h"
#include "cmdline.h"

static void expect_argv(const pm_start_opts *o, char *const *conn_args, const char *want)
{
    char **argv = cmdline_build(o, conn_args);
    cr_assert(argv);
    buf b = {0};
    for (size_t i = 0; argv[i]; i++) { if (i) buf_byte(&b, '|'); buf_str(&b, argv[i]); }
    cr_expect_str_eq(buf_cstr(&b), want);
    buf_free(&b);
    cmdline_free(argv);
}

Test(cmdline, the_order_otp_builds)
{
    char *user[] = { "-user", "peer", NULL };
    char *tcp[] = { "-detached", "-peer_detached", "-user", "peer", "-origin", "127.0.0.1", "4711", NULL };
    char *args[] = { "-extra", "x", NULL };
    char *exec[] = { "ssh", "host", "erl", NULL };
    pm_start_opts o = {0};
    expect_argv(&o, user, "erl|-user|peer");
    o.name = "n";
    expect_argv(&o, user, "erl|-sname|n|-user|peer");
    o.longnames = true;
    o.host = "h.example";
    o.args = args;
    expect_argv(&o, user, "erl|-name|n@h.example|-user|peer|-extra|x");
    o.exec = exec;
    o.longnames = false;
    o.host = NULL;
    expect_argv(&o, tcp, "ssh|host|erl|-sname|n|-detached|-peer_detached|-user|peer|-origin|127.0.0.1|4711|-extra|x");
}

Test(cmdline, post_process_args_expands_its_three_forms)
{
    char *user[] = { "-user", "peer", NULL };
    char *args[] = { "-eval", "io:format(\"it's\")", NULL };
    char *exec[] = { "sh", NULL };
    char *tmpl[] = { "-c", "erl {args_quoted}", "--", "{args...}", "[{args}]", NULL };
    pm_start_opts o = { .name = "n", .exec = exec, .args = args, .post_process_args = tmpl };
    expect_argv(&o, user,
                "sh|-c|erl '-sname' 'n' '-user' 'peer' '-eval' 'io:format(\"it'\\''s\")'|--|"
                "-sname|n|-user|peer|-eval|io:format(\"it's\")|"
                "[-sname n -user peer -eval io:format(\"it's\")]");
}

/*
 * cmdline.c — see cmdline.h.
 */
#include "cmdline.h"
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { char **v; size_t n; bool oom; } strv;

static void push(strv *s, const char *a)
{
    if (s->oom) return;
    char **v = realloc(s->v, (s->n + 2) * sizeof *v);
    char *d = strdup(a);
    if (!v || !d) { free(d); if (v) s->v = v; s->oom = true; return; }
    s->v = v;
    v[s->n++] = d;
    v[s->n] = NULL;
}

static char *shell_quote(const char *s)
{
    buf b = {0};
    buf_byte(&b, '\'');
    for (; *s; s++) {
        if (*s == '\'') buf_str(&b, "'\\''");
        else buf_byte(&b, (uint8_t)*s);
    }
    buf_byte(&b, '\'');
    char *r = buf_cstr(&b) ? strdup((char *)b.p) : NULL;
    buf_free(&b);
    return r;
}

/* Expands post_process_args over `built` (everything after EXEC). */
static void post_process(strv *argv, char *const *tmpl, char *const *built)
{
    buf plain = {0}, quoted = {0};
    for (size_t i = 0; built[i]; i++) {
        char *q = shell_quote(built[i]);
        if (i) { buf_byte(&plain, ' '); buf_byte(&quoted, ' '); }
        buf_str(&plain, built[i]);
        buf_str(&quoted, q ? q : "");
        if (!q) argv->oom = true;
        free(q);
    }
    const char *ps = buf_cstr(&plain) ? (char *)plain.p : "", *qs = buf_cstr(&quoted) ? (char *)quoted.p : "";
    for (size_t i = 0; tmpl[i]; i++) {
        if (!strcmp(tmpl[i], "{args...}")) {
            for (size_t k = 0; built[k]; k++) push(argv, built[k]);
            continue;
        }
        buf e = {0};
        for (const char *s = tmpl[i]; *s;) {
            if (!strncmp(s, "{args}", 6)) { buf_str(&e, ps); s += 6; }
            else if (!strncmp(s, "{args_quoted}", 13)) { buf_str(&e, qs); s += 13; }
            else buf_byte(&e, (uint8_t)*s++);
        }
        if (buf_cstr(&e)) push(argv, (char *)e.p); else argv->oom = true;
        buf_free(&e);
    }
    buf_free(&plain);
    buf_free(&quoted);
}

char **cmdline_build(const pm_start_opts *o, char *const *conn_args)
{
    strv built = {0}, argv = {0};
    if (o->name) {
        push(&built, o->longnames ? "-name" : "-sname");
        size_t n = strlen(o->name) + (o->host ? strlen(o->host) + 1 : 0) + 1;
        char *full = malloc(n);
        if (full) {
            snprintf(full, n, o->host ? "%s@%s" : "%s", o->name, o->host);
            push(&built, full);
        } else {
            built.oom = true;
        }
        free(full);
    }
    for (size_t i = 0; conn_args && conn_args[i]; i++) push(&built, conn_args[i]);
    for (size_t i = 0; o->args && o->args[i]; i++) push(&built, o->args[i]);
    push(&argv, o->exec ? o->exec[0] : "erl");
    char *const none[] = { NULL };
    char *const *b = built.v ? built.v : none;
    if (o->post_process_args) {
        post_process(&argv, o->post_process_args, b);
    } else {
        for (size_t i = 1; o->exec && o->exec[i]; i++) push(&argv, o->exec[i]);
        for (size_t i = 0; b[i]; i++) push(&argv, b[i]);
    }
    bool oom = built.oom || argv.oom;
    cmdline_free(built.v);
    if (oom) { cmdline_free(argv.v); return NULL; }
    return argv.v;
}

void cmdline_free(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++) free(argv[i]);
    free(argv);
}

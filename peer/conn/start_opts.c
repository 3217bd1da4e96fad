/*
 * start_opts.c — freeing the start options (start_opts.h).
 */
#include "start_opts.h"

#include <stdlib.h>

static void strings_free(char **v)
{
    for (char **s = v; s && *s; s++) free(*s);
    free(v);
}

void pm_start_opts_free(pm_start_opts *o)
{
    if (!o) return;
    free(o->name); free(o->host); free(o->tcp_ip); free(o->options_json); free(o->notify_url); free(o->cookie);
    free(o->labels_json); free(o->cluster); strings_free(o->labels);
    strings_free(o->exec); strings_free(o->args); strings_free(o->post_process_args); strings_free(o->env);
    free(o);
}

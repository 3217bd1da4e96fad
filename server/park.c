/*
 * park.c — a request that waits: suspended while the manager answers it
 * (http_submit, http_submit_all) or while the loop's helper thread does
 * work that grows with it (http_work, http_then_converts), and resumed on
 * the loop, where its `then` answers. libmicrohttpd's resume wakes nothing
 * in external mode: the end of the turn runs it (http.c).
 */
#include "http.h"
#include "http_int.h"

#include <stddef.h>
#include <stdlib.h>

void http_resume(http_server *s, struct MHD_Connection *c)
{
    MHD_resume_connection(c);
    /* In external mode a resume wakes nothing: the turn's end runs MHD,
     * this turn's if its hook is still to run, else the next, at once. */
    s->resumed = true;
    if (s->hook_turn == loop_turn(s->l)) loop_wake(s->l);
}

static void on_answer(pm_req *r)
{
    http_req *h = r->ud;
    http_count_call(h, r, h->submitted);
    h->answered = true;
    if (!h->inline_answer) http_resume(h->srv, h->conn);
}

enum MHD_Result http_submit(http_req *h, pm_req *r, http_then then)
{
    pm_req_free(h->pm);
    h->pm = r;
    h->then = then;
    h->answered = false;
    r->done = on_answer;
    r->ud = h;
    h->submitted = metrics_now();
    /* What the manager answers from what it holds (a peer's state, a
     * console snapshot...) is answered now: no suspend, no turn. */
    h->inline_answer = true;
    bool now = pm_answer_now(h->srv->pm, r);
    h->inline_answer = false;
    if (now && h->answered) {
        h->then = NULL;
        return http_run_then(h, then);
    }
    MHD_suspend_connection(h->conn);
    pm_submit(h->srv->pm, r);
    return MHD_YES;
}

static void on_answer_one(pm_req *r)
{
    http_req *h = r->ud;
    http_count_call(h, r, h->submitted);
    if (--h->left) return;
    h->answered = true;
    if (!h->inline_answer) http_resume(h->srv, h->conn);
}

enum MHD_Result http_submit_all(http_req *h, pm_req **rs, size_t n, http_then then)
{
    for (size_t i = 0; i < h->nmany; i++) pm_req_free(h->many[i]);
    free(h->many);
    h->many = rs;
    h->nmany = h->left = n;
    h->then = then;
    h->answered = n == 0;
    h->submitted = metrics_now();
    h->inline_answer = true;     /* a manager that has stopped answers at once */
    for (size_t i = 0; i < n; i++) {
        rs[i]->done = on_answer_one;
        rs[i]->ud = h;
        pm_submit(h->srv->pm, rs[i]);
    }
    h->inline_answer = false;
    if (h->answered) {
        h->then = NULL;
        return http_run_then(h, then);
    }
    MHD_suspend_connection(h->conn);
    return MHD_YES;
}

void http_then_converts(http_req *h) { h->then_converts = true; }

static size_t answer_bytes(const http_req *h)
{
    size_t n = h->pm ? h->pm->reply.len : 0;
    for (size_t i = 0; i < h->nmany; i++) n += h->many[i]->reply.len;
    return n;
}

static void back_on_loop(loop_work *w)
{
    http_req *h = (http_req *)((char *)w - offsetof(http_req, work));
    h->then = h->work_next;
    h->answered = true;
    http_resume(h->srv, h->conn);
}

/* Runs job on the helper thread while h's connection is suspended; next(h)
 * runs on the loop afterwards. False if there is no helper to run it. */
static bool off_loop(http_req *h, void (*job)(loop_work *w), http_then next)
{
    h->work_next = next;
    h->work = (loop_work){ .work = job, .done = back_on_loop };
    if (!loop_queue_work(h->srv->l, &h->work)) return false;
    h->then = NULL;
    h->answered = false;
    MHD_suspend_connection(h->conn);
    return true;
}

/* On the helper: a converting `then`, its response kept. */
static void convert(loop_work *w)
{
    http_req *h = (http_req *)((char *)w - offsetof(http_req, work));
    h->off_loop = true;
    h->json_mark = http_json_failures();
    h->work_rc = h->work_then(h);
    h->off_loop = false;
}

/* Back on the loop: queue what `then` made there. */
static enum MHD_Result queue_kept(http_req *h)
{
    if (!h->kept || h->work_rc != MHD_YES) return MHD_NO;
    struct MHD_Response *resp = h->kept;
    h->kept = NULL;
    return http_queue(h, h->kept_status, resp);
}

/* Runs `then` for an answer that has come in: here, or on the helper when
 * it only converts a large answer (the connection stays suspended). */
enum MHD_Result http_run_then(http_req *h, http_then then)
{
    bool converts = h->then_converts;
    h->then_converts = false;
    if (converts && answer_bytes(h) > HTTP_OFF_LOOP_BYTES) {
        h->work_then = then;
        if (off_loop(h, convert, queue_kept)) return MHD_YES;
    }
    return then(h);
}

/* On the helper: http_work's work. */
static void run_work(loop_work *w)
{
    http_req *h = (http_req *)((char *)w - offsetof(http_req, work));
    h->work_fn(h);
}

enum MHD_Result http_work(http_req *h, void (*work)(http_req *h), http_then then)
{
    h->work_fn = work;
    if (h->body.len > HTTP_OFF_LOOP_BYTES && off_loop(h, run_work, then)) return MHD_YES;
    work(h);
    return then(h);
}


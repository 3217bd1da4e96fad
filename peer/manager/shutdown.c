/*
 * shutdown.c — stopping a peer, as its `shutdown` option says: close (the
 * control connection closes; the node halts when it sees that), halt (the
 * same, then wait for the node's processes to go), or init:stop (a cast of
 * init:stop(), then wait for the node to close the connection). A deadline
 * kills what is left; the stop's waiters are answered when it completes.
 */
#include "manager_int.h"

#include <signal.h>

void mgr_kill_processes(peer *p)
{
    if (p->child) kill(-p->child, SIGKILL), kill(p->child, SIGKILL);
    if (p->node_ours && p->os_pid) kill(p->os_pid, SIGKILL);
    p->killed = true;
}

/* Closes the control connection; the node halts when it sees that. */
void mgr_close_control(peer *p)
{
    if (p->conn) conn_close(p->conn);
}

static void stop_complete(peer *p)
{
    pm_req *w = p->stop_waiters;
    p->stop_waiters = NULL;
    mgr_set_down(p, p->killed ? "killed" : p->stop_reason ? p->stop_reason : "stopped");
    mgr_plogf(p, "peer %s stopped%s", p->id, p->killed ? " (killed after the shutdown deadline)" : "");
    mgr_emit_event(p->m, p, "stopped", p->down_reason);
    while (w) {
        pm_req *next = w->next;
        mgr_answer_with_info(w, p, PM_OK, NULL);
        w = next;
    }
    mgr_remove_peer(p, true);
}

/* A stop is complete when the control connection is closed and, unless the
 * shutdown is `close`, the node's processes are gone. */
bool mgr_check_stop(peer *p)
{
    if (!p->stopping || p->removed) return false;
    if (conn_open(p) || conn_waiting(p)) return false;
    if (p->opt->shutdown != PM_SHUTDOWN_CLOSE && !mgr_processes_gone(p)) return false;
    mgr_timer_clear(p->m, &p->stop_timer);
    stop_complete(p);
    return true;
}

static void stop_deadline(void *owner, tmr *t)
{
    (void)t;
    peer *p = owner;
    mgr_close_control(p);
    mgr_kill_processes(p);
    mgr_check_stop(p);
}

void mgr_stop_begin(peer *p, pm_req *waiter)
{
    pm *m = p->m;
    if (waiter) { waiter->next = p->stop_waiters; p->stop_waiters = waiter; }
    if (p->stopping) return;
    p->stopping = true;
    if (p->conn) p->conn->raw = true;   /* what it prints from now on is console only */
    mgr_timer_clear(m, &p->boot_timer);
    mgr_timer_clear(m, &p->lease_timer);
    /* Whoever waited for the boot learns it will not happen. */
    if (p->start_req) { mgr_finish(p->start_req, PM_ERR_BOOT_FAILED, xasprintf("the peer was stopped while booting")); p->start_req = NULL; }
    for (pm_req *w = p->boot_waiters, *n; w; w = n) {
        n = w->next;
        mgr_finish(w, PM_ERR_BOOT_FAILED, xasprintf("the peer was stopped while booting"));
    }
    p->boot_waiters = NULL;
    if (p->state == ST_DOWN || (!conn_open(p) && !conn_waiting(p) && mgr_processes_gone(p))) {
        stop_complete(p);
        return;
    }
    int64_t ms = p->opt->shutdown_ms;
    /* {cast, init, stop, []}; the node closes the connection when done.
     * If that cannot be sent, closing the connection halts it. */
    static const uint8_t init_stop[] = { 100, 0, 4, 'i', 'n', 'i', 't', 100, 0, 4, 's', 't', 'o', 'p', 106 };
    bool asked = p->opt->shutdown == PM_SHUTDOWN_STOP && conn_open(p) && p->state == ST_RUNNING &&
                 mgr_send_tagged(p, "cast", 4, NULL, init_stop, sizeof init_stop);
    if (!asked) {
        mgr_close_control(p);
        if (p->opt->shutdown == PM_SHUTDOWN_STOP && ms == PM_INFINITY) ms = 5000;
    }
    if (ms != PM_INFINITY && !mgr_timer_set(m, &p->stop_timer, (uint64_t)ms, stop_deadline, p)) {
        stop_deadline(p, &p->stop_timer);   /* no deadline can be kept: the deadline is now */
        return;
    }
    mgr_check_stop(p);
}

void mgr_begin_shutdown(pm *m)
{
    m->shutting_down = true;
    for (peer *p = m->peers, *n; p; p = n) {
        n = p->next;
        if (!p->removed) mgr_stop_begin(p, NULL);
    }
}

/*
 * lifecycle.c — a peer from start to removal.
 *
 * The states, and what may happen in each (set_down and remove_peer are the
 * only ways out of running and down):
 *
 *   state     enters by                          leaves by
 *   booting   do_start: spawned, connection      {started, Node} and the two boot calls
 *             prepared (conn.h)                  answered -> running (boot_succeeded);
 *                                                connection lost or child exit -> down
 *                                                (conn_lost); boot timeout -> down and
 *                                                removed without tombstone (boot_timeout)
 *   running   boot_succeeded                     connection lost / node exit -> down
 *                                                (conn_lost); stop -> shutdown.c
 *   down      set_down: calls in flight fail,     removed now (peer_down stop or crash),
 *             waiters answered, followers end     or kept (peer_down continue) until stopped
 *
 * Orthogonal to the state: `stopping` (shutdown.c has begun a stop; only
 * the stop's end follows), `removed` (no longer listed; a tombstone answers
 * for it) and `dead` (freed at the end of the turn). A removed peer's struct
 * lives on, hidden, until its processes are reaped (maybe_free).
 *
 * peerd is a child subreaper, so a node that detaches (-detached, the TCP
 * connection's default) becomes our child when its launcher exits: we can
 * see it exit, and kill it if a shutdown deadline passes.
 */
#include "manager_int.h"
#include "cmdline.h"
#include "proc.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *pm_random_name(const char *prefix)
{
    static uint64_t unique;     /* on the loop's thread only */
    uint64_t u = ++unique;
    return xasprintf("%s-%llu-%d", prefix ? prefix : "peer", (unsigned long long)u, (int)getpid());
}

static void lease_expired(void *owner, tmr *t);
static void boot_succeeded(peer *p);
static void spawn_peer(peer *p, pm_req *r, char **conn_args);

static bool env_sets(char *const *env, const char *var)
{
    size_t key = strcspn(var, "=") + 1;
    for (char *const *e = env; e && *e; e++)
        if (!strncmp(*e, var, key)) return true;
    return false;
}

/* The peer's env, then what its connection adds (a distribution node's
 * HOME with its cookie) and `also` (its crash dump's place), unless the
 * peer's env sets the same variable. The strings stay theirs; NULL if out
 * of memory. */
static char **node_env(char *const *peer_env, char *const *conn_env, char *also)
{
    size_t n = strv_len(peer_env), k = strv_len(conn_env), used = 0;
    char **v = calloc(n + k + 2, sizeof *v);
    if (!v) return NULL;
    for (size_t i = 0; i < n; i++) v[used++] = peer_env[i];
    for (size_t i = 0; i < k; i++)
        if (!env_sets(peer_env, conn_env[i])) v[used++] = conn_env[i];
    if (also && !env_sets(peer_env, also)) v[used++] = also;
    return v;
}

/* Every node writes its crash dump (erl_crash.dump) to a file of its own
 * in peerd's dump directory, not into the working directory where nodes
 * would overwrite each other's: the peer, then its tombstone, keep it
 * (GET /peers/{id}/crash_dump). NULL: no directory (the node's default). */
static char *dump_path_for(peer *p)
{
    pm *m = p->m;
    if (!m->dump_dir) {
        char tmpl[] = "/tmp/peerd-dumps-XXXXXX";
        if (!mkdtemp(tmpl)) {
            mgr_logf(m, "cannot make a directory for crash dumps (%s): nodes write theirs where they run", strerror(errno));
            return NULL;
        }
        m->dump_dir = xstrdup(tmpl);
        if (!m->dump_dir) { rmdir(tmpl); return NULL; }
    }
    return xasprintf("%s/%s-%016llx.dump", m->dump_dir, p->id, (unsigned long long)p->incarnation);
}

/* The node is gone: did it leave a crash dump? */
void mgr_note_crash_dump(peer *p)
{
    struct stat st;
    if (p->dump_path && p->dump_bytes < 0 && stat(p->dump_path, &st) == 0 && S_ISREG(st.st_mode))
        p->dump_bytes = (int64_t)st.st_size;
}

static uint64_t mix64(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}


static void waiter_answer(waiter *w, pm_status st, char *detail)
{
    peer *p = w->p;
    for (waiter **wp = &p->waiters; *wp; wp = &(*wp)->next)
        if (*wp == w) { *wp = w->next; break; }
    mgr_timer_clear(p->m, &w->timer);
    if (st == PM_OK || st == PM_ERR_NOCONNECTION) mgr_answer_with_info(w->req, p, st, detail);
    else mgr_finish(w->req, st, detail);
    free(w);
}

/* Answers the waits that the peer's new state settles. */
static void wake_waiters(peer *p)
{
    for (waiter *w = p->waiters, *n; w; w = n) {
        n = w->next;
        if (p->state == ST_DOWN || p->removed)
            waiter_answer(w, w->req->want_down ? PM_OK : PM_ERR_NOCONNECTION,
                          w->req->want_down ? NULL : xasprintf("peer %s went down before it was running", p->id));
        else if (p->state == ST_RUNNING && !w->req->want_down)
            waiter_answer(w, PM_OK, NULL);
    }
}

static void wait_timeout(void *owner, tmr *t)
{
    (void)t;
    waiter *w = owner;
    waiter_answer(w, PM_ERR_TIMEOUT, xasprintf("peer %s did not reach %s within %lld ms", w->p->id,
                                               w->req->want_down ? "down" : "running", (long long)w->req->timeout_ms));
}

static void peer_free(peer *p)
{
    pm *m = p->m;
    for (peer **pp = &m->peers; *pp; pp = &(*pp)->next)
        if (*pp == p) { *pp = p->next; break; }
    mgr_timer_clear(m, &p->boot_timer);
    mgr_timer_clear(m, &p->stop_timer);
    mgr_timer_clear(m, &p->lease_timer);
    mgr_timer_clear(m, &p->held_timer);
    liveness_stop(p);
    buf_free(&p->held_io);
    if (p->conn) conn_free(p->conn);
    p->conn = NULL;
    mgr_fail_pending(p, "peer removed");
    mgr_release_followers(p, false);
    while (p->waiters) waiter_answer(p->waiters, PM_ERR_NOCONNECTION, xasprintf("peer %s was removed", p->id));
    if (p->start_req) mgr_finish(p->start_req, PM_ERR_NOCONNECTION, xasprintf("peer %s was removed", p->id));
    if (p->dump_path && !p->dump_kept) unlink(p->dump_path);
    free(p->dump_path);
    free(p->id); free(p->node); free(p->down_reason);
    pm_start_opts_free(p->opt);
    strv_free(p->argv);
    console_ring_free(&p->console);
    for (message *g = p->msgs, *n; g; g = n) { n = g->next; mgr_message_free(g); }
    arena_free(p->ident);
    arena_free(p->names_arena);
    free(p->names);
    /* Events of this epoll batch may still name p: free it after the batch. */
    p->dead = true;
    p->next = m->graveyard;
    m->graveyard = p;
}

bool mgr_processes_gone(const peer *p) { return !p->child && !(p->node_ours && p->os_pid); }

/* A removed peer's struct lives until its processes are reaped. */
static void maybe_free(peer *p)
{
    if (p->removed && mgr_processes_gone(p) && !p->stop_waiters) peer_free(p);
}

void mgr_remove_peer(peer *p, bool tomb)
{
    if (p->removed) return;
    p->removed = true;
    p->m->npeers--;
    if (tomb) {
        mgr_note_crash_dump(p);
        p->dump_kept = mgr_add_tombstone(p->m, p);     /* the file is the tombstone's now */
    }
    mgr_timer_clear(p->m, &p->lease_timer);
    wake_waiters(p);
    mgr_release_followers(p, p->opt->peer_down == PM_DOWN_CRASH && !p->stopping);
    mgr_emit_event(p->m, p, "removed", p->down_reason);
    maybe_free(p);
}

void mgr_set_down(peer *p, const char *reason)
{
    if (p->state == ST_DOWN) return;
    p->state = ST_DOWN;
    p->down_at = wall_ms();
    liveness_stop(p);
    mgr_note_crash_dump(p);
    p->lease_expires_at = 0;        /* a peer that is down holds no lease */
    mgr_timer_clear(p->m, &p->lease_timer);
    free(p->down_reason);
    p->down_reason = xstrdup(reason);
    mgr_timer_clear(p->m, &p->boot_timer);
    mgr_fail_pending(p, "the peer is down");
    wake_waiters(p);
    for (follower *f = p->followers; f; f = f->next) mgr_fill(f);
}

/* The boot's step that waits on the node: {started, Node} came. It sends
 * the calls the peer needs (os:getpid, self) and, for a cluster member,
 * its connect_node calls and, with a heartbeat, the watchdog; the peer
 * runs when each has answered (mgr_boot_call_done). Returns false if the
 * peer is gone. */
bool mgr_node_started(peer *p, const term *node)
{
    buf nb = {0};
    term_print(&nb, node);
    if (node->type == TERM_ATOM) { nb.len = 0; buf_put(&nb, node->atom.s, node->atom.len); }
    free(p->node);
    p->node = buf_cstr(&nb) ? strdup((char *)nb.p) : NULL;
    buf_free(&nb);
    if (!p->node) return mgr_boot_lost(p);
    if (p->state == ST_BOOTING && !p->boot_calls) {
        /* Only the calls that went are waited for; one of the two the
         * peer needs that could not go fails the boot. */
        int sent = mgr_internal_call(p, P_GETPID, "os", "getpid", NULL) + mgr_internal_call(p, P_SELF, "erlang", "self", NULL);
        p->boot_calls = sent + mgr_join_cluster(p) + liveness_boot(p);
        if (sent < 2) {
            mgr_plogf(p, "peer %s: out of memory for its boot calls", p->id);
            mgr_declare_down(p, "{boot_calls,enomem}");
            return false;
        }
    }
    return true;
}

bool mgr_boot_lost(peer *p)
{
    mgr_plogf(p, "peer %s: out of memory reading its boot message", p->id);
    mgr_declare_down(p, "{boot,enomem}");
    return false;
}

void mgr_boot_call_done(peer *p)
{
    if (--p->boot_calls == 0 && p->state == ST_BOOTING) boot_succeeded(p);
}

/* os:getpid() and self() answered: the node's OS pid (and whether it is
 * ours to kill), its pids' node and creation. */
void mgr_boot_answered(peer *p, enum pending_kind kind, const char *klass, const uint8_t *result, size_t n)
{
    arena *a = arena_new();
    etf_error e = {0};
    term *t = a && !strcmp(klass, "ok") ? etf_decode_body(a, result, n, &e) : NULL;
    if (kind == P_GETPID && t && t->type == TERM_LIST) {
        /* os:getpid() is a string of digits. */
        pid_t pid = 0;
        for (size_t i = 0; i < t->list.n && t->list.items[i]->type == TERM_INT; i++)
            pid = pid * 10 + (pid_t)(t->list.items[i]->i - '0');
        p->os_pid = pid;
        /* Ours when it is our child (spawned directly, or re-parented to
         * us as subreaper after -detached). */
        char path[64], line[512];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        if (f && fgets(line, sizeof line, f)) {
            char *rp = strrchr(line, ')');
            int ppid = 0;
            char st;
            if (rp && sscanf(rp + 1, " %c %d", &st, &ppid) == 2) p->node_ours = ppid == getpid() || pid == p->child;
        }
        if (f) fclose(f);
    } else if (kind == P_SELF && t && t->type == TERM_PID) {
        arena_free(p->ident);
        p->ident = a;
        a = NULL;
        p->node_atom = t->pid.node;
        p->creation = t->pid.creation;
    }
    arena_free(a);
    mgr_boot_call_done(p);
}

static void boot_succeeded(peer *p)
{
    p->state = ST_RUNNING;
    p->booted_at = wall_ms();
    mgr_timer_clear(p->m, &p->boot_timer);
    uint64_t took = loop_now() - p->boot_started;
    mgr_plogf(p, "peer %s running as %s (os pid %d) after %llu ms", p->id, p->node ? p->node : "?",
          (int)p->os_pid, (unsigned long long)took);
    p->m->boot_count++;
    p->m->boot_ms_sum += took;
    for (int i = 0; i < 8; i++) if (took <= (uint64_t)boot_bucket_ms[i]) p->m->boot_buckets[i]++;
    /* A lease runs from the moment the client can act on the peer: the
     * start's answer already says when it ends. */
    bool lease_armed = !p->opt->lease_ms || mgr_timer_set(p->m, &p->lease_timer, (uint64_t)p->opt->lease_ms, lease_expired, p);
    if (p->opt->lease_ms) p->lease_expires_at = wall_ms() + p->opt->lease_ms;
    for (pm_req *w = p->boot_waiters, *n; w; w = n) {
        n = w->next;
        mgr_answer_with_info(w, p, PM_OK, NULL);
    }
    p->boot_waiters = NULL;
    if (!lease_armed) {
        /* A lease that cannot run out must not leave a node behind. */
        mgr_emit_event(p->m, p, "booted", NULL);
        lease_expired(p, &p->lease_timer);
        return;
    }
    mgr_emit_event(p->m, p, "booted", NULL);
    liveness_start(p);
    wake_waiters(p);
}

/* The control connection or the node is gone. May free p. */
static void conn_lost(peer *p, const char *reason)
{
    pm *m = p->m;
    /* A distribution node that cannot reach peerd exits without a word. */
    bool silent = p->opt->conn == PM_CONN_DIST && p->conn && conn_is_waiting(p->conn);
    mgr_close_control(p);
    if (p->removed) { maybe_free(p); return; }
    if (p->stopping) { mgr_check_stop(p); return; }
    if (p->state == ST_BOOTING) {
        mgr_plogf(p, "peer %s failed to boot: %s", p->id, reason);
        bool waited = p->boot_waiters != NULL;
        mgr_set_down(p, reason);
        for (pm_req *w = p->boot_waiters, *n; w; w = n) {
            n = w->next;
            w->exit_status = p->exit_status;
            w->console_tail = mgr_console_tail(p);
            mgr_answer_with_info(w, p, PM_ERR_BOOT_FAILED,
                             silent ? xasprintf("%s: the node exited before connecting back to peerd's node; likely a cookie "
                                                "that is not peerd's (env HOME with another .erlang.cookie), its name "
                                                "already in use, or epmd out of its reach", reason)
                                    : xasprintf("%s", reason));
        }
        p->boot_waiters = NULL;
        mgr_emit_event(m, p, "boot_failed", reason);
        m->boot_failures++;
        if (waited) { mgr_kill_processes(p); mgr_remove_peer(p, false); return; }
    } else {
        mgr_set_down(p, reason);
        mgr_plogf(p, "peer %s went down: %s", p->id, reason);
        mgr_emit_event(m, p, p->opt->peer_down == PM_DOWN_CRASH ? "crashed" : "down", reason);
    }
    if (p->opt->peer_down != PM_DOWN_CONTINUE) mgr_remove_peer(p, true);
}

static void boot_timeout(void *owner, tmr *t)
{
    (void)t;
    peer *p = owner;
    mgr_plogf(p, "peer %s did not boot within %lld ms; stopping it", p->id, (long long)p->opt->wait_boot_ms);
    mgr_set_down(p, "timeout");
    mgr_emit_event(p->m, p, "boot_failed", "timeout");
    p->m->boot_failures++;
    for (pm_req *w = p->boot_waiters, *n; w; w = n) {
        n = w->next;
        w->console_tail = mgr_console_tail(p);
        mgr_answer_with_info(w, p, PM_ERR_TIMEOUT, xasprintf("the node did not boot within %lld ms", (long long)p->opt->wait_boot_ms));
    }
    p->boot_waiters = NULL;
    mgr_close_control(p);
    mgr_kill_processes(p);
    mgr_remove_peer(p, false);
}

/* What the control connection delivers (conn.h). */
static void conn_console(void *owner, const uint8_t *d, size_t n)
{
    liveness_heard(owner);
    mgr_console_write(owner, d, n);
}

static bool conn_message(void *owner, const uint8_t *etf, size_t n) { return mgr_handle_message(owner, etf, n); }

static bool conn_oversized(void *owner, const uint8_t *head, size_t n, size_t size)
{
    mgr_handle_oversized(owner, head, n, size);
    return true;
}

static bool conn_dropped(void *owner, const uint8_t *head, size_t n)
{
    mgr_handle_oversized(owner, head, n, 0);
    return true;
}

static void conn_lost_event(void *owner, const char *reason, bool kill)
{
    peer *p = owner;
    if (kill) {
        mgr_plogf(p, "peer %s: broken control stream %s; killing it", p->id, reason);
        mgr_kill_processes(p);
    }
    conn_lost(p, reason);
}

void mgr_declare_down(peer *p, const char *reason)
{
    mgr_kill_processes(p);
    conn_lost(p, reason);
}

/* A pending connection is ready: the start goes on, unless the peer was
 * stopped meanwhile (its start was answered then). */
static void conn_ready(void *owner, char **args, size_t nargs, char *err)
{
    (void)nargs;
    peer *p = owner;
    pm_req *r = p->start_req;
    p->start_req = NULL;
    if (!r || p->stopping || p->removed) { strv_free(args); free(err); return; }
    if (err) {
        strv_free(args);
        mgr_finish(r, PM_ERR_LISTEN, err);
        mgr_remove_peer(p, false);
        return;
    }
    spawn_peer(p, r, args);
}

/* The calls in flight; none while a process on the node waits on an I/O
 * reply of this turn (its next request must not wait on a paused read). */
static unsigned conn_awaited(void *owner)
{
    peer *p = owner;
    return mgr_io_requested_now(p) ? 0 : p->ncalls;
}

static const conn_events peer_conn_events = { conn_console, conn_message, conn_oversized, conn_dropped, conn_lost_event, conn_ready, conn_awaited };

static void on_child_exit(pm *m, pid_t pid, int status)
{
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    for (peer *p = m->peers; p; p = p->next) {
        if (pid == p->child) {
            p->child = 0;
            p->exit_status = code;
            if (pid == p->os_pid) mgr_note_crash_dump(p);
            char reason[32];
            snprintf(reason, sizeof reason, "{exit_status,%d}", code);
            /* Take the last output before judging, so none of it is lost. */
            if (p->conn && !conn_drain(p->conn)) return;
            if (pid == p->os_pid) p->node_ours = false;
            bool node_is_child = p->opt->conn == PM_CONN_STDIO || !p->opt->detached;
            if (node_is_child || code != 0) { conn_lost(p, reason); return; }
            /* The -detached launcher is done; the node lives on. */
            if (p->removed) maybe_free(p); else mgr_check_stop(p);
            return;
        }
        if (p->node_ours && pid == p->os_pid) {
            p->node_ours = false;
            if (conn_open(p)) { conn_lost(p, "tcp_closed"); return; }
            if (p->removed) maybe_free(p); else mgr_check_stop(p);
            return;
        }
    }
}

void mgr_reap(pm *m)
{
    struct signalfd_siginfo si;
    while (read(m->sfd, &si, sizeof si) == sizeof si) {}
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) break;
        on_child_exit(m, pid, status);
    }
}

void mgr_do_start(pm *m, pm_req *r)
{
    pm_start_opts *o = r->start;
    r->start = NULL;
    if (m->shutting_down) { pm_start_opts_free(o); mgr_finish(r, PM_ERR_SHUTTING_DOWN, NULL); return; }
    char *id = o->name ? strdup(o->name) : pm_random_name("peer");
    if (o->name && mgr_find_peer(m, id)) {
        mgr_finish(r, PM_ERR_EXISTS, xasprintf("a peer named %s already exists", id));
        free(id); pm_start_opts_free(o); return;
    }
    if (m->npeers >= m->cfg.max_peers) {
        mgr_finish(r, PM_ERR_TOO_MANY, xasprintf("peerd holds %d peers already (--max-peers)", m->npeers));
        free(id); pm_start_opts_free(o); return;
    }
    if (o->cluster && !mgr_cluster_admit(m, o, r)) { free(id); pm_start_opts_free(o); return; }
    peer *p = calloc(1, sizeof *p);
    if (!p) { free(id); pm_start_opts_free(o); mgr_finish(r, PM_ERR_NOMEM, NULL); return; }
    p->m = m;
    p->id = id;
    p->opt = o;
    /* Liveness as the start says, else as peerd was told (liveness.c). */
    if (o->heartbeat_ms < 0) o->heartbeat_ms = m->cfg.heartbeat_ms;
    if (o->unreachable_ms < 0) o->unreachable_ms = m->cfg.unreachable_ms;
    if (o->unreachable_ms <= o->heartbeat_ms) o->unreachable_ms = 2 * o->heartbeat_ms;
    p->incarnation = mix64(m->instance + ++m->incarnations);
    p->exit_status = -1;
    p->dump_bytes = -1;
    p->created_at = wall_ms();
    p->boot_started = loop_now();
    console_ring_init(&p->console, m->cfg.console_buffer);

    /* The connection first (it may listen), then the command line (cmdline.h). */
    char **conn_args = NULL, *err = NULL;
    size_t nconn = 0;
    const conn_ops *ops = o->conn == PM_CONN_TCP ? &conn_tcp_ops : o->conn == PM_CONN_DIST ? &conn_dist_ops : &conn_stdio_ops;
    if (!(p->conn = ops->create(&m->host, o, &peer_conn_events, p, &conn_args, &nconn, &err))) {
        mgr_finish(r, PM_ERR_LISTEN, err);
        peer_free(p);
        strv_free(conn_args);
        return;
    }
    p->next = m->peers;
    m->peers = p;
    m->npeers++;
    if (p->conn->pending) {
        /* Its arguments come when the connection is ready (conn_ready). */
        r->next = NULL;
        p->start_req = r;
        return;
    }
    spawn_peer(p, r, conn_args);
}

/* Builds the command line around the connection's arguments (taken) and
 * starts the program. */
static void spawn_peer(peer *p, pm_req *r, char **conn_args)
{
    pm *m = p->m;
    pm_start_opts *o = p->opt;
    const conn_ops *ops = p->conn->ops;
    char **argv = cmdline_build(o, conn_args);
    strv_free(conn_args);
    p->argv = argv;
    if (!argv) { mgr_finish(r, PM_ERR_NOMEM, NULL); mgr_remove_peer(p, false); return; }

    int in_fd = -1, out_fd = -1;
    char *dump_var = NULL;
    if (!env_sets(o->env, "ERL_CRASH_DUMP=") && (p->dump_path = dump_path_for(p)))
        dump_var = xasprintf("ERL_CRASH_DUMP=%s", p->dump_path);
    char **env = node_env(o->env, p->conn->env, dump_var);
    int e = env ? spawn_node(argv, env, ops->wants_stdin ? &in_fd : NULL, &out_fd, &p->child) : ENOMEM;
    free(env);
    free(dump_var);
    if (e) {
        mgr_plogf(p, "peer %s: cannot start %s: %s", p->id, argv[0], strerror(e));
        r->exit_status = -1;
        mgr_finish(r, PM_ERR_SPAWN, xasprintf("cannot execute %s: %s", argv[0], strerror(e)));
        mgr_close_control(p);
        /* As any start that fails: created, boot_failed, and a tombstone
         * that answers for the id (410) with the reason. */
        char *reason = xasprintf("{spawn_failed,\"%s\"}", strerror(e));
        mgr_emit_event(m, p, "created", NULL);
        mgr_set_down(p, reason ? reason : "spawn_failed");
        mgr_emit_event(m, p, "boot_failed", p->down_reason);
        free(reason);
        m->boot_failures++;
        mgr_remove_peer(p, true);
        return;
    }
    mgr_plogf(p, "peer %s starting: %s (pid %d)", p->id, argv[0], (int)p->child);
    mgr_emit_event(m, p, "created", NULL);
    m->starts++;
    p->lease_expires_at = o->lease_ms ? wall_ms() + o->lease_ms : 0;
    const char *failed = NULL;
    if (conn_attach(p->conn, in_fd, out_fd) < 0) failed = "cannot watch the node's descriptors";
    else if ((o->lease_ms && !mgr_timer_set(m, &p->lease_timer, (uint64_t)o->lease_ms, lease_expired, p)) ||
             (o->wait_boot_ms >= 0 && !mgr_timer_set(m, &p->boot_timer, (uint64_t)o->wait_boot_ms, boot_timeout, p)))
        failed = "cannot arm the peer's timers";
    if (failed) {
        int err = errno;
        mgr_finish(r, PM_ERR_INTERNAL, xasprintf("%s: %s", failed, strerror(err)));
        mgr_kill_processes(p);
        mgr_close_control(p);
        mgr_set_down(p, "{watch_failed}");
        mgr_remove_peer(p, true);
        return;
    }
    if (o->wait_boot_ms == PM_NO_WAIT) {
        mgr_answer_with_info(r, p, PM_OK, NULL);
        return;
    }
    r->next = NULL;
    p->boot_waiters = r;
}

static void lease_expired(void *owner, tmr *t)
{
    (void)t;
    peer *p = owner;
    mgr_plogf(p, "peer %s: lease of %lld ms expired; stopping it", p->id, (long long)p->opt->lease_ms);
    mgr_emit_event(p->m, p, "lease_expired", "lease_expired");
    p->stop_reason = "lease_expired";
    mgr_stop_begin(p, NULL);
}

void mgr_do_lease(pm *m, peer *p, pm_req *r)
{
    if (p->stopping || p->state == ST_DOWN) {
        mgr_finish(r, PM_ERR_NOCONNECTION, xasprintf("peer %s is %s", p->id, p->stopping ? "stopping" : "down"));
        return;
    }
    int64_t lease = r->lease_ms ? r->lease_ms : p->opt->lease_ms;
    if (!lease) {
        mgr_finish(r, PM_ERR_NO_LEASE, xasprintf("peer %s has no lease to renew: give lease_ms to start one", p->id));
        return;
    }
    /* Everything that can fail first; the peer changes only once it can't. */
    char *text = NULL;
    if (lease != p->opt->lease_ms) {
        /* The options say the lease the peer has now. */
        cJSON *o = cJSON_Parse(p->opt->options_json);
        cJSON *v = cJSON_CreateNumber((double)lease);
        if (o && v) {
            if (cJSON_GetObjectItemCaseSensitive(o, "lease_ms")) cJSON_ReplaceItemInObjectCaseSensitive(o, "lease_ms", v);
            else cJSON_AddItemToObject(o, "lease_ms", v);
            v = NULL;
            text = cJSON_PrintUnformatted(o);
        }
        cJSON_Delete(v);
        cJSON_Delete(o);
        if (!text) { mgr_finish(r, PM_ERR_NOMEM, NULL); return; }
    }
    if (!mgr_timer_set(m, &p->lease_timer, (uint64_t)lease, lease_expired, p)) {
        free(text);
        mgr_finish(r, PM_ERR_INTERNAL, xasprintf("out of memory arming the lease"));
        return;
    }
    if (text) {
        free(p->opt->options_json);
        p->opt->options_json = text;
        p->opt->lease_ms = lease;
    }
    p->lease_expires_at = wall_ms() + p->opt->lease_ms;
    mgr_answer_with_info(r, p, PM_OK, NULL);
}

void mgr_do_wait(pm *m, peer *p, pm_req *r)
{
    if (p->state == ST_DOWN || (p->state == ST_RUNNING && !r->want_down)) {
        if (p->state == ST_DOWN && !r->want_down)
            mgr_answer_with_info(r, p, PM_ERR_NOCONNECTION, xasprintf("peer %s is down", p->id));
        else
            mgr_answer_with_info(r, p, PM_OK, NULL);
        return;
    }
    waiter *w = calloc(1, sizeof *w);
    if (!w) { mgr_finish(r, PM_ERR_NOMEM, NULL); return; }
    w->req = r;
    w->p = p;
    if (r->timeout_ms != PM_INFINITY && !mgr_timer_set(m, &w->timer, (uint64_t)r->timeout_ms, wait_timeout, w)) {
        free(w);
        mgr_finish(r, PM_ERR_INTERNAL, xasprintf("out of memory arming the wait's timeout"));
        return;
    }
    w->next = p->waiters;
    p->waiters = w;
}

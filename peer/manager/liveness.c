/*
 * liveness.c — whether a running peer's node is still heard from, and what
 * follows when it is not: distribution's net_ticktime for every control
 * connection, with nothing installed on the node.
 *
 * peerd sends a heartbeat, a call of erlang:send(peerd_watchdog, beat),
 * every heartbeat_ms to each running peer. Anything the node sends (the
 * beat's reply, output, a message) means it is heard. A peer with a beat
 * out and nothing heard for heartbeat_ms is *unreachable*: an event says
 * so and since when, the peer shows it, and calls fail at once with
 * noconnection unless they ask to wait. Heard again, it is *reachable*
 * (an event; nothing it printed or sent meanwhile is lost: the connection
 * held it). Not heard for unreachable_ms, it is declared down,
 * {unreachable, Ms}, as net_ticktime would.
 *
 * The node keeps its side of the bargain without peerd's code on it: while
 * it boots, a call evaluates (erl_eval) a watchdog process that halts the
 * node when no beat has come for unreachable_ms. A node whose origin died
 * across a partition, where no close can reach it, is gone within that
 * time; OTP's own TCP and standard_io connections only notice a close.
 */
#include "manager_int.h"
#include "term_text.h"

/* The watchdog, with Limit bound to unreachable_ms:
 *   case whereis(peerd_watchdog) of
 *       undefined -> ok;
 *       Old -> unregister(peerd_watchdog), exit(Old, kill)
 *   end,
 *   W = spawn(fun() -> Loop = fun L() -> receive beat -> L() after Limit -> erlang:halt(1) end end, Loop() end),
 *   register(peerd_watchdog, W).
 * as erl_parse:parse_exprs gives it (erl 25). */
static const char watchdog_forms[] =
    "[{'case',1,{call,1,{atom,1,whereis},[{atom,1,peerd_watchdog}]},[{clause,1,[{atom,1,undefined}],[],[{"
    "atom,1,ok}]},{clause,1,[{var,1,'Old'}],[],[{call,1,{atom,1,unregister},[{atom,1,peerd_watchdog}]},{c"
    "all,1,{atom,1,exit},[{var,1,'Old'},{atom,1,kill}]}]}]},{match,1,{var,1,'W'},{call,1,{atom,1,spawn},["
    "{'fun',1,{clauses,[{clause,1,[],[],[{match,1,{var,1,'Loop'},{named_fun,1,'L',[{clause,1,[],[],[{'rec"
    "eive',1,[{clause,1,[{atom,1,beat}],[],[{call,1,{var,1,'L'},[]}]}],{var,1,'Limit'},[{call,1,{remote,1"
    ",{atom,1,erlang},{atom,1,halt}},[{integer,1,1}]}]}]}]}},{call,1,{var,1,'Loop'},[]}]}]}}]}},{call,1,{"
    "atom,1,register},[{atom,1,peerd_watchdog},{var,1,'W'}]}]";

static void tick(void *owner, tmr *t);

static void arm(peer *p)
{
    if (!mgr_timer_set(p->m, &p->beat_timer, (uint64_t)p->opt->heartbeat_ms, tick, p))
        mgr_plogf(p, "peer %s: no timer for its heartbeat; it is not watched", p->id);
}

/* erl_eval:exprs(Watchdog, [{'Limit', unreachable_ms}]): one boot call.
 * Returns how many calls went (0 or 1). */
int liveness_boot(peer *p)
{
    if (!p->opt->heartbeat_ms) return 0;
    static buf forms;
    if (!term_text_etf_once(&forms, watchdog_forms, sizeof watchdog_forms - 1)) return 0;
    buf b = {0};
    etf_encode_atom(&b, "erl_eval", 8);
    etf_encode_atom(&b, "exprs", 5);
    buf_byte(&b, LIST_EXT);
    buf_u32(&b, 2);
    buf_put(&b, forms.p, forms.len);
    buf_byte(&b, LIST_EXT);                  /* [{'Limit', N}] */
    buf_u32(&b, 1);
    buf_byte(&b, SMALL_TUPLE_EXT);
    buf_byte(&b, 2);
    etf_encode_atom(&b, "Limit", 5);
    etf_encode_int(&b, p->opt->unreachable_ms);
    buf_byte(&b, NIL_EXT);
    buf_byte(&b, NIL_EXT);
    bool sent = !b.oom && mgr_send_internal(p, P_WATCHDOG, b.p, b.len);
    buf_free(&b);
    return sent;
}

void liveness_watchdog_answered(peer *p, const char *klass)
{
    if (strcmp(klass, "ok"))
        mgr_plogf(p, "peer %s: its watchdog did not start (%s); it will not halt by itself if peerd goes silent", p->id, klass);
}

void liveness_start(peer *p)
{
    p->heard_at = loop_now();
    if (p->opt->heartbeat_ms) arm(p);
}

static void reachable(peer *p, uint64_t silent)
{
    p->unreachable_since = 0;
    p->m->unreachable--;
    char why[64];
    snprintf(why, sizeof why, "heard again after %llu ms", (unsigned long long)silent);
    mgr_plogf(p, "peer %s: %s", p->id, why);
    mgr_emit_event(p->m, p, "reachable", why);
}

void liveness_heard(peer *p)
{
    uint64_t now = loop_now(), silent = now - p->heard_at;
    p->heard_at = now;
    p->beat_out = false;
    if (p->unreachable_since) reachable(p, silent);
}

void liveness_stop(peer *p)
{
    mgr_timer_clear(p->m, &p->beat_timer);
    if (p->unreachable_since) {
        p->unreachable_since = 0;
        p->m->unreachable--;
    }
}

static void beat(peer *p)
{
    static const uint8_t mfa[] = {
        SMALL_ATOM_UTF8_EXT, 6, 'e', 'r', 'l', 'a', 'n', 'g',
        SMALL_ATOM_UTF8_EXT, 4, 's', 'e', 'n', 'd',
        LIST_EXT, 0, 0, 0, 2,                                   /* [peerd_watchdog, beat] */
        SMALL_ATOM_UTF8_EXT, 14, 'p', 'e', 'e', 'r', 'd', '_', 'w', 'a', 't', 'c', 'h', 'd', 'o', 'g',
        SMALL_ATOM_UTF8_EXT, 4, 'b', 'e', 'a', 't',
        NIL_EXT,
    };
    if (mgr_send_internal(p, P_BEAT, mfa, sizeof mfa)) p->beat_out = true;
}

static void tick(void *owner, tmr *t)
{
    (void)t;
    peer *p = owner;
    pm *m = p->m;
    if (p->state != ST_RUNNING || p->stopping || p->removed || !conn_open(p)) return;
    uint64_t silent = loop_now() - p->heard_at;
    if (p->unreachable_since && silent >= (uint64_t)p->opt->unreachable_ms) {
        char reason[48];
        snprintf(reason, sizeof reason, "{unreachable,%llu}", (unsigned long long)silent);
        mgr_plogf(p, "peer %s: not heard from for %llu ms (unreachable_ms %lld); declaring it down", p->id,
              (unsigned long long)silent, (long long)p->opt->unreachable_ms);
        mgr_declare_down(p, reason);
        return;
    }
    if (!p->unreachable_since && p->beat_out && silent >= (uint64_t)p->opt->heartbeat_ms) {
        p->unreachable_since = wall_ms() - (int64_t)silent;
        m->unreachable++;
        m->unreachable_total++;
        char why[64];
        snprintf(why, sizeof why, "not heard from for %llu ms", (unsigned long long)silent);
        mgr_plogf(p, "peer %s: unreachable, %s", p->id, why);
        mgr_emit_event(m, p, "unreachable", why);
    }
    beat(p);
    arm(p);
}

bool liveness_refuses(peer *p, pm_req *r)
{
    if (!p->unreachable_since || r->wait_unreachable) return false;
    mgr_finish(r, PM_ERR_NOCONNECTION,
           xasprintf("peer %s has not been heard from for %llu ms (unreachable); give \"wait_unreachable\": true to wait for it",
                     p->id, (unsigned long long)(loop_now() - p->heard_at)));
    return true;
}

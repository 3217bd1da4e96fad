/*
 * messages.c — what the node sends to peerd (peer:send/2's other way: the
 * node's `{message, To, Msg}`), kept in a log of the last MAX_MESSAGES, and
 * how the node numbers other nodes, so that their pids print as the node
 * prints them.
 */
#include "manager_int.h"
#include "term_json.h"

term_names mgr_names_of(const peer *p) { return (term_names){ p->node_atom, p->names, p->nnames }; }

void mgr_message_free(message *g)
{
    free(g->to);
    free(g->mem);
    free(g);
}

void mgr_message_view(const message *g, pm_message *v)
{
    *v = (pm_message){ g->seq, g->to, g->etf, g->len };
}

/* Appends a message to the log, within MAX_MESSAGES and MAX_MESSAGE_BYTES
 * (the newest is always kept), and feeds followers. Takes to and mem, in
 * which etf lies. */
static void log_message(peer *p, char *to, uint8_t *mem, const uint8_t *etf, size_t len)
{
    message *g = calloc(1, sizeof *g);
    if (!g) { free(to); free(mem); return; }
    g->seq = ++p->msg_seq;
    g->to = to;
    g->mem = mem;
    g->etf = etf;
    g->len = len;
    if (p->msgs_tail) p->msgs_tail->next = g; else p->msgs = g;
    p->msgs_tail = g;
    p->nmsgs++;
    p->msg_bytes += etf ? len : 0;
    while (p->msgs != g && (p->nmsgs > MAX_MESSAGES || p->msg_bytes > MAX_MESSAGE_BYTES)) {
        message *old = p->msgs;
        p->msgs = old->next;
        p->nmsgs--;
        p->msg_bytes -= old->etf ? old->len : 0;
        if (old->len > PM_MESSAGE_CONVERT_MAX) mgr_message_leaves(p, old);
        if (!old->holders) mgr_message_free(old);
    }
    mgr_fill_due(p);
}

static char *to_text(const peer *p, const term *to)
{
    buf text = {0};
    term_names names = mgr_names_of(p);
    if (to->type == TERM_ATOM) buf_put(&text, to->atom.s, to->atom.len);
    else term_print_names(&text, to, &names);
    return buf_cstr(&text) ? (char *)text.p : (buf_free(&text), NULL);
}

/* Logs a message (`to` as text, the message as ETF) and feeds followers. */
void mgr_store_message(peer *p, const term *to, const term *content)
{
    buf etf = {0};
    char *text = to_text(p, to);
    etf_encode_body(&etf, content);
    if (!text || etf.oom) { free(text); buf_free(&etf); return; }
    log_message(p, text, etf.p, etf.p, etf.len);
}

/* A message over PM_MESSAGE_CONVERT_MAX, kept as the bytes it came in
 * (never decoded on the loop) and where they came: in the connection's
 * own buffer when it can be taken, not copied into new memory (a page
 * fault every 4 KiB, on the loop); over PM_MESSAGE_MAX, only its size. */
void mgr_store_message_bytes(peer *p, const term *to, const uint8_t *content, size_t len)
{
    char *text = to_text(p, to);
    uint8_t *mem = NULL;
    const uint8_t *etf = NULL;
    if (!text) return;
    if (len > PM_MESSAGE_MAX) {
        mgr_plogf(p, "peer %s: a message of %zu bytes to %s (over %u) was dropped", p->id, len, text, PM_MESSAGE_MAX);
    } else if (!(etf = mgr_keep_bytes(p, content, len, &mem))) {
        free(text);
        return;
    }
    log_message(p, text, mem, etf, len);
}

/* The tags of pids, ports and references in ETF: a reply without one of
 * these bytes names no node, and is not decoded here. */
bool mgr_may_name_nodes(const uint8_t *d, size_t n)
{
    static const bool tag[256] = { [88] = 1, [89] = 1, [90] = 1, [101] = 1, [102] = 1, [103] = 1, [114] = 1, [120] = 1 };
    for (size_t i = 0; i < n; i++) if (tag[d[i]]) return true;
    return false;
}

static const term *node_of(const term *t)
{
    return t->type == TERM_PID ? t->pid.node : t->type == TERM_PORT ? t->port.node : t->ref.node;
}

static bool node_known(const peer *p, const term *node)
{
    if (p->node_atom && term_atom_eq(node, p->node_atom)) return true;
    for (size_t i = 0; i < p->nnames; i++) if (term_atom_eq(node, p->names[i].node)) return true;
    return false;
}

/* One identifier per node in t whose number is not known yet. */
static void unknown_nodes(const peer *p, const term *t, const term **ids, size_t *n, size_t max, int depth)
{
    if (!t || depth > 200 || *n >= max) return;
    switch (t->type) {
    case TERM_PID: case TERM_PORT: case TERM_REF: {
        const term *node = node_of(t);
        if (node_known(p, node)) return;
        for (size_t i = 0; i < *n; i++) if (term_atom_eq(node_of(ids[i]), node)) return;
        ids[(*n)++] = t;
        return;
    }
    case TERM_LIST:
        for (size_t i = 0; i < t->list.n; i++) unknown_nodes(p, t->list.items[i], ids, n, max, depth + 1);
        unknown_nodes(p, t->list.tail, ids, n, max, depth + 1);
        return;
    case TERM_TUPLE:
        for (size_t i = 0; i < t->tuple.n; i++) unknown_nodes(p, t->tuple.items[i], ids, n, max, depth + 1);
        return;
    case TERM_MAP:
        for (size_t i = 0; i < 2 * t->map.n; i++) unknown_nodes(p, t->map.kv[i], ids, n, max, depth + 1);
        return;
    default:
        return;
    }
}

static void add_name(peer *p, const term *node, uint32_t number)
{
    if (p->nnames >= MAX_NAMES || (!p->names_arena && !(p->names_arena = arena_new()))) return;
    term_node_number *v = realloc(p->names, (p->nnames + 1) * sizeof *v);
    term *copy = term_atom(p->names_arena, node->atom.s, node->atom.len);
    if (!v || !copy) { if (v) p->names = v; return; }
    p->names = v;
    v[p->nnames++] = (term_node_number){ copy, number };
}

/* Asks the node how it prints the identifiers ids[0..n) (of nodes whose
 * numbers it has not told yet): io_lib:format("~w", [[Id, ...]]), encoded
 * here (ids need not outlive the call). The call's answer `req` (or,
 * without one, the held messages) waits for the reply. */
static bool ask_for(peer *p, const term *const *ids, size_t n, pm_req *req)
{
    if (!n || !conn_open(p)) return false;
    pending *c = mgr_pending_new(p, P_NAMES);
    arena *na = c ? arena_new() : NULL;
    term *list = na ? term_list(na, n, NULL) : NULL, *fmt = na ? term_list(na, 2, NULL) : NULL;
    term *args = na ? term_list(na, 2, NULL) : NULL;
    bool ok = list && fmt && args && (c->asked = arena_alloc(na, n * sizeof *c->asked));
    for (size_t i = 0; ok && i < n; i++) {
        list->list.items[i] = (term *)ids[i];
        ok = (c->asked[i] = term_atom(na, node_of(ids[i])->atom.s, node_of(ids[i])->atom.len)) != NULL;
    }
    if (!ok) {
        if (c) { mgr_pending_take(p, c->seq); mgr_pending_free(c); }
        arena_free(na);
        return false;
    }
    c->na = na;
    c->req = req;
    c->nasked = n;
    fmt->list.items[0] = term_int(na, '~');
    fmt->list.items[1] = term_int(na, 'w');
    args->list.items[0] = fmt;
    args->list.items[1] = term_list(na, 1, NULL);
    if (args->list.items[1]) args->list.items[1]->list.items[0] = list;
    buf mfa = {0};
    etf_encode_atom(&mfa, "io_lib", 6);
    etf_encode_atom(&mfa, "format", 6);
    etf_encode_body(&mfa, args);
    bool built = !mfa.oom, sent = built && mgr_send_call(p, c, mfa.p, mfa.len);
    buf_free(&mfa);
    if (!sent) {       /* taken back by mgr_send_call, or here */
        if (!built) mgr_pending_take(p, c->seq);
        c->req = NULL;
        mgr_pending_free(c);
    }
    return sent;
}

/* Asks the node how it prints identifiers of the nodes in a and b that it
 * has not told yet, one identifier per node. False when there is nothing
 * to ask. */
bool mgr_ask_names(peer *p, const term *a, const term *b, pm_req *req)
{
    const term *ids[16];
    size_t n = 0;
    unknown_nodes(p, a, ids, &n, 16, 0);
    unknown_nodes(p, b, ids, &n, 16, 0);
    return ask_for(p, ids, n, req);
}

typedef struct { const peer *p; arena *a; const term *ids[16]; size_t n; } id_scan;

static bool scanned_id(void *ud, const uint8_t *id, size_t len)
{
    id_scan *s = ud;
    size_t used;
    term *t = etf_decode_prefix(s->a, id, len, &used, NULL);
    if (!t) return true;
    const term *node = node_of(t);
    if (node_known(s->p, node)) return true;
    for (size_t i = 0; i < s->n; i++) if (term_atom_eq(node_of(s->ids[i]), node)) return true;
    s->ids[s->n++] = t;
    return s->n < 16;
}

/* ask_names for a reply's bytes: walked, not decoded; only the
 * identifiers are. */
static bool ask_names_walked(peer *p, const uint8_t *etf, size_t n, pm_req *req)
{
    id_scan s = { .p = p, .a = arena_new() };
    bool asked = s.a && etf_walk_ids(etf, n, scanned_id, &s) && ask_for(p, s.ids, s.n, req);
    arena_free(s.a);
    return asked;
}

/* ---- the identifiers of a large reply, found on the loop's helper ---- */

/* A reply up to this size is walked on the loop (about a millisecond). */
#define NAMES_WALK_ON_LOOP (1u << 20)

typedef struct {
    loop_work w;
    pm *m;
    char *peer;                 /* the peer may go meanwhile: found again by id and incarnation */
    uint64_t incarnation;
    pm_req *r;                  /* its reply is walked; nothing else touches r meanwhile */
    char **known;               /* node names whose numbers are known, copied */
    size_t nknown;
    size_t off[16], len[16], n; /* identifiers of other nodes, one per node, in r's reply body */
    const uint8_t *body;
} names_walk;

/* The node atom's name in an identifier's bytes. */
static bool id_node(const uint8_t *id, size_t len, const uint8_t **name, size_t *nlen)
{
    size_t at = id[0] == NEW_REFERENCE_EXT || id[0] == NEWER_REFERENCE_EXT ? 3 : 1;   /* after the word count */
    if (len < at + 2) return false;
    const uint8_t *q = id + at;
    if ((q[0] == ATOM_EXT || q[0] == ATOM_UTF8_EXT) && len >= at + 3) { *nlen = (size_t)q[1] << 8 | q[2]; *name = q + 3; }
    else if (q[0] == SMALL_ATOM_EXT || q[0] == SMALL_ATOM_UTF8_EXT) { *nlen = q[1]; *name = q + 2; }
    else return false;
    return *name + *nlen <= id + len;
}

static bool walked_id(void *ud, const uint8_t *id, size_t len)
{
    names_walk *w = ud;
    const uint8_t *name, *other;
    size_t nlen, olen;
    if (!id_node(id, len, &name, &nlen)) return true;
    for (size_t i = 0; i < w->nknown; i++)
        if (strlen(w->known[i]) == nlen && !memcmp(w->known[i], name, nlen)) return true;
    for (size_t i = 0; i < w->n; i++)
        if (id_node(w->body + w->off[i], w->len[i], &other, &olen) && olen == nlen && !memcmp(other, name, nlen)) return true;
    w->off[w->n] = (size_t)(id - w->body);
    w->len[w->n++] = len;
    return w->n < 16;
}

static void names_walk_work(loop_work *lw)
{
    names_walk *w = (names_walk *)lw;
    w->body = w->r->reply.p + 1;
    if (!etf_walk_ids(w->body, w->r->reply.len - 1, walked_id, w)) w->n = 0;
}

static void names_walk_free(names_walk *w)
{
    for (size_t i = 0; i < w->nknown; i++) free(w->known[i]);
    free(w->known);
    free(w->peer);
    free(w);
}

static void names_walk_done(loop_work *lw)
{
    names_walk *w = (names_walk *)lw;
    pm_req *r = w->r;
    peer *p = mgr_find_peer(w->m, w->peer);
    if (!p || p->incarnation != w->incarnation) {
        mgr_finish(r, PM_OK, NULL);   /* the reply came; its names cannot */
        names_walk_free(w);
        return;
    }
    arena *a = arena_new();
    const term *ids[16];
    size_t n = 0, used;
    for (size_t i = 0; a && i < w->n; i++) {
        term *t = etf_decode_prefix(a, w->body + w->off[i], w->len[i], &used, NULL);
        if (t && !node_known(p, node_of(t))) ids[n++] = t;   /* told meanwhile? */
    }
    if (!ask_for(p, ids, n, r)) mgr_finish_reply(p, r);
    arena_free(a);
    names_walk_free(w);
}

/* The names a large reply needs, found off the loop; false if that cannot
 * start (then the caller walks it here). */
static bool names_walk_start(peer *p, pm_req *r)
{
    names_walk *w = calloc(1, sizeof *w);
    if (!w || !(w->peer = strdup(p->id)) || !(w->known = calloc(p->nnames + 1, sizeof *w->known))) goto fail;
    w->m = p->m;
    w->r = r;
    w->incarnation = p->incarnation;
    if (p->node_atom && !(w->known[w->nknown++] = strndup(p->node_atom->atom.s, p->node_atom->atom.len))) goto fail;
    for (size_t i = 0; i < p->nnames; i++)
        if (!(w->known[w->nknown++] = strndup(p->names[i].node->atom.s, p->names[i].node->atom.len))) goto fail;
    w->w = (loop_work){ .work = names_walk_work, .done = names_walk_done };
    if (loop_queue_work(p->m->l, &w->w)) return true;
fail:
    if (w) names_walk_free(w);
    return false;
}

/* A call's reply (in r->reply) names nodes whose numbers the node has not
 * told yet: ask for them, and the answer waits. True if it waits. A reply
 * over NAMES_WALK_ON_LOOP is walked on the loop's helper. */
bool mgr_ask_names_in(peer *p, pm_req *r)
{
    const uint8_t *body = r->reply.p + 1;
    size_t n = r->reply.len - 1;
    if (r->reply.len < 2) return false;
    /* A large one is not even scanned here: the helper walks it. */
    if (n > NAMES_WALK_ON_LOOP && conn_open(p) && names_walk_start(p, r)) return true;
    if (!mgr_may_name_nodes(body, n)) return false;
    return ask_names_walked(p, body, n, r);
}

/* A call's answer, with the numbers of the other nodes its reply names. */
/* The reply whole (its class, its bytes and the names it needs), or out of
 * memory: never a reply that would print differently. */
void mgr_finish_reply(peer *p, pm_req *r)
{
    bool whole = r->klass && !r->reply.oom;
    if (whole && p->nnames && p->node_atom && r->reply.len > 1 && mgr_may_name_nodes(r->reply.p + 1, r->reply.len - 1)) {
        arena *a = r->names_arena = arena_new();
        term_node_number *v = a ? arena_alloc(a, p->nnames * sizeof *v) : NULL;
        r->names.self = a ? term_atom(a, p->node_atom->atom.s, p->node_atom->atom.len) : NULL;
        whole = v && r->names.self;
        for (size_t i = 0; whole && i < p->nnames; i++) {
            v[i] = (term_node_number){ term_atom(a, p->names[i].node->atom.s, p->names[i].node->atom.len), p->names[i].number };
            whole = v[i].node != NULL;
        }
        if (whole) { r->names.v = v; r->names.n = p->nnames; }
        else r->names.self = NULL;
    }
    mgr_finish(r, whole ? PM_OK : PM_ERR_NOMEM, NULL);
}

/* Stores held messages in order until one names a node not asked about yet;
 * with `all`, every one (the connection is gone: printed as they are). */
void mgr_release_held(peer *p, bool all)
{
    while (p->held) {
        held *h = p->held;
        if (!all && mgr_ask_names(p, h->to, h->content, NULL)) return;
        p->held = h->next;
        if (!p->held) p->held_tail = NULL;
        mgr_store_message(p, h->to, h->content);
        arena_free(h->a);
        free(h);
    }
}

/* A message waits if it names a node whose number is unknown, or if an
 * earlier one waits. True if held (the arena goes with it). */
bool mgr_hold_message(peer *p, arena *a, term *to, term *content)
{
    if (!p->held && !mgr_ask_names(p, to, content, NULL)) return false;
    held *h = malloc(sizeof *h);
    if (!h) return false;
    *h = (held){ NULL, a, to, content };
    if (p->held_tail) p->held_tail->next = h; else p->held = h;
    p->held_tail = h;
    return true;
}

/* The node's answer to ask_names: the N of each node asked, read from the
 * text of the identifiers in order ("[<81.0.0>,#Ref<82.1.2.3>]"). */
void mgr_names_answered(peer *p, pending *c, const char *klass, const uint8_t *result, size_t n)
{
    arena *a = arena_new();
    etf_error e = {0};
    term *t = a && !strcmp(klass, "ok") ? etf_decode_body(a, result, n, &e) : NULL;
    buf text = {0};
    const char *s = t && mgr_chardata_utf8(t, true, &text, 0) && buf_cstr(&text) ? (char *)text.p : "";
    for (size_t i = 0; i < c->nasked; i++) {
        unsigned long number = 0;
        const char *lt = strchr(s, '<');
        if (lt) {
            char *end;
            number = strtoul(lt + 1, &end, 10);
            if (*end != '.' || number > UINT32_MAX) number = 0;
            s = end;
        }
        /* 0: the node did not say; the node's name is shown in its place. */
        if (!node_known(p, c->asked[i])) add_name(p, c->asked[i], (uint32_t)number);
    }
    buf_free(&text);
    arena_free(a);
    if (c->req) mgr_finish_reply(p, c->req);
    else mgr_release_held(p, false);
}

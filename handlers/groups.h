/*
 * groups.h — a request that acts on a group of peers: resolve the group
 * (a selector, a list of ids, or a cluster's members) with one PM_LIST,
 * then hand one manager request per member over at once.
 */
#ifndef PEERD_GROUPS_H
#define PEERD_GROUPS_H

#include "http.h"

typedef struct {
    const char *id;
    const pm_peer_info *info;   /* NULL: no such live peer (an id given) */
    long req;                   /* its request in h->many; -1: none */
} group_peer;

typedef struct {
    selector *sel;              /* the group by labels... */
    const char *sel_text;       /* (its text, for messages; not owned) */
    char **ids;                 /* ...or by ids, in the order given */
    size_t nids;
    const char *cluster;        /* ...or a cluster's members (not owned) */
    pm_req *list;               /* the PM_LIST answer the members point into */
    group_peer *member;
    size_t n;
    http_then then;
} group;

/* Attaches a zeroed group as h's state. */
group *group_attach(http_req *h);
void group_free(group *g);
/* Parses a selector; on a syntax error answers 400 invalid_selector. */
bool group_selector(http_req *h, const char *text, size_t n, selector **out, enum MHD_Result *answered);
/* The group a selector's text picks (g->sel, g->sel_text). */
bool group_by_selector(http_req *h, group *g, const char *text, enum MHD_Result *answered);
/* "peers": [ids] or "selector": "..." from a request body (exactly one). */
bool group_from_body(http_req *h, const cJSON *body, group *g, enum MHD_Result *answered);
/* Lists the group's members into g->member; then `then`. h->state must
 * be g (or a struct that begins with it). A selector that picks no peer
 * answers 404 no_match instead: a fan-out that reaches nothing is a typo
 * more often than not, and a script sees it in the status. */
enum MHD_Result group_resolve(http_req *h, group *g, http_then then);
/* One request per live member, made by make, all submitted at once; then `then`. */
enum MHD_Result group_fan_out(http_req *h, group *g, pm_req *(*make)(http_req *h, const group_peer *m), http_then then);
/* {"peer", "node", ...outcome(its answered request)}, or a not_found outcome. */
cJSON *group_outcome(const http_req *h, const group_peer *m, cJSON *(*outcome)(const pm_req *r));

#endif

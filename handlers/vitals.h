/*
 * vitals.h — a running node's memory, processes, run queue and uptime (and
 * OS figures for nodes on this host), asked on request: never polled.
 */
#ifndef PEERD_VITALS_H
#define PEERD_VITALS_H

#include "handlers.h"

/* Asks every running peer of info[0..n) (h->pm's, kept until the answer)
 * for its vitals, all at once; then `then`, whose answer writes them. */
enum MHD_Result vitals_ask(http_req *h, const pm_peer_info *info, size_t n, http_then then);
/* Peer i's as members of a JSON object (no braces): "vitals":{...}, or
 * "vitals":null,"vitals_error":"CODE" when it is not running or did not answer. */
void vitals_write(buf *b, const http_req *h, size_t i);
/* Every peer asked, as Prometheus families peerd_node_*{peer}. */
void vitals_metrics(buf *b, const http_req *h);

#endif

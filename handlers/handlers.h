/*
 * handlers.h — one function per endpoint (router.c's table); each file
 * serves one resource.
 *
 * The contract of every endpoint function: it runs on the loop with the
 * whole body read (h->body), and returns what libmicrohttpd wants back:
 * MHD_YES once it has queued an answer (http_json, http_problem...) or
 * parked the request (http_submit, http_work, http_follow: the request is
 * suspended and a `then` answers it on a later turn, on the loop); MHD_NO
 * only when nothing can be answered (out of memory), which closes the
 * connection. State it attaches (h->state, freed by h->free_state) lives as
 * long as the request; pm_req handed to the manager are the request's until
 * their `then` has run. No endpoint blocks, and none waits on another.
 */
#ifndef PEERD_HANDLERS_H
#define PEERD_HANDLERS_H

#include "answer.h"
#include "http.h"

/* peers.c */
enum MHD_Result peers_create(http_req *h);
enum MHD_Result peers_list(http_req *h);
enum MHD_Result peers_get(http_req *h);
enum MHD_Result peers_delete(http_req *h);
enum MHD_Result peers_wait(http_req *h);
enum MHD_Result peers_crash_dump(http_req *h);
enum MHD_Result peers_lease(http_req *h);
/* calls.c */
typedef struct { unsigned status; char code[32]; char detail[600]; } map_error;
/* The payload of a call or cast ({M, F, A} bodies) or send ({To, Msg}) from
 * a request body; ctx names the peer's pids (ctx->node NULL: not known, and
 * *needs_ctx is set if text named one). `group`: the body may also hold
 * "peers" and "selector". A send to a registered name sets *by_name (it goes
 * as a call of erlang:send/3). */
bool call_payload(pm_op op, const cJSON *body, const term_ctx *ctx, bool group, buf *out, int64_t *timeout,
                  bool *by_name, map_error *e, bool *needs_ctx);
/* The body asks to go to an unreachable peer anyway ("wait_unreachable": true). */
bool call_wait_unreachable(const cJSON *body);
/* An answered call or cast as one outcome object (openapi.yaml: Outcome). */
cJSON *call_outcome_json(const pm_req *r);
/* The same object's members as text, each after a comma, onto b. */
void call_outcome_print(buf *b, const pm_req *r);
/* An error outcome's members (outcome "error", code, detail), the same way. */
void call_error_print(buf *b, const char *code, const char *detail);
enum MHD_Result calls_call(http_req *h);
enum MHD_Result calls_cast(http_req *h);
enum MHD_Result calls_send(http_req *h);
/* groups.c */
enum MHD_Result groups_delete(http_req *h);
enum MHD_Result groups_call(http_req *h);
enum MHD_Result groups_cast(http_req *h);
/* code.c */
enum MHD_Result code_load(http_req *h);
enum MHD_Result code_load_group(http_req *h);
enum MHD_Result code_eval(http_req *h);
/* batch.c */
enum MHD_Result batch_calls(http_req *h);
/* clusters.c */
enum MHD_Result clusters_list(http_req *h);
enum MHD_Result clusters_get(http_req *h);
/* console.c */
enum MHD_Result console_get(http_req *h);
enum MHD_Result messages_get(http_req *h);
/* events.c */
enum MHD_Result events_get(http_req *h);
/* meta.c */
enum MHD_Result meta_healthz(http_req *h);
enum MHD_Result meta_scope(http_req *h);
enum MHD_Result meta_openapi(http_req *h);
enum MHD_Result meta_random_name(http_req *h);
enum MHD_Result meta_metrics(http_req *h);
enum MHD_Result meta_dashboard(http_req *h);
enum MHD_Result meta_favicon(http_req *h);

#endif

/*
 * handlers.h — one function per endpoint; each file serves one resource.
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
/* calls.c */
enum MHD_Result calls_call(http_req *h);
enum MHD_Result calls_cast(http_req *h);
enum MHD_Result calls_send(http_req *h);
enum MHD_Result peers_wait(http_req *h);
enum MHD_Result peers_lease(http_req *h);
/* console.c */
enum MHD_Result console_get(http_req *h);
enum MHD_Result messages_get(http_req *h);
/* events.c */
enum MHD_Result events_get(http_req *h);
/* meta.c */
enum MHD_Result meta_healthz(http_req *h);
enum MHD_Result meta_openapi(http_req *h);
enum MHD_Result meta_random_name(http_req *h);
enum MHD_Result meta_metrics(http_req *h);
enum MHD_Result meta_dashboard(http_req *h);

#endif

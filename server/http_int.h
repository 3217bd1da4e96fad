/*
 * http_int.h — what http.c, respond.c and park.c share, and no one else.
 */
#ifndef PEERD_HTTP_INT_H
#define PEERD_HTTP_INT_H

#include "http.h"

/* Queues resp (taken) as h's answer; on the helper, keeps it for the loop. */
enum MHD_Result http_queue(http_req *h, unsigned status, struct MHD_Response *resp);
/* Runs `then` for an answer that has come in (park.c). */
enum MHD_Result http_run_then(http_req *h, http_then then);

#endif

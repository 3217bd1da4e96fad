/*
 * router.h — maps method and path to a handler; 404 and 405 (with Allow).
 */
#ifndef PEERD_ROUTER_H
#define PEERD_ROUTER_H

#include "http.h"

enum MHD_Result router_dispatch(http_req *h);
/* The largest body the request's route takes: HTTP_MAX_BODY but for a
 * module's code and a batch of calls (HTTP_MAX_UPLOAD). */
size_t router_body_limit(const http_req *h);

#endif

/*
 * router.h — maps method and path to a handler; 404 and 405 (with Allow).
 */
#ifndef PEERD_ROUTER_H
#define PEERD_ROUTER_H

#include "http.h"

enum MHD_Result router_dispatch(http_req *h);
/* Sets what the request's route says of it before its body is read:
 * max_body (HTTP_MAX_BODY but for a module's code and a batch of calls,
 * HTTP_MAX_UPLOAD), route (its index, for /metrics: the path's, whatever
 * the method) and via (the kind of call its calls are). */
void router_classify(http_req *h);
/* A route's template ("/peers/{id}/call"), or "other" for a path no route has. */
const char *router_route_name(int route);

#endif

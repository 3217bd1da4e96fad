/*
 * router.h — maps method and path to a handler; 404 and 405 (with Allow).
 */
#ifndef PEERD_ROUTER_H
#define PEERD_ROUTER_H

#include "http.h"

enum MHD_Result router_dispatch(http_req *h);

#endif

/*
 * answer.h — the manager's answers as HTTP: the problem response for each
 * of its statuses, and the peer object of openapi.yaml (Peer).
 */
#ifndef PEERD_ANSWER_H
#define PEERD_ANSWER_H

#include "http.h"

/* A manager error status's problem code, and its HTTP status in *status. */
const char *pm_error_code(pm_status st, unsigned *status);
/* Maps a manager status to its problem response. */
enum MHD_Result http_pm_error(http_req *h, const pm_req *r);

/* The peer object, appended as JSON text. */
void peer_info_write(buf *out, const pm_peer_info *i);
/* The same as a cJSON item (raw JSON), to put into a larger document. */
cJSON *peer_info_json(const pm_peer_info *i);

#endif

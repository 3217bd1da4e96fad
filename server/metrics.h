/*
 * metrics.h — the HTTP side's figures for /metrics: requests by route,
 * method and status with their latency, calls by kind and outcome with
 * theirs, and the process's own (CPU, memory, descriptors, start time).
 * Counted on the loop only; written out as Prometheus text.
 */
#ifndef PEERD_METRICS_H
#define PEERD_METRICS_H

#include "buf.h"

#include <stdint.h>

/* How a call came: POST /peers/{id}/call, a line of POST /peers/{id}/calls,
 * one peer's share of POST /calls, POST /peers/{id}/eval. */
typedef enum { VIA_NONE, VIA_CALL, VIA_BATCH, VIA_MULTICALL, VIA_EVAL, VIA_KINDS } call_via;

/* What its caller got. refused: answered 4xx before a node had it (a bad
 * body or line, no such peer, a limit); error: peerd could not make or
 * answer it (out of memory, a reply it could not read). */
typedef enum { CALL_OK, CALL_EXCEPTION, CALL_TIMEOUT, CALL_NOCONNECTION, CALL_ERROR, CALL_REFUSED, CALL_OUTCOMES } call_outcome;

/* Latency buckets (seconds), from 50 µs to 60 s, 1-2-5 apart: both
 * histograms use them. */
#define METRICS_BUCKETS 19
extern const double metrics_bucket_s[METRICS_BUCKETS];

typedef struct {
    uint64_t bucket[METRICS_BUCKETS];   /* not cumulative: each counts its own range */
    uint64_t count;
    double sum;
} metrics_histogram;

/* Routes (the router's, by index; the last is a path no route has) times
 * methods: a request's cell. Statuses per cell up to METRICS_STATUSES; more
 * (no route answers that many) are counted with status 0, written "other". */
#define METRICS_ROUTES 32
#define METRICS_METHODS 8
#define METRICS_STATUSES 16
typedef struct {
    uint16_t status[METRICS_STATUSES];
    uint64_t count[METRICS_STATUSES];
    metrics_histogram latency;
} metrics_cell;

typedef struct {
    metrics_cell cell[METRICS_ROUTES][METRICS_METHODS];
    uint64_t calls[VIA_KINDS][CALL_OUTCOMES];
    metrics_histogram call_latency;
    double started;                     /* the process's start, Unix seconds */
} metrics;

/* The method's index (GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, other). */
int metrics_method(const char *method);
void metrics_count_request(metrics *m, int route, int method, unsigned status, double seconds);
void metrics_count_call(metrics *m, call_via via, call_outcome outcome, double seconds);

/* Prometheus text: requests (route_name gives each route's template), calls,
 * and the process. */
void metrics_write(buf *b, const metrics *m, const char *(*route_name)(int route));

/* CLOCK_MONOTONIC in seconds. */
double metrics_now(void);

#endif

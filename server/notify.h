/*
 * notify.h — webhooks: POST each event of a peer started with notify_url to
 * that URL, from the loop, with libcurl's multi socket interface: one at a
 * time per URL, in order, retrying with backoff.
 */
#ifndef PEERD_NOTIFY_H
#define PEERD_NOTIFY_H

#include "loop.h"
#include "manager.h"

typedef struct notifier notifier;

typedef struct {
    uint64_t delivered, failed, retries;
    size_t queued;              /* waiting or in flight now */
} notify_figures;

notifier *notifier_start(loop *l);
/* Where events given up on are recorded (webhook_failed). */
void notifier_report_to(notifier *n, pm *m);
void notifier_figures(const notifier *n, notify_figures *out);
/* Starts delivering the event's JSON to url; on the loop, never blocks
 * (pm_config.notify). */
void notifier_post(const char *url, const pm_event *e, uint64_t instance, void *notifier);
/* Drops retries not yet due, gives what is in flight up to a second, then
 * calls done(ud). */
void notifier_quit(notifier *n, void (*done)(void *ud), void *ud);
void notifier_free(notifier *n);

#endif

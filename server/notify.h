/*
 * notify.h — webhooks: POST each event of a peer started with notify_url to
 * that URL. One thread drives every delivery with libcurl's multi interface,
 * retrying with backoff; the manager's loop only queues.
 */
#ifndef PEERD_NOTIFY_H
#define PEERD_NOTIFY_H

typedef struct notifier notifier;

notifier *notifier_start(void);
/* Queues a copy of the event for url; any thread, never blocks. */
void notifier_post(const char *url, const char *json, void *notifier);
/* Delivers what is in flight for up to a second, then stops. */
void notifier_stop(notifier *n);

#endif

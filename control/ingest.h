/*
 * ingest.h — websocket uploads (/v1/ingest/<tenant>/<doc>?rev=N).
 *
 * Binary frames are document bytes, fed through the same splitter as the
 * UDP path (feed.h) as dispatch producer rt->ingest_producer; one text
 * frame {"op":"fin"} ends the document. When dispatch has no room the
 * connection's reading is paused (lws_rx_flow_control) and the held
 * bytes are retried on a 1 ms timer: back-pressure reaches the uploader
 * through TCP. Service thread only.
 */
#ifndef SLUICE_INGEST_H
#define SLUICE_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "../dataplane/batch.h"
#include "../dataplane/runtime.h"
#include "revisions.h"
#include "wsconn.h"

/* 0, or -1 if out of memory. */
int sl_ingest_init(struct sl_runtime *rt, struct sl_revisions *revs);

/*
 * Would this upload be accepted now? (revision newer, a document slot
 * free). Used while the upgrade can still be answered with an HTTP
 * status. 0, or an HTTP status with a reason.
 */
unsigned sl_ingest_precheck(const struct sl_route *r, char *reason, size_t cap);

/*
 * The connection is established: take a document slot, record the
 * revision, answer "accepted". 0, or an HTTP-like status (409, 500, 503)
 * with reason; the caller refuses the connection.
 */
unsigned sl_ingest_open(struct sl_ws_conn *c, const struct sl_route *r, char *reason, size_t cap);

/* LWS_CALLBACK_RECEIVE on an upload. */
void sl_ingest_receive(struct sl_ws_conn *c, const void *in, size_t len);

/* LWS_CALLBACK_CLOSED on an upload: an unfinished document is ended as failed. */
void sl_ingest_closed(struct sl_ws_conn *c);

/* The document's summary arrived (acks.c): tell the uploader, close 1000. */
void sl_ingest_done(struct sl_ws_conn *c, const struct sl_result_batch *summary, uint64_t rev);

/* Periodic work: dispatch the backlog, retry paused uploads and END messages. */
void sl_ingest_tick(void);

/* Shutdown: drop what is held (no END is sent; the documents stay unfinished). */
void sl_ingest_fini(void);

#endif

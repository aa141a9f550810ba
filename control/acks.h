/*
 * acks.h — ACK fan-out: the subscriber registry and the drain of the
 * persistence -> websocket ring (rt->acks).
 *
 * Subscribers are indexed by (tenant index, document name) so that a
 * result batch costs O(subscribers of its document). A subscriber may
 * arrive before its document exists; it receives every revision of that
 * name that completes while it is connected. A subscriber whose queue
 * exceeds cfg->subscriber_queue messages is culled (close 4008): a slow
 * reader never slows the dataplane. A subscriber that reads as fast as
 * we write but is more than half full makes the drain wait for it, so
 * our own pacing (one message per WRITEABLE) never gets it culled.
 * Service thread only.
 */
#ifndef SLUICE_ACKS_H
#define SLUICE_ACKS_H

#include "../dataplane/runtime.h"
#include "wsconn.h"

/* 0, or -1 if out of memory. */
int sl_acks_init(struct sl_runtime *rt);

/* Register an established subscriber and greet it ("subscribed"). */
void sl_acks_subscribe(struct sl_ws_conn *c);

/* Unregister (LWS_CALLBACK_CLOSED, or when culled). Idempotent. */
void sl_acks_unsubscribe(struct sl_ws_conn *c);

/* A message went out to subscriber c (WRITEABLE): it may stop holding the drain. */
void sl_acks_sent(struct sl_ws_conn *c);

/*
 * Read result batches from rt->acks and fan them out; return every batch
 * to rt->result_pool. Called on every wake and by the periodic timer.
 */
void sl_acks_drain(struct sl_runtime *rt);

/* Shutdown: return batches still held or queued to their pool. */
void sl_acks_fini(struct sl_runtime *rt);

#endif

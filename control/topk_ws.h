/*
 * topk_ws.h — the websocket /v1/topk/<tenant>: a tenant's merged top 10
 * (topk_view.h), pushed to its subscribers once a second.
 *
 * ws.c routes and authenticates the request exactly like /v1/acks (the
 * tenant's token, as Authorization: Bearer or ?token=) and hands the
 * established connection here. A topk subscriber is a connection of kind
 * SL_CONN_NONE registered in this file's list. Messages:
 *   {"type":"subscribed","tenant":"acme"}                    on connect
 *   {"type":"topk","tenant":"acme","top":[{"key":"#a","count":12},...]}
 * the first at once, then every second. A subscriber that has not taken
 * the previous message yet skips a second rather than piling them up:
 * only the latest top 10 matters. Service thread only.
 */
#ifndef SLUICE_TOPK_WS_H
#define SLUICE_TOPK_WS_H

#include "wsconn.h"

/* Register an established connection (c->tenant set) and greet it. */
void sl_topk_ws_subscribe(struct sl_ws_conn *c);

/* Forget c if it is a topk subscriber (LWS_CALLBACK_CLOSED). Idempotent. */
void sl_topk_ws_unsubscribe(struct sl_ws_conn *c);

/* Called on every service wake: pushes the top 10s when a second has passed. */
void sl_topk_ws_tick(void);

/* Shutdown: drop the subscriber list. */
void sl_topk_ws_fini(void);

#endif

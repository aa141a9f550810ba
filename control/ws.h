/*
 * ws.h — the libwebsockets control-plane server.
 *
 * One service thread owns the lws context; every lws call happens on it.
 * Other threads only wake it (rt->wake_ws -> lws_cancel_service).
 * Endpoints:
 *   /v1/acks/<tenant>/<document>          subscribe to a document's ACKs
 *   /v1/ingest/<tenant>/<document>?rev=N  upload a document
 *   /metrics                              counters, Prometheus text
 *   /healthz                              200 "ok"
 * See docs/protocol.md for the messages.
 */
#ifndef SLUICE_WS_H
#define SLUICE_WS_H

#include <stddef.h>

#include "../dataplane/runtime.h"
#include "revisions.h"

int sl_ws_start(struct sl_runtime *rt, struct sl_revisions *revs, char *err, size_t errlen);
void sl_ws_stop(struct sl_runtime *rt);

#endif

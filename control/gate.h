/*
 * gate.h — the control-plane listener's front door: the "sl-gate" thread
 * owns the listening socket, reads (peeks at) each connection's request
 * head, answers the malformed ones itself, and hands the rest, untouched,
 * to the libwebsockets service thread. Why: see gate.c.
 */
#ifndef SLUICE_GATE_H
#define SLUICE_GATE_H

#include <stdint.h>

#include <libwebsockets.h>

#include "../dataplane/stats.h"

/*
 * Listen on addr:port (IPv4; NULL or "0.0.0.0" = every address) and start
 * the thread. Refusals are counted in st (refused_url, gate_timeouts,
 * gate_busy: written by the gate thread only). wake() is called, from the
 * gate thread, whenever a connection waits for sl_gate_drain(). 0, or -1
 * with a message naming the [control] key to fix.
 */
int sl_gate_start(const char *addr, uint16_t port, struct sl_ws_stats *st, void (*wake)(void),
		  char *err, size_t errlen);

/* lws service thread: adopt the connections the gate passed into vhost vh. */
void sl_gate_drain(struct lws_vhost *vh);

/* Stop the thread and close the listener and every connection not handed over yet. */
void sl_gate_stop(void);

#endif

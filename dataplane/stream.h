/*
 * stream.h — the SLP stream table of one rx lcore (SLP v1: reorder
 * window, NAK of gaps, credit).
 *
 * A stream is one document from one sender (address, port, session).
 * Only the owning rx lcore touches its table: no locks. OPEN is checked
 * here for what needs no state (tenant, token, names) and sent to the
 * manager for the revision decision; DATA at the contiguous position is
 * fed to the splitter; DATA ahead of it, within the window, is held (the
 * mbuf itself) in the stream's reorder window, and the gap before it is
 * NAKed after nak_delay_us and again every 4x that; FIN checks length and
 * CRC32C and ends the document; the manager's DONE is relayed to the
 * sender and remembered for retransmitted FINs.
 */
#ifndef SLUICE_STREAM_H
#define SLUICE_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "../dataplane/msg.h"
#include "rx.h"

struct sl_stream_table *sl_streams_create(struct sl_runtime *rt, unsigned rx, int socket,
					  char *err, size_t errlen);
void sl_streams_free(struct sl_stream_table *t);

/*
 * One SLP datagram from peer, carried by m. Returns true if the stream
 * table kept m (an out-of-order DATA frame held for later); the caller
 * frees m otherwise.
 */
bool sl_streams_input(struct sl_rx_ctx *c, const struct sl_peer *peer, const uint8_t *p, uint16_t len,
		      struct rte_mbuf *m);

/* Every loop: feed held frames that became contiguous, send NAKs that are due. */
void sl_streams_poll_gaps(struct sl_rx_ctx *c, uint64_t now_tsc);

/* End of an rx burst: flush partial batches of the streams that got data, send their STATUS. */
void sl_streams_after_burst(struct sl_rx_ctx *c);

/* A message from the manager (OPEN_REPLY, DONE). */
void sl_streams_on_msg(struct sl_rx_ctx *c, const struct sl_msg *m);

/* Timers: idle streams, lingering answers. Call about every 100 ms. */
void sl_streams_expire(struct sl_rx_ctx *c, uint64_t now_tsc);

/* Streams in use. */
unsigned sl_streams_active(const struct sl_stream_table *t);

#endif

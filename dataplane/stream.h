/*
 * stream.h — the SLP stream table of one rx lcore (issue-2 protocol:
 * in-order delivery, go-back-N).
 *
 * A stream is one document from one sender (address, port, session).
 * Only the owning rx lcore touches its table: no locks. OPEN is checked
 * here for what needs no state (tenant, token, names) and sent to the
 * manager for the revision decision; DATA exactly at the contiguous
 * position is fed to the splitter, anything else is dropped, counted and
 * answered with STATUS so the sender rewinds; FIN checks length and
 * CRC32C and ends the document; the manager's DONE is relayed to the
 * sender and remembered for retransmitted FINs.
 */
#ifndef SLUICE_STREAM_H
#define SLUICE_STREAM_H

#include <stdint.h>

#include "../dataplane/msg.h"
#include "rx.h"

struct sl_stream_table *sl_streams_create(struct sl_runtime *rt, unsigned rx, int socket,
					  char *err, size_t errlen);
void sl_streams_free(struct sl_stream_table *t);

/* One SLP datagram from peer. */
void sl_streams_input(struct sl_rx_ctx *c, const struct sl_peer *peer, const uint8_t *p, uint16_t len);

/* End of an rx burst: flush partial batches of the streams that got data, send their STATUS. */
void sl_streams_after_burst(struct sl_rx_ctx *c);

/* A message from the manager (OPEN_REPLY, DONE). */
void sl_streams_on_msg(struct sl_rx_ctx *c, const struct sl_msg *m);

/* Timers: idle streams, lingering answers. Call about every 100 ms. */
void sl_streams_expire(struct sl_rx_ctx *c, uint64_t now_tsc);

/* Streams in use. */
unsigned sl_streams_active(const struct sl_stream_table *t);

#endif

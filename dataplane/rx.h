/*
 * rx.h — the rx lcore: one RX/TX queue pair, Ethernet/ARP/IPv4/ICMP/UDP,
 * and the SLP stream table it alone owns.
 *
 * Per burst: receive, classify, answer ARP and ICMP echo for our address
 * in place, hand SLP datagrams to the stream table, free what was
 * consumed; then flush partial line batches (latency), push the backlog
 * to the workers, send coalesced STATUS frames, read the manager's
 * replies, and transmit. No locks, no syscalls while there is traffic.
 */
#ifndef SLUICE_RX_H
#define SLUICE_RX_H

#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "feed.h"
#include "runtime.h"

#define SL_RX_BURST 32u
#define SL_TX_MAX 128u

struct sl_stream_table;

/* Where a reply goes: the sender's addresses as seen in its datagram. */
struct sl_peer {
	struct rte_ether_addr mac;
	uint32_t ip;        /* network order */
	uint16_t port;      /* network order */
};

struct sl_rx_ctx {
	struct sl_runtime *rt;
	unsigned index;               /* rx lcore index, also the producer index */
	uint16_t port, queue;
	struct rte_ether_addr mac;
	uint32_t ip;                  /* ours, network order */
	uint16_t udp_port;            /* ours, network order */
	struct sl_rx_stats *st;
	struct sl_stream_table *streams;
	struct sl_backlog backlog;
	unsigned n_tx;
	struct rte_mbuf *tx[SL_TX_MAX];
} __rte_cache_aligned;

/* Allocate per-lcore contexts (stream tables included) before launch; 0 or -1 + err. */
int sl_rx_setup(struct sl_runtime *rt, struct sl_rx_ctx **ctx, char *err, size_t errlen);
void sl_rx_teardown(struct sl_rx_ctx *ctx, unsigned n);

/* lcore_function_t: arg is a struct sl_rx_ctx * */
int sl_rx_main(void *arg);

/* Queue an SLP frame to a peer (builds Ethernet/IPv4/UDP around it). */
void sl_rx_send(struct sl_rx_ctx *c, const struct sl_peer *to, const uint8_t *frame, size_t len);

#endif

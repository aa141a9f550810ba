/*
 * rx.c — the rx lcore loop: receive, classify, answer, hand SLP to the
 * stream table, transmit.
 */
#include <stdio.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>
#include <rte_udp.h>

#include "idle.h"
#include "net.h"
#include "rx.h"
#include "stream.h"

#define RX_MAX_SLEEP_US 500u     /* an idle rx lcore notices traffic within 0.5 ms (the NIC ring buffers meanwhile) */
#define RX_MSG_BURST 16u

int
sl_rx_setup(struct sl_runtime *rt, struct sl_rx_ctx **ctx, char *err, size_t errlen)
{
	struct rte_ether_addr mac;

	if (rte_eth_macaddr_get(rt->port_id, &mac) != 0) {
		snprintf(err, errlen, "cannot read the MAC address of port %u", rt->port_id);
		return -1;
	}
	for (unsigned i = 0; i < rt->n_rx; i++) {
		int socket = (int)rte_lcore_to_socket_id(rt->rx_lcore[i]);
		struct sl_rx_ctx *c = rte_zmalloc_socket("sl_rx", sizeof(*c), RTE_CACHE_LINE_SIZE, socket);

		if (c == NULL) {
			snprintf(err, errlen, "out of EAL memory for rx lcore %u; raise [dataplane] memory_mb", i);
			return -1;
		}
		ctx[i] = c;
		c->rt = rt;
		c->index = i;
		c->port = rt->port_id;
		c->queue = (uint16_t)i;
		c->mac = mac;
		c->ip = rte_cpu_to_be_32(rt->cfg->ip);
		c->udp_port = rte_cpu_to_be_16(rt->cfg->udp_port);
		c->st = &rt->rx_stats[i];
		c->streams = sl_streams_create(rt, i, socket, err, errlen);
		if (c->streams == NULL)
			return -1;
	}
	return 0;
}

void
sl_rx_teardown(struct sl_rx_ctx *ctx, unsigned n)
{
	(void)n;
	if (ctx == NULL)
		return;
	sl_backlog_drop(ctx->rt, &ctx->backlog);
	sl_streams_free(ctx->streams);
	rte_free(ctx);
}

static inline void
tx_queue(struct sl_rx_ctx *c, struct rte_mbuf *m)
{
	if (c->n_tx == SL_TX_MAX) {
		c->st->tx_dropped++;
		rte_pktmbuf_free(m);
		return;
	}
	c->tx[c->n_tx++] = m;
}

static void
tx_flush(struct sl_rx_ctx *c)
{
	uint16_t sent = 0;

	if (c->n_tx == 0)
		return;
	sent = rte_eth_tx_burst(c->port, c->queue, c->tx, (uint16_t)c->n_tx);
	c->st->tx_packets += sent;
	if (sent < c->n_tx) {
		/* Replies are advisory (the sender retransmits): drop rather than stall rx. */
		c->st->tx_dropped += c->n_tx - sent;
		rte_pktmbuf_free_bulk(&c->tx[sent], c->n_tx - sent);
	}
	c->n_tx = 0;
}

void
sl_rx_send(struct sl_rx_ctx *c, const struct sl_peer *to, const uint8_t *frame, size_t len)
{
	struct rte_mbuf *m = sl_net_udp_build(c->rt->mbuf_pool, &c->mac, c->ip, c->udp_port,
					      &to->mac, to->ip, to->port, frame, (uint16_t)len);

	if (m == NULL) {
		c->st->tx_dropped++;
		return;
	}
	tx_queue(c, m);
}

/* UDP datagram to us: validate and pass the SLP payload on. Returns true if the stream table kept m. */
static bool
handle_udp(struct sl_rx_ctx *c, struct rte_mbuf *m, struct rte_ether_hdr *eth, struct rte_ipv4_hdr *iph,
	   size_t ihl, uint16_t ip_len)
{
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)((uint8_t *)iph + ihl);
	uint16_t udp_len;
	struct sl_peer peer;

	if (ip_len < ihl + sizeof(*udp)) {
		c->st->drop_bad_udp++;
		return false;
	}
	udp_len = rte_be_to_cpu_16(udp->dgram_len);
	if (udp_len < sizeof(*udp) || udp_len > ip_len - ihl) {
		c->st->drop_bad_udp++;
		return false;
	}
	if (udp->dst_port != c->udp_port) {
		c->st->drop_wrong_port++;
		return false;
	}
	if (udp->dgram_cksum != 0 && rte_ipv4_udptcp_cksum_verify(iph, udp) != 0) {
		c->st->drop_bad_udp++;
		return false;
	}
	peer.mac = eth->src_addr;
	peer.ip = iph->src_addr;
	peer.port = udp->src_port;
	return sl_streams_input(c, &peer, (const uint8_t *)(udp + 1), (uint16_t)(udp_len - sizeof(*udp)), m);
}

/* Classify one frame. Returns true if m was consumed (queued as an in-place reply, or held). */
static bool
handle_frame(struct sl_rx_ctx *c, struct rte_mbuf *m)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	uint16_t len = rte_pktmbuf_data_len(m);
	struct rte_ipv4_hdr *iph;
	uint16_t ip_len;
	size_t ihl;

	c->st->rx_bytes += rte_pktmbuf_pkt_len(m);
	if (len < sizeof(*eth) || m->nb_segs != 1) {
		c->st->drop_not_ipv4++;
		return false;
	}
	if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) {
		if (sl_net_arp_reply(m, &c->mac, c->ip)) {
			c->st->arp_replies++;
			tx_queue(c, m);
			return true;
		}
		c->st->drop_not_ours++;
		return false;
	}
	if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
		c->st->drop_not_ipv4++;
		return false;
	}
	iph = (struct rte_ipv4_hdr *)(eth + 1);
	if (len < sizeof(*eth) + sizeof(*iph)) {
		c->st->drop_bad_ip++;
		return false;
	}
	ihl = (size_t)(iph->version_ihl & 0x0f) * 4;
	ip_len = rte_be_to_cpu_16(iph->total_length);
	if ((iph->version_ihl >> 4) != 4 || ihl < sizeof(*iph) || ip_len < ihl ||
	    (size_t)ip_len > (size_t)len - sizeof(*eth) || rte_ipv4_cksum(iph) != 0 /* sum incl. field */) {
		/* rte_ipv4_cksum over a header with a valid checksum yields 0 */
		c->st->drop_bad_ip++;
		return false;
	}
	if (iph->dst_addr != c->ip) {
		c->st->drop_not_ours++;
		return false;
	}
	if ((rte_be_to_cpu_16(iph->fragment_offset) & (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0) {
		/* SLP frames fit one datagram; a sender that fragments is misconfigured. */
		c->st->drop_bad_ip++;
		return false;
	}
	if (iph->next_proto_id == IPPROTO_ICMP) {
		if (sl_net_icmp_reply(m, &c->mac, c->ip)) {
			c->st->icmp_replies++;
			tx_queue(c, m);
			return true;
		}
		c->st->drop_not_udp++;
		return false;
	}
	if (iph->next_proto_id != IPPROTO_UDP) {
		c->st->drop_not_udp++;
		return false;
	}
	return handle_udp(c, m, eth, iph, ihl, ip_len);
}

static unsigned
poll_manager(struct sl_rx_ctx *c)
{
	struct sl_msg msgs[RX_MSG_BURST];
	unsigned n = rte_ring_sc_dequeue_burst_elem(c->rt->mgr_to_rx[c->index], msgs, sizeof(struct sl_msg),
						    RX_MSG_BURST, NULL);

	for (unsigned i = 0; i < n; i++)
		sl_streams_on_msg(c, &msgs[i]);
	return n;
}

int
sl_rx_main(void *arg)
{
	struct sl_rx_ctx *c = arg;
	struct sl_runtime *rt = c->rt;
	struct rte_mbuf *pkts[SL_RX_BURST];
	struct sl_idle idle;
	uint64_t tick = rte_get_tsc_hz() / 10, next_tick = rte_rdtsc() + tick;

	sl_idle_init(&idle, rt->cfg->idle, RX_MAX_SLEEP_US);
	while (!atomic_load_explicit(&rt->stop, memory_order_relaxed)) {
		uint16_t n = rte_eth_rx_burst(c->port, c->queue, pkts, SL_RX_BURST);
		unsigned work = n;

		c->st->polls++;
		c->st->rx_packets += n;
		if (n > 0) {
			uint64_t t0 = rte_rdtsc();

			for (uint16_t i = 0; i < n; i++) {
				if (i + 1 < n)
					rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
				if (!handle_frame(c, pkts[i]))
					rte_pktmbuf_free(pkts[i]);
			}
			sl_streams_after_burst(c);
			c->st->cyc_burst += rte_rdtsc() - t0;
		}
		work += poll_manager(c);
		if (c->backlog.count > 0) {
			unsigned before = c->backlog.count;
			uint64_t t0 = rte_rdtsc();
			unsigned left = sl_backlog_dispatch(rt, c->index, &c->backlog);

			c->st->cyc_dispatch += rte_rdtsc() - t0;
			c->st->batches += before - left;
			if (left == before)
				c->st->dispatch_retries++;
			work++;
		}
		uint64_t now = rte_rdtsc();
		sl_streams_poll_gaps(c, now);
		if (now >= next_tick) {
			sl_streams_expire(c, now);
			next_tick = now + tick;
		}
		tx_flush(c);
		if (work > 0) {
			c->st->busy_polls++;
			sl_idle_reset(&idle);
		} else {
			sl_idle_wait(&idle);
		}
	}
	/* Hand over what was already split: those lines were accepted into the stream. */
	for (int tries = 0; c->backlog.count > 0 && tries < 1000; tries++) {
		sl_backlog_dispatch(rt, c->index, &c->backlog);
		rte_delay_us_sleep(100);
	}
	return 0;
}

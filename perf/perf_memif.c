/*
 * perf_memif.c — sluice-perf's DPDK transport over net_memif (see
 * perf_memif.h).
 *
 * Why memif: it is a shared-memory vdev pair between two processes, so
 * the generator hands frames to sluiced's rx lcore without a kernel
 * socket, softirq or af_packet ring in between; what limits a run is then
 * the appliance (or the generator's own engines), not the transport.
 * memif copies packets into memfd-backed regions it shares over its
 * control socket, so neither side needs hugepages (copy mode, the
 * default; zero-copy would need the client's mbufs in shareable memory).
 *
 * The EAL would pin the calling thread to its main lcore, and every
 * thread created afterwards (the ACK subscribers, the sender) would
 * inherit that one CPU. The affinity the process had is put back after
 * rte_eal_init, so the scheduler still spreads them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1                    /* sched_getaffinity, CPU_* */
#endif
#include "perf_memif.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#define N_MBUFS 8191
#define MBUF_CACHE 256
#define N_DESC 1024
#define RX_BURST 32
#define TX_MAX 64                        /* frames per call of perf_memif_send */
#define TX_SPINS 2000                    /* retries while the ring is full, then drop */
#define LINK_WAIT_MS 10000
#define ARP_WAIT_MS 5000
#define ARP_RETRY_MS 200
#define HDRS (sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_udp_hdr))

struct perf_memif {
	uint16_t port;
	struct rte_mempool *pool;
	struct rte_ether_addr mac, peer_mac;
	bool peer_known;
	rte_be32_t ip, peer_ip;          /* network order */
	rte_be16_t sport, dport;
	uint16_t ip_id;
	char prefix[64];
};

/* ---- frames ---------------------------------------------------------- */

static struct rte_mbuf *arp_request(struct perf_memif *m)
{
	struct rte_mbuf *b = rte_pktmbuf_alloc(m->pool);
	if (b == NULL)
		return NULL;
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)rte_pktmbuf_append(b,
		sizeof(struct rte_ether_hdr) + sizeof(struct rte_arp_hdr));
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);
	memset(&eth->dst_addr, 0xff, sizeof eth->dst_addr);
	eth->src_addr = m->mac;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	arp->arp_data.arp_sha = m->mac;
	arp->arp_data.arp_sip = m->ip;
	memset(&arp->arp_data.arp_tha, 0, sizeof arp->arp_data.arp_tha);
	arp->arp_data.arp_tip = m->peer_ip;
	return b;
}

/* An ARP frame: learn the appliance's MAC from any ARP it sends; turn a
 * request for our address into the reply (in place). True = send b back. */
static bool arp_input(struct perf_memif *m, struct rte_mbuf *b)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(b, struct rte_ether_hdr *);
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);
	if (rte_pktmbuf_data_len(b) < sizeof *eth + sizeof *arp ||
	    arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4))
		return false;
	if (arp->arp_data.arp_sip == m->peer_ip) {
		m->peer_mac = arp->arp_data.arp_sha;
		m->peer_known = true;
	}
	if (arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) || arp->arp_data.arp_tip != m->ip)
		return false;
	rte_be32_t asker = arp->arp_data.arp_sip;
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
	arp->arp_data.arp_tha = arp->arp_data.arp_sha;
	arp->arp_data.arp_tip = asker;
	arp->arp_data.arp_sha = m->mac;
	arp->arp_data.arp_sip = m->ip;
	eth->dst_addr = eth->src_addr;
	eth->src_addr = m->mac;
	return true;
}

/* The UDP payload of b if it is a datagram from the appliance's SLP port
 * to us, else NULL. */
static const uint8_t *udp_payload(const struct perf_memif *m, struct rte_mbuf *b, size_t *len)
{
	size_t have = rte_pktmbuf_data_len(b);
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(b, const struct rte_ether_hdr *);
	const struct rte_ipv4_hdr *iph = (const struct rte_ipv4_hdr *)(eth + 1);
	if (b->nb_segs != 1 || have < HDRS || (iph->version_ihl >> 4) != 4 ||
	    iph->next_proto_id != IPPROTO_UDP || iph->src_addr != m->peer_ip || iph->dst_addr != m->ip)
		return NULL;
	size_t ihl = (size_t)(iph->version_ihl & 0x0f) * 4;
	const struct rte_udp_hdr *udp = (const struct rte_udp_hdr *)((const uint8_t *)iph + ihl);
	if (ihl < sizeof *iph || sizeof *eth + ihl + sizeof *udp > have || udp->src_port != m->dport ||
	    udp->dst_port != m->sport)
		return NULL;
	size_t ulen = rte_be_to_cpu_16(udp->dgram_len);
	if (ulen < sizeof *udp || sizeof *eth + ihl + ulen > have)
		return NULL;
	*len = ulen - sizeof *udp;
	return (const uint8_t *)(udp + 1);
}

/* Ethernet/IPv4/UDP around one SLP frame. UDP checksum 0 (none), which
 * IPv4 allows and sluiced accepts; the IPv4 header checksum is required. */
static void build(struct perf_memif *m, struct rte_mbuf *b, const struct iovec *f)
{
	uint16_t len = (uint16_t)f->iov_len;
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(b, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *iph = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(iph + 1);
	b->data_len = (uint16_t)(HDRS + len);
	b->pkt_len = b->data_len;
	eth->dst_addr = m->peer_mac;
	eth->src_addr = m->mac;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	iph->version_ihl = RTE_IPV4_VHL_DEF;
	iph->type_of_service = 0;
	iph->total_length = rte_cpu_to_be_16((uint16_t)(sizeof *iph + sizeof *udp + len));
	iph->packet_id = rte_cpu_to_be_16(m->ip_id++);
	iph->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	iph->time_to_live = 64;
	iph->next_proto_id = IPPROTO_UDP;
	iph->src_addr = m->ip;
	iph->dst_addr = m->peer_ip;
	iph->hdr_checksum = 0;
	iph->hdr_checksum = rte_ipv4_cksum(iph);
	udp->src_port = m->sport;
	udp->dst_port = m->dport;
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(sizeof *udp + len));
	udp->dgram_cksum = 0;
	memcpy(udp + 1, f->iov_base, len);
}

/* ---- sending and receiving ------------------------------------------ */

/* Put n mbufs on the TX ring, waiting a little while it is full; frees
 * what does not fit. Returns how many went. */
static unsigned tx_all(struct perf_memif *m, struct rte_mbuf **b, unsigned n)
{
	unsigned sent = 0;
	for (unsigned spins = 0; sent < n && spins < TX_SPINS; spins++) {
		sent += rte_eth_tx_burst(m->port, 0, b + sent, (uint16_t)(n - sent));
		if (sent < n)
			rte_pause();
	}
	if (sent < n)
		rte_pktmbuf_free_bulk(b + sent, n - sent);
	return sent;
}

unsigned perf_memif_send(struct perf_memif *m, const struct iovec *frames, unsigned n)
{
	struct rte_mbuf *b[TX_MAX];
	unsigned done = 0;
	while (done < n) {
		unsigned k = n - done < TX_MAX ? n - done : TX_MAX;
		if (rte_pktmbuf_alloc_bulk(m->pool, b, k) != 0)
			return done;             /* out of mbufs: the rest is lost */
		for (unsigned i = 0; i < k; i++)
			build(m, b[i], &frames[done + i]);
		unsigned s = tx_all(m, b, k);
		done += s;
		if (s < k)
			return done;
	}
	return done;
}

unsigned perf_memif_recv(struct perf_memif *m,
			 void (*fn)(void *arg, const uint8_t *dgram, size_t len), void *arg)
{
	struct rte_mbuf *b[RX_BURST], *back[RX_BURST];
	unsigned got = 0;
	for (;;) {
		uint16_t n = rte_eth_rx_burst(m->port, 0, b, RX_BURST);
		unsigned nback = 0;
		for (uint16_t i = 0; i < n; i++) {
			const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(b[i], const struct rte_ether_hdr *);
			size_t len;
			const uint8_t *p;
			if (rte_pktmbuf_data_len(b[i]) < sizeof *eth) {
				rte_pktmbuf_free(b[i]);
			} else if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) {
				if (arp_input(m, b[i]))
					back[nback++] = b[i];
				else
					rte_pktmbuf_free(b[i]);
			} else {
				if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) &&
				    (p = udp_payload(m, b[i], &len)) != NULL && fn != NULL) {
					fn(arg, p, len);
					got++;
				}
				rte_pktmbuf_free(b[i]);
			}
		}
		if (nback > 0)
			tx_all(m, back, nback);
		if (n < RX_BURST)
			return got;
	}
}

/* ---- set-up ---------------------------------------------------------- */

static void remove_runtime_dir(const char *prefix)
{
	char dir[128], path[512];
	snprintf(dir, sizeof dir, "/var/run/dpdk/%s", prefix);
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* IPv4 and port of "IP:PORT", network order. */
static int parse_to(const char *to, rte_be32_t *ip, rte_be16_t *port)
{
	char host[64];
	const char *colon = strrchr(to, ':');
	struct in_addr a;
	if (colon == NULL || (size_t)(colon - to) >= sizeof host)
		return -1;
	memcpy(host, to, (size_t)(colon - to));
	host[colon - to] = '\0';
	char *end;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (inet_pton(AF_INET, host, &a) != 1 || *end != '\0' || p == 0 || p > 65535)
		return -1;
	*ip = a.s_addr;
	*port = rte_cpu_to_be_16((uint16_t)p);
	return 0;
}

static int eal_init(struct perf_memif *m, const char *socket, char *err, size_t errlen)
{
	cpu_set_t saved;
	int first_cpu = 0;
	if (sched_getaffinity(0, sizeof saved, &saved) == 0) {
		while (first_cpu < CPU_SETSIZE && !CPU_ISSET(first_cpu, &saved))
			first_cpu++;
	} else {
		CPU_ZERO(&saved);
	}
	char lcores[32], vdev[400];
	snprintf(m->prefix, sizeof m->prefix, "sluice-perf-%d", (int)getpid());
	snprintf(lcores, sizeof lcores, "%d", first_cpu < CPU_SETSIZE ? first_cpu : 0);
	int w = snprintf(vdev, sizeof vdev, "net_memif0,role=client,id=0,rsize=12,socket=%s", socket);
	if (w < 0 || (size_t)w >= sizeof vdev || strchr(socket, ',') != NULL) {
		snprintf(err, errlen, "--memif-socket '%s': expected a path without commas, at most "
			 "300 bytes", socket);
		return -1;
	}
	/* One lcore (the main one), no hugepages, no PCI: this process must
	 * not touch the host's NICs or the appliance's EAL files. */
	char *argv[] = { "sluice-perf", "-l", lcores, "--no-huge", "-m", "256", "--no-pci",
			 "--file-prefix", m->prefix, "--vdev", vdev, "--log-level", "lib.eal:warning",
			 NULL };
	int argc = (int)(sizeof argv / sizeof argv[0]) - 1;
	int saved_optind = optind;
	optind = 1;
	int rc = rte_eal_init(argc, argv);
	optind = saved_optind;
	if (CPU_COUNT(&saved) > 0)
		sched_setaffinity(0, sizeof saved, &saved);
	if (rc < 0) {
		snprintf(err, errlen, "--transport memif: EAL init failed: %s (see the EAL messages above)",
			 rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}

static int port_start(struct perf_memif *m, const char *socket, char *err, size_t errlen)
{
	struct rte_eth_conf conf;
	int rc;
	if (rte_eth_dev_count_avail() == 0) {
		snprintf(err, errlen, "--memif-socket %s: the EAL made no memif port (is librte_net_memif "
			 "installed? see the EAL messages above)", socket);
		return -1;
	}
	RTE_ETH_FOREACH_DEV(m->port)
		break;
	m->pool = rte_pktmbuf_pool_create("perf_mbufs", N_MBUFS, MBUF_CACHE, 0,
					  RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (m->pool == NULL) {
		snprintf(err, errlen, "--transport memif: cannot create %u mbufs: %s", N_MBUFS,
			 rte_strerror(rte_errno));
		return -1;
	}
	memset(&conf, 0, sizeof conf);
	uint16_t nrx = N_DESC, ntx = N_DESC;
	if ((rc = rte_eth_dev_configure(m->port, 1, 1, &conf)) != 0 ||
	    (rc = rte_eth_dev_adjust_nb_rx_tx_desc(m->port, &nrx, &ntx)) != 0 ||
	    (rc = rte_eth_rx_queue_setup(m->port, 0, nrx, rte_socket_id(), NULL, m->pool)) != 0 ||
	    (rc = rte_eth_tx_queue_setup(m->port, 0, ntx, rte_socket_id(), NULL)) != 0) {
		snprintf(err, errlen, "--transport memif: cannot set up the memif port: %s",
			 rte_strerror(-rc));
		return -1;
	}
	/* A client's start connects to the server's socket: failing here
	 * almost always means no server (memif returns -1, not an errno). */
	if (rte_eth_dev_start(m->port) != 0) {
		snprintf(err, errlen, "--memif-socket %s: cannot connect to a memif server; start "
			 "sluiced with [dataplane] vdev = net_memif0,role=server,socket=%s first",
			 socket, socket);
		return -1;
	}
	if (rte_eth_macaddr_get(m->port, &m->mac) != 0) {
		snprintf(err, errlen, "--transport memif: cannot read the port's MAC address");
		return -1;
	}
	/* The client connects through the control socket asynchronously. */
	struct rte_eth_link link;
	for (unsigned ms = 0;; ms += 10) {
		memset(&link, 0, sizeof link);
		rte_eth_link_get_nowait(m->port, &link);
		if (link.link_status == RTE_ETH_LINK_UP)
			return 0;
		if (ms >= LINK_WAIT_MS) {
			snprintf(err, errlen, "--memif-socket %s: no memif server answered in %u s; start "
				 "sluiced with [dataplane] vdev = net_memif0,role=server,socket=%s first",
				 socket, LINK_WAIT_MS / 1000, socket);
			return -1;
		}
		rte_delay_us_sleep(10000);
	}
}

/* Learn the appliance's MAC: ARP requests until it answers. */
static int resolve(struct perf_memif *m, const struct perf_cfg *c, char *err, size_t errlen)
{
	for (unsigned ms = 0; ms < ARP_WAIT_MS && !m->peer_known; ms += 10) {
		if (ms % ARP_RETRY_MS == 0) {
			struct rte_mbuf *b = arp_request(m);
			if (b != NULL)
				tx_all(m, &b, 1);
		}
		perf_memif_recv(m, NULL, NULL);
		if (!m->peer_known)
			rte_delay_us_sleep(10000);
	}
	if (!m->peer_known) {
		snprintf(err, errlen, "--to %s: no ARP reply over memif in %u s; is it sluiced's "
			 "[dataplane] ip, and does its vdev use --memif-socket %s?", c->to,
			 ARP_WAIT_MS / 1000, c->memif_socket);
		return -1;
	}
	return 0;
}

struct perf_memif *perf_memif_open(const struct perf_cfg *c, char *err, size_t errlen)
{
	struct perf_memif *m = calloc(1, sizeof *m);
	if (m == NULL) {
		snprintf(err, errlen, "out of memory for the memif transport");
		return NULL;
	}
	struct in_addr self;
	inet_pton(AF_INET, PERF_MEMIF_IP, &self);
	m->ip = self.s_addr;
	m->sport = rte_cpu_to_be_16((uint16_t)(49152 + getpid() % 16384));
	if (parse_to(c->to, &m->peer_ip, &m->dport) < 0) {
		snprintf(err, errlen, "--to '%s': expected IPv4:PORT, e.g. 198.18.0.2:7878", c->to);
		free(m);
		return NULL;
	}
	if (eal_init(m, c->memif_socket, err, errlen) < 0) {
		free(m);
		return NULL;
	}
	if (port_start(m, c->memif_socket, err, errlen) < 0 || resolve(m, c, err, errlen) < 0) {
		perf_memif_close(m);
		return NULL;
	}
	return m;
}

void perf_memif_thread_init(void)
{
	if (rte_lcore_id() == LCORE_ID_ANY)
		rte_thread_register();
}

void perf_memif_close(struct perf_memif *m)
{
	if (m == NULL)
		return;
	rte_eth_dev_stop(m->port);
	rte_eth_dev_close(m->port);
	rte_eal_cleanup();
	remove_runtime_dir(m->prefix);
	free(m);
}

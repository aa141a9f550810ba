/*
 * port.c — ethdev bring-up: mbuf pool, queues, RSS, start, link.
 */
#include <stdio.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "port.h"

#define RX_DESC 1024
#define TX_DESC 1024
#define MBUF_CACHE 256

int
sl_port_start(struct sl_port *p, const struct sl_config *cfg, unsigned n_queues, char *err, size_t errlen)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	uint16_t port_id;
	int rc;

	memset(p, 0, sizeof(*p));
	if (rte_eth_dev_count_avail() == 0) {
		snprintf(err, errlen, "no network port: EAL probed none. Check [dataplane] vdev = '%s' / pci = '%s' "
			 "(for net_af_packet the iface must exist; see the EAL messages above)", cfg->vdev, cfg->pci);
		return -1;
	}
	RTE_ETH_FOREACH_DEV(port_id)
		break;
	p->port_id = port_id;

	if ((rc = rte_eth_dev_info_get(port_id, &info)) != 0) {
		snprintf(err, errlen, "port %u: cannot read device info: %s", port_id, rte_strerror(-rc));
		return -1;
	}
	snprintf(p->driver, sizeof(p->driver), "%s", info.driver_name);
	if (info.max_rx_queues < n_queues || info.max_tx_queues < n_queues) {
		snprintf(err, errlen, "port %u (%s) has %u rx / %u tx queues, [dataplane] rx_lcores = %u needs %u of each%s",
			 port_id, info.driver_name, info.max_rx_queues, info.max_tx_queues, n_queues, n_queues,
			 strstr(info.driver_name, "af_packet") ? "; add qpairs=N to the vdev" : "");
		return -1;
	}

	unsigned n_mbufs = cfg->mbufs;
	unsigned min_mbufs = n_queues * (RX_DESC + TX_DESC) + MBUF_CACHE * (n_queues + 1);
	if (n_mbufs < min_mbufs) {
		snprintf(err, errlen, "[dataplane] mbufs = %u is too few for %u queue pairs of %u+%u descriptors; "
			 "expected at least %u", n_mbufs, n_queues, RX_DESC, TX_DESC, min_mbufs);
		return -1;
	}
	p->mbuf_pool = rte_pktmbuf_pool_create("sl_mbufs", n_mbufs, MBUF_CACHE, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					       (int)rte_eth_dev_socket_id(port_id) < 0 ? (int)rte_socket_id()
										     : rte_eth_dev_socket_id(port_id));
	if (p->mbuf_pool == NULL) {
		snprintf(err, errlen, "cannot create %u mbufs: %s; lower [dataplane] mbufs or raise memory_mb",
			 n_mbufs, rte_strerror(rte_errno));
		return -1;
	}

	memset(&conf, 0, sizeof(conf));
	if (n_queues > 1) {
		uint64_t want = RTE_ETH_RSS_NONFRAG_IPV4_UDP | RTE_ETH_RSS_IPV4;

		if ((info.flow_type_rss_offloads & want) == 0 && strstr(info.driver_name, "af_packet") == NULL) {
			snprintf(err, errlen, "port %u (%s) cannot spread IPv4/UDP flows over queues (no RSS); "
				 "use rx_lcores = 1 with it", port_id, info.driver_name);
			return -1;
		}
		/* af_packet spreads with PACKET_FANOUT_HASH in the kernel (flow hash), not ethdev RSS. */
		if (info.flow_type_rss_offloads & want) {
			conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
			conf.rx_adv_conf.rss_conf.rss_hf = info.flow_type_rss_offloads & want;
		}
	}
	if ((rc = rte_eth_dev_configure(port_id, (uint16_t)n_queues, (uint16_t)n_queues, &conf)) != 0) {
		snprintf(err, errlen, "port %u (%s): configure %u queues: %s", port_id, info.driver_name, n_queues,
			 rte_strerror(-rc));
		return -1;
	}
	uint16_t nb_rx = RX_DESC, nb_tx = TX_DESC;
	rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &nb_rx, &nb_tx);
	for (unsigned q = 0; q < n_queues; q++) {
		int socket = rte_eth_dev_socket_id(port_id);

		if ((rc = rte_eth_rx_queue_setup(port_id, (uint16_t)q, nb_rx, (unsigned)socket, NULL, p->mbuf_pool)) != 0 ||
		    (rc = rte_eth_tx_queue_setup(port_id, (uint16_t)q, nb_tx, (unsigned)socket, NULL)) != 0) {
			snprintf(err, errlen, "port %u (%s): queue %u setup: %s", port_id, info.driver_name, q,
				 rte_strerror(-rc));
			return -1;
		}
	}
	if ((rc = rte_eth_dev_start(port_id)) != 0) {
		snprintf(err, errlen, "port %u (%s): start: %s", port_id, info.driver_name, rte_strerror(-rc));
		return -1;
	}
	return 0;
}

void
sl_port_stop(struct sl_port *p)
{
	rte_eth_dev_stop(p->port_id);
	rte_eth_dev_close(p->port_id);
}

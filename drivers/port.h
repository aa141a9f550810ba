/*
 * port.h — bring up the one ethdev Sluice receives on.
 *
 * The port is whatever EAL probed from the config: a vdev (net_tap,
 * net_af_packet, net_memif, net_pcap, net_null, net_ring) or a PCI NIC.
 * One RX and one TX queue per rx lcore; with more than one, RSS on the
 * IPv4/UDP 4-tuple so a sender's flow always lands on the same lcore.
 */
#ifndef SLUICE_PORT_H
#define SLUICE_PORT_H

#include <stddef.h>
#include <stdint.h>

#include <rte_mempool.h>

#include "../config/config.h"

struct sl_port {
	uint16_t port_id;
	struct rte_mempool *mbuf_pool;
	char driver[64];
};

/* Configure and start the port with n_queues queue pairs. 0, or -1 with a message. */
int sl_port_start(struct sl_port *p, const struct sl_config *cfg, unsigned n_queues, char *err, size_t errlen);
void sl_port_stop(struct sl_port *p);

#endif

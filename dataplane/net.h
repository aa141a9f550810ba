/*
 * net.h — the little bit of networking an appliance address needs:
 * answer ARP who-has and ICMP echo in place, validate IPv4/UDP headers,
 * build an IPv4/UDP reply. Software checksums: replies are few.
 */
#ifndef SLUICE_NET_H
#define SLUICE_NET_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>

/* If m is an ARP request for ip (network order), rewrite it into the reply; true = transmit it. */
bool sl_net_arp_reply(struct rte_mbuf *m, const struct rte_ether_addr *mac, uint32_t ip);

/* If m is an ICMP echo request to us, rewrite it into the echo reply; true = transmit it. */
bool sl_net_icmp_reply(struct rte_mbuf *m, const struct rte_ether_addr *mac, uint32_t ip);

/* Build a frame carrying payload from us to the peer; NULL if the pool is empty. */
struct rte_mbuf *sl_net_udp_build(struct rte_mempool *pool,
				  const struct rte_ether_addr *src_mac, uint32_t src_ip, uint16_t src_port,
				  const struct rte_ether_addr *dst_mac, uint32_t dst_ip, uint16_t dst_port,
				  const uint8_t *payload, uint16_t len);

#endif

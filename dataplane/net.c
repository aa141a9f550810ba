/*
 * net.c — ARP and ICMP echo answered in place, IPv4/UDP replies built.
 */
#include <string.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "net.h"

bool
sl_net_arp_reply(struct rte_mbuf *m, const struct rte_ether_addr *mac, uint32_t ip)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_arp_hdr *arp;
	uint32_t sender_ip;

	if (rte_pktmbuf_data_len(m) < sizeof(*eth) + sizeof(*arp))
		return false;
	arp = (struct rte_arp_hdr *)(eth + 1);
	if (arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) ||
	    arp->arp_data.arp_tip != ip)
		return false;

	sender_ip = arp->arp_data.arp_sip;
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
	arp->arp_data.arp_tha = arp->arp_data.arp_sha;
	arp->arp_data.arp_tip = sender_ip;
	arp->arp_data.arp_sha = *mac;
	arp->arp_data.arp_sip = ip;
	eth->dst_addr = eth->src_addr;
	eth->src_addr = *mac;
	return true;
}

bool
sl_net_icmp_reply(struct rte_mbuf *m, const struct rte_ether_addr *mac, uint32_t ip)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *iph = (struct rte_ipv4_hdr *)(eth + 1);
	size_t ihl = (size_t)(iph->version_ihl & 0x0f) * 4;
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)((uint8_t *)iph + ihl);
	uint16_t ip_len = rte_be_to_cpu_16(iph->total_length);
	uint16_t cksum;

	if (ip_len < ihl + sizeof(*icmp) || icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST ||
	    icmp->icmp_code != 0 || iph->dst_addr != ip)
		return false;
	if (rte_raw_cksum(icmp, ip_len - ihl) != 0xffff)
		return false; /* corrupt echo request: no answer, as a host would */

	icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	icmp->icmp_cksum = 0;
	cksum = rte_raw_cksum(icmp, ip_len - ihl);
	icmp->icmp_cksum = cksum == 0xffff ? cksum : (uint16_t)~cksum;

	iph->dst_addr = iph->src_addr;
	iph->src_addr = ip;
	iph->time_to_live = 64;
	iph->hdr_checksum = 0;
	iph->hdr_checksum = rte_ipv4_cksum(iph);
	eth->dst_addr = eth->src_addr;
	eth->src_addr = *mac;
	return true;
}

struct rte_mbuf *
sl_net_udp_build(struct rte_mempool *pool,
		 const struct rte_ether_addr *src_mac, uint32_t src_ip, uint16_t src_port,
		 const struct rte_ether_addr *dst_mac, uint32_t dst_ip, uint16_t dst_port,
		 const uint8_t *payload, uint16_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	size_t hdrs = sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_udp_hdr);
	struct rte_ether_hdr *eth;
	struct rte_ipv4_hdr *iph;
	struct rte_udp_hdr *udp;

	if (m == NULL)
		return NULL;
	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m, (uint16_t)(hdrs + len));
	if (eth == NULL) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	eth->src_addr = *src_mac;
	eth->dst_addr = *dst_mac;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);

	iph = (struct rte_ipv4_hdr *)(eth + 1);
	memset(iph, 0, sizeof(*iph));
	iph->version_ihl = RTE_IPV4_VHL_DEF;
	iph->total_length = rte_cpu_to_be_16((uint16_t)(sizeof(*iph) + sizeof(*udp) + len));
	iph->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	iph->time_to_live = 64;
	iph->next_proto_id = IPPROTO_UDP;
	iph->src_addr = src_ip;
	iph->dst_addr = dst_ip;
	iph->hdr_checksum = rte_ipv4_cksum(iph);

	udp = (struct rte_udp_hdr *)(iph + 1);
	udp->src_port = src_port;
	udp->dst_port = dst_port;
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(sizeof(*udp) + len));
	udp->dgram_cksum = 0;
	memcpy(udp + 1, payload, len);
	udp->dgram_cksum = rte_ipv4_udptcp_cksum(iph, udp);
	return m;
}

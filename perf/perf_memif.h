/*
 * perf_memif.h — sluice-perf's DPDK transport: SLP frames sent and
 * received as Ethernet/IPv4/UDP over a net_memif port (role=client) whose
 * server end is the appliance's [dataplane] vdev, so that no kernel
 * socket path sits between the generator and sluiced.
 *
 * The generator runs its own EAL (no hugepages, its own --file-prefix, no
 * PCI), one port, one queue pair: one sender thread drives it. It answers
 * ARP for its own address and learns the appliance's MAC by ARP before
 * the first frame; the appliance replies to the MAC it saw, so no further
 * resolution is needed.
 */
#ifndef PERF_MEMIF_H
#define PERF_MEMIF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "perf.h"

struct perf_memif;

/* The address the generator uses on the memif link (the kernel-UDP
 * harness's host address, so that sluiced configs need not change). */
#define PERF_MEMIF_IP "198.18.0.1"

/*
 * EAL init, the memif client port connected to c->memif_socket, and the
 * appliance's MAC resolved by ARP for the IP of c->to. NULL with err on
 * failure (bad --to, EAL refused, no server on the socket, no ARP reply).
 * Call once per process, before any sender thread starts.
 */
struct perf_memif *perf_memif_open(const struct perf_cfg *c, char *err, size_t errlen);

/* From the thread that will drive the port: register it with the EAL so
 * that mbufs come from a per-lcore cache. Harmless if it fails. */
void perf_memif_thread_init(void);

/*
 * Send n SLP frames, each wrapped in Ethernet/IPv4/UDP. Returns how many
 * went into the TX ring; the rest were dropped (no mbufs, or the ring
 * stayed full) and are lost like any datagram: the protocol repairs them.
 */
unsigned perf_memif_send(struct perf_memif *m, const struct iovec *frames, unsigned n);

/*
 * Take what has arrived: answer ARP, and hand each UDP payload from the
 * appliance's SLP port to fn. Returns the number of payloads handed over.
 */
unsigned perf_memif_recv(struct perf_memif *m,
			 void (*fn)(void *arg, const uint8_t *dgram, size_t len), void *arg);

/* Stop the port, release the EAL and its runtime directory. */
void perf_memif_close(struct perf_memif *m);

#endif

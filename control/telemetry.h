/*
 * telemetry.h — sluiced's counters as DPDK telemetry commands.
 *
 * The commands are served by DPDK's own telemetry thread on the socket
 *   <runtime dir>/<file prefix>/dpdk_telemetry.v2
 * which sluicectl and usertools/dpdk-telemetry.py both speak:
 *
 *   /sluice/status            version, uptime, port, lcore counts, open
 *                             documents, persistence and websocket counters
 *   /sluice/lcores[,FIRST]    one row per rx lcore ("rx<i>") then per worker
 *                             ("worker<w>"), at most SL_TEL_LCORE_PAGE rows
 *                             starting at row FIRST (rx rows first)
 *   /sluice/tenants[,FIRST]   one row per tenant, summed over every producer,
 *                             worker and the control plane, at most
 *                             SL_TEL_TENANT_PAGE rows from tenant FIRST
 *   /sluice/drops[,RX]        every drop and rejection counter by name, summed
 *                             over the rx lcores (or rx lcore RX only)
 *
 * Why pages: a telemetry reply is cut at 16 KiB (silently, by dropping
 * entries), so a list that grows with the config is served in pages small
 * enough to fit even when every counter has 20 digits. A reader asks again
 * from FIRST + rows received until a page comes back empty.
 *
 * The callbacks only read: every counter is a single-writer uint64_t
 * loaded with a relaxed atomic load and summed here, so reading never
 * slows or disturbs the lcores that own them.
 */
#ifndef SLUICE_TELEMETRY_H
#define SLUICE_TELEMETRY_H

#include "../dataplane/runtime.h"

#define SL_TEL_LCORE_PAGE 40
#define SL_TEL_TENANT_PAGE 40

/*
 * Register the /sluice/... commands. Call once, after rte_eal_init() and
 * sl_runtime_create(); rt must outlive EAL (the telemetry thread keeps
 * reading it until rte_eal_cleanup()). Returns 0, or a negative errno
 * after logging which command could not be registered.
 */
int sl_telemetry_register(struct sl_runtime *rt);

#endif

/*
 * topk_view.h — a tenant's top 10, merged from what every worker published
 * (dataplane/topk.h), for the telemetry command /sluice/topk, sluicectl
 * topk and the websocket /v1/topk/<tenant>.
 *
 * How exact: each worker publishes its own top 10 (count-min estimates,
 * since that worker's sketch was created). The merge sums the counts of
 * equal keys across workers and keeps the 10 largest sums. A key that is
 * in the top 10 of some workers but not of others misses those workers'
 * counts, so a merged count can be lower than the key's true total, and
 * a key spread thinly over many workers can be missing altogether. With
 * least-loaded or round-robin dispatch every worker sees a similar mix of
 * keys and the merged ranking matches the true one for keys clearly
 * above the 10th; with hash_document the workers see different documents
 * and the approximation is coarser.
 *
 * Any thread may call these: they only read the snapshot slots.
 */
#ifndef SLUICE_TOPK_VIEW_H
#define SLUICE_TOPK_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "../dataplane/topk.h"

/*
 * The merged top 10 of a tenant (index into the config's tenants), largest
 * first, equal counts by key. Returns the number of entries (0 when the
 * tenant has counted nothing yet), or -1 if there is no snapshot area or
 * the tenant is out of its range.
 */
int sl_topk_get(uint16_t tenant, struct sl_topk_entry out[SL_TOPK_N]);

/*
 * The websocket message for a merged top 10:
 *   {"type":"topk","tenant":"<name>","top":[{"key":"#a","count":12},...]}
 * Returns its length, or -1 if cap is too small (SL_TOPK_JSON_MAX always suffices).
 */
#define SL_TOPK_JSON_MAX 4096   /* 10 keys of 31 control bytes, six bytes each escaped, and a tenant name */

int sl_topk_format_json(const char *tenant_name, const struct sl_topk_entry *e, int n,
			char *buf, size_t cap);

#endif

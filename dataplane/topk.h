/*
 * topk.h — where the topk processor's workers publish their top 10, and
 * where the control plane reads them.
 *
 * Each (worker, tenant) pair owns one snapshot slot in an area allocated
 * once at start-up (sl_topk_area_create, called by sluiced before any
 * worker runs). The worker that owns a slot is its only writer: about
 * once a second it copies its current top 10 (key, count) into the slot
 * under a seqlock (seq is odd while a write is in progress). Readers (the
 * telemetry thread, the websocket thread) never block the writer: they
 * copy the slot and retry if seq moved.
 *
 * Counts are per worker and since that worker's sketch was created (its
 * first line of the tenant, or its last restart). control/topk_view.h
 * merges the workers' slots into a tenant's top 10.
 */
#ifndef SLUICE_TOPK_H
#define SLUICE_TOPK_H

#include <stdint.h>

#include <rte_common.h>

#define SL_TOPK_N 10u          /* entries per snapshot */
#define SL_TOPK_KEY 32u        /* bytes of a key, NUL included: keys are cut to 31 bytes */

struct sl_topk_entry {
	char key[SL_TOPK_KEY];     /* NUL-terminated, at most 31 bytes of UTF-8 */
	uint64_t count;
};

/* One (worker, tenant) slot: a cache line of its own so writers never share one. */
struct sl_topk_snapshot {
	uint64_t seq;              /* even: stable; odd: being written */
	uint32_t n;                /* valid entries in top[] */
	struct sl_topk_entry top[SL_TOPK_N];   /* by count, largest first */
} __rte_cache_aligned;

/*
 * Allocate the slots of n_workers x n_tenants (all empty). Call once,
 * before the workers start; 0, -EINVAL (zero size), -EEXIST (already
 * created) or -ENOMEM. Plain process memory: no EAL needed.
 */
int sl_topk_area_create(unsigned n_workers, unsigned n_tenants);

/* Free the area (after the workers and readers have stopped). Idempotent. */
void sl_topk_area_free(void);

/* Dimensions of the area; 0 if none was created. */
unsigned sl_topk_area_workers(void);
unsigned sl_topk_area_tenants(void);

/* The slot of (worker, tenant), or NULL if there is no area or it is out of range. */
struct sl_topk_snapshot *sl_topk_slot(unsigned worker, unsigned tenant);

/* Writer (the slot's worker only): publish n <= SL_TOPK_N entries. */
void sl_topk_publish(struct sl_topk_snapshot *s, const struct sl_topk_entry *e, uint32_t n);

/*
 * Reader (any thread): copy a consistent snapshot into out; returns the
 * number of entries. A slot that stays mid-write for a long time (its
 * worker died while writing) reads as empty rather than blocking.
 */
uint32_t sl_topk_read(const struct sl_topk_snapshot *s, struct sl_topk_entry out[SL_TOPK_N]);

#endif

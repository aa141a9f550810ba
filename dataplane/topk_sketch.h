/*
 * topk_sketch.h — one worker's count of one tenant's keys: a DPDK
 * rte_member sketch (count-min with a heap of heavy hitters) and the
 * publishing of its top 10 into the tenant's snapshot slot (topk.h).
 *
 * Shared by the processors that keep a top-k: "topk" (a column or field)
 * and "tweet" (hashtags). Each (worker, tenant) owns its sketch: no locks.
 * init allocates (hugepage memory, at the tenant's first line on the
 * worker); add and tick are for the per-line path and never allocate.
 */
#ifndef SLUICE_TOPK_SKETCH_H
#define SLUICE_TOPK_SKETCH_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_cycles.h>
#include <rte_member.h>

#include "processor.h"
#include "topk.h"

struct sl_topk_sketch {
	struct rte_member_setsum *ss;
	struct sl_topk_snapshot *slot;    /* (worker, tenant) snapshot */
	uint64_t period_tsc, next_tsc;    /* publish at most this often while busy */
	bool dirty;                       /* counted something since the last publish */
};

/*
 * Create the sketch of (env->worker, env->tenant_index) on this lcore's
 * socket. 0, or -1 with the reason in env->err (no snapshot slot: the
 * area was not created; no hugepage memory for the sketch).
 */
int sl_topk_sketch_init(struct sl_topk_sketch *k, const struct sl_proc_env *env);

/* Free the sketch (NULL-safe, idempotent). */
void sl_topk_sketch_fini(struct sl_topk_sketch *k);

/* Count one key: SL_TOPK_KEY bytes, NUL-padded (the sketch hashes them all). */
static inline void
sl_topk_sketch_add(struct sl_topk_sketch *k, const uint8_t key[SL_TOPK_KEY])
{
	rte_member_add(k->ss, key, 1);
	k->dirty = true;
}

/* Copy the current top 10 into the snapshot slot. */
void sl_topk_sketch_publish(struct sl_topk_sketch *k);

/* After a line: publish if something changed and a period has passed. */
static inline void
sl_topk_sketch_tick(struct sl_topk_sketch *k)
{
	if (k->dirty && rte_get_tsc_cycles() >= k->next_tsc)
		sl_topk_sketch_publish(k);
}

/* The input ran dry: publish now what changed. */
static inline void
sl_topk_sketch_flush(struct sl_topk_sketch *k)
{
	if (k->dirty)
		sl_topk_sketch_publish(k);
}

/*
 * Length of k[0..len) without a UTF-8 character cut in half at its end
 * (len itself if the bytes are not UTF-8 at all): where to cut a key that
 * was longer than SL_TOPK_KEY - 1 bytes.
 */
uint32_t sl_topk_utf8_whole(const uint8_t *k, uint32_t len);

#endif

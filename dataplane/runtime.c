/*
 * runtime.c — build and tear down the shared structures: pools, rings,
 * the document table, per-tenant counters. Called once, after EAL.
 */
#include <stdio.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "runtime.h"

#define RESULT_POOL_FACTOR 4u   /* result batches per line batch: they live longer (fsync, fan-out) */

static struct rte_ring *
ring(const char *kind, unsigned a, unsigned b, unsigned size, unsigned flags, char *err, size_t errlen)
{
	char name[RTE_RING_NAMESIZE];
	struct rte_ring *r;

	snprintf(name, sizeof(name), "sl_%s_%u_%u", kind, a, b);
	r = rte_ring_create(name, size, (int)rte_socket_id(), flags);
	if (r == NULL)
		snprintf(err, errlen, "cannot create ring %s: %s; give EAL more memory ([dataplane] memory_mb)",
			 name, rte_strerror(rte_errno));
	return r;
}

static struct rte_ring *
msg_ring(const char *kind, unsigned a, unsigned flags, char *err, size_t errlen)
{
	char name[RTE_RING_NAMESIZE];
	struct rte_ring *r;

	snprintf(name, sizeof(name), "sl_%s_%u", kind, a);
	r = rte_ring_create_elem(name, sizeof(struct sl_msg), SL_MSG_RING_SIZE, (int)rte_socket_id(), flags);
	if (r == NULL)
		snprintf(err, errlen, "cannot create ring %s: %s; give EAL more memory ([dataplane] memory_mb)",
			 name, rte_strerror(rte_errno));
	return r;
}

/* Each result batch knows the size of its data area (the pools differ in it). */
static void
result_init(struct rte_mempool *mp, void *arg, void *obj, unsigned idx)
{
	struct sl_result_batch *rb = obj;

	(void)mp;
	(void)idx;
	memset(rb, 0, sizeof(*rb));
	rb->data_cap = (uint32_t)(uintptr_t)arg;
}

/* The first n_rx worker lcores receive, the rest work: EAL's --lcores was built that way (eal.c). */
static int
assign_lcores(struct sl_runtime *rt, char *err, size_t errlen)
{
	unsigned lcore, i = 0;

	rt->n_rx = rt->cfg->rx_lcores;
	rt->n_workers = 0;
	RTE_LCORE_FOREACH_WORKER(lcore) {
		if (i < rt->n_rx) {
			rt->rx_lcore[i] = lcore;
		} else if (rt->n_workers < SL_MAX_WORKERS) {
			rt->worker_lcore[rt->n_workers] = lcore;
			rt->workers[rt->n_workers].lcore_id = lcore;
			rt->workers[rt->n_workers].socket = rte_lcore_to_socket_id(lcore);
			rt->n_workers++;
		}
		i++;
	}
	if (i < rt->n_rx + 1) {
		snprintf(err, errlen, "EAL gave %u worker lcores; need %u rx lcores and at least 1 worker "
			 "(check [dataplane] eal_args for a conflicting --lcores/-l)", i, rt->n_rx);
		return -1;
	}
	rt->n_producers = rt->n_rx + 2;
	rt->ingest_producer = rt->n_rx;
	rt->supervisor_producer = rt->n_rx + 1;
	return 0;
}

int
sl_runtime_create(struct sl_runtime *rt, const struct sl_config *cfg, char *err, size_t errlen)
{
	int socket = (int)rte_socket_id();

	rt->cfg = cfg;
	if (assign_lcores(rt, err, errlen) < 0)
		return -1;

	/*
	 * No per-lcore cache: producers decide whether to accept bytes from the
	 * pool's free count, and batches freed by workers would otherwise sit in
	 * the workers' caches, counted but out of a producer's reach (with a
	 * small pool, most of it). A batch carries up to 64 lines, so one ring
	 * operation per batch costs little.
	 */
	rt->batch_pool = rte_mempool_create("sl_batches", cfg->batches, sizeof(struct sl_line_batch),
					    0, 0, NULL, NULL, NULL, NULL, socket, 0);
	if (rt->batch_pool == NULL) {
		snprintf(err, errlen, "cannot create the line batch pool (%u x %zu bytes): %s; "
			 "lower [dataplane] batches or raise memory_mb", cfg->batches,
			 sizeof(struct sl_line_batch), rte_strerror(rte_errno));
		return -1;
	}
	rt->result_pool = rte_mempool_create("sl_results", cfg->batches * RESULT_POOL_FACTOR,
					     sl_result_batch_size(SL_RESULT_DATA), 32, 0, NULL, NULL,
					     result_init, (void *)(uintptr_t)SL_RESULT_DATA, socket, 0);
	if (rt->result_pool == NULL) {
		snprintf(err, errlen, "cannot create the result batch pool: %s; lower [dataplane] batches "
			 "or raise memory_mb", rte_strerror(rte_errno));
		return -1;
	}
	/*
	 * Large result batches: for the rare line whose records do not fit an
	 * ordinary one (a long line escaped, a long NDJSON object). No cache:
	 * the pool is small and an object parked in a cache would be out of
	 * the other workers' reach.
	 */
	rt->large_cap = RTE_MAX(SL_LINE_OUTPUT_MAX(cfg->max_line_bytes), SL_RESULT_DATA);
	rt->large_pool = rte_mempool_create("sl_results_large", cfg->large_results,
					    sl_result_batch_size(rt->large_cap), 0, 0, NULL, NULL,
					    result_init, (void *)(uintptr_t)rt->large_cap, socket, 0);
	if (rt->large_pool == NULL) {
		snprintf(err, errlen, "cannot create the large result batch pool (%u x %zu bytes): %s; lower "
			 "[dataplane] large_results or max_line_bytes, or raise memory_mb", cfg->large_results,
			 sl_result_batch_size(rt->large_cap), rte_strerror(rte_errno));
		return -1;
	}

	for (unsigned p = 0; p < rt->n_producers; p++)
		for (unsigned w = 0; w < rt->n_workers; w++)
			if ((rt->work[p][w] = ring("work", p, w, SL_WORK_RING_SIZE,
						   RING_F_SP_ENQ | RING_F_SC_DEQ, err, errlen)) == NULL)
				return -1;
	for (unsigned w = 0; w < rt->n_workers; w++)
		if ((rt->results[w] = ring("res", w, 0, SL_RESULT_RING_SIZE,
					   RING_F_SP_ENQ | RING_F_SC_DEQ, err, errlen)) == NULL)
			return -1;
	/* Every result batch of the pools may sit here at once: size it so enqueue rarely waits on the ring
	 * (only persistence's heap copies can add to that, and it waits for room then). */
	if ((rt->acks = ring("acks", 0, 0, rte_align32pow2(cfg->batches * RESULT_POOL_FACTOR + cfg->large_results + 1),
			     RING_F_SP_ENQ | RING_F_SC_DEQ, err, errlen)) == NULL)
		return -1;
	for (unsigned i = 0; i < rt->n_rx; i++) {
		if ((rt->rx_to_mgr[i] = msg_ring("rx2mgr", i, RING_F_SP_ENQ | RING_F_SC_DEQ, err, errlen)) == NULL)
			return -1;
		if ((rt->mgr_to_rx[i] = msg_ring("mgr2rx", i, RING_F_SP_ENQ | RING_F_SC_DEQ, err, errlen)) == NULL)
			return -1;
	}
	/* Two producers (manager and the websocket thread), one message per document: MP is fine. */
	if ((rt->to_persist = msg_ring("persist", 0, RING_F_SC_DEQ, err, errlen)) == NULL)
		return -1;
	if ((rt->ws_to_mgr = msg_ring("ws2mgr", 0, RING_F_SP_ENQ | RING_F_SC_DEQ, err, errlen)) == NULL)
		return -1;

	rt->docs = rte_zmalloc("sl_docs", sizeof(*rt->docs), RTE_CACHE_LINE_SIZE);
	size_t rows = (size_t)rt->n_producers + rt->n_workers + 1;
	rt->tenant_stats = rte_zmalloc("sl_tenant_stats", rows * cfg->n_tenants * sizeof(struct sl_tenant_stats),
				       RTE_CACHE_LINE_SIZE);
	if (rt->docs == NULL || rt->tenant_stats == NULL) {
		snprintf(err, errlen, "out of EAL memory for the document table; raise [dataplane] memory_mb");
		return -1;
	}
	sl_docs_init(rt->docs);
	return 0;
}

void
sl_runtime_destroy(struct sl_runtime *rt)
{
	for (unsigned p = 0; p < SL_MAX_PRODUCERS; p++)
		for (unsigned w = 0; w < SL_MAX_WORKERS; w++)
			rte_ring_free(rt->work[p][w]);
	for (unsigned w = 0; w < SL_MAX_WORKERS; w++)
		rte_ring_free(rt->results[w]);
	for (unsigned i = 0; i < SL_MAX_RX_LCORES; i++) {
		rte_ring_free(rt->rx_to_mgr[i]);
		rte_ring_free(rt->mgr_to_rx[i]);
	}
	rte_ring_free(rt->acks);
	rte_ring_free(rt->to_persist);
	rte_ring_free(rt->ws_to_mgr);
	rte_mempool_free(rt->batch_pool);
	rte_mempool_free(rt->result_pool);
	rte_mempool_free(rt->large_pool);
	rte_free(rt->docs);
	rte_free(rt->tenant_stats);
	memset(rt, 0, sizeof(*rt));
}

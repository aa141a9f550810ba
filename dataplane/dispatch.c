/*
 * dispatch.c — least-loaded routing of line batches to workers.
 *
 * The load of worker w is sum_p(lines_sent[p][w]) - lines_done[w]: every
 * term has a single writer, so reading them needs no lock, only relaxed
 * atomic loads. The view may be a few batches stale; that only makes the
 * choice slightly less than optimal, never wrong.
 */
#include <stdatomic.h>

#include <rte_ring.h>

#include "dispatch.h"

uint64_t
sl_worker_load(const struct sl_runtime *rt, unsigned w)
{
	uint64_t sent = 0;
	uint64_t done = __atomic_load_n(&rt->workers[w].lines_done, __ATOMIC_RELAXED);

	for (unsigned p = 0; p < rt->n_producers; p++)
		sent += __atomic_load_n(&rt->load[p].lines_sent[w], __ATOMIC_RELAXED);
	return sent > done ? sent - done : 0;
}

/* Least-loaded worker whose ring from this producer has room; -1 if none. */
static int
pick_worker(const struct sl_runtime *rt, unsigned producer)
{
	uint64_t best_load = UINT64_MAX;
	int best = -1;

	for (unsigned w = 0; w < rt->n_workers; w++) {
		uint64_t l;

		if (rte_ring_free_count(rt->work[producer][w]) == 0)
			continue;
		l = sl_worker_load(rt, w);
		if (l < best_load) {
			best_load = l;
			best = (int)w;
			if (l == 0)
				break;
		}
	}
	return best;
}

unsigned
sl_dispatch_burst(struct sl_runtime *rt, unsigned producer, struct sl_line_batch **b, unsigned n)
{
	unsigned done = 0;

	while (done < n) {
		int w = pick_worker(rt, producer);
		struct sl_line_batch *batch = b[done];
		uint16_t batch_lines = batch->n_lines;

		if (w < 0)
			break;
		batch->producer = (uint16_t)producer;
		batch->enq_tsc = rte_rdtsc();
		if (rte_ring_sp_enqueue(rt->work[producer][w], batch) != 0)
			break;
		/* Single writer: a plain store, no locked add. If the worker finished
		 * the batch already, the load reads low for a moment; it is clamped. */
		__atomic_store_n(&rt->load[producer].lines_sent[w],
				 rt->load[producer].lines_sent[w] + batch_lines, __ATOMIC_RELAXED);
		done++;
	}
	return done;
}

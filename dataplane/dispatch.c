/*
 * dispatch.c — routing line batches to workers.
 *
 * Only active workers take new batches: [0, n_active), and not one that
 * crashed and waits for its restart, nor (least_loaded, round_robin) one
 * the supervisor found inside one processor call for long_line_ms: its
 * load counts lines, not time, and would make it look the least loaded.
 * Three policies ([workers] dispatch):
 *   least_loaded   the worker with the fewest lines outstanding: every
 *                  producer's lines_sent minus the worker's lines_done
 *                  (single-writer counters, read without locks; lines of
 *                  long work in flight count until they finish);
 *   round_robin    the next eligible worker, per producer;
 *   hash_document  always the same worker for a document, so its lines are
 *                  processed in order (autoscaling is off in this mode).
 * The batch goes on this producer's own SP/SC ring to that worker.
 */
#include <stdatomic.h>

#include <rte_jhash.h>
#include <rte_ring.h>

#include "dispatch.h"

uint64_t
sl_worker_load(const struct sl_runtime *rt, unsigned w)
{
	uint64_t sent = 0;
	/* lines it finished, and lines the supervisor took back from it (crash, long line) */
	uint64_t done = __atomic_load_n(&rt->workers[w].lines_done, __ATOMIC_RELAXED) +
			__atomic_load_n(&rt->workers[w].lines_moved, __ATOMIC_RELAXED);

	for (unsigned p = 0; p < rt->n_producers; p++)
		sent += __atomic_load_n(&rt->load[p].lines_sent[w], __ATOMIC_RELAXED);
	return sent > done ? sent - done : 0;
}

static inline bool
eligible(const struct sl_runtime *rt, unsigned producer, unsigned w)
{
	return atomic_load_explicit(&rt->workers[w].running, memory_order_relaxed) &&
	       !atomic_load_explicit(&rt->workers[w].crashed, memory_order_relaxed) &&
	       !atomic_load_explicit(&rt->workers[w].long_line, memory_order_relaxed) &&
	       rte_ring_free_count(rt->work[producer][w]) > 0;
}

/* hash_document: a document's worker, long call or not (its lines must not change worker). */
static inline bool
eligible_for_document(const struct sl_runtime *rt, unsigned producer, unsigned w)
{
	return atomic_load_explicit(&rt->workers[w].running, memory_order_relaxed) &&
	       !atomic_load_explicit(&rt->workers[w].crashed, memory_order_relaxed) &&
	       rte_ring_free_count(rt->work[producer][w]) > 0;
}

static int
pick_least_loaded(const struct sl_runtime *rt, unsigned producer, unsigned n_active)
{
	uint64_t best_load = UINT64_MAX;
	int best = -1;

	for (unsigned w = 0; w < n_active; w++) {
		uint64_t l;

		if (!eligible(rt, producer, w))
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

static int
pick_round_robin(struct sl_runtime *rt, unsigned producer, unsigned n_active)
{
	struct sl_producer_load *pl = &rt->load[producer];

	for (unsigned i = 0; i < n_active; i++) {
		unsigned w = (pl->rr_next + i) % n_active;

		if (eligible(rt, producer, w)) {
			pl->rr_next = w + 1;
			return (int)w;
		}
	}
	return -1;
}

static int
pick_by_document(const struct sl_runtime *rt, unsigned producer, const struct sl_line_batch *b)
{
	uint32_t key[2] = { b->doc, b->doc_gen };
	unsigned w = rte_jhash_32b(key, 2, 0) % rt->n_workers;

	/* The document's worker or nobody: another worker would reorder its lines. */
	return eligible_for_document(rt, producer, w) ? (int)w : -1;
}

unsigned
sl_dispatch_burst(struct sl_runtime *rt, unsigned producer, struct sl_line_batch **b, unsigned n)
{
	unsigned done = 0;
	unsigned n_active = atomic_load_explicit(&rt->n_active, memory_order_relaxed);

	if (n_active == 0 || n_active > rt->n_workers)
		n_active = rt->n_workers;
	while (done < n) {
		struct sl_line_batch *batch = b[done];
		uint16_t batch_lines = batch->n_lines;
		int w;

		switch (rt->cfg->dispatch) {
		case SL_DISPATCH_ROUND_ROBIN:
			w = pick_round_robin(rt, producer, n_active);
			break;
		case SL_DISPATCH_HASH_DOCUMENT:
			w = pick_by_document(rt, producer, batch);
			break;
		default:
			w = pick_least_loaded(rt, producer, n_active);
			break;
		}
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

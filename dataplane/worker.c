/*
 * worker.c — the worker lcore loop.
 */
#include <rte_cycles.h>
#include <rte_prefetch.h>
#include <rte_log.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "idle.h"
#include "processor.h"
#include "worker.h"

#define WORKER_BURST 8u
#define WORKER_MAX_SLEEP_US 1000u   /* a parked worker wakes within 1 ms */

/* A result batch, waiting for persistence if it must: results are never dropped. */
static struct sl_result_batch *
result_batch_get(struct sl_runtime *rt, struct sl_worker_stats *st)
{
	void *obj;

	while (rte_mempool_get(rt->result_pool, &obj) != 0) {
		st->result_retries++;
		rte_delay_us_sleep(50);
	}
	return obj;
}

static void
process_batch(struct sl_runtime *rt, unsigned w, void *state, struct sl_line_batch *lb)
{
	struct sl_worker_stats *st = &rt->worker_stats[w];
	struct sl_tenant_stats *ts = &sl_tenant_row(rt, sl_row_worker(rt, w))[lb->tenant];
	const struct sl_tenant_conf *tenant = &rt->cfg->tenants[lb->tenant];
	struct sl_result_batch *rb = result_batch_get(rt, st);
	uint64_t t0 = rte_rdtsc();
	uint32_t ok = 0;

	rb->doc = lb->doc;
	rb->doc_gen = lb->doc_gen;
	rb->tenant = lb->tenant;
	rb->worker = (uint16_t)w;
	rb->kind = SL_RB_RESULTS;
	rb->n = lb->n_lines;

	for (uint16_t i = 0; i < lb->n_lines; i++) {
		const struct sl_line_ref *l = &lb->line[i];
		struct sl_result *r = &rb->r[i];

		if (i + 1 < lb->n_lines)
			rte_prefetch0(lb->data + lb->line[i + 1].off);
		r->line = lb->first_line + i;
		r->reserved = 0;
		sl_proc_csv.process(state, tenant, lb->data + l->off, l->len, l->flags, r);
		if (r->reason == SL_R_OVERSIZE)
			r->detail = rt->cfg->max_line_bytes;
		ok += r->status == SL_ST_OK;
	}

	st->batches++;
	st->lines += lb->n_lines;
	st->ok += ok;
	st->errors += lb->n_lines - ok;
	ts->lines_ok += ok;
	ts->lines_error += lb->n_lines - ok;

	uint16_t n = lb->n_lines;
	rte_mempool_put(rt->batch_pool, lb);

	while (rte_ring_sp_enqueue(rt->results[w], rb) != 0) {
		/* Persistence is behind: wait for it (back-pressure reaches the producers
		 * through the work rings filling up). */
		st->result_retries++;
		rte_delay_us_sleep(50);
	}
	__atomic_store_n(&rt->workers[w].lines_done, rt->workers[w].lines_done + n, __ATOMIC_RELEASE);
	st->busy_cycles += rte_rdtsc() - t0;
}

/* One pass over every producer's ring; returns batches processed. */
static unsigned
poll_once(struct sl_runtime *rt, unsigned w, void *state)
{
	struct sl_line_batch *b[WORKER_BURST];
	unsigned total = 0;

	for (unsigned p = 0; p < rt->n_producers; p++) {
		unsigned n = rte_ring_sc_dequeue_burst(rt->work[p][w], (void **)b, WORKER_BURST, NULL);

		for (unsigned i = 0; i < n; i++) {
			if (i + 1 < n)
				rte_prefetch0(b[i + 1]);
			process_batch(rt, w, state, b[i]);
		}
		total += n;
	}
	return total;
}

int
sl_worker_main(void *arg)
{
	struct sl_worker_arg *a = arg;
	struct sl_runtime *rt = a->rt;
	unsigned w = a->index;
	struct sl_worker_stats *st = &rt->worker_stats[w];
	void *state = sl_proc_csv.init(rt->cfg, w);
	struct sl_idle idle;

	sl_idle_init(&idle, rt->cfg->idle, WORKER_MAX_SLEEP_US);
	atomic_store(&rt->workers[w].running, 1);

	while (!atomic_load_explicit(&rt->stop_workers, memory_order_relaxed)) {
		unsigned n = poll_once(rt, w, state);

		st->polls++;
		st->heartbeat++;
		if (n > 0) {
			st->busy_polls++;
			sl_idle_reset(&idle);
		} else {
			if (sl_proc_csv.flush != NULL && idle.empty == 0)
				sl_proc_csv.flush(state);
			sl_idle_wait(&idle);
		}
	}
	/* Producers have stopped: finish what is queued so it is persisted and ACKed. */
	while (poll_once(rt, w, state) > 0)
		;
	if (sl_proc_csv.fini != NULL)
		sl_proc_csv.fini(state);
	atomic_store(&rt->workers[w].running, 0);
	return 0;
}

/*
 * runtime.h — everything the stages share, built once by sluiced before
 * any lcore starts and torn down after they all stop.
 *
 * Who owns what:
 *   - pools and rings: created by sl_runtime_create(), freed by _destroy();
 *   - work rings: one SP/SC ring per (producer, worker) pair. Producers are
 *     the rx lcores (index 0..n_rx-1) and the websocket ingest thread
 *     (index n_rx). A producer preempted mid-enqueue never stalls another;
 *   - result rings: one SP/SC ring per worker, consumed by persistence;
 *   - ack ring: persistence -> websocket thread (SP/SC);
 *   - msg rings (struct sl_msg by value): rx -> manager and manager -> rx
 *     per rx lcore (SP/SC); manager|ws -> persist (MP/SC, per document
 *     only); ws -> manager (SP/SC).
 */
#ifndef SLUICE_RUNTIME_H
#define SLUICE_RUNTIME_H

#include <stdatomic.h>
#include <stdint.h>

#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "../config/config.h"
#include "batch.h"
#include "doc.h"
#include "msg.h"
#include "processor.h"
#include "stats.h"

#define SL_MAX_PRODUCERS (SL_MAX_RX_LCORES + 2)   /* rx lcores, websocket ingest, supervisor */
#define SL_WORK_RING_SIZE 256      /* batches per (producer, worker) ring */
#define SL_RESULT_RING_SIZE 1024   /* result batches per worker */
#define SL_MSG_RING_SIZE 1024

/* What a producer publishes so others can estimate a worker's load. */
struct sl_producer_load {
	uint64_t lines_sent[SL_MAX_WORKERS];   /* written by the producer only */
	unsigned rr_next;                       /* round_robin: the producer's next worker */
} __rte_cache_aligned;

#define SL_WORKER_INFLIGHT 64u   /* line batches a worker holds at once (pending long work) */

/*
 * A line batch being worked on: its result batches wait here until every
 * line is done. A result batch is opened only for a line that did not fit
 * the one before, so each holds at least one line: SL_BATCH_LINES is enough.
 */
struct sl_inflight {
	struct sl_line_batch *lb;
	struct sl_result_batch *rb[SL_BATCH_LINES];  /* in line order; more than one when output overflows */
	uint8_t n_rb;
	uint8_t used;
	uint16_t pending;                        /* lines whose long work is not finished */
	uint32_t gen;                            /* bumped each time the slot is taken: in every cookie */
	uint64_t pending_mask;                   /* bit i: line i is pending */
	uint64_t deadline_ns;                    /* pending lines still pending then are timed out */
	uint8_t started;                         /* a line of it has run: only the worker may finish it */
};

struct sl_worker_state {
	uint64_t lines_done;                     /* written by the worker only */
	unsigned lcore_id;
	unsigned socket;
	atomic_int running;                      /* the lcore function is running */
	/* supervision: written by the worker, read by the supervisor */
	uint64_t heartbeat;                      /* bumped every loop */
	/*
	 * Processor calls made so far, twice: odd while inside one (init,
	 * process, poll, flush), even outside. The supervisor times a call by
	 * watching this stay on one odd value; the worker's signal handler
	 * unwinds only while it is odd (worker.h); and it is one side of the
	 * handshake that lets the supervisor take the worker's queued batches
	 * while the worker is inside a long call (steal, below).
	 */
	uint64_t proc_seq;
	atomic_int in_init;                      /* the call is a processor's init (may allocate) */
	atomic_int crashed;                      /* the worker died (fault, poison, kill, stall) */
	atomic_int kill_requested;               /* sluicectl workers kill N */
	atomic_int stall_requested;              /* sluicectl workers stall N (a drill): the supervisor acts */
	atomic_int parked;                       /* index >= n_active: sleeping */
	int32_t crash_slot, crash_line;          /* where it died: in-flight slot and line index, or -1 */
	uint64_t pthread;                        /* pthread_t of the lcore thread (for the stall signal) */
	uint64_t stall_ignored;                  /* stall signals that found it outside the stalled call (its handler) */
	struct sl_inflight inflight[SL_WORKER_INFLIGHT];
	/* written by the supervisor */
	atomic_int steal;                        /* taking its queued batches: it must not dequeue meanwhile */
	atomic_int long_line;                    /* inside one call for long_line_ms: producers pass it by */
	uint64_t stall_target;                   /* proc_seq of the call the stall signal is meant for */
	uint64_t call_since_tsc;                 /* when the supervisor first saw the current call; 0 outside */
	uint64_t lines_moved;                    /* lines taken back (crash salvage, long lines): load = sent - done - moved */
	uint64_t long_lines;                     /* times it was found inside one call for long_line_ms */
	uint64_t redispatched;                   /* line batches taken from it because of a long line */
	uint32_t crashes, restarts;
	uint64_t restart_at_tsc;
} __rte_cache_aligned;

struct sl_runtime {
	const struct sl_config *cfg;
	atomic_int stop;                        /* set on SIGINT/SIGTERM: producers stop taking input */
	atomic_int stop_workers;                /* set once producers have stopped: workers drain and exit */

	uint16_t port_id;
	unsigned n_rx;                          /* rx lcores (= rx/tx queue pairs) */
	unsigned n_workers;                     /* all sockets */
	unsigned n_producers;                   /* n_rx + 2 (ingest, supervisor) */
	unsigned ingest_producer;               /* = n_rx */
	unsigned supervisor_producer;           /* = n_rx + 1: re-dispatch of a crashed worker's lines */
	atomic_uint n_active;                   /* workers [0, n_active) take new batches; the rest park */
	uint64_t scale_ups, scale_downs;        /* written by the supervisor */
	uint64_t quarantined;                   /* lines quarantined (written by workers: atomic add) */
	unsigned rx_lcore[SL_MAX_RX_LCORES];    /* lcore ids */
	unsigned worker_lcore[SL_MAX_WORKERS];

	struct rte_mempool *mbuf_pool;
	struct rte_mempool *batch_pool;         /* struct sl_line_batch */
	struct rte_mempool *result_pool;        /* struct sl_result_batch, SL_RESULT_DATA bytes of records */
	struct rte_mempool *large_pool;         /* the same with large_cap bytes: a line whose output needs it */
	uint32_t large_cap;                     /* SL_LINE_OUTPUT_MAX(max_line_bytes), at least SL_RESULT_DATA */

	struct rte_ring *work[SL_MAX_PRODUCERS][SL_MAX_WORKERS];
	struct rte_ring *results[SL_MAX_WORKERS];
	struct rte_ring *acks;                  /* persist -> ws: struct sl_result_batch * */
	struct rte_ring *rx_to_mgr[SL_MAX_RX_LCORES];
	struct rte_ring *mgr_to_rx[SL_MAX_RX_LCORES];
	struct rte_ring *to_persist;            /* struct sl_msg, MP/SC */
	struct rte_ring *ws_to_mgr;             /* struct sl_msg */

	struct sl_doc_table *docs;

	/* the processor of each tenant (built-in or loaded from a .so), resolved at start */
	const struct sl_processor *procs[SL_MAX_TENANTS];

	struct sl_producer_load load[SL_MAX_PRODUCERS];
	struct sl_worker_state workers[SL_MAX_WORKERS];

	/* counters: one struct per owner */
	struct sl_rx_stats rx_stats[SL_MAX_RX_LCORES];
	struct sl_worker_stats worker_stats[SL_MAX_WORKERS];
	struct sl_persist_stats persist_stats;
	struct sl_ws_stats ws_stats;
	/* [producer or worker or control][tenant]; row n_producers + w is worker w, last row control */
	struct sl_tenant_stats *tenant_stats;   /* (n_producers + n_workers + 1) * n_tenants */

	void (*wake_ws)(void);                  /* persistence calls it after pushing to acks */
	struct sl_recovery *recovery;           /* unfinished documents found at start (control/recover.h) */
};

static inline struct sl_tenant_stats *
sl_tenant_row(struct sl_runtime *rt, unsigned row)
{
	return &rt->tenant_stats[(size_t)row * rt->cfg->n_tenants];
}

static inline unsigned sl_row_worker(const struct sl_runtime *rt, unsigned w) { return rt->n_producers + w; }
static inline unsigned sl_row_control(const struct sl_runtime *rt) { return rt->n_producers + rt->n_workers; }

/* How long worker w has been inside its current processor call, in ms (0 between calls). */
static inline uint64_t
sl_worker_call_ms(const struct sl_runtime *rt, unsigned w)
{
	uint64_t since = __atomic_load_n(&rt->workers[w].call_since_tsc, __ATOMIC_RELAXED);
	uint64_t now = rte_rdtsc();

	return since != 0 && now > since ? (now - since) * 1000 / rte_get_tsc_hz() : 0;
}

/* After EAL init: pools, rings, doc table. Returns 0 or -1 with a message in err. */
int sl_runtime_create(struct sl_runtime *rt, const struct sl_config *cfg, char *err, size_t errlen);
void sl_runtime_destroy(struct sl_runtime *rt);

#endif

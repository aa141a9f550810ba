/*
 * supervisor.c — worker restarts, stall detection and autoscaling (see
 * supervisor.h).
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_log.h>
#include <rte_mempool.h>

#include "dispatch.h"
#include "feed.h"
#include "steal.h"
#include "supervisor.h"

#define SCALE_PERIOD_MS 100u
#define CRASH_MEMORY_S 30u          /* crashes older than this no longer lengthen the back-off */
#define MAX_BACKOFF_MS 5000u

struct sl_supervisor {
	struct sl_runtime *rt;
	struct sl_worker_arg *args;
	struct sl_backlog backlog;      /* re-dispatched line batches not yet taken */
	uint64_t hz, next_tick, next_scale, quiet_since;
	uint64_t last_busy[SL_MAX_WORKERS];
	uint32_t recent[SL_MAX_WORKERS];        /* crashes within CRASH_MEMORY_S */
	uint64_t last_crash[SL_MAX_WORKERS];
	uint8_t crash_seen[SL_MAX_WORKERS];     /* its crash is counted and its restart scheduled */
	uint8_t salvaged[SL_MAX_WORKERS];       /* everything it held has been taken back */
	uint8_t stall_signalled[SL_MAX_WORKERS];
	uint64_t call_seq[SL_MAX_WORKERS];      /* the processor call last seen (proc_seq, odd) */
	uint64_t call_start[SL_MAX_WORKERS];    /* when it was first seen (TSC) */
	unsigned min_active, max_active;
	bool steal_ok;                          /* not hash_document: batches may change worker */
};

struct sl_supervisor *
sl_supervisor_create(struct sl_runtime *rt, struct sl_worker_arg *args)
{
	struct sl_supervisor *s = calloc(1, sizeof(*s));
	const struct sl_config *cfg = rt->cfg;
	unsigned sockets = 1, per_socket_max;

	if (s == NULL)
		return NULL;
	s->rt = rt;
	s->args = args;
	s->hz = rte_get_tsc_hz();
	/* workers come per socket; the active window is counted over all of them */
	if (cfg->workers_per_socket > 0)
		sockets = rt->n_workers / cfg->workers_per_socket;
	if (sockets == 0)
		sockets = 1;
	per_socket_max = cfg->workers_max ? cfg->workers_max : cfg->workers_per_socket;
	s->max_active = RTE_MIN(per_socket_max * sockets, rt->n_workers);
	s->min_active = RTE_MIN(RTE_MAX(cfg->workers_min, 1u) * sockets, s->max_active);
	if (cfg->dispatch == SL_DISPATCH_HASH_DOCUMENT)
		s->min_active = s->max_active = rt->n_workers;
	/* hash_document promises a document's lines in order on one worker: they never move */
	s->steal_ok = cfg->dispatch != SL_DISPATCH_HASH_DOCUMENT;
	atomic_store(&rt->n_active, s->min_active);
	return s;
}

void
sl_supervisor_free(struct sl_supervisor *s)
{
	if (s == NULL)
		return;
	sl_backlog_drop(s->rt, &s->backlog);
	free(s);
}

/* Callers check for room first (salvage and steal never wait: see there). */
static void
backlog_add(struct sl_supervisor *s, struct sl_line_batch *b)
{
	struct sl_backlog *bl = &s->backlog;

	RTE_VERIFY(bl->count < SL_BACKLOG_MAX);
	bl->b[(bl->head + bl->count) % SL_BACKLOG_MAX] = b;
	bl->count++;
}

/*
 * Move the batches queued in worker w's rings to our backlog, leaving
 * `keep` of its places free (never wait here: the worker may be waiting
 * for us). Call only while we are the rings' consumer: the worker
 * returned, or it is held off by the steal handshake. Returns the lines
 * moved; *batches counts the batches.
 */
static uint64_t
drain_rings(struct sl_supervisor *s, unsigned w, unsigned keep, uint64_t *batches)
{
	struct sl_runtime *rt = s->rt;
	struct sl_line_batch *b[32];
	uint64_t lines = 0, n_b = 0;

	for (unsigned p = 0; p < rt->n_producers; p++) {
		unsigned n;

		do {
			unsigned room = SL_BACKLOG_MAX - RTE_MIN(s->backlog.count + keep, SL_BACKLOG_MAX);

			n = rte_ring_sc_dequeue_burst(rt->work[p][w], (void **)b, RTE_MIN(room, RTE_DIM(b)), NULL);
			for (unsigned i = 0; i < n; i++) {
				lines += b[i]->n_lines;
				backlog_add(s, b[i]);
			}
			n_b += n;
		} while (n > 0);
	}
	if (batches != NULL)
		*batches = n_b;
	return lines;
}

/*
 * Take back what a dead worker held: free its partial results and
 * re-dispatch its line batches (and those still queued for it), as far as
 * our backlog has room. Never wait for room here: the workers that would
 * make it may be down too, waiting for us to restart them. Returns true
 * once its in-flight table is empty; what is left in its rings then, the
 * restarted worker takes itself.
 */
static bool
salvage(struct sl_supervisor *s, unsigned w)
{
	struct sl_runtime *rt = s->rt;
	struct sl_worker_state *ws = &rt->workers[w];
	uint64_t moved = 0;
	bool done = true;

	for (unsigned slot = 0; slot < SL_WORKER_INFLIGHT; slot++) {
		struct sl_inflight *inf = &ws->inflight[slot];

		if (!inf->used)
			continue;
		if (s->backlog.count == SL_BACKLOG_MAX) {
			done = false;   /* the rest on a later tick, once the backlog has moved */
			break;
		}
		for (unsigned k = 0; k < inf->n_rb; k++)
			sl_result_batch_free(rt->result_pool, inf->rb[k]);   /* ordinary or large */
		if ((int32_t)slot == ws->crash_slot && ws->crash_line >= 0 &&
		    ws->crash_line < (int32_t)inf->lb->n_lines) {
			struct sl_line_ref *l = &inf->lb->line[ws->crash_line];
			uint32_t crashes = ((l->flags & SL_LINE_CRASH_MASK) >> SL_LINE_CRASH_SHIFT) + 1;

			l->flags = (l->flags & ~SL_LINE_CRASH_MASK) | (RTE_MIN(crashes, 255u) << SL_LINE_CRASH_SHIFT);
			if (crashes >= rt->cfg->crash_limit)
				l->flags |= SL_LINE_QUARANTINE;
			RTE_LOG(WARNING, USER1, "sluiced: worker %u died on line %" PRIu64 " of %s/%s rev %" PRIu64
				" (crash %u of %u before quarantine)\n", w, inf->lb->first_line + ws->crash_line,
				rt->cfg->tenants[inf->lb->tenant].name, rt->docs->docs[inf->lb->doc].name,
				rt->docs->docs[inf->lb->doc].revision, crashes, rt->cfg->crash_limit);
		}
		moved += inf->lb->n_lines;
		backlog_add(s, inf->lb);
		inf->used = 0;
		inf->lb = NULL;
		inf->n_rb = 0;
	}
	/*
	 * Batches still queued for it: the worker has returned (running is 0),
	 * so we are the rings' only consumer now. Moving them spares them the
	 * restart back-off. Not with hash_document: the restarted worker would
	 * then see them after newer batches of the same document.
	 */
	if (done && s->steal_ok)
		moved += drain_rings(s, w, SL_WORKER_INFLIGHT, NULL);
	__atomic_store_n(&ws->lines_moved, ws->lines_moved + moved, __ATOMIC_RELAXED);
	if (done)
		ws->crash_slot = ws->crash_line = -1;
	return done;
}

static void
check_crashes(struct sl_supervisor *s, uint64_t now)
{
	struct sl_runtime *rt = s->rt;

	for (unsigned w = 0; w < rt->n_workers; w++) {
		struct sl_worker_state *ws = &rt->workers[w];

		if (!atomic_load(&ws->crashed) || atomic_load(&ws->running))
			continue;
		if (!s->crash_seen[w]) {
			uint32_t backoff;

			s->crash_seen[w] = 1;
			s->salvaged[w] = 0;
			s->stall_signalled[w] = 0;
			ws->crashes++;
			if (now - s->last_crash[w] > CRASH_MEMORY_S * s->hz)
				s->recent[w] = 0;
			s->recent[w]++;
			s->last_crash[w] = now;
			backoff = rt->cfg->restart_backoff_ms << RTE_MIN(s->recent[w] - 1, 16u);
			backoff = RTE_MIN(backoff, MAX_BACKOFF_MS);
			ws->restart_at_tsc = now + s->hz / 1000 * backoff;
			RTE_LOG(WARNING, USER1, "sluiced: worker %u (lcore %u) crashed; restarting in %u ms\n", w,
				ws->lcore_id, backoff);
		}
		if (!s->salvaged[w])
			s->salvaged[w] = salvage(s, w);
		if (s->salvaged[w] && now >= ws->restart_at_tsc) {
			rte_eal_wait_lcore(ws->lcore_id);   /* it has returned: reap it */
			atomic_store(&ws->crashed, 0);
			s->crash_seen[w] = 0;
			ws->restarts++;
			if (rte_eal_remote_launch(sl_worker_main, &s->args[w], ws->lcore_id) != 0) {
				RTE_LOG(ERR, USER1, "sluiced: cannot relaunch worker %u; retrying\n", w);
				atomic_store(&ws->crashed, 1);
				s->crash_seen[w] = 1;
				ws->restart_at_tsc = now + s->hz;
			}
		}
	}
}

/* "line L of tenant/doc rev R" for the log, if the worker is on a line (best effort: it may move on). */
static void
describe_call(const struct sl_runtime *rt, const struct sl_worker_state *ws, char *buf, size_t cap)
{
	int32_t slot = ws->crash_slot, line = ws->crash_line;
	const struct sl_line_batch *lb;

	snprintf(buf, cap, "a poll or flush");
	if (slot < 0 || slot >= (int32_t)SL_WORKER_INFLIGHT || line < 0)
		return;
	lb = ws->inflight[slot].lb;
	if (lb == NULL || lb->tenant >= rt->cfg->n_tenants || lb->doc >= SL_MAX_DOCS)
		return;
	snprintf(buf, cap, "line %" PRIu64 " of %s/%.64s", lb->first_line + (uint64_t)line,
		 rt->cfg->tenants[lb->tenant].name, rt->docs->docs[lb->doc].name);
}

/*
 * Take the batches waiting for worker w — queued in its rings, or held but
 * not started — while it is inside the long call seq, and re-dispatch them
 * (least loaded among the others). The rings are SP/SC and the worker is
 * their consumer: we consume only between sl_steal_begin and _end, while
 * it provably cannot (steal.h). Its started batches stay its own.
 */
static void
steal(struct sl_supervisor *s, unsigned w, uint64_t seq)
{
	struct sl_runtime *rt = s->rt;
	struct sl_worker_state *ws = &rt->workers[w];
	uint64_t lines = 0, batches = 0;

	/* leave room for a crashed worker's in-flight batches (salvage) */
	if (s->backlog.count + SL_WORKER_INFLIGHT >= SL_BACKLOG_MAX)
		return;
	if (!sl_steal_begin(&ws->steal, &ws->proc_seq, seq))
		return;   /* it has left the call: it takes its batches itself */
	/* held batches first: they were dequeued before what is still in the rings */
	for (unsigned slot = 0; slot < SL_WORKER_INFLIGHT; slot++) {
		struct sl_inflight *inf = &ws->inflight[slot];

		if (!inf->used || inf->started || s->backlog.count + SL_WORKER_INFLIGHT >= SL_BACKLOG_MAX)
			continue;
		lines += inf->lb->n_lines;
		batches++;
		backlog_add(s, inf->lb);
		inf->lb = NULL;
		inf->used = 0;
	}
	uint64_t ring_batches;

	lines += drain_rings(s, w, SL_WORKER_INFLIGHT, &ring_batches);
	batches += ring_batches;
	__atomic_store_n(&ws->lines_moved, ws->lines_moved + lines, __ATOMIC_RELAXED);
	__atomic_store_n(&ws->redispatched, ws->redispatched + batches, __ATOMIC_RELAXED);
	sl_steal_end(&ws->steal);
	if (batches > 0)
		RTE_LOG(INFO, USER1, "sluiced: moved %" PRIu64 " line batches (%" PRIu64 " lines) waiting for "
			"worker %u to other workers\n", batches, lines, w);
}

static void
end_long(struct sl_worker_state *ws)
{
	if (atomic_load_explicit(&ws->long_line, memory_order_relaxed))
		atomic_store_explicit(&ws->long_line, 0, memory_order_relaxed);
}

/* Stop worker w's current call (the stall signal; worker.c unwinds only inside that call). */
static void
stop_call(struct sl_supervisor *s, unsigned w, uint64_t seq)
{
	struct sl_worker_state *ws = &s->rt->workers[w];

	__atomic_store_n(&ws->stall_target, seq, __ATOMIC_RELAXED);
	s->stall_signalled[w] = 1;
	pthread_kill((pthread_t)ws->pthread, SIGUSR1);
}

/*
 * Time every worker's processor calls. proc_seq is odd inside a call and
 * moves on with every call, so a call is "the same" while it stays on one
 * odd value; we time it from the tick we first saw it (1 ms resolution).
 *  - long_line_ms in one call: the worker is marked long (producers pass
 *    it by, autoscaling counts it as not available) and what waits for it
 *    is moved to other workers, now and every tick while it stays long
 *    (a producer may have picked it just before the mark);
 *  - stall_ms in one call (init excepted: it may be inside malloc): the
 *    stall signal stops it (crash, salvage, restart).
 */
static void
check_calls(struct sl_supervisor *s, uint64_t now)
{
	struct sl_runtime *rt = s->rt;
	uint64_t long_limit = s->hz / 1000 * rt->cfg->long_line_ms;
	uint64_t stall_limit = s->hz / 1000 * rt->cfg->stall_ms;

	for (unsigned w = 0; w < rt->n_workers; w++) {
		struct sl_worker_state *ws = &rt->workers[w];
		uint64_t seq = __atomic_load_n(&ws->proc_seq, __ATOMIC_ACQUIRE);
		bool running = atomic_load(&ws->running) && !atomic_load(&ws->crashed);

		if (atomic_exchange(&ws->stall_requested, 0) && running) {
			/* the drill: as if this moment's call had stalled (nothing, if it is between calls) */
			RTE_LOG(WARNING, USER1, "sluiced: worker %u told to stall (sluicectl workers stall)\n", w);
			stop_call(s, w, seq);
		}
		if (!sl_in_call(seq) || !running) {
			end_long(ws);
			s->call_seq[w] = 0;
			__atomic_store_n(&ws->call_since_tsc, 0, __ATOMIC_RELAXED);
			continue;
		}
		if (seq != s->call_seq[w]) {
			end_long(ws);
			s->call_seq[w] = seq;
			s->call_start[w] = now;
			s->stall_signalled[w] = 0;
			__atomic_store_n(&ws->call_since_tsc, now, __ATOMIC_RELAXED);
			continue;
		}
		uint64_t age = now - s->call_start[w];

		if (age > long_limit) {
			if (!atomic_load_explicit(&ws->long_line, memory_order_relaxed)) {
				char what[192];

				atomic_store_explicit(&ws->long_line, 1, memory_order_relaxed);
				__atomic_store_n(&ws->long_lines, ws->long_lines + 1, __ATOMIC_RELAXED);
				describe_call(rt, ws, what, sizeof(what));
				RTE_LOG(WARNING, USER1, "sluiced: worker %u has been inside one processor call (%s) "
					"for %u ms; %s\n", w, what, rt->cfg->long_line_ms,
					s->steal_ok ? "no new batches for it, and what waits for it goes to other workers" :
					"hash_document: its documents wait for it");
			}
			if (s->steal_ok)
				steal(s, w, seq);
		}
		if (age > stall_limit && !s->stall_signalled[w] && !atomic_load(&ws->in_init)) {
			RTE_LOG(WARNING, USER1, "sluiced: worker %u stalled in a processor for %u ms; stopping it\n",
				w, rt->cfg->stall_ms);
			stop_call(s, w, seq);
		}
	}
}

/*
 * A worker inside a long call counts as busy and as not there: its
 * outstanding lines and its (not yet counted) busy time are left out, and
 * the window grows while fewer than min_active workers are free of long
 * calls. Otherwise the load of the free ones decides, as before.
 */
static void
autoscale(struct sl_supervisor *s, uint64_t now)
{
	struct sl_runtime *rt = s->rt;
	unsigned n = atomic_load(&rt->n_active), n_long = 0;
	uint64_t outstanding = 0, busy = 0, period = s->hz / 1000 * SCALE_PERIOD_MS;

	for (unsigned w = 0; w < rt->n_workers; w++) {
		uint64_t b = __atomic_load_n(&rt->worker_stats[w].busy_cycles, __ATOMIC_RELAXED);

		if (w < n) {
			if (atomic_load_explicit(&rt->workers[w].long_line, memory_order_relaxed)) {
				n_long++;
			} else {
				outstanding += sl_worker_load(rt, w);
				busy += b - s->last_busy[w];
			}
		}
		s->last_busy[w] = b;
	}
	if (s->min_active == s->max_active)
		return;
	unsigned free_n = n - n_long;
	/* busy in [0, 1] per free active worker over the last period */
	double util = free_n > 0 ? (double)busy / ((double)period * free_n) : 1.0;
	double per_worker = free_n > 0 ? (double)outstanding / free_n : 0.0;

	if ((free_n < s->min_active || per_worker > 2.0 * SL_BATCH_LINES || util > 0.75) && n < s->max_active) {
		atomic_store(&rt->n_active, n + 1);
		rt->scale_ups++;
		s->quiet_since = 0;
		RTE_LOG(INFO, USER1, "sluiced: scaling up to %u active workers%s\n", n + 1,
			free_n < s->min_active ? " (workers inside long calls do not count)" : "");
		return;
	}
	/* never below min_active free of long calls */
	if (per_worker < SL_BATCH_LINES / 4.0 && util < 0.25 && free_n > s->min_active) {
		if (s->quiet_since == 0)
			s->quiet_since = now;
		if (n > s->min_active && now - s->quiet_since > s->hz / 1000 * rt->cfg->scale_quiet_ms) {
			atomic_store(&rt->n_active, n - 1);
			rt->scale_downs++;
			s->quiet_since = now;   /* one step per quiet period */
			RTE_LOG(INFO, USER1, "sluiced: scaling down to %u active workers\n", n - 1);
		}
	} else {
		s->quiet_since = 0;
	}
}

unsigned
sl_supervisor_tick(struct sl_supervisor *s)
{
	uint64_t now = rte_rdtsc();
	unsigned work = 0;

	if (s->backlog.count > 0) {
		unsigned before = s->backlog.count;
		work += before - sl_backlog_dispatch(s->rt, s->rt->supervisor_producer, &s->backlog);
	}
	if (now < s->next_tick)
		return work;
	s->next_tick = now + s->hz / 1000;
	check_crashes(s, now);
	check_calls(s, now);
	if (now >= s->next_scale) {
		autoscale(s, now);
		s->next_scale = now + s->hz / 1000 * SCALE_PERIOD_MS;
	}
	return work;
}

void
sl_supervisor_flush(struct sl_supervisor *s)
{
	for (int tries = 0; s->backlog.count > 0 && tries < 10000; tries++) {
		check_crashes(s, rte_rdtsc());
		if (sl_backlog_dispatch(s->rt, s->rt->supervisor_producer, &s->backlog) > 0)
			rte_delay_us_sleep(100);
	}
}

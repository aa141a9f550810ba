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
	uint8_t salvaged[SL_MAX_WORKERS];
	uint8_t stall_signalled[SL_MAX_WORKERS];
	unsigned min_active, max_active;
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

static void
backlog_add(struct sl_supervisor *s, struct sl_line_batch *b)
{
	struct sl_backlog *bl = &s->backlog;

	if (bl->count == SL_BACKLOG_MAX) {
		/* Cannot happen (a worker holds at most SL_WORKER_INFLIGHT); never lose lines silently. */
		RTE_LOG(ERR, USER1, "sluiced: supervisor backlog full; waiting for workers\n");
		while (sl_backlog_dispatch(s->rt, s->rt->supervisor_producer, bl) == SL_BACKLOG_MAX)
			rte_delay_us_sleep(1000);
	}
	bl->b[(bl->head + bl->count) % SL_BACKLOG_MAX] = b;
	bl->count++;
}

/* Take back what a dead worker held: free partial results, re-dispatch its line batches. */
static void
salvage(struct sl_supervisor *s, unsigned w)
{
	struct sl_runtime *rt = s->rt;
	struct sl_worker_state *ws = &rt->workers[w];
	uint64_t moved = 0;

	for (unsigned slot = 0; slot < SL_WORKER_INFLIGHT; slot++) {
		struct sl_inflight *inf = &ws->inflight[slot];

		if (!inf->used)
			continue;
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
	/* The worker is dead: we are the only writer of its counter now. Its lines moved away. */
	ws->lines_done += moved;
	ws->crash_slot = ws->crash_line = -1;
}

static void
check_crashes(struct sl_supervisor *s, uint64_t now)
{
	struct sl_runtime *rt = s->rt;

	for (unsigned w = 0; w < rt->n_workers; w++) {
		struct sl_worker_state *ws = &rt->workers[w];

		if (!atomic_load(&ws->crashed) || atomic_load(&ws->running))
			continue;
		if (!s->salvaged[w]) {
			uint32_t backoff;

			salvage(s, w);
			s->salvaged[w] = 1;
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
		if (now >= ws->restart_at_tsc) {
			rte_eal_wait_lcore(ws->lcore_id);   /* it has returned: reap it */
			atomic_store(&ws->crashed, 0);
			s->salvaged[w] = 0;
			ws->restarts++;
			if (rte_eal_remote_launch(sl_worker_main, &s->args[w], ws->lcore_id) != 0) {
				RTE_LOG(ERR, USER1, "sluiced: cannot relaunch worker %u; retrying\n", w);
				atomic_store(&ws->crashed, 1);
				s->salvaged[w] = 1;
				ws->restart_at_tsc = now + s->hz;
			}
		}
	}
}

static void
check_stalls(struct sl_supervisor *s, uint64_t now)
{
	struct sl_runtime *rt = s->rt;
	uint64_t limit = s->hz / 1000 * rt->cfg->stall_ms;

	for (unsigned w = 0; w < rt->n_workers; w++) {
		struct sl_worker_state *ws = &rt->workers[w];
		uint64_t beat = __atomic_load_n(&ws->heartbeat, __ATOMIC_RELAXED);

		if (beat != ws->last_beat || !atomic_load(&ws->busy) || !atomic_load(&ws->running)) {
			ws->last_beat = beat;
			ws->last_beat_tsc = now;
			continue;
		}
		if (now - ws->last_beat_tsc > limit && !s->stall_signalled[w]) {
			RTE_LOG(WARNING, USER1, "sluiced: worker %u stalled in a processor for %u ms; stopping it\n",
				w, rt->cfg->stall_ms);
			s->stall_signalled[w] = 1;
			pthread_kill((pthread_t)ws->pthread, SIGUSR1);
		}
	}
}

static void
autoscale(struct sl_supervisor *s, uint64_t now)
{
	struct sl_runtime *rt = s->rt;
	unsigned n = atomic_load(&rt->n_active);
	uint64_t outstanding = 0, busy = 0, period = s->hz / 1000 * SCALE_PERIOD_MS;

	for (unsigned w = 0; w < rt->n_workers; w++) {
		uint64_t b = __atomic_load_n(&rt->worker_stats[w].busy_cycles, __ATOMIC_RELAXED);

		if (w < n) {
			outstanding += sl_worker_load(rt, w);
			busy += b - s->last_busy[w];
		}
		s->last_busy[w] = b;
	}
	if (s->min_active == s->max_active)
		return;
	/* busy in [0, 1] per active worker over the last period */
	double util = (double)busy / ((double)period * n);
	double per_worker = (double)outstanding / n;

	if ((per_worker > 2.0 * SL_BATCH_LINES || util > 0.75) && n < s->max_active) {
		atomic_store(&rt->n_active, n + 1);
		rt->scale_ups++;
		s->quiet_since = 0;
		RTE_LOG(INFO, USER1, "sluiced: scaling up to %u active workers\n", n + 1);
		return;
	}
	if (per_worker < SL_BATCH_LINES / 4.0 && util < 0.25) {
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
	check_stalls(s, now);
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

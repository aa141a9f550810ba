/*
 * worker.c — the worker lcore loop (see worker.h).
 */
#include <pthread.h>
#include <setjmp.h>
#include <execinfo.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_log.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>
#include <rte_ring.h>

#include "idle.h"
#include "processor.h"
#include "steal.h"
#include "worker.h"

#define WORKER_BURST 8u
#define WORKER_MAX_SLEEP_US 1000u   /* an idle active worker notices work within 1 ms */
#define WORKER_PARK_NS 20000000L    /* a parked worker looks at its rings every 20 ms */
#define WORKER_POLL_MAX 256u
#define CRASH_KILLED 1000           /* siglongjmp value for "told to die" (not a signal) */
#define WORKER_STOP_GRACE_MS 5000u  /* at a stop, pending lines get this long to complete */

/* Armed while this thread runs sl_worker_main: where a fault goes, and the worker's state. */
static __thread sigjmp_buf *tl_jmp;
static __thread struct sl_worker_state *tl_ws;

/* The stack of a fatal signal, then death by that signal (write and backtrace_symbols_fd do not allocate). */
static void
die_loudly(int sig, const char *msg, size_t len)
{
	void *frames[32];
	int n = backtrace(frames, 32);

	if (write(STDERR_FILENO, msg, len) > 0)
		backtrace_symbols_fd(frames, n, STDERR_FILENO);
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * A worker unwinds only from inside a processor call (proc_seq odd):
 * there, nothing of ours is half done — the line's result batch is
 * still private, no ring or pool operation is under way — so the
 * supervisor can take back what the worker held. Anywhere else (finish()
 * handing results on, rte_mempool_get/put, the loop) unwinding would
 * leave shared state torn. So:
 *   - SIGUSR1 (stall) unwinds only inside the very call the supervisor
 *     found stalled (stall_target), and not inside init, which may hold
 *     the allocator's lock. Elsewhere it is late (the call ended) and
 *     is counted and ignored;
 *   - a fault inside a processor call is the processor's: contained;
 *   - a fault in our own code, outside any processor call, is a bug of
 *     sluiced: unwinding would build on corrupted state, so the daemon
 *     dies with a stack instead (and journal recovery takes over).
 */
static void
on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	if (tl_jmp != NULL) {
		uint64_t seq = __atomic_load_n(&tl_ws->proc_seq, __ATOMIC_RELAXED);

		if (sig == SIGUSR1) {
			if (sl_in_call(seq) && seq == __atomic_load_n(&tl_ws->stall_target, __ATOMIC_RELAXED) &&
			    !atomic_load_explicit(&tl_ws->in_init, memory_order_relaxed))
				siglongjmp(*tl_jmp, sig);
			/* only this handler writes it, and SIGUSR1 is blocked while it runs */
			__atomic_store_n(&tl_ws->stall_ignored, tl_ws->stall_ignored + 1, __ATOMIC_RELAXED);
			return;
		}
		if (sl_in_call(seq))
			siglongjmp(*tl_jmp, sig);
		static const char own[] = "sluiced: fatal signal in a worker outside any processor call "
					  "(a bug in sluiced, not in a processor); stack:\n";
		die_loudly(sig, own, sizeof(own) - 1);
		return;
	}
	if (sig == SIGUSR1)
		return; /* a stall signal that raced with the worker leaving: nothing to do */
	/*
	 * Not a worker thread: a bug in sluiced itself. Say where (for the
	 * report; addr2line -e sluiced <offset> names the line), then die as
	 * if we had never installed a handler.
	 */
	static const char msg[] = "sluiced: fatal signal outside a worker; stack:\n";
	die_loudly(sig, msg, sizeof(msg) - 1);
}

void
sl_worker_signals_init(void)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGUSR1 };
	struct sigaction sa;

	void *warm[1];

	backtrace(warm, 1);   /* loads libgcc now: the first call may allocate, not safe in a handler */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

/* What one worker thread keeps for itself (not shared). */
struct worker {
	struct sl_runtime *rt;
	unsigned w;
	struct sl_worker_state *ws;
	struct sl_worker_stats *st;
	void **pstate;                 /* per tenant processor state, made at the tenant's first line */
	uint8_t *pfailed;              /* per tenant: init failed (reported per line) */
	char (*perr)[160];             /* per tenant: why */
	uint16_t *active;              /* tenants with a state, for poll */
	unsigned n_active;
	unsigned n_inflight;
	unsigned pending;              /* lines pending in all in-flight batches */
	int building;                  /* the slot start_batch is filling (never finished under it), or -1 */
	uint64_t next_deadline;        /* no pending line times out before this (CLOCK_MONOTONIC ns) */
	uint64_t timeout_ns;           /* [workers] pending_timeout_ms */
	/* processors that may return PENDING run once per line: their records are staged here, then placed */
	char *stage;                   /* large_cap bytes */
	struct sl_rec_ref *stage_rec;  /* SL_RESULT_RECS */
	char output_text[160];         /* the reason of a line whose output does not fit even a large batch */
	uint32_t fault_stall;          /* tests: [workers] fault_stall_percent */
	uint64_t fault_rng;            /* its xorshift64 state */
};

_Static_assert(SL_BATCH_LINES <= 64, "a line batch's pending lines are a 64-bit mask");

static unsigned poll_pending(struct worker *W);

/* The worker's own tables (processor states are not ours to free here). */
static void
free_tables(struct worker *W)
{
	free(W->pstate);
	free(W->pfailed);
	free(W->perr);
	free(W->active);
	free(W->stage);
	free(W->stage_rec);
}

/* Around every call into a processor (init, process, poll, flush): proc_seq odd inside (steal.h). */
static inline void
proc_enter(struct worker *W)
{
	sl_call_enter(&W->ws->proc_seq);
}

static inline void
proc_leave(struct worker *W)
{
	sl_call_leave(&W->ws->proc_seq);
}

/* Before touching the work rings or a held batch not started: the supervisor may be taking them. */
static inline void
steal_wait(struct worker *W)
{
	sl_steal_wait(&W->ws->steal);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);   /* vDSO: no syscall */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Results are never dropped: wait for persistence when the pool (the
 * ordinary one, or the large one) is empty. Meanwhile serve the
 * completions of this worker's pending lines: the batches they hold may be
 * what the pool is waiting for.
 */
static struct sl_result_batch *
rb_new(struct worker *W, const struct sl_line_batch *lb, uint64_t first_line, bool large)
{
	struct rte_mempool *mp = large ? W->rt->large_pool : W->rt->result_pool;
	void *obj;
	struct sl_result_batch *rb;

	while (rte_mempool_get(mp, &obj) != 0) {
		W->st->result_retries++;
		if (W->pending > 0)
			poll_pending(W);
		rte_delay_us_sleep(50);
	}
	rb = obj;
	rb->data_cap = large ? W->rt->large_cap : SL_RESULT_DATA;
	rb->doc = lb->doc;
	rb->doc_gen = lb->doc_gen;
	rb->tenant = lb->tenant;
	rb->worker = (uint16_t)W->w;
	rb->kind = SL_RB_RESULTS;
	rb->heap = 0;
	rb->n = 0;
	rb->first_line = first_line;
	rb->end_offset = 0;
	rb->end_crc = 0;
	rb->n_recs = 0;
	rb->data_used = 0;
	return rb;
}

static void *
tenant_state(struct worker *W, uint16_t tenant)
{
	const struct sl_processor *p = W->rt->procs[tenant];
	struct sl_proc_env env;

	if (W->pstate[tenant] != NULL || W->pfailed[tenant])
		return W->pstate[tenant];
	memset(&env, 0, sizeof(env));
	env.abi_version = SL_PROC_ABI_VERSION;
	env.worker = W->w;
	env.tenant_index = tenant;
	env.tenant = &W->rt->cfg->tenants[tenant];
	env.cfg = W->rt->cfg;
	env.share_dir = W->rt->cfg->share_dir;
	env.err = W->perr[tenant];
	env.errlen = sizeof(W->perr[tenant]);
	W->perr[tenant][0] = '\0';
	/* init may allocate: a stall signal must not unwind it (the allocator's lock) */
	atomic_store_explicit(&W->ws->in_init, 1, memory_order_relaxed);
	proc_enter(W);
	W->pstate[tenant] = p->init(&env);
	proc_leave(W);
	atomic_store_explicit(&W->ws->in_init, 0, memory_order_relaxed);
	if (W->pstate[tenant] == NULL) {
		W->pfailed[tenant] = 1;
		if (W->perr[tenant][0] == '\0')
			snprintf(W->perr[tenant], sizeof(W->perr[tenant]), "processor %s failed to start", p->name);
	} else {
		W->active[W->n_active++] = tenant;
	}
	return W->pstate[tenant];
}

static void
out_init(struct sl_rec_out *o, struct sl_result_batch *rb)
{
	o->buf = rb->data + rb->data_used;
	o->cap = rb->data_cap - rb->data_used;
	o->used = 0;
	o->n = 0;
	o->max = (uint16_t)(SL_RESULT_RECS - rb->n_recs);
	o->rec = rb->rec + rb->n_recs;
	o->base = rb->data_used;
	o->overflow = 0;
}

/* The staging area: all the room a line may have (for processors that run once per line). */
static void
stage_init(struct worker *W, struct sl_rec_out *o)
{
	o->buf = W->stage;
	o->cap = W->rt->large_cap;
	o->used = 0;
	o->n = 0;
	o->max = SL_RESULT_RECS;
	o->rec = W->stage_rec;
	o->base = 0;
	o->overflow = 0;
}

/*
 * A result batch with more room for line i of the in-flight slot: the
 * current one is replaced if it holds no line yet, else a new one follows
 * it (so every result batch of a line batch holds a line: at most
 * SL_BATCH_LINES of them).
 */
static struct sl_result_batch *
more_room(struct worker *W, struct sl_inflight *inf, const struct sl_line_batch *lb, unsigned i, bool large)
{
	struct sl_result_batch *cur = inf->rb[inf->n_rb - 1];
	struct sl_result_batch *rb = rb_new(W, lb, lb->first_line + i, large);

	if (cur->n == 0) {
		sl_result_batch_free(W->rt->result_pool, cur);
		inf->rb[inf->n_rb - 1] = rb;
	} else {
		inf->rb[inf->n_rb++] = rb;
	}
	if (large)
		W->st->large_results++;
	return rb;
}

static bool
fits(const struct sl_result_batch *rb, uint32_t bytes, unsigned recs)
{
	return bytes <= rb->data_cap - rb->data_used && recs <= SL_RESULT_RECS - rb->n_recs;
}

/*
 * Move a line's staged records into its result batch (a new one, or a
 * large one, if they do not fit the current one). On return o describes
 * them in that batch.
 */
static struct sl_result_batch *
place(struct worker *W, struct sl_inflight *inf, const struct sl_line_batch *lb, unsigned i, struct sl_rec_out *o)
{
	struct sl_result_batch *rb = inf->rb[inf->n_rb - 1];

	if (!fits(rb, o->used, o->n))
		rb = more_room(W, inf, lb, i, o->used > SL_RESULT_DATA);
	memcpy(rb->data + rb->data_used, o->buf, o->used);
	for (unsigned k = 0; k < o->n; k++) {
		rb->rec[rb->n_recs + k] = o->rec[k];
		rb->rec[rb->n_recs + k].off = rb->data_used + (o->rec[k].off - o->base);
	}
	return rb;
}

static void
line_error(struct sl_result *r, struct sl_rec_out *o, uint16_t reason, uint32_t detail, const char *text)
{
	r->status = SL_ST_ERROR;
	r->reason = reason;
	r->detail = detail;
	o->n = 0;
	o->used = 0;
	o->overflow = 0;
	if (text != NULL)
		sl_rec_add(o, SL_STREAM_REASON, text, (uint32_t)strlen(text));
}

/* Run one line through its processor (or quarantine it). Returns the processor's rc. */
static enum sl_proc_rc
run_line(struct worker *W, const struct sl_line_batch *lb, unsigned i, uint64_t cookie,
	 struct sl_result *r, struct sl_rec_out *o)
{
	const struct sl_config *cfg = W->rt->cfg;
	const struct sl_line_ref *l = &lb->line[i];
	struct sl_line_in in = { lb->data + l->off, l->len, l->flags, lb->first_line + i };
	void *state;
	enum sl_proc_rc rc;

	memset(r, 0, sizeof(*r));
	if (l->flags & SL_LINE_QUARANTINE) {
		uint32_t crashes = (l->flags & SL_LINE_CRASH_MASK) >> SL_LINE_CRASH_SHIFT;

		line_error(r, o, SL_R_POISON, crashes, NULL);
		/* the whole line: if it does not fit here, the worker asks again with more room */
		if (sl_rec_add(o, SL_STREAM_DEADLETTER, in.data, in.len) == 0)
			__atomic_fetch_add(&W->rt->quarantined, 1, __ATOMIC_RELAXED);
		return SL_PROC_DONE;
	}
	if (cfg->poison_marker[0] != '\0' && memmem(in.data, in.len, cfg->poison_marker,
						    strlen(cfg->poison_marker)) != NULL) {
		proc_enter(W);  /* the drill: crash exactly like a faulting processor would */
		raise(SIGSEGV);
	}
	state = tenant_state(W, lb->tenant);
	if (state == NULL) {
		line_error(r, o, SL_R_PROCESSOR, 0, W->perr[lb->tenant]);
		return SL_PROC_DONE;
	}
	proc_enter(W);
	rc = W->rt->procs[lb->tenant]->process(state, &in, r, o, cookie);
	proc_leave(W);
	if (r->reason == SL_R_OVERSIZE)
		r->detail = cfg->max_line_bytes;
	return rc;
}

/* Hand a finished line batch's results on, in line order, and free it. */
static void
finish(struct worker *W, unsigned slot)
{
	struct sl_inflight *inf = &W->ws->inflight[slot];
	struct sl_line_batch *lb = inf->lb;
	uint16_t n = lb->n_lines;
	uint64_t ok = 0;

	for (unsigned k = 0; k < inf->n_rb; k++) {
		struct sl_result_batch *rb = inf->rb[k];

		for (uint16_t i = 0; i < rb->n; i++)
			ok += rb->r[i].status == SL_ST_OK;
		while (rte_ring_sp_enqueue(W->rt->results[W->w], rb) != 0) {
			/* Persistence is behind: wait (back-pressure reaches producers via the work rings). */
			W->st->result_retries++;
			rte_delay_us_sleep(50);
		}
	}
	if (unlikely(W->fault_stall != 0)) {
		W->fault_rng ^= W->fault_rng << 13;
		W->fault_rng ^= W->fault_rng >> 7;
		W->fault_rng ^= W->fault_rng << 17;
		/* tests: a stall signal at the worst moment (results handed on, slot not yet free): ignored */
		if (W->fault_rng % 100 < W->fault_stall)
			raise(SIGUSR1);
	}
	W->st->batch_us[sl_lat_bucket((rte_rdtsc() - lb->enq_tsc) * 1000000 / rte_get_tsc_hz())]++;
	W->st->batches++;
	W->st->lines += n;
	W->st->ok += ok;
	W->st->errors += n - ok;
	struct sl_tenant_stats *ts = &sl_tenant_row(W->rt, sl_row_worker(W->rt, W->w))[lb->tenant];

	ts->lines_ok += ok;
	ts->lines_error += n - ok;
	inf->used = 0;
	inf->lb = NULL;
	inf->n_rb = 0;
	W->n_inflight--;
	rte_mempool_put(W->rt->batch_pool, lb);
	__atomic_store_n(&W->ws->lines_done, W->ws->lines_done + n, __ATOMIC_RELEASE);
}

/*
 * Put a dequeued batch in the in-flight table before any line of it runs:
 * if the worker dies on an earlier batch of the same burst, the supervisor
 * still finds this one there.
 */
static unsigned
hold_batch(struct worker *W, struct sl_line_batch *lb)
{
	unsigned slot = 0;
	struct sl_inflight *inf;

	while (W->ws->inflight[slot].used)
		slot++;
	inf = &W->ws->inflight[slot];
	inf->lb = lb;
	inf->pending = 0;
	inf->pending_mask = 0;
	inf->gen++;                    /* cookies of the slot's earlier batches are stale now */
	inf->n_rb = 0;
	inf->started = 0;
	inf->used = 1;
	W->n_inflight++;
	return slot;
}

/* A line's cookie: which slot and line, and which use of the slot (a late cookie is stale). */
static inline uint64_t
cookie_of(const struct sl_inflight *inf, unsigned slot, unsigned i)
{
	return ((uint64_t)inf->gen << 32) | ((uint64_t)slot << 16) | i;
}

static void
start_batch(struct worker *W, unsigned slot)
{
	uint64_t t0 = rte_rdtsc();
	struct sl_inflight *inf = &W->ws->inflight[slot];
	struct sl_line_batch *lb = inf->lb;
	struct sl_result_batch *rb;
	/* a processor that may return PENDING runs once per line: its records are staged */
	bool staged = W->rt->procs[lb->tenant]->poll != NULL;

	W->st->wait_us[sl_lat_bucket((t0 - lb->enq_tsc) * 1000000 / rte_get_tsc_hz())]++;
	W->building = (int)slot;
	inf->deadline_ns = now_ns() + W->timeout_ns;
	inf->started = 1;   /* ours to the end now: the supervisor only takes batches not started */
	inf->rb[0] = rb = rb_new(W, lb, lb->first_line, false);
	inf->n_rb = 1;

	for (unsigned i = 0; i < lb->n_lines;) {
		struct sl_result staged_r, *r = staged ? &staged_r : &rb->r[rb->n];
		struct sl_rec_out o;
		enum sl_proc_rc rc;

		if (i + 1 < lb->n_lines)
			rte_prefetch0(lb->data + lb->line[i + 1].off);
		if (staged)
			stage_init(W, &o);
		else
			out_init(&o, rb);
		W->ws->crash_slot = (int32_t)slot;
		W->ws->crash_line = (int32_t)i;
		rc = run_line(W, lb, i, cookie_of(inf, slot, i), r, &o);
		W->ws->crash_line = -1;
		if (o.overflow && !staged && rc == SL_PROC_DONE && (rb->n > 0 || rb->data_cap < W->rt->large_cap)) {
			/*
			 * The records do not fit here: the same line again with
			 * more room, a fresh batch after the lines before it, and
			 * if it was fresh already, a large one.
			 */
			rb = more_room(W, inf, lb, i, rb->n == 0);
			continue;
		}
		if (o.overflow)
			line_error(r, &o, SL_R_OUTPUT, W->rt->large_cap, W->output_text);
		if (staged) {
			rb = place(W, inf, lb, i, &o);
			rb->r[rb->n] = staged_r;
			r = &rb->r[rb->n];
		}
		r->line = lb->first_line + i;
		r->rec_first = rb->n_recs;
		r->n_recs = (uint8_t)o.n;
		rb->n_recs = (uint16_t)(rb->n_recs + o.n);
		rb->data_used += o.used;
		rb->n++;
		if (rc == SL_PROC_PENDING) {
			inf->pending++;
			inf->pending_mask |= 1ull << i;
			W->pending++;
		}
		i++;
	}
	W->ws->crash_slot = -1;
	W->building = -1;
	/* the last result batch ends where the line batch ends: persistence's resume point */
	rb->end_offset = lb->end_offset;
	rb->end_crc = lb->end_crc;
	W->st->busy_cycles += rte_rdtsc() - t0;
	if (inf->pending == 0)
		finish(W, slot);
	else if (inf->deadline_ns < W->next_deadline)
		W->next_deadline = inf->deadline_ns;
}

/* Line i of a slot is no longer pending; the batch is done when its last one is. */
static void
line_done(struct worker *W, unsigned slot, unsigned i)
{
	struct sl_inflight *inf = &W->ws->inflight[slot];

	inf->pending_mask &= ~(1ull << i);
	inf->pending--;
	W->pending--;
	if (inf->pending == 0 && (int)slot != W->building)
		finish(W, slot);   /* the batch being built is finished by start_batch */
}

/*
 * Lines still pending past their deadline (pending_timeout_ms after their
 * batch started): the processor lost them or is stuck. Each becomes an
 * error (SL_R_TIMEOUT) without its records, so the batch, and the
 * document's later results waiting behind it in persistence, move on. A
 * cookie reported for it afterwards is stale (the slot's gen moved on).
 */
static unsigned
expire_pending(struct worker *W, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	unsigned expired = 0;

	for (unsigned slot = 0; slot < SL_WORKER_INFLIGHT; slot++) {
		struct sl_inflight *inf = &W->ws->inflight[slot];

		if (!inf->used || inf->pending_mask == 0 || (int)slot == W->building)
			continue;
		if (inf->deadline_ns > now) {
			next = RTE_MIN(next, inf->deadline_ns);
			continue;
		}
		/* every pending line of the batch started with it: they all expire now */
		for (unsigned k = 0; k < inf->n_rb; k++) {
			struct sl_result_batch *rb = inf->rb[k];

			for (uint16_t j = 0; j < rb->n; j++) {
				unsigned i = (unsigned)(rb->first_line + j - inf->lb->first_line);
				struct sl_result *r = &rb->r[j];

				if (i >= 64 || !(inf->pending_mask & (1ull << i)))
					continue;
				r->status = SL_ST_ERROR;
				r->reason = SL_R_TIMEOUT;
				r->detail = W->rt->cfg->pending_timeout_ms;
				r->fields = 0;
				r->n_recs = 0;        /* its records stay in the batch, unreferenced */
			}
		}
		unsigned n = (unsigned)__builtin_popcountll(inf->pending_mask);

		W->st->pending_timeouts += n;
		expired += n;
		W->pending -= n;
		inf->pending = 0;
		inf->pending_mask = 0;
		finish(W, slot);
	}
	W->next_deadline = next;
	return expired;
}

/*
 * Completions of long work: finish the batches whose last pending line is
 * done; then time out what is past its deadline.
 */
static unsigned
poll_pending(struct worker *W)
{
	uint64_t cookies[WORKER_POLL_MAX], now = now_ns();
	unsigned total = 0;

	for (unsigned t = 0; t < W->n_active && W->pending > 0; t++) {
		uint16_t tenant = W->active[t];
		const struct sl_processor *p = W->rt->procs[tenant];
		unsigned n;

		if (p->poll == NULL)
			continue;
		proc_enter(W);
		n = p->poll(W->pstate[tenant], now, cookies, WORKER_POLL_MAX);
		proc_leave(W);
		for (unsigned k = 0; k < n; k++) {
			unsigned slot = (unsigned)(cookies[k] >> 16) & 0xffffu, i = (unsigned)cookies[k] & 0xffffu;
			struct sl_inflight *inf = &W->ws->inflight[slot];

			/* never trust a cookie blindly: a timed-out line's, a processor bug */
			if (slot >= SL_WORKER_INFLIGHT || i >= 64 || !inf->used ||
			    inf->gen != (uint32_t)(cookies[k] >> 32) || !(inf->pending_mask & (1ull << i))) {
				W->st->stale_cookies++;
				continue;
			}
			line_done(W, slot, i);
		}
		total += n;
	}
	if (W->pending > 0 && now >= W->next_deadline)
		total += expire_pending(W, now);
	return total;
}

/* Take new batches while there is room in flight; returns how many. */
static unsigned
take(struct worker *W)
{
	struct sl_line_batch *b[WORKER_BURST];
	unsigned total = 0;

	steal_wait(W);
	for (unsigned p = 0; p < W->rt->n_producers; p++) {
		unsigned room = SL_WORKER_INFLIGHT - W->n_inflight;
		unsigned n;

		if (room == 0)
			break;
		unsigned slots[WORKER_BURST];

		n = rte_ring_sc_dequeue_burst(W->rt->work[p][W->w], (void **)b, RTE_MIN(room, WORKER_BURST), NULL);
		for (unsigned i = 0; i < n; i++)
			slots[i] = hold_batch(W, b[i]);
		for (unsigned i = 0; i < n; i++) {
			if (i + 1 < n)
				rte_prefetch0(b[i + 1]);
			if (!W->ws->inflight[slots[i]].used) {
				/* taken back by the supervisor while we were inside a long call */
				W->n_inflight--;
				continue;
			}
			start_batch(W, slots[i]);
			steal_wait(W);   /* before the next held batch or ring: a long call may have just ended */
		}
		total += n;
	}
	return total;
}

static bool
rings_empty(const struct worker *W)
{
	for (unsigned p = 0; p < W->rt->n_producers; p++)
		if (!rte_ring_empty(W->rt->work[p][W->w]))
			return false;
	return true;
}

static void
park(struct worker *W)
{
	struct timespec ts = { 0, WORKER_PARK_NS };

	atomic_store(&W->ws->parked, 1);
	nanosleep(&ts, NULL);
}

int
sl_worker_main(void *arg)
{
	struct sl_worker_arg *a = arg;
	struct sl_runtime *rt = a->rt;
	unsigned n_tenants = rt->cfg->n_tenants;
	struct worker W;
	sigjmp_buf jb;
	struct sl_idle idle;
	stack_t alt;
	static __thread void *alt_stack;
	int sig;

	memset(&W, 0, sizeof(W));
	W.rt = rt;
	W.w = a->index;
	W.ws = &rt->workers[a->index];
	W.st = &rt->worker_stats[a->index];
	W.fault_stall = rt->cfg->fault_stall_percent;
	W.fault_rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)a->index << 32) ^ rte_rdtsc();
	/* The worker's private tables: allocated here, once per (re)start; not on any per-line path. */
	W.pstate = calloc(n_tenants, sizeof(*W.pstate));
	W.pfailed = calloc(n_tenants, 1);
	W.perr = calloc(n_tenants, sizeof(*W.perr));
	W.active = calloc(n_tenants, sizeof(*W.active));
	W.stage = malloc(rt->large_cap);
	W.stage_rec = calloc(SL_RESULT_RECS, sizeof(*W.stage_rec));
	W.building = -1;
	W.next_deadline = UINT64_MAX;
	W.timeout_ns = (uint64_t)rt->cfg->pending_timeout_ms * 1000000u;
	snprintf(W.output_text, sizeof(W.output_text), "the line's output records need more than %u bytes "
		 "(6 x max_line_bytes + 8 KiB) or %u records", rt->large_cap, SL_RESULT_RECS);
	if (alt_stack == NULL)
		alt_stack = malloc(SIGSTKSZ * 4);
	if (W.pstate == NULL || W.pfailed == NULL || W.perr == NULL || W.active == NULL || alt_stack == NULL ||
	    W.stage == NULL || W.stage_rec == NULL) {
		free_tables(&W);
		atomic_store(&W.ws->crashed, 1);
		return -1;
	}
	alt.ss_sp = alt_stack;
	alt.ss_size = SIGSTKSZ * 4;
	alt.ss_flags = 0;
	sigaltstack(&alt, NULL);   /* a stack overflow in a processor still reaches the handler */

	W.ws->pthread = (uint64_t)pthread_self();
	W.ws->crash_slot = W.ws->crash_line = -1;
	memset(W.ws->inflight, 0, sizeof(W.ws->inflight));
	sl_idle_init(&idle, rt->cfg->idle, WORKER_MAX_SLEEP_US);

	sig = sigsetjmp(jb, 1);
	if (sig != 0) {
		/* Died: leave everything in flight where the supervisor finds it. */
		tl_jmp = NULL;
		atomic_signal_fence(memory_order_seq_cst);
		tl_ws = NULL;
		/* out of the call it died in (even again, a value no stall signal targets) */
		__atomic_store_n(&W.ws->proc_seq, (W.ws->proc_seq | 1) + 1, __ATOMIC_RELEASE);
		atomic_store(&W.ws->in_init, 0);
		atomic_store(&W.ws->crashed, 1);
		atomic_store(&W.ws->running, 0);
		/* Processor states may be corrupt: drop them without calling into them. */
		free_tables(&W);
		return -1;
	}
	tl_ws = W.ws;
	atomic_signal_fence(memory_order_seq_cst);   /* the handler reads tl_ws once tl_jmp is set */
	tl_jmp = &jb;
	atomic_store(&W.ws->parked, 0);
	atomic_store(&W.ws->running, 1);

	while (!atomic_load_explicit(&rt->stop_workers, memory_order_relaxed)) {
		unsigned n = 0;

		W.st->polls++;
		W.st->heartbeat++;
		__atomic_store_n(&W.ws->heartbeat, W.st->heartbeat, __ATOMIC_RELAXED);
		if (atomic_exchange(&W.ws->kill_requested, 0))
			siglongjmp(jb, CRASH_KILLED);
		if (W.w >= atomic_load_explicit(&rt->n_active, memory_order_relaxed) && W.n_inflight == 0 &&
		    rings_empty(&W)) {
			park(&W);
			continue;
		}
		atomic_store_explicit(&W.ws->parked, 0, memory_order_relaxed);
		if (W.n_inflight < SL_WORKER_INFLIGHT)
			n = take(&W);
		if (W.pending > 0)
			n += poll_pending(&W);
		if (n > 0) {
			W.st->busy_polls++;
			sl_idle_reset(&idle);
		} else {
			if (idle.empty == 0)
				for (unsigned t = 0; t < W.n_active; t++)
					if (rt->procs[W.active[t]]->flush != NULL) {
						proc_enter(&W);
						rt->procs[W.active[t]]->flush(W.pstate[W.active[t]]);
						proc_leave(&W);
					}
			sl_idle_wait(&idle);
		}
	}
	/*
	 * Producers have stopped: finish what is queued or in flight so it is
	 * persisted and ACKed. Long work still pending after a grace period is
	 * left as a crash would leave it: not durable, not ACKed, sent again
	 * by its sender when it resumes after the restart.
	 */
	uint64_t grace_end = now_ns() + (uint64_t)WORKER_STOP_GRACE_MS * 1000000u;
	while (!rings_empty(&W) || W.n_inflight > 0) {
		if (take(&W) == 0 && poll_pending(&W) == 0) {
			if (rings_empty(&W) && now_ns() >= grace_end) {
				RTE_LOG(WARNING, USER1, "sluiced: worker %u: %u lines still pending %u ms after the stop: "
					"left unacknowledged (their senders resume them after the restart)\n", W.w,
					W.pending, WORKER_STOP_GRACE_MS);
				break;
			}
			rte_delay_us_sleep(100);
		}
	}
	tl_jmp = NULL;
	atomic_signal_fence(memory_order_seq_cst);
	tl_ws = NULL;
	for (unsigned t = 0; t < W.n_active; t++)
		if (rt->procs[W.active[t]]->fini != NULL)
			rt->procs[W.active[t]]->fini(W.pstate[W.active[t]]);
	free_tables(&W);
	atomic_store(&W.ws->running, 0);
	return 0;
}

/*
 * proc_simulate.c — the built-in "simulate" processor: long work without
 * doing any, to exercise dispatch, in-flight limits and supervision.
 *
 * Each line's work time is drawn from a normal distribution with mean
 * (min + max) / 2 and standard deviation (max - min) / 6, clamped to
 * [min, max] (simulate_ms = MIN,MAX; 50 and 500 when unset): about 0.3 %
 * of the draws land on a bound. process() fills the line's result at
 * once (ok, detail = the drawn milliseconds, fields 0, and "N ms" as the
 * line's reason record: the results file shows it as the ok line's
 * detail), files the line's cookie under its due time in a min-heap and
 * returns SL_PROC_PENDING; poll() hands back every cookie whose time has
 * come. Nothing sleeps: a worker holds thousands of such lines at once
 * and keeps serving short work meanwhile.
 *
 * Time: now_ns given to poll() and the clock process() reads are both
 * CLOCK_MONOTONIC in nanoseconds (clock_gettime on Linux is a vDSO call,
 * no syscall).
 *
 * Random numbers: xorshift128+ seeded per (worker, tenant) with
 * splitmix64, so a run is reproducible; normal draws by Box-Muller (two
 * per pair of uniforms, the second kept for the next line).
 *
 * The heap holds SIM_PENDING_MAX lines per (worker, tenant), allocated at
 * init. When it is full, process() returns SL_PROC_DONE at once, as if
 * the work had been done inline in no time, and counts it (overflowed):
 * the line is never lost or delayed, only its simulated time is.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "processor.h"
#include "split.h"

#define SIM_PENDING_MAX 65536u
#define SIM_DEFAULT_MIN_MS 50u
#define SIM_DEFAULT_MAX_MS 500u

struct sim_pending {
	uint64_t due_ns;
	uint64_t cookie;
};

struct sim_state {
	uint64_t rng[2];                  /* xorshift128+ */
	double spare;                     /* second Box-Muller draw */
	bool have_spare;
	double min_ms, max_ms, mean_ms, sd_ms;
	bool spin;                        /* simulate_mode = spin: occupy the worker for the time */
	bool pareto;                      /* simulate_dist = pareto: heavy tail from min */
	uint32_t max_line;
	uint64_t overflowed;              /* lines done inline: the heap was full */
	uint32_t n;                       /* pending lines in heap[] */
	struct sim_pending heap[SIM_PENDING_MAX];   /* min-heap by due_ns */
};

static inline uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- random numbers ---------------------------------------------------- */

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint64_t
xorshift128p(uint64_t s[2])
{
	uint64_t a = s[0];
	const uint64_t b = s[1];

	s[0] = b;
	a ^= a << 23;
	s[1] = a ^ b ^ (a >> 17) ^ (b >> 26);
	return s[1] + b;
}

/* Uniform in (0, 1]: never 0, so log() below stays finite. */
static inline double
uniform_open0(uint64_t s[2])
{
	return (double)((xorshift128p(s) >> 11) + 1) * 0x1.0p-53;
}

/* One standard normal draw. */
static double
normal(struct sim_state *st)
{
	if (st->have_spare) {
		st->have_spare = false;
		return st->spare;
	}
	double r = sqrt(-2.0 * log(uniform_open0(st->rng)));
	double theta = 2.0 * M_PI * uniform_open0(st->rng);

	st->spare = r * sin(theta);
	st->have_spare = true;
	return r * cos(theta);
}

#define PARETO_ALPHA 1.5   /* infinite variance, finite mean (3x min): the classic heavy tail */

static double
draw_ms(struct sim_state *st)
{
	double ms = st->pareto ? st->min_ms / pow(uniform_open0(st->rng), 1.0 / PARETO_ALPHA)
			       : st->mean_ms + st->sd_ms * normal(st);

	if (ms < st->min_ms)
		ms = st->min_ms;
	if (ms > st->max_ms)
		ms = st->max_ms;
	return ms;
}

/* ---- the heap of pending lines ----------------------------------------- */

static void
heap_push(struct sim_state *st, uint64_t due_ns, uint64_t cookie)
{
	uint32_t i = st->n++;

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (st->heap[parent].due_ns <= due_ns)
			break;
		st->heap[i] = st->heap[parent];
		i = parent;
	}
	st->heap[i].due_ns = due_ns;
	st->heap[i].cookie = cookie;
}

static uint64_t
heap_pop(struct sim_state *st)
{
	uint64_t cookie = st->heap[0].cookie;
	struct sim_pending last = st->heap[--st->n];
	uint32_t i = 0;

	for (;;) {
		uint32_t child = 2 * i + 1;

		if (child >= st->n)
			break;
		if (child + 1 < st->n && st->heap[child + 1].due_ns < st->heap[child].due_ns)
			child++;
		if (last.due_ns <= st->heap[child].due_ns)
			break;
		st->heap[i] = st->heap[child];
		i = child;
	}
	if (st->n > 0)
		st->heap[i] = last;
	return cookie;
}

/* ---- the processor ----------------------------------------------------- */

/* The drawn time as the line's note ("312 ms"): the results file shows it as the ok line's detail. */
static void
note_ms(struct sl_rec_out *out, uint32_t ms)
{
	char text[16], digits[10];
	unsigned n = 0, k = 0;

	if (out == NULL)
		return;
	do {
		digits[n++] = (char)('0' + ms % 10);
		ms /= 10;
	} while (ms != 0);
	while (n > 0)
		text[k++] = digits[--n];
	memcpy(text + k, " ms", 3);
	sl_rec_add(out, SL_STREAM_REASON, text, k + 3);
}

static void *
sim_init(const struct sl_proc_env *env)
{
	const struct sl_tenant_conf *t = env->tenant;
	uint32_t lo = t->simulate_min_ms != 0 ? t->simulate_min_ms : SIM_DEFAULT_MIN_MS;
	uint32_t hi = t->simulate_max_ms != 0 ? t->simulate_max_ms : SIM_DEFAULT_MAX_MS;
	struct sim_state *st;
	uint64_t seed;

	if (lo > hi) {
		snprintf(env->err, env->errlen, "tenant %s: simulate work time minimum %u ms is above "
			 "its maximum %u ms: set simulate_ms = MIN,MAX with MIN <= MAX", t->name, lo, hi);
		return NULL;
	}
	/*
	 * ~1 MiB, malloc'd rather than from hugepages: the worker thread is
	 * the first to touch the heap, so its pages land on its own node.
	 */
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		snprintf(env->err, env->errlen, "tenant %s: out of memory for the simulate state of "
			 "worker %u (%zu bytes)", t->name, env->worker, sizeof(*st));
		return NULL;
	}
	st->min_ms = lo;
	st->max_ms = hi;
	st->mean_ms = ((double)lo + (double)hi) / 2.0;
	st->sd_ms = ((double)hi - (double)lo) / 6.0;
	st->spin = t->simulate_spin != 0;
	st->pareto = t->simulate_pareto != 0;
	st->max_line = env->cfg != NULL ? env->cfg->max_line_bytes : 0;
	seed = ((uint64_t)env->worker << 32) ^ env->tenant_index ^ 0x5eed5eedull;
	st->rng[0] = splitmix64(&seed);
	st->rng[1] = splitmix64(&seed);
	return st;
}

static enum sl_proc_rc
sim_process(void *state, const struct sl_line_in *in, struct sl_result *res,
	    struct sl_rec_out *out, uint64_t cookie)
{
	struct sim_state *st = state;
	double ms;

	res->fields = 0;
	if (in->flags & SL_LINE_OVERSIZE) {
		/* the line never arrived whole: no work to simulate */
		res->status = SL_ST_ERROR;
		res->reason = SL_R_OVERSIZE;
		res->detail = st->max_line;
		return SL_PROC_DONE;
	}
	ms = draw_ms(st);
	res->status = SL_ST_OK;
	res->reason = SL_R_NONE;
	res->detail = (uint32_t)lround(ms);
	note_ms(out, res->detail);
	if (st->spin) {
		/* CPU-bound work: the worker is busy for the whole time (benchmarks of dispatch). */
		uint64_t end = mono_ns() + (uint64_t)(ms * 1e6);

		while (mono_ns() < end)
			;
		return SL_PROC_DONE;
	}
	if (st->n == SIM_PENDING_MAX) {
		st->overflowed++;
		return SL_PROC_DONE;
	}
	heap_push(st, mono_ns() + (uint64_t)(ms * 1e6), cookie);
	return SL_PROC_PENDING;
}

static unsigned
sim_poll(void *state, uint64_t now_ns, uint64_t *cookies, unsigned max)
{
	struct sim_state *st = state;
	unsigned n = 0;

	while (n < max && st->n > 0 && st->heap[0].due_ns <= now_ns)
		cookies[n++] = heap_pop(st);
	return n;
}

static void
sim_fini(void *state)
{
	free(state);
}

const struct sl_processor sl_proc_simulate = {
	.abi_version = SL_PROC_ABI_VERSION,
	.name = "simulate",
	.streams = { NULL },
	.init = sim_init,
	.process = sim_process,
	.poll = sim_poll,
	.flush = NULL,
	.fini = sim_fini,
};

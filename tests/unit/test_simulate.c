/*
 * test_simulate.c — unit tests for the "simulate" processor
 * (dataplane/proc_simulate.c): pending lines, due times, the drawn
 * distribution and its clamping, the full heap, and the init checks.
 *
 * No EAL: the processor uses plain memory and CLOCK_MONOTONIC, and poll()
 * takes the time as an argument, so the test moves time by hand.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataplane/processor.h"
#include "dataplane/split.h"

static int failures, passes;

#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		failures++; \
		printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
		printf(__VA_ARGS__); \
		printf("\n"); \
		return; \
	} \
} while (0)

#define MS 1000000ull

static struct sl_config cfg;
static struct sl_tenant_conf tenant;
static char err[256];

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A simulate state for worker; spin and pareto as simulate_mode = spin, simulate_dist = pareto. */
static void *make_mode(uint32_t min_ms, uint32_t max_ms, unsigned worker, int spin, int pareto)
{
	struct sl_proc_env env;

	memset(&tenant, 0, sizeof(tenant));
	snprintf(tenant.name, sizeof(tenant.name), "sim");
	tenant.simulate_min_ms = min_ms;
	tenant.simulate_max_ms = max_ms;
	tenant.simulate_spin = (uint8_t)spin;
	tenant.simulate_pareto = (uint8_t)pareto;
	cfg.max_line_bytes = 16384;
	memset(&env, 0, sizeof(env));
	env.abi_version = SL_PROC_ABI_VERSION;
	env.worker = worker;
	env.tenant = &tenant;
	env.cfg = &cfg;
	env.err = err;
	env.errlen = sizeof(err);
	err[0] = '\0';
	return sl_proc_simulate.init(&env);
}

static void *make(uint32_t min_ms, uint32_t max_ms, unsigned worker)
{
	return make_mode(min_ms, max_ms, worker, 0, 0);
}

static enum sl_proc_rc push(void *st, uint64_t line, uint32_t flags, struct sl_result *r)
{
	struct sl_line_in in = { .data = "x,y", .len = 3, .flags = flags, .line = line };

	memset(r, 0xa5, sizeof(*r));
	return sl_proc_simulate.process(st, &in, r, NULL, line);
}

#define N_LINES 10000u

/* 10000 lines at once: due between min and max, each cookie exactly once, mean and clamps. */
static void test_many_in_flight(void)
{
	static uint8_t seen[N_LINES + 1];
	static uint64_t cookies[N_LINES + 16];
	void *st = make(50, 500, 0);
	struct sl_result r;
	double sum = 0;
	uint32_t lo = UINT32_MAX, hi = 0, at_min = 0, at_max = 0;

	CHECK(st != NULL, "init failed: %s", err);
	CHECK(sl_proc_simulate.poll != NULL && sl_proc_simulate.streams[0] == NULL, "table");

	uint64_t t0 = mono_ns();
	for (uint64_t i = 1; i <= N_LINES; i++) {
		enum sl_proc_rc rc = push(st, i, 0, &r);

		CHECK(rc == SL_PROC_PENDING, "line %llu not pending (%d)", (unsigned long long)i, rc);
		CHECK(r.status == SL_ST_OK && r.reason == SL_R_NONE && r.fields == 0,
		      "line %llu: status %u reason %u fields %u", (unsigned long long)i, r.status,
		      r.reason, r.fields);
		CHECK(r.detail >= 50 && r.detail <= 500, "drawn %u ms outside [50, 500]", r.detail);
		sum += r.detail;
		lo = r.detail < lo ? r.detail : lo;
		hi = r.detail > hi ? r.detail : hi;
		at_min += r.detail == 50;
		at_max += r.detail == 500;
	}
	uint64_t t1 = mono_ns();

	/* Nothing is due before the minimum work time. */
	unsigned n = sl_proc_simulate.poll(st, t0 + 50 * MS - 1, cookies, N_LINES);
	CHECK(n == 0, "%u lines due before 50 ms", n);

	/* Walk time forward in 10 ms steps; collect everything by max. */
	unsigned got = 0;
	for (uint64_t t = t0; t <= t1 + 500 * MS; t += 10 * MS) {
		unsigned k = sl_proc_simulate.poll(st, t, cookies, 100);   /* small max: several calls */

		while (k > 0) {
			for (unsigned j = 0; j < k; j++) {
				CHECK(cookies[j] >= 1 && cookies[j] <= N_LINES, "bad cookie %llu",
				      (unsigned long long)cookies[j]);
				CHECK(seen[cookies[j]] == 0, "cookie %llu twice",
				      (unsigned long long)cookies[j]);
				seen[cookies[j]] = 1;
			}
			got += k;
			k = sl_proc_simulate.poll(st, t, cookies, 100);
		}
	}
	got += sl_proc_simulate.poll(st, t1 + 500 * MS, cookies, N_LINES);
	CHECK(got == N_LINES, "%u of %u lines due by 500 ms", got, N_LINES);
	CHECK(sl_proc_simulate.poll(st, UINT64_MAX, cookies, N_LINES) == 0, "extra cookies");

	double mean = sum / N_LINES;
	CHECK(mean > 275 * 0.95 && mean < 275 * 1.05, "mean %.1f ms, want 275 +- 5 %%", mean);
	/* sd 75 ms: 10000 draws reach near both 3-sigma clamps, rarely past them */
	CHECK(lo < 100 && hi > 450, "range [%u, %u] too narrow for sd 75 ms", lo, hi);
	CHECK(at_min + at_max < 100, "%u draws clamped: expected ~0.3 %%", at_min + at_max);
	printf("ok   many in flight (mean %.1f ms, range %u..%u, %u clamped)\n", mean, lo, hi,
	       at_min + at_max);
	passes++;
	sl_proc_simulate.fini(st);
}

/* Due order: a line due earlier comes out first, whatever order it went in. */
static void test_due_order(void)
{
	void *st = make(1, 3600000, 1);
	struct sl_result r;
	uint64_t due[200], cookies[4];
	uint64_t t0 = mono_ns();

	CHECK(st != NULL, "init: %s", err);
	for (uint64_t i = 0; i < 200; i++) {
		CHECK(push(st, i, 0, &r) == SL_PROC_PENDING, "pending");
		due[i] = r.detail;
	}
	uint64_t t1 = mono_ns();
	uint64_t last = 0;
	for (unsigned k = 0; k < 200; k++) {
		unsigned n = sl_proc_simulate.poll(st, UINT64_MAX - 1, cookies, 1);

		CHECK(n == 1, "poll %u gave %u", k, n);
		CHECK(due[cookies[0]] + 1 >= last, "cookie %llu (%llu ms) after one of %llu ms",
		      (unsigned long long)cookies[0], (unsigned long long)due[cookies[0]],
		      (unsigned long long)last);
		last = due[cookies[0]];
	}
	CHECK(t1 - t0 < 1000 * MS, "pushing 200 lines took %llu ns (must not sleep)",
	      (unsigned long long)(t1 - t0));
	printf("ok   due order\n");
	passes++;
	sl_proc_simulate.fini(st);
}

/* min == max: every line takes exactly that; defaults when unset. */
static void test_fixed_and_defaults(void)
{
	struct sl_result r;
	void *st = make(120, 120, 0);

	CHECK(st != NULL, "init: %s", err);
	for (int i = 0; i < 100; i++) {
		push(st, (uint64_t)i, 0, &r);
		CHECK(r.detail == 120, "fixed 120 ms drew %u", r.detail);
	}
	sl_proc_simulate.fini(st);

	st = make(0, 0, 0);
	CHECK(st != NULL, "init with defaults: %s", err);
	for (int i = 0; i < 1000; i++) {
		push(st, (uint64_t)i, 0, &r);
		CHECK(r.detail >= 50 && r.detail <= 500, "default range drew %u", r.detail);
	}
	sl_proc_simulate.fini(st);
	printf("ok   fixed time and defaults\n");
	passes++;
}

/* Two workers draw different sequences; one worker is reproducible. */
static void test_seeds(void)
{
	struct sl_result r;
	uint32_t a[20], b[20], c[20];
	void *s0 = make(1, 1000, 0), *s1 = make(1, 1000, 1), *s2 = make(1, 1000, 0);

	CHECK(s0 != NULL && s1 != NULL && s2 != NULL, "init: %s", err);
	for (int i = 0; i < 20; i++) {
		push(s0, (uint64_t)i, 0, &r);
		a[i] = r.detail;
		push(s1, (uint64_t)i, 0, &r);
		b[i] = r.detail;
		push(s2, (uint64_t)i, 0, &r);
		c[i] = r.detail;
	}
	CHECK(memcmp(a, b, sizeof(a)) != 0, "workers 0 and 1 drew the same times");
	CHECK(memcmp(a, c, sizeof(a)) == 0, "worker 0 is not reproducible");
	sl_proc_simulate.fini(s0);
	sl_proc_simulate.fini(s1);
	sl_proc_simulate.fini(s2);
	printf("ok   per-worker seeds\n");
	passes++;
}

/* A full heap: the next line is done inline (DONE), nothing is lost. */
static void test_full(void)
{
	void *st = make(50, 500, 0);
	struct sl_result r;
	static uint64_t cookies[70000];
	unsigned pending = 0;

	CHECK(st != NULL, "init: %s", err);
	for (uint64_t i = 0; i < 65536; i++)
		pending += push(st, i, 0, &r) == SL_PROC_PENDING;
	CHECK(pending == 65536, "only %u of 65536 pending", pending);
	CHECK(push(st, 65536, 0, &r) == SL_PROC_DONE, "line past a full heap is not done inline");
	CHECK(r.status == SL_ST_OK && r.detail >= 50 && r.detail <= 500, "inline result");
	CHECK(sl_proc_simulate.poll(st, UINT64_MAX, cookies, 70000) == 65536, "heap drains");
	CHECK(push(st, 65537, 0, &r) == SL_PROC_PENDING, "room again after the drain");
	sl_proc_simulate.fini(st);
	printf("ok   full heap\n");
	passes++;
}

/* The output area of one line, as the worker sets it up (worker.c out_init) over batch rb. */
static void out_over(struct sl_rec_out *o, struct sl_result_batch *rb)
{
	memset(o, 0, sizeof(*o));
	o->buf = rb->data;
	o->cap = SL_RESULT_DATA;
	o->max = SL_RESULT_RECS;
	o->rec = rb->rec;
}

/*
 * The drawn time is the line's note: one SL_STREAM_REASON record "N ms",
 * N = detail, which persistence writes as the ok line's detail (operations.md,
 * "simulate"). In every mode and distribution; an oversize line has none.
 */
static void test_note(void)
{
	static struct sl_result_batch rb;
	static const struct { uint32_t lo, hi; int spin, pareto; } cases[] = {
		{ 1, 3600000, 0, 0 }, { 50, 500, 0, 1 }, { 1, 2, 1, 0 }, { 1, 2, 1, 1 },
	};
	static uint64_t cookies[64];
	unsigned notes = 0;

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		void *st = make_mode(cases[c].lo, cases[c].hi, 2, cases[c].spin, cases[c].pareto);

		CHECK(st != NULL, "init: %s", err);
		for (uint64_t i = 1; i <= 20; i++) {
			struct sl_line_in in = { .data = "x", .len = 1, .flags = 0, .line = i };
			struct sl_result r;
			struct sl_rec_out o;
			char want[32];

			memset(&r, 0, sizeof(r));
			out_over(&o, &rb);
			sl_proc_simulate.process(st, &in, &r, &o, i);
			CHECK(r.status == SL_ST_OK && r.detail >= cases[c].lo && r.detail <= cases[c].hi,
			      "case %zu line %llu: status %u detail %u", c, (unsigned long long)i, r.status,
			      r.detail);
			CHECK(o.n == 1 && o.rec[0].stream == SL_STREAM_REASON && o.overflow == 0,
			      "case %zu line %llu: %u records (want the one note)", c, (unsigned long long)i, o.n);
			snprintf(want, sizeof(want), "%u ms", (unsigned)r.detail);
			CHECK(o.rec[0].len == strlen(want) && memcmp(rb.data + o.rec[0].off, want, o.rec[0].len) == 0,
			      "case %zu line %llu: note '%.*s', want '%s'", c, (unsigned long long)i,
			      (int)o.rec[0].len, rb.data + o.rec[0].off, want);
			notes++;
		}
		sl_proc_simulate.poll(st, UINT64_MAX, cookies, 64);
		sl_proc_simulate.fini(st);
	}

	/* oversize: an error, and no note */
	void *st = make(50, 500, 0);
	struct sl_line_in in = { .data = "", .len = 0, .flags = SL_LINE_OVERSIZE, .line = 1 };
	struct sl_result r;
	struct sl_rec_out o;

	CHECK(st != NULL, "init: %s", err);
	out_over(&o, &rb);
	sl_proc_simulate.process(st, &in, &r, &o, 1);
	CHECK(r.status == SL_ST_ERROR && o.n == 0, "oversize: status %u, %u records", r.status, o.n);
	sl_proc_simulate.fini(st);
	printf("ok   the drawn time is the line's note (%u lines, timer/spin, normal/pareto)\n", notes);
	passes++;
}

/* Rejections: an oversize line is an error, done at once; min above max refuses init. */
static void test_rejections(void)
{
	struct sl_result r;
	void *st = make(50, 500, 0);

	CHECK(st != NULL, "init: %s", err);
	CHECK(push(st, 1, SL_LINE_OVERSIZE, &r) == SL_PROC_DONE, "oversize pending");
	CHECK(r.status == SL_ST_ERROR && r.reason == SL_R_OVERSIZE && r.detail == 16384,
	      "oversize: status %u reason %u detail %u", r.status, r.reason, r.detail);
	sl_proc_simulate.fini(st);

	st = make(600, 500, 0);
	CHECK(st == NULL, "min 600 > max 500 accepted");
	CHECK(strstr(err, "600") != NULL && strstr(err, "simulate_ms") != NULL,
	      "message does not name the values and the key: %s", err);
	printf("ok   rejections (%s)\n", err);
	passes++;
}

int main(void)
{
	test_many_in_flight();
	test_due_order();
	test_fixed_and_defaults();
	test_seeds();
	test_full();
	test_rejections();
	test_note();
	printf("%d passed, %d failed\n", passes, failures);
	return failures == 0 ? 0 : 1;
}

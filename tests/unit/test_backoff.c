/*
 * test_backoff.c — control/backoff.h: the wait between retries grows.
 *
 * sl_alloc_retry is the loop persistence uses when memory runs out (the
 * checkpoint's list of files, the results of lines given up): the test
 * gives it an allocator that fails a number of times and records each
 * wait it asks for. They must double from the first and stop at the cap;
 * a delay that started over at every failure (the bug that was in
 * sync_result_files) would ask for the first wait every time.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "control/backoff.h"
#include "check.h"

#define MS 1000000ull

static unsigned fail_left, calls;
static uint64_t waits[64];
static unsigned n_waits;
static char memory[64];

static void *flaky_alloc(size_t n, size_t size)
{
	calls++;
	if (n * size > sizeof(memory))
		return NULL;
	if (fail_left > 0) {
		fail_left--;
		return NULL;
	}
	return memory;
}

static void record_wait(void *ctx, uint64_t ns)
{
	(*(unsigned *)ctx)++;
	if (n_waits < 64)
		waits[n_waits++] = ns;
}

static void test_next(void)
{
	uint64_t d = 1 * MS;
	static const uint64_t want[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 1000, 1000 };

	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		uint64_t got = sl_backoff_next(&d, 1000 * MS);
		CHECKF(got == want[i] * MS, "wait %u: %llu ms, want %llu", i, (unsigned long long)(got / MS),
		       (unsigned long long)want[i]);
	}
	/* a first delay above the cap is the cap */
	d = 5000 * MS;
	CHECKF(sl_backoff_next(&d, 1000 * MS) == 1000 * MS && d == 1000 * MS, "start above the cap");
	/* no overflow near the top of the range */
	d = UINT64_MAX - 1;
	CHECKF(sl_backoff_next(&d, UINT64_MAX) == UINT64_MAX - 1 && d == UINT64_MAX, "near UINT64_MAX");
}

static void test_alloc_retry_grows(void)
{
	unsigned ctx = 0;
	static const uint64_t want[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 1000 };
	unsigned n = sizeof(want) / sizeof(want[0]);

	fail_left = n;
	calls = 0;
	n_waits = 0;
	void *v = sl_alloc_retry(flaky_alloc, 4, 8, record_wait, &ctx, 1 * MS, 1000 * MS);
	CHECKF(v == memory, "the memory once the allocator gives it");
	CHECKF(calls == n + 1 && ctx == n && n_waits == n, "%u calls, %u waits for %u failures", calls, ctx, n);
	for (unsigned i = 0; i < n; i++)
		CHECKF(waits[i] == want[i] * MS, "wait %u after failure %u: %llu ms, want %llu ms (the delay must "
		      "grow across the failures of one allocation)", i, i + 1,
		      (unsigned long long)(waits[i] / MS), (unsigned long long)want[i]);
}

static void test_alloc_retry_at_once(void)
{
	unsigned ctx = 0;

	fail_left = 0;
	calls = 0;
	n_waits = 0;
	CHECKF(sl_alloc_retry(flaky_alloc, 1, 1, record_wait, &ctx, 1 * MS, 1000 * MS) == memory &&
	      calls == 1 && ctx == 0, "no wait when the first call succeeds");

	/* each call starts over at the first delay: a new allocation is a new episode */
	fail_left = 2;
	n_waits = 0;
	sl_alloc_retry(flaky_alloc, 1, 1, record_wait, &ctx, 1 * MS, 1000 * MS);
	CHECKF(n_waits == 2 && waits[0] == 1 * MS && waits[1] == 2 * MS, "second call: %u waits", n_waits);
}

int main(void)
{
	test_next();
	report("the delay doubles from the first and stops at the cap");
	test_alloc_retry_grows();
	report("sl_alloc_retry's waits grow across the failures of one allocation");
	test_alloc_retry_at_once();
	report("sl_alloc_retry: no wait on success; each call starts over");
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}

/*
 * backoff.h — waiting between retries of something that failed (a write,
 * a sync, an allocation): the first wait is short, each next one twice
 * as long, up to a cap.
 *
 * The delay lives in the caller, made once before its retry loop: made
 * inside the loop, it would start over at every failure and never grow
 * (which sync_result_files in persist.c once did). sl_alloc_retry holds
 * that loop for allocations, so no caller has to get it right again.
 * Pure: no DPDK, no threads; tests/unit/test_backoff.c checks it.
 */
#ifndef SLUICE_BACKOFF_H
#define SLUICE_BACKOFF_H

#include <stddef.h>
#include <stdint.h>

/* The delay to wait now; *delay becomes the next one (doubled, at most max_ns). */
static inline uint64_t
sl_backoff_next(uint64_t *delay, uint64_t max_ns)
{
	uint64_t now = *delay < max_ns ? *delay : max_ns;

	*delay = now > max_ns / 2 ? max_ns : now * 2;
	return now;
}

/*
 * alloc(n, size) until it gives memory; after each failure wait(ctx, ns)
 * with ns from min_ns, doubling, at most max_ns. Never gives up: the
 * callers (persistence) must not drop what they hold.
 */
static inline void *
sl_alloc_retry(void *(*alloc)(size_t n, size_t size), size_t n, size_t size,
	       void (*wait)(void *ctx, uint64_t ns), void *ctx, uint64_t min_ns, uint64_t max_ns)
{
	uint64_t delay = min_ns;   /* once per call: it grows across the attempts */
	void *v;

	while ((v = alloc(n, size)) == NULL)
		wait(ctx, sl_backoff_next(&delay, max_ns));
	return v;
}

#endif

/*
 * perf_hist.c — the log-linear histogram of perf_hist.h.
 *
 * Index of v: below 2 * SUB every value is its own bucket; above, with
 * m the position of v's highest bit, the bucket is the top SUB_BITS + 1
 * bits of v, i.e. the power of two (m) and one of SUB linear steps in it.
 */
#include "perf_hist.h"

#include <string.h>

static unsigned bucket_of(uint64_t v)
{
	if (v < 2 * PERF_HIST_SUB)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	if (msb > PERF_HIST_MAX_BITS)
		return PERF_HIST_BUCKETS - 1;
	unsigned shift = msb - PERF_HIST_SUB_BITS;
	unsigned i = (shift + 1) * PERF_HIST_SUB + (unsigned)((v >> shift) - PERF_HIST_SUB);
	return i < PERF_HIST_BUCKETS ? i : PERF_HIST_BUCKETS - 1;
}

void perf_hist_bounds(unsigned i, uint64_t *lo, uint64_t *hi)
{
	if (i < 2 * PERF_HIST_SUB) {
		*lo = i;
		*hi = i + 1;
		return;
	}
	unsigned shift = i / PERF_HIST_SUB - 1;
	uint64_t sub = i % PERF_HIST_SUB;
	*lo = (PERF_HIST_SUB + sub) << shift;
	*hi = *lo + (1ull << shift);
}

void perf_hist_init(struct perf_hist *h)
{
	memset(h, 0, sizeof *h);
	h->min = UINT64_MAX;
}

void perf_hist_add(struct perf_hist *h, uint64_t ns)
{
	h->b[bucket_of(ns)]++;
	h->count++;
	h->sum += (double)ns;
	if (ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
}

void perf_hist_merge(struct perf_hist *into, const struct perf_hist *from)
{
	for (unsigned i = 0; i < PERF_HIST_BUCKETS; i++)
		into->b[i] += from->b[i];
	into->count += from->count;
	into->sum += from->sum;
	if (from->min < into->min)
		into->min = from->min;
	if (from->max > into->max)
		into->max = from->max;
}

uint64_t perf_hist_pct(const struct perf_hist *h, double p)
{
	if (h->count == 0)
		return 0;
	uint64_t rank = (uint64_t)(p / 100.0 * (double)h->count + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank >= h->count)
		return h->max;
	uint64_t seen = 0;
	for (unsigned i = 0; i < PERF_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t lo, hi;
			perf_hist_bounds(i, &lo, &hi);
			return hi - 1 < h->max ? hi - 1 : h->max;
		}
	}
	return h->max;
}

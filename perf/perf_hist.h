/*
 * perf_hist.h — an exact log-linear latency histogram (HdrHistogram-like)
 * for sluice-perf: every value is counted, none sampled.
 *
 * Values are nanoseconds. Each power of two [2^k, 2^(k+1)) is split into
 * PERF_HIST_SUB linear sub-buckets, so a bucket is at most 1/32 (3 %)
 * wide relative to its values; values up to 2^38 ns (~275 s) have their
 * own bucket, larger ones share the last. min, max and the sum are kept
 * exactly. Not thread-safe: one writer, read after it is done (or merge
 * per-thread histograms).
 */
#ifndef PERF_HIST_H
#define PERF_HIST_H

#include <stdint.h>

#define PERF_HIST_SUB_BITS 5
#define PERF_HIST_SUB (1u << PERF_HIST_SUB_BITS)
#define PERF_HIST_MAX_BITS 38
#define PERF_HIST_BUCKETS ((PERF_HIST_MAX_BITS - PERF_HIST_SUB_BITS + 1) * PERF_HIST_SUB)

struct perf_hist {
	uint64_t count, min, max;
	double sum;
	uint64_t b[PERF_HIST_BUCKETS];
};

void perf_hist_init(struct perf_hist *h);
void perf_hist_add(struct perf_hist *h, uint64_t ns);
void perf_hist_merge(struct perf_hist *into, const struct perf_hist *from);
/* The value at percentile p (0..100]: the upper edge of the bucket that
 * holds it (never more than max). 0 when empty. */
uint64_t perf_hist_pct(const struct perf_hist *h, double p);
/* Bucket i covers [lo, hi) nanoseconds. */
void perf_hist_bounds(unsigned i, uint64_t *lo, uint64_t *hi);

#endif

/*
 * latency.h — a log-linear histogram of microseconds: 8 buckets per power
 * of two (12 % resolution) from 1 us to about 4 minutes, in a fixed array
 * a single writer bumps and any reader sums. Used for batch completion
 * time (dispatch to results handed to persistence) per worker.
 */
#ifndef SLUICE_LATENCY_H
#define SLUICE_LATENCY_H

#include <stdint.h>

#define SL_LAT_SUB 8u                    /* buckets per power of two */
#define SL_LAT_BUCKETS (SL_LAT_SUB * 29u) /* covers up to 2^28 us */

static inline unsigned
sl_lat_bucket(uint64_t us)
{
	unsigned e;

	if (us < SL_LAT_SUB)
		return (unsigned)us;
	e = 63u - (unsigned)__builtin_clzll(us);            /* floor(log2(us)) >= 3 */
	if (e >= 28u)
		return SL_LAT_BUCKETS - 1;
	return SL_LAT_SUB + (e - 3u) * SL_LAT_SUB + (unsigned)((us >> (e - 3u)) & (SL_LAT_SUB - 1));
}

/* The smallest value that lands in bucket b. */
static inline uint64_t
sl_lat_value(unsigned b)
{
	unsigned e;

	if (b < SL_LAT_SUB)
		return b;
	e = (b - SL_LAT_SUB) / SL_LAT_SUB + 3u;
	return ((uint64_t)(SL_LAT_SUB + (b - SL_LAT_SUB) % SL_LAT_SUB)) << (e - 3u);
}

/* The q-quantile (0 < q <= 1) of a histogram, as the bucket's lower bound; 0 if empty. */
static inline uint64_t
sl_lat_quantile(const uint64_t *h, double q)
{
	uint64_t total = 0, seen = 0, want;

	for (unsigned b = 0; b < SL_LAT_BUCKETS; b++)
		total += h[b];
	if (total == 0)
		return 0;
	want = (uint64_t)(q * (double)total);
	if (want == 0)
		want = 1;
	for (unsigned b = 0; b < SL_LAT_BUCKETS; b++) {
		seen += h[b];
		if (seen >= want)
			return sl_lat_value(b);
	}
	return sl_lat_value(SL_LAT_BUCKETS - 1);
}

#endif

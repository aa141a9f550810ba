/*
 * topk.c — the snapshot area of the topk processor (see topk.h).
 *
 * The seqlock: the writer makes seq odd, writes the entries, makes seq
 * even again; a reader takes seq (acquire), copies, and accepts the copy
 * only if seq was even and has not changed since. The entries are copied
 * with plain memcpy while a writer may be storing into them (as DPDK's
 * rte_seqlock does); a torn copy is always detected by the seq check and
 * thrown away, never used.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_pause.h>

#include "topk.h"

#define READ_TRIES 1000   /* a writer holds the slot for a memcpy of ~400 bytes */

struct topk_area {
	unsigned n_workers, n_tenants;
	struct sl_topk_snapshot slot[];
};

/* Set once before the workers start, cleared after they stop. */
static struct topk_area *area;

int
sl_topk_area_create(unsigned n_workers, unsigned n_tenants)
{
	size_t bytes;
	struct topk_area *a;

	if (n_workers == 0 || n_tenants == 0)
		return -EINVAL;
	if (__atomic_load_n(&area, __ATOMIC_ACQUIRE) != NULL)
		return -EEXIST;
	bytes = sizeof(*a) + (size_t)n_workers * n_tenants * sizeof(a->slot[0]);
	bytes = RTE_ALIGN_CEIL(bytes, RTE_CACHE_LINE_SIZE);   /* aligned_alloc wants a multiple */
	a = aligned_alloc(RTE_CACHE_LINE_SIZE, bytes);
	if (a == NULL)
		return -ENOMEM;
	memset(a, 0, bytes);
	a->n_workers = n_workers;
	a->n_tenants = n_tenants;
	__atomic_store_n(&area, a, __ATOMIC_RELEASE);
	return 0;
}

void
sl_topk_area_free(void)
{
	struct topk_area *a = __atomic_exchange_n(&area, NULL, __ATOMIC_ACQ_REL);

	free(a);
}

unsigned
sl_topk_area_workers(void)
{
	const struct topk_area *a = __atomic_load_n(&area, __ATOMIC_ACQUIRE);

	return a != NULL ? a->n_workers : 0;
}

unsigned
sl_topk_area_tenants(void)
{
	const struct topk_area *a = __atomic_load_n(&area, __ATOMIC_ACQUIRE);

	return a != NULL ? a->n_tenants : 0;
}

struct sl_topk_snapshot *
sl_topk_slot(unsigned worker, unsigned tenant)
{
	struct topk_area *a = __atomic_load_n(&area, __ATOMIC_ACQUIRE);

	if (a == NULL || worker >= a->n_workers || tenant >= a->n_tenants)
		return NULL;
	return &a->slot[(size_t)worker * a->n_tenants + tenant];
}

void
sl_topk_publish(struct sl_topk_snapshot *s, const struct sl_topk_entry *e, uint32_t n)
{
	uint64_t seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);

	if (n > SL_TOPK_N)
		n = SL_TOPK_N;
	__atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELAXED);
	/* the odd seq must be visible before any entry changes */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(s->top, e, n * sizeof(*e));
	if (n < SL_TOPK_N)
		memset(&s->top[n], 0, (SL_TOPK_N - n) * sizeof(*e));
	__atomic_store_n(&s->n, n, __ATOMIC_RELAXED);
	/* ... and every entry before the even seq that closes the write */
	__atomic_store_n(&s->seq, seq + 2, __ATOMIC_RELEASE);
}

uint32_t
sl_topk_read(const struct sl_topk_snapshot *s, struct sl_topk_entry out[SL_TOPK_N])
{
	for (int i = 0; i < READ_TRIES; i++) {
		uint64_t before = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		uint32_t n;

		if (before & 1) {
			rte_pause();
			continue;
		}
		n = __atomic_load_n(&s->n, __ATOMIC_RELAXED);
		memcpy(out, s->top, sizeof(s->top));
		/* the copy must be complete before seq is checked again */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) == before)
			return n <= SL_TOPK_N ? n : SL_TOPK_N;
	}
	return 0;
}

/*
 * topk_sketch.c — a worker's top-k sketch of one tenant (topk_sketch.h).
 *
 * rte_member documents no thread safety, which suits us: each worker owns
 * its sketch, and the control plane merges the workers' published top 10s
 * (control/topk_view.h).
 */
#include <stdio.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_lcore.h>

#include "topk_sketch.h"

/*
 * Sketch parameters. error_rate 0.001 gives 4000 columns x 5 rows of
 * 64-bit counters (160 KiB per worker and tenant); a count-min estimate
 * then overshoots the true count by at most e/4000 (~0.07 %) of the keys
 * this worker has seen, with probability 1 - e^-5 (~99.3 %): well under
 * the 1 % that would reorder a top 10. sample_rate 1 counts every key
 * (sampling would make counts of a small stream noisy).
 *
 * The heap keeps more candidates than the 10 we report: counts are
 * re-read from the sketch when reporting, so a deeper heap costs little
 * and keeps keys near rank 10 from being evicted by noise. It must not be
 * a power of two: rte_member sizes its ring of free key slots as
 * rte_align32pow2(top_k), and a ring of 2^n holds only 2^n - 1, so a
 * top_k of 2^n leaves the heap one slot short (and logs an error for
 * every key that would fill it).
 */
#define TOPK_ERROR_RATE 0.001f
#define TOPK_HEAP 60u
#define TOPK_PUBLISH_MS 1000u         /* how often a busy worker publishes its top 10 */

uint32_t
sl_topk_utf8_whole(const uint8_t *k, uint32_t len)
{
	uint32_t i = len;
	unsigned need;

	while (i > 0 && (k[i - 1] & 0xc0) == 0x80)
		i--;
	if (i == 0)
		return len;               /* not UTF-8 at all: keep the bytes */
	uint8_t lead = k[i - 1];
	need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
	return (i - 1) + need <= len ? len : i - 1;
}

int
sl_topk_sketch_init(struct sl_topk_sketch *k, const struct sl_proc_env *env)
{
	static uint32_t generation;       /* sketch names must be unique, restarts included */
	const char *tenant = env->tenant->name;
	struct rte_member_parameters p;
	char name[RTE_MEMBER_NAMESIZE];
	int socket = (int)rte_socket_id();

	memset(k, 0, sizeof(*k));
	k->slot = sl_topk_slot(env->worker, env->tenant_index);
	if (k->slot == NULL) {
		snprintf(env->err, env->errlen, "tenant %s: no topk snapshot slot for worker %u, "
			 "tenant %u: sluiced must call sl_topk_area_create() before starting workers",
			 tenant, env->worker, (unsigned)env->tenant_index);
		return -1;
	}
	if (socket < 0)
		socket = SOCKET_ID_ANY;
	snprintf(name, sizeof(name), "tk%u_%u_%u", env->worker, (unsigned)env->tenant_index,
		 __atomic_fetch_add(&generation, 1, __ATOMIC_RELAXED));
	memset(&p, 0, sizeof(p));
	p.name = name;
	p.type = RTE_MEMBER_TYPE_SKETCH;
	p.key_len = SL_TOPK_KEY;
	p.top_k = TOPK_HEAP;
	p.error_rate = TOPK_ERROR_RATE;
	p.sample_rate = 1.0f;
	p.prim_hash_seed = 0x51u;          /* the sketch draws its row seeds itself; */
	p.sec_hash_seed = 0x1ceu;          /* these only have to differ */
	p.socket_id = socket;
	k->ss = rte_member_create(&p);
	if (k->ss == NULL) {
		snprintf(env->err, env->errlen, "tenant %s: cannot create the topk sketch of worker %u: "
			 "%s (rte_member_create needs ~%u KiB of hugepage memory)", tenant,
			 env->worker, rte_strerror(rte_errno),
			 (unsigned)(4.0f / TOPK_ERROR_RATE * 5 * 8 / 1024));
		return -1;
	}
	k->period_tsc = rte_get_tsc_hz() / 1000 * TOPK_PUBLISH_MS;
	k->next_tsc = rte_get_tsc_cycles() + k->period_tsc;
	return 0;
}

void
sl_topk_sketch_fini(struct sl_topk_sketch *k)
{
	rte_member_free(k->ss);
	k->ss = NULL;
}

/* Is a ranked before b? Larger count first, then by key so the order is stable. */
static bool
ranks_before(const struct sl_topk_entry *a, const struct sl_topk_entry *b)
{
	if (a->count != b->count)
		return a->count > b->count;
	return strcmp(a->key, b->key) < 0;
}

void
sl_topk_sketch_publish(struct sl_topk_sketch *k)
{
	void *keys[TOPK_HEAP];
	uint64_t counts[TOPK_HEAP];
	struct sl_topk_entry best[SL_TOPK_N];
	uint32_t nb = 0;
	int n = rte_member_report_heavyhitter(k->ss, keys, counts);

	/*
	 * The report holds every key of the heap with its count re-read
	 * from the sketch. Rank it ourselves (insertion into the top 10):
	 * the 22.11 heap may hand its keys over in heap order rather than
	 * sorted, and we want a stable order for equal counts.
	 */
	for (int i = 0; i < n; i++) {
		struct sl_topk_entry e;
		uint32_t j;

		memcpy(e.key, keys[i], SL_TOPK_KEY);
		e.key[SL_TOPK_KEY - 1] = '\0';
		e.count = counts[i];
		for (j = 0; j < nb; j++)
			if (strcmp(best[j].key, e.key) == 0)
				break;
		if (j < nb)
			continue;                 /* never report a key twice */
		if (nb == SL_TOPK_N && !ranks_before(&e, &best[nb - 1]))
			continue;
		j = nb < SL_TOPK_N ? nb++ : nb - 1;
		while (j > 0 && ranks_before(&e, &best[j - 1])) {
			best[j] = best[j - 1];
			j--;
		}
		best[j] = e;
	}
	sl_topk_publish(k->slot, best, nb);
	k->dirty = false;
	k->next_tsc = rte_get_tsc_cycles() + k->period_tsc;
}

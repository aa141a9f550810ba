/*
 * test_steal.c — the handshake of dataplane/steal.h under real
 * concurrency: a producer fills an SP/SC rte_ring, a "worker" thread
 * consumes it between processor calls (some of them long), and a
 * "supervisor" thread takes over as consumer whenever it sees the worker
 * inside a call. Checked: the two never consume at the same time (the
 * ring is single-consumer), every item is consumed exactly once, and the
 * supervisor did take items (the handshake is exercised, not bypassed).
 *
 * Also: that the check fails when the worker skips sl_steal_wait, so the
 * test can tell a broken handshake from a working one.
 *
 * No EAL: the ring lives in plain memory (rte_ring_init).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ring.h>

#include "dataplane/steal.h"

#define N_ITEMS 400000u
#define RING_SIZE 1024u
#define BURST 8u

static int failures, passes;

struct shared {
	struct rte_ring *ring;
	uint64_t seq;                 /* the worker's proc_seq */
	atomic_int steal;
	atomic_int consumers;         /* threads inside a dequeue right now */
	atomic_int overlap;           /* times two were */
	atomic_int done;
	uint8_t *seen;                /* per item: times consumed */
	atomic_ulong stolen;
	bool skip_wait;               /* the broken worker, for the negative check */
};

static void
consume(struct shared *sh, unsigned max, atomic_ulong *count)
{
	void *items[BURST * 4];
	unsigned n;

	if (atomic_fetch_add(&sh->consumers, 1) != 0)
		atomic_fetch_add(&sh->overlap, 1);
	n = rte_ring_sc_dequeue_burst(sh->ring, items, max, NULL);
	/* linger a little inside, so an overlap has a chance to show */
	for (volatile int k = 0; k < 50; k++)
		;
	atomic_fetch_sub(&sh->consumers, 1);
	for (unsigned i = 0; i < n; i++)
		sh->seen[(uintptr_t)items[i] - 1]++;
	if (count != NULL)
		atomic_fetch_add(count, n);
}

static void *
producer(void *arg)
{
	struct shared *sh = arg;

	for (uintptr_t i = 1; i <= N_ITEMS; i++)
		while (rte_ring_sp_enqueue(sh->ring, (void *)i) != 0)
			rte_pause();
	return NULL;
}

static void *
worker(void *arg)
{
	struct shared *sh = arg;
	unsigned calls = 0;

	while (!atomic_load(&sh->done)) {
		if (!sh->skip_wait)
			sl_steal_wait(&sh->steal);
		consume(sh, BURST, NULL);
		/* a processor call: mostly short, every 64th long enough to be caught */
		sl_call_enter(&sh->seq);
		for (volatile unsigned k = 0, spin = (++calls % 64 == 0) ? 200000 : 200; k < spin; k++)
			;
		sl_call_leave(&sh->seq);
	}
	return NULL;
}

static void *
supervisor(void *arg)
{
	struct shared *sh = arg;

	while (!atomic_load(&sh->done)) {
		uint64_t seq = __atomic_load_n(&sh->seq, __ATOMIC_ACQUIRE);

		if (!sl_in_call(seq))
			continue;
		if (sl_steal_begin(&sh->steal, &sh->seq, seq)) {
			consume(sh, BURST * 4, &sh->stolen);
			sl_steal_end(&sh->steal);
		}
	}
	return NULL;
}

/* Run the three threads until every item is consumed (or a bound passes); returns the shared state. */
static void
run(struct shared *sh, bool skip_wait)
{
	pthread_t p, w, s;
	size_t sz = (size_t)rte_ring_get_memsize(RING_SIZE);

	memset(sh, 0, sizeof(*sh));
	sh->skip_wait = skip_wait;
	sh->ring = aligned_alloc(RTE_CACHE_LINE_SIZE, (sz + RTE_CACHE_LINE_SIZE - 1) & ~(size_t)(RTE_CACHE_LINE_SIZE - 1));
	sh->seen = calloc(N_ITEMS, 1);
	if (sh->ring == NULL || sh->seen == NULL ||
	    rte_ring_init(sh->ring, "steal_test", RING_SIZE, RING_F_SP_ENQ | RING_F_SC_DEQ) != 0) {
		printf("FAIL cannot set up the ring\n");
		exit(1);
	}
	pthread_create(&p, NULL, producer, sh);
	pthread_create(&w, NULL, worker, sh);
	pthread_create(&s, NULL, supervisor, sh);
	pthread_join(p, NULL);
	for (int tries = 0; tries < 20000 && rte_ring_count(sh->ring) > 0; tries++) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	atomic_store(&sh->done, 1);
	pthread_join(w, NULL);
	pthread_join(s, NULL);
}

static void
check(bool cond, const char *what, const char *detail)
{
	if (cond) {
		passes++;
		printf("ok   %s\n", what);
	} else {
		failures++;
		printf("FAIL %s: %s\n", what, detail);
	}
}

int
main(void)
{
	struct shared sh;
	char detail[128];
	unsigned missing = 0, dup = 0;

	run(&sh, false);
	for (unsigned i = 0; i < N_ITEMS; i++) {
		missing += sh.seen[i] == 0;
		dup += sh.seen[i] > 1;
	}
	snprintf(detail, sizeof(detail), "%d overlapping dequeues", atomic_load(&sh.overlap));
	check(atomic_load(&sh.overlap) == 0, "worker and supervisor never consume at once", detail);
	snprintf(detail, sizeof(detail), "%u missing, %u twice", missing, dup);
	check(missing == 0 && dup == 0, "every item consumed exactly once", detail);
	snprintf(detail, sizeof(detail), "%lu taken by the supervisor", (unsigned long)atomic_load(&sh.stolen));
	check(atomic_load(&sh.stolen) > 0, "the supervisor took items while the worker was inside calls", detail);
	free(sh.ring);
	free(sh.seen);

	/* The same without the worker's wait: the check must see them overlap (a race: up to 5 runs). */
	int overlap = 0, runs = 0;

	while (overlap == 0 && runs < 5) {
		run(&sh, true);
		overlap = atomic_load(&sh.overlap);
		runs++;
		free(sh.ring);
		free(sh.seen);
	}
	snprintf(detail, sizeof(detail), "%d overlapping dequeues in %d runs", overlap, runs);
	check(overlap > 0, "without sl_steal_wait the overlap is detected (the check can fail)", detail);

	printf("%d passed, %d failed\n", passes, failures);
	return failures ? 1 : 0;
}

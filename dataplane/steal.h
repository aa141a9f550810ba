/*
 * steal.h — the handshake that lets the supervisor consume a worker's
 * SP/SC rings while the worker is stuck inside a processor call.
 *
 * A worker's rings have one consumer, the worker. The supervisor may
 * take over only while the worker provably cannot dequeue:
 *
 *   worker                                supervisor
 *   sl_call_enter(seq)   (seq odd)
 *     ... processor call ...              sl_steal_begin(steal, seq, s):
 *   sl_call_leave(seq)   (seq even)         steal = 1; fence; seq == s ?
 *   sl_steal_wait(steal):                     yes: dequeue from its rings
 *     fence; wait while steal                 sl_steal_end(steal): steal = 0
 *   dequeue                                   no: steal = 0, take nothing
 *
 * This is Dekker's pattern: each side stores its own flag, then (after a
 * full fence) loads the other's. They cannot both miss each other: either
 * the supervisor sees the call has ended and takes nothing, or the worker
 * sees steal and waits (microseconds) before it dequeues. seq moves on
 * with every call, so the supervisor, checking for the very call it timed
 * (s), never mistakes a new call for the old one. The worker pays a plain
 * store per call and one fence per batch it takes.
 */
#ifndef SLUICE_STEAL_H
#define SLUICE_STEAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_pause.h>

/* Worker: into and out of a processor call (it is seq's only writer). The
 * compiler barriers keep our own ring and pool work out of the odd window,
 * where a signal handler unwinds (worker.c). */
static inline void
sl_call_enter(uint64_t *seq)
{
	atomic_signal_fence(memory_order_seq_cst);
	__atomic_store_n(seq, *seq + 1, __ATOMIC_RELEASE);
	atomic_signal_fence(memory_order_seq_cst);
}

static inline void
sl_call_leave(uint64_t *seq)
{
	sl_call_enter(seq);
}

static inline bool
sl_in_call(uint64_t seq)
{
	return (seq & 1) != 0;
}

/* Worker: before dequeuing, or touching what the supervisor may take. */
static inline void
sl_steal_wait(atomic_int *steal)
{
	atomic_thread_fence(memory_order_seq_cst);
	while (atomic_load_explicit(steal, memory_order_acquire))
		rte_pause();
}

/* Supervisor: true if the worker is still inside call s: its rings are ours until sl_steal_end. */
static inline bool
sl_steal_begin(atomic_int *steal, const uint64_t *seq, uint64_t s)
{
	atomic_store_explicit(steal, 1, memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst);
	if (__atomic_load_n(seq, __ATOMIC_SEQ_CST) == s)
		return true;
	atomic_store_explicit(steal, 0, memory_order_release);
	return false;
}

static inline void
sl_steal_end(atomic_int *steal)
{
	atomic_store_explicit(steal, 0, memory_order_release);
}

#endif

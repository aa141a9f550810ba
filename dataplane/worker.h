/*
 * worker.h — the worker lcore: line batches in, result batches out.
 *
 * A worker polls its SP/SC ring from every producer, runs each line's
 * tenant processor, and hands result batches to persistence (its own
 * SP/SC ring) once every line of the line batch is done — lines of long
 * work stay pending (up to SL_WORKER_INFLIGHT batches) while the worker
 * goes on with others. Idle, it backs off; beyond n_active it parks.
 *
 * Faults: a worker that faults inside a processor (SIGSEGV, SIGBUS,
 * SIGFPE, SIGILL), meets the poison marker, is told to die (sluicectl
 * workers kill, acted on at the top of its loop) or stalls (the
 * supervisor's SIGUSR1) leaves through siglongjmp, records where it was,
 * marks itself crashed and returns. Nothing it held was handed on: the
 * supervisor re-dispatches its in-flight batches and restarts it
 * (supervisor.h).
 *
 * Signals unwind only from inside a processor call (proc_seq odd, see
 * steal.h): there nothing of ours is half done. A stall signal that
 * arrives anywhere else — or in a call other than the one it was aimed
 * at, or in init — is ignored (stall_ignored); a fault in our own code
 * outside a processor call is a bug of sluiced and kills the daemon with
 * a stack rather than unwind into torn state.
 */
#ifndef SLUICE_WORKER_H
#define SLUICE_WORKER_H

#include "runtime.h"

/* Line flags set by the supervisor on re-dispatch (split.h uses the low bits). */
#define SL_LINE_CRASH_SHIFT 8u
#define SL_LINE_CRASH_MASK 0xff00u         /* how many workers this line crashed */
#define SL_LINE_QUARANTINE 0x10000u        /* crashed crash_limit times: do not process */

struct sl_worker_arg {
	struct sl_runtime *rt;
	unsigned index;          /* 0..n_workers-1 */
};

/* Install the fault handlers (once, before any worker starts). */
void sl_worker_signals_init(void);

/* lcore_function_t: arg is a struct sl_worker_arg *. Returns 0, or -1 after a crash. */
int sl_worker_main(void *arg);

#endif

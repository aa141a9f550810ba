/*
 * supervisor.h — keeps the workers alive and sized to the load. Runs on
 * the main lcore, called from the session manager's loop.
 *
 *  - Restart: a worker that crashed (fault in a processor, poison line,
 *    sluicectl workers kill, stall) has returned from its lcore function
 *    with everything it held still in its in-flight table. The supervisor
 *    returns the unfinished result batches to their pool, counts a crash
 *    against the line the worker was on (quarantined at crash_limit),
 *    re-dispatches the line batches to the other workers, and relaunches
 *    the worker after a back-off that doubles per recent crash.
 *  - Stall: a worker inside a processor call whose heartbeat has not moved
 *    for stall_ms gets SIGUSR1, which makes it crash (see worker.h).
 *  - Scale: every 100 ms, the number of active workers moves by one
 *    between [workers] min_active and max_active: up when the active ones
 *    have more than two batches outstanding each or are over 75 % busy,
 *    down after scale_quiet_ms under a quarter of a batch and 25 % busy.
 *    Workers beyond n_active park (no CPU). hash_document keeps them all.
 */
#ifndef SLUICE_SUPERVISOR_H
#define SLUICE_SUPERVISOR_H

#include <stdint.h>

#include "runtime.h"
#include "worker.h"

struct sl_supervisor;

/* args: the workers' launch arguments (they must outlive the supervisor). */
struct sl_supervisor *sl_supervisor_create(struct sl_runtime *rt, struct sl_worker_arg *args);
void sl_supervisor_free(struct sl_supervisor *s);

/* Call often (every manager loop); does work at most every millisecond. Returns work done. */
unsigned sl_supervisor_tick(struct sl_supervisor *s);

/* Re-dispatch what is still waiting (shutdown: before the workers are told to stop). */
void sl_supervisor_flush(struct sl_supervisor *s);

#endif

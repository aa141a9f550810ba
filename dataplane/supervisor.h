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
 *  - Long call: a worker inside one processor call for long_line_ms is
 *    marked long_line: producers pass it by, and the batches waiting for
 *    it (queued in its rings, or held but not started) are moved to the
 *    others, through the handshake of steal.h (not with hash_document).
 *  - Stall: a worker inside one processor call (init excepted) for
 *    stall_ms gets SIGUSR1 aimed at that call, which makes it crash (see
 *    worker.h). sluicectl workers stall N asks for the same at any moment.
 *  - Scale: every 100 ms, the number of active workers moves by one
 *    between [workers] min_active and max_active: up while fewer than
 *    min_active are free of long calls, or when the free ones have more
 *    than two batches outstanding each or are over 75 % busy; down after
 *    scale_quiet_ms under a quarter of a batch and 25 % busy. Workers
 *    beyond n_active park (no CPU). hash_document keeps them all.
 *
 * The supervisor never waits for room in its backlog: salvage and steal
 * take only what fits and go on at the next tick (the workers that would
 * make room may themselves be waiting for a restart).
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

/*
 * dispatch.h — choose a worker for a batch and enqueue it.
 *
 * Least-loaded: a worker's load is the lines every producer has sent it
 * minus the lines it has finished and the lines the supervisor moved away
 * from it (all single-writer counters, read without locks). A worker
 * inside one long processor call takes nothing new (supervisor.h). The batch goes on this producer's own SP/SC ring to
 * that worker; if that ring is full, the next least-loaded is tried.
 */
#ifndef SLUICE_DISPATCH_H
#define SLUICE_DISPATCH_H

#include "batch.h"
#include "runtime.h"

/* Enqueue batches in order; returns how many were taken (a prefix of b). */
unsigned sl_dispatch_burst(struct sl_runtime *rt, unsigned producer, struct sl_line_batch **b, unsigned n);

/* Lines outstanding at worker w (queued or being processed). */
uint64_t sl_worker_load(const struct sl_runtime *rt, unsigned w);

#endif

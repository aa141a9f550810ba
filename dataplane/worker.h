/*
 * worker.h — the worker lcore: line batches in, result batches out.
 *
 * A worker polls its SP/SC ring from every producer, runs the tenant's
 * processor on each line, and pushes one result batch per line batch to
 * persistence (its own SP/SC ring). When the rings are empty it backs
 * off (idle.h) so that ten workers sharing two CPUs do not spin them
 * away. On stop it drains what is already queued, then returns.
 */
#ifndef SLUICE_WORKER_H
#define SLUICE_WORKER_H

#include "runtime.h"

struct sl_worker_arg {
	struct sl_runtime *rt;
	unsigned index;          /* 0..n_workers-1 */
};

/* lcore_function_t: arg is a struct sl_worker_arg * */
int sl_worker_main(void *arg);

#endif

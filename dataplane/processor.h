/*
 * processor.h — the contract between a worker and the code that does a
 * tenant's work on one line.
 *
 * A processor is a table of functions. A worker calls init once per
 * (worker, processor) to make its private state, then process for each
 * line, flush when its input runs dry, and fini at shutdown. State is
 * per worker: no locks, no sharing. process must not block, allocate or
 * make syscalls; it fills one sl_result and returns.
 */
#ifndef SLUICE_PROCESSOR_H
#define SLUICE_PROCESSOR_H

#include <stdint.h>

#include "batch.h"
#include "../config/config.h"

struct sl_processor {
	const char *name;
	void *(*init)(const struct sl_config *cfg, unsigned worker);
	void (*process)(void *state, const struct sl_tenant_conf *tenant,
			const char *line, uint32_t len, uint32_t line_flags,
			struct sl_result *out);
	void (*flush)(void *state);
	void (*fini)(void *state);
};

/* The built-in RFC 4180 processor: counts fields, checks quoting and the tenant's column count. */
extern const struct sl_processor sl_proc_csv;

#endif

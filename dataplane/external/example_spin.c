/*
 * example_spin.c — an external processor that is CPU-bound on purpose,
 * built as sluice-proc-spin.so for the tests of supervision (a worker
 * stuck in a long call must not hold up other tenants; see
 * tests/integration/longline.py).
 *
 * A line whose first field is a number N busy-loops N milliseconds in
 * process() — no sleep, no PENDING: the worker is inside the call the
 * whole time, like a real processor with a pathological input — then is
 * ok with detail N. Any other line is ok at once. No records.
 */
#include <stdlib.h>
#include <time.h>

#include "dataplane/processor.h"

static void *spin_init(const struct sl_proc_env *env)
{
	(void)env;
	return (void *)1;   /* no state; non-NULL means started */
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);   /* vDSO: no syscall */
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static enum sl_proc_rc spin_process(void *state, const struct sl_line_in *in, struct sl_result *res,
				    struct sl_rec_out *out, uint64_t cookie)
{
	uint32_t ms = 0;

	(void)state;
	(void)out;
	(void)cookie;
	for (uint32_t i = 0; i < in->len && i < 8 && in->data[i] >= '0' && in->data[i] <= '9'; i++)
		ms = ms * 10 + (uint32_t)(in->data[i] - '0');
	if (ms > 0) {
		uint64_t end = mono_ns() + (uint64_t)ms * 1000000u;

		while (mono_ns() < end)
			;
	}
	res->status = SL_ST_OK;
	res->reason = SL_R_NONE;
	res->fields = 0;
	res->detail = ms;
	return SL_PROC_DONE;
}

static const struct sl_processor spin = {
	.abi_version = SL_PROC_ABI_VERSION,
	.name = "spin",
	.streams = { NULL },
	.init = spin_init,
	.process = spin_process,
	.poll = NULL,
	.flush = NULL,
	.fini = NULL,
};

/* The one symbol sluiced looks up (SL_PROC_SYMBOL). */
const struct sl_processor *sluice_processor(void);

const struct sl_processor *sluice_processor(void)
{
	return &spin;
}

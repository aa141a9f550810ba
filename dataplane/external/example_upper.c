/*
 * example_upper.c — an example external processor, built as
 * sluice-proc-upper.so and loaded with processor = /path/to/sluice-proc-upper.so.
 *
 * It upper-cases each line (ASCII letters) and emits {"line":"<UPPER>"}
 * to its one stream, "upper" (the document's <revision>.upper file).
 * Everything a processor of your own needs is here: the table with the
 * ABI version, the exported entry point, per-worker state made in init
 * (init may allocate; process may not), and records appended with
 * sl_rec_add. It reuses dataplane/json.c for escaping, compiled into the
 * object (see meson.build).
 *
 * Build your own the same way, against the processor.h of the sluiced
 * that will load it:
 *   cc -shared -fPIC -I<sluice src> $(pkg-config --cflags libdpdk) \
 *      my_proc.c <sluice src>/dataplane/json.c -o my_proc.so
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/json.h"
#include "dataplane/processor.h"

/* Overridden by the test build that checks the loader refuses other versions. */
#ifndef EXAMPLE_ABI_VERSION
#define EXAMPLE_ABI_VERSION SL_PROC_ABI_VERSION
#endif

struct upper_state {
	char up[SL_BATCH_DATA];        /* the upper-cased line */
	char rec[SL_LINE_OUTPUT_MAX(SL_BATCH_DATA)];   /* its record: the line escaped, up to 6 bytes a byte */
};

static void *upper_init(const struct sl_proc_env *env)
{
	struct upper_state *st = malloc(sizeof(*st));

	if (st == NULL)
		snprintf(env->err, env->errlen, "upper: out of memory");
	return st;
}

static enum sl_proc_rc upper_process(void *state, const struct sl_line_in *in, struct sl_result *res,
				     struct sl_rec_out *out, uint64_t cookie __rte_unused)
{
	struct upper_state *st = state;
	static const char head[] = "{\"line\":\"";
	uint32_t len = in->len < sizeof(st->up) ? in->len : (uint32_t)sizeof(st->up);

	res->status = SL_ST_OK;
	res->reason = SL_R_NONE;
	res->fields = 1;
	res->detail = 0;
	for (uint32_t i = 0; i < len; i++) {
		char c = in->data[i];
		st->up[i] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
	}

	memcpy(st->rec, head, sizeof(head) - 1);
	int n = sl_json_escape(st->rec + sizeof(head) - 1, sizeof(st->rec) - sizeof(head) - 1, st->up, len);
	if (n < 0) {
		out->overflow = 1;
		return SL_PROC_DONE;
	}
	uint32_t total = (uint32_t)(sizeof(head) - 1) + (uint32_t)n;
	st->rec[total++] = '"';
	st->rec[total++] = '}';
	sl_rec_add(out, 0, st->rec, total);
	return SL_PROC_DONE;
}

static void upper_fini(void *state)
{
	free(state);
}

static const struct sl_processor upper = {
	.abi_version = EXAMPLE_ABI_VERSION,
	.name = "upper",
	.streams = { "upper", NULL },
	.init = upper_init,
	.process = upper_process,
	.poll = NULL,
	.flush = NULL,
	.fini = upper_fini,
};

/* The one symbol sluiced looks up (SL_PROC_SYMBOL). */
const struct sl_processor *sluice_processor(void);

const struct sl_processor *sluice_processor(void)
{
	return &upper;
}

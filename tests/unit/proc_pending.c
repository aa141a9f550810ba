/*
 * proc_pending.c — a test external processor (sluice-proc-pending.so)
 * for long work that completes, and for long work that never does.
 *
 * Every line is long work: process() fills the result (ok, fields 1),
 * appends {"line":"<the line, escaped>"} to its one stream, "echo", and
 * returns SL_PROC_PENDING; poll() completes the line at its next call.
 * Records may be large (a long line of control bytes escapes to six times
 * its size), so the worker must stage and place them.
 *
 * A line containing "#LOSE#" is pending too, but its cookie is dropped:
 * poll() never reports it. That is the processor bug pending_timeout_ms
 * is there for (and, with a long timeout, what makes persistence hold the
 * document's later results: held_max_mb).
 *
 * Not an example to follow: a real processor would not lose cookies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/json.h"
#include "dataplane/processor.h"
#include "dataplane/split.h"

#define QUEUE_MAX (64u * 64u * 2u)   /* more than a worker can hold pending */

struct pending_state {
	uint64_t queue[QUEUE_MAX];     /* cookies to complete at the next poll */
	unsigned n;
	uint64_t lost;
	char rec[SL_LINE_OUTPUT_MAX(SL_BATCH_DATA)];
};

static void *pending_init(const struct sl_proc_env *env)
{
	struct pending_state *st = calloc(1, sizeof(*st));

	if (st == NULL)
		snprintf(env->err, env->errlen, "pending: out of memory");
	return st;
}

static enum sl_proc_rc pending_process(void *state, const struct sl_line_in *in, struct sl_result *res,
				       struct sl_rec_out *out, uint64_t cookie)
{
	static const char head[] = "{\"line\":\"";
	struct pending_state *st = state;

	if (in->flags & SL_LINE_OVERSIZE) {
		res->status = SL_ST_ERROR;
		res->reason = SL_R_OVERSIZE;
		return SL_PROC_DONE;
	}
	res->status = SL_ST_OK;
	res->reason = SL_R_NONE;
	res->fields = 1;
	res->detail = 0;
	if (memmem(in->data, in->len, "#LOSE#", 6) != NULL) {
		st->lost++;
		return SL_PROC_PENDING;        /* and the cookie is forgotten */
	}
	memcpy(st->rec, head, sizeof(head) - 1);
	int n = sl_json_escape(st->rec + sizeof(head) - 1, sizeof(st->rec) - sizeof(head) - 1, in->data, in->len);
	if (n < 0) {
		out->overflow = 1;
		return SL_PROC_DONE;
	}
	uint32_t total = (uint32_t)(sizeof(head) - 1) + (uint32_t)n;
	st->rec[total++] = '"';
	st->rec[total++] = '}';
	sl_rec_add(out, 0, st->rec, total);
	if (st->n == QUEUE_MAX)
		return SL_PROC_DONE;
	st->queue[st->n++] = cookie;
	return SL_PROC_PENDING;
}

static unsigned pending_poll(void *state, uint64_t now_ns, uint64_t *cookies, unsigned max)
{
	struct pending_state *st = state;
	unsigned n = st->n < max ? st->n : max;

	(void)now_ns;
	memcpy(cookies, st->queue, n * sizeof(*cookies));
	memmove(st->queue, st->queue + n, (st->n - n) * sizeof(*st->queue));
	st->n -= n;
	return n;
}

static void pending_fini(void *state)
{
	free(state);
}

static const struct sl_processor pending = {
	.abi_version = SL_PROC_ABI_VERSION,
	.name = "pending",
	.streams = { "echo", NULL },
	.init = pending_init,
	.process = pending_process,
	.poll = pending_poll,
	.flush = NULL,
	.fini = pending_fini,
};

const struct sl_processor *sluice_processor(void);

const struct sl_processor *sluice_processor(void)
{
	return &pending;
}

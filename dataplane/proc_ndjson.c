/*
 * proc_ndjson.c — the built-in processor for NDJSON: one JSON object per
 * line.
 *
 * Each line must be exactly one JSON object (RFC 8259, checked by json.c;
 * an array, a scalar or two objects on one line are errors). A good line
 * is re-emitted compactly (whitespace outside strings removed, everything
 * else byte for byte) as a record of stream 0, "records"; fields is the
 * number of top-level members. A bad line is SL_R_JSON with detail = the
 * 0-based byte offset of the problem and a reason record such as:
 *   byte 17: expected ':' after an object key
 */
#include <stdio.h>
#include <stdlib.h>

#include "json.h"
#include "processor.h"
#include "split.h"

/*
 * Tokens per line. A line holds at most 30 KiB (max_line_bytes), and a
 * value takes at least two bytes with its separator, so 16 Ki tokens
 * cover any line that fits a batch.
 */
#define NDJSON_TOKENS (16u * 1024u)

struct ndjson_state {
	struct sl_json_tok toks[NDJSON_TOKENS];
	char rec[SL_BATCH_DATA];       /* the compacted line: never longer than the line */
};

static void *ndjson_init(const struct sl_proc_env *env)
{
	struct ndjson_state *st = malloc(sizeof(*st));

	if (st == NULL)
		snprintf(env->err, env->errlen, "ndjson: out of memory for the per-worker state");
	return st;
}

/* SL_R_JSON at offset with the parser's reason (or ours) as the reason record. */
static void json_error(struct sl_result *res, struct sl_rec_out *out, uint32_t offset, const char *msg)
{
	sl_line_fail(res, out, SL_R_JSON, offset, "byte %u: %s", offset, msg);
}

static enum sl_proc_rc ndjson_process(void *state, const struct sl_line_in *in, struct sl_result *res,
				      struct sl_rec_out *out, uint64_t cookie __rte_unused)
{
	struct ndjson_state *st = state;
	struct sl_json_err err;
	int n;

	if (in->flags & SL_LINE_OVERSIZE) {
		res->status = SL_ST_ERROR;
		res->reason = SL_R_OVERSIZE;
		res->fields = 0;
		res->detail = 0;
		return SL_PROC_DONE;
	}
	n = sl_json_parse(in->data, in->len, st->toks, NDJSON_TOKENS, &err);
	if (n < 0) {
		json_error(res, out, err.offset, err.msg);
		return SL_PROC_DONE;
	}
	if (st->toks[0].type != SL_JSON_OBJECT) {
		json_error(res, out, st->toks[0].start - (st->toks[0].type == SL_JSON_STRING),
			   "the line is a JSON value but not an object");
		return SL_PROC_DONE;
	}

	res->status = SL_ST_OK;
	res->reason = SL_R_NONE;
	res->fields = st->toks[0].size;
	res->detail = 0;

	int len = sl_json_compact(in->data, in->len, st->rec, sizeof(st->rec));
	if (len < 0 || sl_rec_add(out, 0, st->rec, (uint32_t)len) != 0)
		out->overflow = 1;      /* the worker reports SL_R_OUTPUT */
	return SL_PROC_DONE;
}

static void ndjson_fini(void *state)
{
	free(state);
}

const struct sl_processor sl_proc_ndjson = {
	.abi_version = SL_PROC_ABI_VERSION,
	.name = "ndjson",
	.streams = { "records", NULL },
	.init = ndjson_init,
	.process = ndjson_process,
	.poll = NULL,
	.flush = NULL,
	.fini = ndjson_fini,
};

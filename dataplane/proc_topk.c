/*
 * proc_topk.c — the built-in "topk" processor: the most frequent keys of
 * one column (CSV) or one field (NDJSON) of a tenant's lines.
 *
 * Per (worker, tenant) state holds a top-k sketch (topk_sketch.h: DPDK's
 * rte_member count-min sketch with a heap of heavy hitters, shared with
 * the tweet processor's hashtags). About once a second, and whenever the
 * worker's input runs dry, it copies its current top 10 into its
 * snapshot slot (topk.h); the control plane merges the workers' slots
 * (control/topk_view.h).
 *
 * Keys. CSV: column topk_column (1-based), with RFC 4180 quotes honoured
 * ("" inside quotes is one '"'); this processor only finds its column and
 * does not judge the rest of the line (that is the csv processor's job).
 * NDJSON: the member topk_field of the line's top-level object, a string
 * or an array of strings; the line must be valid JSON (dataplane/json.h).
 * With topk_separator set, each string is split on it ("#a #b" with ' '
 * gives "#a" and "#b"). Empty keys are skipped. Keys are compared byte
 * for byte and cut to 31 bytes (at a UTF-8 character boundary): two keys
 * that share their first 31 bytes count as one.
 *
 * Results: ok with fields = the number of keys counted; no records. A
 * line without the column or field (or with a JSON null there) is ok
 * with fields 0: a tweet without hashtags is data, not an error. A field
 * of another type (a number, an object, an array holding a non-string) is
 * SL_R_FIELD, and a line that is not a JSON object is SL_R_JSON, each with
 * a reason text; such a line counts no key at all.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <rte_lcore.h>
#include <rte_malloc.h>

#include "json.h"
#include "processor.h"
#include "split.h"
#include "topk.h"
#include "topk_sketch.h"

#define TOPK_JSON_TOKENS 4096u        /* JSON values per line (a tweet has a few hundred) */
#define TOPK_LINE_KEYS 256u           /* keys held per line until the line is judged */

struct topk_state {
	struct sl_topk_sketch sk;
	const struct sl_tenant_conf *tenant;
	uint32_t column;                  /* CSV: 1-based; 0 = NDJSON field */
	char sep;                         /* 0 = one key per value */
	uint32_t max_line;                /* for the oversize detail */

	/* the key being built, zero-padded: rte_member hashes all SL_TOPK_KEY bytes */
	uint8_t key[SL_TOPK_KEY];
	uint32_t klen;
	bool kcut;

	/* keys of the current line, added to the sketch once the line is judged */
	uint32_t nkeys;                   /* held in line_keys */
	uint32_t line_total;              /* found in the line (more when some were committed early) */
	uint8_t line_keys[TOPK_LINE_KEYS][SL_TOPK_KEY];

	char *scratch;                    /* an unescaped JSON string (max_line bytes) */
	struct sl_json_tok toks[TOPK_JSON_TOKENS];
};

/* ---- keys -------------------------------------------------------------- */

static void
keys_commit(struct topk_state *s)
{
	for (uint32_t i = 0; i < s->nkeys; i++)
		sl_topk_sketch_add(&s->sk, s->line_keys[i]);
}

static void
key_end(struct topk_state *s)
{
	if (s->klen == 0)
		return;                   /* empty keys are skipped */
	if (s->kcut)
		s->klen = sl_topk_utf8_whole(s->key, s->klen);
	memset(s->key + s->klen, 0, SL_TOPK_KEY - s->klen);
	/*
	 * A line with more keys than we hold commits what it has so far: such
	 * a line may then be counted in part if it later turns out bad.
	 */
	if (s->nkeys == TOPK_LINE_KEYS) {
		keys_commit(s);
		s->nkeys = 0;
	}
	memcpy(s->line_keys[s->nkeys++], s->key, SL_TOPK_KEY);
	s->line_total++;
	s->klen = 0;
	s->kcut = false;
}

static inline void
key_byte(struct topk_state *s, uint8_t b)
{
	if (s->sep != 0 && b == (uint8_t)s->sep) {
		key_end(s);
		return;
	}
	if (s->klen < SL_TOPK_KEY - 1)
		s->key[s->klen++] = b;
	else
		s->kcut = true;
}

static void
key_bytes(struct topk_state *s, const char *p, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		key_byte(s, (uint8_t)p[i]);
	key_end(s);
}

/* ---- CSV --------------------------------------------------------------- */

/* From the start of a field at p[i], the index of the ',' that ends it, or len. */
static uint32_t
csv_field_end(const char *p, uint32_t len, uint32_t i)
{
	if (i < len && p[i] == '"') {
		for (i++; i < len; i++) {
			if (p[i] != '"')
				continue;
			if (i + 1 < len && p[i + 1] == '"') {
				i++;              /* "" is an escaped quote */
				continue;
			}
			i++;                      /* past the closing quote */
			break;
		}
	}
	while (i < len && p[i] != ',')
		i++;
	return i;
}

/* Feed the keys of column col (1-based). false if the line has fewer columns. */
static bool
csv_column(struct topk_state *s, const char *p, uint32_t len, uint32_t col)
{
	uint32_t i = 0;

	for (uint32_t f = 1; f < col; f++) {
		i = csv_field_end(p, len, i);
		if (i >= len)
			return false;
		i++;                              /* past the ',' */
	}
	if (i < len && p[i] == '"') {
		for (i++; i < len; i++) {
			if (p[i] == '"') {
				if (i + 1 < len && p[i + 1] == '"') {
					key_byte(s, '"');
					i++;
					continue;
				}
				break;            /* bytes after the closing quote are not ours to judge */
			}
			key_byte(s, (uint8_t)p[i]);
		}
	} else {
		for (; i < len && p[i] != ','; i++)
			key_byte(s, (uint8_t)p[i]);
	}
	key_end(s);
	return true;
}

/* ---- NDJSON ------------------------------------------------------------ */

static void __attribute__((format(printf, 2, 3)))
reason(struct sl_rec_out *out, const char *fmt, ...)
{
	char text[256];
	va_list ap;
	int n;

	if (out == NULL)
		return;
	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(text))
		n = sizeof(text) - 1;
	sl_rec_add(out, SL_STREAM_REASON, text, (uint32_t)n);
}

static const char *
json_type_name(uint8_t t)
{
	switch (t) {
	case SL_JSON_OBJECT: return "an object";
	case SL_JSON_ARRAY: return "an array";
	case SL_JSON_NUMBER: return "a number";
	case SL_JSON_TRUE:
	case SL_JSON_FALSE: return "a boolean";
	case SL_JSON_NULL: return "null";
	default: return "a string";
	}
}

/* The keys of one STRING token. */
static void
json_string_keys(struct topk_state *s, const char *line, const struct sl_json_tok *t)
{
	if (!t->escaped) {
		key_bytes(s, line + t->start, t->end - t->start);
		return;
	}
	/* unescaped text is never longer than the escaped one, which fits a line */
	int n = sl_json_unescape(line, t, s->scratch, s->max_line);
	if (n >= 0)
		key_bytes(s, s->scratch, (uint32_t)n);
}

/* Judge one NDJSON line; keys go to s->line_keys. */
static void
json_line(struct topk_state *s, const struct sl_line_in *in, struct sl_result *res,
	  struct sl_rec_out *out)
{
	const char *field = s->tenant->topk_field;
	struct sl_json_err err = { 0, "" };
	int n = sl_json_parse(in->data, in->len, s->toks, TOPK_JSON_TOKENS, &err);

	if (n < 0 || s->toks[0].type != SL_JSON_OBJECT) {
		res->status = SL_ST_ERROR;
		res->reason = SL_R_JSON;
		res->detail = n < 0 ? err.offset : 0;
		if (n < 0)
			reason(out, "not valid JSON at byte %u: %s", (unsigned)err.offset, err.msg);
		else
			reason(out, "the line is %s: topk expects one JSON object per line",
			       json_type_name(s->toks[0].type));
		return;
	}
	int v = sl_json_get(in->data, s->toks, 0, field);
	if (v < 0 || s->toks[v].type == SL_JSON_NULL)
		return;                           /* missing: ok, no keys */
	if (s->toks[v].type == SL_JSON_STRING) {
		json_string_keys(s, in->data, &s->toks[v]);
		return;
	}
	if (s->toks[v].type == SL_JSON_ARRAY) {
		int e = sl_json_first(s->toks, v);

		for (uint32_t k = 0; k < s->toks[v].size; k++, e = sl_json_next(s->toks, e)) {
			if (s->toks[e].type != SL_JSON_STRING) {
				res->status = SL_ST_ERROR;
				res->reason = SL_R_FIELD;
				reason(out, "field \"%s\" holds %s: topk counts strings only", field,
				       json_type_name(s->toks[e].type));
				return;
			}
			json_string_keys(s, in->data, &s->toks[e]);
		}
		return;
	}
	res->status = SL_ST_ERROR;
	res->reason = SL_R_FIELD;
	reason(out, "field \"%s\" is %s: topk expects a string or an array of strings", field,
	       json_type_name(s->toks[v].type));
}

/* ---- the processor ----------------------------------------------------- */

static void
topk_fini(void *state)
{
	struct topk_state *s = state;

	if (s == NULL)
		return;
	sl_topk_sketch_fini(&s->sk);
	rte_free(s->scratch);
	rte_free(s);
}

static void *
topk_init(const struct sl_proc_env *env)
{
	const struct sl_tenant_conf *t = env->tenant;
	struct topk_state *s;
	int socket = (int)rte_socket_id();

	if (t->topk_column == 0 && t->topk_field[0] == '\0') {
		snprintf(env->err, env->errlen, "tenant %s: processor topk needs topk_column = N "
			 "(a 1-based CSV column) or topk_field = NAME (an NDJSON member)", t->name);
		return NULL;
	}
	if (sl_topk_slot(env->worker, env->tenant_index) == NULL) {
		snprintf(env->err, env->errlen, "tenant %s: no topk snapshot slot for worker %u, "
			 "tenant %u: sluiced must call sl_topk_area_create() before starting workers",
			 t->name, env->worker, (unsigned)env->tenant_index);
		return NULL;
	}
	if (socket < 0)
		socket = SOCKET_ID_ANY;
	s = rte_zmalloc_socket("sl_topk", sizeof(*s), RTE_CACHE_LINE_SIZE, socket);
	if (s != NULL)
		s->max_line = env->cfg->max_line_bytes > 64 ? env->cfg->max_line_bytes : 64;
	if (s != NULL)
		s->scratch = rte_malloc_socket("sl_topk", s->max_line, 0, socket);
	if (s == NULL || s->scratch == NULL) {
		snprintf(env->err, env->errlen, "tenant %s: out of memory for the topk state of "
			 "worker %u (%zu bytes of hugepage memory)", t->name, env->worker,
			 sizeof(*s));
		topk_fini(s);
		return NULL;
	}
	if (sl_topk_sketch_init(&s->sk, env) != 0) {
		topk_fini(s);
		return NULL;
	}
	s->tenant = t;
	s->column = t->topk_column;
	s->sep = t->topk_separator;
	return s;
}

static enum sl_proc_rc
topk_process(void *state, const struct sl_line_in *in, struct sl_result *res,
	     struct sl_rec_out *out, uint64_t cookie)
{
	struct topk_state *s = state;

	(void)cookie;                     /* never pending */
	res->status = SL_ST_OK;
	res->reason = SL_R_NONE;
	res->fields = 0;
	res->detail = 0;
	s->nkeys = 0;
	s->line_total = 0;
	s->klen = 0;
	s->kcut = false;

	if (in->flags & SL_LINE_OVERSIZE) {
		res->status = SL_ST_ERROR;
		res->reason = SL_R_OVERSIZE;
		res->detail = s->max_line;
		return SL_PROC_DONE;
	}
	if (s->column != 0) {
		if (in->flags & SL_LINE_UNTERMINATED) {
			res->status = SL_ST_ERROR;
			res->reason = SL_R_UNTERMINATED;
			return SL_PROC_DONE;
		}
		csv_column(s, in->data, in->len, s->column);
	} else {
		json_line(s, in, res, out);
	}

	if (res->status == SL_ST_OK) {
		res->fields = s->line_total;
		keys_commit(s);
	}
	s->nkeys = 0;
	sl_topk_sketch_tick(&s->sk);
	return SL_PROC_DONE;
}

/* The input ran dry: show what this burst counted now rather than in a second. */
static void
topk_flush(void *state)
{
	struct topk_state *s = state;

	sl_topk_sketch_flush(&s->sk);
}

const struct sl_processor sl_proc_topk = {
	.abi_version = SL_PROC_ABI_VERSION,
	.name = "topk",
	.streams = { NULL },
	.init = topk_init,
	.process = topk_process,
	.poll = NULL,
	.flush = topk_flush,
	.fini = topk_fini,
};

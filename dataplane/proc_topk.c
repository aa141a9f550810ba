/*
 * proc_topk.c — the built-in "topk" processor: the most frequent keys of
 * one column (CSV) or one field (NDJSON) of a tenant's lines.
 *
 * Per (worker, tenant) state holds a DPDK rte_member sketch set
 * (RTE_MEMBER_TYPE_SKETCH: a count-min sketch with a min-heap of heavy
 * hitters). rte_member documents no thread safety, which suits us: each
 * worker owns its sketch, and the control plane merges the workers'
 * published top 10s (control/topk_view.h). About once a second, and
 * whenever the worker's input runs dry, the state copies its current top
 * 10 into its snapshot slot (topk.h).
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
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_member.h>

#include "json.h"
#include "processor.h"
#include "split.h"
#include "topk.h"

/*
 * Sketch parameters. error_rate 0.001 gives 4000 columns x 5 rows of
 * 64-bit counters (160 KiB per worker and tenant); a count-min estimate
 * then overshoots the true count by at most e/4000 (~0.07 %) of the keys
 * this worker has seen, with probability 1 - e^-5 (~99.3 %): well under
 * the 1 % that would reorder a top 10. sample_rate 1 counts every key
 * (sampling would make counts of a small stream noisy).
 *
 * The heap keeps more candidates than the 10 we report: counts are
 * re-read from the sketch when reporting, so a deeper heap costs little
 * and keeps keys near rank 10 from being evicted by noise. It must not be
 * a power of two: rte_member sizes its ring of free key slots as
 * rte_align32pow2(top_k), and a ring of 2^n holds only 2^n - 1, so a
 * top_k of 2^n leaves the heap one slot short (and logs an error for
 * every key that would fill it).
 */
#define TOPK_ERROR_RATE 0.001f
#define TOPK_HEAP 60u
#define TOPK_JSON_TOKENS 4096u        /* JSON values per line (a tweet has a few hundred) */
#define TOPK_LINE_KEYS 256u           /* keys held per line until the line is judged */
#define TOPK_PUBLISH_MS 1000u         /* how often a busy worker publishes its top 10 */

struct topk_state {
	struct rte_member_setsum *ss;
	struct sl_topk_snapshot *slot;
	const struct sl_tenant_conf *tenant;
	uint32_t column;                  /* CSV: 1-based; 0 = NDJSON field */
	char sep;                         /* 0 = one key per value */
	uint32_t max_line;                /* for the oversize detail */
	uint64_t period_tsc, next_tsc;
	bool dirty;                       /* counted something since the last publish */

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
		rte_member_add(s->ss, s->line_keys[i], 1);
	if (s->nkeys > 0)
		s->dirty = true;
}

/* Length of k[0..len) without a UTF-8 character cut in half at its end. */
static uint32_t
utf8_whole(const uint8_t *k, uint32_t len)
{
	uint32_t i = len;
	unsigned need;

	while (i > 0 && (k[i - 1] & 0xc0) == 0x80)
		i--;
	if (i == 0)
		return len;               /* not UTF-8 at all: keep the bytes */
	uint8_t lead = k[i - 1];
	need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
	return (i - 1) + need <= len ? len : i - 1;
}

static void
key_end(struct topk_state *s)
{
	if (s->klen == 0)
		return;                   /* empty keys are skipped */
	if (s->kcut)
		s->klen = utf8_whole(s->key, s->klen);
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

/* ---- publishing -------------------------------------------------------- */

/* Is a ranked before b? Larger count first, then by key so the order is stable. */
static bool
ranks_before(const struct sl_topk_entry *a, const struct sl_topk_entry *b)
{
	if (a->count != b->count)
		return a->count > b->count;
	return strcmp(a->key, b->key) < 0;
}

static void
publish(struct topk_state *s)
{
	void *keys[TOPK_HEAP];
	uint64_t counts[TOPK_HEAP];
	struct sl_topk_entry best[SL_TOPK_N];
	uint32_t nb = 0;
	int n = rte_member_report_heavyhitter(s->ss, keys, counts);

	/*
	 * The report holds every key of the heap with its count re-read
	 * from the sketch. Rank it ourselves (insertion into the top 10):
	 * the 22.11 heap may hand its keys over in heap order rather than
	 * sorted, and we want a stable order for equal counts.
	 */
	for (int i = 0; i < n; i++) {
		struct sl_topk_entry e;
		uint32_t j;

		memcpy(e.key, keys[i], SL_TOPK_KEY);
		e.key[SL_TOPK_KEY - 1] = '\0';
		e.count = counts[i];
		for (j = 0; j < nb; j++)
			if (strcmp(best[j].key, e.key) == 0)
				break;
		if (j < nb)
			continue;                 /* never report a key twice */
		if (nb == SL_TOPK_N && !ranks_before(&e, &best[nb - 1]))
			continue;
		j = nb < SL_TOPK_N ? nb++ : nb - 1;
		while (j > 0 && ranks_before(&e, &best[j - 1])) {
			best[j] = best[j - 1];
			j--;
		}
		best[j] = e;
	}
	sl_topk_publish(s->slot, best, nb);
	s->dirty = false;
	s->next_tsc = rte_get_tsc_cycles() + s->period_tsc;
}

/* ---- the processor ----------------------------------------------------- */

static void
topk_fini(void *state)
{
	struct topk_state *s = state;

	if (s == NULL)
		return;
	rte_member_free(s->ss);
	rte_free(s->scratch);
	rte_free(s);
}

static void *
topk_init(const struct sl_proc_env *env)
{
	static uint32_t generation;       /* sketch names must be unique, restarts included */
	const struct sl_tenant_conf *t = env->tenant;
	struct rte_member_parameters p;
	struct topk_state *s;
	char name[RTE_MEMBER_NAMESIZE];
	int socket = (int)rte_socket_id();

	if (t->topk_column == 0 && t->topk_field[0] == '\0') {
		snprintf(env->err, env->errlen, "tenant %s: processor topk needs topk_column = N "
			 "(a 1-based CSV column) or topk_field = NAME (an NDJSON member)", t->name);
		return NULL;
	}
	struct sl_topk_snapshot *slot = sl_topk_slot(env->worker, env->tenant_index);
	if (slot == NULL) {
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

	snprintf(name, sizeof(name), "tk%u_%u_%u", env->worker, (unsigned)env->tenant_index,
		 __atomic_fetch_add(&generation, 1, __ATOMIC_RELAXED));
	memset(&p, 0, sizeof(p));
	p.name = name;
	p.type = RTE_MEMBER_TYPE_SKETCH;
	p.key_len = SL_TOPK_KEY;
	p.top_k = TOPK_HEAP;
	p.error_rate = TOPK_ERROR_RATE;
	p.sample_rate = 1.0f;
	p.prim_hash_seed = 0x51u;          /* the sketch draws its row seeds itself; */
	p.sec_hash_seed = 0x1ceu;          /* these only have to differ */
	p.socket_id = socket;
	s->ss = rte_member_create(&p);
	if (s->ss == NULL) {
		snprintf(env->err, env->errlen, "tenant %s: cannot create the topk sketch of worker %u: "
			 "%s (rte_member_create needs ~%u KiB of hugepage memory)", t->name,
			 env->worker, rte_strerror(rte_errno),
			 (unsigned)(4.0f / TOPK_ERROR_RATE * 5 * 8 / 1024));
		topk_fini(s);
		return NULL;
	}

	s->slot = slot;
	s->tenant = t;
	s->column = t->topk_column;
	s->sep = t->topk_separator;
	s->period_tsc = rte_get_tsc_hz() / 1000 * TOPK_PUBLISH_MS;
	s->next_tsc = rte_get_tsc_cycles() + s->period_tsc;
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
	if (s->dirty && rte_get_tsc_cycles() >= s->next_tsc)
		publish(s);
	return SL_PROC_DONE;
}

/* The input ran dry: show what this burst counted now rather than in a second. */
static void
topk_flush(void *state)
{
	struct topk_state *s = state;

	if (s->dirty)
		publish(s);
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

/*
 * proc_tweet.c — the built-in processor for tweets: one Twitter v1.1
 * tweet object per line (NDJSON), scored and split into two streams.
 *
 * Stream 0, "tweets":  {"id":"…","user":"…","sentiment":S,"engagement":E,"retweet_of":"…"|null}
 * Stream 1, "users":   {"id":"…","screen_name":"…","followers":N}
 *
 * Fields read: id_str (or a numeric id), text (or full_text), user
 * {id_str (or id), screen_name, followers_count}, favorite_count and
 * retweet_count (absent or null count as 0), retweeted_status. Missing or
 * mistyped required fields make the line SL_R_FIELD with a reason record
 * naming the field, e.g. "missing field 'user.screen_name'" (prefixed
 * with "retweeted_status." inside a retweet; detail is 0 for the tweet
 * itself, 1 for its retweeted_status, ...). A line that is not a JSON
 * object is SL_R_JSON (detail = byte offset), as in proc_ndjson.c.
 *
 * A retweet carries the original tweet in retweeted_status: it is
 * extracted and processed as a tweet of its own, its records written
 * after the outer tweet's (and so on for a retweet of a retweet, up to
 * MAX_CHAIN). The outer record's retweet_of is the original's id. The
 * line's fields count is the number of tweets it produced.
 *
 * sentiment = sum of the lexicon scores of the text's scored words,
 *             divided by the square root of how many words were scored;
 *             0 when none was. Words are maximal runs of ASCII letters,
 *             lowercased (text is unescaped first; other bytes, digits
 *             and apostrophes separate words). Dividing by sqrt(n) rather
 *             than n keeps a tweet with many agreeing words stronger than
 *             one with a single word, without letting length alone win.
 * engagement = (favorite_count + retweet_count) / user.followers_count.
 *             With 0 followers the ratio is undefined (0/0 for a tweet
 *             nobody saw, and "infinite" engagement would top every
 *             ranking for the least-read accounts), so it is null.
 *
 * The lexicon is share_dir/lexicon.tsv (see the file for its format and
 * license), loaded at init into a sorted array per worker and searched
 * by binary search: no locks, no allocation per line. sl_tweet_check_data()
 * reads it the same way for sluiced --check-config and sluiced's start,
 * so a missing or broken lexicon stops sluiced instead of failing every
 * line.
 *
 * Hashtags. Every ok line counts the hashtags of the tweet it carries in
 * the tenant's top-k (topk_sketch.h, the machinery of the topk processor:
 * sluicectl topk, /v1/topk/<tenant>): for a retweet, those of the
 * original (the innermost retweeted_status), since a retweet's own text
 * is a copy ("RT @user: ...", often cut short). They are the text of each
 * element of the tweet's entities.hashtags when that member is present
 * (an array of objects with a string "text"; anything else there is
 * SL_R_FIELD), else the hashtags found in its text (hashtag.h: what a
 * hashtag character is, case folding). Keys are '#' + the folded text. A
 * line counts each key once, at most TWEET_TAGS distinct keys; a line
 * that is not ok counts nothing.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashtag.h"
#include "json.h"
#include "processor.h"
#include "split.h"
#include "topk_sketch.h"

#define LEX_WORD_MAX 31
#define LEX_MAX_ENTRIES 65536
#define MAX_CHAIN 4                     /* a tweet and up to 3 nested retweets */
#define TWEET_TOKENS (16u * 1024u)      /* enough for any line that fits a batch */
#define TWEET_TAGS 64u                  /* distinct hashtags counted per line (a tweet has far fewer) */

struct lex_entry {
	char word[LEX_WORD_MAX + 1];
	int8_t score;
};

struct tweet_state {
	struct lex_entry *lex;
	uint32_t n_lex;
	struct sl_topk_sketch tags;         /* hashtag counts of this (worker, tenant) */
	uint32_t n_line_tags;               /* distinct keys of the current line */
	uint8_t line_tags[TWEET_TAGS][SL_TOPK_KEY];
	struct sl_json_tok toks[TWEET_TOKENS];
	int text_len;                       /* of text[], -1 if it could not be unescaped */
	char text[32u * 1024u];             /* an unescaped text: the last tweet emitted */
	/* one record being built: ids and names are slices of the line, so a line's worth and a little */
	char rec[SL_BATCH_DATA + 512u];
};

/* One tweet, extracted before anything is written. */
struct tweet {
	int tok;                            /* its object */
	int id, text, user, user_id, screen_name;
	int64_t followers, favorites, retweets;
	int retweet_of;                     /* the retweeted_status object, or -1 */
	int hashtags;                       /* the entities.hashtags array, or -1 */
};

/* ---- the lexicon ------------------------------------------------------- */

static int lex_cmp(const void *a, const void *b)
{
	return strcmp(((const struct lex_entry *)a)->word, ((const struct lex_entry *)b)->word);
}

/* Parse share_dir/lexicon.tsv; on failure, a message naming the file and line. */
static int lex_load(struct tweet_state *st, const struct sl_proc_env *env)
{
	char path[SL_PATH_MAX + 32], line[256];
	unsigned lineno = 0;
	FILE *f;

	if (env->share_dir == NULL || env->share_dir[0] == '\0') {
		snprintf(env->err, env->errlen,
			 "tweet: no share directory for lexicon.tsv; set [workers] share_dir to the directory "
			 "that holds it (share/sluice in the source, <prefix>/share/sluice installed)");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/lexicon.tsv", env->share_dir);
	f = fopen(path, "r");
	if (f == NULL) {
		snprintf(env->err, env->errlen, "tweet: cannot open %s: %s; set [workers] share_dir to the "
			 "directory that holds lexicon.tsv (share/sluice in the source, <prefix>/share/sluice "
			 "installed)", path, strerror(errno));
		return -1;
	}
	uint32_t cap = 512;
	st->lex = malloc(cap * sizeof(*st->lex));
	if (st->lex == NULL)
		goto oom;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *tab, *end;
		long score;
		size_t wl;

		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		tab = strchr(line, '\t');
		wl = tab != NULL ? (size_t)(tab - line) : 0;
		if (tab == NULL || wl == 0 || wl > LEX_WORD_MAX || strspn(line, "abcdefghijklmnopqrstuvwxyz") != wl)
			goto bad;
		score = strtol(tab + 1, &end, 10);
		if (end == tab + 1 || *end != '\0' || score < -5 || score > 5)
			goto bad;
		if (st->n_lex == cap) {
			if (cap >= LEX_MAX_ENTRIES)
				goto bad;
			cap *= 2;
			struct lex_entry *n = realloc(st->lex, cap * sizeof(*n));
			if (n == NULL)
				goto oom;
			st->lex = n;
		}
		memcpy(st->lex[st->n_lex].word, line, wl);
		st->lex[st->n_lex].word[wl] = '\0';
		st->lex[st->n_lex].score = (int8_t)score;
		st->n_lex++;
	}
	fclose(f);
	qsort(st->lex, st->n_lex, sizeof(*st->lex), lex_cmp);
	for (uint32_t i = 1; i < st->n_lex; i++) {
		if (strcmp(st->lex[i - 1].word, st->lex[i].word) == 0) {
			snprintf(env->err, env->errlen, "tweet: %s: word '%s' listed twice; expected each word once",
				 path, st->lex[i].word);
			return -1;
		}
	}
	return 0;
bad:
	snprintf(env->err, env->errlen,
		 "tweet: %s:%u: not a lexicon entry; expected <lowercase word of 1 to 31 letters><TAB><score -5..5>",
		 path, lineno);
	fclose(f);
	return -1;
oom:
	snprintf(env->err, env->errlen, "tweet: out of memory loading %s", path);
	fclose(f);
	return -1;
}

static int lex_score(const struct tweet_state *st, const char *w, size_t n, int *score)
{
	uint32_t lo = 0, hi = st->n_lex;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const char *e = st->lex[mid].word;
		int c = strncmp(e, w, n);
		if (c == 0 && e[n] != '\0')
			c = 1;          /* the entry is longer: it sorts after w */
		if (c == 0) {
			*score = st->lex[mid].score;
			return 0;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static double sentiment(const struct tweet_state *st, const char *t, size_t len)
{
	char w[LEX_WORD_MAX + 1];
	int sum = 0, scored = 0;
	size_t i = 0;

	while (i < len) {
		size_t n = 0;
		bool too_long = false;

		while (i < len) {
			char c = t[i];
			if (c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
			else if (!(c >= 'a' && c <= 'z'))
				break;
			if (n < LEX_WORD_MAX)
				w[n++] = c;
			else
				too_long = true;
			i++;
		}
		int s;
		if (n > 0 && !too_long && lex_score(st, w, n, &s) == 0) {
			sum += s;
			scored++;
		}
		if (n == 0)
			i++;    /* a separator */
	}
	return scored == 0 ? 0.0 : sum / sqrt((double)scored);
}

/* ---- extracting -------------------------------------------------------- */

struct field_err {
	const char *fmt;        /* "missing field '%s'", ...: one %s for the name */
	const char *name;
};

static bool is_type(const struct sl_json_tok *toks, int i, enum sl_json_type t)
{
	return i >= 0 && toks[i].type == t;
}

/* A count that may be absent or null (0), else a non-negative integer. */
static int get_count(const char *s, const struct sl_json_tok *toks, int obj, const char *key,
		     int64_t *v, struct field_err *fe, const char *name)
{
	int i = sl_json_get(s, toks, obj, key);

	*v = 0;
	if (i < 0 || toks[i].type == SL_JSON_NULL)
		return 0;
	if (sl_json_int64(s, &toks[i], v) != 0 || *v < 0) {
		fe->fmt = "field '%s' is not a non-negative integer";
		fe->name = name;
		return -1;
	}
	return 0;
}

/* An id: a string id_str, or else a non-negative integer id. */
static int get_id(const char *s, const struct sl_json_tok *toks, int obj)
{
	int64_t v;
	int i = sl_json_get(s, toks, obj, "id_str");

	if (is_type(toks, i, SL_JSON_STRING) && toks[i].end > toks[i].start)
		return i;
	i = sl_json_get(s, toks, obj, "id");
	if (is_type(toks, i, SL_JSON_NUMBER) && sl_json_int64(s, &toks[i], &v) == 0 && v >= 0)
		return i;
	return -1;
}

/*
 * entities.hashtags, when present: an array of objects with a string
 * "text". *arr = the array, or -1 when entities or hashtags is absent or
 * null (the text is searched instead).
 */
static int get_hashtags(const char *s, const struct sl_json_tok *toks, int obj, int *arr,
			struct field_err *fe)
{
	int ent = sl_json_get(s, toks, obj, "entities"), ht, e;

	*arr = -1;
	if (ent < 0 || toks[ent].type == SL_JSON_NULL)
		return 0;
	if (toks[ent].type != SL_JSON_OBJECT) {
		fe->fmt = "field '%s' is not an object";
		fe->name = "entities";
		return -1;
	}
	ht = sl_json_get(s, toks, ent, "hashtags");
	if (ht < 0 || toks[ht].type == SL_JSON_NULL)
		return 0;
	fe->fmt = "field '%s' is not an array of objects with a string 'text'";
	fe->name = "entities.hashtags";
	if (toks[ht].type != SL_JSON_ARRAY)
		return -1;
	e = sl_json_first(toks, ht);
	for (uint32_t k = 0; k < toks[ht].size; k++, e = sl_json_next(toks, e))
		if (toks[e].type != SL_JSON_OBJECT || !is_type(toks, sl_json_get(s, toks, e, "text"), SL_JSON_STRING))
			return -1;
	*arr = ht;
	return 0;
}

#define MISSING(n) do { fe->fmt = "missing field '%s'"; fe->name = (n); return -1; } while (0)

static int extract(const char *s, const struct sl_json_tok *toks, int obj, struct tweet *t,
		   struct field_err *fe)
{
	t->tok = obj;
	t->id = get_id(s, toks, obj);
	if (t->id < 0)
		MISSING("id_str");
	t->text = sl_json_get(s, toks, obj, "full_text");
	if (!is_type(toks, t->text, SL_JSON_STRING))
		t->text = sl_json_get(s, toks, obj, "text");
	if (!is_type(toks, t->text, SL_JSON_STRING))
		MISSING("text");
	t->user = sl_json_get(s, toks, obj, "user");
	if (!is_type(toks, t->user, SL_JSON_OBJECT))
		MISSING("user");
	t->user_id = get_id(s, toks, t->user);
	if (t->user_id < 0)
		MISSING("user.id_str");
	t->screen_name = sl_json_get(s, toks, t->user, "screen_name");
	if (!is_type(toks, t->screen_name, SL_JSON_STRING))
		MISSING("user.screen_name");
	int fc = sl_json_get(s, toks, t->user, "followers_count");
	if (fc < 0 || toks[fc].type == SL_JSON_NULL)
		MISSING("user.followers_count");
	if (get_count(s, toks, t->user, "followers_count", &t->followers, fe, "user.followers_count") != 0 ||
	    get_count(s, toks, obj, "favorite_count", &t->favorites, fe, "favorite_count") != 0 ||
	    get_count(s, toks, obj, "retweet_count", &t->retweets, fe, "retweet_count") != 0)
		return -1;
	t->retweet_of = sl_json_get(s, toks, obj, "retweeted_status");
	if (t->retweet_of >= 0 && toks[t->retweet_of].type == SL_JSON_NULL)
		t->retweet_of = -1;
	if (t->retweet_of >= 0 && toks[t->retweet_of].type != SL_JSON_OBJECT) {
		fe->fmt = "field '%s' is not an object";
		fe->name = "retweeted_status";
		return -1;
	}
	return get_hashtags(s, toks, obj, &t->hashtags, fe);
}

/* ---- writing ----------------------------------------------------------- */

/* The printf arguments of an id as a JSON string ("%s%.*s%s"): a string's raw content is valid JSON text. */
#define ID_ARGS(s, t) "\"", (int)((t)->end - (t)->start), (s) + (t)->start, "\""

static int emit(struct tweet_state *st, const char *s, const struct tweet *t, struct sl_rec_out *out)
{
	const struct sl_json_tok *toks = st->toks;
	static const struct sl_json_tok null_tok = { .start = 0, .end = 0 };
	const struct sl_json_tok *id = &toks[t->id], *uid = &toks[t->user_id], *rt = &null_tok;
	char eng[32];
	int n;

	if (t->retweet_of >= 0) {
		int rid = get_id(s, toks, t->retweet_of);
		if (rid < 0)
			return -1;
		rt = &toks[rid];
	}
	int tl = sl_json_unescape(s, &toks[t->text], st->text, sizeof(st->text));
	double sent = tl < 0 ? 0.0 : sentiment(st, st->text, (size_t)tl);

	st->text_len = tl;
	if (t->followers == 0)
		strcpy(eng, "null");
	else
		snprintf(eng, sizeof(eng), "%.6g", (double)(t->favorites + t->retweets) / (double)t->followers);

	/* ids, names: slices of the line, so st->rec (a line's worth and more) holds any record */
	if (rt == &null_tok)
		n = snprintf(st->rec, sizeof(st->rec), "{\"id\":%s%.*s%s,\"user\":%s%.*s%s,\"sentiment\":%.4f,"
			     "\"engagement\":%s,\"retweet_of\":null}", ID_ARGS(s, id), ID_ARGS(s, uid), sent, eng);
	else
		n = snprintf(st->rec, sizeof(st->rec), "{\"id\":%s%.*s%s,\"user\":%s%.*s%s,\"sentiment\":%.4f,"
			     "\"engagement\":%s,\"retweet_of\":%s%.*s%s}", ID_ARGS(s, id), ID_ARGS(s, uid), sent,
			     eng, ID_ARGS(s, rt));
	if (n >= (int)sizeof(st->rec) || sl_rec_add(out, 0, st->rec, (uint32_t)n) != 0)
		return -1;

	const struct sl_json_tok *sn = &toks[t->screen_name];
	n = snprintf(st->rec, sizeof(st->rec), "{\"id\":%s%.*s%s,\"screen_name\":\"%.*s\",\"followers\":%lld}",
		     ID_ARGS(s, uid), (int)(sn->end - sn->start), s + sn->start, (long long)t->followers);
	if (n >= (int)sizeof(st->rec) || sl_rec_add(out, 1, st->rec, (uint32_t)n) != 0)
		return -1;
	return 0;
}

/* ---- hashtags ------------------------------------------------------------- */

/* One hashtag of the current line: keep its key unless the line has it already. */
static void line_tag(struct tweet_state *st, const char *tag, size_t len)
{
	uint8_t key[SL_TOPK_KEY];

	if (len == 0)
		return;
	sl_hashtag_key(tag, len, key);
	for (uint32_t i = 0; i < st->n_line_tags; i++)
		if (memcmp(st->line_tags[i], key, SL_TOPK_KEY) == 0)
			return;
	if (st->n_line_tags < TWEET_TAGS)
		memcpy(st->line_tags[st->n_line_tags++], key, SL_TOPK_KEY);
}

static void found_tag(const char *tag, size_t len, void *arg)
{
	line_tag(arg, tag, len);
}

/*
 * The hashtags of tweet t, which was emitted last (st->text holds its
 * unescaped text): from entities.hashtags, else from the text.
 */
static void collect_tags(struct tweet_state *st, const char *s, const struct tweet *t)
{
	const struct sl_json_tok *toks = st->toks;

	st->n_line_tags = 0;
	if (t->hashtags < 0) {
		if (st->text_len > 0)
			sl_hashtags_scan(st->text, (size_t)st->text_len, found_tag, st);
		return;
	}
	/* st->text is free now: it holds the decoded text of one entity at a time */
	int e = sl_json_first(toks, t->hashtags);
	for (uint32_t k = 0; k < toks[t->hashtags].size; k++, e = sl_json_next(toks, e)) {
		const struct sl_json_tok *x = &toks[sl_json_get(s, toks, e, "text")];
		int n;

		if (!x->escaped) {
			line_tag(st, s + x->start, x->end - x->start);
			continue;
		}
		n = sl_json_unescape(s, x, st->text, sizeof(st->text));
		if (n > 0)
			line_tag(st, st->text, (size_t)n);
	}
}

/* ---- the processor table ------------------------------------------------- */

static void *tweet_init(const struct sl_proc_env *env)
{
	struct tweet_state *st = calloc(1, sizeof(*st));

	if (st == NULL) {
		snprintf(env->err, env->errlen, "tweet: out of memory for the per-worker state");
		return NULL;
	}
	if (lex_load(st, env) != 0 || sl_topk_sketch_init(&st->tags, env) != 0) {
		free(st->lex);
		free(st);
		return NULL;
	}
	return st;
}

int sl_tweet_check_data(const char *share_dir, char *err, size_t errlen)
{
	struct sl_proc_env env = { .share_dir = share_dir, .err = err, .errlen = errlen };
	struct tweet_state *st = calloc(1, sizeof(*st));
	int rc;

	if (st == NULL) {
		snprintf(err, errlen, "tweet: out of memory checking the lexicon");
		return -1;
	}
	rc = lex_load(st, &env);
	free(st->lex);
	free(st);
	return rc;
}

static void error_record(struct sl_result *res, struct sl_rec_out *out, uint16_t reason,
			 uint32_t detail, const char *fmt, const char *a, const char *b)
{
	/* fmt is one of this file's literal formats taking two strings */
	sl_line_fail(res, out, reason, detail, fmt, a, b);
}

static enum sl_proc_rc tweet_process(void *state, const struct sl_line_in *in, struct sl_result *res,
				     struct sl_rec_out *out, uint64_t cookie __rte_unused)
{
	struct tweet_state *st = state;
	struct tweet chain[MAX_CHAIN];
	struct sl_json_err err;
	struct field_err fe;
	unsigned n_chain = 0;
	char num[16];
	int obj = 0;

	if (in->flags & SL_LINE_OVERSIZE) {
		res->status = SL_ST_ERROR;
		res->reason = SL_R_OVERSIZE;
		res->fields = 0;
		res->detail = 0;
		return SL_PROC_DONE;
	}
	if (sl_json_parse(in->data, in->len, st->toks, TWEET_TOKENS, &err) < 0) {
		snprintf(num, sizeof(num), "%u", err.offset);
		error_record(res, out, SL_R_JSON, err.offset, "byte %s: %s", num, err.msg);
		return SL_PROC_DONE;
	}
	if (st->toks[0].type != SL_JSON_OBJECT) {
		error_record(res, out, SL_R_JSON, 0, "%s%s", "the line is a JSON value but not an object", "");
		return SL_PROC_DONE;
	}

	/* Extract the whole chain first: a bad retweet writes no half-record. */
	while (obj >= 0) {
		if (n_chain == MAX_CHAIN) {
			error_record(res, out, SL_R_FIELD, 0, "%s%s",
				     "retweets nested more than 3 deep in retweeted_status", "");
			return SL_PROC_DONE;
		}
		if (extract(in->data, st->toks, obj, &chain[n_chain], &fe) != 0) {
			char prefix[64] = "";
			for (unsigned i = 0; i < n_chain; i++)
				strcat(prefix, "retweeted_status.");
			char name[128];
			snprintf(name, sizeof(name), "%s%s", prefix, fe.name);
			error_record(res, out, SL_R_FIELD, n_chain, fe.fmt, name, "");
			return SL_PROC_DONE;
		}
		obj = chain[n_chain].retweet_of;
		n_chain++;
	}

	res->status = SL_ST_OK;
	res->reason = SL_R_NONE;
	res->fields = n_chain;
	res->detail = 0;
	for (unsigned i = 0; i < n_chain; i++) {
		if (emit(st, in->data, &chain[i], out) != 0) {
			out->overflow = 1;      /* the worker reports SL_R_OUTPUT */
			return SL_PROC_DONE;
		}
	}
	/* the line is ok: count the hashtags of the tweet it carries (the original of a retweet) */
	collect_tags(st, in->data, &chain[n_chain - 1]);
	for (uint32_t i = 0; i < st->n_line_tags; i++)
		sl_topk_sketch_add(&st->tags, st->line_tags[i]);
	sl_topk_sketch_tick(&st->tags);
	return SL_PROC_DONE;
}

/* The input ran dry: show the hashtags counted so far now rather than in a second. */
static void tweet_flush(void *state)
{
	struct tweet_state *st = state;

	sl_topk_sketch_flush(&st->tags);
}

static void tweet_fini(void *state)
{
	struct tweet_state *st = state;

	if (st == NULL)
		return;
	sl_topk_sketch_fini(&st->tags);
	free(st->lex);
	free(st);
}

const struct sl_processor sl_proc_tweet = {
	.abi_version = SL_PROC_ABI_VERSION,
	.name = "tweet",
	.streams = { "tweets", "users", NULL },
	.init = tweet_init,
	.process = tweet_process,
	.poll = NULL,
	.flush = tweet_flush,
	.fini = tweet_fini,
};

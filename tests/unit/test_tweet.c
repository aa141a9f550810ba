/*
 * test_tweet.c — the JSON processors: tweet (proc_tweet.c, with the
 * shipped lexicon, and its hashtag top-k: hashtag.c, topk_sketch.c) and
 * ndjson (proc_ndjson.c).
 *
 * The lexicon is found through $SLUICE_SRC (the source root) +
 * /share/sluice, and the fixture tests/fixtures/tweets.ndjson is run
 * line by line the way a worker would, checking each line's verdict and
 * the tweet and user records it produces.
 *
 * Needs EAL (the hashtag sketch is an rte_member in DPDK memory): started
 * with --no-huge --no-shconf and a file prefix of its own, as test_topk.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include <rte_common.h>
#include <rte_eal.h>

#include "control/topk_view.h"
#include "dataplane/hashtag.h"
#include "dataplane/json.h"
#include "dataplane/processor.h"
#include "dataplane/split.h"
#include "dataplane/topk.h"

#include "check.h"
#include "eal_test.h"

static char share[1024];
static char errbuf[512];
static struct sl_tenant_conf tenant;

static char out_buf[SL_RESULT_DATA];
static struct sl_rec_ref out_rec[SL_RESULT_RECS];
static struct sl_rec_out out;
static struct sl_result res;

/* Snapshot slots: (worker, tenant) of the hashtag counts. */
#define N_WORKERS 2
enum { T_MISC, T_TAGS, T_MERGE, T_FIXTURE, N_TENANTS };

static void *make_at(const struct sl_processor *p, const char *share_dir, unsigned worker, unsigned t)
{
	struct sl_proc_env env = {
		.abi_version = SL_PROC_ABI_VERSION, .worker = worker, .tenant_index = (uint16_t)t,
		.tenant = &tenant, .share_dir = share_dir, .err = errbuf, .errlen = sizeof(errbuf),
	};
	errbuf[0] = '\0';
	return p->init(&env);
}

static void *make(const struct sl_processor *p, const char *share_dir)
{
	return make_at(p, share_dir, 0, T_MISC);
}

static void run(const struct sl_processor *p, void *st, const char *line, uint32_t len)
{
	struct sl_line_in in = { .data = line, .len = len, .flags = 0, .line = 1 };

	memset(&out, 0, sizeof(out));
	out.buf = out_buf;
	out.cap = sizeof(out_buf);
	out.max = SL_RESULT_RECS;
	out.rec = out_rec;
	memset(&res, 0xa5, sizeof(res));
	CHECK(p->process(st, &in, &res, &out, 0) == SL_PROC_DONE);
}

static void run_s(const struct sl_processor *p, void *st, const char *line)
{
	run(p, st, line, (uint32_t)strlen(line));
}

/* Record k (in order) as a string, and its stream. */
static const char *rec(unsigned k, unsigned *stream)
{
	static char buf[4][SL_RESULT_DATA + 1];
	static unsigned which;
	char *b = buf[which++ % 4];

	if (k >= out.n)
		return "";
	memcpy(b, out.buf + out.rec[k].off, out.rec[k].len);
	b[out.rec[k].len] = '\0';
	if (stream != NULL)
		*stream = out.rec[k].stream;
	return b;
}

static struct sl_json_tok toks[256];

/* The number value of key in the JSON record r, or NAN if absent/null. */
static double num_of(const char *r, const char *key)
{
	struct sl_json_err e;
	double d;

	if (sl_json_parse(r, (uint32_t)strlen(r), toks, 256, &e) < 0)
		return -12345.0;
	int i = sl_json_get(r, toks, 0, key);
	if (i < 0 || sl_json_double(r, &toks[i], &d) != 0)
		return NAN;
	return d;
}

static bool has_null(const char *r, const char *key)
{
	struct sl_json_err e;

	if (sl_json_parse(r, (uint32_t)strlen(r), toks, 256, &e) < 0)
		return false;
	int i = sl_json_get(r, toks, 0, key);
	return i >= 0 && toks[i].type == SL_JSON_NULL;
}

static bool valid_json(const char *r)
{
	struct sl_json_err e;

	return sl_json_parse(r, (uint32_t)strlen(r), toks, 256, &e) > 0 && toks[0].type == SL_JSON_OBJECT;
}

#define T(id, uid, sn, fol, fav, rt, text, extra) \
	"{\"id_str\":\"" id "\",\"text\":\"" text "\",\"user\":{\"id_str\":\"" uid "\",\"screen_name\":\"" sn \
	"\",\"followers_count\":" #fol "},\"favorite_count\":" #fav ",\"retweet_count\":" #rt extra "}"

static void test_lifecycle(void)
{
	void *st = make(&sl_proc_tweet, share);

	CHECK(st != NULL);
	if (st == NULL)
		fprintf(stderr, "    %s\n", errbuf);
	CHECK(sl_proc_tweet.abi_version == SL_PROC_ABI_VERSION);
	CHECK(strcmp(sl_proc_tweet.name, "tweet") == 0);
	CHECK(strcmp(sl_proc_tweet.streams[0], "tweets") == 0 && strcmp(sl_proc_tweet.streams[1], "users") == 0 &&
	      sl_proc_tweet.streams[2] == NULL);
	CHECK(sl_proc_tweet.poll == NULL);
	sl_proc_tweet.fini(st);
	report("tweet: init loads the shipped lexicon, table is complete");
}

static void test_init_errors(void)
{
	char dir[] = "/tmp/sluice-test-lex-XXXXXX";
	char path[128];
	FILE *f;

	CHECK(make(&sl_proc_tweet, NULL) == NULL && strstr(errbuf, "share_dir") != NULL);
	CHECK(make(&sl_proc_tweet, "") == NULL && strstr(errbuf, "share_dir") != NULL);
	CHECK(make(&sl_proc_tweet, "/nonexistent-sluice") == NULL &&
	      strstr(errbuf, "/nonexistent-sluice/lexicon.tsv") != NULL && strstr(errbuf, "cannot open") != NULL);

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/lexicon.tsv", dir);
	static const char *const bad[] = {
		"# c\ngood\t1\nBad\t2\n", "good\t6\n", "good 1\n", "good\t\n", "good\t1x\n",
		"a\t1\na\t2\n", "x0\t1\n",
	};
	static const char *const want[] = {
		":3: not a lexicon entry", ":1: not a lexicon entry", ":1: not a lexicon entry",
		":1: not a lexicon entry", ":1: not a lexicon entry", "word 'a' listed twice",
		":1: not a lexicon entry",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f = fopen(path, "w");
		fputs(bad[i], f);
		fclose(f);
		CHECK(make(&sl_proc_tweet, dir) == NULL);
		CHECK(strstr(errbuf, want[i]) != NULL && strstr(errbuf, path) != NULL);
		if (cur_failed) {
			fprintf(stderr, "    case %zu: %s\n", i, errbuf);
			break;
		}
	}
	/* A tiny valid one works. */
	f = fopen(path, "w");
	fputs("# only comments and\n\ngood\t3\nbad\t-3\n", f);
	fclose(f);
	void *st = make(&sl_proc_tweet, dir);
	CHECK(st != NULL);
	if (st != NULL) {
		run_s(&sl_proc_tweet, st, T("1", "2", "u", 10, 0, 0, "Good good BAD, goodness", ""));
		/* good + good - bad over sqrt(3); "goodness" is another word */
		CHECK(res.status == SL_ST_OK && fabs(num_of(rec(0, NULL), "sentiment") - 3.0 / sqrt(3.0)) < 1e-3);
		sl_proc_tweet.fini(st);
	}
	unlink(path);
	rmdir(dir);
	report("tweet: init refuses a missing or malformed lexicon, naming file and line");
}

static void test_one_tweet(void)
{
	void *st = make(&sl_proc_tweet, share);
	unsigned s0 = 9, s1 = 9;

	run_s(&sl_proc_tweet, st, T("42", "7", "ana", 100, 3, 2, "I love it, amazing! but the wait was awful", ""));
	CHECK(res.status == SL_ST_OK && res.reason == SL_R_NONE && res.fields == 1 && out.n == 2);
	const char *t = rec(0, &s0), *u = rec(1, &s1);
	CHECK(s0 == 0 && s1 == 1);
	CHECK(valid_json(t) && valid_json(u));
	/* love 3 + amazing 4 + awful -3 = 4 over sqrt(3) */
	CHECK(fabs(num_of(t, "sentiment") - 4.0 / sqrt(3.0)) < 1e-3);
	CHECK(fabs(num_of(t, "engagement") - 0.05) < 1e-9);
	CHECK(strstr(t, "\"id\":\"42\"") != NULL && strstr(t, "\"user\":\"7\"") != NULL);
	CHECK(has_null(t, "retweet_of"));
	CHECK(strcmp(u, "{\"id\":\"7\",\"screen_name\":\"ana\",\"followers\":100}") == 0);

	/* No scored word: 0. Numeric ids, full_text preferred over text, counts absent = 0. */
	run_s(&sl_proc_tweet, st,
	      "{\"id\":123,\"full_text\":\"the table\",\"text\":\"love\",\"user\":{\"id\":9,\"screen_name\":\"b\",\"followers_count\":4}}");
	t = rec(0, NULL);
	CHECK(res.status == SL_ST_OK && num_of(t, "sentiment") == 0.0 && num_of(t, "engagement") == 0.0);
	CHECK(strstr(t, "\"id\":\"123\"") != NULL && strstr(t, "\"user\":\"9\"") != NULL);

	/* Escapes are decoded before words are cut: "\nlove" is the word love. */
	run_s(&sl_proc_tweet, st, T("1", "2", "c", 1, 0, 0, "x\\nlove\\u0021", ""));
	CHECK(res.status == SL_ST_OK && fabs(num_of(rec(0, NULL), "sentiment") - 3.0) < 1e-9);
	sl_proc_tweet.fini(st);
	report("tweet: sentiment, engagement, ids, records in two streams");
}

static void test_zero_followers(void)
{
	void *st = make(&sl_proc_tweet, share);

	run_s(&sl_proc_tweet, st, T("5", "6", "nobody", 0, 4, 1, "hello", ""));
	CHECK(res.status == SL_ST_OK);
	CHECK(has_null(rec(0, NULL), "engagement"));
	CHECK(strstr(rec(1, NULL), "\"followers\":0") != NULL);
	sl_proc_tweet.fini(st);
	report("tweet: zero followers gives engagement null");
}

static void test_retweet(void)
{
	void *st = make(&sl_proc_tweet, share);
	unsigned s[4];

	run_s(&sl_proc_tweet, st,
	      T("200", "20", "rter", 10, 0, 5, "RT @orig: great day",
		",\"retweeted_status\":" T("100", "10", "orig", 50, 7, 5, "great day", "")));
	CHECK(res.status == SL_ST_OK && res.fields == 2 && out.n == 4);
	const char *a = rec(0, &s[0]), *b = rec(1, &s[1]), *c = rec(2, &s[2]), *d = rec(3, &s[3]);
	CHECK(s[0] == 0 && s[1] == 1 && s[2] == 0 && s[3] == 1);
	CHECK(strstr(a, "\"id\":\"200\"") != NULL && strstr(a, "\"retweet_of\":\"100\"") != NULL);
	CHECK(strstr(b, "\"screen_name\":\"rter\"") != NULL);
	CHECK(strstr(c, "\"id\":\"100\"") != NULL && has_null(c, "retweet_of"));
	CHECK(fabs(num_of(c, "engagement") - 12.0 / 50.0) < 1e-9);
	CHECK(strstr(d, "\"screen_name\":\"orig\"") != NULL);

	/* retweeted_status null is not a retweet. */
	run_s(&sl_proc_tweet, st, T("1", "2", "x", 1, 0, 0, "hi", ",\"retweeted_status\":null"));
	CHECK(res.status == SL_ST_OK && res.fields == 1 && out.n == 2);
	sl_proc_tweet.fini(st);
	report("tweet: a retweet's original is a tweet of its own, emitted after");
}

static void test_field_errors(void)
{
	static const struct { const char *line, *reason; uint32_t detail; } cases[] = {
		{ "{\"text\":\"x\",\"user\":{\"id_str\":\"1\",\"screen_name\":\"a\",\"followers_count\":1}}",
		  "missing field 'id_str'", 0 },
		{ "{\"id_str\":\"1\",\"user\":{\"id_str\":\"1\",\"screen_name\":\"a\",\"followers_count\":1}}",
		  "missing field 'text'", 0 },
		{ "{\"id_str\":\"1\",\"text\":5,\"user\":{\"id_str\":\"1\",\"screen_name\":\"a\",\"followers_count\":1}}",
		  "missing field 'text'", 0 },
		{ "{\"id_str\":\"1\",\"text\":\"x\"}", "missing field 'user'", 0 },
		{ "{\"id_str\":\"1\",\"text\":\"x\",\"user\":\"bob\"}", "missing field 'user'", 0 },
		{ "{\"id_str\":\"1\",\"text\":\"x\",\"user\":{\"screen_name\":\"a\",\"followers_count\":1}}",
		  "missing field 'user.id_str'", 0 },
		{ "{\"id_str\":\"1\",\"text\":\"x\",\"user\":{\"id\":-4,\"screen_name\":\"a\",\"followers_count\":1}}",
		  "missing field 'user.id_str'", 0 },
		{ "{\"id_str\":\"1\",\"text\":\"x\",\"user\":{\"id_str\":\"1\",\"followers_count\":1}}",
		  "missing field 'user.screen_name'", 0 },
		{ "{\"id_str\":\"1\",\"text\":\"x\",\"user\":{\"id_str\":\"1\",\"screen_name\":\"a\"}}",
		  "missing field 'user.followers_count'", 0 },
		{ "{\"id_str\":\"1\",\"text\":\"x\",\"user\":{\"id_str\":\"1\",\"screen_name\":\"a\",\"followers_count\":-1}}",
		  "field 'user.followers_count' is not a non-negative integer", 0 },
		{ "{\"id_str\":\"1\",\"text\":\"x\",\"user\":{\"id_str\":\"1\",\"screen_name\":\"a\",\"followers_count\":1.5}}",
		  "field 'user.followers_count' is not a non-negative integer", 0 },
		{ T("1", "1", "a", 1, "\"3\"", 0, "x", ""), "field 'favorite_count' is not a non-negative integer", 0 },
		{ T("1", "1", "a", 1, 0, true, "x", ""), "field 'retweet_count' is not a non-negative integer", 0 },
		{ T("1", "1", "a", 1, 0, 0, "x", ",\"retweeted_status\":[1]"), "field 'retweeted_status' is not an object", 0 },
		{ T("1", "1", "a", 1, 0, 0, "x", ",\"retweeted_status\":{\"id_str\":\"2\",\"text\":\"y\"}"),
		  "missing field 'retweeted_status.user'", 1 },
		{ T("1", "1", "a", 1, 0, 0, "x", ",\"retweeted_status\":" T("2", "2", "b", 1, 0, 0, "y",
		    ",\"retweeted_status\":" T("3", "3", "c", 1, 0, 0, "z", ",\"retweeted_status\":" T("4", "4", "d", 1, 0, 0, "w",
		    ",\"retweeted_status\":" T("5", "5", "e", 1, 0, 0, "v", ""))))),
		  "retweets nested more than 3 deep in retweeted_status", 0 },
	};
	void *st = make(&sl_proc_tweet, share);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned s = 0;
		run_s(&sl_proc_tweet, st, cases[i].line);
		const char *r = rec(0, &s);
		CHECK(res.status == SL_ST_ERROR && res.reason == SL_R_FIELD && res.detail == cases[i].detail);
		CHECK(out.n == 1 && s == SL_STREAM_REASON && strcmp(r, cases[i].reason) == 0);
		if (cur_failed) {
			fprintf(stderr, "    case %zu: reason %u detail %u records %u: %s\n", i, res.reason,
				res.detail, out.n, r);
			break;
		}
	}
	/* Not JSON, or JSON but not an object. */
	run_s(&sl_proc_tweet, st, "{\"id_str\":\"1\",");
	CHECK(res.reason == SL_R_JSON && res.detail == 14 &&
	      strcmp(rec(0, NULL), "byte 14: text ended inside an object") == 0);
	run_s(&sl_proc_tweet, st, "[1]");
	CHECK(res.reason == SL_R_JSON && strstr(rec(0, NULL), "not an object") != NULL);
	sl_proc_tweet.fini(st);
	report("tweet: missing or mistyped fields are SL_R_FIELD with a reason naming the field");
}

static void test_fixture(void)
{
	const char *src = getenv("SLUICE_SRC");
	char path[1024];
	static char line[SL_BATCH_DATA];
	unsigned n = 0, ok = 0, tweets = 0, users = 0, zero = 0, retweets = 0;
	unsigned json_err = 0, field_err = 0;
	void *st = make_at(&sl_proc_tweet, share, 0, T_FIXTURE);
	struct sl_topk_entry top[SL_TOPK_N];

	snprintf(path, sizeof(path), "%s/tests/fixtures/tweets.ndjson", src ? src : ".");
	FILE *f = fopen(path, "r");
	CHECK(f != NULL);
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		uint32_t len = (uint32_t)strcspn(line, "\n");
		n++;
		run(&sl_proc_tweet, st, line, len);
		if (res.status == SL_ST_OK) {
			ok++;
			CHECK(out.overflow == 0 && out.n == 2 * res.fields);
			for (unsigned k = 0; k < out.n; k++) {
				unsigned s;
				const char *r = rec(k, &s);
				CHECK(valid_json(r));
				tweets += s == 0;
				users += s == 1;
				if (s == 0 && has_null(r, "engagement"))
					zero++;
				if (s == 0 && !has_null(r, "retweet_of"))
					retweets++;
			}
		} else {
			json_err += res.reason == SL_R_JSON;
			field_err += res.reason == SL_R_FIELD;
			CHECK(out.n == 1 && out.rec[0].stream == SL_STREAM_REASON);
			if (getenv("VERBOSE"))
				printf("     line %u: %s\n", n, rec(0, NULL));
		}
	}
	if (f != NULL)
		fclose(f);
	sl_proc_tweet.flush(st);
	/* #devops: one tweet, and one retweet whose original has it (counted once for both copies) */
	CHECK(sl_topk_get(T_FIXTURE, top) == 1 && strcmp(top[0].key, "#devops") == 0 && top[0].count == 2);
	sl_proc_tweet.fini(st);
	CHECK(n == 39 && ok == 35 && json_err == 2 && field_err == 2);
	CHECK(tweets == 43 && users == 43 && retweets == 8);
	CHECK(zero >= 5);       /* carla has no followers: her tweets and retweets */
	if (cur_failed)
		fprintf(stderr, "    lines %u ok %u json %u field %u tweets %u users %u retweets %u zero %u\n",
			n, ok, json_err, field_err, tweets, users, retweets, zero);
	report("tweet: tests/fixtures/tweets.ndjson");
}

/* ---- hashtags ---------------------------------------------------------- */

struct tags {
	unsigned n;
	char key[16][SL_TOPK_KEY];
};

static void on_tag(const char *tag, size_t len, void *arg)
{
	struct tags *t = arg;
	uint8_t key[SL_TOPK_KEY];

	sl_hashtag_key(tag, len, key);
	if (t->n < 16)
		memcpy(t->key[t->n++], key, SL_TOPK_KEY);
}

/* The keys of text's hashtags, joined by ' '. */
static const char *scan(const char *text)
{
	static char joined[16 * (SL_TOPK_KEY + 1)];
	struct tags t = { 0 };
	unsigned n = sl_hashtags_scan(text, strlen(text), on_tag, &t);

	joined[0] = '\0';
	for (unsigned i = 0; i < t.n; i++) {
		if (i > 0)
			strcat(joined, " ");
		strcat(joined, t.key[i]);
	}
	return n == t.n ? joined : "(count differs)";
}

static void test_hashtag_rules(void)
{
	static const struct { const char *text, *want; } cases[] = {
		{ "Love #Rust and #DPDK!", "#rust #dpdk" },
		{ "#RUST #rust #Rust", "#rust #rust #rust" },
		{ "#tag", "#tag" },
		{ "(#tag), #tag. #tag\xe2\x80\xa6 \"#tag\"", "#tag #tag #tag #tag" },   /* … ends a tag */
		{ "abc#x a_#y 9#z", "" },                     /* after a hashtag character: no hashtag */
		{ "it&#39;s &#tag", "" },                      /* after '&': no hashtag */
		{ "#2024 #_1 #__ #2024\xe5\xb9\xb4 #a1 #1a", "#2024\xe5\xb9\xb4 #a1 #1a" },   /* not all digits/_ */
		{ "#a_b-c #x#y ##z #", "#a_b #x #z" },
		{ "#caf\xc3\xa9! #T\xc3\xbcrkiye #T\xc3\x9cRKIYE", "#caf\xc3\xa9 #t\xc3\xbcrkiye #t\xc3\xbcrkiye" },
		{ "#\xc5\x81\xc3\x93" "D\xc5\xb9 #Stra\xc3\x9f" "e", "#\xc5\x82\xc3\xb3" "d\xc5\xba #stra\xc3\x9f" "e" },
		{ "#\xce\x91\xce\x98\xce\x97\xce\x9d\xce\x91 #\xd0\x9c\xd0\x9e\xd0\xa1\xd0\x9a\xd0\x92\xd0\x90",
		  "#\xce\xb1\xce\xb8\xce\xb7\xce\xbd\xce\xb1 #\xd0\xbc\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0" },
		{ "\xef\xbc\x83\xe5\x85\xa8\xe8\xa7\x92", "#\xe5\x85\xa8\xe8\xa7\x92" },     /* full-width ＃ */
		{ "#\xf0\x9f\x91\x8d #\xef\xb8\x8f\xe2\x83\xa3 #\xc2\xa0x", "" },              /* emoji, keycap, nbsp */
		{ "#ab\xff" "cd #ok\xe3\x80\x82", "#ab #ok" },   /* bad UTF-8 and 。 end a tag */
		{ "no tags here", "" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = scan(cases[i].text);

		CHECK(strcmp(got, cases[i].want) == 0);
		if (cur_failed) {
			fprintf(stderr, "    case %zu: [%s] gave [%s], want [%s]\n", i, cases[i].text, got,
				cases[i].want);
			break;
		}
	}
	/* Keys are cut to 31 bytes, never inside a character. */
	uint8_t key[SL_TOPK_KEY];
	char tag[64];
	memset(tag, 'a', 40);
	CHECK(sl_hashtag_key(tag, 40, key) == 31 && key[0] == '#' && key[30] == 'a' && key[31] == '\0');
	snprintf(tag, sizeof(tag), "x%s", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
	CHECK(sl_hashtag_key(tag, strlen(tag), key) == 30 && key[29] == 0xa9 && key[30] == '\0');
	CHECK(sl_hashtag_key("X", 1, key) == 2 && strcmp((char *)key, "#x") == 0);
	report("hashtags: what starts, makes and ends one; case folding; keys cut at 31 bytes");
}

/* The published count of key in (worker, tenant)'s snapshot, or 0. */
static uint64_t published(unsigned worker, unsigned t, const char *key)
{
	struct sl_topk_entry e[SL_TOPK_N];
	uint32_t n = sl_topk_read(sl_topk_slot(worker, t), e);

	for (uint32_t i = 0; i < n; i++)
		if (strcmp(e[i].key, key) == 0)
			return e[i].count;
	return 0;
}

#define ENT(...) ",\"entities\":{\"hashtags\":[" __VA_ARGS__ "]}"

static void test_hashtag_counts(void)
{
	void *st = make_at(&sl_proc_tweet, share, 0, T_TAGS);
	struct sl_topk_entry e[SL_TOPK_N];

	CHECK(st != NULL);
	if (st == NULL) {
		fprintf(stderr, "    %s\n", errbuf);
		return;
	}
	/* entities.hashtags wins over the text */
	run_s(&sl_proc_tweet, st, T("1", "2", "a", 1, 0, 0, "#other text",
				    ENT("{\"text\":\"Rust\",\"indices\":[0,5]},{\"text\":\"DPDK\"}")));
	CHECK(res.status == SL_ST_OK && res.fields == 1 && out.n == 2);
	/* no entities: the text; a tag repeated in one tweet counts once */
	run_s(&sl_proc_tweet, st, T("2", "2", "a", 1, 0, 0, "#rust is #great, #Rust again", ""));
	CHECK(res.status == SL_ST_OK);
	/* entities null: the text too; an escaped entity text is decoded */
	run_s(&sl_proc_tweet, st, T("3", "2", "a", 1, 0, 0, "#Caf\\u00e9 time", ",\"entities\":null"));
	run_s(&sl_proc_tweet, st, T("4", "2", "a", 1, 0, 0, "x", ENT("{\"text\":\"caf\\u00c9\"}")));
	/* an empty entities.hashtags: no hashtag, the text is not searched */
	run_s(&sl_proc_tweet, st, T("5", "2", "a", 1, 0, 0, "#ignored", ENT("")));
	CHECK(res.status == SL_ST_OK);
	/* a retweet counts its original's hashtags, not its own copy's */
	run_s(&sl_proc_tweet, st,
	      T("6", "2", "a", 1, 0, 0, "RT @o: #outer",
		",\"retweeted_status\":" T("7", "3", "o", 5, 0, 0, "#inner #RUST", "")));
	CHECK(res.status == SL_ST_OK && res.fields == 2);
	/* lines that are not ok count nothing */
	run_s(&sl_proc_tweet, st, "{\"id_str\":\"8\",\"text\":\"#bad\"}");
	CHECK(res.status == SL_ST_ERROR && res.reason == SL_R_FIELD);
	run_s(&sl_proc_tweet, st, T("9", "2", "a", 1, 0, 0, "#bad", ENT("\"bad\"")));
	CHECK(res.status == SL_ST_ERROR && res.reason == SL_R_FIELD &&
	      strcmp(rec(0, NULL), "field 'entities.hashtags' is not an array of objects with a string 'text'") == 0);
	run_s(&sl_proc_tweet, st, T("9", "2", "a", 1, 0, 0, "x",
				    ",\"retweeted_status\":" T("7", "3", "o", 5, 0, 0, "#bad", ENT("{\"text\":1}"))));
	const char *r = rec(0, NULL);
	CHECK(res.status == SL_ST_ERROR && res.detail == 1 &&
	      strncmp(r, "field 'retweeted_status.entities.hashtags' is not", 49) == 0);
	run_s(&sl_proc_tweet, st, T("9", "2", "a", 1, 0, 0, "#bad", ",\"entities\":[]"));
	CHECK(res.status == SL_ST_ERROR && strcmp(rec(0, NULL), "field 'entities' is not an object") == 0);
	run_s(&sl_proc_tweet, st, "{\"id_str\":\"10\",#bad");
	CHECK(res.status == SL_ST_ERROR && res.reason == SL_R_JSON);

	CHECK(published(0, T_TAGS, "#rust") == 0);      /* nothing before a second or a flush */
	sl_proc_tweet.flush(st);
	int n = sl_topk_get(T_TAGS, e);
	CHECK(n == 5);
	CHECK(n >= 5 && strcmp(e[0].key, "#rust") == 0 && e[0].count == 3);
	CHECK(n >= 5 && strcmp(e[1].key, "#caf\xc3\xa9") == 0 && e[1].count == 2);
	CHECK(n >= 5 && strcmp(e[2].key, "#dpdk") == 0 && e[2].count == 1);
	CHECK(n >= 5 && strcmp(e[3].key, "#great") == 0 && e[3].count == 1);
	CHECK(n >= 5 && strcmp(e[4].key, "#inner") == 0 && e[4].count == 1);
	CHECK(published(0, T_TAGS, "#other") == 0 && published(0, T_TAGS, "#ignored") == 0 &&
	      published(0, T_TAGS, "#outer") == 0 && published(0, T_TAGS, "#bad") == 0);
	if (cur_failed)
		for (int i = 0; i < n; i++)
			fprintf(stderr, "    %d: %s %llu\n", i, e[i].key, (unsigned long long)e[i].count);
	sl_proc_tweet.fini(st);
	report("tweet: hashtags from entities or text, a retweet's original's, once per line, ok lines only");
}

/* Two workers of one tenant: the top 10 is the sum over both (sl_topk_get). */
static void test_hashtag_merge(void)
{
	void *w0 = make_at(&sl_proc_tweet, share, 0, T_MERGE), *w1 = make_at(&sl_proc_tweet, share, 1, T_MERGE);
	struct sl_topk_entry e[SL_TOPK_N];

	CHECK(w0 != NULL && w1 != NULL);
	if (w0 == NULL || w1 == NULL)
		return;
	for (int i = 0; i < 30; i++)
		run_s(&sl_proc_tweet, i % 3 ? w0 : w1, T("1", "2", "a", 1, 0, 0, "#a", ""));
	for (int i = 0; i < 20; i++)
		run_s(&sl_proc_tweet, i % 2 ? w0 : w1, T("1", "2", "a", 1, 0, 0, "#b #A", ""));
	for (int i = 0; i < 12; i++)
		run_s(&sl_proc_tweet, w1, T("1", "2", "a", 1, 0, 0, "#c", ""));
	sl_proc_tweet.flush(w0);
	sl_proc_tweet.flush(w1);
	int n = sl_topk_get(T_MERGE, e);
	CHECK(n == 3 && strcmp(e[0].key, "#a") == 0 && e[0].count == 50 && strcmp(e[1].key, "#b") == 0 &&
	      e[1].count == 20 && strcmp(e[2].key, "#c") == 0 && e[2].count == 12);
	CHECK(published(0, T_MERGE, "#a") == 20 + 10 && published(1, T_MERGE, "#a") == 10 + 10);
	sl_proc_tweet.fini(w0);
	sl_proc_tweet.fini(w1);
	report("tweet: hashtag counts of two workers merge into the tenant's top 10");
}

/* sluiced --check-config and its start check the lexicon before any worker runs. */
static void test_check_data(void)
{
	char err[768];

	CHECK(sl_processor_check_data(&sl_proc_tweet, share, err, sizeof(err)) == 0);
	err[0] = '\0';
	CHECK(sl_processor_check_data(&sl_proc_tweet, "/nonexistent-sluice-share", err, sizeof(err)) == -1);
	CHECK(strstr(err, "/nonexistent-sluice-share/lexicon.tsv") != NULL && strstr(err, "cannot open") != NULL &&
	      strstr(err, "[workers] share_dir") != NULL);
	if (cur_failed)
		fprintf(stderr, "    %s\n", err);
	CHECK(sl_processor_check_data(&sl_proc_tweet, "", err, sizeof(err)) == -1 &&
	      strstr(err, "[workers] share_dir") != NULL);
	/* processors without data files pass whatever share_dir is */
	CHECK(sl_processor_check_data(&sl_proc_csv, "/nonexistent-sluice-share", err, sizeof(err)) == 0);
	CHECK(sl_processor_check_data(&sl_proc_topk, "", err, sizeof(err)) == 0);
	report("tweet: the lexicon is checked before start, naming the path and [workers] share_dir");
}

/* ---- ndjson ------------------------------------------------------------ */

static void test_ndjson(void)
{
	void *st = make(&sl_proc_ndjson, share);
	unsigned s = 9;

	CHECK(st != NULL && strcmp(sl_proc_ndjson.name, "ndjson") == 0 &&
	      strcmp(sl_proc_ndjson.streams[0], "records") == 0 && sl_proc_ndjson.streams[1] == NULL);
	run_s(&sl_proc_ndjson, st, " { \"a\" : 1 , \"b\" : [ true , null ] , \"c\" : \"x y\\\"\" } ");
	CHECK(res.status == SL_ST_OK && res.fields == 3 && out.n == 1);
	CHECK(strcmp(rec(0, &s), "{\"a\":1,\"b\":[true,null],\"c\":\"x y\\\"\"}") == 0 && s == 0);
	run_s(&sl_proc_ndjson, st, "{}");
	CHECK(res.status == SL_ST_OK && res.fields == 0 && strcmp(rec(0, NULL), "{}") == 0);

	static const struct { const char *line; uint32_t off; const char *reason; } bad[] = {
		{ "", 0, "byte 0: text ended where a value was expected" },
		{ "{\"a\":1", 6, "byte 6: text ended inside an object" },
		{ "{\"a\" 1}", 5, "byte 5: expected ':' after an object key" },
		{ "[1,2]", 0, "byte 0: the line is a JSON value but not an object" },
		{ "  \"str\"", 2, "byte 2: the line is a JSON value but not an object" },
		{ "42", 0, "byte 0: the line is a JSON value but not an object" },
		{ "{}{}", 2, "byte 2: text after the JSON value" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run_s(&sl_proc_ndjson, st, bad[i].line);
		const char *r = rec(0, &s);
		CHECK(res.status == SL_ST_ERROR && res.reason == SL_R_JSON && res.detail == bad[i].off &&
		      out.n == 1 && s == SL_STREAM_REASON && strcmp(r, bad[i].reason) == 0);
		if (cur_failed) {
			fprintf(stderr, "    case %zu: detail %u: %s\n", i, res.detail, r);
			break;
		}
	}

	/* Oversize lines are reported as such, and a full output area is an overflow. */
	struct sl_line_in in = { .data = "", .len = 0, .flags = SL_LINE_OVERSIZE, .line = 1 };
	memset(&out, 0, sizeof(out));
	sl_proc_ndjson.process(st, &in, &res, &out, 0);
	CHECK(res.reason == SL_R_OVERSIZE && out.n == 0);
	run_s(&sl_proc_ndjson, st, "{\"k\":\"v\"}");
	out.n = 0;
	out.used = 0;
	out.cap = 3;
	in.data = "{\"k\":\"v\"}";
	in.len = 9;
	in.flags = 0;
	sl_proc_ndjson.process(st, &in, &res, &out, 0);
	CHECK(res.status == SL_ST_OK && out.overflow == 1 && out.n == 0);
	sl_proc_ndjson.fini(st);
	report("ndjson: objects re-emitted compactly; everything else is SL_R_JSON with an offset");
}

int main(int argc, char **argv)
{
	const char *src = getenv("SLUICE_SRC");
	char prefix[64];

	(void)argc;
	if (src == NULL) {
		fprintf(stderr, "SLUICE_SRC is not set (the source root)\n");
		return 2;
	}
	snprintf(share, sizeof(share), "%s/share/sluice", src);
	if (test_eal_start(argv[0], "test-tweet", prefix) < 0) {
		printf("FAIL: rte_eal_init\n");
		return 1;
	}
	if (sl_topk_area_create(N_WORKERS, N_TENANTS) != 0) {
		printf("FAIL: sl_topk_area_create\n");
		return 1;
	}
	test_lifecycle();
	test_init_errors();
	test_one_tweet();
	test_zero_followers();
	test_retweet();
	test_field_errors();
	test_fixture();
	test_hashtag_rules();
	test_hashtag_counts();
	test_hashtag_merge();
	test_check_data();
	test_ndjson();
	sl_topk_area_free();
	rte_eal_cleanup();
	test_eal_remove_runtime_dir(prefix);
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail == 0 ? 0 : 1;
}

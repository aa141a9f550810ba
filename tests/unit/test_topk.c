/*
 * test_topk.c — unit tests for the "topk" processor (dataplane/proc_topk.c),
 * its snapshot area (dataplane/topk.c) and the merge across workers
 * (control/topk_view.c).
 *
 * Needs EAL (rte_member allocates from DPDK memory): the test starts it
 * with --no-huge -m 256 --no-shconf and a file prefix of its own, so it
 * runs unprivileged and beside anything else.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>

#include "control/topk_view.h"
#include "dataplane/processor.h"
#include "dataplane/split.h"
#include "dataplane/topk.h"
#include "eal_test.h"

static int failures, passes;

#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		failures++; \
		printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
		printf(__VA_ARGS__); \
		printf("\n"); \
		return; \
	} \
} while (0)

#define N_WORKERS 2
#define N_TENANTS 6

enum { T_CSV2, T_CSV_SEP, T_JSON_TAGS, T_JSON_MERGE, T_NONE, T_CSV_SEP2 };

static struct sl_config cfg;
static struct sl_tenant_conf tenants[N_TENANTS];
static char err[512];

/* One line's result and its records, as a worker would provide them. */
struct run {
	struct sl_result res;
	struct sl_rec_ref rec[8];
	char buf[1024];
	struct sl_rec_out out;
};

static void *make(unsigned worker, unsigned tenant)
{
	struct sl_proc_env env;

	memset(&env, 0, sizeof(env));
	env.abi_version = SL_PROC_ABI_VERSION;
	env.worker = worker;
	env.tenant_index = (uint16_t)tenant;
	env.tenant = &tenants[tenant];
	env.cfg = &cfg;
	env.err = err;
	env.errlen = sizeof(err);
	err[0] = '\0';
	return sl_proc_topk.init(&env);
}

static void feed_flags(void *st, const char *line, uint32_t flags, struct run *r)
{
	struct sl_line_in in = { .data = line, .len = (uint32_t)strlen(line), .flags = flags, .line = 7 };

	memset(r, 0, sizeof(*r));
	memset(&r->res, 0xa5, sizeof(r->res));
	r->out.buf = r->buf;
	r->out.cap = sizeof(r->buf);
	r->out.rec = r->rec;
	r->out.max = 8;
	enum sl_proc_rc rc = sl_proc_topk.process(st, &in, &r->res, &r->out, 99);
	if (rc != SL_PROC_DONE) {
		printf("FAIL: topk returned PENDING for [%s]\n", line);
		failures++;
	}
}

static void feed(void *st, const char *line, struct run *r)
{
	feed_flags(st, line, 0, r);
}

/* The reason text record of a run, or "". */
static const char *reason_of(struct run *r)
{
	static char text[1024];

	for (unsigned i = 0; i < r->out.n; i++)
		if (r->rec[i].stream == SL_STREAM_REASON) {
			memcpy(text, r->buf + r->rec[i].off, r->rec[i].len);
			text[r->rec[i].len] = '\0';
			return text;
		}
	return "";
}

/* The published count of key in (worker, tenant)'s slot, or 0. */
static uint64_t published(unsigned worker, unsigned tenant, const char *key)
{
	struct sl_topk_entry e[SL_TOPK_N];
	uint32_t n = sl_topk_read(sl_topk_slot(worker, tenant), e);

	for (uint32_t i = 0; i < n; i++)
		if (strcmp(e[i].key, key) == 0)
			return e[i].count;
	return 0;
}

/* ---- the skewed stream ------------------------------------------------- */

#define ZIPF_KEYS 200
#define ZIPF_TOTAL 100000

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Key i (1-based) occurs ~ 1/i of the time; 100k occurrences in a random order. */
static void test_zipf(void)
{
	static uint16_t seq[ZIPF_TOTAL + ZIPF_KEYS];
	uint64_t truth[ZIPF_KEYS + 1] = { 0 };
	double h = 0;
	uint32_t n = 0;
	struct run r;
	char line[128];

	for (int i = 1; i <= ZIPF_KEYS; i++)
		h += 1.0 / i;
	for (int i = 1; i <= ZIPF_KEYS; i++) {
		uint32_t c = (uint32_t)lround(ZIPF_TOTAL / (h * i));

		for (uint32_t k = 0; k < c; k++)
			seq[n++] = (uint16_t)i;
		truth[i] = c;
	}
	for (uint32_t i = n - 1; i > 0; i--) {          /* Fisher-Yates */
		uint32_t j = (uint32_t)(next_rand() % (i + 1));
		uint16_t t = seq[i];

		seq[i] = seq[j];
		seq[j] = t;
	}

	void *st = make(0, T_CSV2);
	CHECK(st != NULL, "init: %s", err);
	for (uint32_t i = 0; i < n; i++) {
		snprintf(line, sizeof(line), "%u,#tag%u,some text", i, seq[i]);
		feed(st, line, &r);
		CHECK(r.res.status == SL_ST_OK && r.res.fields == 1, "line %u: status %u fields %u",
		      i, r.res.status, r.res.fields);
	}
	sl_proc_topk.flush(st);

	struct sl_topk_entry e[SL_TOPK_N];
	uint32_t k = sl_topk_read(sl_topk_slot(0, T_CSV2), e);
	CHECK(k == SL_TOPK_N, "published %u entries", k);
	for (int i = 0; i < 3; i++) {
		snprintf(line, sizeof(line), "#tag%d", i + 1);
		CHECK(strcmp(e[i].key, line) == 0, "rank %d is %s, want %s", i + 1, e[i].key, line);
	}
	int hits = 0;
	for (uint32_t i = 0; i < k; i++) {
		unsigned id = (unsigned)atoi(e[i].key + 4);

		CHECK(id >= 1 && id <= ZIPF_KEYS, "unknown key %s", e[i].key);
		/* count-min never undercounts; 0.1 % of 100k is the overshoot bound */
		CHECK(e[i].count >= truth[id] && e[i].count <= truth[id] + 100,
		      "%s counted %llu, truly %llu", e[i].key, (unsigned long long)e[i].count,
		      (unsigned long long)truth[id]);
		hits += id <= 10;
		if (i > 0)
			CHECK(e[i].count <= e[i - 1].count, "not sorted at rank %u", i + 1);
	}
	CHECK(hits >= 8, "only %d of the true top 10 in the top 10", hits);
	printf("ok   zipf: top 3 exact, %d of the true top 10 (1st %s %llu, truly %llu)\n", hits,
	       e[0].key, (unsigned long long)e[0].count, (unsigned long long)truth[1]);
	passes++;
	sl_proc_topk.fini(st);
}

/* ---- keys in a line ---------------------------------------------------- */

static void test_separator(void)
{
	void *st = make(0, T_CSV_SEP);
	struct run r;

	CHECK(st != NULL, "init: %s", err);
	feed(st, "#a #b  #a ,x", &r);                 /* column 1, ' ' separated */
	CHECK(r.res.status == SL_ST_OK && r.res.fields == 3, "fields %u (empty keys must be skipped)",
	      r.res.fields);
	feed(st, "\"#q,#r \"\"#s\"\"\",y", &r);      /* quoted: the comma is content */
	CHECK(r.res.status == SL_ST_OK && r.res.fields == 2, "quoted: fields %u", r.res.fields);
	feed(st, "   ,y", &r);
	CHECK(r.res.status == SL_ST_OK && r.res.fields == 0, "blank column: fields %u", r.res.fields);
	sl_proc_topk.flush(st);
	CHECK(published(0, T_CSV_SEP, "#a") == 2, "#a counted %llu",
	      (unsigned long long)published(0, T_CSV_SEP, "#a"));
	CHECK(published(0, T_CSV_SEP, "#b") == 1, "#b");
	CHECK(published(0, T_CSV_SEP, "#q,#r") == 1, "#q,#r");
	CHECK(published(0, T_CSV_SEP, "\"#s\"") == 1, "\"#s\" (escaped quotes)");
	sl_proc_topk.fini(st);
	printf("ok   several keys per line\n");
	passes++;
}

/* A column in the middle, behind quoted fields; a comma as separator inside quotes. */
static void test_quoted_columns(void)
{
	void *st = make(1, T_CSV_SEP2);                /* column 3, separator ',' */
	struct run r;

	CHECK(st != NULL, "init: %s", err);
	feed(st, "\"a,\"\"b\",c,\"x,y,,z\",tail", &r);
	CHECK(r.res.status == SL_ST_OK && r.res.fields == 3, "fields %u", r.res.fields);
	sl_proc_topk.flush(st);
	CHECK(published(1, T_CSV_SEP2, "x") == 1 && published(1, T_CSV_SEP2, "z") == 1,
	      "keys of a quoted column split on ','");
	sl_proc_topk.fini(st);
	printf("ok   quoted columns\n");
	passes++;
}

static void test_missing_column(void)
{
	void *st = make(0, T_CSV2);
	struct run r;

	CHECK(st != NULL, "init: %s", err);
	feed(st, "only-one-column", &r);
	CHECK(r.res.status == SL_ST_OK && r.res.reason == SL_R_NONE && r.res.fields == 0 &&
	      r.res.detail == 0 && r.out.n == 0, "missing column: status %u reason %u fields %u",
	      r.res.status, r.res.reason, r.res.fields);
	feed(st, "a,", &r);
	CHECK(r.res.status == SL_ST_OK && r.res.fields == 0, "empty last column");
	feed(st, "", &r);
	CHECK(r.res.status == SL_ST_OK && r.res.fields == 0, "empty line");
	feed_flags(st, "a,#b", SL_LINE_OVERSIZE, &r);
	CHECK(r.res.status == SL_ST_ERROR && r.res.reason == SL_R_OVERSIZE &&
	      r.res.detail == cfg.max_line_bytes, "oversize: reason %u detail %u", r.res.reason,
	      r.res.detail);
	feed_flags(st, "a,\"#b", SL_LINE_UNTERMINATED, &r);
	CHECK(r.res.status == SL_ST_ERROR && r.res.reason == SL_R_UNTERMINATED,
	      "unterminated: reason %u", r.res.reason);
	sl_proc_topk.fini(st);
	printf("ok   missing column, oversize and unterminated lines\n");
	passes++;
}

/* Keys longer than 31 bytes are cut, never in the middle of a UTF-8 character. */
static void test_truncation(void)
{
	void *st = make(1, T_CSV2);
	struct run r;
	char line[128], want[64];

	CHECK(st != NULL, "init: %s", err);
	snprintf(line, sizeof(line), "1,%s", "0123456789012345678901234567890123456789");
	feed(st, line, &r);
	snprintf(line, sizeof(line), "1,%s\xc3\xa9zz", "012345678901234567890123456789");   /* 30 + é */
	feed(st, line, &r);
	sl_proc_topk.flush(st);
	CHECK(published(1, T_CSV2, "0123456789012345678901234567890") == 1, "cut to 31 bytes");
	snprintf(want, sizeof(want), "%s", "012345678901234567890123456789");
	CHECK(published(1, T_CSV2, want) == 1, "é cut whole: 30 bytes kept");
	sl_proc_topk.fini(st);
	printf("ok   long keys cut at 31 bytes on a character boundary\n");
	passes++;
}

/* ---- NDJSON ------------------------------------------------------------ */

static void test_json(void)
{
	void *st = make(0, T_JSON_TAGS);
	struct run r;

	CHECK(st != NULL, "init: %s", err);
	feed(st, "{\"id\":1,\"tags\":[\"#a\",\"#b\"],\"more\":{\"tags\":\"#nested\"}}", &r);
	CHECK(r.res.status == SL_ST_OK && r.res.fields == 2, "array: fields %u", r.res.fields);
	feed(st, "{\"tags\":\"#a\"}", &r);
	CHECK(r.res.status == SL_ST_OK && r.res.fields == 1, "string: fields %u", r.res.fields);
	feed(st, "{\"tags\":\"\\u0023e\"}", &r);
	CHECK(r.res.status == SL_ST_OK && r.res.fields == 1, "escaped: fields %u", r.res.fields);
	feed(st, "{\"id\":2}", &r);
	CHECK(r.res.status == SL_ST_OK && r.res.fields == 0 && r.out.n == 0, "missing field");
	feed(st, "{\"tags\":null}", &r);
	CHECK(r.res.status == SL_ST_OK && r.res.fields == 0, "null field");
	feed(st, "{\"tags\":[]}", &r);
	CHECK(r.res.status == SL_ST_OK && r.res.fields == 0, "empty array");

	/* rejections: each with a reason text, and no key of the line counted */
	feed(st, "{\"tags\":5}", &r);
	CHECK(r.res.status == SL_ST_ERROR && r.res.reason == SL_R_FIELD &&
	      strstr(reason_of(&r), "tags") != NULL && strstr(reason_of(&r), "number") != NULL,
	      "number: reason %u [%s]", r.res.reason, reason_of(&r));
	feed(st, "{\"tags\":[\"#a\",\"#a\",{}]}", &r);
	CHECK(r.res.status == SL_ST_ERROR && r.res.reason == SL_R_FIELD &&
	      strstr(reason_of(&r), "object") != NULL, "object in array: reason %u [%s]",
	      r.res.reason, reason_of(&r));
	feed(st, "{\"tags\":[\"#a\"", &r);
	CHECK(r.res.status == SL_ST_ERROR && r.res.reason == SL_R_JSON &&
	      strstr(reason_of(&r), "byte") != NULL, "broken JSON: reason %u [%s]", r.res.reason,
	      reason_of(&r));
	feed(st, "[\"#a\"]", &r);
	CHECK(r.res.status == SL_ST_ERROR && r.res.reason == SL_R_JSON &&
	      strstr(reason_of(&r), "array") != NULL, "not an object: reason %u [%s]",
	      r.res.reason, reason_of(&r));
	feed(st, "#a,#b", &r);
	CHECK(r.res.status == SL_ST_ERROR && r.res.reason == SL_R_JSON, "CSV into NDJSON topk");

	sl_proc_topk.flush(st);
	CHECK(published(0, T_JSON_TAGS, "#a") == 2, "#a counted %llu (errors must not count)",
	      (unsigned long long)published(0, T_JSON_TAGS, "#a"));
	CHECK(published(0, T_JSON_TAGS, "#b") == 1 && published(0, T_JSON_TAGS, "#e") == 1 &&
	      published(0, T_JSON_TAGS, "#nested") == 0, "#b, #e, not #nested");
	sl_proc_topk.fini(st);
	printf("ok   NDJSON fields, missing fields and rejections\n");
	passes++;
}

/* ---- merge across workers ---------------------------------------------- */

static void feed_n(void *st, const char *key, int n)
{
	char line[128];
	struct run r;

	snprintf(line, sizeof(line), "{\"tag\":\"%s\"}", key);
	for (int i = 0; i < n; i++)
		feed(st, line, &r);
}

static void test_merge(void)
{
	void *w0 = make(0, T_JSON_MERGE), *w1 = make(1, T_JSON_MERGE);
	struct sl_topk_entry e[SL_TOPK_N];
	char json[SL_TOPK_JSON_MAX];

	CHECK(w0 != NULL && w1 != NULL, "init: %s", err);
	CHECK(sl_topk_get(T_JSON_MERGE, e) == 0, "empty before any line");
	feed_n(w0, "a", 100);
	feed_n(w0, "b", 50);
	feed_n(w0, "c", 10);
	feed_n(w1, "b", 80);
	feed_n(w1, "d", 60);
	feed_n(w1, "a", 5);
	feed_n(w1, "q\\\"uote", 1);   /* JSON q\"uote: the key q"uote */
	sl_proc_topk.flush(w0);
	sl_proc_topk.flush(w1);

	int n = sl_topk_get(T_JSON_MERGE, e);
	CHECK(n == 5, "%d merged entries", n);
	CHECK(strcmp(e[0].key, "b") == 0 && e[0].count == 130, "1st %s %llu", e[0].key,
	      (unsigned long long)e[0].count);
	CHECK(strcmp(e[1].key, "a") == 0 && e[1].count == 105, "2nd %s", e[1].key);
	CHECK(strcmp(e[2].key, "d") == 0 && e[2].count == 60, "3rd %s", e[2].key);
	CHECK(strcmp(e[3].key, "c") == 0 && e[3].count == 10, "4th %s", e[3].key);
	CHECK(sl_topk_get(N_TENANTS, e) == -1, "tenant out of range");

	int len = sl_topk_format_json("acme", e, n, json, sizeof(json));
	const char *want = "{\"type\":\"topk\",\"tenant\":\"acme\",\"top\":[{\"key\":\"b\",\"count\":130},"
		"{\"key\":\"a\",\"count\":105},{\"key\":\"d\",\"count\":60},{\"key\":\"c\",\"count\":10},"
		"{\"key\":\"q\\\"uote\",\"count\":1}]}";
	CHECK(len == (int)strlen(want) && strcmp(json, want) == 0, "json %s", json);
	CHECK(sl_topk_format_json("acme", e, n, json, 40) == -1, "too small a buffer");
	CHECK(sl_topk_format_json("acme", e, 0, json, sizeof(json)) > 0 &&
	      strstr(json, "\"top\":[]") != NULL, "empty top: %s", json);

	sl_proc_topk.fini(w0);
	sl_proc_topk.fini(w1);
	printf("ok   merge of two workers through sl_topk_get, websocket JSON\n");
	passes++;
}

/* A busy worker publishes by itself once a second, without flush. */
static void test_periodic(void)
{
	void *st = make(1, T_JSON_TAGS);
	const struct sl_topk_snapshot *slot = sl_topk_slot(1, T_JSON_TAGS);
	struct run r;

	CHECK(st != NULL, "init: %s", err);
	uint64_t seq0 = __atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE);
	feed(st, "{\"tags\":\"#early\"}", &r);
	CHECK(__atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE) == seq0, "published before a second");
	usleep(1100 * 1000);
	feed(st, "{\"tags\":\"#late\"}", &r);
	CHECK(__atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE) == seq0 + 2, "not published after 1.1 s");
	CHECK(published(1, T_JSON_TAGS, "#early") == 1 && published(1, T_JSON_TAGS, "#late") == 1,
	      "both keys in the periodic snapshot");
	sl_proc_topk.fini(st);
	printf("ok   periodic publish\n");
	passes++;
}

/* ---- the seqlock under a concurrent writer ----------------------------- */

static volatile int stop_writer;

static void *writer(void *arg)
{
	struct sl_topk_snapshot *s = arg;
	struct sl_topk_entry e[SL_TOPK_N];

	for (uint64_t v = 1; !stop_writer; v++) {
		for (unsigned i = 0; i < SL_TOPK_N; i++) {
			snprintf(e[i].key, sizeof(e[i].key), "k%llu", (unsigned long long)v);
			e[i].count = v;
		}
		sl_topk_publish(s, e, SL_TOPK_N);
		/* Workers publish once a second; a writer that never stops would
		 * starve every reader (by design: readers give up, never block). A
		 * short gap keeps the race real and the reads possible. */
		for (volatile int k = 0; k < 500; k++)
			;
	}
	return NULL;
}

static void test_seqlock(void)
{
	struct sl_topk_snapshot *s = sl_topk_slot(1, T_NONE);
	struct sl_topk_entry e[SL_TOPK_N];
	pthread_t th;
	unsigned reads = 0, torn = 0;

	CHECK(s != NULL, "slot");
	stop_writer = 0;
	CHECK(pthread_create(&th, NULL, writer, s) == 0, "thread");
	for (int i = 0; i < 200000; i++) {
		uint32_t n = sl_topk_read(s, e);
		char want[SL_TOPK_KEY];

		if (n == 0) {
			/* The writer may be preempted mid-write on a shared CPU: let it finish. */
			sched_yield();
			continue;
		}
		reads++;
		snprintf(want, sizeof(want), "k%llu", (unsigned long long)e[0].count);
		for (unsigned k = 0; k < n; k++)
			if (e[k].count != e[0].count || strcmp(e[k].key, want) != 0)
				torn++;
	}
	stop_writer = 1;
	pthread_join(th, NULL);
	CHECK(torn == 0, "%u torn entries in %u reads", torn, reads);
	CHECK(reads > 0, "no read succeeded");
	printf("ok   seqlock: %u consistent reads under a writer\n", reads);
	passes++;
}

/* ---- init and area rejections ------------------------------------------ */

static void test_rejections(void)
{
	void *st = make(0, T_NONE);

	CHECK(st == NULL, "a topk tenant without column or field was accepted");
	CHECK(strstr(err, "topk_column") != NULL && strstr(err, "topk_field") != NULL,
	      "message does not name the keys: %s", err);
	printf("ok   rejection: %s\n", err);
	st = make(N_WORKERS, T_CSV2);
	CHECK(st == NULL && strstr(err, "sl_topk_area_create") != NULL,
	      "worker beyond the area: %s", err);
	printf("ok   rejection: %s\n", err);
	CHECK(sl_topk_area_create(4, 4) == -EEXIST, "area created twice");
	CHECK(sl_topk_slot(N_WORKERS, 0) == NULL && sl_topk_slot(0, N_TENANTS) == NULL,
	      "slot out of range");
	passes++;
}

int main(int argc, char **argv)
{
	char prefix[64];

	(void)argc;
	if (test_eal_start(argv[0], "test-topk", prefix) < 0) {
		printf("FAIL: rte_eal_init\n");
		return 1;
	}
	cfg.max_line_bytes = 16384;
	for (int i = 0; i < N_TENANTS; i++)
		snprintf(tenants[i].name, sizeof(tenants[i].name), "t%d", i);
	tenants[T_CSV2].topk_column = 2;
	tenants[T_CSV_SEP].topk_column = 1;
	tenants[T_CSV_SEP].topk_separator = ' ';
	snprintf(tenants[T_JSON_TAGS].topk_field, sizeof(tenants[0].topk_field), "tags");
	snprintf(tenants[T_JSON_MERGE].topk_field, sizeof(tenants[0].topk_field), "tag");
	tenants[T_CSV_SEP2].topk_column = 3;
	tenants[T_CSV_SEP2].topk_separator = ',';

	if (sl_topk_get(0, (struct sl_topk_entry[SL_TOPK_N]){ 0 }) != -1 ||
	    sl_topk_area_create(0, 1) != -EINVAL ||
	    sl_topk_area_create(N_WORKERS, N_TENANTS) != 0) {
		printf("FAIL: sl_topk_area_create\n");
		return 1;
	}

	test_zipf();
	test_separator();
	test_quoted_columns();
	test_missing_column();
	test_truncation();
	test_json();
	test_merge();
	test_periodic();
	test_seqlock();
	test_rejections();

	sl_topk_area_free();
	sl_topk_area_free();                           /* idempotent */
	rte_eal_cleanup();
	test_eal_remove_runtime_dir(prefix);
	printf("%d passed, %d failed\n", passes, failures);
	return failures == 0 ? 0 : 1;
}

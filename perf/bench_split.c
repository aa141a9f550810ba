/*
 * bench_split.c — Sluice's line splitter against its physical bound and
 * against a general-purpose CSV parser, on one core, in one run.
 *
 *   build/perf/bench-split [--mib N] [--repeats N] [--cpu N] [--json FILE]
 *
 * Three documents of about N MiB (default 64) are generated in memory,
 * deterministically (a fixed-seed PRNG): plain CSV (4 unquoted columns,
 * ~64 B lines), quoted CSV (every field quoted, some "" escapes, about
 * one line in 50 with a newline inside quotes) and long lines (1 KiB,
 * unquoted). For each document, in the same run and with the repeats
 * interleaved so that drift (turbo, a noisy neighbour) hits all of them
 * alike, we time:
 *
 *   memchr     count '\n' over the bytes: the physical bound for finding
 *              line ends. It overcounts quoted newlines; it is a bound on
 *              bytes scanned, not a splitter.
 *   sluice     sl_split_feed in 1444-byte chunks (the SLP payload: what
 *              the rx lcore does per datagram), and in one big chunk; the
 *              callback counts lines and bytes.
 *   libcsv     csv_parse (Debian libcsv 3.0.3) in 1444-byte chunks, options
 *              0 (CSV_STRICT off, defaults), counting fields and records.
 *
 * Each is the median of the repeats. The record counts must agree: the
 * generator's count == Sluice (both feeds) == libcsv, and memchr == the
 * generator's newline count. Any mismatch prints why and exits 1.
 *
 * Why the median and not the best: the 2-core VM this runs on has noisy
 * neighbours, and a median of interleaved runs compares like with like.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* sched_setaffinity; meson already defines it */
#endif
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <csv.h>
#include <rte_cycles.h>

#include "dataplane/split.h"

#define CHUNK 1444u                 /* SLP payload bytes per datagram */
#define MAX_LINE 16384u             /* the config default for max_line_bytes */
#define MAX_REPEATS 99
#define LIBCSV_OPTS 0               /* CSV_STRICT off, nothing else: the defaults */

enum { M_MEMCHR, M_SLUICE_CHUNK, M_SLUICE_BIG, M_LIBCSV, M_COUNT };

static const char *const method_name[M_COUNT] = {
	"memchr '\\n' count (bound)",
	"Sluice splitter, 1444 B chunks",
	"Sluice splitter, one chunk",
	"libcsv 3.0.3, 1444 B chunks",
};
static const char *const method_key[M_COUNT] = { "memchr", "sluice_1444", "sluice_whole", "libcsv_1444" };

struct doc {
	const char *name;           /* shape, as printed */
	const char *key;            /* shape, in JSON */
	char *buf;
	size_t len, cap;
	uint64_t records;           /* lines as an RFC 4180 reader sees them */
	uint64_t newlines;          /* every '\n' byte, quoted or not */
};

/* One timed run: what it counted, and what it cost. */
struct run {
	uint64_t count;             /* records (memchr: newlines) */
	uint64_t bytes;             /* line bytes seen by the callback (0 if none) */
	uint64_t ns, cycles;
};

struct result {
	uint64_t ns[MAX_REPEATS], cycles[MAX_REPEATS];
	double med_ns, med_cycles;
	uint64_t min_ns, max_ns;    /* the spread, to show how noisy the machine was */
	uint64_t count, bytes;
};

/* ---- deterministic generation ---------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* xorshift64*: fixed seed, so every run benchmarks the same bytes. */
static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static uint32_t rng_below(uint32_t n)
{
	return (uint32_t)((rng() >> 32) % n);
}

static void doc_put(struct doc *d, const char *s, size_t n)
{
	if (d->len + n > d->cap) {
		fprintf(stderr, "bench-split: internal error: document buffer too small\n");
		exit(1);
	}
	memcpy(d->buf + d->len, s, n);
	d->len += n;
}

static void doc_alloc(struct doc *d, const char *name, const char *key, size_t target)
{
	memset(d, 0, sizeof(*d));
	d->name = name;
	d->key = key;
	d->cap = target + 4096;     /* one line of slack past the target */
	d->buf = malloc(d->cap);
	if (d->buf == NULL) {
		fprintf(stderr, "bench-split: cannot allocate %zu bytes; try a smaller --mib\n", d->cap);
		exit(1);
	}
}

static const char *const words[] = {
	"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
	"india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

/* `n` words separated by `sep` into out; returns the length. */
static int phrase(char *out, size_t cap, int n, const char *sep)
{
	int len = 0;

	for (int i = 0; i < n && (size_t)len < cap; i++)
		len += snprintf(out + len, cap - (size_t)len, "%s%s", i ? sep : "", words[rng_below(NWORDS)]);
	return len;
}

/* 4 unquoted columns, ~64 B: id,customer,amount,note */
static void gen_plain(struct doc *d, size_t target)
{
	char line[256], note[128];

	while (d->len < target) {
		phrase(note, sizeof(note), 4 + (int)rng_below(4), " ");
		int n = snprintf(line, sizeof(line), "%u,customer %u,%u.%02u,%s\n", 1000000 + rng_below(9000000),
				 rng_below(100000), rng_below(10000), rng_below(100), note);
		doc_put(d, line, (size_t)n);
		d->records++;
		d->newlines++;
	}
}

/*
 * 4 quoted columns: "id","customer","amount","note". One note in 8 holds
 * "" escapes; one line in 50 has a newline inside the note.
 */
static void gen_quoted(struct doc *d, size_t target)
{
	char line[256], a[64], b[64];

	while (d->len < target) {
		uint32_t kind = rng_below(400);  /* 0..7: newline inside; 8..57: "" escapes */
		int n;

		phrase(a, sizeof(a), 1 + (int)rng_below(3), " ");
		phrase(b, sizeof(b), 1 + (int)rng_below(2), " ");
		if (kind < 8) {
			n = snprintf(line, sizeof(line), "\"%u\",\"customer %u\",\"%u.%02u\",\"%s\n%s\"\n",
				     1000000 + rng_below(9000000), rng_below(100000), rng_below(10000),
				     rng_below(100), a, b);
			d->newlines++;
		} else if (kind < 58) {
			n = snprintf(line, sizeof(line), "\"%u\",\"customer %u\",\"%u.%02u\",\"%s \"\"%s\"\", ok\"\n",
				     1000000 + rng_below(9000000), rng_below(100000), rng_below(10000),
				     rng_below(100), a, b);
		} else {
			n = snprintf(line, sizeof(line), "\"%u\",\"customer %u\",\"%u.%02u\",\"%s, %s\"\n",
				     1000000 + rng_below(9000000), rng_below(100000), rng_below(10000),
				     rng_below(100), a, b);
		}
		doc_put(d, line, (size_t)n);
		d->records++;
		d->newlines++;
	}
}

/* 1 KiB unquoted lines: an id, a timestamp, 2 long text columns. */
static void gen_long(struct doc *d, size_t target)
{
	char line[1100];

	while (d->len < target) {
		int n = snprintf(line, sizeof(line), "%u,2026-03-%02uT09:15:00Z,", 1000000 + rng_below(9000000),
				 1 + rng_below(28));

		/* Words up to 1 KiB (a word is at most 9 bytes with its space,
		 * so this stays inside line), then the column break and the
		 * newline at fixed places, cutting whatever word is there. */
		while (n < 1023)
			n += snprintf(line + n, sizeof(line) - (size_t)n, " %s", words[rng_below(NWORDS)]);
		line[512] = ',';
		line[1023] = '\n';
		doc_put(d, line, 1024);
		d->records++;
		d->newlines++;
	}
}

/* ---- the contenders --------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void run_memchr(const struct doc *d, struct run *r)
{
	const char *p = d->buf, *end = d->buf + d->len;
	uint64_t count = 0;

	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		count++;
		p++;
	}
	r->count = count;
	r->bytes = 0;
}

struct split_count {
	uint64_t lines, bytes, flagged;
};

static void on_line(void *ctx, const char *line, uint32_t len, uint32_t flags)
{
	struct split_count *c = ctx;

	(void)line;  /* counting only: the bytes are where the splitter says */
	c->lines++;
	c->bytes += len;
	c->flagged += flags != 0;
}

static void run_sluice(const struct doc *d, size_t chunk, struct run *r)
{
	static char carry[MAX_LINE];
	struct sl_splitter s;
	struct split_count c = { 0, 0, 0 };

	sl_split_init(&s, carry, MAX_LINE);
	for (size_t off = 0; off < d->len; off += chunk) {
		size_t n = d->len - off < chunk ? d->len - off : chunk;

		sl_split_feed(&s, d->buf + off, n, on_line, &c);
	}
	sl_split_finish(&s, on_line, &c);
	if (c.flagged != 0) {
		fprintf(stderr, "bench-split: %s: %llu lines flagged oversize/unterminated; the generator is wrong\n",
			d->name, (unsigned long long)c.flagged);
		exit(1);
	}
	r->count = c.lines;
	r->bytes = c.bytes;
}

struct csv_count {
	uint64_t fields, records, bytes;
};

static void on_field(void *field, size_t len, void *ctx)
{
	struct csv_count *c = ctx;

	(void)field;  /* libcsv's callback signature; only the count matters here */
	c->fields++;
	c->bytes += len;
}

static void on_record(int term, void *ctx)
{
	struct csv_count *c = ctx;

	(void)term;   /* the terminator byte (or -1 at csv_fini): not needed to count */
	c->records++;
}

static void run_libcsv(const struct doc *d, size_t chunk, struct run *r)
{
	struct csv_parser p;
	struct csv_count c = { 0, 0, 0 };

	if (csv_init(&p, LIBCSV_OPTS) != 0) {
		fprintf(stderr, "bench-split: libcsv: csv_init failed (out of memory?)\n");
		exit(1);
	}
	for (size_t off = 0; off < d->len; off += chunk) {
		size_t n = d->len - off < chunk ? d->len - off : chunk;

		if (csv_parse(&p, d->buf + off, n, on_field, on_record, &c) != n) {
			fprintf(stderr, "bench-split: %s: libcsv: %s at byte %zu\n", d->name,
				csv_strerror(csv_error(&p)), off);
			exit(1);
		}
	}
	csv_fini(&p, on_field, on_record, &c);
	csv_free(&p);
	r->count = c.records;
	r->bytes = c.bytes;
}

static void run_method(int m, const struct doc *d, struct run *r)
{
	uint64_t t0 = now_ns(), c0 = rte_rdtsc();

	switch (m) {
	case M_MEMCHR:
		run_memchr(d, r);
		break;
	case M_SLUICE_CHUNK:
		run_sluice(d, CHUNK, r);
		break;
	case M_SLUICE_BIG:
		run_sluice(d, d->len, r);
		break;
	default:
		run_libcsv(d, CHUNK, r);
		break;
	}
	r->cycles = rte_rdtsc() - c0;
	r->ns = now_ns() - t0;
}

/* ---- measuring and reporting ------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double median(const uint64_t *v, int n)
{
	uint64_t s[MAX_REPEATS];

	memcpy(s, v, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), cmp_u64);
	return n % 2 ? (double)s[n / 2] : ((double)s[n / 2 - 1] + (double)s[n / 2]) / 2.0;
}

/*
 * Times every method on d, `repeats` times each, interleaved and with the
 * order rotated per repeat (so no method always runs right after the
 * cache-hostile one). Returns 0, or -1 if the counts disagree.
 */
static int measure(const struct doc *d, int repeats, struct result res[M_COUNT])
{
	struct run r;
	int bad = 0;

	for (int m = 0; m < M_COUNT; m++)      /* warm-up: page faults, libcsv's buffer, caches */
		run_method(m, d, &r);
	for (int i = 0; i < repeats; i++) {
		for (int k = 0; k < M_COUNT; k++) {
			int m = (i + k) % M_COUNT;

			run_method(m, d, &r);
			res[m].ns[i] = r.ns;
			res[m].cycles[i] = r.cycles;
			if (i > 0 && (r.count != res[m].count || r.bytes != res[m].bytes)) {
				fprintf(stderr, "bench-split: %s: %s counted differently between runs\n", d->name,
					method_name[m]);
				bad = 1;
			}
			res[m].count = r.count;
			res[m].bytes = r.bytes;
		}
	}
	for (int m = 0; m < M_COUNT; m++) {
		res[m].med_ns = median(res[m].ns, repeats);
		res[m].med_cycles = median(res[m].cycles, repeats);
		res[m].min_ns = res[m].max_ns = res[m].ns[0];
		for (int i = 1; i < repeats; i++) {
			if (res[m].ns[i] < res[m].min_ns)
				res[m].min_ns = res[m].ns[i];
			if (res[m].ns[i] > res[m].max_ns)
				res[m].max_ns = res[m].ns[i];
		}
	}

	if (res[M_MEMCHR].count != d->newlines) {
		fprintf(stderr, "bench-split: %s: memchr found %llu newlines, the generator wrote %llu\n", d->name,
			(unsigned long long)res[M_MEMCHR].count, (unsigned long long)d->newlines);
		bad = 1;
	}
	for (int m = M_SLUICE_CHUNK; m < M_COUNT; m++) {
		if (res[m].count != d->records) {
			fprintf(stderr, "bench-split: %s: %s found %llu records, the generator wrote %llu\n",
				d->name, method_name[m], (unsigned long long)res[m].count,
				(unsigned long long)d->records);
			bad = 1;
		}
	}
	if (res[M_SLUICE_CHUNK].bytes != res[M_SLUICE_BIG].bytes) {
		fprintf(stderr, "bench-split: %s: Sluice saw %llu line bytes in chunks but %llu in one piece\n",
			d->name, (unsigned long long)res[M_SLUICE_CHUNK].bytes,
			(unsigned long long)res[M_SLUICE_BIG].bytes);
		bad = 1;
	}
	return bad ? -1 : 0;
}

static void print_table(const struct doc *d, int repeats, const struct result res[M_COUNT])
{
	double bound = res[M_MEMCHR].med_ns, csv = res[M_LIBCSV].med_ns;

	printf("### %s — %.1f MiB, %llu records (%.0f B/record), %llu newline bytes\n\n", d->name,
	       (double)d->len / (1 << 20), (unsigned long long)d->records, (double)d->len / (double)d->records,
	       (unsigned long long)d->newlines);
	printf("| method | GB/s | GB/s range | ns/line | cycles/line | ÷ memchr (fraction of bound) | ÷ libcsv (multiple) |\n");
	printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
	for (int m = 0; m < M_COUNT; m++) {
		const struct result *r = &res[m];

		printf("| %s | %.2f | %.2f–%.2f | %.2f | %.1f | %.1f%% | %.2f× |\n", method_name[m],
		       (double)d->len / r->med_ns, (double)d->len / (double)r->max_ns, (double)d->len / (double)r->min_ns,
		       r->med_ns / (double)d->records, r->med_cycles / (double)d->records, 100.0 * bound / r->med_ns,
		       csv / r->med_ns);
	}
	printf("\nmedian of %d interleaved runs; ns/line divides by records for every row (memchr "
	       "included); records agree: Sluice = libcsv = %llu\n\n", repeats, (unsigned long long)d->records);
}

static void json_doc(FILE *f, const struct doc *d, const struct result res[M_COUNT], int last)
{
	fprintf(f, "    \"%s\": {\"bytes\": %zu, \"records\": %llu, \"newlines\": %llu, \"methods\": {\n", d->key,
		d->len, (unsigned long long)d->records, (unsigned long long)d->newlines);
	for (int m = 0; m < M_COUNT; m++) {
		const struct result *r = &res[m];

		fprintf(f, "      \"%s\": {\"median_ns\": %.0f, \"median_cycles\": %.0f, \"gb_per_s\": %.4f, "
			   "\"min_ns\": %llu, \"max_ns\": %llu, \"ns_per_line\": %.3f, \"fraction_of_memchr\": %.4f, \"multiple_of_libcsv\": %.4f, "
			   "\"count\": %llu}%s\n",
			method_key[m], r->med_ns, r->med_cycles, (double)d->len / r->med_ns,
			(unsigned long long)r->min_ns, (unsigned long long)r->max_ns, r->med_ns / (double)d->records, res[M_MEMCHR].med_ns / r->med_ns,
			res[M_LIBCSV].med_ns / r->med_ns, (unsigned long long)r->count, m + 1 < M_COUNT ? "," : "");
	}
	fprintf(f, "    }}%s\n", last ? "" : ",");
}

static void usage(void)
{
	fprintf(stderr, "usage: bench-split [--mib N (1-1024, default 64)] [--repeats N (1-%d, default 7)] "
			"[--cpu N (default: the last allowed CPU)] [--json FILE]\n", MAX_REPEATS);
	exit(2);
}

static long parse_num(const char *opt, const char *v, long lo, long hi)
{
	char *end;
	long x;

	errno = 0;
	x = v != NULL ? strtol(v, &end, 10) : 0;
	if (v == NULL || errno != 0 || *end != '\0' || end == v || x < lo || x > hi) {
		fprintf(stderr, "bench-split: %s wants a number from %ld to %ld, got '%s'\n", opt, lo, hi,
			v != NULL ? v : "(nothing)");
		usage();
	}
	return x;
}

/* Pin to one CPU so that every figure is a one-core figure. */
static int pin(long want)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) != 0) {
		perror("bench-split: sched_getaffinity");
		exit(1);
	}
	if (want < 0) {
		for (int c = CPU_SETSIZE - 1; c >= 0; c--)
			if (CPU_ISSET(c, &set)) {
				want = c;
				break;
			}
	}
	if (want < 0 || want >= CPU_SETSIZE || !CPU_ISSET(want, &set)) {
		fprintf(stderr, "bench-split: --cpu %ld is not a CPU this process may run on\n", want);
		exit(1);
	}
	CPU_ZERO(&set);
	CPU_SET(want, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0) {
		perror("bench-split: sched_setaffinity");
		exit(1);
	}
	return (int)want;
}

int main(int argc, char **argv)
{
	long mib = 64, repeats = 7, cpu = -1;
	const char *json = NULL;
	static struct result res[3][M_COUNT];
	struct doc docs[3];
	int bad = 0, core;
	uint64_t t_start = now_ns();

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--mib") == 0)
			mib = parse_num("--mib", i + 1 < argc ? argv[++i] : NULL, 1, 1024);
		else if (strcmp(argv[i], "--repeats") == 0)
			repeats = parse_num("--repeats", i + 1 < argc ? argv[++i] : NULL, 1, MAX_REPEATS);
		else if (strcmp(argv[i], "--cpu") == 0)
			cpu = parse_num("--cpu", i + 1 < argc ? argv[++i] : NULL, 0, CPU_SETSIZE - 1);
		else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
			json = argv[++i];
		else
			usage();
	}
	core = pin(cpu);

	/* Open the JSON file first: a bad path should fail now, not after the run. */
	FILE *jf = NULL;

	if (json != NULL && (jf = fopen(json, "w")) == NULL) {
		fprintf(stderr, "bench-split: cannot write --json %s: %s\n", json, strerror(errno));
		return 1;
	}

	size_t target = (size_t)mib << 20;

	doc_alloc(&docs[0], "plain CSV (4 columns, unquoted)", "plain", target);
	gen_plain(&docs[0], target);
	doc_alloc(&docs[1], "quoted CSV (all fields quoted, \"\" escapes, 1/50 lines with a quoted newline)",
		  "quoted", target);
	gen_quoted(&docs[1], target);
	doc_alloc(&docs[2], "long lines (1 KiB, unquoted)", "long", target);
	gen_long(&docs[2], target);

	printf("## Splitting on one core (CPU %d): Sluice vs memchr bound vs libcsv\n\n", core);
	printf("Sluice: sl_split_feed, max_line %u, callback counts lines and bytes. libcsv %d.%d.%d: "
	       "csv_init options %d (CSV_STRICT off, default delimiter ',' and quote '\"', default space/term "
	       "functions), field + record callbacks counting. Chunks: %u B (one SLP payload).\n\n",
	       MAX_LINE, CSV_MAJOR, CSV_MINOR, CSV_RELEASE, LIBCSV_OPTS, CHUNK);

	for (int i = 0; i < 3; i++) {
		if (measure(&docs[i], (int)repeats, res[i]) != 0)
			bad = 1;
		print_table(&docs[i], (int)repeats, res[i]);
	}

	double frac = res[1][M_MEMCHR].med_ns / res[1][M_SLUICE_CHUNK].med_ns;

	printf("Target: splitter (1444 B chunks) >= 25%% of the memchr bound on quoted CSV: %.1f%% — %s\n",
	       100.0 * frac, frac >= 0.25 ? "met" : "NOT met");
	printf("Whole run: %.1f s\n", (double)(now_ns() - t_start) / 1e9);

	if (jf != NULL) {
		FILE *f = jf;

		fprintf(f, "{\n  \"bench\": \"split\", \"cpu\": %d, \"repeats\": %ld, \"chunk\": %u, \"max_line\": %u,\n"
			   "  \"libcsv\": {\"version\": \"%d.%d.%d\", \"options\": %d, \"strict\": false},\n"
			   "  \"target\": {\"shape\": \"quoted\", \"method\": \"sluice_1444\", \"min_fraction_of_memchr\": "
			   "0.25, \"fraction\": %.4f, \"met\": %s},\n  \"counts_agree\": %s,\n  \"shapes\": {\n",
			core, repeats, CHUNK, MAX_LINE, CSV_MAJOR, CSV_MINOR, CSV_RELEASE, LIBCSV_OPTS, frac,
			frac >= 0.25 ? "true" : "false", bad ? "false" : "true");
		for (int i = 0; i < 3; i++)
			json_doc(f, &docs[i], res[i], i == 2);
		fprintf(f, "  }\n}\n");
		if (fclose(f) != 0) {
			fprintf(stderr, "bench-split: writing --json %s failed: %s\n", json, strerror(errno));
			return 1;
		}
	}
	if (bad) {
		fprintf(stderr, "bench-split: FAILED: record counts disagree (see above)\n");
		return 1;
	}
	for (int i = 0; i < 3; i++)
		free(docs[i].buf);
	return 0;
}

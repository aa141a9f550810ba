/*
 * bench_processors.c — lines/s and cycles per line of the built-in
 * processors on one core, side by side in one run, next to the
 * physical bound for the same bytes (a memchr scan for newlines).
 *
 *   build/perf/bench-processors SOURCE_DIR [LINES]
 *
 * Each case processes the same in-memory lines (no I/O, no rings) through
 * the processor's process() the way a worker does, three times; the best
 * run is reported. Cases: csv without a schema, csv with a 6-column typed
 * schema, tweet (NDJSON with retweets, sentiment from the lexicon).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <x86intrin.h>

#include "config/config.h"
#include "dataplane/processor.h"

struct lines {
	char *buf;
	size_t len;
	uint32_t *off, *n;
	size_t count;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
add(struct lines *l, const char *s, size_t n)
{
	l->buf = realloc(l->buf, l->len + n + 1);
	l->off = realloc(l->off, (l->count + 1) * sizeof(*l->off));
	l->n = realloc(l->n, (l->count + 1) * sizeof(*l->n));
	memcpy(l->buf + l->len, s, n);
	l->buf[l->len + n] = '\n';
	l->off[l->count] = (uint32_t)l->len;
	l->n[l->count] = (uint32_t)n;
	l->len += n + 1;
	l->count++;
}

static int
load_config(const char *text, struct sl_config *cfg)
{
	char path[] = "/tmp/sluice-bench-XXXXXX", err[512];
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return -1;
	close(fd);
	if (sl_config_load(path, cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench: %s\n", err);
		unlink(path);
		return -1;
	}
	unlink(path);
	return 0;
}

/* Returns ns per line of the best of 3 runs; *cycles gets cycles per line. */
static double
bench(const struct sl_processor *p, const struct sl_config *cfg, const char *share, const struct lines *l,
      double *cycles, unsigned *ok)
{
	static char data[SL_RESULT_DATA];
	static struct sl_rec_ref recs[SL_RESULT_RECS];
	char err[256] = "";
	struct sl_proc_env env = { SL_PROC_ABI_VERSION, 0, 0, &cfg->tenants[0], cfg, share, err, sizeof(err) };
	void *st = p->init(&env);
	double best = 1e30, best_cyc = 0;

	if (st == NULL) {
		fprintf(stderr, "bench: %s: init failed: %s\n", p->name, err);
		exit(1);
	}
	for (int run = 0; run < 3; run++) {
		uint64_t t0 = now_ns(), c0 = __rdtsc();
		unsigned good = 0;

		for (size_t i = 0; i < l->count; i++) {
			struct sl_line_in in = { l->buf + l->off[i], l->n[i], 0, i + 1 };
			struct sl_result r;
			struct sl_rec_out o = { data, sizeof(data), 0, 0, SL_RESULT_RECS, recs, 0, 0 };

			memset(&r, 0, sizeof(r));
			p->process(st, &in, &r, &o, i);
			good += r.status == SL_ST_OK;
		}
		double ns = (double)(now_ns() - t0) / (double)l->count;
		if (ns < best) {
			best = ns;
			best_cyc = (double)(__rdtsc() - c0) / (double)l->count;
		}
		*ok = good;
	}
	if (p->fini)
		p->fini(st);
	*cycles = best_cyc;
	return best;
}

static double
bound(const struct lines *l, double *cycles)
{
	double best = 1e30, best_cyc = 0;

	for (int run = 0; run < 3; run++) {
		uint64_t t0 = now_ns(), c0 = __rdtsc();
		size_t count = 0;
		const char *p = l->buf, *end = l->buf + l->len;

		while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
			count++;
			p++;
		}
		double ns = (double)(now_ns() - t0) / (double)l->count;
		if (count != l->count)
			abort();
		if (ns < best) {
			best = ns;
			best_cyc = (double)(__rdtsc() - c0) / (double)l->count;
		}
	}
	*cycles = best_cyc;
	return best;
}

static void
row(const char *name, const struct lines *l, double ns, double cyc, double bound_ns, unsigned ok)
{
	printf("| %s | %zu | %.0f | %.1f | %.0f | %.1f%% | %u |\n", name, l->len / l->count, 1e9 / ns, ns, cyc,
	       100.0 * bound_ns / ns, ok);
}

int
main(int argc, char **argv)
{
	const char *src = argc > 1 ? argv[1] : ".";
	size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 200000;
	char share[512], path[512], line[8192], conf[2048];
	static struct sl_config plain, typed, tw;
	struct lines csv = { 0 }, tweets = { 0 };
	double ns, cyc, bns, bcyc;
	unsigned ok;
	FILE *f;

	snprintf(share, sizeof(share), "%s/share/sluice", src);
	for (size_t i = 0; i < n; i++) {
		int k = snprintf(line, sizeof(line), "%zu,customer %zu,%zu.%02zu,%s,2026-03-%02zuT09:15:00Z,note %zu",
				 1000 + i, i % 977, i % 5000, i % 100, i % 3 ? "true" : "false", 1 + i % 28, i);
		add(&csv, line, (size_t)k);
	}
	snprintf(path, sizeof(path), "%s/tests/fixtures/tweets.ndjson", src);
	while (tweets.count < n / 4) {
		if ((f = fopen(path, "r")) == NULL) {
			perror(path);
			return 1;
		}
		while (fgets(line, sizeof(line), f) != NULL && tweets.count < n / 4)
			add(&tweets, line, strcspn(line, "\n"));
		fclose(f);
	}
	snprintf(conf, sizeof(conf), "[dataplane]\nip = 198.18.0.2\n[storage]\ndata_dir = /tmp\n"
		 "[tenant.t]\ntoken = bench-token-0123456789\ncolumns = 6\n");
	if (load_config(conf, &plain) != 0)
		return 1;
	snprintf(conf, sizeof(conf), "[dataplane]\nip = 198.18.0.2\n[storage]\ndata_dir = /tmp\n"
		 "[tenant.t]\ntoken = bench-token-0123456789\nschema = \"order_id:int, customer:string, "
		 "amount:float, paid:bool, ordered_at:timestamp, note:string?\"\n");
	if (load_config(conf, &typed) != 0)
		return 1;
	snprintf(conf, sizeof(conf), "[dataplane]\nip = 198.18.0.2\n[storage]\ndata_dir = /tmp\n"
		 "[tenant.t]\ntoken = bench-token-0123456789\nprocessor = tweet\n");
	if (load_config(conf, &tw) != 0)
		return 1;

	printf("Processors on one core, best of 3 runs, %zu CSV lines and %zu tweets\n\n", csv.count, tweets.count);
	printf("| case | bytes/line | lines/s | ns/line | cycles/line | memchr bound / case | ok lines |\n");
	printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
	bns = bound(&csv, &bcyc);
	printf("| memchr newline scan (bound) | %zu | %.0f | %.1f | %.0f | 100%% | - |\n", csv.len / csv.count,
	       1e9 / bns, bns, bcyc);
	ns = bench(&sl_proc_csv, &plain, share, &csv, &cyc, &ok);
	row("csv, column count only", &csv, ns, cyc, bns, ok);
	ns = bench(&sl_proc_csv, &typed, share, &csv, &cyc, &ok);
	row("csv, 6-column typed schema + record", &csv, ns, cyc, bns, ok);
	bns = bound(&tweets, &bcyc);
	ns = bench(&sl_proc_tweet, &tw, share, &tweets, &cyc, &ok);
	row("tweet (NDJSON, sentiment, 2 streams)", &tweets, ns, cyc, bns, ok);
	return 0;
}

/*
 * perf_docs.c — generating sluice-perf's documents (see perf_docs.h).
 *
 * Everything comes from one splitmix64 stream per document, seeded from
 * --seed and the document's index, so a run can be repeated byte for
 * byte. Lines are padded to about --width bytes; a line never shrinks
 * below what its shape needs.
 */
#include "perf_docs.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gen {
	uint8_t *p;
	size_t len, cap;
	uint64_t rng;
	int oom;
};

static uint64_t next_rand(struct gen *g)
{
	uint64_t z = (g->rng += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static void put(struct gen *g, const char *s, size_t n)
{
	if (g->len + n > g->cap) {
		size_t cap = g->cap ? g->cap : 1 << 16;
		while (cap < g->len + n)
			cap *= 2;
		uint8_t *np = realloc(g->p, cap);
		if (np == NULL) {
			g->oom = 1;
			return;
		}
		g->p = np;
		g->cap = cap;
	}
	memcpy(g->p + g->len, s, n);
	g->len += n;
}

static void putf(struct gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(struct gen *g, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	put(g, buf, n < (int)sizeof buf ? (size_t)n : sizeof buf - 1);
}

static void put_letters(struct gen *g, size_t n)
{
	char buf[64];
	while (n > 0) {
		size_t k = n < sizeof buf ? n : sizeof buf;
		for (size_t i = 0; i < k; i++)
			buf[i] = (char)('a' + next_rand(g) % 26);
		put(g, buf, k);
		n -= k;
	}
}

/* Words for text fields; some are in the tweet lexicon, so sentiment varies. */
static const char *const words[] = {
	"love", "great", "terrible", "coffee", "release", "amazing", "crash", "monday",
	"thanks", "worst", "happy", "slow", "fast", "update", "team", "bad", "good",
	"service", "today", "again", "wow", "broken", "nice", "fix",
};
#define NWORDS (sizeof words / sizeof words[0])

/* About n bytes of words; quoted CSV text may carry "" escapes and newlines. */
static void put_text(struct gen *g, size_t n, int csv_quoted)
{
	size_t start = g->len;
	while (g->len - start < n) {
		if (g->len > start)
			put(g, " ", 1);
		uint64_t r = next_rand(g);
		if (csv_quoted && r % 8 == 0)
			put(g, "\"\"quoted\"\"", 10);
		else if (csv_quoted && r % 10 == 1)
			put(g, "two\nlines,", 10);
		else
			put(g, words[(r >> 8) % NWORDS], strlen(words[(r >> 8) % NWORDS]));
	}
}

static size_t pad_for(unsigned width, size_t used, size_t min)
{
	return width > used + min ? width - used : min;
}

static void line_plain(struct gen *g, const struct perf_cfg *c, uint64_t n, int bad)
{
	unsigned num = (unsigned)(next_rand(g) % 1000000);
	if (bad) {
		putf(g, "%" PRIu64 ",short-row,%u\n", n, num);
		return;
	}
	char head[32], tail[32];
	int hl = snprintf(head, sizeof head, "%" PRIu64 ",", n);
	int tl = snprintf(tail, sizeof tail, ",%u,z\n", num);
	put(g, head, (size_t)hl);
	put_letters(g, pad_for(c->width, (size_t)(hl + tl), 1));
	put(g, tail, (size_t)tl);
}

static void line_quoted(struct gen *g, const struct perf_cfg *c, uint64_t n, int bad)
{
	unsigned num = (unsigned)(next_rand(g) % 1000000);
	if (bad) {
		putf(g, "%" PRIu64 ",\"short, row\",%u\n", n, num);
		return;
	}
	char head[32], tail[32];
	int hl = snprintf(head, sizeof head, "%" PRIu64 ",\"", n);
	int tl = snprintf(tail, sizeof tail, "\",%u,\"a, b\"\n", num);
	put(g, head, (size_t)hl);
	put_text(g, pad_for(c->width, (size_t)(hl + tl), 4), 1);
	put(g, tail, (size_t)tl);
}

static void line_tweet(struct gen *g, const struct perf_cfg *c, const struct perf_doc *d,
		       uint64_t n, int bad)
{
	uint64_t id = (uint64_t)d->j * 1000000000ull + n;
	unsigned user = (unsigned)(next_rand(g) % 100000);
	if (bad) {
		putf(g, "{\"id_str\":\"%" PRIu64 "\",\"id\":%" PRIu64 ",\"text\":\"no user here\"}\n",
		     id, id);
		return;
	}
	char head[64], tail[256];
	int hl = snprintf(head, sizeof head, "{\"id_str\":\"%" PRIu64 "\",\"id\":%" PRIu64
			  ",\"text\":\"", id, id);
	int tl = snprintf(tail, sizeof tail, "\",\"user\":{\"id_str\":\"%u\",\"id\":%u,"
			  "\"screen_name\":\"user%u\",\"followers_count\":%u},\"favorite_count\":%u,"
			  "\"retweet_count\":%u,\"lang\":\"en\"}\n", user, user, user,
			  (unsigned)(next_rand(g) % 50000), (unsigned)(next_rand(g) % 100),
			  (unsigned)(next_rand(g) % 100));
	put(g, head, (size_t)hl);
	put_text(g, pad_for(c->width, (size_t)(hl + tl), 4), 0);
	put(g, tail, (size_t)tl);
}

int perf_doc_make(struct perf_doc *d, const struct perf_cfg *c, char *err, size_t errlen)
{
	struct gen g = { .rng = c->seed * 0x100000001B3ull + d->j + 1 };
	d->lines = c->lines;
	d->line_end = malloc(c->lines * sizeof *d->line_end);
	if (d->line_end == NULL) {
		snprintf(err, errlen, "out of memory for %" PRIu64 " lines of %s/%s", c->lines,
			 d->tenant_name, d->name);
		return -1;
	}
	d->errors_expected = 0;
	for (uint64_t n = 1; n <= c->lines && !g.oom; n++) {
		int bad = c->bad_every && n % c->bad_every == 0;
		d->errors_expected += (uint64_t)bad;
		if (c->shape == PERF_PLAIN)
			line_plain(&g, c, n, bad);
		else if (c->shape == PERF_QUOTED)
			line_quoted(&g, c, n, bad);
		else
			line_tweet(&g, c, d, n, bad);
		if (g.len > UINT32_MAX) {
			snprintf(err, errlen, "%s/%s would be over 4 GiB: fewer --lines or a smaller "
				 "--width", d->tenant_name, d->name);
			free(g.p);
			return -1;
		}
		d->line_end[n - 1] = (uint32_t)g.len;
	}
	if (g.oom) {
		snprintf(err, errlen, "out of memory generating %s/%s", d->tenant_name, d->name);
		free(g.p);
		return -1;
	}
	d->data = g.p;
	d->len = g.len;
	return 0;
}

void perf_doc_free(struct perf_doc *d)
{
	free(d->data);
	free(d->line_end);
	free((void *)d->sent_ns);
	d->data = NULL;
	d->line_end = NULL;
	d->sent_ns = NULL;
}

int perf_shape_parse(const char *s, enum perf_shape *out)
{
	if (strcmp(s, "plain") == 0)
		*out = PERF_PLAIN;
	else if (strcmp(s, "quoted") == 0)
		*out = PERF_QUOTED;
	else if (strcmp(s, "tweets") == 0)
		*out = PERF_TWEETS;
	else
		return -1;
	return 0;
}

const char *perf_shape_name(enum perf_shape s)
{
	return s == PERF_PLAIN ? "plain" : s == PERF_QUOTED ? "quoted" : "tweets";
}

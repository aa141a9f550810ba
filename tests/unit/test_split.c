/*
 * test_split.c — unit tests for the streaming RFC 4180 line splitter.
 *
 * Every document is checked against the lines it must produce, and the
 * same document is then fed again in two pieces at every split point and
 * one byte at a time: a streaming splitter must not care where a chunk
 * ends. A small byte-by-byte reference splitter, written for clarity and
 * not speed, judges thousands of random documents the same way.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/split.h"

#define MAX_LINES 512
#define MAX_DATA (64 * 1024)

struct got_line {
	uint32_t off, len, flags;
	int zero_copy;            /* pointer into the chunk being fed */
	int in_carry;             /* pointer into the splitter's carry */
	uint64_t lines_seen;      /* s->lines during the callback */
};

struct sink {
	struct got_line v[MAX_LINES];
	uint32_t n;
	char data[MAX_DATA];
	uint32_t used;
	const struct sl_splitter *s;
	const char *chunk;        /* the chunk being fed, NULL during finish */
	size_t chunk_n;
	int overflow;
};

static void on_line(void *ctx, const char *line, uint32_t len, uint32_t flags)
{
	struct sink *k = ctx;

	if (k->n == MAX_LINES || len > MAX_DATA - k->used) {
		k->overflow = 1;
		return;
	}
	struct got_line *g = &k->v[k->n++];

	g->off = k->used;
	g->len = len;
	g->flags = flags;
	g->zero_copy = k->chunk != NULL && line >= k->chunk && line + len <= k->chunk + k->chunk_n;
	g->in_carry = k->s->carry != NULL && line >= k->s->carry && line + len <= k->s->carry + k->s->max_line;
	g->lines_seen = k->s->lines;
	memcpy(k->data + k->used, line, len);
	k->used += len;
}

static int failures;

#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		failures++; \
		printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
		printf(__VA_ARGS__); \
		printf("\n"); \
		return; \
	} \
} while (0)

static void sink_init(struct sink *k, const struct sl_splitter *s)
{
	memset(k, 0, sizeof(*k));
	k->s = s;
}

static void feed(struct sl_splitter *s, struct sink *k, const char *p, size_t n)
{
	k->chunk = p;
	k->chunk_n = n;
	sl_split_feed(s, p, n, on_line, k);
	k->chunk = NULL;
}

/*
 * Split doc with chunks of the given sizes (cycled; 0 = one shot).
 * Each chunk is copied into its own buffer that is then scribbled over,
 * so a splitter that keeps pointers into old chunks is caught.
 */
static void split_doc(struct sink *k, const char *doc, size_t n, uint32_t max_line,
		      const size_t *sizes, size_t n_sizes)
{
	static struct sl_splitter s;
	static char carry[MAX_DATA];
	static char chunk[MAX_DATA];
	size_t off = 0, i = 0;

	sl_split_init(&s, carry, max_line);
	sink_init(k, &s);
	while (off < n) {
		size_t c = n_sizes == 0 ? n : sizes[i++ % n_sizes];

		if (c > n - off)
			c = n - off;
		memcpy(chunk, doc + off, c);
		feed(&s, k, chunk, c);
		memset(chunk, '#', c);
		off += c;
	}
	sl_split_finish(&s, on_line, k);
	if (s.lines != k->n)
		k->overflow = 2;
}

static int sinks_equal(const struct sink *a, const struct sink *b)
{
	if (a->n != b->n || a->overflow || b->overflow)
		return 0;
	for (uint32_t i = 0; i < a->n; i++) {
		if (a->v[i].len != b->v[i].len || a->v[i].flags != b->v[i].flags)
			return 0;
		if (memcmp(a->data + a->v[i].off, b->data + b->v[i].off, a->v[i].len) != 0)
			return 0;
	}
	return 1;
}

struct want {
	const char *text;
	uint32_t flags;
};

#define END { NULL, 0 }

/* Compare a sink with the expected lines; text is NUL-free here. */
static int sink_matches(const struct sink *k, const struct want *w, char *why, size_t cap)
{
	uint32_t i;

	if (k->overflow) {
		snprintf(why, cap, "sink overflow/line count mismatch (%d)", k->overflow);
		return 0;
	}
	for (i = 0; w[i].text != NULL; i++) {
		if (i >= k->n) {
			snprintf(why, cap, "only %u lines, wanted more", k->n);
			return 0;
		}
		size_t len = strlen(w[i].text);

		if (k->v[i].len != len || memcmp(k->data + k->v[i].off, w[i].text, len) != 0 ||
		    k->v[i].flags != w[i].flags) {
			snprintf(why, cap, "line %u: got [%.*s] len %u flags %u, wanted [%s] flags %u",
				 i + 1, (int)k->v[i].len, k->data + k->v[i].off, k->v[i].len,
				 k->v[i].flags, w[i].text, w[i].flags);
			return 0;
		}
		if (k->v[i].lines_seen != i + 1) {
			snprintf(why, cap, "line %u: s->lines was %llu during the callback",
				 i + 1, (unsigned long long)k->v[i].lines_seen);
			return 0;
		}
	}
	if (k->n != i) {
		snprintf(why, cap, "got %u lines, wanted %u", k->n, i);
		return 0;
	}
	return 1;
}

/*
 * The heart of the suite: doc must give exactly `w` one-shot, in two
 * pieces at every split point, and one byte at a time.
 */
static int check_doc(const char *name, const char *doc, uint32_t max_line, const struct want *w)
{
	static struct sink one, part;
	size_t n = strlen(doc);
	char why[512];

	split_doc(&one, doc, n, max_line, NULL, 0);
	if (!sink_matches(&one, w, why, sizeof(why))) {
		printf("FAIL %s: one shot: %s\n", name, why);
		return 0;
	}
	for (size_t cut = 0; cut <= n; cut++) {
		size_t sizes[2] = { cut, n - cut };

		if (cut == 0 || cut == n)
			continue;
		split_doc(&part, doc, n, max_line, sizes, 2);
		if (!sink_matches(&part, w, why, sizeof(why))) {
			printf("FAIL %s: split at %zu: %s\n", name, cut, why);
			return 0;
		}
	}
	for (size_t sz = 1; sz <= 3; sz++) {
		split_doc(&part, doc, n, max_line, &sz, 1);
		if (!sink_matches(&part, w, why, sizeof(why))) {
			printf("FAIL %s: %zu-byte chunks: %s\n", name, sz, why);
			return 0;
		}
	}
	return 1;
}

#define DOC(name, doc, max_line, ...) do { \
	static const struct want w_[] = { __VA_ARGS__, END }; \
	if (!check_doc(name, doc, max_line, w_)) { failures++; return; } \
} while (0)

#define DOC_EMPTY(name, doc, max_line) do { \
	static const struct want w_[] = { END }; \
	if (!check_doc(name, doc, max_line, w_)) { failures++; return; } \
} while (0)

#define OVER { "", SL_LINE_OVERSIZE }

/* ---------------------------------------------------------------- cases */

static void test_simple_lines(void)
{
	DOC("lf", "a,b\nc,d\n", 64, { "a,b", 0 }, { "c,d", 0 });
	DOC("crlf", "a,b\r\nc,d\r\n", 64, { "a,b", 0 }, { "c,d", 0 });
	DOC("mixed terminators", "a\r\nb\nc\r\n", 64, { "a", 0 }, { "b", 0 }, { "c", 0 });
}

static void test_last_line(void)
{
	DOC("no final newline", "a\nb", 64, { "a", 0 }, { "b", 0 });
	DOC("no final newline, crlf before", "a\r\nb,c", 64, { "a", 0 }, { "b,c", 0 });
	DOC("final newline gives no extra line", "a\nb\n", 64, { "a", 0 }, { "b", 0 });
	DOC("final crlf gives no extra line", "a\r\n", 64, { "a", 0 });
	DOC_EMPTY("empty document", "", 64);
	DOC("only a newline", "\n", 64, { "", 0 });
	DOC("only a crlf", "\r\n", 64, { "", 0 });
}

static void test_empty_lines(void)
{
	DOC("empty lines in the middle", "a\n\n\nb\n", 64,
	    { "a", 0 }, { "", 0 }, { "", 0 }, { "b", 0 });
	DOC("empty crlf lines", "\r\n\r\nx\r\n", 64, { "", 0 }, { "", 0 }, { "x", 0 });
	DOC("trailing empty line before end", "a\n\n", 64, { "a", 0 }, { "", 0 });
}

static void test_quoted(void)
{
	DOC("quoted comma", "\"a,b\",c\nd\n", 64, { "\"a,b\",c", 0 }, { "d", 0 });
	DOC("escaped quotes", "\"a\"\"b\",\"\"\"\"\nx\n", 64,
	    { "\"a\"\"b\",\"\"\"\"", 0 }, { "x", 0 });
	DOC("escape right before close", "\"a\"\"\"\nz\n", 64, { "\"a\"\"\"", 0 }, { "z", 0 });
	DOC("empty quoted field", "\"\",\"\"\n", 64, { "\"\",\"\"", 0 });
	DOC("quoted lf", "\"a\nb\",c\nd\n", 64, { "\"a\nb\",c", 0 }, { "d", 0 });
	DOC("quoted crlf", "x,\"a\r\nb\"\r\ny\r\n", 64, { "x,\"a\r\nb\"", 0 }, { "y", 0 });
	DOC("quoted lone newline", "\"\n\"\n", 64, { "\"\n\"", 0 });
	DOC("quoted field as last line", "a\n\"b\nc\"", 64, { "a", 0 }, { "\"b\nc\"", 0 });
	DOC("quote after comma opens", "a,\"b\nc\"\n", 64, { "a,\"b\nc\"", 0 });
	DOC("several quoted lines", "\"1\n\",\"2\n\"\n\"3\n\"\n", 64,
	    { "\"1\n\",\"2\n\"", 0 }, { "\"3\n\"", 0 });
}

static void test_literal_quotes(void)
{
	DOC("quote mid field is literal", "a\"b\nc\n", 64, { "a\"b", 0 }, { "c", 0 });
	DOC("quote at field end is literal", "a,b\"\nc\n", 64, { "a,b\"", 0 }, { "c", 0 });
	DOC("space before quote", " \"a\nb\"\n", 64, { " \"a", 0 }, { "b\"", 0 });
	DOC("quote after closed field is literal", "\"a\"x\"\ny\n", 64,
	    { "\"a\"x\"", 0 }, { "y", 0 });
	DOC("bytes after close then comma reopen", "\"a\"x,\"b\nc\"\n", 64,
	    { "\"a\"x,\"b\nc\"", 0 });
}

static void test_lone_cr(void)
{
	DOC("lone cr is literal", "a\rb\nc\n", 64, { "a\rb", 0 }, { "c", 0 });
	DOC("cr cr lf keeps one cr", "a\r\r\nb\n", 64, { "a\r", 0 }, { "b", 0 });
	DOC("cr at end of document is literal", "a\nb\r", 64, { "a", 0 }, { "b\r", 0 });
	DOC("cr only document", "\r", 64, { "\r", 0 });
	DOC("cr then quote is not field start", "\r\"a\nb\n", 64, { "\r\"a", 0 }, { "b", 0 });
}

static void test_oversize(void)
{
	DOC("exactly max_line fits", "abcd\nef\n", 4, { "abcd", 0 }, { "ef", 0 });
	DOC("exactly max_line with crlf fits", "abcd\r\nef\r\n", 4, { "abcd", 0 }, { "ef", 0 });
	DOC("one over", "abcde\nok\n", 4, OVER, { "ok", 0 });
	DOC("long line then fine", "abcdefghijkl\nok\nxyz", 4, OVER, { "ok", 0 }, { "xyz", 0 });
	DOC("oversize last line", "ok\nabcdefgh", 4, { "ok", 0 }, OVER);
	DOC("oversize with quoted newline", "\"aa\nbbbbbb\"\nok\n", 4, OVER, { "ok", 0 });
	DOC("cr past the limit", "abcd\r\r\nok\n", 4, OVER, { "ok", 0 });
	DOC("cr at end past the limit", "abcd\r", 4, OVER);
	DOC("oversize and unterminated", "ok\n\"abcdefgh", 4,
	    { "ok", 0 }, { "", SL_LINE_OVERSIZE | SL_LINE_UNTERMINATED });
	DOC("max_line 0 accepts empty lines", "\n\nx\n", 0, { "", 0 }, { "", 0 }, OVER);
}

static void test_unterminated(void)
{
	DOC("unterminated at finish", "a\n\"b,c\nd", 64,
	    { "a", 0 }, { "\"b,c\nd", SL_LINE_UNTERMINATED });
	DOC("unterminated with final newline", "\"b\n", 64, { "\"b\n", SL_LINE_UNTERMINATED });
	DOC("escaped quote at end is still open", "\"ab\"\"", 64,
	    { "\"ab\"\"", SL_LINE_UNTERMINATED });
	DOC("closing quote at end of document", "\"ab\"", 64, { "\"ab\"", 0 });
	DOC("lone open quote", "\"", 64, { "\"", SL_LINE_UNTERMINATED });
}

/* The chunk-boundary cases the state flags exist for, fed explicitly. */
static void feed_parts(struct sink *k, uint32_t max_line, const char *const *parts)
{
	static struct sl_splitter s;
	static char carry[256];

	sl_split_init(&s, carry, max_line);
	sink_init(k, &s);
	for (size_t i = 0; parts[i] != NULL; i++)
		feed(&s, k, parts[i], strlen(parts[i]));
	sl_split_finish(&s, on_line, k);
}

#define PARTS_CHECK(max_line, parts_, ...) do { \
	static const char *const p_[] = { parts_, NULL }; \
	static const struct want w_[] = { __VA_ARGS__, END }; \
	static struct sink k_; \
	char why_[512]; \
	feed_parts(&k_, max_line, p_); \
	CHECK(sink_matches(&k_, w_, why_, sizeof(why_)), "%s", why_); \
} while (0)

static void test_chunk_boundaries(void)
{
	PARTS_CHECK(64, "a,b\r", { "a,b\r", 0 });
	{
		static const char *const p[] = { "a,b\r", "\nc\n", NULL };
		static const struct want w[] = { { "a,b", 0 }, { "c", 0 }, END };
		static struct sink k;
		char why[512];

		feed_parts(&k, 64, p);
		CHECK(sink_matches(&k, w, why, sizeof(why)), "crlf split: %s", why);
	}
	{
		/* '"' at the end of a chunk inside quotes: escape or close? */
		static const char *const esc[] = { "\"a\"", "\"b\"\nz\n", NULL };
		static const struct want we[] = { { "\"a\"\"b\"", 0 }, { "z", 0 }, END };
		static const char *const cls[] = { "\"a\"", ",b\nz\n", NULL };
		static const struct want wc[] = { { "\"a\",b", 0 }, { "z", 0 }, END };
		static const char *const crlf[] = { "\"a\"", "\r", "\nz\n", NULL };
		static const struct want wr[] = { { "\"a\"", 0 }, { "z", 0 }, END };
		static const char *const lf[] = { "\"a\"", "\n", "z", NULL };
		static const struct want wl[] = { { "\"a\"", 0 }, { "z", 0 }, END };
		static struct sink k;
		char why[512];

		feed_parts(&k, 64, esc);
		CHECK(sink_matches(&k, we, why, sizeof(why)), "pending quote, escape: %s", why);
		feed_parts(&k, 64, cls);
		CHECK(sink_matches(&k, wc, why, sizeof(why)), "pending quote, close: %s", why);
		feed_parts(&k, 64, crlf);
		CHECK(sink_matches(&k, wr, why, sizeof(why)), "pending quote, crlf: %s", why);
		feed_parts(&k, 64, lf);
		CHECK(sink_matches(&k, wl, why, sizeof(why)), "pending quote, lf: %s", why);
	}
	{
		/* A line of exactly max_line whose CR and LF arrive apart still fits. */
		static const char *const p[] = { "ab", "cd\r", "\n", "e\n", NULL };
		static const struct want w[] = { { "abcd", 0 }, { "e", 0 }, END };
		static struct sink k;
		char why[512];

		feed_parts(&k, 4, p);
		CHECK(sink_matches(&k, w, why, sizeof(why)), "max_line + split crlf: %s", why);
	}
	{
		/* Empty chunks change nothing. */
		static const char *const p[] = { "", "a", "", "\n", "", NULL };
		static const struct want w[] = { { "a", 0 }, END };
		static struct sink k;
		char why[512];

		feed_parts(&k, 64, p);
		CHECK(sink_matches(&k, w, why, sizeof(why)), "empty chunks: %s", why);
	}
}

/* Whole lines inside a chunk are pointers into it; carried ones are in the carry. */
static void test_zero_copy(void)
{
	static struct sink k;
	static const char *const p[] = { "a,b\n\"q,\"\"\"\nc", "d\ne\n", NULL };

	feed_parts(&k, 64, p);
	CHECK(k.n == 4, "got %u lines", k.n);
	CHECK(k.v[0].zero_copy && !k.v[0].in_carry, "plain line not zero-copy");
	CHECK(k.v[1].zero_copy && !k.v[1].in_carry, "quoted line not zero-copy");
	CHECK(!k.v[2].zero_copy && k.v[2].in_carry, "split line not from carry");
	CHECK(k.v[3].zero_copy && !k.v[3].in_carry, "line after carry not zero-copy");
}

/* `lines` counts emitted lines across feeds, and the splitter is reusable. */
static void test_lines_counter(void)
{
	static struct sink k;
	struct sl_splitter s;
	char carry[16];

	sl_split_init(&s, carry, sizeof(carry));
	sink_init(&k, &s);
	CHECK(s.lines == 0, "fresh splitter has %llu lines", (unsigned long long)s.lines);
	feed(&s, &k, "a\nb\nc", 5);
	CHECK(s.lines == 2, "after feed: %llu", (unsigned long long)s.lines);
	sl_split_finish(&s, on_line, &k);
	CHECK(s.lines == 3 && k.n == 3, "after finish: %llu", (unsigned long long)s.lines);
	sl_split_finish(&s, on_line, &k);
	CHECK(s.lines == 3 && k.n == 3, "second finish emitted a line");
	feed(&s, &k, "d\n", 2);
	CHECK(s.lines == 4 && k.v[3].len == 1, "feed after finish: %llu", (unsigned long long)s.lines);
	sl_split_init(&s, carry, sizeof(carry));
	CHECK(s.lines == 0 && s.carry_len == 0 && !s.any, "init does not reset");
}

/* ---------------------------------------------- random vs. reference */

/* Byte-by-byte reference: the rules of split.h, one document at once. */
static void ref_split(const char *d, size_t n, uint32_t max_line, struct sink *k)
{
	size_t start = 0;
	int inq = 0, fs = 1;

	for (size_t i = 0; i < n; i++) {
		char c = d[i];

		if (inq) {
			if (c == '"') {
				if (i + 1 < n && d[i + 1] == '"')
					i++;
				else
					inq = 0, fs = 0;
			}
			continue;
		}
		if (c == '\n') {
			size_t len = i - start;

			if (len > 0 && d[i - 1] == '\r')
				len--;
			if (len > max_line)
				on_line(k, d, 0, SL_LINE_OVERSIZE);
			else
				on_line(k, d + start, (uint32_t)len, 0);
			start = i + 1;
			fs = 1;
			continue;
		}
		if (c == '"' && fs) {
			inq = 1;
			fs = 0;
			continue;
		}
		fs = c == ',';
	}
	if (start < n) {
		uint32_t flags = inq ? SL_LINE_UNTERMINATED : 0;

		if (n - start > max_line)
			on_line(k, d, 0, flags | SL_LINE_OVERSIZE);
		else
			on_line(k, d + start, (uint32_t)(n - start), flags);
	}
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)rng_state;
}

static void test_random_vs_reference(void)
{
	static const char alphabet[] = "ab,\"\r\n";
	static struct sink want, got;
	static struct sl_splitter dummy;
	char doc[200];

	for (int iter = 0; iter < 20000; iter++) {
		size_t n = rnd() % sizeof(doc);
		uint32_t max_line = rnd() % 24;
		size_t sizes[4];

		for (size_t i = 0; i < n; i++)
			doc[i] = alphabet[rnd() % (sizeof(alphabet) - 1)];
		for (size_t i = 0; i < 4; i++)
			sizes[i] = 1 + rnd() % 17;

		sink_init(&want, &dummy);
		ref_split(doc, n, max_line, &want);
		split_doc(&got, doc, n, max_line, sizes, 4);
		CHECK(sinks_equal(&want, &got), "iteration %d: %u lines from the splitter, %u from "
		      "the reference (max_line %u, %zu bytes)", iter, got.n, want.n, max_line, n);
		split_doc(&got, doc, n, max_line, NULL, 0);
		CHECK(sinks_equal(&want, &got), "iteration %d, one shot", iter);
	}
}

/* --------------------------------------------------------------- main */

#define RUN(fn) do { \
	int f_ = failures; \
	fn(); \
	if (failures == f_) { printf("ok   %s\n", #fn); } \
	else printf("FAIL %s\n", #fn); \
} while (0)

int main(void)
{
	int tests = 0;

	RUN(test_simple_lines); tests++;
	RUN(test_last_line); tests++;
	RUN(test_empty_lines); tests++;
	RUN(test_quoted); tests++;
	RUN(test_literal_quotes); tests++;
	RUN(test_lone_cr); tests++;
	RUN(test_oversize); tests++;
	RUN(test_unterminated); tests++;
	RUN(test_chunk_boundaries); tests++;
	RUN(test_zero_copy); tests++;
	RUN(test_lines_counter); tests++;
	RUN(test_random_vs_reference); tests++;

	printf("test_split: %d passed, %d failed\n", tests - failures, failures);
	return failures == 0 ? 0 : 1;
}

/*
 * fuzz_split.c — libFuzzer target for the line splitter and the CSV
 * processor behind it.
 *
 * Input layout:
 *   byte 0        max_line: 0..63, or 4096 when the top bit is set
 *   byte 1        k = 1 + (byte % 8): how many chunk-size bytes follow
 *   bytes 2..k+1  chunk sizes, used in a cycle (0 = feed an empty chunk)
 *   the rest      the document
 *
 * The document is split three ways: in one shot, in the chunks above
 * (each chunk in its own exact-size heap buffer, freed right after the
 * feed, so ASan sees any read past a chunk or of an old chunk), and by a
 * byte-by-byte reference that states the rules of split.h as plainly as
 * possible. All three must give the same lines. Every line must respect
 * max_line, and goes through the CSV processor, whose verdict must agree
 * with the splitter on where quoted fields end.
 *
 * Build (by hand, not part of meson):
 *   clang -fsanitize=fuzzer,address,undefined -I. -Iinclude \
 *     $(pkg-config --cflags libdpdk) tests/fuzz/fuzz_split.c \
 *     dataplane/split.c dataplane/proc_csv.c dataplane/reason.c -o /tmp/fuzz_split
 *   /tmp/fuzz_split tests/fuzz/corpus/split
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/processor.h"
#include "dataplane/split.h"

/* The lines of one run, copied out of the callback. */
struct lines {
	uint32_t *len;
	uint32_t *flags;
	uint32_t *off;
	char *data;
	size_t n, used, cap_lines, cap_data;
	uint32_t max_line;
	uint32_t columns;
	const struct sl_splitter *s;   /* NULL for the reference */
};

static void *csv_state;

static void die(const char *what)
{
	fprintf(stderr, "fuzz_split: invariant broken: %s\n", what);
	abort();
}

/* What the processor says about a line must fit what the splitter said. */
static void check_processor(const struct lines *l, const char *line, uint32_t len, uint32_t flags)
{
	struct sl_tenant_conf t;
	struct sl_result r;
	char text[128];

	memset(&t, 0, sizeof(t));
	t.columns = l->columns;
	memset(&r, 0, sizeof(r));
	sl_proc_csv.process(csv_state, &t, line, len, flags, &r);

	if (r.reason >= SL_R__COUNT)
		die("reason out of range");
	if ((r.status == SL_ST_OK) != (r.reason == SL_R_NONE))
		die("status and reason disagree");
	if ((flags & SL_LINE_OVERSIZE) && r.reason != SL_R_OVERSIZE)
		die("oversize line not reported as oversize");
	if (!(flags & SL_LINE_OVERSIZE) && (flags & SL_LINE_UNTERMINATED) &&
	    r.reason != SL_R_UNTERMINATED)
		die("unterminated line not reported as unterminated");
	if (!(flags & SL_LINE_OVERSIZE) && r.fields > len + 1)
		die("more fields than bytes + 1");
	if (r.reason == SL_R_COLUMNS && r.detail != l->columns)
		die("columns error without the expected count");
	if ((r.reason == SL_R_BARE_QUOTE || r.reason == SL_R_AFTER_QUOTE) &&
	    (r.detail == 0 || r.detail > r.fields))
		die("quote error names a field that does not exist");

	/* A line the splitter closed must not end inside quotes for the processor. */
	if (flags == 0 && r.reason == SL_R_UNTERMINATED)
		die("splitter and processor disagree on a quoted field");
	/* A line the splitter left open must end inside quotes (or break earlier). */
	if (flags == SL_LINE_UNTERMINATED) {
		sl_proc_csv.process(csv_state, &t, line, len, 0, &r);
		if (r.reason == SL_R_NONE || r.reason == SL_R_COLUMNS)
			die("unterminated line parses as complete");
	}

	if (sl_result_reason_text(&r, text, sizeof(text)) < 0)
		die("reason text failed");
}

static void on_line(void *ctx, const char *line, uint32_t len, uint32_t flags)
{
	struct lines *l = ctx;

	if (l->n == l->cap_lines || len > l->cap_data - l->used)
		die("more lines or bytes than the document holds");
	if (len > l->max_line)
		die("line longer than max_line");
	if ((flags & SL_LINE_OVERSIZE) && len != 0)
		die("oversize line with a length");
	if (flags & ~(SL_LINE_OVERSIZE | SL_LINE_UNTERMINATED))
		die("unknown flag");
	if (l->s != NULL && l->s->lines != l->n + 1)
		die("lines counter is not the 1-based line number during the callback");

	check_processor(l, line, len, flags);

	l->off[l->n] = (uint32_t)l->used;
	l->len[l->n] = len;
	l->flags[l->n] = flags;
	l->n++;
	if (len > 0)
		memcpy(l->data + l->used, line, len);
	l->used += len;
}

static void lines_init(struct lines *l, size_t doc_len, uint32_t max_line, uint32_t columns)
{
	memset(l, 0, sizeof(*l));
	l->cap_lines = doc_len + 1;
	l->cap_data = doc_len;
	l->len = malloc(l->cap_lines * sizeof(uint32_t));
	l->flags = malloc(l->cap_lines * sizeof(uint32_t));
	l->off = malloc(l->cap_lines * sizeof(uint32_t));
	l->data = malloc(doc_len + 1);
	l->max_line = max_line;
	l->columns = columns;
	if (!l->len || !l->flags || !l->off || !l->data)
		abort();
}

static void lines_free(struct lines *l)
{
	free(l->len);
	free(l->flags);
	free(l->off);
	free(l->data);
}

static void lines_same(const struct lines *a, const struct lines *b, const char *what)
{
	if (a->n != b->n)
		die(what);
	for (size_t i = 0; i < a->n; i++) {
		if (a->len[i] != b->len[i] || a->flags[i] != b->flags[i] ||
		    memcmp(a->data + a->off[i], b->data + b->off[i], a->len[i]) != 0)
			die(what);
	}
}

/* The rules of split.h, one byte at a time, whole document at once. */
static void ref_split(const char *d, size_t n, struct lines *l)
{
	static const char empty[1];
	size_t start = 0;
	int inq = 0, field_start = 1;

	for (size_t i = 0; i < n; i++) {
		char c = d[i];

		if (inq) {
			if (c == '"') {
				if (i + 1 < n && d[i + 1] == '"') {
					i++;
				} else {
					inq = 0;
					field_start = 0;
				}
			}
			continue;
		}
		if (c == '\n') {
			size_t len = i - start;

			if (len > 0 && d[i - 1] == '\r')
				len--;
			if (len > l->max_line)
				on_line(l, empty, 0, SL_LINE_OVERSIZE);
			else
				on_line(l, d + start, (uint32_t)len, 0);
			start = i + 1;
			field_start = 1;
			continue;
		}
		if (c == '"' && field_start) {
			inq = 1;
			field_start = 0;
			continue;
		}
		field_start = c == ',';
	}
	if (start < n) {
		uint32_t flags = inq ? SL_LINE_UNTERMINATED : 0;

		if (n - start > l->max_line)
			on_line(l, empty, 0, flags | SL_LINE_OVERSIZE);
		else
			on_line(l, d + start, (uint32_t)(n - start), flags);
	}
}

/* Feed one chunk from its own exact-size heap copy, freed at once. */
static void feed_copy(struct sl_splitter *s, const uint8_t *p, size_t n, struct lines *l)
{
	char *chunk = malloc(n > 0 ? n : 1);

	if (chunk == NULL)
		abort();
	if (n > 0)
		memcpy(chunk, p, n);
	sl_split_feed(s, chunk, n, on_line, l);
	free(chunk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_splitter s;
	struct lines one, chunked, ref;
	const uint8_t *sizes, *doc;
	size_t n_sizes, doc_len;
	uint32_t max_line, columns;
	char *carry;

	if (size < 2)
		return 0;
	if (csv_state == NULL)
		csv_state = sl_proc_csv.init(NULL, 0);

	max_line = (data[0] & 0x80) ? 4096 : (data[0] & 0x3f);
	columns = (data[0] >> 6) & 1 ? 3 : 0;
	n_sizes = 1 + data[1] % 8;
	if (size < 2 + n_sizes)
		return 0;
	sizes = data + 2;
	doc = data + 2 + n_sizes;
	doc_len = size - 2 - n_sizes;

	/* Exact-size carry so ASan catches a write past max_line. */
	carry = malloc(max_line > 0 ? max_line : 1);
	if (carry == NULL)
		abort();

	/* Reference. */
	lines_init(&ref, doc_len, max_line, columns);
	ref_split((const char *)doc, doc_len, &ref);

	/* One shot. */
	lines_init(&one, doc_len, max_line, columns);
	one.s = &s;
	sl_split_init(&s, carry, max_line);
	feed_copy(&s, doc, doc_len, &one);
	sl_split_finish(&s, on_line, &one);
	if (s.lines != one.n)
		die("lines counter differs from lines emitted (one shot)");

	/* Chunked as the input says. */
	lines_init(&chunked, doc_len, max_line, columns);
	chunked.s = &s;
	sl_split_init(&s, carry, max_line);
	for (size_t off = 0, i = 0; off < doc_len; i++) {
		size_t c = sizes[i % n_sizes];

		if (c == 0) {
			feed_copy(&s, doc + off, 0, &chunked);
			c = 1;
		}
		if (c > doc_len - off)
			c = doc_len - off;
		feed_copy(&s, doc + off, c, &chunked);
		off += c;
	}
	sl_split_finish(&s, on_line, &chunked);
	if (s.lines != chunked.n)
		die("lines counter differs from lines emitted (chunked)");

	/* A second finish must add nothing. */
	sl_split_finish(&s, on_line, &chunked);
	if (s.lines != chunked.n)
		die("second finish emitted a line");

	lines_same(&ref, &one, "one-shot split differs from the reference");
	lines_same(&one, &chunked, "chunked split differs from the one-shot split");

	lines_free(&ref);
	lines_free(&one);
	lines_free(&chunked);
	free(carry);
	return 0;
}

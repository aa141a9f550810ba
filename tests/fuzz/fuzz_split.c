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
 * with the splitter on where quoted fields end. When the input asks for 3
 * columns, the tenant also has a typed schema (int, optional float,
 * optional string): a good line's record must then be valid JSON (checked
 * with dataplane/json.c) and a schema error must name a column and carry
 * a reason record.
 *
 * Build (by hand, not part of meson):
 *   clang -fsanitize=fuzzer,address,undefined -I. -Iinclude \
 *     $(pkg-config --cflags libdpdk) tests/fuzz/fuzz_split.c \
 *     dataplane/split.c dataplane/proc_csv.c dataplane/reason.c dataplane/json.c -o /tmp/fuzz_split
 *   /tmp/fuzz_split tests/fuzz/corpus/split
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/json.h"
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

/* Two tenants: any column count, and 3 typed columns. */
static struct sl_tenant_conf tenant_any, tenant_schema;
static void *state_any, *state_schema;

static void *make_state(const struct sl_tenant_conf *t)
{
	char e[128];
	struct sl_proc_env env = { .abi_version = SL_PROC_ABI_VERSION, .tenant = t, .err = e,
				   .errlen = sizeof(e) };
	void *s = sl_proc_csv.init(&env);

	if (s == NULL)
		abort();
	return s;
}

static void setup(void)
{
	static const struct { const char *name; uint8_t type, required; } cols[] = {
		{ "n", SL_COL_INT, 1 }, { "x", SL_COL_FLOAT, 0 }, { "s", SL_COL_STRING, 0 },
	};

	for (unsigned i = 0; i < 3; i++) {
		snprintf(tenant_schema.schema[i].name, sizeof(tenant_schema.schema[i].name), "%s", cols[i].name);
		tenant_schema.schema[i].type = cols[i].type;
		tenant_schema.schema[i].required = cols[i].required;
	}
	tenant_schema.n_schema = 3;
	tenant_schema.columns = 3;
	state_any = make_state(&tenant_any);
	state_schema = make_state(&tenant_schema);
}

static char out_buf[SL_RESULT_DATA];
static struct sl_rec_ref out_rec[SL_RESULT_RECS];

static void process(void *st, const char *line, uint32_t len, uint32_t flags,
		    struct sl_result *r, struct sl_rec_out *o)
{
	struct sl_line_in in = { .data = line, .len = len, .flags = flags, .line = 1 };

	memset(o, 0, sizeof(*o));
	o->buf = out_buf;
	o->cap = sizeof(out_buf);
	o->max = SL_RESULT_RECS;
	o->rec = out_rec;
	if (sl_proc_csv.process(st, &in, r, o, 0) != SL_PROC_DONE)
		abort();
}

static void die(const char *what)
{
	fprintf(stderr, "fuzz_split: invariant broken: %s\n", what);
	abort();
}

/* What the processor says about a line must fit what the splitter said. */
static void check_processor(const struct lines *l, const char *line, uint32_t len, uint32_t flags)
{
	void *st = l->columns != 0 ? state_schema : state_any;
	struct sl_result r;
	struct sl_rec_out o;
	char text[128];

	memset(&r, 0, sizeof(r));
	process(st, line, len, flags, &r, &o);

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
	if (l->columns == 0 && (o.n != 0 || r.reason == SL_R_SCHEMA))
		die("a line without a schema has a record or a schema error");
	if (r.reason == SL_R_SCHEMA) {
		if (r.detail == 0 || r.detail > 3)
			die("schema error names a column that does not exist");
		if (o.n != 1 || o.rec[0].stream != SL_STREAM_REASON || o.rec[0].len == 0)
			die("schema error without exactly one reason record");
	}
	if (l->columns != 0 && r.status == SL_ST_OK && !o.overflow) {
		static struct sl_json_tok toks[16];
		struct sl_json_err je;

		if (o.n != 1 || o.rec[0].stream != 0)
			die("a good line with a schema has no record");
		int n = sl_json_parse(o.buf + o.rec[0].off, o.rec[0].len, toks, 16, &je);
		if (n != 7 || toks[0].type != SL_JSON_OBJECT || toks[0].size != 3)
			die("the record is not a JSON object of 3 members");
		if (toks[2].type != SL_JSON_NUMBER)
			die("the int column is not a number");
		if (toks[4].type != SL_JSON_NUMBER && toks[4].type != SL_JSON_NULL)
			die("the float column is neither a number nor null");
		if (toks[6].type != SL_JSON_STRING && toks[6].type != SL_JSON_NULL)
			die("the string column is neither a string nor null");
	}
	if (r.status != SL_ST_OK && r.reason != SL_R_SCHEMA && o.n != 0)
		die("a structural error with records");

	/* A line the splitter closed must not end inside quotes for the processor. */
	if (flags == 0 && r.reason == SL_R_UNTERMINATED)
		die("splitter and processor disagree on a quoted field");
	/* A line the splitter left open must end inside quotes (or break earlier). */
	if (flags == SL_LINE_UNTERMINATED) {
		process(st, line, len, 0, &r, &o);
		if (r.reason == SL_R_NONE || r.reason == SL_R_COLUMNS || r.reason == SL_R_SCHEMA)
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
	if (state_any == NULL)
		setup();

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

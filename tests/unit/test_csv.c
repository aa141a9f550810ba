/*
 * test_csv.c — unit tests for the CSV processor (proc_csv.c) and the
 * reason names and texts (reason.c).
 *
 * Lines are given as the splitter would hand them over (terminator
 * removed, flags set); a group runs whole documents through the
 * splitter into the processor, the way a worker sees them; the last
 * group checks typed schemas: accepted values, their JSON records, and
 * every kind of schema error with its reason record.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/processor.h"
#include "dataplane/split.h"

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

static void *state;
/* The tenant the state was made for: tests change its columns between lines. */
static struct sl_tenant_conf tenant;

/* The output area of one line, as a worker would hand it over. */
static char out_buf[SL_RESULT_DATA];
static struct sl_rec_ref out_rec[SL_RESULT_RECS];
static struct sl_rec_out out;

static void out_reset(void)
{
	memset(&out, 0, sizeof(out));
	out.buf = out_buf;
	out.cap = sizeof(out_buf);
	out.max = SL_RESULT_RECS;
	out.rec = out_rec;
}

static void *make_state(const struct sl_tenant_conf *t)
{
	char e[128] = "";
	struct sl_proc_env env = {
		.abi_version = SL_PROC_ABI_VERSION, .tenant = t, .err = e, .errlen = sizeof(e),
	};
	return sl_proc_csv.init(&env);
}

static struct sl_result run_in(void *st, const char *line, uint32_t len, uint32_t flags)
{
	struct sl_line_in in = { .data = line, .len = len, .flags = flags, .line = 42 };
	struct sl_result r;

	memset(&r, 0xa5, sizeof(r));           /* prove every field we own is written */
	r.line = 42;
	out_reset();
	enum sl_proc_rc rc = sl_proc_csv.process(st, &in, &r, &out, 7);
	if (rc != SL_PROC_DONE)
		r.status = 99;
	return r;
}

static struct sl_result run(const char *line, uint32_t len, uint32_t flags, uint32_t columns)
{
	tenant.columns = columns;
	return run_in(state, line, len, flags);
}

static struct sl_result run_s(const char *line, uint32_t columns)
{
	return run(line, (uint32_t)strlen(line), 0, columns);
}

/* Expect status/reason/fields/detail for one line. */
#define EXPECT(text, columns, st, rs, nf, dt) do { \
	struct sl_result r_ = run_s(text, columns); \
	CHECK(r_.status == (st) && r_.reason == (rs) && r_.fields == (nf) && \
	      r_.detail == (dt) && r_.line == 42 && out.n == 0, \
	      "[%s] columns %u: status %u reason %s fields %u detail %u", \
	      text, (unsigned)(columns), r_.status, sl_reason_name(r_.reason), \
	      r_.fields, r_.detail); \
} while (0)

#define OK(text, nf) EXPECT(text, 0, SL_ST_OK, SL_R_NONE, nf, 0)

static void test_field_counts(void)
{
	OK("a", 1);
	OK("a,b,c", 3);
	OK("a,,c", 3);
	OK(",", 2);
	OK("a,b,", 3);
	OK(",,,,", 5);
	OK("\"a,b\",c", 2);
	OK("\"a\"\"b\",\"\"", 2);
	OK("\"\"", 1);
	OK("\"\",\"\",\"\"", 3);
	OK("x,\"a,b,c\"", 2);
	OK("\"a\",b,\"c\"", 3);
	OK("a b, c d", 2);                  /* spaces are data */
	OK("a\rb,c", 2);                    /* a lone CR is data */
	OK("\"\"\"\"", 1);                  /* a field holding one quote */
}

static void test_empty_line(void)
{
	struct sl_result r = run("", 0, 0, 0);

	CHECK(r.status == SL_ST_OK && r.reason == SL_R_NONE && r.fields == 1 && r.detail == 0,
	      "empty line: status %u reason %u fields %u", r.status, r.reason, r.fields);
	/* An empty line is one empty field: fine for 1 column, wrong for 3. */
	r = run("", 0, 0, 1);
	CHECK(r.status == SL_ST_OK, "empty line, columns 1: reason %u", r.reason);
	r = run("", 0, 0, 3);
	CHECK(r.status == SL_ST_ERROR && r.reason == SL_R_COLUMNS && r.detail == 3 &&
	      r.fields == 1, "empty line, columns 3: reason %u", r.reason);
	/* A NULL pointer with len 0 must not be touched. */
	r = run(NULL, 0, 0, 0);
	CHECK(r.status == SL_ST_OK && r.fields == 1, "NULL empty line");
}

static void test_columns(void)
{
	EXPECT("a,b,c,d", 4, SL_ST_OK, SL_R_NONE, 4, 0);
	EXPECT("a,b,c", 4, SL_ST_ERROR, SL_R_COLUMNS, 3, 4);
	EXPECT("a,b,c,d,e", 4, SL_ST_ERROR, SL_R_COLUMNS, 5, 4);
	EXPECT("\"a,b\",c", 3, SL_ST_ERROR, SL_R_COLUMNS, 2, 3);
	EXPECT("\"a,b\",c,d", 3, SL_ST_OK, SL_R_NONE, 3, 0);
	EXPECT("anything,at,all", 0, SL_ST_OK, SL_R_NONE, 3, 0);
	/* Quoting errors win over the column check: the count is not trustworthy. */
	EXPECT("a\"b", 2, SL_ST_ERROR, SL_R_BARE_QUOTE, 1, 1);
}

static void test_bare_quote(void)
{
	EXPECT("a\"b", 0, SL_ST_ERROR, SL_R_BARE_QUOTE, 1, 1);
	EXPECT("a,b\"", 0, SL_ST_ERROR, SL_R_BARE_QUOTE, 2, 2);
	EXPECT("a,b, \"c\"", 0, SL_ST_ERROR, SL_R_BARE_QUOTE, 3, 3);
	EXPECT("\"ok\",x\"y,z", 0, SL_ST_ERROR, SL_R_BARE_QUOTE, 2, 2);
	EXPECT("\r\"a", 0, SL_ST_ERROR, SL_R_BARE_QUOTE, 1, 1);
}

static void test_after_quote(void)
{
	EXPECT("\"a\"b", 0, SL_ST_ERROR, SL_R_AFTER_QUOTE, 1, 1);
	EXPECT("x,\"a\" ,y", 0, SL_ST_ERROR, SL_R_AFTER_QUOTE, 2, 2);
	EXPECT("x,y,\"a\"\"\"z", 0, SL_ST_ERROR, SL_R_AFTER_QUOTE, 3, 3);
	EXPECT("\"a\"\"", 0, SL_ST_ERROR, SL_R_UNTERMINATED, 1, 0);   /* "" then end: open */
	EXPECT("\"a\"\r", 0, SL_ST_ERROR, SL_R_AFTER_QUOTE, 1, 1);
}

static void test_unterminated(void)
{
	const char *l = "a,\"b,c\nd";
	struct sl_result r = run(l, (uint32_t)strlen(l), SL_LINE_UNTERMINATED, 0);

	CHECK(r.status == SL_ST_ERROR && r.reason == SL_R_UNTERMINATED && r.detail == 0,
	      "flagged: reason %s detail %u", sl_reason_name(r.reason), r.detail);
	CHECK(r.fields == 2, "flagged: fields %u", r.fields);
	/* Unterminated beats a column check: the line is cut short. */
	r = run(l, (uint32_t)strlen(l), SL_LINE_UNTERMINATED, 5);
	CHECK(r.reason == SL_R_UNTERMINATED, "flagged with columns: reason %s",
	      sl_reason_name(r.reason));
	/* A line that was not split by us but still ends inside quotes. */
	EXPECT("\"abc", 0, SL_ST_ERROR, SL_R_UNTERMINATED, 1, 0);
	EXPECT("x,\"", 0, SL_ST_ERROR, SL_R_UNTERMINATED, 2, 0);
}

static void test_oversize(void)
{
	struct sl_result r = run("", 0, SL_LINE_OVERSIZE, 4);

	CHECK(r.status == SL_ST_ERROR && r.reason == SL_R_OVERSIZE && r.detail == 0 &&
	      r.fields == 0 && r.line == 42,
	      "oversize: reason %s detail %u fields %u", sl_reason_name(r.reason), r.detail, r.fields);
	r = run("", 0, SL_LINE_OVERSIZE | SL_LINE_UNTERMINATED, 0);
	CHECK(r.reason == SL_R_OVERSIZE, "oversize+unterminated: reason %s",
	      sl_reason_name(r.reason));
}

static void test_quoted_newlines(void)
{
	OK("\"a\nb\",c", 2);
	OK("\"a\r\nb\",\"c\r\n\"", 2);
	OK("\"\n\"", 1);
	EXPECT("x,\"multi\nline\",y", 3, SL_ST_OK, SL_R_NONE, 3, 0);
}

static void test_lifecycle(void)
{
	void *s = make_state(&tenant);

	CHECK(s != NULL, "init returned NULL");
	CHECK(sl_proc_csv.abi_version == SL_PROC_ABI_VERSION, "abi %u", sl_proc_csv.abi_version);
	CHECK(strcmp(sl_proc_csv.name, "csv") == 0, "name %s", sl_proc_csv.name);
	CHECK(strcmp(sl_proc_csv.streams[0], "records") == 0 && sl_proc_csv.streams[1] == NULL,
	      "streams");
	CHECK(sl_proc_csv.init && sl_proc_csv.process && sl_proc_csv.fini, "missing function");
	CHECK(sl_proc_csv.poll == NULL, "csv never leaves a line pending");
	sl_proc_csv.fini(s);
}

/* -------------------------------------------------------- reasons */

static void text_of(uint16_t reason, uint32_t fields, uint32_t detail, char *buf, size_t cap)
{
	struct sl_result r;

	memset(&r, 0, sizeof(r));
	r.status = reason == SL_R_NONE ? SL_ST_OK : SL_ST_ERROR;
	r.reason = reason;
	r.fields = fields;
	r.detail = detail;
	sl_result_reason_text(&r, buf, cap);
}

#define TEXT(reason, fields, detail, want) do { \
	char b_[128]; \
	text_of(reason, fields, detail, b_, sizeof(b_)); \
	CHECK(strcmp(b_, want) == 0, "got \"%s\", wanted \"%s\"", b_, want); \
} while (0)

static void test_reason_names(void)
{
	static const char *const want[] = {
		"ok", "columns", "bare_quote", "after_quote", "unterminated_quote", "oversize",
	};

	/* The CSV reasons; the others (reason.c) are named by their own tests. */
	for (int i = 0; i < (int)(sizeof(want) / sizeof(want[0])); i++)
		CHECK(strcmp(sl_reason_name((enum sl_reason)i), want[i]) == 0,
		      "reason %d: %s", i, sl_reason_name((enum sl_reason)i));
	CHECK(strcmp(sl_reason_name(SL_R__COUNT), "unknown") == 0, "out of range name");
	CHECK(strcmp(sl_reason_name((enum sl_reason)999), "unknown") == 0, "far out of range");
}

static void test_reason_texts(void)
{
	char small[8];
	struct sl_result r;
	int n;

	TEXT(SL_R_NONE, 3, 0, "");
	TEXT(SL_R_COLUMNS, 3, 4, "expected 4 columns, got 3");
	TEXT(SL_R_COLUMNS, 2, 1, "expected 1 column, got 2");
	TEXT(SL_R_BARE_QUOTE, 2, 2, "quote inside unquoted field 2");
	TEXT(SL_R_AFTER_QUOTE, 3, 3, "unexpected bytes after closing quote in field 3");
	TEXT(SL_R_UNTERMINATED, 1, 0, "document ended inside a quoted field");
	TEXT(SL_R_OVERSIZE, 0, 16384, "line longer than 16384 bytes");
	TEXT(SL_R_OVERSIZE, 0, 0, "line longer than the limit");
	TEXT(77, 0, 0, "unknown reason 77");

	/* snprintf rules: truncated but terminated, returns the full length. */
	memset(&r, 0, sizeof(r));
	r.reason = SL_R_COLUMNS;
	r.fields = 3;
	r.detail = 4;
	n = sl_result_reason_text(&r, small, sizeof(small));
	CHECK(n == (int)strlen("expected 4 columns, got 3"), "returned %d", n);
	CHECK(strcmp(small, "expecte") == 0, "truncated to \"%s\"", small);
	n = sl_result_reason_text(&r, NULL, 0);
	CHECK(n == (int)strlen("expected 4 columns, got 3"), "measure-only returned %d", n);
}

/* --------------------------------------- splitter + processor together */

struct doc_run {
	struct sl_result r[16];
	uint32_t n;
	uint32_t columns;
};

static void on_line(void *ctx, const char *line, uint32_t len, uint32_t flags)
{
	struct doc_run *d = ctx;

	if (d->n == 16)
		return;
	tenant.columns = d->columns;
	d->r[d->n++] = run_in(state, line, len, flags);
}

static void test_documents(void)
{
	static const char doc[] =
		"id,name,note\r\n"
		"1,\"Smith, J\",\"said \"\"hi\"\"\"\r\n"
		"2,\"two\r\nlines\",x\r\n"
		"3,short\r\n"
		"4,a\"b,c\r\n"
		"5,\"x\"y,z\r\n"
		"6,toolong-toolong-toolong-toolong-toolong-toolong,z\r\n"
		"\r\n"
		"7,\"never closed,z\r\n";
	static const struct { uint16_t reason; uint32_t fields, detail; } want[] = {
		{ SL_R_NONE, 3, 0 },
		{ SL_R_NONE, 3, 0 },
		{ SL_R_NONE, 3, 0 },
		{ SL_R_COLUMNS, 2, 3 },
		{ SL_R_BARE_QUOTE, 2, 2 },
		{ SL_R_AFTER_QUOTE, 2, 2 },
		{ SL_R_OVERSIZE, 0, 0 },
		{ SL_R_COLUMNS, 1, 3 },
		{ SL_R_UNTERMINATED, 2, 0 },
	};
	struct sl_splitter s;
	char carry[40];
	struct doc_run d;

	/* Fed in 7-byte pieces: results must not depend on chunking. */
	memset(&d, 0, sizeof(d));
	d.columns = 3;
	sl_split_init(&s, carry, sizeof(carry));
	for (size_t off = 0; off < sizeof(doc) - 1; off += 7) {
		size_t c = sizeof(doc) - 1 - off < 7 ? sizeof(doc) - 1 - off : 7;

		sl_split_feed(&s, doc + off, c, on_line, &d);
	}
	sl_split_finish(&s, on_line, &d);
	CHECK(d.n == sizeof(want) / sizeof(want[0]), "got %u lines", d.n);
	for (uint32_t i = 0; i < d.n; i++)
		CHECK(d.r[i].reason == want[i].reason && d.r[i].fields == want[i].fields &&
		      d.r[i].detail == want[i].detail &&
		      d.r[i].status == (want[i].reason == SL_R_NONE ? SL_ST_OK : SL_ST_ERROR),
		      "line %u: reason %s fields %u detail %u", i + 1,
		      sl_reason_name(d.r[i].reason), d.r[i].fields, d.r[i].detail);
}

/* -------------------------------------------------------------- schema */

static struct sl_tenant_conf schema_tenant;

static void add_col(struct sl_tenant_conf *t, const char *name, enum sl_col_type type, int required)
{
	struct sl_schema_col *c = &t->schema[t->n_schema++];

	snprintf(c->name, sizeof(c->name), "%s", name);
	c->type = (uint8_t)type;
	c->required = (uint8_t)required;
	t->columns = t->n_schema;
}

/* The one record of stream s, as a string (static buffer), or NULL. */
static const char *rec_of(unsigned stream)
{
	static char buf[SL_RESULT_DATA + 1];

	for (unsigned i = 0; i < out.n; i++) {
		if (out.rec[i].stream != stream)
			continue;
		memcpy(buf, out.buf + out.rec[i].off, out.rec[i].len);
		buf[out.rec[i].len] = '\0';
		return buf;
	}
	return NULL;
}

static void *schema_state;

static void schema_setup(void)
{
	if (schema_state != NULL)
		sl_proc_csv.fini(schema_state);
	memset(&schema_tenant, 0, sizeof(schema_tenant));
	add_col(&schema_tenant, "id", SL_COL_INT, 1);
	add_col(&schema_tenant, "price", SL_COL_FLOAT, 1);
	add_col(&schema_tenant, "paid", SL_COL_BOOL, 0);
	add_col(&schema_tenant, "at", SL_COL_TIMESTAMP, 0);
	add_col(&schema_tenant, "note", SL_COL_STRING, 0);
	schema_state = make_state(&schema_tenant);
}

#define SREC(text, want) do { \
	struct sl_result r_ = run_in(schema_state, text, (uint32_t)strlen(text), 0); \
	const char *g_ = rec_of(0); \
	CHECK(r_.status == SL_ST_OK && r_.reason == SL_R_NONE && out.n == 1 && g_ != NULL && \
	      strcmp(g_, want) == 0, "[%s]: status %u reason %s records %u: %s", text, r_.status, \
	      sl_reason_name(r_.reason), out.n, g_ ? g_ : "(none)"); \
} while (0)

#define SERR(text, col, want) do { \
	struct sl_result r_ = run_in(schema_state, text, (uint32_t)strlen(text), 0); \
	const char *g_ = rec_of(SL_STREAM_REASON); \
	CHECK(r_.status == SL_ST_ERROR && r_.reason == SL_R_SCHEMA && r_.detail == (col) && \
	      out.n == 1 && g_ != NULL && strcmp(g_, want) == 0, \
	      "[%s]: status %u reason %s detail %u: %s", text, r_.status, \
	      sl_reason_name(r_.reason), r_.detail, g_ ? g_ : "(none)"); \
} while (0)

static void test_schema_records(void)
{
	schema_setup();
	SREC("1,2.5,true,2026-03-01T12:00:00Z,hello",
	     "{\"id\":1,\"price\":2.5,\"paid\":true,\"at\":\"2026-03-01T12:00:00Z\",\"note\":\"hello\"}");
	SREC("-7,3,,,", "{\"id\":-7,\"price\":3,\"paid\":null,\"at\":null,\"note\":null}");
	SREC("\"42\",\"1e3\",NO,2024-02-29,\"say \"\"hi\"\", ok\"",
	     "{\"id\":42,\"price\":1e3,\"paid\":false,\"at\":\"2024-02-29\",\"note\":\"say \\\"hi\\\", ok\"}");
	SREC("+007,+.5,Yes,2026-01-01t00:00:60.123+05:30,back\\slash\ttab",
	     "{\"id\":7,\"price\":0.5,\"paid\":true,\"at\":\"2026-01-01t00:00:60.123+05:30\",\"note\":\"back\\\\slash\\ttab\"}");
	SREC("-0,-00.250e-3,0,2026-12-31T23:59:59-12:00,\"multi\nline\"",
	     "{\"id\":0,\"price\":-0.250e-3,\"paid\":false,\"at\":\"2026-12-31T23:59:59-12:00\",\"note\":\"multi\\nline\"}");
	SREC("9223372036854775807,5.,1,2000-02-29,\"\"",
	     "{\"id\":9223372036854775807,\"price\":5,\"paid\":true,\"at\":\"2000-02-29\",\"note\":null}");
	SREC("-9223372036854775808,1E+10,FALSE,1999-01-01,caf\xc3\xa9",
	     "{\"id\":-9223372036854775808,\"price\":1E+10,\"paid\":false,\"at\":\"1999-01-01\",\"note\":\"caf\xc3\xa9\"}");
}

static void test_schema_values(void)
{
	/* Each bad value for each type, alone in an otherwise good line. */
	static const char *const bad_int[] = { "1.5", "abc", "1e3", "+", "-", " 1", "9223372036854775808",
		"-9223372036854775809", "0x10", "12345678901234567890123456789012345678901234567890123456789012345" };
	static const char *const bad_float[] = { "abc", ".", "e5", "1e", "1e+", "--1", "1.2.3", "inf", "nan",
		"0x1p3", "1,5", " 1" };
	static const char *const bad_bool[] = { "t", "ja", "2", "truee", "on" };
	static const char *const bad_ts[] = { "2026-13-01", "2026-02-30", "2025-02-29", "1900-02-29",
		"2026-1-01", "2026-01-01T", "2026-01-01T24:00:00Z", "2026-01-01T12:60:00Z",
		"2026-01-01T12:00:61Z", "2026-01-01T12:00:00", "2026-01-01T12:00:00.Z",
		"2026-01-01T12:00:00+5:30", "2026-01-01T12:00:00+24:00", "2026-01-01 12:00:00Z",
		"2026-01-01T12:00:00Zx", "20260101", "2026-01-00" };
	char line[256];

	schema_setup();
	for (size_t i = 0; i < sizeof(bad_int) / sizeof(bad_int[0]); i++) {
		snprintf(line, sizeof(line), "\"%s\",1,,,", bad_int[i]);
		struct sl_result r = run_in(schema_state, line, (uint32_t)strlen(line), 0);
		CHECK(r.reason == SL_R_SCHEMA && r.detail == 1, "int [%s]: %s", bad_int[i], sl_reason_name(r.reason));
	}
	for (size_t i = 0; i < sizeof(bad_float) / sizeof(bad_float[0]); i++) {
		snprintf(line, sizeof(line), "1,\"%s\",,,", bad_float[i]);
		struct sl_result r = run_in(schema_state, line, (uint32_t)strlen(line), 0);
		CHECK(r.reason == SL_R_SCHEMA && r.detail == 2, "float [%s]: %s", bad_float[i], sl_reason_name(r.reason));
	}
	for (size_t i = 0; i < sizeof(bad_bool) / sizeof(bad_bool[0]); i++) {
		snprintf(line, sizeof(line), "1,1,%s,,", bad_bool[i]);
		struct sl_result r = run_in(schema_state, line, (uint32_t)strlen(line), 0);
		CHECK(r.reason == SL_R_SCHEMA && r.detail == 3, "bool [%s]: %s", bad_bool[i], sl_reason_name(r.reason));
	}
	for (size_t i = 0; i < sizeof(bad_ts) / sizeof(bad_ts[0]); i++) {
		snprintf(line, sizeof(line), "1,1,,%s,", bad_ts[i]);
		struct sl_result r = run_in(schema_state, line, (uint32_t)strlen(line), 0);
		CHECK(r.reason == SL_R_SCHEMA && r.detail == 4, "timestamp [%s]: %s", bad_ts[i], sl_reason_name(r.reason));
	}
}

static void test_schema_errors(void)
{
	schema_setup();
	SERR("abc,1,,,", 1, "column 'id' (1): 'abc' is not an int");
	SERR("1,abc,,,", 2, "column 'price' (2): 'abc' is not a float");
	SERR(",1,,,", 1, "column 'id' (1): required but empty");
	SERR("1,\"\",,,", 2, "column 'price' (2): required but empty");
	SERR("1,2,maybe,,", 3, "column 'paid' (3): 'maybe' is not a bool");
	SERR("1,2,,yesterday,", 4, "column 'at' (4): 'yesterday' is not a timestamp");
	SERR("1,2,,\"a\"\"b\tc\",", 4, "column 'at' (4): 'a\"b?c' is not a timestamp");
	SERR("1,xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx,,,", 2,
	     "column 'price' (2): 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' is not a float");

	/* Column count comes from the schema; structure errors come first and have no record. */
	struct sl_result r = run_in(schema_state, "1,2,3", 5, 0);
	CHECK(r.reason == SL_R_COLUMNS && r.detail == 5 && out.n == 0, "count: %s", sl_reason_name(r.reason));
	r = run_in(schema_state, "1,2\"x,,,", 8, 0);
	CHECK(r.reason == SL_R_BARE_QUOTE && out.n == 0, "bare quote: %s", sl_reason_name(r.reason));
	r = run_in(schema_state, "", 0, SL_LINE_OVERSIZE);
	CHECK(r.reason == SL_R_OVERSIZE && out.n == 0, "oversize: %s", sl_reason_name(r.reason));

	/* Without a schema there is never a record. */
	tenant.columns = 0;
	r = run_in(state, "1,2,,,", 6, 0);
	CHECK(r.status == SL_ST_OK && out.n == 0, "no schema: %u records", out.n);
}

static void test_schema_overflow(void)
{
	/* A record larger than the room left: overflow flagged, nothing half-written. */
	struct sl_result r;

	schema_setup();
	out_reset();
	out.cap = 20;
	struct sl_line_in in = { .data = "1,2,,,hello", .len = 11, .flags = 0, .line = 1 };
	sl_proc_csv.process(schema_state, &in, &r, &out, 0);
	CHECK(out.overflow == 1 && out.n == 0 && out.used == 0, "overflow %u n %u", out.overflow, out.n);
	CHECK(r.status == SL_ST_OK, "the line itself is fine: %s", sl_reason_name(r.reason));

	/* A string column whose escaped form exceeds the room the out area has left. */
	static char big[SL_RESULT_DATA];
	struct sl_tenant_conf t1;
	memset(&t1, 0, sizeof(t1));
	add_col(&t1, "s", SL_COL_STRING, 1);
	void *st = make_state(&t1);
	/* One quoted field of newlines: each becomes \\n, twice its size. */
	big[0] = '"';
	memset(big + 1, '\n', sizeof(big) - 2);
	big[sizeof(big) - 1] = '"';
	r = run_in(st, big, sizeof(big), 0);
	CHECK(r.status == SL_ST_OK && out.overflow == 1 && out.n == 0, "big: status %u overflow %u",
	      r.status, out.overflow);
	sl_proc_csv.fini(st);
}

/*
 * Lines near and at max_line_bytes through "id:int, note:string": the
 * record is built whole, whatever the escaping costs, given the room a
 * worker guarantees a line (SL_LINE_OUTPUT_MAX: a large result batch).
 * A 16,383-byte line once failed here: the state's record buffer was an
 * ordinary result batch's 16 KiB.
 */
static void test_schema_long_lines(void)
{
	enum { MAX_LINE = 30720 };               /* the largest max_line_bytes */
	static struct sl_config cfg;
	static char line[MAX_LINE], big_out[SL_LINE_OUTPUT_MAX(MAX_LINE)], want[SL_LINE_OUTPUT_MAX(MAX_LINE)];
	static struct sl_rec_ref recs[SL_RESULT_RECS];
	struct sl_tenant_conf t;
	char e[128] = "";
	struct sl_result r;

	sl_config_defaults(&cfg);
	cfg.max_line_bytes = MAX_LINE;
	memset(&t, 0, sizeof(t));
	add_col(&t, "id", SL_COL_INT, 1);
	add_col(&t, "note", SL_COL_STRING, 1);
	struct sl_proc_env env = { .abi_version = SL_PROC_ABI_VERSION, .tenant = &t, .cfg = &cfg,
				   .err = e, .errlen = sizeof(e) };
	void *st = sl_proc_csv.init(&env);
	CHECK(st != NULL, "init: %s", e);

	/* three lines: plain text, control bytes (6 bytes each escaped), quoted with "" and newlines */
	static const struct { uint32_t len; char fill; bool quoted; } cases[] = {
		{ 16383, 'a', false }, { 16384, 'b', false }, { MAX_LINE, '\x01', false }, { MAX_LINE, '"', true },
		{ MAX_LINE, '\n', true },
	};
	for (unsigned c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		uint32_t len = cases[c].len, body, n;

		line[0] = '7';
		line[1] = ',';
		if (cases[c].quoted) {
			/* "…": a run of "" (each one '"') or of raw newlines, inside quotes */
			body = len - 4;
			line[2] = '"';
			memset(line + 3, cases[c].fill, body);
			line[len - 1] = '"';
			if (cases[c].fill == '"' && body % 2)
				line[3 + body - 1] = 'z';
		} else {
			body = len - 2;
			memset(line + 2, cases[c].fill, body);
		}
		struct sl_line_in in = { .data = line, .len = len, .flags = 0, .line = 1 };
		struct sl_rec_out o = { .buf = big_out, .cap = sizeof(big_out), .max = SL_RESULT_RECS, .rec = recs };
		memset(&r, 0xa5, sizeof(r));
		CHECK(sl_proc_csv.process(st, &in, &r, &o, 0) == SL_PROC_DONE, "case %u", c);
		CHECK(r.status == SL_ST_OK && o.overflow == 0 && o.n == 1 && o.rec[0].stream == 0,
		      "case %u (%u bytes of 0x%02x): status %u reason %s overflow %u records %u", c, len,
		      (unsigned char)cases[c].fill, r.status, sl_reason_name(r.reason), o.overflow, o.n);

		/* the record, exactly */
		n = (uint32_t)sprintf(want, "{\"id\":7,\"note\":\"");
		const char *esc = cases[c].fill == '\x01' ? "\\u0001" : cases[c].fill == '"' ? "\\\"" :
				  cases[c].fill == '\n' ? "\\n" : NULL;
		if (cases[c].quoted && cases[c].fill == '"') {
			for (uint32_t i = 0; i + 1 < body; i += 2)
				n += (uint32_t)sprintf(want + n, "%s", esc);
			if (body % 2)
				want[n++] = 'z';
		} else {
			for (uint32_t i = 0; i < body; i++)
				n += esc ? (uint32_t)sprintf(want + n, "%s", esc) : (uint32_t)(want[n] = cases[c].fill, 1);
		}
		n += (uint32_t)sprintf(want + n, "\"}");
		CHECK(o.rec[0].len == n && memcmp(o.buf + o.rec[0].off, want, n) == 0,
		      "case %u: record of %u bytes, want %u", c, o.rec[0].len, n);
	}
	sl_proc_csv.fini(st);
}

/* tests/fixtures/orders.csv with the schema of tests/fixtures/orders.schema. */
static void test_orders_fixture(void)
{
	const char *src = getenv("SLUICE_SRC");
	char path[1024], line[4096];
	struct sl_tenant_conf t;
	unsigned ok = 0, bad = 0, schema_bad = 0, n = 0;

	CHECK(src != NULL, "SLUICE_SRC is not set");
	memset(&t, 0, sizeof(t));
	/* The same schema as orders.schema (test_config checks that file parses to this). */
	add_col(&t, "order_id", SL_COL_INT, 1);
	add_col(&t, "customer", SL_COL_STRING, 1);
	add_col(&t, "amount", SL_COL_FLOAT, 1);
	add_col(&t, "paid", SL_COL_BOOL, 1);
	add_col(&t, "ordered_at", SL_COL_TIMESTAMP, 1);
	add_col(&t, "note", SL_COL_STRING, 0);
	void *st = make_state(&t);

	snprintf(path, sizeof(path), "%s/tests/fixtures/orders.csv", src);
	FILE *f = fopen(path, "r");
	CHECK(f != NULL, "cannot open %s", path);
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t len = strcspn(line, "\r\n");
		n++;
		if (n == 1)
			continue;       /* the header */
		struct sl_result r = run_in(st, line, (uint32_t)len, 0);
		if (r.status == SL_ST_OK) {
			ok++;
			CHECK(out.n == 1 && rec_of(0) != NULL && rec_of(0)[0] == '{', "line %u: no record", n);
		} else {
			bad++;
			schema_bad += r.reason == SL_R_SCHEMA;
			CHECK(r.reason != SL_R_SCHEMA || rec_of(SL_STREAM_REASON) != NULL,
			      "line %u: schema error without a reason record", n);
			if (getenv("VERBOSE"))
				printf("     line %u: %s %s\n", n, sl_reason_name(r.reason),
				       rec_of(SL_STREAM_REASON) ? rec_of(SL_STREAM_REASON) : "");
		}
	}
	fclose(f);
	sl_proc_csv.fini(st);
	CHECK(ok == 13 && bad == 8 && schema_bad == 6, "ok %u bad %u (schema %u)", ok, bad, schema_bad);
}

#define RUN(fn) do { \
	int f_ = failures; \
	fn(); \
	printf("%s %s\n", failures == f_ ? "ok  " : "FAIL", #fn); \
} while (0)

int main(void)
{
	int tests = 0;

	state = make_state(&tenant);
	RUN(test_field_counts); tests++;
	RUN(test_empty_line); tests++;
	RUN(test_columns); tests++;
	RUN(test_bare_quote); tests++;
	RUN(test_after_quote); tests++;
	RUN(test_unterminated); tests++;
	RUN(test_oversize); tests++;
	RUN(test_quoted_newlines); tests++;
	RUN(test_lifecycle); tests++;
	RUN(test_reason_names); tests++;
	RUN(test_reason_texts); tests++;
	RUN(test_documents); tests++;
	RUN(test_schema_records); tests++;
	RUN(test_schema_values); tests++;
	RUN(test_schema_errors); tests++;
	RUN(test_schema_overflow); tests++;
	RUN(test_schema_long_lines); tests++;
	RUN(test_orders_fixture); tests++;
	sl_proc_csv.fini(state);
	sl_proc_csv.fini(schema_state);

	printf("test_csv: %d passed, %d failed\n", tests - failures, failures);
	return failures == 0 ? 0 : 1;
}

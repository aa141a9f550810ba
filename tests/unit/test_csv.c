/*
 * test_csv.c — unit tests for the CSV processor (proc_csv.c) and the
 * reason names and texts (reason.c).
 *
 * Lines are given as the splitter would hand them over (terminator
 * removed, flags set); a last group runs whole documents through the
 * splitter into the processor, the way a worker sees them.
 */
#include <stdint.h>
#include <stdio.h>
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

static struct sl_result run(const char *line, uint32_t len, uint32_t flags, uint32_t columns)
{
	struct sl_tenant_conf t;
	struct sl_result r;

	memset(&t, 0, sizeof(t));
	t.columns = columns;
	memset(&r, 0xa5, sizeof(r));           /* prove every field we own is written */
	r.line = 42;
	sl_proc_csv.process(state, &t, line, len, flags, &r);
	return r;
}

static struct sl_result run_s(const char *line, uint32_t columns)
{
	return run(line, (uint32_t)strlen(line), 0, columns);
}

/* Expect status/reason/fields/detail for one line. */
#define EXPECT(text, columns, st, rs, nf, dt) do { \
	struct sl_result r_ = run_s(text, columns); \
	CHECK(r_.status == (st) && r_.reason == (rs) && r_.fields == (nf) && \
	      r_.detail == (dt) && r_.line == 42, \
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
	void *s = sl_proc_csv.init(NULL, 0);

	CHECK(s != NULL, "init returned NULL");
	CHECK(strcmp(sl_proc_csv.name, "csv") == 0, "name %s", sl_proc_csv.name);
	CHECK(sl_proc_csv.process && sl_proc_csv.flush && sl_proc_csv.fini, "missing function");
	sl_proc_csv.flush(s);
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
	static const char *const want[SL_R__COUNT] = {
		"ok", "columns", "bare_quote", "after_quote", "unterminated_quote", "oversize",
	};

	for (int i = 0; i < SL_R__COUNT; i++)
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
	struct sl_tenant_conf t;

	if (d->n == 16)
		return;
	memset(&t, 0, sizeof(t));
	t.columns = d->columns;
	sl_proc_csv.process(state, &t, line, len, flags, &d->r[d->n++]);
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

#define RUN(fn) do { \
	int f_ = failures; \
	fn(); \
	printf("%s %s\n", failures == f_ ? "ok  " : "FAIL", #fn); \
} while (0)

int main(void)
{
	int tests = 0;

	state = sl_proc_csv.init(NULL, 0);
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
	sl_proc_csv.fini(state);

	printf("test_csv: %d passed, %d failed\n", tests - failures, failures);
	return failures == 0 ? 0 : 1;
}

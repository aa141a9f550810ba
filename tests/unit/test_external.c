/*
 * test_external.c — external processors (proc_external.c) and the
 * built-in table (processors.c).
 *
 * Loads the example processor dataplane/external/example_upper.c, built
 * by meson as a shared object ($SLUICE_EXAMPLE_PROC), runs a line
 * through it, and checks that the loader refuses, with a message naming
 * the path and what to do: an object built for another ABI version
 * ($SLUICE_EXAMPLE_BADABI), a file that is not a shared object, a
 * missing file, and an object without the entry point.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataplane/processor.h"

#include "check.h"

static char err[1024];

static void test_builtins(void)
{
	static const char *const names[] = { "csv", "ndjson", "tweet", "topk", "simulate" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct sl_processor *p = sl_processor_builtin(names[i]);
		CHECK(p != NULL && strcmp(p->name, names[i]) == 0);
		CHECK(p != NULL && p->abi_version == SL_PROC_ABI_VERSION && p->init && p->process);
	}
	CHECK(sl_processor_builtin("CSV") == NULL);
	CHECK(sl_processor_builtin("") == NULL);
	CHECK(sl_processor_builtin("upper") == NULL);
	report("sl_processor_builtin: the five built-ins by name, nothing else");
}

static void test_example(void)
{
	const char *path = getenv("SLUICE_EXAMPLE_PROC");
	char out_buf[256];
	struct sl_rec_ref recs[4];
	struct sl_rec_out out = { .buf = out_buf, .cap = sizeof(out_buf), .max = 4, .rec = recs };
	struct sl_result res;
	struct sl_tenant_conf t;

	CHECK(path != NULL);
	if (path == NULL) {
		report("example processor loads and processes a line");
		return;
	}
	err[0] = '\0';
	const struct sl_processor *p = sl_processor_load(path, err, sizeof(err));
	CHECK(p != NULL);
	if (p == NULL) {
		fprintf(stderr, "    %s\n", err);
		report("example processor loads and processes a line");
		return;
	}
	CHECK(strcmp(p->name, "upper") == 0 && strcmp(p->streams[0], "upper") == 0 && p->streams[1] == NULL);

	memset(&t, 0, sizeof(t));
	struct sl_proc_env env = { .abi_version = SL_PROC_ABI_VERSION, .tenant = &t, .err = err,
				   .errlen = sizeof(err) };
	void *st = p->init(&env);
	CHECK(st != NULL);

	const char line[] = "Hello, \"Sluice\" 42\tx";
	struct sl_line_in in = { .data = line, .len = sizeof(line) - 1, .flags = 0, .line = 7 };
	memset(&res, 0xa5, sizeof(res));
	CHECK(p->process(st, &in, &res, &out, 1) == SL_PROC_DONE);
	CHECK(res.status == SL_ST_OK && res.reason == SL_R_NONE);
	CHECK(out.n == 1 && out.rec[0].stream == 0 && out.overflow == 0);
	const char want[] = "{\"line\":\"HELLO, \\\"SLUICE\\\" 42\\tX\"}";
	CHECK(out.rec[0].len == sizeof(want) - 1 && memcmp(out.buf + out.rec[0].off, want, sizeof(want) - 1) == 0);
	if (cur_failed)
		fprintf(stderr, "    got %.*s\n", (int)out.rec[0].len, out.buf + out.rec[0].off);

	/* Loading twice gives the same table (dlopen reference-counts the object). */
	CHECK(sl_processor_load(path, err, sizeof(err)) == p);
	if (p->fini != NULL)
		p->fini(st);
	report("example processor loads and processes a line");
}

/*
 * A line of max_line_bytes whose every byte escapes the long way (a
 * control byte becomes \u0001): its record is six times the line. Given
 * the room a worker guarantees a line (SL_LINE_OUTPUT_MAX), the example
 * writes it whole.
 */
static void test_example_long_line(void)
{
	const char *path = getenv("SLUICE_EXAMPLE_PROC");
	enum { LINE = 30720 };   /* the largest max_line_bytes */
	static char line[LINE], out_buf[SL_LINE_OUTPUT_MAX(LINE)], want[SL_LINE_OUTPUT_MAX(LINE)];
	struct sl_rec_ref recs[4];
	struct sl_rec_out out = { .buf = out_buf, .cap = sizeof(out_buf), .max = 4, .rec = recs };
	struct sl_result res;
	struct sl_tenant_conf t;
	const struct sl_processor *p = path ? sl_processor_load(path, err, sizeof(err)) : NULL;

	CHECK(p != NULL);
	if (p == NULL) {
		report("example processor: a max_line_bytes line of control bytes, escaped whole");
		return;
	}
	memset(&t, 0, sizeof(t));
	struct sl_proc_env env = { .abi_version = SL_PROC_ABI_VERSION, .tenant = &t, .err = err,
				   .errlen = sizeof(err) };
	void *st = p->init(&env);
	CHECK(st != NULL);
	memset(line, 0x01, sizeof(line));
	struct sl_line_in in = { .data = line, .len = LINE, .flags = 0, .line = 1 };
	CHECK(p->process(st, &in, &res, &out, 1) == SL_PROC_DONE);
	size_t n = (size_t)sprintf(want, "{\"line\":\"");
	for (unsigned i = 0; i < LINE; i++)
		n += (size_t)sprintf(want + n, "\\u0001");
	n += (size_t)sprintf(want + n, "\"}");
	CHECK(res.status == SL_ST_OK && out.overflow == 0 && out.n == 1);
	CHECK(out.n == 1 && out.rec[0].len == n && memcmp(out.buf + out.rec[0].off, want, n) == 0);
	if (cur_failed)
		fprintf(stderr, "    overflow %u, %u records, record of %u bytes, want %zu\n", out.overflow, out.n,
			out.n ? out.rec[0].len : 0, n);
	if (p->fini != NULL)
		p->fini(st);
	report("example processor: a max_line_bytes line of control bytes, escaped whole");
}

/* The test processor behind limits.py: long work that completes at the next poll, or never (#LOSE#). */
static void test_pending(void)
{
	const char *path = getenv("SLUICE_PENDING_PROC");
	char out_buf[256];
	struct sl_rec_ref recs[4];
	struct sl_rec_out out = { .buf = out_buf, .cap = sizeof(out_buf), .max = 4, .rec = recs };
	struct sl_result res;
	struct sl_tenant_conf t;
	uint64_t cookies[8];
	const struct sl_processor *p = path ? sl_processor_load(path, err, sizeof(err)) : NULL;

	CHECK(p != NULL && p->poll != NULL && strcmp(p->streams[0], "echo") == 0);
	if (p == NULL || p->poll == NULL) {
		report("pending test processor: completes lines at the next poll, loses #LOSE# lines");
		return;
	}
	memset(&t, 0, sizeof(t));
	struct sl_proc_env env = { .abi_version = SL_PROC_ABI_VERSION, .tenant = &t, .err = err,
				   .errlen = sizeof(err) };
	void *st = p->init(&env);
	CHECK(st != NULL);
	struct sl_line_in a = { .data = "a,b", .len = 3, .flags = 0, .line = 1 };
	struct sl_line_in lost = { .data = "x #LOSE# y", .len = 10, .flags = 0, .line = 2 };
	CHECK(p->process(st, &a, &res, &out, 11) == SL_PROC_PENDING && res.status == SL_ST_OK && out.n == 1);
	CHECK(out.n == 1 && out.rec[0].len == 14 && memcmp(out.buf, "{\"line\":\"a,b\"}", 14) == 0);
	CHECK(p->process(st, &lost, &res, &out, 12) == SL_PROC_PENDING && res.status == SL_ST_OK && out.n == 1);
	CHECK(p->poll(st, 0, cookies, 8) == 1 && cookies[0] == 11);
	CHECK(p->poll(st, 0, cookies, 8) == 0);
	if (p->fini != NULL)
		p->fini(st);
	report("pending test processor: completes lines at the next poll, loses #LOSE# lines");
}

static void test_refusals(void)
{
	const char *bad = getenv("SLUICE_EXAMPLE_BADABI");
	char want[128];

	CHECK(bad != NULL);
	if (bad != NULL) {
		CHECK(sl_processor_load(bad, err, sizeof(err)) == NULL);
		snprintf(want, sizeof(want), "processor ABI version 999, but this sluiced speaks version %u",
			 SL_PROC_ABI_VERSION);
		CHECK(strncmp(err, bad, strlen(bad)) == 0 && strstr(err, want) != NULL);
		if (cur_failed)
			fprintf(stderr, "    %s\n", err);
	}

	CHECK(sl_processor_load("/nonexistent/x.so", err, sizeof(err)) == NULL);
	CHECK(strncmp(err, "/nonexistent/x.so: cannot load processor:", 41) == 0);

	/* Not a shared object. */
	char path[] = "/tmp/sluice-test-ext-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0 && write(fd, "not elf\n", 8) == 8);
	close(fd);
	CHECK(sl_processor_load(path, err, sizeof(err)) == NULL);
	CHECK(strncmp(err, path, strlen(path)) == 0 && strstr(err, "cannot load processor") != NULL);
	unlink(path);

	/* A real shared object without the entry point: libm. */
	CHECK(sl_processor_load("libm.so.6", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "no symbol sluice_processor") != NULL);
	if (cur_failed)
		fprintf(stderr, "    %s\n", err);
	report("the loader refuses other ABI versions, non-objects and objects without the entry point");
}

int main(void)
{
	test_builtins();
	test_example();
	test_example_long_line();
	test_pending();
	test_refusals();
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail == 0 ? 0 : 1;
}

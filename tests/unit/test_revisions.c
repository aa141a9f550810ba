/*
 * test_revisions.c — the revision registry: acceptance rules, durability
 * across reopen, recovery from a torn last record, refusal of a damaged
 * log, unusable data dirs, and compaction.
 *
 * Every test works in its own directory under a mkdtemp() root, removed
 * at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control/revisions.h"
#include "dataplane/slp.h"

static int failures;
static int checks_failed_in_test;
static char root[256];

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, \
				#cond);                                               \
			checks_failed_in_test++;                                      \
		}                                                                     \
	} while (0)

/* A fresh directory path for one test (not created: open must do it). */
static void
test_dir(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s/data", root, name);
}

static void
log_path(char *out, size_t cap, const char *dir)
{
	snprintf(out, cap, "%s/revisions.log", dir);
}

static void
write_text(const char *path, const char *text, bool append)
{
	FILE *f = fopen(path, append ? "a" : "w");
	if (!f) {
		fprintf(stderr, "  cannot write %s: %s\n", path, strerror(errno));
		exit(2);
	}
	fputs(text, f);
	fclose(f);
}

/* A well-formed record, as the registry writes it. */
static void
record(char *out, size_t cap, const char *tenant, const char *doc, uint64_t rev)
{
	int n = snprintf(out, cap, "%s %s %" PRIu64, tenant, doc, rev);
	snprintf(out + n, cap - (size_t)n, " %08x\n", slp_crc32c(0, out, (size_t)n));
}

static int
count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	int c, n = 0;

	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static void
mkdirs(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
	if (system(cmd) != 0)
		exit(2);
}

static void
test_accept_rules(void)
{
	char dir[300], err[512];
	uint64_t hi = 99;

	test_dir(dir, sizeof(dir), "rules");
	struct sl_revisions *r = sl_revisions_open(dir, err, sizeof(err));
	CHECK(r != NULL);
	if (!r)
		return;
	CHECK(sl_revisions_highest(r, "acme", "orders") == 0);
	CHECK(sl_revisions_accept(r, "acme", "orders", 1, &hi, err, sizeof(err)) == 0);
	CHECK(hi == 1);
	hi = 99;
	CHECK(sl_revisions_accept(r, "acme", "orders", 1, &hi, err, sizeof(err)) == 1);
	CHECK(hi == 1);
	hi = 99;
	CHECK(sl_revisions_accept(r, "acme", "orders", 0, &hi, err, sizeof(err)) == 1);
	CHECK(hi == 1);
	CHECK(sl_revisions_accept(r, "acme", "orders", 5, &hi, err, sizeof(err)) == 0);
	hi = 99;
	CHECK(sl_revisions_accept(r, "acme", "orders", 3, &hi, err, sizeof(err)) == 1);
	CHECK(hi == 5);
	CHECK(sl_revisions_highest(r, "acme", "orders") == 5);
	CHECK(sl_revisions_count(r) == 1);
	/* highest may be NULL */
	CHECK(sl_revisions_accept(r, "acme", "orders", 2, NULL, err, sizeof(err)) == 1);
	/* revision 0 on a new document is never newer than "none" */
	hi = 99;
	CHECK(sl_revisions_accept(r, "acme", "fresh", 0, &hi, err, sizeof(err)) == 1);
	CHECK(hi == 0);
	CHECK(sl_revisions_count(r) == 1);
	sl_revisions_close(r);

	/* reopen: the highest survives, the rejected ones left no trace */
	r = sl_revisions_open(dir, err, sizeof(err));
	CHECK(r != NULL);
	if (!r)
		return;
	CHECK(sl_revisions_highest(r, "acme", "orders") == 5);
	CHECK(sl_revisions_count(r) == 1);
	CHECK(sl_revisions_accept(r, "acme", "orders", 5, &hi, err, sizeof(err)) == 1);
	CHECK(sl_revisions_accept(r, "acme", "orders", 6, &hi, err, sizeof(err)) == 0);
	sl_revisions_close(r);

	char path[400];
	log_path(path, sizeof(path), dir);
	CHECK(count_lines(path) == 3);
}

static void
test_independent_keys(void)
{
	char dir[300], err[512];
	uint64_t hi;

	test_dir(dir, sizeof(dir), "independent");
	struct sl_revisions *r = sl_revisions_open(dir, err, sizeof(err));
	CHECK(r != NULL);
	if (!r)
		return;
	CHECK(sl_revisions_accept(r, "acme", "orders", 10, &hi, err, sizeof(err)) == 0);
	CHECK(sl_revisions_accept(r, "globex", "orders", 2, &hi, err, sizeof(err)) == 0);
	CHECK(sl_revisions_accept(r, "acme", "invoices", 3, &hi, err, sizeof(err)) == 0);
	/* the separator matters: ("ab","c") is not ("a","bc") */
	CHECK(sl_revisions_accept(r, "ab", "c", 7, &hi, err, sizeof(err)) == 0);
	CHECK(sl_revisions_accept(r, "a", "bc", 1, &hi, err, sizeof(err)) == 0);
	CHECK(sl_revisions_highest(r, "acme", "orders") == 10);
	CHECK(sl_revisions_highest(r, "globex", "orders") == 2);
	CHECK(sl_revisions_highest(r, "acme", "invoices") == 3);
	CHECK(sl_revisions_highest(r, "globex", "invoices") == 0);
	CHECK(sl_revisions_highest(r, "ab", "c") == 7);
	CHECK(sl_revisions_highest(r, "a", "bc") == 1);
	CHECK(sl_revisions_count(r) == 5);
	sl_revisions_close(r);

	r = sl_revisions_open(dir, err, sizeof(err));
	CHECK(r != NULL);
	if (!r)
		return;
	CHECK(sl_revisions_count(r) == 5);
	CHECK(sl_revisions_highest(r, "globex", "orders") == 2);
	CHECK(sl_revisions_highest(r, "a", "bc") == 1);
	sl_revisions_close(r);
}

static void
test_bad_names(void)
{
	char dir[300], err[512] = "";
	uint64_t hi;

	test_dir(dir, sizeof(dir), "names");
	struct sl_revisions *r = sl_revisions_open(dir, err, sizeof(err));
	CHECK(r != NULL);
	if (!r)
		return;
	CHECK(sl_revisions_accept(r, "acme", "with space", 1, &hi, err, sizeof(err)) == -1);
	CHECK(strstr(err, "with space") != NULL);
	CHECK(sl_revisions_accept(r, "", "doc", 1, &hi, err, sizeof(err)) == -1);
	CHECK(sl_revisions_accept(r, "acme", "a/b", 1, &hi, err, sizeof(err)) == -1);
	CHECK(sl_revisions_count(r) == 0);
	sl_revisions_close(r);
}

static void
test_torn_last_line(void)
{
	char dir[300], path[400], err[512], rec[200], text[600];
	uint64_t hi;

	test_dir(dir, sizeof(dir), "torn");
	mkdirs(dir);
	log_path(path, sizeof(path), dir);

	/* an append interrupted before its newline */
	record(rec, sizeof(rec), "acme", "orders", 4);
	snprintf(text, sizeof(text), "%s", rec);
	record(rec, sizeof(rec), "acme", "orders", 9);
	rec[12] = '\0';               /* "acme orders " and nothing more */
	strcat(text, rec);
	write_text(path, text, false);

	struct sl_revisions *r = sl_revisions_open(dir, err, sizeof(err));
	CHECK(r != NULL);
	if (!r) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	CHECK(sl_revisions_highest(r, "acme", "orders") == 4);
	/* the next append must start on a clean line */
	CHECK(sl_revisions_accept(r, "acme", "orders", 5, &hi, err, sizeof(err)) == 0);
	sl_revisions_close(r);
	CHECK(count_lines(path) == 2);

	r = sl_revisions_open(dir, err, sizeof(err));
	CHECK(r != NULL);
	if (!r) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	CHECK(sl_revisions_highest(r, "acme", "orders") == 5);
	sl_revisions_close(r);

	/* a complete last line with a bad checksum is ignored too */
	write_text(path, "acme orders 77 00000000\n", true);
	r = sl_revisions_open(dir, err, sizeof(err));
	CHECK(r != NULL);
	if (!r)
		return;
	CHECK(sl_revisions_highest(r, "acme", "orders") == 5);
	CHECK(sl_revisions_accept(r, "acme", "orders", 6, &hi, err, sizeof(err)) == 0);
	sl_revisions_close(r);
	CHECK(count_lines(path) == 3);
}

static void
test_corrupt_middle(void)
{
	char dir[300], path[400], err[512] = "", rec[200], text[800], want[450];

	test_dir(dir, sizeof(dir), "corrupt");
	mkdirs(dir);
	log_path(path, sizeof(path), dir);

	record(rec, sizeof(rec), "acme", "orders", 1);
	snprintf(text, sizeof(text), "%s", rec);
	record(rec, sizeof(rec), "acme", "orders", 2);
	rec[5] = 'O';                  /* bit rot: the checksum no longer matches */
	strcat(text, rec);
	record(rec, sizeof(rec), "acme", "orders", 3);
	strcat(text, rec);
	write_text(path, text, false);

	struct sl_revisions *r = sl_revisions_open(dir, err, sizeof(err));
	CHECK(r == NULL);
	sl_revisions_close(r);
	snprintf(want, sizeof(want), "%s:2:", path);
	CHECK(strstr(err, want) != NULL);
	CHECK(strstr(err, "checksum") != NULL);

	/* a malformed (not just mis-summed) middle line is an error too */
	snprintf(text, sizeof(text), "garbage\n");
	record(rec, sizeof(rec), "acme", "orders", 3);
	strcat(text, rec);
	write_text(path, text, false);
	r = sl_revisions_open(dir, err, sizeof(err));
	CHECK(r == NULL);
	sl_revisions_close(r);
	snprintf(want, sizeof(want), "%s:1:", path);
	CHECK(strstr(err, want) != NULL);
}

static void
test_unusable_dir(void)
{
	char file[300], dir[400], err[512] = "";

	/* a regular file where a directory should be: fails even for root */
	snprintf(file, sizeof(file), "%s/notadir", root);
	write_text(file, "x\n", false);
	snprintf(dir, sizeof(dir), "%s/sub", file);
	struct sl_revisions *r = sl_revisions_open(dir, err, sizeof(err));
	CHECK(r == NULL);
	CHECK(strstr(err, dir) != NULL);
	CHECK(strstr(err, strerror(ENOTDIR)) != NULL);

	/* the data dir itself is a file */
	err[0] = '\0';
	r = sl_revisions_open(file, err, sizeof(err));
	CHECK(r == NULL);
	CHECK(strstr(err, file) != NULL);

	/* revisions.log is a directory */
	test_dir(dir, sizeof(dir), "logdir");
	char logd[450];
	log_path(logd, sizeof(logd), dir);
	mkdirs(logd);
	err[0] = '\0';
	r = sl_revisions_open(dir, err, sizeof(err));
	CHECK(r == NULL);
	CHECK(strstr(err, "revisions.log") != NULL);
	CHECK(strstr(err, strerror(EISDIR)) != NULL);
}

static void
test_compaction(void)
{
	char dir[300], path[400], err[512], rec[200];
	uint64_t hi;

	test_dir(dir, sizeof(dir), "compact");
	mkdirs(dir);
	log_path(path, sizeof(path), dir);

	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	for (uint64_t rev = 1; rev <= 1500; rev++) {
		record(rec, sizeof(rec), "acme", "orders", rev);
		fputs(rec, f);
	}
	for (uint64_t rev = 1; rev <= 3; rev++) {
		record(rec, sizeof(rec), "globex", "feed", rev);
		fputs(rec, f);
	}
	fclose(f);

	struct sl_revisions *r = sl_revisions_open(dir, err, sizeof(err));
	CHECK(r != NULL);
	if (!r) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	CHECK(count_lines(path) == 2);
	CHECK(sl_revisions_highest(r, "acme", "orders") == 1500);
	CHECK(sl_revisions_highest(r, "globex", "feed") == 3);
	CHECK(sl_revisions_accept(r, "acme", "orders", 1500, &hi, err, sizeof(err)) == 1);
	/* appends go to the new file, not the replaced one */
	CHECK(sl_revisions_accept(r, "acme", "orders", 1501, &hi, err, sizeof(err)) == 0);
	sl_revisions_close(r);
	CHECK(count_lines(path) == 3);

	char tmp[450];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	CHECK(access(tmp, F_OK) != 0);

	r = sl_revisions_open(dir, err, sizeof(err));
	CHECK(r != NULL);
	if (!r)
		return;
	CHECK(sl_revisions_highest(r, "acme", "orders") == 1501);
	CHECK(sl_revisions_highest(r, "globex", "feed") == 3);
	CHECK(sl_revisions_count(r) == 2);
	sl_revisions_close(r);

	/* few superseded records: left alone */
	f = fopen(path, "w");
	for (uint64_t rev = 1; rev <= 50; rev++) {
		record(rec, sizeof(rec), "acme", "orders", rev);
		fputs(rec, f);
	}
	fclose(f);
	r = sl_revisions_open(dir, err, sizeof(err));
	CHECK(r != NULL);
	sl_revisions_close(r);
	CHECK(count_lines(path) == 50);
}

/* Several threads race to accept revisions of one document. */
#define RACE_THREADS 4
#define RACE_REVS 40

struct race {
	struct sl_revisions *r;
	int accepted;
};

static void *
race_thread(void *arg)
{
	struct race *a = arg;
	char err[256];
	uint64_t hi;

	for (uint64_t rev = 1; rev <= RACE_REVS; rev++)
		if (sl_revisions_accept(a->r, "acme", "race", rev, &hi, err, sizeof(err)) == 0)
			a->accepted++;
	return NULL;
}

static void
test_threads(void)
{
	char dir[300], path[400], err[512];
	struct race a[RACE_THREADS];
	pthread_t t[RACE_THREADS];

	test_dir(dir, sizeof(dir), "threads");
	struct sl_revisions *r = sl_revisions_open(dir, err, sizeof(err));
	CHECK(r != NULL);
	if (!r)
		return;
	for (int i = 0; i < RACE_THREADS; i++) {
		a[i] = (struct race){ .r = r };
		pthread_create(&t[i], NULL, race_thread, &a[i]);
	}
	int total = 0;
	for (int i = 0; i < RACE_THREADS; i++) {
		pthread_join(t[i], NULL);
		total += a[i].accepted;
	}
	/* each revision accepted exactly once, whoever got there first */
	CHECK(total == RACE_REVS);
	CHECK(sl_revisions_highest(r, "acme", "race") == RACE_REVS);
	sl_revisions_close(r);
	log_path(path, sizeof(path), dir);
	CHECK(count_lines(path) == RACE_REVS);
}

static void
run(const char *name, void (*fn)(void))
{
	checks_failed_in_test = 0;
	fn();
	printf("%s %s\n", checks_failed_in_test ? "FAIL" : "ok  ", name);
	failures += checks_failed_in_test != 0;
}

int
main(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
		{ "accept_rules_and_reopen", test_accept_rules },
		{ "independent_keys", test_independent_keys },
		{ "bad_names", test_bad_names },
		{ "torn_last_line", test_torn_last_line },
		{ "corrupt_middle_line", test_corrupt_middle },
		{ "unusable_data_dir", test_unusable_dir },
		{ "compaction", test_compaction },
		{ "threads", test_threads },
	};
	const int n = (int)(sizeof(tests) / sizeof(tests[0]));

	snprintf(root, sizeof(root), "/tmp/sluice-test-revisions.XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 2;
	}
	for (int i = 0; i < n; i++)
		run(tests[i].name, tests[i].fn);

	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);

	printf("%d passed, %d failed\n", n - failures, failures);
	return failures ? 1 : 0;
}

/*
 * check.h — the tiny test vocabulary the unit tests share: CHECK(cond)
 * marks the current test failed (and says where), CHECKF(cond, fmt, ...)
 * too with what it saw, report(name) closes a
 * test with "ok" or "FAIL", and the totals end in "N passed, M failed".
 */
#ifndef SLUICE_TEST_CHECK_H
#define SLUICE_TEST_CHECK_H

#include <stdio.h>

static int n_pass, n_fail;
static int cur_failed;

#define CHECK(cond) do {                                                   \
		if (!(cond)) {                                             \
			fprintf(stderr, "    %s:%d: check failed: %s\n",       \
				__FILE__, __LINE__, #cond);                \
			cur_failed = 1;                                    \
		}                                                          \
	} while (0)

/* CHECK with a printf-style detail that says what was seen. */
#define CHECKF(cond, ...) do {                                             \
		if (!(cond)) {                                             \
			fprintf(stderr, "    %s:%d: check failed: %s: ",   \
				__FILE__, __LINE__, #cond);                \
			fprintf(stderr, __VA_ARGS__);                      \
			fputc('\n', stderr);                               \
			cur_failed = 1;                                    \
		}                                                          \
	} while (0)

static inline void report(const char *name)
{
	if (cur_failed) {
		n_fail++;
		printf("FAIL %s\n", name);
	} else {
		n_pass++;
		printf("ok   %s\n", name);
	}
	cur_failed = 0;
}

#endif

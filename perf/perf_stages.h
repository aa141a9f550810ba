/*
 * perf_stages.h — the appliance's per-stage CPU cost, read through
 * `sluicectl --prefix P --json raw /sluice/stages` before and after a run:
 * TSC cycles spent in each stage (rx, split, dispatch, process, persist,
 * ack, ...) and lines processed, so the difference gives cycles per line
 * of this run alone.
 */
#ifndef PERF_STAGES_H
#define PERF_STAGES_H

#include <stdbool.h>
#include <stdint.h>

#define PERF_STAGES_MAX 16

struct perf_stages {
	bool ok;
	char why[200];                   /* when !ok: why there are no numbers */
	uint64_t lines;
	double tsc_hz;
	unsigned n;
	char name[PERF_STAGES_MAX][24];
	uint64_t cycles[PERF_STAGES_MAX];
};

/* Read the counters now. sluicectl is the program to run (a path or a name
 * in PATH). Never fails hard: st->ok says whether there are numbers. */
void perf_stages_read(const char *sluicectl, const char *prefix, struct perf_stages *st);

#endif

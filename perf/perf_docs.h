/*
 * perf_docs.h — sluice-perf's documents: generated in memory,
 * deterministic from the seed, with every line's end offset and expected
 * verdict known (line n, 1-based, is invalid iff bad_every divides n).
 *
 *   plain   4 CSV columns: n,<letters>,<number>,z
 *   quoted  4 CSV columns with quoted fields, some holding "" escapes,
 *           commas and newlines (one line = one CSV record)
 *   tweets  NDJSON Twitter v1.1 tweet objects like tests/fixtures/tweets.ndjson
 *           (for processor = tweet); an invalid one lacks its user
 *
 * An invalid CSV line has 3 columns (error "columns" for a tenant with
 * columns = 4).
 */
#ifndef PERF_DOCS_H
#define PERF_DOCS_H

#include <stddef.h>

#include "perf.h"

/* Fill d (j, tenant, names set by the caller) with its lines. 0, or -1 with err. */
int perf_doc_make(struct perf_doc *d, const struct perf_cfg *c, char *err, size_t errlen);
void perf_doc_free(struct perf_doc *d);
int perf_shape_parse(const char *s, enum perf_shape *out);
const char *perf_shape_name(enum perf_shape s);

#endif

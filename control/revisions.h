/*
 * revisions.h — the persistent registry of the highest accepted revision
 * per (tenant, document).
 *
 * A revision is accepted only if it is greater than every revision
 * accepted before for that document; acceptance is made durable (append
 * + fdatasync to <data>/revisions.log) before the caller answers the
 * sender. Thread-safe (a mutex: a few calls per document, never per line).
 * Does not need DPDK.
 */
#ifndef SLUICE_REVISIONS_H
#define SLUICE_REVISIONS_H

#include <stddef.h>
#include <stdint.h>

struct sl_revisions;

/* Open (creating if needed) and load <data_dir>/revisions.log. NULL + err on failure. */
struct sl_revisions *sl_revisions_open(const char *data_dir, char *err, size_t errlen);

/*
 * 0: accepted and durable. 1: not newer; *highest gets the current
 * highest. -1: could not be recorded (err says why; the caller rejects
 * with SLP_E_INTERNAL).
 */
int sl_revisions_accept(struct sl_revisions *r, const char *tenant, const char *doc,
			uint64_t rev, uint64_t *highest, char *err, size_t errlen);

/* Highest accepted revision, 0 if none. */
uint64_t sl_revisions_highest(struct sl_revisions *r, const char *tenant, const char *doc);

/* Number of documents known. */
size_t sl_revisions_count(struct sl_revisions *r);

void sl_revisions_close(struct sl_revisions *r);

#endif

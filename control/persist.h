/*
 * persist.h — the io_uring writer: result records to per-document result
 * files and the journal, one fdatasync (of the journal) per batch, then
 * ACK events to the websocket thread.
 *
 * One thread owns the ring, the journal segments and every result file
 * descriptor. It drains the workers' result rings and the to_persist
 * message ring (END of a document), appends one JSON line per result to
 *   <data>/<tenant>/<document>/<revision>.results
 * (and the processor's records to their stream files), appends the same
 * bytes with the document's resume point to the journal, syncs the
 * journal, and only then hands the batches to rt->acks (tenants with
 * ack = processed get theirs as soon as the writes are submitted). When
 * a document has ended and all its lines are durable, a summary line ends
 * its results file and an SL_RB_SUMMARY batch follows its last results.
 */
#ifndef SLUICE_PERSIST_H
#define SLUICE_PERSIST_H

#include <stddef.h>

#include "../dataplane/runtime.h"
#include "recover.h"

/*
 * Start the writer thread, journaling after what recovery (already run)
 * found. 0, or -1 with a message (e.g. data dir not writable).
 */
int sl_persist_start(struct sl_runtime *rt, struct sl_recovery *rec, char *err, size_t errlen);

/* Wait for the writer to drain what the workers produced and stop (after rt->stop and the workers). */
void sl_persist_stop(struct sl_runtime *rt);

#endif

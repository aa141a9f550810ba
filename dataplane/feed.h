/*
 * feed.h — producer side of dispatch: document bytes in, line batches out.
 *
 * A producer (an rx lcore, or the websocket ingest thread) keeps one
 * sl_feed per document it is receiving and one sl_backlog for itself.
 * Bytes go through the RFC 4180 splitter; lines are copied into the
 * current batch; full batches go to the backlog, and the backlog is
 * pushed to the least-loaded workers with sl_backlog_dispatch().
 *
 * Back-pressure: before feeding bytes the producer asks sl_feed_room().
 * When it says no, the producer must not consume the input (rx: leave the
 * SLP position where it is and shrink credit; websocket: pause reading).
 * No allocation, no locks, no syscalls.
 */
#ifndef SLUICE_FEED_H
#define SLUICE_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "runtime.h"
#include "split.h"

#define SL_BACKLOG_MAX 512u

struct sl_backlog {
	struct sl_line_batch *b[SL_BACKLOG_MAX];
	unsigned head, count;
	unsigned open;          /* batches this producer's feeds are filling: each will come here */
};

struct sl_feed {
	struct sl_splitter split;
	struct sl_runtime *rt;
	struct sl_backlog *backlog;
	struct sl_tenant_stats *tstats;      /* this producer's row, indexed by tenant */
	struct sl_line_batch *cur;
	uint32_t doc, doc_gen;
	uint16_t tenant;
	uint16_t producer;
	uint64_t lines;                      /* lines produced so far */
	uint64_t bytes;                      /* bytes fed so far (since a resume) */
	uint32_t crc;                        /* CRC32C of the document's bytes [0, crc_pos) */
	uint64_t crc_pos;
	const char *chunk;                   /* the chunk being fed, at document offset chunk_off */
	uint64_t chunk_off;
	uint64_t starved;                    /* times no batch could be had (should stay 0) */
};

/* carry: cfg->max_line_bytes bytes, owned by the caller, alive as long as f. */
void sl_feed_init(struct sl_feed *f, struct sl_runtime *rt, unsigned producer,
		  struct sl_backlog *bl, char *carry, uint32_t doc, uint32_t doc_gen, uint16_t tenant);

/* May this producer feed n more bytes now? (free batches and backlog room) */
bool sl_feed_room(struct sl_runtime *rt, const struct sl_backlog *bl, size_t n);

void sl_feed_bytes(struct sl_feed *f, const void *p, size_t n);

/* A resumed document: it goes on at byte offset (a line boundary) after
 * `lines` lines; crc is the CRC32C of the bytes before offset. Call right
 * after sl_feed_init. */
void sl_feed_resume(struct sl_feed *f, uint64_t offset, uint64_t lines, uint32_t crc);

/* CRC32C of every byte fed (resumed prefix included): what FIN must carry. */
static inline uint32_t sl_feed_crc(const struct sl_feed *f) { return f->crc; }

/* Send the partly filled batch on (call at the end of a burst: latency). */
void sl_feed_flush(struct sl_feed *f);

/* End of document: emit the last line, flush. Returns the total line count. */
uint64_t sl_feed_finish(struct sl_feed *f);

/* Push backlog to workers; returns batches still waiting. */
unsigned sl_backlog_dispatch(struct sl_runtime *rt, unsigned producer, struct sl_backlog *bl);

/* Return every backlog batch to the pool (shutdown). */
void sl_backlog_drop(struct sl_runtime *rt, struct sl_backlog *bl);

#endif

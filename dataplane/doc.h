/*
 * doc.h — the document table: one slot per document being ingested.
 *
 * A slot is taken when a document is accepted (SLP OPEN or websocket
 * upload), and released after its summary has been persisted and sent.
 * Slots are allocated and released by the control plane under a mutex
 * (a handful per second, never on the fast path); the dataplane only
 * carries the slot index and generation in its batches. Fields written
 * after publication are atomics.
 */
#ifndef SLUICE_DOC_H
#define SLUICE_DOC_H

#include <stdbool.h>
#include <stdint.h>

#include "../config/config.h"

#define SL_MAX_DOCS 4096u

enum sl_doc_origin { SL_ORIGIN_SLP = 0, SL_ORIGIN_WS = 1 };

struct sl_doc {
	/* written once before the slot is published, read-only after */
	uint32_t gen;
	uint16_t tenant;
	uint8_t origin;            /* enum sl_doc_origin */
	uint8_t in_use;
	uint64_t revision;
	char name[SL_NAME_MAX + 1];
	uint16_t rx;               /* SLP: rx lcore index that owns the stream */
	uint32_t stream;           /* SLP: stream id on that lcore */
	uint32_t session;          /* SLP: sender's session number */
	void *ws_conn;             /* WS: the upload connection (lws thread only) */
	uint64_t opened_ns;
	/*
	 * Where the document starts: 0 for a new one; for one resumed after a
	 * restart, what the journal holds of it (lines and input bytes already
	 * durable, their CRC32C, and the counts of those lines).
	 */
	uint64_t resume_lines, resume_offset, resume_ok, resume_errors;
	uint32_t resume_crc;

	/* written by persistence after each durable round (atomic), read by
	 * the rx lcore for SLP STATUS: input bytes whose lines are all durable */
	uint64_t durable;
};

struct sl_doc_table {
	struct sl_doc docs[SL_MAX_DOCS];
	uint32_t tenant_active[SL_MAX_TENANTS];   /* open slots per tenant (under the mutex) */
};

/* Set up an empty table (calloc'd by the caller or static). */
void sl_docs_init(struct sl_doc_table *t);

/*
 * Take a free slot for (tenant, name, revision). Returns the slot index
 * or -1 if the table is full. Thread-safe.
 */
int sl_docs_open(struct sl_doc_table *t, uint16_t tenant, const char *name, uint64_t revision,
		 enum sl_doc_origin origin);

/*
 * The same, but refuse (-2) when the tenant already has tenant_max
 * documents open: one tenant cannot take every slot. -1: table full.
 */
int sl_docs_open_limited(struct sl_doc_table *t, uint16_t tenant, const char *name, uint64_t revision,
			 enum sl_doc_origin origin, uint32_t tenant_max);

/* The slot of an open document (tenant, name), any revision, or -1. Thread-safe. */
int sl_docs_find(struct sl_doc_table *t, uint16_t tenant, const char *name);

/* Release a slot (bumps its generation). Thread-safe. */
void sl_docs_release(struct sl_doc_table *t, uint32_t slot);

/* Documents currently open. */
uint32_t sl_docs_active(struct sl_doc_table *t);

#endif

/*
 * batch.h — what travels between the stages: line batches (producer ->
 * worker) and result batches (worker -> persistence -> ACK fan-out).
 *
 * Both come from rte_mempools created once at start-up, move through
 * rte_rings as pointers, and are returned to their pool by the last
 * stage that reads them. A batch belongs to one document and holds a run
 * of consecutive line numbers.
 */
#ifndef SLUICE_BATCH_H
#define SLUICE_BATCH_H

#include <stdint.h>
#include <stdlib.h>

#include <rte_common.h>
#include <rte_mempool.h>

#define SL_BATCH_LINES 64u
#define SL_BATCH_DATA (32u * 1024u)   /* bytes of line text per batch */

struct sl_line_ref {
	uint32_t off;     /* into data[] */
	uint32_t len;
	uint32_t flags;   /* SL_LINE_* from split.h */
};

struct sl_line_batch {
	uint32_t doc;              /* document slot (doc.h) */
	uint32_t doc_gen;          /* slot generation, guards against reuse */
	uint16_t tenant;           /* index into config tenants */
	uint16_t producer;         /* dispatch producer index that sent it */
	uint16_t n_lines;
	uint16_t reserved;
	uint32_t data_used;
	uint64_t first_line;       /* line number of line[0], 1-based */
	uint64_t enq_tsc;          /* when it was enqueued (latency, load) */
	uint64_t end_offset;       /* document offset just after the last line: a resume point */
	uint32_t end_crc;          /* CRC32C of the document's bytes before end_offset */
	uint32_t reserved2;
	struct sl_line_ref line[SL_BATCH_LINES];
	char data[SL_BATCH_DATA];
} __rte_cache_aligned;

#define SL_RESULT_RECS 128u
#define SL_RESULT_DATA (16u * 1024u)  /* bytes of output records per ordinary result batch */

/*
 * The most output one line may need: a built-in processor's records for a
 * line of max_line_bytes, with every byte escaped the long way (a control
 * byte becomes \u00XX: 6 bytes), plus room for a schema's column names
 * (64 columns of 64-byte names and their punctuation). A line that does
 * not fit an ordinary result batch gets a large one of this size
 * (runtime.h: large_pool), so no line within max_line_bytes fails for the
 * size of its own output.
 */
#define SL_LINE_OUTPUT_MAX(max_line) (6u * (uint32_t)(max_line) + 8192u)

/* Result of one line. Reason codes are below; detail depends on the reason. */
struct sl_result {
	uint64_t line;
	uint16_t status;           /* SL_ST_OK or SL_ST_ERROR */
	uint16_t reason;           /* enum sl_reason */
	uint32_t fields;           /* field count found */
	uint32_t detail;           /* e.g. expected column count, or 1-based field index */
	uint16_t rec_first;        /* this line's records: rec[rec_first .. rec_first + n_recs) */
	uint8_t n_recs;
	uint8_t reserved;
};

/* An output record of a line: JSON text in the batch's data area, for one stream. */
struct sl_rec_ref {
	uint32_t off;
	uint32_t len;              /* may pass 64 KiB: a long line's record, escaped */
	uint8_t stream;            /* processor stream index, or SL_STREAM_REASON / SL_STREAM_DEADLETTER */
	uint8_t reserved[3];
};

enum sl_status { SL_ST_OK = 0, SL_ST_ERROR = 1 };

enum sl_reason {
	SL_R_NONE = 0,
	SL_R_COLUMNS,          /* detail = expected column count */
	SL_R_BARE_QUOTE,       /* '"' inside an unquoted field; detail = field index */
	SL_R_AFTER_QUOTE,      /* bytes after a closing quote; detail = field index */
	SL_R_UNTERMINATED,     /* document ended inside a quoted field */
	SL_R_OVERSIZE,         /* line longer than max_line_bytes; detail = the limit */
	SL_R_SCHEMA,           /* a column does not match the tenant's schema; detail = 1-based column */
	SL_R_JSON,             /* not a valid JSON object; detail = byte offset of the problem */
	SL_R_FIELD,            /* a required JSON field is missing or has the wrong type */
	SL_R_POISON,           /* the line crashed workers crash_limit times: quarantined */
	SL_R_OUTPUT,           /* the line's output records did not fit a result batch */
	SL_R_PROCESSOR,        /* an external processor reported an error (text in the reason record) */
	SL_R_TIMEOUT,          /* long work (PENDING) did not finish within pending_timeout_ms; detail = it */
	SL_R_NO_RESULT,        /* the document failed before this line's result came (held_max_mb); detail = the limit */
	SL_R__COUNT
};

/* Result batch kinds: ordinary results, or the end-of-document summary. */
enum sl_rbatch_kind { SL_RB_RESULTS = 0, SL_RB_SUMMARY = 1 };

/*
 * Results of a run of consecutive lines of one document: r[i] is line
 * first_line + i. A line batch gives one result batch, or several when the
 * output records do not fit one (each then covers a sub-run).
 *
 * The data area is data_cap bytes: SL_RESULT_DATA in the ordinary pool,
 * SL_LINE_OUTPUT_MAX(max_line_bytes) in the large pool, and just what is
 * used in persistence's heap copies. Objects are sl_result_batch_size(cap).
 */
struct sl_result_batch {
	uint32_t doc;
	uint32_t doc_gen;
	uint16_t tenant;
	uint16_t worker;
	uint16_t n;
	uint8_t kind;              /* enum sl_rbatch_kind */
	uint8_t heap;              /* 1: a malloc'd copy (persistence's held batches), not a pool object */
	uint64_t first_line;
	/* SL_RB_SUMMARY only: */
	uint64_t lines, ok, errors;
	uint32_t fail_code;        /* slp_code: 0 = complete, else why the document failed */
	uint32_t end_crc;          /* with end_offset: see sl_line_batch */
	uint64_t end_offset;       /* set on the result batch that ends its line batch, else 0 */
	struct sl_result r[SL_BATCH_LINES];
	uint16_t n_recs;
	uint16_t reserved3;
	uint32_t data_used;
	uint32_t data_cap;         /* bytes at data[] */
	struct sl_rec_ref rec[SL_RESULT_RECS];
	char data[];
} __rte_cache_aligned;

static inline size_t
sl_result_batch_size(uint32_t data_cap)
{
	return sizeof(struct sl_result_batch) + data_cap;
}

/*
 * Give a result batch back: to the pool it came from (the ordinary one,
 * which pool names, or the large one: the object's header says which), or
 * to the heap if it is a copy.
 */
static inline void
sl_result_batch_free(struct rte_mempool *pool, struct sl_result_batch *b)
{
	(void)pool;
	if (b->heap)
		free(b);
	else
		rte_mempool_put(rte_mempool_from_obj(b), b);
}

/* The reason text record of result r, or NULL. */
static inline const struct sl_rec_ref *
sl_result_reason_rec(const struct sl_result_batch *b, const struct sl_result *r)
{
	for (unsigned i = 0; i < r->n_recs; i++)
		if (b->rec[r->rec_first + i].stream == 254u /* SL_STREAM_REASON */)
			return &b->rec[r->rec_first + i];
	return NULL;
}

/* "expected 5 columns, got 3" style text for a result; returns bytes written (snprintf rules). */
int sl_result_reason_text(const struct sl_result *r, char *buf, size_t cap);
const char *sl_reason_name(enum sl_reason r);

#endif

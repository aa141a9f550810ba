/*
 * processor.h — the contract between a worker and the code that does a
 * tenant's work on one line. Built-in processors and external ones
 * (shared objects loaded with dlopen) implement the same table.
 *
 * Life cycle, per (worker, tenant): init once (lazily, at the tenant's
 * first line on that worker), process for each line, poll while lines are
 * pending, flush when the worker's input runs dry, fini at shutdown.
 * State is per worker: no locks, no sharing. process and poll must not
 * block, allocate or make syscalls on the per-line path.
 *
 * A line's verdict goes in struct sl_result (status, reason, fields,
 * detail). Output records (normalized CSV record, tweet, user, ...) are
 * JSON objects appended with sl_rec_add() to the line's output area; each
 * names the output stream it belongs to: stream i of the processor is the
 * result file <revision>.<streams[i]> of the document. Two pseudo-streams
 * carry what is not a record: SL_STREAM_REASON (human text explaining an
 * error, shown in the ACK and the results file; on an ok line, a note
 * shown as its detail in the results file only) and SL_STREAM_DEADLETTER
 * (the raw line of a quarantined line; written by the worker, not by
 * processors).
 *
 * Long work: process may return SL_PROC_PENDING after filling the result
 * and records; the line is then in flight until poll() reports its cookie
 * as complete. A worker holds many pending lines at once. A line whose
 * cookie does not come back within [workers] pending_timeout_ms is given
 * an error result (SL_R_TIMEOUT) and its records are dropped; a cookie
 * reported after that is ignored.
 *
 * Room for records: a line always gets at least SL_LINE_OUTPUT_MAX(
 * max_line_bytes) bytes and SL_RESULT_RECS record slots if it needs them
 * (env->cfg->max_line_bytes says how much to allocate for building a
 * record). The worker first offers the room left in the current result
 * batch; when sl_rec_add reports overflow there, it calls process again
 * for the same line with more room (a fresh result batch, then a large
 * one). So a processor whose poll is NULL must give the same verdict and
 * records when called twice for a line. A processor with a poll (one that
 * may return PENDING) is called once per line: its records go to a
 * staging area of the full size and are placed by the worker.
 * Only output beyond that room fails the line (SL_R_OUTPUT).
 */
#ifndef SLUICE_PROCESSOR_H
#define SLUICE_PROCESSOR_H

#include <stdint.h>
#include <string.h>

#include "batch.h"
#include "../config/config.h"

#define SL_PROC_ABI_VERSION 2u   /* 2: sl_rec_ref.len is 32 bits; records may pass 64 KiB */
#define SL_PROC_MAX_STREAMS 4u
#define SL_STREAM_REASON 254u      /* pseudo-stream: error text for the line */
#define SL_STREAM_DEADLETTER 255u  /* pseudo-stream: the raw quarantined line */

enum sl_proc_rc { SL_PROC_DONE = 0, SL_PROC_PENDING = 1 };

/* One input line. */
struct sl_line_in {
	const char *data;
	uint32_t len;
	uint32_t flags;            /* SL_LINE_* from split.h */
	uint64_t line;             /* 1-based line number in the document */
};

/* Where a processor appends the output records of one line. */
struct sl_rec_out {
	char *buf;                 /* output area (part of the result batch) */
	uint32_t cap;              /* bytes available at buf */
	uint32_t used;
	uint16_t n;                /* records so far */
	uint16_t max;              /* record slots available */
	struct sl_rec_ref *rec;    /* record slots (off is relative to the batch data area) */
	uint32_t base;             /* offset of buf in the batch data area */
	uint16_t overflow;         /* a record did not fit: the worker reports the line as an error */
};

/* Append one record (JSON text without newline) to stream s. 0, or -1 (and overflow set) if no room. */
static inline int
sl_rec_add(struct sl_rec_out *o, unsigned stream, const char *p, uint32_t len)
{
	if (o->n >= o->max || len > o->cap - o->used) {
		o->overflow = 1;
		return -1;
	}
	memcpy(o->buf + o->used, p, len);
	o->rec[o->n].off = o->base + o->used;
	o->rec[o->n].len = len;
	o->rec[o->n].stream = (uint8_t)stream;
	o->n++;
	o->used += len;
	return 0;
}

/*
 * Mark a line failed: status, reason, detail, no fields, and the
 * printf-formatted text (cut at 192 bytes) as its SL_STREAM_REASON record.
 * For processors; defined in dataplane/processors.c.
 */
void sl_line_fail(struct sl_result *res, struct sl_rec_out *out, uint16_t reason, uint32_t detail,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* What init gets: enough to configure itself from the tenant's section. */
struct sl_proc_env {
	uint32_t abi_version;      /* SL_PROC_ABI_VERSION of the caller */
	unsigned worker;           /* worker index */
	uint16_t tenant_index;
	const struct sl_tenant_conf *tenant;
	const struct sl_config *cfg;
	const char *share_dir;     /* where shipped data files live (lexicons) */
	char *err;                 /* init failure: write why here (NUL-terminated) */
	size_t errlen;
};

struct sl_processor {
	uint32_t abi_version;      /* must be SL_PROC_ABI_VERSION */
	const char *name;
	const char *streams[SL_PROC_MAX_STREAMS];   /* output stream names, NULL-terminated; may be empty */
	/* NULL on failure, with env->err filled */
	void *(*init)(const struct sl_proc_env *env);
	/* Fill res (status, reason, fields, detail; not res->line) and records. */
	enum sl_proc_rc (*process)(void *state, const struct sl_line_in *in, struct sl_result *res,
				   struct sl_rec_out *out, uint64_t cookie);
	/* Cookies of pending lines now complete (at most max); NULL if never pending. */
	unsigned (*poll)(void *state, uint64_t now_ns, uint64_t *cookies, unsigned max);
	void (*flush)(void *state);   /* may be NULL */
	void (*fini)(void *state);    /* may be NULL */
};

/*
 * An external processor is a shared object exporting
 *     const struct sl_processor *sluice_processor(void);
 * whose abi_version must equal SL_PROC_ABI_VERSION; sluiced refuses to
 * start otherwise (with the path and both versions in the message).
 */
#define SL_PROC_SYMBOL "sluice_processor"
typedef const struct sl_processor *(*sl_processor_entry_fn)(void);

/* Built-ins (dataplane/proc_*.c). */
extern const struct sl_processor sl_proc_csv;       /* RFC 4180 fields, column count, optional schema */
extern const struct sl_processor sl_proc_ndjson;    /* one JSON object per line: validated, re-emitted */
extern const struct sl_processor sl_proc_tweet;     /* tweets: sentiment, engagement, retweets, users */
extern const struct sl_processor sl_proc_topk;      /* count-min sketch of a column/field: top 10 */
extern const struct sl_processor sl_proc_simulate;  /* long work with a configured duration distribution */

/* The built-in of that name, or NULL. */
const struct sl_processor *sl_processor_builtin(const char *name);

/*
 * Before any worker runs (sluiced --check-config, and sluiced's start):
 * check that the data files processor p will read at init are there,
 * readable and well-formed, so that a missing one stops sluiced with the
 * key to set instead of failing every line. 0, or -1 with the reason in
 * err (the path tried and the config key). Processors without data files
 * (external ones included) pass.
 */
int sl_processor_check_data(const struct sl_processor *p, const char *share_dir, char *err, size_t errlen);

/* The tweet processor's part of it: share_dir/lexicon.tsv (proc_tweet.c). */
int sl_tweet_check_data(const char *share_dir, char *err, size_t errlen);

/* Load an external processor (dlopen); NULL with the reason in err (path, ABI versions). */
const struct sl_processor *sl_processor_load(const char *path, char *err, size_t errlen);

#endif

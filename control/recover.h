/*
 * recover.h — crash recovery: replay the journal at start, and decide
 * what a sender that asks to resume a document gets.
 *
 * At start (before any lcore runs) sl_recovery_run() reads the journal
 * segments from the newest checkpoint on, writes every journaled chunk
 * back into its result file at its offset (idempotent), cuts every file
 * of a journaled document to its journaled length (what was written but
 * never made durable in the journal was never acknowledged), syncs them,
 * and keeps a table of the documents that were unfinished: their durable
 * lines, the input offset those end at and the CRC32C before it.
 *
 * A sender that comes back (SLP OPEN with SLP_F_RESUME, or a websocket
 * upload with resume=1) for the highest accepted revision of a document
 * gets sl_resume_decide()'s answer: go on from the durable position, the
 * document is already complete (its summary is in the results file), or
 * busy (a stream of it is still open). The table is shared by the
 * manager (main lcore), the websocket thread and persistence: a mutex
 * guards it (a handful of calls per document, never per line).
 */
#ifndef SLUICE_RECOVER_H
#define SLUICE_RECOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../config/config.h"
#include "../dataplane/doc.h"
#include "persist_files.h"

#define SL_SUFFIX_MAX 32u

struct sl_resume_file {
	char suffix[SL_SUFFIX_MAX + 1];
	uint64_t len;
};

/* What is durable of one unfinished document. */
struct sl_resume_state {
	char tenant[SL_NAME_MAX + 1];
	char doc[SL_NAME_MAX + 1];
	uint64_t revision;
	uint64_t lines, ok, errors;    /* durable lines 1..lines, of which ok / errors */
	uint64_t offset;               /* input bytes those lines end at */
	uint32_t crc;                  /* CRC32C of the input before offset */
	unsigned n_files;
	struct sl_resume_file file[SL_DF_COUNT];
};

struct sl_recovery;

/*
 * Replay <data_dir>/journal (creating the directory if need be). 0 and a
 * table (maybe empty), or -1 with a message: the journal or a result
 * file could not be read or repaired — starting anyway could acknowledge
 * lines twice, so the daemon must not start.
 */
int sl_recovery_run(const char *data_dir, struct sl_recovery **out, char *err, size_t errlen);

/* The first segment number persistence may write (every older one may be deleted after its checkpoint). */
uint64_t sl_recovery_next_seq(const struct sl_recovery *r);

/* Journal records replayed at start, and unfinished documents found. */
uint64_t sl_recovery_records(const struct sl_recovery *r);
size_t sl_recovery_unfinished(const struct sl_recovery *r);

/* The state of an unfinished (tenant, doc, revision), if the journal had it. */
bool sl_recovery_find(struct sl_recovery *r, const char *tenant, const char *doc, uint64_t revision,
		      struct sl_resume_state *out);

/* Forget every unfinished revision of (tenant, doc): it completed, or a newer revision was accepted. */
void sl_recovery_forget(struct sl_recovery *r, const char *tenant, const char *doc);

/* Call fn on each unfinished document still in the table (checkpoints). */
void sl_recovery_each(struct sl_recovery *r, void (*fn)(void *arg, const struct sl_resume_state *st),
		      void *arg);

void sl_recovery_free(struct sl_recovery *r);

enum sl_resume {
	SL_RESUME_NO = 0,      /* not a resume of anything: the ordinary OPEN rules apply */
	SL_RESUME_FROM,        /* go on from answer.st (all zero: from the start) */
	SL_RESUME_COMPLETE,    /* already complete: answer.lines/ok/errors/code */
	SL_RESUME_BUSY,        /* a stream of this document is still open: retry later */
	SL_RESUME_ERROR,       /* the files could not be prepared: answer.reason */
};

struct sl_resume_answer {
	struct sl_resume_state st;
	uint64_t lines, ok, errors;
	uint16_t code;                 /* COMPLETE: the document's slp_code */
	char reason[160];
};

/*
 * A sender asks to resume revision rev of (tenant, doc), whose highest
 * accepted revision is highest. Only rev == highest resumes; then the
 * document is busy, unfinished (the journal's state, or from the start
 * if nothing of it is durable: its files are emptied), or complete.
 */
enum sl_resume sl_resume_decide(struct sl_recovery *r, struct sl_doc_table *docs, const char *data_dir,
				uint16_t tenant_idx, const char *tenant, const char *doc, uint64_t rev,
				uint64_t highest, struct sl_resume_answer *a);

/* Put a FROM answer into a document slot before it is published (resume_* fields, durable). */
void sl_resume_apply(struct sl_doc *d, const struct sl_resume_answer *a);

/*
 * The summary line persistence ends a results file with. Parse one:
 * true and the counts if line (len bytes, no newline) is one.
 */
bool sl_summary_parse(const char *line, size_t len, uint64_t *lines, uint64_t *ok, uint64_t *errors,
		      uint16_t *code);

#endif

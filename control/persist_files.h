/*
 * persist_files.h — the files of one document revision, as the writer
 * (persist.c) sees them. All live in <data>/<tenant>/<document>/:
 *
 *   <rev>.results        one JSON line per input line (its verdict)
 *   <rev>.<stream>       one JSON line per output record of processor
 *                        stream i (e.g. 3.records, 3.tweets, 3.users)
 *   <rev>.deadletter     one JSON line per quarantined line
 *
 * Each file is opened lazily, when its first bytes are about to be
 * written, at its end (never truncated: a resent revision appends). A
 * created file's directory entry is made durable before anything written
 * to it is acknowledged. Only the persistence thread uses this.
 */
#ifndef SLUICE_PERSIST_FILES_H
#define SLUICE_PERSIST_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../dataplane/processor.h"

/* File indexes: results, then one per processor stream, then the dead-letter file. */
#define SL_DF_RESULTS 0u
#define SL_DF_STREAM0 1u
#define SL_DF_DEADLETTER (SL_DF_STREAM0 + SL_PROC_MAX_STREAMS)
#define SL_DF_COUNT (SL_DF_DEADLETTER + 1u)

struct sl_doc_files {
	int fd[SL_DF_COUNT];          /* -1 until opened */
	uint64_t off[SL_DF_COUNT];    /* where the next write to it goes */
	bool dirs_synced;             /* data, tenant and document directories made durable once */
};

/* All closed. */
void sl_doc_files_init(struct sl_doc_files *f);

/* Close what is open; back to the sl_doc_files_init() state. */
void sl_doc_files_close(struct sl_doc_files *f);

/*
 * The name after "<rev>." of file k for a document whose processor is
 * proc (may be NULL: no streams). NULL when k is a stream the processor
 * does not have, or whose name is not a safe file name ([A-Za-z0-9_-],
 * 1..32 bytes, not "results" or "deadletter").
 */
const char *sl_doc_file_suffix(const struct sl_processor *proc, unsigned k);

/* "<dir>/<rev>.<suffix>"; bytes written, or -1 if it does not fit cap. */
int sl_doc_file_path(char *out, size_t cap, const char *dir, uint64_t rev, const char *suffix);

/*
 * Open file k (suffix from sl_doc_file_suffix) of the document whose
 * directory is dir, creating directories as needed, positioned at its
 * end. 0, or -1 with errno set and a message on stderr naming the path.
 */
int sl_doc_files_open(struct sl_doc_files *f, unsigned k, const char *dir, uint64_t rev,
		      const char *suffix);

#endif

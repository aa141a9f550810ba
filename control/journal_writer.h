/*
 * journal_writer.h — the persistence thread's side of the journal:
 * building a record in memory, and the segment files (create, rotate,
 * delete). The record's write and fdatasync go through persistence's
 * io_uring with the round's other writes; rotation is rare and uses
 * plain syscalls. Format: journal.h. Only the persistence thread uses it.
 */
#ifndef SLUICE_JOURNAL_WRITER_H
#define SLUICE_JOURNAL_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "../config/config.h"
#include "journal.h"

struct sl_jwriter {
	char data_dir[SL_PATH_MAX];
	int fd;                    /* the segment being appended to, -1 before the first checkpoint */
	uint64_t seq;              /* its number */
	uint64_t off;              /* its length: where the next record goes */
	uint8_t *buf;              /* the record being built */
	size_t cap, len;
};

void sl_jw_init(struct sl_jwriter *w, const char *data_dir, uint64_t next_seq);
void sl_jw_free(struct sl_jwriter *w);

/* Start a record that will hold at most payload_max bytes of entries. 0, or -1 (out of memory). */
int sl_jw_begin(struct sl_jwriter *w, size_t payload_max);
void sl_jw_add_doc(struct sl_jwriter *w, const struct sl_jdoc *d);
void sl_jw_add_chunk(struct sl_jwriter *w, const char *suffix, size_t suffix_len, uint64_t file_offset,
		     const void *data, uint32_t len);
/* Finish the record: buf[0, len) is ready to append at off. */
void sl_jw_seal(struct sl_jwriter *w, enum sl_jrec_type type);

/*
 * Start a new segment whose first record is the sealed checkpoint in buf:
 * create it, write and fdatasync it and its directory, then delete every
 * older segment. Returns the number deleted, or -1 with a message in err
 * (nothing changed: the old segment stays in use).
 */
int sl_jw_rotate(struct sl_jwriter *w, char *err, size_t errlen);

#endif

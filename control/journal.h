/*
 * journal.h — the persistence journal's on-disk format: CRC-protected
 * records in segment files, what crash recovery replays.
 *
 * <data_dir>/journal/<seq>.sj, seq 16 hex digits, increasing. Each
 * segment is a sequence of records; the first is a CHECKPOINT. A record:
 *
 *   0      4      6        8        12       16
 *   +------+------+--------+--------+--------+--------------+
 *   |magic | type |version | length | crc32c |  payload ... |
 *   |"SLJ1"|      |   1    |payload | of hdr[0..12) + payload|
 *   +------+------+--------+--------+--------+--------------+
 *
 * little-endian (the journal never leaves the machine that wrote it). A
 * payload is a list of document entries:
 *
 *   u16 tenant_len, u16 doc_len, u8 flags, u8 n_chunks, u16 0,
 *   u64 revision, u64 lines, u64 ok, u64 errors, u64 offset, u32 crc, u32 0,
 *   tenant, doc, then n_chunks chunks:
 *     u8 suffix_len, 3 x u8 0, u32 len, u64 file_offset, suffix, len bytes
 *
 * ROUND (one per persistence batch, fdatasynced before any of its lines is
 * acknowledged): for each document of the batch, its counts *after* the
 * batch (lines durable, of which ok and errors), the input offset all
 * those lines end at and the CRC32C of the input before it (the resume
 * point), and the bytes appended to each of its files at their offsets.
 * Replaying a record twice writes the same bytes at the same places.
 * FINISHED: the document's summary is in this batch; it is complete.
 *
 * CHECKPOINT (first record of every segment): every unfinished document,
 * with chunks of length 0 whose offset is the file's length. Written
 * after every result file was synced, so older segments can be deleted.
 *
 * The encoder and decoder are pure (no I/O): the fuzz target and the
 * unit test drive them directly. A record that does not check out (short,
 * bad magic, bad CRC) ends the journal: it is the torn tail of the last
 * write before a crash.
 */
#ifndef SLUICE_JOURNAL_H
#define SLUICE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_J_MAGIC 0x314A4C53u     /* "SLJ1" as little-endian bytes */
#define SL_J_VERSION 1u
#define SL_J_HDR 16u
#define SL_J_DOC_FIXED 56u
#define SL_J_CHUNK_FIXED 16u
#define SL_J_MAX_RECORD (1u << 30)  /* a record larger than this is damage, not data */

enum sl_jrec_type { SL_J_CHECKPOINT = 1, SL_J_ROUND = 2 };

#define SL_JD_FINISHED 0x1u         /* the summary is written: the document is complete */
#define SL_JD_POS 0x2u              /* offset and crc are a valid resume point */

/* A document entry, decoded (pointers into the record) or to encode. */
struct sl_jdoc {
	const char *tenant;
	uint16_t tenant_len;
	const char *doc;
	uint16_t doc_len;
	uint8_t flags;                 /* SL_JD_* */
	uint8_t n_chunks;
	uint64_t revision;
	uint64_t lines, ok, errors;    /* durable after this record */
	uint64_t offset;               /* input bytes those lines end at (SL_JD_POS) */
	uint32_t crc;                  /* CRC32C of the input before offset */
	/* decoded only: the chunk area, walked with sl_journal_chunk_next() */
	const uint8_t *chunks;
	size_t chunks_len;
};

struct sl_jchunk {
	const char *suffix;            /* file name after "<rev>." */
	uint8_t suffix_len;
	uint32_t len;
	uint64_t file_offset;
	const uint8_t *data;
};

/* ---- encoding: into a buffer the caller sized with the *_size() helpers ---- */

static inline size_t sl_journal_doc_size(size_t tenant_len, size_t doc_len)
{
	return SL_J_DOC_FIXED + tenant_len + doc_len;
}

static inline size_t sl_journal_chunk_size(size_t suffix_len, size_t len)
{
	return SL_J_CHUNK_FIXED + suffix_len + len;
}

/* Write a document entry's head (d->n_chunks chunks must follow). Returns bytes written. */
size_t sl_journal_put_doc(uint8_t *out, const struct sl_jdoc *d);

/* Write one chunk. Returns bytes written. */
size_t sl_journal_put_chunk(uint8_t *out, const char *suffix, uint8_t suffix_len,
			    uint64_t file_offset, const void *data, uint32_t len);

/* rec[SL_J_HDR ..) holds payload_len bytes: fill in the header and its CRC. */
void sl_journal_seal(uint8_t *rec, enum sl_jrec_type type, uint32_t payload_len);

/* ---- decoding ---- */

enum sl_jread {
	SL_JR_OK = 0,
	SL_JR_END,          /* no bytes left */
	SL_JR_TORN,         /* bytes left, but not a whole valid record: the end of the journal */
};

/*
 * The record at buf[*pos]. On SL_JR_OK: type, payload and length set,
 * *pos moved past it. Never reads outside buf[0, len).
 */
enum sl_jread sl_journal_record(const uint8_t *buf, size_t len, size_t *pos, uint16_t *type,
				const uint8_t **payload, uint32_t *payload_len);

/*
 * The next document entry of a payload at *pos: 1 (d filled, *pos moved
 * past its chunks), 0 at the end, -1 if malformed (names too long or
 * empty, chunks overrunning the payload).
 */
int sl_journal_doc_next(const uint8_t *payload, size_t len, size_t *pos, struct sl_jdoc *d);

/* The next chunk of d at *pos (start at 0): 1, 0 at the end, -1 if malformed. */
int sl_journal_chunk_next(const struct sl_jdoc *d, size_t *pos, struct sl_jchunk *c);

/* "<dir>/journal/<seq>.sj"; -1 if it does not fit. Parse back with sl_journal_seq_of(). */
int sl_journal_segment_path(char *out, size_t cap, const char *data_dir, uint64_t seq);
bool sl_journal_seq_of(const char *name, uint64_t *seq);

#endif

/*
 * journal.c — encode and decode journal records (format in journal.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../config/config.h"
#include "../dataplane/slp.h"
#include "journal.h"

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

size_t
sl_journal_put_doc(uint8_t *out, const struct sl_jdoc *d)
{
	memset(out, 0, SL_J_DOC_FIXED);
	put16(out, d->tenant_len);
	put16(out + 2, d->doc_len);
	out[4] = d->flags;
	out[5] = d->n_chunks;
	put64(out + 8, d->revision);
	put64(out + 16, d->lines);
	put64(out + 24, d->ok);
	put64(out + 32, d->errors);
	put64(out + 40, d->offset);
	put32(out + 48, d->crc);
	memcpy(out + SL_J_DOC_FIXED, d->tenant, d->tenant_len);
	memcpy(out + SL_J_DOC_FIXED + d->tenant_len, d->doc, d->doc_len);
	return sl_journal_doc_size(d->tenant_len, d->doc_len);
}

size_t
sl_journal_put_chunk(uint8_t *out, const char *suffix, uint8_t suffix_len, uint64_t file_offset,
		     const void *data, uint32_t len)
{
	memset(out, 0, SL_J_CHUNK_FIXED);
	out[0] = suffix_len;
	put32(out + 4, len);
	put64(out + 8, file_offset);
	memcpy(out + SL_J_CHUNK_FIXED, suffix, suffix_len);
	if (len > 0)
		memcpy(out + SL_J_CHUNK_FIXED + suffix_len, data, len);
	return sl_journal_chunk_size(suffix_len, len);
}

static uint32_t
record_crc(const uint8_t *rec, uint32_t payload_len)
{
	uint32_t crc = slp_crc32c(0, rec, 12);

	return slp_crc32c(crc, rec + SL_J_HDR, payload_len);
}

void
sl_journal_seal(uint8_t *rec, enum sl_jrec_type type, uint32_t payload_len)
{
	put32(rec, SL_J_MAGIC);
	put16(rec + 4, (uint16_t)type);
	put16(rec + 6, SL_J_VERSION);
	put32(rec + 8, payload_len);
	put32(rec + 12, record_crc(rec, payload_len));
}

enum sl_jread
sl_journal_record(const uint8_t *buf, size_t len, size_t *pos, uint16_t *type,
		  const uint8_t **payload, uint32_t *payload_len)
{
	size_t at = *pos;

	if (at >= len)
		return SL_JR_END;
	if (len - at < SL_J_HDR)
		return SL_JR_TORN;
	const uint8_t *r = buf + at;
	uint32_t plen = get32(r + 8);
	if (get32(r) != SL_J_MAGIC || get16(r + 6) != SL_J_VERSION || plen > SL_J_MAX_RECORD ||
	    plen > len - at - SL_J_HDR)
		return SL_JR_TORN;
	if (get32(r + 12) != record_crc(r, plen))
		return SL_JR_TORN;
	*type = get16(r + 4);
	*payload = r + SL_J_HDR;
	*payload_len = plen;
	*pos = at + SL_J_HDR + plen;
	return SL_JR_OK;
}

/* A chunk's suffix becomes part of a file name: only the characters persist_files.c allows. */
static bool
suffix_valid(const char *s, size_t n)
{
	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

int
sl_journal_chunk_next(const struct sl_jdoc *d, size_t *pos, struct sl_jchunk *c)
{
	size_t at = *pos, n = d->chunks_len;

	if (at >= n)
		return 0;
	if (n - at < SL_J_CHUNK_FIXED)
		return -1;
	const uint8_t *p = d->chunks + at;
	c->suffix_len = p[0];
	c->len = get32(p + 4);
	c->file_offset = get64(p + 8);
	if ((uint64_t)c->suffix_len + c->len > n - at - SL_J_CHUNK_FIXED)
		return -1;
	c->suffix = (const char *)p + SL_J_CHUNK_FIXED;
	c->data = p + SL_J_CHUNK_FIXED + c->suffix_len;
	if (!suffix_valid(c->suffix, c->suffix_len) || c->file_offset > UINT64_MAX - c->len)
		return -1;
	*pos = at + sl_journal_chunk_size(c->suffix_len, c->len);
	return 1;
}

int
sl_journal_doc_next(const uint8_t *payload, size_t len, size_t *pos, struct sl_jdoc *d)
{
	size_t at = *pos;

	if (at >= len)
		return 0;
	if (len - at < SL_J_DOC_FIXED)
		return -1;
	const uint8_t *p = payload + at;
	memset(d, 0, sizeof(*d));
	d->tenant_len = get16(p);
	d->doc_len = get16(p + 2);
	d->flags = p[4];
	d->n_chunks = p[5];
	d->revision = get64(p + 8);
	d->lines = get64(p + 16);
	d->ok = get64(p + 24);
	d->errors = get64(p + 32);
	d->offset = get64(p + 40);
	d->crc = get32(p + 48);
	if ((size_t)d->tenant_len + d->doc_len > len - at - SL_J_DOC_FIXED)
		return -1;
	d->tenant = (const char *)p + SL_J_DOC_FIXED;
	d->doc = d->tenant + d->tenant_len;
	/* names become directories: the same rule as everywhere else */
	if (!sl_name_valid(d->tenant, d->tenant_len) || !sl_name_valid(d->doc, d->doc_len) ||
	    d->revision == 0)
		return -1;

	/* walk the chunks to find where the entry ends */
	size_t start = at + sl_journal_doc_size(d->tenant_len, d->doc_len), cpos = 0;
	struct sl_jchunk c;
	d->chunks = payload + start;
	d->chunks_len = len - start;
	for (unsigned i = 0; i < d->n_chunks; i++)
		if (sl_journal_chunk_next(d, &cpos, &c) != 1)
			return -1;
	d->chunks_len = cpos;
	*pos = start + cpos;
	return 1;
}

int
sl_journal_segment_path(char *out, size_t cap, const char *data_dir, uint64_t seq)
{
	int n = snprintf(out, cap, "%s/journal/%016" PRIx64 ".sj", data_dir, seq);

	return n < 0 || (size_t)n >= cap ? -1 : n;
}

bool
sl_journal_seq_of(const char *name, uint64_t *seq)
{
	uint64_t v = 0;

	if (strlen(name) != 19 || strcmp(name + 16, ".sj") != 0)
		return false;
	for (int i = 0; i < 16; i++) {
		char c = name[i];
		unsigned d = (c >= '0' && c <= '9') ? (unsigned)(c - '0') :
			     (c >= 'a' && c <= 'f') ? (unsigned)(c - 'a' + 10) : 16u;
		if (d == 16)
			return false;
		v = v << 4 | d;
	}
	if (v == UINT64_MAX)
		return false;              /* the next segment's number would wrap */
	*seq = v;
	return true;
}

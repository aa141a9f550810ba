/*
 * fuzz_journal.c — libFuzzer target for the journal decoder (journal.h).
 *
 * The input is a journal segment, as recovery reads it from disk after a
 * crash: any bytes at all. It is walked record by record, entry by entry,
 * chunk by chunk. The decoder must never read outside the input (ASan
 * watches: the input is libFuzzer's exact-size heap copy), and what it
 * returns must be consistent: positions strictly increase and stay in
 * bounds, every name and chunk lies inside its record, names pass
 * sl_name_valid(), suffixes are plain words, a chunk's end fits in a
 * 64-bit file offset, and END only comes at the end of the input.
 *
 * A CRC32C guards every record, so random mutations almost never get
 * past sl_journal_record() into the entry decoder. Each input is
 * therefore walked twice: as it is (the CRC refuses damage), and as a
 * copy whose records' CRCs were recomputed with sl_journal_seal() (so
 * arbitrary payloads reach sl_journal_doc_next / sl_journal_chunk_next).
 *
 * Round trip: the entries of every record are encoded again with
 * sl_journal_put_doc / sl_journal_put_chunk and sealed; the new record
 * must decode to the same fields and bytes. When the whole payload
 * decoded, the new payload must equal the old one except for the bytes
 * the format reserves (written as 0, never read).
 *
 * Build and run by hand (meson builds it when clang is installed):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -march=native -I/work/main \
 *         -I/work/main/include tests/fuzz/fuzz_journal.c control/journal.c \
 *         dataplane/slp.c config/config.c config/ini.c -o /tmp/fuzz_journal
 *   /tmp/fuzz_journal -max_total_time=60 tests/fuzz/corpus/journal/
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "control/journal.h"

#define REQUIRE(cond) do {                                                      \
	if (!(cond)) {                                                          \
		fprintf(stderr, "fuzz_journal: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		abort();                                                        \
	}                                                                       \
} while (0)

#define MAX_ENTRIES 4096u

/* p[0, n) lies inside [lo, hi). */
static int inside(const void *p, size_t n, const uint8_t *lo, const uint8_t *hi)
{
	const uint8_t *q = p;

	return q >= lo && q <= hi && n <= (size_t)(hi - q);
}

/* The suffix rule of journal.c, restated: 1..32 bytes of [A-Za-z0-9_-]. */
static int plain_suffix(const char *s, size_t n)
{
	if (n == 0 || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* One decoded entry and where it started in its payload (for the reserved-bytes mask). */
struct entry {
	struct sl_jdoc d;
	size_t at;
};

static struct entry entries[MAX_ENTRIES];

/* Walk d's chunks, checking each; returns how many there were. */
static unsigned check_chunks(const struct sl_jdoc *d, const uint8_t *rec_lo, const uint8_t *rec_hi)
{
	size_t cpos = 0, prev = 0;
	struct sl_jchunk c;
	unsigned n = 0;
	int rc;

	while ((rc = sl_journal_chunk_next(d, &cpos, &c)) == 1) {
		REQUIRE(cpos > prev && cpos <= d->chunks_len);
		REQUIRE(cpos - prev == sl_journal_chunk_size(c.suffix_len, c.len));
		REQUIRE(inside(c.suffix, c.suffix_len, d->chunks + prev, d->chunks + cpos));
		REQUIRE(inside(c.data, c.len, d->chunks + prev, d->chunks + cpos));
		REQUIRE(inside(c.data, c.len, rec_lo, rec_hi));
		REQUIRE(c.data == (const uint8_t *)c.suffix + c.suffix_len);
		REQUIRE(plain_suffix(c.suffix, c.suffix_len));
		REQUIRE(c.file_offset <= UINT64_MAX - c.len);
		prev = cpos;
		n++;
	}
	/* sl_journal_doc_next cut chunks_len to exactly its n_chunks chunks */
	REQUIRE(rc == 0 && cpos == d->chunks_len);
	return n;
}

/* Two decoded entries say the same thing (pointers aside). */
static void require_same(const struct sl_jdoc *a, const struct sl_jdoc *b)
{
	REQUIRE(a->tenant_len == b->tenant_len && memcmp(a->tenant, b->tenant, a->tenant_len) == 0);
	REQUIRE(a->doc_len == b->doc_len && memcmp(a->doc, b->doc, a->doc_len) == 0);
	REQUIRE(a->flags == b->flags && a->n_chunks == b->n_chunks && a->revision == b->revision);
	REQUIRE(a->lines == b->lines && a->ok == b->ok && a->errors == b->errors);
	REQUIRE(a->offset == b->offset && a->crc == b->crc);
	REQUIRE(a->chunks_len == b->chunks_len);

	size_t pa = 0, pb = 0;
	struct sl_jchunk ca, cb;
	int ra, rb;
	while ((ra = sl_journal_chunk_next(a, &pa, &ca)) == 1) {
		rb = sl_journal_chunk_next(b, &pb, &cb);
		REQUIRE(rb == 1);
		REQUIRE(ca.suffix_len == cb.suffix_len && memcmp(ca.suffix, cb.suffix, ca.suffix_len) == 0);
		REQUIRE(ca.len == cb.len && ca.file_offset == cb.file_offset);
		REQUIRE(ca.len == 0 || memcmp(ca.data, cb.data, ca.len) == 0);
	}
	REQUIRE(ra == 0 && sl_journal_chunk_next(b, &pb, &cb) == 0);
}

/* Encode n entries again, seal, decode: the same record. */
static void round_trip(uint16_t type, const uint8_t *payload, uint32_t plen, size_t n, int whole)
{
	size_t need = SL_J_HDR;

	for (size_t i = 0; i < n; i++)
		need += sl_journal_doc_size(entries[i].d.tenant_len, entries[i].d.doc_len) + entries[i].d.chunks_len;
	uint8_t *rec = malloc(need > 0 ? need : 1);
	REQUIRE(rec != NULL);

	size_t o = SL_J_HDR;
	for (size_t i = 0; i < n; i++) {
		const struct sl_jdoc *d = &entries[i].d;
		size_t cpos = 0;
		struct sl_jchunk c;

		o += sl_journal_put_doc(rec + o, d);
		while (sl_journal_chunk_next(d, &cpos, &c) == 1)
			o += sl_journal_put_chunk(rec + o, c.suffix, c.suffix_len, c.file_offset, c.data, c.len);
	}
	REQUIRE(o == need);
	sl_journal_seal(rec, (enum sl_jrec_type)type, (uint32_t)(need - SL_J_HDR));

	size_t pos = 0, dpos = 0;
	uint16_t type2;
	const uint8_t *p2;
	uint32_t plen2;
	REQUIRE(sl_journal_record(rec, need, &pos, &type2, &p2, &plen2) == SL_JR_OK);
	REQUIRE(pos == need && type2 == type && plen2 == need - SL_J_HDR);
	for (size_t i = 0; i < n; i++) {
		struct sl_jdoc d2;
		REQUIRE(sl_journal_doc_next(p2, plen2, &dpos, &d2) == 1);
		require_same(&entries[i].d, &d2);
	}
	struct sl_jdoc end;
	REQUIRE(sl_journal_doc_next(p2, plen2, &dpos, &end) == 0);

	/* the whole payload decoded: byte for byte the same, reserved bytes aside */
	if (whole) {
		REQUIRE(plen2 == plen);
		uint8_t *orig = malloc(plen > 0 ? plen : 1);
		REQUIRE(orig != NULL);
		memcpy(orig, payload, plen);
		for (size_t i = 0; i < n; i++) {
			const struct sl_jdoc *d = &entries[i].d;
			size_t at = entries[i].at, cpos = 0;
			struct sl_jchunk c;

			memset(orig + at + 6, 0, 2);           /* u16 0 after n_chunks */
			memset(orig + at + 52, 0, 4);          /* u32 0 after crc */
			size_t cat = (size_t)(d->chunks - payload);
			while (sl_journal_chunk_next(d, &cpos, &c) == 1) {
				memset(orig + cat + 1, 0, 3);  /* 3 x u8 0 after suffix_len */
				cat = (size_t)(d->chunks - payload) + cpos;
			}
		}
		REQUIRE(memcmp(orig, p2, plen) == 0);
		free(orig);
	}
	free(rec);
}

/* The entries of one record. */
static void walk_payload(uint16_t type, const uint8_t *payload, uint32_t plen)
{
	size_t dpos = 0, n = 0;
	int rc;

	for (;;) {
		struct sl_jdoc d;
		size_t before = dpos;

		rc = sl_journal_doc_next(payload, plen, &dpos, &d);
		if (rc != 1) {
			REQUIRE(dpos == before);   /* the end and a refusal leave the position alone */
			REQUIRE(rc == -1 || before >= plen);
			break;
		}
		REQUIRE(dpos > before && dpos <= plen);
		REQUIRE(inside(d.tenant, d.tenant_len, payload + before, payload + dpos));
		REQUIRE(inside(d.doc, d.doc_len, payload + before, payload + dpos));
		REQUIRE(d.doc == d.tenant + d.tenant_len);
		REQUIRE(sl_name_valid(d.tenant, d.tenant_len));
		REQUIRE(sl_name_valid(d.doc, d.doc_len));
		REQUIRE(d.revision != 0);
		REQUIRE(d.chunks == payload + before + sl_journal_doc_size(d.tenant_len, d.doc_len));
		REQUIRE(d.chunks + d.chunks_len == payload + dpos);
		REQUIRE(check_chunks(&d, payload, payload + plen) == d.n_chunks);
		if (n < MAX_ENTRIES) {
			entries[n].d = d;
			entries[n].at = before;
			n++;
		}
	}
	if (n < MAX_ENTRIES)
		round_trip(type, payload, plen, n, rc == 0);
}

/* A segment name given as input: accepted ones print back the same. */
static void check_name(const uint8_t *data, size_t size)
{
	char name[40], again[40], path[80];
	uint64_t seq;

	if (size >= sizeof(name))
		return;
	memcpy(name, data, size);
	name[size] = '\0';
	if (!sl_journal_seq_of(name, &seq))
		return;
	snprintf(again, sizeof(again), "%016" PRIx64 ".sj", seq);
	REQUIRE(strcmp(name, again) == 0);
	REQUIRE(sl_journal_segment_path(path, sizeof(path), "/d", seq) > 0);
	REQUIRE(strcmp(path + strlen("/d/journal/"), name) == 0);
}

/* Walk a segment: every record, every entry, every chunk. */
static void walk_segment(const uint8_t *data, size_t size)
{
	size_t pos = 0;
	enum sl_jread jr;
	uint16_t type;
	const uint8_t *payload;
	uint32_t plen;

	for (;;) {
		size_t before = pos;

		jr = sl_journal_record(data, size, &pos, &type, &payload, &plen);
		if (jr != SL_JR_OK) {
			REQUIRE(pos == before);
			REQUIRE(jr == (before >= size ? SL_JR_END : SL_JR_TORN));
			break;
		}
		REQUIRE(pos > before && pos <= size);
		REQUIRE(payload == data + before + SL_J_HDR);
		REQUIRE(pos - before == SL_J_HDR + (size_t)plen);
		REQUIRE(plen <= SL_J_MAX_RECORD);
		walk_payload(type, payload, plen);
	}
}

/* A copy of the input whose record headers that parse get a correct CRC. */
static uint8_t *resealed(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size > 0 ? size : 1);
	size_t pos = 0;

	REQUIRE(copy != NULL);
	memcpy(copy, data, size);
	while (size - pos >= SL_J_HDR) {
		uint32_t magic, plen;
		uint16_t type, version;

		memcpy(&magic, copy + pos, 4);
		memcpy(&type, copy + pos + 4, 2);
		memcpy(&version, copy + pos + 6, 2);
		memcpy(&plen, copy + pos + 8, 4);
		if (magic != SL_J_MAGIC || version != SL_J_VERSION || plen > size - pos - SL_J_HDR)
			break;
		sl_journal_seal(copy + pos, (enum sl_jrec_type)type, plen);
		pos += SL_J_HDR + plen;
	}
	return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	walk_segment(data, size);
	uint8_t *copy = resealed(data, size);
	walk_segment(copy, size);
	free(copy);
	check_name(data, size);
	return 0;
}

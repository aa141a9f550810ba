/*
 * test_journal.c — the persistence journal and crash recovery.
 *
 * The codec first (journal.c): a record built by the writer decodes back
 * field by field; every way a record or an entry can be wrong is refused
 * (a flipped bit, a short read, a bad magic or version, an entry whose
 * names or chunks are malformed under a valid CRC). Then recovery
 * (recover.c) end to end in a temporary data directory: result files are
 * put back to exactly what the journal made durable, a newer checkpoint
 * supersedes older segments, the table of unfinished documents answers
 * find / forget, summary lines parse, and resume decisions come out
 * right for every case.
 *
 * With SLUICE_JOURNAL_SEEDS=<dir> set, the segments built here are also
 * copied into <dir>: that is how tests/fuzz/corpus/journal was made.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control/journal.h"
#include "control/journal_writer.h"
#include "control/recover.h"
#include "dataplane/doc.h"
#include "dataplane/slp.h"

#include "check.h"

static char err[1024];

/* ---- helpers: files and temporary directories ---------------------------------- */

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static void make_temp_dir(char *dir, size_t cap)
{
	snprintf(dir, cap, "/tmp/sluice-test-journal-XXXXXX");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp");
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;   /* nftw's callback signature */
	return remove(path);
}

static void remove_tree(const char *dir)
{
	if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "    warning: could not remove %s: %s\n", dir, strerror(errno));
}

static void mkdirs(const char *path)
{
	char buf[1024];
	size_t n = strlen(path);

	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++)
		if (buf[i] == '/' || buf[i] == '\0') {
			char c = buf[i];
			buf[i] = '\0';
			if (mkdir(buf, 0750) != 0 && errno != EEXIST)
				die(buf);
			buf[i] = c;
		}
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		die(path);
	close(fd);
}

/* The whole file, NUL-terminated (malloc'd), its length in *len; NULL if it cannot be read. */
static char *read_whole(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	*len = 0;
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return NULL;
	}
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return NULL;
	}
	buf[n] = '\0';
	*len = (size_t)n;
	fclose(f);
	return buf;
}

/* The file holds exactly want (and nothing more). */
static int file_is(const char *path, const char *want)
{
	size_t len;
	char *got = read_whole(path, &len);
	int same = got != NULL && len == strlen(want) && memcmp(got, want, len) == 0;

	if (got != NULL && !same)
		fprintf(stderr, "    %s holds %zu bytes: \"%.*s\"\n    expected %zu: \"%s\"\n", path, len,
			(int)(len > 300 ? 300 : len), got, strlen(want), want);
	free(got);
	return same;
}

static long long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static void save_seed(const char *name, const void *data, size_t len)
{
	const char *dir = getenv("SLUICE_JOURNAL_SEEDS");
	char path[1024];

	if (dir == NULL || *dir == '\0')
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	write_file(path, data, len);
}

static void save_seed_file(const char *name, const char *path)
{
	size_t len;
	char *data = read_whole(path, &len);

	if (data != NULL)
		save_seed(name, data, len);
	free(data);
}

/* ---- helpers: building records ---------------------------------------------------- */

struct tchunk {
	const char *suffix;
	uint64_t off;
	const char *data;          /* NULL: a checkpoint's length-only chunk */
};

struct tdoc {
	const char *tenant, *doc;
	uint64_t rev;
	uint8_t flags;
	uint64_t lines, ok, errors, offset;
	uint32_t crc;
	unsigned n;
	struct tchunk c[4];
};

/* Build and seal one record of docs in w->buf[0, w->len). */
static void build(struct sl_jwriter *w, enum sl_jrec_type type, const struct tdoc *docs, unsigned n)
{
	size_t need = 0;

	for (unsigned i = 0; i < n; i++) {
		need += sl_journal_doc_size(strlen(docs[i].tenant), strlen(docs[i].doc));
		for (unsigned k = 0; k < docs[i].n; k++)
			need += sl_journal_chunk_size(strlen(docs[i].c[k].suffix),
						      docs[i].c[k].data ? strlen(docs[i].c[k].data) : 0);
	}
	if (sl_jw_begin(w, need) != 0)
		die("sl_jw_begin");
	for (unsigned i = 0; i < n; i++) {
		const struct tdoc *t = &docs[i];
		struct sl_jdoc d = {
			.tenant = t->tenant, .tenant_len = (uint16_t)strlen(t->tenant),
			.doc = t->doc, .doc_len = (uint16_t)strlen(t->doc),
			.flags = t->flags, .n_chunks = (uint8_t)t->n, .revision = t->rev,
			.lines = t->lines, .ok = t->ok, .errors = t->errors, .offset = t->offset, .crc = t->crc,
		};
		sl_jw_add_doc(w, &d);
		for (unsigned k = 0; k < t->n; k++) {
			const struct tchunk *c = &t->c[k];
			sl_jw_add_chunk(w, c->suffix, strlen(c->suffix), c->off, c->data,
					c->data ? (uint32_t)strlen(c->data) : 0);
		}
	}
	sl_jw_seal(w, type);
	if (w->len != SL_J_HDR + need)
		fprintf(stderr, "    record is %zu bytes, sized for %zu\n", w->len, SL_J_HDR + need);
}

/* Append w->buf as the next record of the segment w has open (what persistence's round does). */
static void append(struct sl_jwriter *w)
{
	if (pwrite(w->fd, w->buf, w->len, (off_t)w->off) != (ssize_t)w->len)
		die("pwrite journal");
	w->off += w->len;
}

static void append_raw(struct sl_jwriter *w, const void *p, size_t n)
{
	if (pwrite(w->fd, p, n, (off_t)w->off) != (ssize_t)n)
		die("pwrite journal");
	w->off += n;
}

/* Re-CRC a record whose header was edited by hand, so only the edit is wrong. */
static void reseal_raw(uint8_t *rec, uint32_t payload_len)
{
	uint32_t crc = slp_crc32c(slp_crc32c(0, rec, 12), rec + SL_J_HDR, payload_len);

	memcpy(rec + 12, &crc, 4);
}

/* Write a segment by hand (bypassing sl_jw_rotate, which deletes older segments). */
static void write_segment(const char *dir, uint64_t seq, const void *data, size_t len)
{
	char path[1024];

	if (sl_journal_segment_path(path, sizeof(path), dir, seq) < 0)
		die("segment path");
	write_file(path, data, len);
}

/* A journaled document's file: <dir>/<tenant>/<doc>/<name>. */
static const char *doc_file(char *buf, size_t cap, const char *dir, const char *tenant, const char *doc,
			    const char *name)
{
	snprintf(buf, cap, "%s/%s/%s/%s", dir, tenant, doc, name);
	return buf;
}

/* ---- the codec ---------------------------------------------------------------------- */

static const char R_A1[] = "{\"line\":1,\"status\":\"ok\"}\n{\"line\":2,\"status\":\"error\"}\n";
static const char R_A2[] = "{\"line\":1,\"records\":1}\n";
static const char R_B1[] = "{\"line\":7,\"status\":\"ok\"}\n";

static void test_encode_decode(void)
{
	struct sl_jwriter w;
	struct tdoc docs[2] = {
		{ .tenant = "acme", .doc = "orders.csv", .rev = 3, .flags = SL_JD_POS, .lines = 2, .ok = 1,
		  .errors = 1, .offset = 123456789012ull, .crc = 0xdeadbeef, .n = 3,
		  .c = { { "results", 1000, R_A1 }, { "tweets", 77, R_A2 }, { "deadletter", 5, NULL } } },
		{ .tenant = "t-2", .doc = "doc_B", .rev = UINT64_MAX, .flags = SL_JD_FINISHED | SL_JD_POS,
		  .lines = 7, .ok = 7, .errors = 0, .offset = 999, .crc = 1, .n = 1,
		  .c = { { "results", UINT64_MAX - sizeof(R_B1) + 1, R_B1 } } },
	};

	sl_jw_init(&w, "/nonexistent", 1);
	CHECK(w.fd == -1);
	CHECK(w.seq == 0);
	build(&w, SL_J_ROUND, docs, 2);

	size_t pos = 0;
	uint16_t type = 0;
	const uint8_t *payload = NULL;
	uint32_t plen = 0;
	CHECK(sl_journal_record(w.buf, w.len, &pos, &type, &payload, &plen) == SL_JR_OK);
	CHECK(pos == w.len);
	CHECK(type == SL_J_ROUND);
	CHECK(payload == w.buf + SL_J_HDR);
	CHECK(plen == w.len - SL_J_HDR);
	CHECK(sl_journal_record(w.buf, w.len, &pos, &type, &payload, &plen) == SL_JR_END);

	size_t dpos = 0;
	struct sl_jdoc d;
	for (unsigned i = 0; i < 2; i++) {
		const struct tdoc *t = &docs[i];
		size_t before = dpos;

		CHECK(sl_journal_doc_next(payload, plen, &dpos, &d) == 1);
		CHECK(dpos > before && dpos <= plen);
		CHECK(d.tenant_len == strlen(t->tenant) && memcmp(d.tenant, t->tenant, d.tenant_len) == 0);
		CHECK(d.doc_len == strlen(t->doc) && memcmp(d.doc, t->doc, d.doc_len) == 0);
		CHECK(d.flags == t->flags);
		CHECK(d.n_chunks == t->n);
		CHECK(d.revision == t->rev);
		CHECK(d.lines == t->lines && d.ok == t->ok && d.errors == t->errors);
		CHECK(d.offset == t->offset && d.crc == t->crc);
		CHECK(d.chunks == payload + before + sl_journal_doc_size(d.tenant_len, d.doc_len));
		CHECK(d.chunks + d.chunks_len == payload + dpos);

		size_t cpos = 0;
		struct sl_jchunk c;
		for (unsigned k = 0; k < t->n; k++) {
			const struct tchunk *tc = &t->c[k];
			size_t want = tc->data ? strlen(tc->data) : 0;
			CHECK(sl_journal_chunk_next(&d, &cpos, &c) == 1);
			CHECK(c.suffix_len == strlen(tc->suffix) && memcmp(c.suffix, tc->suffix, c.suffix_len) == 0);
			CHECK(c.file_offset == tc->off);
			CHECK(c.len == want);
			CHECK(want == 0 || memcmp(c.data, tc->data, want) == 0);
			CHECK(c.data >= d.chunks && c.data + c.len <= d.chunks + d.chunks_len);
		}
		CHECK(sl_journal_chunk_next(&d, &cpos, &c) == 0);
		CHECK(cpos == d.chunks_len);
	}
	CHECK(sl_journal_doc_next(payload, plen, &dpos, &d) == 0);
	CHECK(dpos == plen);

	/* a second record right behind the first: the reader walks both */
	size_t n1 = w.len;
	uint8_t *two = malloc(2 * n1);
	memcpy(two, w.buf, n1);
	memcpy(two + n1, w.buf, n1);
	two[n1 + 4] = SL_J_CHECKPOINT;   /* type is under the CRC: reseal */
	reseal_raw(two + n1, plen);
	pos = 0;
	CHECK(sl_journal_record(two, 2 * n1, &pos, &type, &payload, &plen) == SL_JR_OK && type == SL_J_ROUND);
	CHECK(sl_journal_record(two, 2 * n1, &pos, &type, &payload, &plen) == SL_JR_OK &&
	      type == SL_J_CHECKPOINT && pos == 2 * n1);
	CHECK(sl_journal_record(two, 2 * n1, &pos, &type, &payload, &plen) == SL_JR_END);
	free(two);

	/* an empty record (a round with nothing in it) is valid and has no entries */
	CHECK(sl_jw_begin(&w, 0) == 0);
	sl_jw_seal(&w, SL_J_CHECKPOINT);
	CHECK(w.len == SL_J_HDR);
	pos = 0;
	CHECK(sl_journal_record(w.buf, w.len, &pos, &type, &payload, &plen) == SL_JR_OK);
	CHECK(type == SL_J_CHECKPOINT && plen == 0 && pos == SL_J_HDR);
	dpos = 0;
	CHECK(sl_journal_doc_next(payload, plen, &dpos, &d) == 0);

	sl_jw_free(&w);
	CHECK(w.buf == NULL && w.fd == -1);
	report("encode_decode");
}

/* A record with two documents and three chunks, for the damage tests. */
static void sample_record(struct sl_jwriter *w)
{
	struct tdoc docs[2] = {
		{ .tenant = "acme", .doc = "orders", .rev = 3, .flags = SL_JD_POS, .lines = 2, .ok = 2,
		  .offset = 40, .crc = 7, .n = 2, .c = { { "results", 0, R_A1 }, { "tweets", 0, R_A2 } } },
		{ .tenant = "acme", .doc = "other", .rev = 1, .flags = SL_JD_FINISHED, .lines = 1, .ok = 1,
		  .n = 1, .c = { { "results", 10, R_B1 } } },
	};

	sl_jw_init(w, "/nonexistent", 1);
	build(w, SL_J_ROUND, docs, 2);
}

static void test_bitflips_torn(void)
{
	struct sl_jwriter w;
	size_t pos;
	uint16_t type;
	const uint8_t *payload;
	uint32_t plen;
	unsigned bad = 0;

	sample_record(&w);
	for (size_t i = 0; i < w.len; i++)
		for (unsigned b = 0; b < 8; b++) {
			w.buf[i] ^= (uint8_t)(1u << b);
			pos = 0;
			if (sl_journal_record(w.buf, w.len, &pos, &type, &payload, &plen) != SL_JR_TORN || pos != 0) {
				if (bad++ < 5)
					fprintf(stderr, "    bit %u of byte %zu flipped: not refused\n", b, i);
			}
			w.buf[i] ^= (uint8_t)(1u << b);
		}
	CHECK(bad == 0);
	pos = 0;
	CHECK(sl_journal_record(w.buf, w.len, &pos, &type, &payload, &plen) == SL_JR_OK);   /* restored */
	sl_jw_free(&w);
	report("bitflip_torn");
}

static void test_truncated_torn(void)
{
	struct sl_jwriter w;
	size_t pos;
	uint16_t type;
	const uint8_t *payload;
	uint32_t plen;
	unsigned bad = 0;

	sample_record(&w);
	pos = 0;
	CHECK(sl_journal_record(w.buf, 0, &pos, &type, &payload, &plen) == SL_JR_END);
	for (size_t n = 1; n < w.len; n++) {
		/* a heap copy of exactly n bytes: ASan catches a read past the prefix */
		uint8_t *p = malloc(n);
		memcpy(p, w.buf, n);
		pos = 0;
		if (sl_journal_record(p, n, &pos, &type, &payload, &plen) != SL_JR_TORN || pos != 0)
			if (bad++ < 5)
				fprintf(stderr, "    a %zu-byte prefix of a %zu-byte record was not refused\n", n, w.len);
		free(p);
	}
	CHECK(bad == 0);

	/* a whole record then a torn one: the first reads, then TORN at the second's start */
	size_t n = w.len + SL_J_HDR + 3;
	uint8_t *p = malloc(n);
	memcpy(p, w.buf, w.len);
	memcpy(p + w.len, w.buf, n - w.len);
	pos = 0;
	CHECK(sl_journal_record(p, n, &pos, &type, &payload, &plen) == SL_JR_OK && pos == w.len);
	CHECK(sl_journal_record(p, n, &pos, &type, &payload, &plen) == SL_JR_TORN && pos == w.len);
	/* and a position at or past the end is the end */
	pos = n;
	CHECK(sl_journal_record(p, n, &pos, &type, &payload, &plen) == SL_JR_END);
	pos = n + 100;
	CHECK(sl_journal_record(p, n, &pos, &type, &payload, &plen) == SL_JR_END);
	free(p);
	sl_jw_free(&w);
	report("truncated_torn");
}

/* Header fields that are wrong under a correct CRC: refused for what they say, not by the CRC. */
static void test_header_rejections(void)
{
	struct sl_jwriter w;
	size_t pos;
	uint16_t type;
	const uint8_t *payload;
	uint32_t plen, real;

	sample_record(&w);
	real = (uint32_t)(w.len - SL_J_HDR);

	/* the resealing helper agrees with the encoder, so the cases below differ only in the field */
	uint8_t *copy = malloc(w.len);
	memcpy(copy, w.buf, w.len);
	reseal_raw(copy, real);
	CHECK(memcmp(copy, w.buf, w.len) == 0);

	memcpy(copy, "SLJ2", 4);
	reseal_raw(copy, real);
	pos = 0;
	CHECK(sl_journal_record(copy, w.len, &pos, &type, &payload, &plen) == SL_JR_TORN && pos == 0);

	memcpy(copy, w.buf, w.len);
	uint16_t v2 = 2;
	memcpy(copy + 6, &v2, 2);
	reseal_raw(copy, real);
	pos = 0;
	CHECK(sl_journal_record(copy, w.len, &pos, &type, &payload, &plen) == SL_JR_TORN);

	memcpy(copy, w.buf, w.len);
	uint16_t v0 = 0;
	memcpy(copy + 6, &v0, 2);
	reseal_raw(copy, real);
	pos = 0;
	CHECK(sl_journal_record(copy, w.len, &pos, &type, &payload, &plen) == SL_JR_TORN);

	/* payload length one past the buffer, and far past it (the CRC cannot even be computed) */
	memcpy(copy, w.buf, w.len);
	uint32_t big = real + 1;
	memcpy(copy + 8, &big, 4);
	pos = 0;
	CHECK(sl_journal_record(copy, w.len, &pos, &type, &payload, &plen) == SL_JR_TORN);
	big = SL_J_MAX_RECORD + 1;
	memcpy(copy + 8, &big, 4);
	CHECK(sl_journal_record(copy, w.len, &pos, &type, &payload, &plen) == SL_JR_TORN);
	big = UINT32_MAX;
	memcpy(copy + 8, &big, 4);
	CHECK(sl_journal_record(copy, w.len, &pos, &type, &payload, &plen) == SL_JR_TORN);

	/* a shorter payload length under a matching CRC is a valid (shorter) record: the rest is the next one */
	memcpy(copy, w.buf, w.len);
	reseal_raw(copy, 0);
	uint32_t zero = 0;
	memcpy(copy + 8, &zero, 4);
	reseal_raw(copy, 0);
	pos = 0;
	CHECK(sl_journal_record(copy, w.len, &pos, &type, &payload, &plen) == SL_JR_OK && plen == 0 &&
	      pos == SL_J_HDR);

	/* all zeros (a preallocated, never written tail) is not a record */
	memset(copy, 0, w.len);
	pos = 0;
	CHECK(sl_journal_record(copy, w.len, &pos, &type, &payload, &plen) == SL_JR_TORN);

	free(copy);
	sl_jw_free(&w);
	report("header_rejections");
}

/*
 * One record holding one hand-made entry (raw head fields, then chunks
 * written by sl_journal_put_chunk, then optionally cut), sealed with a
 * valid CRC: the record reads, and what sl_journal_doc_next says is returned.
 */
struct raw_entry {
	const char *tenant;
	size_t tenant_len;
	const char *doc;
	size_t doc_len;
	uint64_t rev;
	uint8_t n_chunks;
	unsigned n_put;                 /* chunks actually written */
	const char *suffix[3];
	size_t suffix_len[3];
	uint64_t off[3];
	const char *data[3];
	size_t cut;                     /* bytes removed from the end of the payload */
	uint32_t len_override;          /* non-zero: chunk 0's length field says this */
};

static int entry_verdict_seed(const struct raw_entry *e, struct sl_jdoc *d, const char *seed)
{
	uint8_t rec[4096];
	size_t n = SL_J_HDR;
	struct sl_jdoc in = {
		.tenant = e->tenant, .tenant_len = (uint16_t)e->tenant_len,
		.doc = e->doc, .doc_len = (uint16_t)e->doc_len, .n_chunks = e->n_chunks, .revision = e->rev,
		.lines = 1, .ok = 1,
	};

	n += sl_journal_put_doc(rec + n, &in);
	for (unsigned i = 0; i < e->n_put; i++) {
		size_t at = n;
		const char *data = e->data[i] ? e->data[i] : "";
		n += sl_journal_put_chunk(rec + n, e->suffix[i], (uint8_t)e->suffix_len[i], e->off[i], data,
					  (uint32_t)strlen(data));
		if (i == 0 && e->len_override != 0)
			memcpy(rec + at + 4, &e->len_override, 4);
	}
	n -= e->cut;
	sl_journal_seal(rec, SL_J_ROUND, (uint32_t)(n - SL_J_HDR));
	if (seed != NULL)
		save_seed(seed, rec, n);

	/* an exact-size heap copy: ASan sees any read past the payload */
	uint8_t *p = malloc(n);
	memcpy(p, rec, n);
	size_t pos = 0, dpos = 0;
	uint16_t type;
	const uint8_t *payload;
	uint32_t plen;
	int rc = -2;
	if (sl_journal_record(p, n, &pos, &type, &payload, &plen) == SL_JR_OK) {
		rc = sl_journal_doc_next(payload, plen, &dpos, d);
		if (rc != 1 && dpos != 0)
			rc = -3;           /* a refusal must not move the position */
	}
	free(p);
	return rc;
}

static int entry_verdict(const struct raw_entry *e, struct sl_jdoc *d)
{
	return entry_verdict_seed(e, d, NULL);
}

static void test_entry_rejections(void)
{
	struct sl_jdoc d;
	char long_name[80], long_suffix[40];
	const struct raw_entry good = {
		.tenant = "acme", .tenant_len = 4, .doc = "orders", .doc_len = 6, .rev = 1,
		.n_chunks = 2, .n_put = 2,
		.suffix = { "results", "deadletter" }, .suffix_len = { 7, 10 },
		.data = { "abc\n", "xyz\n" },
	};
	struct raw_entry e;

	memset(long_name, 'n', sizeof(long_name));
	memset(long_suffix, 's', sizeof(long_suffix));

	/* the builder is right: the unmodified entry decodes */
	CHECK(entry_verdict_seed(&good, &d, "record-one-entry") == 1);
	CHECK(d.n_chunks == 2 && d.revision == 1);

	/* names: "..", ".", a leading dot, empty, a slash, 65 bytes (64 is fine) */
	e = good; e.tenant = ".."; e.tenant_len = 2;
	CHECK(entry_verdict(&e, &d) == -1);
	e = good; e.tenant = "."; e.tenant_len = 1;
	CHECK(entry_verdict(&e, &d) == -1);
	e = good; e.tenant = ".hidden"; e.tenant_len = 7;
	CHECK(entry_verdict(&e, &d) == -1);
	e = good; e.tenant = ""; e.tenant_len = 0;
	CHECK(entry_verdict(&e, &d) == -1);
	e = good; e.tenant = "a/b"; e.tenant_len = 3;
	CHECK(entry_verdict(&e, &d) == -1);
	e = good; e.tenant = "a\0b"; e.tenant_len = 3;
	CHECK(entry_verdict(&e, &d) == -1);
	e = good; e.tenant = long_name; e.tenant_len = SL_NAME_MAX + 1;
	CHECK(entry_verdict(&e, &d) == -1);
	e = good; e.tenant = long_name; e.tenant_len = SL_NAME_MAX;
	CHECK(entry_verdict(&e, &d) == 1);
	e = good; e.doc = ".."; e.doc_len = 2;
	CHECK(entry_verdict(&e, &d) == -1);
	e = good; e.doc = ""; e.doc_len = 0;
	CHECK(entry_verdict(&e, &d) == -1);
	e = good; e.doc = "../etc"; e.doc_len = 6;
	CHECK(entry_verdict(&e, &d) == -1);
	e = good; e.doc = long_name; e.doc_len = SL_NAME_MAX + 1;
	CHECK(entry_verdict(&e, &d) == -1);

	/* revision 0 is never accepted */
	e = good; e.rev = 0;
	CHECK(entry_verdict(&e, &d) == -1);

	/* suffixes: a path, empty, 33 bytes (32 is fine), a dot */
	e = good; e.suffix[1] = "../x"; e.suffix_len[1] = 4;
	CHECK(entry_verdict(&e, &d) == -1);
	e = good; e.suffix[0] = ""; e.suffix_len[0] = 0;
	CHECK(entry_verdict(&e, &d) == -1);
	e = good; e.suffix[0] = long_suffix; e.suffix_len[0] = 33;
	CHECK(entry_verdict(&e, &d) == -1);
	e = good; e.suffix[0] = long_suffix; e.suffix_len[0] = 32;
	CHECK(entry_verdict(&e, &d) == 1);
	e = good; e.suffix[0] = "res.ults"; e.suffix_len[0] = 8;
	CHECK(entry_verdict(&e, &d) == -1);

	/* a chunk whose length runs past the payload, by one byte and by a lot */
	e = good; e.n_chunks = 1; e.n_put = 1; e.len_override = 5;
	CHECK(entry_verdict(&e, &d) == -1);
	e = good; e.n_chunks = 1; e.n_put = 1; e.len_override = UINT32_MAX;
	CHECK(entry_verdict(&e, &d) == -1);
	/* the last chunk cut short by the record's end */
	e = good; e.cut = 1;
	CHECK(entry_verdict(&e, &d) == -1);
	/* a chunk head cut short */
	e = good; e.cut = 4 + 10 + SL_J_CHUNK_FIXED - 3;
	CHECK(entry_verdict(&e, &d) == -1);

	/* more chunks announced than present */
	e = good; e.n_chunks = 3;
	CHECK(entry_verdict_seed(&e, &d, "record-missing-chunk") == -1);
	e = good; e.n_chunks = 255; e.n_put = 1;
	CHECK(entry_verdict(&e, &d) == -1);

	/* fewer announced than present: the extra bytes are read as the next entry, which is malformed */
	e = good; e.n_chunks = 1;
	CHECK(entry_verdict(&e, &d) == 1);

	/* a chunk whose end overflows a 64-bit file offset */
	e = good; e.off[0] = UINT64_MAX - 1;
	CHECK(entry_verdict(&e, &d) == -1);
	e = good; e.off[0] = UINT64_MAX - 4;       /* ends exactly at UINT64_MAX: fine */
	CHECK(entry_verdict(&e, &d) == 1);

	/* the fixed part of the entry cut short, and names running past the payload */
	e = good; e.n_chunks = 0; e.n_put = 0; e.cut = 1;           /* the doc name one byte short */
	CHECK(entry_verdict(&e, &d) == -1);
	e = good; e.n_chunks = 0; e.n_put = 0; e.cut = 6 + 4 + 20;  /* into the fixed part */
	CHECK(entry_verdict(&e, &d) == -1);

	/* sl_journal_chunk_next on its own: a chunk area shorter than a chunk head */
	uint8_t area[SL_J_CHUNK_FIXED] = { 0 };
	struct sl_jdoc cd = { .chunks = area, .chunks_len = SL_J_CHUNK_FIXED - 1 };
	struct sl_jchunk c;
	size_t cpos = 0;
	CHECK(sl_journal_chunk_next(&cd, &cpos, &c) == -1 && cpos == 0);
	cd.chunks_len = 0;
	CHECK(sl_journal_chunk_next(&cd, &cpos, &c) == 0);

	report("entry_rejections");
}

static void test_segment_names(void)
{
	uint64_t seq = 12345;
	char path[128];

	CHECK(sl_journal_seq_of("0000000000000001.sj", &seq) && seq == 1);
	CHECK(sl_journal_seq_of("00000000000000ff.sj", &seq) && seq == 255);
	CHECK(sl_journal_seq_of("0123456789abcdef.sj", &seq) && seq == 0x0123456789abcdefull);
	CHECK(sl_journal_seq_of("fffffffffffffffe.sj", &seq) && seq == UINT64_MAX - 1);
	seq = 5;
	CHECK(!sl_journal_seq_of("ffffffffffffffff.sj", &seq) && seq == 5);  /* the next would wrap */
	CHECK(sl_journal_seq_of("0000000000000000.sj", &seq) && seq == 0);

	seq = 77;
	CHECK(!sl_journal_seq_of("", &seq));
	CHECK(!sl_journal_seq_of(".sj", &seq));
	CHECK(!sl_journal_seq_of("000000000000001.sj", &seq));        /* 15 digits */
	CHECK(!sl_journal_seq_of("00000000000000001.sj", &seq));      /* 17 */
	CHECK(!sl_journal_seq_of("00000000000000FF.sj", &seq));       /* uppercase */
	CHECK(!sl_journal_seq_of("000000000000000g.sj", &seq));
	CHECK(!sl_journal_seq_of("0000000000000001.sk", &seq));
	CHECK(!sl_journal_seq_of("0000000000000001.SJ", &seq));
	CHECK(!sl_journal_seq_of("0000000000000001_sj", &seq));
	CHECK(!sl_journal_seq_of("0000000000000001.sj.tmp", &seq));
	CHECK(!sl_journal_seq_of("0000000000000001.s", &seq));
	CHECK(!sl_journal_seq_of(" 000000000000001.sj", &seq));
	CHECK(!sl_journal_seq_of("-000000000000001.sj", &seq));
	CHECK(seq == 77);    /* untouched by refusals */

	static const uint64_t seqs[] = { 0, 1, 15, 16, 0xabcdef, UINT64_MAX - 1 };
	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		int n = sl_journal_segment_path(path, sizeof(path), "/data/x", seqs[i]);
		CHECK(n == (int)strlen(path));
		CHECK(strncmp(path, "/data/x/journal/", 16) == 0);
		CHECK(sl_journal_seq_of(path + 16, &seq) && seq == seqs[i]);
	}
	/* exactly fits / one byte short */
	size_t need = strlen("/d/journal/0000000000000001.sj") + 1;
	CHECK(sl_journal_segment_path(path, need, "/d", 1) == (int)need - 1);
	CHECK(sl_journal_segment_path(path, need - 1, "/d", 1) == -1);
	CHECK(sl_journal_segment_path(path, 0, "/d", 1) == -1);
	report("segment_names");
}

/* ---- recovery ------------------------------------------------------------------------ */

/* Everything the end-to-end test needs to compare two recovery runs. */
struct e2e {
	char dir[64];
	char a_results[512], a_dead[512], a_tweets[512], a_old[512], b_results[512], b_tweets[512];
};

#define A_P0 "{\"line\":1,\"status\":\"ok\"}\n{\"line\":2,\"status\":\"ok\"}\n"
#define A_R1 "{\"line\":3,\"status\":\"ok\"}\n{\"line\":4,\"status\":\"error\"}\n"
#define A_R2 "{\"line\":5,\"status\":\"ok\"}\n{\"line\":6,\"status\":\"error\"}\n"
#define A_D2 "{\"line\":6,\"reason\":\"bad_field\",\"raw\":\"x\"}\n"
#define B_R1 "{\"line\":1,\"status\":\"ok\"}\n{\"summary\":true,\"lines\":1,\"ok\":1,\"errors\":0," \
	     "\"status\":\"complete\",\"code\":0}\n"

static void check_e2e_state(const struct e2e *t, struct sl_recovery *r)
{
	struct sl_resume_state st;

	CHECK(sl_recovery_next_seq(r) == 2);
	CHECK(sl_recovery_records(r) == 3);
	CHECK(sl_recovery_unfinished(r) == 1);

	/* A: the journaled bytes exactly, rewritten where they had been damaged, the tail cut */
	CHECK(file_is(t->a_results, A_P0 A_R1 A_R2));
	CHECK(file_is(t->a_dead, A_D2));             /* never written before the crash: replay made it */
	CHECK(file_size(t->a_tweets) == 0);          /* unfinished, never journaled: emptied */
	CHECK(file_is(t->a_old, "older revision\n")); /* another revision: untouched */
	/* B: finished; its journaled file cut to length, the rest left alone */
	CHECK(file_is(t->b_results, B_R1));
	CHECK(file_is(t->b_tweets, "keep\n"));

	memset(&st, 0xff, sizeof(st));
	CHECK(sl_recovery_find(r, "acme", "orders", 3, &st));
	CHECK(strcmp(st.tenant, "acme") == 0 && strcmp(st.doc, "orders") == 0 && st.revision == 3);
	CHECK(st.lines == 6 && st.ok == 4 && st.errors == 2);
	CHECK(st.offset == 60 && st.crc == 0x3333);
	CHECK(st.n_files == 2);
	unsigned seen = 0;
	for (unsigned i = 0; i < st.n_files && i < SL_DF_COUNT; i++) {
		if (strcmp(st.file[i].suffix, "results") == 0) {
			CHECK(st.file[i].len == strlen(A_P0 A_R1 A_R2));
			seen |= 1;
		} else if (strcmp(st.file[i].suffix, "deadletter") == 0) {
			CHECK(st.file[i].len == strlen(A_D2));
			seen |= 2;
		}
	}
	CHECK(seen == 3);
	CHECK(!sl_recovery_find(r, "acme", "done", 1, &st));      /* finished: not resumable */
	CHECK(!sl_recovery_find(r, "acme", "orders", 2, &st));
}

static void test_recovery_end_to_end(void)
{
	struct e2e t;
	struct sl_jwriter w;
	struct sl_recovery *r = NULL;
	char adir[300], bdir[300], seg[512];

	make_temp_dir(t.dir, sizeof(t.dir));
	doc_file(t.a_results, sizeof(t.a_results), t.dir, "acme", "orders", "3.results");
	doc_file(t.a_dead, sizeof(t.a_dead), t.dir, "acme", "orders", "3.deadletter");
	doc_file(t.a_tweets, sizeof(t.a_tweets), t.dir, "acme", "orders", "3.tweets");
	doc_file(t.a_old, sizeof(t.a_old), t.dir, "acme", "orders", "2.results");
	doc_file(t.b_results, sizeof(t.b_results), t.dir, "acme", "done", "1.results");
	doc_file(t.b_tweets, sizeof(t.b_tweets), t.dir, "acme", "done", "1.tweets");

	/* segment 1: a checkpoint with A unfinished, its results file A_P0 long */
	const uint64_t l0 = strlen(A_P0), l1 = strlen(A_P0 A_R1);
	struct tdoc ckpt = { .tenant = "acme", .doc = "orders", .rev = 3, .flags = SL_JD_POS, .lines = 2,
			     .ok = 2, .errors = 0, .offset = 20, .crc = 0x1111, .n = 1,
			     .c = { { "results", l0, NULL } } };
	sl_jw_init(&w, t.dir, 1);
	build(&w, SL_J_CHECKPOINT, &ckpt, 1);
	CHECK(sl_jw_rotate(&w, err, sizeof(err)) == 0);
	CHECK(w.seq == 1 && w.fd >= 0 && w.off == w.len);

	/* two rounds of A, and B finishing in the second */
	struct tdoc round1 = { .tenant = "acme", .doc = "orders", .rev = 3, .flags = SL_JD_POS, .lines = 4,
			       .ok = 3, .errors = 1, .offset = 40, .crc = 0x2222, .n = 1,
			       .c = { { "results", l0, A_R1 } } };
	build(&w, SL_J_ROUND, &round1, 1);
	append(&w);
	struct tdoc round2[2] = {
		{ .tenant = "acme", .doc = "orders", .rev = 3, .flags = SL_JD_POS, .lines = 6, .ok = 4,
		  .errors = 2, .offset = 60, .crc = 0x3333, .n = 2,
		  .c = { { "results", l1, A_R2 }, { "deadletter", 0, A_D2 } } },
		{ .tenant = "acme", .doc = "done", .rev = 1, .flags = SL_JD_FINISHED | SL_JD_POS, .lines = 1,
		  .ok = 1, .offset = 25, .crc = 9, .n = 1, .c = { { "results", 0, B_R1 } } },
	};
	build(&w, SL_J_ROUND, round2, 2);
	append(&w);
	/* the torn tail: the start of a third round that the crash interrupted */
	append_raw(&w, w.buf, SL_J_HDR + 10);
	sl_journal_segment_path(seg, sizeof(seg), t.dir, 1);
	save_seed_file("segment-checkpoint-rounds-torn", seg);
	sl_jw_free(&w);

	/* the result files as the crash left them */
	snprintf(adir, sizeof(adir), "%s/acme/orders", t.dir);
	snprintf(bdir, sizeof(bdir), "%s/acme/done", t.dir);
	mkdirs(adir);
	mkdirs(bdir);
	char damaged[1024];
	snprintf(damaged, sizeof(damaged), "%s%s%.*s%s", A_P0, A_R1, (int)strlen(A_R2),
		 "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ",
		 "{\"line\":7,\"status\":\"ok\"} never acknowledged\n");
	write_file(t.a_results, damaged, strlen(damaged));
	write_file(t.a_tweets, "stray\n", 6);
	write_file(t.a_old, "older revision\n", 15);
	write_file(t.b_results, B_R1 "more", strlen(B_R1) + 4);
	write_file(t.b_tweets, "keep\n", 5);

	int rc = sl_recovery_run(t.dir, &r, err, sizeof(err));
	CHECK(rc == 0);
	if (rc != 0)
		fprintf(stderr, "    %s\n", err);
	if (r != NULL)
		check_e2e_state(&t, r);
	sl_recovery_free(r);

	/* idempotent: a crash during recovery, then recovery again, ends the same */
	r = NULL;
	CHECK(sl_recovery_run(t.dir, &r, err, sizeof(err)) == 0);
	if (r != NULL)
		check_e2e_state(&t, r);
	sl_recovery_free(r);

	/* the journal itself is left as it was: recovery reads, persistence rotates */
	CHECK(file_size(seg) > 0);

	remove_tree(t.dir);
	report("recovery_end_to_end");
}

static void test_recovery_empty(void)
{
	char dir[64], jdir[128];
	struct sl_recovery *r = NULL;
	struct stat st;

	make_temp_dir(dir, sizeof(dir));
	CHECK(sl_recovery_run(dir, &r, err, sizeof(err)) == 0);
	CHECK(r != NULL);
	CHECK(sl_recovery_next_seq(r) == 1 && sl_recovery_records(r) == 0 && sl_recovery_unfinished(r) == 0);
	snprintf(jdir, sizeof(jdir), "%s/journal", dir);
	CHECK(stat(jdir, &st) == 0 && S_ISDIR(st.st_mode));      /* created */
	sl_recovery_free(r);

	/* a data dir that cannot hold a journal directory: refused with a message naming it */
	char file[128];
	snprintf(file, sizeof(file), "%s/plainfile", dir);
	write_file(file, "x", 1);
	r = (struct sl_recovery *)&r;   /* must be reset to NULL on failure */
	err[0] = '\0';
	CHECK(sl_recovery_run(file, &r, err, sizeof(err)) == -1);
	CHECK(r == NULL);
	CHECK(strstr(err, "plainfile") != NULL);

	/* the NULL table answers like an empty one */
	struct sl_resume_state rs;
	CHECK(sl_recovery_next_seq(NULL) == 1 && sl_recovery_records(NULL) == 0 &&
	      sl_recovery_unfinished(NULL) == 0);
	CHECK(!sl_recovery_find(NULL, "a", "b", 1, &rs));
	sl_recovery_forget(NULL, "a", "b");
	sl_recovery_free(NULL);

	remove_tree(dir);
	report("recovery_empty");
}

static void count_each(void *arg, const struct sl_resume_state *st)
{
	(void)st;                  /* only counted */
	(*(unsigned *)arg)++;
}

static void test_recovery_newer_checkpoint(void)
{
	char dir[64], path[512], gone[512];
	struct sl_jwriter w;
	struct sl_recovery *r = NULL;
	struct sl_resume_state st;

	make_temp_dir(dir, sizeof(dir));

	/* segment 2 (through the writer): a checkpoint, A's results file 10 bytes long */
	struct tdoc c2 = { .tenant = "acme", .doc = "orders", .rev = 3, .flags = SL_JD_POS, .lines = 5,
			   .ok = 5, .offset = 50, .crc = 0x5555, .n = 1, .c = { { "results", 10, NULL } } };
	sl_jw_init(&w, dir, 2);
	build(&w, SL_J_CHECKPOINT, &c2, 1);
	CHECK(sl_jw_rotate(&w, err, sizeof(err)) == 0);
	CHECK(w.seq == 2);
	sl_journal_segment_path(path, sizeof(path), dir, 2);
	save_seed_file("segment-checkpoint-only", path);

	/* segment 1 (by hand, as if its deletion had not happened yet): older state and rounds */
	struct tdoc c1 = { .tenant = "acme", .doc = "orders", .rev = 3, .flags = SL_JD_POS, .lines = 1,
			   .ok = 1, .offset = 10, .crc = 0x1, .n = 1, .c = { { "results", 0, NULL } } };
	struct tdoc r1[2] = {
		{ .tenant = "acme", .doc = "orders", .rev = 3, .flags = SL_JD_POS, .lines = 100, .ok = 100,
		  .offset = 1000, .crc = 0x2, .n = 1, .c = { { "results", 0, "OLD ROUND DATA\n" } } },
		{ .tenant = "acme", .doc = "gone", .rev = 1, .flags = SL_JD_POS, .lines = 1, .ok = 1,
		  .offset = 5, .crc = 0x3, .n = 1, .c = { { "results", 0, "gone\n" } } },
	};
	uint8_t seg1[4096];
	size_t n1 = 0;
	build(&w, SL_J_CHECKPOINT, &c1, 1);
	memcpy(seg1, w.buf, w.len);
	n1 = w.len;
	build(&w, SL_J_ROUND, r1, 2);
	memcpy(seg1 + n1, w.buf, w.len);
	n1 += w.len;
	write_segment(dir, 1, seg1, n1);
	save_seed("segment-two-docs", seg1, n1);
	sl_jw_free(&w);

	/* names in the journal directory that are not segments are ignored */
	snprintf(path, sizeof(path), "%s/journal/README", dir);
	write_file(path, "x", 1);
	snprintf(path, sizeof(path), "%s/journal/00000000000000ff.sj.tmp", dir);
	write_file(path, "x", 1);

	char adir[300];
	snprintf(adir, sizeof(adir), "%s/acme/orders", dir);
	mkdirs(adir);
	doc_file(path, sizeof(path), dir, "acme", "orders", "3.results");
	write_file(path, "0123456789tail", 14);
	doc_file(gone, sizeof(gone), dir, "acme", "gone", "1.results");

	CHECK(sl_recovery_run(dir, &r, err, sizeof(err)) == 0);
	CHECK(sl_recovery_records(r) == 1);           /* segment 2's checkpoint only */
	CHECK(sl_recovery_next_seq(r) == 3);
	CHECK(sl_recovery_unfinished(r) == 1);
	CHECK(sl_recovery_find(r, "acme", "orders", 3, &st));
	CHECK(st.lines == 5 && st.ok == 5 && st.offset == 50 && st.crc == 0x5555);
	CHECK(st.n_files == 1 && st.file[0].len == 10);
	CHECK(!sl_recovery_find(r, "acme", "gone", 1, &st));
	CHECK(file_is(path, "0123456789"));          /* the old round's bytes were not written */
	CHECK(file_size(gone) == -1);                 /* nor the other document's */
	sl_recovery_free(r);

	/* a newer segment whose checkpoint is torn (a rotation the crash cut): segment 2 still rules */
	write_segment(dir, 3, seg1, SL_J_HDR + 5);
	r = NULL;
	CHECK(sl_recovery_run(dir, &r, err, sizeof(err)) == 0);
	CHECK(sl_recovery_records(r) == 1);
	CHECK(sl_recovery_next_seq(r) == 4);
	CHECK(sl_recovery_find(r, "acme", "orders", 3, &st) && st.lines == 5);
	CHECK(file_size(gone) == -1);
	sl_recovery_free(r);

	/* a newer segment with a valid checkpoint but no documents: nothing is unfinished any more */
	uint8_t empty[SL_J_HDR];
	sl_journal_seal(empty, SL_J_CHECKPOINT, 0);
	write_segment(dir, 4, empty, sizeof(empty));
	r = NULL;
	CHECK(sl_recovery_run(dir, &r, err, sizeof(err)) == 0);
	CHECK(sl_recovery_records(r) == 1);
	CHECK(sl_recovery_next_seq(r) == 5);
	CHECK(sl_recovery_unfinished(r) == 0);
	unsigned each = 0;
	sl_recovery_each(r, count_each, &each);
	CHECK(each == 0);
	CHECK(file_is(path, "0123456789"));
	sl_recovery_free(r);

	remove_tree(dir);
	report("recovery_newer_checkpoint");
}

/* A data dir whose journal holds one checkpoint with these documents; the recovered table. */
static struct sl_recovery *recover_with(const char *dir, const struct tdoc *docs, unsigned n)
{
	struct sl_jwriter w;
	struct sl_recovery *r = NULL;

	sl_jw_init(&w, dir, 1);
	build(&w, SL_J_CHECKPOINT, docs, n);
	if (sl_jw_rotate(&w, err, sizeof(err)) != 0)
		fprintf(stderr, "    rotate: %s\n", err);
	sl_jw_free(&w);
	if (sl_recovery_run(dir, &r, err, sizeof(err)) != 0)
		fprintf(stderr, "    recovery: %s\n", err);
	return r;
}

static void test_find_forget(void)
{
	char dir[64];
	struct sl_resume_state st, again;
	const struct tdoc docs[4] = {
		{ .tenant = "acme", .doc = "orders", .rev = 3, .flags = SL_JD_POS, .lines = 3, .ok = 3 },
		{ .tenant = "acme", .doc = "orders", .rev = 4, .flags = SL_JD_POS, .lines = 4, .ok = 4 },
		{ .tenant = "acme", .doc = "other", .rev = 1, .flags = SL_JD_POS, .lines = 1, .ok = 1,
		  .offset = 11, .crc = 0x11 },
		{ .tenant = "beta", .doc = "orders", .rev = 3, .flags = 0, .lines = 9, .ok = 8, .errors = 1,
		  .offset = 77, .crc = 0x77 },
	};

	make_temp_dir(dir, sizeof(dir));
	struct sl_recovery *r = recover_with(dir, docs, 4);
	CHECK(r != NULL);
	CHECK(sl_recovery_unfinished(r) == 4);
	unsigned each = 0;
	sl_recovery_each(r, count_each, &each);
	CHECK(each == 4);

	/* find copies: changing the copy does not change the table */
	CHECK(sl_recovery_find(r, "acme", "other", 1, &st));
	CHECK(st.lines == 1 && st.offset == 11 && st.crc == 0x11 && st.n_files == 0);
	st.lines = 999;
	strcpy(st.doc, "changed");
	CHECK(sl_recovery_find(r, "acme", "other", 1, &again));
	CHECK(again.lines == 1 && strcmp(again.doc, "other") == 0);
	/* no POS flag: the checkpoint's offset is not a resume point */
	CHECK(sl_recovery_find(r, "beta", "orders", 3, &st) && st.lines == 9 && st.offset == 0 && st.crc == 0);
	/* the key is (tenant, doc, revision) exactly */
	CHECK(!sl_recovery_find(r, "acme", "orders", 5, &st));
	CHECK(!sl_recovery_find(r, "acme", "order", 3, &st));
	CHECK(!sl_recovery_find(r, "acm", "orders", 3, &st));
	CHECK(!sl_recovery_find(r, "ACME", "orders", 3, &st));

	/* forget drops every revision of (tenant, doc), and nothing else */
	sl_recovery_forget(r, "acme", "orders");
	CHECK(!sl_recovery_find(r, "acme", "orders", 3, &st));
	CHECK(!sl_recovery_find(r, "acme", "orders", 4, &st));
	CHECK(sl_recovery_find(r, "acme", "other", 1, &st));
	CHECK(sl_recovery_find(r, "beta", "orders", 3, &st));
	each = 0;
	sl_recovery_each(r, count_each, &each);
	CHECK(each == 2);
	sl_recovery_forget(r, "nobody", "orders");     /* unknown: no change */
	sl_recovery_forget(r, "acme", "orders");       /* twice: no change */
	each = 0;
	sl_recovery_each(r, count_each, &each);
	CHECK(each == 2);
	sl_recovery_forget(r, "beta", "orders");
	sl_recovery_forget(r, "acme", "other");
	each = 0;
	sl_recovery_each(r, count_each, &each);
	CHECK(each == 0);
	sl_recovery_free(r);

	remove_tree(dir);
	report("find_forget");
}

/* ---- summary lines -------------------------------------------------------------------- */

static void test_summary_parse(void)
{
	char line[8192];
	uint64_t lines, ok, errors;
	uint16_t code;
	int n;

	/* the two shapes format_summary() writes (without the newline read_summary strips) */
	n = snprintf(line, sizeof(line), "{\"summary\":true,\"lines\":%" PRIu64 ",\"ok\":%" PRIu64
		     ",\"errors\":%" PRIu64 ",\"status\":\"complete\",\"code\":0}", (uint64_t)12, (uint64_t)10,
		     (uint64_t)2);
	lines = ok = errors = 99;
	code = 99;
	CHECK(sl_summary_parse(line, (size_t)n, &lines, &ok, &errors, &code));
	CHECK(lines == 12 && ok == 10 && errors == 2 && code == 0);

	n = snprintf(line, sizeof(line), "{\"summary\":true,\"lines\":%" PRIu64 ",\"ok\":%" PRIu64
		     ",\"errors\":%" PRIu64 ",\"status\":\"failed\",\"code\":%" PRIu32 ",\"reason\":\"%s\"}",
		     (uint64_t)5, (uint64_t)3, (uint64_t)2, (uint32_t)SLP_E_TIMEOUT,
		     slp_code_str(SLP_E_TIMEOUT));
	CHECK(sl_summary_parse(line, (size_t)n, &lines, &ok, &errors, &code));
	CHECK(lines == 5 && ok == 3 && errors == 2 && code == SLP_E_TIMEOUT);

	n = snprintf(line, sizeof(line), "{\"summary\":true,\"lines\":%" PRIu64 ",\"ok\":%" PRIu64
		     ",\"errors\":0,\"status\":\"complete\",\"code\":0}", UINT64_MAX, UINT64_MAX);
	CHECK(sl_summary_parse(line, (size_t)n, &lines, &ok, &errors, &code));
	CHECK(lines == UINT64_MAX && ok == UINT64_MAX && errors == 0);

	/* len bounds the line: bytes after it are not looked at */
	strcpy(line, "{\"summary\":true,\"lines\":1,\"ok\":1,\"errors\":0,\"status\":\"complete\",\"code\":0}");
	n = (int)strlen(line);
	CHECK(sl_summary_parse(line, (size_t)n, &lines, &ok, &errors, &code) && lines == 1);

	/* no proper prefix is a summary (it must end in '}') */
	size_t cut_max = (size_t)n;
	unsigned bad = 0;
	for (size_t k = 0; k < cut_max; k++) {
		char *p = malloc(k + 1);
		memcpy(p, line, k);
		if (sl_summary_parse(p, k, &lines, &ok, &errors, &code))
			if (bad++ < 3)
				fprintf(stderr, "    a %zu-byte prefix parsed as a summary\n", k);
		free(p);
	}
	CHECK(bad == 0);

	/* not summaries */
	static const char *const not[] = {
		"",
		"{",
		"{\"line\":1,\"status\":\"ok\"}",
		"{\"summary\":false,\"lines\":1,\"ok\":1,\"errors\":0,\"status\":\"complete\",\"code\":0}",
		" {\"summary\":true,\"lines\":1,\"ok\":1,\"errors\":0,\"status\":\"complete\",\"code\":0}",
		"{\"summary\": true,\"lines\":1,\"ok\":1,\"errors\":0,\"status\":\"complete\",\"code\":0}",
		"{\"summary\":true,\"lines\":1,\"errors\":0,\"status\":\"complete\",\"code\":0}",
		"{\"summary\":true,\"lines\":1,\"ok\":1,\"status\":\"complete\",\"code\":0}",
		"{\"summary\":true,\"ok\":1,\"errors\":0,\"status\":\"complete\",\"code\":0}",
		"{\"summary\":true,\"lines\":1,\"ok\":1,\"errors\":0,\"status\":\"complete\"}",
		"{\"summary\":true,\"lines\":x,\"ok\":1,\"errors\":0,\"status\":\"complete\",\"code\":0}",
		"{\"summary\":true,\"lines\":1,\"ok\":1,\"errors\":0,\"status\":\"complete\",\"code\":70000}",
		"{\"summary\":true,\"lines\":1,\"ok\":1,\"errors\":0,\"status\":\"failed\",\"code\":1",
		"{\"line\":3,\"raw\":\"{\\\"summary\\\":true,\\\"lines\\\":1,\\\"ok\\\":1,\\\"errors\\\":0,\\\"code\\\":0}\"}",
	};
	for (size_t i = 0; i < sizeof(not) / sizeof(not[0]); i++) {
		if (sl_summary_parse(not[i], strlen(not[i]), &lines, &ok, &errors, &code)) {
			fprintf(stderr, "    parsed as a summary: %s\n", not[i]);
			cur_failed = 1;
		}
	}

	/* longer than the tail read_summary() reads: refused, not overflowing its copy */
	n = snprintf(line, sizeof(line), "{\"summary\":true,\"lines\":1,\"ok\":1,\"errors\":0,"
		     "\"status\":\"failed\",\"code\":3,\"reason\":\"");
	memset(line + n, 'r', 4200);
	n += 4200;
	n += snprintf(line + n, sizeof(line) - (size_t)n, "\"}");
	CHECK(!sl_summary_parse(line, (size_t)n, &lines, &ok, &errors, &code));
	report("summary_parse");
}

/* ---- resume decisions -------------------------------------------------------------------- */

static void test_resume_decide(void)
{
	char dir[64], path[512], d1[300];
	struct sl_resume_answer a;
	struct sl_doc_table *docs = calloc(1, sizeof(*docs));
	const struct tdoc unfinished = {
		.tenant = "acme", .doc = "orders", .rev = 3, .flags = SL_JD_POS, .lines = 7, .ok = 6,
		.errors = 1, .offset = 70, .crc = 0xabc, .n = 1, .c = { { "results", 5, NULL } },
	};

	if (docs == NULL)
		die("calloc");
	make_temp_dir(dir, sizeof(dir));
	snprintf(d1, sizeof(d1), "%s/acme/orders", dir);
	mkdirs(d1);
	doc_file(path, sizeof(path), dir, "acme", "orders", "3.results");
	write_file(path, "12345", 5);
	struct sl_recovery *r = recover_with(dir, &unfinished, 1);
	CHECK(r != NULL && sl_recovery_unfinished(r) == 1);
	sl_docs_init(docs);

	/* only the highest revision resumes */
	memset(&a, 0x5a, sizeof(a));
	CHECK(sl_resume_decide(r, docs, dir, 0, "acme", "orders", 2, 3, &a) == SL_RESUME_NO);
	CHECK(a.st.lines == 0 && a.code == 0);            /* the answer is cleared */
	CHECK(sl_resume_decide(r, docs, dir, 0, "acme", "orders", 4, 3, &a) == SL_RESUME_NO);
	CHECK(sl_resume_decide(r, docs, dir, 0, "acme", "orders", 0, 0, &a) == SL_RESUME_NO);
	CHECK(file_size(path) == 5);

	/* in the table: from its durable state, files untouched */
	CHECK(sl_resume_decide(r, docs, dir, 0, "acme", "orders", 3, 3, &a) == SL_RESUME_FROM);
	CHECK(a.st.lines == 7 && a.st.ok == 6 && a.st.errors == 1 && a.st.offset == 70 && a.st.crc == 0xabc);
	CHECK(a.st.revision == 3 && strcmp(a.st.tenant, "acme") == 0 && strcmp(a.st.doc, "orders") == 0);
	CHECK(a.st.n_files == 1 && a.st.file[0].len == 5);
	CHECK(file_size(path) == 5);

	/* sl_resume_apply puts it in a slot */
	struct sl_doc slot;
	memset(&slot, 0, sizeof(slot));
	sl_resume_apply(&slot, &a);
	CHECK(slot.resume_lines == 7 && slot.resume_ok == 6 && slot.resume_errors == 1);
	CHECK(slot.resume_offset == 70 && slot.resume_crc == 0xabc && slot.durable == 70);

	/* open in a slot (any revision, same tenant index): busy, even though the table has it */
	int s = sl_docs_open(docs, 0, "orders", 3, SL_ORIGIN_SLP);
	CHECK(s >= 0);
	CHECK(sl_resume_decide(r, docs, dir, 0, "acme", "orders", 3, 3, &a) == SL_RESUME_BUSY);
	CHECK(strstr(a.reason, "acme/orders") != NULL);
	CHECK(a.st.lines == 0);
	/* the same name under another tenant index is not busy */
	CHECK(sl_resume_decide(r, docs, dir, 1, "beta", "orders", 3, 3, &a) == SL_RESUME_FROM);
	CHECK(a.st.lines == 0 && a.st.revision == 3 && strcmp(a.st.tenant, "beta") == 0);
	if (s >= 0)
		sl_docs_release(docs, (uint32_t)s);
	CHECK(sl_resume_decide(r, docs, dir, 0, "acme", "orders", 3, 3, &a) == SL_RESUME_FROM);
	CHECK(a.st.lines == 7);

	/* complete: the results file ends in a summary line (either shape) */
	char dd[300], done[512], failed[512];
	snprintf(dd, sizeof(dd), "%s/acme/done", dir);
	mkdirs(dd);
	doc_file(done, sizeof(done), dir, "acme", "done", "2.results");
	const char *done_text = "{\"line\":1,\"status\":\"ok\"}\n{\"line\":2,\"status\":\"error\"}\n"
				"{\"summary\":true,\"lines\":2,\"ok\":1,\"errors\":1,\"status\":\"complete\",\"code\":0}\n";
	write_file(done, done_text, strlen(done_text));
	CHECK(sl_resume_decide(r, docs, dir, 0, "acme", "done", 2, 2, &a) == SL_RESUME_COMPLETE);
	CHECK(a.lines == 2 && a.ok == 1 && a.errors == 1 && a.code == 0);
	CHECK(file_is(done, done_text));
	doc_file(failed, sizeof(failed), dir, "acme", "done", "3.results");
	char ftext[512];
	snprintf(ftext, sizeof(ftext), "{\"line\":1,\"status\":\"ok\"}\n{\"summary\":true,\"lines\":4,\"ok\":1,"
		 "\"errors\":0,\"status\":\"failed\",\"code\":%u,\"reason\":\"%s\"}\n", (unsigned)SLP_E_TIMEOUT,
		 slp_code_str(SLP_E_TIMEOUT));
	write_file(failed, ftext, strlen(ftext));
	CHECK(sl_resume_decide(r, docs, dir, 0, "acme", "done", 3, 3, &a) == SL_RESUME_COMPLETE);
	CHECK(a.lines == 4 && a.ok == 1 && a.errors == 0 && a.code == SLP_E_TIMEOUT);
	/* a file that is only the summary line */
	const char *only = "{\"summary\":true,\"lines\":0,\"ok\":0,\"errors\":0,\"status\":\"complete\",\"code\":0}\n";
	doc_file(failed, sizeof(failed), dir, "acme", "done", "4.results");
	write_file(failed, only, strlen(only));
	CHECK(sl_resume_decide(r, docs, dir, 0, "acme", "done", 4, 4, &a) == SL_RESUME_COMPLETE);
	CHECK(a.lines == 0 && a.code == 0);
	/* a results file longer than the tail read_summary reads: the summary is still found */
	char *big = malloc(20000 + strlen(only) + 1);
	memset(big, 'x', 20000);
	big[9999] = '\n';
	big[19999] = '\n';
	strcpy(big + 20000, only);
	doc_file(failed, sizeof(failed), dir, "acme", "done", "5.results");
	write_file(failed, big, strlen(big));
	CHECK(sl_resume_decide(r, docs, dir, 0, "acme", "done", 5, 5, &a) == SL_RESUME_COMPLETE);
	free(big);

	/* neither: from zero, and every file of that revision emptied (others untouched) */
	char fd_[300], f4r[512], f4t[512], f3r[512], f14[512];
	snprintf(fd_, sizeof(fd_), "%s/acme/fresh", dir);
	mkdirs(fd_);
	doc_file(f4r, sizeof(f4r), dir, "acme", "fresh", "4.results");
	doc_file(f4t, sizeof(f4t), dir, "acme", "fresh", "4.tweets");
	doc_file(f3r, sizeof(f3r), dir, "acme", "fresh", "3.results");
	doc_file(f14, sizeof(f14), dir, "acme", "fresh", "14.results");
	write_file(f4r, "{\"line\":1,\"status\":\"ok\"}\n", 25);
	write_file(f4t, "tweet\n", 6);
	write_file(f3r, "keep\n", 5);
	write_file(f14, "keep", 4);
	memset(&a, 0x5a, sizeof(a));
	CHECK(sl_resume_decide(r, docs, dir, 0, "acme", "fresh", 4, 4, &a) == SL_RESUME_FROM);
	CHECK(a.st.lines == 0 && a.st.ok == 0 && a.st.errors == 0 && a.st.offset == 0 && a.st.crc == 0);
	CHECK(a.st.n_files == 0 && a.st.revision == 4);
	CHECK(strcmp(a.st.tenant, "acme") == 0 && strcmp(a.st.doc, "fresh") == 0);
	CHECK(file_size(f4r) == 0 && file_size(f4t) == 0);
	CHECK(file_size(f3r) == 5 && file_size(f14) == 4);

	/* a summary that is not the last line, or a last line without its newline: not complete */
	const char *notlast = "{\"summary\":true,\"lines\":1,\"ok\":1,\"errors\":0,\"status\":\"complete\",\"code\":0}\n"
			      "{\"line\":1,\"status\":\"ok\"}\n";
	write_file(f4r, notlast, strlen(notlast));
	CHECK(sl_resume_decide(r, docs, dir, 0, "acme", "fresh", 4, 4, &a) == SL_RESUME_FROM);
	CHECK(a.st.lines == 0 && file_size(f4r) == 0);
	write_file(f4r, only, strlen(only) - 1);
	CHECK(sl_resume_decide(r, docs, dir, 0, "acme", "fresh", 4, 4, &a) == SL_RESUME_FROM);
	CHECK(file_size(f4r) == 0);

	/* no directory at all, and no recovery table: from zero */
	CHECK(sl_resume_decide(NULL, docs, dir, 0, "acme", "never", 1, 1, &a) == SL_RESUME_FROM);
	CHECK(a.st.revision == 1 && a.st.lines == 0 && strcmp(a.st.doc, "never") == 0);
	CHECK(sl_resume_decide(NULL, docs, dir, 0, "acme", "done", 2, 2, &a) == SL_RESUME_COMPLETE);

	/* the files cannot be emptied (a directory where a file should be): an error with a reason */
	char ed[300], ef[512];
	snprintf(ed, sizeof(ed), "%s/acme/broken/6.results", dir);
	mkdirs(ed);
	doc_file(ef, sizeof(ef), dir, "acme", "broken", "6.results");
	CHECK(sl_resume_decide(r, docs, dir, 0, "acme", "broken", 6, 6, &a) == SL_RESUME_ERROR);
	CHECK(strstr(a.reason, "6.results") != NULL);

	sl_recovery_free(r);
	free(docs);
	remove_tree(dir);
	report("resume_decide");
}

int main(void)
{
	test_encode_decode();
	test_bitflips_torn();
	test_truncated_torn();
	test_header_rejections();
	test_entry_rejections();
	test_segment_names();
	test_recovery_end_to_end();
	test_recovery_empty();
	test_recovery_newer_checkpoint();
	test_find_forget();
	test_summary_parse();
	test_resume_decide();

	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail == 0 ? 0 : 1;
}

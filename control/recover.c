/*
 * recover.c — journal replay at start, the table of unfinished
 * documents, and resume decisions (see recover.h).
 *
 * Replay uses plain blocking I/O: it runs once, before anything else,
 * and nothing may be accepted until the files are right again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dirs.h"
#include "journal.h"
#include "recover.h"

#define PATH_CAP (SL_PATH_MAX + 2 * SL_NAME_MAX + 64)
#define SUMMARY_TAIL 4096u

struct entry {
	struct sl_resume_state st;
	bool finished;
};

struct sl_recovery {
	pthread_mutex_t lock;
	struct entry *e;
	size_t n, cap;
	uint64_t next_seq;
	uint64_t records;
	size_t unfinished;
};

/* ---- the table ------------------------------------------------------- */

static struct entry *
find(struct sl_recovery *r, const char *tenant, const char *doc, uint64_t rev)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->e[i].st.revision == rev && strcmp(r->e[i].st.tenant, tenant) == 0 &&
		    strcmp(r->e[i].st.doc, doc) == 0)
			return &r->e[i];
	return NULL;
}

static struct entry *
find_or_add(struct sl_recovery *r, const struct sl_jdoc *d)
{
	char tenant[SL_NAME_MAX + 1], doc[SL_NAME_MAX + 1];

	snprintf(tenant, sizeof(tenant), "%.*s", (int)d->tenant_len, d->tenant);
	snprintf(doc, sizeof(doc), "%.*s", (int)d->doc_len, d->doc);
	struct entry *e = find(r, tenant, doc, d->revision);
	if (e != NULL)
		return e;
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 64;
		struct entry *v = realloc(r->e, cap * sizeof(*v));
		if (v == NULL)
			return NULL;
		r->e = v;
		r->cap = cap;
	}
	e = &r->e[r->n++];
	memset(e, 0, sizeof(*e));
	memcpy(e->st.tenant, tenant, sizeof(tenant));
	memcpy(e->st.doc, doc, sizeof(doc));
	e->st.revision = d->revision;
	return e;
}

static struct sl_resume_file *
file_of(struct sl_resume_state *st, const char *suffix, size_t len)
{
	for (unsigned i = 0; i < st->n_files; i++)
		if (strlen(st->file[i].suffix) == len && memcmp(st->file[i].suffix, suffix, len) == 0)
			return &st->file[i];
	if (st->n_files == SL_DF_COUNT || len > SL_SUFFIX_MAX)
		return NULL;
	struct sl_resume_file *f = &st->file[st->n_files++];
	memcpy(f->suffix, suffix, len);
	f->suffix[len] = '\0';
	f->len = 0;
	return f;
}

/* ---- paths ------------------------------------------------------------ */

static int
doc_dir(char *out, size_t cap, const char *data_dir, const char *tenant, const char *doc)
{
	int n = snprintf(out, cap, "%s/%s/%s", data_dir, tenant, doc);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int
file_path(char *out, size_t cap, const char *data_dir, const struct sl_resume_state *st, const char *suffix)
{
	int n = snprintf(out, cap, "%s/%s/%s/%" PRIu64 ".%s", data_dir, st->tenant, st->doc, st->revision,
			 suffix);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* ---- replay ----------------------------------------------------------- */

static int
pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Write a chunk back where it belongs (the same bytes at the same place: replaying twice is harmless). */
static int
replay_chunk(const char *data_dir, struct entry *e, const struct sl_jchunk *c, char *err, size_t errlen)
{
	char dir[PATH_CAP], path[PATH_CAP], suffix[SL_SUFFIX_MAX + 1];
	struct sl_resume_file *f = file_of(&e->st, c->suffix, c->suffix_len);

	if (f == NULL) {
		snprintf(err, errlen, "journal: %s/%s: more files than a document can have", e->st.tenant,
			 e->st.doc);
		return -1;
	}
	if (c->file_offset + c->len > f->len)
		f->len = c->file_offset + c->len;
	if (c->len == 0)
		return 0;                  /* a checkpoint's length, nothing to write */
	snprintf(suffix, sizeof(suffix), "%.*s", (int)c->suffix_len, c->suffix);
	if (doc_dir(dir, sizeof(dir), data_dir, e->st.tenant, e->st.doc) < 0 ||
	    file_path(path, sizeof(path), data_dir, &e->st, suffix) < 0) {
		snprintf(err, errlen, "journal: a result path under %s is too long", data_dir);
		return -1;
	}
	if (sl_mkdir_p(dir) != 0) {
		snprintf(err, errlen, "journal replay: cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0 || pwrite_all(fd, c->data, c->len, c->file_offset) != 0) {
		snprintf(err, errlen, "journal replay: cannot write %s: %s; free space or fix the "
			 "device, then start again (nothing was lost: the journal is untouched)", path,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int
replay_record(const char *data_dir, struct sl_recovery *r, uint16_t type, const uint8_t *payload,
	      uint32_t len, char *err, size_t errlen)
{
	size_t pos = 0;
	struct sl_jdoc d;
	int rc;

	if (type != SL_J_CHECKPOINT && type != SL_J_ROUND) {
		fprintf(stderr, "sluice: journal: a record of unknown type %u (a newer sluiced?): skipped\n",
			type);
		return 0;
	}
	if (type == SL_J_CHECKPOINT) {
		/* a checkpoint is the whole state: what came before it is in the result files */
		r->n = 0;
	}
	while ((rc = sl_journal_doc_next(payload, len, &pos, &d)) == 1) {
		struct entry *e = find_or_add(r, &d);
		struct sl_jchunk c;
		size_t cpos = 0;

		if (e == NULL) {
			snprintf(err, errlen, "journal replay: out of memory");
			return -1;
		}
		while (sl_journal_chunk_next(&d, &cpos, &c) == 1)
			if (replay_chunk(data_dir, e, &c, err, errlen) != 0)
				return -1;
		e->st.lines = d.lines;
		e->st.ok = d.ok;
		e->st.errors = d.errors;
		if (d.flags & SL_JD_POS) {
			e->st.offset = d.offset;
			e->st.crc = d.crc;
		}
		e->finished = (d.flags & SL_JD_FINISHED) != 0;
	}
	if (rc < 0)
		fprintf(stderr, "sluice: journal: a record with a valid CRC holds a malformed document "
			"entry; the rest of that record is ignored\n");
	return 0;
}

static int
read_file(const char *path, uint8_t **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	*buf = NULL;
	*len = 0;
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	if (*buf == NULL) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, *buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Segment numbers in <data>/journal, sorted. */
static int
list_segments(const char *jdir, uint64_t **seqs, size_t *n)
{
	DIR *dir = opendir(jdir);
	struct dirent *de;
	size_t cap = 0;

	*seqs = NULL;
	*n = 0;
	if (dir == NULL)
		return -1;
	while ((de = readdir(dir)) != NULL) {
		uint64_t seq;
		if (!sl_journal_seq_of(de->d_name, &seq))
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			uint64_t *v = realloc(*seqs, cap * sizeof(*v));
			if (v == NULL) {
				closedir(dir);
				return -1;
			}
			*seqs = v;
		}
		(*seqs)[(*n)++] = seq;
	}
	closedir(dir);
	if (*n > 1)
		qsort(*seqs, *n, sizeof(**seqs), cmp_u64);
	return 0;
}

/* Does the segment start with a valid checkpoint? */
static bool
starts_with_checkpoint(const uint8_t *buf, size_t len)
{
	size_t pos = 0;
	uint16_t type;
	const uint8_t *p;
	uint32_t n;

	return sl_journal_record(buf, len, &pos, &type, &p, &n) == SL_JR_OK && type == SL_J_CHECKPOINT;
}

/*
 * Cut every file of a journaled revision to its journaled length (and
 * files of it the journal never mentions to 0): bytes past that were
 * written but never acknowledged, and the sender sends them again.
 */
static int
repair_files(const char *data_dir, const struct sl_resume_state *st, bool finished, char *err, size_t errlen)
{
	char dir[PATH_CAP], path[PATH_CAP + 300], prefix[32];
	DIR *d;
	struct dirent *de;

	if (doc_dir(dir, sizeof(dir), data_dir, st->tenant, st->doc) < 0)
		return 0;
	d = opendir(dir);
	if (d == NULL)
		return 0;                  /* nothing was ever written */
	int plen = snprintf(prefix, sizeof(prefix), "%" PRIu64 ".", st->revision);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, (size_t)plen) != 0)
			continue;
		const char *suffix = de->d_name + plen;
		uint64_t len = 0;
		if (strlen(suffix) == 0 || strlen(suffix) > SL_SUFFIX_MAX ||
		    strspn(suffix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
			    strlen(suffix))
			continue;          /* not a name persistence writes (e.g. someone's 3.results.bak) */
		bool known = false;
		for (unsigned i = 0; i < st->n_files; i++)
			if (strcmp(st->file[i].suffix, suffix) == 0) {
				len = st->file[i].len;
				known = true;
			}
		if (finished && !known)
			continue;          /* a complete document: leave what the journal no longer lists */
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || ftruncate(fd, (off_t)len) != 0 || fdatasync(fd) != 0) {
			snprintf(err, errlen, "journal replay: cannot repair %s: %s", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			closedir(d);
			return -1;
		}
		close(fd);
	}
	closedir(d);
	if (sl_fsync_dir(dir) != 0) {
		snprintf(err, errlen, "journal replay: fsync of %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

int
sl_recovery_run(const char *data_dir, struct sl_recovery **out, char *err, size_t errlen)
{
	char jdir[PATH_CAP], path[PATH_CAP];
	struct sl_recovery *r = calloc(1, sizeof(*r));
	uint64_t *seqs = NULL;
	size_t n = 0, first = 0;

	*out = NULL;
	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&r->lock, NULL);
	r->next_seq = 1;
	snprintf(jdir, sizeof(jdir), "%s/journal", data_dir);
	if (sl_mkdir_p(jdir) != 0 || list_segments(jdir, &seqs, &n) != 0) {
		snprintf(err, errlen, "[storage] data_dir: cannot use %s: %s", jdir, strerror(errno));
		goto fail;
	}

	/* replay from the newest segment that starts with a checkpoint */
	for (size_t i = n; i-- > 0;) {
		uint8_t *buf;
		size_t len;
		sl_journal_segment_path(path, sizeof(path), data_dir, seqs[i]);
		if (read_file(path, &buf, &len) != 0)
			continue;
		bool ok = starts_with_checkpoint(buf, len);
		free(buf);
		if (ok) {
			first = i;
			break;
		}
	}
	for (size_t i = first; i < n; i++) {
		uint8_t *buf;
		size_t len, pos = 0;
		uint16_t type;
		const uint8_t *payload;
		uint32_t plen;
		enum sl_jread jr;

		sl_journal_segment_path(path, sizeof(path), data_dir, seqs[i]);
		if (read_file(path, &buf, &len) != 0) {
			snprintf(err, errlen, "journal: cannot read %s: %s", path, strerror(errno));
			goto fail;
		}
		while ((jr = sl_journal_record(buf, len, &pos, &type, &payload, &plen)) == SL_JR_OK) {
			if (replay_record(data_dir, r, type, payload, plen, err, errlen) != 0) {
				free(buf);
				goto fail;
			}
			r->records++;
		}
		if (jr == SL_JR_TORN)
			fprintf(stderr, "sluice: journal: %s: %zu bytes at offset %zu are not a whole record "
				"(the write a crash interrupted, never acknowledged): ignored\n", path,
				len - pos, pos);
		free(buf);
	}
	if (n > 0)
		r->next_seq = seqs[n - 1] + 1;

	/* put every journaled file right, then keep only the unfinished documents */
	size_t keep = 0;
	for (size_t i = 0; i < r->n; i++) {
		if (repair_files(data_dir, &r->e[i].st, r->e[i].finished, err, errlen) != 0)
			goto fail;
		if (!r->e[i].finished)
			r->e[keep++] = r->e[i];
	}
	r->n = keep;
	r->unfinished = keep;
	free(seqs);
	*out = r;
	return 0;
fail:
	free(seqs);
	sl_recovery_free(r);
	return -1;
}

uint64_t sl_recovery_next_seq(const struct sl_recovery *r) { return r ? r->next_seq : 1; }
uint64_t sl_recovery_records(const struct sl_recovery *r) { return r ? r->records : 0; }
size_t sl_recovery_unfinished(const struct sl_recovery *r) { return r ? r->unfinished : 0; }

bool
sl_recovery_find(struct sl_recovery *r, const char *tenant, const char *doc, uint64_t revision,
		 struct sl_resume_state *out)
{
	if (r == NULL)
		return false;
	pthread_mutex_lock(&r->lock);
	struct entry *e = find(r, tenant, doc, revision);
	if (e != NULL)
		*out = e->st;
	pthread_mutex_unlock(&r->lock);
	return e != NULL;
}

void
sl_recovery_forget(struct sl_recovery *r, const char *tenant, const char *doc)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n;) {
		if (strcmp(r->e[i].st.tenant, tenant) == 0 && strcmp(r->e[i].st.doc, doc) == 0)
			r->e[i] = r->e[--r->n];
		else
			i++;
	}
	pthread_mutex_unlock(&r->lock);
}

void
sl_recovery_each(struct sl_recovery *r, void (*fn)(void *arg, const struct sl_resume_state *st), void *arg)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n; i++)
		fn(arg, &r->e[i].st);
	pthread_mutex_unlock(&r->lock);
}

void
sl_recovery_free(struct sl_recovery *r)
{
	if (r == NULL)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r->e);
	free(r);
}

/* ---- resume decisions ----------------------------------------------------- */

/* The decimal number after key in line: at least one digit, ended by ',' or '}'. */
static bool
num_after(const char *line, size_t len, const char *key, uint64_t *v)
{
	char buf[SUMMARY_TAIL + 1], *end;
	memcpy(buf, line, len);
	buf[len] = '\0';
	const char *p = strstr(buf, key);
	if (p == NULL)
		return false;
	p += strlen(key);
	if (*p < '0' || *p > '9')
		return false;
	errno = 0;
	*v = strtoull(p, &end, 10);
	return errno == 0 && (*end == ',' || *end == '}');
}

bool
sl_summary_parse(const char *line, size_t len, uint64_t *lines, uint64_t *ok, uint64_t *errors,
		 uint16_t *code)
{
	static const char head[] = "{\"summary\":true,";
	uint64_t c = 0;

	if (len > SUMMARY_TAIL || len < sizeof(head) - 1 || memcmp(line, head, sizeof(head) - 1) != 0 ||
	    line[len - 1] != '}')
		return false;
	if (!num_after(line, len, "\"lines\":", lines) || !num_after(line, len, "\"ok\":", ok) ||
	    !num_after(line, len, "\"errors\":", errors) || !num_after(line, len, "\"code\":", &c) ||
	    c > UINT16_MAX)
		return false;
	*code = (uint16_t)c;
	return true;
}

/* The last line of <rev>.results, if it is a summary. */
static bool
read_summary(const char *data_dir, const char *tenant, const char *doc, uint64_t rev,
	     struct sl_resume_answer *a)
{
	char path[PATH_CAP], tail[SUMMARY_TAIL];
	int n = snprintf(path, sizeof(path), "%s/%s/%s/%" PRIu64 ".results", data_dir, tenant, doc, rev);
	struct stat st;

	if (n < 0 || (size_t)n >= sizeof(path))
		return false;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) != 0 || st.st_size < 2) {
		close(fd);
		return false;
	}
	size_t want = st.st_size < (off_t)sizeof(tail) ? (size_t)st.st_size : sizeof(tail);
	ssize_t got = pread(fd, tail, want, st.st_size - (off_t)want);
	close(fd);
	if (got != (ssize_t)want || tail[want - 1] != '\n')
		return false;
	size_t end = want - 1, start = end;
	while (start > 0 && tail[start - 1] != '\n')
		start--;
	return sl_summary_parse(tail + start, end - start, &a->lines, &a->ok, &a->errors, &a->code);
}

/* Nothing of the revision is durable: empty whatever files it has, so it starts clean. */
static int
empty_files(const char *data_dir, const char *tenant, const char *doc, uint64_t rev, char *why, size_t cap)
{
	struct sl_resume_state st;

	memset(&st, 0, sizeof(st));
	snprintf(st.tenant, sizeof(st.tenant), "%s", tenant);
	snprintf(st.doc, sizeof(st.doc), "%s", doc);
	st.revision = rev;
	return repair_files(data_dir, &st, false, why, cap);
}

enum sl_resume
sl_resume_decide(struct sl_recovery *r, struct sl_doc_table *docs, const char *data_dir,
		 uint16_t tenant_idx, const char *tenant, const char *doc, uint64_t rev, uint64_t highest,
		 struct sl_resume_answer *a)
{
	memset(a, 0, sizeof(*a));
	if (rev != highest || rev == 0)
		return SL_RESUME_NO;
	if (sl_docs_find(docs, tenant_idx, doc) >= 0) {
		snprintf(a->reason, sizeof(a->reason), "document %s/%s is still being received by another "
			 "stream; retry when it ends or times out", tenant, doc);
		return SL_RESUME_BUSY;
	}
	if (sl_recovery_find(r, tenant, doc, rev, &a->st))
		return SL_RESUME_FROM;
	if (read_summary(data_dir, tenant, doc, rev, a))
		return SL_RESUME_COMPLETE;
	/* accepted, but nothing of it is durable: from the start */
	if (empty_files(data_dir, tenant, doc, rev, a->reason, sizeof(a->reason)) != 0)
		return SL_RESUME_ERROR;
	snprintf(a->st.tenant, sizeof(a->st.tenant), "%s", tenant);
	snprintf(a->st.doc, sizeof(a->st.doc), "%s", doc);
	a->st.revision = rev;
	return SL_RESUME_FROM;
}

void
sl_resume_apply(struct sl_doc *d, const struct sl_resume_answer *a)
{
	d->resume_lines = a->st.lines;
	d->resume_offset = a->st.offset;
	d->resume_ok = a->st.ok;
	d->resume_errors = a->st.errors;
	d->resume_crc = a->st.crc;
	__atomic_store_n(&d->durable, a->st.offset, __ATOMIC_RELEASE);
}

/*
 * revisions.c — the registry of the highest accepted revision per
 * (tenant, document), kept in <data_dir>/revisions.log.
 *
 * The log is append-only text, one record per line:
 *
 *   <tenant> <doc> <rev> <crc>\n
 *
 * where <crc> is the CRC32C, as 8 lowercase hex digits, of the bytes
 * "<tenant> <doc> <rev>" (everything before the last space). Names are
 * [A-Za-z0-9._-] only, so a space separates fields safely.
 *
 * A record is appended and fdatasync'ed before sl_revisions_accept()
 * returns, so an accepted revision survives a crash. A crash in the
 * middle of an append can only damage the last line: on open that line
 * is ignored (reported once on stderr) and cut off, so that the next
 * append starts on a clean line. Damage anywhere else is not a crash
 * artefact; we refuse to guess and report the file and line.
 *
 * Superseded records pile up as documents get new revisions; when they
 * outnumber the live ones by far, open() rewrites the log with one
 * record per document (write tmp, fdatasync, rename, fsync directory).
 *
 * Thread safety: one mutex around everything. This is called a few
 * times per document, never per line.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <search.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "dataplane/slp.h"
#include "../config/config.h"
#include "dirs.h"
#include "revisions.h"

#define REV_LOG_NAME "revisions.log"
#define REV_LOG_TMP "revisions.log.tmp"

/* Compact when superseded records exceed both of these. */
#define REV_COMPACT_MIN 1000u
#define REV_COMPACT_RATIO 2u

/* "<tenant> <doc> <rev> <crc>\n" at most */
#define REV_LINE_MAX (SL_NAME_MAX * 2 + 20 + 8 + 4 + 1)

/*
 * In memory: a POSIX binary tree (tsearch/tfind from libc, so no extra
 * dependency) of entries keyed by "tenant\0doc". The NUL separator makes
 * ("ab","c") and ("a","bc") different keys.
 */
struct rev_entry {
	uint64_t rev;
	size_t klen;                         /* bytes of key, including both NULs */
	char key[SL_NAME_MAX * 2 + 2];
};

struct sl_revisions {
	pthread_mutex_t lock;
	void *tree;                          /* of struct rev_entry * */
	size_t n_docs;
	size_t n_records;                    /* records in the file, superseded ones included */
	size_t torn;                         /* damaged last lines dropped at open */
	int fd;                              /* the log, O_APPEND */
	char dir[SL_PATH_MAX];
	char path[SL_PATH_MAX + sizeof(REV_LOG_TMP) + 1];
};

static int
entry_cmp(const void *a, const void *b)
{
	const struct rev_entry *x = a, *y = b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int c = memcmp(x->key, y->key, n);

	if (c != 0)
		return c;
	return (x->klen > y->klen) - (x->klen < y->klen);
}

/* Build the tree key for (tenant, doc); false if a name is not valid. */
static bool
make_key(struct rev_entry *e, const char *tenant, size_t tlen, const char *doc, size_t dlen)
{
	if (!sl_name_valid(tenant, tlen) || !sl_name_valid(doc, dlen))
		return false;
	memcpy(e->key, tenant, tlen);
	e->key[tlen] = '\0';
	memcpy(e->key + tlen + 1, doc, dlen);
	e->key[tlen + 1 + dlen] = '\0';
	e->klen = tlen + dlen + 2;
	return true;
}

static struct rev_entry *
lookup(struct sl_revisions *r, const struct rev_entry *probe)
{
	void *node = tfind(probe, &r->tree, entry_cmp);

	return node ? *(struct rev_entry **)node : NULL;
}

/* Raise the entry for probe's key to rev (inserting it). 0, or -1 on ENOMEM. */
static int
remember(struct sl_revisions *r, const struct rev_entry *probe, uint64_t rev)
{
	struct rev_entry *e = lookup(r, probe);

	if (e) {
		if (rev > e->rev)
			e->rev = rev;
		return 0;
	}
	e = malloc(sizeof(*e));
	if (!e)
		return -1;
	*e = *probe;
	e->rev = rev;
	if (!tsearch(e, &r->tree, entry_cmp)) {
		free(e);
		return -1;
	}
	r->n_docs++;
	return 0;
}

/* Format one record; returns its length including the newline. */
static int
format_record(char *out, size_t cap, const char *tenant, const char *doc, uint64_t rev)
{
	int n = snprintf(out, cap, "%s %s %" PRIu64, tenant, doc, rev);

	if (n < 0 || (size_t)n >= cap)
		return -1;
	uint32_t crc = slp_crc32c(0, out, (size_t)n);
	int m = snprintf(out + n, cap - (size_t)n, " %08x\n", crc);
	if (m < 0 || (size_t)(n + m) >= cap)
		return -1;
	return n + m;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Parse one line (without its '\n'). Fills probe and *rev. On failure
 * returns a short description of what is wrong.
 */
static const char *
parse_record(const char *line, size_t len, struct rev_entry *probe, uint64_t *rev)
{
	const char *f[4];
	size_t flen[4];
	size_t nf = 0, start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && line[i] != ' ')
			continue;
		if (nf == 4)
			return "more than 4 fields";
		f[nf] = line + start;
		flen[nf] = i - start;
		nf++;
		start = i + 1;
	}
	if (nf != 4)
		return "fewer than 4 fields (expected \"<tenant> <doc> <rev> <crc32c>\")";
	if (flen[3] != 8)
		return "checksum field is not 8 hex digits";

	uint32_t want = 0;
	for (size_t i = 0; i < 8; i++) {
		char c = f[3][i];
		unsigned v;
		if (c >= '0' && c <= '9')
			v = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = (unsigned)(c - 'a' + 10);
		else
			return "checksum field is not 8 hex digits";
		want = want << 4 | v;
	}
	/* the checksummed text is everything before the last space */
	if (slp_crc32c(0, line, (size_t)(f[3] - line) - 1) != want)
		return "checksum mismatch";

	if (flen[2] == 0 || flen[2] > 20)
		return "revision is not a decimal number";
	uint64_t v = 0;
	for (size_t i = 0; i < flen[2]; i++) {
		char c = f[2][i];
		if (c < '0' || c > '9')
			return "revision is not a decimal number";
		uint64_t d = (uint64_t)(c - '0');
		if (v > (UINT64_MAX - d) / 10)
			return "revision does not fit in 64 bits";
		v = v * 10 + d;
	}
	if (!make_key(probe, f[0], flen[0], f[1], flen[1]))
		return "tenant or document name is empty, too long or has bytes outside [A-Za-z0-9._-]";
	*rev = v;
	return NULL;
}

/* Read the whole log into a malloc'ed buffer. */
static char *
read_file(int fd, size_t *len_out)
{
	size_t cap = 64 * 1024, len = 0;
	char *buf = malloc(cap);

	if (!buf)
		return NULL;
	for (;;) {
		if (len == cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				errno = ENOMEM;
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int saved = errno;
			free(buf);
			errno = saved;
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*len_out = len;
	return buf;
}

/*
 * Load every record. A damaged last line (no newline, or a bad record)
 * is what a crash mid-append leaves: drop it and truncate the file to the
 * end of the last good record. A damaged line followed by good ones is
 * an error naming file:line.
 */
static int
load_log(struct sl_revisions *r, char *err, size_t errlen)
{
	size_t len = 0;
	char *buf = read_file(r->fd, &len);

	if (!buf) {
		snprintf(err, errlen, "%s: cannot read: %s", r->path, strerror(errno));
		return -1;
	}

	size_t pos = 0, lineno = 0, good_end = 0;
	int rc = 0;
	while (pos < len) {
		char *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - buf) : len;
		struct rev_entry probe;
		uint64_t rev = 0;
		const char *why;

		lineno++;
		why = nl ? parse_record(buf + pos, end - pos, &probe, &rev)
			 : "no newline at the end (interrupted write)";
		if (why) {
			if (end + 1 < len) {
				snprintf(err, errlen,
					 "%s:%zu: corrupt record (%s); only the last line may be damaged by a "
					 "crash, so this file was damaged otherwise: restore it from a backup "
					 "or fix/remove that line by hand",
					 r->path, lineno, why);
				rc = -1;
				break;
			}
			fprintf(stderr, "sluice: %s:%zu: ignoring damaged last record (%s), "
				"most likely left by a crash during an append\n", r->path, lineno, why);
			r->torn++;
			break;
		}
		if (remember(r, &probe, rev) != 0) {
			snprintf(err, errlen, "%s: out of memory loading revisions", r->path);
			rc = -1;
			break;
		}
		r->n_records++;
		pos = end + 1;
		good_end = pos;
	}
	free(buf);
	if (rc != 0)
		return -1;

	/* Cut the torn tail so the next append starts on a line of its own. */
	if (good_end < len) {
		if (ftruncate(r->fd, (off_t)good_end) != 0 || fdatasync(r->fd) != 0) {
			snprintf(err, errlen, "%s: cannot cut the damaged last record: %s", r->path,
				 strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* twalk_r visitor state for compaction */
struct compact_ctx {
	int fd;
	int failed;
};

static void
compact_visit(const void *node, VISIT which, void *arg)
{
	struct compact_ctx *c = arg;
	const struct rev_entry *e = *(struct rev_entry *const *)node;
	char line[REV_LINE_MAX];

	if ((which != postorder && which != leaf) || c->failed)
		return;
	/* the key is "tenant\0doc\0": two C strings back to back */
	int n = format_record(line, sizeof(line), e->key, e->key + strlen(e->key) + 1, e->rev);
	if (n < 0 || write_all(c->fd, line, (size_t)n) != 0)
		c->failed = errno ? errno : EIO;
}

/* Rewrite the log with one record per document, then reopen it. */
static int
compact_log(struct sl_revisions *r, char *err, size_t errlen)
{
	char tmp[sizeof(r->path)];
	struct compact_ctx c = { .fd = -1, .failed = 0 };

	snprintf(tmp, sizeof(tmp), "%s/%s", r->dir, REV_LOG_TMP);
	c.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (c.fd < 0) {
		snprintf(err, errlen, "%s: cannot create for compaction: %s", tmp, strerror(errno));
		return -1;
	}
	errno = 0;
	twalk_r(r->tree, compact_visit, &c);
	if (c.failed == 0 && fdatasync(c.fd) != 0)
		c.failed = errno;
	close(c.fd);
	if (c.failed == 0 && rename(tmp, r->path) != 0)
		c.failed = errno;
	if (c.failed == 0 && sl_fsync_dir(r->dir) != 0)
		c.failed = errno;
	if (c.failed != 0) {
		snprintf(err, errlen, "%s: compaction failed: %s", r->path, strerror(c.failed));
		unlink(tmp);
		return -1;
	}

	/* the old descriptor still points at the replaced file */
	close(r->fd);
	r->fd = open(r->path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (r->fd < 0) {
		snprintf(err, errlen, "%s: cannot reopen after compaction: %s", r->path,
			 strerror(errno));
		return -1;
	}
	r->n_records = r->n_docs;
	return 0;
}

static bool
needs_compaction(const struct sl_revisions *r)
{
	size_t superseded = r->n_records - r->n_docs;

	return superseded > REV_COMPACT_MIN && superseded > REV_COMPACT_RATIO * r->n_docs;
}

struct sl_revisions *
sl_revisions_open(const char *data_dir, char *err, size_t errlen)
{
	struct sl_revisions *r;

	if (strlen(data_dir) >= sizeof(r->dir)) {
		snprintf(err, errlen, "data_dir '%s' is too long (at most %d bytes)", data_dir,
			 SL_PATH_MAX - 1);
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory opening the revision registry");
		return NULL;
	}
	pthread_mutex_init(&r->lock, NULL);
	r->fd = -1;
	snprintf(r->dir, sizeof(r->dir), "%s", data_dir);
	snprintf(r->path, sizeof(r->path), "%s/%s", data_dir, REV_LOG_NAME);

	if (sl_mkdir_p(data_dir) != 0) {
		snprintf(err, errlen, "data_dir '%s': cannot create it: %s; create it or set "
			 "[storage] data_dir to a writable directory", data_dir, strerror(errno));
		goto fail;
	}
	r->fd = open(r->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (r->fd < 0) {
		snprintf(err, errlen, "%s: cannot open: %s; check that data_dir is writable by "
			 "sluiced", r->path, strerror(errno));
		goto fail;
	}
	/* make the (possibly new) file's directory entry durable */
	if (sl_fsync_dir(data_dir) != 0) {
		snprintf(err, errlen, "data_dir '%s': fsync failed: %s", data_dir, strerror(errno));
		goto fail;
	}
	if (load_log(r, err, errlen) != 0)
		goto fail;
	if (needs_compaction(r) && compact_log(r, err, errlen) != 0)
		goto fail;
	return r;

fail:
	sl_revisions_close(r);
	return NULL;
}

int
sl_revisions_accept(struct sl_revisions *r, const char *tenant, const char *doc, uint64_t rev,
		    uint64_t *highest, char *err, size_t errlen)
{
	struct rev_entry probe;
	char line[REV_LINE_MAX];
	int rc = 0;

	if (!make_key(&probe, tenant, strlen(tenant), doc, strlen(doc))) {
		snprintf(err, errlen, "cannot record revision of '%s/%s': name is empty, longer "
			 "than %d bytes or has bytes outside [A-Za-z0-9._-]", tenant, doc, SL_NAME_MAX);
		return -1;
	}

	pthread_mutex_lock(&r->lock);
	struct rev_entry *e = lookup(r, &probe);
	uint64_t cur = e ? e->rev : 0;

	/* Revisions start at 1: 0 means "none", so it is never newer. */
	if (rev <= cur) {
		if (highest)
			*highest = cur;
		rc = 1;
		goto out;
	}

	int n = format_record(line, sizeof(line), tenant, doc, rev);
	off_t before = lseek(r->fd, 0, SEEK_END);
	if (n < 0 || write_all(r->fd, line, (size_t)n) != 0 || fdatasync(r->fd) != 0) {
		snprintf(err, errlen, "%s: cannot record revision %" PRIu64 " of %s/%s: %s",
			 r->path, rev, tenant, doc, strerror(errno));
		/*
		 * Take back a partial record, or the next append would land
		 * after garbage and corrupt the middle of the log.
		 */
		if (before >= 0 && ftruncate(r->fd, before) != 0)
			fprintf(stderr, "sluice: %s: cannot cut a failed append: %s\n", r->path,
				strerror(errno));
		rc = -1;
		goto out;
	}
	if (remember(r, &probe, rev) != 0) {
		/* durable on disk, lost in memory: the next open will know it */
		snprintf(err, errlen, "out of memory recording revision of %s/%s", tenant, doc);
		rc = -1;
		goto out;
	}
	r->n_records++;
	if (highest)
		*highest = rev;
out:
	pthread_mutex_unlock(&r->lock);
	return rc;
}

uint64_t
sl_revisions_highest(struct sl_revisions *r, const char *tenant, const char *doc)
{
	struct rev_entry probe;
	uint64_t rev = 0;

	if (!make_key(&probe, tenant, strlen(tenant), doc, strlen(doc)))
		return 0;
	pthread_mutex_lock(&r->lock);
	struct rev_entry *e = lookup(r, &probe);
	if (e)
		rev = e->rev;
	pthread_mutex_unlock(&r->lock);
	return rev;
}

size_t
sl_revisions_count(struct sl_revisions *r)
{
	pthread_mutex_lock(&r->lock);
	size_t n = r->n_docs;
	pthread_mutex_unlock(&r->lock);
	return n;
}

void
sl_revisions_close(struct sl_revisions *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	tdestroy(r->tree, free);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/*
 * journal_writer.c — building journal records and rotating segments
 * (see journal_writer.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dirs.h"
#include "journal_writer.h"

#define JPATH_MAX (SL_PATH_MAX + 40)

void
sl_jw_init(struct sl_jwriter *w, const char *data_dir, uint64_t next_seq)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->data_dir, sizeof(w->data_dir), "%s", data_dir);
	w->fd = -1;
	w->seq = next_seq > 0 ? next_seq - 1 : 0;   /* the next rotation creates next_seq */
}

void
sl_jw_free(struct sl_jwriter *w)
{
	if (w->fd >= 0)
		close(w->fd);
	free(w->buf);
	memset(w, 0, sizeof(*w));
	w->fd = -1;
}

int
sl_jw_begin(struct sl_jwriter *w, size_t payload_max)
{
	size_t need = SL_J_HDR + payload_max;

	if (need > w->cap) {
		size_t cap = w->cap ? w->cap : 1u << 20;
		while (cap < need)
			cap *= 2;
		uint8_t *b = realloc(w->buf, cap);
		if (b == NULL)
			return -1;
		w->buf = b;
		w->cap = cap;
	}
	w->len = SL_J_HDR;
	return 0;
}

void
sl_jw_add_doc(struct sl_jwriter *w, const struct sl_jdoc *d)
{
	w->len += sl_journal_put_doc(w->buf + w->len, d);
}

void
sl_jw_add_chunk(struct sl_jwriter *w, const char *suffix, size_t suffix_len, uint64_t file_offset,
		const void *data, uint32_t len)
{
	w->len += sl_journal_put_chunk(w->buf + w->len, suffix, (uint8_t)suffix_len, file_offset, data, len);
}

void
sl_jw_seal(struct sl_jwriter *w, enum sl_jrec_type type)
{
	sl_journal_seal(w->buf, type, (uint32_t)(w->len - SL_J_HDR));
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Unlink the segments older than keep; returns how many went. */
static int
delete_older(const struct sl_jwriter *w, uint64_t keep)
{
	char jdir[JPATH_MAX], path[JPATH_MAX + 256 + 2];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(jdir, sizeof(jdir), "%s/journal", w->data_dir);
	d = opendir(jdir);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		uint64_t seq;
		if (!sl_journal_seq_of(de->d_name, &seq) || seq >= keep)
			continue;
		snprintf(path, sizeof(path), "%s/%s", jdir, de->d_name);
		if (unlink(path) == 0)
			n++;
		else
			fprintf(stderr, "sluice: journal: cannot delete %s: %s (it will be retried at the "
				"next checkpoint)\n", path, strerror(errno));
	}
	closedir(d);
	if (n > 0)
		sl_fsync_dir(jdir);
	return n;
}

int
sl_jw_rotate(struct sl_jwriter *w, char *err, size_t errlen)
{
	char jdir[JPATH_MAX], path[JPATH_MAX + 32];
	uint64_t seq = w->seq + 1;

	snprintf(jdir, sizeof(jdir), "%s/journal", w->data_dir);
	if (sl_journal_segment_path(path, sizeof(path), w->data_dir, seq) < 0) {
		snprintf(err, errlen, "journal path under %s too long", w->data_dir);
		return -1;
	}
	if (sl_mkdir_p(jdir) != 0) {
		snprintf(err, errlen, "cannot create %s: %s", jdir, strerror(errno));
		return -1;
	}
	/* O_TRUNC: a segment with this number can only be one a failed rotation left behind */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0 || write_all(fd, w->buf, w->len) != 0 || fdatasync(fd) != 0 || sl_fsync_dir(jdir) != 0) {
		snprintf(err, errlen, "cannot start journal segment %s: %s", path, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		return -1;
	}
	if (w->fd >= 0)
		close(w->fd);
	w->fd = fd;
	w->seq = seq;
	w->off = w->len;
	return delete_older(w, seq);
}

/*
 * persist_files.c — naming, lazy opening and closing of the files of one
 * document revision (see persist_files.h). Writing is persist.c's job:
 * it goes through io_uring at the offsets kept here.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dirs.h"
#include "persist_files.h"

#define STREAM_NAME_MAX 32u

void
sl_doc_files_init(struct sl_doc_files *f)
{
	for (unsigned k = 0; k < SL_DF_COUNT; k++) {
		f->fd[k] = -1;
		f->off[k] = 0;
	}
	f->dirs_synced = false;
}

void
sl_doc_files_close(struct sl_doc_files *f)
{
	for (unsigned k = 0; k < SL_DF_COUNT; k++)
		if (f->fd[k] >= 0)
			close(f->fd[k]);
	sl_doc_files_init(f);
}

/* A stream name becomes part of a path: keep it to a plain, short word. */
static bool
stream_name_ok(const char *s)
{
	size_t n = 0;

	if (strcmp(s, "results") == 0 || strcmp(s, "deadletter") == 0)
		return false;
	for (; s[n] != '\0'; n++) {
		char c = s[n];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '_' || c == '-';
		if (!ok || n >= STREAM_NAME_MAX)
			return false;
	}
	return n > 0;
}

const char *
sl_doc_file_suffix(const struct sl_processor *proc, unsigned k)
{
	if (k == SL_DF_RESULTS)
		return "results";
	if (k == SL_DF_DEADLETTER)
		return "deadletter";
	if (k >= SL_DF_COUNT || proc == NULL)
		return NULL;
	/* streams[] is NULL-terminated: every earlier entry must be set too */
	for (unsigned i = 0; i <= k - SL_DF_STREAM0; i++)
		if (proc->streams[i] == NULL)
			return NULL;
	const char *name = proc->streams[k - SL_DF_STREAM0];
	return stream_name_ok(name) ? name : NULL;
}

int
sl_doc_file_path(char *out, size_t cap, const char *dir, uint64_t rev, const char *suffix)
{
	int n = snprintf(out, cap, "%s/%" PRIu64 ".%s", dir, rev, suffix);

	return n < 0 || (size_t)n >= cap ? -1 : n;
}

/*
 * fdatasync on a file does not make its directory entry durable. The
 * document directory is synced at every open (a handful per document:
 * the file may just have been created); the tenant and data directories
 * once per document, since mkdir -p may just have created the chain.
 */
static int
sync_dirs(struct sl_doc_files *f, const char *dir)
{
	char path[SL_PATH_MAX + 2 * SL_NAME_MAX + 8];
	int levels = f->dirs_synced ? 1 : 3;

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (int level = 0; level < levels; level++) {
		if (sl_fsync_dir(path) != 0) {
			fprintf(stderr, "sluice: persist: %s: fsync of directory failed: %s\n", path,
				strerror(errno));
			return -1;
		}
		char *cut = strrchr(path, '/');
		if (!cut || cut == path)
			break;
		*cut = '\0';
	}
	f->dirs_synced = true;
	return 0;
}

int
sl_doc_files_open(struct sl_doc_files *f, unsigned k, const char *dir, uint64_t rev,
		  const char *suffix)
{
	char path[SL_PATH_MAX + 2 * SL_NAME_MAX + 64];
	struct stat st;

	if (k >= SL_DF_COUNT || suffix == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (f->fd[k] >= 0)
		return 0;
	if (sl_doc_file_path(path, sizeof(path), dir, rev, suffix) < 0) {
		fprintf(stderr, "sluice: persist: result path %s/%" PRIu64 ".%s is longer than %zu "
			"bytes; use a shorter [storage] data_dir\n", dir, rev, suffix, sizeof(path) - 1);
		errno = ENAMETOOLONG;
		return -1;
	}
	if (sl_mkdir_p(dir) != 0) {
		fprintf(stderr, "sluice: persist: %s: cannot create directory: %s\n", dir,
			strerror(errno));
		return -1;
	}
	/* never O_TRUNC: what is already there stays, we append after it */
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0 || fstat(fd, &st) != 0) {
		int e = errno;
		fprintf(stderr, "sluice: persist: %s: cannot open: %s\n", path, strerror(e));
		if (fd >= 0)
			close(fd);
		errno = e;
		return -1;
	}
	if (sync_dirs(f, dir) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	f->fd[k] = fd;
	f->off[k] = (uint64_t)st.st_size;
	return 0;
}

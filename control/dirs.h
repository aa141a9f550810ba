/*
 * dirs.h — directory helpers for the storage code: create a path, and
 * make a create or rename in a directory durable.
 */
#ifndef SLUICE_DIRS_H
#define SLUICE_DIRS_H

/* mkdir -p, mode 0750 for what it creates. 0, or -1 with errno set (ENOTDIR if a part is a file). */
int sl_mkdir_p(const char *path);

/* fsync a directory so that a create or rename in it survives a crash. 0, or -1 with errno set. */
int sl_fsync_dir(const char *dir);

#endif

/* Files that must appear whole (DESIGN.md: written to a temporary name,
 * fsync'd and renamed), shared by the memory tiers and the knowledge base. */
#ifndef HRT_FILE_H
#define HRT_FILE_H

#include <stddef.h>

/* fsyncs directory dir, so that renames and unlinks in it are durable.
 * 0 or -1 (errno set). */
int file_fsync_dir(const char *dir);
/* Makes the finished temporary file tmp durable and puts it in place of
 * path: fsync tmp, rename, fsync the directory. On failure tmp is removed
 * and HRT_E_IO names path. */
int file_commit(const char *tmp, const char *path);
/* Writes len bytes to "<path>.tmp" and commits them as path. */
int file_write_atomic(const char *path, const void *data, size_t len);
/* Reads the whole file path into *out (malloc'd, NUL-terminated; *len its
 * length). max > 0: a file longer than max bytes is HRT_E_RANGE. Errors
 * name path: HRT_E_IO (cannot open, read error), HRT_E_NOMEM. */
int file_read_all(const char *path, size_t max, char **out, size_t *len);

#endif

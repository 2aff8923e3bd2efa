/* fileio.h — reading bounded files and replacing files atomically.
 *
 * Every file hogo reads from outside (policy, configuration, state) is read with a size
 * bound, and every file it writes for another process (policy drop, posture, acked seq)
 * is written to a temporary name, fsynced and renamed, so a reader sees the old or the new
 * content, never a torn one.
 */
#ifndef HOGO_FILEIO_H
#define HOGO_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

/* Writes all of data to fd, going on after short writes and EINTR. */
int write_all(int fd, const void *data, size_t len);

/* Reads all of path into a NUL-terminated buffer. -EFBIG when larger than max_size. */
int read_file_bounded(const char *path, size_t max_size, char **ret_data, size_t *ret_len);

/* Writes data to path atomically (tmp file, fsync, rename, fsync of the directory). */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Creates path, which must not exist yet (-EEXIST), and writes data to it (fsynced, mode
 * applied exactly); a partial file is removed. For files never to be silently replaced,
 * such as keys. */
int write_file_exclusive(const char *path, const void *data, size_t len, mode_t mode);

/* Creates a directory and its parents (like mkdir -p) with mode for the ones it creates. */
int mkdir_parents(const char *path, mode_t mode);

/* fsync()s the directory that holds path (or path itself when it is a directory). */
int fsync_directory_of(const char *path);

#endif

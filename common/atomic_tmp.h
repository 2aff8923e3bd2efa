/* atomic_tmp.h — leftovers of write_file_atomic().
 *
 * write_file_atomic(PATH) writes PATH.tmp.<pid> and renames it over PATH. A writer killed
 * between the two leaves its temporary file behind for good. Such a file is stale when
 * the process that wrote it is gone, or when it is older than any write could take
 * (its pid may have been reused); a live writer's file is never touched.
 */
#ifndef HOGO_ATOMIC_TMP_H
#define HOGO_ATOMIC_TMP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A temporary file this old is stale whoever holds its pid now. */
#define ATOMIC_TMP_STALE_USEC (10ull * 60 * 1000000)

/* When name is "<base>.tmp.<pid>" (base: the target's file name), its writer's pid. */
bool atomic_tmp_writer(const char *name, const char *base, pid_t *ret_pid);

/* Whether a temporary file must go: its writer is not running (writer_alive false), or it
 * was last written age_usec ago, beyond ATOMIC_TMP_STALE_USEC. */
bool atomic_tmp_is_stale(bool writer_alive, uint64_t age_usec);

/* Removes the stale temporary files of write_file_atomic(path) from path's directory;
 * returns how many, or -errno when the directory cannot be read. */
int atomic_tmp_remove_stale(const char *path);

#endif

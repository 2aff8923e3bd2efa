/* classify_file.h — classifying a file: read a bounded prefix, then classify.h.
 *
 * The one place where hogoctl and the agent's files source read content to classify: at
 * most cfg->max_prefix bytes, and the result says "prefix_only" when the file is larger.
 * Reading happens with pread() from offset 0, so a caller's file position is untouched
 * (the agent classifies through the fd fanotify gave it).
 */
#ifndef HOGO_CLASSIFY_FILE_H
#define HOGO_CLASSIFY_FILE_H

#include "common/classify.h"

/* -EISDIR for directories, -errno on read errors. */
int classify_fd(const struct classify_config *cfg, int fd, struct classify_result *ret);
int classify_path(const struct classify_config *cfg, const char *path, struct classify_result *ret);

#endif

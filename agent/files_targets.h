/* files_targets.h — where the files source puts its fanotify marks, and why.
 *
 * Marking narrowly is what keeps the agent cheap (docs/ARCHITECTURE.md, "Marked files"):
 *   data mounts        the mounts holding the literal part of each marked_files.paths glob,
 *                      and users' home directories that are mount points of their own:
 *                      FAN_OPEN (FAN_OPEN_PERM while a user is in a block cool-down)
 *   data directories   a home directory that is not its own mount (e.g. /home on the root
 *                      file system) and its subdirectories that are not hidden, down to
 *                      FILES_HOME_DEPTH levels and FILES_HOME_DIRS_MAX directories in all,
 *                      not crossing into other mounts: FAN_OPEN of files directly inside
 *                      each, so the root mount's other opens never reach the agent
 *   destination mounts removable-media mounts, network-share mounts, and policy paths that
 *                      are mount points: FAN_CLOSE_WRITE for the whole mount
 *   destination dirs   each user's XDG download directory and policy paths that are plain
 *                      directories: FAN_CLOSE_WRITE for files directly inside
 *
 * The parsers (mountinfo lines, user-dirs.dirs, glob prefixes, classifying a mount) are
 * pure and unit-tested; files_targets_compute() does the reading.
 */
#ifndef HOGO_AGENT_FILES_TARGETS_H
#define HOGO_AGENT_FILES_TARGETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct policy;

enum files_target_kind {
        FILES_TARGET_DATA_MOUNT,
        FILES_TARGET_DATA_DIR,
        FILES_TARGET_DEST_MOUNT,
        FILES_TARGET_DEST_DIR,
};

struct files_target {
        enum files_target_kind kind;
        char *path;
        const char *why; /* "glob", "home", "removable", "network_share", "downloads", "path" */
        uint64_t dev;    /* st_dev, st_ino and birth time (ns; the change time where the file */
        uint64_t ino;    /* system keeps no birth time) of path when it was computed (0 when */
        uint64_t birth;  /* it could not be read) */
        uint64_t mtime;  /* ns; of a home-tree directory: its entries unchanged since */
};

/* How far a home that is not its own mount is followed with directory marks. */
#define FILES_HOME_DEPTH 8
#define FILES_HOME_DIRS_MAX 4096

struct files_targets {
        struct files_target *items;
        size_t n;
};

void files_targets_clear(struct files_targets *t);

/* One line of /proc/self/mountinfo: the mount point (octal escapes decoded, in place), the
 * file system type and the mount source. -EINVAL when it is not a mountinfo line. */
struct mountinfo_entry {
        const char *mount_point;
        const char *fstype;
        const char *source;
};
int mountinfo_parse_line(char *line, struct mountinfo_entry *ret);

bool fstype_is_network_share(const char *fstype);

/* The download directory named in a user-dirs.dirs file (XDG_DOWNLOAD_DIR="$HOME/..." or
 * an absolute path), NULL when it names none or something outside the rules. */
int xdg_download_dir_parse(const char *content, const char *home, char **ret);

/* The directory part of a glob before its first wildcard: "/srv/jumin/" followed by "**"
 * gives "/srv/jumin"; "/home/x/" followed by "*.csv" gives "/home/x". */
int glob_literal_dir(const char *glob, char **ret);

/* Works out the targets for the policy: reads mountinfo, sysfs (removable devices under
 * sysfs_root), the password database and users' user-dirs.dirs. Paths that do not exist
 * are left out. */
/* prev (may be NULL): the last result; a home tree whose every directory is still the same
 * with the same modification time (so no subdirectory came or went) is taken from it
 * instead of walked again. NULL after a mount change: then every home is walked. */
int files_targets_compute(const struct policy *p, const char *sysfs_root, const struct files_targets *prev,
                          struct files_targets *ret);

/* The data-directory targets of a home that is not its own mount: taken from prev when
 * every directory of its tree there is still the same, else walked again; *budget (the
 * directories still to hand out) goes down by as many. 0 or -errno. */
int files_targets_add_home_tree(struct files_targets *t, const char *home, const struct files_targets *prev,
                                size_t *budget);

/* The same places for the same reasons, the same directories (device, inode and birth
 * time: one removed and made again under the same name needs its mark again, even when it
 * got the same inode number; a place that could not be read is never the same). */
bool files_targets_equal(const struct files_targets *a, const struct files_targets *b);

/* The destination target that holds path (longest match), or NULL. A path that the kernel
 * reports for a file deleted since (" (deleted)" appended) is looked up without the suffix. */
const struct files_target *files_targets_destination(const struct files_targets *t, const char *path);

/* The destination mount on device dev when no other destination lies on that device (so
 * a close-write on dev can only have come from that mount's mark), else NULL: then the
 * event's path decides. Saves resolving the path of every file written to a mount. */
const struct files_target *files_targets_destination_by_dev(const struct files_targets *t, uint64_t dev);

#endif

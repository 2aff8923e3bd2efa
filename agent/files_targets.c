/* files_targets.c — see files_targets.h. */
#include "agent/files_targets.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "common/fileio.h"
#include "common/util.h"
#include "policy/policy.h"

/* Users below this uid are system accounts: their homes are not watched. */
#define FILES_FIRST_HUMAN_UID 1000
#define FILES_MOUNTINFO_MAX (4u << 20)

void files_targets_clear(struct files_targets *t)
{
        for (size_t i = 0; i < t->n; i++)
                free(t->items[i].path);
        free(t->items);
        t->items = NULL;
        t->n = 0;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void unescape_octal(char *s)
{
        char *o = s;
        for (char *p = s; *p;) {
                if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
                    p[3] >= '0' && p[3] <= '7') {
                        *o++ = (char)((p[1] - '0') << 6 | (p[2] - '0') << 3 | (p[3] - '0'));
                        p += 4;
                } else {
                        *o++ = *p++;
                }
        }
        *o = '\0';
}

int mountinfo_parse_line(char *line, struct mountinfo_entry *ret)
{
        /* 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue */
        char *fields[6], *save = NULL, *tok;
        size_t n = 0;
        for (tok = strtok_r(line, " \n", &save); tok && n < 6; tok = strtok_r(NULL, " \n", &save))
                fields[n++] = tok;
        if (n < 6)
                return -EINVAL;
        /* optional fields until the lone "-" */
        while (tok && STRNEQ(tok, "-"))
                tok = strtok_r(NULL, " \n", &save);
        if (!tok)
                return -EINVAL;
        char *fstype = strtok_r(NULL, " \n", &save);
        char *source = strtok_r(NULL, " \n", &save);
        if (!fstype || !source || fields[4][0] != '/')
                return -EINVAL;
        unescape_octal(fields[4]);
        unescape_octal(source);
        *ret = (struct mountinfo_entry){ fields[4], fstype, source };
        return 0;
}

bool fstype_is_network_share(const char *fstype)
{
        static const char *const shares[] = { "cifs", "smb3", "smbfs", "nfs", "nfs4", "fuse.sshfs",
                                              "fuse.davfs2", "davfs", "9p", "ceph", "glusterfs",
                                              "fuse.glusterfs" };
        for (size_t i = 0; i < ELEMENTSOF(shares); i++)
                if (STREQ(fstype, shares[i]))
                        return true;
        return false;
}

int xdg_download_dir_parse(const char *content, const char *home, char **ret)
{
        const char *key = "XDG_DOWNLOAD_DIR=\"";
        for (const char *line = content; line && *line;) {
                const char *end = strchrnul(line, '\n');
                while (line < end && (*line == ' ' || *line == '\t'))
                        line++;
                size_t klen = strlen(key);
                if ((size_t)(end - line) > klen && strncmp(line, key, klen) == 0) {
                        const char *v = line + klen;
                        const char *q = memchr(v, '"', (size_t)(end - v));
                        if (!q)
                                return -EINVAL;
                        size_t vlen = (size_t)(q - v);
                        char *path = NULL;
                        if (vlen >= 5 && strncmp(v, "$HOME", 5) == 0 && (vlen == 5 || v[5] == '/')) {
                                if (asprintf(&path, "%s%.*s", home, (int)(vlen - 5), v + 5) < 0)
                                        return -ENOMEM;
                        } else if (vlen > 0 && v[0] == '/') {
                                path = strndup(v, vlen);
                                if (!path)
                                        return -ENOMEM;
                        } else {
                                return -EINVAL;
                        }
                        if (strstr(path, "/../") || (strlen(path) >= 3 && STREQ(path + strlen(path) - 3, "/.."))) {
                                free(path);
                                return -EINVAL;
                        }
                        *ret = path;
                        return 0;
                }
                line = *end ? end + 1 : NULL;
        }
        return -ENOENT;
}

int glob_literal_dir(const char *glob, char **ret)
{
        if (glob[0] != '/')
                return -EINVAL;
        size_t wild = strcspn(glob, "*?[");
        const char *slash = NULL;
        for (const char *p = glob; p < glob + wild; p++)
                if (*p == '/')
                        slash = p;
        if (!slash)
                return -EINVAL;
        /* no wildcard at all: the file itself, its directory holds it */
        size_t n = (size_t)(slash - glob);
        char *dir = strndup(glob, n ? n : 1);
        if (!dir)
                return -ENOMEM;
        *ret = dir;
        return 0;
}

static bool has_target(const struct files_targets *t, enum files_target_kind kind, const char *path)
{
        for (size_t i = 0; i < t->n; i++)
                if (t->items[i].kind == kind && STREQ(t->items[i].path, path))
                        return true;
        return false;
}

/* Appends without looking for a duplicate (the caller knows there is none: a directory
 * walk meets each directory once); dev as the caller read it. */
/* What tells a directory from another made later under the same name. */
struct place_id {
        uint64_t dev, ino, birth, mtime;
        bool dir;
};

/* path relative to dirfd (AT_FDCWD: as given) */
static int place_stat(int dirfd, const char *path, bool follow, struct place_id *ret)
{
        struct statx sx;
        if (statx(dirfd, path, follow ? 0 : AT_SYMLINK_NOFOLLOW,
                  STATX_TYPE | STATX_INO | STATX_BTIME | STATX_MTIME | STATX_CTIME, &sx) < 0)
                return negative_errno();
        *ret = (struct place_id){
                .dev = (uint64_t)makedev(sx.stx_dev_major, sx.stx_dev_minor),
                .ino = sx.stx_ino,
                /* without a birth time (ext4 with small inodes, some network file systems;
                 * some say they have one and give 0) the change time stands in: a directory made again gets a new one; one
                 * whose entries changed gets one too, which only costs a re-mark */
                .birth = (sx.stx_mask & STATX_BTIME) && (sx.stx_btime.tv_sec || sx.stx_btime.tv_nsec)
                                 ? (uint64_t)sx.stx_btime.tv_sec * 1000000000u + sx.stx_btime.tv_nsec
                                 : (uint64_t)sx.stx_ctime.tv_sec * 1000000000u + sx.stx_ctime.tv_nsec,
                .mtime = (uint64_t)sx.stx_mtime.tv_sec * 1000000000u + sx.stx_mtime.tv_nsec,
                .dir = S_ISDIR(sx.stx_mode),
        };
        return 0;
}

static int append_target(struct files_targets *t, enum files_target_kind kind, const char *path,
                         const char *why, const struct place_id *id)
{
        if (t->n % 64 == 0) { /* grown in steps: a home tree adds thousands */
                struct files_target *n = realloc(t->items, (t->n + 64) * sizeof *n);
                if (!n)
                        return -ENOMEM;
                t->items = n;
        }
        char *copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        t->items[t->n++] = (struct files_target){ kind, copy, why, id ? id->dev : 0, id ? id->ino : 0,
                                                  id ? id->birth : 0, id ? id->mtime : 0 };
        return 0;
}

static int add_target(struct files_targets *t, enum files_target_kind kind, const char *path,
                      const char *why)
{
        if (has_target(t, kind, path))
                return 0;
        struct place_id id;
        return append_target(t, kind, path, why, place_stat(AT_FDCWD, path, true, &id) == 0 ? &id : NULL);
}

static bool is_directory(const char *path)
{
        struct stat st;
        return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A block device of a mount source that sits on a removable or USB device. */
static bool source_is_removable(const char *sysfs_root, const char *source)
{
        if (strncmp(source, "/dev/", 5) != 0 || strchr(source + 5, '/'))
                return false;
        _cleanup_free_ char *link = NULL, *real = NULL;
        if (asprintf(&link, "%s/sys/class/block/%s", STREQ(sysfs_root, "/") ? "" : sysfs_root, source + 5) < 0)
                return false;
        real = realpath(link, NULL);
        if (!real)
                return false;
        if (strstr(real, "/usb"))
                return true;
        for (int up = 0; up < 2; up++) {
                _cleanup_free_ char *removable = NULL, *value = NULL;
                if (asprintf(&removable, "%s%s/removable", real, up ? "/.." : "") < 0)
                        return false;
                if (read_file_bounded(removable, 16, &value, NULL) == 0 && value[0] == '1')
                        return true;
        }
        return false;
}

static bool mount_point_is_removable_place(const char *mp)
{
        return strncmp(mp, "/media/", 7) == 0 || strncmp(mp, "/run/media/", 11) == 0;
}

static bool policy_wants(const struct policy *p, enum policy_destination_kind kind)
{
        for (size_t i = 0; i < p->bulk_transfer.n_destinations; i++)
                if (p->bulk_transfer.destinations[i].kind == kind)
                        return true;
        return false;
}

static int add_mount_destinations(const struct policy *p, const char *sysfs_root,
                                  struct files_targets *t, char **mount_points, size_t *n_mount_points)
{
        _cleanup_free_ char *info = NULL;
        int r = read_file_bounded("/proc/self/mountinfo", FILES_MOUNTINFO_MAX, &info, NULL);
        if (r < 0)
                return r;
        bool removable = policy_wants(p, POLICY_DEST_REMOVABLE);
        bool shares = policy_wants(p, POLICY_DEST_NETWORK_SHARE);
        char *save = NULL;
        for (char *line = strtok_r(info, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                struct mountinfo_entry m;
                if (mountinfo_parse_line(line, &m) < 0)
                        continue;
                if (*n_mount_points < 4096) {
                        mount_points[*n_mount_points] = strdup(m.mount_point);
                        if (!mount_points[*n_mount_points])
                                return -ENOMEM;
                        (*n_mount_points)++;
                }
                if (shares && fstype_is_network_share(m.fstype))
                        r = add_target(t, FILES_TARGET_DEST_MOUNT, m.mount_point, "network_share");
                else if (removable && (mount_point_is_removable_place(m.mount_point) ||
                                       source_is_removable(sysfs_root, m.source)))
                        r = add_target(t, FILES_TARGET_DEST_MOUNT, m.mount_point, "removable");
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool is_mount_point(char *const *mount_points, size_t n, const char *path)
{
        for (size_t i = 0; i < n; i++)
                if (STREQ(mount_points[i], path))
                        return true;
        return false;
}

/* A file in a user's home, which its user controls: only a regular file is read, never
 * through a symlink, and a FIFO put there cannot make the agent wait on its open. */
static int read_user_file(const char *path, size_t max_size, char **ret)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        struct stat st;
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        char self[64];
        snprintf(self, sizeof self, "/proc/self/fd/%d", fd); /* the very file checked above */
        return read_file_bounded(self, max_size, ret, NULL);
}

/* A home that is not its own mount: the directory and its visible subdirectories on the
 * same device (hidden ones — caches, settings — are where a desktop's idle opens go and
 * labelled files are not kept), depth-first, within the depth and the shared budget. */
static int add_home_tree(struct files_targets *t, int parent_fd, const char *name, const char *dir,
                         const struct place_id *dir_id, unsigned depth, size_t *budget)
{
        if (*budget == 0)
                return 0;
        int r = append_target(t, FILES_TARGET_DATA_DIR, dir, "home", dir_id);
        if (r < 0)
                return r;
        (*budget)--;
        if (depth >= FILES_HOME_DEPTH)
                return 0;
        /* opened relative to its parent: a walk of thousands of directories does not look
         * up every full path again (it runs at each rescan) */
        int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK |
                                                 (depth > 0 ? O_NOFOLLOW : 0)); /* a home may be a link */
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                if (fd >= 0)
                        close(fd);
                return 0; /* unreadable: the directory itself is still watched */
        }
        struct dirent *e;
        while (r >= 0 && *budget > 0 && (e = readdir(d))) {
                if (e->d_name[0] == '.' || (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN))
                        continue;
                _cleanup_free_ char *sub = NULL;
                struct place_id id = { 0 };
                if (asprintf(&sub, "%s/%s", dir, e->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                /* a symlink is not followed; another device is another mount */
                if (place_stat(dirfd(d), e->d_name, false, &id) < 0 || !id.dir || id.dev != dir_id->dev)
                        continue;
                r = add_home_tree(t, dirfd(d), e->d_name, sub, &id, depth + 1, budget);
        }
        closedir(d);
        return r;
}

/* The home tree rooted at home from prev, when every directory in it is the very same with
 * the same modification time, and none was modified in the last two seconds (a timestamp
 * is coarser than the clock: a change right after the walk may not have moved it).
 * 1 taken, 0 walk again. */
static int reuse_home_tree(struct files_targets *t, const struct files_targets *prev, const char *home,
                           size_t *budget)
{
        size_t first = SIZE_MAX, end, n = strlen(home);
        for (size_t i = 0; prev && i < prev->n && first == SIZE_MAX; i++)
                if (prev->items[i].kind == FILES_TARGET_DATA_DIR && STREQ(prev->items[i].path, home))
                        first = i;
        if (first == SIZE_MAX)
                return 0;
        /* the walk appended the home first, then its subtree */
        for (end = first + 1; end < prev->n; end++) {
                const struct files_target *x = &prev->items[end];
                if (x->kind != FILES_TARGET_DATA_DIR || strncmp(x->path, home, n) != 0 || x->path[n] != '/')
                        break;
        }
        if (end - first > *budget)
                return 0;
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        uint64_t recent = ((uint64_t)now.tv_sec - 2) * 1000000000u;
        for (size_t i = first; i < end; i++) {
                const struct files_target *x = &prev->items[i];
                struct place_id id = { 0 };
                if (place_stat(AT_FDCWD, x->path, i == first, &id) < 0 || !id.dir || id.dev != x->dev ||
                    id.ino != x->ino || id.birth != x->birth || x->birth == 0 || id.mtime != x->mtime ||
                    id.mtime >= recent)
                        return 0;
        }
        for (size_t i = first; i < end; i++) {
                const struct files_target *x = &prev->items[i];
                struct place_id id = { x->dev, x->ino, x->birth, x->mtime, true };
                int r = append_target(t, x->kind, x->path, x->why, &id);
                if (r < 0)
                        return r;
        }
        *budget -= end - first;
        return 1;
}

int files_targets_add_home_tree(struct files_targets *t, const char *home, const struct files_targets *prev,
                                size_t *budget)
{
        struct place_id id;
        int r = reuse_home_tree(t, prev, home, budget);
        if (r != 0 || place_stat(AT_FDCWD, home, true, &id) < 0)
                return r < 0 ? r : 0;
        return add_home_tree(t, AT_FDCWD, home, home, &id, 0, budget);
}

static int add_user_dirs(const struct policy *p, const struct files_targets *prev, struct files_targets *t,
                         char *const *mount_points, size_t n_mount_points)
{
        size_t budget = FILES_HOME_DIRS_MAX;
        bool downloads = policy_wants(p, POLICY_DEST_DOWNLOADS);
        setpwent();
        struct passwd *pw;
        int r = 0;
        while ((pw = getpwent())) {
                if (pw->pw_uid < FILES_FIRST_HUMAN_UID || pw->pw_uid >= 65534 || !pw->pw_dir ||
                    pw->pw_dir[0] != '/' || STREQ(pw->pw_dir, "/") || !is_directory(pw->pw_dir))
                        continue;
                if (is_mount_point(mount_points, n_mount_points, pw->pw_dir))
                        r = add_target(t, FILES_TARGET_DATA_MOUNT, pw->pw_dir, "home");
                else if (!has_target(t, FILES_TARGET_DATA_DIR, pw->pw_dir)) /* one walk for a shared home */
                        r = files_targets_add_home_tree(t, pw->pw_dir, prev, &budget);
                if (r < 0)
                        break;
                if (!downloads)
                        continue;
                _cleanup_free_ char *dirs_file = NULL, *content = NULL, *dl = NULL;
                if (asprintf(&dirs_file, "%s/.config/user-dirs.dirs", pw->pw_dir) < 0) {
                        r = -ENOMEM;
                        break;
                }
                if (read_user_file(dirs_file, 64 * 1024, &content) == 0 &&
                    xdg_download_dir_parse(content, pw->pw_dir, &dl) == 0 && is_directory(dl)) {
                        r = add_target(t, FILES_TARGET_DEST_DIR, dl, "downloads");
                } else {
                        /* no user-dirs.dirs: the names xdg-user-dirs gives in English and Japanese */
                        static const char *const defaults[] = { "Downloads", "ダウンロード" };
                        for (size_t i = 0; i < ELEMENTSOF(defaults) && r >= 0; i++) {
                                _cleanup_free_ char *d = NULL;
                                if (asprintf(&d, "%s/%s", pw->pw_dir, defaults[i]) < 0)
                                        r = -ENOMEM;
                                else if (is_directory(d))
                                        r = add_target(t, FILES_TARGET_DEST_DIR, d, "downloads");
                        }
                }
                if (r < 0)
                        break;
        }
        endpwent();
        return r;
}

int files_targets_compute(const struct policy *p, const char *sysfs_root, const struct files_targets *prev,
                          struct files_targets *ret)
{
        struct files_targets t = { 0 };
        char **mount_points = calloc(4096, sizeof(char *));
        size_t n_mount_points = 0;
        int r = mount_points ? 0 : -ENOMEM;

        if (r >= 0)
                r = add_mount_destinations(p, sysfs_root, &t, mount_points, &n_mount_points);
        for (size_t i = 0; r >= 0 && i < p->marked_files.n_paths; i++) {
                _cleanup_free_ char *dir = NULL;
                r = glob_literal_dir(p->marked_files.paths[i], &dir);
                if (r == -EINVAL) {
                        r = 0;
                        continue;
                }
                /* a glob whose directory does not exist yet: watch the nearest one that does */
                while (r >= 0 && !is_directory(dir)) {
                        char *slash = strrchr(dir, '/');
                        if (!slash || slash == dir) {
                                strcpy(dir, "/");
                                break;
                        }
                        *slash = '\0';
                }
                if (r >= 0)
                        r = add_target(&t, FILES_TARGET_DATA_MOUNT, dir, "glob");
        }
        if (r >= 0)
                r = add_user_dirs(p, prev, &t, mount_points, n_mount_points);
        for (size_t i = 0; r >= 0 && i < p->bulk_transfer.n_destinations; i++) {
                const struct policy_destination *d = &p->bulk_transfer.destinations[i];
                if (d->kind != POLICY_DEST_PATH || !is_directory(d->path))
                        continue;
                r = add_target(&t, is_mount_point(mount_points, n_mount_points, d->path)
                                           ? FILES_TARGET_DEST_MOUNT : FILES_TARGET_DEST_DIR,
                               d->path, "path");
        }
        for (size_t i = 0; i < n_mount_points; i++)
                free(mount_points[i]);
        free(mount_points);
        if (r < 0) {
                files_targets_clear(&t);
                return r;
        }
        *ret = t;
        return 0;
}

const struct files_target *files_targets_destination(const struct files_targets *t, const char *path)
{
        static const char deleted[] = " (deleted)";
        char undeleted[PATH_MAX];
        size_t len = strlen(path), dlen = sizeof deleted - 1;
        if (len > dlen && len - dlen < sizeof undeleted && STREQ(path + len - dlen, deleted)) {
                memcpy(undeleted, path, len - dlen);
                undeleted[len - dlen] = '\0';
                path = undeleted;
        }
        const struct files_target *best = NULL;
        size_t best_len = 0;
        for (size_t i = 0; i < t->n; i++) {
                const struct files_target *x = &t->items[i];
                if (x->kind == FILES_TARGET_DATA_MOUNT || x->kind == FILES_TARGET_DATA_DIR)
                        continue;
                size_t n = strlen(x->path);
                bool under = strncmp(path, x->path, n) == 0 &&
                             (path[n] == '/' || (n == 1 && x->path[0] == '/'));
                if (!under)
                        continue;
                /* a directory target sees only files directly inside it */
                if (x->kind == FILES_TARGET_DEST_DIR && strchr(path + n + 1, '/'))
                        continue;
                if (n >= best_len) {
                        best = x;
                        best_len = n;
                }
        }
        return best;
}

const struct files_target *files_targets_destination_by_dev(const struct files_targets *t, uint64_t dev)
{
        const struct files_target *found = NULL;
        if (dev == 0)
                return NULL;
        for (size_t i = 0; i < t->n; i++) {
                const struct files_target *x = &t->items[i];
                if (x->kind == FILES_TARGET_DATA_MOUNT || x->kind == FILES_TARGET_DATA_DIR || x->dev != dev)
                        continue;
                if (found || x->kind != FILES_TARGET_DEST_MOUNT)
                        return NULL; /* two destinations on one device: the path decides */
                found = x;
        }
        return found;
}

bool files_targets_equal(const struct files_targets *a, const struct files_targets *b)
{
        if (a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++) {
                const struct files_target *x = &a->items[i], *y = &b->items[i];
                if (x->kind != y->kind || !STREQ(x->path, y->path) || !STREQ(x->why, y->why) ||
                    x->dev != y->dev || x->ino != y->ino || x->birth != y->birth || x->birth == 0)
                        return false;
        }
        return true;
}

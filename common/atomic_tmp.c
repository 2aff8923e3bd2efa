/* atomic_tmp.c — removing what a killed write_file_atomic() left; see atomic_tmp.h. */
#include "common/atomic_tmp.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

bool atomic_tmp_writer(const char *name, const char *base, pid_t *ret_pid)
{
        size_t n = strlen(base);
        if (strncmp(name, base, n) != 0 || strncmp(name + n, ".tmp.", 5) != 0)
                return false;
        const char *p = name + n + 5;
        long long v = 0;
        if (*p < '1' || *p > '9')
                return false;
        for (; *p >= '0' && *p <= '9'; p++) {
                v = v * 10 + (*p - '0');
                if (v > INT32_MAX)
                        return false;
        }
        if (*p != '\0')
                return false;
        *ret_pid = (pid_t)v;
        return true;
}

bool atomic_tmp_is_stale(bool writer_alive, uint64_t age_usec)
{
        return !writer_alive || age_usec > ATOMIC_TMP_STALE_USEC;
}

static bool process_alive(pid_t pid)
{
        /* EPERM: it runs, as another user */
        return kill(pid, 0) == 0 || errno == EPERM;
}

int atomic_tmp_remove_stale(const char *path)
{
        _cleanup_free_ char *dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        char *slash = strrchr(dir, '/');
        const char *base = slash ? slash + 1 : path;
        if (slash)
                *slash = '\0';
        DIR *d = opendir(slash ? (*dir ? dir : "/") : ".");
        if (!d)
                return negative_errno();

        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int removed = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                pid_t pid;
                struct stat st;
                if (!atomic_tmp_writer(de->d_name, base, &pid) || pid == getpid() ||
                    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISREG(st.st_mode))
                        continue;
                int64_t age = ((int64_t)now.tv_sec - st.st_mtim.tv_sec) * 1000000 +
                              ((int64_t)now.tv_nsec - st.st_mtim.tv_nsec) / 1000;
                if (!atomic_tmp_is_stale(process_alive(pid), age > 0 ? (uint64_t)age : 0))
                        continue;
                if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
                        if (errno != ENOENT)
                                log_warning_errno(negative_errno(), "Cannot remove the stale %s/%s: %m",
                                                  slash ? dir : ".", de->d_name);
                        continue;
                }
                log_notice("Removed %s/%s, left by an interrupted write (process %d)",
                           slash ? dir : ".", de->d_name, (int)pid);
                removed++;
        }
        closedir(d);
        return removed;
}

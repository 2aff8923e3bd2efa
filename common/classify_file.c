/* classify_file.c — see classify_file.h. */
#include "common/classify_file.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "common/util.h"

int classify_fd(const struct classify_config *cfg, int fd, struct classify_result *ret)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (S_ISDIR(st.st_mode))
                return -EISDIR;

        /* one byte more than the prefix tells a pipe or a growing file that it was cut */
        size_t want = cfg->max_prefix + 1;
        if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < want)
                want = (size_t)st.st_size + 1;
        _cleanup_free_ unsigned char *buf = malloc(want);
        if (!buf)
                return -ENOMEM;
        size_t len = 0;
        while (len < want) {
                ssize_t n = S_ISREG(st.st_mode) ? pread(fd, buf + len, want - len, (off_t)len)
                                                : read(fd, buf + len, want - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        bool truncated = len > cfg->max_prefix;
        return classify_buffer(cfg, buf, truncated ? cfg->max_prefix : len, truncated, ret);
}

int classify_path(const struct classify_config *cfg, const char *path, struct classify_result *ret)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        return classify_fd(cfg, fd, ret);
}

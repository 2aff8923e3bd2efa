/* usb_readonly.c — see usb_readonly.h. */
#include "agent/usb_readonly.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "agent/usb_sysfs.h"
#include "common/log.h"
#include "common/util.h"

/* mountinfo: "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw" */
static int remount_mounts_of(dev_t dev, const char *mountinfo_path, unsigned *ret_count)
{
        _cleanup_fclose_ FILE *f = fopen(mountinfo_path, "re");
        if (!f)
                return negative_errno();
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        unsigned count = 0;
        int r = 0;
        while (getline(&line, &cap, f) > 0) {
                unsigned maj, min;
                char target[PATH_MAX];
                if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min, target) != 3)
                        continue;
                if (makedev(maj, min) != dev)
                        continue;
                /* mountinfo escapes blanks as \040 and the like; such targets are skipped
                 * and reported rather than remounted at a wrong path */
                if (strchr(target, '\\')) {
                        r = -EINVAL;
                        continue;
                }
                if (mount(NULL, target, NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0) {
                        r = log_error_errno(negative_errno(), "Cannot remount %s read-only: %m", target);
                        continue;
                }
                count++;
        }
        if (ret_count)
                *ret_count = count;
        return r;
}

int block_device_make_read_only(const char *devnode, const char *mountinfo_path,
                                unsigned *ret_remounted)
{
        _cleanup_close_ int fd = open(devnode, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        struct stat st;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISBLK(st.st_mode))
                return -ENOTBLK;
        int one = 1, ro = 0;
        if (ioctl(fd, BLKROSET, &one) < 0)
                return negative_errno();
        if (ioctl(fd, BLKROGET, &ro) < 0)
                return negative_errno();
        if (!ro)
                return -EIO;
        return remount_mounts_of(st.st_rdev, mountinfo_path, ret_remounted);
}

int usb_block_devices_foreach(const char *base, const char *usb_devpath,
                              int (*cb)(const char *name, void *userdata), void *userdata)
{
        size_t ulen = strlen(usb_devpath);
        _cleanup_free_ char *class_dir = NULL;
        if (asprintf(&class_dir, "%s/class/block", base) < 0)
                return -ENOMEM;
        DIR *d = opendir(class_dir);
        if (!d)
                return errno == ENOENT ? 0 : negative_errno();
        int r = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *link = NULL, *devpath = NULL;
                if (asprintf(&link, "%s/%s", class_dir, de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                if (usb_sysfs_resolve_devpath(link, &devpath) < 0)
                        continue;
                if (strncmp(devpath, usb_devpath, ulen) != 0 || devpath[ulen] != '/')
                        continue;
                int k = cb(de->d_name, userdata);
                if (k < 0 && r == 0)
                        r = k;
        }
        closedir(d);
        return r;
}

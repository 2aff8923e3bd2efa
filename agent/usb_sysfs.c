/* usb_sysfs.c — see usb_sysfs.h. */
#include "agent/usb_sysfs.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "common/util.h"

#define ATTR_MAX 4096

char *usb_sysfs_base(const char *root)
{
        char *s = NULL;
        if (!root || STREQ(root, "") || STREQ(root, "/"))
                return strdup("/sys");
        size_t n = strlen(root);
        if (asprintf(&s, "%.*s/sys", (int)(root[n - 1] == '/' ? n - 1 : n), root) < 0)
                return NULL;
        return s;
}

static int attr_path(const char *dir, const char *attr, char **ret)
{
        return asprintf(ret, "%s/%s", dir, attr) < 0 ? -ENOMEM : 0;
}

int usb_sysfs_read_attr(const char *dir, const char *attr, char **ret)
{
        _cleanup_free_ char *path = NULL, *data = NULL;
        size_t len;
        int r = attr_path(dir, attr, &path);
        if (r < 0)
                return r;
        r = read_file_bounded(path, ATTR_MAX, &data, &len);
        if (r < 0)
                return r;
        while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == ' '))
                data[--len] = '\0';
        *ret = TAKE_PTR(data);
        return 0;
}

int usb_sysfs_write_attr(const char *dir, const char *attr, const char *value)
{
        _cleanup_free_ char *path = NULL;
        int r = attr_path(dir, attr, &path);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        size_t len = strlen(value);
        ssize_t n = write(fd, value, len);
        if (n < 0)
                return negative_errno();
        if ((size_t)n != len)
                return -EIO;
        /* sysfs reports some failures only at close */
        int ffd = TAKE_FD(fd);
        if (close(ffd) < 0)
                return negative_errno();
        return 0;
}

int usb_sysfs_read_hex16(const char *dir, const char *attr, uint16_t *ret)
{
        _cleanup_free_ char *s = NULL;
        int r = usb_sysfs_read_attr(dir, attr, &s);
        if (r < 0)
                return r;
        if (strlen(s) != 4)
                return -EINVAL;
        for (size_t i = 0; i < 4; i++)
                if (!isxdigit((unsigned char)s[i]))
                        return -EINVAL;
        *ret = (uint16_t)strtoul(s, NULL, 16);
        return 0;
}

int usb_sysfs_read_bool(const char *dir, const char *attr)
{
        _cleanup_free_ char *s = NULL;
        int r = usb_sysfs_read_attr(dir, attr, &s);
        if (r < 0)
                return r;
        if (STREQ(s, "0"))
                return 0;
        if (STREQ(s, "1"))
                return 1;
        return -EINVAL;
}

static bool parse_u8(const char *s, size_t len, uint8_t *ret)
{
        if (len == 0 || len > 3)
                return false;
        unsigned v = 0;
        for (size_t i = 0; i < len; i++) {
                if (!isdigit((unsigned char)s[i]))
                        return false;
                v = v * 10 + (unsigned)(s[i] - '0');
        }
        if (v > 255)
                return false;
        *ret = (uint8_t)v;
        return true;
}

/* "B-P[.P...]" */
static bool is_device_name(const char *s, size_t len)
{
        const char *dash = memchr(s, '-', len);
        if (!dash || dash == s || dash == s + len - 1)
                return false;
        for (const char *c = s; c < dash; c++)
                if (!isdigit((unsigned char)*c))
                        return false;
        bool digit_before = false;
        for (const char *c = dash + 1; c < s + len; c++) {
                if (isdigit((unsigned char)*c))
                        digit_before = true;
                else if (*c == '.' && digit_before)
                        digit_before = false;
                else
                        return false;
        }
        return digit_before;
}

enum usb_node_kind usb_node_classify(const char *name, uint8_t *ret_config, uint8_t *ret_number)
{
        size_t len = strlen(name);
        if (len > 3 && strncmp(name, "usb", 3) == 0) {
                for (size_t i = 3; i < len; i++)
                        if (!isdigit((unsigned char)name[i]))
                                return USB_NODE_OTHER;
                return USB_NODE_ROOT_HUB;
        }
        const char *colon = strchr(name, ':');
        if (!colon)
                return is_device_name(name, len) ? USB_NODE_DEVICE : USB_NODE_OTHER;
        const char *dot = strchr(colon, '.');
        uint8_t config, number;
        if (!dot || !is_device_name(name, (size_t)(colon - name)) ||
            !parse_u8(colon + 1, (size_t)(dot - colon - 1), &config) ||
            !parse_u8(dot + 1, strlen(dot + 1), &number))
                return USB_NODE_OTHER;
        if (ret_config)
                *ret_config = config;
        if (ret_number)
                *ret_number = number;
        return USB_NODE_INTERFACE;
}

static int name_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
}

/* The entries of dir, sorted. opendir/readdir rather than scandir(): umockdev's testbed
 * redirects only the libc entry points a program calls, and scandir() opens the directory
 * through glibc internals. */
static int list_dir(const char *dir, char ***ret, size_t *ret_n)
{
        DIR *d = opendir(dir);
        if (!d)
                return negative_errno();
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        int r = 0;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 32;
                        char **nn = realloc(names, ncap * sizeof *nn);
                        if (!nn) {
                                r = -ENOMEM;
                                break;
                        }
                        names = nn;
                        cap = ncap;
                }
                if (!(names[n] = strdup(de->d_name))) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        closedir(d);
        if (r < 0) {
                free_names(names, n);
                return r;
        }
        if (n > 0)
                qsort(names, n, sizeof *names, name_cmp);
        *ret = names;
        *ret_n = n;
        return 0;
}

int usb_sysfs_resolve_devpath(const char *link, char **ret)
{
        char target[PATH_MAX];
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n < 0)
                return negative_errno();
        target[n] = '\0';
        /* "../../../devices/pci0000:00/..." → "/devices/pci0000:00/..."; "devices/..." gets
         * its leading slash added (not by pointing before the buffer) */
        const char *p = strstr(target, "/devices/");
        _cleanup_free_ char *s = NULL;
        if (p)
                s = strdup(p);
        else if (strncmp(target, "devices/", 8) == 0) {
                if (asprintf(&s, "/%s", target) < 0)
                        s = NULL;
        } else
                return -EINVAL;
        if (!s)
                return -ENOMEM;
        if (strstr(s, "/../"))
                return -EINVAL;
        *ret = TAKE_PTR(s);
        return 0;
}

int usb_sysfs_foreach(const char *base, enum usb_node_kind kind, usb_node_cb cb, void *userdata)
{
        _cleanup_free_ char *bus = NULL;
        if (asprintf(&bus, "%s/bus/usb/devices", base) < 0)
                return -ENOMEM;
        char **names = NULL;
        size_t n = 0;
        int r = list_dir(bus, &names, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++) {
                if (usb_node_classify(names[i], NULL, NULL) != kind)
                        continue;
                _cleanup_free_ char *link = NULL, *devpath = NULL, *dir = NULL;
                if (asprintf(&link, "%s/%s", bus, names[i]) < 0) {
                        r = -ENOMEM;
                        break;
                }
                if (usb_sysfs_resolve_devpath(link, &devpath) < 0)
                        continue;
                if (asprintf(&dir, "%s%s", base, devpath) < 0) {
                        r = -ENOMEM;
                        break;
                }
                struct stat st;
                if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
                        continue; /* a dangling link of a device just removed */
                int k = cb(base, names[i], devpath, dir, userdata);
                if (k < 0)
                        r = k;
        }
        free_names(names, n);
        return r;
}

int usb_sysfs_foreach_interface(const char *dev_dir, const char *dev_name, usb_node_cb cb,
                                const char *base, void *userdata)
{
        char **names = NULL;
        size_t n = 0;
        int r = list_dir(dev_dir, &names, &n);
        if (r < 0)
                return r;
        size_t dlen = strlen(dev_name);
        for (size_t i = 0; i < n && r >= 0; i++) {
                const char *name = names[i];
                if (strncmp(name, dev_name, dlen) != 0 || name[dlen] != ':' ||
                    usb_node_classify(name, NULL, NULL) != USB_NODE_INTERFACE)
                        continue;
                _cleanup_free_ char *dir = NULL;
                if (asprintf(&dir, "%s/%s", dev_dir, name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                int k = cb(base, name, NULL, dir, userdata);
                if (k < 0)
                        r = k;
        }
        free_names(names, n);
        return r;
}

int usb_sysfs_root_hub_is_fail_closed(const char *hub_dir)
{
        _cleanup_free_ char *dev_default = NULL;
        int a = usb_sysfs_read_attr(hub_dir, "authorized_default", &dev_default);
        if (a < 0)
                return a;
        int i = usb_sysfs_read_bool(hub_dir, "interface_authorized_default");
        if (i < 0)
                return i;
        return STREQ(dev_default, "0") && i == 0;
}

int usb_sysfs_root_hub_fail_closed(const char *hub_dir)
{
        int r = usb_sysfs_write_attr(hub_dir, "authorized_default", "0");
        if (r < 0)
                return r;
        r = usb_sysfs_write_attr(hub_dir, "interface_authorized_default", "0");
        if (r < 0)
                return r;
        r = usb_sysfs_root_hub_is_fail_closed(hub_dir);
        if (r < 0)
                return r;
        return r ? 1 : -EIO;
}

int usb_sysfs_authorize_interface(const char *base, const char *dir, const char *name)
{
        int r = usb_sysfs_write_attr(dir, "authorized", "1");
        if (r < 0)
                return r;
        /* one name per write; the kernel ignores the newline (sysfs_streq) */
        _cleanup_free_ char *bus = NULL, *line = NULL;
        if (asprintf(&bus, "%s/bus/usb", base) < 0 || asprintf(&line, "%s\n", name) < 0)
                return -ENOMEM;
        return usb_sysfs_write_attr(bus, "drivers_probe", line);
}

void usb_device_facts_clear(struct usb_device_facts *f)
{
        free(f->serial);
        free(f->manufacturer);
        free(f->product);
        free(f->descriptors);
        memset(f, 0, sizeof *f);
}

int usb_device_facts_read(const char *dir, struct usb_device_facts *ret)
{
        struct usb_device_facts f = {};
        int r = usb_sysfs_read_hex16(dir, "idVendor", &f.vendor_id);
        if (r < 0)
                return r;
        r = usb_sysfs_read_hex16(dir, "idProduct", &f.product_id);
        if (r < 0)
                return r;
        /* strings are optional: a device without iSerial has no serial file */
        (void)usb_sysfs_read_attr(dir, "serial", &f.serial);

        _cleanup_free_ char *path = NULL;
        if (attr_path(dir, "descriptors", &path) < 0) {
                usb_device_facts_clear(&f);
                return -ENOMEM;
        }
        char *data = NULL;
        size_t len = 0;
        r = read_file_bounded(path, USB_DESCRIPTORS_MAX, &data, &len);
        if (r < 0)
                f.descriptors_error = r;
        else {
                f.descriptors = (uint8_t *)data;
                f.descriptors_len = len;
        }
        *ret = f;
        return 0;
}

void usb_device_facts_read_names(const char *dir, struct usb_device_facts *f)
{
        free(f->manufacturer);
        free(f->product);
        f->manufacturer = f->product = NULL;
        (void)usb_sysfs_read_attr(dir, "manufacturer", &f->manufacturer);
        (void)usb_sysfs_read_attr(dir, "product", &f->product);
}

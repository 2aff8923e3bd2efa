/* usb_sysfs.c — see usb_sysfs.h. */
#include "agent/usb_sysfs.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
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

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
        return strcmp((*a)->d_name, (*b)->d_name);
}

static void free_dirents(struct dirent **list, int n)
{
        for (int i = 0; i < n; i++)
                free(list[i]);
        free(list);
}

int usb_sysfs_foreach(const char *base, enum usb_node_kind kind, usb_node_cb cb, void *userdata)
{
        _cleanup_free_ char *bus = NULL;
        if (asprintf(&bus, "%s/bus/usb/devices", base) < 0)
                return -ENOMEM;
        struct dirent **list = NULL;
        int n = scandir(bus, &list, NULL, name_cmp);
        if (n < 0)
                return negative_errno();
        int r = 0;
        for (int i = 0; i < n && r >= 0; i++) {
                const char *name = list[i]->d_name;
                if (usb_node_classify(name, NULL, NULL) != kind)
                        continue;
                _cleanup_free_ char *dir = NULL;
                if (asprintf(&dir, "%s/%s", bus, name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                struct stat st;
                if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
                        continue; /* a dangling link of a device just removed */
                int k = cb(base, name, dir, userdata);
                if (k < 0)
                        r = k;
        }
        free_dirents(list, n);
        return r;
}

int usb_sysfs_foreach_interface(const char *dev_dir, const char *dev_name, usb_node_cb cb,
                                const char *base, void *userdata)
{
        struct dirent **list = NULL;
        int n = scandir(dev_dir, &list, NULL, name_cmp);
        if (n < 0)
                return negative_errno();
        size_t dlen = strlen(dev_name);
        int r = 0;
        for (int i = 0; i < n && r >= 0; i++) {
                const char *name = list[i]->d_name;
                if (strncmp(name, dev_name, dlen) != 0 || name[dlen] != ':' ||
                    usb_node_classify(name, NULL, NULL) != USB_NODE_INTERFACE)
                        continue;
                _cleanup_free_ char *dir = NULL;
                if (asprintf(&dir, "%s/%s", dev_dir, name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                int k = cb(base, name, dir, userdata);
                if (k < 0)
                        r = k;
        }
        free_dirents(list, n);
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
        _cleanup_free_ char *bus = NULL;
        if (asprintf(&bus, "%s/bus/usb", base) < 0)
                return -ENOMEM;
        return usb_sysfs_write_attr(bus, "drivers_probe", name);
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
        (void)usb_sysfs_read_attr(dir, "manufacturer", &f.manufacturer);
        (void)usb_sysfs_read_attr(dir, "product", &f.product);

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

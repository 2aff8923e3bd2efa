/* uevent.c — see uevent.h. */
#include "agent/uevent.h"

#include <endian.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "common/util.h"

#define LIBUDEV_PREFIX "libudev"
#define LIBUDEV_MAGIC 0xfeedcafeu
#define UEVENT_RCVBUF (4 * 1024 * 1024)

/* libudev's monitor_netlink_header, fields as they are on the wire */
struct libudev_header {
        char prefix[8];
        uint32_t magic; /* big-endian */
        uint32_t header_size;
        uint32_t properties_off;
        uint32_t properties_len;
};

static void take_property(struct uevent *ev, const char *kv)
{
        static const struct {
                const char *key;
                size_t off;
        } keys[] = {
                { "ACTION=", offsetof(struct uevent, action) },
                { "DEVPATH=", offsetof(struct uevent, devpath) },
                { "SUBSYSTEM=", offsetof(struct uevent, subsystem) },
                { "DEVTYPE=", offsetof(struct uevent, devtype) },
                { "DEVNAME=", offsetof(struct uevent, devname) },
        };
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                size_t n = strlen(keys[i].key);
                if (strncmp(kv, keys[i].key, n) == 0) {
                        *(const char **)((char *)ev + keys[i].off) = kv + n;
                        return;
                }
        }
}

/* NUL-separated KEY=VALUE strings in [p, end); end is NUL-terminated by the caller. */
static void take_properties(struct uevent *ev, const char *p, const char *end)
{
        while (p < end) {
                size_t n = strnlen(p, (size_t)(end - p));
                take_property(ev, p);
                p += n + 1;
        }
}

int uevent_parse(char *buf, size_t len, struct uevent *ret)
{
        struct uevent ev = {};
        buf[len] = '\0';

        if (len >= sizeof(struct libudev_header) && memcmp(buf, LIBUDEV_PREFIX, 8) == 0) {
                struct libudev_header h;
                memcpy(&h, buf, sizeof h);
                if (be32toh(h.magic) != LIBUDEV_MAGIC)
                        return -EBADMSG;
                if (h.properties_off < sizeof h || h.properties_off > len ||
                    h.properties_len > len - h.properties_off)
                        return -EBADMSG;
                take_properties(&ev, buf + h.properties_off,
                                buf + h.properties_off + h.properties_len);
        } else {
                /* "ACTION@DEVPATH" then the properties */
                size_t first = strnlen(buf, len);
                if (first == len || !memchr(buf, '@', first))
                        return -EBADMSG;
                take_properties(&ev, buf + first + 1, buf + len);
        }
        if (!ev.action || !ev.devpath || ev.devpath[0] != '/')
                return -EBADMSG;
        *ret = ev;
        return 0;
}

int uevent_socket_open(void)
{
        _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                                        NETLINK_KOBJECT_UEVENT);
        if (fd < 0)
                return negative_errno();
        /* a burst of hot-plugs must not overflow the queue; needs CAP_NET_ADMIN to exceed
         * rmem_max, best effort otherwise */
        int size = UEVENT_RCVBUF;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
                (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        struct sockaddr_nl addr = { .nl_family = AF_NETLINK, .nl_groups = 1 };
        if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
                return negative_errno();
        return TAKE_FD(fd);
}

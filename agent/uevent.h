/* uevent.h — reading device events straight from the kernel's uevent netlink socket.
 *
 * The agent listens on NETLINK_KOBJECT_UEVENT's kernel group itself rather than through
 * udevd: it must work where no udevd runs (early boot, a minimal guest) and it sees a device
 * before udevd has run its rules. A datagram is either the kernel's own format,
 *   "add@/devices/...\0ACTION=add\0DEVPATH=/devices/...\0SUBSYSTEM=usb\0...",
 * or libudev's ("libudev\0", a header with the offset and length of the properties), which
 * is what udevd re-broadcasts and what umockdev's testbed emulates. Both are parsed with
 * every offset bounds-checked.
 *
 * An event is only a hint that something changed at DEVPATH: the usb source re-reads sysfs
 * for every fact it decides on, so a forged event cannot make it authorize anything the
 * policy does not allow.
 */
#ifndef HOGO_AGENT_UEVENT_H
#define HOGO_AGENT_UEVENT_H

#include <stddef.h>

#define UEVENT_BUFFER_SIZE 8192

struct uevent {
        /* Point into the parsed buffer; NULL when the event does not carry them. */
        const char *action;  /* "add", "remove", "change", "bind", ... */
        const char *devpath; /* "/devices/pci0000:00/0000:00:14.0/usb1/1-1" */
        const char *subsystem;
        const char *devtype; /* "usb_device", "usb_interface", "disk", "partition" */
        const char *devname; /* "sdb1" (block devices) */
};

/* Parses one datagram of len bytes; buf must have room for one more byte (a NUL is put at
 * buf[len]). Returns 0, or -EBADMSG when it is neither format or lacks ACTION/DEVPATH. */
int uevent_parse(char *buf, size_t len, struct uevent *ret);

/* Opens a non-blocking socket bound to the kernel's uevent group. */
int uevent_socket_open(void);

#endif

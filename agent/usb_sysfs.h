/* usb_sysfs.h — reading and writing the kernel's USB authorization attributes.
 *
 * Every path is under a sysfs root ("/sys" normally, <agent_sysfs_root()>/sys in tests),
 * so the usb source and `hogoctl media` run unchanged against umockdev's testbed. Names
 * are the kernel's: root hubs "usb1", devices "1-1.4", interfaces "1-1.4:1.0".
 *
 * Authorization, as the kernel implements it (drivers/usb/core/sysfs.c, hub.c):
 *   - a root hub's authorized_default (0: new devices arrive unauthorized) and
 *     interface_authorized_default (0: the interfaces of an authorized device arrive
 *     unauthorized); both must be 0, or usb-storage binds the moment the device is
 *     authorized, before a per-interface write can land;
 *   - a device's `authorized`: writing 1 selects a configuration and creates its
 *     interfaces; 0 removes them again;
 *   - an interface's `authorized`; an interface authorized late binds a driver only once
 *     its name is written to bus/usb/drivers_probe.
 */
#ifndef HOGO_AGENT_USB_SYSFS_H
#define HOGO_AGENT_USB_SYSFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most a descriptors file can hold: the device descriptor and 8 configurations of
 * at most 65535 bytes each. (Its st_size is not the content's: the kernel sizes the binary
 * attribute at 18 + 65535 bytes whatever the device sent, so a bound below that refuses
 * every device.) */
#define USB_DESCRIPTORS_MAX (18u + 8u * 65535u)

/* "<root>/sys" without a doubled slash; caller frees. NULL on allocation failure. */
char *usb_sysfs_base(const char *root);

/* Reads one attribute, trailing newline removed. -ENOENT when it does not exist. */
int usb_sysfs_read_attr(const char *dir, const char *attr, char **ret);
/* Writes value to one attribute (one write(2), as sysfs wants). */
int usb_sysfs_write_attr(const char *dir, const char *attr, const char *value);
/* Reads a hexadecimal id attribute (idVendor, idProduct). */
int usb_sysfs_read_hex16(const char *dir, const char *attr, uint16_t *ret);
/* Reads a 0/1 attribute such as authorized: 1 true, 0 false, -errno. */
int usb_sysfs_read_bool(const char *dir, const char *attr);

enum usb_node_kind {
        USB_NODE_ROOT_HUB,  /* usbN */
        USB_NODE_DEVICE,    /* B-P[.P...] */
        USB_NODE_INTERFACE, /* B-P[.P...]:C.I */
        USB_NODE_OTHER,
};
/* What the name of an entry in bus/usb/devices (or a DEVPATH's last part) denotes. For an
 * interface, ret_config/ret_number get C and I (either may be NULL). */
enum usb_node_kind usb_node_classify(const char *name, uint8_t *ret_config, uint8_t *ret_number);

/* Calls cb for every entry of <base>/bus/usb/devices of the given kind, in name order;
 * stops at and returns the first negative return of cb. devpath is the kernel's
 * ("/devices/..."), dir the device directory (<base><devpath>). */
typedef int (*usb_node_cb)(const char *base, const char *name, const char *devpath,
                           const char *dir, void *userdata);
int usb_sysfs_foreach(const char *base, enum usb_node_kind kind, usb_node_cb cb, void *userdata);

/* Interfaces of one device ("<name>:C.I" entries of its directory), in name order
 * (devpath is passed as NULL). */
int usb_sysfs_foreach_interface(const char *dev_dir, const char *dev_name, usb_node_cb cb,
                                const char *base, void *userdata);

/* The kernel's devpath ("/devices/...") a sysfs symlink (bus/usb/devices/X,
 * class/block/X) points to. */
int usb_sysfs_resolve_devpath(const char *link, char **ret);

/* Sets a root hub fail-closed (both defaults 0) and reads them back: 1 when both read 0
 * afterwards, -errno when a write failed or they do not read 0. */
int usb_sysfs_root_hub_fail_closed(const char *hub_dir);
/* 1 when both defaults read 0, 0 when not, -errno when unreadable. */
int usb_sysfs_root_hub_is_fail_closed(const char *hub_dir);

/* Authorizes one interface and asks the kernel to bind a driver to it. */
int usb_sysfs_authorize_interface(const char *base, const char *dir, const char *name);

/* What the agent knows of a device from sysfs (strings malloc'ed, may be NULL). */
struct usb_device_facts {
        uint16_t vendor_id, product_id;
        char *serial;
        char *manufacturer;
        char *product;
        uint8_t *descriptors;
        size_t descriptors_len;
        int descriptors_error; /* -errno when the descriptors file could not be read */
};
/* Reads what a decision needs: ids, serial and the raw descriptors. Returns -errno only
 * when the device directory itself is gone (vanished); a missing descriptors file is
 * recorded in descriptors_error and the device is then blocked. */
int usb_device_facts_read(const char *dir, struct usb_device_facts *ret);
/* Adds the manufacturer and product strings (for events and notices, read after the
 * decision is enforced so they do not delay it). */
void usb_device_facts_read_names(const char *dir, struct usb_device_facts *f);
void usb_device_facts_clear(struct usb_device_facts *f);

#endif

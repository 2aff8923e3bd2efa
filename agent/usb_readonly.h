/* usb_readonly.h — holding a registered stick's block devices read-only.
 *
 * BLKROSET marks one block device read-only in the kernel: writes through it fail with
 * EPERM, and a file system mounted afterwards must mount read-only. It is per block
 * device, so the whole disk and each partition get it. A file system that was already
 * mounted read-write is remounted read-only (MS_REMOUNT|MS_RDONLY). The usb source calls
 * this when a storage interface it authorized read-only gets its disk and partitions
 * (block "add" events arrive on the kernel socket before udevd can auto-mount them), and
 * for disks already present when a policy makes a stick read-only. Failure to make a
 * device read-only is reported, and the source then takes the interface away again.
 */
#ifndef HOGO_AGENT_USB_READONLY_H
#define HOGO_AGENT_USB_READONLY_H

#include <sys/types.h>

/* BLKROSET on devnode, verified with BLKROGET; then remounts read-only whatever file
 * system of that device (major:minor from the node) mountinfo lists. Returns 0 or -errno
 * (-EROFS never: a device that cannot be set is an error). ret_remounted counts mounts
 * remounted (may be NULL). */
int block_device_make_read_only(const char *devnode, const char *mountinfo_path,
                                unsigned *ret_remounted);

/* Calls cb(block_name, userdata) for every block device (disk or partition) whose sysfs
 * path lies under the USB device's devpath ("/devices/.../1-1"); base is "/sys". */
int usb_block_devices_foreach(const char *base, const char *usb_devpath,
                              int (*cb)(const char *name, void *userdata), void *userdata);

#endif

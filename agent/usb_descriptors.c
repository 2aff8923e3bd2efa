/* usb_descriptors.c — see usb_descriptors.h. Pure: no I/O, so it is unit-tested and fuzzed
 * directly. */
#include "agent/usb_descriptors.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"

#define USB_DT_DEVICE_SIZE 18
#define USB_DT_CONFIG_SIZE 9
#define USB_DT_INTERFACE_SIZE 9
#define USB_DT_ENDPOINT_SIZE 7

#define USB_ENDPOINT_DIR_IN 0x80
#define USB_ENDPOINT_XFER_MASK 0x03
#define USB_ENDPOINT_XFER_BULK 0x02
#define USB_ENDPOINT_XFER_INT 0x03

static const char *const function_names[_USB_FUNCTION_MAX] = {
        [USB_FUNCTION_AUDIO] = "audio",
        [USB_FUNCTION_COMM] = "comm",
        [USB_FUNCTION_HID] = "hid",
        [USB_FUNCTION_PHYSICAL] = "physical",
        [USB_FUNCTION_STILL_IMAGE] = "still_image",
        [USB_FUNCTION_PRINTER] = "printer",
        [USB_FUNCTION_MASS_STORAGE] = "mass_storage",
        [USB_FUNCTION_HUB] = "hub",
        [USB_FUNCTION_CDC_DATA] = "cdc_data",
        [USB_FUNCTION_SMART_CARD] = "smart_card",
        [USB_FUNCTION_CONTENT_SECURITY] = "content_security",
        [USB_FUNCTION_VIDEO] = "video",
        [USB_FUNCTION_HEALTHCARE] = "healthcare",
        [USB_FUNCTION_AUDIO_VIDEO] = "audio_video",
        [USB_FUNCTION_BILLBOARD] = "billboard",
        [USB_FUNCTION_TYPE_C_BRIDGE] = "type_c_bridge",
        [USB_FUNCTION_DIAGNOSTIC] = "diagnostic",
        [USB_FUNCTION_WIRELESS] = "wireless",
        [USB_FUNCTION_MISC] = "misc",
        [USB_FUNCTION_APPLICATION] = "application",
        [USB_FUNCTION_PHONE_MTP] = "phone_mtp",
        [USB_FUNCTION_PHONE_ADB] = "phone_adb",
        [USB_FUNCTION_APPLE_USBMUX] = "apple_usbmux",
        [USB_FUNCTION_VENDOR] = "vendor",
        [USB_FUNCTION_UNKNOWN] = "unknown",
};

const char *usb_function_to_string(enum usb_function f)
{
        if ((unsigned)f >= _USB_FUNCTION_MAX)
                return "unknown";
        return function_names[f];
}

int usb_function_from_string(const char *s)
{
        if (!s)
                return -EINVAL;
        for (int i = 0; i < _USB_FUNCTION_MAX; i++)
                if (STREQ(s, function_names[i]))
                        return i;
        return -EINVAL;
}

static enum usb_function classify_vendor_specific(const struct usb_interface_desc *intf)
{
        if (intf->subclass == 0x42 && (intf->protocol == 0x01 || intf->protocol == 0x03))
                return USB_FUNCTION_PHONE_ADB;
        if (intf->subclass == 0xfe && intf->protocol == 0x02)
                return USB_FUNCTION_APPLE_USBMUX;
        /* The Android f_mtp gadget and its vendor variants: the PTP transport (one bulk pair
         * and an interrupt IN for events) behind a vendor-specific class. */
        if ((intf->subclass == 0xff || intf->subclass == 0x00) && intf->n_endpoints == 3 &&
            intf->n_bulk_in == 1 && intf->n_bulk_out == 1 && intf->n_interrupt_in == 1)
                return USB_FUNCTION_PHONE_MTP;
        return USB_FUNCTION_VENDOR;
}

enum usb_function usb_interface_classify(const struct usb_interface_desc *intf)
{
        switch (intf->class_code) {
        case 0x01: return USB_FUNCTION_AUDIO;
        case 0x02: return USB_FUNCTION_COMM;
        case 0x03: return USB_FUNCTION_HID;
        case 0x05: return USB_FUNCTION_PHYSICAL;
        case 0x06: return USB_FUNCTION_STILL_IMAGE;
        case 0x07: return USB_FUNCTION_PRINTER;
        case 0x08: return USB_FUNCTION_MASS_STORAGE;
        case 0x09: return USB_FUNCTION_HUB;
        case 0x0a: return USB_FUNCTION_CDC_DATA;
        case 0x0b: return USB_FUNCTION_SMART_CARD;
        case 0x0d: return USB_FUNCTION_CONTENT_SECURITY;
        case 0x0e: return USB_FUNCTION_VIDEO;
        case 0x0f: return USB_FUNCTION_HEALTHCARE;
        case 0x10: return USB_FUNCTION_AUDIO_VIDEO;
        case 0x11: return USB_FUNCTION_BILLBOARD;
        case 0x12: return USB_FUNCTION_TYPE_C_BRIDGE;
        case 0xdc: return USB_FUNCTION_DIAGNOSTIC;
        case 0xe0: return USB_FUNCTION_WIRELESS;
        case 0xef: return USB_FUNCTION_MISC;
        case 0xfe: return USB_FUNCTION_APPLICATION;
        case 0xff: return classify_vendor_specific(intf);
        default: return USB_FUNCTION_UNKNOWN; /* 00 on an interface, 04, 0c, reserved codes */
        }
}

void usb_class_triple(uint8_t class_code, uint8_t subclass, uint8_t protocol, char buf[static 9])
{
        snprintf(buf, 9, "%02x/%02x/%02x", class_code, subclass, protocol);
}

static uint16_t le16(const uint8_t *p)
{
        return (uint16_t)(p[0] | (p[1] << 8));
}

static int malformed(const char *what, size_t offset)
{
        log_debug("USB descriptors refused: %s at byte %zu", what, offset);
        return -EBADMSG;
}

/* Walks the descriptors inside one configuration (after its 9-byte header). */
static int parse_config_body(const uint8_t *p, size_t len, size_t base, uint8_t config_value,
                             struct usb_device_desc *dev)
{
        struct usb_interface_desc *cur = NULL;
        size_t off = 0;

        while (off < len) {
                if (len - off < 2)
                        return malformed("descriptor header cut short", base + off);
                uint8_t blen = p[off], type = p[off + 1];
                /* bLength 0 or 1 would never advance: a classic way to hang a parser. */
                if (blen < 2)
                        return malformed("descriptor length below 2", base + off);
                if (blen > len - off)
                        return malformed("descriptor runs past its configuration", base + off);

                switch (type) {
                case USB_DT_INTERFACE: {
                        if (blen < USB_DT_INTERFACE_SIZE)
                                return malformed("short interface descriptor", base + off);
                        if (cur)
                                cur->function = usb_interface_classify(cur);
                        if (dev->n_interfaces >= USB_MAX_INTERFACE_DESCS) {
                                log_debug("USB descriptors refused: more than %d interfaces",
                                          USB_MAX_INTERFACE_DESCS);
                                return -E2BIG;
                        }
                        cur = &dev->interfaces[dev->n_interfaces++];
                        *cur = (struct usb_interface_desc){
                                .config_value = config_value,
                                .number = p[off + 2],
                                .alt_setting = p[off + 3],
                                .class_code = p[off + 5],
                                .subclass = p[off + 6],
                                .protocol = p[off + 7],
                        };
                        break;
                }
                case USB_DT_ENDPOINT: {
                        if (blen < USB_DT_ENDPOINT_SIZE)
                                return malformed("short endpoint descriptor", base + off);
                        if (!cur)
                                return malformed("endpoint before any interface", base + off);
                        if (cur->n_endpoints == UINT8_MAX)
                                return malformed("too many endpoints", base + off);
                        uint8_t address = p[off + 2], xfer = p[off + 3] & USB_ENDPOINT_XFER_MASK;
                        bool in = address & USB_ENDPOINT_DIR_IN;
                        cur->n_endpoints++;
                        if (xfer == USB_ENDPOINT_XFER_BULK && in)
                                cur->n_bulk_in++;
                        else if (xfer == USB_ENDPOINT_XFER_BULK)
                                cur->n_bulk_out++;
                        else if (xfer == USB_ENDPOINT_XFER_INT && in)
                                cur->n_interrupt_in++;
                        break;
                }
                case USB_DT_DEVICE:
                case USB_DT_CONFIG:
                        /* A device or configuration descriptor nested in a configuration
                         * means the framing cannot be trusted. */
                        return malformed("device/configuration descriptor inside a configuration",
                                         base + off);
                default:
                        /* Class-specific (HID 21, CS_INTERFACE 24, CS_ENDPOINT 25),
                         * interface association 0b, SuperSpeed companions 30/31, ...:
                         * length-checked above and skipped. */
                        break;
                }
                off += blen;
        }
        if (cur)
                cur->function = usb_interface_classify(cur);
        return 0;
}

int usb_descriptors_parse(const void *data, size_t len, struct usb_device_desc *ret)
{
        const uint8_t *p = data;
        if (!p || len == 0)
                return -ENODATA;
        if (len < USB_DT_DEVICE_SIZE)
                return malformed("device descriptor cut short", 0);
        if (p[0] != USB_DT_DEVICE_SIZE || p[1] != USB_DT_DEVICE)
                return malformed("not a device descriptor", 0);

        /* Large (128 interface slots): built in place, copied out only on success. */
        _cleanup_free_ struct usb_device_desc *dev = calloc(1, sizeof *dev);
        if (!dev)
                return -ENOMEM;
        dev->bcd_usb = le16(p + 2);
        dev->device_class = p[4];
        dev->device_subclass = p[5];
        dev->device_protocol = p[6];
        dev->vendor_id = le16(p + 8);
        dev->product_id = le16(p + 10);
        dev->bcd_device = le16(p + 12);
        uint8_t n_configs = p[17];
        if (n_configs == 0)
                return malformed("no configuration", 17);
        if (n_configs > USB_MAX_CONFIGS)
                return malformed("more configurations than the kernel reads", 17);

        size_t off = USB_DT_DEVICE_SIZE;
        for (unsigned c = 0; c < n_configs; c++) {
                size_t left = len - off;
                if (left < USB_DT_CONFIG_SIZE)
                        return malformed("configuration missing or cut short", off);
                const uint8_t *cfg = p + off;
                if (cfg[1] != USB_DT_CONFIG)
                        return malformed("not a configuration descriptor", off);
                uint8_t blen = cfg[0];
                uint16_t total = le16(cfg + 2);
                if (blen < USB_DT_CONFIG_SIZE || total < blen)
                        return malformed("configuration length inconsistent", off);
                if (total > left)
                        return malformed("configuration runs past the end", off);
                uint8_t value = cfg[5];
                for (unsigned k = 0; k < c; k++)
                        if (dev->config_values[k] == value)
                                return malformed("two configurations with one value", off);
                dev->config_values[dev->n_configs++] = value;

                int r = parse_config_body(cfg + blen, total - blen, off + blen, value, dev);
                if (r < 0)
                        return r;
                off += total;
        }
        if (off != len)
                return malformed("trailing bytes after the last configuration", off);

        *ret = *dev;
        return 0;
}

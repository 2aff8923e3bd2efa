/* usb_descriptors.h — parsing a USB device's raw descriptors and naming what it does.
 *
 * The kernel exposes, in /sys/bus/usb/devices/<dev>/descriptors, the 18-byte device
 * descriptor followed by every configuration descriptor as the device sent it (each
 * wTotalLength bytes, holding its interface, endpoint and class-specific descriptors).
 * This file is readable while the device is still unauthorized, before any interface
 * exists, which is when the usb source decides. The bytes come from the device itself and
 * may be hostile (BadUSB): every length is checked against what is left, and anything that
 * does not add up is refused with -EBADMSG so the device stays blocked.
 *
 * Every alternate setting of every configuration is listed: a device may switch to another
 * configuration or alternate setting after it is authorized, so the decision must cover
 * all of them (usb_policy.h takes the most restrictive verdict per interface).
 *
 * Classification names the function an interface serves. Besides the standard class
 * codes it recognises what phones present in vendor-specific interfaces:
 *   - Android ADB ff/42/01 (and fastboot ff/42/03);
 *   - Apple usbmux ff/fe/02 (iTunes/Finder sync, backup, file access on iPhone/iPad);
 *   - MTP on a vendor-specific interface: the Android kernel gadget f_mtp announces
 *     ff/ff/00 (some vendors ff/00/00 or ff/ff/ff) with the PTP transport's endpoints,
 *     bulk IN + bulk OUT + interrupt IN; recent Android (FunctionFS MTP) and Samsung use
 *     the standard still-image class 06/01/01, which is classified as still_image. The
 *     "MTP" interface string is not part of the descriptors file, so the endpoint shape is
 *     what identifies it.
 */
#ifndef HOGO_AGENT_USB_DESCRIPTORS_H
#define HOGO_AGENT_USB_DESCRIPTORS_H

#include <stddef.h>
#include <stdint.h>

/* The kernel reads at most 8 configurations (USB_MAXCONFIG). */
#define USB_MAX_CONFIGS 8
/* Interface descriptors (all alternate settings of all configurations) kept per device;
 * a device announcing more is refused rather than partly judged. */
#define USB_MAX_INTERFACE_DESCS 128

#define USB_DT_DEVICE 0x01
#define USB_DT_CONFIG 0x02
#define USB_DT_INTERFACE 0x04
#define USB_DT_ENDPOINT 0x05

/* What an interface is for, from its class/subclass/protocol and, for vendor-specific
 * interfaces, its endpoints. The names (usb_function_to_string) are the ones policy and
 * events use. */
enum usb_function {
        USB_FUNCTION_AUDIO,            /* 01 */
        USB_FUNCTION_COMM,             /* 02 CDC control: modems, network */
        USB_FUNCTION_HID,              /* 03 keyboards, mice */
        USB_FUNCTION_PHYSICAL,         /* 05 */
        USB_FUNCTION_STILL_IMAGE,      /* 06 PTP cameras, MTP on phones */
        USB_FUNCTION_PRINTER,          /* 07 */
        USB_FUNCTION_MASS_STORAGE,     /* 08 */
        USB_FUNCTION_HUB,              /* 09 */
        USB_FUNCTION_CDC_DATA,         /* 0a */
        USB_FUNCTION_SMART_CARD,       /* 0b */
        USB_FUNCTION_CONTENT_SECURITY, /* 0d */
        USB_FUNCTION_VIDEO,            /* 0e */
        USB_FUNCTION_HEALTHCARE,       /* 0f */
        USB_FUNCTION_AUDIO_VIDEO,      /* 10 */
        USB_FUNCTION_BILLBOARD,        /* 11 */
        USB_FUNCTION_TYPE_C_BRIDGE,    /* 12 */
        USB_FUNCTION_DIAGNOSTIC,       /* dc */
        USB_FUNCTION_WIRELESS,         /* e0 bluetooth, RNDIS */
        USB_FUNCTION_MISC,             /* ef */
        USB_FUNCTION_APPLICATION,      /* fe DFU, IrDA, test and measurement */
        USB_FUNCTION_PHONE_MTP,        /* ff with the PTP transport's endpoints */
        USB_FUNCTION_PHONE_ADB,        /* ff/42/01 adb, ff/42/03 fastboot */
        USB_FUNCTION_APPLE_USBMUX,     /* ff/fe/02 */
        USB_FUNCTION_VENDOR,           /* any other ff */
        USB_FUNCTION_UNKNOWN,          /* a class code USB-IF has not assigned */
        _USB_FUNCTION_MAX,
};

const char *usb_function_to_string(enum usb_function f);
/* The enum value, or -EINVAL for a name that is not one of usb_function_to_string's. */
int usb_function_from_string(const char *s);

struct usb_interface_desc {
        uint8_t config_value; /* bConfigurationValue of the configuration holding it */
        uint8_t number;       /* bInterfaceNumber */
        uint8_t alt_setting;  /* bAlternateSetting */
        uint8_t class_code;
        uint8_t subclass;
        uint8_t protocol;
        uint8_t n_endpoints; /* endpoint descriptors that follow it */
        uint8_t n_bulk_in, n_bulk_out, n_interrupt_in;
        enum usb_function function;
};

struct usb_device_desc {
        uint16_t bcd_usb;
        uint8_t device_class, device_subclass, device_protocol;
        uint16_t vendor_id, product_id, bcd_device;
        uint8_t n_configs;
        uint8_t config_values[USB_MAX_CONFIGS];
        size_t n_interfaces;
        struct usb_interface_desc interfaces[USB_MAX_INTERFACE_DESCS];
};

/* Parses the contents of a sysfs `descriptors` file. Returns 0, -ENODATA when there is
 * nothing to parse, -EBADMSG when a length, type or count does not add up (the reason is
 * logged at debug level), -E2BIG beyond USB_MAX_INTERFACE_DESCS. A configuration without
 * any interface is valid (the device then has nothing to authorize). */
int usb_descriptors_parse(const void *data, size_t len, struct usb_device_desc *ret);

/* Names the function of one interface from its class triple and endpoint counts. */
enum usb_function usb_interface_classify(const struct usb_interface_desc *intf);

/* "08/06/50": a class triple as text; buf holds 9 bytes. */
void usb_class_triple(uint8_t class_code, uint8_t subclass, uint8_t protocol, char buf[static 9]);

#endif

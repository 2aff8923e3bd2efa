/* usb_decision.h — what a USB device may do under a policy: the pure decision of the usb
 * source.
 *
 * Input: the parsed descriptors (usb_descriptors.h), the serial the kernel read from the
 * device, this terminal's host name, the time, and the policy. Output: a verdict per
 * interface (config value + interface number, as the kernel names it `<dev>:<cfg>.<n>`):
 * authorize or not, read-only or not, and the rule that decided, plus whether the device
 * itself is authorized at all.
 *
 * Rules, in order:
 *   1. An interface whose function is storage-like — mass storage (08), still image / PTP /
 *      MTP (06), the vendor-specific phone interfaces (MTP on ff, ADB, Apple usbmux) — or
 *      whose class the policy names (removable_media.classes), or whose class code is not
 *      assigned at all, is *restricted*. Every other interface (HID, hub, audio, video,
 *      smart card, ...) is authorized by the class rule.
 *   2. Restricted interfaces are decided by media_allowlist_match() (policy.h): a registered
 *      medium or an exception for this terminal grants its access, otherwise the mode does.
 *      read_write authorizes them; read_only authorizes mass storage only, marked read-only
 *      (the source sets its block devices read-only) — PTP/MTP/ADB/usbmux cannot be made
 *      read-only, so they stay blocked; none blocks. In audit mode everything is authorized
 *      and what would have been blocked is recorded.
 *   3. An interface number is judged over all its alternate settings and authorized only
 *      when every one of them is: a device must not pass as a keyboard in alternate setting
 *      0 and switch to storage in setting 1.
 *   4. The device is authorized when at least one interface in any configuration is.
 *      Interfaces the decision does not list (the descriptors did not announce them) are
 *      never authorized.
 */
#ifndef HOGO_AGENT_USB_DECISION_H
#define HOGO_AGENT_USB_DECISION_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/usb_descriptors.h"
#include "policy/policy.h"

/* Why an interface got its verdict. */
enum usb_verdict_rule {
        USB_RULE_CLASS_ALLOWED,  /* not a restricted class */
        USB_RULE_MEDIA,          /* restricted; media_allowlist_match() decided (see media) */
        USB_RULE_NOT_READ_ONLY,  /* restricted, granted read-only, but cannot be read-only */
        _USB_VERDICT_RULE_MAX,
};
const char *usb_verdict_rule_to_string(enum usb_verdict_rule r);

struct usb_interface_verdict {
        uint8_t config_value;
        uint8_t number;
        /* The class triple and function that decided: the most restricted alternate
         * setting's (the first one when all are alike). */
        uint8_t class_code, subclass, protocol;
        enum usb_function function;
        bool restricted;
        bool authorize;
        bool read_only;
        bool audit_would_block; /* audit mode let it through; it would have been blocked */
        enum usb_verdict_rule rule;
};

enum usb_outcome {
        USB_OUTCOME_ALLOWED,   /* every interface authorized read-write */
        USB_OUTCOME_READ_ONLY, /* every interface authorized, storage read-only */
        USB_OUTCOME_BLOCKED,   /* at least one interface (or the whole device) blocked */
};
const char *usb_outcome_to_string(enum usb_outcome o);       /* "allowed", "read_only", "blocked" */
const char *usb_outcome_event_type(enum usb_outcome o);      /* "usb.allowed", ... */

struct usb_decision {
        enum usb_outcome outcome;
        bool authorize_device;
        bool audit; /* mode audit let something through that would have been blocked */
        bool descriptors_valid;
        int descriptors_error; /* -errno from the parser when !descriptors_valid */
        bool media_consulted;  /* some interface was restricted: media holds the match */
        struct media_decision media;
        /* The rule that decided the device, for events and `hogoctl media list`:
         * "class", "removable_media.allow[2]", "removable_media.mode", "descriptors". */
        char rule[64];
        const char *registration_no; /* of the matching allow entry (points into the policy) */
        size_t n_interfaces;
        struct usb_interface_verdict interfaces[USB_MAX_INTERFACE_DESCS];
};

/* Decides one device. serial may be NULL (no iSerial); terminal is this host's name. */
void usb_decide(const struct policy *p, const struct usb_device_desc *desc, const char *serial,
                const char *terminal, int64_t now, struct usb_decision *ret);

/* The decision for a device whose descriptors could not be read or parsed (error is the
 * -errno): nothing is authorized. */
void usb_decide_unreadable(int error, struct usb_decision *ret);

/* The verdict for the interface the kernel names `<dev>:<config_value>.<number>`, or NULL
 * when the descriptors did not announce it (it must then stay unauthorized). */
const struct usb_interface_verdict *usb_decision_find(const struct usb_decision *d,
                                                      uint8_t config_value, uint8_t number);

/* Adds the decision's members to an event's details: outcome, rule, registration_no,
 * mode, audit, interfaces [{"interface": "1.0", "class": "08/06/50", "function":
 * "mass_storage", "authorized": false, "read_only": false}]. */
int usb_decision_to_json(const struct usb_decision *d, const struct policy *p,
                         json_object *details);

#endif

/* usb_decision.c — see usb_decision.h. Pure: the policy's matching helpers do the
 * allowlist and exception work, this file applies them per interface. */
#include "agent/usb_decision.h"

#include <stdio.h>
#include <string.h>

#include "common/canon_json.h"
#include "common/util.h"

const char *usb_verdict_rule_to_string(enum usb_verdict_rule r)
{
        switch (r) {
        case USB_RULE_CLASS_ALLOWED: return "class";
        case USB_RULE_MEDIA: return "media";
        case USB_RULE_NOT_READ_ONLY: return "not_read_only_capable";
        default: return "unknown";
        }
}

const char *usb_outcome_to_string(enum usb_outcome o)
{
        switch (o) {
        case USB_OUTCOME_ALLOWED: return "allowed";
        case USB_OUTCOME_READ_ONLY: return "read_only";
        default: return "blocked";
        }
}

const char *usb_outcome_event_type(enum usb_outcome o)
{
        switch (o) {
        case USB_OUTCOME_ALLOWED: return "usb.allowed";
        case USB_OUTCOME_READ_ONLY: return "usb.read_only";
        default: return "usb.blocked";
        }
}

/* Functions that can carry files off the terminal, whatever the policy lists. */
static bool function_restricted(enum usb_function f)
{
        switch (f) {
        case USB_FUNCTION_MASS_STORAGE:
        case USB_FUNCTION_STILL_IMAGE:
        case USB_FUNCTION_PHONE_MTP:
        case USB_FUNCTION_PHONE_ADB:
        case USB_FUNCTION_APPLE_USBMUX:
        case USB_FUNCTION_UNKNOWN: /* unassigned class code: nothing vouches for it */
                return true;
        default:
                return false;
        }
}

/* One alternate setting's verdict. */
static void judge_alt(const struct policy *p, const struct usb_interface_desc *alt,
                      const struct media_decision *media, struct usb_interface_verdict *v)
{
        *v = (struct usb_interface_verdict){
                .config_value = alt->config_value,
                .number = alt->number,
                .class_code = alt->class_code,
                .subclass = alt->subclass,
                .protocol = alt->protocol,
                .function = alt->function,
                .restricted = function_restricted(alt->function) ||
                              policy_media_class_blocked(p, alt->class_code),
        };
        if (!v->restricted) {
                v->authorize = true;
                v->rule = USB_RULE_CLASS_ALLOWED;
                return;
        }
        v->rule = USB_RULE_MEDIA;
        switch (media->access) {
        case MEDIA_ACCESS_READ_WRITE:
                v->authorize = true;
                break;
        case MEDIA_ACCESS_READ_ONLY:
                /* Only a block device can be held read-only by the kernel. */
                if (alt->function == USB_FUNCTION_MASS_STORAGE) {
                        v->authorize = true;
                        v->read_only = true;
                } else
                        v->rule = USB_RULE_NOT_READ_ONLY;
                break;
        default:
                break;
        }
        /* What the policy itself would have done, for audit mode's record. */
        if (media->audit_only && (media->policy_access == MEDIA_ACCESS_NONE ||
                                  (media->policy_access == MEDIA_ACCESS_READ_ONLY &&
                                   alt->function != USB_FUNCTION_MASS_STORAGE)))
                v->audit_would_block = true;
}

/* Ranks verdicts: the one that grants less wins when merging alternate settings. */
static int verdict_strictness(const struct usb_interface_verdict *v)
{
        if (!v->authorize)
                return 3;
        if (v->read_only)
                return 2;
        if (v->restricted)
                return 1;
        return 0;
}

static struct usb_interface_verdict *find_mut(struct usb_decision *d, uint8_t config_value,
                                              uint8_t number)
{
        for (size_t i = 0; i < d->n_interfaces; i++)
                if (d->interfaces[i].config_value == config_value &&
                    d->interfaces[i].number == number)
                        return &d->interfaces[i];
        return NULL;
}

const struct usb_interface_verdict *usb_decision_find(const struct usb_decision *d,
                                                      uint8_t config_value, uint8_t number)
{
        return find_mut((struct usb_decision *)d, config_value, number);
}

void usb_decide(const struct policy *p, const struct usb_device_desc *desc, const char *serial,
                const char *terminal, int64_t now, struct usb_decision *ret)
{
        memset(ret, 0, sizeof *ret);
        ret->descriptors_valid = true;

        bool any_restricted = false;
        for (size_t i = 0; i < desc->n_interfaces; i++) {
                const struct usb_interface_desc *alt = &desc->interfaces[i];
                if (function_restricted(alt->function) ||
                    policy_media_class_blocked(p, alt->class_code))
                        any_restricted = true;
        }
        if (any_restricted) {
                media_allowlist_match(p, desc->vendor_id, desc->product_id, serial, terminal,
                                      now, &ret->media);
                ret->media_consulted = true;
        }

        bool any_blocked = false, any_read_only = false;
        for (size_t i = 0; i < desc->n_interfaces; i++) {
                struct usb_interface_verdict v;
                judge_alt(p, &desc->interfaces[i], &ret->media, &v);
                struct usb_interface_verdict *slot = find_mut(ret, v.config_value, v.number);
                if (!slot)
                        ret->interfaces[ret->n_interfaces++] = v;
                else if (verdict_strictness(&v) > verdict_strictness(slot))
                        *slot = v;
                else
                        slot->audit_would_block |= v.audit_would_block;
        }
        for (size_t i = 0; i < ret->n_interfaces; i++) {
                const struct usb_interface_verdict *v = &ret->interfaces[i];
                ret->authorize_device |= v->authorize;
                any_blocked |= !v->authorize;
                any_read_only |= v->read_only;
                ret->audit |= v->audit_would_block;
        }

        if (any_blocked || !ret->authorize_device)
                ret->outcome = USB_OUTCOME_BLOCKED;
        else if (any_read_only)
                ret->outcome = USB_OUTCOME_READ_ONLY;
        else
                ret->outcome = USB_OUTCOME_ALLOWED;

        if (ret->media_consulted) {
                snprintf(ret->rule, sizeof ret->rule, "%s", ret->media.rule_path);
                if (ret->media.rule == MEDIA_RULE_ALLOW || ret->media.rule == MEDIA_RULE_ALLOW_EXPIRED)
                        ret->registration_no = p->removable_media.allow[ret->media.index].registration_no;
        } else
                snprintf(ret->rule, sizeof ret->rule, "class");
}

void usb_decide_unreadable(int error, struct usb_decision *ret)
{
        memset(ret, 0, sizeof *ret);
        ret->outcome = USB_OUTCOME_BLOCKED;
        ret->descriptors_error = error;
        snprintf(ret->rule, sizeof ret->rule, "descriptors");
}

int usb_decision_to_json(const struct usb_decision *d, const struct policy *p,
                         json_object *details)
{
        json_object_object_add(details, "outcome",
                               json_object_new_string(usb_outcome_to_string(d->outcome)));
        json_object_object_add(details, "rule", json_object_new_string(d->rule));
        json_object_object_add(details, "mode",
                               json_object_new_string(policy_media_mode_to_string(p->removable_media.mode)));
        /* the rule path alone reads the same for a grant and for the entry that ended */
        if (d->media_consulted && d->media.rule != MEDIA_RULE_MODE)
                json_object_object_add(details, "media_rule",
                                       json_object_new_string(media_rule_to_string(d->media.rule)));
        if (d->registration_no)
                json_object_object_add(details, "registration_no",
                                       json_object_new_string(d->registration_no));
        if (d->media_consulted && d->media.rule == MEDIA_RULE_EXCEPTION) {
                const struct policy_media_exception *e = &p->removable_media.exceptions[d->media.index];
                json_object_object_add(details, "approver", json_object_new_string(e->approver));
                json_object_object_add(details, "reason", json_object_new_string(e->reason));
        }
        if (d->media_consulted && d->media.valid_until > 0)
                json_object_object_add(details, "valid_until",
                                       json_object_new_int64(d->media.valid_until));
        if (d->audit)
                json_object_object_add(details, "audit", json_object_new_boolean(true));
        if (!d->descriptors_valid)
                json_object_object_add(details, "error",
                                       json_object_new_string(strerror(-d->descriptors_error)));

        json_object *arr = json_object_new_array();
        if (!arr)
                return -ENOMEM;
        json_object_object_add(details, "interfaces", arr);
        for (size_t i = 0; i < d->n_interfaces; i++) {
                const struct usb_interface_verdict *v = &d->interfaces[i];
                char name[16], triple[9];
                snprintf(name, sizeof name, "%u.%u", v->config_value, v->number);
                usb_class_triple(v->class_code, v->subclass, v->protocol, triple);
                json_object *o = json_object_new_object();
                if (!o)
                        return -ENOMEM;
                json_object_object_add(o, "interface", json_object_new_string(name));
                json_object_object_add(o, "class", json_object_new_string(triple));
                json_object_object_add(o, "function",
                                       json_object_new_string(usb_function_to_string(v->function)));
                json_object_object_add(o, "authorized", json_object_new_boolean(v->authorize));
                json_object_object_add(o, "read_only", json_object_new_boolean(v->read_only));
                if (v->audit_would_block)
                        json_object_object_add(o, "audit_would_block", json_object_new_boolean(true));
                if (!v->authorize && v->rule == USB_RULE_NOT_READ_ONLY)
                        json_object_object_add(o, "why", json_object_new_string(usb_verdict_rule_to_string(v->rule)));
                json_object_array_add(arr, o);
        }
        return 0;
}

/* test_usb.c — the USB descriptor parser and the per-interface decision.
 *
 * Devices come from the recordings in tests/usb/<name>.umockdev (the same bytes the integration
 * test plugs in), so parser, decision and the running agent are judged on one set of real
 * descriptors. Hostile input: every truncation of every recording, hand-made malformed
 * descriptors and a deterministic stream of random mutations.
 */
#include <endian.h>
#include <stdint.h>
#include <string.h>

#include "agent/uevent.h"
#include "agent/usb_decision.h"
#include "agent/usb_descriptors.h"
#include "agent/usb_sysfs.h"
#include "common/canon_json.h"
#include "common/fileio.h"
#include "common/util.h"
#include "tests/unit/unit.h"

#define TERMINAL "pc-soumu-01"
#define NOW ((int64_t)1795000000) /* 2026-11-18 */

/* ---- fixtures ------------------------------------------------------------------------ */

static int hex_value(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* The descriptors of the first device in tests/usb/<name>.umockdev. */
static size_t load_recording(const char *name, uint8_t *buf, size_t size)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        CU_ASSERT_FATAL(asprintf(&path, "tests/usb/%s.umockdev", name) > 0);
        CU_ASSERT_EQUAL_FATAL(read_file_bounded(path, 1 << 20, &text, NULL), 0);
        const char *h = strstr(text, "\nH: descriptors=");
        CU_ASSERT_PTR_NOT_NULL_FATAL(h);
        h += strlen("\nH: descriptors=");
        size_t n = 0;
        while (hex_value(h[0]) >= 0 && hex_value(h[1]) >= 0) {
                CU_ASSERT_FATAL(n < size);
                buf[n++] = (uint8_t)(hex_value(h[0]) << 4 | hex_value(h[1]));
                h += 2;
        }
        return n;
}

static struct usb_device_desc *parse_recording(const char *name)
{
        static uint8_t buf[4096];
        static struct usb_device_desc dev;
        size_t n = load_recording(name, buf, sizeof buf);
        CU_ASSERT_EQUAL_FATAL(usb_descriptors_parse(buf, n, &dev), 0);
        return &dev;
}

/* A policy built field by field: the decision is tested apart from the JSON parser. */
struct test_policy {
        struct policy p;
        struct policy_media_allow allow[2];
        struct policy_media_exception exc[1];
        char *terminals[1];
        uint8_t classes[2];
};

static struct policy *policy_block(struct test_policy *t, enum policy_media_mode mode)
{
        memset(t, 0, sizeof *t);
        t->p.version = 1;
        t->p.name = (char *)"test";
        t->p.removable_media.mode = mode;
        return &t->p;
}

static void register_stick(struct test_policy *t, enum media_access access, int64_t valid_until)
{
        t->allow[0] = (struct policy_media_allow){
                .vendor = 0x0951,
                .product = 0x1666,
                .serial = (char *)"60A44C3FAE57B0B1A9F2001F",
                .access = access,
                .registration_no = (char *)"総務-2026-014",
                .holder = (char *)"総務課",
                .valid_until = valid_until,
        };
        t->p.removable_media.allow = t->allow;
        t->p.removable_media.n_allow = 1;
}

static struct usb_decision decision;

static const struct usb_interface_verdict *verdict(uint8_t config, uint8_t number)
{
        const struct usb_interface_verdict *v = usb_decision_find(&decision, config, number);
        CU_ASSERT_PTR_NOT_NULL_FATAL(v);
        return v;
}

/* ---- parser ---------------------------------------------------------------------------- */

static void test_parse_stick(void)
{
        struct usb_device_desc *d = parse_recording("stick");
        CU_ASSERT_EQUAL(d->vendor_id, 0x0781);
        CU_ASSERT_EQUAL(d->product_id, 0x5581);
        CU_ASSERT_EQUAL(d->bcd_usb, 0x0200);
        CU_ASSERT_EQUAL(d->n_configs, 1);
        CU_ASSERT_EQUAL(d->config_values[0], 1);
        CU_ASSERT_EQUAL_FATAL(d->n_interfaces, 1);
        CU_ASSERT_EQUAL(d->interfaces[0].class_code, 0x08);
        CU_ASSERT_EQUAL(d->interfaces[0].subclass, 0x06);
        CU_ASSERT_EQUAL(d->interfaces[0].protocol, 0x50);
        CU_ASSERT_EQUAL(d->interfaces[0].n_bulk_in, 1);
        CU_ASSERT_EQUAL(d->interfaces[0].n_bulk_out, 1);
        CU_ASSERT_EQUAL(d->interfaces[0].function, USB_FUNCTION_MASS_STORAGE);
}

static void test_parse_superspeed_stick_skips_companions(void)
{
        struct usb_device_desc *d = parse_recording("registered-stick");
        CU_ASSERT_EQUAL(d->bcd_usb, 0x0300);
        CU_ASSERT_EQUAL_FATAL(d->n_interfaces, 1);
        CU_ASSERT_EQUAL(d->interfaces[0].n_endpoints, 2);
        CU_ASSERT_EQUAL(d->interfaces[0].function, USB_FUNCTION_MASS_STORAGE);
}

static void test_parse_keyboard_skips_hid_descriptors(void)
{
        struct usb_device_desc *d = parse_recording("keyboard");
        CU_ASSERT_EQUAL(d->vendor_id, 0x05f3);
        CU_ASSERT_EQUAL_FATAL(d->n_interfaces, 2);
        for (size_t i = 0; i < 2; i++) {
                CU_ASSERT_EQUAL(d->interfaces[i].number, i);
                CU_ASSERT_EQUAL(d->interfaces[i].function, USB_FUNCTION_HID);
                CU_ASSERT_EQUAL(d->interfaces[i].n_endpoints, 1);
        }
        CU_ASSERT_EQUAL(d->interfaces[0].protocol, 0x01); /* boot keyboard */
}

static void test_parse_phones(void)
{
        struct usb_device_desc *d = parse_recording("phone-mtp");
        CU_ASSERT_EQUAL_FATAL(d->n_interfaces, 1);
        CU_ASSERT_EQUAL(d->interfaces[0].class_code, 0xff);
        CU_ASSERT_EQUAL(d->interfaces[0].function, USB_FUNCTION_PHONE_MTP);

        d = parse_recording("phone-adb");
        CU_ASSERT_EQUAL_FATAL(d->n_interfaces, 2);
        CU_ASSERT_EQUAL(d->interfaces[0].function, USB_FUNCTION_STILL_IMAGE);
        CU_ASSERT_EQUAL(d->interfaces[1].function, USB_FUNCTION_PHONE_ADB);

        d = parse_recording("iphone");
        CU_ASSERT_EQUAL(d->n_configs, 4);
        /* 1: PTP; 2: audio control, streaming alt 0 + 1, HID; 3: PTP, usbmux;
         * 4: PTP, usbmux, Ethernet alt 0 + 1 */
        CU_ASSERT_EQUAL_FATAL(d->n_interfaces, 11);
        size_t usbmux = 0, ptp = 0;
        for (size_t i = 0; i < d->n_interfaces; i++) {
                usbmux += d->interfaces[i].function == USB_FUNCTION_APPLE_USBMUX;
                ptp += d->interfaces[i].function == USB_FUNCTION_STILL_IMAGE;
        }
        CU_ASSERT_EQUAL(usbmux, 2);
        CU_ASSERT_EQUAL(ptp, 3);
        /* the 9-byte isochronous audio endpoint of configuration 2 */
        CU_ASSERT_EQUAL(d->interfaces[3].config_value, 2);
        CU_ASSERT_EQUAL(d->interfaces[3].alt_setting, 1);
        CU_ASSERT_EQUAL(d->interfaces[3].n_endpoints, 1);
}

static void test_parse_camera_and_hub(void)
{
        /* Canon PowerShot SX200 IS (umockdev devices/cameras), PTP 06/01/01 */
        static const uint8_t canon[] = {
                0x12, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x40, 0xa9, 0x04, 0xc0, 0x31, 0x02, 0x00,
                0x01, 0x02, 0x03, 0x01, 0x09, 0x02, 0x27, 0x00, 0x01, 0x01, 0x00, 0xc0, 0x01, 0x09,
                0x04, 0x00, 0x00, 0x03, 0x06, 0x01, 0x01, 0x00, 0x07, 0x05, 0x81, 0x02, 0x00, 0x02,
                0x00, 0x07, 0x05, 0x02, 0x02, 0x00, 0x02, 0x00, 0x07, 0x05, 0x83, 0x03, 0x08, 0x00,
                0x09,
        };
        struct usb_device_desc d;
        CU_ASSERT_EQUAL_FATAL(usb_descriptors_parse(canon, sizeof canon, &d), 0);
        CU_ASSERT_EQUAL(d.interfaces[0].function, USB_FUNCTION_STILL_IMAGE);

        struct usb_device_desc *hub = parse_recording("hub");
        CU_ASSERT_EQUAL(hub->device_class, 0x09);
        CU_ASSERT_EQUAL_FATAL(hub->n_interfaces, 2); /* single-TT and multi-TT settings */
        CU_ASSERT_EQUAL(hub->interfaces[1].alt_setting, 1);
        CU_ASSERT_EQUAL(hub->interfaces[1].function, USB_FUNCTION_HUB);
}

static void test_function_names_roundtrip(void)
{
        for (int f = 0; f < _USB_FUNCTION_MAX; f++)
                CU_ASSERT_EQUAL(usb_function_from_string(usb_function_to_string(f)), f);
        CU_ASSERT_EQUAL(usb_function_from_string("floppy"), -EINVAL);
        CU_ASSERT_EQUAL(usb_function_from_string(NULL), -EINVAL);
        char triple[9];
        usb_class_triple(0xff, 0x42, 0x01, triple);
        CU_ASSERT_STRING_EQUAL(triple, "ff/42/01");
}

/* ---- hostile input ----------------------------------------------------------------------- */

static const char *const recordings[] = {
        "stick", "keyboard", "phone-mtp", "phone-adb", "composite", "hub", "registered-stick", "iphone",
};

static void test_every_truncation_is_refused(void)
{
        uint8_t buf[4096];
        struct usb_device_desc d;
        for (size_t r = 0; r < ELEMENTSOF(recordings); r++) {
                size_t n = load_recording(recordings[r], buf, sizeof buf);
                for (size_t cut = 0; cut < n; cut++) {
                        int k = usb_descriptors_parse(buf, cut, &d);
                        if (k == 0)
                                fprintf(stderr, "%s: prefix of %zu bytes accepted\n", recordings[r], cut);
                        CU_ASSERT(k < 0);
                }
                /* one byte too many is refused as well */
                buf[n] = 0;
                CU_ASSERT_EQUAL(usb_descriptors_parse(buf, n + 1, &d), -EBADMSG);
        }
        CU_ASSERT_EQUAL(usb_descriptors_parse(NULL, 0, &d), -ENODATA);
        CU_ASSERT_EQUAL(usb_descriptors_parse(buf, 0, &d), -ENODATA);
}

/* A storage stick's descriptors with one byte changed. */
static int parse_stick_with(size_t offset, uint8_t value)
{
        uint8_t buf[4096];
        size_t n = load_recording("stick", buf, sizeof buf);
        CU_ASSERT_FATAL(offset < n);
        buf[offset] = value;
        struct usb_device_desc d;
        return usb_descriptors_parse(buf, n, &d);
}

static void test_malformed_descriptors(void)
{
        /* stick layout: device 0..17, config 18..26, interface 27..35, endpoints 36.., 43.. */
        CU_ASSERT_EQUAL(parse_stick_with(0, 0x11), -EBADMSG);  /* device bLength */
        CU_ASSERT_EQUAL(parse_stick_with(1, 0x02), -EBADMSG);  /* device type */
        CU_ASSERT_EQUAL(parse_stick_with(17, 0), -EBADMSG);    /* no configuration */
        CU_ASSERT_EQUAL(parse_stick_with(17, 9), -EBADMSG);    /* more than the kernel reads */
        CU_ASSERT_EQUAL(parse_stick_with(17, 2), -EBADMSG);    /* second configuration missing */
        CU_ASSERT_EQUAL(parse_stick_with(18, 8), -EBADMSG);    /* config bLength < 9 */
        CU_ASSERT_EQUAL(parse_stick_with(19, 0x04), -EBADMSG); /* not a configuration */
        CU_ASSERT_EQUAL(parse_stick_with(20, 0x08), -EBADMSG); /* wTotalLength < bLength */
        CU_ASSERT_EQUAL(parse_stick_with(20, 0xff), -EBADMSG); /* wTotalLength past the end */
        CU_ASSERT_EQUAL(parse_stick_with(27, 0), -EBADMSG);    /* bLength 0 would loop */
        CU_ASSERT_EQUAL(parse_stick_with(27, 1), -EBADMSG);
        CU_ASSERT_EQUAL(parse_stick_with(27, 8), -EBADMSG);    /* short interface ... */
        CU_ASSERT_EQUAL(parse_stick_with(27, 0x30), -EBADMSG); /* runs past its configuration */
        CU_ASSERT_EQUAL(parse_stick_with(36, 6), -EBADMSG);    /* short endpoint */
        CU_ASSERT_EQUAL(parse_stick_with(28, 0x02), -EBADMSG); /* nested configuration */
        CU_ASSERT_EQUAL(parse_stick_with(28, 0x01), -EBADMSG); /* nested device */
        /* the interface turned into a class-specific descriptor: endpoints float */
        CU_ASSERT_EQUAL(parse_stick_with(28, 0x24), -EBADMSG);
        /* unchanged it parses */
        CU_ASSERT_EQUAL(parse_stick_with(0, 0x12), 0);
}

static void test_too_many_interfaces_refused(void)
{
        /* one configuration of 200 empty alternate settings: 9 + 200 * 9 bytes */
        static uint8_t buf[18 + 9 + 200 * 9];
        memcpy(buf, (const uint8_t[]){ 0x12, 0x01, 0x00, 0x02, 0, 0, 0, 0x40, 0x34, 0x12, 0x78,
                                       0x56, 0x00, 0x01, 0, 0, 0, 0x01 },
               18);
        size_t total = 9 + 200 * 9;
        memcpy(buf + 18, (const uint8_t[]){ 0x09, 0x02, total & 0xff, total >> 8, 1, 1, 0, 0x80, 50 }, 9);
        for (size_t i = 0; i < 200; i++)
                memcpy(buf + 27 + i * 9, (const uint8_t[]){ 9, 4, 0, (uint8_t)i, 0, 3, 1, 1, 0 }, 9);
        struct usb_device_desc d;
        CU_ASSERT_EQUAL(usb_descriptors_parse(buf, sizeof buf, &d), -E2BIG);
}

/* xorshift: the same stream every run, so a failure reproduces. */
static uint32_t rng_state = 0x9e3779b9;
static uint32_t rng(void)
{
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 17;
        rng_state ^= rng_state << 5;
        return rng_state;
}

static void test_random_mutations_never_crash(void)
{
        uint8_t orig[4096], buf[4096];
        struct usb_device_desc d;
        unsigned accepted = 0;
        for (size_t r = 0; r < ELEMENTSOF(recordings); r++) {
                size_t n = load_recording(recordings[r], orig, sizeof orig);
                for (int iter = 0; iter < 3000; iter++) {
                        memcpy(buf, orig, n);
                        int flips = 1 + rng() % 4;
                        for (int k = 0; k < flips; k++)
                                buf[rng() % n] = (uint8_t)rng();
                        size_t len = (rng() % 8 == 0) ? rng() % (n + 1) : n;
                        if (usb_descriptors_parse(buf, len, &d) == 0) {
                                accepted++;
                                /* whatever is accepted is within the device's bounds */
                                CU_ASSERT(d.n_interfaces <= USB_MAX_INTERFACE_DESCS);
                                CU_ASSERT(d.n_configs >= 1 && d.n_configs <= USB_MAX_CONFIGS);
                                for (size_t i = 0; i < d.n_interfaces; i++)
                                        CU_ASSERT(d.interfaces[i].function < _USB_FUNCTION_MAX);
                        }
                }
        }
        /* mutations of class codes and ids still parse: the test did exercise acceptance */
        CU_ASSERT(accepted > 0);
}

/* ---- decision ---------------------------------------------------------------------------- */

static void decide(const struct policy *p, const char *recording, const char *serial)
{
        usb_decide(p, parse_recording(recording), serial, TERMINAL, NOW, &decision);
}

static void test_default_policy_blocks_storage_and_phones(void)
{
        struct test_policy t;
        struct policy *p = policy_block(&t, POLICY_MEDIA_BLOCK);

        decide(p, "stick", "4C530001230915104273");
        CU_ASSERT_EQUAL(decision.outcome, USB_OUTCOME_BLOCKED);
        CU_ASSERT_FALSE(decision.authorize_device);
        CU_ASSERT_FALSE(verdict(1, 0)->authorize);
        CU_ASSERT_STRING_EQUAL(decision.rule, "removable_media.mode");

        decide(p, "phone-mtp", "0123456789ABCDEF");
        CU_ASSERT_EQUAL(decision.outcome, USB_OUTCOME_BLOCKED);
        CU_ASSERT_FALSE(decision.authorize_device);

        decide(p, "phone-adb", "2A111FDH2009XY");
        CU_ASSERT_FALSE(decision.authorize_device);
        CU_ASSERT_FALSE(verdict(1, 0)->authorize);
        CU_ASSERT_FALSE(verdict(1, 1)->authorize);
        CU_ASSERT_EQUAL(verdict(1, 1)->function, USB_FUNCTION_PHONE_ADB);

        /* the iPhone keeps its iPod audio/HID configuration, never PTP or usbmux */
        decide(p, "iphone", "00008030001A2D3E0C41802E");
        CU_ASSERT_EQUAL(decision.outcome, USB_OUTCOME_BLOCKED);
        CU_ASSERT_TRUE(decision.authorize_device);
        CU_ASSERT_FALSE(verdict(1, 0)->authorize);
        CU_ASSERT_TRUE(verdict(2, 0)->authorize);
        CU_ASSERT_TRUE(verdict(2, 2)->authorize);
        CU_ASSERT_FALSE(verdict(3, 1)->authorize);
        CU_ASSERT_EQUAL(verdict(3, 1)->function, USB_FUNCTION_APPLE_USBMUX);
        CU_ASSERT_FALSE(verdict(4, 0)->authorize);
        CU_ASSERT_PTR_NULL(usb_decision_find(&decision, 1, 1)); /* not announced */
}

static void test_default_policy_allows_keyboard_and_hub(void)
{
        struct test_policy t;
        struct policy *p = policy_block(&t, POLICY_MEDIA_BLOCK);

        decide(p, "keyboard", NULL);
        CU_ASSERT_EQUAL(decision.outcome, USB_OUTCOME_ALLOWED);
        CU_ASSERT_TRUE(decision.authorize_device);
        CU_ASSERT_TRUE(verdict(1, 0)->authorize);
        CU_ASSERT_TRUE(verdict(1, 1)->authorize);
        CU_ASSERT_EQUAL(verdict(1, 0)->rule, USB_RULE_CLASS_ALLOWED);
        CU_ASSERT_STRING_EQUAL(decision.rule, "class");
        CU_ASSERT_FALSE(decision.media_consulted);

        decide(p, "hub", NULL);
        CU_ASSERT_EQUAL(decision.outcome, USB_OUTCOME_ALLOWED);
        CU_ASSERT_EQUAL(decision.n_interfaces, 1); /* both settings judged as one */
}

static void test_composite_gets_its_keyboard_only(void)
{
        struct test_policy t;
        struct policy *p = policy_block(&t, POLICY_MEDIA_BLOCK);
        decide(p, "composite", "20231116A");
        CU_ASSERT_EQUAL(decision.outcome, USB_OUTCOME_BLOCKED);
        CU_ASSERT_TRUE(decision.authorize_device);
        CU_ASSERT_TRUE(verdict(1, 0)->authorize);
        CU_ASSERT_FALSE(verdict(1, 1)->authorize);
        CU_ASSERT_EQUAL(verdict(1, 1)->function, USB_FUNCTION_MASS_STORAGE);
}

static void test_alternate_setting_cannot_smuggle_storage(void)
{
        /* interface 0: alternate setting 0 a keyboard, setting 1 mass storage */
        static const uint8_t dev[] = {
                0x12, 0x01, 0x00, 0x02, 0, 0, 0, 0x40, 0x34, 0x12, 0x78, 0x56, 0x00, 0x01, 1, 2, 3, 1,
                0x09, 0x02, 0x30, 0x00, 0x01, 0x01, 0x00, 0x80, 0x32,
                0x09, 0x04, 0x00, 0x00, 0x01, 0x03, 0x01, 0x01, 0x00,
                0x07, 0x05, 0x81, 0x03, 0x08, 0x00, 0x0a,
                0x09, 0x04, 0x00, 0x01, 0x02, 0x08, 0x06, 0x50, 0x00,
                0x07, 0x05, 0x82, 0x02, 0x00, 0x02, 0x00,
                0x07, 0x05, 0x03, 0x02, 0x00, 0x02, 0x00,
        };
        struct usb_device_desc d;
        CU_ASSERT_EQUAL_FATAL(usb_descriptors_parse(dev, sizeof dev, &d), 0);
        struct test_policy t;
        usb_decide(policy_block(&t, POLICY_MEDIA_BLOCK), &d, "X", TERMINAL, NOW, &decision);
        CU_ASSERT_FALSE(decision.authorize_device);
        CU_ASSERT_FALSE(verdict(1, 0)->authorize);
        CU_ASSERT_EQUAL(verdict(1, 0)->function, USB_FUNCTION_MASS_STORAGE);
}

static void test_registered_stick(void)
{
        struct test_policy t;
        struct policy *p = policy_block(&t, POLICY_MEDIA_BLOCK);

        register_stick(&t, MEDIA_ACCESS_READ_ONLY, 0);
        decide(p, "registered-stick", "60A44C3FAE57B0B1A9F2001F");
        CU_ASSERT_EQUAL(decision.outcome, USB_OUTCOME_READ_ONLY);
        CU_ASSERT_TRUE(decision.authorize_device);
        CU_ASSERT_TRUE(verdict(1, 0)->authorize);
        CU_ASSERT_TRUE(verdict(1, 0)->read_only);
        CU_ASSERT_STRING_EQUAL(decision.rule, "removable_media.allow[0]");
        CU_ASSERT_PTR_NOT_NULL_FATAL(decision.registration_no);
        CU_ASSERT_STRING_EQUAL(decision.registration_no, "総務-2026-014");

        register_stick(&t, MEDIA_ACCESS_READ_WRITE, 0);
        decide(p, "registered-stick", "60A44C3FAE57B0B1A9F2001F");
        CU_ASSERT_EQUAL(decision.outcome, USB_OUTCOME_ALLOWED);
        CU_ASSERT_FALSE(verdict(1, 0)->read_only);

        /* another serial, no serial: the registration does not apply */
        decide(p, "registered-stick", "60A44C3FAE57B0B1A9F2001E");
        CU_ASSERT_FALSE(decision.authorize_device);
        decide(p, "registered-stick", NULL);
        CU_ASSERT_FALSE(decision.authorize_device);
        decide(p, "registered-stick", "");
        CU_ASSERT_FALSE(decision.authorize_device);

        /* expired at the end of the fiscal year: blocked, and the event says which entry */
        register_stick(&t, MEDIA_ACCESS_READ_WRITE, NOW - 1);
        decide(p, "registered-stick", "60A44C3FAE57B0B1A9F2001F");
        CU_ASSERT_FALSE(decision.authorize_device);
        CU_ASSERT_EQUAL(decision.media.rule, MEDIA_RULE_ALLOW_EXPIRED);
        CU_ASSERT_STRING_EQUAL(decision.rule, "removable_media.allow[0]");
        /* the path reads as for a grant: the event says the entry ended */
        _cleanup_json_ json_object *details = json_object_new_object();
        CU_ASSERT_EQUAL(usb_decision_to_json(&decision, p, details), 0);
        json_object *why = NULL;
        CU_ASSERT_TRUE(json_object_object_get_ex(details, "media_rule", &why));
        CU_ASSERT_STRING_EQUAL(json_object_get_string(why), "allow_expired");
}

static void test_exception_for_this_terminal(void)
{
        struct test_policy t;
        struct policy *p = policy_block(&t, POLICY_MEDIA_BLOCK);
        t.terminals[0] = (char *)TERMINAL;
        t.exc[0] = (struct policy_media_exception){
                .vendor = 0x0781,
                .product = 0x5581,
                .serial = (char *)"4C530001230915104273",
                .access = MEDIA_ACCESS_READ_WRITE,
                .terminals = t.terminals,
                .n_terminals = 1,
                .reason = (char *)"年末調整データの受け渡し",
                .approver = (char *)"総務課長",
                .valid_until = NOW + 3600,
        };
        p->removable_media.exceptions = t.exc;
        p->removable_media.n_exceptions = 1;

        decide(p, "stick", "4C530001230915104273");
        CU_ASSERT_EQUAL(decision.outcome, USB_OUTCOME_ALLOWED);
        CU_ASSERT_EQUAL(decision.media.rule, MEDIA_RULE_EXCEPTION);
        CU_ASSERT_STRING_EQUAL(decision.rule, "removable_media.exceptions[0]");

        _cleanup_json_ json_object *details = json_object_new_object();
        CU_ASSERT_EQUAL(usb_decision_to_json(&decision, p, details), 0);
        json_object *approver = NULL;
        CU_ASSERT_TRUE(json_object_object_get_ex(details, "approver", &approver));
        CU_ASSERT_STRING_EQUAL(json_object_get_string(approver), "総務課長");

        /* on another terminal the exception does not apply */
        usb_decide(p, parse_recording("stick"), "4C530001230915104273", "pc-jinji-02", NOW, &decision);
        CU_ASSERT_FALSE(decision.authorize_device);
        /* lapsed */
        decide(p, "stick", "4C530001230915104273");
        usb_decide(p, parse_recording("stick"), "4C530001230915104273", TERMINAL, NOW + 7200, &decision);
        CU_ASSERT_FALSE(decision.authorize_device);
        _cleanup_json_ json_object *lapsed = json_object_new_object();
        CU_ASSERT_EQUAL(usb_decision_to_json(&decision, p, lapsed), 0);
        json_object *why = NULL;
        CU_ASSERT_TRUE(json_object_object_get_ex(lapsed, "media_rule", &why));
        CU_ASSERT_STRING_EQUAL(json_object_get_string(why), "exception_lapsed");
}

static void test_mode_read_only(void)
{
        struct test_policy t;
        struct policy *p = policy_block(&t, POLICY_MEDIA_READ_ONLY);
        decide(p, "stick", "4C530001230915104273");
        CU_ASSERT_EQUAL(decision.outcome, USB_OUTCOME_READ_ONLY);
        CU_ASSERT_TRUE(verdict(1, 0)->read_only);

        /* a phone cannot be held read-only: it stays blocked */
        decide(p, "phone-mtp", "0123456789ABCDEF");
        CU_ASSERT_EQUAL(decision.outcome, USB_OUTCOME_BLOCKED);
        CU_ASSERT_EQUAL(verdict(1, 0)->rule, USB_RULE_NOT_READ_ONLY);

        /* keyboard+storage: keyboard read-write, storage read-only */
        decide(p, "composite", "20231116A");
        CU_ASSERT_EQUAL(decision.outcome, USB_OUTCOME_READ_ONLY);
        CU_ASSERT_FALSE(verdict(1, 0)->read_only);
        CU_ASSERT_TRUE(verdict(1, 1)->read_only);
}

static void test_mode_audit_records_without_blocking(void)
{
        struct test_policy t;
        struct policy *p = policy_block(&t, POLICY_MEDIA_AUDIT);
        decide(p, "phone-adb", "2A111FDH2009XY");
        CU_ASSERT_EQUAL(decision.outcome, USB_OUTCOME_ALLOWED);
        CU_ASSERT_TRUE(decision.authorize_device);
        CU_ASSERT_TRUE(decision.audit);
        CU_ASSERT_TRUE(verdict(1, 1)->authorize);
        CU_ASSERT_TRUE(verdict(1, 1)->audit_would_block);

        decide(p, "keyboard", NULL);
        CU_ASSERT_FALSE(decision.audit);
}

static void test_policy_named_classes(void)
{
        struct test_policy t;
        struct policy *p = policy_block(&t, POLICY_MEDIA_BLOCK);
        t.classes[0] = 0x03;
        p->removable_media.classes = t.classes;
        p->removable_media.n_classes = 1;
        decide(p, "keyboard", NULL);
        CU_ASSERT_EQUAL(decision.outcome, USB_OUTCOME_BLOCKED);
        CU_ASSERT_FALSE(decision.authorize_device);
        /* and the hub is still fine */
        decide(p, "hub", NULL);
        CU_ASSERT_EQUAL(decision.outcome, USB_OUTCOME_ALLOWED);
}

static void test_unreadable_descriptors_block(void)
{
        usb_decide_unreadable(-EBADMSG, &decision);
        CU_ASSERT_EQUAL(decision.outcome, USB_OUTCOME_BLOCKED);
        CU_ASSERT_FALSE(decision.authorize_device);
        CU_ASSERT_EQUAL(decision.n_interfaces, 0);
        CU_ASSERT_PTR_NULL(usb_decision_find(&decision, 1, 0));
        CU_ASSERT_STRING_EQUAL(decision.rule, "descriptors");
        CU_ASSERT_STRING_EQUAL(usb_outcome_event_type(decision.outcome), "usb.blocked");

        struct test_policy t;
        struct policy *p = policy_block(&t, POLICY_MEDIA_BLOCK);
        _cleanup_json_ json_object *details = json_object_new_object();
        CU_ASSERT_EQUAL(usb_decision_to_json(&decision, p, details), 0);
        json_object *err = NULL;
        CU_ASSERT_TRUE(json_object_object_get_ex(details, "error", &err));
}

static void test_decision_json(void)
{
        struct test_policy t;
        struct policy *p = policy_block(&t, POLICY_MEDIA_BLOCK);
        decide(p, "composite", "20231116A");
        _cleanup_json_ json_object *details = json_object_new_object();
        CU_ASSERT_EQUAL_FATAL(usb_decision_to_json(&decision, p, details), 0);
        _cleanup_free_ char *s = NULL;
        CU_ASSERT_EQUAL_FATAL(json_canonical(details, NULL, &s, NULL), 0);
        CU_ASSERT_STRING_EQUAL(s,
                "{\"interfaces\":[{\"authorized\":true,\"class\":\"03/01/01\",\"function\":\"hid\","
                "\"interface\":\"1.0\",\"read_only\":false},{\"authorized\":false,\"class\":\"08/06/50\","
                "\"function\":\"mass_storage\",\"interface\":\"1.1\",\"read_only\":false}],"
                "\"mode\":\"block\",\"outcome\":\"blocked\",\"rule\":\"removable_media.mode\"}");
}

/* ---- uevents and sysfs names ------------------------------------------------------------- */

static void test_uevent_kernel_format(void)
{
        static const char msg[] = "add@/devices/pci0000:00/0000:00:14.0/usb1/1-1\0ACTION=add\0"
                                  "DEVPATH=/devices/pci0000:00/0000:00:14.0/usb1/1-1\0SUBSYSTEM=usb\0"
                                  "DEVTYPE=usb_device\0SEQNUM=4711";
        char buf[sizeof msg + 1];
        memcpy(buf, msg, sizeof msg);
        struct uevent ev;
        CU_ASSERT_EQUAL_FATAL(uevent_parse(buf, sizeof msg - 1, &ev), 0);
        CU_ASSERT_STRING_EQUAL(ev.action, "add");
        CU_ASSERT_STRING_EQUAL(ev.devpath, "/devices/pci0000:00/0000:00:14.0/usb1/1-1");
        CU_ASSERT_STRING_EQUAL(ev.subsystem, "usb");
        CU_ASSERT_STRING_EQUAL(ev.devtype, "usb_device");
        CU_ASSERT_PTR_NULL(ev.devname);

        /* no '@' header, no DEVPATH, a relative DEVPATH: refused */
        static const char bad1[] = "ACTION=add\0DEVPATH=/devices/x";
        static const char bad2[] = "add@/x\0ACTION=add\0SUBSYSTEM=usb";
        static const char bad3[] = "add@x\0ACTION=add\0DEVPATH=devices/x";
        memcpy(buf, bad1, sizeof bad1);
        CU_ASSERT_EQUAL(uevent_parse(buf, sizeof bad1 - 1, &ev), -EBADMSG);
        memcpy(buf, bad2, sizeof bad2);
        CU_ASSERT_EQUAL(uevent_parse(buf, sizeof bad2 - 1, &ev), -EBADMSG);
        memcpy(buf, bad3, sizeof bad3);
        CU_ASSERT_EQUAL(uevent_parse(buf, sizeof bad3 - 1, &ev), -EBADMSG);
}

static void test_uevent_libudev_format(void)
{
        /* as udevd and umockdev send it: "libudev", magic, header size, properties */
        static const char props[] = "ACTION=add\0DEVPATH=/devices/a/block/sdb/sdb1\0SUBSYSTEM=block\0"
                                    "DEVTYPE=partition\0DEVNAME=sdb1";
        char buf[256] = "libudev";
        uint32_t hdr[] = { htobe32(0xfeedcafe), 40, 40, sizeof props };
        memcpy(buf + 8, hdr, sizeof hdr);
        memcpy(buf + 40, props, sizeof props);
        struct uevent ev;
        CU_ASSERT_EQUAL_FATAL(uevent_parse(buf, 40 + sizeof props, &ev), 0);
        CU_ASSERT_STRING_EQUAL(ev.subsystem, "block");
        CU_ASSERT_STRING_EQUAL(ev.devname, "sdb1");

        /* properties claimed past the datagram, wrong magic */
        hdr[3] = 4000;
        memcpy(buf + 8, hdr, sizeof hdr);
        CU_ASSERT_EQUAL(uevent_parse(buf, 40 + sizeof props, &ev), -EBADMSG);
        hdr[3] = sizeof props;
        hdr[0] = htobe32(0xfeedcaff);
        memcpy(buf + 8, hdr, sizeof hdr);
        CU_ASSERT_EQUAL(uevent_parse(buf, 40 + sizeof props, &ev), -EBADMSG);
}

static void test_sysfs_names(void)
{
        uint8_t c = 0, n = 0;
        CU_ASSERT_EQUAL(usb_node_classify("usb1", NULL, NULL), USB_NODE_ROOT_HUB);
        CU_ASSERT_EQUAL(usb_node_classify("usb12", NULL, NULL), USB_NODE_ROOT_HUB);
        CU_ASSERT_EQUAL(usb_node_classify("1-1", NULL, NULL), USB_NODE_DEVICE);
        CU_ASSERT_EQUAL(usb_node_classify("3-1.4.2", NULL, NULL), USB_NODE_DEVICE);
        CU_ASSERT_EQUAL(usb_node_classify("3-1.4.2:2.13", &c, &n), USB_NODE_INTERFACE);
        CU_ASSERT_EQUAL(c, 2);
        CU_ASSERT_EQUAL(n, 13);
        CU_ASSERT_EQUAL(usb_node_classify("1-0:1.0", NULL, NULL), USB_NODE_INTERFACE);
        const char *other[] = { "usb", "usbx", "1-", "-1", "1-1.", "1-1..2", "1-1:1", "1-1:1.",
                                "1-1:1.256", "1-1:a.0", "ep_00", "power", "" };
        for (size_t i = 0; i < ELEMENTSOF(other); i++)
                CU_ASSERT_EQUAL(usb_node_classify(other[i], NULL, NULL), USB_NODE_OTHER);
        _cleanup_free_ char *a = usb_sysfs_base("/"), *b = usb_sysfs_base("/tmp/tb/"),
                            *d = usb_sysfs_base("/tmp/tb");
        CU_ASSERT_STRING_EQUAL(a, "/sys");
        CU_ASSERT_STRING_EQUAL(b, "/tmp/tb/sys");
        CU_ASSERT_STRING_EQUAL(d, "/tmp/tb/sys");
}

static void test_sysfs_resolve_devpath(void)
{
        const char *dir = unit_tmpdir();
        const struct {
                const char *target, *want;
        } cases[] = {
                { "../../../devices/pci0000:00/0000:00:14.0/usb1/1-2", "/devices/pci0000:00/0000:00:14.0/usb1/1-2" },
                { "devices/pci0000:00/usb2", "/devices/pci0000:00/usb2" }, /* read before the buffer once */
                { "../../bus/usb/1-2", NULL },
                { "../../devices/../etc", NULL },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char link[512];
                snprintf(link, sizeof link, "%s/link%zu", dir, i);
                CU_ASSERT_EQUAL_FATAL(symlink(cases[i].target, link), 0);
                _cleanup_free_ char *devpath = NULL;
                int r = usb_sysfs_resolve_devpath(link, &devpath);
                if (cases[i].want) {
                        CU_ASSERT_EQUAL(r, 0);
                        CU_ASSERT_PTR_NOT_NULL_FATAL(devpath);
                        CU_ASSERT_STRING_EQUAL(devpath, cases[i].want);
                } else
                        CU_ASSERT_EQUAL(r, -EINVAL);
        }
}

static CU_TestInfo plumbing_tests[] = {
        { "sysfs devpath from a link", test_sysfs_resolve_devpath },
        { "uevent, kernel format", test_uevent_kernel_format },
        { "uevent, libudev format", test_uevent_libudev_format },
        { "sysfs names", test_sysfs_names },
        CU_TEST_INFO_NULL,
};

static CU_TestInfo parser_tests[] = {
        { "stick", test_parse_stick },
        { "SuperSpeed stick, companions skipped", test_parse_superspeed_stick_skips_companions },
        { "keyboard, HID descriptors skipped", test_parse_keyboard_skips_hid_descriptors },
        { "phones: MTP, ADB, iPhone", test_parse_phones },
        { "camera and hub", test_parse_camera_and_hub },
        { "function names", test_function_names_roundtrip },
        CU_TEST_INFO_NULL,
};

static CU_TestInfo hostile_tests[] = {
        { "every truncation refused", test_every_truncation_is_refused },
        { "malformed descriptors refused", test_malformed_descriptors },
        { "too many interfaces refused", test_too_many_interfaces_refused },
        { "random mutations never crash", test_random_mutations_never_crash },
        CU_TEST_INFO_NULL,
};

static CU_TestInfo decision_tests[] = {
        { "default blocks storage and phones", test_default_policy_blocks_storage_and_phones },
        { "default allows keyboard and hub", test_default_policy_allows_keyboard_and_hub },
        { "composite gets its keyboard only", test_composite_gets_its_keyboard_only },
        { "alternate setting cannot smuggle storage", test_alternate_setting_cannot_smuggle_storage },
        { "registered stick", test_registered_stick },
        { "exception for this terminal", test_exception_for_this_terminal },
        { "mode read_only", test_mode_read_only },
        { "mode audit", test_mode_audit_records_without_blocking },
        { "policy-named classes", test_policy_named_classes },
        { "unreadable descriptors block", test_unreadable_descriptors_block },
        { "decision as JSON", test_decision_json },
        CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
        { "usb descriptors", NULL, NULL, NULL, NULL, parser_tests },
        { "usb hostile descriptors", NULL, NULL, NULL, NULL, hostile_tests },
        { "usb decision", NULL, NULL, NULL, NULL, decision_tests },
        { "usb uevents and sysfs", NULL, NULL, NULL, NULL, plumbing_tests },
        CU_SUITE_INFO_NULL,
};

UNIT_MAIN(suites)

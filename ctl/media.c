/* media.c — `hogoctl media`: the USB devices of this terminal and the agent's decision
 * for each, and the allowlist entry (登録媒体) for a stick that is plugged in.
 *
 *   hogoctl media list [--json] [--socket PATH]
 *   hogoctl media register --department 課名 [--port PORT] [--access read_write|read_only]
 *                          [--registration-no NO] [--valid-until YYYY-MM-DD] [--sysfs-root DIR]
 *
 * `list` asks the running agent (its status carries every device it decided). `register`
 * reads sysfs itself: the stick is unauthorized, but its ids and serial are readable, so an
 * IT team gets the exact removable_media.allow[] entry without typing a serial.
 */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent/usb_descriptors.h"
#include "agent/usb_sysfs.h"
#include "common/canon_json.h"
#include "common/util.h"
#include "ctl/hogoctl.h"

static void print_device(json_object *d)
{
        printf("%-8s %s:%s  %-9s %-26s %s%s%s\n", ctl_json_str(d, "port") ?: "?",
               ctl_json_str(d, "vendor") ?: "????", ctl_json_str(d, "product") ?: "????",
               ctl_json_str(d, "outcome") ?: "?", ctl_json_str(d, "rule") ?: "",
               ctl_json_str(d, "manufacturer") ?: "", ctl_json_str(d, "manufacturer") ? " " : "",
               ctl_json_str(d, "product_name") ?: "");
        if (ctl_json_str(d, "serial"))
                printf("         serial %s%s%s\n", ctl_json_str(d, "serial"),
                       ctl_json_str(d, "registration_no") ? "  registration " : "",
                       ctl_json_str(d, "registration_no") ?: "");
        json_object *ifs = json_object_object_get(d, "interfaces");
        for (size_t i = 0; i < json_object_array_length(ifs); i++) {
                json_object *f = json_object_array_get_idx(ifs, i);
                bool auth = json_object_get_boolean(json_object_object_get(f, "authorized"));
                bool ro = json_object_get_boolean(json_object_object_get(f, "read_only"));
                printf("         %-5s %s %-13s %s\n", ctl_json_str(f, "interface"),
                       ctl_json_str(f, "class"), ctl_json_str(f, "function"),
                       auth ? (ro ? "authorized, read-only" : "authorized") : "blocked");
        }
        if (ctl_json_str(d, "enforcement_error"))
                printf("         error: %s\n", ctl_json_str(d, "enforcement_error"));
}

static int media_list(int argc, char **argv)
{
        const char *socket_path;
        bool json;
        int r = ctl_parse_agent_options(
                argc, argv, "hogoctl media list",
                "Usage: hogoctl media list [--json] [--socket PATH]\n\n"
                "Shows the connected USB devices with the agent's decision for each\n"
                "(allowed, read_only, blocked), the rule that decided and every interface.\n",
                &socket_path, &json);
        if (r <= 0)
                return r == 0 ? CTL_EXIT_OK : CTL_EXIT_USAGE;
        _cleanup_json_ json_object *status = NULL;
        if (ctl_agent_status(socket_path, "hogoctl media list",
                             "New USB devices stay unauthorized while the agent is not running "
                             "(authorized_default=0). Start it with: systemctl start hogo-agent",
                             &status) < 0)
                return CTL_EXIT_ERROR;
        json_object *sources = json_object_object_get(status, "sources");
        json_object *usb = json_object_object_get(sources, "usb");
        json_object *devices = json_object_object_get(usb, "devices");
        if (!devices) {
                fprintf(stderr, "hogoctl media list: the agent reports no usb source (%s)\n",
                        ctl_json_str(usb, "reason") ?: "not running");
                return CTL_EXIT_ERROR;
        }
        if (json) {
                printf("%s\n",
                       json_object_to_json_string_ext(devices, JSON_C_TO_STRING_PRETTY |
                                                                   JSON_C_TO_STRING_NOSLASHESCAPE));
                return CTL_EXIT_OK;
        }
        printf("%-8s %-9s  %-9s %-26s %s\n", "PORT", "ID", "DECISION", "RULE", "DEVICE");
        for (size_t i = 0; i < json_object_array_length(devices); i++)
                print_device(json_object_array_get_idx(devices, i));
        if (json_object_array_length(devices) == 0)
                printf("(no USB devices)\n");
        return CTL_EXIT_OK;
}

struct candidate {
        char *port;
        struct usb_device_facts facts;
        bool storage;
};

struct scan {
        struct candidate items[64];
        size_t n;
        const char *port; /* only this one, or NULL */
};

static int scan_cb(const char *base, const char *name, const char *devpath, const char *dir,
                   void *userdata)
{
        struct scan *s = userdata;
        if (s->n == ELEMENTSOF(s->items) || (s->port && STRNEQ(s->port, name)))
                return 0;
        struct candidate *c = &s->items[s->n];
        if (usb_device_facts_read(dir, &c->facts) < 0)
                return 0;
        usb_device_facts_read_names(dir, &c->facts);
        _cleanup_free_ struct usb_device_desc *desc = calloc(1, sizeof *desc);
        if (desc && c->facts.descriptors &&
            usb_descriptors_parse(c->facts.descriptors, c->facts.descriptors_len, desc) == 0)
                for (size_t i = 0; i < desc->n_interfaces; i++)
                        if (desc->interfaces[i].function == USB_FUNCTION_MASS_STORAGE)
                                c->storage = true;
        if (!c->storage || !(c->port = strdup(name))) {
                usb_device_facts_clear(&c->facts);
                return 0;
        }
        s->n++;
        return 0;
}

/* Japanese approvals end with the fiscal year: the next 31 March. */
static void fiscal_year_end(char buf[static 16])
{
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        int year = tm.tm_year + 1900 + (tm.tm_mon >= 3 ? 1 : 0);
        snprintf(buf, 16, "%04d-03-31", year % 10000);
}

static int media_register(int argc, char **argv)
{
        static const struct option options[] = {
            {"department", required_argument, NULL, 'd'},
            {"port", required_argument, NULL, 'p'},
            {"access", required_argument, NULL, 'a'},
            {"registration-no", required_argument, NULL, 'r'},
            {"valid-until", required_argument, NULL, 'v'},
            {"sysfs-root", required_argument, NULL, 'S'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        const char *department = NULL, *access = "read_write", *reg_no = NULL, *valid = NULL,
                   *root = "/";
        struct scan s = {};
        int c;
        optind = 1;
        while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
                switch (c) {
                case 'd': department = optarg; break;
                case 'p': s.port = optarg; break;
                case 'a': access = optarg; break;
                case 'r': reg_no = optarg; break;
                case 'v': valid = optarg; break;
                case 'S': root = optarg; break;
                case 'h':
                        printf("Usage: hogoctl media register --department 課名 [--port PORT]\n"
                               "         [--access read_write|read_only] [--registration-no NO]\n"
                               "         [--valid-until YYYY-MM-DD] [--sysfs-root DIR]\n\n"
                               "Prints the removable_media.allow[] entry for the USB stick plugged "
                               "into\n"
                               "this terminal (it may be blocked: its ids and serial are still "
                               "readable).\n"
                               "The entry is valid until the end of the fiscal year unless "
                               "--valid-until\n"
                               "says otherwise. With several sticks plugged in, name one with "
                               "--port.\n");
                        return CTL_EXIT_OK;
                default: return CTL_EXIT_USAGE;
                }
        }
        if (!department || !*department || optind < argc) {
                fprintf(stderr,
                        "hogoctl media register: --department 課名 is required; see --help\n");
                return CTL_EXIT_USAGE;
        }
        if (STRNEQ(access, "read_write") && STRNEQ(access, "read_only")) {
                fprintf(stderr,
                        "hogoctl media register: --access must be read_write or read_only\n");
                return CTL_EXIT_USAGE;
        }

        _cleanup_free_ char *base = usb_sysfs_base(root);
        if (!base)
                return CTL_EXIT_ERROR;
        int r = usb_sysfs_foreach(base, USB_NODE_DEVICE, scan_cb, &s);
        if (r < 0) {
                errno = -r;
                fprintf(stderr, "hogoctl media register: cannot read %s/bus/usb/devices: %m\n",
                        base);
                return CTL_EXIT_ERROR;
        }
        int ret = CTL_EXIT_ERROR;
        if (s.n == 0)
                fprintf(stderr,
                        "hogoctl media register: no USB storage device %s%s is plugged in.\n"
                        "Plug in the stick to register (it stays blocked) and run this again.\n",
                        s.port ? "at port " : "", s.port ? s.port : "");
        else if (s.n > 1) {
                fprintf(stderr,
                        "hogoctl media register: %zu USB storage devices are plugged in; "
                        "name one with --port:\n",
                        s.n);
                for (size_t i = 0; i < s.n; i++)
                        fprintf(stderr, "  --port %-8s %04x:%04x %s %s\n", s.items[i].port,
                                s.items[i].facts.vendor_id, s.items[i].facts.product_id,
                                s.items[i].facts.product ?: "",
                                s.items[i].facts.serial ?: "(no serial)");
                ret = CTL_EXIT_USAGE;
        } else if (!s.items[0].facts.serial || !*s.items[0].facts.serial)
                fprintf(stderr,
                        "hogoctl media register: the device at port %s (%04x:%04x) has no serial "
                        "number, so it cannot be told apart from others of its model and "
                        "cannot be registered. Use a stick with a serial number.\n",
                        s.items[0].port, s.items[0].facts.vendor_id, s.items[0].facts.product_id);
        else {
                const struct candidate *k = &s.items[0];
                char id[8], fy[16];
                fiscal_year_end(fy);
                _cleanup_json_ json_object *e = json_object_new_object();
                snprintf(id, sizeof id, "%04x", k->facts.vendor_id);
                json_object_object_add(e, "vendor", json_object_new_string(id));
                snprintf(id, sizeof id, "%04x", k->facts.product_id);
                json_object_object_add(e, "product", json_object_new_string(id));
                json_object_object_add(e, "serial", json_object_new_string(k->facts.serial));
                json_object_object_add(e, "access", json_object_new_string(access));
                if (reg_no)
                        json_object_object_add(e, "registration_no",
                                               json_object_new_string(reg_no));
                json_object_object_add(e, "holder", json_object_new_string(department));
                json_object_object_add(e, "valid_until",
                                       json_object_new_string(valid ? valid : fy));
                fprintf(stderr,
                        "# %s %s at port %s: add this entry to removable_media.allow of the "
                        "policy, then sign and push it (hogoctl policy sign/push).\n",
                        k->facts.manufacturer ?: "", k->facts.product ?: "", k->port);
                printf("%s\n", json_object_to_json_string_ext(
                                   e, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
                ret = CTL_EXIT_OK;
        }
        for (size_t i = 0; i < s.n; i++) {
                free(s.items[i].port);
                usb_device_facts_clear(&s.items[i].facts);
        }
        return ret;
}

int ctl_media_main(int argc, char **argv)
{
        if (argc < 2 || STREQ(argv[1], "-h") || STREQ(argv[1], "--help")) {
                FILE *f = argc < 2 ? stderr : stdout;
                fprintf(f, "Usage: hogoctl media list [--json] [--socket PATH]\n"
                           "       hogoctl media register --department 課名 [--port PORT] ...\n\n"
                           "list      connected USB devices and the agent's decision for each\n"
                           "register  print the policy allowlist entry for the plugged-in stick\n");
                return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
        }
        if (STREQ(argv[1], "list"))
                return media_list(argc - 1, argv + 1);
        if (STREQ(argv[1], "register"))
                return media_register(argc - 1, argv + 1);
        fprintf(stderr, "hogoctl media: unknown subcommand '%s'; see 'hogoctl media --help'\n",
                argv[1]);
        return CTL_EXIT_USAGE;
}

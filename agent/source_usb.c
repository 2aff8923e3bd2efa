/* source_usb.c — the `usb` event source: removable media, fail closed.
 *
 * At start, for every root hub and for every one that appears later, both authorization
 * defaults go to 0, so a device plugged in while the agent is stopped, crashed or starting
 * stays unauthorized (systemd/70-hogo-usb.rules does the same from udev, before the agent
 * runs). A new device is decided from its raw descriptors while still unauthorized
 * (usb_descriptors.h, usb_decision.h); when some interface may be used the device is
 * authorized, and then each allowed interface is authorized and probed. Everything else
 * stays unauthorized: interfaces the descriptors never announced, devices whose
 * descriptors are missing or malformed, devices where a sysfs write failed. Storage
 * authorized read-only gets BLKROSET on its disk and partitions as they appear, before
 * udevd can mount them (usb_readonly.h); where that fails the interface is taken away.
 *
 * Events come from the kernel's uevent socket (uevent.h), with or without udevd; each one
 * only says where to look, every fact is re-read from sysfs. A new policy, or an approval
 * running out, re-evaluates every present device and takes away at once what is no longer
 * allowed.
 *
 * The uevent socket is served by a thread of its own, which does nothing but read the
 * event, decide and write sysfs: nothing the main loop does (an event's fsync, the files
 * source re-marking its mounts, forking a notice, the control socket) can hold a plug
 * back. What a decision must record is queued (struct pending_report) and the thread
 * wakes the main loop, which makes those events durable in the spool and shows the
 * notices, at the highest priority, before it handles anything else. The device is
 * unauthorized by default, so writing sysfs before the event is durable opens nothing.
 * One mutex guards the state; the main loop takes it for a new policy, an approval
 * running out, status and posture, and never holds it across the spool or a notice.
 */
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-event.h>
#include <systemd/sd-login.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/source.h"
#include "agent/uevent.h"
#include "agent/usb_decision.h"
#include "agent/usb_descriptors.h"
#include "agent/usb_readonly.h"
#include "agent/usb_sysfs.h"
#include "common/log.h"
#include "common/util.h"
#include "policy/policy.h"

#define BLOCK_HISTORY 4096 /* block timestamps kept for the 24 h count */
#define DAY_USEC (24ull * 3600 * 1000000)
#define LATENCY_KEEP 1024

struct usb_device_state {
        char *name;    /* "1-1.4" */
        char *devpath; /* "/devices/.../1-1.4" */
        char *dir;     /* <base><devpath> */
        struct usb_device_facts facts;
        struct usb_decision *decision;
        int error;          /* last enforcement error (-errno), 0 when none */
        const char *error_what; /* what failed: "authorize device", ... */
        bool read_only_failed;
        bool reported;      /* an event went out for the current decision */
        struct usb_device_state *next;
};

/* An event a decision made, waiting for the main loop to spool it (and show its notice). */
struct pending_report {
        struct pending_report *next;
        const char *type; /* static string */
        enum event_severity severity;
        json_object *details;
        bool notice;
        enum notice_kind kind;
        char subject[256];
        char rate_key[128];
};

struct usb_state {
        /* guards everything below it that the uevent thread touches: the devices, the
         * policy pointer, counters, errors, latencies and the pending reports */
        pthread_mutex_t lock;
        pthread_t thread;
        bool thread_running;
        int stop_fd;   /* eventfd: main -> thread, "exit" */
        int report_fd; /* eventfd: thread -> main, "reports are pending" */
        sd_event_source *report_io;
        struct pending_report *pending, **pending_tail;

        struct agent *agent;
        const struct policy *policy;
        char *root;
        char *base; /* <root>/sys */
        char hostname[HOST_NAME_MAX + 1];

        int fd; /* the uevent socket, read by the uevent thread only */
        sd_event_source *expiry;

        struct usb_device_state *devices;

        uint64_t n_blocked, n_allowed, n_read_only, n_removed, n_errors;
        int last_error;
        char last_error_text[256];

        uint64_t block_times[BLOCK_HISTORY];
        size_t block_next, n_block_times;

        unsigned n_hubs, n_hubs_fail_closed;
        int hub_error;

        /* time from receiving a device's uevent to its `authorized` write, last LATENCY_KEEP
         * devices, for status (what bench/usb_latency measures from outside) */
        uint64_t event_usec; /* CLOCK_MONOTONIC when the event being handled arrived */
        uint32_t latency_usec[LATENCY_KEEP];
        size_t latency_next, n_latency;
};

/* Called right after the device's `authorized` write for the event being handled. */
static void note_latency(struct usb_state *u)
{
        if (!u->event_usec)
                return;
        uint64_t d = clock_usec(CLOCK_MONOTONIC) - u->event_usec;
        u->latency_usec[u->latency_next] = (uint32_t)MIN(d, UINT32_MAX);
        u->latency_next = (u->latency_next + 1) % LATENCY_KEEP;
        if (u->n_latency < LATENCY_KEEP)
                u->n_latency++;
        u->event_usec = 0;
}

static int cmp_u32(const void *a, const void *b)
{
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
        return x < y ? -1 : x > y;
}

/* A sysfs step failed: the device keeps the state that blocks it (every step only ever
 * authorizes after a decision allowed it), and the failure is kept for status and events. */
static void record_error(struct usb_state *u, struct usb_device_state *d, int error,
                         const char *what)
{
        u->n_errors++;
        u->last_error = error;
        snprintf(u->last_error_text, sizeof u->last_error_text, "%s %s: %s", what,
                 d ? d->name : "", strerror(-error));
        if (d) {
                d->error = error;
                d->error_what = what;
        }
        log_error_errno(error, "USB device %s: %s failed: %m. Nothing more is authorized for it; "
                        "status and its event carry the error", d ? d->name : "?", what);
}

/* The user of the active session on seat0, or NULL (no logind, nobody logged in). */
static char *active_user(void)
{
        _cleanup_free_ char *session = NULL;
        uid_t uid;
        if (sd_seat_get_active("seat0", &session, &uid) < 0 || !session)
                return NULL;
        struct passwd pw, *found = NULL;
        char buf[1024];
        if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) != 0 || !found)
                return NULL;
        return strdup(found->pw_name);
}

/* ---- controllers ---------------------------------------------------------------------- */

static int hub_fail_closed_cb(const char *base, const char *name, const char *devpath,
                              const char *dir, void *userdata)
{
        struct usb_state *u = userdata;
        u->n_hubs++;
        int r = usb_sysfs_root_hub_fail_closed(dir);
        if (r < 0) {
                u->hub_error = u->last_error = r;
                u->n_errors++;
                snprintf(u->last_error_text, sizeof u->last_error_text,
                         "cannot set authorized_default=0 on %s: %s", name, strerror(-r));
                log_error_errno(r, "Cannot make USB controller %s fail closed: %m", name);
                return 0;
        }
        u->n_hubs_fail_closed++;
        return 0;
}

static int hubs_fail_closed(struct usb_state *u)
{
        u->n_hubs = u->n_hubs_fail_closed = 0;
        u->hub_error = 0;
        return usb_sysfs_foreach(u->base, USB_NODE_ROOT_HUB, hub_fail_closed_cb, u);
}

/* ---- devices -------------------------------------------------------------------------- */

static void device_free(struct usb_device_state *d)
{
        if (!d)
                return;
        free(d->name);
        free(d->devpath);
        free(d->dir);
        usb_device_facts_clear(&d->facts);
        free(d->decision);
        free(d);
}

static struct usb_device_state *device_find(struct usb_state *u, const char *name)
{
        for (struct usb_device_state *d = u->devices; d; d = d->next)
                if (STREQ(d->name, name))
                        return d;
        return NULL;
}

static void device_unlink(struct usb_state *u, struct usb_device_state *gone)
{
        for (struct usb_device_state **p = &u->devices; *p; p = &(*p)->next)
                if (*p == gone) {
                        *p = gone->next;
                        return;
                }
}

static bool decision_has_read_only(const struct usb_decision *dec)
{
        for (size_t i = 0; i < dec->n_interfaces; i++)
                if (dec->interfaces[i].authorize && dec->interfaces[i].read_only)
                        return true;
        return false;
}

struct interface_ctx {
        struct usb_state *u;
        struct usb_device_state *d;
        bool revoke_read_only; /* take read-only interfaces away (BLKROSET failed) */
};

/* Brings one interface's `authorized` in line with the decision. Returns 1 when a sysfs
 * write failed (recorded), else 0; never stops a walk over the interfaces. */
static int interface_enforce_cb(const char *base, const char *name, const char *devpath,
                                const char *dir, void *userdata)
{
        struct interface_ctx *c = userdata;
        uint8_t config, number;
        if (usb_node_classify(name, &config, &number) != USB_NODE_INTERFACE)
                return 0;
        const struct usb_interface_verdict *v = usb_decision_find(c->d->decision, config, number);
        bool want = v && v->authorize && !(c->revoke_read_only && v->read_only);
        int cur = usb_sysfs_read_bool(dir, "authorized");
        if (cur == -ENOENT)
                return 0; /* went away meanwhile */
        int r = 0;
        if (want && cur != 1) {
                r = usb_sysfs_authorize_interface(base, dir, name);
                if (r < 0)
                        record_error(c->u, c->d, r, "authorize interface");
        } else if (!want && cur != 0) {
                r = usb_sysfs_write_attr(dir, "authorized", "0");
                if (r < 0)
                        record_error(c->u, c->d, r, "deauthorize interface");
        }
        return r < 0 ? 1 : 0;
}

struct block_ctx {
        struct usb_state *u;
        struct usb_device_state *d;
        int error;
};

static int block_read_only_cb(const char *name, void *userdata)
{
        struct block_ctx *c = userdata;
        _cleanup_free_ char *node = NULL;
        const char *root = STREQ(c->u->root, "/") ? "" : c->u->root;
        if (asprintf(&node, "%s/dev/%s", root, name) < 0)
                return -ENOMEM;
        unsigned remounted = 0;
        int r = block_device_make_read_only(node, "/proc/self/mountinfo", &remounted);
        if (r < 0) {
                c->error = r;
                record_error(c->u, c->d, r, "set read-only");
                return 0;
        }
        if (remounted > 0)
                log_notice("USB %s: %s remounted read-only (%u mount(s))", c->d->name, name, remounted);
        return 0;
}

/* Holds every block device of d read-only; on failure takes storage away. */
static void device_enforce_read_only(struct usb_state *u, struct usb_device_state *d)
{
        if (!d->decision || !decision_has_read_only(d->decision) || d->read_only_failed)
                return;
        struct block_ctx c = { .u = u, .d = d };
        int r = usb_block_devices_foreach(u->base, d->devpath, block_read_only_cb, &c);
        if (r < 0 && c.error == 0)
                c.error = r;
        if (c.error == 0)
                return;
        d->read_only_failed = true;
        struct interface_ctx ic = { .u = u, .d = d, .revoke_read_only = true };
        (void)usb_sysfs_foreach_interface(d->dir, d->name, interface_enforce_cb, u->base, &ic);
}


/* vendor, product, serial, names and port of a device, as events and status show them */
static void device_identity_to_json(const struct usb_device_state *d, json_object *o)
{
        char id[8];
        snprintf(id, sizeof id, "%04x", d->facts.vendor_id);
        json_object_object_add(o, "vendor", json_object_new_string(id));
        snprintf(id, sizeof id, "%04x", d->facts.product_id);
        json_object_object_add(o, "product", json_object_new_string(id));
        if (d->facts.serial)
                json_object_object_add(o, "serial", json_object_new_string(d->facts.serial));
        if (d->facts.manufacturer)
                json_object_object_add(o, "manufacturer",
                                       json_object_new_string(d->facts.manufacturer));
        if (d->facts.product)
                json_object_object_add(o, "product_name", json_object_new_string(d->facts.product));
        json_object_object_add(o, "port", json_object_new_string(d->name));
}

/* Queues the event for d (with u->lock held); the main loop spools it (flush_reports).
 * Returns the queued report, for a notice to be attached, or NULL when out of memory (the
 * event is then only logged). */
static struct pending_report *report(struct usb_state *u, struct usb_device_state *d,
                                     const char *type, enum event_severity severity)
{
        struct pending_report *p = calloc(1, sizeof *p);
        json_object *details = json_object_new_object();
        if (!p || !details) {
                free(p);
                json_object_put(details);
                log_error("Out of memory recording %s for USB device %s; the decision stands",
                          type, d->name);
                return NULL;
        }
        device_identity_to_json(d, details);
        json_object_object_add(details, "devpath", json_object_new_string(d->devpath));
        if (d->decision && u->policy)
                (void)usb_decision_to_json(d->decision, u->policy, details);
        if (d->error) {
                char text[160];
                snprintf(text, sizeof text, "%s: %s", d->error_what, strerror(-d->error));
                json_object_object_add(details, "enforcement_error", json_object_new_string(text));
        }
        if (d->read_only_failed)
                json_object_object_add(details, "read_only_failed", json_object_new_boolean(true));
        p->type = type;
        p->severity = severity;
        p->details = details;
        *u->pending_tail = p;
        u->pending_tail = &p->next;
        return p;
}

/* A notice to staff about d goes with the event p. */
static void notify_staff(struct pending_report *p, const struct usb_device_state *d,
                         enum notice_kind kind)
{
        if (!p)
                return;
        p->notice = true;
        p->kind = kind;
        snprintf(p->subject, sizeof p->subject, "%s%s%s (%04x:%04x)",
                 d->facts.manufacturer ? d->facts.manufacturer : "",
                 d->facts.manufacturer && d->facts.product ? " " : "",
                 d->facts.product ? d->facts.product : "USB", d->facts.vendor_id, d->facts.product_id);
        snprintf(p->rate_key, sizeof p->rate_key, "usb:%04x:%04x:%s", d->facts.vendor_id,
                 d->facts.product_id, d->facts.serial ? d->facts.serial : "");
}

/* Main loop only, without u->lock: spools every queued event (security ones durable when
 * this returns) against the active session's user and, unless shutting down, shows their
 * notices. */
static void flush_reports(struct usb_state *u, bool notices)
{
        pthread_mutex_lock(&u->lock);
        struct pending_report *list = u->pending;
        u->pending = NULL;
        u->pending_tail = &u->pending;
        pthread_mutex_unlock(&u->lock);
        if (!list)
                return;

        _cleanup_free_ char *user = active_user();
        for (struct pending_report *p = list, *next; p; p = next) {
                next = p->next;
                (void)agent_emit(u->agent, p->type, p->severity, user, TAKE_PTR(p->details));
                if (p->notice && notices) {
                        struct notice n = { .kind = p->kind, .subject = p->subject,
                                            .rate_key = p->rate_key };
                        agent_notice(u->agent, user, &n);
                }
                free(p);
        }
}

static void note_block(struct usb_state *u)
{
        u->block_times[u->block_next] = clock_usec(CLOCK_REALTIME);
        u->block_next = (u->block_next + 1) % BLOCK_HISTORY;
        if (u->n_block_times < BLOCK_HISTORY)
                u->n_block_times++;
}

/* What the decision and enforcement came to, as the event type says it. */
static enum usb_outcome effective_outcome(const struct usb_device_state *d)
{
        if (!d->decision || d->error || d->read_only_failed)
                return USB_OUTCOME_BLOCKED;
        return d->decision->outcome;
}

static void device_report(struct usb_state *u, struct usb_device_state *d)
{
        enum usb_outcome o = effective_outcome(d);
        switch (o) {
        case USB_OUTCOME_BLOCKED:
                u->n_blocked++;
                note_block(u);
                notify_staff(report(u, d, "usb.blocked", EVENT_SEVERITY_WARNING), d,
                             NOTICE_USB_BLOCKED);
                break;
        case USB_OUTCOME_READ_ONLY:
                u->n_read_only++;
                notify_staff(report(u, d, "usb.read_only", EVENT_SEVERITY_NOTICE), d,
                             NOTICE_USB_READ_ONLY);
                break;
        default:
                u->n_allowed++;
                /* audit mode: what would have been blocked is a security record too */
                (void)report(u, d, "usb.allowed",
                             d->decision->audit ? EVENT_SEVERITY_WARNING : EVENT_SEVERITY_INFO);
                break;
        }
        d->reported = true;
}

static bool decisions_equal(const struct usb_decision *a, const struct usb_decision *b)
{
        if (!a || !b || a->outcome != b->outcome || a->n_interfaces != b->n_interfaces ||
            STRNEQ(a->rule, b->rule))
                return false;
        for (size_t i = 0; i < a->n_interfaces; i++)
                if (a->interfaces[i].authorize != b->interfaces[i].authorize ||
                    a->interfaces[i].read_only != b->interfaces[i].read_only)
                        return false;
        return true;
}

/* Decides and enforces one device; reports when the decision is new or changed. */
static void device_evaluate(struct usb_state *u, const char *name, const char *devpath,
                            const char *dir)
{
        struct usb_device_state *d = device_find(u, name);
        bool is_new = !d;
        if (is_new) {
                d = calloc(1, sizeof *d);
                if (!d || !(d->name = strdup(name)) || !(d->devpath = strdup(devpath)) ||
                    !(d->dir = strdup(dir))) {
                        device_free(d);
                        log_error("Out of memory deciding USB device %s; it stays blocked", name);
                        return;
                }
        }

        struct usb_device_facts facts;
        int r = usb_device_facts_read(d->dir, &facts);
        if (r < 0) {
                /* vanished between the event and now, or not a device at all: nothing was
                 * authorized, nothing to undo */
                record_error(u, d, r, "read device");
                if (!is_new)
                        device_unlink(u, d);
                device_free(d);
                return;
        }
        usb_device_facts_clear(&d->facts);
        d->facts = facts;

        _cleanup_free_ struct usb_decision *dec = malloc(sizeof *dec);
        _cleanup_free_ struct usb_device_desc *desc = malloc(sizeof *desc);
        if (!dec || !desc) {
                log_error("Out of memory deciding USB device %s; it stays blocked", name);
                if (is_new)
                        device_free(d);
                return;
        }
        if (facts.descriptors_error < 0)
                usb_decide_unreadable(facts.descriptors_error, dec);
        else if ((r = usb_descriptors_parse(facts.descriptors, facts.descriptors_len, desc)) < 0)
                usb_decide_unreadable(r, dec);
        else
                usb_decide(u->policy, desc, facts.serial, u->hostname,
                           (int64_t)(clock_usec(CLOCK_REALTIME) / 1000000), dec);

        bool changed = !decisions_equal(d->decision, dec);
        free(d->decision);
        d->decision = TAKE_PTR(dec);
        if (changed) {
                d->error = 0;
                d->read_only_failed = false;
        }
        if (is_new) {
                d->next = u->devices;
                u->devices = d;
        }

        int cur = usb_sysfs_read_bool(d->dir, "authorized");
        if (cur < 0)
                record_error(u, d, cur, "read authorized of device");
        else if (!d->decision->authorize_device) {
                if (cur != 0 && (r = usb_sysfs_write_attr(d->dir, "authorized", "0")) < 0)
                        record_error(u, d, r, "deauthorize device");
                else if (cur != 0)
                        note_latency(u);
        } else {
                if (cur == 0 && (r = usb_sysfs_write_attr(d->dir, "authorized", "1")) < 0)
                        record_error(u, d, r, "authorize device");
                else {
                        if (cur == 0)
                                note_latency(u);
                        /* interfaces the kernel created synchronously; later ones come as
                         * their own add events */
                        struct interface_ctx ic = { .u = u, .d = d };
                        (void)usb_sysfs_foreach_interface(d->dir, d->name, interface_enforce_cb,
                                                          u->base, &ic);
                        device_enforce_read_only(u, d);
                }
        }

        /* names only now: they are for people, not for the decision */
        usb_device_facts_read_names(d->dir, &d->facts);
        if (changed || !d->reported || d->error)
                device_report(u, d);
}

static int device_evaluate_cb(const char *base, const char *name, const char *devpath,
                              const char *dir, void *userdata)
{
        device_evaluate(userdata, name, devpath, dir);
        return 0;
}

/* Drops devices whose directory is gone (unplugged while events were lost). */
static void forget_vanished(struct usb_state *u)
{
        struct usb_device_state *d = u->devices, *next;
        for (; d; d = next) {
                next = d->next;
                struct stat st;
                if (stat(d->dir, &st) == 0)
                        continue;
                device_unlink(u, d);
                u->n_removed++;
                (void)report(u, d, "usb.removed", EVENT_SEVERITY_INFO);
                device_free(d);
        }
}

static void evaluate_all(struct usb_state *u)
{
        forget_vanished(u);
        int r = usb_sysfs_foreach(u->base, USB_NODE_DEVICE, device_evaluate_cb, u);
        if (r < 0 && r != -ENOENT)
                record_error(u, NULL, r, "enumerate devices");
}

/* how late sd-event may fire the end of an approval, to share a wake-up with other timers */
#define USB_EXPIRY_ACCURACY_USEC 1000

static int schedule_expiry(struct usb_state *u);

static int on_expiry(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct usb_state *u = userdata;
        log_info("A removable-media approval ended; re-evaluating present USB devices");
        pthread_mutex_lock(&u->lock);
        evaluate_all(u);
        pthread_mutex_unlock(&u->lock);
        flush_reports(u, true);
        (void)schedule_expiry(u);
        return 0;
}

static int schedule_expiry(struct usb_state *u)
{
        int64_t next =
            policy_media_next_expiry(u->policy, (int64_t)(clock_usec(CLOCK_REALTIME) / 1000000));
        if (next <= 0) {
                if (u->expiry)
                        sd_event_source_set_enabled(u->expiry, SD_EVENT_OFF);
                return 0;
        }
        uint64_t when = (uint64_t)next * 1000000;
        if (u->expiry) {
                int r = sd_event_source_set_time(u->expiry, when);
                if (r < 0)
                        return r;
                return sd_event_source_set_enabled(u->expiry, SD_EVENT_ONESHOT);
        }
        /* an approval ends at its instant: sd-event's coalescing may not move the
         * deauthorization later (an accuracy of 1 s let it fire up to a second late) */
        return sd_event_add_time(agent_event_loop(u->agent), &u->expiry, CLOCK_REALTIME, when,
                                 USB_EXPIRY_ACCURACY_USEC, on_expiry, u);
}

/* ---- events --------------------------------------------------------------------------- */

static const char *last_component(const char *path)
{
        const char *slash = strrchr(path, '/');
        return slash ? slash + 1 : path;
}

static void on_usb_event(struct usb_state *u, const struct uevent *ev)
{
        const char *name = last_component(ev->devpath);
        uint8_t config, number;
        enum usb_node_kind kind = usb_node_classify(name, &config, &number);
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s%s", u->base, ev->devpath) < 0)
                return;

        if (STREQ(ev->action, "add") && kind == USB_NODE_ROOT_HUB) {
                (void)hubs_fail_closed(u);
                /* a controller may come with devices already attached */
                evaluate_all(u);
                return;
        }
        if (kind == USB_NODE_DEVICE) {
                if (STREQ(ev->action, "add"))
                        device_evaluate(u, name, ev->devpath, dir);
                else if (STREQ(ev->action, "remove")) {
                        struct usb_device_state *d = device_find(u, name);
                        if (!d)
                                return;
                        device_unlink(u, d);
                        u->n_removed++;
                        (void)report(u, d, "usb.removed", EVENT_SEVERITY_INFO);
                        device_free(d);
                }
                return;
        }
        if (kind == USB_NODE_INTERFACE && STREQ(ev->action, "add")) {
                _cleanup_free_ char *dev_name = strndup(name, strcspn(name, ":"));
                if (!dev_name)
                        return;
                struct usb_device_state *d = device_find(u, dev_name);
                if (!d)
                        return; /* a root hub's own interface, or a device not yet decided */
                struct interface_ctx ic = { .u = u, .d = d };
                bool first_error = d->error == 0;
                if (interface_enforce_cb(u->base, name, NULL, dir, &ic) > 0 && first_error)
                        device_report(u, d); /* allowed, but enforcing it failed */
        }
}

static void on_block_event(struct usb_state *u, const struct uevent *ev)
{
        if (!STREQ(ev->action, "add"))
                return;
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s%s", u->base, ev->devpath) < 0)
                return;
        for (struct usb_device_state *d = u->devices; d; d = d->next) {
                size_t n = strlen(d->dir);
                if (strncmp(path, d->dir, n) == 0 && path[n] == '/') {
                        bool failed_before = d->read_only_failed;
                        device_enforce_read_only(u, d);
                        if (d->read_only_failed && !failed_before)
                                device_report(u, d);
                        return;
                }
        }
}

/* Reads every pending uevent and acts on it (u->lock held). Returns 0 when the socket is
 * drained, -errno when it cannot be read any more. */
static int drain_uevents(struct usb_state *u)
{
        char buf[UEVENT_BUFFER_SIZE + 1];
        for (;;) {
                ssize_t n = recv(u->fd, buf, UEVENT_BUFFER_SIZE, MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        if (errno == ENOBUFS) {
                                /* events were lost: look at everything again */
                                log_warning("Kernel uevents were lost; re-evaluating USB devices");
                                (void)hubs_fail_closed(u);
                                evaluate_all(u);
                                continue;
                        }
                        int r = negative_errno();
                        record_error(u, NULL, r, "read uevents");
                        return r;
                }
                u->event_usec = clock_usec(CLOCK_MONOTONIC);
                struct uevent ev;
                if (uevent_parse(buf, (size_t)n, &ev) < 0 || !ev.subsystem)
                        continue;
                if (STREQ(ev.subsystem, "usb"))
                        on_usb_event(u, &ev);
                else if (STREQ(ev.subsystem, "block"))
                        on_block_event(u, &ev);
        }
}

/* The uevent thread: waits on the socket, decides and writes sysfs, and wakes the main
 * loop when events are to be recorded. Nothing else runs here. */
static void *uevent_thread(void *userdata)
{
        struct usb_state *u = userdata;
        struct pollfd fds[2] = {
                { .fd = u->fd, .events = POLLIN },
                { .fd = u->stop_fd, .events = POLLIN },
        };
        for (;;) {
                if (poll(fds, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        log_error_errno(negative_errno(), "Waiting for uevents failed: %m. "
                                        "New USB devices stay blocked");
                        break;
                }
                if (fds[1].revents)
                        break;
                if (!fds[0].revents)
                        continue;
                pthread_mutex_lock(&u->lock);
                int r = drain_uevents(u);
                bool queued = u->pending;
                pthread_mutex_unlock(&u->lock);
                if (queued)
                        (void)eventfd_write(u->report_fd, 1);
                if (r < 0) {
                        log_error_errno(r, "Reading uevents failed: %m. New USB devices stay "
                                        "blocked");
                        break;
                }
        }
        return NULL;
}

static int on_reports(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct usb_state *u = userdata;
        eventfd_t n;
        (void)eventfd_read(fd, &n);
        flush_reports(u, true);
        return 0;
}

static int start_uevent_thread(struct usb_state *u)
{
        /* every signal blocked in the thread: they are the main loop's (signalfd) */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        int r = -pthread_create(&u->thread, NULL, uevent_thread, u);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r < 0)
                return r;
        u->thread_running = true;
        return 0;
}

/* ---- source operations ------------------------------------------------------------------ */

static void usb_shutdown(void *self)
{
        struct usb_state *u = self;
        if (!u)
                return;
        if (u->thread_running) {
                (void)eventfd_write(u->stop_fd, 1);
                pthread_join(u->thread, NULL);
        }
        /* decisions already made are still recorded; no notices while stopping */
        if (u->pending_tail)
                flush_reports(u, false);
        /* The fail-closed defaults stay: stopping the agent never opens the ports. */
        sd_event_source_disable_unref(u->report_io);
        sd_event_source_disable_unref(u->expiry);
        if (u->fd >= 0)
                close(u->fd);
        if (u->stop_fd >= 0)
                close(u->stop_fd);
        if (u->report_fd >= 0)
                close(u->report_fd);
        while (u->devices) {
                struct usb_device_state *d = u->devices;
                u->devices = d->next;
                device_free(d);
        }
        pthread_mutex_destroy(&u->lock);
        free(u->root);
        free(u->base);
        free(u);
}

static int usb_init(struct agent *agent, const struct policy *policy, void **ret_self)
{
        struct usb_state *u = calloc(1, sizeof *u);
        if (!u)
                return -ENOMEM;
        pthread_mutex_init(&u->lock, NULL);
        u->pending_tail = &u->pending;
        u->agent = agent;
        u->policy = policy;
        u->fd = u->stop_fd = u->report_fd = -1;
        const char *root = agent_sysfs_root(agent);
        u->root = strdup(root && *root ? root : "/");
        u->base = usb_sysfs_base(u->root);
        if (!u->root || !u->base) {
                usb_shutdown(u);
                return -ENOMEM;
        }
        if (gethostname(u->hostname, sizeof u->hostname - 1) < 0)
                snprintf(u->hostname, sizeof u->hostname, "localhost");

        /* listen first, so nothing plugged in during the start-up scan is missed */
        u->fd = uevent_socket_open();
        if (u->fd < 0) {
                int r = u->fd;
                usb_shutdown(u);
                return log_error_errno(r, "Cannot open the kernel uevent socket: %m");
        }
        u->stop_fd = eventfd(0, EFD_CLOEXEC);
        u->report_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (u->stop_fd < 0 || u->report_fd < 0) {
                int r = negative_errno();
                usb_shutdown(u);
                return log_error_errno(r, "Cannot create the USB source's eventfds: %m");
        }
        int r = sd_event_add_io(agent_event_loop(agent), &u->report_io, u->report_fd, EPOLLIN,
                                on_reports, u);
        if (r < 0) {
                usb_shutdown(u);
                return log_error_errno(r, "Cannot watch the USB source's eventfd: %m");
        }
        /* the highest priority: a decision is made durable before anything else is done */
        (void)sd_event_source_set_priority(u->report_io, SD_EVENT_PRIORITY_IMPORTANT);

        r = hubs_fail_closed(u);
        if (r < 0 && r != -ENOENT)
                record_error(u, NULL, r, "enumerate controllers");
        evaluate_all(u);
        flush_reports(u, true);
        (void)schedule_expiry(u);
        log_info("usb: %u of %u USB controller(s) fail closed, %s present device(s) evaluated",
                 u->n_hubs_fail_closed, u->n_hubs, u->devices ? "the" : "no");
        r = start_uevent_thread(u);
        if (r < 0) {
                usb_shutdown(u);
                return log_error_errno(r, "Cannot start the USB source's uevent thread: %m");
        }
        *ret_self = u;
        return 0;
}

static int usb_apply_policy(void *self, const struct policy *policy)
{
        struct usb_state *u = self;
        pthread_mutex_lock(&u->lock);
        u->policy = policy;
        evaluate_all(u);
        pthread_mutex_unlock(&u->lock);
        flush_reports(u, true);
        return schedule_expiry(u);
}

static unsigned blocks_last_day(const struct usb_state *u)
{
        uint64_t since = clock_usec(CLOCK_REALTIME) - DAY_USEC;
        unsigned n = 0;
        for (size_t i = 0; i < u->n_block_times; i++)
                if (u->block_times[i] >= since)
                        n++;
        return n;
}

static json_object *device_status(const struct usb_state *u, const struct usb_device_state *d)
{
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        device_identity_to_json(d, o);
        int a = usb_sysfs_read_bool(d->dir, "authorized");
        json_object_object_add(o, "authorized", a >= 0 ? json_object_new_boolean(a) : NULL);
        if (d->decision && u->policy)
                (void)usb_decision_to_json(d->decision, u->policy, o);
        /* the outcome as enforced, which an enforcement error turns into blocked */
        json_object_object_add(o, "outcome",
                               json_object_new_string(usb_outcome_to_string(effective_outcome(d))));
        if (d->error) {
                char text[160];
                snprintf(text, sizeof text, "%s: %s", d->error_what, strerror(-d->error));
                json_object_object_add(o, "enforcement_error", json_object_new_string(text));
        }
        return o;
}

static void usb_status_locked(struct usb_state *u, json_object *status)
{
        bool degraded = u->hub_error || u->n_hubs_fail_closed < u->n_hubs;
        json_object_object_add(status, "state", json_object_new_string(degraded ? "degraded" : "running"));
        json_object_object_add(status, "reason",
                               json_object_new_string(degraded ? u->last_error_text : ""));
        json_object_object_add(status, "controllers", json_object_new_int64(u->n_hubs));
        json_object_object_add(status, "controllers_fail_closed", json_object_new_int64(u->n_hubs_fail_closed));
        json_object_object_add(status, "blocked", json_object_new_int64((int64_t)u->n_blocked));
        json_object_object_add(status, "allowed", json_object_new_int64((int64_t)u->n_allowed));
        json_object_object_add(status, "read_only", json_object_new_int64((int64_t)u->n_read_only));
        json_object_object_add(status, "removed", json_object_new_int64((int64_t)u->n_removed));
        json_object_object_add(status, "errors", json_object_new_int64((int64_t)u->n_errors));
        json_object_object_add(status, "blocks_24h", json_object_new_int64(blocks_last_day(u)));
        if (u->last_error)
                json_object_object_add(status, "last_error", json_object_new_string(u->last_error_text));
        if (u->n_latency > 0) {
                uint32_t sorted[LATENCY_KEEP];
                memcpy(sorted, u->latency_usec, u->n_latency * sizeof *sorted);
                qsort(sorted, u->n_latency, sizeof *sorted, cmp_u32);
                json_object *lat = json_object_new_object();
                json_object_object_add(lat, "n", json_object_new_int64((int64_t)u->n_latency));
                json_object_object_add(lat, "p50", json_object_new_int64(sorted[u->n_latency / 2]));
                json_object_object_add(lat, "p99", json_object_new_int64(sorted[(u->n_latency * 99) / 100]));
                json_object_object_add(lat, "max", json_object_new_int64(sorted[u->n_latency - 1]));
                json_object_object_add(status, "decision_latency_usec", lat);
        }
        json_object *arr = json_object_new_array();
        for (const struct usb_device_state *d = u->devices; arr && d; d = d->next) {
                json_object *o = device_status(u, d);
                if (o)
                        json_object_array_add(arr, o);
        }
        json_object_object_add(status, "devices", arr);
}

static void usb_status(void *self, json_object *status)
{
        struct usb_state *u = self;
        pthread_mutex_lock(&u->lock);
        usb_status_locked(u, status);
        pthread_mutex_unlock(&u->lock);
}

struct storage_ctx {
        const struct usb_device_state *d;
        unsigned unallowed;
};

static int storage_check_cb(const char *base, const char *name, const char *devpath,
                            const char *dir, void *userdata)
{
        struct storage_ctx *c = userdata;
        uint8_t config, number;
        if (usb_node_classify(name, &config, &number) != USB_NODE_INTERFACE)
                return 0;
        if (usb_sysfs_read_bool(dir, "authorized") != 1)
                return 0;
        const struct usb_interface_verdict *v =
                c->d->decision ? usb_decision_find(c->d->decision, config, number) : NULL;
        /* authorized although the policy says no, or never announced */
        if (!v || !v->authorize || (v->read_only && c->d->read_only_failed))
                c->unallowed++;
        return 0;
}

static void usb_posture_locked(struct usb_state *u, json_object *checks)
{
        (void)hubs_fail_closed(u); /* re-asserts them, and counts what holds */
        unsigned unallowed = 0;
        for (const struct usb_device_state *d = u->devices; d; d = d->next) {
                struct storage_ctx c = { .d = d };
                (void)usb_sysfs_foreach_interface(d->dir, d->name, storage_check_cb, u->base, &c);
                unallowed += c.unallowed;
        }
        const char *result;
        char reason[512];
        if (u->n_hubs == 0) {
                result = "unknown";
                snprintf(reason, sizeof reason, "no USB controller found under %s", u->base);
        } else if (u->n_hubs_fail_closed < u->n_hubs) {
                result = "fail";
                snprintf(reason, sizeof reason, "%u of %u USB controllers not fail-closed: %s",
                         u->n_hubs - u->n_hubs_fail_closed, u->n_hubs, u->last_error_text);
        } else if (unallowed > 0) {
                result = "fail";
                snprintf(reason, sizeof reason, "%u USB interface(s) authorized that the policy does not allow",
                         unallowed);
        } else {
                result = "pass";
                snprintf(reason, sizeof reason,
                         "%u USB controller(s) fail-closed; no unregistered storage authorized", u->n_hubs);
        }
        json_object *o = json_object_new_object();
        if (!o)
                return;
        json_object_object_add(o, "result", json_object_new_string(result));
        json_object_object_add(o, "reason", json_object_new_string(reason));
        json_object_object_add(o, "controllers", json_object_new_int64(u->n_hubs));
        json_object_object_add(o, "controllers_fail_closed", json_object_new_int64(u->n_hubs_fail_closed));
        json_object_object_add(o, "unallowed_interfaces_authorized", json_object_new_int64(unallowed));
        json_object_object_add(o, "blocks_24h", json_object_new_int64(blocks_last_day(u)));
        json_object_object_add(checks, "removable_media", o);
}

static void usb_posture(void *self, json_object *checks)
{
        struct usb_state *u = self;
        pthread_mutex_lock(&u->lock);
        usb_posture_locked(u, checks);
        pthread_mutex_unlock(&u->lock);
}

const struct source_ops usb_source = {
        .name = "usb",
        .init = usb_init,
        .apply_policy = usb_apply_policy,
        .status = usb_status,
        .posture = usb_posture,
        .shutdown = usb_shutdown,
};

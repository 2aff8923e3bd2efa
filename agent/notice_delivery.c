/* notice_delivery.c — one notice to staff, shown by hogo-agent-helper; see
 * notice_delivery.h. Runs in the helper only, never in the agent.
 */
#include "agent/notice_delivery.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <utmpx.h>

#include "agent/catalog.h"
#include "agent/notice_text.h"
#include "agent/notify.h"
#include "common/canon_json.h"
#include "common/fileio.h"
#include "common/util.h"

#define NOTIFY_MAX_TARGETS 32
#define NOTIFY_MAX_TTYS 8

struct target {
        uid_t uid;
        char user[EVENT_USER_MAX];
        pid_t leader;
        unsigned graphical; /* active graphical sessions */
        char ttys[NOTIFY_MAX_TTYS][64];
        unsigned n_ttys;
};

static bool session_is_graphical(const char *type)
{
        return STREQ(type, "x11") || STREQ(type, "wayland") || STREQ(type, "mir");
}

static struct target *target_for(struct target *t, size_t *n, uid_t uid, const char *user)
{
        for (size_t i = 0; i < *n; i++)
                if (t[i].uid == uid)
                        return &t[i];
        if (*n >= NOTIFY_MAX_TARGETS)
                return NULL;
        struct target *x = &t[(*n)++];
        memset(x, 0, sizeof *x);
        x->uid = uid;
        snprintf(x->user, sizeof x->user, "%s", user);
        return x;
}

static void target_add_tty(struct target *t, const char *tty)
{
        if (!tty || !tty[0] || t->n_ttys >= NOTIFY_MAX_TTYS || strstr(tty, ".."))
                return;
        for (unsigned i = 0; i < t->n_ttys; i++)
                if (STREQ(t->ttys[i], tty))
                        return;
        snprintf(t->ttys[t->n_ttys++], sizeof t->ttys[0], "%s", tty);
}

/* The active sessions of user (NULL: everyone) from logind, grouped by uid. */
static int find_targets(const char *user, struct target *targets, size_t *ret_n)
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r = sd_bus_open_system(&bus);
        if (r < 0)
                return r;
        sd_bus_set_method_call_timeout(bus, NOTIFY_DBUS_TIMEOUT_USEC);

        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        r = sd_bus_call_method(bus, "org.freedesktop.login1", "/org/freedesktop/login1",
                               "org.freedesktop.login1.Manager", "ListSessions", NULL, &reply,
                               "");
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "(susso)");
        if (r < 0)
                return r;

        size_t n = 0;
        const char *id, *name, *seat, *path;
        uint32_t uid;
        while ((r = sd_bus_message_read(reply, "(susso)", &id, &uid, &name, &seat, &path)) > 0) {
                if (user && STRNEQ(user, name))
                        continue;
                const char *iface = "org.freedesktop.login1.Session";
                _cleanup_free_ char *type = NULL, *state = NULL, *tty = NULL;
                int active = 0;
                uint32_t leader = 0;
                if (sd_bus_get_property_string(bus, "org.freedesktop.login1", path, iface,
                                               "State", NULL, &state) < 0 ||
                    sd_bus_get_property_string(bus, "org.freedesktop.login1", path, iface,
                                               "Type", NULL, &type) < 0 ||
                    sd_bus_get_property_trivial(bus, "org.freedesktop.login1", path, iface,
                                                "Active", NULL, 'b', &active) < 0)
                        continue;
                (void)sd_bus_get_property_string(bus, "org.freedesktop.login1", path, iface,
                                                  "TTY", NULL, &tty);
                (void)sd_bus_get_property_trivial(bus, "org.freedesktop.login1", path, iface,
                                                  "Leader", NULL, 'u', &leader);
                if (!active && STRNEQ(state, "active"))
                        continue;
                struct target *t = target_for(targets, &n, uid, name);
                if (!t)
                        break;
                if (session_is_graphical(type))
                        t->graphical++;
                if (!t->leader || session_is_graphical(type))
                        t->leader = (pid_t)leader;
                target_add_tty(t, tty);
        }
        *ret_n = n;
        return r < 0 ? r : 0;
}

/* The language of the user's session from its leader's environment (what the session
 * was started with); Japanese when it cannot be read. */
static const char *target_language(const struct target *t)
{
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/environ", (int)t->leader);
        _cleanup_free_ char *env = NULL;
        size_t len = 0;
        if (t->leader <= 0 || read_file_bounded(path, 256 * 1024, &env, &len) < 0)
                return notice_language_for_environ("", 0);
        return notice_language_for_environ(env, len);
}

/* "unix:path=/run/user/%U/bus" → the user's address. */
static char *bus_address_for(const char *pattern, uid_t uid)
{
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        if (!f)
                return NULL;
        for (const char *p = pattern; *p; p++) {
                if (p[0] == '%' && p[1] == 'U') {
                        fprintf(f, "%u", (unsigned)uid);
                        p++;
                } else
                        fputc(*p, f);
        }
        fclose(f);
        return out;
}

/* Runs as the user in the grandchild: exit 0 when the daemon took the notice. */
static _Noreturn void notify_as_user(const struct target *t, const char *address,
                                     const char *summary, const char *body)
{
        /* the process that becomes the user keeps nothing of the helper's: not its
         * request, not its answer to the agent */
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0)
                _exit(3);
        struct passwd *pw = getpwuid(t->uid);
        gid_t gid = pw ? pw->pw_gid : (gid_t)t->uid;
        if ((pw ? initgroups(pw->pw_name, gid) : setgroups(0, NULL)) < 0 || setgid(gid) < 0 ||
            setuid(t->uid) < 0 || (t->uid != 0 && setuid(0) == 0))
                _exit(3);

        sd_bus *bus = NULL;
        if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, address) < 0 ||
            sd_bus_set_bus_client(bus, true) < 0 || sd_bus_start(bus) < 0)
                _exit(2);
        sd_bus_set_method_call_timeout(bus, NOTIFY_DBUS_TIMEOUT_USEC);
        int r = sd_bus_call_method(bus, "org.freedesktop.Notifications",
                                   "/org/freedesktop/Notifications",
                                   "org.freedesktop.Notifications", "Notify", NULL, NULL,
                                   "susssasa{sv}i", "hogo", (uint32_t)0, "dialog-warning",
                                   summary, body, 0, 1, "urgency", "y", (uint8_t)2, (int32_t)-1);
        _exit(r < 0 ? 2 : 0);
}

static int notify_graphical(const struct target *t, const char *address_pattern,
                            const char *summary, const char *body)
{
        _cleanup_free_ char *address = bus_address_for(address_pattern, t->uid);
        if (!address)
                return -ENOMEM;
        pid_t pid = fork();
        if (pid < 0)
                return negative_errno();
        if (pid == 0)
                notify_as_user(t, address, summary, body);
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return negative_errno();
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        return WIFEXITED(status) && WEXITSTATUS(status) == 3 ? -EPERM : -EHOSTUNREACH;
}

/* Like wall: the user's terminals from logind and utmp; never blocks on a stuck one. */
static unsigned notify_terminals(struct target *t, const char *summary, const char *body)
{
        setutxent();
        for (struct utmpx *u; (u = getutxent());)
                if (u->ut_type == USER_PROCESS && strncmp(u->ut_user, t->user,
                                                          sizeof u->ut_user) == 0) {
                        char line[sizeof u->ut_line + 1];
                        snprintf(line, sizeof line, "%.*s", (int)sizeof u->ut_line, u->ut_line);
                        target_add_tty(t, line);
                }
        endutxent();

        _cleanup_free_ char *text = NULL;
        if (asprintf(&text, "\r\n\a*** hogo: %s ***\r\n%s\r\n\r\n", summary, body) < 0)
                return 0;
        unsigned written = 0;
        for (unsigned i = 0; i < t->n_ttys; i++) {
                char path[80];
                snprintf(path, sizeof path, t->ttys[i][0] == '/' ? "%s" : "/dev/%s", t->ttys[i]);
                _cleanup_close_ int fd = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
                struct stat st;
                /* only a terminal that belongs to the user: never a file named like one */
                if (fd < 0 || fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || !isatty(fd) ||
                    (st.st_uid != t->uid && t->uid != 0))
                        continue;
                if (write(fd, text, strlen(text)) > 0)
                        written++;
        }
        return written;
}


static void child_report(FILE *out, const struct notice_request *a, const struct target *t,
                         const char *shown,
                         unsigned terminals, const char *lang, const char *reason)
{
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_int64(a->id));
        json_object_object_add(o, "user", json_object_new_string(t ? t->user : ""));
        json_object_object_add(o, "uid", json_object_new_int64(t ? (int64_t)t->uid : -1));
        json_object_object_add(o, "shown", json_object_new_string(shown));
        json_object_object_add(o, "graphical_sessions",
                               json_object_new_int64(t ? t->graphical : 0));
        json_object_object_add(o, "terminals", json_object_new_int64(terminals));
        if (lang)
                json_object_object_add(o, "language", json_object_new_string(lang));
        if (reason)
                json_object_object_add(o, "reason", json_object_new_string(reason));
        fprintf(out, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        fflush(out);
}

static void notify_target(FILE *out, struct target *t, const struct notice_request *a)
{
        const char *lang = target_language(t);
        struct catalog *catalog = NULL;
        if (catalog_open(a->locale_dir, lang, &catalog) < 0)
                catalog = NULL; /* the Japanese source text is always there */
        _cleanup_free_ char *summary = NULL, *body = NULL;
        int r = notice_render(&a->notice, catalog, a->contact, &summary, &body);
        catalog_free(catalog);
        if (r < 0)
                return child_report(out, a, t, "none", 0, lang, "cannot render the notice");

        char reason[256] = "";
        if (t->graphical > 0) {
                r = notify_graphical(t, a->address, summary, body);
                if (r >= 0)
                        return child_report(out, a, t, "graphical", 0, lang, NULL);
                snprintf(reason, sizeof reason,
                         r == -EPERM ? "cannot switch to the user"
                                     : "no notification daemon answered on the session bus");
        } else
                snprintf(reason, sizeof reason, "no graphical session");

        if (!a->fallback_terminals)
                return child_report(out, a, t, "none", 0, lang, reason);
        unsigned n = notify_terminals(t, summary, body);
        child_report(out, a, t, n > 0 ? "terminals" : "none", n, lang, reason);
}

void notice_deliver(FILE *out, const struct notice_request *a)
{
        struct target targets[NOTIFY_MAX_TARGETS];
        size_t n = 0;
        int r = find_targets(a->user, targets, &n);
        if (r < 0) {
                char reason[200];
                errno = -r;
                snprintf(reason, sizeof reason, "cannot list sessions from logind: %m");
                child_report(out, a, NULL, "none", 0, NULL, reason);
        }
        for (size_t i = 0; i < n; i++)
                notify_target(out, &targets[i], a);
        fflush(out);
}

static void add_string(json_object *o, const char *key, const char *value)
{
        if (value)
                json_object_object_add(o, key, json_object_new_string(value));
}

json_object *notice_request_to_json(const struct notice_request *req)
{
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        json_object_object_add(o, "id", json_object_new_int64(req->id));
        add_string(o, "user", req->user);
        add_string(o, "kind", notice_kind_to_string(req->notice.kind));
        add_string(o, "subject", req->notice.subject);
        json_object_object_add(o, "count", json_object_new_int64(req->notice.count));
        json_object_object_add(o, "seconds", json_object_new_int64(req->notice.seconds));
        add_string(o, "contact", req->contact);
        add_string(o, "address", req->address);
        add_string(o, "locale_dir", req->locale_dir);
        json_object_object_add(o, "fallback_terminals",
                               json_object_new_boolean(req->fallback_terminals));
        return o;
}

static const char *optional_string(json_object *o, const char *key, bool *bad)
{
        json_object *v = json_object_object_get(o, key);
        if (!v)
                return NULL;
        if (!json_object_is_type(v, json_type_string))
                *bad = true;
        return json_object_get_string(v);
}

int notice_request_from_json(json_object *o, struct notice_request *ret)
{
        if (!json_object_is_type(o, json_type_object))
                return -EINVAL;
        bool bad = false;
        const char *kind = optional_string(o, "kind", &bad);
        int k = kind ? notice_kind_from_string(kind) : -EINVAL;
        struct notice_request r = {
                .id = json_object_get_int64(json_object_object_get(o, "id")),
                .user = optional_string(o, "user", &bad),
                .notice = { .subject = optional_string(o, "subject", &bad),
                            .count = (long)json_object_get_int64(json_object_object_get(o, "count")),
                            .seconds = (long)json_object_get_int64(
                                    json_object_object_get(o, "seconds")) },
                .contact = optional_string(o, "contact", &bad),
                .address = optional_string(o, "address", &bad),
                .locale_dir = optional_string(o, "locale_dir", &bad),
                .fallback_terminals = json_object_get_boolean(
                        json_object_object_get(o, "fallback_terminals")),
        };
        if (bad || k < 0 || !r.contact || !r.address || !r.locale_dir)
                return -EINVAL;
        r.notice.kind = (enum notice_kind)k;
        *ret = r;
        return 0;
}

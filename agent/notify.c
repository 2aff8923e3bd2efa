/* notify.c — notices to staff, see notify.h.
 *
 * notifier_show() forks one child per notice. The child (still root) asks logind for the
 * sessions, and for each user concerned renders the notice in that user's language and
 * forks a grandchild that becomes the user (groups, gid, uid) and calls
 * org.freedesktop.Notifications.Notify on the user's session bus: the bus authenticates
 * the connecting uid, and a notice must never be a way into a user's session with root's
 * rights. When no daemon answers, the child writes the notice to the user's terminals.
 * It reports one JSON line per user through a pipe; the agent reads them in its loop and
 * records every notice that could not be shown graphically as an agent.notice_fallback
 * event.
 */
#include "agent/notify.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <utmpx.h>

#include "agent/agent_core.h"
#include "agent/catalog.h"
#include "agent/notice_ratelimit.h"
#include "agent/notice_text.h"
#include "common/canon_json.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/util.h"

#define NOTIFY_MAX_TARGETS 32
#define NOTIFY_MAX_TTYS 8

struct notifier {
        struct agent *agent;
        struct notice_ratelimit ratelimit;
        uint64_t shown, fallback, undelivered, suppressed;
        struct notify_job *jobs; /* children still running */
};

/* One child at work on one notice. */
struct notify_job {
        struct notifier *notifier;
        struct notify_job *next;
        pid_t pid;
        int fd;
        sd_event_source *io, *child, *timeout;
        enum notice_kind kind;
        char results[8192];
        size_t len;
        bool exited, eof;
};

/* ---- child side: runs in the forked process only ---------------------------------- */

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

struct child_args {
        const char *user;
        struct notice notice;
        const char *contact, *address, *locale_dir;
        bool fallback_terminals;
};

static void child_report(FILE *out, const struct target *t, const char *shown,
                         unsigned terminals, const char *lang, const char *reason)
{
        _cleanup_json_ json_object *o = json_object_new_object();
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

static void notify_target(FILE *out, struct target *t, const struct child_args *a)
{
        const char *lang = target_language(t);
        struct catalog *catalog = NULL;
        if (catalog_open(a->locale_dir, lang, &catalog) < 0)
                catalog = NULL; /* the Japanese source text is always there */
        _cleanup_free_ char *summary = NULL, *body = NULL;
        int r = notice_render(&a->notice, catalog, a->contact, &summary, &body);
        catalog_free(catalog);
        if (r < 0)
                return child_report(out, t, "none", 0, lang, "cannot render the notice");

        char reason[256] = "";
        if (t->graphical > 0) {
                r = notify_graphical(t, a->address, summary, body);
                if (r >= 0)
                        return child_report(out, t, "graphical", 0, lang, NULL);
                snprintf(reason, sizeof reason,
                         r == -EPERM ? "cannot switch to the user"
                                     : "no notification daemon answered on the session bus");
        } else
                snprintf(reason, sizeof reason, "no graphical session");

        if (!a->fallback_terminals)
                return child_report(out, t, "none", 0, lang, reason);
        unsigned n = notify_terminals(t, summary, body);
        child_report(out, t, n > 0 ? "terminals" : "none", n, lang, reason);
}

static _Noreturn void notify_child(int fd, const struct child_args *a)
{
        /* keep nothing of the agent's but the result pipe: the grandchild runs as a user */
        if (fd != 3) {
                if (dup2(fd, 3) < 0)
                        _exit(1);
        }
        close_range(4, ~0u, 0);
        FILE *out = fdopen(3, "w");
        if (!out)
                _exit(1);

        struct target targets[NOTIFY_MAX_TARGETS];
        size_t n = 0;
        int r = find_targets(a->user, targets, &n);
        if (r < 0) {
                char reason[200];
                errno = -r;
                snprintf(reason, sizeof reason, "cannot list sessions from logind: %m");
                child_report(out, NULL, "none", 0, NULL, reason);
        }
        for (size_t i = 0; i < n; i++)
                notify_target(out, &targets[i], a);
        fclose(out);
        _exit(0);
}

/* ---- agent side ---------------------------------------------------------------------- */

static void job_free(struct notify_job *job)
{
        struct notifier *n = job->notifier;
        for (struct notify_job **p = &n->jobs; *p; p = &(*p)->next)
                if (*p == job) {
                        *p = job->next;
                        break;
                }
        sd_event_source_disable_unref(job->io);
        sd_event_source_disable_unref(job->timeout);
        if (job->child && !job->exited) {
                kill(-job->pid, SIGKILL); /* the helper and any session-bus grandchild */
                kill(job->pid, SIGKILL);
                (void)waitpid(job->pid, NULL, 0);
        }
        sd_event_source_disable_unref(job->child);
        if (job->fd >= 0)
                close(job->fd);
        free(job);
}

static void job_result(struct notify_job *job, json_object *r)
{
        struct notifier *n = job->notifier;
        const char *shown = json_object_get_string(json_object_object_get(r, "shown"));
        const char *user = json_object_get_string(json_object_object_get(r, "user"));
        if (shown && STREQ(shown, "graphical")) {
                n->shown++;
                log_info("Notice %s shown to %s", notice_rule(job->kind), user ? user : "?");
                return;
        }
        if (shown && STREQ(shown, "terminals"))
                n->fallback++;
        else
                n->undelivered++;
        /* the notice could not be shown graphically: that itself is recorded */
        json_object *d = json_object_get(r);
        json_object_object_add(d, "rule", json_object_new_string(notice_rule(job->kind)));
        json_object_object_add(d, "notice_kind",
                               json_object_new_string(notice_kind_to_string(job->kind)));
        _cleanup_free_ char *who = user && user[0] ? strdup(user) : NULL;
        json_object_object_del(d, "user"); /* frees user: it is the event's user instead */
        agent_emit(n->agent, "agent.notice_fallback", EVENT_SEVERITY_NOTICE, who, d);
}

static void job_finish(struct notify_job *job)
{
        job->results[job->len] = '\0';
        for (char *line = job->results, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
                *nl = '\0';
                json_object *r = json_tokener_parse(line);
                if (r && json_object_is_type(r, json_type_object))
                        job_result(job, r);
                json_object_put(r);
        }
        job_free(job);
}

static int on_job_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct notify_job *job = userdata;
        ssize_t n = read(fd, job->results + job->len, sizeof job->results - 1 - job->len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n > 0) {
                job->len += (size_t)n;
                if (job->len < sizeof job->results - 1)
                        return 0;
        }
        job->eof = true;
        sd_event_source_set_enabled(job->io, SD_EVENT_OFF);
        if (job->exited)
                job_finish(job);
        return 0;
}

static int on_job_exit(sd_event_source *s, const siginfo_t *si, void *userdata)
{
        struct notify_job *job = userdata;
        job->exited = true;
        if (job->eof)
                job_finish(job);
        return 0;
}

static int on_job_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct notify_job *job = userdata;
        log_warning("Notice %s: the notification helper did not finish in time; stopped",
                    notice_rule(job->kind));
        job->notifier->undelivered++;
        job_free(job); /* kills and reaps the child */
        return 0;
}

void notifier_show(struct notifier *n, const char *user, const struct notice *notice)
{
        struct agent *agent = n->agent;
        uint64_t now;
        sd_event_now(agent->event, CLOCK_MONOTONIC, &now);
        if (!notice_ratelimit_allow(&n->ratelimit, notice->rate_key, now)) {
                n->suppressed++;
                log_debug("Notice %s for %s suppressed (rate limit on %s)",
                          notice_rule(notice->kind), user ? user : "everyone", notice->rate_key);
                return;
        }

        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0) {
                log_error_errno(negative_errno(), "Cannot show a notice: %m");
                return;
        }
        struct child_args a = {
                .user = user,
                .notice = *notice,
                .contact = agent->config->notify.contact,
                .address = agent->config->notify.session_bus_address,
                .locale_dir = agent->config->notify.locale_dir,
                .fallback_terminals = agent->config->notify.fallback == NOTIFY_FALLBACK_TERMINALS,
        };
        pid_t pid = fork();
        if (pid < 0) {
                log_error_errno(negative_errno(), "Cannot show a notice: fork: %m");
                close(fds[0]);
                close(fds[1]);
                return;
        }
        if (pid == 0) {
                /* its own process group, so that a stuck grandchild dies with it */
                (void)setpgid(0, 0);
                close(fds[0]);
                notify_child(fds[1], &a);
        }
        (void)setpgid(pid, pid); /* also here: whichever runs first */
        close(fds[1]);

        struct notify_job *job = calloc(1, sizeof *job);
        if (!job) {
                close(fds[0]);
                kill(pid, SIGKILL);
                (void)waitpid(pid, NULL, 0);
                return;
        }
        job->notifier = n;
        job->pid = pid;
        job->fd = fds[0];
        job->kind = notice->kind;
        job->next = n->jobs;
        n->jobs = job;
        fcntl(job->fd, F_SETFL, O_NONBLOCK);
        int r = sd_event_add_io(agent->event, &job->io, job->fd, EPOLLIN, on_job_io, job);
        if (r >= 0)
                r = sd_event_add_child(agent->event, &job->child, pid, WEXITED, on_job_exit, job);
        if (r >= 0)
                r = sd_event_add_time(agent->event, &job->timeout, CLOCK_MONOTONIC,
                                      now + NOTIFY_CHILD_TIMEOUT_USEC, 0, on_job_timeout, job);
        if (r < 0) {
                log_error_errno(r, "Cannot follow the notification helper: %m");
                if (!job->child) {
                        kill(pid, SIGKILL);
                        (void)waitpid(pid, NULL, 0);
                        job->exited = true;
                }
                job_free(job);
        }
}

int notifier_new(struct agent *agent, struct notifier **ret)
{
        struct notifier *n = calloc(1, sizeof *n);
        if (!n)
                return -ENOMEM;
        n->agent = agent;
        notice_ratelimit_init(&n->ratelimit, NOTIFY_RATELIMIT_INTERVAL_USEC,
                              NOTIFY_RATELIMIT_BURST);
        *ret = n;
        return 0;
}

void notifier_free(struct notifier *n)
{
        if (!n)
                return;
        while (n->jobs)
                job_free(n->jobs);
        free(n);
}

void notifier_status(struct notifier *n, json_object *status)
{
        json_object_object_add(status, "shown", json_object_new_int64((int64_t)n->shown));
        json_object_object_add(status, "fallback_terminals",
                               json_object_new_int64((int64_t)n->fallback));
        json_object_object_add(status, "undelivered",
                               json_object_new_int64((int64_t)n->undelivered));
        json_object_object_add(status, "suppressed",
                               json_object_new_int64((int64_t)n->suppressed));
}

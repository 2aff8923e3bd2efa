/* source_session.c — the `session` event source: screen lock and logoff via logind.
 *
 * 第三者の閲覧防止: every session on the system bus is tracked (SessionNew/SessionRemoved,
 * PropertiesChanged of each session object, and logind itself coming and going). On every
 * change and at the next threshold, session_plan_next() (session_rules.c) says what is due:
 * a notice ahead of a lock, Manager.LockSession, a lock_ignored report when LockedHint does
 * not follow, a logoff warning, Manager.TerminateSession. Between changes the source sleeps
 * on one realtime timer set to the earliest threshold of all sessions: no polling.
 *
 * On GNOME the policy's lock settings are also written as a locked system dconf profile
 * (dconf_lock.c) so the user cannot set them weaker; posture reads them back.
 *
 * Without a system bus or without logind the source reports "unavailable" and watches for
 * logind to (re)appear; the rest of the agent keeps working.
 */
#include <inttypes.h>
#include <pwd.h>
#include <systemd/sd-bus.h>
#include <time.h>

#include "agent/agent.h"
#include "agent/dconf_lock.h"
#include "agent/session_rules.h"
#include "agent/source.h"
#include "common/log.h"
#include "common/util.h"
#include "policy/policy.h"

#define LOGIND_SERVICE "org.freedesktop.login1"
#define LOGIND_PATH "/org/freedesktop/login1"
#define LOGIND_MANAGER "org.freedesktop.login1.Manager"
#define LOGIND_SESSION "org.freedesktop.login1.Session"
#define SESSION_PATH_PREFIX "/org/freedesktop/login1/session/"
#define USEC_PER_SEC 1000000ull
#define TIMER_ACCURACY_USEC (50 * 1000ull)
/* how long past its logoff time a session may still be open before posture fails */
#define POSTURE_LOGOFF_SLACK_SECONDS 30
#define LIST_RETRIES 10
#define LIST_RETRY_USEC (500 * 1000ull)

struct tracked_session {
        struct tracked_session *next;
        struct session_source *src;
        char *id;
        char *path;
        char *user;
        char *session_class;
        char *type;
        bool have_props;
        bool active;
        struct session_view view; /* user/session_class point into the fields above */
        sd_bus_slot *getall_slot;
};

struct session_source {
        struct agent *agent;
        sd_bus *bus;
        const struct policy *policy;
        struct tracked_session *sessions;
        sd_bus_slot *match_new, *match_removed, *match_props, *match_owner;
        sd_bus_slot *list_slot;
        sd_event_source *timer;
        sd_event_source *retry_timer; /* ListSessions again after logind failed to answer */
        unsigned list_attempts;
        bool logind_present;
        char reason[256];
        uint64_t locks_requested, lock_ignored, logoffs;
        int dconf_state; /* 1 written and verified, 0 not applicable, <0 error */
};

static void local_time(uint64_t usec, struct tm *ret)
{
        time_t t = (time_t)(usec / USEC_PER_SEC);
        localtime_r(&t, ret);
}

static void session_free(struct tracked_session *s)
{
        if (!s)
                return;
        sd_bus_slot_unref(s->getall_slot);
        free(s->id);
        free(s->path);
        free(s->user);
        free(s->session_class);
        free(s->type);
        free(s);
}

static struct tracked_session *session_find(struct session_source *src, const char *path)
{
        for (struct tracked_session *s = src->sessions; s; s = s->next)
                if (STREQ(s->path, path))
                        return s;
        return NULL;
}

static void session_remove(struct session_source *src, const char *path)
{
        for (struct tracked_session **p = &src->sessions; *p; p = &(*p)->next)
                if (STREQ((*p)->path, path)) {
                        struct tracked_session *s = *p;
                        *p = s->next;
                        session_free(s);
                        return;
                }
}

static uint64_t session_idle_usec(const struct tracked_session *s, uint64_t now)
{
        return s->view.idle_hint && s->view.idle_since_usec && now > s->view.idle_since_usec
                       ? now - s->view.idle_since_usec
                       : 0;
}

static json_object *session_details(const struct tracked_session *s, uint64_t now,
                                    const struct session_plan *plan)
{
        json_object *d = json_object_new_object();
        json_object_object_add(d, "session", json_object_new_string(s->id));
        json_object_object_add(d, "type", json_object_new_string(s->type ? s->type : ""));
        json_object_object_add(d, "class", json_object_new_string(s->session_class ? s->session_class : ""));
        uint64_t idle = session_idle_usec(s, now);
        json_object_object_add(d, "idle_seconds", json_object_new_int64((int64_t)(idle / USEC_PER_SEC)));
        if (plan && plan->reason != SESSION_REASON_NONE)
                json_object_object_add(d, "rule",
                                       json_object_new_string(session_reason_rule(plan->reason)));
        return d;
}

static int on_manager_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        const sd_bus_error *e = sd_bus_message_get_error(m);
        if (e)
                log_warning("logind refused %s: %s", (const char *)userdata, e->message);
        return 0;
}

static void call_manager(struct session_source *src, const char *method, const char *id)
{
        /* Asynchronous: the loop never waits for logind. A refused Lock also shows up as
         * LockedHint not following (lock_ignored); the refusal itself is logged here. */
        int r = sd_bus_call_method_async(src->bus, NULL, LOGIND_SERVICE, LOGIND_PATH,
                                         LOGIND_MANAGER, method, on_manager_reply,
                                         (void *)method, "s", id);
        if (r < 0)
                log_warning_errno(r, "Cannot call logind %s for session %s: %m", method, id);
}

static void source_rearm(struct session_source *src);

/* Runs the rules for one session until nothing more is due now. */
static void session_evaluate(struct session_source *src, struct tracked_session *s, uint64_t now)
{
        if (!s->have_props || !src->policy)
                return;

        struct tm local;
        local_time(now, &local);
        for (int guard = 0; guard < 8; guard++) {
                struct session_plan plan;
                session_plan_next(src->policy, &s->view, now, &local, &plan);
                struct notice n = { .rate_key = s->id };

                switch (plan.action) {
                case SESSION_ACTION_NONE: return;
                case SESSION_ACTION_LOCK_WARN:
                        s->view.lock_warned_usec = now;
                        n.kind = NOTICE_LOCK_WARNING;
                        n.seconds = plan.seconds_left;
                        agent_notice(src->agent, s->user, &n);
                        break;
                case SESSION_ACTION_LOCK:
                        s->view.lock_requested_usec = now;
                        src->locks_requested++;
                        log_info("Session %s of %s idle %" PRIu64 " s: locking", s->id, s->user,
                                 (uint64_t)(plan.idle_usec / USEC_PER_SEC));
                        call_manager(src, "LockSession", s->id);
                        break;
                case SESSION_ACTION_LOCK_IGNORED:
                        s->view.lock_ignored_reported = true;
                        src->lock_ignored++;
                        agent_emit(src->agent, "session.lock_ignored", EVENT_SEVERITY_WARNING,
                                   s->user, session_details(s, now, &plan));
                        break;
                case SESSION_ACTION_LOGOFF_WARN: {
                        s->view.logoff_warned_usec = now;
                        s->view.logoff_due_usec = now + (uint64_t)plan.seconds_left * USEC_PER_SEC;
                        s->view.logoff_for_hours = plan.reason == SESSION_REASON_HOURS;
                        json_object *d = session_details(s, now, &plan);
                        json_object_object_add(d, "seconds_left",
                                               json_object_new_int64(plan.seconds_left));
                        agent_emit(src->agent, "session.logoff_warning", EVENT_SEVERITY_NOTICE,
                                   s->user, d);
                        n.kind = s->view.logoff_for_hours ? NOTICE_LOGOFF_HOURS
                                                          : NOTICE_LOGOFF_WARNING;
                        n.seconds = plan.seconds_left;
                        agent_notice(src->agent, s->user, &n);
                        break;
                }
                case SESSION_ACTION_LOGOFF:
                        src->logoffs++;
                        agent_emit(src->agent, "session.logged_off", EVENT_SEVERITY_WARNING,
                                   s->user, session_details(s, now, &plan));
                        call_manager(src, "TerminateSession", s->id);
                        /* logind removes the session; until then nothing more is due */
                        s->view.logoff_warned_usec = now;
                        s->view.logoff_due_usec = UINT64_MAX;
                        return;
                }
        }
}

static void evaluate_all(struct session_source *src)
{
        uint64_t now = clock_usec(CLOCK_REALTIME);
        for (struct tracked_session *s = src->sessions; s; s = s->next)
                session_evaluate(src, s, now);
        source_rearm(src);
}

static int on_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
        evaluate_all(userdata);
        return 0;
}

static void source_rearm(struct session_source *src)
{
        uint64_t now = clock_usec(CLOCK_REALTIME), next = 0;
        struct tm local;
        local_time(now, &local);
        for (struct tracked_session *s = src->sessions; s; s = s->next) {
                if (!s->have_props || !src->policy)
                        continue;
                struct session_plan plan;
                session_plan_next(src->policy, &s->view, now, &local, &plan);
                uint64_t t = plan.action != SESSION_ACTION_NONE ? now : plan.next_check_usec;
                if (t && (!next || t < next))
                        next = t;
        }
        /* hours rules change with the clock even without sessions changing: look again at
         * least every minute while sessions exist */
        if (src->sessions && (!next || next > now + 60 * USEC_PER_SEC))
                next = now + 60 * USEC_PER_SEC;

        if (!next) {
                if (src->timer)
                        sd_event_source_set_enabled(src->timer, SD_EVENT_OFF);
                return;
        }
        if (!src->timer) {
                int r = sd_event_add_time(agent_event_loop(src->agent), &src->timer,
                                          CLOCK_REALTIME, next, TIMER_ACCURACY_USEC, on_timer,
                                          src);
                if (r < 0)
                        log_error_errno(r, "Cannot arm the session timer: %m");
                return;
        }
        sd_event_source_set_time(src->timer, next);
        sd_event_source_set_enabled(src->timer, SD_EVENT_ONESHOT);
}

/* Applies one property from a GetAll reply or a PropertiesChanged signal. */
static int apply_property(struct tracked_session *s, sd_bus_message *m, const char *name,
                          uint64_t now)
{
        int r;
        if (STREQ(name, "IdleHint") || STREQ(name, "LockedHint") || STREQ(name, "Active")) {
                int b;
                if ((r = sd_bus_message_read(m, "v", "b", &b)) < 0)
                        return r;
                if (STREQ(name, "Active")) {
                        s->active = b;
                } else if (STREQ(name, "IdleHint")) {
                        bool was = s->view.idle_hint;
                        s->view.idle_hint = b;
                        if (was && !b) {
                                /* activity: pending lock and idle-logoff steps start over */
                                if (s->view.logoff_warned_usec && !s->view.logoff_for_hours &&
                                    s->view.logoff_due_usec != UINT64_MAX && s->have_props)
                                        agent_emit(s->src->agent, "session.logoff_cancelled",
                                                   EVENT_SEVERITY_INFO, s->user,
                                                   session_details(s, now, NULL));
                                s->view.lock_warned_usec = 0;
                                s->view.lock_requested_usec = 0;
                                s->view.lock_ignored_reported = false;
                                if (!s->view.logoff_for_hours)
                                        s->view.logoff_warned_usec = s->view.logoff_due_usec = 0;
                        }
                } else {
                        bool was = s->view.locked_hint;
                        s->view.locked_hint = b;
                        if (s->have_props && was != (bool)b) {
                                json_object *d = session_details(s, now, NULL);
                                json_object_object_add(
                                        d, "requested_by_agent",
                                        json_object_new_boolean(s->view.lock_requested_usec != 0));
                                agent_emit(s->src->agent, b ? "session.locked" : "session.unlocked",
                                           EVENT_SEVERITY_INFO, s->user, d);
                        }
                }
                return 1;
        }
        if (STREQ(name, "IdleSinceHint")) {
                uint64_t v;
                if ((r = sd_bus_message_read(m, "v", "t", &v)) < 0)
                        return r;
                s->view.idle_since_usec = v;
                return 1;
        }
        if (STREQ(name, "Class") || STREQ(name, "Type") || STREQ(name, "Name")) {
                const char *v;
                if ((r = sd_bus_message_read(m, "v", "s", &v)) < 0)
                        return r;
                char **field = STREQ(name, "Class") ? &s->session_class
                               : STREQ(name, "Type") ? &s->type
                                                     : &s->user;
                char *copy = strdup(v);
                if (!copy)
                        return -ENOMEM;
                free(*field);
                *field = copy;
                s->view.user = s->user;
                s->view.session_class = s->session_class;
                return 1;
        }
        return sd_bus_message_skip(m, "v");
}

static int read_properties(struct tracked_session *s, sd_bus_message *m, uint64_t now)
{
        int r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *name;
                if ((r = sd_bus_message_read(m, "s", &name)) < 0 ||
                    (r = apply_property(s, m, name, now)) < 0 ||
                    (r = sd_bus_message_exit_container(m)) < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int on_getall(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        struct tracked_session *s = userdata;
        struct session_source *src = s->src;
        s->getall_slot = sd_bus_slot_unref(s->getall_slot);

        if (sd_bus_message_is_method_error(m, NULL)) {
                log_warning("Cannot read session %s from logind: %s", s->id,
                            sd_bus_message_get_error(m)->message);
                session_remove(src, s->path);
                return 0;
        }
        int r = read_properties(s, m, clock_usec(CLOCK_REALTIME));
        if (r < 0) {
                log_warning_errno(r, "Malformed properties of session %s: %m", s->id);
                session_remove(src, s->path);
                return 0;
        }
        s->have_props = true;
        log_debug("Tracking session %s of %s (class %s, type %s)", s->id, s->user,
                  s->session_class, s->type);
        session_evaluate(src, s, clock_usec(CLOCK_REALTIME));
        source_rearm(src);
        return 0;
}

static int session_track(struct session_source *src, const char *id, const char *path)
{
        if (session_find(src, path))
                return 0;
        struct tracked_session *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->src = src;
        s->id = strdup(id);
        s->path = strdup(path);
        s->user = strdup("");
        s->session_class = strdup("");
        if (!s->id || !s->path || !s->user || !s->session_class) {
                session_free(s);
                return -ENOMEM;
        }
        s->view.user = s->user;
        s->view.session_class = s->session_class;
        int r = sd_bus_call_method_async(src->bus, &s->getall_slot, LOGIND_SERVICE, path,
                                         "org.freedesktop.DBus.Properties", "GetAll", on_getall,
                                         s, "s", LOGIND_SESSION);
        if (r < 0) {
                session_free(s);
                return log_warning_errno(r, "Cannot query session %s: %m", id);
        }
        s->next = src->sessions;
        src->sessions = s;
        return 0;
}

static int list_sessions(struct session_source *src);

static int on_list_retry(sd_event_source *es, uint64_t usec, void *userdata)
{
        struct session_source *src = userdata;
        int r = list_sessions(src);
        if (r < 0)
                log_warning_errno(r, "Cannot ask logind for sessions: %m");
        return 0;
}

static int on_list_sessions(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        struct session_source *src = userdata;
        src->list_slot = sd_bus_slot_unref(src->list_slot);
        if (sd_bus_message_is_method_error(m, NULL)) {
                src->logind_present = false;
                snprintf(src->reason, sizeof src->reason, "logind does not answer: %s",
                         sd_bus_message_get_error(m)->message);
                log_full_errno(src->list_attempts == 0 ? LOG_WARNING : LOG_DEBUG, 0,
                               "Session control unavailable: %s", src->reason);
                /* logind may have taken its name before exporting its objects (a restart):
                 * ask again a few times before waiting for the next NameOwnerChanged */
                if (++src->list_attempts <= LIST_RETRIES) {
                        src->retry_timer = sd_event_source_disable_unref(src->retry_timer);
                        int r = sd_event_add_time_relative(agent_event_loop(src->agent),
                                                           &src->retry_timer, CLOCK_MONOTONIC,
                                                           LIST_RETRY_USEC, 0, on_list_retry, src);
                        if (r < 0)
                                log_warning_errno(r, "Cannot schedule asking logind again: %m");
                }
                return 0;
        }
        src->list_attempts = 0;
        int r = sd_bus_message_enter_container(m, 'a', "(susso)");
        if (r < 0)
                goto malformed;
        const char *id, *user, *seat, *path;
        uint32_t uid;
        while ((r = sd_bus_message_read(m, "(susso)", &id, &uid, &user, &seat, &path)) > 0)
                session_track(src, id, path);
        if (r < 0)
                goto malformed;
        src->logind_present = true;
        src->reason[0] = '\0';
        return 0;
malformed:
        log_warning_errno(r, "Malformed ListSessions reply from logind: %m");
        return 0;
}

static int list_sessions(struct session_source *src)
{
        src->list_slot = sd_bus_slot_unref(src->list_slot);
        return sd_bus_call_method_async(src->bus, &src->list_slot, LOGIND_SERVICE, LOGIND_PATH,
                                        LOGIND_MANAGER, "ListSessions", on_list_sessions, src,
                                        NULL);
}

static int on_session_new(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        struct session_source *src = userdata;
        const char *id, *path;
        if (sd_bus_message_read(m, "so", &id, &path) >= 0)
                session_track(src, id, path);
        return 0;
}

static int on_session_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        struct session_source *src = userdata;
        const char *id, *path;
        if (sd_bus_message_read(m, "so", &id, &path) >= 0) {
                session_remove(src, path);
                source_rearm(src);
        }
        return 0;
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        struct session_source *src = userdata;
        const char *iface;
        struct tracked_session *s = session_find(src, sd_bus_message_get_path(m));
        if (!s || !s->have_props || sd_bus_message_read(m, "s", &iface) < 0 ||
            STRNEQ(iface, LOGIND_SESSION))
                return 0;
        int r = read_properties(s, m, clock_usec(CLOCK_REALTIME));
        if (r < 0) {
                log_warning_errno(r, "Malformed PropertiesChanged for session %s: %m", s->id);
                return 0;
        }
        session_evaluate(src, s, clock_usec(CLOCK_REALTIME));
        source_rearm(src);
        return 0;
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        struct session_source *src = userdata;
        const char *name, *old_owner, *new_owner;
        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 ||
            STRNEQ(name, LOGIND_SERVICE))
                return 0;
        /* logind restarted or went away: sessions are re-read from the new instance */
        while (src->sessions) {
                struct tracked_session *s = src->sessions;
                src->sessions = s->next;
                session_free(s);
        }
        if (*new_owner) {
                log_info("logind appeared on the system bus; tracking sessions again");
                src->list_attempts = 0;
                list_sessions(src);
        } else {
                src->logind_present = false;
                snprintf(src->reason, sizeof src->reason, "logind left the system bus");
                log_warning("Session control unavailable: %s", src->reason);
        }
        source_rearm(src);
        return 0;
}

static void apply_dconf(struct session_source *src)
{
        src->dconf_state = dconf_lock_install(agent_desktop_root(src->agent),
                                              &src->policy->screen_lock);
        if (src->dconf_state < 0 && src->dconf_state != -ENOENT)
                log_warning_errno(src->dconf_state,
                                  "Cannot write the desktop lock settings: %m");
}

static int session_init(struct agent *agent, const struct policy *policy, void **ret_self)
{
        struct session_source *src = calloc(1, sizeof *src);
        if (!src)
                return -ENOMEM;
        src->agent = agent;
        src->policy = policy;
        src->bus = agent_system_bus(agent);
        apply_dconf(src);

        if (!src->bus) {
                snprintf(src->reason, sizeof src->reason, "no system bus");
                *ret_self = src;
                return 0;
        }
        int r;
        if ((r = sd_bus_match_signal(src->bus, &src->match_new, LOGIND_SERVICE, LOGIND_PATH,
                                     LOGIND_MANAGER, "SessionNew", on_session_new, src)) < 0 ||
            (r = sd_bus_match_signal(src->bus, &src->match_removed, LOGIND_SERVICE, LOGIND_PATH,
                                     LOGIND_MANAGER, "SessionRemoved", on_session_removed,
                                     src)) < 0 ||
            (r = sd_bus_add_match(src->bus, &src->match_props,
                                  "type='signal',sender='" LOGIND_SERVICE "',"
                                  "interface='org.freedesktop.DBus.Properties',"
                                  "member='PropertiesChanged',"
                                  "path_namespace='/org/freedesktop/login1/session'",
                                  on_properties_changed, src)) < 0 ||
            (r = sd_bus_match_signal(src->bus, &src->match_owner, "org.freedesktop.DBus",
                                     "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                     "NameOwnerChanged", on_name_owner_changed, src)) < 0) {
                snprintf(src->reason, sizeof src->reason, "cannot subscribe to logind: %s",
                         strerror(-r));
                log_warning_errno(r, "Cannot subscribe to logind signals: %m");
                *ret_self = src;
                return 0;
        }
        snprintf(src->reason, sizeof src->reason, "waiting for logind");
        if ((r = list_sessions(src)) < 0)
                log_warning_errno(r, "Cannot ask logind for sessions: %m");
        *ret_self = src;
        return 0;
}

static int session_apply_policy(void *self, const struct policy *policy)
{
        struct session_source *src = self;
        src->policy = policy;
        apply_dconf(src);
        evaluate_all(src);
        return 0;
}

static size_t count_sessions(struct session_source *src)
{
        size_t n = 0;
        for (struct tracked_session *s = src->sessions; s; s = s->next)
                n++;
        return n;
}

static void session_status(void *self, json_object *status)
{
        struct session_source *src = self;
        bool running = src->bus && src->logind_present;
        json_object_object_add(status, "state",
                               json_object_new_string(running ? "running" : "unavailable"));
        json_object_object_add(status, "reason", json_object_new_string(src->reason));
        json_object_object_add(status, "sessions",
                               json_object_new_int64((int64_t)count_sessions(src)));
        json_object_object_add(status, "locks_requested",
                               json_object_new_int64((int64_t)src->locks_requested));
        json_object_object_add(status, "lock_ignored",
                               json_object_new_int64((int64_t)src->lock_ignored));
        json_object_object_add(status, "logoffs", json_object_new_int64((int64_t)src->logoffs));

        uint64_t now = clock_usec(CLOCK_REALTIME);
        json_object *list = json_object_new_array();
        for (struct tracked_session *s = src->sessions; s; s = s->next) {
                if (!s->have_props)
                        continue;
                uint64_t idle = session_idle_usec(s, now);
                uint64_t limit = (uint64_t)src->policy->screen_lock.idle_lock_seconds * USEC_PER_SEC;
                json_object *o = json_object_new_object();
                json_object_object_add(o, "session", json_object_new_string(s->id));
                json_object_object_add(o, "user", json_object_new_string(s->user));
                json_object_object_add(o, "class", json_object_new_string(s->session_class));
                json_object_object_add(o, "idle_seconds",
                                       json_object_new_int64((int64_t)(idle / USEC_PER_SEC)));
                json_object_object_add(o, "locked", json_object_new_boolean(s->view.locked_hint));
                json_object_object_add(
                        o, "exempt",
                        json_object_new_boolean(policy_session_exempt(src->policy, s->session_class, s->user)));
                int64_t to_lock = s->view.locked_hint || !limit ? -1
                                  : idle >= limit             ? 0
                                                              : (int64_t)((limit - idle) / USEC_PER_SEC);
                json_object_object_add(o, "seconds_to_lock", json_object_new_int64(to_lock));
                json_object_array_add(list, o);
        }
        json_object_object_add(status, "session_list", list);
}

static void add_check(json_object *checks, const char *name, const char *result,
                      const char *reason)
{
        json_object *c = json_object_new_object();
        json_object_object_add(c, "result", json_object_new_string(result));
        json_object_object_add(c, "reason", json_object_new_string(reason));
        json_object_object_add(checks, name, c);
}

static void session_posture(void *self, json_object *checks)
{
        struct session_source *src = self;
        char reason[512];

        if (!src->bus || !src->logind_present) {
                snprintf(reason, sizeof reason, "session control unavailable: %s", src->reason);
                add_check(checks, "screen_lock", "unknown", reason);
                add_check(checks, "logoff", "unknown", reason);
        } else {
                uint64_t now = clock_usec(CLOCK_REALTIME);
                size_t overdue = 0, ignored = 0, not_logged_off = 0, tracked = 0;
                for (struct tracked_session *s = src->sessions; s; s = s->next) {
                        if (!s->have_props ||
                            policy_session_exempt(src->policy, s->session_class, s->user))
                                continue;
                        tracked++;
                        uint64_t idle = session_idle_usec(s, now);
                        uint64_t lock_limit = (uint64_t)(src->policy->screen_lock.idle_lock_seconds +
                                                         src->policy->screen_lock.lock_grace_seconds) *
                                              USEC_PER_SEC;
                        uint64_t logoff_limit = (uint64_t)(src->policy->logoff.idle_logoff_seconds +
                                                           src->policy->logoff.warn_before_seconds +
                                                           POSTURE_LOGOFF_SLACK_SECONDS) *
                                                USEC_PER_SEC;
                        /* past its limit (and the grace the lock is given) and unlocked */
                        if (!s->view.locked_hint && src->policy->screen_lock.idle_lock_seconds &&
                            idle > lock_limit)
                                overdue++;
                        if (s->view.lock_ignored_reported)
                                ignored++;
                        if (src->policy->logoff.idle_logoff_seconds && idle > logoff_limit)
                                not_logged_off++;
                }
                if (overdue || ignored)
                        snprintf(reason, sizeof reason,
                                 "%zu session(s) idle past the lock limit and unlocked, %zu "
                                 "ignored a lock request",
                                 overdue, ignored);
                else
                        snprintf(reason, sizeof reason,
                                 "%zu session(s) tracked; none idle past %" PRIu32 " s unlocked",
                                 tracked, src->policy->screen_lock.idle_lock_seconds);
                add_check(checks, "screen_lock", overdue || ignored ? "fail" : "pass", reason);
                if (not_logged_off)
                        snprintf(reason, sizeof reason,
                                 "%zu session(s) idle past the logoff limit still open",
                                 not_logged_off);
                else
                        snprintf(reason, sizeof reason,
                                 "%zu session(s) tracked; none idle past %" PRIu32 " s",
                                 tracked, src->policy->logoff.idle_logoff_seconds);
                add_check(checks, "logoff", not_logged_off ? "fail" : "pass", reason);
        }

        char dreason[512];
        int d = dconf_lock_check(agent_desktop_root(src->agent), &src->policy->screen_lock,
                                 dreason, sizeof dreason);
        add_check(checks, "desktop_lock_settings", d > 0 ? "pass" : d == 0 ? "fail" : "unknown",
                  dreason);
}

static void session_shutdown(void *self)
{
        struct session_source *src = self;
        if (!src)
                return;
        while (src->sessions) {
                struct tracked_session *s = src->sessions;
                src->sessions = s->next;
                session_free(s);
        }
        sd_bus_slot_unref(src->match_new);
        sd_bus_slot_unref(src->match_removed);
        sd_bus_slot_unref(src->match_props);
        sd_bus_slot_unref(src->match_owner);
        sd_bus_slot_unref(src->list_slot);
        sd_event_source_disable_unref(src->timer);
        sd_event_source_disable_unref(src->retry_timer);
        free(src);
}

const struct source_ops session_source = {
        .name = "session",
        .init = session_init,
        .apply_policy = session_apply_policy,
        .status = session_status,
        .posture = session_posture,
        .shutdown = session_shutdown,
};

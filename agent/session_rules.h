/* session_rules.h — when a logind session must be warned, locked or logged off.
 *
 * Pure: given the policy, what logind says about one session, what the agent has already
 * done to it, and the time, session_plan_next() says the one action due now and when the
 * session must be looked at again. The session source (source_session.c) does the D-Bus
 * work and calls this on every change and timer; the tests pin the rules down directly.
 *
 * The rules (第三者の閲覧防止):
 *  - exempt classes and users (policy logoff.exempt_*) are left alone;
 *  - idle for screen_lock.idle_lock_seconds and not locked → Lock (a notice
 *    screen_lock.warn_before_seconds ahead when set);
 *  - Lock asked but LockedHint not true after screen_lock.lock_grace_seconds →
 *    lock_ignored (once), and with lock_ignored_action=logoff the logoff path follows;
 *  - idle for logoff.idle_logoff_seconds, or use outside logoff.hours → a warning
 *    logoff.warn_before_seconds ahead, then TerminateSession; activity during the warning
 *    cancels it (the caller clears logoff_warned_usec when IdleHint turns false).
 */
#ifndef HOGO_AGENT_SESSION_RULES_H
#define HOGO_AGENT_SESSION_RULES_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "policy/policy.h"

struct session_view {
        const char *user;
        const char *session_class; /* logind Class: "user", "greeter", "lock-screen", … */
        bool idle_hint;
        uint64_t idle_since_usec;  /* realtime; meaningful when idle_hint */
        bool locked_hint;

        /* what the agent already did (0: not done) */
        uint64_t lock_warned_usec;
        uint64_t lock_requested_usec;
        bool lock_ignored_reported;
        uint64_t logoff_warned_usec;
        uint64_t logoff_due_usec;  /* the time the warning announced */
        bool logoff_for_hours;     /* the warning given was for the hours rule (activity
                                    * does not cancel it) */
};

enum session_action {
        SESSION_ACTION_NONE,
        SESSION_ACTION_LOCK_WARN,
        SESSION_ACTION_LOCK,
        SESSION_ACTION_LOCK_IGNORED,
        SESSION_ACTION_LOGOFF_WARN,
        SESSION_ACTION_LOGOFF,
};
const char *session_action_to_string(enum session_action a);

enum session_reason {
        SESSION_REASON_NONE,
        SESSION_REASON_IDLE_LOCK,    /* screen_lock.idle_lock_seconds */
        SESSION_REASON_LOCK_IGNORED, /* screen_lock.lock_ignored_action */
        SESSION_REASON_IDLE_LOGOFF,  /* logoff.idle_logoff_seconds */
        SESSION_REASON_HOURS,        /* logoff.hours */
};
/* The policy path of the rule, e.g. "screen_lock.idle_lock_seconds". */
const char *session_reason_rule(enum session_reason r);

struct session_plan {
        enum session_action action;
        enum session_reason reason;
        int64_t seconds_left;    /* for warnings: until the lock/logoff */
        uint64_t idle_usec;      /* how long the session has been idle */
        uint64_t next_check_usec; /* realtime of the next threshold; 0: none */
        bool exempt;
};

void session_plan_next(const struct policy *policy, const struct session_view *s,
                       uint64_t now_usec, const struct tm *local_now,
                       struct session_plan *ret);

#endif

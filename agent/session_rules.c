/* session_rules.c — see session_rules.h. */
#include "agent/session_rules.h"

#include "common/util.h"

#define USEC_PER_SEC 1000000ull

const char *session_action_to_string(enum session_action a)
{
        switch (a) {
        case SESSION_ACTION_NONE: return "none";
        case SESSION_ACTION_LOCK_WARN: return "lock_warning";
        case SESSION_ACTION_LOCK: return "lock";
        case SESSION_ACTION_LOCK_IGNORED: return "lock_ignored";
        case SESSION_ACTION_LOGOFF_WARN: return "logoff_warning";
        case SESSION_ACTION_LOGOFF: return "logoff";
        }
        return "invalid";
}

const char *session_reason_rule(enum session_reason r)
{
        switch (r) {
        case SESSION_REASON_NONE: return "";
        case SESSION_REASON_IDLE_LOCK: return "screen_lock.idle_lock_seconds";
        case SESSION_REASON_LOCK_IGNORED: return "screen_lock.lock_ignored_action";
        case SESSION_REASON_IDLE_LOGOFF: return "logoff.idle_logoff_seconds";
        case SESSION_REASON_HOURS: return "logoff.hours";
        }
        return "";
}

static void consider(uint64_t *next, uint64_t now, uint64_t t)
{
        if (t > now && (*next == 0 || t < *next))
                *next = t;
}

static int64_t seconds_until(uint64_t now, uint64_t t)
{
        return t > now ? (int64_t)((t - now + USEC_PER_SEC - 1) / USEC_PER_SEC) : 0;
}

/* When logoff becomes due and why, before any warning: the earliest of the hours rule,
 * idle logoff and an ignored lock escalated to logoff. UINT64_MAX when none applies. */
static uint64_t logoff_deadline(const struct policy *p, const struct session_view *s,
                                uint64_t now, const struct tm *local,
                                enum session_reason *ret_reason)
{
        uint64_t at = UINT64_MAX;
        enum session_reason reason = SESSION_REASON_NONE;

        int64_t hours_left = policy_logoff_hours_seconds_left(&p->logoff, local);
        if (hours_left >= 0) {
                at = now + (uint64_t)hours_left * USEC_PER_SEC;
                reason = SESSION_REASON_HOURS;
        }
        if (p->logoff.idle_logoff_seconds > 0 && s->idle_hint && s->idle_since_usec > 0) {
                uint64_t t = s->idle_since_usec + p->logoff.idle_logoff_seconds * USEC_PER_SEC;
                if (t < at) {
                        at = t;
                        reason = SESSION_REASON_IDLE_LOGOFF;
                }
        }
        if (p->screen_lock.lock_ignored_action == POLICY_LOCK_IGNORED_LOGOFF &&
            s->lock_ignored_reported && !s->locked_hint) {
                uint64_t t = s->lock_requested_usec +
                             p->screen_lock.lock_grace_seconds * USEC_PER_SEC;
                if (t < at) {
                        at = t;
                        reason = SESSION_REASON_LOCK_IGNORED;
                }
        }
        *ret_reason = reason;
        return at;
}

void session_plan_next(const struct policy *p, const struct session_view *s, uint64_t now,
                       const struct tm *local_now, struct session_plan *ret)
{
        struct session_plan plan = { .action = SESSION_ACTION_NONE };
        uint64_t next = 0;

        if (policy_session_exempt(p, s->session_class, s->user)) {
                plan.exempt = true;
                *ret = plan;
                return;
        }
        if (s->idle_hint && s->idle_since_usec > 0 && now > s->idle_since_usec)
                plan.idle_usec = now - s->idle_since_usec;

        /* The candidates, most urgent first; the first that is due now is the action. */
        struct session_plan logoff = { 0 }, lock = { 0 }, ignored = { 0 }, logoff_warn = { 0 },
                            lock_warn = { 0 };

        enum session_reason why;
        uint64_t logoff_at = logoff_deadline(p, s, now, local_now, &why);
        if (s->logoff_warned_usec > 0) {
                if (now >= s->logoff_due_usec)
                        logoff = (struct session_plan){ .action = SESSION_ACTION_LOGOFF,
                                                        .reason = why };
                else
                        consider(&next, now, s->logoff_due_usec);
        } else if (logoff_at != UINT64_MAX) {
                uint64_t warn = p->logoff.warn_before_seconds * USEC_PER_SEC;
                uint64_t warn_at = logoff_at > warn ? logoff_at - warn : 0;
                if (now >= logoff_at && warn == 0)
                        logoff = (struct session_plan){ .action = SESSION_ACTION_LOGOFF,
                                                        .reason = why };
                else if (now >= warn_at)
                        /* Past the deadline without a warning yet (the agent just started,
                         * or hours just ended): the full warning period still applies. */
                        logoff_warn = (struct session_plan){
                                .action = SESSION_ACTION_LOGOFF_WARN,
                                .reason = why,
                                .seconds_left = logoff_at > now ? seconds_until(now, logoff_at)
                                                                : (int64_t)p->logoff.warn_before_seconds,
                        };
                else
                        consider(&next, now, warn_at);
        }

        if (!s->locked_hint && p->screen_lock.idle_lock_seconds > 0 && s->idle_hint &&
            s->idle_since_usec > 0) {
                uint64_t lock_at =
                        s->idle_since_usec + p->screen_lock.idle_lock_seconds * USEC_PER_SEC;
                if (s->lock_requested_usec > 0) {
                        uint64_t ignored_at = s->lock_requested_usec +
                                              p->screen_lock.lock_grace_seconds * USEC_PER_SEC;
                        if (s->lock_ignored_reported)
                                ; /* reported once; the logoff path above takes over */
                        else if (now >= ignored_at)
                                ignored = (struct session_plan){
                                        .action = SESSION_ACTION_LOCK_IGNORED,
                                        .reason = SESSION_REASON_LOCK_IGNORED,
                                };
                        else
                                consider(&next, now, ignored_at);
                } else {
                        uint64_t lwarn = p->screen_lock.warn_before_seconds * USEC_PER_SEC;
                        uint64_t lwarn_at = lock_at > lwarn ? lock_at - lwarn : 0;
                        if (now >= lock_at)
                                lock = (struct session_plan){ .action = SESSION_ACTION_LOCK,
                                                              .reason = SESSION_REASON_IDLE_LOCK };
                        else if (lwarn > 0 && s->lock_warned_usec == 0 && now >= lwarn_at)
                                lock_warn = (struct session_plan){
                                        .action = SESSION_ACTION_LOCK_WARN,
                                        .reason = SESSION_REASON_IDLE_LOCK,
                                        .seconds_left = seconds_until(now, lock_at),
                                };
                        else
                                consider(&next, now,
                                         lwarn > 0 && s->lock_warned_usec == 0 ? lwarn_at
                                                                               : lock_at);
                }
        }

        const struct session_plan *order[] = { &logoff, &lock, &ignored, &logoff_warn,
                                               &lock_warn };
        for (size_t i = 0; i < ELEMENTSOF(order); i++)
                if (order[i]->action != SESSION_ACTION_NONE) {
                        plan.action = order[i]->action;
                        plan.reason = order[i]->reason;
                        plan.seconds_left = order[i]->seconds_left;
                        break;
                }
        plan.next_check_usec = next;
        *ret = plan;
}

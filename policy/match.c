/* match.c — the decisions the controls take from a policy, as pure functions of their
 * inputs (device, terminal, session, time), so that sources share one reading of the policy
 * and tests pin it down without devices or sessions. */
#include <strings.h>

#include "policy/policy-internal.h"

const char *media_rule_to_string(enum media_rule r)
{
        static const char *const names[] = {
                [MEDIA_RULE_MODE] = "mode",
                [MEDIA_RULE_ALLOW] = "allow",
                [MEDIA_RULE_ALLOW_EXPIRED] = "allow_expired",
                [MEDIA_RULE_EXCEPTION] = "exception",
                [MEDIA_RULE_EXCEPTION_LAPSED] = "exception_lapsed",
        };
        return (unsigned)r < ELEMENTSOF(names) ? names[r] : "?";
}

struct candidate {
        bool set;
        enum media_rule rule;
        size_t index;
        enum media_access access;
        int64_t valid_until;
};

static bool same_device(uint16_t v1, uint16_t p1, const char *s1, uint16_t v2, uint16_t p2,
                        const char *s2)
{
        return v1 == v2 && p1 == p2 && STREQ(s1, s2);
}

static bool terminal_named(const struct policy_media_exception *x, const char *terminal)
{
        for (size_t i = 0; i < x->n_terminals; i++)
                if (strcasecmp(x->terminals[i], terminal) == 0)
                        return true;
        return false;
}

/* Keeps the grant with the widest access; on a tie the one found first. */
static void consider_grant(struct candidate *best, enum media_rule rule, size_t index,
                           enum media_access access, int64_t valid_until)
{
        if (best->set && best->access >= access)
                return;
        *best = (struct candidate){ true, rule, index, access, valid_until };
}

void media_allowlist_match(const struct policy *p, uint16_t vendor, uint16_t product,
                           const char *serial, const char *terminal, int64_t now,
                           struct media_decision *ret)
{
        const struct policy_removable_media *m = &p->removable_media;
        struct candidate grant = { false }, lapsed = { false };

        /* a device without a serial cannot be told apart from any other of its model */
        if (serial && *serial) {
                for (size_t i = 0; i < m->n_allow; i++) {
                        const struct policy_media_allow *a = &m->allow[i];
                        if (!same_device(a->vendor, a->product, a->serial, vendor, product, serial))
                                continue;
                        if (a->valid_until == 0 || now < a->valid_until)
                                consider_grant(&grant, MEDIA_RULE_ALLOW, i, a->access, a->valid_until);
                        else if (!lapsed.set)
                                lapsed = (struct candidate){ true, MEDIA_RULE_ALLOW_EXPIRED, i,
                                                             MEDIA_ACCESS_NONE, a->valid_until };
                }
                for (size_t i = 0; terminal && i < m->n_exceptions; i++) {
                        const struct policy_media_exception *x = &m->exceptions[i];
                        if (!same_device(x->vendor, x->product, x->serial, vendor, product, serial) ||
                            !terminal_named(x, terminal))
                                continue;
                        if (now < x->valid_until)
                                consider_grant(&grant, MEDIA_RULE_EXCEPTION, i, x->access,
                                               x->valid_until);
                        else if (!lapsed.set)
                                lapsed = (struct candidate){ true, MEDIA_RULE_EXCEPTION_LAPSED, i,
                                                             MEDIA_ACCESS_NONE, x->valid_until };
                }
        }

        struct media_decision d = { .rule = MEDIA_RULE_MODE };
        if (grant.set) {
                d.policy_access = grant.access;
                d.rule = grant.rule;
                d.index = grant.index;
                d.valid_until = grant.valid_until;
        } else {
                /* an expired entry grants nothing, but it is what the event must name */
                d.policy_access = m->mode == POLICY_MEDIA_READ_ONLY ? MEDIA_ACCESS_READ_ONLY
                                                                     : MEDIA_ACCESS_NONE;
                if (lapsed.set) {
                        d.rule = lapsed.rule;
                        d.index = lapsed.index;
                        d.valid_until = lapsed.valid_until;
                }
        }
        d.access = d.policy_access;
        if (m->mode == POLICY_MEDIA_AUDIT && d.access != MEDIA_ACCESS_READ_WRITE) {
                d.access = MEDIA_ACCESS_READ_WRITE;
                d.audit_only = true;
        }

        switch (d.rule) {
        case MEDIA_RULE_MODE:
                snprintf(d.rule_path, sizeof d.rule_path, "removable_media.mode");
                break;
        case MEDIA_RULE_ALLOW:
        case MEDIA_RULE_ALLOW_EXPIRED:
                snprintf(d.rule_path, sizeof d.rule_path, "removable_media.allow[%zu]", d.index);
                break;
        case MEDIA_RULE_EXCEPTION:
        case MEDIA_RULE_EXCEPTION_LAPSED:
                snprintf(d.rule_path, sizeof d.rule_path, "removable_media.exceptions[%zu]",
                         d.index);
                break;
        }
        *ret = d;
}

int64_t policy_media_next_expiry(const struct policy *p, int64_t now)
{
        const struct policy_removable_media *m = &p->removable_media;
        int64_t next = 0;
        for (size_t i = 0; i < m->n_allow; i++) {
                int64_t t = m->allow[i].valid_until;
                if (t > now && (next == 0 || t < next))
                        next = t;
        }
        for (size_t i = 0; i < m->n_exceptions; i++) {
                int64_t t = m->exceptions[i].valid_until;
                if (t > now && (next == 0 || t < next))
                        next = t;
        }
        return next;
}

bool policy_media_class_blocked(const struct policy *p, uint8_t interface_class)
{
        if (interface_class == 0x08 || interface_class == 0x06)
                return true;
        for (size_t i = 0; i < p->removable_media.n_classes; i++)
                if (p->removable_media.classes[i] == interface_class)
                        return true;
        return false;
}

static bool strv_contains(char *const *v, size_t n, const char *s)
{
        for (size_t i = 0; i < n; i++)
                if (STREQ(v[i], s))
                        return true;
        return false;
}

bool policy_session_exempt(const struct policy *p, const char *session_class, const char *user)
{
        const struct policy_logoff *l = &p->logoff;
        return (session_class &&
                strv_contains(l->exempt_classes, l->n_exempt_classes, session_class)) ||
               (user && strv_contains(l->exempt_users, l->n_exempt_users, user));
}

/* The latest end among the windows that permit use at (weekday, minute), or -1. */
static int window_end(const struct policy_logoff *l, int wday, int minute)
{
        int end = -1;
        for (size_t i = 0; i < l->n_hours; i++) {
                const struct policy_hours_window *w = &l->hours[i];
                if ((w->days & (1u << wday)) && w->start_minute <= minute && minute < w->end_minute)
                        end = MAX(end, (int)w->end_minute);
        }
        return end;
}

bool policy_logoff_hours_permit(const struct policy_logoff *l, const struct tm *local)
{
        if (l->n_hours == 0)
                return true;
        return window_end(l, local->tm_wday, local->tm_hour * 60 + local->tm_min) >= 0;
}

int64_t policy_logoff_hours_seconds_left(const struct policy_logoff *l, const struct tm *local)
{
        if (l->n_hours == 0)
                return -1;
        int wday = local->tm_wday, minute = local->tm_hour * 60 + local->tm_min;
        int64_t minutes = 0;
        /* each step moves at least one minute on, and windows that chain for more than a
         * week mean use never has to end */
        while (minutes <= 7 * 1440) {
                int end = window_end(l, wday, minute);
                if (end < 0)
                        break;
                minutes += end - minute;
                minute = end;
                if (minute == 1440) {
                        minute = 0;
                        wday = (wday + 1) % 7;
                }
        }
        if (minutes > 7 * 1440)
                return -1;
        if (minutes == 0)
                return 0;
        return minutes * 60 - local->tm_sec;
}

/* test_session_rules.c — when sessions are warned, locked and logged off. */
#include "agent/session_rules.h"
#include "common/util.h"
#include "tests/unit/unit.h"

#define S 1000000ull
static const uint64_t T0 = 1800000000ull * S; /* some realtime */

static struct policy *policy;
static struct tm weekday_noon = { .tm_wday = 3, .tm_hour = 12, .tm_min = 0 };

static int setup(void)
{
        if (policy_default_strict(&policy) < 0)
                return -1;
        policy->screen_lock.idle_lock_seconds = 300;
        policy->screen_lock.warn_before_seconds = 0;
        policy->screen_lock.lock_grace_seconds = 10;
        policy->screen_lock.lock_ignored_action = POLICY_LOCK_IGNORED_REPORT;
        policy->logoff.idle_logoff_seconds = 3600;
        policy->logoff.warn_before_seconds = 60;
        return 0;
}

static int teardown(void)
{
        policy_free(policy);
        return 0;
}

static struct session_view idle_since(uint64_t since)
{
        return (struct session_view){ .user = "tanaka", .session_class = "user",
                                      .idle_hint = true, .idle_since_usec = since };
}

static void test_active_session_needs_nothing(void)
{
        struct session_view s = { .user = "tanaka", .session_class = "user" };
        struct session_plan p;
        session_plan_next(policy, &s, T0, &weekday_noon, &p);
        CU_ASSERT_EQUAL(p.action, SESSION_ACTION_NONE);
        CU_ASSERT_EQUAL(p.next_check_usec, 0);
}

static void test_idle_past_limit_locks(void)
{
        struct session_view s = idle_since(T0);
        struct session_plan p;
        session_plan_next(policy, &s, T0 + 299 * S, &weekday_noon, &p);
        CU_ASSERT_EQUAL(p.action, SESSION_ACTION_NONE);
        CU_ASSERT_EQUAL(p.next_check_usec, T0 + 300 * S);
        session_plan_next(policy, &s, T0 + 300 * S, &weekday_noon, &p);
        CU_ASSERT_EQUAL(p.action, SESSION_ACTION_LOCK);
        CU_ASSERT_STRING_EQUAL(session_reason_rule(p.reason), "screen_lock.idle_lock_seconds");
        CU_ASSERT_EQUAL(p.idle_usec, 300 * S);
}

static void test_lock_warning_comes_first(void)
{
        policy->screen_lock.warn_before_seconds = 30;
        struct session_view s = idle_since(T0);
        struct session_plan p;
        session_plan_next(policy, &s, T0, &weekday_noon, &p);
        CU_ASSERT_EQUAL(p.next_check_usec, T0 + 270 * S);
        session_plan_next(policy, &s, T0 + 270 * S, &weekday_noon, &p);
        CU_ASSERT_EQUAL(p.action, SESSION_ACTION_LOCK_WARN);
        CU_ASSERT_EQUAL(p.seconds_left, 30);
        s.lock_warned_usec = T0 + 270 * S;
        session_plan_next(policy, &s, T0 + 271 * S, &weekday_noon, &p);
        CU_ASSERT_EQUAL(p.action, SESSION_ACTION_NONE);
        CU_ASSERT_EQUAL(p.next_check_usec, T0 + 300 * S);
        policy->screen_lock.warn_before_seconds = 0;
}

static void test_locked_session_is_not_locked_again(void)
{
        struct session_view s = idle_since(T0);
        s.locked_hint = true;
        struct session_plan p;
        session_plan_next(policy, &s, T0 + 1000 * S, &weekday_noon, &p);
        CU_ASSERT_EQUAL(p.action, SESSION_ACTION_NONE);
        /* but idle logoff still comes for a locked session */
        CU_ASSERT_EQUAL(p.next_check_usec, T0 + (3600 - 60) * S);
}

static void test_lock_ignored_reported_once(void)
{
        struct session_view s = idle_since(T0);
        s.lock_requested_usec = T0 + 300 * S;
        struct session_plan p;
        session_plan_next(policy, &s, T0 + 305 * S, &weekday_noon, &p);
        CU_ASSERT_EQUAL(p.action, SESSION_ACTION_NONE);
        CU_ASSERT_EQUAL(p.next_check_usec, T0 + 310 * S);
        session_plan_next(policy, &s, T0 + 310 * S, &weekday_noon, &p);
        CU_ASSERT_EQUAL(p.action, SESSION_ACTION_LOCK_IGNORED);
        s.lock_ignored_reported = true;
        session_plan_next(policy, &s, T0 + 311 * S, &weekday_noon, &p);
        CU_ASSERT_EQUAL(p.action, SESSION_ACTION_NONE); /* report only: wait for idle logoff */
}

static void test_lock_ignored_escalates_to_logoff(void)
{
        policy->screen_lock.lock_ignored_action = POLICY_LOCK_IGNORED_LOGOFF;
        struct session_view s = idle_since(T0);
        s.lock_requested_usec = T0 + 300 * S;
        s.lock_ignored_reported = true;
        struct session_plan p;
        session_plan_next(policy, &s, T0 + 311 * S, &weekday_noon, &p);
        CU_ASSERT_EQUAL(p.action, SESSION_ACTION_LOGOFF_WARN);
        CU_ASSERT_EQUAL(p.reason, SESSION_REASON_LOCK_IGNORED);
        CU_ASSERT_EQUAL(p.seconds_left, 60);
        s.logoff_warned_usec = T0 + 311 * S;
        s.logoff_due_usec = T0 + 371 * S;
        session_plan_next(policy, &s, T0 + 370 * S, &weekday_noon, &p);
        CU_ASSERT_EQUAL(p.action, SESSION_ACTION_NONE);
        CU_ASSERT_EQUAL(p.next_check_usec, T0 + 371 * S);
        session_plan_next(policy, &s, T0 + 371 * S, &weekday_noon, &p);
        CU_ASSERT_EQUAL(p.action, SESSION_ACTION_LOGOFF);
        policy->screen_lock.lock_ignored_action = POLICY_LOCK_IGNORED_REPORT;
}

static void test_idle_logoff_warns_then_logs_off(void)
{
        struct session_view s = idle_since(T0);
        s.locked_hint = true;
        struct session_plan p;
        session_plan_next(policy, &s, T0 + 3540 * S, &weekday_noon, &p);
        CU_ASSERT_EQUAL(p.action, SESSION_ACTION_LOGOFF_WARN);
        CU_ASSERT_EQUAL(p.seconds_left, 60);
        CU_ASSERT_STRING_EQUAL(session_reason_rule(p.reason), "logoff.idle_logoff_seconds");
        s.logoff_warned_usec = T0 + 3540 * S;
        s.logoff_due_usec = T0 + 3600 * S;
        session_plan_next(policy, &s, T0 + 3600 * S, &weekday_noon, &p);
        CU_ASSERT_EQUAL(p.action, SESSION_ACTION_LOGOFF);
}

static void test_outside_hours_warns_even_when_active(void)
{
        struct policy_hours_window w = { .days = 0x3e, .start_minute = 8 * 60,
                                         .end_minute = 18 * 60 };
        policy->logoff.hours = &w;
        policy->logoff.n_hours = 1;
        struct session_view s = { .user = "tanaka", .session_class = "user" };
        struct tm evening = { .tm_wday = 3, .tm_hour = 21, .tm_min = 0 };
        struct session_plan p;
        session_plan_next(policy, &s, T0, &evening, &p);
        CU_ASSERT_EQUAL(p.action, SESSION_ACTION_LOGOFF_WARN);
        CU_ASSERT_EQUAL(p.reason, SESSION_REASON_HOURS);
        CU_ASSERT_EQUAL(p.seconds_left, 60);
        /* inside the hours, five minutes before they end: warned 60 s ahead of the end */
        struct tm late = { .tm_wday = 3, .tm_hour = 17, .tm_min = 55 };
        session_plan_next(policy, &s, T0, &late, &p);
        CU_ASSERT_EQUAL(p.action, SESSION_ACTION_NONE);
        CU_ASSERT_EQUAL(p.next_check_usec, T0 + 240 * S);
        policy->logoff.hours = NULL;
        policy->logoff.n_hours = 0;
}

static void test_exempt_class_untouched(void)
{
        struct session_view s = idle_since(T0);
        s.session_class = "greeter";
        struct session_plan p;
        session_plan_next(policy, &s, T0 + 100000 * S, &weekday_noon, &p);
        if (!policy_session_exempt(policy, "greeter", "tanaka")) {
                CU_FAIL("the strict default should exempt the greeter class");
                return;
        }
        CU_ASSERT_TRUE(p.exempt);
        CU_ASSERT_EQUAL(p.action, SESSION_ACTION_NONE);
}

static void test_exempt_user_untouched(void)
{
        char *users[] = { (char *)"svc-backup" };
        char **saved = policy->logoff.exempt_users;
        size_t n_saved = policy->logoff.n_exempt_users;
        policy->logoff.exempt_users = users;
        policy->logoff.n_exempt_users = 1;
        struct session_view s = idle_since(T0);
        s.user = "svc-backup";
        struct session_plan p;
        session_plan_next(policy, &s, T0 + 100000 * S, &weekday_noon, &p);
        CU_ASSERT_TRUE(p.exempt);
        CU_ASSERT_EQUAL(p.action, SESSION_ACTION_NONE);
        s.user = "tanaka";
        session_plan_next(policy, &s, T0 + 100000 * S, &weekday_noon, &p);
        CU_ASSERT_FALSE(p.exempt);
        CU_ASSERT_NOT_EQUAL(p.action, SESSION_ACTION_NONE);
        policy->logoff.exempt_users = saved;
        policy->logoff.n_exempt_users = n_saved;
}

static CU_TestInfo tests[] = {
        { "exempt user untouched", test_exempt_user_untouched },
        { "active session: nothing to do", test_active_session_needs_nothing },
        { "idle past the limit: lock", test_idle_past_limit_locks },
        { "lock warning before the lock", test_lock_warning_comes_first },
        { "locked session not locked again", test_locked_session_is_not_locked_again },
        { "lock ignored: reported once", test_lock_ignored_reported_once },
        { "lock ignored: escalates to logoff", test_lock_ignored_escalates_to_logoff },
        { "idle logoff: warning then logoff", test_idle_logoff_warns_then_logs_off },
        { "outside hours: warning even when active", test_outside_hours_warns_even_when_active },
        { "exempt class untouched", test_exempt_class_untouched },
        CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {
        { "session rules", setup, teardown, NULL, NULL, tests },
        CU_SUITE_INFO_NULL,
};

UNIT_MAIN(suites)

/* test_agent_helper — what the agent and hogo-agent-helper exchange: the notice request
 * (JSON on the helper's stdin) and the policy check's verdict (on its stdout), and the
 * helper's input memfd. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent_helper.h"
#include "agent/notice_delivery.h"
#include "agent/policy_check.h"
#include "common/canon_json.h"
#include "common/util.h"
#include "tests/unit/unit.h"

static void test_request_round_trip(void)
{
        struct notice_request in = {
                .user = "tanaka",
                .notice = { .kind = NOTICE_FILES_BULK_WARNING, .subject = "/media/usb「外部」",
                            .count = 25, .seconds = 600 },
                .contact = "情報政策課 (内線 1234)",
                .address = "unix:path=/run/user/%U/bus",
                .locale_dir = "/usr/share/locale",
                .fallback_terminals = true,
        };
        _cleanup_json_ json_object *o = notice_request_to_json(&in);
        CU_ASSERT_PTR_NOT_NULL_FATAL(o);
        /* through text, as the helper reads it */
        _cleanup_json_ json_object *back =
                json_tokener_parse(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        struct notice_request out;
        CU_ASSERT_EQUAL_FATAL(notice_request_from_json(back, &out), 0);
        CU_ASSERT_STRING_EQUAL(out.user, "tanaka");
        CU_ASSERT_EQUAL(out.notice.kind, NOTICE_FILES_BULK_WARNING);
        CU_ASSERT_STRING_EQUAL(out.notice.subject, "/media/usb「外部」");
        CU_ASSERT_EQUAL(out.notice.count, 25);
        CU_ASSERT_EQUAL(out.notice.seconds, 600);
        CU_ASSERT_STRING_EQUAL(out.contact, "情報政策課 (内線 1234)");
        CU_ASSERT_STRING_EQUAL(out.address, "unix:path=/run/user/%U/bus");
        CU_ASSERT_STRING_EQUAL(out.locale_dir, "/usr/share/locale");
        CU_ASSERT_TRUE(out.fallback_terminals);

        /* everyone, no subject, no fallback */
        in.user = NULL;
        in.notice.subject = NULL;
        in.fallback_terminals = false;
        _cleanup_json_ json_object *o2 = notice_request_to_json(&in);
        CU_ASSERT_EQUAL_FATAL(notice_request_from_json(o2, &out), 0);
        CU_ASSERT_PTR_NULL(out.user);
        CU_ASSERT_PTR_NULL(out.notice.subject);
        CU_ASSERT_FALSE(out.fallback_terminals);
}

static void test_request_rejects(void)
{
        static const char *const bad[] = {
                "[]",
                "{\"contact\":\"c\",\"address\":\"a\",\"locale_dir\":\"l\"}",
                "{\"kind\":\"nonsense\",\"contact\":\"c\",\"address\":\"a\",\"locale_dir\":\"l\"}",
                "{\"kind\":\"usb_blocked\",\"address\":\"a\",\"locale_dir\":\"l\"}",
                /* NOLINTNEXTLINE(bugprone-suspicious-missing-comma): one string, two lines */
                "{\"kind\":\"usb_blocked\",\"user\":5,\"contact\":\"c\",\"address\":\"a\","
                "\"locale_dir\":\"l\"}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_json_ json_object *o = json_tokener_parse(bad[i]);
                struct notice_request r;
                CU_ASSERT_EQUAL(notice_request_from_json(o, &r), -EINVAL);
        }
}

static void test_verdict(void)
{
        char buf[64];
        int32_t v = 0;
        int result = 1;
        char *reason = (char *)"unset";
        memcpy(buf, &v, sizeof v);
        CU_ASSERT_EQUAL(policy_check_read_verdict(buf, sizeof v, &result, &reason), 0);
        CU_ASSERT_EQUAL(result, 0);
        CU_ASSERT_PTR_NULL(reason);

        v = -EKEYREJECTED;
        memcpy(buf, &v, sizeof v);
        memcpy(buf + sizeof v, "forged", 6);
        CU_ASSERT_EQUAL(policy_check_read_verdict(buf, sizeof v + 6, &result, &reason), 0);
        CU_ASSERT_EQUAL(result, -EKEYREJECTED);
        CU_ASSERT_STRING_EQUAL(reason, "forged");
        free(reason);

        /* too short, "success" with words after it, a positive result */
        CU_ASSERT_EQUAL(policy_check_read_verdict(buf, 3, &result, &reason), -EBADMSG);
        v = 0;
        memcpy(buf, &v, sizeof v);
        CU_ASSERT_EQUAL(policy_check_read_verdict(buf, sizeof v + 1, &result, &reason), -EBADMSG);
        v = 1;
        memcpy(buf, &v, sizeof v);
        CU_ASSERT_EQUAL(policy_check_read_verdict(buf, sizeof v, &result, &reason), -EBADMSG);
}

/* The helper's side written to a pipe and read back as the agent does. */
static void test_verdict_written_by_check(void)
{
        int fds[2];
        CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
        const char *envelope = "{}";
        CU_ASSERT_EQUAL(policy_check_write_verdict(fds[1], "/nonexistent/policy.pub", "drop.json",
                                                   envelope, strlen(envelope)),
                        0);
        close(fds[1]);
        char buf[POLICY_CHECK_VERDICT_MAX];
        ssize_t n = read(fds[0], buf, sizeof buf);
        close(fds[0]);
        CU_ASSERT_FATAL(n > 0);
        int result = 0;
        _cleanup_free_ char *reason = NULL;
        CU_ASSERT_EQUAL(policy_check_read_verdict(buf, (size_t)n, &result, &reason), 0);
        CU_ASSERT_EQUAL(result, -ENOENT);
        CU_ASSERT_PTR_NOT_NULL(reason);
        CU_ASSERT_PTR_NOT_NULL(reason ? strstr(reason, "cannot load the policy signing key "
                                                       "/nonexistent/policy.pub") : NULL);
}

static void test_input_memfd(void)
{
        int fd = agent_helper_input("test", "hello", 5);
        CU_ASSERT_FATAL(fd >= 0);
        char buf[8] = "";
        CU_ASSERT_EQUAL(read(fd, buf, sizeof buf), 5);
        CU_ASSERT_NSTRING_EQUAL(buf, "hello", 5);
        /* sealed: what the helper reads cannot change under it */
        CU_ASSERT_EQUAL(pwrite(fd, "x", 1, 0), -1);
        close(fd);
}

static CU_TestInfo helper_tests[] = {
        { "notice request round trip", test_request_round_trip },
        { "notice request rejects", test_request_rejects },
        { "policy verdict", test_verdict },
        { "policy verdict from a check", test_verdict_written_by_check },
        { "input memfd sealed", test_input_memfd },
        CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
        { "agent helper", NULL, NULL, NULL, NULL, helper_tests },
        CU_SUITE_INFO_NULL,
};

UNIT_MAIN(suites)

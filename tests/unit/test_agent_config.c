/* test_agent_config.c — agent.json: defaults, every key, and an error by path for each
 * kind of mistake. */
#include <json-c/json.h>
#include <syslog.h>

#include "agent/config.h"
#include "common/canon_json.h"
#include "common/util.h"
#include "tests/unit/unit.h"

static int parse(const char *text, struct agent_config **ret, char **ret_errors)
{
        _cleanup_json_ json_object *root = json_tokener_parse(text);
        CU_ASSERT_PTR_NOT_NULL_FATAL(root);
        return agent_config_from_json(root, ret, ret_errors);
}

static void test_defaults_for_empty_object(void)
{
        _cleanup_agent_config_ struct agent_config *c = NULL;
        CU_ASSERT_EQUAL_FATAL(parse("{}", &c, NULL), 0);
        CU_ASSERT_STRING_EQUAL(c->spool_dir, "/var/lib/hogo/spool");
        CU_ASSERT_STRING_EQUAL(c->policy_dir, "/var/lib/hogo/policy");
        CU_ASSERT_STRING_EQUAL(c->control_socket, "/run/hogo/agent.sock");
        CU_ASSERT_PTR_NULL(c->control_group);
        CU_ASSERT_STRING_EQUAL(c->notify.session_bus_address, "unix:path=/run/user/%U/bus");
        CU_ASSERT_EQUAL(c->notify.fallback, NOTIFY_FALLBACK_TERMINALS);
        CU_ASSERT_EQUAL(c->log_level, LOG_INFO);
        CU_ASSERT_STRING_EQUAL(c->sysfs_root, "/");
        CU_ASSERT_EQUAL(c->spool_max_bytes, 0);
}

static void test_every_key(void)
{
        _cleanup_agent_config_ struct agent_config *c = NULL;
        _cleanup_free_ char *errors = NULL;
        int r = parse("{\"spool_dir\":\"/s\",\"spool_max_bytes\":2097152,\"policy_dir\":\"/p\","
                      "\"policy_pubkey\":\"/k.pub\",\"state_dir\":\"/st\","
                      "\"control_socket\":\"/c.sock\",\"control_group\":\"adm\","
                      "\"notify\":{\"contact\":\"総務課 内線 12\","
                      "\"session_bus_address\":\"unix:path=/t/bus\",\"fallback\":\"none\","
                      "\"locale_dir\":\"/loc\"},\"log_level\":\"debug\",\"sysfs_root\":\"/fake\"}",
                      &c, &errors);
        CU_ASSERT_EQUAL_FATAL(r, 0);
        CU_ASSERT_PTR_NULL(errors);
        CU_ASSERT_STRING_EQUAL(c->spool_dir, "/s");
        CU_ASSERT_EQUAL(c->spool_max_bytes, 2097152);
        CU_ASSERT_STRING_EQUAL(c->policy_dir, "/p");
        CU_ASSERT_STRING_EQUAL(c->policy_pubkey, "/k.pub");
        CU_ASSERT_STRING_EQUAL(c->state_dir, "/st");
        CU_ASSERT_STRING_EQUAL(c->control_socket, "/c.sock");
        CU_ASSERT_STRING_EQUAL(c->control_group, "adm");
        CU_ASSERT_STRING_EQUAL(c->notify.contact, "総務課 内線 12");
        CU_ASSERT_STRING_EQUAL(c->notify.session_bus_address, "unix:path=/t/bus");
        CU_ASSERT_EQUAL(c->notify.fallback, NOTIFY_FALLBACK_NONE);
        CU_ASSERT_STRING_EQUAL(c->notify.locale_dir, "/loc");
        CU_ASSERT_EQUAL(c->log_level, LOG_DEBUG);
        CU_ASSERT_STRING_EQUAL(c->sysfs_root, "/fake");
}

/* Each bad input must fail with exactly the expected "PATH: message" line. */
static void expect_error(const char *text, const char *expected)
{
        struct agent_config *c = NULL;
        _cleanup_free_ char *errors = NULL;
        CU_ASSERT_EQUAL(parse(text, &c, &errors), -EINVAL);
        CU_ASSERT_PTR_NULL(c);
        CU_ASSERT_PTR_NOT_NULL_FATAL(errors);
        if (!strstr(errors, expected))
                fprintf(stderr, "expected \"%s\" in \"%s\"\n", expected, errors);
        CU_ASSERT_PTR_NOT_NULL(strstr(errors, expected));
}

static void test_errors_by_path(void)
{
        expect_error("{\"spool_dri\":\"/x\"}", "spool_dri: unknown key\n");
        expect_error("{\"spool_dir\":5}", "spool_dir: expected a string, got number\n");
        expect_error("{\"spool_dir\":\"var/spool\"}",
                     "spool_dir: expected an absolute path, got \"var/spool\"\n");
        expect_error("{\"state_dir\":\"\"}", "state_dir: must not be empty\n");
        expect_error("{\"notify\":{\"contact\":7}}", "notify.contact: expected a string, got number\n");
        expect_error("{\"notify\":{\"colour\":\"red\"}}", "notify.colour: unknown key\n");
        expect_error("{\"notify\":{\"fallback\":\"wall\"}}",
                     "notify.fallback: expected \"terminals\" or \"none\", got wall\n");
        expect_error("{\"notify\":[]}", "notify: expected an object, got array\n");
        expect_error("{\"log_level\":\"loud\"}", "log_level: expected one of");
        expect_error("{\"spool_max_bytes\":\"big\"}",
                     "spool_max_bytes: expected an integer, got string\n");
        expect_error("{\"spool_max_bytes\":1000}", "spool_max_bytes: must be at least 1048576");
        expect_error("[1]", "(top level): expected an object, got array\n");
}

static void test_all_errors_reported_at_once(void)
{
        struct agent_config *c = NULL;
        _cleanup_free_ char *errors = NULL;
        CU_ASSERT_EQUAL(parse("{\"a\":1,\"spool_dir\":2,\"notify\":{\"b\":3}}", &c, &errors),
                        -EINVAL);
        CU_ASSERT_STRING_EQUAL(errors, "a: unknown key\nspool_dir: expected a string, got "
                                       "number\nnotify.b: unknown key\n");
}

static void test_load_file_errors(void)
{
        const char *dir = unit_tmpdir();
        struct agent_config *c = NULL;
        _cleanup_free_ char *e1 = NULL, *e2 = NULL, *e3 = NULL;
        _cleanup_free_ char *bad = unit_write_file(dir, "bad.json", "{\"spool_dir\": ", 14);
        CU_ASSERT_EQUAL(agent_config_load(bad, &c, &e1), -EINVAL);
        CU_ASSERT_PTR_NOT_NULL(e1 && strstr(e1, "bad.json: not valid JSON"));

        char missing[512];
        snprintf(missing, sizeof missing, "%s/none.json", dir);
        CU_ASSERT_EQUAL(agent_config_load(missing, &c, &e2), -ENOENT);
        CU_ASSERT_PTR_NOT_NULL(e2 && strstr(e2, "none.json: cannot read: No such file"));

        _cleanup_free_ char *good = unit_write_file(dir, "good.json", "{\"log_level\":\"warning\"}", 23);
        _cleanup_agent_config_ struct agent_config *ok = NULL;
        CU_ASSERT_EQUAL(agent_config_load(good, &ok, &e3), 0);
        CU_ASSERT_EQUAL(ok ? ok->log_level : -1, LOG_WARNING);
        CU_ASSERT_PTR_NULL(c);
}

static CU_TestInfo config_tests[] = {
        { "defaults for {}", test_defaults_for_empty_object },
        { "every key", test_every_key },
        { "errors name the JSON path", test_errors_by_path },
        { "all errors at once", test_all_errors_reported_at_once },
        { "file errors", test_load_file_errors },
        CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
        { "agent config", NULL, NULL, NULL, NULL, config_tests },
        CU_SUITE_INFO_NULL,
};

UNIT_MAIN(suites)

/* test_mark.c — what makes a file marked: labels, policy globs, classifier settings. */
#include <sys/xattr.h>

#include "common/mark.h"
#include "common/util.h"
#include "policy/policy.h"
#include "tests/unit/unit.h"

static void test_label_valid(void)
{
        CU_ASSERT_TRUE(mark_label_valid("personal"));
        CU_ASSERT_TRUE(mark_label_valid("my_number.v2-x"));
        CU_ASSERT_FALSE(mark_label_valid(""));
        CU_ASSERT_FALSE(mark_label_valid("a b"));
        CU_ASSERT_FALSE(mark_label_valid("個人"));
        char long_label[MARK_LABEL_MAX + 2];
        memset(long_label, 'a', sizeof long_label - 1);
        long_label[MARK_LABEL_MAX + 1] = '\0';
        CU_ASSERT_FALSE(mark_label_valid(long_label));
        long_label[MARK_LABEL_MAX] = '\0';
        CU_ASSERT_TRUE(mark_label_valid(long_label));
}

static void test_glob(void)
{
        CU_ASSERT_TRUE(mark_glob_match("/srv/jumin/**", "/srv/jumin/a/b/c.csv"));
        CU_ASSERT_TRUE(mark_glob_match("/srv/jumin/**", "/srv/jumin/x"));
        CU_ASSERT_FALSE(mark_glob_match("/srv/jumin/**", "/srv/juminx/a"));
        CU_ASSERT_TRUE(mark_glob_match("/home/*/個人情報/**", "/home/tanaka/個人情報/名簿.xlsx"));
        CU_ASSERT_FALSE(mark_glob_match("/home/*/個人情報/**", "/home/a/b/個人情報/x"));
        CU_ASSERT_TRUE(mark_glob_match("/data/*.csv", "/data/list.csv"));
        CU_ASSERT_FALSE(mark_glob_match("/data/*.csv", "/data/sub/list.csv"));
        CU_ASSERT_TRUE(mark_glob_match("/data/**/*.csv", "/data/a/b/list.csv"));
        CU_ASSERT_TRUE(mark_glob_match("/data/file?.txt", "/data/file1.txt"));
        CU_ASSERT_FALSE(mark_glob_match("/data/file?.txt", "/data/file/.txt"));
        CU_ASSERT_TRUE(mark_glob_match("/data/[ab]*.txt", "/data/b1.txt"));
        CU_ASSERT_FALSE(mark_glob_match("/data/[ab]*.txt", "/data/c1.txt"));
        CU_ASSERT_TRUE(mark_glob_match("/exact/path", "/exact/path"));
        CU_ASSERT_FALSE(mark_glob_match("/exact/path", "/exact/path2"));
        CU_ASSERT_FALSE(mark_glob_match("/[unterminated", "/u"));
}

static void test_labels_on_files(void)
{
        const char *dir = unit_tmpdir();
        _cleanup_free_ char *path = unit_write_file(dir, "a.csv", "x", 1);
        char label[MARK_LABEL_MAX + 1];
        CU_ASSERT_EQUAL(mark_label_path(path, MARK_XATTR_DEFAULT, label), 0);
        if (setxattr(path, MARK_XATTR_DEFAULT, "my_number\n", 10, 0) < 0) {
                CU_ASSERT_EQUAL(errno, ENOTSUP); /* a scratch file system without xattrs */
                return;
        }
        CU_ASSERT_EQUAL(mark_label_path(path, MARK_XATTR_DEFAULT, label), 1);
        CU_ASSERT_STRING_EQUAL(label, "my_number");
        CU_ASSERT_EQUAL(setxattr(path, MARK_XATTR_DEFAULT, "bad label", 9, 0), 0);
        CU_ASSERT_EQUAL(mark_label_path(path, MARK_XATTR_DEFAULT, label), 1); /* still a mark */
        CU_ASSERT_STRING_EQUAL(label, "invalid");
        CU_ASSERT_EQUAL(mark_label_path("/nonexistent/x", MARK_XATTR_DEFAULT, label), -ENOENT);
}

static void test_classify_config_from_policy(void)
{
        static const char doc[] =
                "{\"version\":3,\"name\":\"t\",\"marked_files\":{\"xattr\":\"user.hogo.label\","
                "\"paths\":[\"/srv/jumin/**\"],\"content\":{\"my_number\":true,\"my_number_min_matches\":2,"
                "\"scan_max_bytes\":65536,\"patterns\":[{\"kind\":\"email\",\"min_matches\":20}]}}}";
        _cleanup_policy_ struct policy *p = NULL;
        _cleanup_policy_errors_ struct policy_errors errs = POLICY_ERRORS_INIT;
        int r = policy_parse(doc, sizeof doc - 1, &p, &errs);
        if (r < 0)
                policy_errors_print(&errs, stderr);
        CU_ASSERT_EQUAL_FATAL(r, 0);
        struct classify_config cfg;
        mark_classify_config(&p->marked_files, &cfg);
        CU_ASSERT_TRUE(cfg.enabled[CLASSIFY_MY_NUMBER]);
        CU_ASSERT_EQUAL(cfg.threshold[CLASSIFY_MY_NUMBER], 2);
        CU_ASSERT_TRUE(cfg.enabled[CLASSIFY_EMAIL]);
        CU_ASSERT_EQUAL(cfg.threshold[CLASSIFY_EMAIL], 20);
        CU_ASSERT_FALSE(cfg.enabled[CLASSIFY_PHONE]);
        CU_ASSERT_EQUAL(cfg.max_prefix, 65536);
        CU_ASSERT_TRUE(mark_path_marked(&p->marked_files, "/srv/jumin/2026/a.csv"));
        CU_ASSERT_FALSE(mark_path_marked(&p->marked_files, "/srv/other/a.csv"));
}

static CU_TestInfo tests[] = {
        { "label valid", test_label_valid },
        { "glob", test_glob },
        { "labels on files", test_labels_on_files },
        { "classifier settings from the policy", test_classify_config_from_policy },
        CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
        { "mark", NULL, NULL, NULL, NULL, tests },
        CU_SUITE_INFO_NULL,
};

UNIT_MAIN(suites)

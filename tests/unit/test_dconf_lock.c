/* test_dconf_lock.c — the GNOME lock settings written and read back in a temporary root. */
#include <sys/stat.h>

#include "agent/dconf_lock.h"
#include "common/fileio.h"
#include "common/util.h"
#include "tests/unit/unit.h"

static const struct policy_screen_lock lock = { .idle_lock_seconds = 300, .lock_grace_seconds = 10 };

static const char *gnome_root(void)
{
        const char *root = unit_tmpdir();
        char dir[512];
        snprintf(dir, sizeof dir, "%s/usr/share/glib-2.0/schemas", root);
        CU_ASSERT_EQUAL_FATAL(mkdir_parents(dir, 0755), 0);
        free(unit_write_file(dir, "org.gnome.desktop.screensaver.gschema.xml", "<schemalist/>", 13));
        return root;
}

static char *read_under(const char *root, const char *rel)
{
        char path[512];
        snprintf(path, sizeof path, "%s/%s", root, rel);
        char *text = NULL;
        if (read_file_bounded(path, 65536, &text, NULL) < 0)
                return NULL;
        return text;
}

static void test_without_gnome_unknown(void)
{
        const char *root = unit_tmpdir();
        char reason[256];
        CU_ASSERT_EQUAL(dconf_lock_install(root, &lock), -ENOENT);
        CU_ASSERT_EQUAL(dconf_lock_check(root, &lock, reason, sizeof reason), -ENOENT);
        CU_ASSERT_PTR_NOT_NULL(strstr(reason, "GNOME"));
}

static void test_install_then_check_passes(void)
{
        const char *root = gnome_root();
        char reason[256];
        CU_ASSERT_EQUAL(dconf_lock_check(root, &lock, reason, sizeof reason), 0);
        CU_ASSERT_EQUAL(dconf_lock_install(root, &lock), 1);
        CU_ASSERT_EQUAL(dconf_lock_check(root, &lock, reason, sizeof reason), 1);

        _cleanup_free_ char *settings = read_under(root, "etc/dconf/db/local.d/00-hogo-screenlock");
        CU_ASSERT_PTR_NOT_NULL_FATAL(settings);
        CU_ASSERT_PTR_NOT_NULL(strstr(settings, "idle-delay=uint32 300\n"));
        CU_ASSERT_PTR_NOT_NULL(strstr(settings, "lock-enabled=true\n"));
        _cleanup_free_ char *locks = read_under(root, "etc/dconf/db/local.d/locks/00-hogo-screenlock");
        CU_ASSERT_PTR_NOT_NULL_FATAL(locks);
        CU_ASSERT_PTR_NOT_NULL(strstr(locks, "/org/gnome/desktop/session/idle-delay\n"));
        CU_ASSERT_PTR_NOT_NULL(strstr(locks, "/org/gnome/desktop/screensaver/lock-delay\n"));
        _cleanup_free_ char *profile = read_under(root, "etc/dconf/profile/user");
        CU_ASSERT_STRING_EQUAL(profile, "user-db:user\nsystem-db:local\n");
}

static void test_existing_profile_kept(void)
{
        const char *root = gnome_root();
        char dir[512];
        snprintf(dir, sizeof dir, "%s/etc/dconf/profile", root);
        CU_ASSERT_EQUAL_FATAL(mkdir_parents(dir, 0755), 0);
        free(unit_write_file(dir, "user", "user-db:user\nsystem-db:site", 28));
        CU_ASSERT_EQUAL(dconf_lock_install(root, &lock), 1);
        _cleanup_free_ char *profile = read_under(root, "etc/dconf/profile/user");
        CU_ASSERT_STRING_EQUAL(profile, "user-db:user\nsystem-db:site\nsystem-db:local\n");
        /* installing again does not add the line twice */
        CU_ASSERT_EQUAL(dconf_lock_install(root, &lock), 1);
        _cleanup_free_ char *again = read_under(root, "etc/dconf/profile/user");
        CU_ASSERT_STRING_EQUAL(again, profile);
}

static void test_weakened_settings_fail(void)
{
        const char *root = gnome_root();
        char reason[256];
        CU_ASSERT_EQUAL(dconf_lock_install(root, &lock), 1);

        /* someone raised the delay past the policy */
        char dir[512];
        snprintf(dir, sizeof dir, "%s/etc/dconf/db/local.d", root);
        const char *weak = "[org/gnome/desktop/session]\nidle-delay=uint32 900\n"
                           "[org/gnome/desktop/screensaver]\nlock-enabled=true\nlock-delay=uint32 0\n";
        free(unit_write_file(dir, "00-hogo-screenlock", weak, strlen(weak)));
        CU_ASSERT_EQUAL(dconf_lock_check(root, &lock, reason, sizeof reason), 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(reason, "idle-delay"));

        /* a stricter policy than what is written fails too */
        CU_ASSERT_EQUAL(dconf_lock_install(root, &lock), 1);
        struct policy_screen_lock stricter = lock;
        stricter.idle_lock_seconds = 120;
        CU_ASSERT_EQUAL(dconf_lock_check(root, &stricter, reason, sizeof reason), 0);

        /* locks removed */
        snprintf(dir, sizeof dir, "%s/etc/dconf/db/local.d/locks", root);
        free(unit_write_file(dir, "00-hogo-screenlock", "", 0));
        CU_ASSERT_EQUAL(dconf_lock_check(root, &lock, reason, sizeof reason), 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(reason, "not locked"));

        /* lock disabled */
        CU_ASSERT_EQUAL(dconf_lock_install(root, &lock), 1);
        snprintf(dir, sizeof dir, "%s/etc/dconf/db/local.d", root);
        const char *off = "[org/gnome/desktop/session]\nidle-delay=uint32 300\n"
                          "[org/gnome/desktop/screensaver]\nlock-enabled=false\nlock-delay=uint32 0\n";
        free(unit_write_file(dir, "00-hogo-screenlock", off, strlen(off)));
        CU_ASSERT_EQUAL(dconf_lock_check(root, &lock, reason, sizeof reason), 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(reason, "lock-enabled"));
}

static CU_TestInfo tests[] = {
        { "no GNOME: unknown, nothing written", test_without_gnome_unknown },
        { "installed settings read back as pass", test_install_then_check_passes },
        { "a site's own profile is kept", test_existing_profile_kept },
        { "weakened or missing settings fail", test_weakened_settings_fail },
        CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {
        { "dconf lock settings", NULL, NULL, NULL, NULL, tests },
        CU_SUITE_INFO_NULL,
};

UNIT_MAIN(suites)

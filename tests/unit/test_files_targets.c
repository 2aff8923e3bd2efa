/* test_files_targets.c — the pure parts of choosing where the files source watches. */
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include "agent/files_targets.h"
#include "common/util.h"
#include "tests/unit/unit.h"

static void test_mountinfo_line(void)
{
        char line[] = "36 35 98:0 / /media/taro/USB\\040DISK rw,nosuid shared:1 master:2 - vfat /dev/sdb1 rw,uid=1000";
        struct mountinfo_entry m;
        CU_ASSERT_EQUAL_FATAL(mountinfo_parse_line(line, &m), 0);
        CU_ASSERT_STRING_EQUAL(m.mount_point, "/media/taro/USB DISK");
        CU_ASSERT_STRING_EQUAL(m.fstype, "vfat");
        CU_ASSERT_STRING_EQUAL(m.source, "/dev/sdb1");

        char share[] = "90 30 0:50 / /mnt/share rw,relatime - cifs //fs01/共有 rw,vers=3.1.1";
        CU_ASSERT_EQUAL_FATAL(mountinfo_parse_line(share, &m), 0);
        CU_ASSERT_TRUE(fstype_is_network_share(m.fstype));
        CU_ASSERT_FALSE(fstype_is_network_share("ext4"));

        char bad1[] = "36 35 98:0 / /mnt rw";
        CU_ASSERT_EQUAL(mountinfo_parse_line(bad1, &m), -EINVAL);
        char bad2[] = "36 35 98:0 / /mnt rw shared:1 ext4 /dev/sda1";
        CU_ASSERT_EQUAL(mountinfo_parse_line(bad2, &m), -EINVAL);
        char bad3[] = "";
        CU_ASSERT_EQUAL(mountinfo_parse_line(bad3, &m), -EINVAL);
}

static void test_xdg_download_dir(void)
{
        char *d = NULL;
        CU_ASSERT_EQUAL(xdg_download_dir_parse("# comment\nXDG_DESKTOP_DIR=\"$HOME/デスクトップ\"\n"
                                               "XDG_DOWNLOAD_DIR=\"$HOME/ダウンロード\"\n",
                                               "/home/taro", &d), 0);
        CU_ASSERT_STRING_EQUAL(d, "/home/taro/ダウンロード");
        free(d);
        CU_ASSERT_EQUAL(xdg_download_dir_parse("  XDG_DOWNLOAD_DIR=\"/data/dl\"", "/home/taro", &d), 0);
        CU_ASSERT_STRING_EQUAL(d, "/data/dl");
        free(d);
        CU_ASSERT_EQUAL(xdg_download_dir_parse("XDG_DOWNLOAD_DIR=\"$HOME\"", "/home/taro", &d), 0);
        CU_ASSERT_STRING_EQUAL(d, "/home/taro");
        free(d);
        d = NULL;
        CU_ASSERT_EQUAL(xdg_download_dir_parse("XDG_DOWNLOAD_DIR=\"Downloads\"", "/home/t", &d), -EINVAL);
        CU_ASSERT_EQUAL(xdg_download_dir_parse("XDG_DOWNLOAD_DIR=\"$HOMEX/a\"", "/home/t", &d), -EINVAL);
        CU_ASSERT_EQUAL(xdg_download_dir_parse("XDG_DOWNLOAD_DIR=\"$HOME/../../etc\"", "/home/t", &d), -EINVAL);
        CU_ASSERT_EQUAL(xdg_download_dir_parse("XDG_DOWNLOAD_DIR=\"$HOME/x", "/home/t", &d), -EINVAL);
        CU_ASSERT_EQUAL(xdg_download_dir_parse("XDG_MUSIC_DIR=\"$HOME/x\"", "/home/t", &d), -ENOENT);
        CU_ASSERT_PTR_NULL(d);
}

static void test_glob_literal_dir(void)
{
        char *d = NULL;
        CU_ASSERT_EQUAL(glob_literal_dir("/srv/jumin/**", &d), 0);
        CU_ASSERT_STRING_EQUAL(d, "/srv/jumin");
        free(d);
        CU_ASSERT_EQUAL(glob_literal_dir("/home/*/個人情報/**", &d), 0);
        CU_ASSERT_STRING_EQUAL(d, "/home");
        free(d);
        CU_ASSERT_EQUAL(glob_literal_dir("/data/list.csv", &d), 0);
        CU_ASSERT_STRING_EQUAL(d, "/data");
        free(d);
        CU_ASSERT_EQUAL(glob_literal_dir("/*.csv", &d), 0);
        CU_ASSERT_STRING_EQUAL(d, "/");
        free(d);
        d = NULL;
        CU_ASSERT_EQUAL(glob_literal_dir("relative/*", &d), -EINVAL);
        CU_ASSERT_PTR_NULL(d);
}

static void test_destination_lookup(void)
{
        struct files_target items[] = {
                { FILES_TARGET_DATA_DIR, (char *)"/home/taro", "home", 1, 7, 500, 0 },
                { FILES_TARGET_DEST_DIR, (char *)"/home/taro/Downloads", "downloads", 1, 7, 500, 0 },
                { FILES_TARGET_DEST_MOUNT, (char *)"/media/taro/USB", "removable", 2, 7, 500, 0 },
                { FILES_TARGET_DEST_MOUNT, (char *)"/media/taro/USB/inner", "network_share", 3, 7, 500, 0 },
        };
        struct files_targets t = { items, ELEMENTSOF(items) };
        const struct files_target *d = files_targets_destination(&t, "/home/taro/Downloads/a.csv");
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        CU_ASSERT_STRING_EQUAL(d->why, "downloads");
        /* a directory target holds its direct children only (its mark has no more) */
        CU_ASSERT_PTR_NULL(files_targets_destination(&t, "/home/taro/Downloads/sub/a.csv"));
        CU_ASSERT_PTR_NULL(files_targets_destination(&t, "/home/taro/a.csv")); /* data, not a destination */
        d = files_targets_destination(&t, "/media/taro/USB/a/b/c.csv");
        CU_ASSERT_STRING_EQUAL(d->why, "removable");
        d = files_targets_destination(&t, "/media/taro/USB/inner/x"); /* the longest match */
        CU_ASSERT_STRING_EQUAL(d->why, "network_share");
        CU_ASSERT_PTR_NULL(files_targets_destination(&t, "/media/taro/USBX/a"));
        /* a file deleted before its event was read still tells where it was written */
        d = files_targets_destination(&t, "/home/taro/Downloads/a.csv (deleted)");
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        CU_ASSERT_STRING_EQUAL(d->why, "downloads");
        CU_ASSERT_PTR_NULL(files_targets_destination(&t, "/home/taro/a.csv (deleted)"));
}

static void test_destination_by_device(void)
{
        struct files_target items[] = {
                { FILES_TARGET_DATA_MOUNT, (char *)"/srv", "glob", 5, 7, 500, 0 },
                { FILES_TARGET_DEST_DIR, (char *)"/home/taro/Downloads", "downloads", 1, 7, 500, 0 },
                { FILES_TARGET_DEST_MOUNT, (char *)"/media/taro/USB", "removable", 2, 7, 500, 0 },
                { FILES_TARGET_DEST_MOUNT, (char *)"/mnt/share", "network_share", 3, 7, 500, 0 },
                { FILES_TARGET_DEST_DIR, (char *)"/mnt/share/inbox", "path", 3, 7, 500, 0 },
                { FILES_TARGET_DEST_MOUNT, (char *)"/mnt/other", "path", 0, 7, 500, 0 },
        };
        struct files_targets t = { items, ELEMENTSOF(items) };
        const struct files_target *d = files_targets_destination_by_dev(&t, 2);
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        CU_ASSERT_STRING_EQUAL(d->path, "/media/taro/USB");
        /* a directory destination on the same device: only the path can tell */
        CU_ASSERT_PTR_NULL(files_targets_destination_by_dev(&t, 3));
        CU_ASSERT_PTR_NULL(files_targets_destination_by_dev(&t, 1)); /* a directory destination */
        CU_ASSERT_PTR_NULL(files_targets_destination_by_dev(&t, 5)); /* data, not a destination */
        CU_ASSERT_PTR_NULL(files_targets_destination_by_dev(&t, 0)); /* unknown device */
        CU_ASSERT_PTR_NULL(files_targets_destination_by_dev(&t, 9));
}

static void test_targets_equal(void)
{
        struct files_target a_items[] = {
                { FILES_TARGET_DATA_DIR, (char *)"/home/taro", "home", 1, 10, 500, 0 },
                { FILES_TARGET_DEST_MOUNT, (char *)"/media/taro/USB", "removable", 2, 1, 500, 0 },
        };
        struct files_target b_items[] = {
                { FILES_TARGET_DATA_DIR, (char *)"/home/taro", "home", 1, 10, 500, 0 },
                { FILES_TARGET_DEST_MOUNT, (char *)"/media/taro/USB", "removable", 2, 1, 500, 0 },
        };
        struct files_targets a = { a_items, 2 }, b = { b_items, 2 };
        CU_ASSERT_TRUE(files_targets_equal(&a, &b));
        b_items[0].ino = 11; /* removed and made again under the same name */
        CU_ASSERT_FALSE(files_targets_equal(&a, &b));
        b_items[0].ino = 10;
        b_items[0].birth = 501; /* ... and given the same inode number */
        CU_ASSERT_FALSE(files_targets_equal(&a, &b));
        a_items[0].birth = b_items[0].birth = 0; /* a place that could not be read: never the same */
        CU_ASSERT_FALSE(files_targets_equal(&a, &b));
        a_items[0].birth = b_items[0].birth = 500;
        b_items[1].why = "network_share";
        CU_ASSERT_FALSE(files_targets_equal(&a, &b));
        b_items[1].why = "removable";
        b.n = 1;
        CU_ASSERT_FALSE(files_targets_equal(&a, &b));
}

static void set_old_mtime(const char *path)
{
        struct timespec ts[2] = { { .tv_sec = time(NULL) - 3600 }, { .tv_sec = time(NULL) - 3600 } };
        CU_ASSERT_EQUAL_FATAL(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static bool has_path(const struct files_targets *t, const char *path)
{
        for (size_t i = 0; i < t->n; i++)
                if (STREQ(t->items[i].path, path))
                        return true;
        return false;
}

/* A home tree on a real directory: the walk's bounds, and a second computation that takes
 * the tree from the first while no directory changed and walks again once one did. */
static void test_home_tree(void)
{
        char home[] = "/tmp/hogo-test-home-XXXXXX", p[256];
        CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(home));
        const char *dirs[] = { "Documents", "Documents/a", "Documents/a/b", ".cache", ".cache/x", "Pictures" };
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                snprintf(p, sizeof p, "%s/%s", home, dirs[i]);
                CU_ASSERT_EQUAL_FATAL(mkdir(p, 0755), 0);
        }
        snprintf(p, sizeof p, "%s/link", home);
        CU_ASSERT_EQUAL_FATAL(symlink("/usr", p), 0);
        for (ssize_t i = ELEMENTSOF(dirs) - 1; i >= 0; i--) {
                snprintf(p, sizeof p, "%s/%s", home, dirs[i]);
                set_old_mtime(p);
        }
        set_old_mtime(home);

        struct files_targets first = { 0 }, again = { 0 }, after = { 0 };
        size_t budget = 100;
        CU_ASSERT_EQUAL_FATAL(files_targets_add_home_tree(&first, home, NULL, &budget), 0);
        CU_ASSERT_EQUAL(first.n, 5); /* home, Documents, a, b, Pictures: not .cache, not the link */
        CU_ASSERT_EQUAL(budget, 95);
        snprintf(p, sizeof p, "%s/Documents/a/b", home);
        CU_ASSERT_TRUE(has_path(&first, p));
        snprintf(p, sizeof p, "%s/.cache", home);
        CU_ASSERT_FALSE(has_path(&first, p));
        CU_ASSERT_EQUAL(first.items[0].kind, FILES_TARGET_DATA_DIR);
        CU_ASSERT_STRING_EQUAL(first.items[0].why, "home");

        /* a directory made, its parent's time set back: only a reuse can miss it, so this
         * shows the tree was taken from the first result */
        snprintf(p, sizeof p, "%s/Pictures/new", home);
        CU_ASSERT_EQUAL_FATAL(mkdir(p, 0755), 0);
        set_old_mtime(p);
        snprintf(p, sizeof p, "%s/Pictures", home);
        set_old_mtime(p);
        budget = 100;
        CU_ASSERT_EQUAL_FATAL(files_targets_add_home_tree(&again, home, &first, &budget), 0);
        CU_ASSERT_TRUE(files_targets_equal(&first, &again));
        /* once a directory shows a change, the tree is walked again and the new one found */
        snprintf(p, sizeof p, "%s/Pictures/new2", home);
        CU_ASSERT_EQUAL_FATAL(mkdir(p, 0755), 0);
        budget = 3;
        CU_ASSERT_EQUAL_FATAL(files_targets_add_home_tree(&after, home, &again, &budget), 0);
        CU_ASSERT_EQUAL(after.n, 3); /* the budget bounds the walk */
        files_targets_clear(&after);
        budget = 100;
        CU_ASSERT_EQUAL_FATAL(files_targets_add_home_tree(&after, home, &again, &budget), 0);
        snprintf(p, sizeof p, "%s/Pictures/new2", home);
        CU_ASSERT_TRUE(has_path(&after, p));
        CU_ASSERT_EQUAL(after.n, 7);

        files_targets_clear(&first);
        files_targets_clear(&again);
        files_targets_clear(&after);
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
        CU_ASSERT_EQUAL(system(cmd), 0);
}

static CU_TestInfo tests[] = {
        { "home tree", test_home_tree },
        { "targets equal", test_targets_equal },
        { "mountinfo line", test_mountinfo_line },
        { "XDG download dir", test_xdg_download_dir },
        { "glob literal dir", test_glob_literal_dir },
        { "destination lookup", test_destination_lookup },
        { "destination by device", test_destination_by_device },
        CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
        { "files targets", NULL, NULL, NULL, NULL, tests },
        CU_SUITE_INFO_NULL,
};

UNIT_MAIN(suites)

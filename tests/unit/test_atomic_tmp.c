/* test_atomic_tmp.c — the leftovers of write_file_atomic(): which ones are stale, and
 * that only those are removed. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/atomic_tmp.h"
#include "common/util.h"
#include "unit.h"

static void test_writer_of_a_name(void)
{
        pid_t pid = 0;
        CU_ASSERT_TRUE(atomic_tmp_writer("acked.tmp.4242", "acked", &pid));
        CU_ASSERT_EQUAL(pid, 4242);
        CU_ASSERT_FALSE(atomic_tmp_writer("acked", "acked", &pid));
        CU_ASSERT_FALSE(atomic_tmp_writer("acked.tmp.", "acked", &pid));
        CU_ASSERT_FALSE(atomic_tmp_writer("acked.tmp.0", "acked", &pid));
        CU_ASSERT_FALSE(atomic_tmp_writer("acked.tmp.12x", "acked", &pid));
        CU_ASSERT_FALSE(atomic_tmp_writer("acked.tmp.99999999999", "acked", &pid));
        CU_ASSERT_FALSE(atomic_tmp_writer("status.json.tmp.12", "acked", &pid));
        CU_ASSERT_FALSE(atomic_tmp_writer("ackedx.tmp.12", "acked", &pid));
}

static void test_staleness(void)
{
        CU_ASSERT_TRUE(atomic_tmp_is_stale(false, 0));
        CU_ASSERT_FALSE(atomic_tmp_is_stale(true, 0));
        CU_ASSERT_FALSE(atomic_tmp_is_stale(true, ATOMIC_TMP_STALE_USEC));
        CU_ASSERT_TRUE(atomic_tmp_is_stale(true, ATOMIC_TMP_STALE_USEC + 1));
}

static bool exists(const char *dir, const char *name)
{
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        return access(path, F_OK) == 0;
}

/* A pid that was a process and has exited. */
static pid_t gone_pid(void)
{
        pid_t pid = fork();
        if (pid == 0)
                _exit(0);
        waitpid(pid, NULL, 0);
        return pid;
}

static void test_only_stale_ones_are_removed(void)
{
        const char *dir = unit_tmpdir();
        char dead[64], live[64], live_old[64], mine[64], path[4096];
        snprintf(dead, sizeof dead, "acked.tmp.%d", (int)gone_pid());
        snprintf(live, sizeof live, "acked.tmp.%d", (int)getppid());
        snprintf(live_old, sizeof live_old, "status.json.tmp.%d", (int)getppid());
        snprintf(mine, sizeof mine, "acked.tmp.%d", (int)getpid());
        free(unit_write_file(dir, "acked", "7\n", 2));
        free(unit_write_file(dir, dead, "8", 1));
        free(unit_write_file(dir, live, "9", 1));
        free(unit_write_file(dir, live_old, "{}", 2));
        free(unit_write_file(dir, mine, "10", 2));
        free(unit_write_file(dir, "acked.tmp.notapid", "x", 1));
        /* a live writer's file older than any write takes: its pid was reused */
        struct timespec old[2] = { { .tv_sec = 1000 }, { .tv_sec = 1000 } };
        snprintf(path, sizeof path, "%s/%s", dir, live_old);
        CU_ASSERT_EQUAL_FATAL(utimensat(AT_FDCWD, path, old, 0), 0);

        char acked[4096], status[4096];
        snprintf(acked, sizeof acked, "%s/acked", dir);
        snprintf(status, sizeof status, "%s/status.json", dir);
        CU_ASSERT_EQUAL(atomic_tmp_remove_stale(acked), 1);
        CU_ASSERT_FALSE(exists(dir, dead));
        CU_ASSERT_TRUE(exists(dir, live));
        CU_ASSERT_TRUE(exists(dir, mine));
        CU_ASSERT_TRUE(exists(dir, "acked"));
        CU_ASSERT_TRUE(exists(dir, "acked.tmp.notapid"));
        CU_ASSERT_TRUE(exists(dir, live_old));
        CU_ASSERT_EQUAL(atomic_tmp_remove_stale(status), 1);
        CU_ASSERT_FALSE(exists(dir, live_old));
        CU_ASSERT_EQUAL(atomic_tmp_remove_stale(acked), 0);

        snprintf(path, sizeof path, "%s/nothere/acked", dir);
        CU_ASSERT_EQUAL(atomic_tmp_remove_stale(path), -ENOENT);
}

static CU_TestInfo tests[] = {
        { "a temporary file names its writer", test_writer_of_a_name },
        { "stale: writer gone or file too old", test_staleness },
        { "only stale temporary files are removed", test_only_stale_ones_are_removed },
        CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
        { "write_file_atomic leftovers", NULL, NULL, NULL, NULL, tests },
        CU_SUITE_INFO_NULL,
};

UNIT_MAIN(suites)

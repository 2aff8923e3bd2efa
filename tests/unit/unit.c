/* unit.c — the shared runner for CUnit suites, see unit.h. */
#include "tests/unit/unit.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *tmpdirs[256];
static size_t n_tmpdirs;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path);
}

static void remove_tmpdirs(void)
{
        for (size_t i = 0; i < n_tmpdirs; i++) {
                nftw(tmpdirs[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
                free(tmpdirs[i]);
        }
}

const char *unit_tmpdir(void)
{
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        char *path = NULL;
        if (asprintf(&path, "%s/hogo-unit.XXXXXX", base) < 0 || !mkdtemp(path) ||
            n_tmpdirs == sizeof tmpdirs / sizeof tmpdirs[0])
                abort();
        if (n_tmpdirs == 0)
                atexit(remove_tmpdirs);
        tmpdirs[n_tmpdirs++] = path;
        return path;
}

char *unit_write_file(const char *dir, const char *name, const void *data, size_t len)
{
        char *path = NULL;
        if (asprintf(&path, "%s/%s", dir, name) < 0)
                abort();
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd) < 0)
                abort();
        return path;
}

int unit_run(CU_SuiteInfo *suites)
{
        if (CU_initialize_registry() != CUE_SUCCESS || CU_register_suites(suites) != CUE_SUCCESS) {
                fprintf(stderr, "CUnit: cannot register suites: %s\n", CU_get_error_msg());
                return 2;
        }
        CU_basic_set_mode(CU_BRM_VERBOSE);
        CU_basic_run_tests();
        unsigned run = CU_get_number_of_tests_run();
        unsigned failed = CU_get_number_of_tests_failed();
        unsigned suites_failed = CU_get_number_of_suites_failed();
        printf("UNIT-RESULT tests=%u failed=%u\n", run + suites_failed, failed + suites_failed);
        CU_cleanup_registry();
        return (failed || suites_failed) ? 1 : 0;
}

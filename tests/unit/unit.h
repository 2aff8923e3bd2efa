/* unit.h — how every CUnit suite binary under tests/unit/ runs.
 *
 * A test file defines its CU_TestInfo arrays and CU_SuiteInfo table and ends with
 * `UNIT_MAIN(suites)`. The binary prints CUnit's summary and then one line
 * `UNIT-RESULT tests=N failed=M` that tests/run adds up; it exits 1 on any failure.
 * Tests that need scratch files call unit_tmpdir(), a fresh directory per call that is
 * removed at exit.
 */
#ifndef HOGO_UNIT_H
#define HOGO_UNIT_H

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#ifdef __clang_analyzer__
#include <stdlib.h>
/* A failed _FATAL assertion leaves the test (CUnit longjmps), which the static analyzer
 * cannot see: it would follow the failed path on into null dereferences that never happen.
 * For the analyzer only, such a failure ends the program. */
static inline CU_BOOL unit_assert_for_analyzer(CU_BOOL value, unsigned int line,
                                               const char *condition, const char *file,
                                               const char *function, CU_BOOL fatal)
{
        CU_BOOL r = CU_assertImplementation(value, line, condition, file, function, fatal);
        if (!value && fatal)
                abort();
        return r;
}
#define CU_assertImplementation unit_assert_for_analyzer
#endif

int unit_run(CU_SuiteInfo *suites);
/* A new empty directory under $TMPDIR, removed (recursively) when the test binary exits. */
const char *unit_tmpdir(void);
/* Writes a file (abort on failure), returns path inside dir, static storage per call. */
char *unit_write_file(const char *dir, const char *name, const void *data, size_t len);

#define UNIT_MAIN(suites)                   \
        int main(void)                      \
        {                                   \
                return unit_run(suites);    \
        }

#endif

/* test_bulk_window.c — the per-user sliding window of marked-file reads and bytes. */
#include <stdio.h>
#include <string.h>

#include "agent/bulk_window.h"
#include "common/util.h"
#include "tests/unit/unit.h"

#define SEC 1000000ull

static struct bulk_window *window(uint32_t max_files, uint64_t max_bytes, bool block)
{
        struct bulk_window_config cfg = {
                .window_usec = 60 * SEC,
                .max_files = max_files,
                .max_bytes = max_bytes,
                .block = block,
                .cooldown_usec = 600 * SEC,
        };
        struct bulk_window *w = NULL;
        CU_ASSERT_EQUAL_FATAL(bulk_window_new(&cfg, &w), 0);
        return w;
}

/* Reads files [first, first+n) one second apart from t; returns how many raised. */
static int read_files(struct bulk_window *w, uid_t uid, unsigned first, unsigned n, uint64_t t,
                      enum bulk_outcome *last)
{
        int raised = 0;
        for (unsigned i = 0; i < n; i++) {
                char path[64];
                snprintf(path, sizeof path, "/srv/jumin/%u.csv", first + i);
                enum bulk_outcome o;
                CU_ASSERT_EQUAL_FATAL(bulk_window_add_file(w, uid, 1, first + i, path, t + i * SEC, &o), 0);
                raised += o == BULK_CROSSED;
                if (last)
                        *last = o;
        }
        return raised;
}

static void test_thirty_files_raise_once_ten_do_not(void)
{
        struct bulk_window *w = window(20, 0, false);
        enum bulk_outcome last;
        CU_ASSERT_EQUAL(read_files(w, 1000, 0, 10, 100 * SEC, &last), 0);
        CU_ASSERT_EQUAL(last, BULK_WITHIN);
        CU_ASSERT_EQUAL(read_files(w, 1001, 0, 30, 100 * SEC, &last), 1);
        CU_ASSERT_EQUAL(last, BULK_OVER);

        struct bulk_window_stats s;
        bulk_window_stats(w, 1001, 130 * SEC, &s);
        CU_ASSERT_EQUAL(s.files, 30);
        CU_ASSERT_TRUE(s.files_over);
        CU_ASSERT_EQUAL(s.n_recent, 30);
        CU_ASSERT_STRING_EQUAL(s.recent[0], "/srv/jumin/29.csv");
        bulk_window_stats(w, 1000, 130 * SEC, &s);
        CU_ASSERT_EQUAL(s.files, 10);
        CU_ASSERT_FALSE(s.files_over);
        CU_ASSERT_FALSE(bulk_window_blocked(w, 1001, 130 * SEC, NULL)); /* warn mode */
        bulk_window_free(w);
}

static void test_distinct_files_only(void)
{
        struct bulk_window *w = window(5, 0, false);
        enum bulk_outcome o;
        for (int i = 0; i < 50; i++) {
                CU_ASSERT_EQUAL(bulk_window_add_file(w, 7, 1, 42, "/a", (uint64_t)i * SEC, &o), 0);
                CU_ASSERT_EQUAL(o, BULK_WITHIN);
        }
        /* same inode on another device is another file */
        CU_ASSERT_EQUAL(bulk_window_add_file(w, 7, 2, 42, "/b", 50 * SEC, &o), 0);
        struct bulk_window_stats s;
        bulk_window_stats(w, 7, 51 * SEC, &s);
        CU_ASSERT_EQUAL(s.files, 2);
        bulk_window_free(w);
}

static void test_window_slides_and_raises_again(void)
{
        struct bulk_window *w = window(20, 0, false);
        enum bulk_outcome o;
        /* 19 files, then the 20th after the first have left the window: no raise */
        CU_ASSERT_EQUAL(read_files(w, 5, 0, 19, 0, &o), 0);
        CU_ASSERT_EQUAL(read_files(w, 5, 100, 1, 61 * SEC, &o), 0);
        struct bulk_window_stats s;
        bulk_window_stats(w, 5, 61 * SEC, &s);
        CU_ASSERT_EQUAL(s.files, 18); /* files read at 0 s and 1 s have left */
        /* a burst raises once; continuing within the window stays quiet */
        CU_ASSERT_EQUAL(read_files(w, 5, 200, 40, 1000 * SEC, &o), 1);
        /* a full window later, still copying: raised again, once */
        CU_ASSERT_EQUAL(read_files(w, 5, 300, 40, 1060 * SEC, &o), 1);
        bulk_window_free(w);
}

static void test_entries_bounded_by_limit(void)
{
        struct bulk_window *w = window(100, 0, false);
        enum bulk_outcome o;
        /* one a second never reaches 100 within 60 s */
        CU_ASSERT_EQUAL(read_files(w, 3, 0, 500, 0, &o), 0);
        struct bulk_window_stats s;
        bulk_window_stats(w, 3, 499 * SEC, &s);
        CU_ASSERT_EQUAL(s.files, 60);
        struct bulk_window *fast = window(100, 0, false);
        for (unsigned i = 0; i < 500; i++)
                CU_ASSERT_EQUAL(bulk_window_add_file(fast, 3, 1, i, NULL, 5 * SEC, &o), 0);
        bulk_window_stats(fast, 3, 5 * SEC, &s);
        CU_ASSERT_EQUAL(s.files, 100); /* never more entries than the limit */
        CU_ASSERT_EQUAL(s.n_recent, 0);
        bulk_window_free(fast);
        bulk_window_free(w);
}

static void test_bytes(void)
{
        struct bulk_window *w = window(0, 100 << 20, false);
        enum bulk_outcome o;
        CU_ASSERT_EQUAL(bulk_window_add_bytes(w, 9, 60 << 20, 10 * SEC, &o), 0);
        CU_ASSERT_EQUAL(o, BULK_WITHIN);
        CU_ASSERT_EQUAL(bulk_window_add_bytes(w, 9, 60 << 20, 80 * SEC, &o), 0);
        CU_ASSERT_EQUAL(o, BULK_WITHIN); /* the first 60 MiB left the window */
        CU_ASSERT_EQUAL(bulk_window_add_bytes(w, 9, 40 << 20, 81 * SEC, &o), 0);
        CU_ASSERT_EQUAL(o, BULK_CROSSED);
        struct bulk_window_stats s;
        bulk_window_stats(w, 9, 81 * SEC, &s);
        CU_ASSERT_EQUAL(s.bytes, 100 << 20);
        CU_ASSERT_TRUE(s.bytes_over);
        CU_ASSERT_FALSE(s.files_over);

        /* many small writes: entries merge, the sum stays exact within the window */
        for (unsigned i = 0; i < 3 * BULK_BYTE_ENTRIES_MAX; i++)
                CU_ASSERT_EQUAL(bulk_window_add_bytes(w, 10, 1000, 200 * SEC + i, &o), 0);
        bulk_window_stats(w, 10, 201 * SEC, &s);
        CU_ASSERT_EQUAL(s.bytes, 3 * BULK_BYTE_ENTRIES_MAX * 1000);
        bulk_window_free(w);
}

static void test_block_cooldown(void)
{
        struct bulk_window *w = window(3, 0, true);
        enum bulk_outcome o;
        CU_ASSERT_EQUAL(read_files(w, 1000, 0, 2, 10 * SEC, &o), 0);
        CU_ASSERT_FALSE(bulk_window_blocked(w, 1000, 12 * SEC, NULL));
        CU_ASSERT_EQUAL(read_files(w, 1000, 2, 1, 12 * SEC, &o), 1);
        uint64_t until = 0;
        CU_ASSERT_TRUE(bulk_window_blocked(w, 1000, 12 * SEC, &until));
        CU_ASSERT_EQUAL(until, 612 * SEC);
        CU_ASSERT_TRUE(bulk_window_blocked(w, 1000, 611 * SEC, NULL));
        CU_ASSERT_FALSE(bulk_window_blocked(w, 1000, 612 * SEC, NULL));
        CU_ASSERT_FALSE(bulk_window_blocked(w, 1001, 100 * SEC, NULL)); /* only that user */

        /* a policy switch to warn ends cool-downs */
        CU_ASSERT_EQUAL(read_files(w, 1002, 0, 3, 10 * SEC, &o), 1);
        CU_ASSERT_TRUE(bulk_window_blocked(w, 1002, 20 * SEC, NULL));
        struct bulk_window_config warn = { .window_usec = 60 * SEC, .max_files = 3 };
        bulk_window_set_config(w, &warn);
        CU_ASSERT_FALSE(bulk_window_blocked(w, 1002, 20 * SEC, NULL));
        bulk_window_free(w);
}

static void test_users_bounded_and_gc(void)
{
        struct bulk_window *w = window(20, 0, true);
        enum bulk_outcome o;
        for (uid_t u = 0; u < BULK_USERS_MAX + 50; u++)
                CU_ASSERT_EQUAL_FATAL(bulk_window_add_file(w, u, 1, 1, "/x", u, &o), 0);
        CU_ASSERT_EQUAL(bulk_window_users(w), BULK_USERS_MAX);
        bulk_window_gc(w, 1000 * SEC);
        CU_ASSERT_EQUAL(bulk_window_users(w), 0);

        /* a blocked user is never forgotten, not by gc nor by eviction */
        CU_ASSERT_EQUAL(read_files(w, 4242, 0, 20, 2000 * SEC, &o), 1);
        for (uid_t u = 0; u < BULK_USERS_MAX + 5; u++)
                CU_ASSERT_EQUAL_FATAL(bulk_window_add_file(w, u, 1, 1, "/x", 2100 * SEC + u, &o), 0);
        bulk_window_gc(w, 2300 * SEC);
        CU_ASSERT_TRUE(bulk_window_blocked(w, 4242, 2300 * SEC, NULL));
        CU_ASSERT_EQUAL(bulk_window_users(w), 1);
        bulk_window_free(w);
}

/* Against a plain model (an array scanned in full) over many reads, re-reads, expiries and
 * evictions at a large limit: the same count of distinct files at every step. */
static void test_large_window_matches_model(void)
{
        enum { LIMIT = 3000, FILES = 5000, STEPS = 40000 };
        struct bulk_window_config cfg = { .window_usec = 60 * SEC, .max_files = LIMIT };
        struct bulk_window *w = NULL;
        CU_ASSERT_EQUAL_FATAL(bulk_window_new(&cfg, &w), 0);
        static uint64_t seen[FILES]; /* 0: not in the window */
        memset(seen, 0, sizeof seen);
        uint32_t rnd = 12345;
        uint64_t t = SEC;
        bool same = true;
        for (unsigned step = 0; step < STEPS && same; step++) {
                rnd = rnd * 1103515245u + 12345u;
                /* mostly a few ms apart, sometimes a gap that lets part of the window expire */
                t += (rnd >> 16) % 97 == 0 ? 20 * SEC : 3000;
                unsigned ino = (rnd >> 8) % FILES;
                enum bulk_outcome o;
                CU_ASSERT_EQUAL_FATAL(bulk_window_add_file(w, 9, 1, ino, NULL, t, &o), 0);

                size_t n = 0, oldest = SIZE_MAX;
                for (unsigned i = 0; i < FILES; i++) {
                        if (seen[i] && seen[i] + cfg.window_usec <= t)
                                seen[i] = 0;
                        if (seen[i] && i != ino) {
                                n++;
                                if (oldest == SIZE_MAX || seen[i] < seen[oldest])
                                        oldest = i;
                        }
                }
                if (!seen[ino] && n >= LIMIT) /* the window makes room: the least recently read */
                        seen[oldest] = 0, n--;
                seen[ino] = t;
                n++;
                struct bulk_window_stats st;
                bulk_window_stats(w, 9, t, &st);
                same = st.files == n;
                CU_ASSERT_EQUAL(st.files, n);
        }
        bulk_window_gc(w, t + 61 * SEC);
        CU_ASSERT_EQUAL(bulk_window_users(w), 0);
        bulk_window_free(w);
}

static CU_TestInfo tests[] = {
        { "large window matches a model", test_large_window_matches_model },
        { "thirty files raise once, ten do not", test_thirty_files_raise_once_ten_do_not },
        { "distinct files only", test_distinct_files_only },
        { "window slides and raises again", test_window_slides_and_raises_again },
        { "entries bounded by the limit", test_entries_bounded_by_limit },
        { "bytes", test_bytes },
        { "block cool-down", test_block_cooldown },
        { "users bounded and gc", test_users_bounded_and_gc },
        CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
        { "bulk window", NULL, NULL, NULL, NULL, tests },
        CU_SUITE_INFO_NULL,
};

UNIT_MAIN(suites)

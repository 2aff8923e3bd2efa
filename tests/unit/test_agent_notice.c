/* test_agent_notice.c — the notice rate limiter, the .mo catalogue reader and the wording
 * of notices in Japanese and English. */
#include <stdio.h>
#include <stdlib.h>

#include "agent/catalog.h"
#include "agent/notice_ratelimit.h"
#include "agent/notice_text.h"
#include "common/fileio.h"
#include "common/util.h"
#include "tests/unit/unit.h"

#define SEC 1000000ull

static void test_ratelimit_burst_then_suppress_then_new_window(void)
{
        static struct notice_ratelimit rl;
        notice_ratelimit_init(&rl, 60 * SEC, 3);
        uint64_t t = 1000 * SEC;
        CU_ASSERT_TRUE(notice_ratelimit_allow(&rl, "usb:1-2", t));
        CU_ASSERT_TRUE(notice_ratelimit_allow(&rl, "usb:1-2", t + 1 * SEC));
        CU_ASSERT_TRUE(notice_ratelimit_allow(&rl, "usb:1-2", t + 2 * SEC));
        CU_ASSERT_FALSE(notice_ratelimit_allow(&rl, "usb:1-2", t + 3 * SEC));
        CU_ASSERT_FALSE(notice_ratelimit_allow(&rl, "usb:1-2", t + 59 * SEC));
        /* another key is independent */
        CU_ASSERT_TRUE(notice_ratelimit_allow(&rl, "usb:3-1", t + 4 * SEC));
        /* the window of the first key ends 60 s after it started */
        CU_ASSERT_TRUE(notice_ratelimit_allow(&rl, "usb:1-2", t + 60 * SEC));
        CU_ASSERT_TRUE(notice_ratelimit_allow(&rl, "usb:1-2", t + 61 * SEC));
        CU_ASSERT_TRUE(notice_ratelimit_allow(&rl, "usb:1-2", t + 62 * SEC));
        CU_ASSERT_FALSE(notice_ratelimit_allow(&rl, "usb:1-2", t + 63 * SEC));
}

static void test_ratelimit_no_key_and_clock_backwards(void)
{
        static struct notice_ratelimit rl;
        notice_ratelimit_init(&rl, 60 * SEC, 1);
        for (int i = 0; i < 10; i++) {
                CU_ASSERT_TRUE(notice_ratelimit_allow(&rl, NULL, i));
                CU_ASSERT_TRUE(notice_ratelimit_allow(&rl, "", i));
        }
        CU_ASSERT_TRUE(notice_ratelimit_allow(&rl, "k", 500 * SEC));
        CU_ASSERT_FALSE(notice_ratelimit_allow(&rl, "k", 501 * SEC));
        /* a clock stepped back must not mute the key until the old time comes again */
        CU_ASSERT_TRUE(notice_ratelimit_allow(&rl, "k", 100 * SEC));
}

static void test_ratelimit_table_full_reuses_oldest(void)
{
        static struct notice_ratelimit rl;
        notice_ratelimit_init(&rl, 1000 * SEC, 1);
        char key[32];
        for (int i = 0; i < NOTICE_RATELIMIT_SLOTS; i++) {
                snprintf(key, sizeof key, "k%d", i);
                CU_ASSERT_TRUE(notice_ratelimit_allow(&rl, key, (uint64_t)(i + 1) * SEC));
        }
        /* all slots taken: k1 is still limited ... */
        CU_ASSERT_FALSE(notice_ratelimit_allow(&rl, "k1", 70 * SEC - 1));
        /* ... a new key takes the oldest slot (k0), which therefore is allowed again */
        CU_ASSERT_TRUE(notice_ratelimit_allow(&rl, "new", 65 * SEC));
        CU_ASSERT_TRUE(notice_ratelimit_allow(&rl, "k0", 66 * SEC));
        CU_ASSERT_FALSE(notice_ratelimit_allow(&rl, "k63", 66 * SEC));
}

/* Builds the catalogue of lang from the tree's po file, as the Makefile does. */
static const char *build_locale_dir(void)
{
        static char dir[512];
        if (dir[0])
                return dir;
        snprintf(dir, sizeof dir, "%s/locale", unit_tmpdir());
        const char *langs[] = { "ja", "en" };
        for (size_t i = 0; i < ELEMENTSOF(langs); i++) {
                char sub[600], cmd[1400];
                snprintf(sub, sizeof sub, "%s/%s/LC_MESSAGES", dir, langs[i]);
                CU_ASSERT_EQUAL_FATAL(mkdir_parents(sub, 0755), 0);
                snprintf(cmd, sizeof cmd, "msgfmt --check -o %s/hogo-agent.mo po/%s.po", sub,
                         langs[i]);
                CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
        }
        return dir;
}

static void test_catalog_lookup_and_rejects(void)
{
        struct catalog *en = NULL;
        CU_ASSERT_EQUAL_FATAL(catalog_open(build_locale_dir(), "en", &en), 0);
        CU_ASSERT_STRING_EQUAL(catalog_lookup(en, "USB機器の接続を制限しました"),
                               "A USB device was blocked");
        CU_ASSERT_PTR_NULL(catalog_lookup(en, "not in the catalogue"));
        CU_ASSERT_PTR_NULL(catalog_lookup(en, ""));   /* the header is no translation */
        CU_ASSERT_PTR_NULL(catalog_lookup(NULL, "x")); /* no catalogue: no translation */
        catalog_free(en);

        struct catalog *c = NULL;
        CU_ASSERT_EQUAL(catalog_open(build_locale_dir(), "xx", &c), -ENOENT);
        CU_ASSERT_EQUAL(catalog_parse("hello world, not a catalogue", 28, &c), -EBADMSG);

        /* a valid image with one string's offset pointing outside the file */
        char path[600];
        snprintf(path, sizeof path, "%s/en/LC_MESSAGES/hogo-agent.mo", build_locale_dir());
        _cleanup_free_ char *data = NULL;
        size_t len;
        CU_ASSERT_EQUAL_FATAL(read_file_bounded(path, 1 << 20, &data, &len), 0);
        CU_ASSERT_EQUAL(catalog_parse(data, len, &c), 0);
        catalog_free(c);
        uint32_t ids_off;
        memcpy(&ids_off, data + 12, 4);
        uint32_t huge = (uint32_t)len + 100;
        memcpy(data + ids_off + 12, &huge, 4); /* offset of msgid #1 */
        CU_ASSERT_EQUAL(catalog_parse(data, len, &c), -EBADMSG);
        CU_ASSERT_EQUAL(catalog_parse(data, 10, &c), -EBADMSG);
}

#define ENV(s) (s), sizeof(s) - 1

static void test_language_for_environ(void)
{
        CU_ASSERT_STRING_EQUAL(notice_language_for_environ(ENV("")), "ja");
        CU_ASSERT_STRING_EQUAL(notice_language_for_environ(ENV("HOME=/x\0LANG=C\0")), "ja");
        CU_ASSERT_STRING_EQUAL(notice_language_for_environ(ENV("LANG=ja_JP.UTF-8\0")), "ja");
        CU_ASSERT_STRING_EQUAL(notice_language_for_environ(ENV("LANG=en_US.UTF-8\0")), "en");
        /* LC_ALL before LC_MESSAGES before LANG, whatever their order in the block */
        CU_ASSERT_STRING_EQUAL(
                notice_language_for_environ(ENV("LANG=en_US.UTF-8\0LC_ALL=ja_JP.UTF-8\0")), "ja");
        CU_ASSERT_STRING_EQUAL(
                notice_language_for_environ(ENV("LANG=ja_JP.UTF-8\0LC_MESSAGES=en_GB\0")), "en");
        /* a name that only starts like LANG, and a last string without its NUL */
        CU_ASSERT_STRING_EQUAL(notice_language_for_environ(ENV("LANGUAGE=en\0")), "ja");
        CU_ASSERT_STRING_EQUAL(notice_language_for_environ(ENV("X=1\0LANG=en_US")), "ja");
}

static void test_render_japanese_and_english(void)
{
        struct notice n = { .kind = NOTICE_USB_BLOCKED, .subject = "SanDisk Cruzer" };
        _cleanup_free_ char *s1 = NULL, *b1 = NULL, *s2 = NULL, *b2 = NULL;

        CU_ASSERT_EQUAL_FATAL(notice_render(&n, NULL, "情報政策課 内線 1234", &s1, &b1), 0);
        CU_ASSERT_STRING_EQUAL(s1, "USB機器の接続を制限しました");
        CU_ASSERT_PTR_NOT_NULL(strstr(b1, "「SanDisk Cruzer」は記録機能を有する機器"));
        CU_ASSERT_PTR_NOT_NULL(strstr(b1, "\n規程: 記録機能を有する機器の接続制限\n"));
        CU_ASSERT_PTR_NOT_NULL(strstr(b1, "問い合わせ先: 情報政策課 内線 1234"));

        struct catalog *en = NULL;
        CU_ASSERT_EQUAL_FATAL(catalog_open(build_locale_dir(), "en", &en), 0);
        struct notice w = { .kind = NOTICE_FILES_BULK_WARNING, .subject = "/media/usb",
                            .count = 25 };
        CU_ASSERT_EQUAL_FATAL(notice_render(&w, en, "IT desk", &s2, &b2), 0);
        CU_ASSERT_STRING_EQUAL(s2, "Bulk copying of personal information detected");
        CU_ASSERT_PTR_NOT_NULL(strstr(b2, "25 files containing personal information were "
                                          "copied to \"/media/usb\""));
        CU_ASSERT_PTR_NOT_NULL(strstr(b2, "\nRule: Monitoring of access"));
        CU_ASSERT_PTR_NOT_NULL(strstr(b2, "\nContact: IT desk"));
        catalog_free(en);
}

static void test_render_every_kind_and_no_reexpansion(void)
{
        struct catalog *ja = NULL;
        CU_ASSERT_EQUAL_FATAL(catalog_open(build_locale_dir(), "ja", &ja), 0);
        for (int k = 0; k < _NOTICE_KIND_MAX; k++) {
                /* a device may call itself "{contact}": its name must stay text */
                struct notice n = { .kind = k, .subject = "{contact}", .count = 3,
                                    .seconds = 42 };
                _cleanup_free_ char *s = NULL, *b = NULL;
                CU_ASSERT_EQUAL_FATAL(notice_render(&n, ja, "窓口", &s, &b), 0);
                CU_ASSERT_PTR_NULL(strstr(s, "{"));
                CU_ASSERT_PTR_NOT_NULL(strstr(b, notice_rule(k)));
                CU_ASSERT_PTR_NOT_NULL(strstr(b, "問い合わせ先: 窓口"));
                /* the only brace left is the device name itself */
                const char *brace = strchr(b, '{');
                CU_ASSERT(!brace || strncmp(brace, "{contact}", 9) == 0);
        }
        struct notice bad = { .kind = _NOTICE_KIND_MAX };
        char *s = NULL, *b = NULL;
        CU_ASSERT_EQUAL(notice_render(&bad, ja, "x", &s, &b), -EINVAL);
        catalog_free(ja);
}

/* po/en.po must translate every string: an English notice with Japanese left in it means
 * a wording was changed in notice_text.c without updating the catalogue. */
static void test_english_catalogue_complete(void)
{
        struct catalog *en = NULL;
        CU_ASSERT_EQUAL_FATAL(catalog_open(build_locale_dir(), "en", &en), 0);
        for (int k = 0; k < _NOTICE_KIND_MAX; k++) {
                struct notice n = { .kind = k, .subject = "X", .count = 2, .seconds = 30 };
                _cleanup_free_ char *s = NULL, *b = NULL;
                CU_ASSERT_EQUAL_FATAL(notice_render(&n, en, "IT", &s, &b), 0);
                bool ascii = true;
                for (const char *p = s; *p; p++)
                        ascii = ascii && (unsigned char)*p < 0x80;
                for (const char *p = b; *p; p++)
                        ascii = ascii && (unsigned char)*p < 0x80;
                if (!ascii)
                        fprintf(stderr, "untranslated: %s / %s\n", s, b);
                CU_ASSERT_TRUE(ascii);
        }
        catalog_free(en);
}

static CU_TestInfo ratelimit_tests[] = {
        { "burst, suppress, new window", test_ratelimit_burst_then_suppress_then_new_window },
        { "no key; clock backwards", test_ratelimit_no_key_and_clock_backwards },
        { "full table reuses oldest", test_ratelimit_table_full_reuses_oldest },
        CU_TEST_INFO_NULL,
};
static CU_TestInfo text_tests[] = {
        { "catalogue lookup and bad images", test_catalog_lookup_and_rejects },
        { "language of a session environment", test_language_for_environ },
        { "Japanese and English", test_render_japanese_and_english },
        { "every kind; no re-expansion", test_render_every_kind_and_no_reexpansion },
        { "English catalogue complete", test_english_catalogue_complete },
        CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
        { "notice rate limit", NULL, NULL, NULL, NULL, ratelimit_tests },
        { "notice text", NULL, NULL, NULL, NULL, text_tests },
        CU_SUITE_INFO_NULL,
};

UNIT_MAIN(suites)

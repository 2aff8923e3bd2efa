/* test_classify.c — the content classifier: 個人番号 and the other kinds, every encoding and
 * width, XML markup, .xlsx/.docx through the zip reader, its limits, and prefixes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/classify.h"
#include "common/classify_file.h"
#include "common/util.h"
#include "tests/unit/unit.h"
#include "tests/unit/zip_build.h"

/* 123456789018 is valid (check digit 8); 7000012050002 is a valid 法人番号. */
#define MY_NUMBER "123456789018"

static struct classify_config config_all(void)
{
        struct classify_config cfg;
        classify_config_init(&cfg);
        for (int k = 0; k < _CLASSIFY_KIND_MAX; k++)
                cfg.enabled[k] = true;
        return cfg;
}

static struct classify_result classify_with(const struct classify_config *cfg, const void *data,
                                            size_t len)
{
        struct classify_result res;
        CU_ASSERT_EQUAL_FATAL(classify_buffer(cfg, data, len, false, &res), 0);
        return res;
}

static unsigned long count_kind(const char *text, enum classify_kind kind)
{
        struct classify_config cfg = config_all();
        return classify_with(&cfg, text, strlen(text)).count[kind];
}

static unsigned long my_numbers(const char *text)
{
        return count_kind(text, CLASSIFY_MY_NUMBER);
}

static void test_check_digits(void)
{
        CU_ASSERT_TRUE(my_number_check_digit_valid("123456789018"));
        CU_ASSERT_FALSE(my_number_check_digit_valid("123456789010"));
        CU_ASSERT_FALSE(my_number_check_digit_valid("123456789019"));
        /* remainder 0 or 1 gives check digit 0 */
        CU_ASSERT_TRUE(my_number_check_digit_valid("000000000000"));
        CU_ASSERT_TRUE(corporate_number_check_digit_valid("7000012050002"));
        CU_ASSERT_FALSE(corporate_number_check_digit_valid("8000012050002"));
        /* every check digit in turn: exactly one of the ten is valid */
        char d[13] = "98765432100";
        int valid = 0;
        for (char c = '0'; c <= '9'; c++) {
                d[11] = c;
                valid += my_number_check_digit_valid(d);
        }
        CU_ASSERT_EQUAL(valid, 1);
}

static void test_my_number_plain_and_invalid(void)
{
        CU_ASSERT_EQUAL(my_numbers(MY_NUMBER), 1);
        CU_ASSERT_EQUAL(my_numbers("no,name,number\n1,山田," MY_NUMBER "\n2,佐藤,123456789010\n"), 1);
        CU_ASSERT_EQUAL(my_numbers("123456789010"), 0);            /* wrong check digit */
        CU_ASSERT_EQUAL(my_numbers("12345678901"), 0);             /* 11 digits */
        CU_ASSERT_EQUAL(my_numbers("1234567890180"), 0);           /* 13 digits */
        CU_ASSERT_EQUAL(my_numbers("9" MY_NUMBER), 0);             /* embedded, left */
        CU_ASSERT_EQUAL(my_numbers(MY_NUMBER "5"), 0);             /* embedded, right */
        CU_ASSERT_EQUAL(my_numbers("0." MY_NUMBER), 0);            /* a fraction */
        CU_ASSERT_EQUAL(my_numbers(MY_NUMBER ".5"), 0);            /* a decimal */
        CU_ASSERT_EQUAL(my_numbers("ID:" MY_NUMBER "番"), 1);      /* letters are boundaries */
        CU_ASSERT_EQUAL(my_numbers(MY_NUMBER "," MY_NUMBER "\t" MY_NUMBER), 3);
        CU_ASSERT_EQUAL(my_numbers(""), 0);
}

static void test_my_number_grouped(void)
{
        CU_ASSERT_EQUAL(my_numbers("1234 5678 9018"), 1);
        CU_ASSERT_EQUAL(my_numbers("番号 1234-5678-9018 です"), 1);
        CU_ASSERT_EQUAL(my_numbers("1234-5678-9010"), 0);          /* wrong check digit */
        CU_ASSERT_EQUAL(my_numbers("1234 5678 9018 3456"), 0);     /* a card number in fours */
        CU_ASSERT_EQUAL(my_numbers("3456 1234 5678 9018"), 0);
        CU_ASSERT_EQUAL(my_numbers("1234-5678 9018"), 0);          /* mixed separators */
        CU_ASSERT_EQUAL(my_numbers("1234--5678--9018"), 0);
        CU_ASSERT_EQUAL(my_numbers("12345 678 9018"), 0);
        CU_ASSERT_EQUAL(my_numbers("1234 5678 90185"), 0);
        CU_ASSERT_EQUAL(my_numbers("2024-01-15 1234 5678 9018"), 1); /* a date before */
        CU_ASSERT_EQUAL(my_numbers("1234 5678 9018 12"), 1);
        CU_ASSERT_EQUAL(my_numbers("1234-5678-9018 3456"), 1);       /* another separator after */
}

static void test_my_number_full_width(void)
{
        CU_ASSERT_EQUAL(my_numbers("１２３４５６７８９０１８"), 1);
        CU_ASSERT_EQUAL(my_numbers("１２３４　５６７８　９０１８"), 1);
        CU_ASSERT_EQUAL(my_numbers("１２３４－５６７８－９０１８"), 1);
        CU_ASSERT_EQUAL(my_numbers("１２３４ー５６７８ー９０１８"), 1);   /* ー as dash */
        CU_ASSERT_EQUAL(my_numbers("1234５６７８9018"), 1);               /* mixed widths */
        CU_ASSERT_EQUAL(my_numbers("１２３４５６７８９０１０"), 0);
        CU_ASSERT_EQUAL(my_numbers("１２３４５６７８９０１８９"), 0);
}

/* Encodes code points as UTF-16 with a BOM. */
static size_t utf16_encode(const uint32_t *cps, size_t n, bool big_endian, unsigned char *out)
{
        size_t o = 0;
        uint16_t units[2 + 2 * 64];
        size_t u = 0;
        units[u++] = 0xFEFF;
        for (size_t i = 0; i < n; i++)
                units[u++] = (uint16_t)cps[i];
        for (size_t i = 0; i < u; i++) {
                out[o++] = big_endian ? (unsigned char)(units[i] >> 8) : (unsigned char)units[i];
                out[o++] = big_endian ? (unsigned char)units[i] : (unsigned char)(units[i] >> 8);
        }
        return o;
}

static void test_encodings(void)
{
        struct classify_config cfg;
        classify_config_init(&cfg);

        /* Shift_JIS: 番号：１２３４５６７８９０１８ then a half-width copy on the next line */
        unsigned char sjis[128];
        size_t n = 0;
        const unsigned char head[] = { 0x94, 0xD4, 0x8D, 0x86, 0x81, 0x46 };
        memcpy(sjis, head, sizeof head);
        n = sizeof head;
        for (const char *p = MY_NUMBER; *p; p++) {
                sjis[n++] = 0x82;
                sjis[n++] = (unsigned char)(0x4F + (*p - '0'));
        }
        struct classify_result r = classify_with(&cfg, sjis, n);
        CU_ASSERT_EQUAL(r.encoding, CLASSIFY_ENC_CP932);
        CU_ASSERT_EQUAL(r.count[CLASSIFY_MY_NUMBER], 1);
        /* the trail byte of a double-byte character is never read as ASCII: 0x9540 is a
         * kanji whose second byte is '@' */
        const char sjis_trail[] = "taro\x95\x40" "example.jp";
        struct classify_config all = config_all();
        r = classify_with(&all, sjis_trail, strlen(sjis_trail));
        CU_ASSERT_EQUAL(r.encoding, CLASSIFY_ENC_CP932);
        CU_ASSERT_EQUAL(r.count[CLASSIFY_EMAIL], 0);
        r = classify_with(&all, "taro\xE3\x81\x82@example.jp", 17);
        CU_ASSERT_EQUAL(r.encoding, CLASSIFY_ENC_UTF8);
        CU_ASSERT_EQUAL(r.count[CLASSIFY_EMAIL], 0);
        /* half-width digits among kanji, and half-width katakana */
        unsigned char sjis_half[64];
        memcpy(sjis_half, head, sizeof head);
        memcpy(sjis_half + sizeof head, MY_NUMBER, 12);
        sjis_half[sizeof head + 12] = 0xB1; /* ｱ */
        r = classify_with(&cfg, sjis_half, sizeof head + 13);
        CU_ASSERT_EQUAL(r.encoding, CLASSIFY_ENC_CP932);
        CU_ASSERT_EQUAL(r.count[CLASSIFY_MY_NUMBER], 1);

        /* UTF-16 both ways: 個人番号,123456789018 and a full-width copy */
        uint32_t cps[64];
        size_t k = 0;
        const uint32_t words[] = { 0x500B, 0x4EBA, 0x756A, 0x53F7, ',' };
        memcpy(cps, words, sizeof words);
        k = ELEMENTSOF(words);
        for (const char *p = MY_NUMBER; *p; p++)
                cps[k++] = (uint32_t)*p;
        cps[k++] = '\n';
        for (const char *p = MY_NUMBER; *p; p++)
                cps[k++] = 0xFF10 + (uint32_t)(*p - '0');
        unsigned char u16[2 * 70];
        for (int be = 0; be <= 1; be++) {
                size_t len = utf16_encode(cps, k, be, u16);
                r = classify_with(&cfg, u16, len);
                CU_ASSERT_EQUAL(r.encoding, be ? CLASSIFY_ENC_UTF16BE : CLASSIFY_ENC_UTF16LE);
                CU_ASSERT_EQUAL(r.count[CLASSIFY_MY_NUMBER], 2);
                CU_ASSERT_TRUE(r.personal);
        }

        /* UTF-8 with BOM */
        const char bom[] = "\xEF\xBB\xBF" "氏名,番号\n山田," MY_NUMBER "\n";
        r = classify_with(&cfg, bom, strlen(bom));
        CU_ASSERT_EQUAL(r.encoding, CLASSIFY_ENC_UTF8);
        CU_ASSERT_EQUAL(r.count[CLASSIFY_MY_NUMBER], 1);

        /* bytes that are neither UTF-8 nor CP932: ASCII digits still count */
        const unsigned char bin[] = { 0xFF, 0xFE - 1, 0x00, '1', '2', '3', '4', '5', '6', '7', '8',
                                      '9', '0', '1', '8', 0x00, 0x80 };
        r = classify_with(&cfg, bin, sizeof bin);
        CU_ASSERT_EQUAL(r.encoding, CLASSIFY_ENC_BINARY);
        CU_ASSERT_EQUAL(r.count[CLASSIFY_MY_NUMBER], 1);
}

static void test_other_kinds(void)
{
        CU_ASSERT_EQUAL(count_kind("法人番号 7000012050002", CLASSIFY_CORPORATE_NUMBER), 1);
        CU_ASSERT_EQUAL(count_kind("8000012050002", CLASSIFY_CORPORATE_NUMBER), 0);
        CU_ASSERT_EQUAL(count_kind("70000120500021", CLASSIFY_CORPORATE_NUMBER), 0);
        CU_ASSERT_EQUAL(count_kind("7000012050002", CLASSIFY_MY_NUMBER), 0);

        CU_ASSERT_EQUAL(count_kind("TEL 03-1234-5678", CLASSIFY_PHONE), 1);
        CU_ASSERT_EQUAL(count_kind("090-1234-5678, 0312345678", CLASSIFY_PHONE), 2);
        CU_ASSERT_EQUAL(count_kind("(03)1234-5678 / 03(1234)5678", CLASSIFY_PHONE), 2);
        CU_ASSERT_EQUAL(count_kind("+81-3-1234-5678 +81 90 1234 5678", CLASSIFY_PHONE), 2);
        CU_ASSERT_EQUAL(count_kind("０３－１２３４－５６７８", CLASSIFY_PHONE), 1);
        CU_ASSERT_EQUAL(count_kind("0120-123-456", CLASSIFY_PHONE), 1);
        CU_ASSERT_EQUAL(count_kind("1234-5678", CLASSIFY_PHONE), 0);
        CU_ASSERT_EQUAL(count_kind("03-1234-56789", CLASSIFY_PHONE), 0);
        CU_ASSERT_EQUAL(count_kind("003-1234-5678", CLASSIFY_PHONE), 0);
        CU_ASSERT_EQUAL(count_kind("03-1234-5678-9999", CLASSIFY_PHONE), 0);
        CU_ASSERT_EQUAL(count_kind("2024-03-1234", CLASSIFY_PHONE), 0);

        CU_ASSERT_EQUAL(count_kind("mail: taro.yamada@example.co.jp.", CLASSIFY_EMAIL), 1);
        CU_ASSERT_EQUAL(count_kind("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", CLASSIFY_EMAIL), 1);
        CU_ASSERT_EQUAL(count_kind("a@b, @example.com, x@y.z, a@.jp, .a@b.jp", CLASSIFY_EMAIL), 0);
        CU_ASSERT_EQUAL(count_kind("a@b.jp,c@d.jp", CLASSIFY_EMAIL), 2);
}

static void test_thresholds_and_enabled(void)
{
        struct classify_config cfg;
        classify_config_init(&cfg);
        const char *three = "a@b.jp c@d.jp e@f.jp " MY_NUMBER;
        struct classify_result r = classify_with(&cfg, three, strlen(three));
        CU_ASSERT_EQUAL(r.count[CLASSIFY_EMAIL], 0); /* not enabled: not even counted */
        CU_ASSERT_TRUE(r.personal);

        cfg.threshold[CLASSIFY_MY_NUMBER] = 2;
        r = classify_with(&cfg, three, strlen(three));
        CU_ASSERT_FALSE(r.personal);

        cfg.enabled[CLASSIFY_EMAIL] = true; /* counted, but no threshold: never decides */
        r = classify_with(&cfg, three, strlen(three));
        CU_ASSERT_EQUAL(r.count[CLASSIFY_EMAIL], 3);
        CU_ASSERT_FALSE(r.personal);
        cfg.threshold[CLASSIFY_EMAIL] = 4;
        CU_ASSERT_FALSE(classify_with(&cfg, three, strlen(three)).personal);
        cfg.threshold[CLASSIFY_EMAIL] = 3;
        CU_ASSERT_TRUE(classify_with(&cfg, three, strlen(three)).personal);

        cfg.enabled[CLASSIFY_MY_NUMBER] = false;
        cfg.enabled[CLASSIFY_EMAIL] = false;
        r = classify_with(&cfg, three, strlen(three));
        CU_ASSERT_EQUAL(r.count[CLASSIFY_MY_NUMBER], 0);
        CU_ASSERT_FALSE(r.personal);

        CU_ASSERT_EQUAL(classify_kind_from_string("phone"), CLASSIFY_PHONE);
        CU_ASSERT_EQUAL(classify_kind_from_string("fax"), -EINVAL);
        CU_ASSERT_STRING_EQUAL(classify_kind_to_string(CLASSIFY_CORPORATE_NUMBER), "corporate_number");
}

static void test_strip_xml(void)
{
        char xml[] = "<?xml version=\"1.0\"?><w:p><w:r w:x=\"a>b\"><w:t>12</w:t></w:r><w:r><w:t xml:space=\"preserve\">34</w:t></w:r></w:p>"
                     "<w:p><!-- 99 --><w:t>&lt;x&gt;&#65297;&#x32;</w:t><![CDATA[3]]></w:p><w:p/>";
        size_t n = classify_strip_xml((unsigned char *)xml, strlen(xml));
        CU_ASSERT_EQUAL(n, 13);
        CU_ASSERT_EQUAL(memcmp(xml, "1234\n\x80x\x80" "123\n\n", 13), 0);
}

static struct classify_result classify_zip_data(const struct classify_config *cfg,
                                                const struct zip_build *z)
{
        return classify_with(cfg, z->data, z->len);
}

static void test_docx(void)
{
        struct classify_config cfg;
        classify_config_init(&cfg);
        unsigned modes[] = { 0, ZIP_BUILD_DEFLATE, ZIP_BUILD_DEFLATE | ZIP_BUILD_DESCRIPTOR };
        for (size_t m = 0; m < ELEMENTSOF(modes); m++) {
                struct zip_build z = { 0 };
                /* one number split over two runs of a paragraph, one full-width, one wrong */
                zip_build_docx(&z,
                               "<w:p><w:r><w:t>番号 1234</w:t></w:r><w:r><w:t>56789018</w:t></w:r></w:p>"
                               "<w:p><w:r><w:t>１２３４５６７８９０１８</w:t></w:r></w:p>"
                               "<w:p><w:r><w:t>123456789010</w:t></w:r></w:p>",
                               modes[m]);
                struct classify_result r = classify_zip_data(&cfg, &z);
                CU_ASSERT_EQUAL(r.format, CLASSIFY_FORMAT_DOCX);
                CU_ASSERT_EQUAL(r.incomplete, CLASSIFY_COMPLETE);
                CU_ASSERT_EQUAL(r.count[CLASSIFY_MY_NUMBER], 2);
                CU_ASSERT_TRUE(r.personal);
                zip_build_free(&z);
        }
        /* numbers in neighbouring paragraphs are not joined */
        struct zip_build z = { 0 };
        zip_build_docx(&z, "<w:p><w:t>123456</w:t></w:p><w:p><w:t>789018</w:t></w:p>", ZIP_BUILD_DEFLATE);
        CU_ASSERT_EQUAL(classify_zip_data(&cfg, &z).count[CLASSIFY_MY_NUMBER], 0);
        zip_build_free(&z);
}

static void test_xlsx(void)
{
        struct classify_config cfg;
        classify_config_init(&cfg);
        struct zip_build z = { 0 };
        zip_build_xlsx(&z, "<si><t>氏名</t></si><si><t>1234-5678-9018</t></si>",
                       "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\"><v>" MY_NUMBER
                       "</v></c><c r=\"C1\"><v>123456</v></c><c r=\"D1\"><v>789018</v></c></row>",
                       ZIP_BUILD_DEFLATE);
        struct classify_result r = classify_zip_data(&cfg, &z);
        CU_ASSERT_EQUAL(r.format, CLASSIFY_FORMAT_XLSX);
        CU_ASSERT_EQUAL(r.incomplete, CLASSIFY_COMPLETE);
        CU_ASSERT_EQUAL(r.count[CLASSIFY_MY_NUMBER], 2);
        zip_build_free(&z);

        /* a zip that is neither: its CSV members are read, other members are not */
        zip_build_add(&z, "list.csv", "1," MY_NUMBER "\n", 15, ZIP_BUILD_DEFLATE);
        zip_build_add(&z, "image.bin", MY_NUMBER, 12, 0);
        zip_build_finish(&z);
        r = classify_zip_data(&cfg, &z);
        CU_ASSERT_EQUAL(r.format, CLASSIFY_FORMAT_ZIP);
        CU_ASSERT_EQUAL(r.count[CLASSIFY_MY_NUMBER], 1);
        zip_build_free(&z);
}

static void test_zip_bomb_and_limits(void)
{
        struct classify_config cfg;
        classify_config_init(&cfg);

        /* 32 MiB of zeros deflates to about 32 KiB: the ratio limit stops it early */
        size_t big = 32u << 20;
        unsigned char *zeros = calloc(1, big);
        CU_ASSERT_PTR_NOT_NULL_FATAL(zeros);
        memcpy(zeros, MY_NUMBER, 12);
        struct zip_build z = { 0 };
        zip_build_add(&z, "bomb.csv", zeros, big, ZIP_BUILD_DEFLATE | ZIP_BUILD_DESCRIPTOR);
        zip_build_finish(&z);
        free(zeros);
        CU_ASSERT(z.len < big / 500);
        struct classify_result r = classify_zip_data(&cfg, &z);
        CU_ASSERT_EQUAL(r.incomplete, CLASSIFY_ARCHIVE_LIMIT);
        CU_ASSERT(r.scanned < big / 4);
        CU_ASSERT_EQUAL(r.count[CLASSIFY_MY_NUMBER], 1); /* what was read still counts */
        zip_build_free(&z);

        /* the per-archive budget */
        cfg.max_expanded = 1000;
        char text[4000];
        for (size_t i = 0; i < sizeof text; i++)
                text[i] = (char)('a' + (i * 7919) % 26);
        zip_build_add(&z, "a.txt", text, sizeof text, ZIP_BUILD_DEFLATE);
        zip_build_add(&z, "b.txt", MY_NUMBER, 12, 0);
        zip_build_finish(&z);
        r = classify_zip_data(&cfg, &z);
        CU_ASSERT_EQUAL(r.incomplete, CLASSIFY_ARCHIVE_LIMIT);
        CU_ASSERT(r.scanned <= 1000);
        CU_ASSERT_EQUAL(r.count[CLASSIFY_MY_NUMBER], 0);
        zip_build_free(&z);

        /* the member count */
        classify_config_init(&cfg);
        cfg.max_entries = 2;
        for (int i = 0; i < 3; i++)
                zip_build_add(&z, "m.txt", MY_NUMBER, 12, 0);
        zip_build_finish(&z);
        r = classify_zip_data(&cfg, &z);
        CU_ASSERT_EQUAL(r.incomplete, CLASSIFY_ARCHIVE_LIMIT);
        CU_ASSERT_EQUAL(r.count[CLASSIFY_MY_NUMBER], 2);
        zip_build_free(&z);
}

static void test_zip_malformed(void)
{
        struct classify_config cfg;
        classify_config_init(&cfg);
        struct zip_build z = { 0 };
        zip_build_docx(&z, "<w:p><w:t>" MY_NUMBER "</w:t></w:p>", ZIP_BUILD_DEFLATE);

        /* cut short without saying so */
        struct classify_result r = classify_with(&cfg, z.data, z.len / 2);
        CU_ASSERT_EQUAL(r.incomplete, CLASSIFY_ARCHIVE_MALFORMED);
        /* every possible cut: never a crash, never an error */
        for (size_t cut = 4; cut < z.len; cut++) {
                struct classify_result c;
                CU_ASSERT_EQUAL_FATAL(classify_buffer(&cfg, z.data, cut, true, &c), 0);
        }
        /* corrupt deflate data in document.xml */
        unsigned char *bad = malloc(z.len);
        memcpy(bad, z.data, z.len);
        unsigned char *doc = memmem(bad, z.len, "word/document.xml", 17);
        CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
        for (size_t i = 17; i < 40; i++)
                doc[i] ^= 0xA5;
        r = classify_with(&cfg, bad, z.len);
        CU_ASSERT_EQUAL(r.incomplete, CLASSIFY_ARCHIVE_MALFORMED);
        /* an encrypted member */
        memcpy(bad, z.data, z.len);
        bad[6] |= 1;
        r = classify_with(&cfg, bad, z.len);
        CU_ASSERT_EQUAL(r.incomplete, CLASSIFY_ARCHIVE_UNSUPPORTED);
        /* a compressed size that points far beyond the end */
        memcpy(bad, z.data, z.len);
        bad[18] = bad[19] = bad[20] = 0xFF;
        bad[21] = 0x7F;
        r = classify_with(&cfg, bad, z.len);
        CU_ASSERT_EQUAL(r.incomplete, CLASSIFY_ARCHIVE_MALFORMED);
        /* garbage where the next header should be */
        memcpy(bad, z.data, z.len);
        unsigned char *second = memmem(bad + 4, z.len - 4, "PK\3\4", 4);
        CU_ASSERT_PTR_NOT_NULL_FATAL(second);
        second[2] = 'X';
        r = classify_with(&cfg, bad, z.len);
        CU_ASSERT_EQUAL(r.incomplete, CLASSIFY_ARCHIVE_MALFORMED);
        free(bad);
        zip_build_free(&z);

        /* an uncompressed size that understates what inflates: stops at the declared size */
        zip_build_add(&z, "a.csv", "1," MY_NUMBER "\n", 15, ZIP_BUILD_DEFLATE);
        zip_build_finish(&z);
        z.data[22] = 3;
        z.data[23] = z.data[24] = z.data[25] = 0;
        r = classify_zip_data(&cfg, &z);
        CU_ASSERT_EQUAL(r.incomplete, CLASSIFY_ARCHIVE_MALFORMED);
        CU_ASSERT_EQUAL(r.count[CLASSIFY_MY_NUMBER], 0);
        zip_build_free(&z);
}

static void test_file_prefix(void)
{
        const char *dir = unit_tmpdir();
        struct classify_config cfg;
        classify_config_init(&cfg);
        cfg.max_prefix = 64 * 1024;

        size_t size = 200 * 1024;
        char *data = malloc(size);
        CU_ASSERT_PTR_NOT_NULL_FATAL(data);
        for (size_t i = 0; i < size; i++)
                data[i] = (i % 64 == 63) ? '\n' : 'x';
        memcpy(data + 100, MY_NUMBER, 12);                /* inside the prefix */
        memcpy(data + 100 * 1024, "1234-5678-9018", 14); /* beyond it */
        char *path = unit_write_file(dir, "big.csv", data, size);
        struct classify_result r;
        CU_ASSERT_EQUAL(classify_path(&cfg, path, &r), 0);
        CU_ASSERT_EQUAL(r.incomplete, CLASSIFY_PREFIX_ONLY);
        CU_ASSERT_EQUAL(r.count[CLASSIFY_MY_NUMBER], 1);
        CU_ASSERT_EQUAL(r.scanned, cfg.max_prefix);
        cfg.max_prefix = size;
        CU_ASSERT_EQUAL(classify_path(&cfg, path, &r), 0);
        CU_ASSERT_EQUAL(r.incomplete, CLASSIFY_COMPLETE);
        CU_ASSERT_EQUAL(r.count[CLASSIFY_MY_NUMBER], 2);
        free(path);

        /* a number cut by the prefix's end is not counted as a shorter one */
        cfg.max_prefix = 64 * 1024;
        memset(data, 'x', size);
        memcpy(data + cfg.max_prefix - 6, MY_NUMBER, 12);
        path = unit_write_file(dir, "cut.csv", data, size);
        CU_ASSERT_EQUAL(classify_path(&cfg, path, &r), 0);
        CU_ASSERT_EQUAL(r.count[CLASSIFY_MY_NUMBER], 0);
        free(path);
        free(data);

        /* a large .docx read only in part still finds what its first part holds */
        struct zip_build z = { 0 };
        char *filler = malloc(size);
        CU_ASSERT_PTR_NOT_NULL_FATAL(filler);
        for (size_t i = 0; i < size; i++)
                filler[i] = (char)(33 + (i * 2654435761u >> 13) % 90);
        zip_build_add(&z, "word/document.xml", "<w:t>" MY_NUMBER "</w:t>", 23, ZIP_BUILD_DEFLATE);
        zip_build_add(&z, "word/media/noise.txt", filler, size, 0);
        zip_build_finish(&z);
        free(filler);
        path = unit_write_file(dir, "big.docx", z.data, z.len);
        CU_ASSERT_EQUAL(classify_path(&cfg, path, &r), 0);
        CU_ASSERT_EQUAL(r.format, CLASSIFY_FORMAT_DOCX);
        CU_ASSERT_EQUAL(r.incomplete, CLASSIFY_PREFIX_ONLY);
        CU_ASSERT_EQUAL(r.count[CLASSIFY_MY_NUMBER], 1);
        free(path);
        zip_build_free(&z);

        CU_ASSERT_EQUAL(classify_path(&cfg, dir, &r), -EISDIR);
        CU_ASSERT_EQUAL(classify_path(&cfg, "/nonexistent/x", &r), -ENOENT);
}

/* The scanner skips a word at a time to the next digit or '@': a match at any offset and
 * next to any neighbour byte ('/' and ':' around the digits, '?' and 'A' around '@', high
 * bytes from CP932/UTF-8 text) is still found, and none is invented. */
static void test_word_skip_offsets(void)
{
        struct classify_config cfg = config_all();
        for (size_t off = 0; off < 20; off++) {
                char text[128];
                memset(text, '/', off);
                snprintf(text + off, sizeof text - off, ":" MY_NUMBER "/ ?a@b.jp:");
                struct classify_result r = classify_with(&cfg, text, strlen(text));
                CU_ASSERT_EQUAL(r.count[CLASSIFY_MY_NUMBER], 1);
                CU_ASSERT_EQUAL(r.count[CLASSIFY_EMAIL], 1);
                memset(text, 0xFF, off); /* not valid UTF-8 nor CP932 lead-only: binary */
                r = classify_with(&cfg, text, strlen(text));
                CU_ASSERT_EQUAL(r.count[CLASSIFY_MY_NUMBER], 1);
                memset(text, ':', 40);
                memset(text + 40, '?', 40);
                memset(text + 80, 'A', 40);
                text[off] = (char)0xBA; /* '0' | 0x80 must not be taken for a digit */
                text[120] = '\0';
                r = classify_with(&cfg, text, strlen(text));
                for (int k = 0; k < _CLASSIFY_KIND_MAX; k++)
                        CU_ASSERT_EQUAL(r.count[k], 0);
        }
}

static CU_TestInfo classify_tests[] = {
        { "word skip at every offset", test_word_skip_offsets },
        { "check digits", test_check_digits },
        { "my number plain and invalid", test_my_number_plain_and_invalid },
        { "my number grouped", test_my_number_grouped },
        { "my number full width", test_my_number_full_width },
        { "encodings", test_encodings },
        { "other kinds", test_other_kinds },
        { "thresholds and enabled kinds", test_thresholds_and_enabled },
        { "xml markup", test_strip_xml },
        CU_TEST_INFO_NULL,
};

static CU_TestInfo archive_tests[] = {
        { "docx", test_docx },
        { "xlsx and zip", test_xlsx },
        { "zip bomb and limits", test_zip_bomb_and_limits },
        { "malformed zip", test_zip_malformed },
        { "file prefix", test_file_prefix },
        CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
        { "classify", NULL, NULL, NULL, NULL, classify_tests },
        { "classify archives", NULL, NULL, NULL, NULL, archive_tests },
        CU_SUITE_INFO_NULL,
};

UNIT_MAIN(suites)

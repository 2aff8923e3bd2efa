/* test_policy.c — the policy library: every validation rule with an input that breaks it,
 * the document checks, canonical form and hash, the signed envelope, the key files, and
 * the matching helpers the controls decide with. */
#include <json-c/json.h>
#include <sys/stat.h>

#include "common/canon_json.h"
#include "common/ed25519.h"
#include "common/lang.h"
#include "common/utf8.h"
#include "common/util.h"
#include "policy/policy.h"
#include "tests/unit/unit.h"

#define STRICT_EXAMPLE "policy/examples/strict-default.json"
#define DEPARTMENT_EXAMPLE "policy/examples/department-somu.json"
/* The strict default's hash. Agents report and compare policy hashes, so a change to the
 * canonical form (or to the default) must be deliberate: update this with it. */
#define STRICT_DEFAULT_HASH "89107551d47d9421521e7ce669403228e1908008fec3e4cb7fabb17bd1bf09f4"

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
        struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                         .tm_hour = h, .tm_min = mi, .tm_sec = s };
        return (int64_t)timegm(&tm);
}

static struct policy *parse_ok(const char *json)
{
        struct policy_errors errs = POLICY_ERRORS_INIT;
        struct policy *p = NULL;
        int r = policy_parse(json, strlen(json), &p, &errs);
        if (r < 0) {
                policy_errors_print(&errs, stdout);
                printf("  for: %s\n", json);
        }
        CU_ASSERT_EQUAL(r, 0);
        CU_ASSERT_EQUAL(errs.n, 0);
        policy_errors_clear(&errs);
        return p;
}

/* Asserts json is refused with an error at path whose message contains text. */
static void expect_error(const char *json, const char *path, const char *text)
{
        _cleanup_policy_errors_ struct policy_errors errs = POLICY_ERRORS_INIT;
        struct policy *p = NULL;
        int r = policy_parse(json, strlen(json), &p, &errs);
        CU_ASSERT_EQUAL(r, -EINVAL);
        CU_ASSERT_PTR_NULL(p);
        bool found = false;
        for (size_t i = 0; i < errs.n; i++)
                if (STREQ(errs.items[i].path, path) && strstr(errs.items[i].message, text))
                        found = true;
        if (!found) {
                printf("\n  expected \"%s: ...%s...\" for %s\n  got:\n", path, text, json);
                policy_errors_print(&errs, stdout);
        }
        CU_ASSERT_TRUE(found);
        policy_free(p);
}

#define HEAD "{\"version\":1,\"name\":\"t\","
#define DEV(v, p, s, a) "{\"vendor\":\"" v "\",\"product\":\"" p "\",\"serial\":\"" s "\",\"access\":\"" a "\""
#define EXC(v, p, s, terms, until) \
        DEV(v, p, s, "read_only") ",\"terminals\":" terms ",\"reason\":\"r\",\"approver\":\"a\",\"valid_until\":\"" until "\"}"

/* ---- validation rules ----------------------------------------------------------------------- */

static void test_examples_validate(void)
{
        const char *files[] = { STRICT_EXAMPLE, DEPARTMENT_EXAMPLE };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_policy_errors_ struct policy_errors errs = POLICY_ERRORS_INIT;
                _cleanup_policy_ struct policy *p = NULL;
                CU_ASSERT_EQUAL(policy_load_file(files[i], &p, &errs), 0);
                policy_errors_print(&errs, stdout);
                CU_ASSERT_EQUAL(errs.n, 0);
        }
        _cleanup_policy_ struct policy *d = NULL;
        CU_ASSERT_EQUAL_FATAL(policy_load_file(DEPARTMENT_EXAMPLE, &d, NULL), 0);
        CU_ASSERT_EQUAL(d->removable_media.n_allow, 2);
        CU_ASSERT_EQUAL(d->removable_media.allow[0].vendor, 0x0781);
        CU_ASSERT_EQUAL(d->removable_media.allow[1].access, MEDIA_ACCESS_READ_ONLY);
        CU_ASSERT_STRING_EQUAL(d->department, "総務課");
        CU_ASSERT_EQUAL(d->bulk_transfer.action, POLICY_BULK_BLOCK);
        CU_ASSERT_EQUAL(d->logoff.n_hours, 1);
}

static void test_strict_default_is_strict(void)
{
        _cleanup_policy_ struct policy *p = NULL;
        CU_ASSERT_EQUAL_FATAL(policy_default_strict(&p), 0);
        CU_ASSERT_EQUAL(p->removable_media.mode, POLICY_MEDIA_BLOCK);
        CU_ASSERT_EQUAL(p->removable_media.n_allow, 0);
        CU_ASSERT_EQUAL(p->removable_media.n_exceptions, 0);
        CU_ASSERT_EQUAL(p->screen_lock.idle_lock_seconds, 300);
        CU_ASSERT_EQUAL(p->logoff.idle_logoff_seconds, 3600);
        CU_ASSERT_EQUAL(p->bulk_transfer.max_files, 20);
        CU_ASSERT_EQUAL(p->bulk_transfer.max_bytes, 100 * 1024 * 1024);
        CU_ASSERT_EQUAL(p->bulk_transfer.window_seconds, 60);
        CU_ASSERT_STRING_EQUAL(p->hash, STRICT_DEFAULT_HASH);

        /* the example file is the same policy, byte for byte in canonical form */
        _cleanup_policy_ struct policy *e = NULL;
        CU_ASSERT_EQUAL_FATAL(policy_load_file(STRICT_EXAMPLE, &e, NULL), 0);
        CU_ASSERT_STRING_EQUAL(e->hash, p->hash);

        /* a document that gives only its identity gets the strict values, not looser ones */
        _cleanup_policy_ struct policy *m = parse_ok("{\"version\":1,\"name\":\"strict-default\"}");
        CU_ASSERT_EQUAL(m->removable_media.mode, POLICY_MEDIA_BLOCK);
        CU_ASSERT_EQUAL(m->screen_lock.idle_lock_seconds, 300);
        CU_ASSERT_EQUAL(m->bulk_transfer.max_files, 20);
}

static void test_example_error_message_exact(void)
{
        const char *json = HEAD "\"removable_media\":{\"allow\":[" DEV("0781", "5581", "A", "read_write") "},"
                DEV("0781", "5581", "B", "read_write") "},{\"vendor\":\"0781\",\"product\":\"5581\","
                "\"serial\":12345,\"access\":\"read_only\"}]}}";
        _cleanup_policy_errors_ struct policy_errors errs = POLICY_ERRORS_INIT;
        struct policy *p = NULL;
        CU_ASSERT_EQUAL(policy_parse(json, strlen(json), &p, &errs), -EINVAL);
        CU_ASSERT_EQUAL_FATAL(errs.n, 1);
        CU_ASSERT_STRING_EQUAL(errs.items[0].path, "removable_media.allow[2].serial");
        CU_ASSERT_STRING_EQUAL(errs.items[0].message, "expected a string, got number");
}

static void test_collects_every_error_in_order(void)
{
        const char *json = "{\"version\":-1,\"name\":\"t\",\"colour\":1,"
                           "\"screen_lock\":{\"idle_lock_seconds\":\"300\"},"
                           "\"bulk_transfer\":{\"window_seconds\":0,\"max_bytes\":-1}}";
        _cleanup_policy_errors_ struct policy_errors errs = POLICY_ERRORS_INIT;
        struct policy *p = NULL;
        CU_ASSERT_EQUAL(policy_parse(json, strlen(json), &p, &errs), -EINVAL);
        CU_ASSERT_EQUAL_FATAL(errs.n, 5);
        CU_ASSERT_STRING_EQUAL(errs.items[0].path, "colour");
        CU_ASSERT_STRING_EQUAL(errs.items[1].path, "version");
        CU_ASSERT_STRING_EQUAL(errs.items[2].path, "screen_lock.idle_lock_seconds");
        CU_ASSERT_STRING_EQUAL(errs.items[2].message, "expected an integer, got string");
        CU_ASSERT_STRING_EQUAL(errs.items[3].path, "bulk_transfer.window_seconds");
        CU_ASSERT_STRING_EQUAL(errs.items[4].path, "bulk_transfer.max_bytes");
}

static void test_identity_rules(void)
{
        expect_error("{\"name\":\"t\"}", "version", "required key is missing");
        expect_error("{\"version\":1}", "name", "required key is missing");
        expect_error("{\"version\":0,\"name\":\"t\"}", "version", "between 1 and");
        expect_error("{\"version\":\"1\",\"name\":\"t\"}", "version", "expected an integer, got string");
        expect_error("{\"version\":1.0,\"name\":\"t\"}", "version", "fractional");
        expect_error("{\"version\":99999999999999999999999,\"name\":\"t\"}", "version", "far out of");
        expect_error("{\"version\":1,\"name\":\"two words\"}", "name", "short name");
        expect_error("{\"version\":1,\"name\":\"\"}", "name", "must not be empty");
        expect_error(HEAD "\"department\":\"a\\u0007b\"}", "department", "control character");
        expect_error(HEAD "\"department\":null}", "department", "got null");
        expect_error(HEAD "\"descriptoin\":\"x\"}", "descriptoin", "did you mean \"description\"");
        expect_error("[]", "$", "expected an object, got array");
}

static void test_removable_media_rules(void)
{
        expect_error(HEAD "\"removable_media\":{\"mode\":\"allow_all\"}}", "removable_media.mode",
                     "expected one of block, read_only, audit");
        expect_error(HEAD "\"removable_media\":{\"allow_all\":true}}", "removable_media.allow_all",
                     "unknown key");
        expect_error(HEAD "\"removable_media\":{\"classes\":[256]}}", "removable_media.classes[0]",
                     "between 0 and 255");
        expect_error(HEAD "\"removable_media\":{\"classes\":[224,224]}}", "removable_media.classes[1]",
                     "duplicate class 224");
        expect_error(HEAD "\"removable_media\":{\"allow\":{}}}", "removable_media.allow",
                     "expected an array, got object");
        expect_error(HEAD "\"removable_media\":{\"allow\":[" DEV("07z1", "5581", "A", "read_write") "}]}}",
                     "removable_media.allow[0].vendor", "4 hexadecimal digits");
        expect_error(HEAD "\"removable_media\":{\"allow\":[" DEV("0781", "558", "A", "read_write") "}]}}",
                     "removable_media.allow[0].product", "4 hexadecimal digits");
        expect_error(HEAD "\"removable_media\":{\"allow\":[" DEV("0781", "0x55", "A", "read_write") "}]}}",
                     "removable_media.allow[0].product", "4 hexadecimal digits");
        expect_error(HEAD "\"removable_media\":{\"allow\":[" DEV("0781", "5581", "", "read_write") "}]}}",
                     "removable_media.allow[0].serial", "must not be empty");
        expect_error(HEAD "\"removable_media\":{\"allow\":[{\"vendor\":\"0781\",\"product\":\"5581\",\"access\":\"read_write\"}]}}",
                     "removable_media.allow[0].serial", "required key is missing");
        expect_error(HEAD "\"removable_media\":{\"allow\":[" DEV("0781", "5581", "A", "none") "}]}}",
                     "removable_media.allow[0].access", "expected one of read_write, read_only");
        expect_error(HEAD "\"removable_media\":{\"allow\":[" DEV("0781", "5581", "A", "read_write")
                     ",\"valid_until\":\"2027-02-29\"}]}}",
                     "removable_media.allow[0].valid_until", "expected a date");
        expect_error(HEAD "\"removable_media\":{\"allow\":[" DEV("0781", "5581", "A", "read_write")
                     ",\"valid_until\":\"31/03/2027\"}]}}",
                     "removable_media.allow[0].valid_until", "expected a date");
        expect_error(HEAD "\"removable_media\":{\"allow\":[" DEV("0781", "5581", "A", "read_write")
                     ",\"owner\":\"x\"}]}}",
                     "removable_media.allow[0].owner", "unknown key");
        /* the same stick twice, even with the vendor id in another case */
        expect_error(HEAD "\"removable_media\":{\"allow\":[" DEV("abcd", "5581", "A", "read_write") "},"
                     DEV("0781", "5581", "B", "read_write") "}," DEV("ABCD", "5581", "A", "read_only") "}]}}",
                     "removable_media.allow[2]", "duplicate registered medium");
        /* exceptions lapse by themselves and say who approved what, where */
        expect_error(HEAD "\"removable_media\":{\"exceptions\":[" DEV("0781", "5581", "A", "read_only")
                     ",\"terminals\":[\"pc1\"],\"reason\":\"r\",\"approver\":\"a\"}]}}",
                     "removable_media.exceptions[0].valid_until", "required key is missing");
        expect_error(HEAD "\"removable_media\":{\"exceptions\":[" DEV("0781", "5581", "A", "read_only")
                     ",\"terminals\":[\"pc1\"],\"approver\":\"a\",\"valid_until\":\"2027-01-01\"}]}}",
                     "removable_media.exceptions[0].reason", "required key is missing");
        expect_error(HEAD "\"removable_media\":{\"exceptions\":[" DEV("0781", "5581", "A", "read_only")
                     ",\"terminals\":[\"pc1\"],\"reason\":\"r\",\"valid_until\":\"2027-01-01\"}]}}",
                     "removable_media.exceptions[0].approver", "required key is missing");
        expect_error(HEAD "\"removable_media\":{\"exceptions\":[" EXC("0781", "5581", "A", "[]", "2027-01-01") "]}}",
                     "removable_media.exceptions[0].terminals", "at least one terminal");
        expect_error(HEAD "\"removable_media\":{\"exceptions\":[" EXC("0781", "5581", "A", "[\"pc 1\"]", "2027-01-01") "]}}",
                     "removable_media.exceptions[0].terminals[0]", "a host name");
        expect_error(HEAD "\"removable_media\":{\"exceptions\":[" EXC("0781", "5581", "A", "[\"pc1\",\"PC1\"]", "2027-01-01") "]}}",
                     "removable_media.exceptions[0].terminals[1]", "duplicate terminal");
        expect_error(HEAD "\"removable_media\":{\"exceptions\":[" EXC("0781", "5581", "A", "[\"pc1\",\"pc2\"]", "2027-01-01") ","
                     EXC("0781", "5581", "A", "[\"pc3\",\"Pc2\"]", "2027-02-01") "]}}",
                     "removable_media.exceptions[1].terminals[1]", "duplicate exception");
}

static void test_session_rules(void)
{
        expect_error(HEAD "\"screen_lock\":{\"idle_lock_seconds\":-60}}", "screen_lock.idle_lock_seconds",
                     "between 30 and 86400 seconds, got -60");
        expect_error(HEAD "\"screen_lock\":{\"idle_lock_seconds\":864000}}", "screen_lock.idle_lock_seconds",
                     "between 30 and 86400");
        expect_error(HEAD "\"screen_lock\":{\"lock_grace_seconds\":0}}", "screen_lock.lock_grace_seconds",
                     "between 1 and 600");
        expect_error(HEAD "\"screen_lock\":{\"lock_ignored_action\":\"ignore\"}}",
                     "screen_lock.lock_ignored_action", "expected one of report, logoff");
        expect_error(HEAD "\"screen_lock\":{\"idle_lock_seconds\":60,\"warn_before_seconds\":60}}",
                     "screen_lock.warn_before_seconds", "shorter than screen_lock.idle_lock_seconds");
        expect_error(HEAD "\"logoff\":{\"idle_logoff_seconds\":120}}", "logoff.idle_logoff_seconds",
                     "not be shorter than screen_lock.idle_lock_seconds (300)");
        expect_error(HEAD "\"logoff\":{\"idle_logoff_seconds\":-1}}", "logoff.idle_logoff_seconds",
                     "between 60 and 604800");
        expect_error(HEAD "\"logoff\":{\"warn_before_seconds\":3600}}", "logoff.warn_before_seconds",
                     "shorter than logoff.idle_logoff_seconds");
        expect_error(HEAD "\"logoff\":{\"hours\":[{\"days\":[\"mon\"],\"start\":\"07:00\"}]}}",
                     "logoff.hours[0].end", "required key is missing");
        expect_error(HEAD "\"logoff\":{\"hours\":[{\"days\":[\"monday\"],\"start\":\"07:00\",\"end\":\"18:00\"}]}}",
                     "logoff.hours[0].days[0]", "expected one of sun, mon");
        expect_error(HEAD "\"logoff\":{\"hours\":[{\"days\":[],\"start\":\"07:00\",\"end\":\"18:00\"}]}}",
                     "logoff.hours[0].days", "at least one day");
        expect_error(HEAD "\"logoff\":{\"hours\":[{\"days\":[\"mon\",\"mon\"],\"start\":\"07:00\",\"end\":\"18:00\"}]}}",
                     "logoff.hours[0].days[1]", "duplicate day mon");
        expect_error(HEAD "\"logoff\":{\"hours\":[{\"days\":[\"mon\"],\"start\":\"7:00\",\"end\":\"18:00\"}]}}",
                     "logoff.hours[0].start", "HH:MM");
        expect_error(HEAD "\"logoff\":{\"hours\":[{\"days\":[\"mon\"],\"start\":\"07:00\",\"end\":\"24:30\"}]}}",
                     "logoff.hours[0].end", "HH:MM");
        expect_error(HEAD "\"logoff\":{\"hours\":[{\"days\":[\"mon\"],\"start\":\"22:00\",\"end\":\"06:00\"}]}}",
                     "logoff.hours[0].end", "later than start");
        expect_error(HEAD "\"logoff\":{\"exempt_classes\":[\"user\"]}}", "logoff.exempt_classes[0]",
                     "other than user");
        expect_error(HEAD "\"logoff\":{\"exempt_classes\":[\"greeter\",\"greeter\"]}}",
                     "logoff.exempt_classes[1]", "duplicate session class");
        expect_error(HEAD "\"logoff\":{\"exempt_users\":[\"-rf\"]}}", "logoff.exempt_users[0]",
                     "a user name");
        expect_error(HEAD "\"logoff\":{\"exempt_users\":[\"svc\",\"svc\"]}}", "logoff.exempt_users[1]",
                     "duplicate user");
}

static void test_files_and_reporting_rules(void)
{
        expect_error(HEAD "\"marked_files\":{\"xattr\":\"security.hogo\"}}", "marked_files.xattr",
                     "user. or trusted.");
        expect_error(HEAD "\"marked_files\":{\"paths\":[\"srv/*\"]}}", "marked_files.paths[0]",
                     "absolute path");
        expect_error(HEAD "\"marked_files\":{\"paths\":[\"/a\",\"/a\"]}}", "marked_files.paths[1]",
                     "duplicate path");
        expect_error(HEAD "\"marked_files\":{\"content\":{\"my_number\":\"yes\"}}}",
                     "marked_files.content.my_number", "expected true or false, got string");
        expect_error(HEAD "\"marked_files\":{\"content\":{\"scan_max_bytes\":100}}}",
                     "marked_files.content.scan_max_bytes", "between 4096 and");
        expect_error(HEAD "\"marked_files\":{\"content\":{\"patterns\":[{\"kind\":\"iban\"}]}}}",
                     "marked_files.content.patterns[0].kind", "expected one of corporate_number, phone, email");
        expect_error(HEAD "\"marked_files\":{\"content\":{\"patterns\":[{\"kind\":\"phone\"},{\"kind\":\"phone\"}]}}}",
                     "marked_files.content.patterns[1]", "duplicate pattern kind phone");
        expect_error(HEAD "\"bulk_transfer\":{\"window_seconds\":0}}", "bulk_transfer.window_seconds",
                     "between 1 and 86400 seconds, got 0");
        expect_error(HEAD "\"bulk_transfer\":{\"max_files\":1000000}}", "bulk_transfer.max_files",
                     "between 1 and 100000");
        expect_error(HEAD "\"bulk_transfer\":{\"max_bytes\":2199023255552}}", "bulk_transfer.max_bytes",
                     "between 1 and 1099511627776 bytes");
        expect_error(HEAD "\"bulk_transfer\":{\"cooldown_seconds\":-600}}", "bulk_transfer.cooldown_seconds",
                     "between 1 and 86400");
        expect_error(HEAD "\"bulk_transfer\":{\"action\":\"kill\"}}", "bulk_transfer.action",
                     "expected one of warn, block");
        expect_error(HEAD "\"bulk_transfer\":{\"destinations\":[\"usb\"]}}", "bulk_transfer.destinations[0]",
                     "removable, network_share, downloads or an absolute directory");
        expect_error(HEAD "\"bulk_transfer\":{\"destinations\":[\"downloads\",\"downloads\"]}}",
                     "bulk_transfer.destinations[1]", "duplicate destination");
        expect_error(HEAD "\"reporting\":{\"heartbeat_seconds\":1}}", "reporting.heartbeat_seconds",
                     "between 10 and 86400");
        expect_error(HEAD "\"reporting\":{\"batch_max_events\":0}}", "reporting.batch_max_events",
                     "between 1 and 10000");
        expect_error(HEAD "\"reporting\":[]}", "reporting", "expected an object, got array");
}

static void test_list_length_limits(void)
{
        /* 257 terminals in one exception: beyond the limit of 256 */
        char *json = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&json, &size);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        fputs(HEAD "\"removable_media\":{\"exceptions\":[" DEV("0781", "5581", "A", "read_only")
              ",\"reason\":\"r\",\"approver\":\"a\",\"valid_until\":\"2027-01-01\",\"terminals\":[", f);
        for (int i = 0; i < 257; i++)
                fprintf(f, "%s\"pc%d\"", i ? "," : "", i);
        fputs("]}]}}", f);
        fclose(f);
        expect_error(json, "removable_media.exceptions[0].terminals", "at most 256");
        free(json);
}

static void test_error_count_is_bounded(void)
{
        /* 500 empty ledger lines, 4 missing keys each: the list stops at 1000 errors plus
         * one line saying so */
        char *json = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&json, &size);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        fputs(HEAD "\"removable_media\":{\"allow\":[", f);
        for (int i = 0; i < 500; i++)
                fprintf(f, "%s{}", i ? "," : "");
        fputs("]}}", f);
        fclose(f);
        _cleanup_policy_errors_ struct policy_errors errs = POLICY_ERRORS_INIT;
        struct policy *p = NULL;
        CU_ASSERT_EQUAL(policy_parse(json, strlen(json), &p, &errs), -EINVAL);
        CU_ASSERT_EQUAL_FATAL(errs.n, 1001);
        CU_ASSERT_PTR_NOT_NULL(strstr(errs.items[1000].message, "more than 1000 errors"));
        free(json);
}

/* ---- the document itself ---------------------------------------------------------------------- */

static void expect_document_error(const char *data, size_t len, const char *text)
{
        _cleanup_policy_errors_ struct policy_errors errs = POLICY_ERRORS_INIT;
        struct policy *p = NULL;
        int r = policy_parse(data, len, &p, &errs);
        CU_ASSERT_TRUE(r < 0);
        CU_ASSERT_PTR_NULL(p);
        CU_ASSERT_EQUAL_FATAL(errs.n, 1);
        CU_ASSERT_STRING_EQUAL(errs.items[0].path, "$");
        if (!strstr(errs.items[0].message, text))
                printf("\n  expected \"%s\" in \"%s\"\n", text, errs.items[0].message);
        CU_ASSERT_PTR_NOT_NULL(strstr(errs.items[0].message, text));
}

static void test_document_checks(void)
{
        expect_document_error("", 0, "empty");
        expect_document_error(" \n\t ", 4, "empty");
        expect_document_error("{\"version\":1,\"name\":\"\xff\"}", 24, "not UTF-8");
        expect_document_error("{\"name\":\"\xc0\xaf\"}", 13, "not UTF-8");         /* overlong '/' */
        expect_document_error("{\"name\":\"\xed\xa0\x80\"}", 14, "not UTF-8");     /* surrogate */
        expect_document_error("{\"version\":1}\0 ", 15, "NUL byte");
        expect_document_error("version = 1", 11, "not valid JSON: unexpected character at line 1, column 1");
        expect_document_error("{\n\"version\": 1,\n", 16, "ends early");
        expect_document_error("{\"version\":1,\"name\":\"a\",}", 25, "not valid JSON");
        expect_document_error("{\"version\":1,\"name\":\"a\"} {}", 27, "unexpected character at line 1, column 26");
        expect_document_error("{\"version\":1,\"name\":\"a\"} // note", 32, "unexpected character at line 1, column 26");

        size_t big = POLICY_FILE_MAX_SIZE + 1;
        _cleanup_free_ char *data = malloc(big);
        CU_ASSERT_PTR_NOT_NULL_FATAL(data);
        memset(data, ' ', big);
        data[0] = '{';
        data[big - 1] = '}';
        expect_document_error(data, big, "larger than the 1 MiB");

        /* a byte order mark (Windows editors) and a trailing newline are fine */
        _cleanup_policy_ struct policy *p = parse_ok("\xef\xbb\xbf{\"version\":1,\"name\":\"bom\"}\n");
        CU_ASSERT_PTR_NOT_NULL(p);
}

static void test_load_file_errors(void)
{
        const char *dir = unit_tmpdir();
        _cleanup_policy_errors_ struct policy_errors errs = POLICY_ERRORS_INIT;
        struct policy *p = NULL;
        _cleanup_free_ char *missing = NULL;
        CU_ASSERT_FATAL(asprintf(&missing, "%s/none.json", dir) > 0);
        CU_ASSERT_EQUAL(policy_load_file(missing, &p, &errs), -ENOENT);
        CU_ASSERT_EQUAL(errs.n, 1);
        policy_errors_clear(&errs);

        _cleanup_free_ char *big = malloc(POLICY_FILE_MAX_SIZE + 10);
        CU_ASSERT_PTR_NOT_NULL_FATAL(big);
        memset(big, ' ', POLICY_FILE_MAX_SIZE + 10);
        _cleanup_free_ char *path = unit_write_file(dir, "big.json", big, POLICY_FILE_MAX_SIZE + 10);
        CU_ASSERT_EQUAL(policy_load_file(path, &p, &errs), -EFBIG);
        CU_ASSERT_EQUAL_FATAL(errs.n, 1);
        CU_ASSERT_PTR_NOT_NULL(strstr(errs.items[0].message, "1 MiB"));
        CU_ASSERT_PTR_NULL(p);
}

static void test_utf8_valid(void)
{
        size_t bad = 99;
        CU_ASSERT_TRUE(utf8_valid("個人番号 ok", strlen("個人番号 ok"), &bad));
        CU_ASSERT_TRUE(utf8_valid("\xf0\x9f\x98\x80", 4, NULL));
        CU_ASSERT_FALSE(utf8_valid("ab\xe3\x81", 4, &bad)); /* cut short */
        CU_ASSERT_EQUAL(bad, 2);
        CU_ASSERT_FALSE(utf8_valid("\xe0\x80\x80", 3, NULL));      /* overlong */
        CU_ASSERT_FALSE(utf8_valid("\xf4\x90\x80\x80", 4, NULL));  /* above U+10FFFF */
        CU_ASSERT_FALSE(utf8_valid("\x80", 1, NULL));
        CU_ASSERT_FALSE(utf8_valid("\xc1\xbf", 2, NULL));
}

/* ---- canonical form and hash ------------------------------------------------------------------- */

static void test_canonical_roundtrip_and_hash_stability(void)
{
        _cleanup_policy_ struct policy *p = NULL;
        CU_ASSERT_EQUAL_FATAL(policy_load_file(DEPARTMENT_EXAMPLE, &p, NULL), 0);
        _cleanup_free_ char *canon = NULL;
        size_t len = 0;
        CU_ASSERT_EQUAL_FATAL(policy_canonical(p, &canon, &len), 0);
        CU_ASSERT_EQUAL(strlen(canon), len);
        CU_ASSERT_PTR_NULL(strchr(canon, '\n'));

        /* the canonical form parses back to the same policy and the same bytes */
        _cleanup_policy_ struct policy *q = parse_ok(canon);
        CU_ASSERT_PTR_NOT_NULL_FATAL(q);
        CU_ASSERT_STRING_EQUAL(q->hash, p->hash);
        _cleanup_free_ char *canon2 = NULL;
        CU_ASSERT_EQUAL(policy_canonical(q, &canon2, NULL), 0);
        CU_ASSERT_STRING_EQUAL(canon, canon2);

        /* pretty-printed with keys in another order: still one hash */
        _cleanup_json_ json_object *o = json_tokener_parse(canon);
        CU_ASSERT_PTR_NOT_NULL_FATAL(o);
        const char *pretty = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
        _cleanup_policy_ struct policy *r = parse_ok(pretty);
        CU_ASSERT_STRING_EQUAL(r->hash, p->hash);

        /* vendor ids in upper case are the same ids */
        _cleanup_policy_ struct policy *u1 = parse_ok(HEAD "\"removable_media\":{\"allow\":["
                                                      DEV("ABCD", "EF01", "S", "read_only") "}]}}");
        _cleanup_policy_ struct policy *u2 = parse_ok(HEAD "\"removable_media\":{\"allow\":["
                                                      DEV("abcd", "ef01", "S", "read_only") "}]}}");
        CU_ASSERT_STRING_EQUAL(u1->hash, u2->hash);

        /* any change of content changes the hash */
        q->version++;
        _cleanup_free_ char *canon3 = NULL;
        CU_ASSERT_EQUAL(policy_canonical(q, &canon3, NULL), 0);
        CU_ASSERT_STRING_NOT_EQUAL(canon, canon3);
        _cleanup_policy_ struct policy *s = parse_ok(canon3);
        CU_ASSERT_STRING_NOT_EQUAL(s->hash, p->hash);
}

/* ---- keys and envelope ------------------------------------------------------------------------ */

static EVP_PKEY *new_key(void)
{
        EVP_PKEY *k = NULL;
        CU_ASSERT_EQUAL(ed25519_generate(&k), 0);
        return k;
}

static char *signed_strict(EVP_PKEY *key)
{
        _cleanup_policy_ struct policy *p = NULL;
        char *env = NULL;
        CU_ASSERT_EQUAL(policy_default_strict(&p), 0);
        CU_ASSERT_EQUAL(policy_envelope_sign(p, key, &env), 0);
        return env;
}

static int verify(const char *env, EVP_PKEY *key, struct policy **ret)
{
        EVP_PKEY *keys[] = { key };
        return policy_envelope_verify(env, strlen(env), keys, 1, ret, NULL);
}

static void test_envelope_sign_verify(void)
{
        _cleanup_pkey_ EVP_PKEY *key = new_key(), *other = new_key();
        _cleanup_free_ char *env = signed_strict(key);
        CU_ASSERT_PTR_NOT_NULL_FATAL(env);

        _cleanup_policy_ struct policy *p = NULL;
        CU_ASSERT_EQUAL(verify(env, key, &p), 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_STRING_EQUAL(p->hash, STRICT_DEFAULT_HASH);

        /* the right key is picked among several trusted ones */
        EVP_PKEY *keys[] = { other, key };
        _cleanup_policy_ struct policy *q = NULL;
        CU_ASSERT_EQUAL(policy_envelope_verify(env, strlen(env), keys, 2, &q, NULL), 0);

        /* a key that is not trusted */
        struct policy *none = NULL;
        _cleanup_policy_errors_ struct policy_errors errs = POLICY_ERRORS_INIT;
        EVP_PKEY *wrong[] = { other };
        CU_ASSERT_EQUAL(policy_envelope_verify(env, strlen(env), wrong, 1, &none, &errs), -ENOKEY);
        CU_ASSERT_PTR_NULL(none);
        CU_ASSERT_EQUAL_FATAL(errs.n, 1);
        CU_ASSERT_STRING_EQUAL(errs.items[0].path, "key_id");
}

static void test_envelope_any_changed_byte_fails(void)
{
        _cleanup_pkey_ EVP_PKEY *key = new_key();
        _cleanup_free_ char *env = signed_strict(key);
        CU_ASSERT_PTR_NOT_NULL_FATAL(env);
        size_t len = strlen(env), checked = 0, accepted = 0;
        for (size_t i = 0; i < len; i++) {
                char c = env[i];
                if (c == ' ' || c == '\n')
                        continue; /* whitespace between tokens carries nothing */
                env[i] = (c == 'x') ? 'y' : 'x';
                struct policy *p = NULL;
                if (verify(env, key, &p) == 0) {
                        accepted++;
                        printf("\n  accepted with byte %zu changed\n", i);
                        policy_free(p);
                }
                env[i] = c;
                checked++;
        }
        CU_ASSERT_TRUE(checked > 1000);
        CU_ASSERT_EQUAL(accepted, 0);

        /* a changed value that is still valid JSON and a valid policy */
        char *at = strstr(env, "\"idle_lock_seconds\": 300");
        CU_ASSERT_PTR_NOT_NULL_FATAL(at);
        at[strlen("\"idle_lock_seconds\": 30")] = '1';
        struct policy *p = NULL;
        CU_ASSERT_EQUAL(verify(env, key, &p), -EKEYREJECTED);
        CU_ASSERT_PTR_NULL(p);
}

static void test_envelope_forged_key_id(void)
{
        /* an attacker names the trusted key but signs with their own */
        _cleanup_pkey_ EVP_PKEY *key = new_key(), *attacker = new_key();
        _cleanup_free_ char *env = signed_strict(attacker);
        char good_id[ED25519_KEY_ID_LEN + 1], bad_id[ED25519_KEY_ID_LEN + 1];
        CU_ASSERT_EQUAL(ed25519_key_id(key, good_id), 0);
        CU_ASSERT_EQUAL(ed25519_key_id(attacker, bad_id), 0);
        char *at = strstr(env, bad_id);
        CU_ASSERT_PTR_NOT_NULL_FATAL(at);
        memcpy(at, good_id, ED25519_KEY_ID_LEN);
        struct policy *p = NULL;
        CU_ASSERT_EQUAL(verify(env, key, &p), -EKEYREJECTED);
}

static void expect_envelope(const char *env, EVP_PKEY *key, int code, const char *path)
{
        _cleanup_policy_errors_ struct policy_errors errs = POLICY_ERRORS_INIT;
        struct policy *p = NULL;
        EVP_PKEY *keys[] = { key };
        CU_ASSERT_EQUAL(policy_envelope_verify(env, strlen(env), keys, 1, &p, &errs), code);
        CU_ASSERT_PTR_NULL(p);
        bool found = false;
        for (size_t i = 0; i < errs.n; i++)
                found |= STREQ(errs.items[i].path, path);
        if (!found)
                policy_errors_print(&errs, stdout);
        CU_ASSERT_TRUE(found);
}

static void test_envelope_malformed(void)
{
        _cleanup_pkey_ EVP_PKEY *key = new_key();
        char id[ED25519_KEY_ID_LEN + 1];
        CU_ASSERT_EQUAL(ed25519_key_id(key, id), 0);
        _cleanup_free_ char *sig64 = NULL;
        const char *pol = "{\"version\":1,\"name\":\"t\"}";
        _cleanup_free_ char *no_sig = NULL, *bad_b64 = NULL, *short_sig = NULL, *no_kid = NULL,
                            *extra = NULL, *no_policy = NULL, *invalid_inside = NULL;

        CU_ASSERT(asprintf(&no_sig, "{\"policy\":%s,\"key_id\":\"%s\"}", pol, id) > 0);
        expect_envelope(no_sig, key, -EBADMSG, "signature");
        CU_ASSERT(asprintf(&bad_b64, "{\"policy\":%s,\"key_id\":\"%s\",\"signature\":\"!!!!\"}", pol, id) > 0);
        expect_envelope(bad_b64, key, -EBADMSG, "signature");
        unsigned char sig63[63] = { 1 };
        sig64 = base64_encode(sig63, sizeof sig63);
        CU_ASSERT(asprintf(&short_sig, "{\"policy\":%s,\"key_id\":\"%s\",\"signature\":\"%s\"}", pol, id, sig64) > 0);
        expect_envelope(short_sig, key, -EBADMSG, "signature");
        CU_ASSERT(asprintf(&no_kid, "{\"policy\":%s,\"signature\":\"%s\"}", pol, sig64) > 0);
        expect_envelope(no_kid, key, -EBADMSG, "key_id");
        CU_ASSERT(asprintf(&no_policy, "{\"key_id\":\"%s\",\"signature\":\"%s\"}", id, sig64) > 0);
        expect_envelope(no_policy, key, -EBADMSG, "policy");
        CU_ASSERT(asprintf(&extra, "{\"policy\":%s,\"key_id\":\"%s\",\"signature\":\"%s\",\"note\":1}", pol, id, sig64) > 0);
        expect_envelope(extra, key, -EBADMSG, "note");
        expect_envelope("[1,2]", key, -EBADMSG, "$");
        expect_envelope("", key, -EBADMSG, "$");
        expect_envelope(pol, key, -EBADMSG, "policy"); /* a bare policy is not signed */

        /* a correct signature over a policy that does not validate is still refused */
        const char *bad = "{\"version\":1,\"name\":\"t\",\"screen_lock\":{\"idle_lock_seconds\":5}}";
        _cleanup_json_ json_object *o = json_tokener_parse(bad);
        _cleanup_free_ char *canon = NULL;
        size_t len = 0;
        CU_ASSERT_EQUAL_FATAL(json_canonical(o, NULL, &canon, &len), 0);
        unsigned char sig[ED25519_SIG_LEN];
        CU_ASSERT_EQUAL(ed25519_sign(key, canon, len, sig), 0);
        _cleanup_free_ char *sig_text = base64_encode(sig, sizeof sig);
        CU_ASSERT(asprintf(&invalid_inside, "{\"policy\":%s,\"key_id\":\"%s\",\"signature\":\"%s\"}", bad, id, sig_text) > 0);
        expect_envelope(invalid_inside, key, -EINVAL, "policy.screen_lock.idle_lock_seconds");
}

static void test_key_files(void)
{
        const char *dir = unit_tmpdir();
        _cleanup_free_ char *priv = NULL, *pub = NULL, *junk = NULL, *ec = NULL;
        CU_ASSERT_FATAL(asprintf(&priv, "%s/k.key", dir) > 0 && asprintf(&pub, "%s/k.pub", dir) > 0);
        _cleanup_pkey_ EVP_PKEY *key = new_key();
        CU_ASSERT_EQUAL(ed25519_write_private_pem(key, priv), 0);
        CU_ASSERT_EQUAL(ed25519_write_public_pem(key, pub), 0);
        struct stat st;
        CU_ASSERT_EQUAL(stat(priv, &st), 0);
        CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
        CU_ASSERT_EQUAL(stat(pub, &st), 0);
        CU_ASSERT_EQUAL(st.st_mode & 0777, 0644);
        /* never silently replaced */
        CU_ASSERT_EQUAL(ed25519_write_private_pem(key, priv), -EEXIST);

        _cleanup_pkey_ EVP_PKEY *lpriv = NULL, *lpub = NULL, *none = NULL;
        CU_ASSERT_EQUAL_FATAL(ed25519_load_private_pem(priv, &lpriv), 0);
        CU_ASSERT_EQUAL_FATAL(ed25519_load_public_pem(pub, &lpub), 0);
        char a[ED25519_KEY_ID_LEN + 1], b[ED25519_KEY_ID_LEN + 1], c[ED25519_KEY_ID_LEN + 1];
        CU_ASSERT_EQUAL(ed25519_key_id(key, a), 0);
        CU_ASSERT_EQUAL(ed25519_key_id(lpriv, b), 0);
        CU_ASSERT_EQUAL(ed25519_key_id(lpub, c), 0);
        CU_ASSERT_STRING_EQUAL(a, b);
        CU_ASSERT_STRING_EQUAL(a, c);
        CU_ASSERT_TRUE(is_lower_hex(a, ED25519_KEY_ID_LEN));

        /* what a loaded private key signs, the loaded public key verifies */
        _cleanup_free_ char *env = signed_strict(lpriv);
        CU_ASSERT_PTR_NOT_NULL_FATAL(env);
        _cleanup_policy_ struct policy *p = NULL;
        CU_ASSERT_EQUAL(verify(env, lpub, &p), 0);

        CU_ASSERT_EQUAL(ed25519_load_public_pem(priv, &none), -EBADMSG); /* private, not public */
        junk = unit_write_file(dir, "junk.pem", "not a key\n", 10);
        CU_ASSERT_EQUAL(ed25519_load_private_pem(junk, &none), -EBADMSG);
        CU_ASSERT_EQUAL(ed25519_load_private_pem("/nonexistent/k.key", &none), -ENOENT);
        CU_ASSERT_PTR_NULL(none);

        /* another key type is refused */
        _cleanup_pkey_ EVP_PKEY *eckey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        CU_ASSERT_PTR_NOT_NULL_FATAL(eckey);
        CU_ASSERT_FATAL(asprintf(&ec, "%s/ec.key", dir) > 0);
        CU_ASSERT_EQUAL(ed25519_write_private_pem(eckey, ec), 0);
        CU_ASSERT_EQUAL(ed25519_load_private_pem(ec, &none), -EKEYREJECTED);
}

/* ---- matching helpers -------------------------------------------------------------------------- */

#define MATCH_POLICY                                                                              \
        HEAD "\"removable_media\":{\"mode\":\"%s\",\"classes\":[224],\"allow\":["                \
             DEV("0781", "5581", "RW1", "read_write") ",\"valid_until\":\"2027-03-31\"},"         \
             DEV("0951", "1666", "RO1", "read_only") "},"                                         \
             DEV("0781", "5581", "OLD", "read_write") ",\"valid_until\":\"2026-03-31\"}],"        \
             "\"exceptions\":["                                                                   \
             EXC("0951", "1666", "RO1", "[\"somu-pc-014\"]", "2026-12-18T17:00:00+09:00") "," \
             "{\"vendor\":\"058f\",\"product\":\"6387\",\"serial\":\"EX1\",\"access\":\"read_write\"," \
             "\"terminals\":[\"somu-pc-014\",\"somu-pc-015\"],\"reason\":\"r\",\"approver\":\"a\",\"valid_until\":\"2026-12-18\"}]}," \
             "\"logoff\":{\"exempt_users\":[\"svc-backup\"]}}"

static struct policy *match_policy(const char *mode)
{
        char json[4096];
        snprintf(json, sizeof json, MATCH_POLICY, mode);
        return parse_ok(json);
}

static void test_media_allowlist_match(void)
{
        _cleanup_policy_ struct policy *p = match_policy("block");
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        struct media_decision d;
        int64_t now = utc(2026, 11, 27, 5, 0, 0);

        media_allowlist_match(p, 0x0781, 0x5581, "RW1", "pc", now, &d);
        CU_ASSERT_EQUAL(d.access, MEDIA_ACCESS_READ_WRITE);
        CU_ASSERT_EQUAL(d.rule, MEDIA_RULE_ALLOW);
        CU_ASSERT_STRING_EQUAL(d.rule_path, "removable_media.allow[0]");
        CU_ASSERT_FALSE(d.audit_only);

        media_allowlist_match(p, 0x0951, 0x1666, "RO1", "pc", now, &d);
        CU_ASSERT_EQUAL(d.access, MEDIA_ACCESS_READ_ONLY);
        CU_ASSERT_STRING_EQUAL(d.rule_path, "removable_media.allow[1]");

        /* unregistered: another serial, another product, no serial at all */
        media_allowlist_match(p, 0x0781, 0x5581, "RW2", "pc", now, &d);
        CU_ASSERT_EQUAL(d.access, MEDIA_ACCESS_NONE);
        CU_ASSERT_EQUAL(d.rule, MEDIA_RULE_MODE);
        CU_ASSERT_STRING_EQUAL(d.rule_path, "removable_media.mode");
        media_allowlist_match(p, 0x0781, 0x5582, "RW1", "pc", now, &d);
        CU_ASSERT_EQUAL(d.access, MEDIA_ACCESS_NONE);
        media_allowlist_match(p, 0x0781, 0x5581, NULL, "pc", now, &d);
        CU_ASSERT_EQUAL(d.access, MEDIA_ACCESS_NONE);
        media_allowlist_match(p, 0x0781, 0x5581, "", "pc", now, &d);
        CU_ASSERT_EQUAL(d.access, MEDIA_ACCESS_NONE);
        media_allowlist_match(p, 0x0781, 0x5581, "rw1", "pc", now, &d); /* serials are exact */
        CU_ASSERT_EQUAL(d.access, MEDIA_ACCESS_NONE);

        /* expired registration: allows nothing and is named as the rule that decided */
        media_allowlist_match(p, 0x0781, 0x5581, "OLD", "pc", now, &d);
        CU_ASSERT_EQUAL(d.access, MEDIA_ACCESS_NONE);
        CU_ASSERT_EQUAL(d.rule, MEDIA_RULE_ALLOW_EXPIRED);
        CU_ASSERT_STRING_EQUAL(d.rule_path, "removable_media.allow[2]");
        CU_ASSERT_EQUAL(d.valid_until, utc(2026, 3, 31, 15, 0, 0));

        /* "2027-03-31" holds through that day, Japan time */
        media_allowlist_match(p, 0x0781, 0x5581, "RW1", "pc", utc(2027, 3, 31, 14, 59, 59), &d);
        CU_ASSERT_EQUAL(d.access, MEDIA_ACCESS_READ_WRITE);
        media_allowlist_match(p, 0x0781, 0x5581, "RW1", "pc", utc(2027, 3, 31, 15, 0, 0), &d);
        CU_ASSERT_EQUAL(d.access, MEDIA_ACCESS_NONE);
        CU_ASSERT_EQUAL(d.rule, MEDIA_RULE_ALLOW_EXPIRED);
}

static void test_media_exceptions(void)
{
        _cleanup_policy_ struct policy *p = match_policy("block");
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        struct media_decision d;
        int64_t now = utc(2026, 11, 27, 5, 0, 0);

        /* on a named terminal (any case), during its validity */
        media_allowlist_match(p, 0x058f, 0x6387, "EX1", "SOMU-PC-015", now, &d);
        CU_ASSERT_EQUAL(d.access, MEDIA_ACCESS_READ_WRITE);
        CU_ASSERT_EQUAL(d.rule, MEDIA_RULE_EXCEPTION);
        CU_ASSERT_STRING_EQUAL(d.rule_path, "removable_media.exceptions[1]");
        /* another terminal, or none known */
        media_allowlist_match(p, 0x058f, 0x6387, "EX1", "kaikei-pc-001", now, &d);
        CU_ASSERT_EQUAL(d.access, MEDIA_ACCESS_NONE);
        CU_ASSERT_EQUAL(d.rule, MEDIA_RULE_MODE);
        media_allowlist_match(p, 0x058f, 0x6387, "EX1", NULL, now, &d);
        CU_ASSERT_EQUAL(d.access, MEDIA_ACCESS_NONE);
        /* it lapses by itself */
        media_allowlist_match(p, 0x058f, 0x6387, "EX1", "somu-pc-014", utc(2026, 12, 18, 15, 0, 0), &d);
        CU_ASSERT_EQUAL(d.access, MEDIA_ACCESS_NONE);
        CU_ASSERT_EQUAL(d.rule, MEDIA_RULE_EXCEPTION_LAPSED);
        CU_ASSERT_STRING_EQUAL(d.rule_path, "removable_media.exceptions[1]");

        /* registered read-only, and an exception grants read-write here: the wider applies */
        media_allowlist_match(p, 0x0951, 0x1666, "RO1", "somu-pc-014", now, &d);
        CU_ASSERT_EQUAL(d.access, MEDIA_ACCESS_READ_ONLY); /* exception [0] is read_only too */
        media_allowlist_match(p, 0x0951, 0x1666, "RO1", "somu-pc-014", utc(2026, 12, 18, 8, 0, 0), &d);
        CU_ASSERT_EQUAL(d.rule, MEDIA_RULE_ALLOW); /* exception ended at 17:00 JST, allow remains */

        /* the next moment an approval ends: where the USB source re-evaluates */
        CU_ASSERT_EQUAL(policy_media_next_expiry(p, now), utc(2026, 12, 18, 8, 0, 0));
        CU_ASSERT_EQUAL(policy_media_next_expiry(p, utc(2026, 12, 18, 8, 0, 0)), utc(2026, 12, 18, 15, 0, 0));
        CU_ASSERT_EQUAL(policy_media_next_expiry(p, utc(2028, 1, 1, 0, 0, 0)), 0);
}

static void test_media_modes_and_classes(void)
{
        struct media_decision d;
        int64_t now = utc(2026, 11, 27, 5, 0, 0);
        _cleanup_policy_ struct policy *ro = match_policy("read_only");
        media_allowlist_match(ro, 0x1234, 0x5678, "X", "pc", now, &d);
        CU_ASSERT_EQUAL(d.access, MEDIA_ACCESS_READ_ONLY);
        CU_ASSERT_EQUAL(d.rule, MEDIA_RULE_MODE);
        media_allowlist_match(ro, 0x0781, 0x5581, "RW1", "pc", now, &d);
        CU_ASSERT_EQUAL(d.access, MEDIA_ACCESS_READ_WRITE);

        _cleanup_policy_ struct policy *audit = match_policy("audit");
        media_allowlist_match(audit, 0x1234, 0x5678, "X", "pc", now, &d);
        CU_ASSERT_EQUAL(d.access, MEDIA_ACCESS_READ_WRITE);
        CU_ASSERT_EQUAL(d.policy_access, MEDIA_ACCESS_NONE);
        CU_ASSERT_TRUE(d.audit_only);
        media_allowlist_match(audit, 0x0781, 0x5581, "RW1", "pc", now, &d);
        CU_ASSERT_FALSE(d.audit_only);

        CU_ASSERT_TRUE(policy_media_class_blocked(audit, 0x08));
        CU_ASSERT_TRUE(policy_media_class_blocked(audit, 0x06));
        CU_ASSERT_TRUE(policy_media_class_blocked(audit, 0xe0));
        CU_ASSERT_FALSE(policy_media_class_blocked(audit, 0x03)); /* keyboards stay usable */
        CU_ASSERT_FALSE(policy_media_class_blocked(audit, 0x09));
}

static void test_session_exempt(void)
{
        _cleanup_policy_ struct policy *p = match_policy("block");
        CU_ASSERT_TRUE(policy_session_exempt(p, "greeter", "gdm"));
        CU_ASSERT_TRUE(policy_session_exempt(p, "user", "svc-backup"));
        CU_ASSERT_FALSE(policy_session_exempt(p, "user", "tanaka"));
        CU_ASSERT_FALSE(policy_session_exempt(p, NULL, NULL));
}

static struct tm local_tm(int wday, int h, int m, int s)
{
        return (struct tm){ .tm_wday = wday, .tm_hour = h, .tm_min = m, .tm_sec = s };
}

static void test_logoff_hours(void)
{
        _cleanup_policy_ struct policy *office = parse_ok(
                HEAD "\"logoff\":{\"hours\":[{\"days\":[\"mon\",\"tue\",\"wed\",\"thu\",\"fri\"],"
                     "\"start\":\"07:30\",\"end\":\"21:00\"}]}}");
        struct tm t = local_tm(1, 20, 59, 30);
        CU_ASSERT_TRUE(policy_logoff_hours_permit(&office->logoff, &t));
        CU_ASSERT_EQUAL(policy_logoff_hours_seconds_left(&office->logoff, &t), 30);
        t = local_tm(1, 21, 0, 0);
        CU_ASSERT_FALSE(policy_logoff_hours_permit(&office->logoff, &t));
        CU_ASSERT_EQUAL(policy_logoff_hours_seconds_left(&office->logoff, &t), 0);
        t = local_tm(1, 7, 29, 59);
        CU_ASSERT_FALSE(policy_logoff_hours_permit(&office->logoff, &t));
        t = local_tm(0, 12, 0, 0); /* Sunday */
        CU_ASSERT_FALSE(policy_logoff_hours_permit(&office->logoff, &t));
        t = local_tm(3, 7, 30, 0);
        CU_ASSERT_EQUAL(policy_logoff_hours_seconds_left(&office->logoff, &t), (21 * 60 - 450) * 60);

        /* a night shift split at midnight joins up */
        _cleanup_policy_ struct policy *night = parse_ok(
                HEAD "\"logoff\":{\"hours\":[{\"days\":[\"fri\"],\"start\":\"22:00\",\"end\":\"24:00\"},"
                     "{\"days\":[\"sat\"],\"start\":\"00:00\",\"end\":\"06:00\"}]}}");
        t = local_tm(5, 23, 0, 0);
        CU_ASSERT_EQUAL(policy_logoff_hours_seconds_left(&night->logoff, &t), 7 * 3600);

        /* every hour of every day, or no hours at all: no end */
        _cleanup_policy_ struct policy *always = parse_ok(
                HEAD "\"logoff\":{\"hours\":[{\"days\":[\"sun\",\"mon\",\"tue\",\"wed\",\"thu\",\"fri\",\"sat\"],"
                     "\"start\":\"00:00\",\"end\":\"24:00\"}]}}");
        CU_ASSERT_EQUAL(policy_logoff_hours_seconds_left(&always->logoff, &t), -1);
        _cleanup_policy_ struct policy *none = parse_ok(HEAD "\"logoff\":{\"hours\":[]}}");
        CU_ASSERT_TRUE(policy_logoff_hours_permit(&none->logoff, &t));
        CU_ASSERT_EQUAL(policy_logoff_hours_seconds_left(&none->logoff, &t), -1);
}

static void test_lang_rule(void)
{
        CU_ASSERT_TRUE(lang_english_from("en_US.UTF-8", "ja_JP.UTF-8", NULL));
        CU_ASSERT_FALSE(lang_english_from("ja_JP.UTF-8", "en_US.UTF-8", "en_US.UTF-8"));
        CU_ASSERT_TRUE(lang_english_from("", "en_GB.UTF-8", "ja_JP.UTF-8"));
        CU_ASSERT_TRUE(lang_english_from(NULL, NULL, "en"));
        CU_ASSERT_FALSE(lang_english_from(NULL, NULL, "C.UTF-8"));
        CU_ASSERT_FALSE(lang_english_from(NULL, NULL, NULL));
}

static CU_TestInfo validation_tests[] = {
        { "examples validate", test_examples_validate },
        { "strict default is strict and equals its example", test_strict_default_is_strict },
        { "the issue's example error, exactly", test_example_error_message_exact },
        { "every error collected, in order", test_collects_every_error_in_order },
        { "identity rules", test_identity_rules },
        { "removable_media rules", test_removable_media_rules },
        { "screen_lock and logoff rules", test_session_rules },
        { "marked_files, bulk_transfer, reporting rules", test_files_and_reporting_rules },
        { "list length limits", test_list_length_limits },
        { "error count is bounded", test_error_count_is_bounded },
        CU_TEST_INFO_NULL,
};

static CU_TestInfo document_tests[] = {
        { "empty, not UTF-8, not JSON, too large", test_document_checks },
        { "load_file errors", test_load_file_errors },
        { "utf8_valid", test_utf8_valid },
        { "lang rule", test_lang_rule },
        CU_TEST_INFO_NULL,
};

static CU_TestInfo canonical_tests[] = {
        { "canonical round trip and hash stability", test_canonical_roundtrip_and_hash_stability },
        CU_TEST_INFO_NULL,
};

static CU_TestInfo envelope_tests[] = {
        { "sign and verify; wrong key", test_envelope_sign_verify },
        { "any changed byte fails", test_envelope_any_changed_byte_fails },
        { "forged key_id", test_envelope_forged_key_id },
        { "missing and malformed members", test_envelope_malformed },
        { "key files", test_key_files },
        CU_TEST_INFO_NULL,
};

static CU_TestInfo match_tests[] = {
        { "media allowlist", test_media_allowlist_match },
        { "media exceptions", test_media_exceptions },
        { "media modes and classes", test_media_modes_and_classes },
        { "session exemptions", test_session_exempt },
        { "logoff hours", test_logoff_hours },
        CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
        { "policy validation", NULL, NULL, NULL, NULL, validation_tests },
        { "policy document", NULL, NULL, NULL, NULL, document_tests },
        { "policy canonical form", NULL, NULL, NULL, NULL, canonical_tests },
        { "policy envelope", NULL, NULL, NULL, NULL, envelope_tests },
        { "policy matching", NULL, NULL, NULL, NULL, match_tests },
        CU_SUITE_INFO_NULL,
};

UNIT_MAIN(suites)

/* test_common.c — canonical JSON, digests, base64, file helpers and the event chain. */
#include <json-c/json.h>
#include <sys/stat.h>

#include "common/canon_json.h"
#include "common/digest.h"
#include "common/event.h"
#include "common/fileio.h"
#include "common/util.h"
#include "tests/unit/unit.h"

static void test_canonical_sorts_and_strips(void)
{
        _cleanup_json_ json_object *o =
                json_tokener_parse("{ \"b\": [1, {\"z\": true, \"a\": null}],\n \"a\": \"x\\u0001y\\\"\", \"é\": -5 }");
        CU_ASSERT_PTR_NOT_NULL_FATAL(o);
        _cleanup_free_ char *s = NULL;
        size_t len;
        CU_ASSERT_EQUAL(json_canonical(o, NULL, &s, &len), 0);
        CU_ASSERT_STRING_EQUAL(s, "{\"a\":\"x\\u0001y\\\"\",\"b\":[1,{\"a\":null,\"z\":true}],\"é\":-5}");
        CU_ASSERT_EQUAL(len, strlen(s));
}

static void test_canonical_same_for_reordered_input(void)
{
        _cleanup_json_ json_object *a = json_tokener_parse("{\"x\":1,\"y\":{\"q\":2,\"p\":3}}");
        _cleanup_json_ json_object *b = json_tokener_parse("{\"y\":{\"p\":3,\"q\":2},\"x\":1}");
        _cleanup_free_ char *sa = NULL, *sb = NULL;
        CU_ASSERT_EQUAL(json_canonical(a, NULL, &sa, NULL), 0);
        CU_ASSERT_EQUAL(json_canonical(b, NULL, &sb, NULL), 0);
        CU_ASSERT_STRING_EQUAL(sa, sb);
}

static void test_canonical_refuses_doubles_and_skips_key(void)
{
        _cleanup_json_ json_object *o = json_tokener_parse("{\"a\":1.5}");
        char *s = NULL;
        CU_ASSERT_EQUAL(json_canonical(o, NULL, &s, NULL), -EDOM);
        CU_ASSERT_PTR_NULL(s);
        _cleanup_json_ json_object *h = json_tokener_parse("{\"hash\":\"x\",\"a\":1}");
        _cleanup_free_ char *t = NULL;
        CU_ASSERT_EQUAL(json_canonical(h, "hash", &t, NULL), 0);
        CU_ASSERT_STRING_EQUAL(t, "{\"a\":1}");
}

/* Integers at the edges, an object with more members than the serializer keeps on its
 * stack, and the prefixed form the event hash uses. */
static void test_canonical_integers_wide_objects_and_prefix(void)
{
        _cleanup_json_ json_object *o = json_tokener_parse(
                "[0, -1, 7, 1234567890, 9223372036854775807, -9223372036854775808]");
        _cleanup_free_ char *s = NULL;
        CU_ASSERT_EQUAL(json_canonical(o, NULL, &s, NULL), 0);
        CU_ASSERT_STRING_EQUAL(s, "[0,-1,7,1234567890,9223372036854775807,-9223372036854775808]");

        _cleanup_json_ json_object *wide = json_object_new_object();
        char want[512] = "{", key[16];
        for (int i = 19; i >= 0; i--) {
                snprintf(key, sizeof key, "k%02d", i);
                json_object_object_add(wide, key, json_object_new_int(i));
        }
        for (int i = 0; i < 20; i++)
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s\"k%02d\":%d",
                         i ? "," : "", i, i);
        strcat(want, "}");
        _cleanup_free_ char *w = NULL, *p = NULL;
        CU_ASSERT_EQUAL(json_canonical(wide, NULL, &w, NULL), 0);
        CU_ASSERT_STRING_EQUAL(w, want);
        size_t len;
        CU_ASSERT_EQUAL(json_canonical_prefixed(wide, "k00", "PRE", 3, &p, &len), 0);
        CU_ASSERT_EQUAL(len, strlen(p));
        CU_ASSERT_EQUAL(strlen(p), 3 + strlen(want) - strlen("\"k00\":0,"));
        CU_ASSERT_EQUAL(strncmp(p, "PRE{\"k01\":1,", 12), 0);
}

static void test_is_lower_hex_exact(void)
{
        CU_ASSERT_TRUE(is_lower_hex("0123456789abcdef", 16));
        CU_ASSERT_FALSE(is_lower_hex("0123456789abcdeF", 16));
        CU_ASSERT_FALSE(is_lower_hex("0123456789abcde", 16));
        CU_ASSERT_FALSE(is_lower_hex("0123456789abcdef0", 16));
        static const char *const near[] = { "/", ":", "`", "g", "G", " ", "\xff" };
        for (size_t i = 0; i < ELEMENTSOF(near); i++)
                CU_ASSERT_FALSE(is_lower_hex(near[i], 1));
        CU_ASSERT_FALSE(is_lower_hex(NULL, 0));
        CU_ASSERT_TRUE(is_lower_hex("", 0));
}

static void test_sha256_and_crc32c_known_values(void)
{
        char hex[SHA256_HEX_LEN + 1];
        sha256_hex("abc", 3, hex);
        CU_ASSERT_STRING_EQUAL(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        CU_ASSERT_EQUAL(crc32c(0, "123456789", 9), 0xE3069283u);
        /* incremental equals one-shot, across the 8-byte slicing boundary */
        const char *txt = "The quick brown fox jumps over the lazy dog";
        uint32_t one = crc32c(0, txt, strlen(txt));
        uint32_t inc = crc32c(crc32c(0, txt, 11), txt + 11, strlen(txt) - 11);
        CU_ASSERT_EQUAL(one, inc);
        CU_ASSERT_EQUAL(one, 0x22620404u);

        /* the instruction and the table agree at every length and alignment */
        unsigned char buf[300];
        for (size_t k = 0; k < sizeof buf; k++)
                buf[k] = (unsigned char)(k * 7919u >> 3);
        for (size_t off = 0; off < 8; off++)
                for (size_t n = 0; n + off <= sizeof buf; n += 13)
                        CU_ASSERT_EQUAL(crc32c(0x1234u, buf + off, n), crc32c_portable(0x1234u, buf + off, n));
}

static void test_base64_roundtrip_and_strictness(void)
{
        const unsigned char data[] = { 0, 1, 2, 0xfe, 0xff };
        for (size_t n = 0; n <= sizeof data; n++) {
                _cleanup_free_ char *enc = base64_encode(data, n);
                CU_ASSERT_PTR_NOT_NULL_FATAL(enc);
                if (n == 0) {
                        CU_ASSERT_STRING_EQUAL(enc, "");
                        continue;
                }
                _cleanup_free_ unsigned char *dec = NULL;
                size_t len = 0;
                CU_ASSERT_EQUAL(base64_decode(enc, &dec, &len), 0);
                CU_ASSERT_EQUAL(len, n);
                CU_ASSERT_EQUAL(memcmp(dec, data, n), 0);
        }
        unsigned char *out = NULL;
        size_t len;
        CU_ASSERT_EQUAL(base64_decode("QUJD!A==", &out, &len), -EINVAL);
        CU_ASSERT_EQUAL(base64_decode("QUJ", &out, &len), -EINVAL);
        CU_ASSERT_EQUAL(base64_decode("Q=JD", &out, &len), -EINVAL);
        /* non-zero bits after the last byte: "QUJ=" and "QUI=" must not both mean "AB" */
        CU_ASSERT_EQUAL(base64_decode("QUJ=", &out, &len), -EINVAL);
        CU_ASSERT_EQUAL(base64_decode("QR==", &out, &len), -EINVAL);
        CU_ASSERT_EQUAL(base64_decode("", &out, &len), -EINVAL);
        CU_ASSERT_PTR_NULL(out);
}

static void test_fileio_bounded_and_atomic(void)
{
        const char *dir = unit_tmpdir();
        char path[512];
        snprintf(path, sizeof path, "%s/sub/dir/f", dir);
        char parent[512];
        snprintf(parent, sizeof parent, "%s/sub/dir", dir);
        CU_ASSERT_EQUAL(mkdir_parents(parent, 0700), 0);
        CU_ASSERT_EQUAL(write_file_atomic(path, "hello", 5, 0600), 0);
        struct stat st;
        CU_ASSERT_EQUAL(stat(path, &st), 0);
        CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
        _cleanup_free_ char *data = NULL;
        size_t len;
        CU_ASSERT_EQUAL(read_file_bounded(path, 5, &data, &len), 0);
        CU_ASSERT_STRING_EQUAL(data, "hello");
        char *none = NULL;
        CU_ASSERT_EQUAL(read_file_bounded(path, 4, &none, &len), -EFBIG);
        CU_ASSERT_EQUAL(read_file_bounded(dir, 4, &none, &len), -EISDIR);
        CU_ASSERT_PTR_NULL(none);
}

static json_object *make_event(uint64_t seq, const char *prev)
{
        json_object *details = json_object_new_object();
        json_object_object_add(details, "vendor", json_object_new_string("0781"));
        json_object *ev = NULL;
        CU_ASSERT_EQUAL(event_build(seq, 1764254406123000ull, "usb.blocked",
                                    EVENT_SEVERITY_WARNING, "tanaka", details, prev, &ev),
                        0);
        return ev;
}

static void test_event_build_validate_chain(void)
{
        _cleanup_json_ json_object *e1 = make_event(1, EVENT_GENESIS_HASH);
        char err[256];
        CU_ASSERT_EQUAL(event_validate(e1, err, sizeof err), 0);
        CU_ASSERT_STRING_EQUAL(json_object_get_string(json_object_object_get(e1, "ts")),
                               "2025-11-27T14:40:06.123Z");
        const char *h1 = json_object_get_string(json_object_object_get(e1, "hash"));
        _cleanup_json_ json_object *e2 = make_event(2, h1);
        CU_ASSERT_EQUAL(event_chain_check(1, h1, e2), CHAIN_OK);
        CU_ASSERT_EQUAL(event_chain_check(0, EVENT_GENESIS_HASH, e2), CHAIN_GAP);
        CU_ASSERT_EQUAL(event_chain_check(2, h1, e2), CHAIN_REORDER);
        CU_ASSERT_EQUAL(event_chain_check(1, EVENT_GENESIS_HASH, e2), CHAIN_PREV_MISMATCH);
}

static void test_event_validate_rejects_tampering(void)
{
        _cleanup_json_ json_object *e = make_event(1, EVENT_GENESIS_HASH);
        char err[256];
        json_object_object_add(json_object_object_get(e, "details"), "vendor",
                               json_object_new_string("dead"));
        CU_ASSERT_EQUAL(event_validate(e, err, sizeof err), -EBADMSG);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "hash"));

        _cleanup_json_ json_object *u = make_event(1, EVENT_GENESIS_HASH);
        json_object_object_add(u, "agent_id", json_object_new_string("spoofed"));
        CU_ASSERT_EQUAL(event_validate(u, err, sizeof err), -EINVAL);
        CU_ASSERT_STRING_EQUAL(err, "agent_id: unknown member");

        _cleanup_json_ json_object *s = make_event(1, EVENT_GENESIS_HASH);
        json_object_object_add(s, "seq", json_object_new_int(0));
        CU_ASSERT_EQUAL(event_validate(s, err, sizeof err), -EINVAL);

        _cleanup_json_ json_object *t = make_event(1, EVENT_GENESIS_HASH);
        json_object_object_add(t, "ts", json_object_new_string("yesterday"));
        CU_ASSERT_EQUAL(event_validate(t, err, sizeof err), -EINVAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "ts"));
}

static CU_TestInfo canon_tests[] = {
        { "sorted keys, no whitespace, escapes", test_canonical_sorts_and_strips },
        { "integers, wide objects, prefix", test_canonical_integers_wide_objects_and_prefix },
        { "is_lower_hex exact", test_is_lower_hex_exact },
        { "same bytes for reordered input", test_canonical_same_for_reordered_input },
        { "doubles refused, skip key", test_canonical_refuses_doubles_and_skips_key },
        CU_TEST_INFO_NULL,
};
static CU_TestInfo digest_tests[] = {
        { "sha256 and crc32c known answers", test_sha256_and_crc32c_known_values },
        { "base64 round trip and strict decoding", test_base64_roundtrip_and_strictness },
        { "bounded read and atomic write", test_fileio_bounded_and_atomic },
        CU_TEST_INFO_NULL,
};
static CU_TestInfo event_tests[] = {
        { "build, validate, chain verdicts", test_event_build_validate_chain },
        { "tampered and malformed events rejected", test_event_validate_rejects_tampering },
        CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {
        { "canonical json", NULL, NULL, NULL, NULL, canon_tests },
        { "digests and files", NULL, NULL, NULL, NULL, digest_tests },
        { "events", NULL, NULL, NULL, NULL, event_tests },
        CU_SUITE_INFO_NULL,
};

UNIT_MAIN(suites)

/* test_uplink.c — the uplink's pure parts: backoff, status classes, batching, acked
 * bookkeeping, configuration, key and CSR generation. */
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "agent/uplink/backoff.h"
#include "agent/uplink/batch.h"
#include "agent/uplink/config.h"
#include "agent/uplink/enroll.h"
#include "common/canon_json.h"
#include "common/util.h"
#include "tests/unit/unit.h"

static void test_backoff_grows_doubles_and_caps(void)
{
        struct backoff b;
        backoff_init(&b, 1000, 60000);
        /* random = 0 gives the lower edge d/2, random = UINT32_MAX lands inside [d/2, d] */
        uint32_t expect_d[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000};
        for (size_t i = 0; i < ELEMENTSOF(expect_d); i++) {
                struct backoff copy = b;
                uint32_t lo = backoff_next(&b, 0);
                uint32_t hi = backoff_next(&copy, UINT32_MAX);
                CU_ASSERT_EQUAL(lo, expect_d[i] - expect_d[i] / 2);
                CU_ASSERT_TRUE(hi >= lo && hi <= expect_d[i]);
        }
        /* an outage of days: thousands of failures, no overflow, still capped */
        for (int i = 0; i < 100000; i++)
                CU_ASSERT_TRUE(backoff_next(&b, (uint32_t)i * 2654435761u) <= 60000);
        backoff_reset(&b);
        CU_ASSERT_EQUAL(backoff_next(&b, 0), 500);
}

static void test_backoff_jitter_spreads(void)
{
        struct backoff b;
        backoff_init(&b, 1000, 1000);
        uint32_t seen_min = UINT32_MAX, seen_max = 0;
        for (uint32_t r = 0; r < 2000; r++) {
                uint32_t d = backoff_next(&b, r * 2654435761u);
                seen_min = MIN(seen_min, d);
                seen_max = MAX(seen_max, d);
        }
        CU_ASSERT_TRUE(seen_min >= 500 && seen_min < 520);
        CU_ASSERT_TRUE(seen_max <= 1000 && seen_max > 980);
        CU_ASSERT_TRUE(backoff_max(&b, 0) == 500 && backoff_max(&b, 500) == 1000);
        /* max below min is raised to min */
        backoff_init(&b, 2000, 10);
        CU_ASSERT_EQUAL(b.max_ms, 2000);
}

static void test_status_classes(void)
{
        CU_ASSERT_EQUAL(uplink_classify_status(200), UPLINK_DONE);
        CU_ASSERT_EQUAL(uplink_classify_status(204), UPLINK_DONE);
        CU_ASSERT_EQUAL(uplink_classify_status(408), UPLINK_TRANSIENT);
        CU_ASSERT_EQUAL(uplink_classify_status(429), UPLINK_TRANSIENT);
        CU_ASSERT_EQUAL(uplink_classify_status(500), UPLINK_TRANSIENT);
        CU_ASSERT_EQUAL(uplink_classify_status(503), UPLINK_TRANSIENT);
        CU_ASSERT_EQUAL(uplink_classify_status(413), UPLINK_SHRINK);
        CU_ASSERT_EQUAL(uplink_classify_status(400), UPLINK_REJECTED);
        CU_ASSERT_EQUAL(uplink_classify_status(401), UPLINK_REJECTED);
        CU_ASSERT_EQUAL(uplink_classify_status(403), UPLINK_REJECTED);
        CU_ASSERT_EQUAL(uplink_classify_status(422), UPLINK_REJECTED);
        CU_ASSERT_EQUAL(uplink_classify_status(302), UPLINK_REJECTED);
        CU_ASSERT_STRING_EQUAL(uplink_outcome_to_string(UPLINK_SHRINK), "too_large");
}

static const char *body_of(struct event_batch *b)
{
        size_t len;
        const char *s = event_batch_body(b, &len);
        CU_ASSERT_EQUAL_FATAL(strlen(s), len);
        return s;
}

static void test_batch_counts_and_order(void)
{
        struct event_batch b;
        event_batch_init(&b, 3, UPLINK_BATCH_MAX_BYTES);
        size_t len;
        CU_ASSERT_PTR_NULL(event_batch_body(&b, &len));
        CU_ASSERT_EQUAL(event_batch_add(&b, "{\"seq\":7}", 9, 7), 0);
        CU_ASSERT_STRING_EQUAL(body_of(&b), "{\"events\":[{\"seq\":7}]}");
        CU_ASSERT_EQUAL(event_batch_add(&b, "{\"seq\":8}", 9, 8), 0);
        CU_ASSERT_EQUAL(event_batch_add(&b, "{\"seq\":8}", 9, 8), -EINVAL); /* not after 8 */
        CU_ASSERT_EQUAL(event_batch_add(&b, "{\"seq\":9}", 9, 9), 0);
        CU_ASSERT_EQUAL(event_batch_add(&b, "{\"seq\":10}", 10, 10), -ENOSPC);
        CU_ASSERT_EQUAL(b.count, 3);
        CU_ASSERT_EQUAL(b.first_seq, 7);
        CU_ASSERT_EQUAL(b.last_seq, 9);
        /* the body is JSON the collector can parse, events in seq order */
        _cleanup_json_ json_object *o = json_tokener_parse(body_of(&b));
        CU_ASSERT_PTR_NOT_NULL_FATAL(o);
        json_object *events = json_object_object_get(o, "events");
        CU_ASSERT_EQUAL_FATAL(json_object_array_length(events), 3);
        for (size_t i = 0; i < 3; i++)
                CU_ASSERT_EQUAL(json_object_get_int(json_object_object_get(
                                    json_object_array_get_idx(events, i), "seq")),
                                7 + (int)i);
        event_batch_reset(&b);
        CU_ASSERT_PTR_NULL(event_batch_body(&b, &len));
        CU_ASSERT_EQUAL(event_batch_add(&b, "{\"seq\":3}", 9, 3),
                        0); /* a fresh batch may start anywhere */
        CU_ASSERT_STRING_EQUAL(body_of(&b), "{\"events\":[{\"seq\":3}]}");
        event_batch_free(&b);
}

static void test_batch_byte_limit(void)
{
        struct event_batch b;
        char ev[101];
        memset(ev, 'x', 100);
        ev[100] = '\0';
        /* head 11 + 100 + tail 2 = 113; a second event needs 101 more */
        event_batch_init(&b, 1000, 213);
        CU_ASSERT_EQUAL(event_batch_add(&b, ev, 100, 1), 0);
        CU_ASSERT_EQUAL(event_batch_add(&b, ev, 100, 2), -ENOSPC);
        event_batch_free(&b);
        event_batch_init(&b, 1000, 214);
        CU_ASSERT_EQUAL(event_batch_add(&b, ev, 100, 1), 0);
        CU_ASSERT_EQUAL(event_batch_add(&b, ev, 100, 2), 0);
        size_t len;
        event_batch_body(&b, &len);
        CU_ASSERT_EQUAL(len, 214);
        event_batch_free(&b);
        /* one event larger than the limit still goes alone rather than stalling the spool */
        event_batch_init(&b, 1000, 50);
        CU_ASSERT_EQUAL(event_batch_add(&b, ev, 100, 1), 0);
        CU_ASSERT_EQUAL(event_batch_add(&b, ev, 1, 2), -ENOSPC);
        event_batch_free(&b);
}

static void test_acked_bookkeeping(void)
{
        CU_ASSERT_EQUAL(uplink_acked_after(10, 20, 20), 20); /* the whole batch */
        CU_ASSERT_EQUAL(uplink_acked_after(10, 15, 20), 15); /* part of it */
        CU_ASSERT_EQUAL(uplink_acked_after(10, 5, 20), 10);  /* never backwards */
        CU_ASSERT_EQUAL(uplink_acked_after(10, 99, 20), 20); /* never beyond what was sent */
        CU_ASSERT_EQUAL(uplink_acked_after(0, 0, 0), 0);
}

static int parse(const char *text, struct uplink_config *c, char *err)
{
        err[0] = '\0';
        return uplink_config_parse(text, c, err, 256);
}

#define MINIMAL                                                                                    \
        "\"collectors\":[\"https://c1:8443\"],\"ca\":\"/e/ca.crt\",\"state_dir\":\"/"              \
        "s\",\"spool_dir\":\"/sp\""

static void test_config_minimal_and_defaults(void)
{
        struct uplink_config c;
        char err[256];
        CU_ASSERT_EQUAL_FATAL(parse("{" MINIMAL "}", &c, err), 0);
        CU_ASSERT_EQUAL(c.n_collectors, 1);
        CU_ASSERT_STRING_EQUAL(c.collectors[0], "https://c1:8443");
        CU_ASSERT_EQUAL(c.heartbeat_seconds, 300);
        CU_ASSERT_EQUAL(c.batch_max_events, 500);
        /* where the agent writes it by default (tmpfs: still written when /var is full) */
        CU_ASSERT_STRING_EQUAL(c.posture_file, "/run/hogo/posture.json");
        CU_ASSERT_PTR_NULL(c.policy_drop_dir);
        CU_ASSERT_PTR_NULL(c.token_file);
        uplink_config_free(&c);
}

static void test_config_full(void)
{
        struct uplink_config c;
        char err[256];
        const char *text =
            "{" MINIMAL ",\"collectors\":[\"https://a:1/\",\"https://b:2\"],"
            "\"enroll_urls\":[\"https://a:3\"],\"policy_drop_dir\":\"/p\",\"posture_file\":\"/run/"
            "p.json\","
            "\"token_file\":\"/"
            "t\",\"reporting\":{\"heartbeat_seconds\":5,\"batch_max_events\":1000},"
            "\"retry\":{\"min_ms\":50,\"max_ms\":2000},\"poll_ms\":100,\"timeout_seconds\":3,"
            "\"log_level\":\"debug\"}";
        CU_ASSERT_EQUAL_FATAL(parse(text, &c, err), 0);
        CU_ASSERT_EQUAL(c.n_collectors, 2); /* a repeated key: the last one counts, no leak */
        CU_ASSERT_STRING_EQUAL(c.collectors[0], "https://a:1"); /* trailing slash dropped */
        CU_ASSERT_STRING_EQUAL(c.collectors[1], "https://b:2");
        CU_ASSERT_STRING_EQUAL(c.enroll_urls[0], "https://a:3");
        CU_ASSERT_EQUAL(c.heartbeat_seconds, 5);
        CU_ASSERT_EQUAL(c.batch_max_events, 1000);
        CU_ASSERT_EQUAL(c.retry_min_ms, 50);
        CU_ASSERT_EQUAL(c.retry_max_ms, 2000);
        CU_ASSERT_EQUAL(c.poll_ms, 100);
        CU_ASSERT_STRING_EQUAL(c.posture_file, "/run/p.json");
        uplink_config_free(&c);
}

static void test_config_errors_name_the_key(void)
{
        static const struct {
                const char *text, *mentions;
        } bad[] = {
            {"{" MINIMAL ",\"colectors\":[]}", "colectors"},
            {"{" MINIMAL ",\"reporting\":{\"heartbeat\":5}}", "reporting.heartbeat"},
            {"{" MINIMAL ",\"reporting\":{\"batch_max_events\":1001}}", "batch_max_events"},
            {"{" MINIMAL ",\"reporting\":{\"heartbeat_seconds\":\"5\"}}", "heartbeat_seconds"},
            {"{" MINIMAL ",\"collectors\":[\"http://c1:8443\"]}", "collectors"},
            {"{" MINIMAL ",\"collectors\":[\"https://c1/v1\"]}", "without a path"},
            {"{" MINIMAL ",\"collectors\":[]}", "collectors"},
            {"{" MINIMAL ",\"ca\":\"relative.crt\"}", "absolute"},
            {"{" MINIMAL ",\"retry\":{\"min_ms\":5000,\"max_ms\":100}}", "retry.max_ms"},
            {"{" MINIMAL ",\"log_level\":\"loud\"}", "log_level"},
            {"{\"ca\":\"/c\",\"state_dir\":\"/s\",\"spool_dir\":\"/sp\"}", "collectors"},
            {"{\"collectors\":[\"https://c\"],\"state_dir\":\"/s\",\"spool_dir\":\"/sp\"}", "ca"},
            {"[1]", "object"},
            {"{\"collectors\":", "JSON"},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct uplink_config c = {.n_collectors = 99};
                char err[256];
                CU_ASSERT_EQUAL(parse(bad[i].text, &c, err), -EINVAL);
                CU_ASSERT_EQUAL(c.n_collectors, 99); /* untouched on failure */
                if (!strstr(err, bad[i].mentions))
                        fprintf(stderr, "case %zu: \"%s\" does not mention %s\n", i, err,
                                bad[i].mentions);
                CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i].mentions));
        }
}

static void test_key_and_csr(void)
{
        _cleanup_free_ char *key_pem = NULL, *csr_pem = NULL;
        CU_ASSERT_EQUAL_FATAL(enroll_make_key_and_csr("pc-0123", &key_pem, &csr_pem), 0);
        BIO *kb = BIO_new_mem_buf(key_pem, -1), *cb = BIO_new_mem_buf(csr_pem, -1);
        EVP_PKEY *key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
        X509_REQ *req = PEM_read_bio_X509_REQ(cb, NULL, NULL, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(key);
        CU_ASSERT_PTR_NOT_NULL_FATAL(req);
        char group[64] = "";
        CU_ASSERT_EQUAL(EVP_PKEY_get_group_name(key, group, sizeof(group), NULL), 1);
        CU_ASSERT_STRING_EQUAL(group, "prime256v1");
        EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
        CU_ASSERT_EQUAL(EVP_PKEY_eq(key, pub), 1);     /* the CSR is for this key */
        CU_ASSERT_EQUAL(X509_REQ_verify(req, pub), 1); /* and signed by it */
        char cn[64] = "";
        X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, cn, sizeof(cn));
        CU_ASSERT_STRING_EQUAL(cn, "pc-0123");
        /* two calls, two different keys */
        _cleanup_free_ char *key2 = NULL, *csr2 = NULL;
        CU_ASSERT_EQUAL(enroll_make_key_and_csr("pc-0123", &key2, &csr2), 0);
        CU_ASSERT_STRING_NOT_EQUAL(key_pem, key2);
        X509_REQ_free(req);
        EVP_PKEY_free(key);
        BIO_free(kb);
        BIO_free(cb);
}

static CU_TestInfo backoff_tests[] = {
    {"exponential, capped, no overflow, reset", test_backoff_grows_doubles_and_caps},
    {"jitter spreads within [d/2, d]", test_backoff_jitter_spreads},
    {"HTTP status classes", test_status_classes},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo batch_tests[] = {
    {"count limit, seq order, body", test_batch_counts_and_order},
    {"byte limit, oversized single event", test_batch_byte_limit},
    {"acked seq bookkeeping", test_acked_bookkeeping},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo config_tests[] = {
    {"minimal configuration and defaults", test_config_minimal_and_defaults},
    {"every key", test_config_full},
    {"errors name the key, unknown keys refused", test_config_errors_name_the_key},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo enroll_tests[] = {
    {"P-256 key and a CSR signed by it", test_key_and_csr},
    CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {
    {"uplink backoff", NULL, NULL, NULL, NULL, backoff_tests},
    {"uplink batches", NULL, NULL, NULL, NULL, batch_tests},
    {"uplink configuration", NULL, NULL, NULL, NULL, config_tests},
    {"uplink enrollment", NULL, NULL, NULL, NULL, enroll_tests},
    CU_SUITE_INFO_NULL,
};

UNIT_MAIN(suites)

/* test_collector.c — the collector's pure parts and its rules over a real SQLite store:
 * configuration, batch parsing, chain rules (ingest), request routing (api), the CA. */
#include <json-c/json.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <time.h>

#include "collectors/api.h"
#include "collectors/ca.h"
#include "collectors/config.h"
#include "collectors/ingest.h"
#include "collectors/metrics.h"
#include "collectors/policy_cache.h"
#include "collectors/store.h"
#include "collectors/tls.h"
#include "collectors/writer.h"
#include "common/canon_json.h"
#include "common/ed25519.h"
#include "common/event.h"
#include "common/util.h"
#include "tests/unit/event_chain_build.h"
#include "tests/unit/unit.h"

/* --- helpers ----------------------------------------------------------------------------- */

static struct store *fresh_store(void)
{
        char path[512];
        snprintf(path, sizeof path, "%s/c.db", unit_tmpdir());
        struct store *s = NULL;
        CU_ASSERT_EQUAL_FATAL(store_open(STORE_SQLITE, path, &s), 0);
        return s;
}

static void add_terminal(struct store *s, const char *id, const char *dept)
{
        struct store_terminal t = { .enrolled_at = 1 };
        snprintf(t.agent_id, sizeof t.agent_id, "%s", id);
        snprintf(t.hostname, sizeof t.hostname, "pc");
        snprintf(t.department, sizeof t.department, "%s", dept);
        memcpy(t.last_hash, EVENT_GENESIS_HASH, sizeof t.last_hash);
        CU_ASSERT_EQUAL_FATAL(store_terminal_add(s, &t), 0);
}

/* Parses and applies a batch in one transaction; returns apply's result. */
static int apply_text(struct store *s, const char *agent, const char *text,
                      struct ingest_result *res)
{
        struct ingest_batch *b = NULL;
        enum reject_reason reason;
        int64_t bad;
        char err[256];
        int r = ingest_batch_parse(text, strlen(text), 1000, &b, &reason, &bad, err, sizeof err);
        CU_ASSERT_EQUAL_FATAL(r, 0);
        CU_ASSERT_EQUAL_FATAL(store_begin(s), 0);
        r = ingest_batch_apply(s, agent, b, 100, res);
        CU_ASSERT_EQUAL(r >= 0 ? store_commit(s) : store_rollback(s), 0);
        ingest_batch_free(b);
        return r;
}

/* --- configuration ----------------------------------------------------------------------- */

static const char good_config[] =
        "{\"listen\": {\"agent\": [\"127.0.0.1:8443\", \"[::1]:8443\"], \"enroll\": \":8442\","
        " \"metrics\": [\":9100\", \"[::1]:9100\"]},"
        " \"tls\": {\"certificate\": \"s.crt\", \"key\": \"s.key\", \"ca\": \"ca.crt\", \"ca_key\": \"ca.key\"},"
        " \"store\": {\"postgres\": \"dbname=hogo\"},"
        " \"limits\": {\"max_batch_events\": 500, \"timeout_seconds\": 5, \"handshake_seconds\": 4,"
        " \"request_seconds\": 20, \"max_connections\": 100}, \"threads\": 2,"
        " \"log_level\": \"debug\"}";

static void test_config_parses_every_key(void)
{
        struct collector_config *c = NULL;
        char err[256] = "";
        CU_ASSERT_EQUAL_FATAL(config_parse(good_config, strlen(good_config), &c, err, sizeof err), 0);
        CU_ASSERT_EQUAL(c->n_listen[LISTENER_AGENT], 2);
        CU_ASSERT_STRING_EQUAL(c->listen[LISTENER_AGENT][1].host, "::1");
        CU_ASSERT_EQUAL(c->listen[LISTENER_ENROLL][0].port, 8442);
        CU_ASSERT_STRING_EQUAL(c->listen[LISTENER_ENROLL][0].host, "");
        /* the metrics listener's ":port" means loopback, never every address */
        CU_ASSERT_EQUAL(c->n_listen[LISTENER_METRICS], 2);
        CU_ASSERT_STRING_EQUAL(c->listen[LISTENER_METRICS][0].host, "127.0.0.1");
        CU_ASSERT_EQUAL(c->listen[LISTENER_METRICS][0].port, 9100);
        CU_ASSERT_STRING_EQUAL(c->listen[LISTENER_METRICS][1].host, "::1");
        CU_ASSERT_EQUAL(c->store_kind, STORE_POSTGRES);
        CU_ASSERT_STRING_EQUAL(c->store_target, "dbname=hogo");
        CU_ASSERT_EQUAL(c->limits.max_batch_events, 500);
        CU_ASSERT_EQUAL(c->limits.max_body_bytes, 1024 * 1024);
        CU_ASSERT_EQUAL(c->limits.handshake_seconds, 4);
        CU_ASSERT_EQUAL(c->limits.request_seconds, 20);
        CU_ASSERT_EQUAL(c->limits.max_connections, 100);
        CU_ASSERT_EQUAL(c->threads, 2);
        config_free(c);
}

static void test_config_metrics_default_loopback(void)
{
        static const char text[] =
                "{\"listen\": {\"agent\": \":8443\"}, \"tls\": {\"certificate\": \"a\", "
                "\"key\": \"b\", \"ca\": \"c\"}, \"store\": {\"sqlite\": \"a\"}}";
        struct collector_config *c = NULL;
        char err[256] = "";
        CU_ASSERT_EQUAL_FATAL(config_parse(text, strlen(text), &c, err, sizeof err), 0);
        CU_ASSERT_EQUAL(c->n_listen[LISTENER_METRICS], 1);
        CU_ASSERT_STRING_EQUAL(c->listen[LISTENER_METRICS][0].host, "127.0.0.1");
        CU_ASSERT_EQUAL(c->listen[LISTENER_METRICS][0].port, COLLECTOR_DEFAULT_METRICS_PORT);
        config_free(c);
        static const char off[] =
                "{\"listen\": {\"agent\": \":8443\", \"metrics\": []}, \"tls\": {\"certificate\": "
                "\"a\", \"key\": \"b\", \"ca\": \"c\"}, \"store\": {\"sqlite\": \"a\"}}";
        c = NULL;
        CU_ASSERT_EQUAL_FATAL(config_parse(off, strlen(off), &c, err, sizeof err), 0);
        CU_ASSERT_EQUAL(c->n_listen[LISTENER_METRICS], 0);
        config_free(c);
}

static void test_config_refuses_with_the_path(void)
{
        static const struct {
                const char *text, *want;
        } cases[] = {
                { "{\"listen\": {\"agent\": \"x:1\"}, \"tls\": {}, \"store\": {}, \"bogus\": 1}",
                  "(top).bogus: unknown key" },
                { "{\"listen\": {\"agent\": \"x:1\", \"admin\": \"y:2\"}}", "listen.admin: unknown key" },
                { "{\"listen\": {\"agent\": \"nohost\"}}", "listen.agent" },
                { "{\"listen\": {\"agent\": \"x:1\"}, \"tls\": {\"certificate\": \"a\", \"key\": \"b\", "
                  "\"ca\": \"c\"}, \"store\": {\"sqlite\": \"a\", \"postgres\": \"b\"}}",
                  "exactly one" },
                { "{\"listen\": {\"agent\": \"x:1\"}, \"tls\": {\"certificate\": \"a\", \"key\": \"b\", "
                  "\"ca\": \"c\"}, \"store\": {\"sqlite\": \"a\"}, \"limits\": {\"max_batch_events\": 1001}}",
                  "limits.max_batch_events" },
                { "{\"listen\": {\"agent\": \"x:1\"}, \"tls\": {\"certificate\": \"a\", \"key\": \"b\", "
                  "\"ca\": \"c\"}, \"store\": {\"sqlite\": \"a\"}, \"limits\": {\"max_connections\": 0}}",
                  "limits.max_connections: expected an integer from 1" },
                { "{\"listen\": {\"agent\": \"x:1\"}, \"tls\": {\"certificate\": \"a\", \"key\": \"b\", "
                  "\"ca\": \"c\"}, \"store\": {\"sqlite\": \"a\"}, \"limits\": {\"request_seconds\": \"30\"}}",
                  "limits.request_seconds: expected an integer" },
                { "{\"listen\": {\"agent\": \"x:1\", \"enroll\": \"x:2\"}, \"tls\": {\"certificate\": \"a\", "
                  "\"key\": \"b\", \"ca\": \"c\"}, \"store\": {\"sqlite\": \"a\"}}",
                  "tls.ca_key: missing" },
                { "{\"listen\": {\"agent\": \"x:1\", \"metrics\": [\"127.0.0.1:1\", \"0.0.0.0:9100\"]}}",
                  "listen.metrics[1]: 0.0.0.0 is not a loopback address" },
                { "{\"listen\": {\"agent\": \"x:1\", \"metrics\": \"[::]:9100\"}}",
                  "listen.metrics[0]: :: is not a loopback address" },
                { "{\"listen\": ", "not valid JSON" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct collector_config *c = NULL;
                char err[256] = "";
                CU_ASSERT_EQUAL(config_parse(cases[i].text, strlen(cases[i].text), &c, err, sizeof err),
                                -EINVAL);
                CU_ASSERT_PTR_NULL(c);
                if (!strstr(err, cases[i].want))
                        fprintf(stderr, "case %zu: got '%s', want '%s'\n", i, err, cases[i].want);
                CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].want));
        }
}

static void test_listen_address_forms(void)
{
        struct listen_address a;
        CU_ASSERT_EQUAL(listen_address_parse("0.0.0.0:8443", &a), 0);
        CU_ASSERT_EQUAL(a.port, 8443);
        CU_ASSERT_EQUAL(listen_address_parse("[fe80::1]:1", &a), 0);
        CU_ASSERT_STRING_EQUAL(a.host, "fe80::1");
        CU_ASSERT_EQUAL(listen_address_parse("::1:8443", &a), -EINVAL);
        CU_ASSERT_EQUAL(listen_address_parse("host:0", &a), -EINVAL);
        CU_ASSERT_EQUAL(listen_address_parse("host:65536", &a), -EINVAL);
        CU_ASSERT_EQUAL(listen_address_parse("host:12x", &a), -EINVAL);
}

/* --- batch parsing ----------------------------------------------------------------------- */

static void test_batch_parse_limits_and_reasons(void)
{
        struct ingest_batch *b = NULL;
        enum reject_reason reason;
        int64_t bad;
        char err[256];

        _cleanup_free_ char *ok = chain_batch_text(chain_build(3, 1, EVENT_GENESIS_HASH, "usb.blocked"));
        CU_ASSERT_EQUAL(ingest_batch_parse(ok, strlen(ok), 3, &b, &reason, &bad, err, sizeof err), 0);
        CU_ASSERT_EQUAL(b->n_events, 3);
        CU_ASSERT_TRUE(b->events[2].hash_ok);
        CU_ASSERT_EQUAL(b->events[2].seq, 3);
        ingest_batch_free(b);
        b = NULL;

        CU_ASSERT_EQUAL(ingest_batch_parse(ok, strlen(ok), 2, &b, &reason, &bad, err, sizeof err), -E2BIG);
        CU_ASSERT_EQUAL(reason, REJECT_TOO_MANY_EVENTS);
        CU_ASSERT_EQUAL(ingest_batch_parse("{\"events\":[", 11, 2, &b, &reason, &bad, err, sizeof err), -EINVAL);
        CU_ASSERT_EQUAL(reason, REJECT_MALFORMED_JSON);
        const char *extra = "{\"events\":[],\"agent_id\":\"x\"}";
        CU_ASSERT_EQUAL(ingest_batch_parse(extra, strlen(extra), 2, &b, &reason, &bad, err, sizeof err), -EINVAL);
        CU_ASSERT_EQUAL(reason, REJECT_INVALID_REQUEST);
        CU_ASSERT_PTR_NULL(b);

        /* an unknown member in the second event: invalid, and the seq is reported */
        json_object *arr = chain_build(3, 1, EVENT_GENESIS_HASH, "usb.blocked");
        json_object_object_add(json_object_array_get_idx(arr, 1), "agent_id", json_object_new_string("x"));
        _cleanup_free_ char *inv = chain_batch_text(arr);
        CU_ASSERT_EQUAL(ingest_batch_parse(inv, strlen(inv), 10, &b, &reason, &bad, err, sizeof err), -EINVAL);
        CU_ASSERT_EQUAL(reason, REJECT_INVALID_EVENT);
        CU_ASSERT_EQUAL(bad, 2);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "events[1]"));

        /* content changed under its hash: kept for the chain rules, not refused */
        arr = chain_build(2, 1, EVENT_GENESIS_HASH, "usb.blocked");
        json_object_object_add(json_object_array_get_idx(arr, 0), "user", json_object_new_string("mallory"));
        _cleanup_free_ char *mod = chain_batch_text(arr);
        CU_ASSERT_EQUAL(ingest_batch_parse(mod, strlen(mod), 10, &b, &reason, &bad, err, sizeof err), 0);
        CU_ASSERT_FALSE(b->events[0].hash_ok);
        CU_ASSERT_TRUE(b->events[1].hash_ok);
        ingest_batch_free(b);
}

/* --- chain rules against SQLite ------------------------------------------------------------ */

/* The stored text comes from the hash check's canonicalization; it must be exactly the
 * event's canonical form, for awkward details and for a tampered event alike. */
static void test_batch_parse_stores_the_canonical_form(void)
{
        json_object *d = json_object_new_object(), *inner = json_object_new_object();
        json_object_object_add(inner, "prev_hash", json_object_new_string("x\",\"prev_hash\":\""));
        json_object_object_add(inner, "z", json_object_new_string("名簿\n\001\\"));
        json_object_object_add(d, "nested", inner);
        json_object_object_add(d, "a", json_object_new_array());
        json_object *ev;
        CU_ASSERT_EQUAL_FATAL(event_build(1, 1795791600000000ull, "files.bulk_warning",
                                          EVENT_SEVERITY_WARNING, "tanaka", d, EVENT_GENESIS_HASH,
                                          &ev), 0);
        json_object *arr = json_object_new_array();
        json_object_array_add(arr, ev);
        json_object *tampered = chain_build(2, 2, EVENT_GENESIS_HASH, "usb.blocked");
        json_object *t = json_object_get(json_object_array_get_idx(tampered, 0));
        json_object_object_add(t, "user", json_object_new_string("suzuki"));
        json_object_array_add(arr, t);
        json_object_put(tampered);
        _cleanup_free_ char *text = chain_batch_text(json_object_get(arr));

        struct ingest_batch *b = NULL;
        enum reject_reason reason;
        int64_t bad;
        char err[256];
        CU_ASSERT_EQUAL_FATAL(ingest_batch_parse(text, strlen(text), 10, &b, &reason, &bad, err,
                                                 sizeof err), 0);
        for (size_t i = 0; i < 2; i++) {
                _cleanup_free_ char *want = NULL;
                CU_ASSERT_EQUAL(json_canonical(json_object_array_get_idx(arr, i), NULL, &want,
                                               NULL), 0);
                CU_ASSERT_STRING_EQUAL(b->events[i].canonical, want);
        }
        CU_ASSERT_TRUE(b->events[0].hash_ok);
        CU_ASSERT_FALSE(b->events[1].hash_ok);
        char recomputed[SHA256_HEX_LEN + 1];
        CU_ASSERT_EQUAL(event_compute_hash(json_object_array_get_idx(arr, 1), recomputed), 0);
        CU_ASSERT_STRING_EQUAL(b->events[1].computed_hash, recomputed);
        CU_ASSERT_STRING_NOT_EQUAL(b->events[1].computed_hash, b->events[1].hash);
        ingest_batch_free(b);
        json_object_put(arr);
}

static void test_apply_clean_duplicate_and_unknown(void)
{
        struct store *s = fresh_store();
        add_terminal(s, "a1", "総務課");
        json_object *arr = chain_build(5, 1, EVENT_GENESIS_HASH, "usb.blocked");
        _cleanup_free_ char *text = chain_batch_text(json_object_get(arr));
        struct ingest_result res;
        CU_ASSERT_EQUAL(apply_text(s, "a1", text, &res), 0);
        CU_ASSERT_EQUAL(res.acked_seq, 5);
        CU_ASSERT_EQUAL(res.stored, 5);
        CU_ASSERT_EQUAL(apply_text(s, "a1", text, &res), 0);
        CU_ASSERT_EQUAL(res.acked_seq, 5);
        CU_ASSERT_EQUAL(res.stored, 0);
        CU_ASSERT_EQUAL(res.duplicates, 5);
        CU_ASSERT_EQUAL(store_event_count(s, "a1"), 5);
        CU_ASSERT_EQUAL(store_alert_count(s, "a1", NULL), 0);
        struct store_terminal t;
        CU_ASSERT_EQUAL(store_terminal_get(s, "a1", &t), 0);
        CU_ASSERT_EQUAL(t.last_seq, 5);
        json_object *h;
        json_object_object_get_ex(json_object_array_get_idx(arr, 4), "hash", &h);
        CU_ASSERT_STRING_EQUAL(t.last_hash, json_object_get_string(h));

        CU_ASSERT_EQUAL(apply_text(s, "nobody", text, &res), -ENOENT);
        CU_ASSERT_EQUAL(store_terminal_revoke(s, "a1", 50), 0);
        CU_ASSERT_EQUAL(apply_text(s, "a1", text, &res), -EPERM);
        json_object_put(arr);
        store_close(s);
}

static void test_apply_flags_every_break(void)
{
        struct store *s = fresh_store();
        add_terminal(s, "a1", "");
        json_object *arr = chain_build(8, 1, EVENT_GENESIS_HASH, "usb.blocked");
        /* send 1 2 3 5 4 6 8: gap at 5 (want 4), reorder at 4, gap at 8 (want 7) */
        static const size_t order[] = { 0, 1, 2, 4, 3, 5, 7 };
        json_object *sent = json_object_new_array();
        for (size_t i = 0; i < ELEMENTSOF(order); i++)
                json_object_array_add(sent, json_object_get(json_object_array_get_idx(arr, order[i])));
        _cleanup_free_ char *text = chain_batch_text(sent);
        struct ingest_result res;
        CU_ASSERT_EQUAL(apply_text(s, "a1", text, &res), 0);
        /* the gaps wait for a declaration of spool drops; none comes, so they are alerted
         * when their wait is over */
        CU_ASSERT_EQUAL(res.gaps_pending, 2);
        CU_ASSERT_EQUAL(res.breaks[CHAIN_BREAK_REORDER], 1);
        CU_ASSERT_EQUAL(res.acked_seq, 8);
        CU_ASSERT_EQUAL(res.stored, 7);
        CU_ASSERT_EQUAL(store_alert_count(s, "a1", "tamper.chain_break"), 1);
        unsigned alerted = 0;
        CU_ASSERT_EQUAL(store_begin(s), 0);
        CU_ASSERT_EQUAL(ingest_gaps_expire(s, 100 + INGEST_GAP_DECLARATION_WAIT_SECONDS,
                                           INGEST_GAP_DECLARATION_WAIT_SECONDS, &alerted), 0);
        CU_ASSERT_EQUAL(store_commit(s), 0);
        CU_ASSERT_EQUAL(alerted, 2);
        CU_ASSERT_EQUAL(store_alert_count(s, "a1", "tamper.chain_break"), 3);

        /* a different event claiming seq 2: conflict, not stored */
        json_object *other = chain_build(2, 1, EVENT_GENESIS_HASH, "session.locked");
        json_object *one = json_object_new_array();
        json_object_array_add(one, json_object_get(json_object_array_get_idx(other, 1)));
        _cleanup_free_ char *t2 = chain_batch_text(one);
        CU_ASSERT_EQUAL(apply_text(s, "a1", t2, &res), 0);
        CU_ASSERT_EQUAL(res.breaks[CHAIN_BREAK_CONFLICT], 1);
        CU_ASSERT_EQUAL(res.stored, 0);
        CU_ASSERT_EQUAL(store_event_count(s, "a1"), 7);
        json_object_put(other);
        json_object_put(arr);
        store_close(s);
}

static void test_apply_declared_drops_bridge_the_gap(void)
{
        struct store *s = fresh_store();
        add_terminal(s, "a1", "");
        json_object *arr = chain_build(6, 1, EVENT_GENESIS_HASH, "usb.blocked");
        /* 3 and 4 dropped by the agent's spool, declared by an overflow event at 7 */
        struct chain_drop d = chain_drop_of(arr, 2, 3);
        static const size_t keep[] = { 0, 1, 4, 5 };
        json_object *sent = chain_pick(arr, keep, ELEMENTSOF(keep));
        json_object_array_add(sent, chain_overflow_event(7, chain_member(arr, 5, "hash"), &d, 1));
        _cleanup_free_ char *text = chain_batch_text(sent);
        struct ingest_result res;
        CU_ASSERT_EQUAL(apply_text(s, "a1", text, &res), 0);
        CU_ASSERT_EQUAL(res.acked_seq, 7);
        CU_ASSERT_EQUAL(res.breaks[CHAIN_BREAK_GAP], 0);
        CU_ASSERT_EQUAL(res.gaps_pending, 0);
        CU_ASSERT_EQUAL(store_alert_count(s, "a1", NULL), 0);
        json_object_put(arr);
        store_close(s);
}

static void test_apply_hash_mismatch(void)
{
        struct store *s = fresh_store();
        add_terminal(s, "a1", "");
        json_object *arr = chain_build(3, 1, EVENT_GENESIS_HASH, "usb.blocked");
        json_object_object_add(json_object_array_get_idx(arr, 1), "user", json_object_new_string("x"));
        _cleanup_free_ char *text = chain_batch_text(arr);
        struct ingest_result res;
        CU_ASSERT_EQUAL(apply_text(s, "a1", text, &res), 0);
        CU_ASSERT_EQUAL(res.breaks[CHAIN_BREAK_HASH_MISMATCH], 1);
        CU_ASSERT_EQUAL(res.breaks[CHAIN_BREAK_PREV_MISMATCH], 0);
        CU_ASSERT_EQUAL(res.acked_seq, 3);
        /* re-sent as is: a duplicate, no second alert */
        CU_ASSERT_EQUAL(apply_text(s, "a1", text, &res), 0);
        CU_ASSERT_EQUAL(res.duplicates, 3);
        CU_ASSERT_EQUAL(store_alert_count(s, "a1", NULL), 1);
        store_close(s);
}

/* --- routing ----------------------------------------------------------------------------- */

static struct collector_limits limits = { .max_body_bytes = 1024 * 1024, .max_batch_events = 1000,
                                          .timeout_seconds = 10, .revocation_refresh_ms = 100 };

static int route(enum listener_kind l, const char *method, const char *path, const char *ct,
                 const char *body, const char *agent, struct api_job **job)
{
        struct api_context ctx = { .limits = &limits };
        struct api_request rq = { .listener = l, .method = method, .path = path,
                                  .content_type = ct, .body = body ?: "",
                                  .body_len = body ? strlen(body) : 0, .agent_id = agent,
                                  .peer = "test" };
        struct api_reply reply;
        CU_ASSERT_EQUAL(api_handle(&ctx, &rq, &reply, job), 0);
        int status = *job ? 0 : reply.status;
        api_reply_clear(&reply);
        return status;
}

static void test_routing_statuses(void)
{
        struct api_job *job = NULL;
        CU_ASSERT_EQUAL(route(LISTENER_AGENT, "GET", "/nope", NULL, NULL, "a", &job), 404);
        CU_ASSERT_EQUAL(route(LISTENER_ENROLL, "POST", "/v1/events", "application/json", "{}", NULL, &job), 404);
        CU_ASSERT_EQUAL(route(LISTENER_AGENT, "POST", "/v1/enroll", "application/json", "{}", "a", &job), 404);
        CU_ASSERT_EQUAL(route(LISTENER_AGENT, "GET", "/v1/events", NULL, NULL, "a", &job), 405);
        CU_ASSERT_EQUAL(route(LISTENER_AGENT, "POST", "/v1/events", "text/plain", "{}", "a", &job), 415);
        CU_ASSERT_EQUAL(route(LISTENER_AGENT, "POST", "/v1/events", "application/jsonx", "{}", "a", &job), 415);
        CU_ASSERT_EQUAL(route(LISTENER_AGENT, "POST", "/v1/events", "application/json", "{", "a", &job), 400);
        CU_ASSERT_EQUAL(route(LISTENER_AGENT, "POST", "/v1/events", NULL, "{}", NULL, &job), 403);
        CU_ASSERT_EQUAL(route(LISTENER_AGENT, "GET", "/healthz", NULL, NULL, "a", &job), 200);
        /* the counters only on the loopback metrics listener */
        CU_ASSERT_EQUAL(route(LISTENER_ENROLL, "GET", "/metrics", NULL, NULL, NULL, &job), 404);
        CU_ASSERT_EQUAL(route(LISTENER_AGENT, "GET", "/metrics", NULL, NULL, "a", &job), 404);
        CU_ASSERT_EQUAL(route(LISTENER_METRICS, "GET", "/metrics", NULL, NULL, NULL, &job), 200);
        CU_ASSERT_EQUAL(route(LISTENER_METRICS, "GET", "/healthz", NULL, NULL, NULL, &job), 200);
        CU_ASSERT_EQUAL(route(LISTENER_METRICS, "POST", "/v1/heartbeat", "application/json",
                              "{\"posture\":{}}", NULL, &job), 404);
        _cleanup_free_ char *big = malloc(70000);
        memset(big, ' ', 69999);
        big[69999] = '\0';
        CU_ASSERT_EQUAL(route(LISTENER_AGENT, "POST", "/v1/heartbeat", "application/json; charset=utf-8",
                              big, "a", &job), 413);
        CU_ASSERT_EQUAL(route(LISTENER_AGENT, "POST", "/v1/heartbeat", "application/json",
                              "{\"posture\":{},\"policy_version\":7}", "a", &job), 0);
        CU_ASSERT_PTR_NOT_NULL(job);
        api_job_free(job);
        job = NULL;
        /* enrollment without a CA configured refuses cleanly */
        CU_ASSERT_EQUAL(route(LISTENER_ENROLL, "POST", "/v1/enroll", "application/json",
                              "{\"token\":\"t\",\"csr\":\"c\",\"hostname\":\"h\"}", NULL, &job), 503);
        /* a revoked agent on an open connection */
        char **ids = calloc(1, sizeof *ids);
        ids[0] = strdup("gone");
        revoked_set_replace(ids, 1);
        CU_ASSERT_EQUAL(route(LISTENER_AGENT, "GET", "/v1/policy", NULL, NULL, "gone", &job), 403);
        revoked_set_clear();
        CU_ASSERT_EQUAL(route(LISTENER_AGENT, "GET", "/v1/policy", NULL, NULL, "gone", &job), 0);
        api_job_free(job);
}

static void test_heartbeat_answered_from_the_policy_cache(void)
{
        struct api_context ctx = { .limits = &limits };
        const char *body = "{\"posture\":{},\"policy_version\":\"3\"}";
        struct api_request rq = { .listener = LISTENER_AGENT, .method = "POST",
                                  .path = "/v1/heartbeat", .content_type = "application/json",
                                  .body = body, .body_len = strlen(body), .agent_id = "a1",
                                  .department = "総務課", .may_answer_early = true, .peer = "t" };
        struct api_reply reply;
        struct api_job *job = NULL;
        /* not cached yet: the store answers (the job is not detached) */
        policy_cache_clear();
        CU_ASSERT_EQUAL(api_handle(&ctx, &rq, &reply, &job), 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(job);
        CU_ASSERT_FALSE(api_job_detached(job));
        api_reply_clear(&reply);
        api_job_free(job);
        /* cached: answered at once, the job only writes */
        policy_cache_put("総務課", "9");
        CU_ASSERT_EQUAL(api_handle(&ctx, &rq, &reply, &job), 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(job);
        CU_ASSERT_TRUE(api_job_detached(job));
        CU_ASSERT_EQUAL(reply.status, 200);
        CU_ASSERT_STRING_EQUAL(reply.body, "{\"policy_version\":\"9\"}");
        api_reply_clear(&reply);
        api_job_free(job);
        /* a backlogged writer: back to answering after the commit */
        rq.may_answer_early = false;
        CU_ASSERT_EQUAL(api_handle(&ctx, &rq, &reply, &job), 0);
        CU_ASSERT_FALSE(api_job_detached(job));
        api_reply_clear(&reply);
        api_job_free(job);
        policy_cache_put("総務課", NULL);
        rq.may_answer_early = true;
        CU_ASSERT_EQUAL(api_handle(&ctx, &rq, &reply, &job), 0);
        CU_ASSERT_STRING_EQUAL(reply.body, "{\"policy_version\":null}");
        api_reply_clear(&reply);
        api_job_free(job);
        /* plain versions are written straight, others escaped as JSON */
        static const struct {
                const char *version, *body;
        } versions[] = {
                { "2026.1-a_b+c:d", "{\"policy_version\":\"2026.1-a_b+c:d\"}" },
                { "v\"1\\", "{\"policy_version\":\"v\\\"1\\\\\"}" },
                { "総務/1", "{\"policy_version\":\"総務\\/1\"}" },
        };
        for (size_t i = 0; i < ELEMENTSOF(versions); i++) {
                policy_cache_put("総務課", versions[i].version);
                CU_ASSERT_EQUAL(api_handle(&ctx, &rq, &reply, &job), 0);
                CU_ASSERT_EQUAL(reply.status, 200);
                CU_ASSERT_STRING_EQUAL(reply.body, versions[i].body);
                CU_ASSERT_EQUAL(reply.body_len, strlen(versions[i].body));
                api_reply_clear(&reply);
                api_job_free(job);
        }
        policy_cache_clear();
}

static struct api_job *heartbeat(const struct api_context *ctx, const char *agent,
                                  const char *body, int *ret_status)
{
        struct api_request rq = { .listener = LISTENER_AGENT, .method = "POST",
                                  .path = "/v1/heartbeat", .content_type = "application/json",
                                  .body = body, .body_len = strlen(body), .agent_id = agent,
                                  .department = "総務課", .may_answer_early = true, .peer = "t" };
        struct api_reply reply;
        struct api_job *job = NULL;
        CU_ASSERT_EQUAL(api_handle(ctx, &rq, &reply, &job), 0);
        *ret_status = reply.status;
        api_reply_clear(&reply);
        return job;
}

static void run_job(struct store *s, struct api_job *job)
{
        CU_ASSERT_EQUAL(store_begin(s), 0);
        CU_ASSERT_EQUAL(api_job_run(job, s, 10), 0);
        CU_ASSERT_EQUAL(store_commit(s), 0);
}

static void test_heartbeats_coalesce_latest_wins(void)
{
        struct store *s = fresh_store();
        add_terminal(s, "a1", "総務課");
        add_terminal(s, "a2", "総務課");
        struct api_context ctx = { .limits = &limits };
        CU_ASSERT_EQUAL_FATAL(heartbeat_queue_new(&ctx.heartbeats), 0);
        policy_cache_put("総務課", "9");
        int status;
        struct api_job *first = heartbeat(&ctx, "a1", "{\"posture\":{\"n\":1}}", &status);
        CU_ASSERT_PTR_NOT_NULL_FATAL(first);
        CU_ASSERT_TRUE(api_job_detached(first));
        CU_ASSERT_EQUAL(status, 200);
        /* while a1's write is queued, its next heartbeats are answered and only replace the
         * queued posture; another terminal gets its own job */
        CU_ASSERT_PTR_NULL(heartbeat(&ctx, "a1", "{\"posture\":{\"n\":2}}", &status));
        CU_ASSERT_EQUAL(status, 200);
        CU_ASSERT_PTR_NULL(heartbeat(&ctx, "a1", "{\"posture\":{\"n\":3}}", &status));
        CU_ASSERT_EQUAL(status, 200);
        struct api_job *other = heartbeat(&ctx, "a2", "{\"posture\":{\"n\":7}}", &status);
        CU_ASSERT_PTR_NOT_NULL_FATAL(other);
        /* a bad heartbeat is refused, never folded in */
        CU_ASSERT_PTR_NULL(heartbeat(&ctx, "a1", "{\"posture\":{\"n\":1.5}}", &status));
        CU_ASSERT_EQUAL(status, 400);
        run_job(s, first);
        _cleanup_free_ char *posture = NULL;
        CU_ASSERT_EQUAL(store_posture_get(s, "a1", &posture, NULL), 0);
        CU_ASSERT_STRING_EQUAL(posture, "{\"posture\":{\"n\":3}}");
        CU_ASSERT_EQUAL(store_posture_history_count(s, "a1"), 1);
        /* once the writer took it, a new heartbeat is a new job */
        struct api_job *later = heartbeat(&ctx, "a1", "{\"posture\":{\"n\":4}}", &status);
        CU_ASSERT_PTR_NOT_NULL_FATAL(later);
        api_job_free(first);
        /* a job freed without running leaves the queue: the next heartbeat queues anew */
        api_job_free(later);
        struct api_job *again = heartbeat(&ctx, "a1", "{\"posture\":{\"n\":5}}", &status);
        CU_ASSERT_PTR_NOT_NULL_FATAL(again);
        run_job(s, again);
        run_job(s, other);
        free(posture);
        posture = NULL;
        CU_ASSERT_EQUAL(store_posture_get(s, "a1", &posture, NULL), 0);
        CU_ASSERT_STRING_EQUAL(posture, "{\"posture\":{\"n\":5}}");
        api_job_free(again);
        api_job_free(other);
        heartbeat_queue_free(ctx.heartbeats);
        policy_cache_clear();
        store_close(s);
}

static void test_events_job_end_to_end(void)
{
        struct store *s = fresh_store();
        add_terminal(s, "a1", "");
        _cleanup_free_ char *text = chain_batch_text(chain_build(4, 1, EVENT_GENESIS_HASH, "usb.blocked"));
        struct api_job *job = NULL;
        CU_ASSERT_EQUAL(route(LISTENER_AGENT, "POST", "/v1/events", "application/json", text, "a1", &job), 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(job);
        CU_ASSERT_EQUAL(store_begin(s), 0);
        CU_ASSERT_EQUAL(api_job_run(job, s, 10), 0);
        CU_ASSERT_EQUAL(store_commit(s), 0);
        struct api_reply reply;
        api_job_finish(job, true, &reply);
        CU_ASSERT_EQUAL(reply.status, 200);
        CU_ASSERT_STRING_EQUAL(reply.body, "{\"acked_seq\":4}");
        api_reply_clear(&reply);
        /* the same job after a rollback: 503 that says nothing was kept */
        api_job_finish(job, false, &reply);
        CU_ASSERT_EQUAL(reply.status, 503);
        CU_ASSERT_PTR_NOT_NULL(strstr(reply.body, "nothing was kept"));
        api_reply_clear(&reply);
        api_job_free(job);
        store_close(s);
}

/* --- the CA -------------------------------------------------------------------------------- */

static void test_ca_init_issue_and_csr_rules(void)
{
        char dir[512];
        snprintf(dir, sizeof dir, "%s/ca", unit_tmpdir());
        char *names[] = { "collector.example", "10.0.0.1" };
        CU_ASSERT_EQUAL_FATAL(ca_init_dir(dir, names, 2), 0);
        CU_ASSERT_EQUAL(ca_init_dir(dir, names, 2), -EEXIST);
        char crt[600], key[600];
        snprintf(crt, sizeof crt, "%s/ca.crt", dir);
        snprintf(key, sizeof key, "%s/ca.key", dir);
        struct hogo_ca *ca = NULL;
        CU_ASSERT_EQUAL_FATAL(ca_load(crt, key, &ca), 0);

        /* a CSR from a P-256 key, self-signed */
        EVP_PKEY *k = NULL;
        CU_ASSERT_EQUAL_FATAL(ca_generate_key(&k), 0);
        X509_REQ *req = X509_REQ_new();
        X509_REQ_set_pubkey(req, k);
        X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
                                   (const unsigned char *)"I-choose-my-id", -1, -1, 0);
        X509_REQ_sign(req, k, EVP_sha256());
        BIO *b = BIO_new(BIO_s_mem());
        PEM_write_bio_X509_REQ(b, req);
        char *pem;
        long n = BIO_get_mem_data(b, &pem);
        X509_REQ *parsed = NULL;
        char err[256];
        CU_ASSERT_EQUAL(ca_csr_parse(pem, (size_t)n, &parsed, err, sizeof err), 0);
        X509_REQ_free(parsed);
        /* the same CSR with a byte of its signature changed fails */
        _cleanup_free_ char *bad = strndup(pem, (size_t)n);
        bad[n - 40] = bad[n - 40] == 'A' ? 'B' : 'A';
        parsed = NULL;
        CU_ASSERT_EQUAL(ca_csr_parse(bad, strlen(bad), &parsed, err, sizeof err), -EINVAL);
        BIO_free(b);
        X509_REQ_free(req);

        char *cert_pem = NULL, serial[CA_SERIAL_HEX_MAX + 1];
        time_t now = time(NULL);
        CU_ASSERT_EQUAL_FATAL(ca_issue_agent(ca, k, "agent-1", "総務課", now, now + 86400 * 365,
                                             &cert_pem, serial), 0);
        CU_ASSERT_TRUE(strlen(serial) > 10);
        BIO *cb = BIO_new_mem_buf(cert_pem, -1);
        X509 *cert = PEM_read_bio_X509(cb, NULL, NULL, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(cert);
        CU_ASSERT_EQUAL(X509_verify(cert, X509_get0_pubkey(ca->cert)), 1);
        char cn[64] = "", ou[64] = "";
        X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
        X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_organizationalUnitName, ou, sizeof ou);
        CU_ASSERT_STRING_EQUAL(cn, "agent-1");
        CU_ASSERT_STRING_EQUAL(ou, "総務課");
        CU_ASSERT_EQUAL(X509_check_purpose(cert, X509_PURPOSE_SSL_CLIENT, 0), 1);
        CU_ASSERT_NOT_EQUAL(X509_check_purpose(cert, X509_PURPOSE_SSL_SERVER, 0), 1);
        X509_free(cert);
        BIO_free(cb);
        free(cert_pem);
        EVP_PKEY_free(k);

        char id1[CA_AGENT_ID_LEN + 1], id2[CA_AGENT_ID_LEN + 1];
        CU_ASSERT_EQUAL(ca_new_agent_id(id1), 0);
        CU_ASSERT_EQUAL(ca_new_agent_id(id2), 0);
        CU_ASSERT_EQUAL(strlen(id1), CA_AGENT_ID_LEN);
        CU_ASSERT_STRING_NOT_EQUAL(id1, id2);
        ca_free(ca);
}

static void test_metrics_render_families(void)
{
        metrics_count_reject(REJECT_TOO_LARGE);
        metrics_count_chain_break(CHAIN_BREAK_GAP);
        metrics_observe_store_transaction(700);
        char *text = NULL;
        CU_ASSERT_EQUAL_FATAL(metrics_render(&text, NULL), 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(text, "# TYPE hogo_collector_requests_total counter"));
        CU_ASSERT_PTR_NOT_NULL(strstr(text, "hogo_collector_rejects_total{reason=\"too_large\"} "));
        CU_ASSERT_PTR_NOT_NULL(strstr(text, "hogo_collector_chain_breaks_total{kind=\"gap\"} "));
        CU_ASSERT_PTR_NOT_NULL(strstr(text, "hogo_collector_store_transaction_seconds_bucket{le=\"0.001\"} "));
        CU_ASSERT_PTR_NOT_NULL(strstr(text, "hogo_collector_store_transaction_seconds_bucket{le=\"+Inf\"} "));
        free(text);
}

/* Runs a routed job in a transaction of its own and finishes it as the writer does. */
static int routed_job(struct store *s, const char *path, const char *body, const char *agent,
                      int64_t now)
{
        struct api_job *job = NULL;
        CU_ASSERT_EQUAL(route(LISTENER_AGENT, "POST", path, "application/json", body, agent, &job), 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(job);
        CU_ASSERT_EQUAL(store_begin(s), 0);
        CU_ASSERT_EQUAL(api_job_run(job, s, now), 0);
        CU_ASSERT_EQUAL(store_commit(s), 0);
        struct api_reply reply;
        api_job_finish(job, true, &reply);
        int status = reply.status;
        api_reply_clear(&reply);
        api_job_free(job);
        return status;
}

static bool metrics_has_line(const char *line)
{
        char *text = NULL;
        CU_ASSERT_EQUAL_FATAL(metrics_render(&text, NULL), 0);
        size_t n = strlen(line);
        bool found = false;
        for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
                        found = true;
        free(text);
        return found;
}

/* Pending gaps in the gauge (as the writer counts them), and gap alerts by what raised
 * them: the heartbeat's spool report (the head is at the declaration's bound) and the
 * time limit. Through the real jobs, as the server runs them. */
static void test_metrics_pending_gaps_and_gap_alerts_by_cause(void)
{
        struct store *s = fresh_store();
        add_terminal(s, "a1", "");
        add_terminal(s, "a2", "");
        uint64_t by_bound = metrics_gap_alerts(GAP_ALERT_BY_BOUND);
        uint64_t by_time = metrics_gap_alerts(GAP_ALERT_BY_TIME_LIMIT);
        uint64_t gaps = metrics_chain_breaks(CHAIN_BREAK_GAP);
        json_object *arr = chain_build(5, 1, EVENT_GENESIS_HASH, "files.read");
        _cleanup_free_ char *holed = chain_batch_text(chain_pick(arr, (size_t[]){ 0, 1, 3, 4 }, 4));
        CU_ASSERT_EQUAL(routed_job(s, "/v1/events", holed, "a1", 1000), 200);
        CU_ASSERT_EQUAL(routed_job(s, "/v1/events", holed, "a2", 1000), 200);
        CU_ASSERT_EQUAL(writer_count_gaps(s), 0);
        CU_ASSERT_TRUE(metrics_has_line("hogo_collector_chain_gaps_pending 2"));

        /* a1's uplink reports its spool: acked 5, durable 5, the head is 5 */
        CU_ASSERT_EQUAL(routed_job(s, "/v1/heartbeat",
                                   "{\"posture\":{},\"spool\":{\"acked_seq\":5,\"durable_seq\":5,"
                                   "\"last_seq\":5,\"bytes\":0}}",
                                   "a1", 1010), 200);
        CU_ASSERT_EQUAL(metrics_gap_alerts(GAP_ALERT_BY_BOUND), by_bound + 1);
        CU_ASSERT_EQUAL(metrics_gap_alerts(GAP_ALERT_BY_TIME_LIMIT), by_time);
        CU_ASSERT_EQUAL(metrics_chain_breaks(CHAIN_BREAK_GAP), gaps + 1);
        CU_ASSERT_EQUAL(writer_count_gaps(s), 0);
        CU_ASSERT_TRUE(metrics_has_line("hogo_collector_chain_gaps_pending 1"));

        /* a2 sends no report: its gap waits for the time limit */
        CU_ASSERT_EQUAL(writer_expire_gaps(s, 1000 + 3599, 3600), 0);
        CU_ASSERT_EQUAL(metrics_gap_alerts(GAP_ALERT_BY_TIME_LIMIT), by_time);
        CU_ASSERT_EQUAL(writer_expire_gaps(s, 1000 + 3600, 3600), 0);
        CU_ASSERT_EQUAL(metrics_gap_alerts(GAP_ALERT_BY_TIME_LIMIT), by_time + 1);
        CU_ASSERT_EQUAL(metrics_chain_breaks(CHAIN_BREAK_GAP), gaps + 2);
        CU_ASSERT_EQUAL(writer_count_gaps(s), 0);
        CU_ASSERT_TRUE(metrics_has_line("hogo_collector_chain_gaps_pending 0"));
        char line[128];
        snprintf(line, sizeof line, "hogo_collector_gap_alerts_total{raised_by=\"declaration_bound\"} %llu",
                 (unsigned long long)by_bound + 1);
        CU_ASSERT_TRUE(metrics_has_line(line));
        snprintf(line, sizeof line, "hogo_collector_gap_alerts_total{raised_by=\"time_limit\"} %llu",
                 (unsigned long long)by_time + 1);
        CU_ASSERT_TRUE(metrics_has_line(line));
        CU_ASSERT_TRUE(metrics_has_line("# TYPE hogo_collector_chain_gaps_pending gauge"));
        CU_ASSERT_TRUE(metrics_has_line("# TYPE hogo_collector_gap_alerts_total counter"));
        CU_ASSERT_EQUAL(store_alert_count(s, NULL, "tamper.chain_break"), 2);
        json_object_put(arr);
        store_close(s);
}

static CU_TestInfo config_tests[] = {
        { "every key parses", test_config_parses_every_key },
        { "metrics listener defaults to loopback", test_config_metrics_default_loopback },
        { "errors name the key", test_config_refuses_with_the_path },
        { "listen address forms", test_listen_address_forms },
        CU_TEST_INFO_NULL,
};
static CU_TestInfo ingest_tests[] = {
        { "batch parse limits and reasons", test_batch_parse_limits_and_reasons },
        { "stored text is the canonical form", test_batch_parse_stores_the_canonical_form },
        { "clean, duplicate, unknown, revoked", test_apply_clean_duplicate_and_unknown },
        { "gap, reorder, conflict flagged", test_apply_flags_every_break },
        { "declared drops bridge a gap", test_apply_declared_drops_bridge_the_gap },
        { "hash mismatch flagged once", test_apply_hash_mismatch },
        CU_TEST_INFO_NULL,
};
static CU_TestInfo api_tests[] = {
        { "routing statuses", test_routing_statuses },
        { "events job end to end", test_events_job_end_to_end },
        { "heartbeat from the policy cache", test_heartbeat_answered_from_the_policy_cache },
        { "heartbeats coalesce per terminal, latest wins", test_heartbeats_coalesce_latest_wins },
        { "metrics families", test_metrics_render_families },
        { "metrics: pending gaps, gap alerts by cause", test_metrics_pending_gaps_and_gap_alerts_by_cause },
        CU_TEST_INFO_NULL,
};
static CU_TestInfo ca_tests[] = {
        { "init, CSR rules, issue", test_ca_init_issue_and_csr_rules },
        CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {
        { "collector config", NULL, NULL, NULL, NULL, config_tests },
        { "collector ingest", NULL, NULL, NULL, NULL, ingest_tests },
        { "collector api", NULL, NULL, NULL, NULL, api_tests },
        { "collector ca", NULL, NULL, NULL, NULL, ca_tests },
        CU_SUITE_INFO_NULL,
};

UNIT_MAIN(suites)

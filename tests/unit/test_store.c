/* test_store.c — one suite for the store (collectors/store.h), run against each back end.
 *
 * The "sqlite" suite always runs (a fresh database file per test). The "postgres" suite
 * runs when HOGO_TEST_PG holds a libpq conninfo (tests/run starts a throwaway cluster and
 * sets it): each test gets a schema of its own (PGOPTIONS search_path), dropped at the end.
 * Both suites run the same test functions; only the connection-loss tests are
 * PostgreSQL's alone.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "collectors/ingest.h"
#include "collectors/store.h"
#include "collectors/store_backend.h"
#include "common/digest.h"
#include "common/event.h"
#include "common/util.h"
#include "tests/unit/event_chain_build.h"
#include "tests/unit/unit.h"

static enum store_kind kind;
static char target[1024];
static unsigned pg_schemas; /* hogo_test_<pid>_<n> made so far */

/* --- fixtures --------------------------------------------------------------------------- */

static void ignore_notice(void *ud, const char *message) {}

static PGconn *pg_raw_connect(void)
{
        PGconn *c = PQconnectdb(getenv("HOGO_TEST_PG"));
        PQsetNoticeProcessor(c, ignore_notice, NULL);
        return c;
}

static void pg_raw_exec(const char *sql)
{
        PGconn *c = pg_raw_connect();
        CU_ASSERT_EQUAL_FATAL(PQstatus(c), CONNECTION_OK);
        PGresult *res = PQexec(c, sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
                fprintf(stderr, "raw SQL failed: %s: %s", sql, PQerrorMessage(c));
        CU_ASSERT_TRUE(PQresultStatus(res) == PGRES_COMMAND_OK ||
                       PQresultStatus(res) == PGRES_TUPLES_OK);
        PQclear(res);
        PQfinish(c);
}

static void sqlite_raw_exec(const char *sql)
{
        sqlite3 *db = NULL;
        CU_ASSERT_EQUAL_FATAL(sqlite3_open(target, &db), SQLITE_OK);
        CU_ASSERT_EQUAL(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
}

/* The first column of the first row of sql, read behind the store's back; malloc()ed. */
static char *raw_query_text(const char *sql)
{
        char *out = NULL;
        if (kind == STORE_SQLITE) {
                sqlite3 *db = NULL;
                sqlite3_stmt *st = NULL;
                CU_ASSERT_EQUAL_FATAL(sqlite3_open(target, &db), SQLITE_OK);
                if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
                    sqlite3_step(st) == SQLITE_ROW)
                        out = strdup((const char *)sqlite3_column_text(st, 0));
                sqlite3_finalize(st);
                sqlite3_close(db);
        } else {
                PGconn *c = pg_raw_connect();
                PGresult *res = PQexec(c, sql);
                if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
                        out = strdup(PQgetvalue(res, 0, 0));
                PQclear(res);
                PQfinish(c);
        }
        return out;
}

/* SQL straight into the database the test's store uses, behind the store's back. */
static void raw_exec(const char *sql)
{
        if (kind == STORE_SQLITE)
                sqlite_raw_exec(sql);
        else
                pg_raw_exec(sql);
}

/* A new, empty database for one test; target names it. */
static void fresh_target(void)
{
        if (kind == STORE_SQLITE) {
                snprintf(target, sizeof target, "%s/collector.db", unit_tmpdir());
                return;
        }
        char schema[64], sql[128], options[128];
        snprintf(schema, sizeof schema, "hogo_test_%d_%u", (int)getpid(), ++pg_schemas);
        snprintf(sql, sizeof sql, "CREATE SCHEMA %s", schema);
        pg_raw_exec(sql);
        snprintf(options, sizeof options, "-c search_path=%s", schema);
        setenv("PGOPTIONS", options, 1);
        snprintf(target, sizeof target, "%s", getenv("HOGO_TEST_PG"));
}

static struct store *open_fresh(void)
{
        struct store *s = NULL;
        fresh_target();
        CU_ASSERT_EQUAL_FATAL(store_open(kind, target, &s), 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        return s;
}

static struct store *open_again(void)
{
        struct store *s = NULL;
        CU_ASSERT_EQUAL_FATAL(store_open(kind, target, &s), 0);
        return s;
}

static int suite_init_sqlite(void)
{
        kind = STORE_SQLITE;
        return 0;
}

static int suite_init_postgres(void)
{
        kind = STORE_POSTGRES;
        return getenv("HOGO_TEST_PG") ? 0 : -1;
}

static int suite_clean_postgres(void)
{
        PGconn *c = pg_raw_connect();
        for (unsigned i = 1; i <= pg_schemas; i++) {
                char sql[128];
                snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS hogo_test_%d_%u CASCADE",
                         (int)getpid(), i);
                PQclear(PQexec(c, sql));
        }
        PQfinish(c);
        return 0;
}

static void hash_of(const char *text, char out[static SHA256_HEX_LEN + 1])
{
        sha256_hex(text, strlen(text), out);
}

static struct store_terminal terminal(const char *agent_id, const char *department)
{
        struct store_terminal t = {.enrolled_at = 1700000000};
        snprintf(t.agent_id, sizeof t.agent_id, "%s", agent_id);
        snprintf(t.hostname, sizeof t.hostname, "%s.city.example.lg.jp", agent_id);
        snprintf(t.department, sizeof t.department, "%s", department);
        snprintf(t.cert_serial, sizeof t.cert_serial, "0a1b2c%s", agent_id);
        return t;
}

static int insert_event(struct store *s, const char *agent_id, uint64_t seq)
{
        char hash[SHA256_HEX_LEN + 1], json[256];
        snprintf(json, sizeof json, "{\"agent\":\"%s\",\"seq\":%llu}", agent_id,
                 (unsigned long long)seq);
        hash_of(json, hash);
        return store_event_insert(s, agent_id, seq, "usb.blocked", "warning",
                                  "2026-11-27T10:00:00.000Z", hash, json, 1700000100);
}

/* --- open and migrations ----------------------------------------------------------------- */

static void test_migrations_idempotent(void)
{
        struct store *s = open_fresh();
        CU_ASSERT_EQUAL(store_schema_version(s), STORE_SCHEMA_LATEST);
        struct store_terminal t = terminal("a1", "総務課");
        CU_ASSERT_EQUAL(store_terminal_add(s, &t), 0);

        /* a second connection while the first is open, then a reopen after it closed */
        struct store *s2 = open_again();
        CU_ASSERT_EQUAL(store_schema_version(s2), STORE_SCHEMA_LATEST);
        store_close(s2);
        store_close(s);

        s = open_again();
        CU_ASSERT_EQUAL(store_schema_version(s), STORE_SCHEMA_LATEST);
        struct store_terminal got;
        CU_ASSERT_EQUAL(store_terminal_get(s, "a1", &got), 0);
        CU_ASSERT_STRING_EQUAL(got.department, "総務課");
        store_close(s);
}

struct opener {
        pthread_barrier_t *start;
        int result;
        int version;
};

static void *open_at_once(void *ud)
{
        struct opener *o = ud;
        struct store *s = NULL;
        pthread_barrier_wait(o->start);
        o->result = store_open(kind, target, &s);
        if (o->result >= 0)
                o->version = store_schema_version(s);
        store_close(s);
        return NULL;
}

/* Collectors started together on a new database: one migrates, the others wait and see it. */
static void test_migrations_concurrent(void)
{
        fresh_target();
        pthread_barrier_t start;
        struct opener o[4] = {};
        pthread_t th[4];
        pthread_barrier_init(&start, NULL, 4);
        for (size_t i = 0; i < 4; i++) {
                o[i].start = &start;
                CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, open_at_once, &o[i]), 0);
        }
        for (size_t i = 0; i < 4; i++) {
                pthread_join(th[i], NULL);
                CU_ASSERT_EQUAL(o[i].result, 0);
                CU_ASSERT_EQUAL(o[i].version, STORE_SCHEMA_LATEST);
        }
        pthread_barrier_destroy(&start);
        _cleanup_free_ char *n = raw_query_text("SELECT COUNT(*) FROM schema_version");
        CU_ASSERT_PTR_NOT_NULL_FATAL(n);
        CU_ASSERT_EQUAL(atoi(n), STORE_SCHEMA_LATEST);
}

static char *index_named(const char *name)
{
        char sql[256];
        if (kind == STORE_SQLITE)
                snprintf(sql, sizeof sql,
                         "SELECT name FROM sqlite_master WHERE type = 'index' AND name = '%s'",
                         name);
        else
                snprintf(sql, sizeof sql,
                         "SELECT indexname FROM pg_indexes WHERE indexname = '%s' "
                         "AND schemaname = current_schema()",
                         name);
        return raw_query_text(sql);
}

/* A database left at version 1 by an older collector is brought up to date, keeping data. */
static void test_migration_from_version_1(void)
{
        struct store *s = open_fresh();
        CU_ASSERT_EQUAL(store_alert_insert(s, "a", "tamper.chain_break", "{}", 1), 0);
        store_close(s);
        raw_exec("DROP INDEX alerts_type_created");
        raw_exec("DROP TABLE chain_drops");
        raw_exec("DROP TABLE chain_gaps");
        raw_exec("CREATE INDEX events_agent_ts ON events (agent_id, ts)");
        raw_exec("DELETE FROM schema_version WHERE version > 1");
        char *idx = index_named("alerts_type_created");
        CU_ASSERT_PTR_NULL(idx);
        free(idx);

        s = open_again();
        CU_ASSERT_EQUAL(store_schema_version(s), STORE_SCHEMA_LATEST);
        CU_ASSERT_EQUAL(store_alert_count(s, NULL, "tamper.chain_break"), 1);
        store_close(s);
        idx = index_named("alerts_type_created");
        CU_ASSERT_PTR_NOT_NULL(idx);
        free(idx);
        idx = index_named("events_agent_ts"); /* version 4 dropped it */
        CU_ASSERT_PTR_NULL(idx);
        free(idx);
        _cleanup_free_ char *gaps = raw_query_text("SELECT COUNT(*) FROM chain_gaps");
        CU_ASSERT_STRING_EQUAL(gaps, "0");
        _cleanup_free_ char *n = raw_query_text("SELECT MAX(version) FROM schema_version");
        CU_ASSERT_PTR_NOT_NULL_FATAL(n);
        CU_ASSERT_EQUAL(atoi(n), STORE_SCHEMA_LATEST);
}

static void test_newer_schema_refused(void)
{
        store_close(open_fresh());
        raw_exec("INSERT INTO schema_version (version, description, applied_at) "
                 "VALUES (99, 'from the future', 0)");
        struct store *s = NULL;
        CU_ASSERT_EQUAL(store_open(kind, target, &s), -EPROTONOSUPPORT);
        CU_ASSERT_PTR_NULL(s);
}

static void test_bad_targets(void)
{
        struct store *s = NULL;
        CU_ASSERT_EQUAL(store_open(kind, "", &s), -EINVAL);
        CU_ASSERT_EQUAL(store_open(kind, NULL, &s), -EINVAL);
        CU_ASSERT_EQUAL(store_open((enum store_kind)42, "x", &s), -EINVAL);
        if (kind == STORE_SQLITE) {
                CU_ASSERT_EQUAL(store_open(kind, "/nonexistent-hogo-dir/collector.db", &s),
                                -ENOENT);
                const char *dir = unit_tmpdir();
                char junk[4096];
                memset(junk, 'x', sizeof junk);
                char *path = unit_write_file(dir, "not-a-db", junk, sizeof junk);
                CU_ASSERT_EQUAL(store_open(kind, path, &s), -EBADMSG);
                free(path);
                /* the file that was not a database was left as it was */
                struct stat st;
                char *again = NULL;
                CU_ASSERT(asprintf(&again, "%s/not-a-db", dir) > 0);
                CU_ASSERT_EQUAL(stat(again, &st), 0);
                CU_ASSERT_EQUAL(st.st_size, (off_t)sizeof junk);
                free(again);
        } else {
                CU_ASSERT_EQUAL(store_open(kind, "host=/nonexistent-hogo-dir dbname=hogo", &s),
                                -ECONNREFUSED);
                CU_ASSERT_EQUAL(store_open(kind, "host = = =", &s), -EINVAL);
                CU_ASSERT_EQUAL(store_open(kind, "postgresql://[broken", &s), -EINVAL);
        }
        CU_ASSERT_PTR_NULL(s);
}

/* --- terminals --------------------------------------------------------------------------- */

static void test_terminal_add_get(void)
{
        struct store *s = open_fresh();
        struct store_terminal t = terminal("agent-1", "情報政策課"), got;

        CU_ASSERT_EQUAL(store_terminal_get(s, "agent-1", &got), -ENOENT);
        CU_ASSERT_EQUAL(store_terminal_add(s, &t), 0);
        CU_ASSERT_EQUAL(store_terminal_add(s, &t), -EEXIST);
        CU_ASSERT_EQUAL(store_terminal_get(s, "agent-1", &got), 0);
        CU_ASSERT_STRING_EQUAL(got.agent_id, "agent-1");
        CU_ASSERT_STRING_EQUAL(got.hostname, "agent-1.city.example.lg.jp");
        CU_ASSERT_STRING_EQUAL(got.department, "情報政策課");
        CU_ASSERT_STRING_EQUAL(got.cert_serial, "0a1b2cagent-1");
        CU_ASSERT_STRING_EQUAL(got.last_hash, EVENT_GENESIS_HASH);
        CU_ASSERT_EQUAL(got.last_seq, 0);
        CU_ASSERT_EQUAL(got.enrolled_at, 1700000000);
        CU_ASSERT_FALSE(got.revoked);
        CU_ASSERT_EQUAL(got.revoked_at, 0);

        struct store_terminal bad = terminal("", "x");
        CU_ASSERT_EQUAL(store_terminal_add(s, &bad), -EINVAL);
        bad = terminal("agent-2", "x");
        snprintf(bad.last_hash, sizeof bad.last_hash, "NOT-HEX");
        CU_ASSERT_EQUAL(store_terminal_add(s, &bad), -EINVAL);
        CU_ASSERT_EQUAL(store_terminal_get(s, "agent-2", &got), -ENOENT);
        store_close(s);
}

static void test_terminal_chain_and_seen(void)
{
        struct store *s = open_fresh();
        struct store_terminal t = terminal("agent-1", "総務課"), got;
        char h[SHA256_HEX_LEN + 1];
        hash_of("event 7", h);

        CU_ASSERT_EQUAL(store_terminal_add(s, &t), 0);
        CU_ASSERT_EQUAL(store_terminal_set_chain(s, "agent-1", 7, h), 0);
        CU_ASSERT_EQUAL(store_terminal_seen(s, "agent-1", 1700000500, "2026-11-01.3"), 0);
        CU_ASSERT_EQUAL(store_terminal_get(s, "agent-1", &got), 0);
        CU_ASSERT_EQUAL(got.last_seq, 7);
        CU_ASSERT_STRING_EQUAL(got.last_hash, h);
        CU_ASSERT_EQUAL(got.last_seen, 1700000500);
        CU_ASSERT_STRING_EQUAL(got.policy_version, "2026-11-01.3");

        /* no version reported: the stored one stays */
        CU_ASSERT_EQUAL(store_terminal_seen(s, "agent-1", 1700000600, NULL), 0);
        CU_ASSERT_EQUAL(store_terminal_get(s, "agent-1", &got), 0);
        CU_ASSERT_EQUAL(got.last_seen, 1700000600);
        CU_ASSERT_STRING_EQUAL(got.policy_version, "2026-11-01.3");

        CU_ASSERT_EQUAL(store_terminal_set_chain(s, "nobody", 1, h), -ENOENT);
        CU_ASSERT_EQUAL(store_terminal_seen(s, "nobody", 1, NULL), -ENOENT);
        CU_ASSERT_EQUAL(store_terminal_set_chain(s, "agent-1", 8, "short"), -EINVAL);
        store_close(s);
}

struct locker {
        uint64_t seen_seq;
        int result;
        atomic_bool done;
};

/* A second collector: takes the terminal's row, advances the chain by one, commits. */
static void *second_collector(void *ud)
{
        struct locker *l = ud;
        struct store *s = NULL;
        struct store_terminal t = { 0 };
        char h[SHA256_HEX_LEN + 1];
        hash_of("second", h);

        l->result = store_open(kind, target, &s);
        if (l->result >= 0)
                l->result = store_begin(s);
        if (l->result >= 0)
                l->result = store_terminal_get_locked(s, "agent-1", &t);
        if (l->result >= 0) {
                l->seen_seq = t.last_seq;
                l->result = store_terminal_set_chain(s, "agent-1", t.last_seq + 1, h);
        }
        if (l->result >= 0)
                l->result = store_commit(s);
        store_close(s);
        atomic_store(&l->done, true);
        return NULL;
}

static void sleep_ms(long ms)
{
        nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L}, NULL);
}

static void test_terminal_locked(void)
{
        struct store *s = open_fresh();
        struct store_terminal t = terminal("agent-1", "総務課"), got;
        char h[SHA256_HEX_LEN + 1];
        hash_of("first", h);
        CU_ASSERT_EQUAL(store_terminal_add(s, &t), 0);

        CU_ASSERT_EQUAL(store_terminal_get_locked(s, "agent-1", &got), -EINVAL); /* no tx */

        CU_ASSERT_EQUAL_FATAL(store_begin(s), 0);
        CU_ASSERT_EQUAL(store_terminal_get_locked(s, "nobody", &got), -ENOENT);
        CU_ASSERT_EQUAL_FATAL(store_terminal_get_locked(s, "agent-1", &got), 0);
        CU_ASSERT_EQUAL(got.last_seq, 0);

        /* the other collector must wait for our commit, then see our seq */
        struct locker l = {};
        pthread_t th;
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, second_collector, &l), 0);
        sleep_ms(400);
        CU_ASSERT_FALSE(atomic_load(&l.done));
        CU_ASSERT_EQUAL(store_terminal_set_chain(s, "agent-1", 5, h), 0);
        CU_ASSERT_EQUAL(store_commit(s), 0);
        pthread_join(th, NULL);

        CU_ASSERT_EQUAL(l.result, 0);
        CU_ASSERT_EQUAL(l.seen_seq, 5);
        CU_ASSERT_EQUAL(store_terminal_get(s, "agent-1", &got), 0);
        CU_ASSERT_EQUAL(got.last_seq, 6);
        store_close(s);
}

struct collected {
        char ids[8][64];
        size_t n;
};

static int collect_id(const char *agent_id, void *ud)
{
        struct collected *c = ud;
        if (c->n == ELEMENTSOF(c->ids))
                return -ENOBUFS;
        snprintf(c->ids[c->n++], sizeof c->ids[0], "%s", agent_id);
        return 0;
}

static int refuse_id(const char *agent_id, void *ud)
{
        return -ECANCELED;
}

static void test_terminal_revoke_and_foreach(void)
{
        struct store *s = open_fresh();
        const char *ids[] = {"c-3", "a-1", "b-2", "d-4"};
        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                struct store_terminal t = terminal(ids[i], "税務課");
                CU_ASSERT_EQUAL(store_terminal_add(s, &t), 0);
        }

        struct collected c = {};
        CU_ASSERT_EQUAL(store_revoked_foreach(s, collect_id, &c), 0);
        CU_ASSERT_EQUAL(c.n, 0);

        CU_ASSERT_EQUAL(store_terminal_revoke(s, "c-3", 1700001000), 0);
        CU_ASSERT_EQUAL(store_terminal_revoke(s, "a-1", 1700002000), 0);
        CU_ASSERT_EQUAL(store_terminal_revoke(s, "c-3", 1700009999),
                        0); /* again: first time kept */
        CU_ASSERT_EQUAL(store_terminal_revoke(s, "nobody", 1700001000), -ENOENT);

        struct store_terminal got;
        CU_ASSERT_EQUAL(store_terminal_get(s, "c-3", &got), 0);
        CU_ASSERT_TRUE(got.revoked);
        CU_ASSERT_EQUAL(got.revoked_at, 1700001000);
        CU_ASSERT_EQUAL(store_terminal_get(s, "b-2", &got), 0);
        CU_ASSERT_FALSE(got.revoked);

        CU_ASSERT_EQUAL(store_revoked_foreach(s, collect_id, &c), 0);
        CU_ASSERT_EQUAL_FATAL(c.n, 2);
        CU_ASSERT_STRING_EQUAL(c.ids[0], "a-1");
        CU_ASSERT_STRING_EQUAL(c.ids[1], "c-3");
        CU_ASSERT_EQUAL(store_revoked_foreach(s, refuse_id, NULL), -ECANCELED);
        store_close(s);
}

/* --- events, alerts, posture -------------------------------------------------------------- */

static void test_events_unique_and_hash(void)
{
        struct store *s = open_fresh();
        char h[SHA256_HEX_LEN + 1], first[SHA256_HEX_LEN + 1];

        CU_ASSERT_EQUAL(insert_event(s, "a", 1), 0);
        CU_ASSERT_EQUAL(insert_event(s, "a", 2), 0);
        CU_ASSERT_EQUAL(insert_event(s, "b", 1), 0);
        CU_ASSERT_EQUAL(store_event_hash(s, "a", 1, first), 0);

        /* the same (agent, seq) with other content: refused, the first one kept */
        hash_of("forged", h);
        CU_ASSERT_EQUAL(store_event_insert(s, "a", 1, "usb.allowed", "info",
                                           "2026-11-27T10:00:01.000Z", h, "{\"forged\":1}", 1),
                        -EEXIST);
        char now[SHA256_HEX_LEN + 1];
        CU_ASSERT_EQUAL(store_event_hash(s, "a", 1, now), 0);
        CU_ASSERT_STRING_EQUAL(now, first);
        CU_ASSERT_STRING_NOT_EQUAL(now, h);

        CU_ASSERT_EQUAL(store_event_hash(s, "a", 3, now), -ENOENT);
        CU_ASSERT_EQUAL(store_event_hash(s, "nobody", 1, now), -ENOENT);
        CU_ASSERT_EQUAL(store_event_count(s, "a"), 2);
        CU_ASSERT_EQUAL(store_event_count(s, "b"), 1);
        CU_ASSERT_EQUAL(store_event_count(s, "nobody"), 0);
        CU_ASSERT_EQUAL(store_event_count(s, NULL), 3);

        CU_ASSERT_EQUAL(insert_event(s, "a", 0), -EINVAL);
        CU_ASSERT_EQUAL(insert_event(s, "a", (uint64_t)INT64_MAX + 1), -EINVAL);
        CU_ASSERT_EQUAL(
            store_event_insert(s, "a", 9, "usb.blocked", "info", "t", "nothex", "{}", 1), -EINVAL);
        CU_ASSERT_EQUAL(store_event_count(s, NULL), 3);
        store_close(s);
}

static void test_event_duplicate_inside_transaction(void)
{
        struct store *s = open_fresh();
        CU_ASSERT_EQUAL_FATAL(store_begin(s), 0);
        CU_ASSERT_EQUAL(insert_event(s, "a", 1), 0);
        CU_ASSERT_EQUAL(insert_event(s, "a", 1), -EEXIST);
        /* a re-sent event does not spoil the batch: the transaction goes on */
        CU_ASSERT_EQUAL(insert_event(s, "a", 2), 0);
        CU_ASSERT_EQUAL(store_commit(s), 0);
        CU_ASSERT_EQUAL(store_event_count(s, "a"), 2);
        store_close(s);
}

static void test_event_batch(void)
{
        struct store *s = open_fresh();
        static const char tricky[] =
            "{\"details\":{\"path\":\"C:\\\\個人番号\\\\名簿 {1},\\\"x\\\".csv\"},\"seq\":1}";
        const char *jsons[] = {tricky, "{\"seq\":2}", "{\"seq\":3}", "{\"seq\":4}",
                               "{\"seq\":4,\"forged\":true}"};
        const uint64_t seqs[] = {1, 2, 3, 4, 4};
        char hashes[5][SHA256_HEX_LEN + 1];
        struct store_event batch[5];
        for (size_t i = 0; i < 5; i++) {
                hash_of(jsons[i], hashes[i]);
                batch[i] = (struct store_event){.seq = seqs[i],
                                                .type = "files.bulk_warning",
                                                .severity = "warning",
                                                .ts = "2026-11-27T10:00:00.000Z",
                                                .hash = hashes[i],
                                                .event_json = jsons[i]};
        }
        CU_ASSERT_EQUAL(store_event_insert_batch(s, "a", batch, 0, 1, NULL), 0);

        /* seq 2 is stored already; seq 4 comes twice: the first one counts */
        CU_ASSERT_EQUAL(insert_event(s, "a", 2), 0);
        bool inserted[5];
        memset(inserted, 0x55, sizeof inserted);
        CU_ASSERT_EQUAL(store_event_insert_batch(s, "a", batch, 5, 1700000000, inserted), 3);
        CU_ASSERT_TRUE(inserted[0]);
        CU_ASSERT_FALSE(inserted[1]);
        CU_ASSERT_TRUE(inserted[2]);
        CU_ASSERT_TRUE(inserted[3]);
        CU_ASSERT_FALSE(inserted[4]);
        CU_ASSERT_EQUAL(store_event_count(s, "a"), 4);
        char h[SHA256_HEX_LEN + 1];
        CU_ASSERT_EQUAL(store_event_hash(s, "a", 4, h), 0);
        CU_ASSERT_STRING_EQUAL(h, hashes[3]);

        /* stored byte for byte, quotes, backslashes and all */
        _cleanup_free_ char *stored = raw_query_text("SELECT event FROM events WHERE seq = 1");
        CU_ASSERT_PTR_NOT_NULL_FATAL(stored);
        CU_ASSERT_STRING_EQUAL(stored, tricky);

        /* again: all there already */
        CU_ASSERT_EQUAL(store_event_insert_batch(s, "a", batch, 5, 1700000000, NULL), 0);

        /* one malformed event: nothing of the batch is stored */
        struct store_event more[2] = {batch[0], batch[0]};
        more[0].seq = 10;
        more[1].seq = 11;
        more[1].hash = "not a hash";
        CU_ASSERT_EQUAL(store_event_insert_batch(s, "a", more, 2, 1, NULL), -EINVAL);
        CU_ASSERT_EQUAL(store_event_count(s, "a"), 4);

        /* inside a transaction it is part of it */
        more[1] = more[0];
        more[1].seq = 11;
        CU_ASSERT_EQUAL_FATAL(store_begin(s), 0);
        CU_ASSERT_EQUAL(store_event_insert_batch(s, "a", more, 2, 1, NULL), 2);
        CU_ASSERT_EQUAL(store_event_count(s, "a"), 6);
        CU_ASSERT_EQUAL(store_rollback(s), 0);
        CU_ASSERT_EQUAL(store_event_count(s, "a"), 4);
        store_close(s);
}

static void test_alerts(void)
{
        struct store *s = open_fresh();
        CU_ASSERT_EQUAL(store_alert_count(s, NULL, NULL), 0);
        CU_ASSERT_EQUAL(store_alert_insert(s, "a", "tamper.chain_break",
                                           "{\"expected_seq\":5,\"got_seq\":7}", 1700000000),
                        0);
        CU_ASSERT_EQUAL(store_alert_insert(s, "a", "tamper.chain_break", NULL, 1700000001), 0);
        CU_ASSERT_EQUAL(store_alert_insert(s, "a", "posture.stale", "{}", 1700000002), 0);
        CU_ASSERT_EQUAL(store_alert_insert(s, "b", "tamper.chain_break", "{}", 1700000003), 0);
        CU_ASSERT_EQUAL(store_alert_count(s, "a", "tamper.chain_break"), 2);
        CU_ASSERT_EQUAL(store_alert_count(s, "a", NULL), 3);
        CU_ASSERT_EQUAL(store_alert_count(s, NULL, "tamper.chain_break"), 3);
        CU_ASSERT_EQUAL(store_alert_count(s, NULL, NULL), 4);
        CU_ASSERT_EQUAL(store_alert_count(s, "c", NULL), 0);
        CU_ASSERT_EQUAL(store_alert_insert(s, "", "x", "{}", 1), -EINVAL);
        store_close(s);
}

static void test_posture_latest_and_history(void)
{
        struct store *s = open_fresh();
        char *p = NULL;
        int64_t at = 0;

        CU_ASSERT_EQUAL(store_posture_get(s, "a", &p, &at), -ENOENT);
        CU_ASSERT_EQUAL(store_posture_put(s, "a", "{\"usb\":\"pass\"}", 1700000000), 0);
        CU_ASSERT_EQUAL(store_posture_put(s, "a", "{\"usb\":\"fail\"}", 1700000060), 0);
        CU_ASSERT_EQUAL(store_posture_put(s, "b", "{\"usb\":\"pass\"}", 1700000070), 0);

        CU_ASSERT_EQUAL_FATAL(store_posture_get(s, "a", &p, &at), 0);
        CU_ASSERT_STRING_EQUAL(p, "{\"usb\":\"fail\"}");
        CU_ASSERT_EQUAL(at, 1700000060);
        free(p);
        CU_ASSERT_EQUAL(store_posture_history_count(s, "a"), 2);
        CU_ASSERT_EQUAL(store_posture_history_count(s, "b"), 1);
        CU_ASSERT_EQUAL(store_posture_history_count(s, "c"), 0);
        CU_ASSERT_EQUAL(store_posture_put(s, "a", "", 1), -EINVAL);
        store_close(s);
}

/* --- tokens ----------------------------------------------------------------------------------- */

static void test_tokens(void)
{
        struct store *s = open_fresh();
        char h_once[SHA256_HEX_LEN + 1], h_multi[SHA256_HEX_LEN + 1], h_old[SHA256_HEX_LEN + 1],
            h_unknown[SHA256_HEX_LEN + 1], dept[256];
        hash_of("once", h_once);
        hash_of("multi", h_multi);
        hash_of("old", h_old);
        hash_of("unknown", h_unknown);
        const int64_t now = 1700000000;

        CU_ASSERT_EQUAL(store_token_add(s, h_once, "総務課", 1, now + 3600, now), 0);
        CU_ASSERT_EQUAL(store_token_add(s, h_once, "総務課", 1, now + 3600, now), -EEXIST);
        CU_ASSERT_EQUAL(store_token_add(s, h_multi, "税務課", 3, now + 3600, now), 0);
        CU_ASSERT_EQUAL(store_token_add(s, h_old, "税務課", 5, now + 10, now), 0);
        CU_ASSERT_EQUAL(store_token_add(s, h_unknown, "税務課", 0, now + 10, now), -EINVAL);
        CU_ASSERT_EQUAL(store_token_add(s, "secret-in-clear", "税務課", 1, now + 10, now), -EINVAL);
        CU_ASSERT_EQUAL(store_token_add(s, h_unknown, "", 1, now + 10, now), -EINVAL);

        CU_ASSERT_EQUAL(store_token_use(s, h_unknown, now, dept), -ENOENT);
        CU_ASSERT_EQUAL(store_token_use(s, "not a hash", now, dept), -ENOENT);

        CU_ASSERT_EQUAL(store_token_use(s, h_once, now + 1, dept), 0);
        CU_ASSERT_STRING_EQUAL(dept, "総務課");
        CU_ASSERT_EQUAL(store_token_use(s, h_once, now + 2, dept), -EUSERS);

        for (int i = 0; i < 3; i++) {
                memset(dept, 0, sizeof dept);
                CU_ASSERT_EQUAL(store_token_use(s, h_multi, now + 1, dept), 0);
                CU_ASSERT_STRING_EQUAL(dept, "税務課");
        }
        CU_ASSERT_EQUAL(store_token_use(s, h_multi, now + 1, dept), -EUSERS);

        /* expiry is exact to the second, and an expired token says so even with uses left */
        CU_ASSERT_EQUAL(store_token_use(s, h_old, now + 10, dept), -EKEYEXPIRED);
        CU_ASSERT_EQUAL(store_token_use(s, h_old, now + 9, dept), 0);
        CU_ASSERT_EQUAL(store_token_use(s, h_old, now + 11, dept), -EKEYEXPIRED);
        store_close(s);
}

struct token_racer {
        const char *hash;
        pthread_barrier_t *start;
        int result;
        atomic_bool done;
};

static void *race_for_token(void *ud)
{
        struct token_racer *r = ud;
        struct store *s = NULL;
        char dept[256];
        r->result = store_open(kind, target, &s);
        if (r->start)
                pthread_barrier_wait(r->start);
        if (r->result >= 0)
                r->result = store_token_use(s, r->hash, 1700000001, dept);
        store_close(s);
        atomic_store(&r->done, true);
        return NULL;
}

static void test_token_last_use_concurrent(void)
{
        struct store *s = open_fresh();
        char h[SHA256_HEX_LEN + 1], dept[256];
        hash_of("last use", h);
        CU_ASSERT_EQUAL(store_token_add(s, h, "総務課", 2, 1700003600, 1700000000), 0);
        CU_ASSERT_EQUAL(store_token_use(s, h, 1700000001, dept), 0);

        /* We hold the last use in an open transaction: the other collector waits for it. */
        CU_ASSERT_EQUAL_FATAL(store_begin(s), 0);
        CU_ASSERT_EQUAL(store_token_use(s, h, 1700000001, dept), 0);
        struct token_racer other = {.hash = h};
        pthread_t th;
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, race_for_token, &other), 0);
        sleep_ms(400);
        CU_ASSERT_FALSE(atomic_load(&other.done));
        CU_ASSERT_EQUAL(store_commit(s), 0);
        pthread_join(th, NULL);
        CU_ASSERT_EQUAL(other.result, -EUSERS);

        /* Rolled back, the use is not spent: the waiting collector gets it. */
        char h2[SHA256_HEX_LEN + 1];
        hash_of("rolled back", h2);
        CU_ASSERT_EQUAL(store_token_add(s, h2, "総務課", 1, 1700003600, 1700000000), 0);
        CU_ASSERT_EQUAL_FATAL(store_begin(s), 0);
        CU_ASSERT_EQUAL(store_token_use(s, h2, 1700000001, dept), 0);
        struct token_racer waiter = {.hash = h2};
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, race_for_token, &waiter), 0);
        sleep_ms(200);
        CU_ASSERT_EQUAL(store_rollback(s), 0);
        pthread_join(th, NULL);
        CU_ASSERT_EQUAL(waiter.result, 0);

        /* Free-running: two connections at once for a one-use token, many times over. */
        for (int round = 0; round < 10; round++) {
                char hr[SHA256_HEX_LEN + 1], seed[32];
                snprintf(seed, sizeof seed, "round %d", round);
                hash_of(seed, hr);
                CU_ASSERT_EQUAL(store_token_add(s, hr, "総務課", 1, 1700003600, 1700000000), 0);
                pthread_barrier_t start;
                pthread_barrier_init(&start, NULL, 2);
                struct token_racer a = {.hash = hr, .start = &start},
                                   b = {.hash = hr, .start = &start};
                pthread_t ta, tb;
                CU_ASSERT_EQUAL_FATAL(pthread_create(&ta, NULL, race_for_token, &a), 0);
                CU_ASSERT_EQUAL_FATAL(pthread_create(&tb, NULL, race_for_token, &b), 0);
                pthread_join(ta, NULL);
                pthread_join(tb, NULL);
                pthread_barrier_destroy(&start);
                CU_ASSERT_TRUE((a.result == 0 && b.result == -EUSERS) ||
                               (a.result == -EUSERS && b.result == 0));
        }
        store_close(s);
}

/* --- policies -----------------------------------------------------------------------------------
 */

static void expect_policy(struct store *s, const char *department, const char *version,
                          const char *envelope)
{
        _cleanup_free_ char *v = NULL, *e = NULL;
        CU_ASSERT_EQUAL_FATAL(store_policy_get(s, department, &v, &e), 0);
        CU_ASSERT_STRING_EQUAL(v, version);
        CU_ASSERT_STRING_EQUAL(e, envelope);
}

static void test_policies_default_fallback(void)
{
        struct store *s = open_fresh();
        char *v = NULL, *e = NULL;

        CU_ASSERT_EQUAL(store_policy_get(s, "総務課", &v, &e), -ENOENT);
        CU_ASSERT_EQUAL(store_policy_get(s, "", &v, &e), -ENOENT);
        CU_ASSERT_PTR_NULL(v);

        CU_ASSERT_EQUAL(store_policy_put(s, "", "d1", "{\"default\":1}", 1700000000), 0);
        expect_policy(s, "総務課", "d1", "{\"default\":1}");
        expect_policy(s, "", "d1", "{\"default\":1}");

        CU_ASSERT_EQUAL(store_policy_put(s, "総務課", "s1", "{\"soumu\":1}", 1700000010), 0);
        CU_ASSERT_EQUAL(store_policy_put(s, "総務課", "s2", "{\"soumu\":2}", 1700000010), 0);
        expect_policy(s, "総務課", "s2", "{\"soumu\":2}");
        expect_policy(s, "税務課", "d1", "{\"default\":1}");

        CU_ASSERT_EQUAL(store_policy_put(s, "", "d2", "{\"default\":2}", 1700000020), 0);
        expect_policy(s, "税務課", "d2", "{\"default\":2}");
        expect_policy(s, "総務課", "s2", "{\"soumu\":2}");

        CU_ASSERT_EQUAL(store_policy_put(s, "総務課", "s1", "{\"again\":1}", 1700000030), -EEXIST);
        expect_policy(s, "総務課", "s2", "{\"soumu\":2}");
        CU_ASSERT_EQUAL(store_policy_put(s, "総務課", "", "{}", 1), -EINVAL);
        store_close(s);
}

/* --- transactions
 * ------------------------------------------------------------------------------------ */

static void test_transaction_rollback_leaves_nothing(void)
{
        struct store *s = open_fresh();
        struct store_terminal t = terminal("a", "総務課"), got;
        char h[SHA256_HEX_LEN + 1], dept[256], *p = NULL, *v = NULL;
        hash_of("token", h);

        CU_ASSERT_EQUAL(store_commit(s), -EINVAL);
        CU_ASSERT_EQUAL(store_rollback(s), 0); /* nothing open: nothing to do */
        CU_ASSERT_EQUAL_FATAL(store_begin(s), 0);
        CU_ASSERT_EQUAL(store_begin(s), -EINPROGRESS);
        CU_ASSERT_EQUAL(store_terminal_add(s, &t), 0);
        CU_ASSERT_EQUAL(insert_event(s, "a", 1), 0);
        CU_ASSERT_EQUAL(insert_event(s, "a", 2), 0);
        CU_ASSERT_EQUAL(store_terminal_set_chain(s, "a", 2, h), 0);
        CU_ASSERT_EQUAL(store_alert_insert(s, "a", "tamper.chain_break", "{}", 1), 0);
        CU_ASSERT_EQUAL(store_posture_put(s, "a", "{}", 1), 0);
        CU_ASSERT_EQUAL(store_token_add(s, h, "総務課", 1, 1700003600, 1700000000), 0);
        CU_ASSERT_EQUAL(store_policy_put(s, "", "d1", "{}", 1), 0);
        CU_ASSERT_EQUAL(store_terminal_revoke(s, "a", 5), 0);
        CU_ASSERT_EQUAL(store_event_count(s, "a"), 2); /* visible inside */
        CU_ASSERT_EQUAL(store_rollback(s), 0);

        CU_ASSERT_EQUAL(store_terminal_get(s, "a", &got), -ENOENT);
        CU_ASSERT_EQUAL(store_event_count(s, NULL), 0);
        CU_ASSERT_EQUAL(store_alert_count(s, NULL, NULL), 0);
        CU_ASSERT_EQUAL(store_posture_get(s, "a", &p, NULL), -ENOENT);
        CU_ASSERT_EQUAL(store_posture_history_count(s, "a"), 0);
        CU_ASSERT_EQUAL(store_token_use(s, h, 1700000001, dept), -ENOENT);
        CU_ASSERT_EQUAL(store_policy_get(s, "", &v, &p), -ENOENT);
        struct collected c = {};
        CU_ASSERT_EQUAL(store_revoked_foreach(s, collect_id, &c), 0);
        CU_ASSERT_EQUAL(c.n, 0);

        /* and a committed one is all there, seen from another connection */
        CU_ASSERT_EQUAL_FATAL(store_begin(s), 0);
        CU_ASSERT_EQUAL(store_terminal_add(s, &t), 0);
        CU_ASSERT_EQUAL(insert_event(s, "a", 1), 0);
        CU_ASSERT_EQUAL(store_commit(s), 0);
        struct store *s2 = open_again();
        CU_ASSERT_EQUAL(store_event_count(s2, "a"), 1);
        CU_ASSERT_EQUAL(store_terminal_get(s2, "a", &got), 0);
        store_close(s2);
        store_close(s);
}

/* A collector killed (-9) in the middle of a batch: what it committed is there, the rest is
 * not, and the terminal's row is not left locked. */
static void test_killed_writer(void)
{
        struct store *s = open_fresh();
        struct store_terminal t = terminal("a", "総務課"), got;
        CU_ASSERT_EQUAL_FATAL(store_terminal_add(s, &t), 0);
        store_close(s);

        pid_t pid = fork();
        CU_ASSERT_FATAL(pid >= 0);
        if (pid == 0) {
                struct store *c = NULL;
                char h[SHA256_HEX_LEN + 1];
                hash_of("committed", h);
                if (store_open(kind, target, &c) < 0 || store_begin(c) < 0)
                        _exit(2);
                for (uint64_t seq = 1; seq <= 100; seq++)
                        if (insert_event(c, "a", seq) < 0)
                                _exit(3);
                if (store_terminal_set_chain(c, "a", 100, h) < 0 || store_commit(c) < 0 ||
                    store_begin(c) < 0 || store_terminal_get_locked(c, "a", &got) < 0)
                        _exit(4);
                for (uint64_t seq = 101; seq <= 200; seq++)
                        if (insert_event(c, "a", seq) < 0)
                                _exit(5);
                raise(SIGKILL);
                _exit(6);
        }
        int status = 0;
        CU_ASSERT_EQUAL_FATAL(waitpid(pid, &status, 0), pid);
        CU_ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        s = open_again();
        CU_ASSERT_EQUAL(store_event_count(s, "a"), 100);
        char h[SHA256_HEX_LEN + 1];
        CU_ASSERT_EQUAL(store_event_hash(s, "a", 101, h), -ENOENT);
        CU_ASSERT_EQUAL_FATAL(store_begin(s), 0);
        CU_ASSERT_EQUAL(store_terminal_get_locked(s, "a", &got), 0);
        CU_ASSERT_EQUAL(got.last_seq, 100);
        CU_ASSERT_EQUAL(insert_event(s, "a", 101), 0);
        CU_ASSERT_EQUAL(store_commit(s), 0);
        CU_ASSERT_EQUAL(store_event_count(s, "a"), 101);
        store_close(s);
}

/* --- PostgreSQL: losing the connection
 * ------------------------------------------------------------- */

static char app_name[64];

static struct store *open_named(void)
{
        snprintf(app_name, sizeof app_name, "hogo-test-%d-%u", (int)getpid(), pg_schemas + 1);
        setenv("PGAPPNAME", app_name, 1);
        struct store *s = open_fresh();
        unsetenv("PGAPPNAME");
        return s;
}

static void kill_store_connection(void)
{
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 "WHERE application_name = '%s'",
                 app_name);
        pg_raw_exec(sql);
        sleep_ms(100);
}

static void test_pg_reconnects_after_loss(void)
{
        struct store *s = open_named();
        CU_ASSERT_EQUAL(insert_event(s, "a", 1), 0);
        kill_store_connection();
        CU_ASSERT_EQUAL(store_event_count(s, "a"), -ECONNRESET);
        /* the next call reconnects and prepares its statements again */
        CU_ASSERT_EQUAL(store_event_count(s, "a"), 1);
        CU_ASSERT_EQUAL(insert_event(s, "a", 2), 0);
        CU_ASSERT_EQUAL(store_event_count(s, "a"), 2);
        store_close(s);
}

static void test_pg_loss_inside_transaction_stores_nothing(void)
{
        struct store *s = open_named();
        CU_ASSERT_EQUAL_FATAL(store_begin(s), 0);
        CU_ASSERT_EQUAL(insert_event(s, "a", 1), 0);
        kill_store_connection();
        CU_ASSERT_EQUAL(insert_event(s, "a", 2), -ECONNRESET);
        /* no reconnect into autocommit half-way through the batch */
        CU_ASSERT_EQUAL(insert_event(s, "a", 3), -ECONNRESET);
        CU_ASSERT_EQUAL(store_commit(s), -ECONNRESET);
        CU_ASSERT_EQUAL(store_rollback(s), 0); /* what a caller does after a failed commit */
        CU_ASSERT_EQUAL(store_event_count(s, "a"), 0);

        /* the same, ended with a rollback */
        CU_ASSERT_EQUAL_FATAL(store_begin(s), 0);
        CU_ASSERT_EQUAL(insert_event(s, "a", 1), 0);
        kill_store_connection();
        CU_ASSERT_EQUAL(insert_event(s, "a", 2), -ECONNRESET);
        CU_ASSERT_EQUAL(store_rollback(s), 0);
        CU_ASSERT_EQUAL(store_event_count(s, "a"), 0);
        CU_ASSERT_EQUAL(insert_event(s, "a", 1), 0);
        CU_ASSERT_EQUAL(store_event_count(s, "a"), 1);
        store_close(s);
}

/* --- chain gaps and their declarations (collectors/ingest.h over this back end) ---------- */

/* Parses arr as one POST /v1/events body (takes arr) and applies it for agent_id at now in
 * one transaction, as the writer does. */
static struct ingest_result ingest(struct store *s, const char *agent_id, json_object *arr,
                                   int64_t now)
{
        _cleanup_free_ char *text = chain_batch_text(arr);
        struct ingest_batch *b = NULL;
        enum reject_reason reason;
        int64_t bad;
        char err[256];
        CU_ASSERT_EQUAL_FATAL(ingest_batch_parse(text, strlen(text), 1000, &b, &reason, &bad, err,
                                                 sizeof err), 0);
        struct ingest_result res = {};
        CU_ASSERT_EQUAL_FATAL(store_begin(s), 0);
        CU_ASSERT_EQUAL(ingest_batch_apply(s, agent_id, b, now, &res), 0);
        CU_ASSERT_EQUAL(store_commit(s), 0);
        ingest_batch_free(b);
        return res;
}

static unsigned expire_gaps(struct store *s, int64_t now)
{
        unsigned alerted = 99;
        CU_ASSERT_EQUAL_FATAL(store_begin(s), 0);
        CU_ASSERT_EQUAL(ingest_gaps_expire(s, now, INGEST_GAP_DECLARATION_WAIT_SECONDS, &alerted),
                        0);
        CU_ASSERT_EQUAL(store_commit(s), 0);
        return alerted;
}

static struct store *open_with_terminal(const char *agent_id)
{
        struct store *s = open_fresh();
        struct store_terminal t = terminal(agent_id, "総務課");
        CU_ASSERT_EQUAL_FATAL(store_terminal_add(s, &t), 0);
        return s;
}

static int64_t pending_gaps(struct store *s)
{
        _cleanup_free_ struct store_chain_gap *gaps = NULL;
        size_t n = 0;
        CU_ASSERT_EQUAL_FATAL(store_chain_gaps_get(s, NULL, INT64_MAX, &gaps, &n), 0);
        return (int64_t)n;
}

/* With a backlog the agent's declaration of spool drops comes in a later batch than the
 * gap it explains: no alert, then or later. */
static void test_gap_declared_in_a_later_batch(void)
{
        struct store *s = open_with_terminal("a");
        json_object *arr = chain_build(8, 1, EVENT_GENESIS_HASH, "files.read");
        /* 3..5 dropped by the spool; batch 1 = 1 2 6 7, batch 2 = 8 and the declaration */
        struct ingest_result r1 = ingest(s, "a", chain_pick(arr, (size_t[]){ 0, 1, 5, 6 }, 4), 1000);
        CU_ASSERT_EQUAL(r1.acked_seq, 7);
        CU_ASSERT_EQUAL(r1.gaps_pending, 1);
        CU_ASSERT_EQUAL(r1.breaks[CHAIN_BREAK_GAP], 0);
        CU_ASSERT_EQUAL(store_alert_count(s, "a", NULL), 0);
        CU_ASSERT_EQUAL(pending_gaps(s), 1);

        struct chain_drop d = chain_drop_of(arr, 2, 4);
        json_object *b2 = chain_pick(arr, (size_t[]){ 7 }, 1);
        json_object_array_add(b2, chain_overflow_event(9, chain_member(arr, 7, "hash"), &d, 1));
        struct ingest_result r2 = ingest(s, "a", b2, 1010);
        CU_ASSERT_EQUAL(r2.acked_seq, 9);
        CU_ASSERT_EQUAL(r2.gaps_resolved, 1);
        CU_ASSERT_EQUAL(pending_gaps(s), 0);
        /* the wait passing raises nothing: the gap was explained */
        CU_ASSERT_EQUAL(expire_gaps(s, 1000 + INGEST_GAP_DECLARATION_WAIT_SECONDS), 0);
        CU_ASSERT_EQUAL(store_alert_count(s, "a", NULL), 0);
        CU_ASSERT_EQUAL(store_event_count(s, "a"), 6);
        json_object_put(arr);
        store_close(s);
}

/* A real gap (events deleted, nothing declared) is always alerted: once its wait is over,
 * once only, with what was expected and what came. A declaration that does not bridge it
 * exactly (here: the wrong hash) settles nothing. */
static void test_undeclared_gap_alerted_after_the_wait(void)
{
        struct store *s = open_with_terminal("a");
        json_object *arr = chain_build(6, 1, EVENT_GENESIS_HASH, "files.read");
        ingest(s, "a", chain_pick(arr, (size_t[]){ 0, 3 }, 2), 2000);
        struct chain_drop wrong = chain_drop_of(arr, 1, 2);
        wrong.hash[0] = wrong.hash[0] == '0' ? '1' : '0';
        json_object *b2 = chain_pick(arr, (size_t[]){ 4 }, 1);
        json_object_array_add(b2, chain_overflow_event(6, chain_member(arr, 4, "hash"), &wrong, 1));
        struct ingest_result r2 = ingest(s, "a", b2, 2005);
        CU_ASSERT_EQUAL(r2.gaps_resolved, 0);
        CU_ASSERT_EQUAL(pending_gaps(s), 1);

        CU_ASSERT_EQUAL(expire_gaps(s, 2000 + INGEST_GAP_DECLARATION_WAIT_SECONDS - 1), 0);
        CU_ASSERT_EQUAL(store_alert_count(s, "a", "tamper.chain_break"), 0);
        CU_ASSERT_EQUAL(expire_gaps(s, 2000 + INGEST_GAP_DECLARATION_WAIT_SECONDS), 1);
        CU_ASSERT_EQUAL(store_alert_count(s, "a", "tamper.chain_break"), 1);
        CU_ASSERT_EQUAL(pending_gaps(s), 0);
        CU_ASSERT_EQUAL(expire_gaps(s, 2000 + 2 * INGEST_GAP_DECLARATION_WAIT_SECONDS), 0);
        CU_ASSERT_EQUAL(store_alert_count(s, "a", "tamper.chain_break"), 1);

        _cleanup_free_ char *details = raw_query_text("SELECT details FROM alerts");
        CU_ASSERT_PTR_NOT_NULL_FATAL(details);
        char want[512];
        snprintf(want, sizeof want,
                 "{\"declaration_waited_seconds\":%d,\"expected\":{\"prev_hash\":\"%s\",\"seq\":2},"
                 "\"got\":{\"prev_hash\":\"%s\",\"seq\":4},\"kind\":\"gap\",\"seq\":4}",
                 INGEST_GAP_DECLARATION_WAIT_SECONDS, chain_member(arr, 0, "hash"),
                 chain_member(arr, 2, "hash"));
        CU_ASSERT_STRING_EQUAL(details, want);
        json_object_put(arr);
        store_close(s);
}

/* Drops declared by two overflow events in two batches bridge one gap together; drops are
 * kept per terminal (another agent's do not count) and once each. */
static void test_gap_bridged_by_declarations_of_two_batches(void)
{
        struct store *s = open_with_terminal("a");
        struct store_terminal t = terminal("b", "総務課");
        CU_ASSERT_EQUAL_FATAL(store_terminal_add(s, &t), 0);
        json_object *arr = chain_build(8, 1, EVENT_GENESIS_HASH, "files.read");
        struct chain_drop first = chain_drop_of(arr, 1, 2), second = chain_drop_of(arr, 3, 4);

        /* agent b declares the second half: it bridges nothing of a's */
        json_object *bb = chain_build(1, 1, EVENT_GENESIS_HASH, "files.read");
        json_object_array_add(bb, chain_overflow_event(2, chain_member(bb, 0, "hash"), &second, 1));
        ingest(s, "b", bb, 3000);

        ingest(s, "a", chain_pick(arr, (size_t[]){ 0, 5 }, 2), 3000);
        json_object *b2 = chain_pick(arr, (size_t[]){ 6 }, 1);
        json_object_array_add(b2, chain_overflow_event(8, chain_member(arr, 6, "hash"), &first, 1));
        CU_ASSERT_EQUAL(ingest(s, "a", b2, 3001).gaps_resolved, 0);
        CU_ASSERT_EQUAL(pending_gaps(s), 1);

        json_object *b3 = json_object_new_array();
        json_object *o8 = chain_overflow_event(8, chain_member(arr, 6, "hash"), &first, 1);
        json_object_array_add(b3, chain_overflow_event(9, chain_member(o8, SIZE_MAX, "hash"),
                                                       &second, 1));
        json_object_put(o8);
        CU_ASSERT_EQUAL(ingest(s, "a", b3, 3002).gaps_resolved, 1);
        CU_ASSERT_EQUAL(pending_gaps(s), 0);
        CU_ASSERT_EQUAL(expire_gaps(s, 3000 + INGEST_GAP_DECLARATION_WAIT_SECONDS), 0);
        CU_ASSERT_EQUAL(store_alert_count(s, NULL, NULL), 0);

        _cleanup_free_ struct chain_drop *drops = NULL;
        size_t n = 0;
        CU_ASSERT_EQUAL(store_chain_drops_get(s, "a", 1, 6, &drops, &n), 0);
        CU_ASSERT_EQUAL(n, 2);
        CU_ASSERT_TRUE(n == 2 && chain_drop_equal(&drops[0], &first) &&
                       chain_drop_equal(&drops[1], &second));
        free(drops);
        drops = NULL;
        /* only drops strictly inside the range */
        CU_ASSERT_EQUAL(store_chain_drops_get(s, "a", 2, 6, &drops, &n), 0);
        CU_ASSERT_TRUE(n == 1 && chain_drop_equal(&drops[0], &second));
        free(drops);
        drops = NULL;
        CU_ASSERT_EQUAL(store_chain_drops_get(s, "a", 1, 5, &drops, &n), 0);
        CU_ASSERT_TRUE(n == 1 && chain_drop_equal(&drops[0], &first));
        json_object_put(arr);
        store_close(s);
}

/* A heartbeat's spool report for agent_id applied as the writer does (head: the terminal's
 * chain head); returns the gaps it alerted. */
static unsigned report_spool(struct store *s, const char *agent_id, uint64_t acked,
                             uint64_t durable, int64_t now)
{
        struct store_terminal t;
        CU_ASSERT_EQUAL_FATAL(store_terminal_get(s, agent_id, &t), 0);
        struct ingest_spool_report report = { .acked_seq = acked, .durable_seq = durable };
        unsigned alerted = 99;
        CU_ASSERT_EQUAL_FATAL(store_begin(s), 0);
        CU_ASSERT_EQUAL(ingest_gaps_bound(s, agent_id, &report, t.last_seq, now, &alerted), 0);
        CU_ASSERT_EQUAL(store_commit(s), 0);
        return alerted;
}

static uint64_t gap_bound(struct store *s, const char *agent_id)
{
        _cleanup_free_ struct store_chain_gap *gaps = NULL;
        size_t n = 0;
        CU_ASSERT_EQUAL_FATAL(store_chain_gaps_get(s, agent_id, INT64_MAX, &gaps, &n), 0);
        CU_ASSERT_EQUAL_FATAL(n, 1);
        return gaps[0].bound_seq;
}

/* Events 4..5 deleted. A report taken before the uplink had the event after the gap
 * acknowledged bounds nothing; one taken after bounds the declaration by the spool's
 * durable mark (10), and the batch that brings the head to 10 without a declaration
 * raises the alert at once, long before the wait. Later reports do not move the bound. */
static void test_real_gap_alerted_when_events_up_to_its_bound_came(void)
{
        struct store *s = open_with_terminal("a");
        json_object *arr = chain_build(10, 1, EVENT_GENESIS_HASH, "files.read");
        CU_ASSERT_EQUAL(ingest(s, "a", chain_pick(arr, (size_t[]){ 0, 1, 2, 5, 6 }, 5), 4000)
                            .gaps_pending, 1);
        CU_ASSERT_EQUAL(report_spool(s, "a", 3, 10, 4001), 0); /* acked before the gap */
        CU_ASSERT_EQUAL(gap_bound(s, "a"), 0);
        CU_ASSERT_EQUAL(report_spool(s, "a", 7, 10, 4002), 0);
        CU_ASSERT_EQUAL(gap_bound(s, "a"), 10);
        CU_ASSERT_EQUAL(report_spool(s, "a", 7, 50, 4003), 0); /* the first bound stays */
        CU_ASSERT_EQUAL(gap_bound(s, "a"), 10);
        struct ingest_result r2 = ingest(s, "a", chain_pick(arr, (size_t[]){ 7, 8 }, 2), 4004);
        CU_ASSERT_EQUAL(r2.gaps_alerted, 0);
        CU_ASSERT_EQUAL(store_alert_count(s, "a", NULL), 0);
        struct ingest_result r3 = ingest(s, "a", chain_pick(arr, (size_t[]){ 9 }, 1), 4005);
        CU_ASSERT_EQUAL(r3.gaps_alerted, 1);
        CU_ASSERT_EQUAL(store_alert_count(s, "a", "tamper.chain_break"), 1);
        CU_ASSERT_EQUAL(pending_gaps(s), 0);
        CU_ASSERT_EQUAL(expire_gaps(s, 4000 + INGEST_GAP_DECLARATION_WAIT_SECONDS), 0);
        CU_ASSERT_EQUAL(store_alert_count(s, "a", NULL), 1);

        _cleanup_free_ char *details = raw_query_text("SELECT details FROM alerts");
        CU_ASSERT_PTR_NOT_NULL_FATAL(details);
        char want[512];
        snprintf(want, sizeof want,
                 "{\"declaration_due_by_seq\":10,\"declaration_waited_seconds\":5,"
                 "\"expected\":{\"prev_hash\":\"%s\",\"seq\":4},"
                 "\"got\":{\"prev_hash\":\"%s\",\"seq\":6},\"kind\":\"gap\",\"seq\":6}",
                 chain_member(arr, 2, "hash"), chain_member(arr, 4, "hash"));
        CU_ASSERT_STRING_EQUAL(details, want);
        json_object_put(arr);
        store_close(s);
}

/* A spool drop whose declaration comes in a later batch, at the bound: bridged, never
 * alerted, although the report bounded it before the declaration came. */
static void test_declaration_in_a_later_batch_within_the_bound(void)
{
        struct store *s = open_with_terminal("a");
        json_object *arr = chain_build(8, 1, EVENT_GENESIS_HASH, "files.read");
        ingest(s, "a", chain_pick(arr, (size_t[]){ 0, 1, 5, 6 }, 4), 5000); /* 3..5 dropped */
        CU_ASSERT_EQUAL(report_spool(s, "a", 7, 9, 5001), 0);
        CU_ASSERT_EQUAL(gap_bound(s, "a"), 9);
        struct chain_drop d = chain_drop_of(arr, 2, 4);
        json_object *b2 = chain_pick(arr, (size_t[]){ 7 }, 1);
        json_object_array_add(b2, chain_overflow_event(9, chain_member(arr, 7, "hash"), &d, 1));
        struct ingest_result r2 = ingest(s, "a", b2, 5002);
        CU_ASSERT_EQUAL(r2.gaps_resolved, 1);
        CU_ASSERT_EQUAL(r2.gaps_alerted, 0);
        CU_ASSERT_EQUAL(pending_gaps(s), 0);
        CU_ASSERT_EQUAL(report_spool(s, "a", 9, 9, 5003), 0);
        CU_ASSERT_EQUAL(expire_gaps(s, 5000 + INGEST_GAP_DECLARATION_WAIT_SECONDS), 0);
        CU_ASSERT_EQUAL(store_alert_count(s, "a", NULL), 0);
        json_object_put(arr);
        store_close(s);
}

/* One event deleted from the middle of what is already in: the report whose durable mark
 * the head has reached alerts it at once; another terminal's report touches nothing. */
static void test_deleted_event_in_the_middle_alerted_at_the_report(void)
{
        struct store *s = open_with_terminal("a");
        struct store_terminal t = terminal("b", "総務課");
        CU_ASSERT_EQUAL_FATAL(store_terminal_add(s, &t), 0);
        json_object *arr = chain_build(10, 1, EVENT_GENESIS_HASH, "files.read");
        CU_ASSERT_EQUAL(ingest(s, "a", chain_pick(arr, (size_t[]){ 0, 1, 2, 3, 5, 6, 7, 8, 9 },
                                                   9), 6000).gaps_pending, 1);
        CU_ASSERT_EQUAL(report_spool(s, "b", 10, 10, 6001), 0);
        CU_ASSERT_EQUAL(pending_gaps(s), 1);
        CU_ASSERT_EQUAL(report_spool(s, "a", 10, 0, 6001), 0); /* no durable mark: no bound */
        CU_ASSERT_EQUAL(pending_gaps(s), 1);
        CU_ASSERT_EQUAL(report_spool(s, "a", 10, 10, 6002), 1);
        CU_ASSERT_EQUAL(pending_gaps(s), 0);
        CU_ASSERT_EQUAL(store_alert_count(s, "a", "tamper.chain_break"), 1);
        CU_ASSERT_EQUAL(report_spool(s, "a", 10, 10, 6003), 0);
        CU_ASSERT_EQUAL(store_alert_count(s, "a", "tamper.chain_break"), 1);
        CU_ASSERT_EQUAL(store_chain_gap_count(s), 0);
        json_object_put(arr);
        store_close(s);
}

/* The primitives: a gap is pending once, removed once; bad records are refused. */
static void test_chain_gap_primitives(void)
{
        struct store *s = open_with_terminal("a");
        struct store_chain_gap g = { .agent_id = "a", .last_seq = 4, .next_seq = 9,
                                     .detected_at = 50 };
        memset(g.last_hash, 'a', SHA256_HEX_LEN);
        memset(g.next_prev_hash, 'b', SHA256_HEX_LEN);
        CU_ASSERT_EQUAL(store_chain_gap_add(s, &g), 0);
        CU_ASSERT_EQUAL(store_chain_gap_add(s, &g), -EEXIST);
        struct store_chain_gap bad = g;
        bad.next_seq = 5; /* no gap at all */
        CU_ASSERT_EQUAL(store_chain_gap_add(s, &bad), -EINVAL);
        _cleanup_free_ struct store_chain_gap *gaps = NULL;
        size_t n = 9;
        CU_ASSERT_EQUAL(store_chain_gaps_get(s, "a", 49, &gaps, &n), 0);
        CU_ASSERT_EQUAL(n, 0);
        free(gaps);
        gaps = NULL;
        CU_ASSERT_EQUAL(store_chain_gaps_get(s, "a", 50, &gaps, &n), 0);
        CU_ASSERT_EQUAL_FATAL(n, 1);
        CU_ASSERT_STRING_EQUAL(gaps[0].next_prev_hash, g.next_prev_hash);
        CU_ASSERT_EQUAL(gaps[0].last_seq, 4);
        CU_ASSERT_EQUAL(store_chain_gap_remove(s, "a", 9), 0);
        CU_ASSERT_EQUAL(store_chain_gap_remove(s, "a", 9), -ENOENT);
        struct chain_drop d = { .from_seq = 5, .to_seq = 8 };
        memset(d.prev_hash, 'a', SHA256_HEX_LEN);
        memset(d.hash, 'b', SHA256_HEX_LEN);
        CU_ASSERT_EQUAL(store_chain_drop_add(s, "a", &d), 0);
        CU_ASSERT_EQUAL(store_chain_drop_add(s, "a", &d), 0);
        d.to_seq = 4;
        CU_ASSERT_EQUAL(store_chain_drop_add(s, "a", &d), -EINVAL);
        _cleanup_free_ char *count = raw_query_text("SELECT COUNT(*) FROM chain_drops");
        CU_ASSERT_STRING_EQUAL(count, "1");
        store_close(s);
}

/* The writer stores a batch's events together; a repeat or a reorder inside the same batch
 * still sees the ones before it. */
static void test_ingest_batch_repeats_and_reorders_inside_it(void)
{
        struct store *s = open_with_terminal("a");
        json_object *arr = chain_build(5, 1, EVENT_GENESIS_HASH, "files.read");
        struct ingest_result r = ingest(s, "a", chain_pick(arr, (size_t[]){ 0, 1, 2, 2, 4, 3, 1 }, 7),
                                        4000);
        CU_ASSERT_EQUAL(r.stored, 5);
        CU_ASSERT_EQUAL(r.duplicates, 2);
        CU_ASSERT_EQUAL(r.breaks[CHAIN_BREAK_REORDER], 1);
        CU_ASSERT_EQUAL(r.gaps_pending, 1);
        CU_ASSERT_EQUAL(r.acked_seq, 5);
        CU_ASSERT_EQUAL(store_event_count(s, "a"), 5);
        CU_ASSERT_EQUAL(store_alert_count(s, "a", "tamper.chain_break"), 1);
        /* the same again: all re-sends */
        r = ingest(s, "a", chain_pick(arr, (size_t[]){ 0, 1, 2, 3, 4 }, 5), 4001);
        CU_ASSERT_EQUAL(r.stored, 0);
        CU_ASSERT_EQUAL(r.duplicates, 5);
        json_object_put(arr);
        store_close(s);
}

/* A new SQLite database gets 16 KiB pages (fewer WAL frames per ingested event). */
static void test_sqlite_new_database_page_size(void)
{
        struct store *s = open_fresh();
        struct store_terminal t = terminal("a", "総務課");
        CU_ASSERT_EQUAL(store_terminal_add(s, &t), 0);
        store_close(s);
        _cleanup_free_ char *size = raw_query_text("PRAGMA page_size");
        CU_ASSERT_PTR_NOT_NULL_FATAL(size);
        CU_ASSERT_STRING_EQUAL(size, "16384");
}

/* --- suites
 * ------------------------------------------------------------------------------------------ */

/* clang-format off */
#define STORE_TESTS \
        { "migrations are idempotent", test_migrations_idempotent }, \
        { "migrations run once when opened together", test_migrations_concurrent }, \
        { "migration from version 1", test_migration_from_version_1 }, \
        { "a newer schema is refused", test_newer_schema_refused }, \
        { "bad targets give clear errors", test_bad_targets }, \
        { "terminal add/get", test_terminal_add_get }, \
        { "terminal chain and seen", test_terminal_chain_and_seen }, \
        { "terminal locked read", test_terminal_locked }, \
        { "terminal revoke and foreach", test_terminal_revoke_and_foreach }, \
        { "events unique, hash, counts", test_events_unique_and_hash }, \
        { "duplicate event inside a transaction", test_event_duplicate_inside_transaction }, \
        { "event batch insert", test_event_batch }, \
        { "alerts", test_alerts }, \
        { "posture latest and history", test_posture_latest_and_history }, \
        { "tokens", test_tokens }, \
        { "token last use, concurrently", test_token_last_use_concurrent }, \
        { "policies with default fallback", test_policies_default_fallback }, \
        { "rollback leaves nothing", test_transaction_rollback_leaves_nothing }, \
        { "a writer killed mid-batch", test_killed_writer }, \
        { "gap declared in a later batch", test_gap_declared_in_a_later_batch }, \
        { "undeclared gap alerted after the wait", test_undeclared_gap_alerted_after_the_wait }, \
        { "gap bridged by two batches' declarations", test_gap_bridged_by_declarations_of_two_batches }, \
        { "real gap alerted when the events up to its bound came", test_real_gap_alerted_when_events_up_to_its_bound_came }, \
        { "declaration in a later batch within the bound", test_declaration_in_a_later_batch_within_the_bound }, \
        { "deleted event in the middle alerted at the report", test_deleted_event_in_the_middle_alerted_at_the_report }, \
        { "chain gap primitives", test_chain_gap_primitives }, \
        { "repeats and reorders inside a batch", test_ingest_batch_repeats_and_reorders_inside_it }
/* clang-format on */

static CU_TestInfo sqlite_tests[] = {
    STORE_TESTS,
    {"new database page size", test_sqlite_new_database_page_size},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo postgres_tests[] = {
    STORE_TESTS,
    {"reconnects after a lost connection", test_pg_reconnects_after_loss},
    {"a lost transaction stores nothing", test_pg_loss_inside_transaction_stores_nothing},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"store-sqlite", suite_init_sqlite, NULL, NULL, NULL, sqlite_tests},
    {"store-postgres", suite_init_postgres, suite_clean_postgres, NULL, NULL, postgres_tests},
    CU_SUITE_INFO_NULL,
};

int main(void)
{
        /* Without HOGO_TEST_PG the PostgreSQL suite is left out, and says so. */
        if (!getenv("HOGO_TEST_PG")) {
                fprintf(stderr, "test_store: HOGO_TEST_PG is not set; the PostgreSQL suite is "
                                "not run (tests/run sets it)\n");
                suites[1] = (CU_SuiteInfo)CU_SUITE_INFO_NULL;
        }
        return unit_run(suites);
}

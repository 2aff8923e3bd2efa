/* store_sqlite.c — the SQLite back end of the store (store_backend.h).
 *
 * WAL, so that readers (the dashboard) never wait for the writer; a busy timeout, so that
 * a second connection (hogoctl, another thread) waits for the writer instead of failing;
 * BEGIN IMMEDIATE, so that a transaction holds the write lock from its first statement
 * and a read-then-write never fails half-way on a stale snapshot.
 *
 * synchronous=FULL: the collector answers {"acked_seq": N} after COMMIT, and the agent
 * then deletes those events from its spool. With WAL and synchronous=NORMAL a commit is
 * not on disk until the next checkpoint, so a power cut could lose events the agent has
 * already let go of: audit records lost for good. FULL fsyncs the WAL at every commit;
 * ingestion commits a whole batch (up to 1,000 events) per transaction, so that is one
 * fsync per batch, not per event.
 *
 * Statements are prepared once per connection (SQLITE_PREPARE_PERSISTENT) and reset after
 * each use; store.c's $n placeholders become SQLite's ?n.
 */
#include <pthread.h>
#include <sqlite3.h>

#include "collectors/store_backend.h"
#include "common/log.h"
#include "common/util.h"

#define SQLITE_BUSY_TIMEOUT_MS 10000

struct sqlite_conn {
        sqlite3 *db;
        char *path;
        sqlite3_stmt *cache[STORE_STATEMENTS_MAX];
};

static int sqlite_errno(int rc)
{
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE: return 0;
        case SQLITE_BUSY:
        case SQLITE_LOCKED: return -EBUSY;
        case SQLITE_NOMEM: return -ENOMEM;
        case SQLITE_READONLY: return -EROFS;
        case SQLITE_PERM:
        case SQLITE_AUTH: return -EACCES;
        case SQLITE_FULL: return -ENOSPC;
        case SQLITE_CANTOPEN: return -ENOENT;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB: return -EBADMSG;
        case SQLITE_CONSTRAINT:
                return (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
                           ? -EEXIST
                           : -EINVAL;
        case SQLITE_TOOBIG:
        case SQLITE_RANGE: return -E2BIG;
        default: return -EIO;
        }
}

static int sqlite_fail(struct sqlite_conn *c, int rc, const char *what)
{
        int r = sqlite_errno(rc);
        return log_error_errno(r ? r : -EIO, "Store: SQLite %s: %s failed: %s", c->path, what,
                               sqlite3_errmsg(c->db));
}

static int sqlite_exec_script(void *conn, const char *sql)
{
        struct sqlite_conn *c = conn;
        int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
        return rc == SQLITE_OK ? 0 : sqlite_fail(c, rc, "running the schema script");
}

static void sqlite_close(void *conn)
{
        struct sqlite_conn *c = conn;
        if (!c)
                return;
        for (size_t i = 0; i < ELEMENTSOF(c->cache); i++)
                sqlite3_finalize(c->cache[i]);
        sqlite3_close(c->db);
        free(c->path);
        free(c);
}

struct pragma_text {
        char value[32];
};

static int pragma_text_row(void *ud, int n, char **values, char **names)
{
        struct pragma_text *p = ud;
        snprintf(p->value, sizeof p->value, "%s", n > 0 && values[0] ? values[0] : "");
        return 0;
}

static pthread_once_t sqlite_configured = PTHREAD_ONCE_INIT;

static void sqlite_configure(void)
{
        /* Memory statistics make every SQLite allocation take a global mutex; nothing here
         * reads them. Refused (harmlessly) when the library was initialised already. */
        (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int sqlite_open(const char *target, void **ret_conn)
{
        struct sqlite_conn *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->path = strdup(target);
        if (!c->path) {
                free(c);
                return -ENOMEM;
        }

        pthread_once(&sqlite_configured, sqlite_configure);
        /* NOMUTEX: a struct store is used by one thread at a time (store.h), so SQLite's
         * per-call connection mutex is pure overhead on the writer's hot path. */
        int rc = sqlite3_open_v2(target, &c->db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW |
                                     SQLITE_OPEN_NOMUTEX,
                                 NULL);
        if (rc != SQLITE_OK) {
                int r = log_error_errno(sqlite_errno(rc) ?: -EIO,
                                        "Store: cannot open SQLite database %s: %s. Check that "
                                        "its directory exists and is writable by the collector.",
                                        target, c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
                sqlite_close(c);
                return r;
        }
        sqlite3_extended_result_codes(c->db, 1);
        sqlite3_busy_timeout(c->db, SQLITE_BUSY_TIMEOUT_MS);

        /* 16 KiB pages for a new database (an existing one keeps its own): an event row is
         * ~700 bytes, and WAL frames of 16 KiB are a quarter of the write() calls and page
         * headers of 4 KiB ones for the same data; ~15 % less CPU per ingested event. */
        rc = sqlite3_exec(c->db, "PRAGMA page_size=16384", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
                int r = sqlite_fail(c, rc, "setting the page size");
                sqlite_close(c);
                return r;
        }
        /* Switching to WAL is the first read of the file: a file that is not a database
         * fails here, with SQLite's own words. */
        struct pragma_text mode = {};
        /* While another connection is switching the same new file to WAL, SQLite may answer
         * SQLITE_BUSY without calling the busy handler (to avoid a deadlock): wait here as
         * the busy timeout would. */
        for (int waited_ms = 0;; waited_ms += 10) {
                rc = sqlite3_exec(c->db, "PRAGMA journal_mode=WAL", pragma_text_row, &mode, NULL);
                if ((rc & 0xff) != SQLITE_BUSY || waited_ms >= SQLITE_BUSY_TIMEOUT_MS)
                        break;
                (void)usleep(10 * 1000);
        }
        if (rc != SQLITE_OK) {
                int r = log_error_errno(sqlite_errno(rc) ?: -EIO,
                                        "Store: %s is not a usable SQLite database (%s); it was "
                                        "left untouched. Point the store at a new file or restore "
                                        "the database from a backup.",
                                        target, sqlite3_errmsg(c->db));
                sqlite_close(c);
                return r;
        }
        if (strcasecmp(mode.value, "wal") != 0) {
                log_error("Store: SQLite database %s cannot use WAL (journal mode is %s); "
                          "put it on a local file system.",
                          target, mode.value);
                sqlite_close(c);
                return -EOPNOTSUPP;
        }
        /* cache_size: the events table's indexes stay in memory instead of being read back
         * from the WAL with pread() at every transaction (the default is 2 MiB). */
        rc = sqlite3_exec(c->db,
                          "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
                          "PRAGMA cache_size=-32768" /* KiB */,
                          NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
                int r = sqlite_fail(c, rc, "setting up the connection");
                sqlite_close(c);
                return r;
        }
        *ret_conn = c;
        return 0;
}

static int sqlite_simple(void *conn, const char *sql)
{
        struct sqlite_conn *c = conn;
        int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
        return rc == SQLITE_OK ? 0 : sqlite_fail(c, rc, sql);
}

static int sqlite_begin(void *conn)
{
        return sqlite_simple(conn, "BEGIN IMMEDIATE");
}
static int sqlite_commit(void *conn)
{
        return sqlite_simple(conn, "COMMIT");
}

static int sqlite_rollback(void *conn)
{
        struct sqlite_conn *c = conn;
        if (sqlite3_get_autocommit(c->db))
                return 0; /* SQLite rolled it back already (after a failed commit, disk full…) */
        return sqlite_simple(conn, "ROLLBACK");
}

static bool sqlite_in_transaction(void *conn)
{
        return !sqlite3_get_autocommit(((struct sqlite_conn *)conn)->db);
}

static int sqlite_lock_schema(void *conn)
{
        return 0; /* BEGIN IMMEDIATE holds the only write lock already */
}

/* store.c writes PostgreSQL's $n; SQLite's ?n binds the same numbered parameter. */
static char *sqlite_translate(const char *sql)
{
        char *s = strdup(sql);
        if (!s)
                return NULL;
        for (char *p = s; *p; p++)
                if (*p == '$' && p[1] >= '1' && p[1] <= '9')
                        *p = '?';
        return s;
}

static int sqlite_prepare(struct sqlite_conn *c, const struct store_statement *st,
                          sqlite3_stmt **ret)
{
        if (st->id >= STORE_STATEMENTS_MAX)
                return -EINVAL;
        if (c->cache[st->id]) {
                *ret = c->cache[st->id];
                return 0;
        }
        _cleanup_free_ char *sql = sqlite_translate(st->sql);
        if (!sql)
                return -ENOMEM;
        int rc =
            sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->cache[st->id], NULL);
        if (rc != SQLITE_OK)
                return sqlite_fail(c, rc, st->name);
        *ret = c->cache[st->id];
        return 0;
}

static int sqlite_bind(sqlite3_stmt *stmt, const struct store_value *params, size_t n_params)
{
        if ((int)n_params != sqlite3_bind_parameter_count(stmt))
                return SQLITE_RANGE;
        for (size_t i = 0; i < n_params; i++) {
                int rc, col = (int)i + 1;
                switch (params[i].type) {
                case STORE_VALUE_INT: rc = sqlite3_bind_int64(stmt, col, params[i].i); break;
                case STORE_VALUE_TEXT:
                        rc = sqlite3_bind_text(stmt, col, params[i].s, -1, SQLITE_STATIC);
                        break;
                default: rc = sqlite3_bind_null(stmt, col); break;
                }
                if (rc != SQLITE_OK)
                        return rc;
        }
        return SQLITE_OK;
}

static int sqlite_row(sqlite3_stmt *stmt, store_row_fn fn, void *ud)
{
        struct store_value cols[16];
        int n = sqlite3_column_count(stmt);
        if (n > (int)ELEMENTSOF(cols))
                return -E2BIG;
        for (int i = 0; i < n; i++) {
                switch (sqlite3_column_type(stmt, i)) {
                case SQLITE_NULL: cols[i] = STORE_NULL; break;
                case SQLITE_INTEGER: cols[i] = STORE_INT(sqlite3_column_int64(stmt, i)); break;
                default: {
                        const char *s = (const char *)sqlite3_column_text(stmt, i);
                        if (!s)
                                return -ENOMEM;
                        cols[i] = STORE_TEXT(s);
                }
                }
        }
        return fn ? fn(cols, (size_t)n, ud) : 0;
}

static int sqlite_run(void *conn, const struct store_statement *st,
                      const struct store_value *params, size_t n_params, store_row_fn fn, void *ud)
{
        struct sqlite_conn *c = conn;
        sqlite3_stmt *stmt = NULL;
        int r = sqlite_prepare(c, st, &stmt);
        if (r < 0)
                return r;

        int rc = sqlite_bind(stmt, params, n_params);
        if (rc != SQLITE_OK) {
                sqlite3_clear_bindings(stmt);
                return sqlite_fail(c, rc, st->name);
        }

        int rows = 0;
        r = 0;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                rows++;
                r = sqlite_row(stmt, fn, ud);
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = sqlite_fail(c, rc, st->name);
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
        if (r < 0)
                return r;
        return sqlite3_column_count(stmt) > 0 ? rows : sqlite3_changes(c->db);
}

/* Times are Unix seconds; ids increase with insertion (policies: the last put wins). */
static const struct store_migration sqlite_migrations[] = {
    {
        1,
        "departments, terminals, events, alerts, posture, tokens, revocations, policies",
        "CREATE TABLE departments ("
        " name TEXT PRIMARY KEY CHECK (name <> ''),"
        " display_name TEXT NOT NULL DEFAULT '',"
        " created_at INTEGER NOT NULL);"
        "CREATE TABLE terminals ("
        " agent_id TEXT PRIMARY KEY,"
        " hostname TEXT NOT NULL,"
        " department TEXT NOT NULL,"
        " cert_serial TEXT NOT NULL DEFAULT '',"
        " last_seq INTEGER NOT NULL DEFAULT 0,"
        " last_hash TEXT NOT NULL,"
        " enrolled_at INTEGER NOT NULL,"
        " last_seen INTEGER NOT NULL DEFAULT 0,"
        " policy_version TEXT NOT NULL DEFAULT '',"
        " revoked_at INTEGER);"
        "CREATE INDEX terminals_department ON terminals (department);"
        "CREATE TABLE events ("
        " id INTEGER PRIMARY KEY,"
        " agent_id TEXT NOT NULL,"
        " seq INTEGER NOT NULL,"
        " type TEXT NOT NULL,"
        " severity TEXT NOT NULL,"
        " ts TEXT NOT NULL,"
        " hash TEXT NOT NULL,"
        " event TEXT NOT NULL,"
        " received_at INTEGER NOT NULL,"
        " UNIQUE (agent_id, seq));"
        "CREATE INDEX events_type_ts ON events (type, ts);"
        "CREATE INDEX events_agent_ts ON events (agent_id, ts);"
        "CREATE TABLE alerts ("
        " id INTEGER PRIMARY KEY,"
        " agent_id TEXT NOT NULL,"
        " type TEXT NOT NULL,"
        " details TEXT NOT NULL,"
        " created_at INTEGER NOT NULL,"
        " acknowledged_at INTEGER,"
        " acknowledged_by TEXT);"
        "CREATE INDEX alerts_agent_type ON alerts (agent_id, type);"
        "CREATE INDEX alerts_created ON alerts (created_at);"
        "CREATE TABLE posture_latest ("
        " agent_id TEXT PRIMARY KEY,"
        " posture TEXT NOT NULL,"
        " reported_at INTEGER NOT NULL);"
        "CREATE TABLE posture_history ("
        " id INTEGER PRIMARY KEY,"
        " agent_id TEXT NOT NULL,"
        " posture TEXT NOT NULL,"
        " reported_at INTEGER NOT NULL);"
        "CREATE INDEX posture_history_agent ON posture_history (agent_id, reported_at);"
        "CREATE TABLE tokens ("
        " token_hash TEXT PRIMARY KEY,"
        " department TEXT NOT NULL REFERENCES departments (name),"
        " uses_left INTEGER NOT NULL CHECK (uses_left >= 0),"
        " uses_total INTEGER NOT NULL,"
        " expires_at INTEGER NOT NULL,"
        " created_at INTEGER NOT NULL,"
        " last_used_at INTEGER);"
        "CREATE TABLE revocations ("
        " agent_id TEXT PRIMARY KEY,"
        " cert_serial TEXT NOT NULL,"
        " revoked_at INTEGER NOT NULL,"
        " reason TEXT NOT NULL DEFAULT '');"
        "CREATE TABLE policies ("
        " id INTEGER PRIMARY KEY,"
        " department TEXT NOT NULL,"
        " version TEXT NOT NULL,"
        " envelope TEXT NOT NULL,"
        " created_at INTEGER NOT NULL,"
        " UNIQUE (department, version));",
    },
    STORE_MIGRATION_2,
    STORE_MIGRATION_3,
    STORE_MIGRATION_4,
    STORE_MIGRATION_5,
};

const struct store_backend store_backend_sqlite = {
    .name = "SQLite",
    .open = sqlite_open,
    .close = sqlite_close,
    .exec_script = sqlite_exec_script,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .in_transaction = sqlite_in_transaction,
    .lock_schema = sqlite_lock_schema,
    .run = sqlite_run,
    .migrations = sqlite_migrations,
    .n_migrations = ELEMENTSOF(sqlite_migrations),
};
_Static_assert(ELEMENTSOF(sqlite_migrations) == STORE_SCHEMA_LATEST, "one migration per version");

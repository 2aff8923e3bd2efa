/* store_postgres.c — the PostgreSQL back end of the store (store_backend.h), on libpq.
 *
 * For sites that run several collectors against one database: the terminal's chain row is
 * read FOR UPDATE inside the ingest transaction, so two collectors never accept the same
 * seq twice; a token's last use is one UPDATE … RETURNING, which waits for a concurrent use
 * and re-reads the row after it.
 *
 * Statements are prepared on the server once per connection (named s<id>), parameters go
 * as text. When the connection is lost the call fails with -ECONNRESET and a message that
 * says so (an open transaction is gone, nothing of it was committed); the next call
 * reconnects (PQreset) and prepares again. synchronous_commit is set on for the session:
 * an acknowledged batch must survive the server's crash, whatever the site's default.
 */
#include <libpq-fe.h>
#include <stddef.h>
#include <stdio.h>

#include "collectors/store_backend.h"
#include "common/log.h"
#include "common/util.h"

/* pg_type OIDs of the integer types (catalog/pg_type_d.h is in the server headers). */
#define PG_INT8OID 20
#define PG_INT2OID 21
#define PG_INT4OID 23

/* The key of the advisory lock that serializes migrations across collectors ("hogo"). */
#define PG_SCHEMA_LOCK_KEY 0x686f676fLL

struct pg_conn {
        PGconn *conn;
        char *where;      /* host/socket and database, for messages (never the password) */
        bool transaction; /* BEGIN sent, no COMMIT/ROLLBACK yet */
        bool prepared[STORE_STATEMENTS_MAX];
};

static void pg_result_clear(PGresult **res)
{
        if (*res)
                PQclear(*res);
}
#define _cleanup_pgresult_ _cleanup_(pg_result_clear)

/* libpq's message on one line: its lines (and the final newline) joined by spaces. */
static const char *pg_message(PGconn *conn)
{
        static _Thread_local char buf[1024];
        size_t n = 0;
        bool space = false;
        for (const char *m = PQerrorMessage(conn); *m && n < sizeof buf - 1; m++) {
                if (*m == '\n' || *m == '\t') {
                        space = n > 0;
                        continue;
                }
                if (space && n < sizeof buf - 2)
                        buf[n++] = ' ';
                space = false;
                buf[n++] = *m;
        }
        buf[n] = '\0';
        return buf;
}

/* Server notices ("relation already exists, skipping") are not the operator's business. */
static void pg_notice(void *ud, const char *message)
{
        log_debug("Store: PostgreSQL says: %s", message);
}

static bool pg_connection_lost(struct pg_conn *c)
{
        return PQstatus(c->conn) != CONNECTION_OK;
}

static int pg_fail(struct pg_conn *c, const PGresult *res, const char *what)
{
        if (pg_connection_lost(c))
                return log_error_errno(-ECONNRESET,
                                       "Store: lost the connection to PostgreSQL (%s) during %s; "
                                       "nothing uncommitted was kept, the next call reconnects. "
                                       "libpq: %s",
                                       c->where, what, pg_message(c->conn));

        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        int r = -EIO;
        if (state) {
                if (STREQ(state, "23505"))
                        r = -EEXIST;
                else if (STREQ(state, "40001") || STREQ(state, "40P01") || STREQ(state, "55P03"))
                        r = -EAGAIN; /* serialization failure, deadlock, lock not available */
                else if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3))
                        r = -ECONNRESET;
                else if (!strncmp(state, "42501", 5) || !strncmp(state, "28", 2))
                        r = -EACCES;
                else if (STREQ(state, "53100"))
                        r = -ENOSPC;
                else if (!strncmp(state, "22", 2) || !strncmp(state, "23", 2))
                        r = -EINVAL;
        }
        return log_error_errno(r, "Store: PostgreSQL (%s): %s failed [%s]: %s", c->where, what,
                               state ? state : "-", pg_message(c->conn));
}

/* The session settings every (re)connection gets. */
static int pg_setup_session(struct pg_conn *c)
{
        memset(c->prepared, 0, sizeof c->prepared);
        PQsetNoticeProcessor(c->conn, pg_notice, NULL);
        if (PQsetClientEncoding(c->conn, "UTF8") != 0)
                return pg_fail(c, NULL, "setting the client encoding");
        _cleanup_pgresult_ PGresult *res = PQexec(c->conn, "SET synchronous_commit TO on");
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
                return pg_fail(c, res, "setting synchronous_commit");
        return 0;
}

/* Before each call: a connection lost earlier is re-established here, but never inside a
 * transaction: what follows would run in autocommit, storing half a batch. */
static int pg_ensure_connected(struct pg_conn *c)
{
        if (!pg_connection_lost(c))
                return 0;
        if (c->transaction)
                return log_error_errno(-ECONNRESET,
                                       "Store: the connection to PostgreSQL (%s) was lost inside "
                                       "a transaction; nothing of it was committed. Roll back "
                                       "and retry.",
                                       c->where);
        PQreset(c->conn);
        if (pg_connection_lost(c))
                return log_error_errno(-ECONNREFUSED,
                                       "Store: cannot reconnect to PostgreSQL (%s); nothing was "
                                       "stored, the next call tries again. libpq: %s",
                                       c->where, pg_message(c->conn));
        log_notice("Store: reconnected to PostgreSQL (%s)", c->where);
        return pg_setup_session(c);
}

static void pg_close(void *conn)
{
        struct pg_conn *c = conn;
        if (!c)
                return;
        PQfinish(c->conn);
        free(c->where);
        free(c);
}

static int pg_open(const char *target, void **ret_conn)
{
        char *err = NULL;
        PQconninfoOption *opts = PQconninfoParse(target, &err);
        if (!opts) {
                size_t n = err ? strcspn(err, "\n") : 0;
                int r = log_error_errno(-EINVAL, "Store: the PostgreSQL conninfo is invalid: %.*s",
                                        (int)n, err ? err : "");
                PQfreemem(err);
                return r;
        }
        PQconninfoFree(opts);

        struct pg_conn *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;

        const char *keys[] = {"dbname", "fallback_application_name", NULL};
        const char *values[] = {target, "hogo-collector", NULL};
        c->conn = PQconnectdbParams(keys, values, 1);
        if (!c->conn) {
                free(c);
                return -ENOMEM;
        }
        const char *host = PQhost(c->conn), *db = PQdb(c->conn);
        if (asprintf(&c->where, "host=%s dbname=%s", host && *host ? host : "(default)",
                     db ? db : "(default)") < 0) {
                c->where = NULL;
                pg_close(c);
                return -ENOMEM;
        }
        if (PQstatus(c->conn) != CONNECTION_OK) {
                int r = log_error_errno(-ECONNREFUSED,
                                        "Store: cannot connect to PostgreSQL (%s); check the "
                                        "conninfo and that the server runs and accepts the "
                                        "collector. libpq: %s",
                                        c->where, pg_message(c->conn));
                pg_close(c);
                return r;
        }
        int r = pg_setup_session(c);
        if (r < 0) {
                pg_close(c);
                return r;
        }
        *ret_conn = c;
        return 0;
}

static int pg_command(struct pg_conn *c, const char *sql, const char *what)
{
        _cleanup_pgresult_ PGresult *res = PQexec(c->conn, sql);
        ExecStatusType st = PQresultStatus(res);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
                return pg_fail(c, res, what);
        return 0;
}

static int pg_exec_script(void *conn, const char *sql)
{
        struct pg_conn *c = conn;
        int r = pg_ensure_connected(c);
        return r < 0 ? r : pg_command(c, sql, "running the schema script");
}

static int pg_begin(void *conn)
{
        struct pg_conn *c = conn;
        int r = pg_ensure_connected(c);
        if (r >= 0)
                r = pg_command(c, "BEGIN", "BEGIN");
        if (r >= 0)
                c->transaction = true;
        return r;
}

static int pg_commit(void *conn)
{
        struct pg_conn *c = conn;
        c->transaction = false;
        /* COMMIT of an aborted transaction "succeeds" as a ROLLBACK: that is a failure. */
        if (PQtransactionStatus(c->conn) != PQTRANS_INTRANS) {
                if (pg_connection_lost(c))
                        return pg_fail(c, NULL, "COMMIT");
                return log_error_errno(-EIO,
                                       "Store: PostgreSQL (%s): COMMIT of a transaction "
                                       "that failed earlier; nothing of it was stored",
                                       c->where);
        }
        return pg_command(c, "COMMIT", "COMMIT");
}

static int pg_rollback(void *conn)
{
        struct pg_conn *c = conn;
        c->transaction = false;
        if (pg_connection_lost(c) || PQtransactionStatus(c->conn) == PQTRANS_IDLE)
                return 0; /* nothing left to roll back: the server did it */
        return pg_command(c, "ROLLBACK", "ROLLBACK");
}

static bool pg_in_transaction(void *conn)
{
        /* An aborted transaction (INERROR) accepts nothing but ROLLBACK: it is lost too. */
        return PQtransactionStatus(((struct pg_conn *)conn)->conn) == PQTRANS_INTRANS;
}

static int pg_lock_schema(void *conn)
{
        struct pg_conn *c = conn;
        char sql[64];
        snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%lld)", PG_SCHEMA_LOCK_KEY);
        return pg_command(c, sql, "locking the schema for migration");
}

static int pg_prepare(struct pg_conn *c, const struct store_statement *st, char name[static 16])
{
        if (st->id >= STORE_STATEMENTS_MAX)
                return -EINVAL;
        snprintf(name, 16, "s%u", st->id);
        if (c->prepared[st->id])
                return 0;

        _cleanup_free_ char *sql = NULL;
        if (asprintf(&sql, "%s%s", st->sql, st->for_update ? " FOR UPDATE" : "") < 0)
                return -ENOMEM;
        _cleanup_pgresult_ PGresult *res = PQprepare(c->conn, name, sql, 0, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
                return pg_fail(c, res, st->name);
        c->prepared[st->id] = true;
        return 0;
}

static int pg_column(const PGresult *res, int row, int col, struct store_value *ret)
{
        if (PQgetisnull(res, row, col)) {
                *ret = STORE_NULL;
                return 0;
        }
        const char *s = PQgetvalue(res, row, col);
        switch (PQftype(res, col)) {
        case PG_INT8OID:
        case PG_INT4OID:
        case PG_INT2OID: {
                char *end;
                errno = 0;
                long long v = strtoll(s, &end, 10);
                if (errno || end == s || *end)
                        return -EBADMSG;
                *ret = STORE_INT(v);
                return 0;
        }
        default: *ret = STORE_TEXT(s); return 0;
        }
}

static int pg_run(void *conn, const struct store_statement *st, const struct store_value *params,
                  size_t n_params, store_row_fn fn, void *ud)
{
        struct pg_conn *c = conn;
        char name[16];
        char ints[16][24];
        const char *values[16];

        if (n_params > ELEMENTSOF(values))
                return -E2BIG;
        int r = pg_ensure_connected(c);
        if (r < 0)
                return r;
        r = pg_prepare(c, st, name);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n_params; i++) {
                switch (params[i].type) {
                case STORE_VALUE_INT:
                        snprintf(ints[i], sizeof ints[i], "%lld", (long long)params[i].i);
                        values[i] = ints[i];
                        break;
                case STORE_VALUE_TEXT: values[i] = params[i].s; break;
                default: values[i] = NULL; break;
                }
        }

        _cleanup_pgresult_ PGresult *res =
            PQexecPrepared(c->conn, name, (int)n_params, values, NULL, NULL, 0);
        switch (PQresultStatus(res)) {
        case PGRES_COMMAND_OK: {
                const char *n = PQcmdTuples(res);
                return *n ? atoi(n) : 0;
        }
        case PGRES_TUPLES_OK: break;
        default: return pg_fail(c, res, st->name);
        }

        int rows = PQntuples(res), n_cols = PQnfields(res);
        struct store_value cols[16];
        if (n_cols > (int)ELEMENTSOF(cols))
                return -E2BIG;
        for (int row = 0; row < rows; row++) {
                for (int col = 0; col < n_cols; col++) {
                        r = pg_column(res, row, col, &cols[col]);
                        if (r < 0)
                                return r;
                }
                if (fn) {
                        r = fn(cols, (size_t)n_cols, ud);
                        if (r < 0)
                                return r;
                }
        }
        return rows;
}

/* --- bulk event insert: one statement per batch instead of one round trip per event --- */

static const struct store_statement pg_events_insert = {
    .id = STORE_STATEMENTS_BACKEND_FIRST,
    .name = "bulk event insert",
    .sql = "INSERT INTO events (agent_id, seq, type, severity, ts, hash, event, received_at) "
           "SELECT $1, u.seq, u.type, u.severity, u.ts, u.hash, u.event, $8 "
           "FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], "
           "$7::text[]) AS u(seq, type, severity, ts, hash, event) "
           "ON CONFLICT (agent_id, seq) DO NOTHING RETURNING seq",
};

/* A PostgreSQL array literal of the text field at offset in each event: every element
 * quoted, with " and \ escaped. */
static char *pg_text_array(const struct store_event *events, size_t n, size_t offset)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        fputc('{', f);
        for (size_t i = 0; i < n; i++) {
                const char *s = *(const char *const *)((const char *)&events[i] + offset);
                fputs(i ? ",\"" : "\"", f);
                for (; *s; s++) {
                        if (*s == '"' || *s == '\\')
                                fputc('\\', f);
                        fputc(*s, f);
                }
                fputc('"', f);
        }
        fputc('}', f);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

static char *pg_seq_array(const struct store_event *events, size_t n)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        fputc('{', f);
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)events[i].seq);
        fputc('}', f);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

struct inserted_marks {
        const struct store_event *events;
        size_t n;
        size_t cursor; /* rows come back in batch order as a rule: search from the last hit */
        bool *inserted;
};

static int pg_mark_inserted(const struct store_value *cols, size_t n_cols, void *ud)
{
        struct inserted_marks *m = ud;
        if (n_cols != 1 || cols[0].type != STORE_VALUE_INT)
                return -EBADMSG;
        for (size_t k = 0; k < m->n; k++) {
                size_t i = (m->cursor + k) % m->n;
                if ((int64_t)m->events[i].seq == cols[0].i && !m->inserted[i]) {
                        m->inserted[i] = true;
                        m->cursor = i + 1;
                        return 0;
                }
        }
        return -EBADMSG; /* a seq we did not send */
}

static int pg_insert_events(void *conn, const char *agent_id, const struct store_event *events,
                            size_t n, int64_t received_at, bool *inserted)
{
        _cleanup_free_ char *seqs = pg_seq_array(events, n),
                            *types = pg_text_array(events, n, offsetof(struct store_event, type)),
                            *severities =
                                pg_text_array(events, n, offsetof(struct store_event, severity)),
                            *tss = pg_text_array(events, n, offsetof(struct store_event, ts)),
                            *hashes = pg_text_array(events, n, offsetof(struct store_event, hash)),
                            *jsons =
                                pg_text_array(events, n, offsetof(struct store_event, event_json));
        if (!seqs || !types || !severities || !tss || !hashes || !jsons)
                return -ENOMEM;

        struct inserted_marks marks = {.events = events, .n = n, .inserted = inserted};
        const struct store_value params[] = {
            STORE_TEXT(agent_id), STORE_TEXT(seqs),   STORE_TEXT(types), STORE_TEXT(severities),
            STORE_TEXT(tss),      STORE_TEXT(hashes), STORE_TEXT(jsons), STORE_INT(received_at),
        };
        return pg_run(conn, &pg_events_insert, params, ELEMENTSOF(params), pg_mark_inserted,
                      &marks);
}

/* The same tables as the SQLite back end, in PostgreSQL's types. */
static const struct store_migration pg_migrations[] = {
    {
        1,
        "departments, terminals, events, alerts, posture, tokens, revocations, policies",
        "CREATE TABLE departments ("
        " name TEXT PRIMARY KEY CHECK (name <> ''),"
        " display_name TEXT NOT NULL DEFAULT '',"
        " created_at BIGINT NOT NULL);"
        "CREATE TABLE terminals ("
        " agent_id TEXT PRIMARY KEY,"
        " hostname TEXT NOT NULL,"
        " department TEXT NOT NULL,"
        " cert_serial TEXT NOT NULL DEFAULT '',"
        " last_seq BIGINT NOT NULL DEFAULT 0,"
        " last_hash TEXT NOT NULL,"
        " enrolled_at BIGINT NOT NULL,"
        " last_seen BIGINT NOT NULL DEFAULT 0,"
        " policy_version TEXT NOT NULL DEFAULT '',"
        " revoked_at BIGINT);"
        "CREATE INDEX terminals_department ON terminals (department);"
        "CREATE TABLE events ("
        " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " agent_id TEXT NOT NULL,"
        " seq BIGINT NOT NULL,"
        " type TEXT NOT NULL,"
        " severity TEXT NOT NULL,"
        " ts TEXT NOT NULL,"
        " hash TEXT NOT NULL,"
        " event TEXT NOT NULL,"
        " received_at BIGINT NOT NULL,"
        " UNIQUE (agent_id, seq));"
        "CREATE INDEX events_type_ts ON events (type, ts);"
        "CREATE INDEX events_agent_ts ON events (agent_id, ts);"
        "CREATE TABLE alerts ("
        " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " agent_id TEXT NOT NULL,"
        " type TEXT NOT NULL,"
        " details TEXT NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " acknowledged_at BIGINT,"
        " acknowledged_by TEXT);"
        "CREATE INDEX alerts_agent_type ON alerts (agent_id, type);"
        "CREATE INDEX alerts_created ON alerts (created_at);"
        "CREATE TABLE posture_latest ("
        " agent_id TEXT PRIMARY KEY,"
        " posture TEXT NOT NULL,"
        " reported_at BIGINT NOT NULL);"
        "CREATE TABLE posture_history ("
        " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " agent_id TEXT NOT NULL,"
        " posture TEXT NOT NULL,"
        " reported_at BIGINT NOT NULL);"
        "CREATE INDEX posture_history_agent ON posture_history (agent_id, reported_at);"
        "CREATE TABLE tokens ("
        " token_hash TEXT PRIMARY KEY,"
        " department TEXT NOT NULL REFERENCES departments (name),"
        " uses_left BIGINT NOT NULL CHECK (uses_left >= 0),"
        " uses_total BIGINT NOT NULL,"
        " expires_at BIGINT NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " last_used_at BIGINT);"
        "CREATE TABLE revocations ("
        " agent_id TEXT PRIMARY KEY,"
        " cert_serial TEXT NOT NULL,"
        " revoked_at BIGINT NOT NULL,"
        " reason TEXT NOT NULL DEFAULT '');"
        "CREATE TABLE policies ("
        " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " department TEXT NOT NULL,"
        " version TEXT NOT NULL,"
        " envelope TEXT NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " UNIQUE (department, version));",
    },
    STORE_MIGRATION_2,
    STORE_MIGRATION_3,
    STORE_MIGRATION_4,
    STORE_MIGRATION_5,
};

const struct store_backend store_backend_postgres = {
    .name = "PostgreSQL",
    .open = pg_open,
    .close = pg_close,
    .exec_script = pg_exec_script,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .in_transaction = pg_in_transaction,
    .lock_schema = pg_lock_schema,
    .run = pg_run,
    .insert_events = pg_insert_events,
    .migrations = pg_migrations,
    .n_migrations = ELEMENTSOF(pg_migrations),
};
_Static_assert(ELEMENTSOF(pg_migrations) == STORE_SCHEMA_LATEST, "one migration per version");

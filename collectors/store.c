/* store.c — the store's public functions, written once over both back ends (store.h).
 *
 * Every statement is here, in the SQL both SQLite and PostgreSQL accept (upserts with
 * ON CONFLICT, RETURNING, CAST); a back end only prepares, binds and runs it. So are the
 * migration framework (schema_version), the token rules and the policy fallback, and the
 * one rule about lost transactions: once a transaction is lost (PostgreSQL connection gone,
 * SQLite rolled back by itself), every call fails with -ECONNRESET until the caller rolls
 * back, so that nothing of a half-done batch is ever written in autocommit after a
 * reconnect.
 */
#include "collectors/store.h"

#include <inttypes.h>
#include <limits.h>
#include <time.h>

#include "collectors/store_backend.h"
#include "common/event.h"
#include "common/log.h"
#include "common/util.h"

struct store {
        const struct store_backend *backend;
        void *conn;
        int schema_version;
        bool in_transaction;
        bool transaction_lost;
};

/* --- statements --------------------------------------------------------------------- */

enum {
        ST_SCHEMA_VERSION_GET,
        ST_SCHEMA_VERSION_ADD,
        ST_DEPARTMENT_ENSURE,
        ST_TERMINAL_ADD,
        ST_TERMINAL_GET,
        ST_TERMINAL_GET_LOCKED,
        ST_TERMINAL_SET_CHAIN,
        ST_TERMINAL_SEEN,
        ST_TERMINAL_REVOKE,
        ST_REVOCATION_ADD,
        ST_REVOKED_LIST,
        ST_EVENT_INSERT,
        ST_EVENT_HASH,
        ST_EVENT_COUNT,
        ST_EVENT_COUNT_ALL,
        ST_ALERT_INSERT,
        ST_ALERT_COUNT,
        ST_ALERT_COUNT_AGENT,
        ST_ALERT_COUNT_TYPE,
        ST_ALERT_COUNT_ALL,
        ST_POSTURE_LATEST_PUT,
        ST_POSTURE_HISTORY_ADD,
        ST_POSTURE_GET,
        ST_POSTURE_HISTORY_COUNT,
        ST_TOKEN_ADD,
        ST_TOKEN_USE,
        ST_TOKEN_GET,
        ST_POLICY_PUT,
        ST_POLICY_GET,
        ST_CHAIN_DROP_ADD,
        ST_CHAIN_DROPS_GET,
        ST_CHAIN_GAP_ADD,
        ST_CHAIN_GAPS_GET,
        ST_CHAIN_GAPS_GET_ALL,
        ST_CHAIN_GAP_REMOVE,
        ST_CHAIN_GAPS_BOUND,
        ST_CHAIN_GAPS_DUE,
        ST_CHAIN_GAP_COUNT,
        ST__MAX,
};

#define TERMINAL_COLUMNS                                                                           \
        "agent_id, hostname, department, cert_serial, last_seq, last_hash, enrolled_at, "          \
        "last_seen, policy_version, revoked_at"

#define STATEMENT(i, text, ...) [i] = {.id = i, .name = #i, .sql = text, __VA_ARGS__}
static const struct store_statement statements[ST__MAX] = {
    STATEMENT(ST_SCHEMA_VERSION_GET, "SELECT COALESCE(MAX(version), 0) FROM schema_version"),
    STATEMENT(ST_SCHEMA_VERSION_ADD,
              "INSERT INTO schema_version (version, description, applied_at) "
              "VALUES ($1, $2, $3)"),
    STATEMENT(ST_DEPARTMENT_ENSURE, "INSERT INTO departments (name, created_at) VALUES ($1, $2) "
                                    "ON CONFLICT (name) DO NOTHING"),
    STATEMENT(ST_TERMINAL_ADD,
              "INSERT INTO terminals (agent_id, hostname, department, cert_serial, last_seq, "
              "last_hash, enrolled_at, last_seen, policy_version) "
              "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (agent_id) DO NOTHING"),
    STATEMENT(ST_TERMINAL_GET, "SELECT " TERMINAL_COLUMNS " FROM terminals WHERE agent_id = $1"),
    STATEMENT(ST_TERMINAL_GET_LOCKED,
              "SELECT " TERMINAL_COLUMNS " FROM terminals WHERE agent_id = $1", .for_update = true),
    STATEMENT(ST_TERMINAL_SET_CHAIN,
              "UPDATE terminals SET last_seq = $2, last_hash = $3 WHERE agent_id = $1"),
    STATEMENT(ST_TERMINAL_SEEN,
              "UPDATE terminals SET last_seen = $2, "
              "policy_version = COALESCE($3, policy_version) WHERE agent_id = $1"),
    STATEMENT(ST_TERMINAL_REVOKE,
              "UPDATE terminals SET revoked_at = COALESCE(revoked_at, $2) WHERE agent_id = $1"),
    STATEMENT(ST_REVOCATION_ADD,
              "INSERT INTO revocations (agent_id, cert_serial, revoked_at) "
              "SELECT agent_id, cert_serial, revoked_at FROM terminals WHERE agent_id = $1 "
              "ON CONFLICT (agent_id) DO NOTHING"),
    STATEMENT(ST_REVOKED_LIST, "SELECT agent_id FROM revocations ORDER BY agent_id"),
    STATEMENT(ST_EVENT_INSERT,
              "INSERT INTO events (agent_id, seq, type, severity, ts, hash, event, "
              "received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
              "ON CONFLICT (agent_id, seq) DO NOTHING"),
    STATEMENT(ST_EVENT_HASH, "SELECT hash FROM events WHERE agent_id = $1 AND seq = $2"),
    /* One statement per filter, not "$1 IS NULL OR …": that would scan the whole table. */
    STATEMENT(ST_EVENT_COUNT, "SELECT COUNT(*) FROM events WHERE agent_id = $1"),
    STATEMENT(ST_EVENT_COUNT_ALL, "SELECT COUNT(*) FROM events"),
    STATEMENT(ST_ALERT_INSERT, "INSERT INTO alerts (agent_id, type, details, created_at) "
                               "VALUES ($1, $2, $3, $4)"),
    STATEMENT(ST_ALERT_COUNT, "SELECT COUNT(*) FROM alerts WHERE agent_id = $1 AND type = $2"),
    STATEMENT(ST_ALERT_COUNT_AGENT, "SELECT COUNT(*) FROM alerts WHERE agent_id = $1"),
    STATEMENT(ST_ALERT_COUNT_TYPE, "SELECT COUNT(*) FROM alerts WHERE type = $1"),
    STATEMENT(ST_ALERT_COUNT_ALL, "SELECT COUNT(*) FROM alerts"),
    STATEMENT(ST_POSTURE_LATEST_PUT,
              "INSERT INTO posture_latest (agent_id, posture, reported_at) VALUES ($1, $2, $3) "
              "ON CONFLICT (agent_id) DO UPDATE SET posture = excluded.posture, "
              "reported_at = excluded.reported_at"),
    STATEMENT(ST_POSTURE_HISTORY_ADD,
              "INSERT INTO posture_history (agent_id, posture, reported_at) "
              "VALUES ($1, $2, $3)"),
    STATEMENT(ST_POSTURE_GET,
              "SELECT posture, reported_at FROM posture_latest WHERE agent_id = $1"),
    STATEMENT(ST_POSTURE_HISTORY_COUNT, "SELECT COUNT(*) FROM posture_history WHERE agent_id = $1"),
    STATEMENT(ST_TOKEN_ADD,
              "INSERT INTO tokens (token_hash, department, uses_left, uses_total, expires_at, "
              "created_at) VALUES ($1, $2, $3, $3, $4, $5) ON CONFLICT (token_hash) DO NOTHING"),
    /* One statement, so that the check and the decrement are one step under the row's
     * lock: a collector that waited for another's use re-reads uses_left after it. */
    STATEMENT(ST_TOKEN_USE, "UPDATE tokens SET uses_left = uses_left - 1, last_used_at = $2 "
                            "WHERE token_hash = $1 AND uses_left > 0 AND expires_at > $2 "
                            "RETURNING department"),
    STATEMENT(ST_TOKEN_GET, "SELECT uses_left, expires_at FROM tokens WHERE token_hash = $1"),
    STATEMENT(ST_POLICY_PUT,
              "INSERT INTO policies (department, version, envelope, created_at) "
              "VALUES ($1, $2, $3, $4) ON CONFLICT (department, version) DO NOTHING"),
    STATEMENT(ST_POLICY_GET, "SELECT version, envelope FROM policies WHERE department = $1 "
                             "ORDER BY id DESC LIMIT 1"),
    STATEMENT(ST_CHAIN_DROP_ADD,
              "INSERT INTO chain_drops (agent_id, from_seq, to_seq, prev_hash, hash) "
              "VALUES ($1, $2, $3, $4, $5) "
              "ON CONFLICT (agent_id, from_seq, to_seq, prev_hash, hash) DO NOTHING"),
    STATEMENT(ST_CHAIN_DROPS_GET,
              "SELECT from_seq, to_seq, prev_hash, hash FROM chain_drops WHERE agent_id = $1 "
              "AND from_seq > $2 AND to_seq < $3 ORDER BY from_seq, to_seq"),
    STATEMENT(ST_CHAIN_GAP_ADD,
              "INSERT INTO chain_gaps (agent_id, last_seq, last_hash, next_seq, next_prev_hash, "
              "detected_at) VALUES ($1, $2, $3, $4, $5, $6) "
              "ON CONFLICT (agent_id, next_seq) DO NOTHING"),
#define CHAIN_GAP_COLUMNS                                                                          \
        "agent_id, last_seq, last_hash, next_seq, next_prev_hash, detected_at, bound_seq"
    STATEMENT(ST_CHAIN_GAPS_GET,
              "SELECT " CHAIN_GAP_COLUMNS " FROM chain_gaps WHERE agent_id = $1 "
              "AND detected_at <= $2 ORDER BY detected_at, next_seq"),
    STATEMENT(ST_CHAIN_GAPS_GET_ALL,
              "SELECT " CHAIN_GAP_COLUMNS " FROM chain_gaps WHERE detected_at <= $1 "
              "ORDER BY detected_at, agent_id, next_seq"),
    STATEMENT(ST_CHAIN_GAP_REMOVE, "DELETE FROM chain_gaps WHERE agent_id = $1 AND next_seq = $2"),
    STATEMENT(ST_CHAIN_GAPS_BOUND,
              "UPDATE chain_gaps SET bound_seq = $3 WHERE agent_id = $1 AND next_seq <= $2 "
              "AND bound_seq IS NULL"),
    STATEMENT(ST_CHAIN_GAPS_DUE,
              "SELECT " CHAIN_GAP_COLUMNS " FROM chain_gaps WHERE agent_id = $1 "
              "AND bound_seq <= $2 ORDER BY next_seq"),
    STATEMENT(ST_CHAIN_GAP_COUNT, "SELECT COUNT(*) FROM chain_gaps"),
};
_Static_assert(ST__MAX <= STORE_STATEMENTS_BACKEND_FIRST, "raise STORE_STATEMENTS_BACKEND_FIRST");

/* Every call into the back end goes between these two: the first refuses to go on in a
 * lost transaction, the second notices that the transaction was lost. */
static int store_check_usable(struct store *store)
{
        if (store->transaction_lost)
                return log_error_errno(-ECONNRESET,
                                       "Store: the transaction was lost earlier (nothing of it "
                                       "was committed); roll it back before using the store");
        return 0;
}

static int store_note_result(struct store *store, int r)
{
        if (r < 0 && store->in_transaction && !store->backend->in_transaction(store->conn))
                store->transaction_lost = true;
        return r;
}

static int store_run(struct store *store, unsigned id, const struct store_value *params,
                     size_t n_params, store_row_fn fn, void *ud)
{
        int r = store_check_usable(store);
        if (r < 0)
                return r;
        return store_note_result(
            store, store->backend->run(store->conn, &statements[id], params, n_params, fn, ud));
}

#define RUN(store, id, fn, ud, ...)                                                                \
        store_run((store), (id), (const struct store_value[]){__VA_ARGS__},                        \
                  ELEMENTSOF(((const struct store_value[]){__VA_ARGS__})), (fn), (ud))

/* Row readers. */

static int row_int64(const struct store_value *cols, size_t n_cols, void *ud)
{
        if (n_cols < 1 || cols[0].type != STORE_VALUE_INT)
                return -EBADMSG;
        *(int64_t *)ud = cols[0].i;
        return 0;
}

static int copy_text(char *dst, size_t size, const struct store_value *v)
{
        const char *s = v->type == STORE_VALUE_TEXT ? v->s : "";
        if (v->type == STORE_VALUE_INT)
                return -EBADMSG;
        if (strlen(s) >= size)
                return -EOVERFLOW;
        memcpy(dst, s, strlen(s) + 1);
        return 0;
}

static int dup_text(char **ret, const struct store_value *v)
{
        if (v->type != STORE_VALUE_TEXT)
                return -EBADMSG;
        char *s = strdup(v->s);
        if (!s)
                return -ENOMEM;
        free(*ret);
        *ret = s;
        return 0;
}

static int64_t count_rows(struct store *store, unsigned id, const struct store_value *params,
                          size_t n_params)
{
        int64_t n = 0;
        int r = store_run(store, id, params, n_params, row_int64, &n);
        if (r < 0)
                return r;
        return r == 0 ? -EBADMSG : n;
}

/* Runs fn inside a transaction: the caller's when one is open, else one of its own. */
static int store_atomically(struct store *store, int (*fn)(struct store *store, void *ud), void *ud)
{
        if (store->in_transaction)
                return fn(store, ud);

        int r = store_begin(store);
        if (r < 0)
                return r;
        r = fn(store, ud);
        if (r < 0) {
                (void)store_rollback(store);
                return r;
        }
        return store_commit(store);
}

static bool valid_name(const char *s, size_t max)
{
        return s && *s && strlen(s) < max;
}

static bool valid_text(const char *s, size_t max)
{
        return s && strlen(s) < max;
}

/* --- open, migrations ------------------------------------------------------------------ */

static int store_migrate_locked(struct store *store, void *ud)
{
        const struct store_backend *b = store->backend;
        const int latest = STORE_SCHEMA_LATEST;

        int r = b->lock_schema(store->conn);
        if (r >= 0)
                r = b->exec_script(store->conn, "CREATE TABLE IF NOT EXISTS schema_version ("
                                                " version INTEGER PRIMARY KEY,"
                                                " description TEXT NOT NULL,"
                                                " applied_at BIGINT NOT NULL)");
        if (r < 0)
                return r;
        const int64_t current = count_rows(store, ST_SCHEMA_VERSION_GET, NULL, 0);
        if (current < 0)
                return (int)current;
        if (current > latest)
                return log_error_errno(-EPROTONOSUPPORT,
                                       "Store: the database has schema version %" PRId64
                                       ", newer than this collector knows (%d); it was left "
                                       "untouched. Run the collector version that migrated it, "
                                       "or a newer one.",
                                       current, latest);

        for (size_t i = 0; i < b->n_migrations; i++) {
                const struct store_migration *m = &b->migrations[i];
                if (m->version <= current)
                        continue;
                r = b->exec_script(store->conn, m->sql);
                if (r >= 0)
                        r = RUN(store, ST_SCHEMA_VERSION_ADD, NULL, NULL, STORE_INT(m->version),
                                STORE_TEXT(m->description), STORE_INT((int64_t)time(NULL)));
                if (r < 0)
                        return log_error_errno(r,
                                               "Store: migration to schema version %d (%s) "
                                               "failed; the database was left at version "
                                               "%" PRId64 ": %m",
                                               m->version, m->description, current);
                log_info("Store: migrated %s database to schema version %d (%s)", b->name,
                         m->version, m->description);
        }
        store->schema_version = latest;
        return 0;
}

/* All migrations in one transaction: a database is at one version or the next, never half. */
static int store_migrate(struct store *store)
{
        return store_atomically(store, store_migrate_locked, NULL);
}

int store_open(enum store_kind kind, const char *target, struct store **ret)
{
        const struct store_backend *backend;

        switch (kind) {
        case STORE_SQLITE: backend = &store_backend_sqlite; break;
        case STORE_POSTGRES: backend = &store_backend_postgres; break;
        default: return log_error_errno(-EINVAL, "Store: unknown store kind %d", (int)kind);
        }
        if (!target || !*target)
                return log_error_errno(-EINVAL, "Store: no %s %s given", backend->name,
                                       kind == STORE_SQLITE ? "database path" : "conninfo");

        _cleanup_free_ struct store *store = calloc(1, sizeof *store);
        if (!store)
                return -ENOMEM;
        store->backend = backend;

        int r = backend->open(target, &store->conn);
        if (r < 0)
                return r;
        r = store_migrate(store);
        if (r < 0) {
                backend->close(store->conn);
                return r;
        }
        *ret = TAKE_PTR(store);
        return 0;
}

void store_close(struct store *store)
{
        if (!store)
                return;
        if (store->in_transaction)
                (void)store_rollback(store);
        store->backend->close(store->conn);
        free(store);
}

int store_schema_version(struct store *store)
{
        return store->schema_version;
}

/* --- transactions ------------------------------------------------------------------------ */

int store_begin(struct store *store)
{
        if (store->in_transaction)
                return log_error_errno(-EINPROGRESS, "Store: a transaction is open already");
        int r = store->backend->begin(store->conn);
        if (r < 0)
                return r;
        store->in_transaction = true;
        store->transaction_lost = false;
        return 0;
}

int store_commit(struct store *store)
{
        if (!store->in_transaction)
                return log_error_errno(-EINVAL, "Store: commit without a transaction");
        if (store->transaction_lost) {
                store->in_transaction = store->transaction_lost = false;
                (void)store->backend->rollback(store->conn);
                return log_error_errno(-ECONNRESET,
                                       "Store: the transaction was lost before commit; nothing "
                                       "of it was stored");
        }
        int r = store->backend->commit(store->conn);
        /* A failed COMMIT ends the transaction too (both databases roll it back). */
        store->in_transaction = false;
        if (r < 0)
                (void)store->backend->rollback(store->conn);
        return r;
}

int store_rollback(struct store *store)
{
        /* Nothing open (a failed commit ended it already): nothing to undo. */
        if (!store->in_transaction)
                return 0;
        store->in_transaction = store->transaction_lost = false;
        return store->backend->rollback(store->conn);
}

/* --- terminals --------------------------------------------------------------------------- */

static int department_ensure(struct store *store, const char *department, int64_t now)
{
        if (!*department)
                return 0;
        int r =
            RUN(store, ST_DEPARTMENT_ENSURE, NULL, NULL, STORE_TEXT(department), STORE_INT(now));
        return r < 0 ? r : 0;
}

static int terminal_add_locked(struct store *store, void *ud)
{
        const struct store_terminal *t = ud;
        const char *last_hash = *t->last_hash ? t->last_hash : EVENT_GENESIS_HASH;

        int r = department_ensure(store, t->department, t->enrolled_at);
        if (r < 0)
                return r;
        r = RUN(store, ST_TERMINAL_ADD, NULL, NULL, STORE_TEXT(t->agent_id),
                STORE_TEXT(t->hostname), STORE_TEXT(t->department), STORE_TEXT(t->cert_serial),
                STORE_INT((int64_t)t->last_seq), STORE_TEXT(last_hash), STORE_INT(t->enrolled_at),
                STORE_INT(t->last_seen), STORE_TEXT(t->policy_version));
        if (r < 0)
                return r;
        return r == 0 ? -EEXIST : 0;
}

int store_terminal_add(struct store *store, const struct store_terminal *t)
{
        if (!valid_name(t->agent_id, sizeof t->agent_id) ||
            !valid_text(t->hostname, sizeof t->hostname) ||
            !valid_text(t->department, sizeof t->department) ||
            !valid_text(t->cert_serial, sizeof t->cert_serial) ||
            !valid_text(t->policy_version, sizeof t->policy_version) || t->last_seq > INT64_MAX ||
            (*t->last_hash && !is_lower_hex(t->last_hash, SHA256_HEX_LEN)))
                return log_error_errno(-EINVAL, "Store: refusing a malformed terminal record");
        return store_atomically(store, terminal_add_locked, (void *)t);
}

static int row_terminal(const struct store_value *c, size_t n, void *ud)
{
        struct store_terminal t = {};
        int r;

        if (n != 10 || c[4].type != STORE_VALUE_INT || c[4].i < 0 || c[6].type != STORE_VALUE_INT ||
            c[7].type != STORE_VALUE_INT)
                return -EBADMSG;
        if ((r = copy_text(t.agent_id, sizeof t.agent_id, &c[0])) < 0 ||
            (r = copy_text(t.hostname, sizeof t.hostname, &c[1])) < 0 ||
            (r = copy_text(t.department, sizeof t.department, &c[2])) < 0 ||
            (r = copy_text(t.cert_serial, sizeof t.cert_serial, &c[3])) < 0 ||
            (r = copy_text(t.last_hash, sizeof t.last_hash, &c[5])) < 0 ||
            (r = copy_text(t.policy_version, sizeof t.policy_version, &c[8])) < 0)
                return r;
        t.last_seq = (uint64_t)c[4].i;
        t.enrolled_at = c[6].i;
        t.last_seen = c[7].i;
        t.revoked = c[9].type == STORE_VALUE_INT;
        t.revoked_at = t.revoked ? c[9].i : 0;
        *(struct store_terminal *)ud = t;
        return 0;
}

static int terminal_get(struct store *store, unsigned id, const char *agent_id,
                        struct store_terminal *ret)
{
        if (!valid_name(agent_id, sizeof ret->agent_id))
                return -EINVAL;
        struct store_terminal t;
        int r = RUN(store, id, row_terminal, &t, STORE_TEXT(agent_id));
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        *ret = t;
        return 0;
}

int store_terminal_get(struct store *store, const char *agent_id, struct store_terminal *ret)
{
        return terminal_get(store, ST_TERMINAL_GET, agent_id, ret);
}

int store_terminal_get_locked(struct store *store, const char *agent_id, struct store_terminal *ret)
{
        if (!store->in_transaction)
                return log_error_errno(-EINVAL, "Store: a locked read needs a transaction");
        return terminal_get(store, ST_TERMINAL_GET_LOCKED, agent_id, ret);
}

static int update_one(struct store *store, unsigned id, const struct store_value *params,
                      size_t n_params)
{
        int r = store_run(store, id, params, n_params, NULL, NULL);
        if (r < 0)
                return r;
        return r == 0 ? -ENOENT : 0;
}

int store_terminal_set_chain(struct store *store, const char *agent_id, uint64_t last_seq,
                             const char *last_hash)
{
        if (!valid_name(agent_id, 64) || last_seq > INT64_MAX || !last_hash ||
            !is_lower_hex(last_hash, SHA256_HEX_LEN))
                return -EINVAL;
        return update_one(store, ST_TERMINAL_SET_CHAIN,
                          (struct store_value[]){STORE_TEXT(agent_id), STORE_INT((int64_t)last_seq),
                                                 STORE_TEXT(last_hash)},
                          3);
}

int store_terminal_seen(struct store *store, const char *agent_id, int64_t now,
                        const char *policy_version)
{
        if (!valid_name(agent_id, 64) || (policy_version && strlen(policy_version) >= 64))
                return -EINVAL;
        return update_one(store, ST_TERMINAL_SEEN,
                          (struct store_value[]){STORE_TEXT(agent_id), STORE_INT(now),
                                                 STORE_TEXT(policy_version)},
                          3);
}

struct revoke_args {
        const char *agent_id;
        int64_t now;
};

static int terminal_revoke_locked(struct store *store, void *ud)
{
        const struct revoke_args *a = ud;
        int r = update_one(store, ST_TERMINAL_REVOKE,
                           (struct store_value[]){STORE_TEXT(a->agent_id), STORE_INT(a->now)}, 2);
        if (r < 0)
                return r;
        r = RUN(store, ST_REVOCATION_ADD, NULL, NULL, STORE_TEXT(a->agent_id));
        return r < 0 ? r : 0;
}

int store_terminal_revoke(struct store *store, const char *agent_id, int64_t now)
{
        if (!valid_name(agent_id, 64))
                return -EINVAL;
        return store_atomically(store, terminal_revoke_locked,
                                &(struct revoke_args){.agent_id = agent_id, .now = now});
}

struct foreach_args {
        int (*fn)(const char *agent_id, void *ud);
        void *ud;
};

static int row_revoked(const struct store_value *c, size_t n, void *ud)
{
        const struct foreach_args *a = ud;
        if (n != 1 || c[0].type != STORE_VALUE_TEXT)
                return -EBADMSG;
        int r = a->fn(c[0].s, a->ud);
        return r < 0 ? r : 0;
}

int store_revoked_foreach(struct store *store, int (*fn)(const char *agent_id, void *ud), void *ud)
{
        int r = store_run(store, ST_REVOKED_LIST, NULL, 0, row_revoked,
                          &(struct foreach_args){.fn = fn, .ud = ud});
        return r < 0 ? r : 0;
}

/* --- events, alerts, posture ---------------------------------------------------------------- */

static bool event_valid(const char *agent_id, const struct store_event *e)
{
        return valid_name(agent_id, 64) && e->seq > 0 && e->seq <= INT64_MAX &&
               valid_name(e->type, 256) && valid_name(e->severity, 64) && valid_name(e->ts, 64) &&
               e->hash && is_lower_hex(e->hash, SHA256_HEX_LEN) &&
               valid_name(e->event_json, SIZE_MAX);
}

static int event_insert_one(struct store *store, const char *agent_id, const struct store_event *e,
                            int64_t received_at)
{
        int r = RUN(store, ST_EVENT_INSERT, NULL, NULL, STORE_TEXT(agent_id),
                    STORE_INT((int64_t)e->seq), STORE_TEXT(e->type), STORE_TEXT(e->severity),
                    STORE_TEXT(e->ts), STORE_TEXT(e->hash), STORE_TEXT(e->event_json),
                    STORE_INT(received_at));
        if (r < 0)
                return r;
        return r == 0 ? -EEXIST : 0;
}

int store_event_insert(struct store *store, const char *agent_id, uint64_t seq, const char *type,
                       const char *severity, const char *ts, const char *hash,
                       const char *event_json, int64_t received_at)
{
        const struct store_event e = {seq, type, severity, ts, hash, event_json};
        if (!event_valid(agent_id, &e))
                return -EINVAL;
        return event_insert_one(store, agent_id, &e, received_at);
}

struct batch_args {
        const char *agent_id;
        const struct store_event *events;
        size_t n;
        int64_t received_at;
        bool *inserted;
        int count;
};

static int event_insert_batch_locked(struct store *store, void *ud)
{
        struct batch_args *a = ud;
        if (store->backend->insert_events) {
                int r = store_check_usable(store);
                if (r < 0)
                        return r;
                r = store_note_result(
                    store, store->backend->insert_events(store->conn, a->agent_id, a->events, a->n,
                                                         a->received_at, a->inserted));
                a->count = r;
                return r < 0 ? r : 0;
        }
        a->count = 0;
        for (size_t i = 0; i < a->n; i++) {
                int r = event_insert_one(store, a->agent_id, &a->events[i], a->received_at);
                if (r < 0 && r != -EEXIST)
                        return r;
                a->inserted[i] = r == 0;
                a->count += r == 0;
        }
        return 0;
}

int store_event_insert_batch(struct store *store, const char *agent_id,
                             const struct store_event *events, size_t n, int64_t received_at,
                             bool *ret_inserted)
{
        if (n > INT_MAX)
                return -E2BIG;
        for (size_t i = 0; i < n; i++)
                if (!event_valid(agent_id, &events[i]))
                        return log_error_errno(-EINVAL,
                                               "Store: event %zu of the batch for %s is "
                                               "malformed; nothing of it was stored",
                                               i, agent_id ? agent_id : "(null)");
        if (n == 0)
                return 0;

        _cleanup_free_ bool *inserted = calloc(n, sizeof *inserted);
        if (!inserted)
                return -ENOMEM;
        struct batch_args a = {agent_id, events, n, received_at, inserted, 0};
        int r = store_atomically(store, event_insert_batch_locked, &a);
        if (r < 0)
                return r;
        if (ret_inserted)
                memcpy(ret_inserted, inserted, n * sizeof *inserted);
        return a.count;
}

static int row_hash(const struct store_value *c, size_t n, void *ud)
{
        if (n != 1)
                return -EBADMSG;
        return copy_text(ud, SHA256_HEX_LEN + 1, &c[0]);
}

int store_event_hash(struct store *store, const char *agent_id, uint64_t seq,
                     char ret[static SHA256_HEX_LEN + 1])
{
        if (!valid_name(agent_id, 64) || seq > INT64_MAX)
                return -EINVAL;
        char hash[SHA256_HEX_LEN + 1];
        int r = RUN(store, ST_EVENT_HASH, row_hash, hash, STORE_TEXT(agent_id),
                    STORE_INT((int64_t)seq));
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        memcpy(ret, hash, sizeof hash);
        return 0;
}

int64_t store_event_count(struct store *store, const char *agent_id)
{
        if (!agent_id)
                return count_rows(store, ST_EVENT_COUNT_ALL, NULL, 0);
        return count_rows(store, ST_EVENT_COUNT, (struct store_value[]){STORE_TEXT(agent_id)}, 1);
}

int store_alert_insert(struct store *store, const char *agent_id, const char *type,
                       const char *details_json, int64_t now)
{
        if (!valid_name(agent_id, 64) || !valid_name(type, 256))
                return -EINVAL;
        int r = RUN(store, ST_ALERT_INSERT, NULL, NULL, STORE_TEXT(agent_id), STORE_TEXT(type),
                    STORE_TEXT(details_json ? details_json : "{}"), STORE_INT(now));
        return r < 0 ? r : 0;
}

int64_t store_alert_count(struct store *store, const char *agent_id, const char *type)
{
        if (agent_id && type)
                return count_rows(store, ST_ALERT_COUNT,
                                  (struct store_value[]){STORE_TEXT(agent_id), STORE_TEXT(type)},
                                  2);
        if (agent_id)
                return count_rows(store, ST_ALERT_COUNT_AGENT,
                                  (struct store_value[]){STORE_TEXT(agent_id)}, 1);
        if (type)
                return count_rows(store, ST_ALERT_COUNT_TYPE,
                                  (struct store_value[]){STORE_TEXT(type)}, 1);
        return count_rows(store, ST_ALERT_COUNT_ALL, NULL, 0);
}

/* --- chain drops and pending gaps ---------------------------------------------------------- */

static bool valid_seq(uint64_t seq)
{
        return seq > 0 && seq <= INT64_MAX;
}

int store_chain_drop_add(struct store *store, const char *agent_id, const struct chain_drop *drop)
{
        if (!valid_name(agent_id, 64) || !valid_seq(drop->from_seq) || !valid_seq(drop->to_seq) ||
            drop->to_seq < drop->from_seq || !is_lower_hex(drop->prev_hash, SHA256_HEX_LEN) ||
            !is_lower_hex(drop->hash, SHA256_HEX_LEN))
                return -EINVAL;
        int r = RUN(store, ST_CHAIN_DROP_ADD, NULL, NULL, STORE_TEXT(agent_id),
                    STORE_INT((int64_t)drop->from_seq), STORE_INT((int64_t)drop->to_seq),
                    STORE_TEXT(drop->prev_hash), STORE_TEXT(drop->hash));
        return r < 0 ? r : 0;
}

/* A growing array of fixed-size rows for the readers below. */
struct row_array {
        void *items;
        size_t n, cap, size;
};

static void *row_array_next(struct row_array *a)
{
        if (a->n == a->cap) {
                size_t cap = a->cap ? a->cap * 2 : 8;
                void *items = reallocarray(a->items, cap, a->size);
                if (!items)
                        return NULL;
                a->items = items;
                a->cap = cap;
        }
        void *item = (char *)a->items + a->n * a->size;
        memset(item, 0, a->size);
        return item;
}

/* The rows read, or the error that stopped reading them (nothing handed back then). */
static int row_array_take(struct row_array *a, int r, void *ret_items, size_t *ret_n)
{
        if (r < 0) {
                free(a->items);
                return r;
        }
        *(void **)ret_items = a->items;
        *ret_n = a->n;
        return 0;
}

static int row_seq(const struct store_value *v, uint64_t *ret)
{
        if (v->type != STORE_VALUE_INT || v->i < 1)
                return -EBADMSG;
        *ret = (uint64_t)v->i;
        return 0;
}

static int row_chain_drop(const struct store_value *c, size_t n, void *ud)
{
        struct row_array *a = ud;
        struct chain_drop *d = row_array_next(a);
        if (!d)
                return -ENOMEM;
        int r;
        if (n != 4)
                return -EBADMSG;
        if ((r = row_seq(&c[0], &d->from_seq)) < 0 || (r = row_seq(&c[1], &d->to_seq)) < 0 ||
            (r = copy_text(d->prev_hash, sizeof d->prev_hash, &c[2])) < 0 ||
            (r = copy_text(d->hash, sizeof d->hash, &c[3])) < 0)
                return r;
        a->n++;
        return 0;
}

int store_chain_drops_get(struct store *store, const char *agent_id, uint64_t after_seq,
                          uint64_t before_seq, struct chain_drop **ret_drops, size_t *ret_n)
{
        if (!valid_name(agent_id, 64))
                return -EINVAL;
        struct row_array a = {.size = sizeof(struct chain_drop)};
        int r = RUN(store, ST_CHAIN_DROPS_GET, row_chain_drop, &a, STORE_TEXT(agent_id),
                    STORE_INT((int64_t)MIN(after_seq, (uint64_t)INT64_MAX)),
                    STORE_INT((int64_t)MIN(before_seq, (uint64_t)INT64_MAX)));
        return row_array_take(&a, r, ret_drops, ret_n);
}

int store_chain_gap_add(struct store *store, const struct store_chain_gap *gap)
{
        if (!valid_name(gap->agent_id, sizeof gap->agent_id) || gap->last_seq > INT64_MAX ||
            !valid_seq(gap->next_seq) || gap->next_seq <= gap->last_seq + 1 ||
            !is_lower_hex(gap->last_hash, SHA256_HEX_LEN) ||
            !is_lower_hex(gap->next_prev_hash, SHA256_HEX_LEN))
                return -EINVAL;
        int r = RUN(store, ST_CHAIN_GAP_ADD, NULL, NULL, STORE_TEXT(gap->agent_id),
                    STORE_INT((int64_t)gap->last_seq), STORE_TEXT(gap->last_hash),
                    STORE_INT((int64_t)gap->next_seq), STORE_TEXT(gap->next_prev_hash),
                    STORE_INT(gap->detected_at));
        if (r < 0)
                return r;
        return r == 0 ? -EEXIST : 0;
}

static int row_chain_gap(const struct store_value *c, size_t n, void *ud)
{
        struct row_array *a = ud;
        struct store_chain_gap *g = row_array_next(a);
        if (!g)
                return -ENOMEM;
        int r;
        if (n != 7 || c[1].type != STORE_VALUE_INT || c[1].i < 0 || c[5].type != STORE_VALUE_INT)
                return -EBADMSG;
        g->last_seq = (uint64_t)c[1].i;
        g->detected_at = c[5].i;
        if (c[6].type != STORE_VALUE_NULL && (r = row_seq(&c[6], &g->bound_seq)) < 0)
                return r;
        if ((r = copy_text(g->agent_id, sizeof g->agent_id, &c[0])) < 0 ||
            (r = copy_text(g->last_hash, sizeof g->last_hash, &c[2])) < 0 ||
            (r = row_seq(&c[3], &g->next_seq)) < 0 ||
            (r = copy_text(g->next_prev_hash, sizeof g->next_prev_hash, &c[4])) < 0)
                return r;
        a->n++;
        return 0;
}

int store_chain_gaps_get(struct store *store, const char *agent_id, int64_t detected_before,
                         struct store_chain_gap **ret_gaps, size_t *ret_n)
{
        if (agent_id && !valid_name(agent_id, 64))
                return -EINVAL;
        struct row_array a = {.size = sizeof(struct store_chain_gap)};
        int r = agent_id ? RUN(store, ST_CHAIN_GAPS_GET, row_chain_gap, &a, STORE_TEXT(agent_id),
                               STORE_INT(detected_before))
                         : RUN(store, ST_CHAIN_GAPS_GET_ALL, row_chain_gap, &a,
                               STORE_INT(detected_before));
        return row_array_take(&a, r, ret_gaps, ret_n);
}

int store_chain_gap_remove(struct store *store, const char *agent_id, uint64_t next_seq)
{
        if (!valid_name(agent_id, 64) || !valid_seq(next_seq))
                return -EINVAL;
        int r = RUN(store, ST_CHAIN_GAP_REMOVE, NULL, NULL, STORE_TEXT(agent_id),
                    STORE_INT((int64_t)next_seq));
        if (r < 0)
                return r;
        return r == 0 ? -ENOENT : 0;
}

int store_chain_gaps_bound(struct store *store, const char *agent_id, uint64_t next_seq_max,
                           uint64_t bound_seq)
{
        if (!valid_name(agent_id, 64) || !valid_seq(next_seq_max) || !valid_seq(bound_seq))
                return -EINVAL;
        return RUN(store, ST_CHAIN_GAPS_BOUND, NULL, NULL, STORE_TEXT(agent_id),
                   STORE_INT((int64_t)next_seq_max), STORE_INT((int64_t)bound_seq));
}

int store_chain_gaps_due(struct store *store, const char *agent_id, uint64_t head_seq,
                         struct store_chain_gap **ret_gaps, size_t *ret_n)
{
        if (!valid_name(agent_id, 64))
                return -EINVAL;
        struct row_array a = {.size = sizeof(struct store_chain_gap)};
        int r = RUN(store, ST_CHAIN_GAPS_DUE, row_chain_gap, &a, STORE_TEXT(agent_id),
                    STORE_INT((int64_t)MIN(head_seq, (uint64_t)INT64_MAX)));
        return row_array_take(&a, r, ret_gaps, ret_n);
}

int64_t store_chain_gap_count(struct store *store)
{
        return count_rows(store, ST_CHAIN_GAP_COUNT, NULL, 0);
}

struct posture_args {
        const char *agent_id;
        const char *posture_json;
        int64_t now;
};

static int posture_put_locked(struct store *store, void *ud)
{
        const struct posture_args *a = ud;
        int r = RUN(store, ST_POSTURE_LATEST_PUT, NULL, NULL, STORE_TEXT(a->agent_id),
                    STORE_TEXT(a->posture_json), STORE_INT(a->now));
        if (r >= 0)
                r = RUN(store, ST_POSTURE_HISTORY_ADD, NULL, NULL, STORE_TEXT(a->agent_id),
                        STORE_TEXT(a->posture_json), STORE_INT(a->now));
        return r < 0 ? r : 0;
}

int store_posture_put(struct store *store, const char *agent_id, const char *posture_json,
                      int64_t now)
{
        if (!valid_name(agent_id, 64) || !valid_name(posture_json, SIZE_MAX))
                return -EINVAL;
        return store_atomically(store, posture_put_locked,
                                &(struct posture_args){agent_id, posture_json, now});
}

struct posture_row {
        char *posture;
        int64_t reported_at;
};

static int row_posture(const struct store_value *c, size_t n, void *ud)
{
        struct posture_row *p = ud;
        if (n != 2 || c[1].type != STORE_VALUE_INT)
                return -EBADMSG;
        p->reported_at = c[1].i;
        return dup_text(&p->posture, &c[0]);
}

int store_posture_get(struct store *store, const char *agent_id, char **ret_posture_json,
                      int64_t *ret_reported_at)
{
        if (!valid_name(agent_id, 64))
                return -EINVAL;
        struct posture_row p = {};
        int r = RUN(store, ST_POSTURE_GET, row_posture, &p, STORE_TEXT(agent_id));
        if (r <= 0) {
                free(p.posture);
                return r < 0 ? r : -ENOENT;
        }
        *ret_posture_json = p.posture;
        if (ret_reported_at)
                *ret_reported_at = p.reported_at;
        return 0;
}

int64_t store_posture_history_count(struct store *store, const char *agent_id)
{
        if (!valid_name(agent_id, 64))
                return -EINVAL;
        return count_rows(store, ST_POSTURE_HISTORY_COUNT,
                          (struct store_value[]){STORE_TEXT(agent_id)}, 1);
}

/* --- tokens ------------------------------------------------------------------------------------
 */

struct token_args {
        const char *token_hash;
        const char *department;
        int uses;
        int64_t expires_at;
        int64_t now;
};

static int token_add_locked(struct store *store, void *ud)
{
        const struct token_args *a = ud;
        int r = department_ensure(store, a->department, a->now);
        if (r < 0)
                return r;
        r = RUN(store, ST_TOKEN_ADD, NULL, NULL, STORE_TEXT(a->token_hash),
                STORE_TEXT(a->department), STORE_INT(a->uses), STORE_INT(a->expires_at),
                STORE_INT(a->now));
        if (r < 0)
                return r;
        return r == 0 ? -EEXIST : 0;
}

int store_token_add(struct store *store, const char *token_hash, const char *department, int uses,
                    int64_t expires_at, int64_t now)
{
        if (!token_hash || !is_lower_hex(token_hash, SHA256_HEX_LEN) ||
            !valid_name(department, 256) || uses < 1)
                return log_error_errno(-EINVAL, "Store: refusing a malformed enrollment token");
        return store_atomically(
            store, token_add_locked,
            &(struct token_args){token_hash, department, uses, expires_at, now});
}

/* Why a token was not usable: the rule, apart from the database. */
static int token_refusal(bool found, int64_t uses_left, int64_t expires_at, int64_t now)
{
        if (!found)
                return -ENOENT;
        if (expires_at <= now)
                return -EKEYEXPIRED;
        if (uses_left <= 0)
                return -EUSERS;
        /* Usable now but not a moment ago: only a clock going backwards between the two
         * statements gets here; refuse rather than guess. */
        return -EAGAIN;
}

static int row_department(const struct store_value *c, size_t n, void *ud)
{
        if (n != 1)
                return -EBADMSG;
        return copy_text(ud, 256, &c[0]);
}

struct token_row {
        int64_t uses_left;
        int64_t expires_at;
};

static int row_token(const struct store_value *c, size_t n, void *ud)
{
        struct token_row *t = ud;
        if (n != 2 || c[0].type != STORE_VALUE_INT || c[1].type != STORE_VALUE_INT)
                return -EBADMSG;
        t->uses_left = c[0].i;
        t->expires_at = c[1].i;
        return 0;
}

int store_token_use(struct store *store, const char *token_hash, int64_t now,
                    char ret_department[static 256])
{
        if (!token_hash || !is_lower_hex(token_hash, SHA256_HEX_LEN))
                return -ENOENT; /* no stored token can have this hash */

        char department[256];
        int r = RUN(store, ST_TOKEN_USE, row_department, department, STORE_TEXT(token_hash),
                    STORE_INT(now));
        if (r < 0)
                return r;
        if (r > 0) {
                memcpy(ret_department, department, sizeof department);
                return 0;
        }

        struct token_row t = {};
        r = RUN(store, ST_TOKEN_GET, row_token, &t, STORE_TEXT(token_hash));
        if (r < 0)
                return r;
        return token_refusal(r > 0, t.uses_left, t.expires_at, now);
}

/* --- policies ------------------------------------------------------------------------------------
 */

struct policy_args {
        const char *department;
        const char *version;
        const char *envelope_json;
        int64_t now;
};

static int policy_put_locked(struct store *store, void *ud)
{
        const struct policy_args *a = ud;
        int r = department_ensure(store, a->department, a->now);
        if (r < 0)
                return r;
        r = RUN(store, ST_POLICY_PUT, NULL, NULL, STORE_TEXT(a->department), STORE_TEXT(a->version),
                STORE_TEXT(a->envelope_json), STORE_INT(a->now));
        if (r < 0)
                return r;
        return r == 0 ? -EEXIST : 0;
}

int store_policy_put(struct store *store, const char *department, const char *version,
                     const char *envelope_json, int64_t now)
{
        if (!valid_text(department, 256) || !valid_name(version, 64) ||
            !valid_name(envelope_json, SIZE_MAX))
                return -EINVAL;
        return store_atomically(store, policy_put_locked,
                                &(struct policy_args){department, version, envelope_json, now});
}

struct policy_row {
        char *version;
        char *envelope;
};

static int row_policy(const struct store_value *c, size_t n, void *ud)
{
        struct policy_row *p = ud;
        int r;
        if (n != 2)
                return -EBADMSG;
        if ((r = dup_text(&p->version, &c[0])) < 0)
                return r;
        return dup_text(&p->envelope, &c[1]);
}

int store_policy_get(struct store *store, const char *department, char **ret_version,
                     char **ret_envelope_json)
{
        if (!valid_text(department, 256))
                return -EINVAL;

        struct policy_row p = {};
        int r = RUN(store, ST_POLICY_GET, row_policy, &p, STORE_TEXT(department));
        if (r == 0 && *department)
                r = RUN(store, ST_POLICY_GET, row_policy, &p,
                        (struct store_value){.type = STORE_VALUE_TEXT, .s = ""});
        if (r <= 0) {
                free(p.version);
                free(p.envelope);
                return r < 0 ? r : -ENOENT;
        }
        *ret_version = p.version;
        *ret_envelope_json = p.envelope;
        return 0;
}

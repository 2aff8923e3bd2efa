/* store_backend.h — what a store back end provides to collectors/store.c.
 *
 * A back end is a connection that runs SQL: it opens and closes, runs the migration scripts
 * of its own dialect, runs transactions, and runs the named statements of store.c (one SQL
 * text for both back ends, written with PostgreSQL's $1..$n placeholders) with typed
 * parameters, handing every result row to a callback. It caches each statement prepared,
 * maps its database's errors to -errno and logs them once with the database's words.
 * Everything else (what the statements mean, token rules, policy fallback, transactions
 * lost with a connection) is in store.c, written once for both.
 */
#ifndef HOGO_COLLECTOR_STORE_BACKEND_H
#define HOGO_COLLECTOR_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collectors/store.h"

enum store_value_type {
        STORE_VALUE_NULL,
        STORE_VALUE_INT,
        STORE_VALUE_TEXT,
};

struct store_value {
        enum store_value_type type;
        int64_t i;
        const char *s;
};

#define STORE_NULL   ((struct store_value){.type = STORE_VALUE_NULL})
#define STORE_INT(v) ((struct store_value){.type = STORE_VALUE_INT, .i = (v)})
/* A NULL string is SQL NULL. */
#define STORE_TEXT(v)                                                                              \
        ((struct store_value){.type = (v) ? STORE_VALUE_TEXT : STORE_VALUE_NULL, .s = (v)})

/* One statement of store.c. id indexes the back end's cache of prepared statements. */
struct store_statement {
        unsigned id;
        const char *name; /* for error messages */
        const char *sql;
        /* Take the selected rows' locks until the transaction ends (PostgreSQL appends FOR
         * UPDATE; SQLite's BEGIN IMMEDIATE holds the whole database already). */
        bool for_update;
};

#define STORE_STATEMENTS_MAX 64
/* Ids from here up are a back end's own statements (its bulk paths). */
#define STORE_STATEMENTS_BACKEND_FIRST 56

/* Gets one result row; the values are valid during the call. A negative return stops the
 * statement and is returned by run(). */
typedef int (*store_row_fn)(const struct store_value *cols, size_t n_cols, void *ud);

struct store_migration {
        int version;
        const char *description;
        const char *sql; /* several statements */
};

/* The schema version this code migrates to; every back end's list ends with it. */
#define STORE_SCHEMA_LATEST 5

/* Migrations whose SQL both dialects accept, shared by the back ends' lists. */
#define STORE_MIGRATION_2                                                                          \
        {                                                                                          \
                2, "alerts by type and time",                                                      \
                    "CREATE INDEX alerts_type_created ON alerts (type, created_at)",               \
        }
#define STORE_MIGRATION_3                                                                          \
        {                                                                                          \
                3, "declared spool drops and chain gaps waiting for their declaration",            \
                    "CREATE TABLE chain_drops ("                                                   \
                    " agent_id TEXT NOT NULL,"                                                     \
                    " from_seq BIGINT NOT NULL,"                                                   \
                    " to_seq BIGINT NOT NULL,"                                                     \
                    " prev_hash TEXT NOT NULL,"                                                    \
                    " hash TEXT NOT NULL,"                                                         \
                    " PRIMARY KEY (agent_id, from_seq, to_seq, prev_hash, hash));"                 \
                    "CREATE TABLE chain_gaps ("                                                    \
                    " agent_id TEXT NOT NULL,"                                                     \
                    " last_seq BIGINT NOT NULL,"                                                   \
                    " last_hash TEXT NOT NULL,"                                                    \
                    " next_seq BIGINT NOT NULL,"                                                   \
                    " next_prev_hash TEXT NOT NULL,"                                               \
                    " detected_at BIGINT NOT NULL,"                                                \
                    " PRIMARY KEY (agent_id, next_seq));"                                          \
                    "CREATE INDEX chain_gaps_detected ON chain_gaps (detected_at)",                \
        }
/* A terminal's events are read in its own order, seq, through the unique (agent_id, seq)
 * index; (agent_id, ts) duplicated it and cost a quarter of the store's CPU per ingested
 * event (every insert updates every index). */
#define STORE_MIGRATION_4                                                                          \
        {                                                                                          \
                4, "events: drop the (agent_id, ts) index the (agent_id, seq) one covers",        \
                    "DROP INDEX IF EXISTS events_agent_ts",                                        \
        }
/* The seq by which a pending gap's declaration must have come (ingest.h,
 * ingest_gaps_bound()); NULL until the terminal has reported one. */
#define STORE_MIGRATION_5                                                                          \
        {                                                                                          \
                5, "chain gaps: the seq their declaration must come by",                           \
                    "ALTER TABLE chain_gaps ADD COLUMN bound_seq BIGINT",                          \
        }

struct store_backend {
        const char *name;
        int (*open)(const char *target, void **ret_conn);
        void (*close)(void *conn);
        /* Runs several statements without parameters (migrations). */
        int (*exec_script)(void *conn, const char *sql);
        int (*begin)(void *conn);
        int (*commit)(void *conn);
        int (*rollback)(void *conn);
        /* Whether a transaction begun is still open (false after the database rolled it
         * back by itself or the connection was lost). */
        bool (*in_transaction)(void *conn);
        /* Inside the migration's transaction: keeps other collectors from migrating at
         * the same time. */
        int (*lock_schema)(void *conn);
        /* Runs st with params; returns the number of rows handed to fn when the statement
         * returns rows, else the number of rows it changed; or -errno. */
        int (*run)(void *conn, const struct store_statement *st, const struct store_value *params,
                   size_t n_params, store_row_fn fn, void *ud);
        /* Optional bulk path (NULL: store.c inserts one by one): inserts the events of
         * agent_id, already validated, skipping (agent, seq) pairs stored already; returns
         * the number inserted and sets inserted[i] for those. */
        int (*insert_events)(void *conn, const char *agent_id, const struct store_event *events,
                             size_t n, int64_t received_at, bool *inserted);
        /* The schema, in order of version; the versions are the same in every back end. */
        const struct store_migration *migrations;
        size_t n_migrations;
};

extern const struct store_backend store_backend_sqlite;
extern const struct store_backend store_backend_postgres;

#endif

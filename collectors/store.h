/* store.h — the collector's storage, one interface over two back ends.
 *
 * SQLite (WAL; the embedded default, zero set-up) and PostgreSQL (libpq; for sites that
 * run several collectors behind a load balancer) implement the same small set of
 * primitives (struct store_backend below). Everything with a rule in it — chain checks on
 * ingest, token use, which policy an agent gets — is written once, on top of the
 * primitives, in collectors/ingest.c and friends, so both back ends behave the same and
 * pass the same test suite (tests/unit/test_store.c runs it against each).
 *
 * Configuration: {"store": {"sqlite": "/var/lib/hogo/collector.db"}} or
 * {"store": {"postgres": "host=/run/postgresql dbname=hogo"}}.
 *
 * Tables (migrations are versioned in schema_version): departments, terminals, events,
 * alerts, posture (latest + history), tokens, revocations, policies, chain_drops and
 * chain_gaps (version 3); docs/ARCHITECTURE.md
 * ("Store") describes each. Times are Unix seconds (int64). All functions return 0 /
 * positive on success and -errno on failure; "not found" is -ENOENT, a duplicate key is
 * -EEXIST. Errors are logged once, here, with what the database said.
 *
 * Errors worth knowing: -EBADMSG the SQLite file is not a database (or is corrupt);
 * -ECONNREFUSED PostgreSQL cannot be reached (logged with libpq's reason); -ECONNRESET the
 * connection was lost during the call — nothing of a lost transaction was committed, the
 * caller rolls back (every further call in that transaction fails until it does) and the
 * next call reconnects; -EPROTONOSUPPORT the database was migrated by a newer collector;
 * -EBUSY another writer held the database past the busy timeout; -ENOSPC disk full.
 *
 * A struct store is one connection: use it from one thread at a time. Several collectors
 * (or threads) open one store each; PostgreSQL row locks and SQLite's single writer keep
 * them consistent.
 */
#ifndef HOGO_COLLECTOR_STORE_H
#define HOGO_COLLECTOR_STORE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/chain_drop.h"
#include "common/digest.h"

struct store;

enum store_kind {
        STORE_SQLITE,
        STORE_POSTGRES,
};

/* Opens (and migrates) the store. target is a file path for SQLite, a conninfo string
 * for PostgreSQL. */
int store_open(enum store_kind kind, const char *target, struct store **ret);
void store_close(struct store *store);
/* The schema version after migration. */
int store_schema_version(struct store *store);

/* Transactions: every multi-row change (an ingested batch, a token use) runs inside one.
 * store_begin() locks what the PostgreSQL back end must lock for several collectors to
 * agree (the terminal's chain row is taken FOR UPDATE by store_terminal_get_locked()). */
int store_begin(struct store *store);
/* A failed commit ends the transaction too (nothing of it was stored). */
int store_commit(struct store *store);
/* Without an open transaction (after a failed commit) this does nothing and returns 0. */
int store_rollback(struct store *store);

struct store_terminal {
        char agent_id[64];
        char hostname[256];
        char department[256];
        uint64_t last_seq;                  /* highest seq accepted, 0 before any */
        char last_hash[SHA256_HEX_LEN + 1]; /* hash of that event, genesis before any */
        int64_t enrolled_at;
        int64_t last_seen;
        char policy_version[64]; /* version the agent last reported */
        bool revoked;
        char cert_serial[64]; /* client certificate serial, hex ("" unknown) */
        int64_t revoked_at;   /* 0 while not revoked */
};

/* -EEXIST when agent_id is enrolled already. An empty last_hash means the genesis hash;
 * the department is recorded in departments. revoked/revoked_at are ignored (use
 * store_terminal_revoke()). */
int store_terminal_add(struct store *store, const struct store_terminal *t);
int store_terminal_get(struct store *store, const char *agent_id, struct store_terminal *ret);
/* Same, inside a transaction, locking the row against other collectors. */
int store_terminal_get_locked(struct store *store, const char *agent_id,
                              struct store_terminal *ret);
int store_terminal_set_chain(struct store *store, const char *agent_id, uint64_t last_seq,
                             const char *last_hash);
/* policy_version NULL keeps the one stored. */
int store_terminal_seen(struct store *store, const char *agent_id, int64_t now,
                        const char *policy_version);
/* Marks the terminal revoked and records it (with its certificate serial) in revocations.
 * Revoking again keeps the first time. -ENOENT for an unknown agent. */
int store_terminal_revoke(struct store *store, const char *agent_id, int64_t now);
/* Calls fn for each revoked agent id (for the handshake's revocation check). */
int store_revoked_foreach(struct store *store, int (*fn)(const char *agent_id, void *ud), void *ud);

/* Events: (agent_id, seq) is unique: a second insert of the pair is -EEXIST and leaves the
 * first untouched (inside a transaction too: the transaction stays usable, so a re-sent
 * batch can be skipped event by event). event_json is the event exactly as received
 * (canonical form), type/severity/ts copied out for queries. seq must be 1..INT64_MAX. */
int store_event_insert(struct store *store, const char *agent_id, uint64_t seq, const char *type,
                       const char *severity, const char *ts, const char *hash,
                       const char *event_json, int64_t received_at);
/* One event of a batch for store_event_insert_batch(); fields as for store_event_insert(). */
struct store_event {
        uint64_t seq;
        const char *type;
        const char *severity;
        const char *ts;
        const char *hash;
        const char *event_json;
};
/* Inserts a batch of agent_id's events as store_event_insert() would one by one (an
 * (agent, seq) stored already, or twice in the batch, is skipped and the stored one kept),
 * but in one statement on PostgreSQL instead of one round trip per event. Returns the
 * number inserted; ret_inserted (n entries, may be NULL) says which were. All or nothing:
 * any malformed event is -EINVAL before anything is stored, and outside a transaction the
 * batch runs in one of its own. */
int store_event_insert_batch(struct store *store, const char *agent_id,
                             const struct store_event *events, size_t n, int64_t received_at,
                             bool *ret_inserted);
/* The stored hash of (agent, seq) into ret (65 bytes), -ENOENT when none. */
int store_event_hash(struct store *store, const char *agent_id, uint64_t seq,
                     char ret[static SHA256_HEX_LEN + 1]);
/* Number of events stored for agent_id (NULL: all agents), or -errno. */
int64_t store_event_count(struct store *store, const char *agent_id);

/* Chain gaps waiting for their declaration (the rules are in collectors/ingest.h). An agent
 * declares the events its spool dropped in an agent.spool_overflow event that comes after
 * them, possibly in a later batch: the drops a terminal declared are kept, and a gap they
 * do not bridge yet is kept pending until they do or its wait is over. */
struct store_chain_gap {
        char agent_id[64];
        uint64_t last_seq; /* the chain head before the gap, and its hash */
        char last_hash[SHA256_HEX_LEN + 1];
        uint64_t next_seq; /* the event that came after it, and its prev_hash */
        char next_prev_hash[SHA256_HEX_LEN + 1];
        int64_t detected_at;
        /* 0, or the seq by which the terminal's declaration must have come: once the
         * chain head reaches it with the gap still pending, the gap is real (ingest.h) */
        uint64_t bound_seq;
};
/* Keeps a drop agent_id declared; a drop declared again is kept once. */
int store_chain_drop_add(struct store *store, const char *agent_id, const struct chain_drop *drop);
/* The drops agent_id declared that lie strictly between after_seq and before_seq (the
 * only ones that can bridge a gap between those two), by from_seq; *ret_drops is
 * malloc()ed (NULL when none). */
int store_chain_drops_get(struct store *store, const char *agent_id, uint64_t after_seq,
                          uint64_t before_seq, struct chain_drop **ret_drops, size_t *ret_n);
/* -EEXIST when a gap before that next_seq is pending already. */
int store_chain_gap_add(struct store *store, const struct store_chain_gap *gap);
/* The pending gaps of agent_id (NULL: of every terminal) detected at or before
 * detected_before, oldest first; *ret_gaps is malloc()ed (NULL when none). */
int store_chain_gaps_get(struct store *store, const char *agent_id, int64_t detected_before,
                         struct store_chain_gap **ret_gaps, size_t *ret_n);
/* -ENOENT when that gap is not pending (any more): with several collectors exactly one
 * removal of a gap succeeds, so exactly one of them acts on it. */
int store_chain_gap_remove(struct store *store, const char *agent_id, uint64_t next_seq);
/* Sets bound_seq of agent_id's pending gaps with next_seq <= next_seq_max that have none
 * yet (the first bound reported is the lowest); the number of gaps given one. */
int store_chain_gaps_bound(struct store *store, const char *agent_id, uint64_t next_seq_max,
                           uint64_t bound_seq);
/* agent_id's pending gaps whose bound_seq is set and <= head_seq, by next_seq. */
int store_chain_gaps_due(struct store *store, const char *agent_id, uint64_t head_seq,
                         struct store_chain_gap **ret_gaps, size_t *ret_n);
/* Pending gaps of every terminal, or -errno. */
int64_t store_chain_gap_count(struct store *store);

/* Alerts: tamper.chain_break and others the collector raises itself. */
int store_alert_insert(struct store *store, const char *agent_id, const char *type,
                       const char *details_json, int64_t now);
/* Alerts of agent_id (NULL: all) and type (NULL: all types), or -errno. */
int64_t store_alert_count(struct store *store, const char *agent_id, const char *type);

/* Posture: the latest snapshot per terminal is replaced, and every snapshot is kept in
 * the history (for "since when non-compliant" on the dashboard). */
int store_posture_put(struct store *store, const char *agent_id, const char *posture_json,
                      int64_t now);
/* The latest snapshot; ret_posture_json is malloc()ed, ret_reported_at may be NULL. */
int store_posture_get(struct store *store, const char *agent_id, char **ret_posture_json,
                      int64_t *ret_reported_at);
/* Number of snapshots in the history of agent_id, or -errno. */
int64_t store_posture_history_count(struct store *store, const char *agent_id);

/* Tokens are stored by the SHA-256 of the secret, never the secret. uses >= 1; -EEXIST
 * for a hash stored already. */
int store_token_add(struct store *store, const char *token_hash, const char *department, int uses,
                    int64_t expires_at, int64_t now);
/* Uses one: 0 and the department on success; -ENOENT unknown, -EKEYEXPIRED expired,
 * -EUSERS used up. Atomic across connections: when several collectors race for the last
 * use, exactly one gets it. */
int store_token_use(struct store *store, const char *token_hash, int64_t now,
                    char ret_department[static 256]);

/* Signed policy envelopes per department ("" is the default for all). Every version is
 * kept; the last one put is the department's current policy. -EEXIST when that
 * (department, version) was put already. */
int store_policy_put(struct store *store, const char *department, const char *version,
                     const char *envelope_json, int64_t now);
/* The department's policy, or the default one when the department has none (-ENOENT
 * when neither exists); ret_* are malloc()ed. */
int store_policy_get(struct store *store, const char *department, char **ret_version,
                     char **ret_envelope_json);

/* The primitives each back end provides (collectors/store_sqlite.c, store_postgres.c);
 * the public functions above dispatch through it. */
struct store_backend;

#endif

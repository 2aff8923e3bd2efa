/* writer.h — the store writer: one thread owns the store, batching transactions.
 *
 * Worker threads submit jobs (api.h); the writer takes everything queued (up to
 * WRITER_MAX_GROUP), runs the jobs in ONE transaction and commits once, so many small
 * requests share one fsync (group commit). A job that hits a store error poisons only its
 * own group: the writer rolls back and runs each job of that group alone, so one bad
 * request cannot make the others fail. Every job's reply is completed after the
 * transaction ended (an acked_seq is only sent for committed events), then its done()
 * callback runs on the writer thread to hand the reply back to the worker.
 *
 * Items nobody waits for (lazy: heartbeats answered already) do not wake the writer; they
 * are taken with the next urgent item, when WRITER_MAX_GROUP are queued, or after
 * WRITER_LAZY_USEC, so a stream of heartbeats shares commits instead of paying one each.
 *
 * The writer also refreshes the revoked set (tls.h) and the policy cache (policy_cache.h)
 * from the store every refresh_ms, and then raises the alerts of chain gaps whose
 * declaration did not come in time (writer_expire_gaps()) and counts the pending ones.
 */
#ifndef HOGO_COLLECTOR_WRITER_H
#define HOGO_COLLECTOR_WRITER_H

#include "collectors/api.h"
#include "collectors/store.h"

#define WRITER_MAX_GROUP 256
/* How long write-behind items (heartbeats already answered) may wait for company. */
#define WRITER_LAZY_USEC 10000

struct writer_item {
        struct api_job *job;
        struct api_reply reply;
        void (*done)(struct writer_item *item); /* on the writer thread */
        void *userdata; /* the evhttp request */
        void *owner;    /* the worker that owns it */
        bool lazy;      /* nobody waits for it (a detached job): may wait WRITER_LAZY_USEC */
        struct writer_item *next;
};

struct writer;

/* Loads the revoked set once, then starts the thread. */
/* gap_wait_seconds: how long a chain gap waits for its declaration (writer_expire_gaps()). */
int writer_start(struct store *store, unsigned refresh_ms, unsigned gap_wait_seconds,
                 struct writer **ret);
void writer_submit(struct writer *w, struct writer_item *item);
/* Jobs queued and not yet taken (a hint for back-pressure). */
size_t writer_backlog(struct writer *w);
/* Runs what is queued, stops the thread, frees w (the store stays open). */
void writer_stop(struct writer *w);

/* One group on the calling thread (what the writer thread does per wake-up). */
void writer_run_group(struct store *store, struct writer_item *items);

/* Reloads the revoked set and the cached departments' policy versions from the store. */
int writer_refresh_revoked(struct store *store);
int writer_refresh_policy_cache(struct store *store);
/* In a transaction of its own: the alerts of the pending chain gaps detected wait_seconds
 * or more before now (ingest_gaps_expire()); they stay pending when the store fails, for
 * the next call. */
int writer_expire_gaps(struct store *store, int64_t now, unsigned wait_seconds);
/* Counts the pending chain gaps into the hogo_collector_chain_gaps_pending gauge. */
int writer_count_gaps(struct store *store);

#endif

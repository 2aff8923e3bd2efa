/* store_bench.c — how many events per second the store takes in ingest-sized transactions.
 *
 *   build/bench/store_bench [BATCHES] [AGENTS]
 *
 * Each batch is what the collector does for one POST /v1/events: take the terminal's chain
 * row (store_terminal_get_locked), insert 500 events, move the chain head. The events go
 * in one call each (store_event_insert), then, in a second run, as one batch
 * (store_event_insert_batch), both with a commit per batch; a third run commits once per
 * AGENTS batches, as the collector's writer does when every agent has a batch queued
 * (group commit). Wall-clock rates are mostly fsync latency on a shared disk; the events
 * per CPU-second beside them are the store's cost.
 * Runs against SQLite (a new database in $TMPDIR, synchronous=FULL as in production) and,
 * when HOGO_TEST_PG holds a conninfo, against PostgreSQL. Prints the figures; asserts
 * nothing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "collectors/store.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/util.h"

#define BATCH_EVENTS 500

static double now_seconds(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct batch {
        char json[BATCH_EVENTS][512];
        char hash[BATCH_EVENTS][SHA256_HEX_LEN + 1];
        struct store_event events[BATCH_EVENTS];
};

/* The next 500 events of the chain, as an agent would send them. */
static void make_batch(struct batch *b, const struct store_terminal *t)
{
        const char *prev = t->last_hash;
        for (int i = 0; i < BATCH_EVENTS; i++) {
                uint64_t seq = t->last_seq + (uint64_t)i + 1;
                snprintf(b->json[i], sizeof b->json[i],
                         "{\"details\":{\"interface_class\":8,\"product\":\"5583\",\"serial\":"
                         "\"AA00000000012345\",\"vendor\":\"0781\"},\"prev_hash\":\"%s\","
                         "\"seq\":%" PRIu64 ",\"severity\":\"warning\",\"ts\":"
                         "\"2026-11-27T10:00:00.000Z\",\"type\":\"usb.blocked\",\"user\":"
                         "\"tanaka\"}",
                         prev, seq);
                sha256_hex(b->json[i], strlen(b->json[i]), b->hash[i]);
                b->events[i] = (struct store_event){.seq = seq,
                                                    .type = "usb.blocked",
                                                    .severity = "warning",
                                                    .ts = "2026-11-27T10:00:00.000Z",
                                                    .hash = b->hash[i],
                                                    .event_json = b->json[i]};
                prev = b->hash[i];
        }
}

/* One batch of agent_id's chain, as the writer applies a POST /v1/events, inside the open
 * transaction. */
static int ingest_one(struct store *store, const char *agent_id, bool batched, struct batch *b)
{
        struct store_terminal t;
        int r = store_terminal_get_locked(store, agent_id, &t);
        if (r >= 0) {
                make_batch(b, &t);
                if (batched)
                        r = store_event_insert_batch(store, agent_id, b->events, BATCH_EVENTS,
                                                     1700000000, NULL);
                else
                        for (int i = 0; r >= 0 && i < BATCH_EVENTS; i++)
                                r = store_event_insert(store, agent_id, b->events[i].seq,
                                                       b->events[i].type, b->events[i].severity,
                                                       b->events[i].ts, b->events[i].hash,
                                                       b->events[i].event_json, 1700000000);
        }
        if (r >= 0)
                r = store_terminal_set_chain(store, agent_id, b->events[BATCH_EVENTS - 1].seq,
                                             b->hash[BATCH_EVENTS - 1]);
        return r;
}

/* group batches (of consecutive agents, from batch number first) in one transaction: 1 is
 * a commit per POST, more is the writer's group commit of several agents' POSTs. */
static int ingest(struct store *store, int first, int group, int agents, bool batched,
                  struct batch *b)
{
        int r = store_begin(store);
        if (r < 0)
                return r;
        for (int g = 0; r >= 0 && g < group; g++) {
                char agent_id[64];
                snprintf(agent_id, sizeof agent_id, "bench-%d-%d", (int)getpid(),
                         (first + g) % agents);
                r = ingest_one(store, agent_id, batched, b);
        }
        if (r < 0) {
                (void)store_rollback(store);
                return r;
        }
        return store_commit(store);
}

static double cpu_seconds(void)
{
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int bench(enum store_kind kind, const char *target, int batches, int agents)
{
        struct store *store = NULL;
        int r = store_open(kind, target, &store);
        if (r < 0)
                return r;
        _cleanup_free_ struct batch *b = malloc(sizeof *b);
        if (!b) {
                store_close(store);
                return -ENOMEM;
        }

        for (int a = 0; a < agents; a++) {
                struct store_terminal t = {.enrolled_at = 1700000000};
                snprintf(t.agent_id, sizeof t.agent_id, "bench-%d-%d", (int)getpid(), a);
                snprintf(t.hostname, sizeof t.hostname, "pc%04d.city.example.lg.jp", a);
                snprintf(t.department, sizeof t.department, "総務課");
                r = store_terminal_add(store, &t);
                if (r < 0)
                        goto out;
        }

        /* per-event inserts, then the batch call, one commit per POST; then per-event
         * inserts with one commit per group of `agents` POSTs, as the collector's writer
         * commits when every agent has a batch queued */
        static const struct {
                const char *name;
                bool batched, grouped;
        } runs[] = { { "per-event", false, false },
                     { "batch", true, false },
                     { "grouped", false, true } };
        for (size_t k = 0; k < ELEMENTSOF(runs); k++) {
                int group = runs[k].grouped ? agents : 1;
                double start = now_seconds(), cpu0 = cpu_seconds();
                for (int n = 0; n < batches; n += group) {
                        r = ingest(store, n, MIN(group, batches - n), agents, runs[k].batched, b);
                        if (r < 0)
                                goto out;
                }
                double secs = now_seconds() - start, cpu = cpu_seconds() - cpu0;
                double events = (double)batches * BATCH_EVENTS;
                printf("store_bench %-8s %-9s %d batches x %d events, %d per commit (%d agents): "
                       "%.2f s, %.0f events/s, %.1f ms per commit; %.0f events per CPU-second "
                       "(this process, with building the events)\n",
                       kind == STORE_SQLITE ? "sqlite" : "postgres", runs[k].name, batches,
                       BATCH_EVENTS, group, agents, secs, events / secs,
                       secs * 1000.0 * group / batches, cpu > 0 ? events / cpu : 0);
                fflush(stdout);
        }
out:
        store_close(store);
        return r;
}

static void remove_database(const char *dir, const char *db)
{
        static const char *const suffixes[] = {"", "-wal", "-shm"};
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s%s", db, suffixes[i]) >= 0)
                        (void)unlink(path);
        }
        (void)rmdir(dir);
}

int main(int argc, char **argv)
{
        int batches = argc > 1 ? atoi(argv[1]) : 200;
        int agents = argc > 2 ? atoi(argv[2]) : 20;
        if (batches < 1 || agents < 1) {
                fprintf(stderr, "usage: %s [BATCHES] [AGENTS]\n", argv[0]);
                return 2;
        }
        log_setup("store_bench", LOG_TARGET_STDERR, LOG_WARNING);

        const char *tmp = getenv("TMPDIR");
        _cleanup_free_ char *dir = NULL, *db = NULL;
        if (asprintf(&dir, "%s/hogo-store-bench.XXXXXX", tmp ? tmp : "/tmp") < 0 || !mkdtemp(dir) ||
            asprintf(&db, "%s/collector.db", dir) < 0) {
                perror("store_bench: temporary directory");
                return 1;
        }
        int r = bench(STORE_SQLITE, db, batches, agents);
        remove_database(dir, db);

        const char *pg = getenv("HOGO_TEST_PG");
        if (r >= 0 && pg && *pg)
                r = bench(STORE_POSTGRES, pg, batches, agents);
        else if (r >= 0)
                printf("store_bench postgres   not run: set HOGO_TEST_PG to a conninfo "
                       "(tests/services/postgres.sh start DIR prints one)\n");
        return r < 0 ? 1 : 0;
}

/* store_bench.c — how many events per second the store takes in ingest-sized transactions.
 *
 *   build/bench/store_bench [BATCHES] [AGENTS]
 *
 * Each transaction is what the collector does for one POST /v1/events: take the terminal's
 * chain row (store_terminal_get_locked), insert 500 events, move the chain head, commit.
 * Runs against SQLite (a new database in $TMPDIR, synchronous=FULL as in production) and,
 * when HOGO_TEST_PG holds a conninfo, against PostgreSQL. Prints the figures; asserts
 * nothing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
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

static int ingest_batch(struct store *store, const char *agent_id)
{
        struct store_terminal t;
        char json[512], hash[SHA256_HEX_LEN + 1];
        int r = store_begin(store);
        if (r < 0)
                return r;
        r = store_terminal_get_locked(store, agent_id, &t);
        for (int i = 1; r >= 0 && i <= BATCH_EVENTS; i++) {
                uint64_t seq = t.last_seq + (uint64_t)i;
                snprintf(json, sizeof json,
                         "{\"details\":{\"interface_class\":8,\"product\":\"5583\",\"serial\":"
                         "\"AA00000000012345\",\"vendor\":\"0781\"},\"prev_hash\":\"%s\","
                         "\"seq\":%" PRIu64 ",\"severity\":\"warning\",\"ts\":"
                         "\"2026-11-27T10:00:00.000Z\",\"type\":\"usb.blocked\",\"user\":"
                         "\"tanaka\"}",
                         t.last_hash, seq);
                sha256_hex(json, strlen(json), hash);
                r = store_event_insert(store, agent_id, seq, "usb.blocked", "warning",
                                       "2026-11-27T10:00:00.000Z", hash, json, 1700000000);
                if (r >= 0 && i == BATCH_EVENTS)
                        r = store_terminal_set_chain(store, agent_id, seq, hash);
        }
        if (r < 0) {
                (void)store_rollback(store);
                return r;
        }
        return store_commit(store);
}

static int bench(enum store_kind kind, const char *target, int batches, int agents)
{
        struct store *store = NULL;
        int r = store_open(kind, target, &store);
        if (r < 0)
                return r;

        for (int a = 0; a < agents; a++) {
                struct store_terminal t = { .enrolled_at = 1700000000 };
                snprintf(t.agent_id, sizeof t.agent_id, "bench-%d-%d", (int)getpid(), a);
                snprintf(t.hostname, sizeof t.hostname, "pc%04d.city.example.lg.jp", a);
                snprintf(t.department, sizeof t.department, "総務課");
                r = store_terminal_add(store, &t);
                if (r < 0)
                        goto out;
        }

        double start = now_seconds();
        for (int b = 0; b < batches; b++) {
                char agent_id[64];
                snprintf(agent_id, sizeof agent_id, "bench-%d-%d", (int)getpid(), b % agents);
                r = ingest_batch(store, agent_id);
                if (r < 0)
                        goto out;
        }
        double secs = now_seconds() - start;
        int64_t events = (int64_t)batches * BATCH_EVENTS;
        printf("store_bench %-10s %d transactions x %d events (%d agents): %.2f s, "
               "%.0f events/s, %.1f ms per transaction\n",
               kind == STORE_SQLITE ? "sqlite" : "postgres", batches, BATCH_EVENTS, agents, secs,
               (double)events / secs, secs * 1000.0 / batches);
out:
        store_close(store);
        return r;
}

static void remove_database(const char *dir, const char *db)
{
        static const char *const suffixes[] = { "", "-wal", "-shm" };
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
        if (asprintf(&dir, "%s/hogo-store-bench.XXXXXX", tmp ? tmp : "/tmp") < 0 ||
            !mkdtemp(dir) || asprintf(&db, "%s/collector.db", dir) < 0) {
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

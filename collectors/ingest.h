/* ingest.h — turning a POST /v1/events body into stored events and chain alerts.
 *
 * Two steps, split so the expensive and the serial parts run where they belong:
 *
 * 1. ingest_batch_parse() (worker threads, no store): the body must be
 *    {"events": [event, ...]} with 1..max_events events; every event must pass
 *    event_validate() except for a hash that does not match the content, which is
 *    tampering, not a malformed request, and is kept for step 2 to report. Any other
 *    invalid event refuses the whole batch (nothing is stored; *ret_bad_seq says which). The canonical form of every
 *    event, the form that is stored, is computed here.
 *
 * 2. ingest_batch_apply() (the store writer, inside a transaction it does not commit):
 *    checks each event against the terminal's chain state, read with
 *    store_terminal_get_locked(), and stores it. Rules, per event in the order sent:
 *      - seq already stored with the same hash: a re-send, acknowledged, not stored again;
 *      - seq already stored with another hash: a "conflict" break, the event is not stored;
 *      - seq below the chain head and not stored: a "reorder" break, the event is stored;
 *      - seq = head + 1 with prev_hash = head's hash: stored, the head moves on;
 *      - seq = head + 1 with another prev_hash: "prev_hash_mismatch", stored, head moves;
 *      - seq > head + 1: stored, the head moves; no break when drops the terminal declared
 *        (agent.spool_overflow events of this batch or of earlier ones) bridge it exactly
 *        (chain_gap_bridged(), the rule the spool's own verifier applies); otherwise a
 *        pending gap (store_chain_gap_add()): the declaration follows the dropped events in
 *        the agent's spool and may come in a later batch, whose apply removes the gaps its
 *        drops now bridge; ingest_gaps_expire() turns the ones still pending after their
 *        wait into "gap" breaks, and a gap whose declaration bound (ingest_gaps_bound())
 *        the head reaches is a "gap" break at once. A gap is never accepted without a
 *        declaration;
 *      - and, for any stored event, a hash that does not match its content is a
 *        "hash_mismatch" break as well.
 *    Every break becomes one tamper.chain_break alert holding what was expected and what
 *    came. The answer, acked_seq, is the chain head after the batch.
 */
#ifndef HOGO_COLLECTOR_INGEST_H
#define HOGO_COLLECTOR_INGEST_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "collectors/metrics.h"
#include "collectors/store.h"
#include "common/chain_drop.h"
#include "common/digest.h"

#define INGEST_MAX_EVENTS 1000
/* How long a gap waits for the agent's declaration of spool drops before it is alerted (the
 * default of the configuration's limits.gap_declaration_seconds). An
 * uplink with a backlog sends it in order and at full speed, so the declaration (which
 * follows the dropped events in the spool) arrives within minutes of the gap; an hour
 * also covers an upload cut short by a brief sleep or network loss. */
#define INGEST_GAP_DECLARATION_WAIT_SECONDS 3600

struct ingest_event {
        uint64_t seq;
        const char *type, *severity, *ts, *prev_hash, *hash; /* point into the parsed JSON */
        char *canonical;                                      /* the stored form */
        bool hash_ok;                                         /* content matches hash */
        char computed_hash[SHA256_HEX_LEN + 1];
};

struct ingest_batch {
        json_object *root;
        struct ingest_event *events;
        size_t n_events;
        /* drops declared by agent.spool_overflow events of this batch (chain_drop.h) */
        struct chain_drop *drops;
        size_t n_drops;
};

struct ingest_result {
        uint64_t acked_seq;
        uint64_t stored, duplicates;
        unsigned breaks[_CHAIN_BREAK_MAX];
        unsigned gaps_pending;  /* gaps held for their declaration */
        unsigned gaps_resolved; /* pending gaps (of any batch) this batch's declarations bridged */
        unsigned gaps_alerted;  /* pending gaps alerted because the head passed their bound */
};

/* What a heartbeat says of the terminal's spool (its "spool" member), taken at one moment:
 * the seq the collector had acknowledged to the uplink and the agent's spool durable mark
 * (<spool>/durable). 0 when not reported (an older uplink). */
struct ingest_spool_report {
        uint64_t acked_seq, durable_seq;
};

/* 0 and the batch; or -EINVAL / -E2BIG with the reason (REJECT_MALFORMED_JSON,
 * REJECT_INVALID_REQUEST, REJECT_INVALID_EVENT, REJECT_TOO_MANY_EVENTS) and a one-line
 * explanation in err. */
int ingest_batch_parse(const char *body, size_t len, unsigned max_events,
                       struct ingest_batch **ret, enum reject_reason *ret_reason,
                       int64_t *ret_bad_seq, char *err, size_t errlen);
void ingest_batch_free(struct ingest_batch *b);
static inline void ingest_batch_freep(struct ingest_batch **b)
{
        if (*b)
                ingest_batch_free(*b);
}
#define _cleanup_ingest_batch_ __attribute__((cleanup(ingest_batch_freep)))

/* Inside an open transaction. -ENOENT when agent_id is not enrolled and -EPERM when it
 * is revoked (nothing written in either case); other negative values are store errors and
 * the caller rolls back. */
int ingest_batch_apply(struct store *store, const char *agent_id, const struct ingest_batch *b,
                       int64_t now, struct ingest_result *ret);

/* Inside an open transaction: raises the tamper.chain_break "gap" alert of every pending
 * gap detected wait_seconds or more before now (its declaration had that long to come) and
 * drops it from the pending ones. The writer runs it with
 * INGEST_GAP_DECLARATION_WAIT_SECONDS. */
int ingest_gaps_expire(struct store *store, int64_t now, int64_t wait_seconds,
                       unsigned *ret_alerted);

/* Inside an open transaction, for a heartbeat's spool report: a real gap is alerted as
 * soon as it is known no declaration can bridge it, not after the wait. Why this holds
 * (agent/spool.c, common/chain_drop.h): the agent drops a run of events A..B by first
 * appending, and making durable, the agent.spool_overflow event D that declares it (so
 * D > B and <spool>/durable >= D), and only then rewriting the segment. D is a warning,
 * never dropped itself. A gap A..B at the collector means the uplink read past B without
 * A..B, i.e. after the rewrite; the uplink reads and sends in seq order. So for a gap
 * whose next event N the terminal had acknowledged (report acked_seq >= N: the report
 * was taken after the uplink read N, after the drop), the durable mark in the same report
 * is >= D: every declaration that can bridge the gap has seq <= durable_seq. That bound is
 * kept with the gap (the first one reported: the lowest); when the chain head reaches it
 * (every event up to it came, in order, and their declarations were checked) and the gap
 * is still pending, it is real and alerted at once (here, or by ingest_batch_apply() for
 * the batch that reaches it). Contiguity alone gives no bound: D can lie a spool's worth
 * of events above the gap. Without a report (older uplink, no heartbeat) the wait of
 * ingest_gaps_expire() stays the last resort. *ret_alerted: gaps alerted. */
int ingest_gaps_bound(struct store *store, const char *agent_id,
                      const struct ingest_spool_report *report, uint64_t head_seq, int64_t now,
                      unsigned *ret_alerted);

#endif

/* chain_drop.h — how an event chain stays verifiable when the agent's spool drops events.
 *
 * When the spool reaches its size cap the agent drops the oldest low-severity events
 * (never security events). Each maximal run of consecutive dropped seqs is one drop:
 *   {"from_seq": A, "to_seq": B, "prev_hash": <prev_hash of event A>, "hash": <hash of event B>}
 * The agent declares its drops in the `details.dropped` array of an `agent.spool_overflow`
 * event (severity warning, so it is durable and never dropped itself) and leaves each drop
 * as a tombstone record in the spool segment where the events were.
 *
 * The rule every verifier applies (hogoctl spool verify and the collector): a gap between
 * the last accepted event and the next one is accepted only when declared drops bridge it
 * exactly — chained from the last event's seq and hash to the next event's seq and
 * prev_hash — and chain_gap_bridged() is that rule. Anything else is a chain break.
 */
#ifndef HOGO_CHAIN_DROP_H
#define HOGO_CHAIN_DROP_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/digest.h"

#define CHAIN_DROP_OVERFLOW_TYPE "agent.spool_overflow"

struct chain_drop {
        uint64_t from_seq, to_seq;
        char prev_hash[SHA256_HEX_LEN + 1]; /* prev_hash of event from_seq */
        char hash[SHA256_HEX_LEN + 1];      /* hash of event to_seq */
};

/* {"from_seq":..,"to_seq":..,"prev_hash":..,"hash":..}; NULL on allocation failure. */
json_object *chain_drop_to_json(const struct chain_drop *drop);
/* Strict: exactly those four members, 1 <= from_seq <= to_seq, 64 lower-case hex each. */
int chain_drop_from_json(json_object *o, struct chain_drop *ret);
/* The drops declared by an agent.spool_overflow event (its details.dropped array).
 * -EINVAL when the event is not one or the array is malformed. */
int chain_drops_from_overflow(json_object *event, struct chain_drop **ret_drops,
                              size_t *ret_n);

/* true when a and b describe the same dropped range. Members are compared one by one: the
 * struct has padding, whose bytes memcmp() would compare too. */
bool chain_drop_equal(const struct chain_drop *a, const struct chain_drop *b);

/* The rule: true when the event (next_seq, next_prev_hash) follows the last accepted event
 * (last_seq, last_hash; 0 and EVENT_GENESIS_HASH before the first) either directly
 * (next_seq = last_seq + 1, next_prev_hash = last_hash) or through declared drops
 * d1..dk taken from drops (any order, overlaps allowed) with d1.from_seq = last_seq + 1,
 * d1.prev_hash = last_hash, d(i+1).from_seq = d(i).to_seq + 1, d(i+1).prev_hash =
 * d(i).hash, dk.to_seq = next_seq - 1 and dk.hash = next_prev_hash. Pure; O(n_drops^2). */
bool chain_gap_bridged(uint64_t last_seq, const char *last_hash, uint64_t next_seq,
                       const char *next_prev_hash, const struct chain_drop *drops,
                       size_t n_drops);

#endif

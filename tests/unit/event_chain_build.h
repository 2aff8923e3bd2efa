/* event_chain_build.h — chained events and POST /v1/events bodies for the collector's
 * tests (test_collector.c, test_store.c). Aborts on failure: it only serves tests. */
#ifndef HOGO_TESTS_EVENT_CHAIN_BUILD_H
#define HOGO_TESTS_EVENT_CHAIN_BUILD_H

#include <json-c/json.h>
#include <stdint.h>

#include "common/chain_drop.h"

/* n events of type, seq first_seq.., each chained to the one before, the first to prev. */
json_object *chain_build(size_t n, uint64_t first_seq, const char *prev, const char *type);
/* The member key ("hash", "prev_hash", ...) of arr[i]. */
const char *chain_member(json_object *arr, size_t i, const char *key);
/* The drop of arr[from..to] (indexes), as the agent's spool would declare it. */
struct chain_drop chain_drop_of(json_object *arr, size_t from, size_t to);
/* An agent.spool_overflow event at seq, after prev, declaring drops[0..n). */
json_object *chain_overflow_event(uint64_t seq, const char *prev, const struct chain_drop *drops,
                                  size_t n);
/* {"events": [...]} as text: takes arr. */
char *chain_batch_text(json_object *arr);
/* A new array of the events arr[idx[0]], arr[idx[1]], ... (references, arr keeps its own). */
json_object *chain_pick(json_object *arr, const size_t *idx, size_t n);

#endif

/* batch.h — the body of one POST /v1/events: {"events":[<event>,…]}.
 *
 * Events go on the wire exactly as the spool holds them (their bytes are what the hash
 * chain covers), so the body is assembled from the spool's JSON texts without re-encoding.
 * A batch is full at max_events or when the next event would take the body past max_bytes
 * (the collector's limit is 1,000 events and 1 MiB); one event alone is always accepted so
 * that an unusually large event cannot stall the upload.
 */
#ifndef HOGO_UPLINK_BATCH_H
#define HOGO_UPLINK_BATCH_H

#include <stddef.h>
#include <stdint.h>

#define UPLINK_BATCH_MAX_BYTES ((size_t)1 << 20)

struct event_batch {
        char *body;
        size_t len, cap;
        unsigned count;
        uint64_t first_seq, last_seq;
        unsigned max_events;
        size_t max_bytes;
};

void event_batch_init(struct event_batch *b, unsigned max_events, size_t max_bytes);
/* 0 when added; -ENOSPC when the batch is full (the event is not added); -EINVAL when seq
 * does not follow the previous event's. */
int event_batch_add(struct event_batch *b, const char *json, size_t len, uint64_t seq);
/* The complete body (valid until the next add/reset); NULL when the batch is empty. */
const char *event_batch_body(struct event_batch *b, size_t *ret_len);
void event_batch_reset(struct event_batch *b);
void event_batch_free(struct event_batch *b);

/* The acked seq to record after the collector answered {"acked_seq": reply} to a batch
 * ending at last_sent: never lower than what is already recorded, never beyond what this
 * uplink has sent (a collector that claims more cannot make the spool drop events it has
 * not seen from us). */
uint64_t uplink_acked_after(uint64_t recorded, uint64_t reply, uint64_t last_sent);

#endif

/* backoff.h — when to try the collector again, and what an answer means.
 *
 * Exponential backoff with "equal jitter": the n-th consecutive failure waits a random
 * time in [d/2, d] where d = min(max, min · 2^n). The jitter keeps a fleet of terminals
 * that lost the collector at the same moment from coming back in lock-step; the lower
 * half keeps the wait from collapsing to nothing. Pure: the caller supplies the random
 * number, so the tests control it.
 *
 * uplink_classify_status() turns an HTTP status into what the uplink does next; the
 * table in docs/ARCHITECTURE.md ("Errors and what the uplink does with them") is this
 * function in prose.
 */
#ifndef HOGO_UPLINK_BACKOFF_H
#define HOGO_UPLINK_BACKOFF_H

#include <stdint.h>

struct backoff {
        uint32_t min_ms;
        uint32_t max_ms;
        unsigned failures; /* consecutive failures so far */
};

void backoff_init(struct backoff *b, uint32_t min_ms, uint32_t max_ms);
/* Records one more failure and returns how long to wait before the next attempt. */
uint32_t backoff_next(struct backoff *b, uint32_t random);
/* The maximum wait (for answers where trying again soon cannot help). */
uint32_t backoff_max(const struct backoff *b, uint32_t random);
void backoff_reset(struct backoff *b);

enum uplink_outcome {
        UPLINK_DONE,      /* 2xx */
        UPLINK_TRANSIENT, /* 408, 429, 5xx: wait (backoff), try again */
        UPLINK_SHRINK,    /* 413: send fewer events at once */
        UPLINK_REJECTED,  /* other 4xx: the request itself is refused; wait the maximum */
};

enum uplink_outcome uplink_classify_status(long http_status);
const char *uplink_outcome_to_string(enum uplink_outcome o);

#endif

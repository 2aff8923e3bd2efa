/* backoff.c — see backoff.h. */
#include "agent/uplink/backoff.h"

void backoff_init(struct backoff *b, uint32_t min_ms, uint32_t max_ms)
{
        *b = (struct backoff){.min_ms = min_ms, .max_ms = max_ms < min_ms ? min_ms : max_ms};
}

static uint32_t equal_jitter(uint32_t d, uint32_t random)
{
        uint32_t half = d / 2;
        return (d - half) + random % (half + 1);
}

uint32_t backoff_next(struct backoff *b, uint32_t random)
{
        /* min · 2^failures, computed so it cannot overflow however long the outage */
        uint64_t d = b->min_ms;
        for (unsigned i = 0; i < b->failures && d < b->max_ms; i++)
                d *= 2;
        if (d > b->max_ms)
                d = b->max_ms;
        if (b->failures < 64)
                b->failures++;
        return equal_jitter((uint32_t)d, random);
}

uint32_t backoff_max(const struct backoff *b, uint32_t random)
{
        return equal_jitter(b->max_ms, random);
}

void backoff_reset(struct backoff *b)
{
        b->failures = 0;
}

enum uplink_outcome uplink_classify_status(long s)
{
        if (s >= 200 && s < 300)
                return UPLINK_DONE;
        if (s == 408 || s == 429 || s >= 500)
                return UPLINK_TRANSIENT;
        if (s == 413)
                return UPLINK_SHRINK;
        return UPLINK_REJECTED;
}

const char *uplink_outcome_to_string(enum uplink_outcome o)
{
        switch (o) {
        case UPLINK_DONE: return "done";
        case UPLINK_TRANSIENT: return "transient";
        case UPLINK_SHRINK: return "too_large";
        case UPLINK_REJECTED: return "rejected";
        }
        return "unknown";
}

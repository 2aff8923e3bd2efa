/* notice_ratelimit.c — see notice_ratelimit.h. */
#include "agent/notice_ratelimit.h"

#include <string.h>

void notice_ratelimit_init(struct notice_ratelimit *rl, uint64_t interval_usec, unsigned burst)
{
        memset(rl, 0, sizeof *rl);
        rl->interval_usec = interval_usec;
        rl->burst = burst;
}

static struct notice_ratelimit_slot *slot_for(struct notice_ratelimit *rl, const char *key)
{
        struct notice_ratelimit_slot *free_slot = NULL, *oldest = &rl->slots[0];

        for (size_t i = 0; i < NOTICE_RATELIMIT_SLOTS; i++) {
                struct notice_ratelimit_slot *s = &rl->slots[i];
                if (s->key[0] == '\0') {
                        if (!free_slot)
                                free_slot = s;
                        continue;
                }
                if (strncmp(s->key, key, NOTICE_RATELIMIT_KEY_MAX - 1) == 0)
                        return s;
                if (s->window_start_usec < oldest->window_start_usec)
                        oldest = s;
        }
        struct notice_ratelimit_slot *s = free_slot ? free_slot : oldest;
        memset(s, 0, sizeof *s);
        strncpy(s->key, key, NOTICE_RATELIMIT_KEY_MAX - 1);
        return s;
}

bool notice_ratelimit_allow(struct notice_ratelimit *rl, const char *key, uint64_t now_usec)
{
        if (!key || key[0] == '\0')
                return true;

        struct notice_ratelimit_slot *s = slot_for(rl, key);
        /* a fresh slot has shown == 0 and starts its window now; so does an expired one
         * (the clock going backwards also starts a new window rather than muting forever) */
        if (s->shown == 0 || now_usec < s->window_start_usec ||
            now_usec - s->window_start_usec >= rl->interval_usec) {
                s->window_start_usec = now_usec;
                s->shown = 0;
                s->suppressed = 0;
        }
        if (s->shown >= rl->burst) {
                s->suppressed++;
                return false;
        }
        s->shown++;
        return true;
}

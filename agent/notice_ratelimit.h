/* notice_ratelimit.h — how often one kind of notice may reach the staff.
 *
 * A flapping USB device or a script copying files in a loop must not flood the user with
 * notices; the events are still all recorded, only the notices are limited. Each notice
 * names a rate key (e.g. "usb:1-2" or "bulk:tanaka"); within interval at most burst
 * notices with the same key are shown. Pure logic, the caller passes the time.
 */
#ifndef HOGO_AGENT_NOTICE_RATELIMIT_H
#define HOGO_AGENT_NOTICE_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define NOTICE_RATELIMIT_SLOTS 64
#define NOTICE_RATELIMIT_KEY_MAX 128

struct notice_ratelimit {
        uint64_t interval_usec;
        unsigned burst;
        struct notice_ratelimit_slot {
                char key[NOTICE_RATELIMIT_KEY_MAX]; /* "" = free */
                uint64_t window_start_usec;
                unsigned shown;
                uint64_t suppressed; /* in the current window */
        } slots[NOTICE_RATELIMIT_SLOTS];
};

void notice_ratelimit_init(struct notice_ratelimit *rl, uint64_t interval_usec, unsigned burst);

/* true when a notice with key may be shown at now_usec (and counts it); false when it is
 * suppressed. A NULL or empty key is never limited. When the table is full the slot whose
 * window started longest ago is reused, so memory stays bounded whatever the keys. */
bool notice_ratelimit_allow(struct notice_ratelimit *rl, const char *key, uint64_t now_usec);

#endif

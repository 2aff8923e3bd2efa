/* spool_feed — appends a stream of test events to a spool with the real spool code, so
 * uplink tests can run without the agent and its sources.
 *
 *   spool_feed DIR COUNT [EVENTS_PER_SECOND]
 *
 * Events are "test.event", severity info, details {"i": n} (n counts from 1 within this
 * run). Every event is durable (spool_sync) before the next second's worth is written,
 * and all of them when it exits 0. Prints the last seq.
 */
#include <inttypes.h>
#include <json-c/json.h>
#include <time.h>

#include "agent/spool.h"
#include "common/log.h"
#include "common/util.h"

int main(int argc, char **argv)
{
        if (argc < 3 || argc > 4) {
                fprintf(stderr, "usage: spool_feed DIR COUNT [EVENTS_PER_SECOND]\n");
                return 2;
        }
        unsigned long count = strtoul(argv[2], NULL, 10);
        unsigned long rate = argc == 4 ? strtoul(argv[3], NULL, 10) : 0;
        struct spool *spool = NULL;
        struct spool_options o = {.dir = argv[1]};
        int r = spool_open(&o, &spool);
        if (r < 0) {
                log_error_errno(r, "spool_open %s: %m", argv[1]);
                return 1;
        }
        uint64_t seq = 0;
        for (unsigned long i = 1; i <= count && r >= 0; i++) {
                json_object *details = json_object_new_object();
                json_object_object_add(details, "i", json_object_new_int64((int64_t)i));
                r = spool_append(spool, clock_usec(CLOCK_REALTIME), "test.event",
                                 EVENT_SEVERITY_INFO, "tester", details, &seq);
                if (r >= 0 && rate > 0 && i % MAX(1ul, rate / 20) == 0) {
                        r = spool_sync(spool);
                        usleep((useconds_t)(1000000ul * MAX(1ul, rate / 20) / rate));
                }
        }
        if (r >= 0)
                r = spool_sync(spool);
        spool_close(spool);
        if (r < 0) {
                log_error_errno(r, "spool_append: %m");
                return 1;
        }
        printf("%" PRIu64 "\n", seq);
        return 0;
}

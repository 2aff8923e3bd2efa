/* store_check — what the collector's store holds for one agent, for the uplink tests.
 *
 *   store_check sqlite:PATH|postgres:CONNINFO AGENT_ID
 *
 * Prints "events=N last_seq=N chain_breaks=N". (agent, seq) is unique in the store and
 * the collector raises tamper.chain_break for any gap or reordering, so events == last_seq
 * with no chain breaks means seq 1..N arrived exactly once, in order.
 */
#include <inttypes.h>

#include "collectors/store.h"
#include "common/log.h"
#include "common/util.h"

int main(int argc, char **argv)
{
        if (argc != 3) {
                fprintf(stderr, "usage: store_check sqlite:PATH|postgres:CONNINFO AGENT_ID\n");
                return 2;
        }
        enum store_kind kind;
        const char *target;
        if (strncmp(argv[1], "sqlite:", 7) == 0) {
                kind = STORE_SQLITE;
                target = argv[1] + 7;
        } else if (strncmp(argv[1], "postgres:", 9) == 0) {
                kind = STORE_POSTGRES;
                target = argv[1] + 9;
        } else {
                fprintf(stderr, "store_check: unknown store %s\n", argv[1]);
                return 2;
        }
        struct store *store = NULL;
        int r = store_open(kind, target, &store);
        if (r < 0) {
                log_error_errno(r, "store_open %s: %m", argv[1]);
                return 1;
        }
        struct store_terminal t;
        r = store_terminal_get(store, argv[2], &t);
        if (r < 0) {
                log_error_errno(r, "no terminal %s: %m", argv[2]);
                store_close(store);
                return 1;
        }
        int64_t events = store_event_count(store, argv[2]);
        int64_t breaks = store_alert_count(store, argv[2], "tamper.chain_break");
        printf("events=%" PRId64 " last_seq=%" PRIu64 " chain_breaks=%" PRId64 "\n", events,
               t.last_seq, breaks);
        store_close(store);
        return events < 0 || breaks < 0 ? 1 : 0;
}

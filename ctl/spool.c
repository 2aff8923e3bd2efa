/* spool.c — `hogoctl spool verify DIR`: checks a spool's CRCs, seq continuity and hash chain. */
#include <inttypes.h>
#include <stdio.h>

#include "agent/spool.h"
#include "common/util.h"
#include "ctl/hogoctl.h"

static void spool_usage(FILE *f)
{
        fprintf(f, "Usage: hogoctl spool verify DIR\n\n"
                   "Walks the agent's spool in DIR: every record's CRC, the seq numbers (+1, no\n"
                   "gap) and the SHA-256 chain, including events dropped by the size cap.\n"
                   "Prints 'OK N events, seq A..B', or the first problem and exits 1.\n");
}

int ctl_spool_main(int argc, char **argv)
{
        if (ctl_wants_help(argc, argv)) {
                spool_usage(stdout);
                return CTL_EXIT_OK;
        }
        if (argc != 3 || STRNEQ(argv[1], "verify")) {
                spool_usage(stderr);
                return CTL_EXIT_USAGE;
        }

        struct spool_verify_result res;
        int r = spool_verify(argv[2], &res);
        if (r < 0) {
                fprintf(stderr,
                        "%s: %s\n"
                        "The spool was not changed. Keep a copy of it for the audit; the agent "
                        "reports such damage as an agent.spool_fault event and the collector "
                        "as tamper.chain_break.\n",
                        argv[2], *res.problem ? res.problem : strerror(-r));
                return CTL_EXIT_ERROR;
        }
        if (res.count == 0)
                printf("OK 0 events\n");
        else
                printf("OK %" PRIu64 " events, seq %" PRIu64 "..%" PRIu64 "\n", res.count,
                       res.first_seq, res.last_seq);
        return CTL_EXIT_OK;
}

/* agent.c — `hogoctl agent revoke ID`: refuse an enrolled terminal from now on.
 *
 * The revocation is written to the store; every collector using that store reloads its
 * revoked set within limits.revocation_refresh_ms and refuses the agent's next handshake
 * (and any request on a connection that was already open). */
#include <getopt.h>
#include <time.h>

#include "common/util.h"
#include "ctl/collector_cmd.h"
#include "ctl/hogoctl.h"

static void usage(FILE *f)
{
        fprintf(f, "Usage: hogoctl agent revoke ID [-c FILE]\n\n"
                   "Revokes the agent's certificate: the collector refuses its next TLS\n"
                   "handshake, no restart needed. -c names the collector's configuration\n"
                   "(default /etc/hogo/collector.json).\n");
}

static int agent_revoke(int argc, char **argv)
{
        static const struct option opts[] = {
                { "config", required_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *config = NULL;
        int c;
        optind = 0;
        while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1)
                switch (c) {
                case 'c': config = optarg; break;
                case 'h': usage(stdout); return CTL_EXIT_OK;
                default: usage(stderr); return CTL_EXIT_USAGE;
                }
        if (optind + 1 != argc) {
                usage(stderr);
                return CTL_EXIT_USAGE;
        }
        const char *id = argv[optind];

        _cleanup_store_ struct store *store = NULL;
        if (ctl_open_collector_store("hogoctl agent revoke", config, &store) < 0)
                return CTL_EXIT_ERROR;
        int r = store_terminal_revoke(store, id, time(NULL));
        if (r == -ENOENT) {
                fprintf(stderr, "hogoctl agent revoke: no agent %s is enrolled; nothing was "
                                "changed\n", id);
                return CTL_EXIT_ERROR;
        }
        if (r < 0) {
                fprintf(stderr, "hogoctl agent revoke: %s was NOT revoked: %s\n", id, strerror(-r));
                return CTL_EXIT_ERROR;
        }
        printf("Agent %s revoked; collectors refuse it at its next connection.\n", id);
        return CTL_EXIT_OK;
}

int ctl_agent_main(int argc, char **argv)
{
        if (argc >= 2 && STREQ(argv[1], "revoke"))
                return agent_revoke(argc - 1, argv + 1);
        if (argc >= 2 && (STREQ(argv[1], "-h") || STREQ(argv[1], "--help"))) {
                usage(stdout);
                return CTL_EXIT_OK;
        }
        usage(stderr);
        return CTL_EXIT_USAGE;
}

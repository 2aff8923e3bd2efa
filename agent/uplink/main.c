/* hogo-uplink — reads the agent's spool and reports to the collector.
 *
 *   hogo-uplink [-c /etc/hogo/uplink.json] [-d] [-n] [-t TOKEN_FILE] [--enroll-only]
 *
 * Runs as user hogo with no capabilities: it faces the network and holds no privilege.
 * On first start (no certificate in the state directory) it enrolls with the token file.
 */
#include <getopt.h>
#include <signal.h>
#include <sys/signalfd.h>

#include "agent/uplink/config.h"
#include "agent/uplink/enroll.h"
#include "agent/uplink/uplink.h"
#include "common/log.h"
#include "common/util.h"

static void usage(FILE *f)
{
        fprintf(f, "Usage: hogo-uplink [-c FILE] [-d] [-n] [-t TOKEN_FILE] [--enroll-only]\n"
                   "  -c FILE        configuration (default " UPLINK_CONFIG_PATH ")\n"
                   "  -d             stay in the foreground and log to stderr\n"
                   "  -n             check the configuration and exit\n"
                   "  -t FILE        enrollment token file (overrides \"token_file\")\n"
                   "  --enroll-only  enroll if needed, then exit\n");
}

static void closep_fd(int *fd)
{
        closep(fd);
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
            {"help", no_argument, NULL, 'h'},
            {"enroll-only", no_argument, NULL, 'E'},
            {"version", no_argument, NULL, 'V'},
            {},
        };
        const char *config_path = UPLINK_CONFIG_PATH, *token_file = NULL;
        bool foreground = false, check_only = false, enroll_only = false;
        int c;
        while ((c = getopt_long(argc, argv, "c:dnt:h", longopts, NULL)) != -1) {
                switch (c) {
                case 'c': config_path = optarg; break;
                case 'd': foreground = true; break;
                case 'n': check_only = true; break;
                case 't': token_file = optarg; break;
                case 'E': enroll_only = true; break;
                case 'V': printf("hogo-uplink %s\n", HOGO_VERSION); return 0;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (optind < argc) {
                usage(stderr);
                return 2;
        }
        log_setup("hogo-uplink", foreground || check_only ? LOG_TARGET_STDERR : LOG_TARGET_JOURNAL,
                  LOG_INFO);

        struct uplink_config config;
        if (uplink_config_load(config_path, &config) < 0)
                return 1;
        log_setup("hogo-uplink", foreground || check_only ? LOG_TARGET_STDERR : LOG_TARGET_JOURNAL,
                  config.log_level);
        if (check_only) {
                printf("configuration OK\n");
                uplink_config_free(&config);
                return 0;
        }
        /* without its pinned CA the uplink could trust nothing; say so now rather than
         * report every collector as unreachable */
        if (access(config.ca, R_OK) < 0) {
                log_error_errno(negative_errno(),
                                "Cannot read the hogo CA certificate %s: %m. Nothing was started; "
                                "install the CA certificate there or fix \"ca\" in %s.",
                                config.ca, config_path);
                uplink_config_free(&config);
                return 1;
        }
        if (geteuid() == 0)
                log_warning(
                    "Running as root; hogo-uplink faces the network and should run as user hogo");

        int r = 0;
        if (!uplink_is_enrolled(&config))
                r = uplink_enroll(&config, token_file);
        if (r < 0 || enroll_only) {
                uplink_config_free(&config);
                return r < 0 ? 1 : 0;
        }

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        _cleanup_(closep_fd) int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
        if (sfd < 0) {
                log_error_errno(negative_errno(), "signalfd: %m");
                uplink_config_free(&config);
                return 1;
        }

        struct uplink *u = NULL;
        r = uplink_new(&config, &u);
        if (r < 0)
                log_error_errno(r, "Cannot start the uplink: %m");
        else
                r = uplink_run(u, sfd);
        uplink_free(u);
        uplink_config_free(&config);
        return r < 0 ? 1 : 0;
}

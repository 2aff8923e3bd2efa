/* hogo-collector — receives events, heartbeats and enrollments from hogo agents.
 *
 *   hogo-collector [-c FILE] [-n] [-d] [-v]
 *     -c FILE  configuration (default /etc/hogo/collector.json; see collectors/config.h)
 *     -n       check the configuration (file, certificates, keys, store) and exit; binds
 *              no port, so it is safe next to a running collector
 *     -d       stay in the foreground and log to stderr (default: the journal; under
 *              systemd the unit is Type=notify, elsewhere the process daemonizes)
 *     -v       debug logging
 */
#include <getopt.h>
#include <signal.h>
#include <systemd/sd-daemon.h>

#include "collectors/ca.h"
#include "collectors/config.h"
#include "collectors/server.h"
#include "collectors/store.h"
#include "collectors/tls.h"
#include "common/log.h"
#include "common/util.h"

static void usage(FILE *f)
{
        fprintf(f, "Usage: hogo-collector [-c FILE] [-n] [-d] [-v]\n"
                   "Receives hogo agents' events and heartbeats over mutually authenticated\n"
                   "HTTPS and enrolls new agents.\n\n"
                   "  -c FILE  configuration file (default %s)\n"
                   "  -n       check the configuration and exit\n"
                   "  -d       foreground, log to stderr\n"
                   "  -v       debug logging\n",
                   COLLECTOR_DEFAULT_CONFIG);
}

static void store_closep(struct store **s)
{
        if (*s)
                store_close(*s);
}

int main(int argc, char **argv)
{
        const char *config_path = COLLECTOR_DEFAULT_CONFIG;
        bool check_only = false, foreground = false, verbose = false;
        int c;
        while ((c = getopt(argc, argv, "c:ndvh")) != -1)
                switch (c) {
                case 'c': config_path = optarg; break;
                case 'n': check_only = true; break;
                case 'd': foreground = true; break;
                case 'v': verbose = true; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        if (optind != argc) {
                usage(stderr);
                return 2;
        }
        bool journal = !foreground && !check_only;
        log_setup("hogo-collector", journal ? LOG_TARGET_JOURNAL : LOG_TARGET_STDERR,
                  verbose ? LOG_DEBUG : LOG_INFO);

        _cleanup_config_ struct collector_config *config = NULL;
        if (config_load(config_path, &config) < 0)
                return 1;
        if (!verbose)
                log_setup("hogo-collector", journal ? LOG_TARGET_JOURNAL : LOG_TARGET_STDERR,
                          config->log_level);

        _cleanup_ca_ struct hogo_ca *ca = NULL;
        if (config->n_listen[LISTENER_ENROLL] > 0 &&
            ca_load(config->tls_ca, config->tls_ca_key, &ca) < 0)
                return 1;

        _cleanup_(store_closep) struct store *store = NULL;
        int r = store_open(config->store_kind, config->store_target, &store);
        if (r < 0) {
                log_error_errno(r, "Cannot open the store %s: %m", config->store_target);
                return 1;
        }

        /* Block the signals in every thread; the main thread waits for them. */
        sigset_t sigs;
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGINT);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &sigs, NULL);
        signal(SIGPIPE, SIG_IGN);

        struct server *server = NULL;
        r = server_new(config, store, ca, check_only, &server);
        if (r < 0)
                return 1;
        if (check_only) {
                server_free(server);
                printf("configuration OK\n");
                return 0;
        }
        if (!foreground && !getenv("NOTIFY_SOCKET") && daemon(0, 0) < 0) {
                log_error_errno(negative_errno(), "Cannot go to the background: %m");
                server_free(server);
                return 1;
        }
        r = server_start(server);
        if (r < 0) {
                server_free(server);
                return 1;
        }
        for (enum listener_kind k = 0; k < _LISTENER_KIND_MAX; k++)
                for (size_t i = 0; i < config->n_listen[k]; i++)
                        log_info("Listening on %s:%u (%s)",
                                 config->listen[k][i].host[0] ? config->listen[k][i].host : "*",
                                 config->listen[k][i].port, listener_kind_to_string(k));
        sd_notify(0, "READY=1");

        int sig = 0;
        for (;;) {
                if (sigwait(&sigs, &sig) != 0)
                        continue;
                if (sig != SIGHUP)
                        break;
                log_info("SIGHUP: nothing to reload; restart to apply configuration changes");
        }
        sd_notify(0, "STOPPING=1");
        log_info("Signal %d: stopping; queued store work is committed first", sig);
        server_free(server);
        revoked_set_clear();
        return 0;
}

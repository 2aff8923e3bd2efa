/* main.c — hogo-agent: the privileged endpoint daemon.
 *
 *   hogo-agent [-c CONFIG] [-d] [-n]
 *     -c CONFIG  configuration file (default /etc/hogo/agent.json)
 *     -d         stay in the foreground and log to stderr (otherwise: the journal)
 *     -n         check the configuration and the policy, print "configuration OK" or the
 *                errors, and exit
 */
#include <getopt.h>
#include <grp.h>
#include <locale.h>
#include <stdio.h>

#include "agent/agent.h"
#include "agent/agent_core.h"
#include "agent/config.h"
#include "common/log.h"
#include "common/util.h"

static void usage(FILE *f)
{
        fprintf(f, "Usage: hogo-agent [-c CONFIG] [-d] [-n]\n"
                   "  -c CONFIG  configuration file (default " AGENT_CONFIG_DEFAULT_PATH ")\n"
                   "  -d         foreground, log to stderr\n"
                   "  -n         check the configuration and the policy, then exit\n");
}

static int check_only(const char *path)
{
        _cleanup_agent_config_ struct agent_config *config = NULL;
        _cleanup_free_ char *errors = NULL;
        if (agent_config_load(path, &config, &errors) < 0) {
                fprintf(stderr, "%s", errors ? errors : "cannot load the configuration\n");
                return 1;
        }
        int failed = 0;
        if (config->control_group && !getgrnam(config->control_group)) {
                fprintf(stderr, "control_group: group \"%s\" does not exist\n",
                        config->control_group);
                failed = 1;
        }
        if (agent_policy_check(config, stderr) < 0 || failed)
                return 1;
        printf("configuration OK\n");
        return 0;
}

int main(int argc, char **argv)
{
        const char *config_path = AGENT_CONFIG_DEFAULT_PATH;
        bool foreground = false, check = false;
        int c;

        setlocale(LC_ALL, "");
        while ((c = getopt(argc, argv, "c:dnh")) != -1) {
                switch (c) {
                case 'c': config_path = optarg; break;
                case 'd': foreground = true; break;
                case 'n': check = true; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (optind < argc) {
                usage(stderr);
                return 2;
        }
        enum log_target target = foreground ? LOG_TARGET_STDERR : LOG_TARGET_JOURNAL;
        log_setup("hogo-agent", check ? LOG_TARGET_STDERR : target, LOG_INFO);
        if (check)
                return check_only(config_path);

        struct agent_config *config = NULL;
        _cleanup_free_ char *errors = NULL;
        if (agent_config_load(config_path, &config, &errors) < 0) {
                log_error("Configuration %s is not usable; not starting:\n%s", config_path,
                          errors ? errors : "");
                return 1;
        }
        log_setup("hogo-agent", target, config->log_level);

        struct agent *agent = NULL;
        int r = agent_new(config_path, config, target, &agent);
        if (r < 0)
                return 1;
        r = agent_run(agent);
        agent_free(agent);
        return r < 0 ? 1 : 0;
}

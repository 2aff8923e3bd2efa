/* policy_push.c — `hogoctl policy push --department 課名 FILE`: validate, sign and store a
 * policy for the department's agents (or, with --default, for every department without
 * its own). The agents pick it up at their next heartbeat; each verifies the signature
 * itself, so the store and the collector are not trusted with policy. */
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <time.h>

#include "collectors/config.h"
#include "common/ed25519.h"
#include "common/util.h"
#include "ctl/collector_cmd.h"
#include "ctl/hogoctl.h"
#include "policy/policy.h"

#define POLICY_KEY_NAME "policy-signing.key"

static void usage(FILE *f)
{
        fprintf(f, "Usage: hogoctl policy push (--department 課名 | --default) [--key KEY] [-c FILE] POLICY\n\n"
                   "Validates POLICY, signs it with the policy signing key and stores it as the\n"
                   "current policy of the department (or the default for all departments).\n"
                   "KEY defaults to %s next to the CA certificate named in the collector's\n"
                   "configuration (-c, default /etc/hogo/collector.json).\n",
                   POLICY_KEY_NAME);
}

/* <directory of tls.ca>/policy-signing.key, where `hogoctl ca init` put it. */
static char *default_key_path(const char *config_path)
{
        _cleanup_config_ struct collector_config *c = NULL;
        if (config_load(config_path, &c) < 0)
                return NULL;
        _cleanup_free_ char *ca = strdup(c->tls_ca);
        char *p;
        if (!ca || asprintf(&p, "%s/%s", dirname(ca), POLICY_KEY_NAME) < 0)
                return NULL;
        return p;
}

int ctl_policy_push(int argc, char **argv)
{
        static const struct option opts[] = {
                { "department", required_argument, NULL, 'D' },
                { "default", no_argument, NULL, 'a' },
                { "key", required_argument, NULL, 'k' },
                { "config", required_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *department = NULL, *key_arg = NULL, *config = COLLECTOR_DEFAULT_CONFIG;
        bool all = false;
        int c;
        optind = 0;
        while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1)
                switch (c) {
                case 'D': department = optarg; break;
                case 'a': all = true; break;
                case 'k': key_arg = optarg; break;
                case 'c': config = optarg; break;
                case 'h': usage(stdout); return CTL_EXIT_OK;
                default: usage(stderr); return CTL_EXIT_USAGE;
                }
        if (optind + 1 != argc || all == (department != NULL) || (department && !*department)) {
                usage(stderr);
                return CTL_EXIT_USAGE;
        }
        const char *file = argv[optind];
        const char *dept = all ? "" : department;

        _cleanup_policy_errors_ struct policy_errors errs = POLICY_ERRORS_INIT;
        _cleanup_policy_ struct policy *p = NULL;
        if (policy_load_file(file, &p, &errs) < 0) {
                policy_errors_print(&errs, stderr);
                fprintf(stderr, "hogoctl policy push: %s is not a valid policy; nothing was pushed\n",
                        file);
                return CTL_EXIT_ERROR;
        }
        /* A policy written for one department must not be pushed to another by mistake. */
        if (p->department && STRNEQ(p->department, dept)) {
                fprintf(stderr, "hogoctl policy push: %s is written for department '%s', not '%s'; "
                                "nothing was pushed\n",
                        file, p->department, all ? "(default)" : dept);
                return CTL_EXIT_ERROR;
        }

        _cleanup_free_ char *key_default = key_arg ? NULL : default_key_path(config);
        const char *key_path = key_arg ?: key_default;
        if (!key_path) {
                fprintf(stderr, "hogoctl policy push: no signing key (use --key); nothing was pushed\n");
                return CTL_EXIT_ERROR;
        }
        _cleanup_pkey_ EVP_PKEY *key = NULL;
        int r = ed25519_load_private_pem(key_path, &key);
        if (r < 0) {
                fprintf(stderr, "hogoctl policy push: cannot load the signing key %s: %s; nothing "
                                "was pushed\n", key_path, strerror(-r));
                return CTL_EXIT_ERROR;
        }
        _cleanup_free_ char *envelope = NULL;
        r = policy_envelope_sign(p, key, &envelope);
        if (r < 0) {
                fprintf(stderr, "hogoctl policy push: cannot sign: %s; nothing was pushed\n",
                        strerror(-r));
                return CTL_EXIT_ERROR;
        }

        _cleanup_store_ struct store *store = NULL;
        if (ctl_open_collector_store("hogoctl policy push", config, &store) < 0)
                return CTL_EXIT_ERROR;
        char version[32];
        snprintf(version, sizeof version, "%" PRId64, p->version);
        r = store_policy_put(store, dept, version, envelope, time(NULL));
        if (r == -EEXIST) {
                fprintf(stderr, "hogoctl policy push: version %s was already pushed for %s; raise "
                                "\"version\" in %s and push again\n",
                        version, all ? "the default" : dept, file);
                return CTL_EXIT_ERROR;
        }
        if (r < 0) {
                fprintf(stderr, "hogoctl policy push: cannot store the policy: %s; nothing was "
                                "pushed\n", strerror(-r));
                return CTL_EXIT_ERROR;
        }
        printf("Policy %s version %s signed and pushed to %s; agents fetch it at their next "
               "heartbeat.\n", p->name ? p->name : "", version, all ? "every department (default)" : dept);
        return CTL_EXIT_OK;
}

/* ca.c — `hogoctl ca init`: the collector's CA, its server certificate and the policy
 * signing key, made once per site. */
#include <getopt.h>

#include "collectors/ca.h"
#include "common/ed25519.h"
#include "common/log.h"
#include "common/util.h"
#include "ctl/hogoctl.h"

#define POLICY_KEY_NAME "policy-signing.key"
#define POLICY_PUB_NAME "policy-signing.pub"
#define MAX_SERVER_NAMES 32

static void usage(FILE *f)
{
        fprintf(f, "Usage: hogoctl ca init --dir DIR --server-name NAME [--server-name NAME...]\n\n"
                   "Makes, in DIR (created 0700):\n"
                   "  ca.key, ca.crt            the hogo CA (ECDSA P-256, 10 years)\n"
                   "  server.key, server.crt    the collector's certificate, valid for every NAME\n"
                   "                            (host names or IP addresses; 2 years)\n"
                   "  %-25s the policy signing key (Ed25519)\n"
                   "  %-25s its public half, for the agents\n"
                   "Keys are 0600. An existing CA in DIR is never replaced.\n",
                   POLICY_KEY_NAME, POLICY_PUB_NAME);
}

static int ca_init(int argc, char **argv)
{
        static const struct option opts[] = {
                { "dir", required_argument, NULL, 'D' },
                { "server-name", required_argument, NULL, 'n' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *dir = NULL;
        char *names[MAX_SERVER_NAMES];
        size_t n_names = 0;
        int c;
        optind = 0;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
                switch (c) {
                case 'D': dir = optarg; break;
                case 'n':
                        if (n_names == MAX_SERVER_NAMES) {
                                fprintf(stderr, "hogoctl ca init: at most %d --server-name\n",
                                        MAX_SERVER_NAMES);
                                return CTL_EXIT_USAGE;
                        }
                        names[n_names++] = optarg;
                        break;
                case 'h': usage(stdout); return CTL_EXIT_OK;
                default: usage(stderr); return CTL_EXIT_USAGE;
                }
        if (!dir || n_names == 0 || optind != argc) {
                usage(stderr);
                return CTL_EXIT_USAGE;
        }
        if (ca_init_dir(dir, names, n_names) < 0) {
                fprintf(stderr, "hogoctl ca init: no CA was made in %s\n", dir);
                return CTL_EXIT_ERROR;
        }

        _cleanup_free_ char *key_path = NULL, *pub_path = NULL;
        if (asprintf(&key_path, "%s/%s", dir, POLICY_KEY_NAME) < 0 ||
            asprintf(&pub_path, "%s/%s", dir, POLICY_PUB_NAME) < 0)
                return CTL_EXIT_ERROR;
        _cleanup_pkey_ EVP_PKEY *key = NULL;
        int r = ed25519_generate(&key);
        if (r >= 0)
                r = ed25519_write_private_pem(key, key_path);
        if (r >= 0)
                r = ed25519_write_public_pem(key, pub_path);
        if (r < 0) {
                fprintf(stderr, "hogoctl ca init: the CA was made but the policy signing key was "
                                "not (%s); make it with 'hogoctl policy keygen --out %s'\n",
                        strerror(-r), dir);
                return CTL_EXIT_ERROR;
        }
        printf("CA, server certificate (%s", names[0]);
        for (size_t i = 1; i < n_names; i++)
                printf(", %s", names[i]);
        printf(") and policy signing key written to %s\n", dir);
        return CTL_EXIT_OK;
}

int ctl_ca_main(int argc, char **argv)
{
        if (argc >= 2 && STREQ(argv[1], "init"))
                return ca_init(argc - 1, argv + 1);
        if (argc >= 2 && (STREQ(argv[1], "-h") || STREQ(argv[1], "--help"))) {
                usage(stdout);
                return CTL_EXIT_OK;
        }
        usage(stderr);
        return CTL_EXIT_USAGE;
}

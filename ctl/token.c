/* token.c — `hogoctl token create`: one-time enrollment tokens.
 *
 * The token is 32 random bytes in hex, printed once on stdout; the store keeps only its
 * SHA-256, the department it enrolls into, how many uses are left and when it expires. */
#include <getopt.h>
#include <inttypes.h>
#include <openssl/rand.h>
#include <time.h>

#include "common/digest.h"
#include "common/util.h"
#include "ctl/collector_cmd.h"
#include "ctl/hogoctl.h"

#define TOKEN_BYTES 32
#define TOKEN_TTL_MAX (366 * 86400L)

static void usage(FILE *f)
{
        fprintf(f, "Usage: hogoctl token create --department 課名 [--uses N] [--ttl 24h] [-c FILE]\n\n"
                   "Prints a one-time enrollment token for terminals of the department. It\n"
                   "enrolls N terminals (default 1) until it expires (--ttl: a number with s, m,\n"
                   "h or d; default 24h). Only its hash is stored. -c names the collector's\n"
                   "configuration (default /etc/hogo/collector.json).\n");
}

/* "90", "90s", "15m", "24h", "7d" → seconds; -EINVAL otherwise. */
static int parse_ttl(const char *s, int64_t *ret)
{
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno != 0 || end == s || v <= 0)
                return -EINVAL;
        long long mult = 1;
        if (*end) {
                if (end[1] != '\0')
                        return -EINVAL;
                switch (*end) {
                case 's': mult = 1; break;
                case 'm': mult = 60; break;
                case 'h': mult = 3600; break;
                case 'd': mult = 86400; break;
                default: return -EINVAL;
                }
        }
        if (v > TOKEN_TTL_MAX / mult)
                return -ERANGE;
        *ret = v * mult;
        return 0;
}

static int token_create(int argc, char **argv)
{
        static const struct option opts[] = {
                { "department", required_argument, NULL, 'D' },
                { "uses", required_argument, NULL, 'u' },
                { "ttl", required_argument, NULL, 't' },
                { "config", required_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *department = NULL, *config = NULL;
        long uses = 1;
        int64_t ttl = 86400;
        int c;
        char *end;
        optind = 0;
        while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1)
                switch (c) {
                case 'D': department = optarg; break;
                case 'c': config = optarg; break;
                case 'u':
                        errno = 0;
                        uses = strtol(optarg, &end, 10);
                        if (errno || *end || uses < 1 || uses > 100000) {
                                fprintf(stderr, "hogoctl token create: --uses expects 1 to 100000\n");
                                return CTL_EXIT_USAGE;
                        }
                        break;
                case 't':
                        if (parse_ttl(optarg, &ttl) < 0) {
                                fprintf(stderr, "hogoctl token create: --ttl expects e.g. 3600s, "
                                                "30m, 24h or 7d (at most 366d)\n");
                                return CTL_EXIT_USAGE;
                        }
                        break;
                case 'h': usage(stdout); return CTL_EXIT_OK;
                default: usage(stderr); return CTL_EXIT_USAGE;
                }
        if (!department || !*department || strlen(department) > 255 || optind != argc) {
                usage(stderr);
                return CTL_EXIT_USAGE;
        }

        unsigned char raw[TOKEN_BYTES];
        if (RAND_bytes(raw, sizeof raw) != 1) {
                fprintf(stderr, "hogoctl token create: no random bytes available\n");
                return CTL_EXIT_ERROR;
        }
        char token[2 * TOKEN_BYTES + 1];
        for (size_t i = 0; i < TOKEN_BYTES; i++)
                snprintf(token + 2 * i, 3, "%02x", raw[i]);
        char hash[SHA256_HEX_LEN + 1];
        sha256_hex(token, strlen(token), hash);

        _cleanup_store_ struct store *store = NULL;
        if (ctl_open_collector_store("hogoctl token create", config, &store) < 0)
                return CTL_EXIT_ERROR;
        int64_t now = time(NULL);
        int r = store_token_add(store, hash, department, (int)uses, now + ttl, now);
        if (r < 0) {
                fprintf(stderr, "hogoctl token create: the token could not be stored (%s); no "
                                "token was issued\n",
                        strerror(-r));
                return CTL_EXIT_ERROR;
        }
        printf("%s\n", token);
        fprintf(stderr, "Enrollment token for %s: %ld use%s, valid for %" PRId64 " s. It is "
                        "shown only now.\n",
                department, uses, uses == 1 ? "" : "s", ttl);
        return CTL_EXIT_OK;
}

int ctl_token_main(int argc, char **argv)
{
        if (argc >= 2 && STREQ(argv[1], "create"))
                return token_create(argc - 1, argv + 1);
        if (argc >= 2 && (STREQ(argv[1], "-h") || STREQ(argv[1], "--help"))) {
                usage(stdout);
                return CTL_EXIT_OK;
        }
        usage(stderr);
        return CTL_EXIT_USAGE;
}

/* collector_cert — issues an agent client certificate straight from a hogo CA directory,
 * with any validity window, for tests that need certificates enrollment never hands out
 * (expired, not yet valid) or agents the store does not know.
 *
 *   collector_cert CA_DIR KEY_OUT CERT_OUT CN DEPARTMENT NOT_BEFORE NOT_AFTER
 *
 * NOT_BEFORE and NOT_AFTER are seconds relative to now (e.g. -172800 -86400 for a
 * certificate that expired yesterday). A new ECDSA P-256 key is written to KEY_OUT. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "collectors/ca.h"
#include "common/ed25519.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/util.h"

int main(int argc, char **argv)
{
        if (argc != 8) {
                fprintf(stderr, "Usage: collector_cert CA_DIR KEY_OUT CERT_OUT CN DEPARTMENT "
                                "NOT_BEFORE NOT_AFTER\n");
                return 2;
        }
        log_setup("collector_cert", LOG_TARGET_STDERR, LOG_INFO);
        _cleanup_free_ char *ca_crt = NULL, *ca_key = NULL;
        if (asprintf(&ca_crt, "%s/ca.crt", argv[1]) < 0 || asprintf(&ca_key, "%s/ca.key", argv[1]) < 0)
                return 1;
        _cleanup_ca_ struct hogo_ca *ca = NULL;
        if (ca_load(ca_crt, ca_key, &ca) < 0)
                return 1;
        _cleanup_pkey_ EVP_PKEY *key = NULL;
        if (ca_generate_key(&key) < 0 || ca_write_key(argv[2], key) < 0)
                return 1;
        char *end1, *end2;
        long not_before = strtol(argv[6], &end1, 10), not_after = strtol(argv[7], &end2, 10);
        if (*end1 || *end2 || end1 == argv[6] || end2 == argv[7]) {
                fprintf(stderr, "collector_cert: NOT_BEFORE and NOT_AFTER are seconds from now\n");
                return 2;
        }
        time_t now = time(NULL);
        _cleanup_free_ char *pem = NULL;
        char serial[CA_SERIAL_HEX_MAX + 1];
        if (ca_issue_agent(ca, key, argv[4], argv[5], now + not_before, now + not_after,
                           &pem, serial) < 0)
                return 1;
        if (write_file_atomic(argv[3], pem, strlen(pem), 0644) < 0)
                return 1;
        return 0;
}

/* enroll.h — first start: a key made here, a certificate from the collector.
 *
 * The uplink generates an ECDSA P-256 key, writes a CSR (the private key never leaves the
 * terminal), and posts the one-time token with it to POST /v1/enroll over TLS that
 * authenticates the collector with the pinned CA. The answer's certificate, the CA and the
 * agent id are kept in the state directory, mode 0600, and the token file is deleted: a
 * token is good once. A refused token leaves everything as it was and says what to do.
 */
#ifndef HOGO_UPLINK_ENROLL_H
#define HOGO_UPLINK_ENROLL_H

#include <stdbool.h>

#include "agent/uplink/config.h"

#define ENROLL_KEY_FILE  "agent.key"
#define ENROLL_CERT_FILE "agent.crt"
#define ENROLL_CA_FILE   "ca.crt"
#define ENROLL_ID_FILE   "agent-id"

/* true when the state directory holds a key and a certificate. */
bool uplink_is_enrolled(const struct uplink_config *config);

/* Enrolls with the token in token_file (overrides the configuration's when not NULL).
 * -EACCES when the collector refused the token, -EHOSTUNREACH when no enrollment URL
 * answered; each is logged once with what to do. */
int uplink_enroll(const struct uplink_config *config, const char *token_file);

/* A fresh P-256 key and a CSR for it, both PEM (pure OpenSSL, no I/O; tested directly). */
int enroll_make_key_and_csr(const char *hostname, char **ret_key_pem, char **ret_csr_pem);

#endif

/* tls.h — the collector's TLS: SSL_CTX per listener and the revocation check.
 *
 * Both listeners: TLS 1.2 minimum (1.3 preferred by the client hello order OpenSSL
 * follows), ECDHE with AES-GCM or ChaCha20-Poly1305 only, no renegotiation, no
 * compression, no session tickets, the server certificate and key from the configuration.
 * The agent listener also asks for a client certificate and fails the handshake without
 * one (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT), chains it to the hogo CA only,
 * requires clientAuth, and refuses a certificate whose CN is in the revoked set. The set
 * is replaced from the store by the writer thread every limits.revocation_refresh_ms, so
 * `hogoctl agent revoke ID` takes effect at the agent's next handshake (and next request)
 * without a restart. Every refused handshake is logged once with the peer and the reason
 * and counted in hogo_collector_tls_handshake_failures_total. A plain-HTTP request sent
 * to a TLS port is answered "400" in plain HTTP before the connection is closed, so a
 * misconfigured client learns what went wrong.
 */
#ifndef HOGO_COLLECTOR_TLS_H
#define HOGO_COLLECTOR_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "collectors/config.h"

int tls_server_ctx_new(const struct collector_config *c, enum listener_kind kind,
                       SSL_CTX **ret);

/* A new server-side SSL for one accepted connection, with its bookkeeping attached. */
int tls_new_connection(SSL_CTX *ctx, SSL **ret);

/* The verified client certificate's CN (agent id) into buf; -ENOENT without one. */
int tls_peer_agent_id(SSL *ssl, char *buf, size_t len);

/* The verified client certificate's OU (the department it was enrolled into; "" when it
 * has none). */
int tls_peer_department(SSL *ssl, char *buf, size_t len);

/* The process-wide revoked set. Lookups are lock-free for readers in the common case
 * (a read lock); replacement takes ownership of ids (sorted here). */
bool revoked_set_contains(const char *agent_id);
void revoked_set_replace(char **ids, size_t n);
void revoked_set_clear(void);

/* Per-connection bookkeeping for logging: a connection that is closed before a complete
 * request arrived (a slow or idle client cut off by the timeout) is logged when its SSL
 * object is freed. tls_connection_served() marks that a request was answered. */
void tls_connection_served(SSL *ssl);
/* The connection's end was already logged with its reason (deadline, connection limit):
 * no second, vaguer line when it is freed. */
void tls_connection_logged(SSL *ssl);

#endif

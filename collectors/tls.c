/* tls.c — see tls.h. */
#include "collectors/tls.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

#include "collectors/metrics.h"
#include "common/log.h"
#include "common/util.h"

/* TLS 1.2 suites: forward secrecy and AEAD only. TLS 1.3's defaults are all AEAD. */
#define TLS12_CIPHERS                                                                   \
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"                  \
        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:"                    \
        "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define PLAIN_HTTP_BODY_LEN 64

/* ---- the revoked set ------------------------------------------------------------- */

static pthread_rwlock_t revoked_lock = PTHREAD_RWLOCK_INITIALIZER;
static char **revoked_ids;
static size_t n_revoked;

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

bool revoked_set_contains(const char *agent_id)
{
        pthread_rwlock_rdlock(&revoked_lock);
        bool found = n_revoked > 0 &&
                     bsearch(&agent_id, revoked_ids, n_revoked, sizeof *revoked_ids, cmp_str);
        pthread_rwlock_unlock(&revoked_lock);
        return found;
}

static void free_ids(char **ids, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(ids[i]);
        free(ids);
}

void revoked_set_replace(char **ids, size_t n)
{
        if (n > 1)
                qsort(ids, n, sizeof *ids, cmp_str);
        pthread_rwlock_wrlock(&revoked_lock);
        char **old = revoked_ids;
        size_t n_old = n_revoked;
        revoked_ids = ids;
        n_revoked = n;
        pthread_rwlock_unlock(&revoked_lock);
        free_ids(old, n_old);
}

void revoked_set_clear(void) { revoked_set_replace(NULL, 0); }

/* ---- per-connection bookkeeping ---------------------------------------------------- */

struct conn_note {
        struct timespec started;
        bool served;
        bool failed_logged; /* the handshake failure was already logged */
};

static int conn_note_index = -1;
static pthread_once_t conn_note_once = PTHREAD_ONCE_INIT;

static void peer_string(SSL *ssl, char *buf, size_t len)
{
        struct sockaddr_storage sa = { 0 };
        socklen_t salen = sizeof sa;
        int fd = SSL_get_fd(ssl);
        snprintf(buf, len, "unknown peer");
        if (fd < 0 || getpeername(fd, (struct sockaddr *)&sa, &salen) < 0)
                return;
        char host[INET6_ADDRSTRLEN] = "";
        unsigned port = 0;
        if (sa.ss_family == AF_INET) {
                struct sockaddr_in *in = (struct sockaddr_in *)&sa;
                inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
                port = ntohs(in->sin_port);
                snprintf(buf, len, "%s:%u", host, port);
        } else if (sa.ss_family == AF_INET6) {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&sa;
                inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
                port = ntohs(in6->sin6_port);
                snprintf(buf, len, "[%s]:%u", host, port);
        }
}

static void conn_note_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                           void *argp)
{
        struct conn_note *n = ptr;
        if (!n)
                return;
        if (!n->served && !n->failed_logged) {
                struct timespec now;
                clock_gettime(CLOCK_MONOTONIC, &now);
                char peer[80];
                peer_string(parent, peer, sizeof peer);
                log_notice("%s: connection closed after %lds without a complete request "
                           "(idle, slow or disconnected client); nothing was stored",
                           peer, (long)(now.tv_sec - n->started.tv_sec));
        }
        free(n);
}

static void conn_note_init(void)
{
        conn_note_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_note_free);
}

static struct conn_note *conn_note_get(SSL *ssl)
{
        return conn_note_index >= 0 ? SSL_get_ex_data(ssl, conn_note_index) : NULL;
}

void tls_connection_served(SSL *ssl)
{
        struct conn_note *n = conn_note_get(ssl);
        if (n)
                n->served = true;
}

void tls_connection_logged(SSL *ssl)
{
        struct conn_note *n = conn_note_get(ssl);
        if (n)
                n->failed_logged = true;
}

/* ---- handshake --------------------------------------------------------------------- */

static void handshake_failed(SSL *ssl, enum handshake_failure why, const char *detail)
{
        struct conn_note *n = conn_note_get(ssl);
        if (n) {
                if (n->failed_logged)
                        return;
                n->failed_logged = true;
        }
        char peer[80];
        peer_string(ssl, peer, sizeof peer);
        metrics_count_handshake_failure(why);
        log_warning("%s: TLS handshake refused: %s", peer, detail);
}

static int verify_agent_cert(int preverify_ok, X509_STORE_CTX *x)
{
        SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
        int depth = X509_STORE_CTX_get_error_depth(x);
        X509 *cert = X509_STORE_CTX_get_current_cert(x);
        char subject[256] = "(none)";
        if (cert)
                X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);

        if (!preverify_ok) {
                int err = X509_STORE_CTX_get_error(x);
                enum handshake_failure why = err == X509_V_ERR_CERT_HAS_EXPIRED ||
                                                             err == X509_V_ERR_CERT_NOT_YET_VALID
                                                     ? HANDSHAKE_EXPIRED_CERT
                                                     : HANDSHAKE_UNTRUSTED_CERT;
                char detail[512];
                snprintf(detail, sizeof detail, "client certificate %s: %s", subject,
                         X509_verify_cert_error_string(err));
                handshake_failed(ssl, why, detail);
                return 0;
        }
        if (depth != 0)
                return 1;

        char cn[128];
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
                                      sizeof cn) <= 0) {
                handshake_failed(ssl, HANDSHAKE_UNTRUSTED_CERT, "client certificate has no CN");
                X509_STORE_CTX_set_error(x, X509_V_ERR_SUBJECT_ISSUER_MISMATCH);
                return 0;
        }
        if (revoked_set_contains(cn)) {
                char detail[256];
                snprintf(detail, sizeof detail, "agent %s is revoked", cn);
                handshake_failed(ssl, HANDSHAKE_REVOKED_CERT, detail);
                X509_STORE_CTX_set_error(x, X509_V_ERR_CERT_REVOKED);
                return 0;
        }
        return 1;
}

/* Classifies a failed handshake from OpenSSL's error queue and logs it once. A plain
 * HTTP request gets a plain HTTP answer, the only thing such a client can read. */
static void info_callback(const SSL *cssl, int where, int ret)
{
        SSL *ssl = (SSL *)cssl;
        if (!(where & SSL_CB_EXIT) || ret > 0)
                return;
        unsigned long e = ERR_peek_error();
        if (e == 0)
                return; /* wants more data: not a failure */
        int reason = ERR_GET_REASON(e);
        char detail[256];
        snprintf(detail, sizeof detail, "%s", ERR_reason_error_string(e) ?: "unknown error");

        switch (reason) {
        case SSL_R_HTTP_REQUEST:
        case SSL_R_HTTPS_PROXY_REQUEST: {
#define PLAIN_HTTP_BODY "This port speaks HTTPS only; nothing was stored. Use https://.\r\n"
                static const char answer[] =
                        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
                        "Content-Type: text/plain\r\nContent-Length: "
                        STRINGIFY(PLAIN_HTTP_BODY_LEN) "\r\n\r\n" PLAIN_HTTP_BODY;
                _Static_assert(sizeof PLAIN_HTTP_BODY - 1 == PLAIN_HTTP_BODY_LEN,
                               "Content-Length of the plain-HTTP answer");
                int fd = SSL_get_fd(ssl);
                if (fd >= 0)
                        (void)!send(fd, answer, sizeof answer - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                handshake_failed(ssl, HANDSHAKE_NOT_TLS,
                                 "plain HTTP sent to the TLS port; answered 400 and closed");
                break;
        }
        case SSL_R_WRONG_VERSION_NUMBER:
        case SSL_R_PACKET_LENGTH_TOO_LONG:
        case SSL_R_RECORD_LENGTH_MISMATCH:
                handshake_failed(ssl, HANDSHAKE_NOT_TLS, "bytes that are not TLS; closed");
                break;
        case SSL_R_UNSUPPORTED_PROTOCOL:
        case SSL_R_NO_SHARED_CIPHER:
        case SSL_R_VERSION_TOO_LOW:
        case SSL_R_NO_PROTOCOLS_AVAILABLE:
                handshake_failed(ssl, HANDSHAKE_PROTOCOL, detail);
                break;
        case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
                handshake_failed(ssl, HANDSHAKE_NO_CLIENT_CERT,
                                 "no client certificate; enroll first (POST /v1/enroll on the "
                                 "enrollment port)");
                break;
        default:
                handshake_failed(ssl, HANDSHAKE_OTHER, detail);
        }
}

static int attach_conn_note(SSL *ssl)
{
        struct conn_note *n = calloc(1, sizeof *n);
        if (!n)
                return -ENOMEM;
        clock_gettime(CLOCK_MONOTONIC, &n->started);
        if (SSL_set_ex_data(ssl, conn_note_index, n) != 1) {
                free(n);
                return -ENOMEM;
        }
        return 0;
}

int tls_server_ctx_new(const struct collector_config *c, enum listener_kind kind,
                       SSL_CTX **ret)
{
        pthread_once(&conn_note_once, conn_note_init);

        SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
        if (!ctx)
                return log_error_errno(-ENOMEM, "Cannot create a TLS context");

        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                         SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
            SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1 ||
            SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1) {
                SSL_CTX_free(ctx);
                return log_error_errno(-EINVAL, "Cannot set the TLS cipher suites");
        }
        if (SSL_CTX_use_certificate_chain_file(ctx, c->tls_certificate) != 1) {
                SSL_CTX_free(ctx);
                return log_error_errno(-EINVAL, "Cannot load the server certificate %s",
                                       c->tls_certificate);
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, c->tls_key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
                SSL_CTX_free(ctx);
                return log_error_errno(-EINVAL, "Cannot load the server key %s, or it does not "
                                                "belong to %s",
                                       c->tls_key, c->tls_certificate);
        }
        SSL_CTX_set_info_callback(ctx, info_callback);

        if (kind == LISTENER_AGENT) {
                /* Only the hogo CA is trusted, not the system's: load it alone. */
                if (SSL_CTX_load_verify_locations(ctx, c->tls_ca, NULL) != 1) {
                        SSL_CTX_free(ctx);
                        return log_error_errno(-EINVAL, "Cannot load the CA certificate %s",
                                               c->tls_ca);
                }
                STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(c->tls_ca);
                if (names)
                        SSL_CTX_set_client_CA_list(ctx, names);
                X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
                X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_CLIENT);
                X509_VERIFY_PARAM_set_depth(param, 1);
                SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                                   verify_agent_cert);
        } else {
                SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        }
        *ret = ctx;
        return 0;
}

int tls_new_connection(SSL_CTX *ctx, SSL **ret)
{
        SSL *ssl = SSL_new(ctx);
        if (!ssl)
                return -ENOMEM;
        int r = attach_conn_note(ssl);
        if (r < 0) {
                SSL_free(ssl);
                return r;
        }
        *ret = ssl;
        return 0;
}

/* The text of one subject entry of the verified peer certificate; -ENOENT without that
 * entry (or without a verified certificate). */
static int peer_subject_entry(SSL *ssl, int nid, char *buf, size_t len)
{
        if (SSL_get_verify_result(ssl) != X509_V_OK)
                return -EPERM;
        X509 *cert = SSL_get0_peer_certificate(ssl);
        if (!cert)
                return -ENOENT;
        X509_NAME *name = X509_get_subject_name(cert);
        if (X509_NAME_get_index_by_NID(name, nid, -1) < 0)
                return -ENOENT;
        return X509_NAME_get_text_by_NID(name, nid, buf, (int)len) >= 0 ? 0 : -EINVAL;
}

int tls_peer_agent_id(SSL *ssl, char *buf, size_t len)
{
        int r = peer_subject_entry(ssl, NID_commonName, buf, len);
        return r >= 0 && !*buf ? -ENOENT : r;
}

int tls_peer_department(SSL *ssl, char *buf, size_t len)
{
        int r = peer_subject_entry(ssl, NID_organizationalUnitName, buf, len);
        if (r == -ENOENT && SSL_get0_peer_certificate(ssl)) {
                snprintf(buf, len, "%s", ""); /* enrolled without a department */
                return 0;
        }
        return r;
}

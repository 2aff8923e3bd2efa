/* ca.h — the enrollment CA: ECDSA P-256 keys and X.509 certificates for hogo.
 *
 * `hogoctl ca init` makes, in one directory: ca.key/ca.crt (the hogo CA, 10 years),
 * server.key/server.crt (the collector's certificate, 2 years, every --server-name as a
 * subjectAltName, serverAuth), all keys 0600. At enrollment the collector issues an agent
 * certificate from the agent's CSR: CN = the new agent id, OU = the department the token
 * was made for, O = hogo; 1 year; clientAuth only. Only the CSR's public key is used
 * (after its signature is checked), never its subject, so a terminal cannot choose its
 * identity or department. The key type is pinned to ECDSA P-256.
 */
#ifndef HOGO_COLLECTOR_CA_H
#define HOGO_COLLECTOR_CA_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <time.h>

#define CA_AGENT_CERT_DAYS 365
#define CA_SERVER_CERT_DAYS (2 * 365)
#define CA_CA_CERT_DAYS (10 * 365)
#define CA_AGENT_ID_LEN 36 /* a random UUID */

struct hogo_ca {
        X509 *cert;
        EVP_PKEY *key;
};

int ca_load(const char *cert_path, const char *key_path, struct hogo_ca **ret);
void ca_free(struct hogo_ca *ca);
static inline void ca_freep(struct hogo_ca **ca)
{
        if (*ca)
                ca_free(*ca);
}
#define _cleanup_ca_ __attribute__((cleanup(ca_freep)))

/* Makes the CA and the server certificate in dir (created 0700 when missing). Refuses
 * (-EEXIST) to overwrite an existing ca.key. */
int ca_init_dir(const char *dir, char *const *server_names, size_t n_names);

/* A new ECDSA P-256 key. */
int ca_generate_key(EVP_PKEY **ret);

/* Parses a PEM CSR, checks its self-signature and that its key is ECDSA P-256. */
int ca_csr_parse(const char *pem, size_t len, X509_REQ **ret, char *err, size_t errlen);

#define CA_SERIAL_HEX_MAX 63

/* Issues a client certificate for key (CN = agent_id, OU = department) valid from
 * not_before to not_after, as PEM (malloc()ed), with its serial in hex. */
int ca_issue_agent(struct hogo_ca *ca, EVP_PKEY *key, const char *agent_id,
                   const char *department, time_t not_before, time_t not_after,
                   char **ret_pem, char ret_serial[static CA_SERIAL_HEX_MAX + 1]);

/* The CA certificate as PEM (malloc()ed). */
int ca_cert_pem(struct hogo_ca *ca, char **ret_pem);

/* A random (version 4) UUID, the form of agent ids. */
int ca_new_agent_id(char ret[static CA_AGENT_ID_LEN + 1]);

/* Writes a key (PKCS#8 PEM, 0600) or a certificate (PEM, 0644) atomically. */
int ca_write_key(const char *path, EVP_PKEY *key);
int ca_write_cert(const char *path, X509 *cert);

#endif

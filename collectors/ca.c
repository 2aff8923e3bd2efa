/* ca.c — see ca.h. */
#include "collectors/ca.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/ed25519.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/util.h"

static void bio_freep(BIO **b) { BIO_free_all(*b); }
static void x509_freep(X509 **x) { X509_free(*x); }
static void x509_req_freep(X509_REQ **x) { X509_REQ_free(*x); }
#define _cleanup_bio_ _cleanup_(bio_freep)
#define _cleanup_x509_ _cleanup_(x509_freep)

/* Copies a memory BIO's contents into a NUL-terminated string. */
static int bio_to_string(BIO *b, char **ret, size_t *ret_len)
{
        char *data;
        long n = BIO_get_mem_data(b, &data);
        if (n < 0)
                return -EIO;
        char *s = malloc((size_t)n + 1);
        if (!s)
                return -ENOMEM;
        memcpy(s, data, (size_t)n);
        s[n] = '\0';
        *ret = s;
        if (ret_len)
                *ret_len = (size_t)n;
        return 0;
}

int ca_generate_key(EVP_PKEY **ret)
{
        EVP_PKEY *k = EVP_EC_gen("P-256");
        if (!k)
                return -EIO;
        *ret = k;
        return 0;
}

int ca_load(const char *cert_path, const char *key_path, struct hogo_ca **ret)
{
        _cleanup_bio_ BIO *cb = BIO_new_file(cert_path, "r");
        if (!cb)
                return log_error_errno(-ENOENT, "Cannot read the CA certificate %s", cert_path);
        _cleanup_x509_ X509 *cert = PEM_read_bio_X509(cb, NULL, NULL, NULL);
        if (!cert)
                return log_error_errno(-EINVAL, "%s: not a PEM certificate", cert_path);
        _cleanup_bio_ BIO *kb = BIO_new_file(key_path, "r");
        if (!kb)
                return log_error_errno(-ENOENT, "Cannot read the CA key %s", key_path);
        _cleanup_pkey_ EVP_PKEY *key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
        if (!key)
                return log_error_errno(-EINVAL, "%s: not a PEM private key", key_path);
        if (X509_check_private_key(cert, key) != 1)
                return log_error_errno(-EINVAL, "%s does not belong to %s", key_path, cert_path);

        struct hogo_ca *ca = calloc(1, sizeof *ca);
        if (!ca)
                return -ENOMEM;
        ca->cert = TAKE_PTR(cert);
        ca->key = TAKE_PTR(key);
        *ret = ca;
        return 0;
}

void ca_free(struct hogo_ca *ca)
{
        if (!ca)
                return;
        X509_free(ca->cert);
        EVP_PKEY_free(ca->key);
        free(ca);
}

static int name_add(X509_NAME *n, const char *field, const char *value)
{
        return X509_NAME_add_entry_by_txt(n, field, MBSTRING_UTF8, (const unsigned char *)value,
                                          -1, -1, 0) == 1 ? 0 : -EINVAL;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        if (!ext)
                return -EINVAL;
        int ok = X509_add_ext(cert, ext, -1);
        X509_EXTENSION_free(ext);
        return ok == 1 ? 0 : -EINVAL;
}

/* A certificate for key with the given subject, signed by issuer_key (issuer NULL: self-
 * signed). exts are (nid, value) pairs applied in order. */
static int cert_make(EVP_PKEY *key, X509_NAME *subject, X509 *issuer, EVP_PKEY *issuer_key,
                     time_t not_before, time_t not_after, const int *nids,
                     const char *const *values, size_t n_exts, X509 **ret)
{
        _cleanup_x509_ X509 *x = X509_new();
        if (!x)
                return -ENOMEM;

        /* 127 random bits: unique and unpredictable serials (CA/B forum asks ≥ 64). */
        BIGNUM *bn = BN_new();
        if (!bn || BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1) {
                BN_free(bn);
                return -EIO;
        }
        ASN1_INTEGER *serial = BN_to_ASN1_INTEGER(bn, NULL);
        BN_free(bn);
        if (!serial)
                return -ENOMEM;
        int ok = X509_set_serialNumber(x, serial);
        ASN1_INTEGER_free(serial);

        ok = ok && X509_set_version(x, X509_VERSION_3) &&
             ASN1_TIME_set(X509_getm_notBefore(x), not_before) &&
             ASN1_TIME_set(X509_getm_notAfter(x), not_after) && X509_set_pubkey(x, key) &&
             X509_set_subject_name(x, subject) &&
             X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject);
        if (!ok)
                return -EINVAL;
        for (size_t i = 0; i < n_exts; i++) {
                int r = add_ext(x, issuer ? issuer : x, nids[i], values[i]);
                if (r < 0)
                        return log_error_errno(r, "Cannot add certificate extension %s=%s",
                                               OBJ_nid2sn(nids[i]), values[i]);
        }
        if (X509_sign(x, issuer_key, EVP_sha256()) <= 0)
                return -EIO;
        *ret = TAKE_PTR(x);
        return 0;
}

int ca_issue_agent(struct hogo_ca *ca, EVP_PKEY *key, const char *agent_id,
                   const char *department, time_t not_before, time_t not_after,
                   char **ret_pem, char ret_serial[static CA_SERIAL_HEX_MAX + 1])
{
        X509_NAME *subject = X509_NAME_new();
        if (!subject)
                return -ENOMEM;
        int r = name_add(subject, "O", "hogo");
        if (r >= 0 && department && *department)
                r = name_add(subject, "OU", department);
        if (r >= 0)
                r = name_add(subject, "CN", agent_id);
        if (r < 0) {
                X509_NAME_free(subject);
                return r;
        }
        static const int nids[] = { NID_basic_constraints, NID_key_usage, NID_ext_key_usage,
                                    NID_subject_key_identifier, NID_authority_key_identifier };
        static const char *const values[] = { "critical,CA:FALSE", "critical,digitalSignature",
                                              "clientAuth", "hash", "keyid:always" };
        _cleanup_x509_ X509 *cert = NULL;
        r = cert_make(key, subject, ca->cert, ca->key, not_before, not_after, nids, values,
                      ELEMENTSOF(nids), &cert);
        X509_NAME_free(subject);
        if (r < 0)
                return r;

        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
        char *hex = bn ? BN_bn2hex(bn) : NULL;
        BN_free(bn);
        if (!hex)
                return -ENOMEM;
        _cleanup_bio_ BIO *b = BIO_new(BIO_s_mem());
        if (!b || PEM_write_bio_X509(b, cert) != 1 || (r = bio_to_string(b, ret_pem, NULL)) < 0) {
                OPENSSL_free(hex);
                return r < 0 ? r : -ENOMEM;
        }
        snprintf(ret_serial, CA_SERIAL_HEX_MAX + 1, "%s", hex);
        OPENSSL_free(hex);
        return 0;
}

int ca_cert_pem(struct hogo_ca *ca, char **ret_pem)
{
        _cleanup_bio_ BIO *b = BIO_new(BIO_s_mem());
        if (!b || PEM_write_bio_X509(b, ca->cert) != 1)
                return -ENOMEM;
        return bio_to_string(b, ret_pem, NULL);
}

int ca_csr_parse(const char *pem, size_t len, X509_REQ **ret, char *err, size_t errlen)
{
        if (len > 16384 || len > INT32_MAX) {
                snprintf(err, errlen, "csr: too long");
                return -EINVAL;
        }
        _cleanup_bio_ BIO *b = BIO_new_mem_buf(pem, (int)len);
        if (!b)
                return -ENOMEM;
        _cleanup_(x509_req_freep) X509_REQ *req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
        ERR_clear_error();
        if (!req) {
                snprintf(err, errlen, "csr: not a PEM certificate request");
                return -EINVAL;
        }
        EVP_PKEY *key = X509_REQ_get0_pubkey(req);
        char group[64] = "";
        size_t glen;
        if (!key || !EVP_PKEY_is_a(key, "EC") ||
            EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &glen) != 1 ||
            STRNEQ(group, "prime256v1")) {
                ERR_clear_error();
                snprintf(err, errlen, "csr: the key must be ECDSA P-256");
                return -EINVAL;
        }
        if (X509_REQ_verify(req, key) != 1) {
                ERR_clear_error();
                snprintf(err, errlen, "csr: its signature does not verify");
                return -EINVAL;
        }
        *ret = TAKE_PTR(req);
        return 0;
}

int ca_new_agent_id(char ret[static CA_AGENT_ID_LEN + 1])
{
        unsigned char u[16];
        if (RAND_bytes(u, sizeof u) != 1)
                return -EIO;
        u[6] = (u[6] & 0x0f) | 0x40;
        u[8] = (u[8] & 0x3f) | 0x80;
        snprintf(ret, CA_AGENT_ID_LEN + 1,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
                 u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
                 u[14], u[15]);
        return 0;
}

static int write_bio(const char *path, BIO *b, mode_t mode)
{
        char *data;
        long n = BIO_get_mem_data(b, &data);
        if (n < 0)
                return -EIO;
        return write_file_atomic(path, data, (size_t)n, mode);
}

int ca_write_key(const char *path, EVP_PKEY *key)
{
        _cleanup_bio_ BIO *b = BIO_new(BIO_s_mem());
        if (!b || PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1)
                return -ENOMEM;
        return write_bio(path, b, 0600);
}

int ca_write_cert(const char *path, X509 *cert)
{
        _cleanup_bio_ BIO *b = BIO_new(BIO_s_mem());
        if (!b || PEM_write_bio_X509(b, cert) != 1)
                return -ENOMEM;
        return write_bio(path, b, 0644);
}

static char *path_join(const char *dir, const char *name)
{
        char *p;
        return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

/* "DNS:a,IP:127.0.0.1,..." for the subjectAltName extension. */
static int san_value(char *const *names, size_t n, char **ret)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                unsigned char addr[16];
                bool ip = inet_pton(AF_INET, names[i], addr) == 1 ||
                          inet_pton(AF_INET6, names[i], addr) == 1;
                if (!ip && (strpbrk(names[i], ",:= ") || !*names[i])) {
                        fclose(f);
                        free(buf);
                        return -EINVAL;
                }
                fprintf(f, "%s%s:%s", i ? "," : "", ip ? "IP" : "DNS", names[i]);
        }
        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        return 0;
}

int ca_init_dir(const char *dir, char *const *server_names, size_t n_names)
{
        if (n_names == 0)
                return log_error_errno(-EINVAL, "At least one --server-name is needed");
        _cleanup_free_ char *ca_key_path = path_join(dir, "ca.key"),
                            *ca_cert_path = path_join(dir, "ca.crt"),
                            *srv_key_path = path_join(dir, "server.key"),
                            *srv_cert_path = path_join(dir, "server.crt"), *san = NULL;
        if (!ca_key_path || !ca_cert_path || !srv_key_path || !srv_cert_path)
                return -ENOMEM;
        int r = san_value(server_names, n_names, &san);
        if (r < 0)
                return log_error_errno(r, "A --server-name is not a host name or address");
        r = mkdir_parents(dir, 0700);
        if (r < 0)
                return log_error_errno(r, "Cannot create %s: %m", dir);
        if (access(ca_key_path, F_OK) == 0)
                return log_error_errno(-EEXIST, "%s already exists; the existing CA was kept. "
                                                "Use another --dir for a new CA",
                                       ca_key_path);

        time_t now = time(NULL);
        _cleanup_pkey_ EVP_PKEY *ca_key = NULL, *srv_key = NULL;
        if ((r = ca_generate_key(&ca_key)) < 0 || (r = ca_generate_key(&srv_key)) < 0)
                return log_error_errno(r, "Cannot generate a key: %m");

        X509_NAME *ca_name = X509_NAME_new();
        char cn[300];
        snprintf(cn, sizeof cn, "hogo CA %s", server_names[0]);
        if (!ca_name || name_add(ca_name, "O", "hogo") < 0 || name_add(ca_name, "CN", cn) < 0) {
                X509_NAME_free(ca_name);
                return -ENOMEM;
        }
        static const int ca_nids[] = { NID_basic_constraints, NID_key_usage,
                                       NID_subject_key_identifier };
        static const char *const ca_values[] = { "critical,CA:TRUE,pathlen:0",
                                                 "critical,keyCertSign,cRLSign", "hash" };
        _cleanup_x509_ X509 *ca_cert = NULL;
        r = cert_make(ca_key, ca_name, NULL, ca_key, now - 60, now + 86400L * CA_CA_CERT_DAYS,
                      ca_nids, ca_values, ELEMENTSOF(ca_nids), &ca_cert);
        X509_NAME_free(ca_name);
        if (r < 0)
                return log_error_errno(r, "Cannot make the CA certificate: %m");

        X509_NAME *srv_name = X509_NAME_new();
        if (!srv_name || name_add(srv_name, "O", "hogo") < 0 ||
            name_add(srv_name, "CN", server_names[0]) < 0) {
                X509_NAME_free(srv_name);
                return -ENOMEM;
        }
        const int srv_nids[] = { NID_basic_constraints, NID_key_usage, NID_ext_key_usage,
                                 NID_subject_alt_name, NID_subject_key_identifier,
                                 NID_authority_key_identifier };
        const char *const srv_values[] = { "critical,CA:FALSE", "critical,digitalSignature",
                                           "serverAuth", san, "hash", "keyid:always" };
        _cleanup_x509_ X509 *srv_cert = NULL;
        r = cert_make(srv_key, srv_name, ca_cert, ca_key, now - 60,
                      now + 86400L * CA_SERVER_CERT_DAYS, srv_nids, srv_values,
                      ELEMENTSOF(srv_nids), &srv_cert);
        X509_NAME_free(srv_name);
        if (r < 0)
                return log_error_errno(r, "Cannot make the server certificate: %m");

        /* The CA key last: its presence is what marks the directory as initialised. */
        if ((r = ca_write_cert(ca_cert_path, ca_cert)) < 0 ||
            (r = ca_write_key(srv_key_path, srv_key)) < 0 ||
            (r = ca_write_cert(srv_cert_path, srv_cert)) < 0 ||
            (r = ca_write_key(ca_key_path, ca_key)) < 0)
                return log_error_errno(r, "Cannot write into %s: %m", dir);
        return 0;
}

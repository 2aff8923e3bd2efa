/* ed25519.h — Ed25519 keys and signatures (OpenSSL EVP), as hogo signs policies and its CA.
 *
 * Keys live in PEM files: the private key as PKCS#8 ("PRIVATE KEY", mode 0600), the public
 * key as SubjectPublicKeyInfo ("PUBLIC KEY", mode 0644). A key is named by its key id: the
 * first 16 hex digits of the SHA-256 of the raw 32-byte public key, the same for the
 * private key and its public half. Loading refuses any key type other than Ed25519.
 */
#ifndef HOGO_ED25519_H
#define HOGO_ED25519_H

#include <openssl/evp.h>
#include <stddef.h>

#define ED25519_SIG_LEN 64
#define ED25519_KEY_ID_LEN 16

static inline void evp_pkey_freep(EVP_PKEY **k)
{
        if (*k)
                EVP_PKEY_free(*k);
}
#define _cleanup_pkey_ __attribute__((cleanup(evp_pkey_freep)))

int ed25519_generate(EVP_PKEY **ret_key);

/* Write the private key (0600) or the public half (0644) of key atomically; -EEXIST when
 * the file exists already (a signing key is never silently replaced). */
int ed25519_write_private_pem(EVP_PKEY *key, const char *path);
int ed25519_write_public_pem(EVP_PKEY *key, const char *path);

/* -ENOENT/-EACCES… for the file, -EBADMSG when it holds no PEM key of that kind,
 * -EKEYREJECTED when the key is not Ed25519. */
int ed25519_load_private_pem(const char *path, EVP_PKEY **ret_key);
int ed25519_load_public_pem(const char *path, EVP_PKEY **ret_key);

/* out holds ED25519_KEY_ID_LEN + 1 bytes. */
int ed25519_key_id(EVP_PKEY *key, char out[static ED25519_KEY_ID_LEN + 1]);

int ed25519_sign(EVP_PKEY *key, const void *data, size_t len,
                 unsigned char sig[static ED25519_SIG_LEN]);
/* 0 when sig is key's signature over data; -EBADMSG when sig_len is wrong, -EKEYREJECTED
 * when it does not verify. */
int ed25519_verify(EVP_PKEY *key, const void *data, size_t len, const unsigned char *sig,
                   size_t sig_len);

#endif

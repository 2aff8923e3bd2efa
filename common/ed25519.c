/* ed25519.c — see ed25519.h. */
#include "common/ed25519.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include "common/digest.h"
#include "common/fileio.h"
#include "common/util.h"

#define KEY_FILE_MAX_SIZE ((size_t)64 * 1024)

static inline void bio_freep(BIO **b)
{
        if (*b)
                BIO_free(*b);
}
static inline void md_ctx_freep(EVP_MD_CTX **c)
{
        if (*c)
                EVP_MD_CTX_free(*c);
}

int ed25519_generate(EVP_PKEY **ret_key)
{
        EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        if (!key) {
                ERR_clear_error();
                return -EIO;
        }
        *ret_key = key;
        return 0;
}

static int write_pem(EVP_PKEY *key, const char *path, bool private_key)
{
        _cleanup_(bio_freep) BIO *bio = BIO_new(BIO_s_mem());
        if (!bio)
                return -ENOMEM;
        int ok = private_key ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)
                             : PEM_write_bio_PUBKEY(bio, key);
        if (ok != 1) {
                ERR_clear_error();
                return -EIO;
        }
        char *pem = NULL;
        long len = BIO_get_mem_data(bio, &pem);
        if (len <= 0)
                return -EIO;
        return write_file_exclusive(path, pem, (size_t)len, private_key ? 0600 : 0644);
}

int ed25519_write_private_pem(EVP_PKEY *key, const char *path)
{
        return write_pem(key, path, true);
}

int ed25519_write_public_pem(EVP_PKEY *key, const char *path)
{
        return write_pem(key, path, false);
}

/* Never prompts on a terminal: an encrypted key simply fails to load. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
        return -1;
}

static int load_pem(const char *path, bool private_key, EVP_PKEY **ret_key)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r = read_file_bounded(path, KEY_FILE_MAX_SIZE, &data, &len);
        if (r < 0)
                return r == -EFBIG ? -EBADMSG : r;

        _cleanup_(bio_freep) BIO *bio = BIO_new_mem_buf(data, (int)len);
        if (!bio)
                return -ENOMEM;
        EVP_PKEY *key = private_key ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL)
                                    : PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
        ERR_clear_error();
        if (!key)
                return -EBADMSG;
        if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
                EVP_PKEY_free(key);
                return -EKEYREJECTED;
        }
        *ret_key = key;
        return 0;
}

int ed25519_load_private_pem(const char *path, EVP_PKEY **ret_key)
{
        return load_pem(path, true, ret_key);
}

int ed25519_load_public_pem(const char *path, EVP_PKEY **ret_key)
{
        return load_pem(path, false, ret_key);
}

int ed25519_key_id(EVP_PKEY *key, char out[static ED25519_KEY_ID_LEN + 1])
{
        unsigned char raw[32];
        size_t len = sizeof raw;
        if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519)
                return -EKEYREJECTED;
        if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1 || len != sizeof raw) {
                ERR_clear_error();
                return -EIO;
        }
        char hex[SHA256_HEX_LEN + 1];
        sha256_hex(raw, len, hex);
        memcpy(out, hex, ED25519_KEY_ID_LEN);
        out[ED25519_KEY_ID_LEN] = '\0';
        return 0;
}

int ed25519_sign(EVP_PKEY *key, const void *data, size_t len,
                 unsigned char sig[static ED25519_SIG_LEN])
{
        _cleanup_(md_ctx_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        size_t sig_len = ED25519_SIG_LEN;
        if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) != 1 ||
            EVP_DigestSign(ctx, sig, &sig_len, data, len) != 1 || sig_len != ED25519_SIG_LEN) {
                ERR_clear_error();
                return -EIO;
        }
        return 0;
}

int ed25519_verify(EVP_PKEY *key, const void *data, size_t len, const unsigned char *sig,
                   size_t sig_len)
{
        if (sig_len != ED25519_SIG_LEN)
                return -EBADMSG;
        _cleanup_(md_ctx_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) != 1) {
                ERR_clear_error();
                return -EIO;
        }
        int ok = EVP_DigestVerify(ctx, sig, sig_len, data, len);
        ERR_clear_error();
        return ok == 1 ? 0 : -EKEYREJECTED;
}

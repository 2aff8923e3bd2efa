/* digest.c — see digest.h. */
/* SHA256_Init and co. are deprecated in OpenSSL 3 but kept, and cost no provider set-up */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "common/digest.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "common/util.h"

void sha256_hex(const void *data, size_t len, char out[static SHA256_HEX_LEN + 1])
{
        static const char hex[] = "0123456789abcdef";
        unsigned char md[SHA256_DIGEST_LENGTH];
        /* The plain SHA-256 functions, not SHA256()/EVP: those start OpenSSL's provider
         * machinery, which touches some 2 MiB of libcrypto that a long-running process (the
         * agent hashes every event) would keep resident for nothing. Same digest. */
        SHA256_CTX ctx;
        SHA256_Init(&ctx);
        SHA256_Update(&ctx, data, len);
        SHA256_Final(md, &ctx);
        for (size_t i = 0; i < sizeof md; i++) {
                out[2 * i] = hex[md[i] >> 4];
                out[2 * i + 1] = hex[md[i] & 0xf];
        }
        out[SHA256_HEX_LEN] = '\0';
}

static uint32_t crc32c_table[8][256];

static void crc32c_init_table(void)
{
        for (uint32_t i = 0; i < 256; i++) {
                uint32_t c = i;
                for (int k = 0; k < 8; k++)
                        c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
                crc32c_table[0][i] = c;
        }
        for (uint32_t i = 0; i < 256; i++)
                for (int t = 1; t < 8; t++)
                        crc32c_table[t][i] = (crc32c_table[t - 1][i] >> 8) ^
                                             crc32c_table[0][crc32c_table[t - 1][i] & 0xff];
}

uint32_t crc32c_portable(uint32_t crc, const void *data, size_t len)
{
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, crc32c_init_table);

        const unsigned char *p = data;
        crc = ~crc;
        /* slicing-by-8: the spool checksums every record on the hot path */
        while (len >= 8) {
                uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                                     (uint32_t)p[3] << 24);
                crc = crc32c_table[7][lo & 0xff] ^ crc32c_table[6][(lo >> 8) & 0xff] ^
                      crc32c_table[5][(lo >> 16) & 0xff] ^ crc32c_table[4][lo >> 24] ^
                      crc32c_table[3][p[4]] ^ crc32c_table[2][p[5]] ^ crc32c_table[1][p[6]] ^
                      crc32c_table[0][p[7]];
                p += 8;
                len -= 8;
        }
        while (len--)
                crc = (crc >> 8) ^ crc32c_table[0][(crc ^ *p++) & 0xff];
        return ~crc;
}

#if defined(__x86_64__)
/* The SSE 4.2 crc32 instruction computes exactly CRC-32C, some eight times faster than the
 * table: the agent checks every record of the spool when it starts. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const void *data,
                                                               size_t len)
{
        const unsigned char *p = data;
        uint64_t c = ~crc;
        while (len >= 8) {
                uint64_t v;
                memcpy(&v, p, sizeof v);
                c = __builtin_ia32_crc32di(c, v);
                p += 8;
                len -= 8;
        }
        uint32_t c32 = (uint32_t)c;
        while (len--)
                c32 = __builtin_ia32_crc32qi(c32, *p++);
        return ~c32;
}
#endif

uint32_t crc32c(uint32_t crc, const void *data, size_t len)
{
#if defined(__x86_64__)
        if (__builtin_cpu_supports("sse4.2"))
                return crc32c_sse42(crc, data, len);
#endif
        return crc32c_portable(crc, data, len);
}

char *base64_encode(const void *data, size_t len)
{
        size_t out_len = 4 * ((len + 2) / 3);
        char *out = malloc(out_len + 1);
        if (!out)
                return NULL;
        int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
        if (n < 0 || (size_t)n != out_len) {
                free(out);
                return NULL;
        }
        out[out_len] = '\0';
        return out;
}

static int b64_value(char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

int base64_decode(const char *text, unsigned char **ret_data, size_t *ret_len)
{
        size_t n = strlen(text);
        if (n == 0 || n % 4 != 0)
                return -EINVAL;
        size_t pad = (text[n - 1] == '=') + (n >= 2 && text[n - 2] == '=');
        _cleanup_free_ unsigned char *out = malloc(n / 4 * 3 + 1);
        if (!out)
                return -ENOMEM;
        size_t o = 0;
        for (size_t i = 0; i < n; i += 4) {
                int v[4];
                for (int k = 0; k < 4; k++) {
                        bool is_pad = i + (size_t)k >= n - pad;
                        if (is_pad) {
                                if (text[i + (size_t)k] != '=')
                                        return -EINVAL;
                                v[k] = 0;
                        } else if ((v[k] = b64_value(text[i + (size_t)k])) < 0) {
                                return -EINVAL;
                        }
                }
                uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                             (uint32_t)v[3];
                /* the bits below the last whole byte must be zero: otherwise several texts
                 * decode to the same bytes, and a signature or hash could be re-spelt */
                if (i + 4 == n && (w & ((pad == 2) ? 0xffffu : (pad == 1) ? 0xffu : 0u)) != 0)
                        return -EINVAL;
                out[o++] = (unsigned char)(w >> 16);
                out[o++] = (unsigned char)(w >> 8);
                out[o++] = (unsigned char)w;
        }
        o -= pad;
        *ret_data = TAKE_PTR(out);
        *ret_len = o;
        return 0;
}

int is_lower_hex(const char *s, size_t n)
{
        /* A table and no early exit: hashes mix digits and letters at random, and a branch
         * per character mispredicted often enough to show in the collector's profile (two
         * calls per ingested event). */
        static const unsigned char hex[256] = {
                ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
                ['7'] = 1, ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1,
                ['e'] = 1, ['f'] = 1,
        };
        if (!s || strnlen(s, n + 1) != n)
                return 0;
        unsigned ok = 1;
        for (size_t i = 0; i < n; i++)
                ok &= hex[(unsigned char)s[i]];
        return (int)ok;
}

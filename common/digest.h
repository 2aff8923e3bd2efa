/* digest.h — SHA-256 in hex, CRC32C, and base64, the encodings hogo's contracts use.
 *
 * One implementation each: the event chain, the policy hash, token hashes and the spool's
 * record checksums all come from here.
 */
#ifndef HOGO_DIGEST_H
#define HOGO_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_HEX_LEN 64

/* out must hold SHA256_HEX_LEN + 1 bytes; lower-case hex, NUL-terminated. */
void sha256_hex(const void *data, size_t len, char out[static SHA256_HEX_LEN + 1]);

/* CRC-32C (Castagnoli), as used by iSCSI/ext4; crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);
/* The same without the CPU's crc32 instruction (crc32c() uses it where there is one). */
uint32_t crc32c_portable(uint32_t crc, const void *data, size_t len);

/* Standard base64 with padding. Returns a malloc()ed NUL-terminated string or NULL. */
char *base64_encode(const void *data, size_t len);
/* Strict decoding: rejects characters outside the alphabet and bad padding (-EINVAL). */
int base64_decode(const char *text, unsigned char **ret_data, size_t *ret_len);

/* true when s is exactly n lower-case hex digits. */
int is_lower_hex(const char *s, size_t n);

#endif

/* utf8.h — checking that bytes are well-formed UTF-8.
 *
 * Strict RFC 3629: no overlong forms, no surrogates (U+D800..U+DFFF), nothing above
 * U+10FFFF. Used wherever text from outside (policy files, labels) must be UTF-8 before it
 * is shown to people or hashed.
 */
#ifndef HOGO_UTF8_H
#define HOGO_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* true when s[0..len) is well-formed UTF-8; otherwise false and, when ret_bad_offset is
 * not NULL, the offset of the first byte of the first bad sequence. */
bool utf8_valid(const char *s, size_t len, size_t *ret_bad_offset);

#endif

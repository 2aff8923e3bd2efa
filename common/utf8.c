/* utf8.c — see utf8.h. */
#include "common/utf8.h"

/* Length of the well-formed sequence starting at p (at most n bytes), or 0. */
static size_t utf8_sequence_length(const unsigned char *p, size_t n)
{
        unsigned char c = p[0];
        if (c < 0x80)
                return 1;

        size_t len;
        unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
        if (c >= 0xc2 && c <= 0xdf)
                len = 2;
        else if (c >= 0xe0 && c <= 0xef) {
                len = 3;
                if (c == 0xe0)
                        lo = 0xa0; /* overlong */
                else if (c == 0xed)
                        hi = 0x9f; /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
                len = 4;
                if (c == 0xf0)
                        lo = 0x90; /* overlong */
                else if (c == 0xf4)
                        hi = 0x8f; /* above U+10FFFF */
        } else
                return 0;

        if (n < len || p[1] < lo || p[1] > hi)
                return 0;
        for (size_t i = 2; i < len; i++)
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
        return len;
}

bool utf8_valid(const char *s, size_t len, size_t *ret_bad_offset)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t i = 0;
        while (i < len) {
                size_t n = utf8_sequence_length(p + i, len - i);
                if (n == 0) {
                        if (ret_bad_offset)
                                *ret_bad_offset = i;
                        return false;
                }
                i += n;
        }
        return true;
}

/* classify.c — the content classifier's text layers and matchers; see classify.h.
 *
 * Three passes over a bounded buffer, each simple enough to reason about and fast enough
 * for hundreds of MB/s: decode any supported encoding into one normalized byte form (so
 * the matchers never see encodings or widths), strip XML markup when the text came out of
 * an Office document, then one scan that looks only at digit runs and '@'.
 */
#include "common/classify.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* The byte every non-ASCII character that matters to no matcher becomes. */
#define OTHER 0x80

static const char *const kind_names[_CLASSIFY_KIND_MAX] = {
        [CLASSIFY_MY_NUMBER] = "my_number",
        [CLASSIFY_CORPORATE_NUMBER] = "corporate_number",
        [CLASSIFY_PHONE] = "phone",
        [CLASSIFY_EMAIL] = "email",
};

const char *classify_kind_to_string(enum classify_kind k)
{
        return k < _CLASSIFY_KIND_MAX ? kind_names[k] : NULL;
}

int classify_kind_from_string(const char *s)
{
        for (int k = 0; k < _CLASSIFY_KIND_MAX; k++)
                if (s && STREQ(s, kind_names[k]))
                        return k;
        return -EINVAL;
}

const char *classify_encoding_to_string(enum classify_encoding e)
{
        static const char *const names[_CLASSIFY_ENC_MAX] = {
                [CLASSIFY_ENC_NONE] = "none",        [CLASSIFY_ENC_UTF8] = "utf-8",
                [CLASSIFY_ENC_UTF16LE] = "utf-16le", [CLASSIFY_ENC_UTF16BE] = "utf-16be",
                [CLASSIFY_ENC_CP932] = "shift_jis",  [CLASSIFY_ENC_BINARY] = "binary",
        };
        return e < _CLASSIFY_ENC_MAX ? names[e] : NULL;
}

const char *classify_format_to_string(enum classify_format f)
{
        static const char *const names[_CLASSIFY_FORMAT_MAX] = {
                [CLASSIFY_FORMAT_TEXT] = "text",
                [CLASSIFY_FORMAT_XLSX] = "xlsx",
                [CLASSIFY_FORMAT_DOCX] = "docx",
                [CLASSIFY_FORMAT_ZIP] = "zip",
        };
        return f < _CLASSIFY_FORMAT_MAX ? names[f] : NULL;
}

const char *classify_incomplete_to_string(enum classify_incomplete i)
{
        static const char *const names[_CLASSIFY_INCOMPLETE_MAX] = {
                [CLASSIFY_COMPLETE] = "complete",
                [CLASSIFY_PREFIX_ONLY] = "prefix_only",
                [CLASSIFY_ARCHIVE_LIMIT] = "archive_limit",
                [CLASSIFY_ARCHIVE_MALFORMED] = "archive_malformed",
                [CLASSIFY_ARCHIVE_UNSUPPORTED] = "archive_unsupported",
        };
        return i < _CLASSIFY_INCOMPLETE_MAX ? names[i] : NULL;
}

void classify_config_init(struct classify_config *cfg)
{
        *cfg = (struct classify_config){
                .max_prefix = CLASSIFY_DEFAULT_MAX_PREFIX,
                .max_expanded = CLASSIFY_DEFAULT_MAX_EXPANDED,
                .max_entries = CLASSIFY_DEFAULT_MAX_ENTRIES,
        };
        cfg->enabled[CLASSIFY_MY_NUMBER] = true;
        cfg->threshold[CLASSIFY_MY_NUMBER] = 1;
}

/* --- check digits ------------------------------------------------------------------- */

/* 行政手続における特定の個人を識別するための番号の利用等に関する法律施行令 第8条:
 * with P(n) the n-th digit counted from the right of the first 11 and Q(n) = n + 1 for
 * n <= 6, n - 5 for n >= 7, the check digit is 0 when sum(P*Q) mod 11 <= 1, else
 * 11 - (sum mod 11). */
bool my_number_check_digit_valid(const char digits[static 12])
{
        unsigned sum = 0;
        for (unsigned n = 1; n <= 11; n++) {
                unsigned p = (unsigned)(digits[11 - n] - '0');
                unsigned q = n <= 6 ? n + 1 : n - 5;
                sum += p * q;
        }
        unsigned r = sum % 11;
        unsigned check = r <= 1 ? 0 : 11 - r;
        return (unsigned)(digits[11] - '0') == check;
}

/* 法人番号: the leading digit is 9 - (sum(P(n) * Q(n)) mod 9) over the other 12 digits,
 * P(n) counted from the right, Q(n) = 1 for odd n and 2 for even n. */
bool corporate_number_check_digit_valid(const char digits[static 13])
{
        unsigned sum = 0;
        for (unsigned n = 1; n <= 12; n++)
                sum += (unsigned)(digits[13 - n] - '0') * ((n & 1) ? 1 : 2);
        return (unsigned)(digits[0] - '0') == 9 - sum % 9;
}

/* --- decoding into the normalized form ---------------------------------------------- */

static inline unsigned char fold_codepoint(uint32_t cp)
{
        if (cp < 0x80)
                return (unsigned char)cp;
        if (cp >= 0xFF01 && cp <= 0xFF5E) {
                /* Full-width ＜ ＞ ＆ ＂ ＇ stay "other": folded they would read as markup. */
                if (cp == 0xFF1C || cp == 0xFF1E || cp == 0xFF06 || cp == 0xFF02 || cp == 0xFF07)
                        return OTHER;
                return (unsigned char)(cp - 0xFEE0);
        }
        switch (cp) {
        case 0x3000: /* ideographic space */
                return ' ';
        case 0x2010: case 0x2011: case 0x2012: case 0x2013: case 0x2014: case 0x2015:
        case 0x2212: /* minus sign */
        case 0x30FC: /* ー, often typed as a dash in numbers */
        case 0xFF70: /* half-width ｰ */
                return '-';
        default:
                return OTHER;
        }
}

static bool ascii8(const unsigned char *p)
{
        uint64_t w;
        memcpy(&w, p, 8);
        return (w & UINT64_C(0x8080808080808080)) == 0;
}

/* Strict UTF-8 (no overlongs, no surrogates). false on the first invalid sequence; an
 * incomplete sequence at the very end is dropped (the file may have been cut there). */
static bool decode_utf8(const unsigned char *in, size_t len, unsigned char *out, size_t *ret_n)
{
        size_t i = 0, o = 0;
        while (i < len) {
                while (i + 8 <= len && ascii8(in + i)) {
                        memcpy(out + o, in + i, 8);
                        i += 8;
                        o += 8;
                }
                if (i >= len)
                        break;
                unsigned char c = in[i];
                if (c < 0x80) {
                        out[o++] = c;
                        i++;
                        continue;
                }
                size_t n;
                uint32_t cp, min;
                if (c >= 0xC2 && c <= 0xDF)
                        n = 2, cp = c & 0x1F, min = 0x80;
                else if ((c & 0xF0) == 0xE0)
                        n = 3, cp = c & 0x0F, min = 0x800;
                else if (c >= 0xF0 && c <= 0xF4)
                        n = 4, cp = c & 0x07, min = 0x10000;
                else
                        return false;
                if (i + n > len) {
                        for (size_t k = i + 1; k < len; k++)
                                if ((in[k] & 0xC0) != 0x80)
                                        return false;
                        break;
                }
                for (size_t k = 1; k < n; k++) {
                        if ((in[i + k] & 0xC0) != 0x80)
                                return false;
                        cp = (cp << 6) | (in[i + k] & 0x3F);
                }
                if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                        return false;
                out[o++] = fold_codepoint(cp);
                i += n;
        }
        *ret_n = o;
        return true;
}

/* CP932 double-byte characters the matchers care about; every other one is "other". */
static uint32_t cp932_to_codepoint(unsigned lead, unsigned trail)
{
        unsigned code = lead << 8 | trail;
        if (code >= 0x824F && code <= 0x8258) /* ０-９ */
                return 0xFF10 + (code - 0x824F);
        if (code >= 0x8260 && code <= 0x8279) /* Ａ-Ｚ */
                return 0xFF21 + (code - 0x8260);
        if (code >= 0x8281 && code <= 0x829A) /* ａ-ｚ */
                return 0xFF41 + (code - 0x8281);
        switch (code) {
        case 0x8140: return 0x3000; /* 　 */
        case 0x8143: return 0xFF0C; /* ， */
        case 0x8144: return 0xFF0E; /* ． */
        case 0x8146: return 0xFF1A; /* ： */
        case 0x8151: return 0xFF3F; /* ＿ */
        case 0x815B: return 0x30FC; /* ー */
        case 0x815C: return 0x2015; /* ― */
        case 0x815D: return 0x2010; /* ‐ */
        case 0x815E: return 0xFF0F; /* ／ */
        case 0x8169: return 0xFF08; /* （ */
        case 0x816A: return 0xFF09; /* ） */
        case 0x817B: return 0xFF0B; /* ＋ */
        case 0x817C: return 0xFF0D; /* － (CP932) */
        case 0x8193: return 0xFF05; /* ％ */
        case 0x8197: return 0xFF20; /* ＠ */
        default: return 0x3013;     /* 〓: any other character */
        }
}

static bool decode_cp932(const unsigned char *in, size_t len, unsigned char *out, size_t *ret_n)
{
        size_t i = 0, o = 0;
        while (i < len) {
                unsigned char c = in[i];
                if (c < 0x80) {
                        out[o++] = c;
                        i++;
                } else if (c >= 0xA1 && c <= 0xDF) { /* half-width katakana */
                        out[o++] = fold_codepoint(0xFF61 + (c - 0xA1));
                        i++;
                } else if ((c >= 0x81 && c <= 0x9F) || (c >= 0xE0 && c <= 0xFC)) {
                        if (i + 1 >= len)
                                break; /* cut in the middle of a character */
                        unsigned char t = in[i + 1];
                        if (t < 0x40 || t == 0x7F || t > 0xFC)
                                return false;
                        out[o++] = fold_codepoint(cp932_to_codepoint(c, t));
                        i += 2;
                } else {
                        return false;
                }
        }
        *ret_n = o;
        return true;
}

static size_t decode_utf16(const unsigned char *in, size_t len, bool big_endian, unsigned char *out)
{
        size_t o = 0;
        for (size_t i = 0; i + 1 < len; i += 2) {
                uint32_t u = big_endian ? (uint32_t)(in[i] << 8 | in[i + 1])
                                        : (uint32_t)(in[i + 1] << 8 | in[i]);
                if (u >= 0xD800 && u <= 0xDBFF && i + 3 < len) {
                        uint32_t lo = big_endian ? (uint32_t)(in[i + 2] << 8 | in[i + 3])
                                                 : (uint32_t)(in[i + 3] << 8 | in[i + 2]);
                        if (lo >= 0xDC00 && lo <= 0xDFFF) {
                                i += 2;
                                out[o++] = OTHER; /* outside the BMP: nothing we match */
                                continue;
                        }
                }
                out[o++] = (u >= 0xD800 && u <= 0xDFFF) ? OTHER : fold_codepoint(u);
        }
        return o;
}

static size_t decode_bytes(const unsigned char *in, size_t len, unsigned char *out)
{
        for (size_t i = 0; i < len; i++)
                out[i] = in[i] < 0x80 ? in[i] : OTHER;
        return len;
}

size_t classify_normalize(const unsigned char *in, size_t len, bool truncated, unsigned char *out,
                          enum classify_encoding *ret_encoding)
{
        size_t n = 0;
        (void)truncated; /* every decoder tolerates a character cut at the end */

        if (len >= 2 && in[0] == 0xFF && in[1] == 0xFE) {
                *ret_encoding = CLASSIFY_ENC_UTF16LE;
                return decode_utf16(in + 2, len - 2, false, out);
        }
        if (len >= 2 && in[0] == 0xFE && in[1] == 0xFF) {
                *ret_encoding = CLASSIFY_ENC_UTF16BE;
                return decode_utf16(in + 2, len - 2, true, out);
        }
        if (len >= 3 && in[0] == 0xEF && in[1] == 0xBB && in[2] == 0xBF) {
                in += 3;
                len -= 3;
        }
        if (decode_utf8(in, len, out, &n)) {
                *ret_encoding = CLASSIFY_ENC_UTF8;
                return n;
        }
        if (decode_cp932(in, len, out, &n)) {
                *ret_encoding = CLASSIFY_ENC_CP932;
                return n;
        }
        *ret_encoding = CLASSIFY_ENC_BINARY;
        return decode_bytes(in, len, out);
}

/* --- XML markup ---------------------------------------------------------------------- */

/* Elements whose end separates text: paragraphs, table cells and rows, shared strings,
 * sheet cells, breaks and tabs. Inside them runs are joined, so a number split over
 * several runs of one paragraph is still one number. */
static bool xml_element_breaks(const unsigned char *name, size_t n)
{
        static const char *const breaking[] = { "p", "tc", "tr", "row", "c", "si", "br",
                                                "tab", "cr", "comment", "text", "is" };
        const unsigned char *colon = memchr(name, ':', n);
        if (colon) {
                n -= (size_t)(colon + 1 - name);
                name = colon + 1;
        }
        for (size_t i = 0; i < ELEMENTSOF(breaking); i++)
                if (strlen(breaking[i]) == n && memcmp(breaking[i], name, n) == 0)
                        return true;
        return false;
}

static size_t find_seq(const unsigned char *t, size_t len, size_t from, const char *seq)
{
        size_t n = strlen(seq);
        for (size_t i = from; i + n <= len; i++)
                if (memcmp(t + i, seq, n) == 0)
                        return i;
        return len;
}

/* &...; at t[i]; writes the character's normalized byte and returns the length consumed,
 * or 0 when it is not a reference we know (then '&' is kept as text). */
static size_t xml_reference(const unsigned char *t, size_t len, size_t i, unsigned char *ret)
{
        static const struct {
                const char *name;
                unsigned char c;
        } named[] = { { "lt;", '<' }, { "gt;", '>' }, { "amp;", '&' }, { "quot;", '"' }, { "apos;", '\'' } };
        for (size_t k = 0; k < ELEMENTSOF(named); k++) {
                size_t n = strlen(named[k].name);
                if (i + 1 + n <= len && memcmp(t + i + 1, named[k].name, n) == 0) {
                        *ret = OTHER; /* markup characters never take part in a match */
                        return 1 + n;
                }
        }
        if (i + 2 < len && t[i + 1] == '#') {
                size_t j = i + 2;
                bool hex = j < len && (t[j] == 'x' || t[j] == 'X');
                if (hex)
                        j++;
                uint32_t cp = 0;
                size_t digits = 0;
                for (; j < len && digits < 8; j++, digits++) {
                        unsigned char c = t[j];
                        unsigned v;
                        if (c >= '0' && c <= '9')
                                v = c - '0';
                        else if (hex && (c | 0x20) >= 'a' && (c | 0x20) <= 'f')
                                v = (c | 0x20) - 'a' + 10;
                        else
                                break;
                        cp = cp * (hex ? 16 : 10) + v;
                }
                if (digits == 0 || j >= len || t[j] != ';')
                        return 0;
                unsigned char f = fold_codepoint(cp);
                *ret = (f == '<' || f == '>' || f == '&' || f == '"' || f == '\'') ? OTHER : f;
                return j + 1 - i;
        }
        return 0;
}

size_t classify_strip_xml(unsigned char *t, size_t len)
{
        size_t i = 0, o = 0;
        while (i < len) {
                unsigned char c = t[i];
                if (c == '&') {
                        unsigned char r;
                        size_t n = xml_reference(t, len, i, &r);
                        if (n) {
                                t[o++] = r;
                                i += n;
                                continue;
                        }
                        t[o++] = c;
                        i++;
                        continue;
                }
                if (c != '<') {
                        t[o++] = c;
                        i++;
                        continue;
                }
                if (i + 4 <= len && memcmp(t + i, "<!--", 4) == 0) {
                        size_t e = find_seq(t, len, i + 4, "-->");
                        i = e >= len ? len : e + 3;
                        continue;
                }
                if (i + 9 <= len && memcmp(t + i, "<![CDATA[", 9) == 0) {
                        size_t e = find_seq(t, len, i + 9, "]]>");
                        size_t n = (e >= len ? len : e) - (i + 9);
                        memmove(t + o, t + i + 9, n);
                        o += n;
                        i = e >= len ? len : e + 3;
                        continue;
                }
                /* a tag: find its name and its end, minding quoted attribute values */
                size_t j = i + 1;
                if (j < len && t[j] == '/')
                        j++;
                size_t name = j;
                while (j < len && t[j] != '>' && t[j] != '/' && t[j] != ' ' && t[j] != '\t' &&
                       t[j] != '\n' && t[j] != '\r')
                        j++;
                size_t name_len = j - name;
                unsigned char quote = 0;
                while (j < len && (quote || t[j] != '>')) {
                        if (quote && t[j] == quote)
                                quote = 0;
                        else if (!quote && (t[j] == '"' || t[j] == '\''))
                                quote = t[j];
                        j++;
                }
                bool closing = (i + 1 < len && t[i + 1] == '/') || (j > i + 1 && j < len && t[j - 1] == '/');
                if (closing && xml_element_breaks(t + name, name_len))
                        t[o++] = '\n';
                i = j < len ? j + 1 : len;
        }
        return o;
}

/* --- matchers ------------------------------------------------------------------------ */

struct scan {
        const unsigned char *t;
        size_t len;
};

static inline bool digit_at(const struct scan *s, size_t i)
{
        return i < s->len && s->t[i] >= '0' && s->t[i] <= '9';
}

static inline bool group_sep(unsigned char c)
{
        return c == ' ' || c == '-';
}

/* Digits from index i on; returns the end of the run. */
static size_t run_end(const struct scan *s, size_t i)
{
        while (digit_at(s, i))
                i++;
        return i;
}

/* Where the digit run ending at e (exclusive) starts. */
static size_t run_start(const struct scan *s, size_t e)
{
        while (e > 0 && s->t[e - 1] >= '0' && s->t[e - 1] <= '9')
                e--;
        return e;
}

/* A decimal point joins digits: 0.123456789018 is a fraction, not a 個人番号. */
static bool run_is_decimal_part(const struct scan *s, size_t b, size_t e)
{
        return (b >= 2 && s->t[b - 1] == '.' && digit_at(s, b - 2)) ||
               (e + 1 < s->len && s->t[e] == '.' && digit_at(s, e + 1));
}

/* Grouped 個人番号 starting with the 4-digit run [b, b+4): DDDD s DDDD s DDDD with one
 * separator s (' ' or '-'), and no further 4-digit group joined by the same s on either
 * side (that is a longer number written in fours, such as a card number; a date or a
 * count before it is not). Returns the end, or 0. */
static size_t match_grouped_my_number(const struct scan *s, size_t b)
{
        size_t e = b + 4;
        if (e >= s->len || !group_sep(s->t[e]))
                return 0;
        unsigned char sep = s->t[e];
        if (b >= 2 && s->t[b - 1] == sep && b - 1 - run_start(s, b - 1) == 4)
                return 0;
        char digits[12];
        size_t p = b;
        for (int g = 0; g < 3; g++) {
                if (g > 0) {
                        if (p >= s->len || s->t[p] != sep)
                                return 0;
                        p++;
                }
                if (run_end(s, p) != p + 4)
                        return 0;
                memcpy(digits + 4 * g, s->t + p, 4);
                p += 4;
        }
        if (p + 1 < s->len && s->t[p] == '.' && digit_at(s, p + 1))
                return 0;
        if (p + 1 < s->len && s->t[p] == sep && run_end(s, p + 1) - (p + 1) == 4)
                return 0;
        return my_number_check_digit_valid(digits) ? p : 0;
}

static bool phone_sep(unsigned char c)
{
        return c == '-' || c == ' ' || c == '(' || c == ')';
}

/* Japanese telephone numbers: 0 + 9 digits (fixed lines, 0120…) or 0[2-9]0 + 8 digits
 * (mobile, IP), plain or in 2-4 groups joined by '-', ' ' or parentheses whose last group
 * has 3 or 4 digits; +81 for the leading 0. The run at b starts the chain. Returns the
 * end, or 0. */
static size_t match_phone(const struct scan *s, size_t b)
{
        bool intl = b >= 1 && s->t[b - 1] == '+';
        /* a run that continues a chain ("-1234" after digits) is not a chain's start */
        if (b >= 2 && (s->t[b - 1] == '-' || s->t[b - 1] == ')' || s->t[b - 1] == '(') &&
            digit_at(s, b - 2))
                return 0;
        if (!intl && s->t[b] != '0')
                return 0;

        char digits[16];
        size_t nd = 0, groups = 0, first_len = 0, last_len = 0, p = b;
        for (;;) {
                size_t e = run_end(s, p);
                size_t n = e - p;
                if (nd + n > sizeof digits || groups == 4)
                        return 0;
                memcpy(digits + nd, s->t + p, n);
                nd += n;
                if (groups++ == 0)
                        first_len = n;
                last_len = n;
                p = e;
                if (p + 1 < s->len && phone_sep(s->t[p]) && digit_at(s, p + 1))
                        p++;
                else if (p + 2 < s->len && phone_sep(s->t[p]) && phone_sep(s->t[p + 1]) &&
                         digit_at(s, p + 2) && (s->t[p] == ')' || s->t[p + 1] == '('))
                        p += 2; /* "03) 1234" or "03 (1234)" */
                else
                        break;
        }
        if (p + 1 < s->len && s->t[p] == '.' && digit_at(s, p + 1))
                return 0;

        char national[16];
        size_t nn;
        if (intl) {
                if (nd < 3 || digits[0] != '8' || digits[1] != '1' || (groups > 1 && first_len != 2))
                        return 0;
                national[0] = '0';
                memcpy(national + 1, digits + 2, nd - 2);
                nn = nd - 1;
                groups -= groups > 1; /* the country code was a group of its own */
        } else {
                memcpy(national, digits, nd);
                nn = nd;
                if (groups > 1 && (first_len < 2 || first_len > 5))
                        return 0;
        }
        if (nn < 10 || national[0] != '0' || national[1] == '0')
                return 0;
        bool ok = (nn == 10) ||
                  (nn == 11 && national[2] == '0' && national[1] >= '2' && national[1] <= '9');
        if (!ok || (groups > 1 && (last_len < 3 || last_len > 4)))
                return 0;
        return p;
}

static bool email_local_char(unsigned char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static bool email_domain_char(unsigned char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.';
}

/* local@domain.tld at the '@' in at. Returns the end of the domain, or 0. */
static size_t match_email(const struct scan *s, size_t at)
{
        size_t b = at, limit = at > 64 ? at - 64 : 0;
        while (b > limit && email_local_char(s->t[b - 1]))
                b--;
        if (b == at || s->t[b] == '.' || s->t[at - 1] == '.')
                return 0;
        size_t e = at + 1, end = MIN(s->len, at + 1 + 253);
        while (e < end && email_domain_char(s->t[e])) {
                if (s->t[e] == '.' && (s->t[e - 1] == '.' || s->t[e - 1] == '@'))
                        return 0;
                e++;
        }
        while (e > at + 1 && s->t[e - 1] == '.') /* a sentence's full stop */
                e--;
        const unsigned char *dot = memrchr(s->t + at + 1, '.', e - (at + 1));
        if (!dot)
                return 0;
        size_t tld = (size_t)(s->t + e - dot - 1);
        if (tld < 2)
                return 0;
        for (const unsigned char *k = dot + 1; k < s->t + e; k++)
                if (!((*k | 0x20) >= 'a' && (*k | 0x20) <= 'z'))
                        return 0;
        return e;
}

/* The first i' >= i where an 8-byte word holds a digit (when digits) or '@' (when email),
 * rounded down to that byte; the byte loop after it finishes the job. Most text is neither,
 * and a byte at a time costs a branch each (a mispredicted one on binary content). Bytes
 * with the high bit set (OTHER) never match; the sums cannot carry between bytes because
 * each byte is at most 0x7F before the add. */
static size_t skip_to_interesting(const unsigned char *text, size_t len, size_t i, bool digits, bool email)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        const uint64_t ones = UINT64_C(0x0101010101010101), high = ones * 0x80;
        while (i + 8 <= len) {
                uint64_t w;
                memcpy(&w, text + i, 8);
                uint64_t lo = w & ~high, ascii = ~w & high, hit = 0;
                if (digits) /* >= '0' and not >= ':' */
                        hit |= (lo + ones * (0x80 - '0')) & ~(lo + ones * (0x80 - ':'));
                if (email) /* >= '@' and not >= 'A' */
                        hit |= (lo + ones * (0x80 - '@')) & ~(lo + ones * (0x80 - 'A'));
                hit &= ascii;
                if (hit)
                        return i + (size_t)__builtin_ctzll(hit) / 8;
                i += 8;
        }
#endif
        return i;
}

void classify_scan(const struct classify_config *cfg, const unsigned char *text, size_t len,
                   unsigned long counts[static _CLASSIFY_KIND_MAX])
{
        const struct scan s = { text, len };
        bool my_number = cfg->enabled[CLASSIFY_MY_NUMBER];
        bool corporate = cfg->enabled[CLASSIFY_CORPORATE_NUMBER];
        bool phone = cfg->enabled[CLASSIFY_PHONE];
        bool email = cfg->enabled[CLASSIFY_EMAIL];
        bool digits = my_number || corporate || phone;

        bool interesting[256] = { false };
        if (digits)
                for (int c = '0'; c <= '9'; c++)
                        interesting[c] = true;
        if (email)
                interesting['@'] = true;

        size_t i = 0;
        while (i < len) {
                i = skip_to_interesting(text, len, i, digits, email);
                while (i < len && !interesting[text[i]])
                        i++;
                if (i >= len)
                        break;
                if (text[i] == '@') {
                        size_t e = match_email(&s, i);
                        if (e) {
                                counts[CLASSIFY_EMAIL]++;
                                i = e;
                        } else {
                                i++;
                        }
                        continue;
                }
                size_t b = i, e = run_end(&s, i), n = e - b, next = e;
                if (run_is_decimal_part(&s, b, e)) {
                        i = e;
                        continue;
                }
                if (my_number && n == 12 && my_number_check_digit_valid((const char *)text + b))
                        counts[CLASSIFY_MY_NUMBER]++;
                else if (corporate && n == 13 &&
                         corporate_number_check_digit_valid((const char *)text + b))
                        counts[CLASSIFY_CORPORATE_NUMBER]++;
                else if (my_number && n == 4) {
                        size_t g = match_grouped_my_number(&s, b);
                        if (g) {
                                counts[CLASSIFY_MY_NUMBER]++;
                                next = g;
                        }
                }
                if (phone && next == e && n <= 11) {
                        size_t p = match_phone(&s, b);
                        if (p) {
                                counts[CLASSIFY_PHONE]++;
                                next = p;
                        }
                }
                i = next;
        }
}

/* --- putting it together ------------------------------------------------------------- */

int classify_text_member(const struct classify_config *cfg, const unsigned char *data, size_t len,
                         bool truncated, bool xml, struct classify_result *res)
{
        _cleanup_free_ unsigned char *text = malloc(len ? len : 1);
        if (!text)
                return -ENOMEM;
        enum classify_encoding enc;
        size_t n = classify_normalize(data, len, truncated, text, &enc);
        if (xml)
                n = classify_strip_xml(text, n);
        classify_scan(cfg, text, n, res->count);
        if (res->encoding == CLASSIFY_ENC_NONE)
                res->encoding = enc;
        res->scanned += n;
        return 0;
}

int classify_buffer(const struct classify_config *cfg, const void *data, size_t len,
                    bool truncated, struct classify_result *ret)
{
        struct classify_result res = { .format = CLASSIFY_FORMAT_TEXT };
        const unsigned char *d = data;
        int r;

        if (len >= 4 && memcmp(d, "PK\3\4", 4) == 0)
                r = classify_zip(cfg, d, len, &res);
        else
                r = classify_text_member(cfg, d, len, truncated, false, &res);
        if (r < 0)
                return r;
        /* a cut archive usually shows as a member running off the end: say "prefix" */
        if (truncated && (res.incomplete == CLASSIFY_COMPLETE ||
                          res.incomplete == CLASSIFY_ARCHIVE_MALFORMED))
                res.incomplete = CLASSIFY_PREFIX_ONLY;

        for (int k = 0; k < _CLASSIFY_KIND_MAX; k++)
                if (cfg->enabled[k] && cfg->threshold[k] > 0 && res.count[k] >= cfg->threshold[k])
                        res.personal = true;
        *ret = res;
        return 0;
}

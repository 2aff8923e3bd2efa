/* classify.h — does a file's content hold personal information? (pure: no I/O)
 *
 * The content classifier behind marked files. It finds 個人番号 (My Number: 12 digits whose
 * last digit is the check digit computed with the official weights), and, when configured,
 * 法人番号 (13 digits, leading check digit), Japanese telephone numbers and e-mail addresses.
 * Each kind is counted; a kind with a threshold > 0 makes the verdict "personal" once its
 * count reaches the threshold.
 *
 * Input is the bytes of a file (or the first max_prefix bytes of it: the caller says when it
 * cut, and the result says so too). Text is decoded from UTF-8, UTF-16 (with BOM) or
 * Shift_JIS (CP932): a UTF-8 or UTF-16 BOM decides; otherwise valid UTF-8 is UTF-8 and
 * anything else is tried as CP932. Half-width and full-width digits, letters and
 * separators are the same to the matchers. .xlsx and .docx (and CSV/text inside any zip) are
 * read through a bounded zip reader (classify_zip.c) that walks the local headers from the
 * start, so a prefix of an archive is still read as far as it goes; it stops at limits on
 * entries, expanded bytes and compression ratio (zip bombs) and on malformed structure, and
 * says which.
 *
 * Numbers are matched as whole digit runs: a 12-digit 個人番号 is never taken from the
 * middle of a longer run (a 13- or 16-digit number, a decimal), and the grouped forms
 * `1234 5678 9012` / `1234-5678-9012` only when no further group with the same separator
 * joins them (so a 16-digit card number written in fours is not one).
 */
#ifndef HOGO_CLASSIFY_H
#define HOGO_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum classify_kind {
        CLASSIFY_MY_NUMBER,        /* 個人番号 */
        CLASSIFY_CORPORATE_NUMBER, /* 法人番号 */
        CLASSIFY_PHONE,            /* Japanese telephone number */
        CLASSIFY_EMAIL,            /* e-mail address */
        _CLASSIFY_KIND_MAX,
};

/* "my_number", "corporate_number", "phone", "email" (the names policy and JSON use). */
const char *classify_kind_to_string(enum classify_kind k);
int classify_kind_from_string(const char *s); /* enum value, or -EINVAL */

enum classify_encoding {
        CLASSIFY_ENC_NONE, /* nothing decoded (empty input, or an archive) */
        CLASSIFY_ENC_UTF8,
        CLASSIFY_ENC_UTF16LE,
        CLASSIFY_ENC_UTF16BE,
        CLASSIFY_ENC_CP932,
        CLASSIFY_ENC_BINARY, /* neither UTF-8 nor CP932: only ASCII bytes are matched */
        _CLASSIFY_ENC_MAX,
};
const char *classify_encoding_to_string(enum classify_encoding e);

enum classify_format {
        CLASSIFY_FORMAT_TEXT,
        CLASSIFY_FORMAT_XLSX,
        CLASSIFY_FORMAT_DOCX,
        CLASSIFY_FORMAT_ZIP, /* another zip: only its .csv/.txt members are read */
        _CLASSIFY_FORMAT_MAX,
};
const char *classify_format_to_string(enum classify_format f);

/* Why the classifier did not see all of the content. */
enum classify_incomplete {
        CLASSIFY_COMPLETE,
        CLASSIFY_PREFIX_ONLY,          /* the file is larger than max_prefix */
        CLASSIFY_ARCHIVE_LIMIT,        /* an archive hit an entry/size/ratio limit */
        CLASSIFY_ARCHIVE_MALFORMED,    /* an archive's structure is broken */
        CLASSIFY_ARCHIVE_UNSUPPORTED,  /* encrypted members or unknown compression */
        _CLASSIFY_INCOMPLETE_MAX,
};
const char *classify_incomplete_to_string(enum classify_incomplete i);

#define CLASSIFY_DEFAULT_MAX_PREFIX (8u << 20)      /* bytes of a file read */
#define CLASSIFY_DEFAULT_MAX_EXPANDED (64u << 20)   /* bytes inflated out of one archive */
#define CLASSIFY_DEFAULT_MAX_ENTRIES 4096u          /* zip members looked at */
#define CLASSIFY_MAX_RATIO 200u                     /* inflated/compressed per member */

struct classify_config {
        /* A kind is matched when enabled; it decides the verdict when threshold > 0 and its
         * count reaches threshold. */
        bool enabled[_CLASSIFY_KIND_MAX];
        unsigned threshold[_CLASSIFY_KIND_MAX];
        size_t max_prefix;   /* how much of a file the caller reads (classify_file.c) */
        size_t max_expanded; /* inflated bytes per archive */
        unsigned max_entries;
};

/* 個人番号 on with threshold 1, the other kinds off, default limits. */
void classify_config_init(struct classify_config *cfg);

struct classify_result {
        unsigned long count[_CLASSIFY_KIND_MAX];
        enum classify_format format;
        enum classify_encoding encoding; /* of the text (first member for archives) */
        enum classify_incomplete incomplete;
        uint64_t scanned;   /* bytes of decoded text the matchers saw */
        bool personal;      /* the verdict */
};

/* Classifies data[0..len). truncated: data is only a prefix of the file. Returns 0, or
 * -ENOMEM; broken archives are not errors but an incomplete result. */
int classify_buffer(const struct classify_config *cfg, const void *data, size_t len,
                    bool truncated, struct classify_result *ret);

/* The matchers on their own, for tests and benches. */
bool my_number_check_digit_valid(const char digits[static 12]);
bool corporate_number_check_digit_valid(const char digits[static 13]);

/* --- the layers classify_buffer() is built from (classify_text.c, classify_zip.c) --- */

/* Decodes text into the matchers' normalized form in out (at least len bytes): ASCII as
 * is, full-width ASCII folded to ASCII, ideographic space to ' ', dash-like characters to
 * '-', any other non-ASCII character to one byte 0x80. Returns the normalized length. */
size_t classify_normalize(const unsigned char *in, size_t len, bool truncated, unsigned char *out,
                          enum classify_encoding *ret_encoding);
/* Removes XML markup from normalized text in place: tags vanish, the ends of paragraphs,
 * cells, rows and breaks become '\n', character references are decoded. Returns the new
 * length. */
size_t classify_strip_xml(unsigned char *text, size_t len);
/* Counts matches of the enabled kinds in normalized text into counts. */
void classify_scan(const struct classify_config *cfg, const unsigned char *text, size_t len,
                   unsigned long counts[static _CLASSIFY_KIND_MAX]);

/* Walks a zip archive held (possibly only partly) in data and feeds each member that holds
 * text to classify_text_member(); see classify_zip.c. */
int classify_zip(const struct classify_config *cfg, const unsigned char *data, size_t len,
                 struct classify_result *res);
/* Classifies one decoded-or-not text member (xml: strip markup first) into res. */
int classify_text_member(const struct classify_config *cfg, const unsigned char *data, size_t len,
                         bool truncated, bool xml, struct classify_result *res);

#endif

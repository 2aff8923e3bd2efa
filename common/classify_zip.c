/* classify_zip.c — a bounded zip reader for the classifier (.xlsx, .docx, zipped CSV).
 *
 * It walks the local file headers from the start of the archive instead of trusting the
 * central directory at its end: a prefix of a large archive is still read as far as it
 * goes, and no offset taken from the file can send the reader backwards or sideways (each
 * step only moves forward, so overlapping-entry bombs expand nothing twice). Members
 * written with a data descriptor (sizes unknown in the local header) are inflated until
 * their deflate stream ends. What it spends is bounded: members looked at
 * (max_entries), bytes inflated per archive (max_expanded) and the ratio of inflated to
 * compressed bytes per member once past 1 MiB (CLASSIFY_MAX_RATIO). Reaching a bound, a
 * broken structure, encryption or an unknown method stops the walk and is reported in
 * the result; what was read until then still counts.
 */
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "common/classify.h"
#include "common/util.h"

#define ZIP_LOCAL_SIG 0x04034b50u
#define ZIP_CENTRAL_SIG 0x02014b50u
#define ZIP_END_SIG 0x06054b50u
#define ZIP_DESCRIPTOR_SIG 0x08074b50u
#define ZIP_LOCAL_HEADER_LEN 30u
#define ZIP_FLAG_ENCRYPTED 0x0001u
#define ZIP_FLAG_DESCRIPTOR 0x0008u
#define ZIP_METHOD_STORED 0
#define ZIP_METHOD_DEFLATE 8
#define RATIO_GRACE (1u << 20)

static uint32_t le16(const unsigned char *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t le32(const unsigned char *p)
{
        return le16(p) | le16(p + 2) << 16;
}

enum member_kind { MEMBER_SKIP, MEMBER_XML, MEMBER_TEXT };

static bool has_prefix(const char *name, size_t n, const char *prefix)
{
        size_t p = strlen(prefix);
        return n >= p && memcmp(name, prefix, p) == 0;
}

static bool has_suffix(const char *name, size_t n, const char *suffix)
{
        size_t s = strlen(suffix);
        return n >= s && strncasecmp(name + n - s, suffix, s) == 0;
}

/* The parts of an Office document that hold what people typed; styles, themes and
 * relationships are skipped. */
static enum member_kind member_kind(const char *name, size_t n)
{
        static const char *const xml_parts[] = {
                "xl/sharedStrings.xml", "xl/worksheets/", "xl/comments",  "word/document.xml",
                "word/header",          "word/footer",    "word/footnotes.xml",
                "word/endnotes.xml",    "word/comments.xml",
        };
        if (has_suffix(name, n, ".xml"))
                for (size_t i = 0; i < ELEMENTSOF(xml_parts); i++)
                        if (has_prefix(name, n, xml_parts[i]))
                                return MEMBER_XML;
        if (has_suffix(name, n, ".csv") || has_suffix(name, n, ".txt") || has_suffix(name, n, ".tsv"))
                return MEMBER_TEXT;
        return MEMBER_SKIP;
}

struct zip_walk {
        const struct classify_config *cfg;
        const unsigned char *data;
        size_t len;
        size_t expanded; /* bytes inflated so far, all members */
        struct classify_result *res;
};

static void stop(struct zip_walk *z, enum classify_incomplete why)
{
        if (z->res->incomplete == CLASSIFY_COMPLETE)
                z->res->incomplete = why;
}

/* Inflates a member whose compressed bytes start at in (at most in_len of them are
 * available). Output goes to out (capacity out_cap) when out is not NULL, else to a
 * scratch buffer and is dropped. Returns 1 when the stream ended, 0 when input or the
 * budget ran out first (*ret_why says which), -ENOMEM, or -EBADMSG on corrupt data. */
static int inflate_member(struct zip_walk *z, const unsigned char *in, size_t in_len,
                          unsigned char *out, size_t out_cap, size_t *ret_consumed,
                          size_t *ret_produced, enum classify_incomplete *ret_why)
{
        unsigned char scratch[16384];
        z_stream zs = { 0 };
        if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
                return -ENOMEM;

        size_t produced = 0, budget = z->cfg->max_expanded - z->expanded;
        int r = 0;
        *ret_why = CLASSIFY_COMPLETE;
        zs.next_in = (unsigned char *)in;
        /* zlib counts in uInt: feed at most 1 GiB at a time */
        zs.avail_in = (uInt)MIN(in_len, (size_t)1 << 30);
        for (;;) {
                size_t room = out ? out_cap - produced : sizeof scratch;
                /* small steps, so the ratio is checked before much is produced */
                room = MIN(MIN(room, budget - produced), (size_t)256 << 10);
                if (room == 0) {
                        *ret_why = CLASSIFY_ARCHIVE_LIMIT;
                        break;
                }
                zs.next_out = out ? out + produced : scratch;
                zs.avail_out = (uInt)room;
                uInt before = zs.avail_out;
                int zr = inflate(&zs, Z_NO_FLUSH);
                produced += before - zs.avail_out;
                if (zr == Z_STREAM_END) {
                        r = 1;
                        break;
                }
                if (zr == Z_NEED_DICT || zr == Z_DATA_ERROR || zr == Z_STREAM_ERROR) {
                        r = -EBADMSG;
                        break;
                }
                if (zr == Z_MEM_ERROR) {
                        r = -ENOMEM;
                        break;
                }
                if (produced > RATIO_GRACE && produced / CLASSIFY_MAX_RATIO > zs.total_in) {
                        *ret_why = CLASSIFY_ARCHIVE_LIMIT;
                        break;
                }
                if (zs.avail_in == 0 || zr == Z_BUF_ERROR) {
                        if (zs.avail_in == 0 && zs.total_in < in_len) {
                                size_t left = in_len - zs.total_in;
                                zs.avail_in = (uInt)MIN(left, (size_t)1 << 30);
                                continue;
                        }
                        if (zs.avail_out != 0) { /* input ran out before the stream ended */
                                *ret_why = CLASSIFY_ARCHIVE_MALFORMED;
                                break;
                        }
                }
        }
        *ret_consumed = zs.total_in;
        *ret_produced = produced;
        inflateEnd(&zs);
        return r;
}

static int feed_member(struct zip_walk *z, enum member_kind kind, const unsigned char *text,
                       size_t n, bool cut)
{
        if (kind == MEMBER_SKIP)
                return 0;
        return classify_text_member(z->cfg, text, n, cut, kind == MEMBER_XML, z->res);
}

/* After a member with a data descriptor: skip its optional signature, CRC and sizes
 * (32- or 64-bit; whichever leaves us at the next header). */
static size_t skip_descriptor(const struct zip_walk *z, size_t pos)
{
        if (pos + 4 <= z->len && le32(z->data + pos) == ZIP_DESCRIPTOR_SIG)
                pos += 4;
        for (size_t sizes = 8; sizes <= 16; sizes += 8) {
                size_t next = pos + 4 + sizes;
                if (next + 4 <= z->len) {
                        uint32_t sig = le32(z->data + next);
                        if (sig == ZIP_LOCAL_SIG || sig == ZIP_CENTRAL_SIG || sig == ZIP_END_SIG)
                                return next;
                }
        }
        return pos + 12;
}

static void note_format(struct zip_walk *z, const char *name, size_t n)
{
        if (z->res->format != CLASSIFY_FORMAT_ZIP)
                return;
        if (has_prefix(name, n, "word/"))
                z->res->format = CLASSIFY_FORMAT_DOCX;
        else if (has_prefix(name, n, "xl/"))
                z->res->format = CLASSIFY_FORMAT_XLSX;
}

/* One member at pos. Returns the position of the next header, 0 to stop (the reason is
 * in the result), or -ENOMEM. */
static int64_t walk_member(struct zip_walk *z, size_t pos)
{
        const unsigned char *h = z->data + pos;
        if (pos + ZIP_LOCAL_HEADER_LEN > z->len) {
                stop(z, CLASSIFY_ARCHIVE_MALFORMED);
                return 0;
        }
        uint32_t flags = le16(h + 6), method = le16(h + 8);
        uint32_t csize = le32(h + 18), usize = le32(h + 22);
        size_t name_len = le16(h + 26), extra_len = le16(h + 28);
        size_t start = pos + ZIP_LOCAL_HEADER_LEN + name_len + extra_len;
        if (start > z->len) {
                stop(z, CLASSIFY_ARCHIVE_MALFORMED);
                return 0;
        }
        const char *name = (const char *)h + ZIP_LOCAL_HEADER_LEN;
        note_format(z, name, name_len);
        enum member_kind kind = member_kind(name, name_len);
        bool sizes_known = !(flags & ZIP_FLAG_DESCRIPTOR) && csize != UINT32_MAX && usize != UINT32_MAX;
        size_t avail = z->len - start;

        if (flags & ZIP_FLAG_ENCRYPTED) {
                stop(z, CLASSIFY_ARCHIVE_UNSUPPORTED);
                return sizes_known && csize <= avail ? (int64_t)(start + csize) : 0;
        }
        if (method == ZIP_METHOD_STORED) {
                if (!sizes_known) { /* no way to find the end of stored data */
                        stop(z, CLASSIFY_ARCHIVE_UNSUPPORTED);
                        return 0;
                }
                size_t budget = z->cfg->max_expanded - z->expanded;
                size_t n = MIN(MIN((size_t)csize, avail), budget);
                z->expanded += n;
                int r = feed_member(z, kind, z->data + start, n, n < csize);
                if (r < 0)
                        return r;
                if (n < csize) {
                        stop(z, n == budget ? CLASSIFY_ARCHIVE_LIMIT : CLASSIFY_ARCHIVE_MALFORMED);
                        return 0;
                }
                return (int64_t)(start + csize);
        }
        if (method != ZIP_METHOD_DEFLATE) {
                stop(z, CLASSIFY_ARCHIVE_UNSUPPORTED);
                return sizes_known && csize <= avail ? (int64_t)(start + csize) : 0;
        }
        if (kind == MEMBER_SKIP && sizes_known) {
                if (csize > avail) {
                        stop(z, CLASSIFY_ARCHIVE_MALFORMED);
                        return 0;
                }
                return (int64_t)(start + csize);
        }

        size_t in_len = sizes_known ? MIN((size_t)csize, avail) : avail;
        size_t budget = z->cfg->max_expanded - z->expanded;
        /* a declared size is only a hint (it may lie): never allocate more than the budget */
        size_t cap = kind == MEMBER_SKIP ? 0 : MIN(budget, sizes_known ? (size_t)usize + 1 : budget);
        _cleanup_free_ unsigned char *out = NULL;
        if (kind != MEMBER_SKIP) {
                out = malloc(cap ? cap : 1);
                if (!out)
                        return -ENOMEM;
        }
        size_t consumed = 0, produced = 0;
        enum classify_incomplete why;
        int r = inflate_member(z, z->data + start, in_len, out, cap, &consumed, &produced, &why);
        if (r == -ENOMEM)
                return r;
        z->expanded += produced;
        int f = feed_member(z, kind, out, produced, r != 1);
        if (f < 0)
                return f;
        if (r < 0) {
                stop(z, CLASSIFY_ARCHIVE_MALFORMED);
                return 0;
        }
        if (r == 0) {
                /* a declared size that was too small is a lie, not a bomb */
                stop(z, why == CLASSIFY_ARCHIVE_LIMIT && produced < budget && sizes_known
                                ? CLASSIFY_ARCHIVE_MALFORMED : why);
                return 0;
        }
        if (sizes_known)
                return (int64_t)(start + csize);
        return (int64_t)skip_descriptor(z, start + consumed);
}

int classify_zip(const struct classify_config *cfg, const unsigned char *data, size_t len,
                 struct classify_result *res)
{
        struct zip_walk z = { .cfg = cfg, .data = data, .len = len, .res = res };
        size_t pos = 0;
        res->format = CLASSIFY_FORMAT_ZIP;

        for (unsigned entries = 0;; entries++) {
                if (pos + 4 > len) {
                        stop(&z, CLASSIFY_ARCHIVE_MALFORMED); /* ended before its directory */
                        break;
                }
                uint32_t sig = le32(data + pos);
                if (sig == ZIP_CENTRAL_SIG || sig == ZIP_END_SIG)
                        break;
                if (sig != ZIP_LOCAL_SIG) {
                        stop(&z, CLASSIFY_ARCHIVE_MALFORMED);
                        break;
                }
                if (entries >= cfg->max_entries) {
                        stop(&z, CLASSIFY_ARCHIVE_LIMIT);
                        break;
                }
                int64_t next = walk_member(&z, pos);
                if (next < 0)
                        return (int)next;
                if (next == 0)
                        break;
                if ((size_t)next <= pos) { /* cannot happen, but never loop */
                        stop(&z, CLASSIFY_ARCHIVE_MALFORMED);
                        break;
                }
                pos = (size_t)next;
        }
        return 0;
}

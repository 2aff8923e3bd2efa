/* catalog.c — reading gettext .mo files, see catalog.h.
 *
 * Layout (GNU gettext manual, "The Format of GNU MO Files"): u32 magic 0x950412de (in the
 * file's byte order), revision, N, offset of the msgid table, offset of the msgstr table;
 * each table has N (length, offset) pairs; strings are NUL-terminated. Entry 0 is the
 * header (msgid ""). */
#include "agent/catalog.h"

#include <byteswap.h>
#include <stdint.h>
#include <stdio.h>

#include "common/fileio.h"
#include "common/util.h"

#define MO_MAGIC 0x950412deu

struct catalog {
        unsigned char *data;
        size_t len;
        uint32_t n;
        uint32_t ids_off, strs_off;
        bool swapped;
};

static uint32_t mo_u32(const struct catalog *c, size_t off)
{
        uint32_t v;
        memcpy(&v, c->data + off, sizeof v);
        return c->swapped ? bswap_32(v) : v;
}

/* true when table entry i (length, offset) names a NUL-terminated string inside the file */
static bool mo_entry_ok(const struct catalog *c, uint32_t table, uint32_t i)
{
        uint32_t len = mo_u32(c, table + 8u * i), off = mo_u32(c, table + 8u * i + 4);
        return (uint64_t)off + len < c->len && c->data[off + len] == '\0';
}

static const char *mo_string(const struct catalog *c, uint32_t table, uint32_t i)
{
        return (const char *)c->data + mo_u32(c, table + 8u * i + 4);
}

int catalog_parse(const void *data, size_t len, struct catalog **ret)
{
        if (len < 20 || len > CATALOG_MAX_SIZE)
                return -EBADMSG;
        struct catalog *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->data = malloc(len);
        if (!c->data) {
                free(c);
                return -ENOMEM;
        }
        memcpy(c->data, data, len);
        c->len = len;

        uint32_t magic;
        memcpy(&magic, c->data, sizeof magic);
        c->swapped = magic == bswap_32(MO_MAGIC);
        c->n = mo_u32(c, 8);
        c->ids_off = mo_u32(c, 12);
        c->strs_off = mo_u32(c, 16);

        bool ok = (magic == MO_MAGIC || c->swapped) && (mo_u32(c, 4) >> 16) <= 1 &&
                  c->n <= len / 16 && (uint64_t)c->ids_off + 8ull * c->n <= len &&
                  (uint64_t)c->strs_off + 8ull * c->n <= len;
        for (uint32_t i = 0; ok && i < c->n; i++)
                ok = mo_entry_ok(c, c->ids_off, i) && mo_entry_ok(c, c->strs_off, i);
        if (!ok) {
                catalog_free(c);
                return -EBADMSG;
        }
        *ret = c;
        return 0;
}

int catalog_open(const char *locale_dir, const char *lang, struct catalog **ret)
{
        _cleanup_free_ char *path = NULL, *data = NULL;
        size_t len;
        if (asprintf(&path, "%s/%s/LC_MESSAGES/%s.mo", locale_dir, lang, CATALOG_DOMAIN) < 0)
                return -ENOMEM;
        int r = read_file_bounded(path, CATALOG_MAX_SIZE, &data, &len);
        if (r < 0)
                return r;
        return catalog_parse(data, len, ret);
}

const char *catalog_lookup(const struct catalog *c, const char *msgid)
{
        if (!c || !msgid || msgid[0] == '\0') /* "" is the catalogue's header */
                return NULL;
        /* msgfmt sorts the msgid table, so a binary search finds the entry */
        uint32_t lo = 0, hi = c->n;
        while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                int cmp = strcmp(msgid, mo_string(c, c->ids_off, mid));
                if (cmp == 0) {
                        const char *s = mo_string(c, c->strs_off, mid);
                        return s[0] ? s : NULL;
                }
                if (cmp < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return NULL;
}

void catalog_free(struct catalog *c)
{
        if (!c)
                return;
        free(c->data);
        free(c);
}

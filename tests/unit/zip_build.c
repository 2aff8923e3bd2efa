/* zip_build.c — see zip_build.h. Aborts on allocation failure: it only serves tests. */
#include "tests/unit/zip_build.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void put(unsigned char **buf, size_t *len, size_t *cap, const void *p, size_t n)
{
        if (*len + n > *cap) {
                size_t ncap = (*cap ? *cap * 2 : 4096);
                while (ncap < *len + n)
                        ncap *= 2;
                *buf = realloc(*buf, ncap);
                if (!*buf)
                        abort();
                *cap = ncap;
        }
        memcpy(*buf + *len, p, n);
        *len += n;
}

static void put16(unsigned char **b, size_t *l, size_t *c, unsigned v)
{
        unsigned char x[2] = { (unsigned char)v, (unsigned char)(v >> 8) };
        put(b, l, c, x, 2);
}

static void put32(unsigned char **b, size_t *l, size_t *c, uint32_t v)
{
        unsigned char x[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                               (unsigned char)(v >> 24) };
        put(b, l, c, x, 4);
}

static unsigned char *deflate_raw(const void *in, size_t len, size_t *ret_len)
{
        z_stream zs = { 0 };
        if (deflateInit2(&zs, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
                abort();
        size_t cap = deflateBound(&zs, (uLong)len);
        unsigned char *out = malloc(cap ? cap : 1);
        if (!out)
                abort();
        zs.next_in = (unsigned char *)in;
        zs.avail_in = (uInt)len;
        zs.next_out = out;
        zs.avail_out = (uInt)cap;
        if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
                abort();
        *ret_len = zs.total_out;
        deflateEnd(&zs);
        return out;
}

void zip_build_add(struct zip_build *z, const char *name, const void *content, size_t len,
                   unsigned flags)
{
        bool deflated = flags & ZIP_BUILD_DEFLATE, descriptor = flags & ZIP_BUILD_DESCRIPTOR;
        uint32_t crc = (uint32_t)crc32(0, content, (uInt)len);
        size_t clen = len;
        unsigned char *comp = NULL;
        if (deflated)
                comp = deflate_raw(content, len, &clen);
        size_t offset = z->len, nlen = strlen(name);
        unsigned gp = descriptor ? 0x0008 : 0, method = deflated ? 8 : 0;

        put32(&z->data, &z->len, &z->cap, 0x04034b50);
        put16(&z->data, &z->len, &z->cap, 20);
        put16(&z->data, &z->len, &z->cap, gp);
        put16(&z->data, &z->len, &z->cap, method);
        put32(&z->data, &z->len, &z->cap, 0); /* time, date */
        put32(&z->data, &z->len, &z->cap, descriptor ? 0 : crc);
        put32(&z->data, &z->len, &z->cap, descriptor ? 0 : (uint32_t)clen);
        put32(&z->data, &z->len, &z->cap, descriptor ? 0 : (uint32_t)len);
        put16(&z->data, &z->len, &z->cap, (unsigned)nlen);
        put16(&z->data, &z->len, &z->cap, 0);
        put(&z->data, &z->len, &z->cap, name, nlen);
        put(&z->data, &z->len, &z->cap, deflated ? comp : content, clen);
        if (descriptor) {
                put32(&z->data, &z->len, &z->cap, 0x08074b50);
                put32(&z->data, &z->len, &z->cap, crc);
                put32(&z->data, &z->len, &z->cap, (uint32_t)clen);
                put32(&z->data, &z->len, &z->cap, (uint32_t)len);
        }
        free(comp);

        unsigned char **c = &z->central;
        size_t *cl = &z->central_len, *cc = &z->central_cap;
        put32(c, cl, cc, 0x02014b50);
        put16(c, cl, cc, 20);
        put16(c, cl, cc, 20);
        put16(c, cl, cc, gp);
        put16(c, cl, cc, method);
        put32(c, cl, cc, 0);
        put32(c, cl, cc, crc);
        put32(c, cl, cc, (uint32_t)clen);
        put32(c, cl, cc, (uint32_t)len);
        put16(c, cl, cc, (unsigned)nlen);
        put16(c, cl, cc, 0);
        put16(c, cl, cc, 0);
        put16(c, cl, cc, 0);
        put16(c, cl, cc, 0);
        put32(c, cl, cc, 0);
        put32(c, cl, cc, (uint32_t)offset);
        put(c, cl, cc, name, nlen);
        z->entries++;
}

void zip_build_finish(struct zip_build *z)
{
        size_t offset = z->len;
        put(&z->data, &z->len, &z->cap, z->central, z->central_len);
        put32(&z->data, &z->len, &z->cap, 0x06054b50);
        put16(&z->data, &z->len, &z->cap, 0);
        put16(&z->data, &z->len, &z->cap, 0);
        put16(&z->data, &z->len, &z->cap, z->entries);
        put16(&z->data, &z->len, &z->cap, z->entries);
        put32(&z->data, &z->len, &z->cap, (uint32_t)z->central_len);
        put32(&z->data, &z->len, &z->cap, (uint32_t)offset);
        put16(&z->data, &z->len, &z->cap, 0);
}

void zip_build_free(struct zip_build *z)
{
        free(z->data);
        free(z->central);
        memset(z, 0, sizeof *z);
}

static const char content_types[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
        "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
        "<Default Extension=\"xml\" ContentType=\"application/xml\"/></Types>";

void zip_build_docx(struct zip_build *z, const char *body, unsigned flags)
{
        char *doc = NULL;
        if (asprintf(&doc,
                     "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
                     "<w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">"
                     "<w:body>%s</w:body></w:document>",
                     body) < 0)
                abort();
        zip_build_add(z, "[Content_Types].xml", content_types, strlen(content_types), flags);
        zip_build_add(z, "word/styles.xml", "<w:styles/>", 11, flags);
        zip_build_add(z, "word/document.xml", doc, strlen(doc), flags);
        zip_build_finish(z);
        free(doc);
}

void zip_build_xlsx(struct zip_build *z, const char *shared_strings, const char *sheet_data,
                    unsigned flags)
{
        char *ss = NULL, *sheet = NULL;
        if (asprintf(&ss,
                     "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
                     "<sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">%s</sst>",
                     shared_strings) < 0 ||
            asprintf(&sheet,
                     "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
                     "<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">"
                     "<sheetData>%s</sheetData></worksheet>",
                     sheet_data) < 0)
                abort();
        zip_build_add(z, "[Content_Types].xml", content_types, strlen(content_types), flags);
        zip_build_add(z, "xl/workbook.xml", "<workbook/>", 11, flags);
        zip_build_add(z, "xl/worksheets/sheet1.xml", sheet, strlen(sheet), flags);
        zip_build_add(z, "xl/sharedStrings.xml", ss, strlen(ss), flags);
        zip_build_finish(z);
        free(ss);
        free(sheet);
}

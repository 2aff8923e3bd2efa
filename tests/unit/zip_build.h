/* zip_build.h — writes small zip archives in memory for the classifier's tests, fuzz seeds
 * and bench: stored or deflated members, sizes in the local header or in a data
 * descriptor (as streaming writers do), a central directory and its end record. */
#ifndef HOGO_TESTS_ZIP_BUILD_H
#define HOGO_TESTS_ZIP_BUILD_H

#include <stdbool.h>
#include <stddef.h>

struct zip_build {
        unsigned char *data;
        size_t len, cap;
        unsigned char *central;
        size_t central_len, central_cap;
        unsigned entries;
};

enum zip_build_flags {
        ZIP_BUILD_DEFLATE = 1 << 0,
        ZIP_BUILD_DESCRIPTOR = 1 << 1, /* sizes 0 in the local header, descriptor after */
};

void zip_build_add(struct zip_build *z, const char *name, const void *content, size_t len,
                   unsigned flags);
/* Appends the central directory; the archive is z->data[0..z->len). */
void zip_build_finish(struct zip_build *z);
void zip_build_free(struct zip_build *z);

/* A minimal .docx whose document.xml has body as its <w:body> content; a minimal .xlsx
 * whose sharedStrings.xml and sheet1.xml hold the given XML fragments. */
void zip_build_docx(struct zip_build *z, const char *body, unsigned flags);
void zip_build_xlsx(struct zip_build *z, const char *shared_strings, const char *sheet_data,
                    unsigned flags);

#endif

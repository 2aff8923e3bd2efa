/* policy-internal.h — what the files of policy/ share and nobody else needs. */
#ifndef HOGO_POLICY_INTERNAL_H
#define HOGO_POLICY_INTERNAL_H

#include "common/util.h"
#include "policy/policy.h"

/* Names as they are spelled in the JSON, indexed by the enum value. */
extern const char *const policy_media_access_names[];  /* "none" is not a valid access */
extern const char *const policy_media_mode_names[];
extern const char *const policy_lock_ignored_names[];
extern const char *const policy_bulk_action_names[];
extern const char *const policy_content_kind_names[];
extern const char *const policy_destination_kind_names[]; /* no name for POLICY_DEST_PATH */
extern const char *const policy_day_names[];              /* 7, by tm_wday */

/* The strict defaults every policy starts from; fields a document gives replace them. */
int policy_fill_defaults(struct policy *p);
/* Serializes p canonically and stores its SHA-256 in p->hash. */
int policy_update_hash(struct policy *p);

void policy_strv_free(char **v, size_t n);

/* Reads a policy or envelope file with the POLICY_FILE_MAX_SIZE bound. */
int policy_read_document(const char *path, char **ret_data, size_t *ret_len,
                         struct policy_errors *errs);
/* Checks a document is non-empty UTF-8 text within the size bound and parses its JSON
 * (strict: one value, nothing after it). Errors go to errs at "$". */
int policy_document_parse(const char *data, size_t len, json_object **ret,
                          struct policy_errors *errs);

/* Appends one error; -ENOMEM when it cannot. */
int policy_errors_add(struct policy_errors *errs, const char *path, const char *fmt, ...)
        _printf_(3, 4);

#endif

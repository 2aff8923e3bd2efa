/* json_strict.h — parsing untrusted JSON text in one call, all or nothing.
 *
 * json-c's tokener accepts a prefix and leaves the rest; hogo's inputs (configuration,
 * request bodies) must be exactly one JSON value, optionally surrounded by whitespace,
 * nested no deeper than JSON_STRICT_MAX_DEPTH, with no NUL bytes inside.
 */
#ifndef HOGO_JSON_STRICT_H
#define HOGO_JSON_STRICT_H

#include <json-c/json.h>
#include <stddef.h>

#define JSON_STRICT_MAX_DEPTH 32

/* -EINVAL with a one-line reason in err when text is not exactly one JSON value. */
int json_parse_strict(const char *text, size_t len, json_object **ret, char *err,
                      size_t errlen);
/* The same; on failure *ret_error_offset (when not NULL) is the byte offset where the text
 * stopped being JSON, so a message can name the line and column. */
int json_parse_strict_at(const char *text, size_t len, json_object **ret, char *err,
                         size_t errlen, size_t *ret_error_offset);

#endif

/* canon_json.h — the one canonical JSON form hogo hashes and signs.
 *
 * Object keys sorted by their UTF-8 bytes, no insignificant whitespace, strings with only
 * `"`, `\` and control characters escaped (non-ASCII stays raw UTF-8), integers in
 * decimal. Floating-point numbers have no single spelling, so they are refused (-EDOM):
 * every number in hogo's contracts is an integer. A policy and an event therefore have
 * exactly one byte string, one hash and one signature.
 */
#ifndef HOGO_CANON_JSON_H
#define HOGO_CANON_JSON_H

#include <json-c/json.h>
#include <stddef.h>

/* Serializes o canonically; skip_key (may be NULL) is left out of the top-level object. */
int json_canonical(json_object *o, const char *skip_key, char **ret, size_t *ret_len);
/* Same, with prefix_len bytes of prefix before the text in *ret (and counted in *ret_len):
 * a hash over prefix + text (the event chain's) then needs no second copy. */
int json_canonical_prefixed(json_object *o, const char *skip_key, const char *prefix,
                            size_t prefix_len, char **ret, size_t *ret_len);

static inline void json_object_putp(json_object **o)
{
        if (*o)
                json_object_put(*o);
}
#define _cleanup_json_ __attribute__((cleanup(json_object_putp)))

#endif

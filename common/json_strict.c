/* json_strict.c — see json_strict.h. */
#include "common/json_strict.h"

#include <limits.h>

#include "common/util.h"

int json_parse_strict(const char *text, size_t len, json_object **ret, char *err,
                      size_t errlen)
{
        return json_parse_strict_at(text, len, ret, err, errlen, NULL);
}

int json_parse_strict_at(const char *text, size_t len, json_object **ret, char *err,
                         size_t errlen, size_t *ret_error_offset)
{
        size_t dummy;
        if (!ret_error_offset)
                ret_error_offset = &dummy;
        if (len > INT_MAX) {
                snprintf(err, errlen, "not valid JSON: too long");
                *ret_error_offset = 0;
                return -EINVAL;
        }
        const char *nul = memchr(text, '\0', len);
        if (nul) {
                snprintf(err, errlen, "not valid JSON: contains a NUL byte");
                *ret_error_offset = (size_t)(nul - text);
                return -EINVAL;
        }
        json_tokener *tok = json_tokener_new_ex(JSON_STRICT_MAX_DEPTH);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        json_object *o = json_tokener_parse_ex(tok, text, (int)len);
        enum json_tokener_error jerr = json_tokener_get_error(tok);
        size_t used = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);

        if (!o && jerr == json_tokener_success)
                jerr = json_tokener_error_parse_null; /* a bare "null" is not a document */
        if (jerr == json_tokener_continue)
                jerr = json_tokener_error_parse_eof;
        if (jerr != json_tokener_success) {
                json_object_put(o);
                snprintf(err, errlen, "not valid JSON: %s", json_tokener_error_desc(jerr));
                *ret_error_offset = MIN(used, len);
                return -EINVAL;
        }
        for (size_t i = used; i < len; i++)
                if (!strchr(" \t\r\n", text[i])) {
                        json_object_put(o);
                        snprintf(err, errlen, "not valid JSON: text after the value");
                        *ret_error_offset = i;
                        return -EINVAL;
                }
        *ret = o;
        return 0;
}

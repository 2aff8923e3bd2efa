/* canon_json.c — see canon_json.h. */
#include "common/canon_json.h"

#include <inttypes.h>
#include <json-c/printbuf.h>

#include "common/util.h"

static int cmp_keys(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int canon_string(struct printbuf *pb, const char *s, size_t len)
{
        printbuf_memappend(pb, "\"", 1);
        size_t run = 0; /* start of the bytes that need no escape, appended in one go */
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c >= 0x20 && c != '"' && c != '\\')
                        continue;
                if (i > run)
                        printbuf_memappend(pb, s + run, (int)(i - run));
                run = i + 1;
                char esc[8];
                switch (c) {
                case '"': printbuf_memappend(pb, "\\\"", 2); break;
                case '\\': printbuf_memappend(pb, "\\\\", 2); break;
                case '\b': printbuf_memappend(pb, "\\b", 2); break;
                case '\f': printbuf_memappend(pb, "\\f", 2); break;
                case '\n': printbuf_memappend(pb, "\\n", 2); break;
                case '\r': printbuf_memappend(pb, "\\r", 2); break;
                case '\t': printbuf_memappend(pb, "\\t", 2); break;
                default:
                        snprintf(esc, sizeof esc, "\\u%04x", c);
                        printbuf_memappend(pb, esc, 6);
                }
        }
        if (len > run)
                printbuf_memappend(pb, s + run, (int)(len - run));
        printbuf_memappend(pb, "\"", 1);
        return 0;
}

static int canon_value(struct printbuf *pb, json_object *o, const char *skip_key, int depth)
{
        if (depth > 64)
                return -ELOOP;

        switch (json_object_get_type(o)) {
        case json_type_null: printbuf_memappend(pb, "null", 4); return 0;
        case json_type_boolean:
                if (json_object_get_boolean(o))
                        printbuf_memappend(pb, "true", 4);
                else
                        printbuf_memappend(pb, "false", 5);
                return 0;
        case json_type_int: {
                char num[32];
                int n = snprintf(num, sizeof num, "%" PRId64, json_object_get_int64(o));
                printbuf_memappend(pb, num, n);
                return 0;
        }
        case json_type_double: return -EDOM;
        case json_type_string:
                return canon_string(pb, json_object_get_string(o),
                                    (size_t)json_object_get_string_len(o));
        case json_type_array: {
                printbuf_memappend(pb, "[", 1);
                size_t n = json_object_array_length(o);
                for (size_t i = 0; i < n; i++) {
                        if (i > 0)
                                printbuf_memappend(pb, ",", 1);
                        int r = canon_value(pb, json_object_array_get_idx(o, i), NULL, depth + 1);
                        if (r < 0)
                                return r;
                }
                printbuf_memappend(pb, "]", 1);
                return 0;
        }
        case json_type_object: {
                size_t n = (size_t)json_object_object_length(o), k = 0;
                _cleanup_free_ const char **keys = calloc(n ? n : 1, sizeof *keys);
                if (!keys)
                        return -ENOMEM;
                json_object_object_foreach(o, key, val)
                {
                        (void)val;
                        if (skip_key && STREQ(key, skip_key))
                                continue;
                        keys[k++] = key;
                }
                qsort(keys, k, sizeof *keys, cmp_keys);
                printbuf_memappend(pb, "{", 1);
                for (size_t i = 0; i < k; i++) {
                        if (i > 0)
                                printbuf_memappend(pb, ",", 1);
                        canon_string(pb, keys[i], strlen(keys[i]));
                        printbuf_memappend(pb, ":", 1);
                        int r = canon_value(pb, json_object_object_get(o, keys[i]), NULL,
                                            depth + 1);
                        if (r < 0)
                                return r;
                }
                printbuf_memappend(pb, "}", 1);
                return 0;
        }
        }
        return -EINVAL;
}

int json_canonical(json_object *o, const char *skip_key, char **ret, size_t *ret_len)
{
        struct printbuf *pb = printbuf_new();
        if (!pb)
                return -ENOMEM;
        int r = canon_value(pb, o, skip_key, 0);
        if (r < 0) {
                printbuf_free(pb);
                return r;
        }
        char *out = malloc((size_t)pb->bpos + 1);
        if (!out) {
                printbuf_free(pb);
                return -ENOMEM;
        }
        memcpy(out, pb->buf, (size_t)pb->bpos);
        out[pb->bpos] = '\0';
        if (ret_len)
                *ret_len = (size_t)pb->bpos;
        printbuf_free(pb);
        *ret = out;
        return 0;
}

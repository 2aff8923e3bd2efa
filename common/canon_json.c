/* canon_json.c — see canon_json.h. */
#include "common/canon_json.h"

#include <stdint.h>

#include "common/util.h"

/* A growing text buffer; allocation failures are remembered and reported once at the end,
 * so the writers below need no error paths. The collector serialises every event it
 * ingests through here, so this stays free of per-call allocations beyond the text. */
struct canon_buf {
        char *data;
        size_t len, cap;
        bool oom;
};

static bool canon_reserve(struct canon_buf *b, size_t more)
{
        if (b->oom)
                return false;
        if (b->len + more <= b->cap)
                return true;
        size_t cap = MAX(b->cap * 2, b->len + more + 256);
        char *d = realloc(b->data, cap);
        if (!d) {
                b->oom = true;
                return false;
        }
        b->data = d;
        b->cap = cap;
        return true;
}

static void canon_append(struct canon_buf *b, const char *s, size_t n)
{
        if (n == 0 || !canon_reserve(b, n))
                return;
        memcpy(b->data + b->len, s, n);
        b->len += n;
}

static void canon_char(struct canon_buf *b, char c)
{
        if (!canon_reserve(b, 1))
                return;
        b->data[b->len++] = c;
}

static void canon_string(struct canon_buf *b, const char *s, size_t len)
{
        canon_char(b, '"');
        size_t run = 0; /* start of the bytes that need no escape, appended in one go */
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c >= 0x20 && c != '"' && c != '\\')
                        continue;
                if (i > run)
                        canon_append(b, s + run, i - run);
                run = i + 1;
                char esc[8];
                switch (c) {
                case '"': canon_append(b, "\\\"", 2); break;
                case '\\': canon_append(b, "\\\\", 2); break;
                case '\b': canon_append(b, "\\b", 2); break;
                case '\f': canon_append(b, "\\f", 2); break;
                case '\n': canon_append(b, "\\n", 2); break;
                case '\r': canon_append(b, "\\r", 2); break;
                case '\t': canon_append(b, "\\t", 2); break;
                default:
                        snprintf(esc, sizeof esc, "\\u%04x", c);
                        canon_append(b, esc, 6);
                }
        }
        if (len > run)
                canon_append(b, s + run, len - run);
        canon_char(b, '"');
}

struct canon_member {
        const char *key;
        json_object *val;
};

/* strcmp(a, b) > 0, deciding on the first byte where it can (event keys mostly differ
 * there) without a call. */
static inline bool key_after(const char *a, const char *b)
{
        if (a[0] != b[0])
                return (unsigned char)a[0] > (unsigned char)b[0];
        return strcmp(a, b) > 0;
}

/* Insertion sort by key bytes: objects have a handful of members, where this beats
 * qsort() and needs no allocation. */
static void canon_sort_members(struct canon_member *m, size_t n)
{
        for (size_t i = 1; i < n; i++) {
                struct canon_member x = m[i];
                size_t j = i;
                for (; j > 0 && key_after(m[j - 1].key, x.key); j--)
                        m[j] = m[j - 1];
                m[j] = x;
        }
}

static int canon_value(struct canon_buf *b, json_object *o, const char *skip_key, int depth);

static int canon_object(struct canon_buf *b, json_object *o, const char *skip_key, int depth)
{
        struct canon_member small[16];
        _cleanup_free_ struct canon_member *big = NULL;
        size_t n = (size_t)json_object_object_length(o), k = 0;
        struct canon_member *m = small;
        if (n > ELEMENTSOF(small)) {
                m = big = calloc(n, sizeof *big);
                if (!big)
                        return -ENOMEM;
        }
        json_object_object_foreach(o, key, val)
        {
                if (skip_key && STREQ(key, skip_key))
                        continue;
                m[k++] = (struct canon_member){ key, val };
        }
        canon_sort_members(m, k);
        canon_char(b, '{');
        for (size_t i = 0; i < k; i++) {
                if (i > 0)
                        canon_char(b, ',');
                canon_string(b, m[i].key, strlen(m[i].key));
                canon_char(b, ':');
                int r = canon_value(b, m[i].val, NULL, depth + 1);
                if (r < 0)
                        return r;
        }
        canon_char(b, '}');
        return 0;
}

static int canon_value(struct canon_buf *b, json_object *o, const char *skip_key, int depth)
{
        if (depth > 64)
                return -ELOOP;

        switch (json_object_get_type(o)) {
        case json_type_null: canon_append(b, "null", 4); return 0;
        case json_type_boolean:
                if (json_object_get_boolean(o))
                        canon_append(b, "true", 4);
                else
                        canon_append(b, "false", 5);
                return 0;
        case json_type_int: {
                /* decimal, by hand: snprintf() was a visible share of every event */
                int64_t v = json_object_get_int64(o);
                uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
                char num[24], *p = num + sizeof num;
                do
                        *--p = (char)('0' + u % 10);
                while (u /= 10);
                if (v < 0)
                        *--p = '-';
                canon_append(b, p, (size_t)(num + sizeof num - p));
                return 0;
        }
        case json_type_double: return -EDOM;
        case json_type_string:
                canon_string(b, json_object_get_string(o), (size_t)json_object_get_string_len(o));
                return 0;
        case json_type_array: {
                canon_char(b, '[');
                size_t n = json_object_array_length(o);
                for (size_t i = 0; i < n; i++) {
                        if (i > 0)
                                canon_char(b, ',');
                        int r = canon_value(b, json_object_array_get_idx(o, i), NULL, depth + 1);
                        if (r < 0)
                                return r;
                }
                canon_char(b, ']');
                return 0;
        }
        case json_type_object: return canon_object(b, o, skip_key, depth);
        }
        return -EINVAL;
}

int json_canonical_prefixed(json_object *o, const char *skip_key, const char *prefix,
                            size_t prefix_len, char **ret, size_t *ret_len)
{
        struct canon_buf b = { 0 };
        canon_reserve(&b, prefix_len + 512); /* an event's text fits: no growing on the way */
        canon_append(&b, prefix, prefix_len);
        int r = canon_value(&b, o, skip_key, 0);
        if (r >= 0 && b.oom)
                r = -ENOMEM;
        if (r >= 0)
                canon_char(&b, '\0');
        if (r >= 0 && b.oom)
                r = -ENOMEM;
        if (r < 0) {
                free(b.data);
                return r;
        }
        if (ret_len)
                *ret_len = b.len - 1;
        *ret = b.data;
        return 0;
}

int json_canonical(json_object *o, const char *skip_key, char **ret, size_t *ret_len)
{
        return json_canonical_prefixed(o, skip_key, NULL, 0, ret, ret_len);
}

/* parse.c — the policy document: read, check every field, collect every error by path.
 *
 * The parser never stops at the first problem: each field is checked on its own, the
 * error names its JSON path, and parsing goes on, so `hogoctl policy validate` shows an IT
 * team everything to fix in one run. A policy with any error is refused as a whole; the
 * agent keeps the policy it had (or the strict default).
 */
#include <ctype.h>
#include <stdarg.h>
#include <time.h>

#include "common/canon_json.h"
#include "common/fileio.h"
#include "common/json_strict.h"
#include "common/utf8.h"
#include "policy/policy-internal.h"

#define MAX_ERRORS 1000
#define MAX_SHOWN 64 /* bytes of a key or value quoted in a message */
#define JST_OFFSET_SECONDS (9 * 3600)

/* Limits that keep a policy sane: beyond them a number is a typo or a unit mix-up. */
#define MAX_ALLOW 10000
#define MAX_EXCEPTIONS 1000
#define MAX_TERMINALS 256
#define MAX_CLASSES 32
#define MAX_HOURS 64
#define MAX_EXEMPT 256
#define MAX_PATHS 1024
#define MAX_PATTERNS 8
#define MAX_DESTINATIONS 64
#define MAX_PATH_LEN 4096
#define MAX_VERSION INT64_C(9007199254740991) /* 2^53-1: exact in every JSON reader */

struct parser {
        struct policy_errors *errs;
        size_t n_errors;
        bool oom;
        char path[256];
        size_t path_len;
};

/* ---- paths and errors ------------------------------------------------------------------ */

/* Copies s for a message: at most MAX_SHOWN bytes cut at a UTF-8 boundary, control
 * characters replaced, so a hostile key cannot garble a terminal or a log line. */
static void shown(const char *s, char out[static MAX_SHOWN + 4])
{
        size_t n = strlen(s), k = MIN(n, (size_t)MAX_SHOWN);
        while (k < n && k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
                k--;
        for (size_t i = 0; i < k; i++) {
                unsigned char c = (unsigned char)s[i];
                out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
        }
        if (k < n) {
                memcpy(out + k, "...", 3);
                k += 3;
        }
        out[k] = '\0';
}

static size_t path_push_key(struct parser *ps, const char *key)
{
        size_t old = ps->path_len;
        char k[MAX_SHOWN + 4];
        shown(key, k);
        int n = snprintf(ps->path + old, sizeof ps->path - old, "%s%s", old ? "." : "", k);
        ps->path_len = MIN(old + (size_t)MAX(n, 0), sizeof ps->path - 1);
        return old;
}

static size_t path_push_index(struct parser *ps, size_t i)
{
        size_t old = ps->path_len;
        int n = snprintf(ps->path + old, sizeof ps->path - old, "[%zu]", i);
        ps->path_len = MIN(old + (size_t)MAX(n, 0), sizeof ps->path - 1);
        return old;
}

static void path_pop(struct parser *ps, size_t old)
{
        ps->path_len = old;
        ps->path[old] = '\0';
}

_printf_(2, 3) static void perr(struct parser *ps, const char *fmt, ...)
{
        ps->n_errors++;
        if (ps->n_errors > MAX_ERRORS + 1)
                return;
        if (ps->n_errors == MAX_ERRORS + 1) {
                if (policy_errors_add(ps->errs, "$", "more than %d errors; the rest are not shown",
                                      MAX_ERRORS) < 0)
                        ps->oom = true;
                return;
        }
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (r < 0) {
                msg = NULL;
                ps->oom = true;
                return;
        }
        if (policy_errors_add(ps->errs, ps->path, "%s", msg) < 0)
                ps->oom = true;
}

static const char *json_kind(json_object *v)
{
        switch (json_object_get_type(v)) {
        case json_type_null: return "null";
        case json_type_boolean: return "boolean";
        case json_type_double:
        case json_type_int: return "number";
        case json_type_string: return "string";
        case json_type_array: return "array";
        case json_type_object: return "object";
        }
        return "something else";
}

/* ---- generic field checks ----------------------------------------------------------------- */

static size_t edit_distance(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);
        if (la > 64 || lb > 64)
                return SIZE_MAX;
        size_t row[65];
        for (size_t j = 0; j <= lb; j++)
                row[j] = j;
        for (size_t i = 1; i <= la; i++) {
                size_t diag = row[0];
                row[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t up = row[j];
                        size_t best = diag + (a[i - 1] != b[j - 1]);
                        best = MIN(best, row[j] + 1);
                        best = MIN(best, row[j - 1] + 1);
                        row[j] = best;
                        diag = up;
                }
        }
        return row[lb];
}

static bool name_in(const char *s, const char *const *names)
{
        for (size_t i = 0; names[i]; i++)
                if (STREQ(s, names[i]))
                        return true;
        return false;
}

/* Checks that v is an object and reports each member not in known (with a suggestion for
 * what was probably meant). Unknown keys are errors: a misspelt control must not be
 * silently ignored. */
static bool expect_object(struct parser *ps, json_object *v, const char *const *known)
{
        if (!json_object_is_type(v, json_type_object)) {
                perr(ps, "expected an object, got %s", json_kind(v));
                return false;
        }
        json_object_object_foreach(v, key, val)
        {
                (void)val;
                if (name_in(key, known))
                        continue;
                const char *best = NULL;
                size_t best_d = 3;
                for (size_t i = 0; known[i] && *key; i++)
                        if (strncmp(known[i], key, strlen(key)) == 0) {
                                best = known[i]; /* "min" for "min_matches" */
                                best_d = 0;
                                break;
                        }
                for (size_t i = 0; known[i] && !best; i++) {
                        size_t d = edit_distance(key, known[i]);
                        if (d < best_d) {
                                best_d = d;
                                best = known[i];
                        }
                }
                size_t o = path_push_key(ps, key);
                if (best)
                        perr(ps, "unknown key (did you mean \"%s\"?)", best);
                else
                        perr(ps, "unknown key");
                path_pop(ps, o);
        }
        return true;
}

static json_object *member(struct parser *ps, json_object *obj, const char *key, bool required)
{
        json_object *v = NULL;
        if (json_object_object_get_ex(obj, key, &v)) {
                /* json-c gives NULL for a JSON null: not the same as leaving the key out */
                if (!v) {
                        size_t o = path_push_key(ps, key);
                        perr(ps, "expected a value, got null (leave the key out to keep the "
                                 "strict default)");
                        path_pop(ps, o);
                }
                return v;
        }
        if (required) {
                size_t o = path_push_key(ps, key);
                perr(ps, "required key is missing");
                path_pop(ps, o);
        }
        return NULL;
}

static const char *unit_of(const char *key)
{
        size_t n = strlen(key);
        if (n > 8 && STREQ(key + n - 8, "_seconds"))
                return " seconds";
        if (n > 6 && STREQ(key + n - 6, "_bytes"))
                return " bytes";
        return "";
}

/* Checks the value at the current path is an integer in [min, max]. */
static bool check_int(struct parser *ps, json_object *v, const char *unit, int64_t min,
                      int64_t max, int64_t *out)
{
        if (json_object_is_type(v, json_type_double)) {
                perr(ps, "expected an integer, got the fractional number %s",
                     json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
                return false;
        }
        if (!json_object_is_type(v, json_type_int)) {
                perr(ps, "expected an integer, got %s", json_kind(v));
                return false;
        }
        /* json-c saturates beyond int64; the range check below catches that too */
        int64_t i = json_object_get_int64(v);
        if (i == INT64_MAX || i == INT64_MIN) {
                perr(ps, "must be between %" PRId64 " and %" PRId64 "%s, got a number far out of "
                         "that range",
                     min, max, unit);
                return false;
        }
        if (i < min || i > max) {
                perr(ps, "must be between %" PRId64 " and %" PRId64 "%s, got %s", min, max, unit,
                     json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
                return false;
        }
        *out = i;
        return true;
}

/* Returns true when key is present and valid (then *out is set), false otherwise. */
static bool get_int(struct parser *ps, json_object *obj, const char *key, int64_t min,
                    int64_t max, int64_t *out)
{
        json_object *v = member(ps, obj, key, false);
        if (!v)
                return false;
        size_t o = path_push_key(ps, key);
        bool ok = check_int(ps, v, unit_of(key), min, max, out);
        path_pop(ps, o);
        return ok;
}

static void get_u32(struct parser *ps, json_object *obj, const char *key, int64_t min,
                    int64_t max, uint32_t *out)
{
        int64_t i;
        if (get_int(ps, obj, key, min, max, &i))
                *out = (uint32_t)i;
}

static void get_u64(struct parser *ps, json_object *obj, const char *key, int64_t min,
                    int64_t max, uint64_t *out)
{
        int64_t i;
        if (get_int(ps, obj, key, min, max, &i))
                *out = (uint64_t)i;
}

static void get_bool(struct parser *ps, json_object *obj, const char *key, bool *out)
{
        json_object *v = member(ps, obj, key, false);
        if (!v)
                return;
        if (json_object_is_type(v, json_type_boolean)) {
                *out = json_object_get_boolean(v);
                return;
        }
        size_t o = path_push_key(ps, key);
        perr(ps, "expected true or false, got %s", json_kind(v));
        path_pop(ps, o);
}

typedef bool (*string_check_fn)(const char *s);

/* Checks the value at the current path is a string of 1..max_len bytes without control
 * characters that passes check (when given; desc then says what it must look like).
 * Returns the string (owned by v) or NULL. */
static const char *check_string(struct parser *ps, json_object *v, size_t max_len,
                                string_check_fn check, const char *desc)
{
        if (!json_object_is_type(v, json_type_string)) {
                perr(ps, "expected a string, got %s", json_kind(v));
                return NULL;
        }
        const char *s = json_object_get_string(v);
        size_t len = (size_t)json_object_get_string_len(v);
        if (len == 0) {
                perr(ps, "must not be empty");
                return NULL;
        }
        if (len > max_len) {
                perr(ps, "is %zu bytes long; at most %zu are allowed", len, max_len);
                return NULL;
        }
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c < 0x20 || c == 0x7f) {
                        perr(ps, "contains a control character (byte 0x%02x at offset %zu)", c, i);
                        return NULL;
                }
        }
        if (check && !check(s)) {
                char q[MAX_SHOWN + 4];
                shown(s, q);
                perr(ps, "expected %s, got \"%s\"", desc, q);
                return NULL;
        }
        return s;
}

/* Replaces *out with a copy of the string at key when it is present and valid. */
static bool get_string(struct parser *ps, json_object *obj, const char *key, bool required,
                       size_t max_len, string_check_fn check, const char *desc, char **out)
{
        json_object *v = member(ps, obj, key, required);
        if (!v)
                return false;
        size_t o = path_push_key(ps, key);
        const char *s = check_string(ps, v, max_len, check, desc);
        path_pop(ps, o);
        if (!s)
                return false;
        char *copy = strdup(s);
        if (!copy) {
                ps->oom = true;
                return false;
        }
        free(*out);
        *out = copy;
        return true;
}

static void describe_names(const char *const *names, char *buf, size_t size)
{
        size_t used = 0;
        buf[0] = '\0';
        for (size_t i = 0; names[i] && used < size; i++) {
                int n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", names[i]);
                used += (size_t)MAX(n, 0);
        }
}

/* The index in names (NULL-terminated) of the string at the current path, or -1. */
static int check_name(struct parser *ps, json_object *v, const char *const *names)
{
        if (!json_object_is_type(v, json_type_string)) {
                perr(ps, "expected a string, got %s", json_kind(v));
                return -1;
        }
        const char *s = json_object_get_string(v);
        for (int i = 0; names[i]; i++)
                if (STREQ(s, names[i]))
                        return i;
        char list[256], q[MAX_SHOWN + 4];
        describe_names(names, list, sizeof list);
        shown(s, q);
        perr(ps, "expected one of %s, got \"%s\"", list, q);
        return -1;
}

static bool get_name(struct parser *ps, json_object *obj, const char *key,
                     const char *const *names, bool required, int *out)
{
        json_object *v = member(ps, obj, key, required);
        if (!v)
                return false;
        size_t o = path_push_key(ps, key);
        int i = check_name(ps, v, names);
        path_pop(ps, o);
        if (i < 0)
                return false;
        *out = i;
        return true;
}

/* The array at key when present, an array, and not longer than max; else NULL. */
static json_object *get_array(struct parser *ps, json_object *obj, const char *key, size_t max,
                              bool required)
{
        json_object *v = member(ps, obj, key, required);
        if (!v)
                return NULL;
        size_t o = path_push_key(ps, key);
        json_object *ret = NULL;
        if (!json_object_is_type(v, json_type_array))
                perr(ps, "expected an array, got %s", json_kind(v));
        else if (json_object_array_length(v) > max)
                perr(ps, "has %zu entries; at most %zu are allowed", json_object_array_length(v),
                     max);
        else
                ret = v;
        path_pop(ps, o);
        return ret;
}

/* ---- duplicates ---------------------------------------------------------------------------- */

struct dup_key {
        char *key;  /* what must be unique */
        char *path; /* where it was written */
        size_t order;
};

struct dup_set {
        struct dup_key *items;
        size_t n, allocated;
};

static void dup_set_clear(struct dup_set *d)
{
        for (size_t i = 0; i < d->n; i++) {
                free(d->items[i].key);
                free(d->items[i].path);
        }
        free(d->items);
        *d = (struct dup_set){ NULL, 0, 0 };
}

/* Remembers key as written at the current path. */
static void dup_add(struct parser *ps, struct dup_set *d, const char *key)
{
        if (d->n == d->allocated) {
                size_t n = d->allocated ? d->allocated * 2 : 16;
                struct dup_key *items = reallocarray(d->items, n, sizeof *items);
                if (!items) {
                        ps->oom = true;
                        return;
                }
                d->items = items;
                d->allocated = n;
        }
        struct dup_key *item = &d->items[d->n];
        item->key = strdup(key);
        item->path = strdup(ps->path);
        item->order = d->n;
        if (!item->key || !item->path) {
                free(item->key);
                free(item->path);
                ps->oom = true;
                return;
        }
        d->n++;
}

static int dup_cmp(const void *a, const void *b)
{
        const struct dup_key *x = a, *y = b;
        int c = strcmp(x->key, y->key);
        if (c != 0)
                return c;
        return x->order < y->order ? -1 : x->order > y->order;
}

struct dup_report {
        size_t order;
        const char *path, *first;
};

static int dup_report_cmp(const void *a, const void *b)
{
        const struct dup_report *x = a, *y = b;
        return x->order < y->order ? -1 : x->order > y->order;
}

/* Reports every key that repeats an earlier one, at the later path, in document order.
 * Sorting keeps this O(n log n) for a 10,000-line ledger. */
static void dup_report(struct parser *ps, struct dup_set *d, const char *what)
{
        if (d->n < 2)
                return;
        qsort(d->items, d->n, sizeof *d->items, dup_cmp);
        _cleanup_free_ struct dup_report *reps = calloc(d->n, sizeof *reps);
        if (!reps) {
                ps->oom = true;
                return;
        }
        size_t n = 0, first = 0;
        for (size_t i = 1; i < d->n; i++) {
                if (STRNEQ(d->items[i].key, d->items[first].key)) {
                        first = i;
                        continue;
                }
                reps[n++] = (struct dup_report){ d->items[i].order, d->items[i].path,
                                                 d->items[first].path };
        }
        qsort(reps, n, sizeof *reps, dup_report_cmp);
        size_t saved_len = ps->path_len;
        char saved[sizeof ps->path];
        memcpy(saved, ps->path, sizeof saved);
        for (size_t i = 0; i < n; i++) {
                snprintf(ps->path, sizeof ps->path, "%s", reps[i].path);
                perr(ps, "duplicate %s: same as %s", what, reps[i].first);
        }
        memcpy(ps->path, saved, sizeof saved);
        ps->path_len = saved_len;
}

/* ---- value formats --------------------------------------------------------------------------- */

static bool is_hex4(const char *s)
{
        if (strlen(s) != 4)
                return false;
        for (size_t i = 0; i < 4; i++)
                if (!isxdigit((unsigned char)s[i]))
                        return false;
        return true;
}

static bool is_identifier(const char *s)
{
        for (; *s; s++)
                if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
                        return false;
        return true;
}

static bool is_hostname(const char *s)
{
        if (*s == '-' || *s == '.')
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char)*s) && *s != '-' && *s != '.')
                        return false;
        return true;
}

static bool is_user_name(const char *s)
{
        return *s != '-' && is_identifier(s);
}

static bool is_absolute_path(const char *s)
{
        return s[0] == '/';
}

static bool is_xattr_name(const char *s)
{
        if (strncmp(s, "user.", 5) != 0 && strncmp(s, "trusted.", 8) != 0)
                return false;
        const char *rest = strchr(s, '.') + 1;
        return *rest && is_identifier(rest);
}

static bool parse_digits(const char *s, size_t n, int *out)
{
        int v = 0;
        for (size_t i = 0; i < n; i++) {
                if (!isdigit((unsigned char)s[i]))
                        return false;
                v = v * 10 + (s[i] - '0');
        }
        *out = v;
        return true;
}

/* "YYYY-MM-DD" (valid through the end of that day, Japan time: approvals end with a date
 * on paper) or "YYYY-MM-DDTHH:MM:SSZ" / "…+09:00" (valid until that instant). The result
 * is the first second at which the entry no longer applies. */
static bool parse_valid_until(const char *s, int64_t *ret)
{
        int y, mo, d, h = 0, mi = 0, sec = 0, off = JST_OFFSET_SECONDS;
        size_t len = strlen(s);
        if (len < 10 || s[4] != '-' || s[7] != '-' || !parse_digits(s, 4, &y) ||
            !parse_digits(s + 5, 2, &mo) || !parse_digits(s + 8, 2, &d))
                return false;
        bool date_only = len == 10;
        if (!date_only) {
                if (len < 20 || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
                    !parse_digits(s + 11, 2, &h) || !parse_digits(s + 14, 2, &mi) ||
                    !parse_digits(s + 17, 2, &sec))
                        return false;
                const char *z = s + 19;
                int oh, om;
                if (STREQ(z, "Z"))
                        off = 0;
                else if ((z[0] == '+' || z[0] == '-') && strlen(z) == 6 && z[3] == ':' &&
                         parse_digits(z + 1, 2, &oh) && parse_digits(z + 4, 2, &om) && oh <= 14 &&
                         om <= 59)
                        off = (z[0] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
                else
                        return false;
        }
        if (y < 2000 || y > 2199 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
            sec > 59)
                return false;
        struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                         .tm_hour = h, .tm_min = mi, .tm_sec = sec };
        time_t t = timegm(&tm);
        /* timegm normalizes 2027-02-30 to March: such a date does not exist */
        if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != mo - 1)
                return false;
        *ret = (int64_t)t - off + (date_only ? 86400 : 0);
        return true;
}

static bool is_valid_until(const char *s)
{
        int64_t t;
        return parse_valid_until(s, &t);
}

/* "HH:MM", 00:00..24:00, as minutes after midnight. */
static bool parse_clock(const char *s, uint16_t *ret)
{
        int h, m;
        if (strlen(s) != 5 || s[2] != ':' || !parse_digits(s, 2, &h) || !parse_digits(s + 3, 2, &m) ||
            m > 59 || h > 24 || (h == 24 && m != 0))
                return false;
        *ret = (uint16_t)(h * 60 + m);
        return true;
}

static bool is_clock(const char *s)
{
        uint16_t m;
        return parse_clock(s, &m);
}

/* ---- sections ------------------------------------------------------------------------------ */

/* The fields a registered medium and an exception share: which device, and what access. */
static bool parse_device(struct parser *ps, json_object *o, uint16_t *vendor, uint16_t *product,
                         char **serial, enum media_access *access)
{
        static const char *const accesses[] = { "read_write", "read_only", NULL };
        _cleanup_free_ char *v = NULL, *p = NULL;
        bool ok = get_string(ps, o, "vendor", true, 4, is_hex4, "4 hexadecimal digits (idVendor)", &v);
        ok &= get_string(ps, o, "product", true, 4, is_hex4, "4 hexadecimal digits (idProduct)", &p);
        ok &= get_string(ps, o, "serial", true, 255, NULL, NULL, serial);
        int a = 0;
        ok &= get_name(ps, o, "access", accesses, true, &a);
        if (!ok)
                return false;
        *vendor = (uint16_t)strtoul(v, NULL, 16);
        *product = (uint16_t)strtoul(p, NULL, 16);
        *access = a == 0 ? MEDIA_ACCESS_READ_WRITE : MEDIA_ACCESS_READ_ONLY;
        return true;
}

static void device_key(uint16_t vendor, uint16_t product, const char *serial, const char *terminal,
                       char **ret, struct parser *ps)
{
        /* the serial may hold anything but control characters, so '\n' separates safely */
        if (asprintf(ret, "%04x:%04x:%s%s%s", vendor, product, serial, terminal ? "\n" : "",
                     terminal ? terminal : "") < 0) {
                *ret = NULL;
                ps->oom = true;
        }
}

static void parse_valid_until_field(struct parser *ps, json_object *o, bool required,
                                    int64_t *ret, char **ret_text)
{
        if (!get_string(ps, o, "valid_until", required, 32, is_valid_until,
                        "a date \"YYYY-MM-DD\" or a time \"YYYY-MM-DDTHH:MM:SSZ\"", ret_text))
                return;
        parse_valid_until(*ret_text, ret);
}

static void parse_allow(struct parser *ps, json_object *arr, struct policy_removable_media *m)
{
        static const char *const known[] = { "vendor", "product", "serial", "access",
                                             "registration_no", "holder", "valid_until", NULL };
        size_t n = json_object_array_length(arr);
        struct policy_media_allow *allow = calloc(n ? n : 1, sizeof *allow);
        if (!allow) {
                ps->oom = true;
                return;
        }
        m->allow = allow;
        m->n_allow = n;
        struct dup_set dups = { NULL, 0, 0 };
        for (size_t i = 0; i < n; i++) {
                struct policy_media_allow *a = &allow[i];
                size_t o = path_push_index(ps, i);
                json_object *e = json_object_array_get_idx(arr, i);
                if (expect_object(ps, e, known)) {
                        bool ok = parse_device(ps, e, &a->vendor, &a->product, &a->serial,
                                               &a->access);
                        get_string(ps, e, "registration_no", false, 64, NULL, NULL,
                                   &a->registration_no);
                        get_string(ps, e, "holder", false, 128, NULL, NULL, &a->holder);
                        parse_valid_until_field(ps, e, false, &a->valid_until, &a->valid_until_text);
                        if (ok) {
                                _cleanup_free_ char *k = NULL;
                                device_key(a->vendor, a->product, a->serial, NULL, &k, ps);
                                if (k)
                                        dup_add(ps, &dups, k);
                        }
                }
                path_pop(ps, o);
        }
        dup_report(ps, &dups, "registered medium (vendor, product and serial)");
        dup_set_clear(&dups);
}

static void lowercase(char *s)
{
        for (; *s; s++)
                *s = (char)tolower((unsigned char)*s);
}

/* Reads the terminals of one exception; every (device, terminal) pair goes into pairs so
 * that two exceptions for the same device on the same terminal are caught. */
static void parse_terminals(struct parser *ps, json_object *e, struct policy_media_exception *x,
                            struct dup_set *pairs)
{
        json_object *arr = get_array(ps, e, "terminals", MAX_TERMINALS, true);
        if (!arr)
                return;
        size_t n = json_object_array_length(arr);
        size_t o = path_push_key(ps, "terminals");
        if (n == 0)
                perr(ps, "must name at least one terminal");
        x->terminals = calloc(n ? n : 1, sizeof *x->terminals);
        if (!x->terminals)
                ps->oom = true;
        struct dup_set names = { NULL, 0, 0 };
        for (size_t i = 0; i < n && x->terminals; i++) {
                size_t oi = path_push_index(ps, i);
                const char *s = check_string(ps, json_object_array_get_idx(arr, i), 253,
                                             is_hostname, "a host name");
                char *name = s ? strdup(s) : NULL;
                if (name) {
                        x->terminals[x->n_terminals++] = name;
                        /* host names compare without regard to case */
                        _cleanup_free_ char *key = strdup(name), *pair = NULL;
                        if (key) {
                                lowercase(key);
                                /* a terminal named twice in one exception is reported once */
                                bool repeated = false;
                                for (size_t k = 0; k < names.n && !repeated; k++)
                                        repeated = STREQ(names.items[k].key, key);
                                dup_add(ps, &names, key);
                                if (x->serial && !repeated)
                                        device_key(x->vendor, x->product, x->serial, key, &pair, ps);
                                if (pair)
                                        dup_add(ps, pairs, pair);
                        } else
                                ps->oom = true;
                } else if (s)
                        ps->oom = true;
                path_pop(ps, oi);
        }
        dup_report(ps, &names, "terminal");
        dup_set_clear(&names);
        path_pop(ps, o);
}

static void parse_exceptions(struct parser *ps, json_object *arr, struct policy_removable_media *m)
{
        static const char *const known[] = { "vendor", "product", "serial", "access", "terminals",
                                             "reason", "approver", "valid_until", NULL };
        size_t n = json_object_array_length(arr);
        struct policy_media_exception *exc = calloc(n ? n : 1, sizeof *exc);
        if (!exc) {
                ps->oom = true;
                return;
        }
        m->exceptions = exc;
        m->n_exceptions = n;
        struct dup_set pairs = { NULL, 0, 0 };
        for (size_t i = 0; i < n; i++) {
                struct policy_media_exception *x = &exc[i];
                size_t o = path_push_index(ps, i);
                json_object *e = json_object_array_get_idx(arr, i);
                if (expect_object(ps, e, known)) {
                        if (!parse_device(ps, e, &x->vendor, &x->product, &x->serial, &x->access)) {
                                free(x->serial);
                                x->serial = NULL; /* no pair keys for a half-parsed device */
                        }
                        parse_terminals(ps, e, x, &pairs);
                        get_string(ps, e, "reason", true, 512, NULL, NULL, &x->reason);
                        get_string(ps, e, "approver", true, 128, NULL, NULL, &x->approver);
                        parse_valid_until_field(ps, e, true, &x->valid_until, &x->valid_until_text);
                }
                path_pop(ps, o);
        }
        dup_report(ps, &pairs, "exception (same device on the same terminal)");
        dup_set_clear(&pairs);
}

static void parse_classes(struct parser *ps, json_object *arr, struct policy_removable_media *m)
{
        size_t n = json_object_array_length(arr);
        uint8_t *classes = calloc(n ? n : 1, 1);
        if (!classes) {
                ps->oom = true;
                return;
        }
        free(m->classes);
        m->classes = classes;
        m->n_classes = 0;
        size_t o = path_push_key(ps, "classes");
        bool seen[256] = { false };
        for (size_t i = 0; i < n; i++) {
                size_t oi = path_push_index(ps, i);
                int64_t c;
                if (check_int(ps, json_object_array_get_idx(arr, i), "", 0, 255, &c)) {
                        if (seen[c])
                                perr(ps, "duplicate class %" PRId64, c);
                        seen[c] = true;
                        classes[m->n_classes++] = (uint8_t)c;
                }
                path_pop(ps, oi);
        }
        path_pop(ps, o);
}

static void parse_removable_media(struct parser *ps, json_object *v, struct policy_removable_media *m)
{
        static const char *const known[] = { "mode", "classes", "allow", "exceptions", NULL };
        if (!expect_object(ps, v, known))
                return;
        int mode;
        if (get_name(ps, v, "mode", policy_media_mode_names, false, &mode))
                m->mode = (enum policy_media_mode)mode;
        json_object *arr;
        if ((arr = get_array(ps, v, "classes", MAX_CLASSES, false)))
                parse_classes(ps, arr, m);
        if ((arr = get_array(ps, v, "allow", MAX_ALLOW, false))) {
                size_t o = path_push_key(ps, "allow");
                parse_allow(ps, arr, m);
                path_pop(ps, o);
        }
        if ((arr = get_array(ps, v, "exceptions", MAX_EXCEPTIONS, false))) {
                size_t o = path_push_key(ps, "exceptions");
                parse_exceptions(ps, arr, m);
                path_pop(ps, o);
        }
}

static void parse_screen_lock(struct parser *ps, json_object *v, struct policy_screen_lock *s)
{
        static const char *const known[] = { "idle_lock_seconds", "warn_before_seconds",
                                             "lock_grace_seconds", "lock_ignored_action", NULL };
        if (!expect_object(ps, v, known))
                return;
        get_u32(ps, v, "idle_lock_seconds", 30, 86400, &s->idle_lock_seconds);
        get_u32(ps, v, "warn_before_seconds", 0, 3600, &s->warn_before_seconds);
        get_u32(ps, v, "lock_grace_seconds", 1, 600, &s->lock_grace_seconds);
        int a;
        if (get_name(ps, v, "lock_ignored_action", policy_lock_ignored_names, false, &a))
                s->lock_ignored_action = (enum policy_lock_ignored_action)a;
}

static void parse_hours_window(struct parser *ps, json_object *w, struct policy_hours_window *out)
{
        static const char *const known[] = { "days", "start", "end", NULL };
        if (!expect_object(ps, w, known))
                return;
        json_object *days = get_array(ps, w, "days", 7, true);
        if (days) {
                size_t o = path_push_key(ps, "days");
                if (json_object_array_length(days) == 0)
                        perr(ps, "must name at least one day");
                for (size_t i = 0; i < json_object_array_length(days); i++) {
                        size_t oi = path_push_index(ps, i);
                        int d = check_name(ps, json_object_array_get_idx(days, i), policy_day_names);
                        if (d >= 0) {
                                if (out->days & (1u << d))
                                        perr(ps, "duplicate day %s", policy_day_names[d]);
                                out->days |= (uint8_t)(1u << d);
                        }
                        path_pop(ps, oi);
                }
                path_pop(ps, o);
        }
        _cleanup_free_ char *start = NULL, *end = NULL;
        bool ok = get_string(ps, w, "start", true, 5, is_clock, "a time \"HH:MM\" (00:00-24:00)", &start);
        ok &= get_string(ps, w, "end", true, 5, is_clock, "a time \"HH:MM\" (00:00-24:00)", &end);
        if (!ok)
                return;
        parse_clock(start, &out->start_minute);
        parse_clock(end, &out->end_minute);
        if (out->start_minute >= out->end_minute) {
                size_t o = path_push_key(ps, "end");
                perr(ps, "must be later than start (%s); split a window that spans midnight "
                         "into two",
                     start);
                path_pop(ps, o);
        }
}

static bool is_session_class(const char *s)
{
        static const char *const classes[] = { "greeter",  "lock-screen",      "background",
                                               "background-light", "manager", "manager-early",
                                               NULL };
        return name_in(s, classes);
}

static void parse_string_list(struct parser *ps, json_object *obj, const char *key, size_t max,
                              size_t max_len, string_check_fn check, const char *desc,
                              const char *what, char ***list, size_t *n_list)
{
        json_object *arr = get_array(ps, obj, key, max, false);
        if (!arr)
                return;
        size_t n = json_object_array_length(arr);
        char **v = calloc(n ? n : 1, sizeof *v);
        if (!v) {
                ps->oom = true;
                return;
        }
        policy_strv_free(*list, *n_list);
        *list = v;
        *n_list = 0;
        size_t o = path_push_key(ps, key);
        struct dup_set dups = { NULL, 0, 0 };
        for (size_t i = 0; i < n; i++) {
                size_t oi = path_push_index(ps, i);
                const char *s = check_string(ps, json_object_array_get_idx(arr, i), max_len, check,
                                             desc);
                if (s) {
                        if (!(v[*n_list] = strdup(s)))
                                ps->oom = true;
                        else {
                                (*n_list)++;
                                dup_add(ps, &dups, s);
                        }
                }
                path_pop(ps, oi);
        }
        dup_report(ps, &dups, what);
        dup_set_clear(&dups);
        path_pop(ps, o);
}

static void parse_logoff(struct parser *ps, json_object *v, struct policy_logoff *l)
{
        static const char *const known[] = { "idle_logoff_seconds", "warn_before_seconds", "hours",
                                             "exempt_classes", "exempt_users", NULL };
        if (!expect_object(ps, v, known))
                return;
        get_u32(ps, v, "idle_logoff_seconds", 60, 7 * 86400, &l->idle_logoff_seconds);
        get_u32(ps, v, "warn_before_seconds", 0, 3600, &l->warn_before_seconds);

        json_object *hours = get_array(ps, v, "hours", MAX_HOURS, false);
        if (hours) {
                size_t n = json_object_array_length(hours);
                struct policy_hours_window *w = calloc(n ? n : 1, sizeof *w);
                if (!w)
                        ps->oom = true;
                else {
                        free(l->hours);
                        l->hours = w;
                        l->n_hours = n;
                        size_t o = path_push_key(ps, "hours");
                        for (size_t i = 0; i < n; i++) {
                                size_t oi = path_push_index(ps, i);
                                parse_hours_window(ps, json_object_array_get_idx(hours, i), &w[i]);
                                path_pop(ps, oi);
                        }
                        path_pop(ps, o);
                }
        }
        /* exempting the class "user" would switch lock and logoff off for every person */
        parse_string_list(ps, v, "exempt_classes", 16, 32, is_session_class,
                          "a logind session class other than user (greeter, lock-screen, "
                          "background, background-light, manager, manager-early)",
                          "session class", &l->exempt_classes, &l->n_exempt_classes);
        parse_string_list(ps, v, "exempt_users", MAX_EXEMPT, 32, is_user_name, "a user name",
                          "user", &l->exempt_users, &l->n_exempt_users);
}

static void parse_content(struct parser *ps, json_object *v, struct policy_marked_files *m)
{
        static const char *const known[] = { "my_number", "my_number_min_matches",
                                             "scan_max_bytes", "patterns", NULL };
        static const char *const pattern_known[] = { "kind", "min_matches", NULL };
        if (!expect_object(ps, v, known))
                return;
        get_bool(ps, v, "my_number", &m->my_number);
        get_u32(ps, v, "my_number_min_matches", 1, 100000, &m->my_number_min_matches);
        get_u64(ps, v, "scan_max_bytes", 4096, 64 * 1024 * 1024, &m->scan_max_bytes);
        json_object *arr = get_array(ps, v, "patterns", MAX_PATTERNS, false);
        if (!arr)
                return;
        size_t n = json_object_array_length(arr);
        struct policy_content_pattern *pats = calloc(n ? n : 1, sizeof *pats);
        if (!pats) {
                ps->oom = true;
                return;
        }
        free(m->patterns);
        m->patterns = pats;
        m->n_patterns = 0;
        size_t o = path_push_key(ps, "patterns");
        unsigned seen = 0;
        for (size_t i = 0; i < n; i++) {
                size_t oi = path_push_index(ps, i);
                json_object *e = json_object_array_get_idx(arr, i);
                int kind;
                if (expect_object(ps, e, pattern_known) &&
                    get_name(ps, e, "kind", policy_content_kind_names, true, &kind)) {
                        struct policy_content_pattern *pat = &pats[m->n_patterns++];
                        pat->kind = (enum policy_content_kind)kind;
                        pat->min_matches = 1;
                        get_u32(ps, e, "min_matches", 1, 100000, &pat->min_matches);
                        if (seen & (1u << kind))
                                perr(ps, "duplicate pattern kind %s", policy_content_kind_names[kind]);
                        seen |= 1u << kind;
                }
                path_pop(ps, oi);
        }
        path_pop(ps, o);
}

static void parse_marked_files(struct parser *ps, json_object *v, struct policy_marked_files *m)
{
        static const char *const known[] = { "xattr", "paths", "content", NULL };
        if (!expect_object(ps, v, known))
                return;
        get_string(ps, v, "xattr", false, 255, is_xattr_name,
                   "an extended attribute name in the user. or trusted. namespace", &m->xattr);
        parse_string_list(ps, v, "paths", MAX_PATHS, MAX_PATH_LEN, is_absolute_path,
                          "an absolute path or glob", "path", &m->paths, &m->n_paths);
        json_object *content = member(ps, v, "content", false);
        if (content) {
                size_t o = path_push_key(ps, "content");
                parse_content(ps, content, m);
                path_pop(ps, o);
        }
}

static bool is_destination(const char *s)
{
        return s[0] == '/' || name_in(s, policy_destination_kind_names);
}

static void parse_bulk_transfer(struct parser *ps, json_object *v, struct policy_bulk_transfer *t)
{
        static const char *const known[] = { "window_seconds", "max_files", "max_bytes",
                                             "destinations", "action", "cooldown_seconds", NULL };
        if (!expect_object(ps, v, known))
                return;
        get_u32(ps, v, "window_seconds", 1, 86400, &t->window_seconds);
        get_u32(ps, v, "max_files", 1, 100000, &t->max_files);
        get_u64(ps, v, "max_bytes", 1, INT64_C(1) << 40, &t->max_bytes);
        int a;
        if (get_name(ps, v, "action", policy_bulk_action_names, false, &a))
                t->action = (enum policy_bulk_action)a;
        get_u32(ps, v, "cooldown_seconds", 1, 86400, &t->cooldown_seconds);

        char **names = NULL;
        size_t n = 0;
        parse_string_list(ps, v, "destinations", MAX_DESTINATIONS, MAX_PATH_LEN, is_destination,
                          "removable, network_share, downloads or an absolute directory",
                          "destination", &names, &n);
        if (!names)
                return;
        struct policy_destination *d = calloc(n ? n : 1, sizeof *d);
        if (!d) {
                policy_strv_free(names, n);
                ps->oom = true;
                return;
        }
        for (size_t i = 0; i < n; i++) {
                if (names[i][0] == '/') {
                        d[i].kind = POLICY_DEST_PATH;
                        d[i].path = TAKE_PTR(names[i]);
                } else
                        for (int k = 0; policy_destination_kind_names[k]; k++)
                                if (STREQ(names[i], policy_destination_kind_names[k]))
                                        d[i].kind = (enum policy_destination_kind)k;
        }
        policy_strv_free(names, n);
        for (size_t i = 0; i < t->n_destinations; i++)
                free(t->destinations[i].path);
        free(t->destinations);
        t->destinations = d;
        t->n_destinations = n;
}

static void parse_reporting(struct parser *ps, json_object *v, struct policy_reporting *r)
{
        static const char *const known[] = { "heartbeat_seconds", "batch_max_events", NULL };
        if (!expect_object(ps, v, known))
                return;
        get_u32(ps, v, "heartbeat_seconds", 10, 86400, &r->heartbeat_seconds);
        get_u32(ps, v, "batch_max_events", 1, 10000, &r->batch_max_events);
}

/* Rules that tie two fields together; checked once both were read without error. */
static void check_relations(struct parser *ps, const struct policy *p)
{
        if (p->screen_lock.warn_before_seconds >= p->screen_lock.idle_lock_seconds) {
                snprintf(ps->path, sizeof ps->path, "screen_lock.warn_before_seconds");
                perr(ps, "must be shorter than screen_lock.idle_lock_seconds (%u), got %u",
                     p->screen_lock.idle_lock_seconds, p->screen_lock.warn_before_seconds);
        }
        if (p->logoff.idle_logoff_seconds < p->screen_lock.idle_lock_seconds) {
                snprintf(ps->path, sizeof ps->path, "logoff.idle_logoff_seconds");
                perr(ps, "must not be shorter than screen_lock.idle_lock_seconds (%u), got %u",
                     p->screen_lock.idle_lock_seconds, p->logoff.idle_logoff_seconds);
        }
        if (p->logoff.warn_before_seconds >= p->logoff.idle_logoff_seconds) {
                snprintf(ps->path, sizeof ps->path, "logoff.warn_before_seconds");
                perr(ps, "must be shorter than logoff.idle_logoff_seconds (%u), got %u",
                     p->logoff.idle_logoff_seconds, p->logoff.warn_before_seconds);
        }
        ps->path[0] = '\0';
        ps->path_len = 0;
}

/* The member key of root, with the path moved onto it (restore with path_pop(*ret_old)). */
static json_object *section_enter(struct parser *ps, json_object *root, const char *key,
                                  size_t *ret_old)
{
        json_object *v = member(ps, root, key, false);
        if (v)
                *ret_old = path_push_key(ps, key);
        return v;
}

int policy_from_json(json_object *o, struct policy **ret_policy, struct policy_errors *errs)
{
        static const char *const known[] = { "version",      "name",         "department",
                                             "description",  "removable_media", "screen_lock",
                                             "logoff",       "marked_files", "bulk_transfer",
                                             "reporting",    NULL };
        struct parser ps = { .errs = errs };
        _cleanup_policy_ struct policy *p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        int r = policy_fill_defaults(p);
        if (r < 0)
                return r;

        if (!expect_object(&ps, o, known))
                return -EINVAL;
        json_object *version = member(&ps, o, "version", true);
        if (version) {
                size_t at = path_push_key(&ps, "version");
                check_int(&ps, version, "", 1, MAX_VERSION, &p->version);
                path_pop(&ps, at);
        }
        get_string(&ps, o, "name", true, 64, is_identifier,
                   "a short name of letters, digits, '.', '_' and '-'", &p->name);
        get_string(&ps, o, "department", false, 128, NULL, NULL, &p->department);
        get_string(&ps, o, "description", false, 1024, NULL, NULL, &p->description);

        json_object *v;
        size_t old = 0;
        if ((v = section_enter(&ps, o, "removable_media", &old))) {
                parse_removable_media(&ps, v, &p->removable_media);
                path_pop(&ps, old);
        }
        if ((v = section_enter(&ps, o, "screen_lock", &old))) {
                parse_screen_lock(&ps, v, &p->screen_lock);
                path_pop(&ps, old);
        }
        if ((v = section_enter(&ps, o, "logoff", &old))) {
                parse_logoff(&ps, v, &p->logoff);
                path_pop(&ps, old);
        }
        if ((v = section_enter(&ps, o, "marked_files", &old))) {
                parse_marked_files(&ps, v, &p->marked_files);
                path_pop(&ps, old);
        }
        if ((v = section_enter(&ps, o, "bulk_transfer", &old))) {
                parse_bulk_transfer(&ps, v, &p->bulk_transfer);
                path_pop(&ps, old);
        }
        if ((v = section_enter(&ps, o, "reporting", &old))) {
                parse_reporting(&ps, v, &p->reporting);
                path_pop(&ps, old);
        }
        if (ps.n_errors == 0)
                check_relations(&ps, p);

        if (ps.oom)
                return -ENOMEM;
        if (ps.n_errors > 0)
                return -EINVAL;
        r = policy_update_hash(p);
        if (r < 0)
                return r;
        *ret_policy = TAKE_PTR(p);
        return 0;
}

/* ---- documents ------------------------------------------------------------------------------ */

static void line_column(const char *data, size_t offset, size_t *ret_line, size_t *ret_col)
{
        size_t line = 1, col = 1;
        for (size_t i = 0; i < offset; i++) {
                if (data[i] == '\n') {
                        line++;
                        col = 1;
                } else if (((unsigned char)data[i] & 0xc0) != 0x80)
                        col++; /* columns count characters, not bytes */
        }
        *ret_line = line;
        *ret_col = col;
}

static bool is_json_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Checks what a policy document must be before it is JSON at all, and parses it. */
static int document_parse(const char *data, size_t len, json_object **ret, struct policy_errors *errs)
{
        if (len > POLICY_FILE_MAX_SIZE)
                return policy_errors_add(errs, "$",
                                         "the file is %zu bytes, larger than the 1 MiB a policy "
                                         "may be; is this the right file?",
                                         len) ?: -EFBIG;
        /* a byte order mark, as Windows editors write, is not part of the JSON */
        if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
                data += 3;
                len -= 3;
        }
        size_t i = 0;
        while (i < len && is_json_space(data[i]))
                i++;
        if (i == len)
                return policy_errors_add(errs, "$", "the file is empty; a policy is a JSON object") ?: -EINVAL;

        const char *nul = memchr(data, '\0', len);
        size_t bad, line, col;
        if (nul) {
                line_column(data, (size_t)(nul - data), &line, &col);
                return policy_errors_add(errs, "$",
                                         "not a text file: a NUL byte at line %zu, column %zu", line,
                                         col) ?: -EINVAL;
        }
        if (!utf8_valid(data, len, &bad)) {
                line_column(data, bad, &line, &col);
                return policy_errors_add(errs, "$",
                                         "not UTF-8 text: byte 0x%02x at line %zu, column %zu "
                                         "(save the file as UTF-8)",
                                         (unsigned char)data[bad], line, col) ?: -EINVAL;
        }

        json_object *o = NULL;
        char why[128];
        size_t at = 0;
        int r = json_parse_strict_at(data, len, &o, why, sizeof why, &at);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                line_column(data, MIN(at, len), &line, &col);
                return policy_errors_add(errs, "$", "%s at line %zu, column %zu%s", why, line, col,
                                         at >= len ? " (the text ends early: an unclosed "
                                                     "object, array or string?)"
                                                   : "") ?: -EINVAL;
        }
        *ret = o;
        return 0;
}

int policy_parse(const char *data, size_t len, struct policy **ret_policy,
                 struct policy_errors *errs)
{
        _cleanup_json_ json_object *o = NULL;
        int r = document_parse(data, len, &o, errs);
        if (r < 0)
                return r;
        return policy_from_json(o, ret_policy, errs);
}

int policy_read_document(const char *path, char **ret_data, size_t *ret_len,
                         struct policy_errors *errs)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r = read_file_bounded(path, POLICY_FILE_MAX_SIZE, &data, &len);
        if (r == -EFBIG)
                return policy_errors_add(errs, "$",
                                         "the file is larger than the 1 MiB a policy may be; is "
                                         "this the right file?") ?: r;
        if (r < 0)
                return policy_errors_add(errs, "$", "cannot read %s: %s", path, strerror(-r)) ?: r;
        *ret_data = TAKE_PTR(data);
        *ret_len = len;
        return 0;
}

int policy_load_file(const char *path, struct policy **ret_policy, struct policy_errors *errs)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r = policy_read_document(path, &data, &len, errs);
        if (r < 0)
                return r;
        return policy_parse(data, len, ret_policy, errs);
}

int policy_document_parse(const char *data, size_t len, json_object **ret,
                          struct policy_errors *errs)
{
        return document_parse(data, len, ret, errs);
}

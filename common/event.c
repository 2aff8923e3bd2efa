/* event.c — see event.h. */
#include "common/event.h"

#include <inttypes.h>
#include <time.h>

#include "common/canon_json.h"
#include "common/util.h"

static const char *const severity_names[_EVENT_SEVERITY_MAX] = {
        [EVENT_SEVERITY_INFO] = "info",
        [EVENT_SEVERITY_NOTICE] = "notice",
        [EVENT_SEVERITY_WARNING] = "warning",
        [EVENT_SEVERITY_ALERT] = "alert",
};

const char *event_severity_to_string(enum event_severity s)
{
        return (unsigned)s < _EVENT_SEVERITY_MAX ? severity_names[s] : "invalid";
}

int event_severity_from_string(const char *s)
{
        for (int i = 0; i < _EVENT_SEVERITY_MAX; i++)
                if (s && STREQ(s, severity_names[i]))
                        return i;
        return -EINVAL;
}

void event_format_ts(uint64_t usec, char buf[static 32])
{
        time_t secs = (time_t)(usec / 1000000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf + n, 32 - n, ".%03uZ", (unsigned)((usec / 1000) % 1000));
}

/* The hash of ev and, when asked for, ev's canonical text without "hash". */
static int event_hash_canonical(json_object *ev, char out[static SHA256_HEX_LEN + 1],
                                char **ret_canon, size_t *ret_len)
{
        json_object *prev = NULL;
        if (!json_object_object_get_ex(ev, "prev_hash", &prev) ||
            !json_object_is_type(prev, json_type_string))
                return -EINVAL;

        _cleanup_free_ char *canon = NULL;
        size_t len;
        int r = json_canonical(ev, "hash", &canon, &len);
        if (r < 0)
                return r;

        size_t plen = (size_t)json_object_get_string_len(prev);
        _cleanup_free_ char *buf = malloc(plen + len);
        if (!buf)
                return -ENOMEM;
        memcpy(buf, json_object_get_string(prev), plen);
        memcpy(buf + plen, canon, len);
        sha256_hex(buf, plen + len, out);
        if (ret_canon) {
                *ret_canon = TAKE_PTR(canon);
                *ret_len = len;
        }
        return 0;
}

int event_compute_hash(json_object *ev, char out[static SHA256_HEX_LEN + 1])
{
        return event_hash_canonical(ev, out, NULL, NULL);
}

/* The canonical text of a built event from its text without "hash": the member goes right
 * before the top-level "prev_hash", which sorts after "details" and is the last
 * `,"prev_hash":"` in the text (only strings follow it, and their quotes are escaped). */
static int canonical_add_hash(const char *canon, size_t len, const char *hash, char **ret,
                              size_t *ret_len)
{
        static const char key[] = ",\"prev_hash\":\"";
        const size_t klen = sizeof key - 1;
        const char *at = NULL;
        for (const char *p = canon; (p = memmem(p, len - (size_t)(p - canon), key, klen)); p++)
                at = p;
        if (!at)
                return -EINVAL;
        size_t head = (size_t)(at - canon) + 1, member = 8 + SHA256_HEX_LEN + 2;
        char *out = malloc(len + member + 1);
        if (!out)
                return -ENOMEM;
        memcpy(out, canon, head);
        snprintf(out + head, member + 1, "\"hash\":\"%s\",", hash);
        memcpy(out + head + member, canon + head, len - head);
        out[len + member] = '\0';
        *ret = out;
        *ret_len = len + member;
        return 0;
}

int event_build_canonical(uint64_t seq, uint64_t ts_usec, const char *type,
                          enum event_severity severity, const char *user, json_object *details,
                          const char *prev_hash, json_object **ret, char **ret_canon,
                          size_t *ret_canon_len)
{
        char ts[32];
        event_format_ts(ts_usec, ts);

        json_object *ev = json_object_new_object();
        if (!ev) {
                json_object_put(details);
                return -ENOMEM;
        }
        json_object_object_add(ev, "seq", json_object_new_int64((int64_t)seq));
        json_object_object_add(ev, "ts", json_object_new_string(ts));
        json_object_object_add(ev, "type", json_object_new_string(type));
        json_object_object_add(ev, "severity",
                               json_object_new_string(event_severity_to_string(severity)));
        json_object_object_add(ev, "user", json_object_new_string(user ? user : ""));
        json_object_object_add(ev, "details", details ? details : json_object_new_object());
        json_object_object_add(ev, "prev_hash", json_object_new_string(prev_hash));

        char hash[SHA256_HEX_LEN + 1];
        _cleanup_free_ char *canon = NULL;
        size_t len = 0;
        int r = event_hash_canonical(ev, hash, ret_canon ? &canon : NULL, &len);
        if (r == 0 && ret_canon)
                r = canonical_add_hash(canon, len, hash, ret_canon, ret_canon_len);
        if (r < 0) {
                json_object_put(ev);
                return r;
        }
        json_object_object_add(ev, "hash", json_object_new_string(hash));
        *ret = ev;
        return 0;
}

int event_build(uint64_t seq, uint64_t ts_usec, const char *type, enum event_severity severity,
                const char *user, json_object *details, const char *prev_hash,
                json_object **ret)
{
        return event_build_canonical(seq, ts_usec, type, severity, user, details, prev_hash, ret,
                                     NULL, NULL);
}

static bool valid_type_name(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > EVENT_TYPE_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
                      s[i] == '.' || s[i] == '_'))
                        return false;
        return strchr(s, '.') != NULL;
}

static bool valid_ts(const char *s)
{
        /* YYYY-MM-DDTHH:MM:SS.mmmZ */
        static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
        if (strlen(s) != sizeof shape - 1)
                return false;
        for (size_t i = 0; i < sizeof shape - 1; i++)
                if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
                        return false;
        return true;
}

int event_validate(json_object *ev, char *err, size_t errlen)
{
        static const struct {
                const char *key;
                json_type type;
        } fields[] = {
                { "seq", json_type_int },         { "ts", json_type_string },
                { "type", json_type_string },     { "severity", json_type_string },
                { "user", json_type_string },     { "details", json_type_object },
                { "prev_hash", json_type_string }, { "hash", json_type_string },
        };

        if (!json_object_is_type(ev, json_type_object)) {
                snprintf(err, errlen, "event: expected an object");
                return -EINVAL;
        }
        json_object_object_foreach(ev, key, val)
        {
                (void)val;
                bool known = false;
                for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                        known = known || STREQ(key, fields[i].key);
                if (!known) {
                        snprintf(err, errlen, "%s: unknown member", key);
                        return -EINVAL;
                }
        }
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                json_object *v;
                if (!json_object_object_get_ex(ev, fields[i].key, &v)) {
                        snprintf(err, errlen, "%s: missing", fields[i].key);
                        return -EINVAL;
                }
                if (!json_object_is_type(v, fields[i].type)) {
                        snprintf(err, errlen, "%s: expected %s", fields[i].key,
                                 json_type_to_name(fields[i].type));
                        return -EINVAL;
                }
        }

        json_object *v;
        json_object_object_get_ex(ev, "seq", &v);
        if (json_object_get_int64(v) < 1) {
                snprintf(err, errlen, "seq: must be a positive integer");
                return -EINVAL;
        }
        json_object_object_get_ex(ev, "ts", &v);
        if (!valid_ts(json_object_get_string(v))) {
                snprintf(err, errlen, "ts: expected RFC 3339 UTC with milliseconds");
                return -EINVAL;
        }
        json_object_object_get_ex(ev, "type", &v);
        if (!valid_type_name(json_object_get_string(v))) {
                snprintf(err, errlen, "type: expected a dotted lower-case name");
                return -EINVAL;
        }
        json_object_object_get_ex(ev, "severity", &v);
        if (event_severity_from_string(json_object_get_string(v)) < 0) {
                snprintf(err, errlen, "severity: expected info, notice, warning or alert");
                return -EINVAL;
        }
        json_object_object_get_ex(ev, "user", &v);
        if (json_object_get_string_len(v) > EVENT_USER_MAX) {
                snprintf(err, errlen, "user: longer than %d bytes", EVENT_USER_MAX);
                return -EINVAL;
        }
        const char *hashes[] = { "prev_hash", "hash" };
        for (size_t i = 0; i < ELEMENTSOF(hashes); i++) {
                json_object_object_get_ex(ev, hashes[i], &v);
                if (!is_lower_hex(json_object_get_string(v), SHA256_HEX_LEN)) {
                        snprintf(err, errlen, "%s: expected 64 lower-case hex digits",
                                 hashes[i]);
                        return -EINVAL;
                }
        }

        char want[SHA256_HEX_LEN + 1];
        int r = event_compute_hash(ev, want);
        if (r < 0) {
                snprintf(err, errlen, "event: cannot be hashed (%s)",
                         r == -EDOM ? "contains a non-integer number" : strerror(-r));
                return -EINVAL;
        }
        if (STRNEQ(want, json_object_get_string(v))) {
                snprintf(err, errlen, "hash: does not match the event's content");
                return -EBADMSG;
        }
        return 0;
}

const char *chain_verdict_to_string(enum chain_verdict v)
{
        switch (v) {
        case CHAIN_OK: return "ok";
        case CHAIN_DUPLICATE: return "duplicate";
        case CHAIN_GAP: return "gap";
        case CHAIN_REORDER: return "reorder";
        case CHAIN_PREV_MISMATCH: return "prev_hash_mismatch";
        }
        return "invalid";
}

enum chain_verdict event_chain_check(uint64_t last_seq, const char *last_hash, json_object *ev)
{
        json_object *v;
        json_object_object_get_ex(ev, "seq", &v);
        uint64_t seq = (uint64_t)json_object_get_int64(v);
        if (seq == last_seq + 1) {
                json_object_object_get_ex(ev, "prev_hash", &v);
                return STREQ(json_object_get_string(v), last_hash) ? CHAIN_OK
                                                                   : CHAIN_PREV_MISMATCH;
        }
        if (seq > last_seq + 1)
                return CHAIN_GAP;
        /* seq <= last_seq: the caller decides between a re-send (same hash stored for that
         * seq) and a reorder; on its own the chain can only say it is not next. */
        return CHAIN_REORDER;
}

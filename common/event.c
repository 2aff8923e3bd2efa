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

/* The hash of ev. It covers prev_hash followed by ev's canonical text without "hash", so
 * that text is written once, right after prev_hash, and hashed where it lies; when asked
 * for, the buffer is handed back: *ret_text, with the canonical text at *ret_text +
 * *ret_skip, *ret_len bytes long. */
static int event_hash_canonical(json_object *ev, char out[static SHA256_HEX_LEN + 1],
                                char **ret_text, size_t *ret_skip, size_t *ret_len)
{
        json_object *prev = NULL;
        if (!json_object_object_get_ex(ev, "prev_hash", &prev) ||
            !json_object_is_type(prev, json_type_string))
                return -EINVAL;

        size_t plen = (size_t)json_object_get_string_len(prev);
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = json_canonical_prefixed(ev, "hash", json_object_get_string(prev), plen, &buf,
                                        &len);
        if (r < 0)
                return r;
        sha256_hex(buf, len, out);
        if (ret_text) {
                *ret_text = TAKE_PTR(buf);
                *ret_skip = plen;
                *ret_len = len - plen;
        }
        return 0;
}

int event_compute_hash(json_object *ev, char out[static SHA256_HEX_LEN + 1])
{
        return event_hash_canonical(ev, out, NULL, NULL, NULL);
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
        /* searched from the end: only the short top-level members after it are walked */
        for (size_t i = len >= klen ? len - klen + 1 : 0; i-- > 0;)
                if (canon[i] == ',' && memcmp(canon + i, key, klen) == 0) {
                        at = canon + i;
                        break;
                }
        if (!at)
                return -EINVAL;
        size_t head = (size_t)(at - canon) + 1, member = 8 + SHA256_HEX_LEN + 2;
        char *out = malloc(len + member + 1);
        if (!out)
                return -ENOMEM;
        memcpy(out, canon, head);
        memcpy(out + head, "\"hash\":\"", 8);
        memcpy(out + head + 8, hash, SHA256_HEX_LEN);
        memcpy(out + head + 8 + SHA256_HEX_LEN, "\",", 2);
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
        _cleanup_free_ char *text = NULL;
        size_t skip = 0, len = 0;
        int r = event_hash_canonical(ev, hash, ret_canon ? &text : NULL, &skip, &len);
        if (r == 0 && ret_canon)
                r = canonical_add_hash(text + skip, len, hash, ret_canon, ret_canon_len);
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

int event_validate_canonical(json_object *ev, char *err, size_t errlen,
                             char ret_hash[static SHA256_HEX_LEN + 1], char **ret_canon,
                             size_t *ret_canon_len)
{
        enum { SEQ, TS, TYPE, SEVERITY, USER, DETAILS, PREV_HASH, HASH, _FIELDS };
        static const struct {
                const char *key;
                json_type type;
        } fields[_FIELDS] = {
                [SEQ] = { "seq", json_type_int },
                [TS] = { "ts", json_type_string },
                [TYPE] = { "type", json_type_string },
                [SEVERITY] = { "severity", json_type_string },
                [USER] = { "user", json_type_string },
                [DETAILS] = { "details", json_type_object },
                [PREV_HASH] = { "prev_hash", json_type_string },
                [HASH] = { "hash", json_type_string },
        };

        if (!json_object_is_type(ev, json_type_object)) {
                snprintf(err, errlen, "event: expected an object");
                return -EINVAL;
        }
        /* One lookup per field; the members are walked only when there are more of them
         * than known fields found, to name the unknown one. */
        json_object *v[_FIELDS];
        int found = 0;
        for (size_t i = 0; i < _FIELDS; i++)
                if (json_object_object_get_ex(ev, fields[i].key, &v[i]))
                        found++;
                else
                        v[i] = NULL;
        if (json_object_object_length(ev) != found) {
                json_object_object_foreach(ev, key, val)
                {
                        (void)val;
                        bool known = false;
                        for (size_t i = 0; i < _FIELDS; i++)
                                known = known || STREQ(key, fields[i].key);
                        if (!known) {
                                snprintf(err, errlen, "%s: unknown member", key);
                                return -EINVAL;
                        }
                }
        }
        for (size_t i = 0; i < _FIELDS; i++) {
                if (!v[i]) {
                        snprintf(err, errlen, "%s: missing", fields[i].key);
                        return -EINVAL;
                }
                if (!json_object_is_type(v[i], fields[i].type)) {
                        snprintf(err, errlen, "%s: expected %s", fields[i].key,
                                 json_type_to_name(fields[i].type));
                        return -EINVAL;
                }
        }

        if (json_object_get_int64(v[SEQ]) < 1) {
                snprintf(err, errlen, "seq: must be a positive integer");
                return -EINVAL;
        }
        if (!valid_ts(json_object_get_string(v[TS]))) {
                snprintf(err, errlen, "ts: expected RFC 3339 UTC with milliseconds");
                return -EINVAL;
        }
        if (!valid_type_name(json_object_get_string(v[TYPE]))) {
                snprintf(err, errlen, "type: expected a dotted lower-case name");
                return -EINVAL;
        }
        if (event_severity_from_string(json_object_get_string(v[SEVERITY])) < 0) {
                snprintf(err, errlen, "severity: expected info, notice, warning or alert");
                return -EINVAL;
        }
        if (json_object_get_string_len(v[USER]) > EVENT_USER_MAX) {
                snprintf(err, errlen, "user: longer than %d bytes", EVENT_USER_MAX);
                return -EINVAL;
        }
        const size_t hashes[] = { PREV_HASH, HASH };
        for (size_t i = 0; i < ELEMENTSOF(hashes); i++)
                if (!is_lower_hex(json_object_get_string(v[hashes[i]]), SHA256_HEX_LEN)) {
                        snprintf(err, errlen, "%s: expected 64 lower-case hex digits",
                                 fields[hashes[i]].key);
                        return -EINVAL;
                }

        char want[SHA256_HEX_LEN + 1];
        _cleanup_free_ char *text = NULL;
        size_t skip = 0, len = 0;
        int r = event_hash_canonical(ev, want, ret_canon ? &text : NULL, &skip, &len);
        if (r < 0) {
                snprintf(err, errlen, "event: cannot be hashed (%s)",
                         r == -EDOM ? "contains a non-integer number" : strerror(-r));
                return -EINVAL;
        }
        const char *claimed = json_object_get_string(v[HASH]);
        /* The text as received: the claimed hash goes where the canonical order puts it,
         * whether or not it matches (a mismatch is stored as evidence). */
        if (ret_canon) {
                size_t canon_len;
                r = canonical_add_hash(text + skip, len, claimed, ret_canon, &canon_len);
                if (r < 0)
                        return r;
                if (ret_canon_len)
                        *ret_canon_len = canon_len;
        }
        memcpy(ret_hash, want, sizeof want);
        if (STRNEQ(want, claimed)) {
                snprintf(err, errlen, "hash: does not match the event's content");
                return -EBADMSG;
        }
        return 0;
}

int event_validate(json_object *ev, char *err, size_t errlen)
{
        char hash[SHA256_HEX_LEN + 1];
        return event_validate_canonical(ev, err, errlen, hash, NULL, NULL);
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

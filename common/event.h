/* event.h — the hogo event: one JSON object, the same in the spool and on the wire.
 *
 *   {"seq":N, "ts":"2026-11-27T14:40:06.123Z", "type":"usb.blocked", "severity":"warning",
 *    "user":"tanaka", "details":{...}, "prev_hash":"<64 hex>", "hash":"<64 hex>"}
 *
 * seq is per agent and strictly +1. hash = SHA-256 (hex) over the bytes of prev_hash
 * followed by the canonical JSON (canon_json.h) of the event without "hash". The first
 * event of an agent has prev_hash = 64 zeros (EVENT_GENESIS_HASH). Producers (the agent's
 * spool) and verifiers (hogoctl spool verify, the collector) use the same functions here.
 */
#ifndef HOGO_EVENT_H
#define HOGO_EVENT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/digest.h"

#define EVENT_GENESIS_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define EVENT_TYPE_MAX 64
#define EVENT_USER_MAX 256

/* Ordered: everything at or above EVENT_SEVERITY_WARNING is a security event, which the
 * spool makes durable before returning and never drops on overflow. */
enum event_severity {
        EVENT_SEVERITY_INFO,
        EVENT_SEVERITY_NOTICE,
        EVENT_SEVERITY_WARNING,
        EVENT_SEVERITY_ALERT,
        _EVENT_SEVERITY_MAX,
};

const char *event_severity_to_string(enum event_severity s);
int event_severity_from_string(const char *s); /* enum value, or -EINVAL */
static inline bool event_severity_is_security(enum event_severity s)
{
        return s >= EVENT_SEVERITY_WARNING;
}

/* "2026-11-27T14:40:06.123Z" from microseconds since the epoch; buf holds 32 bytes. */
void event_format_ts(uint64_t usec, char buf[static 32]);

/* Builds a complete, hashed event. Takes ownership of details (NULL means {}); user may be
 * NULL (stored as ""). */
int event_build(uint64_t seq, uint64_t ts_usec, const char *type, enum event_severity severity,
                const char *user, json_object *details, const char *prev_hash,
                json_object **ret);

/* event_build() that also hands back the event's canonical JSON (hash included), the
 * bytes the spool stores, for the price of the one canonicalization the hash needs. */
int event_build_canonical(uint64_t seq, uint64_t ts_usec, const char *type,
                          enum event_severity severity, const char *user, json_object *details,
                          const char *prev_hash, json_object **ret, char **ret_canon,
                          size_t *ret_canon_len);

/* Computes the hash an event must carry (ignores any "hash" member). */
int event_compute_hash(json_object *ev, char out[static SHA256_HEX_LEN + 1]);

/* Checks the shape of an event (types, formats, lengths, no unknown members) and that its
 * hash is right. On failure writes a one-line reason into err. */
int event_validate(json_object *ev, char *err, size_t errlen);
/* event_validate() that, for a well-formed event (0, or -EBADMSG when only the hash is
 * wrong), also hands back the hash its content gives and, when ret_canon is not NULL, its
 * canonical JSON as received (its own "hash" member included; ret_canon_len may be
 * NULL) — from the one
 * canonicalization the hash check needs. On -EBADMSG *ret_canon must be freed too. */
int event_validate_canonical(json_object *ev, char *err, size_t errlen,
                             char ret_hash[static SHA256_HEX_LEN + 1], char **ret_canon,
                             size_t *ret_canon_len);

/* Result of checking one event against the previous one of the same agent. */
enum chain_verdict {
        CHAIN_OK,
        CHAIN_DUPLICATE,     /* seq already seen (re-sent): idempotent, not an error */
        CHAIN_GAP,           /* seq > expected: events missing */
        CHAIN_REORDER,       /* seq < expected but not a known duplicate */
        CHAIN_PREV_MISMATCH, /* prev_hash is not the previous event's hash */
};
const char *chain_verdict_to_string(enum chain_verdict v);

/* last_seq/last_hash describe the last accepted event (0 and EVENT_GENESIS_HASH before the
 * first). The event must already have passed event_validate(). */
enum chain_verdict event_chain_check(uint64_t last_seq, const char *last_hash, json_object *ev);

#endif

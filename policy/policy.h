/* policy.h — what a terminal allows: the policy schema, its parser, its one canonical form
 * and hash, the signed envelope, and the pure matching helpers the controls decide with.
 *
 * A policy is one JSON object (docs/ARCHITECTURE.md, "Policy", has the table of every
 * field and its range). policy_parse() turns it into a struct policy and collects every
 * problem it finds, each with the JSON path it is about, e.g.
 * `removable_media.allow[2].serial: expected a string, got number`; it never stops at the
 * first. A section or field that is left out takes the value of the built-in strict default
 * (policy_default_strict()), so leaving something out never loosens a control.
 *
 * One policy has one byte string: policy_canonical() serializes the parsed struct (every
 * field explicit, vendor/product ids in lower case) with common/canon_json.h. Its SHA-256
 * in hex is the policy hash (policy->hash), and it is exactly what the Ed25519 signature of
 * the envelope covers:
 *
 *   { "policy": { ... }, "key_id": "<16 hex>", "signature": "<base64 of 64 bytes>" }
 *
 * key_id names the signing key (common/ed25519.h: the first 16 hex digits of the SHA-256 of
 * the raw public key). A verifier holding several trusted keys picks the one with that id.
 *
 * The matching helpers (media_allowlist_match(), policy_logoff_hours_*(),
 * policy_session_exempt(), policy_media_class_blocked()) take the time and the device or
 * session as arguments and do no I/O, so the agent's sources call them and the tests pin
 * them down directly.
 *
 * Return values follow the tree's rule: 0 on success, -errno on failure; ret_* outputs are
 * written only on success.
 */
#ifndef HOGO_POLICY_H
#define HOGO_POLICY_H

#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "common/digest.h"
#include "common/ed25519.h"

/* A policy file (bare or enveloped) larger than this is refused before parsing. */
#define POLICY_FILE_MAX_SIZE ((size_t)1024 * 1024)

/* ---- errors -------------------------------------------------------------------------- */

/* One problem: path is the JSON path ("removable_media.allow[2].serial"; "$" for the
 * document as a whole), message says what was expected and what was found. */
struct policy_error {
        char *path;
        char *message;
};

struct policy_errors {
        struct policy_error *items;
        size_t n;
        size_t allocated;
};

#define POLICY_ERRORS_INIT { NULL, 0, 0 }
void policy_errors_clear(struct policy_errors *errs); /* frees the items, keeps errs usable */
/* Prints one "PATH: message" line per error. */
void policy_errors_print(const struct policy_errors *errs, FILE *f);
static inline void policy_errors_clearp(struct policy_errors *errs) { policy_errors_clear(errs); }
#define _cleanup_policy_errors_ __attribute__((cleanup(policy_errors_clearp)))

/* ---- schema ---------------------------------------------------------------------------- */

enum media_access {
        MEDIA_ACCESS_NONE,       /* blocked */
        MEDIA_ACCESS_READ_ONLY,  /* usable, block devices set read-only */
        MEDIA_ACCESS_READ_WRITE,
};
const char *media_access_to_string(enum media_access a); /* "none", "read_only", "read_write" */

enum policy_media_mode {
        POLICY_MEDIA_BLOCK,     /* unregistered storage stays unauthorized */
        POLICY_MEDIA_READ_ONLY, /* unregistered storage is made read-only instead */
        POLICY_MEDIA_AUDIT,     /* nothing is blocked; what would have been is recorded */
};
const char *policy_media_mode_to_string(enum policy_media_mode m);

/* A registered medium (登録媒体), one line of a USBメモリ登録管理台帳. */
struct policy_media_allow {
        uint16_t vendor;          /* idVendor */
        uint16_t product;         /* idProduct */
        char *serial;             /* iSerial, exact; never empty */
        enum media_access access; /* READ_ONLY or READ_WRITE */
        char *registration_no;    /* ledger number, NULL when not given */
        char *holder;             /* person or section holding it, NULL when not given */
        int64_t valid_until;      /* first second (UTC epoch) it no longer allows; 0: no end */
        char *valid_until_text;   /* as written ("2027-03-31"), NULL when no end */
};

/* A protection manager's time-bounded approval of one device on named terminals. */
struct policy_media_exception {
        uint16_t vendor;
        uint16_t product;
        char *serial;
        enum media_access access;
        char **terminals; /* host names it applies on; at least one */
        size_t n_terminals;
        char *reason;
        char *approver;
        int64_t valid_until; /* always set: an exception lapses by itself */
        char *valid_until_text;
};

struct policy_removable_media {
        enum policy_media_mode mode;
        /* USB interface classes blocked in addition to mass storage (0x08) and still image /
         * MTP / PTP (0x06), which are always blocked unless a rule allows the device. */
        uint8_t *classes;
        size_t n_classes;
        struct policy_media_allow *allow;
        size_t n_allow;
        struct policy_media_exception *exceptions;
        size_t n_exceptions;
};

enum policy_lock_ignored_action {
        POLICY_LOCK_IGNORED_REPORT, /* session.lock_ignored only */
        POLICY_LOCK_IGNORED_LOGOFF, /* ... then warning and logoff, as for idle logoff */
};
const char *policy_lock_ignored_action_to_string(enum policy_lock_ignored_action a);

struct policy_screen_lock {
        uint32_t idle_lock_seconds;   /* idle this long → Session.Lock */
        uint32_t warn_before_seconds; /* notice this long before locking (0: none) */
        uint32_t lock_grace_seconds;  /* LockedHint must follow a Lock within this */
        enum policy_lock_ignored_action lock_ignored_action;
};

/* One permitted-use window: on the given weekdays, from start to end (minutes after local
 * midnight, start < end, end may be 1440). */
struct policy_hours_window {
        uint8_t days; /* bit n set = weekday n as in struct tm's tm_wday (0 = Sunday) */
        uint16_t start_minute;
        uint16_t end_minute;
};

struct policy_logoff {
        uint32_t idle_logoff_seconds; /* idle this long → warning, then TerminateSession */
        uint32_t warn_before_seconds; /* the warning comes this long before the logoff */
        struct policy_hours_window *hours; /* permitted use; none: any time */
        size_t n_hours;
        char **exempt_classes; /* logind session classes left alone ("greeter", …) */
        size_t n_exempt_classes;
        char **exempt_users; /* user names left alone (service accounts) */
        size_t n_exempt_users;
};

enum policy_content_kind {
        POLICY_CONTENT_CORPORATE_NUMBER, /* 法人番号, 13 digits with check digit */
        POLICY_CONTENT_PHONE,
        POLICY_CONTENT_EMAIL,
        _POLICY_CONTENT_KIND_MAX,
};
const char *policy_content_kind_to_string(enum policy_content_kind k);

struct policy_content_pattern {
        enum policy_content_kind kind;
        uint32_t min_matches; /* a file with at least this many is personal information */
};

struct policy_marked_files {
        char *xattr;  /* the label attribute, "user.hogo.label" */
        char **paths; /* absolute globs of marked files */
        size_t n_paths;
        bool my_number;                /* classify content for 個人番号 */
        uint32_t my_number_min_matches;
        struct policy_content_pattern *patterns;
        size_t n_patterns;
        uint64_t scan_max_bytes; /* the classifier reads at most this prefix of a file */
};

enum policy_destination_kind {
        POLICY_DEST_REMOVABLE,     /* mounts of removable media */
        POLICY_DEST_NETWORK_SHARE, /* cifs/nfs/sshfs… mounts */
        POLICY_DEST_DOWNLOADS,     /* each user's XDG download directory */
        POLICY_DEST_PATH,          /* an absolute directory */
};

struct policy_destination {
        enum policy_destination_kind kind;
        char *path; /* POLICY_DEST_PATH only, else NULL */
};

enum policy_bulk_action {
        POLICY_BULK_WARN,
        POLICY_BULK_BLOCK, /* deny further opens of marked files for cooldown_seconds */
};
const char *policy_bulk_action_to_string(enum policy_bulk_action a);

struct policy_bulk_transfer {
        uint32_t window_seconds;
        uint32_t max_files; /* distinct marked files read within the window */
        uint64_t max_bytes; /* bytes written to destinations within the window */
        struct policy_destination *destinations;
        size_t n_destinations;
        enum policy_bulk_action action;
        uint32_t cooldown_seconds;
};

struct policy_reporting {
        uint32_t heartbeat_seconds;
        uint32_t batch_max_events;
};

struct policy {
        int64_t version;   /* positive; a newer policy has a larger version */
        char *name;        /* short identifier, [A-Za-z0-9._-] */
        char *department;  /* 課名 this policy is for; NULL: every department */
        char *description; /* free text, NULL when not given */
        struct policy_removable_media removable_media;
        struct policy_screen_lock screen_lock;
        struct policy_logoff logoff;
        struct policy_marked_files marked_files;
        struct policy_bulk_transfer bulk_transfer;
        struct policy_reporting reporting;
        char hash[SHA256_HEX_LEN + 1]; /* SHA-256 hex of policy_canonical() */
};

/* ---- parse, default, canonical form ------------------------------------------------------ */

/* Parses and validates one policy document. On any problem returns -EINVAL and, when errs
 * is not NULL, appends every problem found to it; -ENOMEM on allocation failure. Input that
 * is empty, not UTF-8, not JSON or larger than POLICY_FILE_MAX_SIZE is refused with one
 * error at "$". */
int policy_parse(const char *data, size_t len, struct policy **ret_policy,
                 struct policy_errors *errs);
/* The same from an already parsed JSON object (the "policy" member of an envelope). */
int policy_from_json(json_object *o, struct policy **ret_policy, struct policy_errors *errs);
/* Reads path (bounded, see policy_parse) and parses it. Errors the file itself causes
 * (missing, unreadable, too large) are -errno with one error at "$" as well. */
int policy_load_file(const char *path, struct policy **ret_policy, struct policy_errors *errs);

/* The built-in strict policy the agent enforces while it has no valid policy: every
 * removable storage device blocked, lock after 5 minutes, logoff after 60, bulk warning
 * at 20 marked files or 100 MiB within 60 s. policy/examples/strict-default.json is the
 * same policy. */
int policy_default_strict(struct policy **ret_policy);

void policy_free(struct policy *p);
static inline void policy_freep(struct policy **p)
{
        if (*p)
                policy_free(*p);
}
#define _cleanup_policy_ __attribute__((cleanup(policy_freep)))

/* The policy as a JSON object with every field explicit (what policy_canonical() hashes). */
int policy_to_json(const struct policy *p, json_object **ret);
/* The canonical bytes of the policy (NUL-terminated; ret_len may be NULL). */
int policy_canonical(const struct policy *p, char **ret, size_t *ret_len);

/* ---- signed envelope ------------------------------------------------------------------- */

/* Signs the canonical form of p with an Ed25519 private key and returns the envelope as
 * JSON text (NUL-terminated, ending in a newline). */
int policy_envelope_sign(const struct policy *p, EVP_PKEY *key, char **ret_envelope);

/* Verifies an envelope against the trusted public keys and returns the policy inside.
 *   -EBADMSG       not an envelope: not JSON, missing/unknown members, malformed key_id or
 *                  signature (not base64 of 64 bytes)
 *   -ENOKEY        signed by a key that is not among keys (key_id names none of them)
 *   -EKEYREJECTED  the signature does not match the policy bytes (changed or forged)
 *   -EINVAL        signature good, but the policy inside does not validate
 * Every failure also appends an explanation to errs (when not NULL). */
int policy_envelope_verify(const char *data, size_t len, EVP_PKEY *const *keys, size_t n_keys,
                           struct policy **ret_policy, struct policy_errors *errs);
/* policy_envelope_verify() on a file read with the POLICY_FILE_MAX_SIZE bound. */
int policy_envelope_load_file(const char *path, EVP_PKEY *const *keys, size_t n_keys,
                              struct policy **ret_policy, struct policy_errors *errs);

/* The policy inside an envelope without checking its signature, and the key id it claims:
 * for display (hogoctl policy show), or for bytes whose signature was just checked
 * elsewhere (the agent checks it in a child process); never to enforce unchecked bytes. */
int policy_envelope_parse_unverified(const char *data, size_t len, struct policy **ret_policy,
                                     char ret_key_id[static ED25519_KEY_ID_LEN + 1], struct policy_errors *errs);

/* ---- matching helpers (pure) -------------------------------------------------------------- */

enum media_rule {
        MEDIA_RULE_MODE,              /* no entry applied: removable_media.mode decided */
        MEDIA_RULE_ALLOW,             /* a registered medium, valid now */
        MEDIA_RULE_ALLOW_EXPIRED,     /* a registered medium whose valid_until has passed */
        MEDIA_RULE_EXCEPTION,         /* an exception for this terminal, valid now */
        MEDIA_RULE_EXCEPTION_LAPSED,  /* an exception for this terminal that has lapsed */
};
const char *media_rule_to_string(enum media_rule r); /* "mode", "allow", "allow_expired", … */

struct media_decision {
        enum media_access access;        /* what to enforce (READ_WRITE in audit mode) */
        enum media_access policy_access; /* what the policy grants before audit mode */
        bool audit_only;   /* mode audit and policy_access is more restrictive than access */
        enum media_rule rule;
        size_t index;      /* index into allow[] or exceptions[] (rule other than MODE) */
        char rule_path[64]; /* "removable_media.allow[1]", "removable_media.mode", … */
        int64_t valid_until; /* of the deciding entry; 0 when none or no end */
};

/* Decides a storage-class device (vendor:product:serial) plugged into terminal at time now.
 * serial NULL or "" never matches (a serial-less device cannot be registered); terminal
 * NULL matches no exception. A valid exception or registered entry grants its access (the
 * more permissive when both apply); an expired/lapsed matching entry grants nothing and is
 * reported as the deciding rule so the event says why; otherwise the mode decides. */
void media_allowlist_match(const struct policy *p, uint16_t vendor, uint16_t product,
                           const char *serial, const char *terminal, int64_t now,
                           struct media_decision *ret);

/* The earliest valid_until after now among allow entries and exceptions, or 0 when none:
 * when the USB source must re-evaluate present devices because an approval ends. */
int64_t policy_media_next_expiry(const struct policy *p, int64_t now);

/* true when a USB interface of this class must stay unauthorized unless the device is
 * allowed: 0x08 mass storage, 0x06 still image (MTP/PTP), and removable_media.classes. */
bool policy_media_class_blocked(const struct policy *p, uint8_t interface_class);

/* true when a session of this logind class or user is left alone by lock and logoff. */
bool policy_session_exempt(const struct policy *p, const char *session_class, const char *user);

/* true when use at this local time is permitted (always, when logoff.hours is empty). */
bool policy_logoff_hours_permit(const struct policy_logoff *l, const struct tm *local);
/* Seconds of permitted use left from this local time, following windows that join across
 * midnight: 0 when outside the hours now, -1 when hours are unrestricted (or permitted use
 * never ends within a week). */
int64_t policy_logoff_hours_seconds_left(const struct policy_logoff *l, const struct tm *local);

#endif

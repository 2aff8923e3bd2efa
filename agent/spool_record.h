/* spool_record.h — the spool's on-disk record format and the pure logic over it.
 *
 * A segment is a sequence of records
 *   u32 payload length (LE) | u32 CRC32C of the payload (LE) | payload
 * where the payload is canonical JSON: either an event (common/event.h) or a tombstone
 *   {"dropped":{"from_seq":A,"to_seq":B,"prev_hash":..,"hash":..}}
 * left where the size cap dropped events A..B (common/chain_drop.h). Payloads are JSON
 * text, which never holds a NUL byte, while every header has one (lengths are below
 * 16 MiB), so after a corrupt stretch the scanner finds the next record boundary again
 * by searching for a header whose CRC matches.
 *
 * Nothing here does I/O: the writer (spool.c), the reader and the verifier share it, and
 * the unit tests call it directly.
 */
#ifndef HOGO_AGENT_SPOOL_RECORD_H
#define HOGO_AGENT_SPOOL_RECORD_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/chain_drop.h"
#include "common/event.h"

#define SPOOL_RECORD_HEADER 8u
#define SPOOL_RECORD_MAX_PAYLOAD (1u << 20)

/* Writes header + payload to out, which holds SPOOL_RECORD_HEADER + len bytes. */
void spool_record_encode(const void *payload, uint32_t len, uint8_t *out);

enum spool_scan_kind {
        SPOOL_SCAN_END,     /* no bytes left */
        SPOOL_SCAN_RECORD,  /* a record whose CRC matches */
        SPOOL_SCAN_CORRUPT, /* bytes that are no record, followed by a valid record */
        SPOOL_SCAN_TORN,    /* bytes up to the end that are no complete record */
};

struct spool_scan_item {
        enum spool_scan_kind kind;
        size_t offset;          /* where the item starts in the segment */
        size_t size;            /* bytes it covers */
        const char *payload;    /* SPOOL_SCAN_RECORD: the payload (not NUL-terminated) */
        uint32_t payload_len;
};

/* An iterator over one segment's bytes in memory. */
struct spool_scan {
        const uint8_t *data;
        size_t len, offset;
};

void spool_scan_init(struct spool_scan *scan, const void *data, size_t len);
/* Fills item with the next record or damaged stretch; returns the kind (END at the end). */
enum spool_scan_kind spool_scan_next(struct spool_scan *scan, struct spool_scan_item *item);

/* One parsed record: an event or a tombstone. */
struct spool_entry {
        bool tombstone;
        uint64_t first_seq, last_seq; /* an event: both its seq; a tombstone: its range */
        enum event_severity severity; /* events only */
        char prev_hash[SHA256_HEX_LEN + 1];
        char hash[SHA256_HEX_LEN + 1];
        uint64_t ts_usec; /* events only */
        json_object *event; /* events only, when asked for; the caller puts it */
};

/* Parses a payload into entry. keep_event: hand the parsed event to the caller.
 * -EBADMSG when the payload is neither a well-formed event nor a tombstone. The event's
 * hash is not recomputed here (spool_verify does with event_validate). */
int spool_entry_parse(const char *payload, size_t len, bool keep_event,
                      struct spool_entry *ret);

/* Builds a tombstone payload (canonical JSON) for a drop. */
int spool_tombstone_format(const struct chain_drop *drop, char **ret, size_t *ret_len);

/* "2026-11-27T14:40:06.123Z" back to microseconds since the epoch. */
int spool_parse_ts(const char *ts, uint64_t *ret_usec);

/* What the overflow planner knows about each record of the oldest segment. */
struct spool_overflow_record {
        struct spool_entry entry; /* entry.event unused */
        uint32_t size;            /* bytes the record takes, header included */
        bool drop;                /* set by spool_overflow_plan() */
};

/* Approximate size of a tombstone record, charged against what a new run frees. */
#define SPOOL_TOMBSTONE_SIZE (SPOOL_RECORD_HEADER + 200u)

/* The size-cap policy: walks recs (one segment, oldest first) and marks low-severity
 * events (below warning) to drop, oldest first, until at least need bytes are freed
 * (finishing the run it is in) or max_runs runs are formed. Security events and
 * tombstones are never dropped. Each maximal run of consecutive dropped records becomes
 * one drop in ret_drops (in order). Returns the number of dropped events (0: nothing
 * droppable). */
int spool_overflow_plan(struct spool_overflow_record *recs, size_t n, uint64_t need,
                        size_t max_runs, struct chain_drop **ret_drops, size_t *ret_n_drops,
                        uint64_t *ret_freed);

#endif

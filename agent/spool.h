/* spool.h — the agent's durable, tamper-evident event spool.
 *
 * Append-only segment files `<dir>/seg-<first seq, 20 digits>.log`. Each record is
 *   u32 length (LE) | u32 CRC32C of the payload (LE) | payload = the event JSON (canonical)
 * and every event carries seq (+1, never reused, survives restarts) and the SHA-256 chain
 * of common/event.h. The writer (hogo-agent) group-commits: spool_append() buffers and
 * spool_sync() makes everything appended so far durable with one fdatasync; security
 * events (severity warning and above) are synced before spool_append() returns.
 *
 * Start-up recovery cuts a torn tail record, keeps every complete record, and continues
 * the sequence and the chain. A corrupt record in the middle of a segment is skipped (the
 * rest of the spool still delivers) and reported through spool_take_faults() so the agent
 * records it as an event.
 *
 * After every group commit the writer records the newest durable seq in `<dir>/durable`;
 * readers deliver nothing beyond it, so an event is never uploaded (and acknowledged)
 * before it is on disk, and a seq can never be handed out twice.
 *
 * Disk full (ENOSPC/EDQUOT): appended events stay in a bounded in-memory queue, the stats
 * say disk_full, and every later spool_sync() retries; nothing already durable is touched.
 *
 * Readers (hogo-uplink, hogoctl spool verify) open the directory read-only and never
 * change it. The uplink writes only inside `<dir>/uplink/` (owned by user hogo; the rest of
 * the spool is root's and group-readable):
 * `uplink/acked`, the highest acknowledged seq (written atomically), and
 * `uplink/status.json`, the last upload result for `hogoctl status`. The writer deletes
 * segments that
 * are wholly at or below it (spool_collect()). A size cap makes the writer drop the oldest
 * low-severity events first — never security events — and record exactly what it dropped
 * in an `agent.spool_overflow` event; the segment keeps a tombstone per dropped run, so the
 * chain still verifies (the rule: chain_gap_bridged() in common/chain_drop.h; the whole
 * design: docs/ARCHITECTURE.md, "Spool").
 */
#ifndef HOGO_AGENT_SPOOL_H
#define HOGO_AGENT_SPOOL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/event.h"

#define SPOOL_DEFAULT_MAX_BYTES (256ull << 20)
/* The one subdirectory of the spool the uplink may write, and what it writes there. */
#define SPOOL_UPLINK_DIR "uplink"
#define SPOOL_ACKED_FILE SPOOL_UPLINK_DIR "/acked"
#define SPOOL_UPLINK_STATUS_FILE SPOOL_UPLINK_DIR "/status.json"
#define SPOOL_DURABLE_FILE "durable"
#define SPOOL_DEFAULT_SEGMENT_BYTES (4ull << 20)
/* Events held in memory while the disk is full (or fsync fails), at most this many bytes. */
#define SPOOL_DEFAULT_QUEUE_BYTES (4ull << 20)

struct spool;

struct spool_options {
        const char *dir;
        uint64_t max_bytes;     /* 0 = SPOOL_DEFAULT_MAX_BYTES */
        uint64_t segment_bytes; /* 0 = default (4 MiB) */
        uint64_t queue_bytes;   /* 0 = SPOOL_DEFAULT_QUEUE_BYTES */
};

int spool_open(const struct spool_options *options, struct spool **ret);
/* Syncs what is pending and closes. */
void spool_close(struct spool *spool);

/* Assigns the next seq, builds and hashes the event (event_build), appends it. Takes
 * ownership of details. Returns 0 when the event is appended (security severities are
 * durable on return); 1 when it got its seq and is held in memory but could not be made
 * durable yet (disk full or an I/O error: a later spool_sync() retries); -errno when it was
 * not recorded at all (-ENOBUFS: the memory queue is full too; no seq was used). */
int spool_append(struct spool *spool, uint64_t ts_usec, const char *type,
                 enum event_severity severity, const char *user, json_object *details,
                 uint64_t *ret_seq);
/* Makes every appended event durable (group commit): 0, or -errno with the events kept in
 * memory for the next try. Also applies the size cap. */
int spool_sync(struct spool *spool);
/* Reads <dir>/uplink/acked and deletes segments wholly at or below it; returns the acked seq. */
int spool_collect(struct spool *spool, uint64_t *ret_acked);

struct spool_stats {
        uint64_t first_seq;      /* oldest event still in the spool (0 if none) */
        uint64_t last_seq;       /* newest event appended */
        uint64_t durable_seq;    /* newest event known durable */
        uint64_t acked_seq;      /* as last read from <dir>/uplink/acked */
        uint64_t bytes;          /* size of all segments */
        uint64_t oldest_unacked_ts_usec;
        bool disk_full;          /* the last write failed with ENOSPC/EDQUOT */
        uint64_t dropped_events; /* dropped by the size cap since start */
        uint64_t queued_events;  /* appended, not yet durable */
        uint64_t refused_events; /* not recorded: the memory queue was full (since start) */
};
void spool_get_stats(struct spool *spool, struct spool_stats *ret);

/* Faults found at open or while running (corrupt record, cut tail, missing segment) as
 * a JSON array of {"kind": ..., "segment": ..., "offset": ..., "detail": ...}; NULL when
 * there were none. The caller owns the array; the list is emptied. */
json_object *spool_take_faults(struct spool *spool);

/* Read side: durable events with seq >= from_seq, in order, as of spool_reader_open()
 * (reopen to see newer ones). Tombstones of dropped events are not returned. */
struct spool_reader;
/* The writer's durable mark (<dir>/durable); -ENOENT before a writer opened the spool. */
int spool_read_durable(const char *dir, uint64_t *ret);
int spool_reader_open(const char *dir, uint64_t from_seq, struct spool_reader **ret);
/* 1 and the event's JSON text (valid until the next call) and seq; 0 at the end;
 * -EBADMSG on a record that fails its CRC (the reader then continues past it). */
int spool_reader_next(struct spool_reader *reader, const char **ret_json, size_t *ret_len,
                      uint64_t *ret_seq);
void spool_reader_close(struct spool_reader *reader);

/* Walks the whole spool checking CRCs, seq continuity and the hash chain. On success
 * fills count/first/last; on the first problem returns -EBADMSG and a one-line reason. */
struct spool_verify_result {
        uint64_t count, first_seq, last_seq;
        char problem[512];
};
int spool_verify(const char *dir, struct spool_verify_result *ret);

#endif

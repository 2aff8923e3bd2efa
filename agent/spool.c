/* spool.c — the durable, tamper-evident event spool; see spool.h for the contract and
 * spool_record.h for the record format. This file does the I/O: segments, group commit,
 * recovery, collection, the size cap, the reader and the verifier. */
#include "agent/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/spool_record.h"
#include "common/atomic_tmp.h"
#include "common/canon_json.h"
#include "common/chain_drop.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/util.h"

#define SEGMENT_PREFIX "seg-"
#define SEGMENT_SUFFIX ".log"
#define SEGMENT_NAME_LEN (sizeof SEGMENT_PREFIX - 1 + 20 + sizeof SEGMENT_SUFFIX - 1)
#define SEGMENT_READ_MAX (1ull << 30)
/* Beyond this much buffered, spool_append() commits by itself. */
#define GROUP_COMMIT_MAX_BYTES (1u << 20)
/* Runs listed by one agent.spool_overflow event, which keeps that event small. */
#define OVERFLOW_MAX_RUNS 256

struct spool_segment {
        uint64_t first_seq;  /* from its name */
        uint64_t last_seq;   /* newest seq in it (event or tombstone); 0 when empty */
        uint64_t bytes;
        uint64_t low_events; /* events the size cap may drop */
        bool damaged;        /* holds bytes that are no record: never rewritten */
};
/* low_events of a segment not counted yet (an older segment at open, see recover_segment) */
#define SEGMENT_LOW_UNKNOWN UINT64_MAX

struct pending_record {
        uint64_t seq, ts_usec;
        uint32_t size;
        enum event_severity severity;
};

struct spool {
        char *dir;
        gid_t dir_gid; /* every file of the spool gets this group */
        uint64_t max_bytes, segment_bytes, queue_bytes;

        struct spool_segment *segs; /* oldest first; the last one is the one appended to */
        size_t n_segs;
        int seg_fd;     /* the last segment, or -1 before the first record */
        int durable_fd; /* <dir>/durable */

        uint64_t next_seq;
        char last_hash[SHA256_HEX_LEN + 1];
        uint64_t durable_seq, acked_seq;
        uint64_t oldest_unacked_ts, oldest_unacked_after; /* and the acked seq it is for */

        /* appended, not yet durable: encoded records back to back */
        uint8_t *buf;
        size_t buf_len, buf_cap;
        struct pending_record *pend;
        size_t n_pend, pend_cap;

        bool disk_full, write_failing, in_overflow, over_cap_logged;
        uint64_t dropped_events, refused_events;
        json_object *faults;
};

/* --- names and small files ---------------------------------------------------------- */

static void segment_name(uint64_t first_seq, char buf[static SEGMENT_NAME_LEN + 1])
{
        snprintf(buf, SEGMENT_NAME_LEN + 1, SEGMENT_PREFIX "%020" PRIu64 SEGMENT_SUFFIX, first_seq);
}

static char *segment_path(const char *dir, uint64_t first_seq)
{
        char name[SEGMENT_NAME_LEN + 1];
        segment_name(first_seq, name);
        char *path = NULL;
        return asprintf(&path, "%s/%s", dir, name) < 0 ? NULL : path;
}

static bool parse_segment_name(const char *name, uint64_t *ret)
{
        if (strlen(name) != SEGMENT_NAME_LEN || strncmp(name, SEGMENT_PREFIX, 4) != 0 ||
            STRNEQ(name + 24, SEGMENT_SUFFIX))
                return false;
        uint64_t v = 0;
        for (const char *p = name + 4; p < name + 24; p++) {
                if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
                        return false;
                v = v * 10 + (uint64_t)(*p - '0');
        }
        if (v == 0)
                return false;
        *ret = v;
        return true;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

/* The first seqs of the directory's segments, ascending. remove_tmp: delete leftovers of
 * an interrupted rewrite (the writer only). */
static int list_segments(const char *dir, bool remove_tmp, uint64_t **ret, size_t *ret_n)
{
        DIR *d = opendir(dir);
        if (!d)
                return negative_errno();
        _cleanup_free_ uint64_t *firsts = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        int r = 0;
        while ((de = readdir(d))) {
                uint64_t seq;
                if (remove_tmp && strncmp(de->d_name, SEGMENT_PREFIX, 4) == 0 &&
                    strstr(de->d_name, SEGMENT_SUFFIX ".tmp")) {
                        (void)unlinkat(dirfd(d), de->d_name, 0);
                        continue;
                }
                if (!parse_segment_name(de->d_name, &seq))
                        continue;
                if (n == cap) {
                        cap = cap ? cap * 2 : 16;
                        uint64_t *nf = realloc(firsts, cap * sizeof *firsts);
                        if (!nf) {
                                r = -ENOMEM;
                                break;
                        }
                        firsts = nf;
                }
                firsts[n++] = seq;
        }
        closedir(d);
        if (r < 0)
                return r;
        if (n > 0)
                qsort(firsts, n, sizeof *firsts, cmp_u64);
        *ret = TAKE_PTR(firsts);
        *ret_n = n;
        return 0;
}

/* A seq written as decimal digits and an optional newline; -ENOENT when the file is not
 * there. */
static int read_seq_file(const char *dir, const char *name, uint64_t *ret)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        int r = read_file_bounded(path, 64, &text, NULL);
        if (r < 0)
                return r;
        const char *p = text;
        uint64_t v = 0;
        if (*p < '0' || *p > '9')
                return -EBADMSG;
        for (; *p >= '0' && *p <= '9'; p++) {
                if (v > (UINT64_MAX - 9) / 10)
                        return -EBADMSG;
                v = v * 10 + (uint64_t)(*p - '0');
        }
        if (*p == '\n')
                p++;
        if (*p != '\0')
                return -EBADMSG;
        *ret = v;
        return 0;
}

int spool_read_durable(const char *dir, uint64_t *ret)
{
        return read_seq_file(dir, SPOOL_DURABLE_FILE, ret);
}

static int read_acked(const char *dir, uint64_t *ret)
{
        int r = read_seq_file(dir, SPOOL_ACKED_FILE, ret);
        if (r == -ENOENT) {
                *ret = 0;
                return 0;
        }
        return r;
}

static int load_segment(const char *dir, uint64_t first_seq, uint8_t **ret, size_t *ret_len)
{
        _cleanup_free_ char *path = segment_path(dir, first_seq);
        if (!path)
                return -ENOMEM;
        return read_file_bounded(path, SEGMENT_READ_MAX, (char **)ret, ret_len);
}

/* Creates or opens a file of the spool: mode 0640, group = the directory's group (what a
 * setgid directory would do), so the uplink reads the spool through that group and
 * nobody else does. */
static int open_spool_file(const struct spool *spool, const char *path, int flags)
{
        int fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW, 0640);
        if (fd < 0)
                return negative_errno();
        if (!(flags & O_CREAT))
                return fd;
        struct stat st;
        /* 0640 whatever the umask; a group we may not give (not root) is left as it is */
        if (fchmod(fd, 0640) < 0 ||
            (fstat(fd, &st) == 0 && st.st_gid != spool->dir_gid &&
             fchown(fd, (uid_t)-1, spool->dir_gid) < 0 && errno != EPERM)) {
                int r = negative_errno();
                close(fd);
                return r;
        }
        return fd;
}

static bool is_disk_full(int r)
{
        return r == -ENOSPC || r == -EDQUOT;
}

/* --- faults ----------------------------------------------------------------------------- */

static void add_fault(struct spool *spool, const char *kind, uint64_t segment, uint64_t offset,
                      const char *fmt, ...) _printf_(5, 6);
static void add_fault(struct spool *spool, const char *kind, uint64_t segment, uint64_t offset,
                      const char *fmt, ...)
{
        char detail[384], name[SEGMENT_NAME_LEN + 1] = "";
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof detail, fmt, ap);
        va_end(ap);
        if (segment)
                segment_name(segment, name);
        log_warning("Spool %s: %s%s%s", spool->dir, name, *name ? ": " : "", detail);

        if (!spool->faults && !(spool->faults = json_object_new_array()))
                return;
        json_object *f = json_object_new_object();
        if (!f)
                return;
        json_object_object_add(f, "kind", json_object_new_string(kind));
        json_object_object_add(f, "segment", json_object_new_string(name));
        json_object_object_add(f, "offset", json_object_new_int64((int64_t)offset));
        json_object_object_add(f, "detail", json_object_new_string(detail));
        json_object_array_add(spool->faults, f);
}

json_object *spool_take_faults(struct spool *spool)
{
        return TAKE_PTR(spool->faults);
}

static void spool_closep(struct spool **spool)
{
        spool_close(*spool);
}

static void spool_reader_closep(struct spool_reader **reader)
{
        spool_reader_close(*reader);
}

/* --- recovery ------------------------------------------------------------------------- */

/* Where the chain stands while walking the spool in order. */
struct chain_walk {
        uint64_t last_seq; /* 0 before the first record */
        char last_hash[SHA256_HEX_LEN + 1];
        uint64_t max_seq; /* the highest seq seen, and its hash: the chain continues there */
        char max_hash[SHA256_HEX_LEN + 1];
};

/* One record found at open: its seq and hash carry the walk on. check: it must follow the
 * record the walk stands on (seq and chain). A record that is no event marks the segment
 * damaged. */
static void walk_record(struct spool *spool, struct spool_segment *seg, struct chain_walk *walk,
                        const struct spool_scan_item *item, bool first, bool check)
{
        struct spool_entry e;
        if (spool_entry_parse(item->payload, item->payload_len, false, &e) < 0) {
                seg->damaged = true;
                add_fault(spool, "corrupt_record", seg->first_seq, item->offset,
                          "a record passes its CRC but is no event");
                return;
        }
        if (first && e.first_seq != seg->first_seq)
                add_fault(spool, "misnamed_segment", seg->first_seq, item->offset,
                          "starts at seq %" PRIu64 " but its name says %" PRIu64
                          " (renamed or reordered)",
                          e.first_seq, seg->first_seq);
        if (check && walk->last_seq != 0 && e.first_seq != walk->last_seq + 1)
                add_fault(spool, e.first_seq > walk->last_seq ? "gap" : "reorder",
                          seg->first_seq, item->offset,
                          "seq %" PRIu64 " follows seq %" PRIu64, e.first_seq,
                          walk->last_seq);
        else if (check && walk->last_seq != 0 && STRNEQ(e.prev_hash, walk->last_hash))
                add_fault(spool, "chain_break", seg->first_seq, item->offset,
                          "seq %" PRIu64 " does not chain to seq %" PRIu64,
                          e.first_seq, walk->last_seq);

        walk->last_seq = e.last_seq;
        memcpy(walk->last_hash, e.hash, sizeof walk->last_hash);
        if (e.last_seq > walk->max_seq) {
                walk->max_seq = e.last_seq;
                memcpy(walk->max_hash, e.hash, sizeof walk->max_hash);
        }
        seg->last_seq = MAX(seg->last_seq, e.last_seq);
        if (seg->low_events != SEGMENT_LOW_UNKNOWN && !e.tombstone &&
            !event_severity_is_security(e.severity))
                seg->low_events++;
}

/* Scans one segment at open: damage, where it starts and ends, chain continuity across
 * segments; cuts a torn tail when it is the last segment.
 *
 * Start-up time on a full spool is the price of parsing every event, so only the last
 * segment (the one a crash can have torn, and the one appended to) is parsed record by
 * record. An older segment was complete and synced before the next one was created: its
 * records are checked by CRC (a flipped bit is found and reported here), its first and
 * last record are parsed (its name, its seq range, the chain into and out of it), and
 * how many of its events the size cap may drop is counted when the cap first needs it.
 * `hogoctl spool verify` and the collector still check every record's seq and hash. */
static int recover_segment(struct spool *spool, struct spool_segment *seg, bool last,
                           struct chain_walk *walk)
{
        _cleanup_free_ uint8_t *data = NULL;
        size_t len;
        int r = load_segment(spool->dir, seg->first_seq, &data, &len);
        if (r < 0)
                return log_error_errno(r, "Cannot read spool segment %" PRIu64 " in %s: %m",
                                       seg->first_seq, spool->dir);

        struct spool_scan scan;
        struct spool_scan_item item, unparsed = { 0 };
        spool_scan_init(&scan, data, len);
        bool first = true, have_unparsed = false;
        size_t keep = len;
        if (!last)
                seg->low_events = SEGMENT_LOW_UNKNOWN;
        while (spool_scan_next(&scan, &item) != SPOOL_SCAN_END) {
                if (item.kind == SPOOL_SCAN_CORRUPT) {
                        seg->damaged = true;
                        add_fault(spool, "corrupt_record", seg->first_seq, item.offset,
                                  "%zu bytes fail their CRC and were skipped; the events after "
                                  "them are kept",
                                  item.size);
                        continue;
                }
                if (item.kind == SPOOL_SCAN_TORN) {
                        if (last) {
                                keep = item.offset;
                                add_fault(spool, "torn_tail", seg->first_seq, item.offset,
                                          "an incomplete record of %zu bytes at the end (an "
                                          "interrupted write) was cut; every complete record "
                                          "is kept",
                                          item.size);
                        } else {
                                seg->damaged = true;
                                add_fault(spool, "corrupt_record", seg->first_seq, item.offset,
                                          "the last %zu bytes are no complete record",
                                          item.size);
                        }
                        continue;
                }
                if (!last && !first) {
                        unparsed = item; /* parsed only if it turns out to be the last */
                        have_unparsed = true;
                        continue;
                }
                walk_record(spool, seg, walk, &item, first, true);
                first = false;
        }
        /* the last record of an older segment: where it ends, and where the chain goes on */
        if (have_unparsed)
                walk_record(spool, seg, walk, &unparsed, false, false);
        seg->bytes = keep;

        if (last) {
                _cleanup_free_ char *path = segment_path(spool->dir, seg->first_seq);
                if (!path)
                        return -ENOMEM;
                int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0)
                        return log_error_errno(negative_errno(), "Cannot open %s: %m", path);
                /* what a killed writer left in the page cache becomes durable here */
                if ((keep < len && ftruncate(fd, (off_t)keep) < 0) || fsync(fd) < 0) {
                        r = negative_errno();
                        close(fd);
                        return log_error_errno(r, "Cannot recover %s: %m", path);
                }
                spool->seg_fd = fd;
        }
        return 0;
}

static void update_oldest_unacked(struct spool *spool);

static int write_durable_marker(struct spool *spool)
{
        char text[32];
        int n = snprintf(text, sizeof text, "%020" PRIu64 "\n", spool->durable_seq);
        /* Fixed width, so one pwrite replaces it in place. Not fsynced: it is written after
         * the data's fdatasync, so whatever value survives a crash is never ahead of it. */
        if (pwrite(spool->durable_fd, text, (size_t)n, 0) != n)
                return negative_errno();
        return 0;
}

int spool_open(const struct spool_options *options, struct spool **ret)
{
        if (!options || !options->dir || !*options->dir)
                return -EINVAL;

        _cleanup_(spool_closep) struct spool *spool = calloc(1, sizeof *spool);
        if (!spool)
                return -ENOMEM;
        spool->seg_fd = spool->durable_fd = -1;
        spool->dir = strdup(options->dir);
        if (!spool->dir)
                return -ENOMEM;
        spool->max_bytes = options->max_bytes ? options->max_bytes : SPOOL_DEFAULT_MAX_BYTES;
        spool->segment_bytes = options->segment_bytes ? options->segment_bytes
                                                      : SPOOL_DEFAULT_SEGMENT_BYTES;
        spool->queue_bytes = options->queue_bytes ? options->queue_bytes
                                                  : SPOOL_DEFAULT_QUEUE_BYTES;
        memcpy(spool->last_hash, EVENT_GENESIS_HASH, sizeof spool->last_hash);

        int r = mkdir_parents(spool->dir, 0750);
        if (r < 0)
                return log_error_errno(r, "Cannot create spool directory %s: %m", spool->dir);
        struct stat dir_st;
        if (stat(spool->dir, &dir_st) < 0)
                return log_error_errno(negative_errno(), "Cannot stat %s: %m", spool->dir);
        spool->dir_gid = dir_st.st_gid;

        r = read_acked(spool->dir, &spool->acked_seq);
        if (r < 0) {
                add_fault(spool, "bad_acked", 0, 0,
                          "%s/" SPOOL_ACKED_FILE " is unreadable (%s); nothing is collected "
                          "until the uplink rewrites it",
                          spool->dir, strerror(-r));
                spool->acked_seq = 0;
        }

        /* what an uplink killed mid-write left in its directory (it cleans up too, when it
         * starts again) */
        static const char *const uplink_files[] = { SPOOL_ACKED_FILE, SPOOL_UPLINK_STATUS_FILE };
        for (size_t i = 0; i < ELEMENTSOF(uplink_files); i++) {
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s/%s", spool->dir, uplink_files[i]) < 0)
                        return -ENOMEM;
                (void)atomic_tmp_remove_stale(path);
        }

        _cleanup_free_ uint64_t *firsts = NULL;
        size_t n;
        r = list_segments(spool->dir, true, &firsts, &n);
        if (r < 0)
                return log_error_errno(r, "Cannot list spool directory %s: %m", spool->dir);
        spool->segs = calloc(n ? n : 1, sizeof *spool->segs);
        if (!spool->segs)
                return -ENOMEM;

        struct chain_walk walk = { 0 };
        memcpy(walk.last_hash, EVENT_GENESIS_HASH, sizeof walk.last_hash);
        memcpy(walk.max_hash, EVENT_GENESIS_HASH, sizeof walk.max_hash);
        for (size_t i = 0; i < n; i++) {
                spool->segs[i] = (struct spool_segment){ .first_seq = firsts[i] };
                spool->n_segs++;
                r = recover_segment(spool, &spool->segs[i], i + 1 == n, &walk);
                if (r < 0)
                        return r;
                if (i == 0 && firsts[0] > spool->acked_seq + 1)
                        add_fault(spool, "missing_segment", firsts[0], 0,
                                  "events %" PRIu64 "..%" PRIu64
                                  " are neither acknowledged nor in the spool",
                                  spool->acked_seq + 1, firsts[0] - 1);
        }
        if (n == 0 && spool->acked_seq > 0)
                add_fault(spool, "missing_segment", 0, 0,
                          "the spool is empty but seq %" PRIu64
                          " was acknowledged: its segments were removed",
                          spool->acked_seq);

        spool->next_seq = MAX(walk.max_seq, spool->acked_seq) + 1;
        memcpy(spool->last_hash, walk.max_hash, sizeof spool->last_hash);
        spool->durable_seq = walk.max_seq;

        /* A newest segment with no record (created just before a crash or a failed write)
         * is reused only when its name is the next seq; otherwise it goes. */
        struct spool_segment *newest = spool->n_segs ? &spool->segs[spool->n_segs - 1] : NULL;
        if (newest && newest->last_seq == 0 && newest->first_seq != spool->next_seq) {
                _cleanup_free_ char *path = segment_path(spool->dir, newest->first_seq);
                if (!path)
                        return -ENOMEM;
                if (unlink(path) < 0)
                        return log_error_errno(negative_errno(), "Cannot remove the empty %s: %m", path);
                close(spool->seg_fd);
                spool->seg_fd = -1;
                spool->n_segs--;
        }

        _cleanup_free_ char *durable_path = NULL;
        if (asprintf(&durable_path, "%s/" SPOOL_DURABLE_FILE, spool->dir) < 0)
                return -ENOMEM;
        spool->durable_fd = open_spool_file(spool, durable_path, O_RDWR | O_CREAT);
        if (spool->durable_fd < 0)
                return log_error_errno(spool->durable_fd, "Cannot open %s: %m", durable_path);
        r = write_durable_marker(spool);
        if (r < 0)
                return log_error_errno(r, "Cannot write %s: %m", durable_path);
        (void)fsync_directory_of(durable_path);
        update_oldest_unacked(spool);

        *ret = TAKE_PTR(spool);
        return 0;
}

/* --- writing ---------------------------------------------------------------------------- */

static uint64_t spool_total_bytes(const struct spool *spool)
{
        uint64_t total = 0;
        for (size_t i = 0; i < spool->n_segs; i++)
                total += spool->segs[i].bytes;
        return total;
}

/* Starts a new last segment whose first record will be first_seq. */
static int segment_create(struct spool *spool, uint64_t first_seq)
{
        struct spool_segment *ns = realloc(spool->segs, (spool->n_segs + 1) * sizeof *ns);
        if (!ns)
                return -ENOMEM;
        spool->segs = ns;

        _cleanup_free_ char *path = segment_path(spool->dir, first_seq);
        if (!path)
                return -ENOMEM;
        int fd = open_spool_file(spool, path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL);
        if (fd < 0)
                return fd;
        /* the new name must survive a crash before any record in it is called durable */
        int r = fsync_directory_of(path);
        if (r < 0) {
                close(fd);
                unlink(path);
                return r;
        }
        if (spool->seg_fd >= 0)
                close(spool->seg_fd);
        spool->seg_fd = fd;
        spool->segs[spool->n_segs++] = (struct spool_segment){ .first_seq = first_seq };
        return 0;
}

static int enforce_size_cap(struct spool *spool);

/* Drops the first n pending records (they are durable now). */
static void pending_consume(struct spool *spool, size_t n, size_t bytes)
{
        memmove(spool->buf, spool->buf + bytes, spool->buf_len - bytes);
        spool->buf_len -= bytes;
        memmove(spool->pend, spool->pend + n, (spool->n_pend - n) * sizeof *spool->pend);
        spool->n_pend -= n;
}

static int flush_pending(struct spool *spool)
{
        size_t done = 0, done_bytes = 0;
        int r = 0;

        while (done < spool->n_pend) {
                struct spool_segment *seg = spool->n_segs ? &spool->segs[spool->n_segs - 1] : NULL;
                if (!seg || spool->seg_fd < 0 ||
                    (seg->bytes >= spool->segment_bytes && seg->last_seq != 0)) {
                        r = segment_create(spool, spool->pend[done].seq);
                        if (r < 0)
                                break;
                        seg = &spool->segs[spool->n_segs - 1];
                }

                /* the records that fit in this segment, at least one */
                size_t end = done, bytes = 0, low = 0;
                do {
                        bytes += spool->pend[end].size;
                        low += !event_severity_is_security(spool->pend[end].severity);
                        end++;
                } while (end < spool->n_pend &&
                         seg->bytes + bytes + spool->pend[end].size <= spool->segment_bytes);

                r = write_all(spool->seg_fd, spool->buf + done_bytes, bytes);
                if (r == 0 && fdatasync(spool->seg_fd) < 0)
                        r = negative_errno();
                if (r < 0) {
                        /* leave the segment exactly as it was: these records stay queued */
                        if (ftruncate(spool->seg_fd, (off_t)seg->bytes) < 0)
                                log_warning_errno(negative_errno(),
                                                  "Cannot cut a failed write in %s: %m",
                                                  spool->dir);
                        break;
                }
                seg->bytes += bytes;
                seg->last_seq = spool->pend[end - 1].seq;
                seg->low_events += low;
                spool->durable_seq = spool->pend[end - 1].seq;
                done = end;
                done_bytes += bytes;
        }

        if (done > 0) {
                pending_consume(spool, done, done_bytes);
                /* a burst grew the buffer: give the memory back once it is drained */
                if (spool->n_pend == 0 && spool->buf_cap > GROUP_COMMIT_MAX_BYTES) {
                        free(spool->buf);
                        free(spool->pend);
                        spool->buf = NULL;
                        spool->pend = NULL;
                        spool->buf_cap = spool->pend_cap = 0;
                }
                int k = write_durable_marker(spool);
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}

int spool_sync(struct spool *spool)
{
        if (spool->n_pend == 0)
                return 0;

        int r = flush_pending(spool);
        if (r < 0) {
                /* said once per episode, not at every retry */
                if (spool->write_failing)
                        ;
                else if (is_disk_full(r))
                        log_error_errno(r, "Spool %s: disk full (%m); %zu events are held in "
                                           "memory and enforcement continues; free space on "
                                           "the spool's file system",
                                        spool->dir, spool->n_pend);
                else if (!is_disk_full(r))
                        log_error_errno(r, "Spool %s: cannot make events durable (%m); %zu "
                                           "events are held in memory",
                                        spool->dir, spool->n_pend);
                spool->disk_full = is_disk_full(r);
                spool->write_failing = true;
                return r;
        }
        if (spool->write_failing) {
                log_notice("Spool %s: writing works again, spooling resumed", spool->dir);
                spool->disk_full = spool->write_failing = false;
        }
        if (!spool->in_overflow && spool_total_bytes(spool) > spool->max_bytes)
                (void)enforce_size_cap(spool);
        return 0;
}

static int buffer_reserve(struct spool *spool, size_t bytes)
{
        if (spool->buf_len + bytes > spool->buf_cap) {
                size_t cap = MAX(spool->buf_cap * 2, spool->buf_len + bytes);
                cap = MAX(cap, (size_t)65536);
                uint8_t *nb = realloc(spool->buf, cap);
                if (!nb)
                        return -ENOMEM;
                spool->buf = nb;
                spool->buf_cap = cap;
        }
        if (spool->n_pend == spool->pend_cap) {
                size_t cap = spool->pend_cap ? spool->pend_cap * 2 : 256;
                struct pending_record *np = realloc(spool->pend, cap * sizeof *np);
                if (!np)
                        return -ENOMEM;
                spool->pend = np;
                spool->pend_cap = cap;
        }
        return 0;
}

int spool_append(struct spool *spool, uint64_t ts_usec, const char *type,
                 enum event_severity severity, const char *user, json_object *details,
                 uint64_t *ret_seq)
{
        /* While the disk is full the queue is bounded; beyond it the event is refused and
         * counted, and its seq is not used, so the chain has no hole. */
        if (spool->buf_len >= spool->queue_bytes)
                (void)spool_sync(spool);
        if (spool->buf_len >= spool->queue_bytes) {
                json_object_put(details);
                spool->refused_events++;
                return -ENOBUFS;
        }

        _cleanup_json_ json_object *ev = NULL;
        _cleanup_free_ char *canon = NULL;
        size_t len;
        int r = event_build_canonical(spool->next_seq, ts_usec, type, severity, user, details,
                                      spool->last_hash, &ev, &canon, &len);
        if (r < 0)
                return r;
        if (len > SPOOL_RECORD_MAX_PAYLOAD)
                return -E2BIG;
        r = buffer_reserve(spool, SPOOL_RECORD_HEADER + len);
        if (r < 0)
                return r;

        spool_record_encode(canon, (uint32_t)len, spool->buf + spool->buf_len);
        spool->buf_len += SPOOL_RECORD_HEADER + len;
        spool->pend[spool->n_pend++] = (struct pending_record){
                .seq = spool->next_seq,
                .ts_usec = ts_usec,
                .size = (uint32_t)(SPOOL_RECORD_HEADER + len),
                .severity = severity,
        };
        json_object *h;
        json_object_object_get_ex(ev, "hash", &h);
        memcpy(spool->last_hash, json_object_get_string(h), sizeof spool->last_hash);
        uint64_t seq = spool->next_seq++;

        if (event_severity_is_security(severity) || spool->buf_len >= GROUP_COMMIT_MAX_BYTES)
                r = spool_sync(spool);
        if (ret_seq)
                *ret_seq = seq;
        return r < 0 ? 1 : 0;
}

void spool_close(struct spool *spool)
{
        if (!spool)
                return;
        if (spool->n_pend > 0 && spool_sync(spool) < 0)
                log_error("Spool %s: %zu events could not be made durable before closing",
                          spool->dir, spool->n_pend);
        if (spool->seg_fd >= 0)
                close(spool->seg_fd);
        if (spool->durable_fd >= 0)
                close(spool->durable_fd);
        json_object_put(spool->faults);
        free(spool->segs);
        free(spool->buf);
        free(spool->pend);
        free(spool->dir);
        free(spool);
}

/* --- size cap -------------------------------------------------------------------------- */

/* Rewrites segment seg without the records plan marked, a tombstone at the head of each
 * dropped run; the temporary file is renamed over the segment, so a crash leaves the old
 * or the new one. */
static int segment_rewrite(struct spool *spool, struct spool_segment *seg, const uint8_t *data,
                           const struct spool_overflow_record *recs, const size_t *offsets,
                           size_t n, const struct chain_drop *drops, uint64_t *ret_bytes)
{
        _cleanup_free_ char *path = segment_path(spool->dir, seg->first_seq);
        _cleanup_free_ char *tmp = NULL;
        if (!path || asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = open_spool_file(spool, tmp, O_WRONLY | O_CREAT | O_TRUNC);
        if (fd < 0)
                return fd;

        uint64_t bytes = 0;
        size_t run = 0;
        int r = 0;
        for (size_t i = 0; i < n && r == 0; i++) {
                if (!recs[i].drop) {
                        r = write_all(fd, data + offsets[i], recs[i].size);
                        bytes += recs[i].size;
                        continue;
                }
                if (i > 0 && recs[i - 1].drop)
                        continue; /* inside a run: its tombstone is written */
                _cleanup_free_ char *payload = NULL;
                size_t len;
                r = spool_tombstone_format(&drops[run++], &payload, &len);
                if (r < 0)
                        break;
                _cleanup_free_ uint8_t *rec = malloc(SPOOL_RECORD_HEADER + len);
                if (!rec) {
                        r = -ENOMEM;
                        break;
                }
                spool_record_encode(payload, (uint32_t)len, rec);
                r = write_all(fd, rec, SPOOL_RECORD_HEADER + len);
                bytes += SPOOL_RECORD_HEADER + len;
        }
        if (r == 0 && fdatasync(fd) < 0)
                r = negative_errno();
        if (r == 0 && rename(tmp, path) < 0)
                r = negative_errno();
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        r = fsync_directory_of(path);
        if (r < 0)
                return r;
        *ret_bytes = bytes;
        return 0;
}

/* Drops low-severity events from one segment; returns bytes freed, 0 when it had nothing
 * to drop. */
static int64_t overflow_segment(struct spool *spool, size_t index, uint64_t need)
{
        struct spool_segment *seg = &spool->segs[index];
        _cleanup_free_ uint8_t *data = NULL;
        size_t len;
        int r = load_segment(spool->dir, seg->first_seq, &data, &len);
        if (r < 0)
                return r;

        _cleanup_free_ struct spool_overflow_record *recs = NULL;
        _cleanup_free_ size_t *offsets = NULL;
        size_t n = 0, cap = 0;
        struct spool_scan scan;
        struct spool_scan_item item;
        uint64_t low = 0;
        spool_scan_init(&scan, data, len);
        while (spool_scan_next(&scan, &item) != SPOOL_SCAN_END) {
                struct spool_entry e;
                if (item.kind != SPOOL_SCAN_RECORD ||
                    spool_entry_parse(item.payload, item.payload_len, false, &e) < 0) {
                        /* damage the CRC-only check at open could not see */
                        if (item.kind == SPOOL_SCAN_RECORD)
                                add_fault(spool, "corrupt_record", seg->first_seq, item.offset,
                                          "a record passes its CRC but is no event");
                        seg->damaged = true; /* keep the evidence as it is */
                        return 0;
                }
                low += !e.tombstone && !event_severity_is_security(e.severity);
                if (n == cap) {
                        cap = cap ? cap * 2 : 1024;
                        struct spool_overflow_record *nr = realloc(recs, cap * sizeof *nr);
                        if (!nr)
                                return -ENOMEM;
                        recs = nr;
                        size_t *no = realloc(offsets, cap * sizeof *no);
                        if (!no)
                                return -ENOMEM;
                        offsets = no;
                }
                recs[n] = (struct spool_overflow_record){ .entry = e, .size = (uint32_t)item.size };
                offsets[n++] = item.offset;
        }
        seg->low_events = low; /* counted now if open left it unknown */

        _cleanup_free_ struct chain_drop *drops = NULL;
        size_t n_drops;
        int dropped = spool_overflow_plan(recs, n, need, OVERFLOW_MAX_RUNS, &drops, &n_drops, NULL);
        if (dropped < 0)
                return dropped;
        if (dropped == 0) {
                seg->low_events = 0;
                return 0;
        }

        /* Declare first, durably: a crash before the rewrite leaves a declaration of drops
         * that did not happen (harmless: the events are still there), never a silent hole. */
        json_object *details = json_object_new_object();
        json_object *list = json_object_new_array();
        if (!details || !list) {
                json_object_put(details);
                json_object_put(list);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n_drops; i++)
                json_object_array_add(list, chain_drop_to_json(&drops[i]));
        char name[SEGMENT_NAME_LEN + 1];
        segment_name(seg->first_seq, name);
        uint64_t total = spool_total_bytes(spool);
        json_object_object_add(details, "reason", json_object_new_string("size_cap"));
        json_object_object_add(details, "segment", json_object_new_string(name));
        json_object_object_add(details, "max_bytes", json_object_new_int64((int64_t)spool->max_bytes));
        json_object_object_add(details, "spool_bytes", json_object_new_int64((int64_t)total));
        json_object_object_add(details, "dropped_events", json_object_new_int64(dropped));
        json_object_object_add(details, "dropped", list);
        uint64_t seq;
        r = spool_append(spool, clock_usec(CLOCK_REALTIME), CHAIN_DROP_OVERFLOW_TYPE,
                         EVENT_SEVERITY_WARNING, "", details, &seq);
        if (r != 0)
                return r < 0 ? r : -EIO;
        /* spool_append may have grown the segment array */
        seg = &spool->segs[index];

        uint64_t new_bytes;
        r = segment_rewrite(spool, seg, data, recs, offsets, n, drops, &new_bytes);
        if (r < 0)
                return log_error_errno(r, "Spool %s: cannot rewrite %s to drop events: %m",
                                       spool->dir, name);
        int64_t freed = (int64_t)seg->bytes - (int64_t)new_bytes;
        seg->bytes = new_bytes;
        seg->low_events -= MIN(seg->low_events, (uint64_t)dropped);
        spool->dropped_events += (uint64_t)dropped;
        log_warning("Spool %s over its cap of %" PRIu64 " bytes: dropped %d low-severity events "
                    "from %s (recorded in event %" PRIu64 "); security events are all kept",
                    spool->dir, spool->max_bytes, dropped, name, seq);
        return freed > 0 ? freed : 1;
}

static int enforce_size_cap(struct spool *spool)
{
        spool->in_overflow = true;
        /* free down to 90 % so that the cap is not hit again by the next event */
        uint64_t target = spool->max_bytes - spool->max_bytes / 10;
        int r = 0;
        size_t i = 0;
        while (i + 1 < spool->n_segs) {
                uint64_t total = spool_total_bytes(spool);
                if (total <= target)
                        break;
                struct spool_segment *seg = &spool->segs[i];
                if (seg->damaged || seg->low_events == 0) {
                        i++;
                        continue;
                }
                /* a segment is looked at again while it frees something: one pass may stop
                 * at the run limit with droppable events left */
                int64_t freed = overflow_segment(spool, i, total - target);
                if (freed < 0) {
                        r = (int)freed;
                        break;
                }
                if (freed == 0)
                        i++;
        }
        spool->in_overflow = false;
        if (spool_total_bytes(spool) > spool->max_bytes) {
                if (!spool->over_cap_logged)
                        log_warning("Spool %s holds %" PRIu64 " bytes, over its cap of %" PRIu64
                                    ": nothing more may be dropped (security events are kept); "
                                    "check the uplink",
                                    spool->dir, spool_total_bytes(spool), spool->max_bytes);
                spool->over_cap_logged = true;
        } else
                spool->over_cap_logged = false;
        return r;
}

/* --- acknowledgement and stats ----------------------------------------------------------- */

static void update_oldest_unacked(struct spool *spool)
{
        if (spool->durable_seq > spool->acked_seq) {
                /* reading a segment for it is not free: only when acked moved */
                if (spool->oldest_unacked_ts != 0 && spool->oldest_unacked_after == spool->acked_seq)
                        return;
                spool->oldest_unacked_ts = 0;
                struct spool_reader *reader;
                const char *json;
                size_t len;
                uint64_t seq;
                if (spool_reader_open(spool->dir, spool->acked_seq + 1, &reader) < 0)
                        return;
                int r;
                while ((r = spool_reader_next(reader, &json, &len, &seq)) == -EBADMSG)
                        ;
                struct spool_entry e;
                if (r > 0 && spool_entry_parse(json, len, false, &e) == 0) {
                        spool->oldest_unacked_ts = e.ts_usec;
                        spool->oldest_unacked_after = spool->acked_seq;
                }
                spool_reader_close(reader);
                return;
        }
        spool->oldest_unacked_ts = spool->n_pend > 0 ? spool->pend[0].ts_usec : 0;
}

int spool_collect(struct spool *spool, uint64_t *ret_acked)
{
        uint64_t acked;
        int r = read_acked(spool->dir, &acked);
        if (r < 0)
                return log_error_errno(r, "Cannot read %s/" SPOOL_ACKED_FILE ": %m", spool->dir);
        if (acked > spool->durable_seq) {
                log_warning("Spool %s: the uplink acknowledged seq %" PRIu64
                            " but only %" PRIu64 " is durable; using %" PRIu64,
                            spool->dir, acked, spool->durable_seq, spool->durable_seq);
                acked = spool->durable_seq;
        }
        spool->acked_seq = acked;

        /* The newest segment holding a record stays (and everything after it): the chain
         * continues from its last record. */
        size_t keep_from = spool->n_segs;
        while (keep_from > 0 && spool->segs[keep_from - 1].last_seq == 0)
                keep_from--;
        if (keep_from > 0)
                keep_from--;
        size_t gone = 0;
        while (gone < keep_from && spool->segs[gone].last_seq != 0 &&
               spool->segs[gone].last_seq <= acked) {
                _cleanup_free_ char *path = segment_path(spool->dir, spool->segs[gone].first_seq);
                if (!path)
                        return -ENOMEM;
                if (unlink(path) < 0 && errno != ENOENT) {
                        r = log_error_errno(negative_errno(), "Cannot delete %s: %m", path);
                        break;
                }
                gone++;
        }
        if (gone > 0) {
                memmove(spool->segs, spool->segs + gone, (spool->n_segs - gone) * sizeof *spool->segs);
                spool->n_segs -= gone;
                (void)fsync_directory_of(spool->dir);
        }
        update_oldest_unacked(spool);
        if (r < 0)
                return r;
        if (ret_acked)
                *ret_acked = acked;
        return 0;
}

void spool_get_stats(struct spool *spool, struct spool_stats *ret)
{
        update_oldest_unacked(spool);
        uint64_t first = 0;
        if (spool->n_segs > 0 && spool->segs[0].last_seq != 0)
                first = spool->segs[0].first_seq;
        else if (spool->n_pend > 0)
                first = spool->pend[0].seq;
        *ret = (struct spool_stats){
                .first_seq = first,
                .last_seq = spool->next_seq - 1,
                .durable_seq = spool->durable_seq,
                .acked_seq = spool->acked_seq,
                .bytes = spool_total_bytes(spool),
                .oldest_unacked_ts_usec = spool->oldest_unacked_ts,
                .disk_full = spool->disk_full,
                .dropped_events = spool->dropped_events,
                .queued_events = spool->n_pend,
                .refused_events = spool->refused_events,
        };
}

/* --- reading ------------------------------------------------------------------------- */

struct spool_reader {
        char *dir;
        uint64_t from_seq, durable;
        uint64_t *firsts;
        size_t n_segs, next_seg;
        uint8_t *data;
        struct spool_scan scan;
        char *json;
        size_t json_cap;
};

int spool_reader_open(const char *dir, uint64_t from_seq, struct spool_reader **ret)
{
        _cleanup_(spool_reader_closep) struct spool_reader *reader = calloc(1, sizeof *reader);
        if (!reader)
                return -ENOMEM;
        reader->dir = strdup(dir);
        if (!reader->dir)
                return -ENOMEM;
        reader->from_seq = from_seq;
        int r = read_seq_file(dir, SPOOL_DURABLE_FILE, &reader->durable);
        if (r == -ENOENT)
                reader->durable = 0; /* no writer has opened it yet: nothing is durable */
        else if (r < 0)
                return r;
        r = list_segments(dir, false, &reader->firsts, &reader->n_segs);
        if (r < 0)
                return r;
        /* start in the last segment that begins at or before from_seq */
        while (reader->next_seg + 1 < reader->n_segs && reader->firsts[reader->next_seg + 1] <= from_seq)
                reader->next_seg++;
        *ret = TAKE_PTR(reader);
        return 0;
}

int spool_reader_next(struct spool_reader *reader, const char **ret_json, size_t *ret_len,
                      uint64_t *ret_seq)
{
        for (;;) {
                struct spool_scan_item item;
                enum spool_scan_kind kind = reader->data ? spool_scan_next(&reader->scan, &item)
                                                         : SPOOL_SCAN_END;
                /* An incomplete record before a later segment is damage (a segment is
                 * complete before the next one starts); at the very end it is a write in
                 * progress, beyond the durable mark. */
                if (kind == SPOOL_SCAN_TORN && reader->next_seg < reader->n_segs) {
                        free(reader->data);
                        reader->data = NULL;
                        return -EBADMSG;
                }
                if (kind == SPOOL_SCAN_END || kind == SPOOL_SCAN_TORN) {
                        free(reader->data);
                        reader->data = NULL;
                        if (reader->next_seg >= reader->n_segs)
                                return 0;
                        size_t len;
                        int r = load_segment(reader->dir, reader->firsts[reader->next_seg++],
                                             &reader->data, &len);
                        if (r == -ENOENT)
                                continue; /* collected meanwhile: it was acknowledged */
                        if (r < 0)
                                return r;
                        spool_scan_init(&reader->scan, reader->data, len);
                        continue;
                }
                if (kind == SPOOL_SCAN_CORRUPT)
                        return -EBADMSG;

                struct spool_entry e;
                if (spool_entry_parse(item.payload, item.payload_len, false, &e) < 0)
                        return -EBADMSG;
                if (e.tombstone || e.first_seq < reader->from_seq)
                        continue;
                if (e.first_seq > reader->durable)
                        return 0;
                if (item.payload_len + 1 > reader->json_cap) {
                        char *nj = realloc(reader->json, item.payload_len + 1);
                        if (!nj)
                                return -ENOMEM;
                        reader->json = nj;
                        reader->json_cap = item.payload_len + 1;
                }
                memcpy(reader->json, item.payload, item.payload_len);
                reader->json[item.payload_len] = '\0';
                *ret_json = reader->json;
                *ret_len = item.payload_len;
                if (ret_seq)
                        *ret_seq = e.first_seq;
                return 1;
        }
}

void spool_reader_close(struct spool_reader *reader)
{
        if (!reader)
                return;
        free(reader->dir);
        free(reader->firsts);
        free(reader->data);
        free(reader->json);
        free(reader);
}

/* --- verification ------------------------------------------------------------------- */

struct verify_state {
        struct spool_verify_result res;
        uint64_t last_seq;
        char last_hash[SHA256_HEX_LEN + 1];
        struct chain_drop *tombstones; /* since the last event: bridge the next gap */
        size_t n_tombstones;
        struct chain_drop *undeclared; /* every tombstone, until an overflow event declares it */
        size_t n_undeclared;
};

static int verify_problem(struct verify_state *st, const char *segment, size_t offset,
                          const char *fmt, ...) _printf_(4, 5);
static int verify_problem(struct verify_state *st, const char *segment, size_t offset,
                          const char *fmt, ...)
{
        char what[400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        if (segment)
                snprintf(st->res.problem, sizeof st->res.problem, "%s offset %zu: %s", segment,
                         offset, what);
        else
                snprintf(st->res.problem, sizeof st->res.problem, "%s", what);
        return -EBADMSG;
}

static int push_drop(struct chain_drop **list, size_t *n, const struct chain_drop *d)
{
        struct chain_drop *nl = realloc(*list, (*n + 1) * sizeof *nl);
        if (!nl)
                return -ENOMEM;
        *list = nl;
        nl[(*n)++] = *d;
        return 0;
}

static int verify_record(struct verify_state *st, const char *name, size_t offset,
                         const char *payload, size_t len)
{
        struct spool_entry e;
        if (spool_entry_parse(payload, len, true, &e) < 0)
                return verify_problem(st, name, offset, "record passes its CRC but is no event");
        _cleanup_json_ json_object *ev = e.event;

        if (e.tombstone) {
                /* the spool may begin with dropped events: the chain starts before them */
                if (st->res.count == 0 && st->n_tombstones == 0 && st->last_seq == 0 && e.first_seq > 1) {
                        st->last_seq = e.first_seq - 1;
                        memcpy(st->last_hash, e.prev_hash, sizeof st->last_hash);
                }
                struct chain_drop d = { .from_seq = e.first_seq, .to_seq = e.last_seq };
                memcpy(d.prev_hash, e.prev_hash, sizeof d.prev_hash);
                memcpy(d.hash, e.hash, sizeof d.hash);
                if (push_drop(&st->tombstones, &st->n_tombstones, &d) < 0 ||
                    push_drop(&st->undeclared, &st->n_undeclared, &d) < 0)
                        return -ENOMEM;
                return 0;
        }

        char err[256];
        if (event_validate(ev, err, sizeof err) < 0)
                return verify_problem(st, name, offset, "seq %" PRIu64 ": %s", e.first_seq, err);

        uint64_t seq = e.first_seq;
        if (st->last_seq != 0 || st->n_tombstones > 0) {
                bool ok = chain_gap_bridged(st->last_seq, st->last_hash, seq, e.prev_hash,
                                            st->tombstones, st->n_tombstones);
                if (!ok) {
                        uint64_t expected = st->last_seq + 1;
                        for (size_t i = 0; i < st->n_tombstones; i++)
                                expected = MAX(expected, st->tombstones[i].to_seq + 1);
                        if (seq > expected)
                                return verify_problem(st, name, offset,
                                                      "seq %" PRIu64 " follows seq %" PRIu64
                                                      ": events %" PRIu64 "..%" PRIu64
                                                      " are missing",
                                                      seq, expected - 1, expected, seq - 1);
                        if (seq < expected)
                                return verify_problem(st, name, offset,
                                                      "seq %" PRIu64 " follows seq %" PRIu64
                                                      ": out of order",
                                                      seq, expected - 1);
                        return verify_problem(st, name, offset,
                                              "seq %" PRIu64 ": prev_hash is not the hash of "
                                              "seq %" PRIu64 " (chain broken)",
                                              seq, seq - 1);
                }
        }
        st->n_tombstones = 0;
        st->last_seq = seq;
        memcpy(st->last_hash, e.hash, sizeof st->last_hash);
        if (st->res.count++ == 0)
                st->res.first_seq = seq;
        st->res.last_seq = seq;

        /* an overflow event declares the tombstones that came before it */
        _cleanup_free_ struct chain_drop *declared = NULL;
        size_t n_declared;
        if (chain_drops_from_overflow(ev, &declared, &n_declared) == 0)
                for (size_t i = 0; i < n_declared; i++)
                        for (size_t j = 0; j < st->n_undeclared; j++)
                                if (chain_drop_equal(&declared[i], &st->undeclared[j])) {
                                        st->undeclared[j] = st->undeclared[--st->n_undeclared];
                                        break;
                                }
        return 0;
}

static int verify_segment(struct verify_state *st, const char *dir, uint64_t first_seq,
                          bool first_segment, bool last_segment, uint64_t acked)
{
        char name[SEGMENT_NAME_LEN + 1];
        segment_name(first_seq, name);
        _cleanup_free_ uint8_t *data = NULL;
        size_t len;
        int r = load_segment(dir, first_seq, &data, &len);
        if (r < 0)
                return verify_problem(st, NULL, 0, "%s: cannot read it: %s", name, strerror(-r));
        if (len == 0)
                return 0;

        struct spool_scan scan;
        struct spool_scan_item item;
        spool_scan_init(&scan, data, len);
        bool first = true;
        while (spool_scan_next(&scan, &item) != SPOOL_SCAN_END) {
                if (item.kind == SPOOL_SCAN_CORRUPT)
                        return verify_problem(st, name, item.offset,
                                              "%zu bytes fail their CRC (corrupt record)",
                                              item.size);
                if (item.kind == SPOOL_SCAN_TORN && last_segment)
                        return verify_problem(st, name, item.offset,
                                              "incomplete record of %zu bytes at the end (a "
                                              "torn write; hogo-agent cuts it when it starts)",
                                              item.size);
                if (item.kind == SPOOL_SCAN_TORN)
                        return verify_problem(st, name, item.offset,
                                              "the segment ends in %zu bytes that are no "
                                              "complete record, and a later segment exists "
                                              "(truncated or corrupt)",
                                              item.size);
                if (first) {
                        struct spool_entry e;
                        if (spool_entry_parse(item.payload, item.payload_len, false, &e) == 0) {
                                if (e.first_seq != first_seq)
                                        return verify_problem(
                                                st, name, item.offset,
                                                "starts at seq %" PRIu64 " but its name says %" PRIu64
                                                " (renamed or reordered segment)",
                                                e.first_seq, first_seq);
                                if (first_segment && e.first_seq > acked + 1)
                                        return verify_problem(
                                                st, name, item.offset,
                                                "the spool starts at seq %" PRIu64 " but only "
                                                "seq %" PRIu64 " was acknowledged: events %" PRIu64
                                                "..%" PRIu64 " are missing (deleted segment)",
                                                e.first_seq, acked, acked + 1, e.first_seq - 1);
                        }
                        first = false;
                }
                r = verify_record(st, name, item.offset, item.payload, item.payload_len);
                if (r < 0)
                        return r;
        }
        return 0;
}

int spool_verify(const char *dir, struct spool_verify_result *ret)
{
        struct verify_state st = { 0 };
        memcpy(st.last_hash, EVENT_GENESIS_HASH, sizeof st.last_hash);
        uint64_t acked;
        int r = read_acked(dir, &acked);
        if (r < 0) {
                verify_problem(&st, NULL, 0, "%s/" SPOOL_ACKED_FILE ": unreadable: %s", dir, strerror(-r));
                *ret = st.res;
                return -EBADMSG;
        }
        _cleanup_free_ uint64_t *firsts = NULL;
        size_t n;
        r = list_segments(dir, false, &firsts, &n);
        if (r < 0) {
                verify_problem(&st, NULL, 0, "%s: cannot list the spool: %s", dir, strerror(-r));
                *ret = st.res;
                return r;
        }
        if (n == 0 && acked > 0)
                r = verify_problem(&st, NULL, 0,
                                   "no segments, but seq %" PRIu64 " was acknowledged: the "
                                   "spool's segments were deleted",
                                   acked);
        for (size_t i = 0; i < n && r >= 0; i++)
                r = verify_segment(&st, dir, firsts[i], i == 0, i + 1 == n, acked);
        if (r >= 0 && st.n_tombstones > 0)
                r = verify_problem(&st, NULL, 0,
                                   "the spool ends with dropped events %" PRIu64 "..%" PRIu64
                                   " but no event after them",
                                   st.tombstones[0].from_seq, st.tombstones[st.n_tombstones - 1].to_seq);
        if (r >= 0 && st.n_undeclared > 0)
                r = verify_problem(&st, NULL, 0,
                                   "events %" PRIu64 "..%" PRIu64 " were dropped but no "
                                   "agent.spool_overflow event declares it",
                                   st.undeclared[0].from_seq, st.undeclared[0].to_seq);
        free(st.tombstones);
        free(st.undeclared);
        *ret = st.res;
        return r < 0 ? r : 0;
}

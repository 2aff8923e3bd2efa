/* test_spool.c — the spool: record encoding and scanning, the drop rule, the size-cap
 * policy, and the real spool on disk (append, group commit, recovery, corruption,
 * acknowledgement, overflow). */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "agent/spool.h"
#include "agent/spool_record.h"
#include "common/canon_json.h"
#include "common/chain_drop.h"
#include "common/fileio.h"
#include "common/util.h"
#include "tests/unit/unit.h"

#define TS0 1795000000000000ull

/* --- helpers ------------------------------------------------------------------------ */

static char *seg_path(const char *dir, uint64_t first)
{
        static char path[8][4096];
        static int k;
        char *p = path[k++ % 8];
        snprintf(p, 4096, "%s/seg-%020" PRIu64 ".log", dir, first);
        return p;
}

static struct spool *open_spool(const char *dir, uint64_t segment_bytes, uint64_t max_bytes)
{
        struct spool_options o = { .dir = dir, .segment_bytes = segment_bytes, .max_bytes = max_bytes };
        struct spool *s = NULL;
        CU_ASSERT_EQUAL_FATAL(spool_open(&o, &s), 0);
        return s;
}

static json_object *details_n(uint64_t n)
{
        json_object *d = json_object_new_object();
        json_object_object_add(d, "n", json_object_new_int64((int64_t)n));
        json_object_object_add(d, "pad", json_object_new_string("padding padding padding padding"));
        return d;
}

/* Appends n events; every security_every-th is a warning (0: none). */
static void append_n(struct spool *s, uint64_t n, uint64_t security_every)
{
        for (uint64_t i = 1; i <= n; i++) {
                bool sec = security_every && i % security_every == 0;
                uint64_t seq;
                CU_ASSERT_EQUAL(spool_append(s, TS0 + i * 1000, sec ? "usb.blocked" : "usb.allowed",
                                             sec ? EVENT_SEVERITY_WARNING : EVENT_SEVERITY_INFO,
                                             "tanaka", details_n(i), &seq),
                                0);
        }
        CU_ASSERT_EQUAL(spool_sync(s), 0);
}

static int count_segments(const char *dir)
{
        DIR *d = opendir(dir);
        int n = 0;
        struct dirent *de;
        while (d && (de = readdir(d)))
                n += strncmp(de->d_name, "seg-", 4) == 0;
        if (d)
                closedir(d);
        return n;
}

/* The first seq of the i-th segment (0-based) in name order. */
static uint64_t nth_segment(const char *dir, int i)
{
        DIR *d = opendir(dir);
        uint64_t firsts[256];
        int n = 0;
        struct dirent *de;
        while (d && (de = readdir(d)) && n < 256)
                if (strncmp(de->d_name, "seg-", 4) == 0)
                        firsts[n++] = strtoull(de->d_name + 4, NULL, 10);
        if (d)
                closedir(d);
        for (int a = 0; a < n; a++)
                for (int b = a + 1; b < n; b++)
                        if (firsts[b] < firsts[a]) {
                                uint64_t t = firsts[a];
                                firsts[a] = firsts[b];
                                firsts[b] = t;
                        }
        CU_ASSERT_FATAL(i < n);
        return firsts[i];
}

/* Reads every event; returns the count, -1 on a seq out of order; *bad counts -EBADMSG. */
static long read_all(const char *dir, uint64_t from, uint64_t *ret_last, int *bad)
{
        struct spool_reader *r;
        CU_ASSERT_EQUAL_FATAL(spool_reader_open(dir, from, &r), 0);
        const char *json;
        size_t len;
        uint64_t seq, last = 0;
        long n = 0;
        int k;
        *bad = 0;
        while ((k = spool_reader_next(r, &json, &len, &seq)) != 0) {
                if (k == -EBADMSG) {
                        (*bad)++;
                        continue;
                }
                CU_ASSERT_EQUAL_FATAL(k, 1);
                CU_ASSERT_EQUAL(strlen(json), len);
                if (seq <= last) {
                        n = -1;
                        break;
                }
                last = seq;
                n++;
        }
        spool_reader_close(r);
        if (ret_last)
                *ret_last = last;
        return n;
}

static bool faults_have(json_object *faults, const char *kind)
{
        size_t n = faults ? json_object_array_length(faults) : 0;
        for (size_t i = 0; i < n; i++) {
                json_object *k;
                if (json_object_object_get_ex(json_object_array_get_idx(faults, i), "kind", &k) &&
                    STREQ(json_object_get_string(k), kind))
                        return true;
        }
        return false;
}

static void flip_byte(const char *path, long offset_from_start)
{
        int fd = open(path, O_RDWR);
        CU_ASSERT_FATAL(fd >= 0);
        unsigned char c;
        CU_ASSERT_EQUAL_FATAL(pread(fd, &c, 1, offset_from_start), 1);
        c ^= 0x04;
        CU_ASSERT_EQUAL_FATAL(pwrite(fd, &c, 1, offset_from_start), 1);
        close(fd);
}

static off_t file_size(const char *path)
{
        struct stat st;
        CU_ASSERT_FATAL(stat(path, &st) == 0);
        return st.st_size;
}

static void write_acked(const char *dir, uint64_t seq)
{
        char path[4096], text[32];
        snprintf(path, sizeof path, "%s/" SPOOL_UPLINK_DIR, dir);
        CU_ASSERT_FATAL(mkdir(path, 0750) == 0 || errno == EEXIST);
        snprintf(path, sizeof path, "%s/" SPOOL_ACKED_FILE, dir);
        int n = snprintf(text, sizeof text, "%" PRIu64 "\n", seq);
        CU_ASSERT_EQUAL_FATAL(write_file_atomic(path, text, (size_t)n, 0644), 0);
}

/* --- record format ------------------------------------------------------------------ */

static void test_record_encode_and_scan(void)
{
        const char *a = "{\"a\":1}", *b = "{\"b\":\"two\"}";
        uint8_t buf[64];
        spool_record_encode(a, (uint32_t)strlen(a), buf);
        spool_record_encode(b, (uint32_t)strlen(b), buf + 8 + strlen(a));
        size_t total = 16 + strlen(a) + strlen(b);
        /* length and CRC32C, little-endian */
        CU_ASSERT_EQUAL(buf[0], strlen(a));
        CU_ASSERT_EQUAL(buf[1] | buf[2] | buf[3], 0);
        uint32_t crc = crc32c(0, a, strlen(a));
        CU_ASSERT_EQUAL((uint32_t)buf[4] | (uint32_t)buf[5] << 8 | (uint32_t)buf[6] << 16 |
                                (uint32_t)buf[7] << 24,
                        crc);

        struct spool_scan scan;
        struct spool_scan_item it;
        spool_scan_init(&scan, buf, total);
        CU_ASSERT_EQUAL(spool_scan_next(&scan, &it), SPOOL_SCAN_RECORD);
        CU_ASSERT_EQUAL(it.payload_len, strlen(a));
        CU_ASSERT_EQUAL(memcmp(it.payload, a, strlen(a)), 0);
        CU_ASSERT_EQUAL(spool_scan_next(&scan, &it), SPOOL_SCAN_RECORD);
        CU_ASSERT_EQUAL(it.offset, 8 + strlen(a));
        CU_ASSERT_EQUAL(spool_scan_next(&scan, &it), SPOOL_SCAN_END);

        /* a flipped payload bit fails the CRC; the scanner finds the next record again */
        buf[10] ^= 0x01;
        spool_scan_init(&scan, buf, total);
        CU_ASSERT_EQUAL(spool_scan_next(&scan, &it), SPOOL_SCAN_CORRUPT);
        CU_ASSERT_EQUAL(it.offset, 0);
        CU_ASSERT_EQUAL(it.size, 8 + strlen(a));
        CU_ASSERT_EQUAL(spool_scan_next(&scan, &it), SPOOL_SCAN_RECORD);
        CU_ASSERT_EQUAL(memcmp(it.payload, b, strlen(b)), 0);
        buf[10] ^= 0x01;

        /* a flipped length bit as well */
        buf[0] ^= 0x40;
        spool_scan_init(&scan, buf, total);
        CU_ASSERT_EQUAL(spool_scan_next(&scan, &it), SPOOL_SCAN_CORRUPT);
        CU_ASSERT_EQUAL(spool_scan_next(&scan, &it), SPOOL_SCAN_RECORD);
        CU_ASSERT_EQUAL(memcmp(it.payload, b, strlen(b)), 0);
        buf[0] ^= 0x40;

        /* a record cut short at the end is a torn tail, not a record */
        spool_scan_init(&scan, buf, total - 3);
        CU_ASSERT_EQUAL(spool_scan_next(&scan, &it), SPOOL_SCAN_RECORD);
        CU_ASSERT_EQUAL(spool_scan_next(&scan, &it), SPOOL_SCAN_TORN);
        CU_ASSERT_EQUAL(it.size, 8 + strlen(b) - 3);
        spool_scan_init(&scan, buf, 5);
        CU_ASSERT_EQUAL(spool_scan_next(&scan, &it), SPOOL_SCAN_TORN);
}

static void test_any_bit_flip_loses_one_record(void)
{
        /* events and tombstones back to back, as a rewritten segment holds them */
        const char *payloads[] = {
                "{\"dropped\":{\"from_seq\":1,\"hash\":\"aa\",\"prev_hash\":\"bb\",\"to_seq\":2}}",
                "{\"details\":{\"n\":3},\"hash\":\"cc\",\"seq\":3}",
                "{\"dropped\":{\"from_seq\":4,\"hash\":\"dd\",\"prev_hash\":\"cc\",\"to_seq\":4}}",
                "{\"dropped\":{\"from_seq\":5,\"hash\":\"ee\",\"prev_hash\":\"dd\",\"to_seq\":9}}",
                "{\"details\":{\"n\":10,\"pad\":\"\\u0000\"},\"seq\":10}",
        };
        const size_t n = ELEMENTSOF(payloads);
        uint8_t buf[1024];
        size_t starts[8], total = 0;
        for (size_t i = 0; i < n; i++) {
                starts[i] = total;
                spool_record_encode(payloads[i], (uint32_t)strlen(payloads[i]), buf + total);
                total += 8 + strlen(payloads[i]);
        }
        starts[n] = total;

        for (size_t pos = 0; pos < total; pos++)
                for (int bit = 0; bit < 8; bit++) {
                        buf[pos] ^= (uint8_t)(1u << bit);
                        size_t hit = 0;
                        while (starts[hit + 1] <= pos)
                                hit++;
                        struct spool_scan scan;
                        struct spool_scan_item it;
                        spool_scan_init(&scan, buf, total);
                        size_t records = 0, damaged = 0;
                        while (spool_scan_next(&scan, &it) != SPOOL_SCAN_END) {
                                if (it.kind == SPOOL_SCAN_RECORD) {
                                        records++;
                                        continue;
                                }
                                damaged++;
                                /* exactly the record hit, reported as such (torn when it is
                                 * the last one: nothing follows it) */
                                CU_ASSERT_EQUAL(it.offset, starts[hit]);
                                CU_ASSERT_EQUAL(it.size, starts[hit + 1] - starts[hit]);
                                CU_ASSERT_EQUAL(it.kind, hit + 1 == n ? SPOOL_SCAN_TORN : SPOOL_SCAN_CORRUPT);
                        }
                        CU_ASSERT_EQUAL(records, n - 1);
                        CU_ASSERT_EQUAL(damaged, 1);
                        buf[pos] ^= (uint8_t)(1u << bit);
                }
}

static void test_entry_parse(void)
{
        json_object *ev;
        CU_ASSERT_EQUAL_FATAL(event_build(7, TS0, "usb.blocked", EVENT_SEVERITY_WARNING, "sato",
                                          NULL, EVENT_GENESIS_HASH, &ev),
                              0);
        _cleanup_json_ json_object *owned = ev;
        _cleanup_free_ char *text = NULL;
        size_t len;
        CU_ASSERT_EQUAL_FATAL(json_canonical(ev, NULL, &text, &len), 0);
        struct spool_entry e;
        CU_ASSERT_EQUAL(spool_entry_parse(text, len, false, &e), 0);
        CU_ASSERT_FALSE(e.tombstone);
        CU_ASSERT_EQUAL(e.first_seq, 7);
        CU_ASSERT_EQUAL(e.severity, EVENT_SEVERITY_WARNING);
        CU_ASSERT_EQUAL(e.ts_usec, TS0 / 1000 * 1000);
        CU_ASSERT_STRING_EQUAL(e.prev_hash, EVENT_GENESIS_HASH);

        struct chain_drop d = { .from_seq = 3, .to_seq = 9 };
        memset(d.prev_hash, 'a', 64);
        memset(d.hash, 'b', 64);
        d.prev_hash[64] = d.hash[64] = '\0';
        _cleanup_free_ char *tomb = NULL;
        CU_ASSERT_EQUAL_FATAL(spool_tombstone_format(&d, &tomb, &len), 0);
        CU_ASSERT_EQUAL(spool_entry_parse(tomb, len, false, &e), 0);
        CU_ASSERT_TRUE(e.tombstone);
        CU_ASSERT_EQUAL(e.first_seq, 3);
        CU_ASSERT_EQUAL(e.last_seq, 9);
        CU_ASSERT_EQUAL(e.hash[0], 'b');

        CU_ASSERT_EQUAL(spool_entry_parse("{\"seq\":1}", 9, false, &e), -EBADMSG);
        CU_ASSERT_EQUAL(spool_entry_parse("{\"dropped\":{\"from_seq\":2}}", 26, false, &e), -EBADMSG);
        CU_ASSERT_EQUAL(spool_entry_parse("{\"a\":1} x", 9, false, &e), -EBADMSG);
}

static void test_stored_text_is_the_canonical_event(void)
{
        /* details and user that look like the members around the hash must not fool the
         * splice that puts "hash" into the stored text */
        json_object *d = json_tokener_parse(
                "{\"prev_hash\":\"x\",\"hash\":\"y\",\"z\":{\"prev_hash\":\"q\"},\"t\":\",\\\"prev_hash\\\":\\\"\"}");
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        json_object *ev;
        _cleanup_free_ char *text = NULL, *want = NULL;
        size_t len, want_len;
        CU_ASSERT_EQUAL_FATAL(event_build_canonical(9, TS0, "files.bulk_warning", EVENT_SEVERITY_ALERT,
                                                    "a\",\"prev_hash\":\"b", d, EVENT_GENESIS_HASH, &ev,
                                                    &text, &len),
                              0);
        _cleanup_json_ json_object *owned = ev;
        CU_ASSERT_EQUAL_FATAL(json_canonical(ev, NULL, &want, &want_len), 0);
        CU_ASSERT_STRING_EQUAL(text, want);
        CU_ASSERT_EQUAL(len, want_len);
        char err[128];
        _cleanup_json_ json_object *back = json_tokener_parse(text);
        CU_ASSERT_EQUAL(event_validate(back, err, sizeof err), 0);
}

/* --- the drop rule --------------------------------------------------------------------- */

static void fill_hash(char out[65], char c)
{
        memset(out, c, 64);
        out[64] = '\0';
}

static struct chain_drop drop_of(uint64_t from, uint64_t to, char prev_hash, char hash)
{
        struct chain_drop d = { .from_seq = from, .to_seq = to };
        fill_hash(d.prev_hash, prev_hash);
        fill_hash(d.hash, hash);
        return d;
}

static void test_chain_gap_bridged(void)
{
        /* hashes are 64 copies of one character: '3' is the hash of event 3, and so on */
        struct chain_drop drops[3] = { drop_of(6, 8, '5', '8'), drop_of(4, 5, '3', '5'),
                                       drop_of(4, 8, '3', '8') };
        static const struct {
                uint64_t last_seq;
                char last_hash;
                uint64_t next_seq;
                char next_prev;
                size_t first, n; /* the declared drops: drops[first..first+n) */
                bool bridged;
                const char *why;
        } cases[] = {
                { 3, '3', 4, '3', 0, 0, true, "no gap: the plain chain rule" },
                { 3, '3', 4, 'e', 0, 0, false, "no gap, wrong prev_hash" },
                { 3, '3', 9, '8', 0, 0, false, "a gap with no declaration" },
                { 3, '3', 9, '8', 0, 2, true, "two runs, listed in any order, chain 3 -> 9" },
                { 3, '3', 9, 'e', 0, 2, false, "the next prev_hash must be the last run's hash" },
                { 3, 'e', 9, '8', 0, 2, false, "a run must start from the last event's hash" },
                { 2, '3', 9, '8', 0, 2, false, "a run must start right after the last event" },
                { 3, '3', 10, '8', 0, 2, false, "a run short of the next event leaves a gap" },
                { 3, '3', 6, '5', 1, 1, true, "one run" },
                { 3, '3', 7, '5', 0, 2, false, "a run overlapping the next event" },
                { 3, '3', 9, '8', 1, 2, true, "overlapping declarations (4..5, then 4..8)" },
                { 3, '3', 9, '8', 0, 3, true, "overlaps, listed in any order" },
                { 3, '3', 6, '5', 0, 3, true, "overlaps, the shorter path" },
                { 3, '3', 9, '5', 0, 3, false, "overlaps, wrong prev_hash" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char last[65], prev[65];
                fill_hash(last, cases[i].last_hash);
                fill_hash(prev, cases[i].next_prev);
                bool got = chain_gap_bridged(cases[i].last_seq, last, cases[i].next_seq, prev,
                                             cases[i].n ? &drops[cases[i].first] : NULL, cases[i].n);
                if (got != cases[i].bridged)
                        fprintf(stderr, "chain_gap_bridged: %s: got %d\n", cases[i].why, got);
                CU_ASSERT_EQUAL(got, cases[i].bridged);
        }

        /* the overflow event's list */
        json_object *ev = json_object_new_object();
        json_object *det = json_object_new_object(), *list = json_object_new_array();
        json_object_array_add(list, chain_drop_to_json(&drops[0]));
        json_object_object_add(det, "dropped", list);
        json_object_object_add(ev, "details", det);
        json_object_object_add(ev, "type", json_object_new_string("agent.spool_overflow"));
        struct chain_drop *parsed;
        size_t n;
        CU_ASSERT_EQUAL_FATAL(chain_drops_from_overflow(ev, &parsed, &n), 0);
        CU_ASSERT_EQUAL(n, 1);
        CU_ASSERT_TRUE(chain_drop_equal(&parsed[0], &drops[0]));
        free(parsed);
        json_object_object_add(json_object_array_get_idx(list, 0), "extra", json_object_new_int(1));
        CU_ASSERT_EQUAL(chain_drops_from_overflow(ev, &parsed, &n), -EINVAL);
        json_object_object_add(ev, "type", json_object_new_string("usb.blocked"));
        CU_ASSERT_EQUAL(chain_drops_from_overflow(ev, &parsed, &n), -EINVAL);
        json_object_put(ev);
}

/* --- the size-cap policy -------------------------------------------------------------- */

static void plan_records(struct spool_overflow_record *r, size_t n, const char *severities)
{
        for (size_t i = 0; i < n; i++) {
                r[i] = (struct spool_overflow_record){ .size = 1000 };
                r[i].entry.first_seq = r[i].entry.last_seq = 100 + i;
                r[i].entry.severity = severities[i] == 'W' ? EVENT_SEVERITY_WARNING
                                      : severities[i] == 'A' ? EVENT_SEVERITY_ALERT
                                      : severities[i] == 'n' ? EVENT_SEVERITY_NOTICE
                                                             : EVENT_SEVERITY_INFO;
                r[i].entry.tombstone = severities[i] == 'T';
                fill_hash(r[i].entry.prev_hash, (char)('a' + (i % 6)));
                fill_hash(r[i].entry.hash, (char)('a' + ((i + 1) % 6)));
        }
}

static void test_overflow_plan(void)
{
        /* i=info n=notice W=warning A=alert T=tombstone */
        const char *sev = "iinWiiAiTi";
        struct spool_overflow_record r[10];
        plan_records(r, 10, sev);
        struct chain_drop *drops;
        size_t n_drops;
        uint64_t freed;

        /* everything droppable: never the warnings, alerts or tombstones */
        int k = spool_overflow_plan(r, 10, UINT64_MAX, 100, &drops, &n_drops, &freed);
        CU_ASSERT_EQUAL(k, 7);
        for (int i = 0; i < 10; i++)
                CU_ASSERT_EQUAL(r[i].drop, sev[i] == 'i' || sev[i] == 'n');
        /* runs: 100..102, 104..105, 107, 109 — each with its ends' hashes */
        CU_ASSERT_EQUAL_FATAL(n_drops, 4);
        CU_ASSERT_EQUAL(drops[0].from_seq, 100);
        CU_ASSERT_EQUAL(drops[0].to_seq, 102);
        CU_ASSERT_STRING_EQUAL(drops[0].prev_hash, r[0].entry.prev_hash);
        CU_ASSERT_STRING_EQUAL(drops[0].hash, r[2].entry.hash);
        CU_ASSERT_EQUAL(drops[1].from_seq, 104);
        CU_ASSERT_EQUAL(drops[1].to_seq, 105);
        CU_ASSERT_EQUAL(drops[2].from_seq, 107);
        CU_ASSERT_EQUAL(drops[3].from_seq, 109);
        CU_ASSERT_EQUAL(freed, 7 * 1000 - 4 * SPOOL_TOMBSTONE_SIZE);
        free(drops);

        /* oldest first, only as much as needed, but a run is finished, not cut */
        k = spool_overflow_plan(r, 10, 1500, 100, &drops, &n_drops, &freed);
        CU_ASSERT_EQUAL(k, 3);
        CU_ASSERT_TRUE(r[0].drop && r[1].drop && r[2].drop);
        CU_ASSERT_FALSE(r[3].drop || r[4].drop);
        CU_ASSERT_EQUAL(n_drops, 1);
        CU_ASSERT_EQUAL(drops[0].to_seq, 102);
        CU_ASSERT(freed >= 1500);
        free(drops);
        k = spool_overflow_plan(r, 10, 3000, 100, &drops, &n_drops, &freed);
        CU_ASSERT_EQUAL(k, 5);
        CU_ASSERT_EQUAL(n_drops, 2);
        CU_ASSERT_FALSE(r[7].drop);
        free(drops);

        /* the run limit bounds the overflow event */
        k = spool_overflow_plan(r, 10, UINT64_MAX, 2, &drops, &n_drops, &freed);
        CU_ASSERT_EQUAL(k, 5); /* 100..102 and 104..105 */
        CU_ASSERT_EQUAL(n_drops, 2);
        CU_ASSERT_FALSE(r[7].drop);
        free(drops);

        /* only security events: nothing */
        plan_records(r, 4, "WAWA");
        k = spool_overflow_plan(r, 4, UINT64_MAX, 100, &drops, &n_drops, &freed);
        CU_ASSERT_EQUAL(k, 0);
        CU_ASSERT_EQUAL(n_drops, 0);
        free(drops);

        /* a seq jump inside a segment starts a new run */
        plan_records(r, 3, "iii");
        r[2].entry.first_seq = r[2].entry.last_seq = 200;
        k = spool_overflow_plan(r, 3, UINT64_MAX, 100, &drops, &n_drops, &freed);
        CU_ASSERT_EQUAL(k, 3);
        CU_ASSERT_EQUAL(n_drops, 2);
        free(drops);
}

/* --- the spool on disk ---------------------------------------------------------------- */

static void test_append_read_and_continue(void)
{
        const char *dir = unit_tmpdir();
        /* the uplink reads through the directory's group: the files take it */
        bool as_root = getuid() == 0;
        if (as_root)
                CU_ASSERT_EQUAL_FATAL(chown(dir, (uid_t)-1, 65534), 0);
        struct spool *s = open_spool(dir, 4096, 0);
        append_n(s, 100, 0);
        struct spool_stats st;
        spool_get_stats(s, &st);
        CU_ASSERT_EQUAL(st.first_seq, 1);
        CU_ASSERT_EQUAL(st.last_seq, 100);
        CU_ASSERT_EQUAL(st.durable_seq, 100);
        CU_ASSERT_FALSE(st.disk_full);
        CU_ASSERT(count_segments(dir) > 3); /* segments rotate at 4 KiB */
        spool_close(s);
        struct stat seg_st;
        CU_ASSERT_EQUAL_FATAL(stat(seg_path(dir, 1), &seg_st), 0);
        CU_ASSERT_EQUAL(seg_st.st_mode & 07777, 0640);
        if (as_root)
                CU_ASSERT_EQUAL(seg_st.st_gid, 65534);

        /* seq and chain continue across a restart */
        s = open_spool(dir, 4096, 0);
        CU_ASSERT_PTR_NULL(spool_take_faults(s));
        append_n(s, 5, 0);
        spool_get_stats(s, &st);
        CU_ASSERT_EQUAL(st.last_seq, 105);
        spool_close(s);

        struct spool_verify_result res;
        CU_ASSERT_EQUAL(spool_verify(dir, &res), 0);
        CU_ASSERT_EQUAL(res.count, 105);
        CU_ASSERT_EQUAL(res.first_seq, 1);
        CU_ASSERT_EQUAL(res.last_seq, 105);

        int bad;
        uint64_t last;
        CU_ASSERT_EQUAL(read_all(dir, 1, &last, &bad), 105);
        CU_ASSERT_EQUAL(last, 105);
        CU_ASSERT_EQUAL(bad, 0);
        CU_ASSERT_EQUAL(read_all(dir, 60, &last, &bad), 46);
        CU_ASSERT_EQUAL(read_all(dir, 106, &last, &bad), 0);
}

static void test_group_commit_and_security_durability(void)
{
        const char *dir = unit_tmpdir();
        struct spool *s = open_spool(dir, 0, 0);
        uint64_t seq;
        int bad;
        for (int i = 0; i < 10; i++)
                CU_ASSERT_EQUAL(spool_append(s, TS0, "usb.allowed", EVENT_SEVERITY_INFO, "", NULL, &seq), 0);
        struct spool_stats st;
        spool_get_stats(s, &st);
        CU_ASSERT_EQUAL(st.last_seq, 10);
        CU_ASSERT_EQUAL(st.durable_seq, 0); /* buffered until the group commit */
        CU_ASSERT_EQUAL(st.queued_events, 10);
        CU_ASSERT_EQUAL(read_all(dir, 1, NULL, &bad), 0);

        /* a security event is durable, with everything before it, when append returns */
        CU_ASSERT_EQUAL(spool_append(s, TS0, "usb.blocked", EVENT_SEVERITY_WARNING, "", NULL, &seq), 0);
        CU_ASSERT_EQUAL(seq, 11);
        spool_get_stats(s, &st);
        CU_ASSERT_EQUAL(st.durable_seq, 11);
        CU_ASSERT_EQUAL(st.queued_events, 0);
        CU_ASSERT_EQUAL(read_all(dir, 1, NULL, &bad), 11);

        CU_ASSERT_EQUAL(spool_append(s, TS0, "usb.allowed", EVENT_SEVERITY_NOTICE, "", NULL, &seq), 0);
        CU_ASSERT_EQUAL(read_all(dir, 1, NULL, &bad), 11);
        CU_ASSERT_EQUAL(spool_sync(s), 0);
        CU_ASSERT_EQUAL(read_all(dir, 1, NULL, &bad), 12);
        spool_close(s);
}

static void test_reader_stops_at_durable_mark(void)
{
        const char *dir = unit_tmpdir();
        struct spool *s = open_spool(dir, 0, 0);
        append_n(s, 20, 0);
        spool_close(s);
        /* a record on disk beyond the durable mark (written, not yet synced) is not delivered */
        char path[4096];
        snprintf(path, sizeof path, "%s/durable", dir);
        CU_ASSERT_EQUAL(write_file_atomic(path, "15\n", 3, 0644), 0);
        int bad;
        uint64_t last;
        CU_ASSERT_EQUAL(read_all(dir, 1, &last, &bad), 15);
        CU_ASSERT_EQUAL(last, 15);
        unlink(path);
        CU_ASSERT_EQUAL(read_all(dir, 1, &last, &bad), 0);
}

static void test_torn_tail_is_cut(void)
{
        const char *dir = unit_tmpdir();
        struct spool *s = open_spool(dir, 0, 0);
        append_n(s, 30, 0);
        spool_close(s);
        const char *seg = seg_path(dir, 1);
        off_t whole = file_size(seg);
        /* half a record, as a killed write leaves it */
        const char *rec = "{\"seq\":31,\"ts\":\"x\"}";
        uint8_t buf[64];
        spool_record_encode(rec, (uint32_t)strlen(rec), buf);
        int fd = open(seg, O_WRONLY | O_APPEND);
        CU_ASSERT_EQUAL_FATAL(write(fd, buf, 14), 14);
        close(fd);

        struct spool_verify_result res;
        CU_ASSERT_EQUAL(spool_verify(dir, &res), -EBADMSG);
        CU_ASSERT_PTR_NOT_NULL(strstr(res.problem, "torn"));

        s = open_spool(dir, 0, 0);
        _cleanup_json_ json_object *faults = spool_take_faults(s);
        CU_ASSERT_TRUE(faults_have(faults, "torn_tail"));
        CU_ASSERT_EQUAL(file_size(seg), whole);
        uint64_t seq;
        CU_ASSERT_EQUAL(spool_append(s, TS0, "usb.blocked", EVENT_SEVERITY_ALERT, "", NULL, &seq), 0);
        CU_ASSERT_EQUAL(seq, 31);
        spool_close(s);
        CU_ASSERT_EQUAL(spool_verify(dir, &res), 0);
        CU_ASSERT_EQUAL(res.count, 31);
}

/* A byte flipped in the middle of segment nth (of segments of segment_bytes, holding
 * events 1..n): verify says CRC; the writer reports it at open and goes on; the reader
 * says so once and delivers every other event. Only the newest segment is parsed record
 * by record at open (older ones are checked by CRC), so only there is the hole also a
 * gap in the sequence. */
static void check_bit_flip(uint64_t segment_bytes, uint64_t n, int nth, bool newest)
{
        const char *dir = unit_tmpdir();
        struct spool *s = open_spool(dir, segment_bytes, 0);
        append_n(s, n, 0);
        spool_close(s);
        CU_ASSERT_FATAL(count_segments(dir) > nth);
        const char *seg = seg_path(dir, nth_segment(dir, nth));
        flip_byte(seg, file_size(seg) / 2);

        struct spool_verify_result res;
        CU_ASSERT_EQUAL(spool_verify(dir, &res), -EBADMSG);
        CU_ASSERT_PTR_NOT_NULL(strstr(res.problem, "CRC"));

        s = open_spool(dir, segment_bytes, 0);
        _cleanup_json_ json_object *faults = spool_take_faults(s);
        CU_ASSERT_TRUE(faults_have(faults, "corrupt_record"));
        CU_ASSERT_EQUAL(faults_have(faults, "gap"), newest);
        CU_ASSERT_FALSE(faults_have(faults, "torn_tail"));
        struct spool_stats st;
        spool_get_stats(s, &st);
        CU_ASSERT_EQUAL(st.last_seq, n);
        append_n(s, 1, 0);
        spool_get_stats(s, &st);
        CU_ASSERT_EQUAL(st.last_seq, n + 1);
        spool_close(s);

        int bad;
        uint64_t last;
        CU_ASSERT_EQUAL(read_all(dir, 1, &last, &bad), (long)n);
        CU_ASSERT_EQUAL(bad, 1);
        CU_ASSERT_EQUAL(last, n + 1);
}

static void test_bit_flip_mid_segment(void)
{
        check_bit_flip(0, 50, 0, true);
}

static void test_bit_flip_in_older_segment(void)
{
        check_bit_flip(2048, 60, 1, false);
}

static void test_deleted_segment(void)
{
        const char *dir = unit_tmpdir();
        struct spool *s = open_spool(dir, 2048, 0);
        append_n(s, 60, 0);
        spool_close(s);
        CU_ASSERT_FATAL(count_segments(dir) >= 4);

        /* one in the middle */
        uint64_t victim = nth_segment(dir, 2);
        CU_ASSERT_EQUAL_FATAL(unlink(seg_path(dir, victim)), 0);
        struct spool_verify_result res;
        CU_ASSERT_EQUAL(spool_verify(dir, &res), -EBADMSG);
        CU_ASSERT_PTR_NOT_NULL(strstr(res.problem, "missing"));
        s = open_spool(dir, 2048, 0);
        _cleanup_json_ json_object *faults = spool_take_faults(s);
        CU_ASSERT_TRUE(faults_have(faults, "gap"));
        spool_close(s);

        /* the oldest, not acknowledged */
        const char *dir2 = unit_tmpdir();
        s = open_spool(dir2, 2048, 0);
        append_n(s, 60, 0);
        spool_close(s);
        CU_ASSERT_EQUAL_FATAL(unlink(seg_path(dir2, 1)), 0);
        CU_ASSERT_EQUAL(spool_verify(dir2, &res), -EBADMSG);
        CU_ASSERT_PTR_NOT_NULL(strstr(res.problem, "deleted segment"));
        s = open_spool(dir2, 2048, 0);
        _cleanup_json_ json_object *faults2 = spool_take_faults(s);
        CU_ASSERT_TRUE(faults_have(faults2, "missing_segment"));
        spool_close(s);
}

static void test_truncated_older_segment(void)
{
        const char *dir = unit_tmpdir();
        struct spool *s = open_spool(dir, 2048, 0);
        append_n(s, 60, 0);
        spool_close(s);
        const char *victim = seg_path(dir, nth_segment(dir, 1));
        CU_ASSERT_EQUAL_FATAL(truncate(victim, file_size(victim) - 10), 0);

        struct spool_verify_result res;
        CU_ASSERT_EQUAL(spool_verify(dir, &res), -EBADMSG);
        CU_ASSERT_PTR_NOT_NULL(strstr(res.problem, "truncated or corrupt"));
        /* not cut: only the newest segment's tail is an interrupted write */
        off_t size = file_size(victim);
        s = open_spool(dir, 2048, 0);
        _cleanup_json_ json_object *faults = spool_take_faults(s);
        CU_ASSERT_TRUE(faults_have(faults, "corrupt_record"));
        CU_ASSERT_FALSE(faults_have(faults, "torn_tail"));
        spool_close(s);
        CU_ASSERT_EQUAL(file_size(victim), size);
        int bad;
        uint64_t last;
        CU_ASSERT_EQUAL(read_all(dir, 1, &last, &bad), 59);
        CU_ASSERT_EQUAL(bad, 1);
        CU_ASSERT_EQUAL(last, 60);
}

static void test_reordered_segment(void)
{
        const char *dir = unit_tmpdir();
        struct spool *s = open_spool(dir, 2048, 0);
        append_n(s, 60, 0);
        spool_close(s);
        uint64_t a = nth_segment(dir, 1), b = nth_segment(dir, 2);
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s/swap", dir);
        CU_ASSERT_EQUAL_FATAL(rename(seg_path(dir, a), tmp), 0);
        CU_ASSERT_EQUAL_FATAL(rename(seg_path(dir, b), seg_path(dir, a)), 0);
        CU_ASSERT_EQUAL_FATAL(rename(tmp, seg_path(dir, b)), 0);

        struct spool_verify_result res;
        CU_ASSERT_EQUAL(spool_verify(dir, &res), -EBADMSG);
        CU_ASSERT_PTR_NOT_NULL(strstr(res.problem, "reordered"));
        s = open_spool(dir, 2048, 0);
        _cleanup_json_ json_object *faults = spool_take_faults(s);
        CU_ASSERT_TRUE(faults_have(faults, "misnamed_segment"));
        /* the sequence never goes back: the next seq follows the highest one seen */
        uint64_t seq;
        CU_ASSERT_EQUAL(spool_append(s, TS0, "usb.blocked", EVENT_SEVERITY_WARNING, "", NULL, &seq), 0);
        CU_ASSERT_EQUAL(seq, 61);
        spool_close(s);
}

static void test_empty_newest_segment(void)
{
        /* a crash right after a segment was created leaves it empty: reused when its name
         * is the next seq, removed when not (acked moved past it) */
        const char *dir = unit_tmpdir();
        struct spool *s = open_spool(dir, 2048, 0);
        append_n(s, 30, 0);
        spool_close(s);
        free(unit_write_file(dir, "seg-00000000000000000031.log", "", 0));
        s = open_spool(dir, 2048, 0);
        CU_ASSERT_PTR_NULL(spool_take_faults(s));
        append_n(s, 1, 0);
        spool_close(s);
        struct spool_verify_result res;
        CU_ASSERT_EQUAL(spool_verify(dir, &res), 0);
        CU_ASSERT_EQUAL(res.last_seq, 31);

        free(unit_write_file(dir, "seg-00000000000000000090.log", "", 0));
        s = open_spool(dir, 2048, 0);
        append_n(s, 1, 0);
        spool_close(s);
        CU_ASSERT_NOT_EQUAL(access(seg_path(dir, 90), F_OK), 0);
        CU_ASSERT_EQUAL(spool_verify(dir, &res), 0);
        CU_ASSERT_EQUAL(res.last_seq, 32);
}

static void test_collect_after_ack(void)
{
        const char *dir = unit_tmpdir();
        struct spool *s = open_spool(dir, 2048, 0);
        append_n(s, 80, 0);
        int before = count_segments(dir);
        uint64_t third = nth_segment(dir, 2);
        CU_ASSERT_FATAL(before >= 5);

        /* acked in the middle of the third segment: the first two go */
        write_acked(dir, third + 1);
        uint64_t acked;
        CU_ASSERT_EQUAL(spool_collect(s, &acked), 0);
        CU_ASSERT_EQUAL(acked, third + 1);
        CU_ASSERT_EQUAL(count_segments(dir), before - 2);
        struct spool_stats st;
        spool_get_stats(s, &st);
        CU_ASSERT_EQUAL(st.first_seq, third);
        CU_ASSERT_EQUAL(st.acked_seq, third + 1);
        CU_ASSERT_EQUAL(st.oldest_unacked_ts_usec, TS0 + (third + 2) * 1000); /* event n at TS0 + n ms */

        struct spool_verify_result res;
        CU_ASSERT_EQUAL(spool_verify(dir, &res), 0);
        CU_ASSERT_EQUAL(res.first_seq, third);

        /* everything acknowledged: the last segment stays, the chain continues from it */
        write_acked(dir, 80);
        CU_ASSERT_EQUAL(spool_collect(s, &acked), 0);
        CU_ASSERT_EQUAL(count_segments(dir), 1);
        spool_close(s);
        s = open_spool(dir, 2048, 0);
        CU_ASSERT_PTR_NULL(spool_take_faults(s));
        uint64_t seq;
        CU_ASSERT_EQUAL(spool_append(s, TS0, "usb.blocked", EVENT_SEVERITY_WARNING, "", NULL, &seq), 0);
        CU_ASSERT_EQUAL(seq, 81);
        /* an acknowledgement beyond what is durable is not believed */
        write_acked(dir, 500);
        CU_ASSERT_EQUAL(spool_collect(s, &acked), 0);
        CU_ASSERT_EQUAL(acked, 81);
        spool_close(s);
        CU_ASSERT_EQUAL(spool_verify(dir, &res), 0);
}

/* 4 KiB segments, a 16 KiB cap: forces several rounds of dropping. restart: the first 300
 * events are written without the cap and the spool is reopened with it, so the cap works
 * on older segments whose droppable events the open did not count. */
static void check_overflow(bool restart)
{
        const char *dir = unit_tmpdir();
        struct spool *s = open_spool(dir, 4096, restart ? 0 : 16384);
        if (restart) {
                append_n(s, 300, 10);
                spool_close(s);
                s = open_spool(dir, 4096, 16384);
                append_n(s, 100, 10);
        } else
                append_n(s, 400, 10);
        struct spool_stats st;
        spool_get_stats(s, &st);
        CU_ASSERT(st.dropped_events > 0);
        uint64_t last = st.last_seq;
        spool_close(s);

        struct spool_verify_result res;
        CU_ASSERT_EQUAL(spool_verify(dir, &res), 0);
        if (*res.problem)
                fprintf(stderr, "verify: %s\n", res.problem);

        /* every security event is still there; every dropped event is declared */
        struct spool_reader *r;
        CU_ASSERT_EQUAL_FATAL(spool_reader_open(dir, 1, &r), 0);
        const char *json;
        size_t len;
        uint64_t seq;
        bool seen[1024] = { false };
        uint64_t declared = 0, overflow_events = 0;
        while (spool_reader_next(r, &json, &len, &seq) == 1) {
                CU_ASSERT_FATAL(seq < 1024);
                seen[seq] = true;
                _cleanup_json_ json_object *ev = json_tokener_parse(json);
                struct chain_drop *drops;
                size_t n;
                if (chain_drops_from_overflow(ev, &drops, &n) == 0) {
                        overflow_events++;
                        for (size_t i = 0; i < n; i++) {
                                declared += drops[i].to_seq - drops[i].from_seq + 1;
                                for (uint64_t q = drops[i].from_seq; q <= drops[i].to_seq; q++)
                                        CU_ASSERT(q < 1024 && !seen[q]);
                        }
                        free(drops);
                }
        }
        spool_reader_close(r);
        CU_ASSERT(overflow_events > 0);
        CU_ASSERT_EQUAL(declared, st.dropped_events);
        /* the writer's events n are seq n (the overflow events come after 400 in seq terms
         * only when interleaved, so check the security ones by their detail instead) */
        uint64_t security_seen = 0;
        CU_ASSERT_EQUAL_FATAL(spool_reader_open(dir, 1, &r), 0);
        while (spool_reader_next(r, &json, &len, &seq) == 1) {
                _cleanup_json_ json_object *ev = json_tokener_parse(json);
                json_object *t;
                json_object_object_get_ex(ev, "type", &t);
                security_seen += STREQ(json_object_get_string(t), "usb.blocked");
        }
        spool_reader_close(r);
        CU_ASSERT_EQUAL(security_seen, 40);
        CU_ASSERT(last > 400);
}

static void test_overflow_keeps_security_and_chain(void)
{
        check_overflow(false);
}

static void test_overflow_after_restart(void)
{
        check_overflow(true);
}

static void test_undeclared_tombstone_is_a_problem(void)
{
        /* a hand-made spool: events 1, 3 and a tombstone for 2 that nothing declares */
        const char *dir = unit_tmpdir();
        json_object *e1, *e2, *e3;
        CU_ASSERT_EQUAL_FATAL(event_build(1, TS0, "usb.allowed", EVENT_SEVERITY_INFO, "", NULL,
                                          EVENT_GENESIS_HASH, &e1), 0);
        json_object *h;
        json_object_object_get_ex(e1, "hash", &h);
        CU_ASSERT_EQUAL_FATAL(event_build(2, TS0, "usb.allowed", EVENT_SEVERITY_INFO, "", NULL,
                                          json_object_get_string(h), &e2), 0);
        json_object_object_get_ex(e2, "hash", &h);
        CU_ASSERT_EQUAL_FATAL(event_build(3, TS0, "usb.allowed", EVENT_SEVERITY_INFO, "", NULL,
                                          json_object_get_string(h), &e3), 0);
        struct chain_drop d = { .from_seq = 2, .to_seq = 2 };
        json_object_object_get_ex(e2, "prev_hash", &h);
        memcpy(d.prev_hash, json_object_get_string(h), 65);
        json_object_object_get_ex(e2, "hash", &h);
        memcpy(d.hash, json_object_get_string(h), 65);

        uint8_t seg[4096];
        size_t off = 0;
        _cleanup_free_ char *t1 = NULL, *t2 = NULL, *t3 = NULL;
        size_t l1, l2, l3;
        CU_ASSERT_EQUAL_FATAL(json_canonical(e1, NULL, &t1, &l1), 0);
        CU_ASSERT_EQUAL_FATAL(spool_tombstone_format(&d, &t2, &l2), 0);
        CU_ASSERT_EQUAL_FATAL(json_canonical(e3, NULL, &t3, &l3), 0);
        spool_record_encode(t1, (uint32_t)l1, seg + off);
        off += 8 + l1;
        spool_record_encode(t2, (uint32_t)l2, seg + off);
        off += 8 + l2;
        spool_record_encode(t3, (uint32_t)l3, seg + off);
        off += 8 + l3;
        free(unit_write_file(dir, "seg-00000000000000000001.log", seg, off));

        struct spool_verify_result res;
        CU_ASSERT_EQUAL(spool_verify(dir, &res), -EBADMSG);
        CU_ASSERT_PTR_NOT_NULL(strstr(res.problem, "no agent.spool_overflow event declares"));

        /* without the tombstone it is a plain gap */
        off = 0;
        spool_record_encode(t1, (uint32_t)l1, seg + off);
        off += 8 + l1;
        spool_record_encode(t3, (uint32_t)l3, seg + off);
        off += 8 + l3;
        free(unit_write_file(dir, "seg-00000000000000000001.log", seg, off));
        CU_ASSERT_EQUAL(spool_verify(dir, &res), -EBADMSG);
        CU_ASSERT_PTR_NOT_NULL(strstr(res.problem, "events 2..2 are missing"));

        /* a changed event fails its hash even with a good CRC */
        json_object_object_add(e2, "user", json_object_new_string("mallory"));
        _cleanup_free_ char *t2b = NULL;
        CU_ASSERT_EQUAL_FATAL(json_canonical(e2, NULL, &t2b, &l2), 0);
        off = 0;
        spool_record_encode(t1, (uint32_t)l1, seg + off);
        off += 8 + l1;
        spool_record_encode(t2b, (uint32_t)l2, seg + off);
        off += 8 + l2;
        free(unit_write_file(dir, "seg-00000000000000000001.log", seg, off));
        CU_ASSERT_EQUAL(spool_verify(dir, &res), -EBADMSG);
        CU_ASSERT_PTR_NOT_NULL(strstr(res.problem, "hash: does not match"));

        json_object_put(e1);
        json_object_put(e2);
        json_object_put(e3);
}

static void test_queue_bound_refuses_without_using_a_seq(void)
{
        /* An unwritable segment stands in for a failing disk: the append is kept in
         * memory (1), a bounded number of them, and refused beyond without a seq. */
        const char *dir = unit_tmpdir();
        struct spool_options o = { .dir = dir, .queue_bytes = 2000 };
        struct spool *s;
        CU_ASSERT_EQUAL_FATAL(spool_open(&o, &s), 0);
        append_n(s, 3, 0);
        spool_close(s);
        /* segments of one record each, and a directory in place of the next segment */
        struct spool_options o2 = { .dir = dir, .queue_bytes = 2000, .segment_bytes = 1 };
        CU_ASSERT_EQUAL_FATAL(spool_open(&o2, &s), 0);
        CU_ASSERT_EQUAL_FATAL(mkdir(seg_path(dir, 4), 0700), 0);
        uint64_t seq;
        int r = spool_append(s, TS0, "usb.blocked", EVENT_SEVERITY_WARNING, "", details_n(1), &seq);
        CU_ASSERT_EQUAL(r, 1);
        CU_ASSERT_EQUAL(seq, 4);
        int refused = 0, queued = 0;
        for (int i = 0; i < 20; i++) {
                r = spool_append(s, TS0, "usb.allowed", EVENT_SEVERITY_INFO, "", details_n(1), &seq);
                if (r == -ENOBUFS)
                        refused++;
                else if (r >= 0)
                        queued++;
        }
        CU_ASSERT(refused > 0);
        CU_ASSERT(queued > 0);
        struct spool_stats st;
        spool_get_stats(s, &st);
        CU_ASSERT_EQUAL(st.refused_events, (uint64_t)refused);
        CU_ASSERT_EQUAL(st.last_seq, 4 + (uint64_t)queued);
        CU_ASSERT_EQUAL(st.durable_seq, 3);
        /* the obstacle goes: everything queued becomes durable, no gap */
        CU_ASSERT_EQUAL_FATAL(rmdir(seg_path(dir, 4)), 0);
        CU_ASSERT_EQUAL(spool_sync(s), 0);
        spool_get_stats(s, &st);
        CU_ASSERT_EQUAL(st.durable_seq, st.last_seq);
        CU_ASSERT_EQUAL(st.queued_events, 0);
        spool_close(s);
        struct spool_verify_result res;
        CU_ASSERT_EQUAL(spool_verify(dir, &res), 0);
        CU_ASSERT_EQUAL(res.last_seq, 4 + (uint64_t)queued);
}

static CU_TestInfo format_tests[] = {
        { "record encoding, CRC, scanning past damage", test_record_encode_and_scan },
        { "any single bit flip loses exactly the record hit", test_any_bit_flip_loses_one_record },
        { "record payloads: events and tombstones", test_entry_parse },
        { "stored text is the canonical event", test_stored_text_is_the_canonical_event },
        { "drop rule: a gap is bridged only exactly", test_chain_gap_bridged },
        { "size-cap policy: oldest low-severity first", test_overflow_plan },
        CU_TEST_INFO_NULL,
};

static CU_TestInfo disk_tests[] = {
        { "append, read, seq and chain continue after restart", test_append_read_and_continue },
        { "group commit; security events durable on return", test_group_commit_and_security_durability },
        { "reader stops at the durable mark", test_reader_stops_at_durable_mark },
        { "torn tail detected, cut, sequence continues", test_torn_tail_is_cut },
        { "bit flip mid-segment detected, rest delivered", test_bit_flip_mid_segment },
        { "bit flip in an older segment found at open", test_bit_flip_in_older_segment },
        { "deleted segment detected", test_deleted_segment },
        { "truncated older segment detected, not cut", test_truncated_older_segment },
        { "reordered segment detected", test_reordered_segment },
        { "empty newest segment after a crash", test_empty_newest_segment },
        { "collect after ack", test_collect_after_ack },
        { "overflow keeps security events and the chain", test_overflow_keeps_security_and_chain },
        { "overflow after a restart counts older segments", test_overflow_after_restart },
        { "undeclared drop and gap are problems", test_undeclared_tombstone_is_a_problem },
        { "memory queue bound while writes fail", test_queue_bound_refuses_without_using_a_seq },
        CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
        { "spool format and policy", NULL, NULL, NULL, NULL, format_tests },
        { "spool on disk", NULL, NULL, NULL, NULL, disk_tests },
        CU_SUITE_INFO_NULL,
};

UNIT_MAIN(suites)

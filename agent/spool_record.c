/* spool_record.c — see spool_record.h. */
#include "agent/spool_record.h"

#include <time.h>

#include "common/canon_json.h"
#include "common/util.h"

static void put_le32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)(v >> 16);
        p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void spool_record_encode(const void *payload, uint32_t len, uint8_t *out)
{
        put_le32(out, len);
        put_le32(out + 4, crc32c(0, payload, len));
        memcpy(out + SPOOL_RECORD_HEADER, payload, len);
}

void spool_scan_init(struct spool_scan *scan, const void *data, size_t len)
{
        *scan = (struct spool_scan){ .data = data, .len = len };
}

/* Size of the valid record at off, or 0 when there is none. */
static size_t record_at(const struct spool_scan *scan, size_t off)
{
        if (scan->len - off < SPOOL_RECORD_HEADER)
                return 0;
        const uint8_t *p = scan->data + off;
        uint32_t len = get_le32(p);
        if (len == 0 || len > SPOOL_RECORD_MAX_PAYLOAD ||
            scan->len - off - SPOOL_RECORD_HEADER < len)
                return 0;
        /* every payload is a JSON object */
        if (p[SPOOL_RECORD_HEADER] != '{' || crc32c(0, p + SPOOL_RECORD_HEADER, len) != get_le32(p + 4))
                return 0;
        return SPOOL_RECORD_HEADER + len;
}

enum spool_scan_kind spool_scan_next(struct spool_scan *scan, struct spool_scan_item *item)
{
        size_t off = scan->offset;
        if (off >= scan->len) {
                *item = (struct spool_scan_item){ .kind = SPOOL_SCAN_END, .offset = off };
                return SPOOL_SCAN_END;
        }
        size_t size = record_at(scan, off);
        if (size > 0) {
                *item = (struct spool_scan_item){
                        .kind = SPOOL_SCAN_RECORD,
                        .offset = off,
                        .size = size,
                        .payload = (const char *)scan->data + off + SPOOL_RECORD_HEADER,
                        .payload_len = (uint32_t)(size - SPOOL_RECORD_HEADER),
                };
                scan->offset = off + size;
                return SPOOL_SCAN_RECORD;
        }
        /* Damaged: look for the next header whose CRC matches. A header's third and fourth
         * bytes are below 0x10 and 0, which JSON text never holds, so only real records match. */
        for (size_t next = off + 1; next < scan->len; next++) {
                if (next + 3 < scan->len && scan->data[next + 3] != 0)
                        continue;
                if (record_at(scan, next) > 0) {
                        *item = (struct spool_scan_item){
                                .kind = SPOOL_SCAN_CORRUPT, .offset = off, .size = next - off
                        };
                        scan->offset = next;
                        return SPOOL_SCAN_CORRUPT;
                }
        }
        *item = (struct spool_scan_item){
                .kind = SPOOL_SCAN_TORN, .offset = off, .size = scan->len - off
        };
        scan->offset = scan->len;
        return SPOOL_SCAN_TORN;
}

int spool_parse_ts(const char *ts, uint64_t *ret_usec)
{
        struct tm tm = { 0 };
        unsigned ms;
        int consumed = 0;
        if (!ts || strlen(ts) != 24 ||
            sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3uZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &consumed) != 7 ||
            consumed != 24)
                return -EINVAL;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        time_t t = timegm(&tm);
        if (t < 0)
                return -EINVAL;
        *ret_usec = (uint64_t)t * 1000000u + (uint64_t)ms * 1000u;
        return 0;
}

static void tokener_freep(json_tokener **tok)
{
        if (*tok)
                json_tokener_free(*tok);
}

static int entry_hash(json_object *o, const char *key, char out[static SHA256_HEX_LEN + 1])
{
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string) ||
            !is_lower_hex(json_object_get_string(v), SHA256_HEX_LEN))
                return -EBADMSG;
        memcpy(out, json_object_get_string(v), SHA256_HEX_LEN + 1);
        return 0;
}

int spool_entry_parse(const char *payload, size_t len, bool keep_event, struct spool_entry *ret)
{
        if (len > SPOOL_RECORD_MAX_PAYLOAD)
                return -EBADMSG;
        _cleanup_(tokener_freep) json_tokener *tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        _cleanup_json_ json_object *o = json_tokener_parse_ex(tok, payload, (int)len);
        if (!o || json_tokener_get_error(tok) != json_tokener_success ||
            json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, json_type_object))
                return -EBADMSG;

        struct spool_entry e = { 0 };
        json_object *v;
        if (json_object_object_get_ex(o, "dropped", &v)) {
                struct chain_drop drop;
                if (json_object_object_length(o) != 1 || chain_drop_from_json(v, &drop) < 0)
                        return -EBADMSG;
                e.tombstone = true;
                e.first_seq = drop.from_seq;
                e.last_seq = drop.to_seq;
                memcpy(e.prev_hash, drop.prev_hash, sizeof e.prev_hash);
                memcpy(e.hash, drop.hash, sizeof e.hash);
                *ret = e;
                return 0;
        }

        if (!json_object_object_get_ex(o, "seq", &v) || !json_object_is_type(v, json_type_int) ||
            json_object_get_int64(v) < 1)
                return -EBADMSG;
        e.first_seq = e.last_seq = (uint64_t)json_object_get_int64(v);
        int sev;
        if (!json_object_object_get_ex(o, "severity", &v) ||
            (sev = event_severity_from_string(json_object_get_string(v))) < 0)
                return -EBADMSG;
        e.severity = (enum event_severity)sev;
        if (!json_object_object_get_ex(o, "ts", &v) ||
            spool_parse_ts(json_object_get_string(v), &e.ts_usec) < 0)
                return -EBADMSG;
        if (entry_hash(o, "prev_hash", e.prev_hash) < 0 || entry_hash(o, "hash", e.hash) < 0)
                return -EBADMSG;
        if (keep_event)
                e.event = TAKE_PTR(o);
        *ret = e;
        return 0;
}

int spool_tombstone_format(const struct chain_drop *drop, char **ret, size_t *ret_len)
{
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object *d = chain_drop_to_json(drop);
        if (!o || !d || json_object_object_add(o, "dropped", d) < 0) {
                json_object_put(d);
                return -ENOMEM;
        }
        return json_canonical(o, NULL, ret, ret_len);
}

int spool_overflow_plan(struct spool_overflow_record *recs, size_t n, uint64_t need,
                        size_t max_runs, struct chain_drop **ret_drops, size_t *ret_n_drops,
                        uint64_t *ret_freed)
{
        _cleanup_free_ struct chain_drop *drops = NULL;
        size_t n_drops = 0;
        /* bytes freed so far, net of the tombstones the runs add */
        int64_t freed = 0, want = need > INT64_MAX ? INT64_MAX : (int64_t)need;
        int dropped = 0;
        bool in_run = false;

        for (size_t i = 0; i < n; i++)
                recs[i].drop = false;
        for (size_t i = 0; i < n; i++) {
                struct spool_overflow_record *r = &recs[i];
                if (r->entry.tombstone || event_severity_is_security(r->entry.severity)) {
                        in_run = false;
                        continue;
                }
                /* A run covers consecutive seqs only. Enough is checked only where a new run
                 * would start: a run is never cut short, so the next round's first run never
                 * touches this round's last one (no tombstone beside another). */
                bool continues = in_run && r->entry.first_seq == recs[i - 1].entry.last_seq + 1;
                if (!continues && (freed >= want || n_drops >= max_runs))
                        break;
                if (!continues) {
                        struct chain_drop *nd = realloc(drops, (n_drops + 1) * sizeof *drops);
                        if (!nd)
                                return -ENOMEM;
                        drops = nd;
                        struct chain_drop *d = &drops[n_drops++];
                        d->from_seq = r->entry.first_seq;
                        memcpy(d->prev_hash, r->entry.prev_hash, sizeof d->prev_hash);
                        freed -= SPOOL_TOMBSTONE_SIZE;
                        in_run = true;
                }
                struct chain_drop *d = &drops[n_drops - 1];
                d->to_seq = r->entry.last_seq;
                memcpy(d->hash, r->entry.hash, sizeof d->hash);
                r->drop = true;
                freed += r->size;
                dropped++;
        }
        *ret_drops = TAKE_PTR(drops);
        *ret_n_drops = n_drops;
        if (ret_freed)
                *ret_freed = freed > 0 ? (uint64_t)freed : 0;
        return dropped;
}

/* ingest.c — see ingest.h. */
#include "collectors/ingest.h"

#include "common/canon_json.h"
#include "common/event.h"
#include "common/json_strict.h"
#include "common/log.h"
#include "common/util.h"

#define CHAIN_BREAK_ALERT "tamper.chain_break"

static const char *member_string(json_object *o, const char *key)
{
        json_object *v;
        return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

void ingest_batch_free(struct ingest_batch *b)
{
        if (!b)
                return;
        for (size_t i = 0; i < b->n_events; i++)
                free(b->events[i].canonical);
        free(b->events);
        free(b->drops);
        json_object_put(b->root);
        free(b);
}

static int reject(enum reject_reason reason, enum reject_reason *ret_reason, int r)
{
        *ret_reason = reason;
        return r;
}

/* Collects the drops an agent.spool_overflow event declares; other events declare none. */
static int batch_add_drops(struct ingest_batch *b, json_object *ev)
{
        _cleanup_free_ struct chain_drop *drops = NULL;
        size_t n;
        if (chain_drops_from_overflow(ev, &drops, &n) < 0 || n == 0)
                return 0; /* a malformed declaration bridges nothing */
        struct chain_drop *all = realloc(b->drops, (b->n_drops + n) * sizeof *all);
        if (!all)
                return -ENOMEM;
        memcpy(all + b->n_drops, drops, n * sizeof *all);
        b->drops = all;
        b->n_drops += n;
        return 0;
}

int ingest_batch_parse(const char *body, size_t len, unsigned max_events,
                       struct ingest_batch **ret, enum reject_reason *ret_reason,
                       int64_t *ret_bad_seq, char *err, size_t errlen)
{
        *ret_bad_seq = -1;
        _cleanup_ingest_batch_ struct ingest_batch *b = calloc(1, sizeof *b);
        if (!b)
                return -ENOMEM;
        int r = json_parse_strict(body, len, &b->root, err, errlen);
        if (r < 0)
                return reject(REJECT_MALFORMED_JSON, ret_reason, r);

        json_object *events;
        if (!json_object_is_type(b->root, json_type_object) ||
            json_object_object_length(b->root) != 1 ||
            !json_object_object_get_ex(b->root, "events", &events) ||
            !json_object_is_type(events, json_type_array)) {
                snprintf(err, errlen, "expected {\"events\": [...]} and nothing else");
                return reject(REJECT_INVALID_REQUEST, ret_reason, -EINVAL);
        }
        size_t n = json_object_array_length(events);
        if (n == 0) {
                snprintf(err, errlen, "events: empty batch");
                return reject(REJECT_INVALID_REQUEST, ret_reason, -EINVAL);
        }
        if (n > max_events) {
                snprintf(err, errlen, "events: %zu events, at most %u per batch", n, max_events);
                return reject(REJECT_TOO_MANY_EVENTS, ret_reason, -E2BIG);
        }
        b->events = calloc(n, sizeof *b->events);
        if (!b->events)
                return -ENOMEM;

        for (size_t i = 0; i < n; i++) {
                json_object *ev = json_object_array_get_idx(events, i);
                struct ingest_event *e = &b->events[i];
                char why[256];
                /* One canonicalization serves the hash check and the stored text. */
                r = event_validate_canonical(ev, why, sizeof why, e->computed_hash,
                                             &e->canonical, NULL);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 && r != -EBADMSG) {
                        json_object *seq;
                        if (json_object_is_type(ev, json_type_object) &&
                            json_object_object_get_ex(ev, "seq", &seq) &&
                            json_object_is_type(seq, json_type_int))
                                *ret_bad_seq = json_object_get_int64(seq);
                        snprintf(err, errlen, "events[%zu]: %s", i, why);
                        return reject(REJECT_INVALID_EVENT, ret_reason, -EINVAL);
                }
                /* A hash that does not match the content is evidence of tampering: it is
                 * stored and reported, not refused (refusing would hide it and wedge the
                 * uplink on a batch it cannot change). */
                e->hash_ok = r == 0;
                b->n_events = i + 1; /* e->canonical is the batch's to free */
                json_object *seq;
                json_object_object_get_ex(ev, "seq", &seq);
                e->seq = (uint64_t)json_object_get_int64(seq);
                e->type = member_string(ev, "type");
                e->severity = member_string(ev, "severity");
                e->ts = member_string(ev, "ts");
                e->prev_hash = member_string(ev, "prev_hash");
                e->hash = member_string(ev, "hash");
                if (e->hash_ok && STREQ(e->type, CHAIN_DROP_OVERFLOW_TYPE)) {
                        r = batch_add_drops(b, ev);
                        if (r < 0)
                                return r;
                }
        }
        *ret = TAKE_PTR(b);
        return 0;
}

/* Stores one tamper.chain_break alert: {"kind", "seq", "expected": {...}, "got": {...}}
 * plus, when the event itself is not stored, the event as received. */
static int chain_break_store(struct store *store, const char *agent_id,
                             enum chain_break_kind kind, const struct ingest_event *e,
                             json_object *expected, json_object *got, bool include_event,
                             int64_t now, struct ingest_result *res)
{
        _cleanup_json_ json_object *d = json_object_new_object();
        if (!d) {
                json_object_put(expected);
                json_object_put(got);
                return -ENOMEM;
        }
        json_object_object_add(d, "kind", json_object_new_string(chain_break_kind_to_string(kind)));
        json_object_object_add(d, "seq", json_object_new_int64((int64_t)e->seq));
        json_object_object_add(d, "expected", expected);
        json_object_object_add(d, "got", got);
        if (include_event) {
                json_object *copy = json_tokener_parse(e->canonical);
                if (copy)
                        json_object_object_add(d, "event", copy);
        }
        _cleanup_free_ char *text = NULL;
        int r = json_canonical(d, NULL, &text, NULL);
        if (r < 0)
                return r;
        r = store_alert_insert(store, agent_id, CHAIN_BREAK_ALERT, text, now);
        if (r < 0)
                return r;
        res->breaks[kind]++;
        log_warning("Agent %s: event chain broken (%s) at seq %llu; stored as a %s alert",
                    agent_id, chain_break_kind_to_string(kind), (unsigned long long)e->seq,
                    CHAIN_BREAK_ALERT);
        return 0;
}

static json_object *seq_and_hash(const char *seq_key, uint64_t seq, const char *hash_key,
                                 const char *hash)
{
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        if (seq_key)
                json_object_object_add(o, seq_key, json_object_new_int64((int64_t)seq));
        if (hash_key)
                json_object_object_add(o, hash_key, json_object_new_string(hash));
        return o;
}

static int event_store(struct store *store, const char *agent_id, const struct ingest_event *e,
                       int64_t now, struct ingest_result *res)
{
        int r = store_event_insert(store, agent_id, e->seq, e->type, e->severity, e->ts, e->hash,
                                   e->canonical, now);
        if (r < 0)
                return r; /* -EEXIST cannot happen: the seq was looked up under the row lock */
        res->stored++;
        return 0;
}

static int ingest_event_apply(struct store *store, const char *agent_id,
                              const struct ingest_batch *b, const struct ingest_event *e,
                              uint64_t *last_seq,
                              char last_hash[static SHA256_HEX_LEN + 1], int64_t now,
                              struct ingest_result *res)
{
        int r;

        if (e->seq <= *last_seq) {
                char stored[SHA256_HEX_LEN + 1];
                r = store_event_hash(store, agent_id, e->seq, stored);
                if (r >= 0 && STREQ(stored, e->hash)) {
                        res->duplicates++; /* a re-send after a lost answer */
                        return 0;
                }
                if (r >= 0)
                        return chain_break_store(store, agent_id, CHAIN_BREAK_CONFLICT, e,
                                                 seq_and_hash("seq", e->seq, "hash", stored),
                                                 seq_and_hash("seq", e->seq, "hash", e->hash),
                                                 true, now, res);
                if (r != -ENOENT)
                        return r;
                r = chain_break_store(store, agent_id, CHAIN_BREAK_REORDER, e,
                                      seq_and_hash("seq", *last_seq + 1, NULL, NULL),
                                      seq_and_hash("seq", e->seq, NULL, NULL), false, now, res);
                if (r < 0)
                        return r;
                r = event_store(store, agent_id, e, now, res);
        } else {
                bool gap = e->seq > *last_seq + 1;
                r = 0;
                /* a gap the agent's spool declared (dropped events) is no break */
                if (gap && !chain_gap_bridged(*last_seq, last_hash, e->seq, e->prev_hash,
                                              b->drops, b->n_drops))
                        r = chain_break_store(store, agent_id, CHAIN_BREAK_GAP, e,
                                              seq_and_hash("seq", *last_seq + 1, "prev_hash", last_hash),
                                              seq_and_hash("seq", e->seq, "prev_hash", e->prev_hash),
                                              false, now, res);
                else if (!gap && STRNEQ(e->prev_hash, last_hash))
                        r = chain_break_store(store, agent_id, CHAIN_BREAK_PREV_MISMATCH, e,
                                              seq_and_hash(NULL, 0, "prev_hash", last_hash),
                                              seq_and_hash(NULL, 0, "prev_hash", e->prev_hash),
                                              false, now, res);
                if (r < 0)
                        return r;
                r = event_store(store, agent_id, e, now, res);
                if (r < 0)
                        return r;
                /* The head follows what came, so one break is reported once, not again for
                 * every event after it. */
                *last_seq = e->seq;
                memcpy(last_hash, e->hash, SHA256_HEX_LEN + 1);
        }
        if (r < 0)
                return r;
        if (!e->hash_ok)
                r = chain_break_store(store, agent_id, CHAIN_BREAK_HASH_MISMATCH, e,
                                      seq_and_hash(NULL, 0, "hash", e->computed_hash),
                                      seq_and_hash(NULL, 0, "hash", e->hash), false, now, res);
        return r;
}

int ingest_batch_apply(struct store *store, const char *agent_id, const struct ingest_batch *b,
                       int64_t now, struct ingest_result *ret)
{
        struct store_terminal t;
        int r = store_terminal_get_locked(store, agent_id, &t);
        if (r < 0)
                return r;
        if (t.revoked)
                return -EPERM;

        struct ingest_result res = { 0 };
        uint64_t last_seq = t.last_seq;
        char last_hash[SHA256_HEX_LEN + 1];
        memcpy(last_hash, t.last_hash, sizeof last_hash);
        if (last_seq == 0 && !is_lower_hex(last_hash, SHA256_HEX_LEN))
                memcpy(last_hash, EVENT_GENESIS_HASH, sizeof last_hash);

        for (size_t i = 0; i < b->n_events; i++) {
                r = ingest_event_apply(store, agent_id, b, &b->events[i], &last_seq, last_hash,
                                       now, &res);
                if (r < 0)
                        return r;
        }
        if (last_seq != t.last_seq) {
                r = store_terminal_set_chain(store, agent_id, last_seq, last_hash);
                if (r < 0)
                        return r;
        }
        res.acked_seq = last_seq;
        *ret = res;
        return 0;
}

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

/* What every step of applying one batch needs. */
struct apply {
        struct store *store;
        const char *agent_id;
        const struct ingest_batch *batch;
        /* events to store, inserted together (one statement on PostgreSQL instead of a
         * round trip each) before anything reads the events table and at the end */
        struct store_event *pending;
        size_t n_pending;
        int64_t now;
        struct ingest_result *res;
};

/* Stores one tamper.chain_break alert: {"kind", "seq", "expected": {...}, "got": {...}}
 * plus, when the event itself is not stored, the event as received (event_canonical), and
 * for a gap whose declaration never came, how long it was waited for and, when the rule
 * of ingest_gaps_bound() decided it, the seq the declaration had to come by. */
static int chain_break_store(struct store *store, const char *agent_id,
                             enum chain_break_kind kind, uint64_t seq, json_object *expected,
                             json_object *got, const char *event_canonical,
                             int64_t waited_seconds, uint64_t bound_seq, int64_t now)
{
        _cleanup_json_ json_object *d = json_object_new_object();
        if (!d) {
                json_object_put(expected);
                json_object_put(got);
                return -ENOMEM;
        }
        json_object_object_add(d, "kind", json_object_new_string(chain_break_kind_to_string(kind)));
        json_object_object_add(d, "seq", json_object_new_int64((int64_t)seq));
        json_object_object_add(d, "expected", expected);
        json_object_object_add(d, "got", got);
        if (event_canonical) {
                json_object *copy = json_tokener_parse(event_canonical);
                if (copy)
                        json_object_object_add(d, "event", copy);
        }
        if (waited_seconds >= 0)
                json_object_object_add(d, "declaration_waited_seconds",
                                       json_object_new_int64(waited_seconds));
        if (bound_seq > 0)
                json_object_object_add(d, "declaration_due_by_seq",
                                       json_object_new_int64((int64_t)bound_seq));
        _cleanup_free_ char *text = NULL;
        int r = json_canonical(d, NULL, &text, NULL);
        if (r < 0)
                return r;
        r = store_alert_insert(store, agent_id, CHAIN_BREAK_ALERT, text, now);
        if (r < 0)
                return r;
        log_warning("Agent %s: event chain broken (%s) at seq %llu; stored as a %s alert",
                    agent_id, chain_break_kind_to_string(kind), (unsigned long long)seq,
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

/* A break found while applying a batch: stored and counted in the batch's result. */
static int apply_break(struct apply *a, enum chain_break_kind kind, const struct ingest_event *e,
                       json_object *expected, json_object *got, bool include_event)
{
        int r = chain_break_store(a->store, a->agent_id, kind, e->seq, expected, got,
                                  include_event ? e->canonical : NULL, -1, 0, a->now);
        if (r < 0)
                return r;
        a->res->breaks[kind]++;
        return 0;
}

/* The gap alert of a pending gap whose declaration did not come: by_bound when the
 * declaration's bound was passed (ingest_gaps_bound()), else its wait is over. */
static int gap_alert(struct store *store, const struct store_chain_gap *g, bool by_bound,
                     int64_t now)
{
        return chain_break_store(store, g->agent_id, CHAIN_BREAK_GAP, g->next_seq,
                                 seq_and_hash("seq", g->last_seq + 1, "prev_hash", g->last_hash),
                                 seq_and_hash("seq", g->next_seq, "prev_hash", g->next_prev_hash),
                                 NULL, now - g->detected_at, by_bound ? g->bound_seq : 0, now);
}

/* Raises the alerts of these pending gaps: each is removed first, and only the one
 * collector whose removal succeeds raises it (several may share a PostgreSQL store). */
static int gaps_raise(struct store *store, const struct store_chain_gap *gaps, size_t n,
                      bool by_bound, int64_t now, unsigned *ret_alerted)
{
        unsigned alerted = 0;
        for (size_t i = 0; i < n; i++) {
                int r = store_chain_gap_remove(store, gaps[i].agent_id, gaps[i].next_seq);
                if (r == -ENOENT)
                        continue;
                if (r >= 0)
                        r = gap_alert(store, &gaps[i], by_bound, now);
                if (r < 0)
                        return r;
                if (by_bound)
                        log_info("Agent %s: events %llu..%llu missing and not declared by seq "
                                 "%llu, by which the spool's declaration of a drop must have come",
                                 gaps[i].agent_id, (unsigned long long)gaps[i].last_seq + 1,
                                 (unsigned long long)gaps[i].next_seq - 1,
                                 (unsigned long long)gaps[i].bound_seq);
                alerted++;
        }
        if (ret_alerted)
                *ret_alerted = alerted;
        return 0;
}

/* Raises the alert of each pending gap of agent_id whose bound the chain head has
 * reached: every event up to the bound is in, and no declaration among them bridged it. */
static int gaps_settle(struct store *store, const char *agent_id, uint64_t head_seq,
                       int64_t now, unsigned *ret_alerted)
{
        _cleanup_free_ struct store_chain_gap *gaps = NULL;
        size_t n = 0;
        int r = store_chain_gaps_due(store, agent_id, head_seq, &gaps, &n);
        if (r < 0)
                return r;
        return gaps_raise(store, gaps, n, true, now, ret_alerted);
}

int ingest_gaps_bound(struct store *store, const char *agent_id,
                      const struct ingest_spool_report *report, uint64_t head_seq, int64_t now,
                      unsigned *ret_alerted)
{
        unsigned alerted = 0;
        if (report->acked_seq > 0 && report->durable_seq > 0) {
                int r = store_chain_gaps_bound(store, agent_id, report->acked_seq,
                                               MAX(report->durable_seq, report->acked_seq));
                if (r < 0)
                        return r;
                if (r > 0) {
                        r = gaps_settle(store, agent_id, head_seq, now, &alerted);
                        if (r < 0)
                                return r;
                }
        }
        *ret_alerted = alerted;
        return 0;
}

/* A gap from last_seq/last_hash to e: accepted when declared drops bridge it, else held
 * pending until a declaration bridges it (apply_declarations(), in this batch or a later
 * one) or its wait is over (ingest_gaps_expire()). Never silently accepted: it is either
 * bridged or kept. */
static int apply_gap(struct apply *a, uint64_t last_seq, const char *last_hash,
                     const struct ingest_event *e)
{
        const struct ingest_batch *b = a->batch;
        if (chain_gap_bridged(last_seq, last_hash, e->seq, e->prev_hash, b->drops, b->n_drops))
                return 0;
        /* with the drops declared in earlier batches too (only those inside the gap) */
        _cleanup_free_ struct chain_drop *stored = NULL;
        size_t n_stored = 0;
        int r = store_chain_drops_get(a->store, a->agent_id, last_seq, e->seq, &stored, &n_stored);
        if (r < 0)
                return r;
        if (n_stored > 0) {
                _cleanup_free_ struct chain_drop *all = calloc(b->n_drops + n_stored, sizeof *all);
                if (!all)
                        return -ENOMEM;
                if (b->n_drops)
                        memcpy(all, b->drops, b->n_drops * sizeof *all);
                memcpy(all + b->n_drops, stored, n_stored * sizeof *all);
                if (chain_gap_bridged(last_seq, last_hash, e->seq, e->prev_hash, all,
                                      b->n_drops + n_stored))
                        return 0;
        }
        struct store_chain_gap g = { .last_seq = last_seq, .next_seq = e->seq,
                                     .detected_at = a->now };
        snprintf(g.agent_id, sizeof g.agent_id, "%s", a->agent_id);
        memcpy(g.last_hash, last_hash, sizeof g.last_hash);
        snprintf(g.next_prev_hash, sizeof g.next_prev_hash, "%s", e->prev_hash);
        r = store_chain_gap_add(a->store, &g);
        if (r < 0)
                return r; /* -EEXIST cannot happen: the head moved past next_seq */
        a->res->gaps_pending++;
        log_info("Agent %s: events %llu..%llu missing; waiting for the agent's declaration of "
                 "spool drops (limits.gap_declaration_seconds) before raising a %s alert",
                 a->agent_id, (unsigned long long)last_seq + 1, (unsigned long long)e->seq - 1,
                 CHAIN_BREAK_ALERT);
        return 0;
}

static int event_store(struct apply *a, const struct ingest_event *e)
{
        a->pending[a->n_pending++] = (struct store_event){ .seq = e->seq,
                                                           .type = e->type,
                                                           .severity = e->severity,
                                                           .ts = e->ts,
                                                           .hash = e->hash,
                                                           .event_json = e->canonical };
        return 0;
}

static int events_flush(struct apply *a)
{
        if (a->n_pending == 0)
                return 0;
        int r = store_event_insert_batch(a->store, a->agent_id, a->pending, a->n_pending, a->now,
                                         NULL);
        if (r < 0)
                return r;
        /* all of them: every seq was checked against the store (and the pending ones)
         * under the terminal's row lock, so none was stored already */
        a->res->stored += (uint64_t)r;
        a->n_pending = 0;
        return 0;
}

static int ingest_event_apply(struct apply *a, const struct ingest_event *e, uint64_t *last_seq,
                              char last_hash[static SHA256_HEX_LEN + 1])
{
        int r;

        if (e->seq <= *last_seq) {
                char stored[SHA256_HEX_LEN + 1];
                r = events_flush(a); /* the lookup must see this batch's events too */
                if (r < 0)
                        return r;
                r = store_event_hash(a->store, a->agent_id, e->seq, stored);
                if (r >= 0 && STREQ(stored, e->hash)) {
                        a->res->duplicates++; /* a re-send after a lost answer */
                        return 0;
                }
                if (r >= 0)
                        return apply_break(a, CHAIN_BREAK_CONFLICT, e,
                                           seq_and_hash("seq", e->seq, "hash", stored),
                                           seq_and_hash("seq", e->seq, "hash", e->hash), true);
                if (r != -ENOENT)
                        return r;
                r = apply_break(a, CHAIN_BREAK_REORDER, e,
                                seq_and_hash("seq", *last_seq + 1, NULL, NULL),
                                seq_and_hash("seq", e->seq, NULL, NULL), false);
                if (r < 0)
                        return r;
                r = event_store(a, e);
        } else {
                if (e->seq > *last_seq + 1)
                        r = apply_gap(a, *last_seq, last_hash, e);
                else if (STRNEQ(e->prev_hash, last_hash))
                        r = apply_break(a, CHAIN_BREAK_PREV_MISMATCH, e,
                                        seq_and_hash(NULL, 0, "prev_hash", last_hash),
                                        seq_and_hash(NULL, 0, "prev_hash", e->prev_hash), false);
                else
                        r = 0;
                if (r < 0)
                        return r;
                r = event_store(a, e);
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
                r = apply_break(a, CHAIN_BREAK_HASH_MISMATCH, e,
                                seq_and_hash(NULL, 0, "hash", e->computed_hash),
                                seq_and_hash(NULL, 0, "hash", e->hash), false);
        return r;
}

/* Keeps the drops this batch declared and settles the terminal's pending gaps they (with
 * the drops declared before) now bridge. */
static int apply_declarations(struct apply *a)
{
        const struct ingest_batch *b = a->batch;
        if (b->n_drops == 0)
                return 0;
        for (size_t i = 0; i < b->n_drops; i++) {
                int r = store_chain_drop_add(a->store, a->agent_id, &b->drops[i]);
                if (r < 0)
                        return r;
        }
        _cleanup_free_ struct store_chain_gap *gaps = NULL;
        size_t n_gaps = 0;
        int r = store_chain_gaps_get(a->store, a->agent_id, INT64_MAX, &gaps, &n_gaps);
        if (r < 0 || n_gaps == 0)
                return r;
        for (size_t i = 0; i < n_gaps; i++) {
                const struct store_chain_gap *g = &gaps[i];
                _cleanup_free_ struct chain_drop *drops = NULL;
                size_t n_drops = 0;
                r = store_chain_drops_get(a->store, a->agent_id, g->last_seq, g->next_seq, &drops,
                                          &n_drops);
                if (r < 0)
                        return r;
                if (!chain_gap_bridged(g->last_seq, g->last_hash, g->next_seq, g->next_prev_hash,
                                       drops, n_drops))
                        continue;
                r = store_chain_gap_remove(a->store, a->agent_id, g->next_seq);
                if (r == -ENOENT)
                        continue; /* another collector settled it meanwhile */
                if (r < 0)
                        return r;
                a->res->gaps_resolved++;
                log_info("Agent %s: the missing events %llu..%llu were declared dropped by its "
                         "spool; no chain break",
                         a->agent_id, (unsigned long long)g->last_seq + 1,
                         (unsigned long long)g->next_seq - 1);
        }
        return 0;
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
        _cleanup_free_ struct store_event *pending = calloc(b->n_events, sizeof *pending);
        if (!pending)
                return -ENOMEM;
        struct apply a = { .store = store, .agent_id = agent_id, .batch = b, .now = now,
                           .res = &res, .pending = pending };
        uint64_t last_seq = t.last_seq;
        char last_hash[SHA256_HEX_LEN + 1];
        memcpy(last_hash, t.last_hash, sizeof last_hash);
        if (last_seq == 0 && !is_lower_hex(last_hash, SHA256_HEX_LEN))
                memcpy(last_hash, EVENT_GENESIS_HASH, sizeof last_hash);

        for (size_t i = 0; i < b->n_events && r >= 0; i++)
                r = ingest_event_apply(&a, &b->events[i], &last_seq, last_hash);
        if (r >= 0)
                r = events_flush(&a);
        if (r < 0)
                return r;
        r = apply_declarations(&a);
        if (r < 0)
                return r;
        /* after the declarations: one in this batch may bridge a gap its bound names */
        if (last_seq != t.last_seq) {
                r = gaps_settle(store, agent_id, last_seq, now, &res.gaps_alerted);
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

int ingest_gaps_expire(struct store *store, int64_t now, int64_t wait_seconds,
                       unsigned *ret_alerted)
{
        _cleanup_free_ struct store_chain_gap *gaps = NULL;
        size_t n = 0;
        int r = store_chain_gaps_get(store, NULL, now - wait_seconds, &gaps, &n);
        if (r < 0)
                return r;
        return gaps_raise(store, gaps, n, false, now, ret_alerted);
}

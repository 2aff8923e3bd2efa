/* metrics.h — the collector's counters, rendered in the Prometheus text format.
 *
 * Process-wide relaxed atomics: every worker thread and the store writer count without
 * locks; GET /metrics renders a snapshot. Families:
 *   hogo_collector_requests_total{endpoint,code}
 *   hogo_collector_events_ingested_total, hogo_collector_events_duplicate_total
 *   hogo_collector_rejects_total{reason}
 *   hogo_collector_chain_breaks_total{kind}
 *   hogo_collector_chain_gaps_pending (gauge), hogo_collector_gap_alerts_total{raised_by}
 *   hogo_collector_enrollments_total
 *   hogo_collector_tls_handshake_failures_total{reason}
 *   hogo_collector_store_transaction_seconds (histogram)
 */
#ifndef HOGO_COLLECTOR_METRICS_H
#define HOGO_COLLECTOR_METRICS_H

#include <stddef.h>
#include <stdint.h>


enum metrics_endpoint {
        ENDPOINT_ENROLL,
        ENDPOINT_EVENTS,
        ENDPOINT_HEARTBEAT,
        ENDPOINT_POLICY,
        ENDPOINT_HEALTHZ,
        ENDPOINT_METRICS,
        ENDPOINT_OTHER,
        _ENDPOINT_MAX,
};

/* Why a request was refused; each is a label value of hogo_collector_rejects_total. */
enum reject_reason {
        REJECT_UNKNOWN_PATH,
        REJECT_METHOD,
        REJECT_CONTENT_TYPE,
        REJECT_TOO_LARGE,
        REJECT_TOO_MANY_EVENTS,
        REJECT_MALFORMED_JSON,
        REJECT_INVALID_REQUEST,
        REJECT_INVALID_EVENT,
        REJECT_WRONG_LISTENER,
        REJECT_UNKNOWN_AGENT,
        REJECT_REVOKED,
        REJECT_TOKEN_UNKNOWN,
        REJECT_TOKEN_EXPIRED,
        REJECT_TOKEN_USED_UP,
        REJECT_CSR_INVALID,
        REJECT_STORE_UNAVAILABLE,
        REJECT_REQUEST_TIMEOUT,   /* headers + body not in within limits.request_seconds */
        REJECT_HANDSHAKE_TIMEOUT, /* TLS handshake not done within limits.handshake_seconds */
        REJECT_CONNECTION_LIMIT,  /* over limits.max_connections */
        REJECT_HTTP_LAYER,        /* refused by the HTTP parser (e.g. body over twice the limit) */
        _REJECT_MAX,
};

enum handshake_failure {
        HANDSHAKE_NO_CLIENT_CERT,
        HANDSHAKE_UNTRUSTED_CERT,
        HANDSHAKE_EXPIRED_CERT,
        HANDSHAKE_REVOKED_CERT,
        HANDSHAKE_PROTOCOL,
        HANDSHAKE_NOT_TLS,
        HANDSHAKE_OTHER,
        _HANDSHAKE_FAILURE_MAX,
};

/* How an event broke its terminal's chain; the "kind" of a tamper.chain_break alert. */
enum chain_break_kind {
        CHAIN_BREAK_GAP,           /* seq jumped: events in between are missing */
        CHAIN_BREAK_REORDER,       /* an earlier seq arrived after a later one */
        CHAIN_BREAK_PREV_MISMATCH, /* prev_hash is not the hash of the event before */
        CHAIN_BREAK_HASH_MISMATCH, /* the event's content does not match its own hash */
        CHAIN_BREAK_CONFLICT,      /* a different event for a seq already stored */
        _CHAIN_BREAK_MAX,
};
const char *chain_break_kind_to_string(enum chain_break_kind k);

/* What raised a "gap" alert (collectors/ingest.h): the chain head passed the seq by which
 * the terminal's declaration had to come, or the wait (limits.gap_declaration_seconds). */
enum gap_alert_cause {
        GAP_ALERT_BY_BOUND,
        GAP_ALERT_BY_TIME_LIMIT,
        _GAP_ALERT_MAX,
};

/* The HTTP status codes the collector answers with, as label values. */
enum metrics_code {
        CODE_200, CODE_400, CODE_401, CODE_403, CODE_404, CODE_405, CODE_409, CODE_413, CODE_415,
        CODE_500, CODE_503, CODE_OTHER, _CODE_MAX,
};

const char *reject_reason_to_string(enum reject_reason r);

void metrics_count_request(enum metrics_endpoint e, int http_status);
void metrics_count_reject(enum reject_reason r);
void metrics_count_events(uint64_t ingested, uint64_t duplicates);
void metrics_count_chain_break(enum chain_break_kind kind);
/* n "gap" alerts raised: counted as chain breaks of kind gap and by cause. */
void metrics_count_gap_alerts(enum gap_alert_cause cause, unsigned n);
/* The pending gaps of every terminal, as the store writer last counted them. */
void metrics_set_chain_gaps_pending(uint64_t n);
void metrics_count_enrollment(void);
void metrics_count_handshake_failure(enum handshake_failure f);
void metrics_observe_store_transaction(uint64_t usec);

/* Value readers, for tests. */
uint64_t metrics_rejects(enum reject_reason r);
uint64_t metrics_events_ingested(void);
uint64_t metrics_chain_breaks(enum chain_break_kind k);
uint64_t metrics_gap_alerts(enum gap_alert_cause cause);

/* The Prometheus text exposition (version 0.0.4), malloc()ed. */
int metrics_render(char **ret, size_t *ret_len);

#endif

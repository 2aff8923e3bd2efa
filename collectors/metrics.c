/* metrics.c — see metrics.h. */
#include "collectors/metrics.h"

#include <stdatomic.h>
#include <stdio.h>

#include "common/util.h"

static const char *const endpoint_names[_ENDPOINT_MAX] = {
        [ENDPOINT_ENROLL] = "enroll",   [ENDPOINT_EVENTS] = "events",
        [ENDPOINT_HEARTBEAT] = "heartbeat", [ENDPOINT_POLICY] = "policy",
        [ENDPOINT_HEALTHZ] = "healthz", [ENDPOINT_METRICS] = "metrics",
        [ENDPOINT_OTHER] = "other",
};

static const char *const reject_names[_REJECT_MAX] = {
        [REJECT_UNKNOWN_PATH] = "unknown_path",
        [REJECT_METHOD] = "method_not_allowed",
        [REJECT_CONTENT_TYPE] = "content_type",
        [REJECT_TOO_LARGE] = "too_large",
        [REJECT_TOO_MANY_EVENTS] = "too_many_events",
        [REJECT_MALFORMED_JSON] = "malformed_json",
        [REJECT_INVALID_REQUEST] = "invalid_request",
        [REJECT_INVALID_EVENT] = "invalid_event",
        [REJECT_WRONG_LISTENER] = "wrong_listener",
        [REJECT_UNKNOWN_AGENT] = "unknown_agent",
        [REJECT_REVOKED] = "revoked",
        [REJECT_TOKEN_UNKNOWN] = "token_unknown",
        [REJECT_TOKEN_EXPIRED] = "token_expired",
        [REJECT_TOKEN_USED_UP] = "token_used_up",
        [REJECT_CSR_INVALID] = "csr_invalid",
        [REJECT_STORE_UNAVAILABLE] = "store_unavailable",
        [REJECT_REQUEST_TIMEOUT] = "request_timeout",
        [REJECT_HANDSHAKE_TIMEOUT] = "handshake_timeout",
        [REJECT_CONNECTION_LIMIT] = "connection_limit",
        [REJECT_HTTP_LAYER] = "http_layer",
};

static const char *const handshake_names[_HANDSHAKE_FAILURE_MAX] = {
        [HANDSHAKE_NO_CLIENT_CERT] = "no_client_certificate",
        [HANDSHAKE_UNTRUSTED_CERT] = "untrusted_certificate",
        [HANDSHAKE_EXPIRED_CERT] = "expired_certificate",
        [HANDSHAKE_REVOKED_CERT] = "revoked_certificate",
        [HANDSHAKE_PROTOCOL] = "protocol",
        [HANDSHAKE_NOT_TLS] = "not_tls",
        [HANDSHAKE_OTHER] = "other",
};

static const char *const chain_break_names[_CHAIN_BREAK_MAX] = {
        [CHAIN_BREAK_GAP] = "gap",
        [CHAIN_BREAK_REORDER] = "reorder",
        [CHAIN_BREAK_PREV_MISMATCH] = "prev_hash_mismatch",
        [CHAIN_BREAK_HASH_MISMATCH] = "hash_mismatch",
        [CHAIN_BREAK_CONFLICT] = "conflict",
};

static const char *const gap_alert_cause_names[_GAP_ALERT_MAX] = {
        [GAP_ALERT_BY_BOUND] = "declaration_bound",
        [GAP_ALERT_BY_TIME_LIMIT] = "time_limit",
};

static const int code_values[_CODE_MAX] = {
        [CODE_200] = 200, [CODE_400] = 400, [CODE_401] = 401, [CODE_403] = 403,
        [CODE_404] = 404, [CODE_405] = 405, [CODE_409] = 409, [CODE_413] = 413,
        [CODE_415] = 415, [CODE_500] = 500, [CODE_503] = 503, [CODE_OTHER] = 0,
};

/* Upper bounds of the store latency histogram, in microseconds. */
static const uint64_t latency_bounds_usec[] = { 500,    1000,   2500,    5000,    10000,
                                                25000,  50000,  100000,  250000,  1000000 };

static struct {
        atomic_uint_fast64_t requests[_ENDPOINT_MAX][_CODE_MAX];
        atomic_uint_fast64_t rejects[_REJECT_MAX];
        atomic_uint_fast64_t events_ingested, events_duplicate;
        atomic_uint_fast64_t chain_breaks[_CHAIN_BREAK_MAX];
        atomic_uint_fast64_t gap_alerts[_GAP_ALERT_MAX];
        atomic_uint_fast64_t chain_gaps_pending;
        atomic_uint_fast64_t enrollments;
        atomic_uint_fast64_t handshake_failures[_HANDSHAKE_FAILURE_MAX];
        atomic_uint_fast64_t latency_buckets[ELEMENTSOF(latency_bounds_usec) + 1];
        atomic_uint_fast64_t latency_sum_usec, latency_count;
} m;

#define INC(x, n) atomic_fetch_add_explicit(&(x), (n), memory_order_relaxed)
#define GET(x) ((unsigned long long)atomic_load_explicit(&(x), memory_order_relaxed))

const char *reject_reason_to_string(enum reject_reason r)
{
        return (unsigned)r < _REJECT_MAX ? reject_names[r] : "invalid";
}

void metrics_count_request(enum metrics_endpoint e, int http_status)
{
        size_t c = CODE_OTHER;
        for (size_t i = 0; i < CODE_OTHER; i++)
                if (code_values[i] == http_status)
                        c = i;
        INC(m.requests[(unsigned)e < _ENDPOINT_MAX ? e : ENDPOINT_OTHER][c], 1);
}

void metrics_count_reject(enum reject_reason r)
{
        if ((unsigned)r < _REJECT_MAX)
                INC(m.rejects[r], 1);
}

void metrics_count_events(uint64_t ingested, uint64_t duplicates)
{
        INC(m.events_ingested, ingested);
        INC(m.events_duplicate, duplicates);
}

const char *chain_break_kind_to_string(enum chain_break_kind k)
{
        return (unsigned)k < _CHAIN_BREAK_MAX ? chain_break_names[k] : "invalid";
}

void metrics_count_chain_break(enum chain_break_kind kind)
{
        if ((unsigned)kind < _CHAIN_BREAK_MAX)
                INC(m.chain_breaks[kind], 1);
}

uint64_t metrics_chain_breaks(enum chain_break_kind k)
{
        return (unsigned)k < _CHAIN_BREAK_MAX ? GET(m.chain_breaks[k]) : 0;
}

void metrics_count_gap_alerts(enum gap_alert_cause cause, unsigned n)
{
        if ((unsigned)cause >= _GAP_ALERT_MAX || n == 0)
                return;
        INC(m.gap_alerts[cause], n);
        INC(m.chain_breaks[CHAIN_BREAK_GAP], n);
}

uint64_t metrics_gap_alerts(enum gap_alert_cause cause)
{
        return (unsigned)cause < _GAP_ALERT_MAX ? GET(m.gap_alerts[cause]) : 0;
}

void metrics_set_chain_gaps_pending(uint64_t n)
{
        atomic_store_explicit(&m.chain_gaps_pending, n, memory_order_relaxed);
}
void metrics_count_enrollment(void) { INC(m.enrollments, 1); }

void metrics_count_handshake_failure(enum handshake_failure f)
{
        if ((unsigned)f < _HANDSHAKE_FAILURE_MAX)
                INC(m.handshake_failures[f], 1);
}

void metrics_observe_store_transaction(uint64_t usec)
{
        size_t b = 0;
        while (b < ELEMENTSOF(latency_bounds_usec) && usec > latency_bounds_usec[b])
                b++;
        INC(m.latency_buckets[b], 1);
        INC(m.latency_sum_usec, usec);
        INC(m.latency_count, 1);
}

uint64_t metrics_rejects(enum reject_reason r)
{
        return (unsigned)r < _REJECT_MAX ? GET(m.rejects[r]) : 0;
}

uint64_t metrics_events_ingested(void) { return GET(m.events_ingested); }

int metrics_render(char **ret, size_t *ret_len)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;

        fputs("# HELP hogo_collector_requests_total HTTP requests answered, by endpoint and status.\n"
              "# TYPE hogo_collector_requests_total counter\n", f);
        for (size_t e = 0; e < _ENDPOINT_MAX; e++)
                for (size_t c = 0; c < _CODE_MAX; c++)
                        if (GET(m.requests[e][c]) || c == CODE_200)
                                fprintf(f, "hogo_collector_requests_total{endpoint=\"%s\",code=\"%s%d\"} %llu\n",
                                        endpoint_names[e], c == CODE_OTHER ? "other" : "",
                                        c == CODE_OTHER ? 0 : code_values[c], GET(m.requests[e][c]));

        fputs("# HELP hogo_collector_events_ingested_total Events stored after validation and chain checks.\n"
              "# TYPE hogo_collector_events_ingested_total counter\n", f);
        fprintf(f, "hogo_collector_events_ingested_total %llu\n", GET(m.events_ingested));
        fputs("# HELP hogo_collector_events_duplicate_total Re-sent events already stored (acknowledged, not stored again).\n"
              "# TYPE hogo_collector_events_duplicate_total counter\n", f);
        fprintf(f, "hogo_collector_events_duplicate_total %llu\n", GET(m.events_duplicate));

        fputs("# HELP hogo_collector_rejects_total Requests refused, by reason.\n"
              "# TYPE hogo_collector_rejects_total counter\n", f);
        for (size_t r = 0; r < _REJECT_MAX; r++)
                fprintf(f, "hogo_collector_rejects_total{reason=\"%s\"} %llu\n", reject_names[r],
                        GET(m.rejects[r]));

        fputs("# HELP hogo_collector_chain_breaks_total Event chain breaks stored as tamper.chain_break alerts.\n"
              "# TYPE hogo_collector_chain_breaks_total counter\n", f);
        for (size_t k = 0; k < _CHAIN_BREAK_MAX; k++)
                fprintf(f, "hogo_collector_chain_breaks_total{kind=\"%s\"} %llu\n",
                        chain_break_names[k], GET(m.chain_breaks[k]));

        fputs("# HELP hogo_collector_chain_gaps_pending Chain gaps waiting for the agent's declaration of spool drops.\n"
              "# TYPE hogo_collector_chain_gaps_pending gauge\n", f);
        fprintf(f, "hogo_collector_chain_gaps_pending %llu\n", GET(m.chain_gaps_pending));
        fputs("# HELP hogo_collector_gap_alerts_total Gap alerts raised, by what decided them (the declaration's seq bound passed, or the time limit).\n"
              "# TYPE hogo_collector_gap_alerts_total counter\n", f);
        for (size_t c = 0; c < _GAP_ALERT_MAX; c++)
                fprintf(f, "hogo_collector_gap_alerts_total{raised_by=\"%s\"} %llu\n",
                        gap_alert_cause_names[c], GET(m.gap_alerts[c]));

        fputs("# HELP hogo_collector_enrollments_total Agents enrolled.\n"
              "# TYPE hogo_collector_enrollments_total counter\n", f);
        fprintf(f, "hogo_collector_enrollments_total %llu\n", GET(m.enrollments));

        fputs("# HELP hogo_collector_tls_handshake_failures_total TLS handshakes refused, by reason.\n"
              "# TYPE hogo_collector_tls_handshake_failures_total counter\n", f);
        for (size_t h = 0; h < _HANDSHAKE_FAILURE_MAX; h++)
                fprintf(f, "hogo_collector_tls_handshake_failures_total{reason=\"%s\"} %llu\n",
                        handshake_names[h], GET(m.handshake_failures[h]));

        fputs("# HELP hogo_collector_store_transaction_seconds Time from BEGIN to COMMIT of a store transaction.\n"
              "# TYPE hogo_collector_store_transaction_seconds histogram\n", f);
        unsigned long long cumulative = 0;
        for (size_t b = 0; b < ELEMENTSOF(latency_bounds_usec); b++) {
                cumulative += GET(m.latency_buckets[b]);
                fprintf(f, "hogo_collector_store_transaction_seconds_bucket{le=\"%g\"} %llu\n",
                        (double)latency_bounds_usec[b] / 1e6, cumulative);
        }
        cumulative += GET(m.latency_buckets[ELEMENTSOF(latency_bounds_usec)]);
        fprintf(f, "hogo_collector_store_transaction_seconds_bucket{le=\"+Inf\"} %llu\n", cumulative);
        fprintf(f, "hogo_collector_store_transaction_seconds_sum %.6f\n",
                (double)GET(m.latency_sum_usec) / 1e6);
        fprintf(f, "hogo_collector_store_transaction_seconds_count %llu\n", GET(m.latency_count));

        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        if (ret_len)
                *ret_len = len;
        return 0;
}

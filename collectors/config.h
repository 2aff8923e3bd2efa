/* config.h — the collector's configuration file.
 *
 * One JSON object; unknown keys anywhere are errors (a misspelt limit must not silently
 * fall back to a default). Example with every key:
 *
 *   {
 *     "listen": { "agent":  ["0.0.0.0:8443"],      mTLS, client certificate required
 *                 "enroll": ["0.0.0.0:8442"],      server-authenticated TLS, enrollment only
 *                 "metrics": ["127.0.0.1:9442"] }, plain HTTP, GET /metrics; loopback only
 *     "tls": { "certificate": "/etc/hogo/collector/server.crt",
 *              "key":         "/etc/hogo/collector/server.key",
 *              "ca":          "/etc/hogo/collector/ca.crt",
 *              "ca_key":      "/etc/hogo/collector/ca.key" },
 *     "store": { "sqlite": "/var/lib/hogo/collector.db" },   or { "postgres": "conninfo" }
 *     "limits": { "max_body_bytes": 1048576, "max_batch_events": 1000,
 *                 "timeout_seconds": 10, "handshake_seconds": 10, "request_seconds": 30,
 *                 "max_connections": 4096, "revocation_refresh_ms": 250,
 *                 "gap_declaration_seconds": 3600 },   a chain gap's wait for its declaration
 *     "threads": 0,                                 0 = one worker per CPU
 *     "log_level": "info"
 *   }
 *
 * "listen.enroll" may be an empty list: the collector then does not enroll (a site that
 * enrolls on one collector only). "listen.metrics" defaults to 127.0.0.1:9442 and may be
 * an empty list (no metrics); it speaks plain HTTP without client authentication, so only
 * loopback addresses are accepted (":port" means 127.0.0.1): counters say which agents
 * are refused and why, which is not for the network. Paths are used as given.
 */
#ifndef HOGO_COLLECTOR_CONFIG_H
#define HOGO_COLLECTOR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collectors/store.h"

#define CONFIG_MAX_LISTEN 8
#define COLLECTOR_DEFAULT_CONFIG "/etc/hogo/collector.json"
#define COLLECTOR_DEFAULT_METRICS_PORT 9442

enum listener_kind {
        LISTENER_AGENT,  /* mutual TLS: only enrolled, unrevoked agents get past the handshake */
        LISTENER_ENROLL, /* server-authenticated TLS: POST /v1/enroll and the probes only */
        LISTENER_METRICS, /* plain HTTP on loopback only: GET /metrics and GET /healthz */
        _LISTENER_KIND_MAX,
};

const char *listener_kind_to_string(enum listener_kind k);

struct listen_address {
        char host[256]; /* numeric address or name, "" for any */
        uint16_t port;
};

struct collector_limits {
        size_t max_body_bytes;      /* largest request body on any route (413 above) */
        unsigned max_batch_events;  /* events per POST /v1/events (413 above) */
        unsigned timeout_seconds;   /* idle keep-alive: a connection with no request open is
                                     * closed after this; also the write timeout */
        unsigned handshake_seconds; /* the TLS handshake must finish within this after accept */
        unsigned request_seconds;   /* headers + body must arrive within this from the
                                     * request's first byte (408 after) */
        unsigned max_connections;   /* open connections per collector; more are closed at once */
        unsigned revocation_refresh_ms;
        unsigned gap_declaration_seconds; /* a chain gap waits this long for the agent's
                                             declaration of spool drops (ingest.h) */
};

struct collector_config {
        struct listen_address listen[_LISTENER_KIND_MAX][CONFIG_MAX_LISTEN];
        size_t n_listen[_LISTENER_KIND_MAX];
        char *tls_certificate, *tls_key, *tls_ca, *tls_ca_key;
        enum store_kind store_kind;
        char *store_target;
        struct collector_limits limits;
        unsigned threads;
        int log_level;
};

/* Parses the configuration text; on error writes a one-line reason (with the key's path)
 * into err and returns -EINVAL. */
int config_parse(const char *text, size_t len, struct collector_config **ret, char *err,
                 size_t errlen);
/* Reads and parses path; errors are logged. */
int config_load(const char *path, struct collector_config **ret);
void config_free(struct collector_config *c);
static inline void config_freep(struct collector_config **c)
{
        if (*c)
                config_free(*c);
}
#define _cleanup_config_ __attribute__((cleanup(config_freep)))

/* Loads the configuration at path and opens its store (what hogoctl's collector commands
 * do); errors are logged. */
int config_open_store(const char *path, struct store **ret);

/* "host:port", "[v6]:port" or ":port" → address; -EINVAL when malformed. */
int listen_address_parse(const char *s, struct listen_address *ret);
/* Whether host is a loopback address (127.0.0.0/8, ::1) or "localhost". */
bool listen_address_is_loopback(const struct listen_address *a);

#endif

/* config.h — hogo-uplink's configuration file (/etc/hogo/uplink.json).
 *
 *   {"collectors": ["https://collector.example:8443", …],   agent API (mTLS), in failover order
 *    "enroll_urls": ["https://collector.example:8442"],     enrollment listener (TLS, no client
 * cert) "ca": "/etc/hogo/ca.crt",                              the pinned hogo CA, the only trust
 * anchor "state_dir": "/var/lib/hogo/uplink",                   key, certificate, agent id
 *    "spool_dir": "/var/lib/hogo/spool",
 *    "policy_drop_dir": "/var/lib/hogo/policy.d",
 *    "posture_file": "/run/hogo/posture.json",
 *    "token_file": "/etc/hogo/enroll-token",
 *    "reporting": {"heartbeat_seconds": 300, "batch_max_events": 500},
 *    "retry": {"min_ms": 1000, "max_ms": 300000},
 *    "poll_ms": 1000, "timeout_seconds": 30, "log_level": "info"}
 *
 * Only "collectors", "ca", "state_dir" and "spool_dir" are required. Unknown keys are
 * errors (a misspelt key must not silently fall back to a default), and so are wrong types
 * and values out of range. Every URL must be https://.
 */
#ifndef HOGO_UPLINK_CONFIG_H
#define HOGO_UPLINK_CONFIG_H

#include <stddef.h>

#define UPLINK_CONFIG_PATH      "/etc/hogo/uplink.json"
#define UPLINK_MAX_URLS         8
#define UPLINK_BATCH_MAX_EVENTS 1000 /* the collector's limit per batch */

struct uplink_config {
        char *collectors[UPLINK_MAX_URLS];
        size_t n_collectors;
        char *enroll_urls[UPLINK_MAX_URLS];
        size_t n_enroll_urls;
        char *ca;
        char *state_dir;
        char *spool_dir;
        char *policy_drop_dir; /* NULL: policy is not fetched */
        char *posture_file;    /* default: the agent's default, /run/hogo/posture.json */
        char *token_file;      /* NULL: enrollment needs -t */
        unsigned heartbeat_seconds;
        unsigned batch_max_events;
        unsigned retry_min_ms;
        unsigned retry_max_ms;
        unsigned poll_ms;
        unsigned timeout_seconds;
        int log_level; /* syslog level */
};

/* Parses the JSON text of a configuration. On failure returns -EINVAL and writes a
 * one-line reason naming the key into err. */
int uplink_config_parse(const char *text, struct uplink_config *ret, char *err, size_t errlen);
/* Reads and parses path; logs the reason on failure. */
int uplink_config_load(const char *path, struct uplink_config *ret);
void uplink_config_free(struct uplink_config *config);

#endif

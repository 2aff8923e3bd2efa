/* uplink.h — the uplink's loop: spool → collector, heartbeats, policy drop.
 *
 * Single-threaded. Each turn it reads the spool from the acknowledged seq + 1 (the reader
 * stays open only while batches are acknowledged in full, so after anything else the
 * segments the agent has deleted never matter), posts one batch,
 * and on {"acked_seq": N} writes <spool>/uplink/acked atomically before reading on. Because the
 * acked file only ever moves forward to what the collector has committed, and the
 * collector ignores events it already holds, a crash of either side at any moment leads to
 * re-sending, never to loss or duplicates. Heartbeats carry the agent's posture file; when
 * the collector assigns a policy version the agent does not run, the envelope is fetched
 * and dropped into the agent's policy directory untouched (the agent verifies it).
 * Failures back off (backoff.h); every attempt's result lands in <spool>/uplink/status.json
 * for `hogoctl status`.
 */
#ifndef HOGO_UPLINK_UPLINK_H
#define HOGO_UPLINK_UPLINK_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/uplink/config.h"

#define UPLINK_POLICY_DROP_FILE "policy.json"

struct uplink;

/* Needs an enrolled state directory (enroll.h). */
int uplink_new(const struct uplink_config *config, struct uplink **ret);
void uplink_free(struct uplink *u);
/* Runs until SIGTERM/SIGINT (blocked by the caller and passed as a signalfd). */
int uplink_run(struct uplink *u, int signal_fd);

/* Reads <spool>/uplink/acked: 0 when absent or unreadable (re-sending is harmless). */
uint64_t uplink_read_acked(const char *spool_dir);

#endif

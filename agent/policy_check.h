/* policy_check.h — the signature check of a policy envelope, in the agent or in
 * hogo-agent-helper.
 *
 * Ed25519 through OpenSSL's provider machinery initialises most of libcrypto, some 2 MiB of
 * resident memory the agent would keep for good (bench/agent_idle.sh), and nothing else
 * the agent does needs it. So the agent hands the envelope's bytes to
 * `hogo-agent-helper check-policy` and reads back a verdict: a native-endian int32
 * (0, or the -errno policy_check_envelope() returned) followed by the reason (at most
 * POLICY_CHECK_REASON_MAX bytes, no NUL). The agent then takes the policy from the very
 * bytes the helper checked.
 */
#ifndef HOGO_AGENT_POLICY_CHECK_H
#define HOGO_AGENT_POLICY_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"

#define POLICY_CHECK_REASON_MAX 8192
#define POLICY_CHECK_INPUT_MAX POLICY_FILE_MAX_SIZE
#define POLICY_CHECK_VERDICT_MAX (sizeof(int32_t) + POLICY_CHECK_REASON_MAX)

/* Checks an envelope in memory: its signature by the key in pubkey_path, then the policy
 * inside. On failure returns -errno and ret_reason says why (path names the file). */
int policy_check_envelope(const char *pubkey_path, const char *path, const char *data,
                          size_t len, struct policy **ret_policy, char **ret_reason);

/* The helper's side: checks and writes the verdict to fd. -errno when it cannot write. */
int policy_check_write_verdict(int fd, const char *pubkey_path, const char *path,
                               const char *data, size_t len);

/* The agent's side: the verdict's result (0 or -errno) from its bytes; -EBADMSG when it
 * is too short or claims a positive result. On a refusal ret_reason is the reason (or
 * NULL when there is none). */
int policy_check_read_verdict(const char *verdict, size_t len, int *ret_result,
                              char **ret_reason);

#endif

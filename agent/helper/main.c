/* hogo-agent-helper — the work hogo-agent runs in a process of its own (agent_helper.h).
 *
 *   hogo-agent-helper notify-server             notices to staff: requests and answers on
 *                                               stdin, a socket (notice_server.h)
 *   hogo-agent-helper check-policy PUBKEY PATH  a policy envelope on stdin; the verdict on
 *                                               stdout (policy_check.h)
 *
 * Started by the agent only (as root, with posix_spawn); not meant to be run by hand.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent_helper.h"
#include "agent/notice_delivery.h"
#include "agent/notice_server.h"
#include "agent/policy_check.h"
#include "common/canon_json.h"
#include "common/fileio.h"
#include "common/util.h"

/* The agent's input (a memfd): what says what it is for the message. */
static int read_stdin(const char *what, size_t max, char **ret, size_t *ret_len)
{
        int r = read_file_bounded("/dev/stdin", max, ret, ret_len);
        if (r < 0) {
                errno = -r;
                fprintf(stderr, AGENT_HELPER_NAME ": cannot read the %s: %m\n", what);
        }
        return r;
}

static int helper_check_policy(const char *pubkey, const char *path)
{
        _cleanup_free_ char *data = NULL;
        size_t len;
        if (read_stdin("policy envelope", POLICY_CHECK_INPUT_MAX, &data, &len) < 0)
                return 1;
        return policy_check_write_verdict(STDOUT_FILENO, pubkey, path, data, len) < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
        if (argc == 2 && STREQ(argv[1], AGENT_HELPER_NOTIFY_SERVER))
                return notice_serve(STDIN_FILENO);
        if (argc == 4 && STREQ(argv[1], AGENT_HELPER_CHECK_POLICY))
                return helper_check_policy(argv[2], argv[3]);
        fprintf(stderr, "usage: " AGENT_HELPER_NAME " notify-server  (stdin: a SOCK_SEQPACKET socket)\n"
                        "       " AGENT_HELPER_NAME " check-policy PUBKEY PATH < policy.json\n"
                        "(run by hogo-agent, not by hand)\n");
        return 2;
}

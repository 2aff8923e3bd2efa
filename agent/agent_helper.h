/* agent_helper.h — running hogo-agent-helper, the agent's small helper program.
 *
 * Work that needs a process of its own (notices to staff, which become the user to reach
 * the session bus; the policy signature check, which needs OpenSSL's EVP machinery the
 * agent would otherwise keep resident) runs in hogo-agent-helper, started with
 * posix_spawn(): vfork semantics, so the agent's page tables are never copied and its
 * threads and mappings cost nothing per start. The helper starts in a process group of
 * its own with every signal at its default and unblocked, and only fds 0-2: for the policy
 * check its input on stdin (a sealed memfd, so writing it can never block the agent) and
 * its answer on stdout; for notices one socket as both (notice_server.h).
 */
#ifndef HOGO_AGENT_AGENT_HELPER_H
#define HOGO_AGENT_AGENT_HELPER_H

#include <stddef.h>
#include <sys/types.h>

#include "agent/config.h"

#define AGENT_HELPER_NAME "hogo-agent-helper"
/* modes: argv[1] of the helper */
#define AGENT_HELPER_NOTIFY_SERVER "notify-server"
#define AGENT_HELPER_CHECK_POLICY "check-policy"

/* The helper to run: the configuration's `helper`; else hogo-agent-helper beside the
 * running hogo-agent when there is one (a build tree); else the installed
 * $(PREFIX)/libexec/hogo/hogo-agent-helper. */
int agent_helper_path(const struct agent_config *config, char **ret);

/* A sealed memfd holding data, positioned at its start: the helper's stdin. */
int agent_helper_input(const char *name, const void *data, size_t len);

/* Starts path with argv (argv[0] first, NULL-terminated), stdin_fd as its stdin and
 * stdout_fd as its stdout (stderr stays the agent's, so its complaints reach the
 * journal); nothing else of the agent's is inherited. Returns -errno when it could not
 * be started (glibc reports a failed exec, e.g. -ENOENT or -EACCES, here). */
int agent_helper_spawn(const char *path, char *const argv[], int stdin_fd, int stdout_fd,
                       pid_t *ret_pid);

#endif

/* hogoctl.h — the admin CLI's command table.
 *
 * hogoctl is one binary with one file per area (ctl/policy.c, ctl/spool.c, …). Each area
 * exports a `ctl_<area>_main(argc, argv)` that handles its own subcommands and --help and
 * returns the process exit status: 0 success, 1 error (message already printed to
 * stderr), 2 usage error, 3 "found something" where a command documents it (classify).
 * Adding an area is one file plus one line in the table in ctl/hogoctl.c.
 */
#ifndef HOGO_CTL_H
#define HOGO_CTL_H

#include <json-c/json.h>
#include <stdbool.h>

#define CTL_EXIT_OK 0
#define CTL_EXIT_ERROR 1
#define CTL_EXIT_USAGE 2
#define CTL_EXIT_FOUND 3

/* The agent's control socket unless --socket says otherwise. */
#define CTL_DEFAULT_SOCKET "/run/hogo/agent.sock"

struct ctl_command {
        const char *name;
        const char *summary; /* one line for `hogoctl --help` */
        int (*main)(int argc, char **argv);
};

/* true when argv holds -h or --help (commands print their own help then). */
bool ctl_wants_help(int argc, char **argv);

/* The string member key of o, or NULL (ctl/status.c). */
const char *ctl_json_str(json_object *o, const char *key);
/* Parses [--json] [--socket PATH] [--help] of a command that asks the agent
 * (ctl/status.c): 1 to go on, 0 when --help printed usage, -EINVAL on a usage error
 * (said on stderr, prefixed with who). */
int ctl_parse_agent_options(int argc, char **argv, const char *who, const char *usage,
                            const char **ret_socket, bool *ret_json);
/* Asks the agent at socket_path for its status (ctl/status.c). On failure prints why,
 * prefixed with who and followed by hint (what to do), and returns -errno. */
int ctl_agent_status(const char *socket_path, const char *who, const char *hint,
                     json_object **ret_status);

/* ctl/policy.c: validate, keygen, sign, verify, show. */
int ctl_policy_main(int argc, char **argv);
/* ctl/status.c: `hogoctl status [--json] [--socket PATH]`. */
int ctl_status_main(int argc, char **argv);
int ctl_media_main(int argc, char **argv);
/* ctl/policy_push.c: `hogoctl policy push`, dispatched from ctl_policy_main(). */
int ctl_policy_push(int argc, char **argv);
int ctl_spool_main(int argc, char **argv);
/* ctl/ca.c, ctl/token.c, ctl/agent.c: the collector's CA, enrollment tokens, revocation. */
int ctl_ca_main(int argc, char **argv);
int ctl_token_main(int argc, char **argv);
int ctl_agent_main(int argc, char **argv);
/* ctl/files.c: marking files and classifying their content. */
int ctl_mark_main(int argc, char **argv);
int ctl_unmark_main(int argc, char **argv);
int ctl_classify_main(int argc, char **argv);


#endif

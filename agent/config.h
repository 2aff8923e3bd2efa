/* config.h — hogo-agent's configuration (/etc/hogo/agent.json).
 *
 *   {
 *     "spool_dir": "/var/lib/hogo/spool",          events, written by the agent only
 *     "spool_max_bytes": 268435456,                 size cap of the spool (optional)
 *     "policy_dir": "/var/lib/hogo/policy",        signed policy drop (policy.json)
 *     "policy_pubkey": "/etc/hogo/policy.pub",      Ed25519 key the policy must verify with
 *     "state_dir": "/var/lib/hogo/agent",          last good policy
 *     "control_socket": "/run/hogo/agent.sock",
 *     "posture_file": "/run/hogo/posture.json",     for the uplink's heartbeat; on tmpfs so
 *                                                   it is written even when /var is full
 *     "control_group": "hogo-admin",                optional: may also use the socket
 *     "notify": {
 *       "contact": "情報政策課 (内線 1234)",           whom staff should ask
 *       "session_bus_address": "unix:path=/run/user/%U/bus",   %U = the user's uid
 *       "fallback": "terminals" | "none",           when no notification daemon answers
 *       "locale_dir": "/usr/share/locale"           where hogo-agent.mo catalogues live
 *     },
 *     "log_level": "info",
 *     "sysfs_root": "/",                            tests point the sources elsewhere
 *     "desktop_root": "/",                          where /etc/dconf and the GNOME schemas
 *                                                   are (tests: never the host's)
 *     "helper": "/usr/libexec/hogo/hogo-agent-helper"   notices and the policy check run
 *                                                   in it (default: beside hogo-agent in a
 *                                                   build tree, else $(PREFIX)/libexec/hogo)
 *   }
 *
 * Every key is optional (the defaults above apply); an unknown key, a wrong type or a
 * relative path is an error naming its JSON path, e.g. `notify.contact: expected a string,
 * got number`. Parsing is pure (agent_config_from_json) so it is unit-tested directly.
 */
#ifndef HOGO_AGENT_CONFIG_H
#define HOGO_AGENT_CONFIG_H

#include <json-c/json.h>
#include <stdint.h>

#define AGENT_CONFIG_DEFAULT_PATH "/etc/hogo/agent.json"
/* Where the posture the uplink sends lives by default (the uplink reads the same path). */
#define AGENT_POSTURE_DEFAULT_PATH "/run/hogo/posture.json"
#define AGENT_CONFIG_MAX_SIZE (64u * 1024)

enum notify_fallback {
        NOTIFY_FALLBACK_TERMINALS,
        NOTIFY_FALLBACK_NONE,
};

struct agent_config {
        char *spool_dir;
        uint64_t spool_max_bytes; /* 0: the spool's default */
        char *policy_dir;
        char *policy_pubkey;
        char *state_dir;
        char *control_socket;
        char *posture_file;
        char *control_group; /* NULL: root only */
        struct {
                char *contact;
                char *session_bus_address;
                enum notify_fallback fallback;
                char *locale_dir;
        } notify;
        int log_level; /* syslog level */
        char *sysfs_root;
        char *desktop_root;
        char *helper; /* NULL: agent_helper_path()'s default (agent/agent_helper.h) */
};

/* Builds a configuration from parsed JSON. On failure returns -EINVAL and ret_errors
 * holds one "PATH: message" line per error (newline-separated, caller frees). */
int agent_config_from_json(json_object *root, struct agent_config **ret, char **ret_errors);

/* Reads and parses path; errors as above (a file that cannot be read or is not JSON is
 * one error line naming the file). */
int agent_config_load(const char *path, struct agent_config **ret, char **ret_errors);

void agent_config_free(struct agent_config *config);
static inline void agent_config_freep(struct agent_config **c)
{
        if (*c)
                agent_config_free(*c);
}
#define _cleanup_agent_config_ __attribute__((cleanup(agent_config_freep)))

#endif

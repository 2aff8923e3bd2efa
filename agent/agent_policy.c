/* agent_policy.c — the policy life cycle of the agent.
 *
 * The uplink (or an administrator) drops a signed envelope as <policy_dir>/policy.json,
 * written to a temporary name and renamed so the agent never reads half a file. The agent
 * reads the bytes once, verifies them with the configured Ed25519 public key, validates
 * the policy inside (policy_envelope_verify) and applies it to every source; only when
 * every source took it is it the policy in force, and those same bytes are kept as
 * <state_dir>/policy-last-good.json. A drop that fails — bad signature, wrong key,
 * invalid content, older version than the policy in force — is refused with an
 * agent.policy_rejected event giving the reason, and the policy in force stays. At start
 * the agent takes the drop, else the last good copy, else the strict built-in default
 * (policy_default_strict()): never "allow everything".
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent_core.h"
#include "agent/agent_helper.h"
#include "agent/policy_check.h"
#include "common/canon_json.h"
#include "common/ed25519.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/util.h"
#include "policy/policy.h"

#define POLICY_DROP_NAME "policy.json"
#define POLICY_LAST_GOOD_NAME "policy-last-good.json"

const char *agent_policy_origin_to_string(enum agent_policy_origin origin)
{
        switch (origin) {
        case AGENT_POLICY_DROPPED: return "dropped";
        case AGENT_POLICY_LAST_GOOD: return "last_good";
        default: return "builtin";
        }
}

static char *path_join(const char *dir, const char *name)
{
        char *p = NULL;
        return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

/* A verified envelope: the policy and the exact bytes it was read from. */
struct verified {
        struct policy *policy;
        char *data;
        size_t len;
};

static void verified_clear(struct verified *v)
{
        policy_free(v->policy);
        free(v->data);
        *v = (struct verified){ 0 };
}

#define CHECK_TIMEOUT_USEC (10 * 1000000ull)

/* Starts `hogo-agent-helper check-policy` on the envelope's bytes; the read end of its
 * verdict in ret_fd. */
static int check_helper_start(const struct agent_config *config, const char *path,
                              const char *data, size_t len, pid_t *ret_pid, int *ret_fd)
{
        _cleanup_free_ char *helper = NULL;
        int r = agent_helper_path(config, &helper);
        if (r < 0)
                return r;
        _cleanup_close_ int in = agent_helper_input("hogo-policy", data, len);
        if (in < 0)
                return in;
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0)
                return negative_errno();
        char *argv[] = { (char *)AGENT_HELPER_NAME, (char *)AGENT_HELPER_CHECK_POLICY,
                         config->policy_pubkey, (char *)path, NULL };
        r = agent_helper_spawn(helper, argv, in, fds[1], ret_pid);
        close(fds[1]);
        if (r < 0) {
                close(fds[0]);
                log_warning_errno(r, "Cannot run %s for the policy signature check; checking "
                                     "in the agent instead: %m", helper);
                return r;
        }
        *ret_fd = fds[0];
        return 0;
}

/* policy_check_envelope() in hogo-agent-helper (policy_check.h says why); the agent then
 * takes the policy from the very bytes the helper checked. 1 when the helper could not be
 * started (the caller checks in-process instead). */
static int envelope_check_by_helper(const struct agent_config *config, const char *path,
                                    const char *data, size_t len, char **ret_reason)
{
        pid_t pid;
        int fd;
        if (check_helper_start(config, path, data, len, &pid, &fd) < 0)
                return 1;
        char in[POLICY_CHECK_VERDICT_MAX + 1];
        size_t got = 0;
        /* the loop waits for the check as it did when it ran in-process, but never for a
         * helper that hangs */
        uint64_t deadline = clock_usec(CLOCK_MONOTONIC) + CHECK_TIMEOUT_USEC;
        bool timed_out = false;
        for (;;) {
                uint64_t now = clock_usec(CLOCK_MONOTONIC);
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                int k = now < deadline ? poll(&pfd, 1, (int)((deadline - now) / 1000) + 1) : 0;
                if (k < 0 && errno == EINTR)
                        continue;
                if (k == 0) {
                        timed_out = true;
                        kill(pid, SIGKILL);
                        break;
                }
                ssize_t n = read(fd, in + got, sizeof in - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                got += (size_t)n;
        }
        close(fd);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        int result;
        char *reason = NULL;
        if (timed_out || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
            policy_check_read_verdict(in, got, &result, &reason) < 0) {
                /* fail closed: what was not checked is not applied */
                if (asprintf(ret_reason, "%s: the signature check did not complete%s", path,
                             timed_out ? " in time" : "") < 0)
                        *ret_reason = NULL;
                return -EIO;
        }
        if (result < 0) {
                *ret_reason = reason;
                return result;
        }
        return 0;
}

/* Reads and verifies one envelope file. On failure returns -errno and ret_reason says why
 * (-ENOENT: there is no such file, which is not a rejection). */
static int policy_file_verify(const struct agent_config *config, const char *path,
                              struct verified *ret, char **ret_reason)
{
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = read_file_bounded(path, POLICY_FILE_MAX_SIZE, &data, &len);
        if (r < 0) {
                errno = -r;
                if (r != -ENOENT && asprintf(ret_reason, "%s: cannot read: %m", path) < 0)
                        *ret_reason = NULL;
                return r;
        }

        struct policy *p = NULL;
        r = envelope_check_by_helper(config, path, data, len, ret_reason);
        if (r < 0)
                return r;
        if (r == 1)
                r = policy_check_envelope(config->policy_pubkey, path, data, len, &p,
                                          ret_reason);
        else {
                /* the helper verified exactly these bytes: the policy is read from them */
                char key_id[ED25519_KEY_ID_LEN + 1];
                _cleanup_policy_errors_ struct policy_errors errs = POLICY_ERRORS_INIT;
                r = policy_envelope_parse_unverified(data, len, &p, key_id, &errs);
                if (r < 0 && asprintf(ret_reason, "%s: verified but unreadable", path) < 0)
                        *ret_reason = NULL;
        }
        if (r < 0)
                return r;
        ret->policy = p;
        ret->data = TAKE_PTR(data);
        ret->len = len;
        return 0;
}

static void emit_rejected(struct agent *agent, const char *path, const char *reason)
{
        log_error("Policy %s refused, %s policy %lld stays in force: %s", path,
                  agent_policy_origin_to_string(agent->policy_origin),
                  agent->policy ? (long long)agent->policy->version : 0LL, reason);
        free(agent->policy_rejected_reason);
        agent->policy_rejected_reason = strdup(reason);
        agent->policy_rejected_usec = agent_now_usec();

        json_object *d = json_object_new_object();
        json_object_object_add(d, "file", json_object_new_string(path));
        json_object_object_add(d, "reason", json_object_new_string(reason));
        if (agent->policy) {
                json_object_object_add(d, "kept_version",
                                       json_object_new_int64(agent->policy->version));
                json_object_object_add(d, "kept_hash",
                                       json_object_new_string(agent->policy->hash));
                json_object_object_add(d, "kept_origin",
                                       json_object_new_string(agent_policy_origin_to_string(
                                               agent->policy_origin)));
        }
        agent_emit(agent, "agent.policy_rejected", EVENT_SEVERITY_WARNING, NULL, d);
        agent_posture_changed(agent);
}

static void emit_applied(struct agent *agent, int64_t previous_version,
                         const char *previous_hash)
{
        json_object *d = json_object_new_object();
        json_object_object_add(d, "version", json_object_new_int64(agent->policy->version));
        json_object_object_add(d, "hash", json_object_new_string(agent->policy->hash));
        json_object_object_add(d, "name", json_object_new_string(agent->policy->name
                                                                          ? agent->policy->name
                                                                          : ""));
        json_object_object_add(d, "origin", json_object_new_string(agent_policy_origin_to_string(
                                                    agent->policy_origin)));
        json_object_object_add(d, "previous_version", json_object_new_int64(previous_version));
        json_object_object_add(d, "previous_hash", json_object_new_string(previous_hash));
        agent_emit(agent, "agent.policy_applied", EVENT_SEVERITY_NOTICE, NULL, d);
}

static void save_last_good(struct agent *agent, const struct verified *v)
{
        _cleanup_free_ char *path = path_join(agent->config->state_dir, POLICY_LAST_GOOD_NAME);
        int r = path ? write_file_atomic(path, v->data, v->len, 0600) : -ENOMEM;
        if (r < 0)
                log_warning_errno(r, "Cannot keep a copy of the policy in force as %s; it is "
                                     "enforced but a restart without a valid drop would fall "
                                     "back to the built-in default: %m",
                                  path ? path : POLICY_LAST_GOOD_NAME);
}

/* A replayed older envelope is validly signed too; only a newer (or the same) version may
 * replace the policy in force, so a captured old policy cannot loosen the controls. */
static bool is_older(const struct agent *agent, const struct policy *p)
{
        return agent->policy && agent->policy_origin != AGENT_POLICY_BUILTIN &&
               p->version < agent->policy->version;
}

int agent_policy_start(struct agent *agent)
{
        _cleanup_free_ char *drop = path_join(agent->config->policy_dir, POLICY_DROP_NAME);
        _cleanup_free_ char *kept = path_join(agent->config->state_dir, POLICY_LAST_GOOD_NAME);
        if (!drop || !kept)
                return -ENOMEM;

        struct verified d = { 0 }, k = { 0 };
        _cleanup_free_ char *drop_reason = NULL, *kept_reason = NULL;
        int rd = policy_file_verify(agent->config, drop, &d, &drop_reason);
        int rk = policy_file_verify(agent->config, kept, &k, &kept_reason);
        if (rk < 0 && rk != -ENOENT)
                log_warning("The kept copy of the last good policy is unusable: %s",
                            kept_reason ? kept_reason : "");

        if (rd >= 0 && rk >= 0 && d.policy->version < k.policy->version) {
                free(drop_reason);
                if (asprintf(&drop_reason, "%s: version %lld is older than the last good "
                                           "policy (version %lld)",
                             drop, (long long)d.policy->version,
                             (long long)k.policy->version) < 0)
                        drop_reason = NULL;
                verified_clear(&d);
                rd = -ESTALE;
        }

        if (rd >= 0) {
                agent->policy = TAKE_PTR(d.policy);
                agent->policy_origin = AGENT_POLICY_DROPPED;
                if (rk < 0 || k.len != d.len || memcmp(k.data, d.data, d.len) != 0)
                        save_last_good(agent, &d);
        } else if (rk >= 0) {
                agent->policy = TAKE_PTR(k.policy);
                agent->policy_origin = AGENT_POLICY_LAST_GOOD;
        } else {
                int r = policy_default_strict(&agent->policy);
                if (r < 0) {
                        verified_clear(&d);
                        verified_clear(&k);
                        return log_error_errno(r, "Cannot build the built-in policy: %m");
                }
                agent->policy_origin = AGENT_POLICY_BUILTIN;
                log_warning("No valid policy: enforcing the strict built-in default "
                            "(all removable storage blocked)");
        }
        agent->policy_applied_usec = agent_now_usec();
        if (rd < 0 && rd != -ENOENT)
                emit_rejected(agent, drop, drop_reason ? drop_reason : "unusable");
        log_info("Policy in force: %s, version %lld, hash %s",
                 agent_policy_origin_to_string(agent->policy_origin),
                 (long long)agent->policy->version, agent->policy->hash);
        verified_clear(&d);
        verified_clear(&k);
        return 0;
}

/* Gives every running source the new policy; when one refuses, those that took it are
 * given the old one back so that the terminal never runs half of each. */
static int apply_to_sources(struct agent *agent, struct policy *p, char **ret_reason)
{
        for (size_t i = 0; i < agent->n_sources; i++) {
                struct source_instance *si = &agent->sources[i];
                if (!si->self)
                        continue;
                int r = si->ops->apply_policy(si->self, p);
                if (r >= 0)
                        continue;
                errno = -r;
                if (asprintf(ret_reason, "source %s could not apply it: %m", si->ops->name) < 0)
                        *ret_reason = NULL;
                for (size_t j = 0; j < i; j++) {
                        struct source_instance *sj = &agent->sources[j];
                        if (sj->self && sj->ops->apply_policy(sj->self, agent->policy) < 0)
                                log_error("Source %s could not return to the policy in force",
                                          sj->ops->name);
                }
                return r;
        }
        return 0;
}

void agent_policy_reload(struct agent *agent)
{
        _cleanup_free_ char *drop = path_join(agent->config->policy_dir, POLICY_DROP_NAME);
        if (!drop)
                return (void)log_error_errno(-ENOMEM, "Cannot reload the policy: %m");

        struct verified v = { 0 };
        _cleanup_free_ char *reason = NULL;
        int r = policy_file_verify(agent->config, drop, &v, &reason);
        if (r == -ENOENT) {
                log_info("No policy at %s; %s policy %lld stays in force", drop,
                         agent_policy_origin_to_string(agent->policy_origin),
                         (long long)agent->policy->version);
                return;
        }
        if (r < 0)
                return emit_rejected(agent, drop, reason ? reason : "unusable");

        if (STREQ(v.policy->hash, agent->policy->hash)) {
                /* the same policy again: nothing to apply; a refusal before it is resolved */
                log_info("Policy %s is the policy in force (version %lld)", drop,
                         (long long)v.policy->version);
                agent->policy_origin = AGENT_POLICY_DROPPED;
                free(agent->policy_rejected_reason);
                agent->policy_rejected_reason = NULL;
                verified_clear(&v);
                agent_posture_changed(agent);
                return;
        }
        if (is_older(agent, v.policy)) {
                if (asprintf(&reason, "%s: version %lld is older than the policy in force "
                                      "(version %lld)",
                             drop, (long long)v.policy->version,
                             (long long)agent->policy->version) < 0)
                        reason = NULL;
                verified_clear(&v);
                return emit_rejected(agent, drop, reason ? reason : "older version");
        }
        r = apply_to_sources(agent, v.policy, &reason);
        if (r < 0) {
                verified_clear(&v);
                return emit_rejected(agent, drop, reason ? reason : "a source refused it");
        }

        char previous_hash[SHA256_HEX_LEN + 1];
        int64_t previous_version = agent->policy->version;
        snprintf(previous_hash, sizeof previous_hash, "%s", agent->policy->hash);
        policy_free(agent->policy);
        agent->policy = TAKE_PTR(v.policy);
        agent->policy_origin = AGENT_POLICY_DROPPED;
        agent->policy_applied_usec = agent_now_usec();
        free(agent->policy_rejected_reason);
        agent->policy_rejected_reason = NULL;
        save_last_good(agent, &v);
        verified_clear(&v);
        log_notice("Policy version %lld (%s) applied to every source",
                   (long long)agent->policy->version, agent->policy->hash);
        emit_applied(agent, previous_version, previous_hash);
        agent_update_status(agent);
        agent_posture_changed(agent);
}

static int on_policy_dir(sd_event_source *s, const struct inotify_event *ev, void *userdata)
{
        struct agent *agent = userdata;
        if ((ev->mask & IN_Q_OVERFLOW) || (ev->len > 0 && STREQ(ev->name, POLICY_DROP_NAME)))
                agent_policy_reload(agent);
        return 0;
}

int agent_policy_watch(struct agent *agent)
{
        int r = mkdir_parents(agent->config->policy_dir, 0755);
        if (r >= 0)
                r = sd_event_add_inotify(agent->event, &agent->policy_watch,
                                         agent->config->policy_dir,
                                         IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR,
                                         on_policy_dir, agent);
        if (r < 0)
                return log_error_errno(r, "Cannot watch the policy directory %s: %m",
                                       agent->config->policy_dir);
        return 0;
}

int agent_policy_check(const struct agent_config *config, FILE *f)
{
        _cleanup_free_ char *drop = path_join(config->policy_dir, POLICY_DROP_NAME);
        if (!drop)
                return -ENOMEM;
        struct verified v = { 0 };
        _cleanup_free_ char *reason = NULL;
        int r = policy_file_verify(config, drop, &v, &reason);
        if (r == -ENOENT) {
                /* the key must still be usable, or no drop will ever be accepted */
                _cleanup_pkey_ EVP_PKEY *key = NULL;
                int rk = ed25519_load_public_pem(config->policy_pubkey, &key);
                if (rk < 0) {
                        errno = -rk;
                        fprintf(f, "policy_pubkey: cannot load %s: %m\n", config->policy_pubkey);
                        return rk;
                }
                fprintf(f, "policy: no policy at %s yet; the strict built-in default applies "
                           "until one is dropped\n",
                        drop);
                return 0;
        }
        if (r < 0) {
                fprintf(f, "policy: %s\n", reason ? reason : "unusable");
                return r;
        }
        fprintf(f, "policy: %s: version %lld, hash %s, signature good\n", drop,
                (long long)v.policy->version, v.policy->hash);
        verified_clear(&v);
        return 0;
}

/* agent_status.c — what the agent says about itself: the answer to `hogoctl status` on
 * the control socket, and the posture file the uplink sends with its heartbeat.
 *
 * Posture file: the configured posture_file (/run/hogo/posture.json, readable by the
 * uplink's group; on tmpfs, so it still says "spool unhealthy" when /var is full), written
 * atomically (readers see the old or the
 * new file) whenever a check changes and at least every minute, so its "generated" time
 * also tells the uplink the agent is alive:
 *   {"generated": "<RFC 3339>", "agent_version": "...",
 *    "policy": {"version": N, "hash": "...", "origin": "dropped|last_good|builtin"},
 *    "policy_version": "N" | null (null while the built-in default is in force),
 *    "checks": {"<name>": {"result": "pass|fail|unknown", "reason": "..."}, ...}}
 */
#include "agent/agent_core.h"

#include <stdarg.h>

#include "agent/control.h"
#include "agent/notice_text.h"
#include "agent/notify.h"
#include "agent/spool.h"
#include "common/canon_json.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/util.h"
#include "policy/policy.h"

#define UPLINK_STATUS_MAX_SIZE (64u * 1024)

static json_object *json_ts(uint64_t usec)
{
        if (usec == 0)
                return NULL;
        char buf[32];
        event_format_ts(usec, buf);
        return json_object_new_string(buf);
}

static void add_check(json_object *checks, const char *name, const char *result,
                      const char *fmt, ...) _printf_(4, 5);
static void add_check(json_object *checks, const char *name, const char *result,
                      const char *fmt, ...)
{
        char reason[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason, sizeof reason, fmt, ap);
        va_end(ap);
        json_object *c = json_object_new_object();
        json_object_object_add(c, "result", json_object_new_string(result));
        json_object_object_add(c, "reason", json_object_new_string(reason));
        json_object_object_add(checks, name, c);
}

json_object *agent_posture_checks(struct agent *agent)
{
        json_object *checks = json_object_new_object();

        if (agent->policy_origin == AGENT_POLICY_BUILTIN)
                add_check(checks, "policy_current", "fail",
                          "no valid policy received; the strict built-in default is enforced%s%s",
                          agent->policy_rejected_reason ? "; refused: " : "",
                          agent->policy_rejected_reason ? agent->policy_rejected_reason : "");
        else if (agent->policy_rejected_reason)
                add_check(checks, "policy_current", "fail",
                          "the last policy dropped was refused (%s); version %lld stays in force",
                          agent->policy_rejected_reason, (long long)agent->policy->version);
        else
                add_check(checks, "policy_current", "pass",
                          "verified policy version %lld (%s) in force",
                          (long long)agent->policy->version, agent->policy->hash);

        if (!agent->spool) {
                errno = -(agent->spool_error ? agent->spool_error : -EIO);
                add_check(checks, "spool_healthy", "fail", "spool cannot be opened: %m");
        } else if (agent->disk_full)
                add_check(checks, "spool_healthy", "fail",
                          "disk full: %llu event(s) could not be recorded",
                          (unsigned long long)agent->emit_failures);
        else if (agent->spool_error) {
                errno = -agent->spool_error;
                add_check(checks, "spool_healthy", "fail", "spool writes fail: %m");
        } else
                add_check(checks, "spool_healthy", "pass", "events are recorded durably");

        if (agent->chain_fault)
                add_check(checks, "event_chain_intact", "fail", "spool fault: %s",
                          agent->chain_fault);
        else if (!agent->spool)
                add_check(checks, "event_chain_intact", "unknown", "spool not open");
        else
                add_check(checks, "event_chain_intact", "pass",
                          "no gap, corruption or reordering found in the spool");

        for (size_t i = 0; i < agent->n_sources; i++) {
                struct source_instance *si = &agent->sources[i];
                if (si->self) {
                        si->ops->posture(si->self, checks);
                        continue;
                }
                char name[96];
                snprintf(name, sizeof name, "%s_source", si->ops->name);
                errno = -si->init_error;
                add_check(checks, name, "fail", "source %s could not start: %m", si->ops->name);
        }
        return checks;
}

static json_object *policy_summary(struct agent *agent)
{
        json_object *p = json_object_new_object();
        json_object_object_add(p, "version", json_object_new_int64(agent->policy->version));
        json_object_object_add(p, "hash", json_object_new_string(agent->policy->hash));
        json_object_object_add(
                p, "origin",
                json_object_new_string(agent_policy_origin_to_string(agent->policy_origin)));
        return p;
}

int agent_posture_write(struct agent *agent, bool force)
{
        _cleanup_json_ json_object *state = json_object_new_object();
        json_object_object_add(state, "agent_version", json_object_new_string(HOGO_VERSION));
        json_object_object_add(state, "policy", policy_summary(agent));
        /* what the uplink compares with the version the collector assigns; the built-in
         * default is no assigned version, so the uplink fetches one */
        char version[32];
        snprintf(version, sizeof version, "%lld", (long long)agent->policy->version);
        json_object_object_add(state, "policy_version",
                               agent->policy_origin == AGENT_POLICY_BUILTIN
                                       ? NULL
                                       : json_object_new_string(version));
        json_object_object_add(state, "checks", agent_posture_checks(agent));

        _cleanup_free_ char *canonical = NULL;
        int r = json_canonical(state, NULL, &canonical, NULL);
        if (r < 0)
                return log_error_errno(r, "Cannot serialize the posture: %m");
        if (!force && agent->posture_written && STREQ(agent->posture_written, canonical))
                return 0;

        json_object_object_add(state, "generated", json_ts(agent_now_usec()));
        _cleanup_free_ char *text = NULL;
        r = json_canonical(state, NULL, &text, NULL);
        if (r < 0)
                return log_error_errno(r, "Cannot build the posture: %m");
        r = write_file_atomic(agent->config->posture_file, text, strlen(text), 0644);
        if (r < 0)
                return log_error_errno(r, "Cannot write the posture file %s; the uplink reports "
                                          "stale posture until it is written: %m",
                                       agent->config->posture_file);
        free(agent->posture_written);
        agent->posture_written = TAKE_PTR(canonical);
        return 0;
}

/* The uplink's own account of its last upload, or why it cannot be read. */
static json_object *uplink_status(struct agent *agent)
{
        _cleanup_free_ char *path = NULL, *data = NULL;
        if (asprintf(&path, "%s/%s", agent->config->spool_dir, SPOOL_UPLINK_STATUS_FILE) < 0)
                return NULL;
        int r = read_file_bounded(path, UPLINK_STATUS_MAX_SIZE, &data, NULL);
        if (r == -ENOENT)
                return NULL; /* the uplink has not reported yet: shown as "never" */
        json_object *o = r >= 0 ? json_tokener_parse(data) : NULL;
        if (o && json_object_is_type(o, json_type_object))
                return o;
        json_object_put(o);
        json_object *err = json_object_new_object();
        errno = r < 0 ? -r : EBADMSG;
        char msg[300];
        snprintf(msg, sizeof msg, "%s unreadable: %m", path);
        json_object_object_add(err, "error", json_object_new_string(msg));
        return err;
}

static json_object *spool_status(struct agent *agent)
{
        json_object *s = json_object_new_object();
        const char *state = !agent->spool        ? "unavailable"
                            : agent->disk_full   ? "disk_full"
                            : agent->spool_error ? "failing"
                                                 : "ok";
        json_object_object_add(s, "state", json_object_new_string(state));
        json_object_object_add(s, "dir", json_object_new_string(agent->config->spool_dir));
        json_object_object_add(s, "lost_events",
                               json_object_new_int64((int64_t)agent->emit_failures));
        if (agent->spool_error) {
                errno = -agent->spool_error;
                char msg[256];
                snprintf(msg, sizeof msg, "%m");
                json_object_object_add(s, "error", json_object_new_string(msg));
        }
        if (!agent->spool)
                return s;
        struct spool_stats st;
        spool_get_stats(agent->spool, &st);
        json_object_object_add(s, "first_seq", json_object_new_int64((int64_t)st.first_seq));
        json_object_object_add(s, "last_seq", json_object_new_int64((int64_t)st.last_seq));
        json_object_object_add(s, "durable_seq", json_object_new_int64((int64_t)st.durable_seq));
        json_object_object_add(s, "acked_seq", json_object_new_int64((int64_t)st.acked_seq));
        json_object_object_add(s, "depth", json_object_new_int64((int64_t)(
                                                   st.last_seq > st.acked_seq
                                                           ? st.last_seq - st.acked_seq
                                                           : 0)));
        json_object_object_add(s, "bytes", json_object_new_int64((int64_t)st.bytes));
        json_object_object_add(s, "oldest_unacked", json_ts(st.oldest_unacked_ts_usec));
        json_object_object_add(s, "dropped_events",
                               json_object_new_int64((int64_t)st.dropped_events));
        return s;
}

json_object *agent_status_json(struct agent *agent)
{
        json_object *status = json_object_new_object();

        json_object *a = json_object_new_object();
        json_object_object_add(a, "version", json_object_new_string(HOGO_VERSION));
        json_object_object_add(a, "pid", json_object_new_int64(getpid()));
        json_object_object_add(a, "started", json_ts(agent->started_usec));
        json_object_object_add(status, "agent", a);

        json_object *p = policy_summary(agent);
        json_object_object_add(p, "name", json_object_new_string(agent->policy->name
                                                                          ? agent->policy->name
                                                                          : ""));
        json_object_object_add(p, "applied", json_ts(agent->policy_applied_usec));
        if (agent->policy_rejected_reason) {
                json_object *rej = json_object_new_object();
                json_object_object_add(rej, "reason",
                                       json_object_new_string(agent->policy_rejected_reason));
                json_object_object_add(rej, "at", json_ts(agent->policy_rejected_usec));
                json_object_object_add(p, "last_rejected", rej);
        }
        json_object_object_add(status, "policy", p);

        json_object *sources = json_object_new_object();
        for (size_t i = 0; i < agent->n_sources; i++) {
                struct source_instance *si = &agent->sources[i];
                json_object *s = json_object_new_object();
                if (si->self)
                        si->ops->status(si->self, s);
                else {
                        errno = -si->init_error;
                        char msg[256];
                        snprintf(msg, sizeof msg, "could not start: %m");
                        json_object_object_add(s, "state", json_object_new_string("failed"));
                        json_object_object_add(s, "reason", json_object_new_string(msg));
                }
                json_object_object_add(sources, si->ops->name, s);
        }
        json_object_object_add(status, "sources", sources);
        json_object_object_add(status, "spool", spool_status(agent));
        json_object_object_add(status, "uplink", uplink_status(agent));

        json_object *notices = json_object_new_object();
        if (agent->notifier)
                notifier_status(agent->notifier, notices);
        json_object_object_add(status, "notices", notices);
        json_object_object_add(status, "checks", agent_posture_checks(agent));
        return status;
}

static const char *member_string(json_object *o, const char *key)
{
        json_object *v = json_object_object_get(o, key);
        return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* {"command":"notice","kind":"usb_blocked","user":"tanaka","subject":..,"count":..,
 *  "seconds":..,"rate_key":..}: shows a test notice, so that IT staff can check a
 * terminal's notification path end to end. Rate-limited like every notice. */
static const char *control_notice(struct agent *agent, json_object *request)
{
        int kind = notice_kind_from_string(member_string(request, "kind"));
        if (kind < 0)
                return "kind must be one of usb_blocked, usb_read_only, lock_warning, "
                       "logoff_warning, logoff_hours, files_bulk_warning, files_bulk_blocked";
        const char *user = member_string(request, "user");
        char rate_key[160];
        snprintf(rate_key, sizeof rate_key, "control:%s:%.64s",
                 notice_kind_to_string(kind), user ? user : "*");
        struct notice n = {
                .kind = kind,
                .subject = member_string(request, "subject"),
                .count = (long)json_object_get_int64(json_object_object_get(request, "count")),
                .seconds = (long)json_object_get_int64(json_object_object_get(request, "seconds")),
                .rate_key = member_string(request, "rate_key") ? member_string(request, "rate_key")
                                                                : rate_key,
        };
        log_info("Test notice %s for %s requested on the control socket",
                 notice_kind_to_string(kind), user ? user : "every session");
        agent_notice(agent, user, &n);
        return NULL;
}

json_object *agent_control_request(void *userdata, json_object *request)
{
        struct agent *agent = userdata;
        json_object *answer = json_object_new_object();
        const char *command = member_string(request, "command");
        const char *error = NULL;
        char msg[160];

        if (command && STREQ(command, "status"))
                json_object_object_add(answer, "status", agent_status_json(agent));
        else if (command && STREQ(command, "notice"))
                error = control_notice(agent, request);
        else {
                snprintf(msg, sizeof msg,
                         "unknown command \"%.64s\"; the agent knows: status, notice",
                         command ? command : "");
                error = msg;
        }
        json_object_object_add(answer, "ok", json_object_new_boolean(!error));
        if (error)
                json_object_object_add(answer, "error", json_object_new_string(error));
        return answer;
}

/* agent.c — hogo-agent's core: one sd-event loop for everything.
 *
 * Signals arrive through signalfd (sd_event_add_signal): SIGTERM/SIGINT stop the loop,
 * SIGHUP reloads the configuration and the policy. Timers: group commit of the spool
 * (armed by the first non-security event after a sync, so an idle agent does not wake),
 * collection of acknowledged segments, the periodic posture file and the systemd
 * watchdog. Sources hook their own fds and timers into the same loop.
 */
#include "agent/agent.h"

#include <signal.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "agent/agent_core.h"
#include "agent/control.h"
#include "agent/notify.h"
#include "agent/spool.h"
#include "common/canon_json.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/util.h"
#include "policy/policy.h"

#define SYNC_DELAY_USEC (100 * 1000ull)            /* group commit: at most this late */
#define SYNC_RETRY_USEC (5 * 1000000ull)            /* retry while the disk is full */
#define COLLECT_INTERVAL_USEC (30 * 1000000ull)     /* acked segments, spool retry */
#define POSTURE_INTERVAL_USEC (60 * 1000000ull)     /* posture file refresh */
#define TIMER_ACCURACY_USEC (1000000ull)            /* let the kernel coalesce wake-ups */

uint64_t agent_now_usec(void)
{
        return clock_usec(CLOCK_REALTIME);
}

sd_event *agent_event_loop(struct agent *agent) { return agent->event; }
sd_bus *agent_system_bus(struct agent *agent) { return agent->system_bus; }
const char *agent_sysfs_root(struct agent *agent) { return agent->config->sysfs_root; }
const char *agent_desktop_root(struct agent *agent) { return agent->config->desktop_root; }

static int log_level_for(enum event_severity severity)
{
        switch (severity) {
        case EVENT_SEVERITY_ALERT: return LOG_ALERT;
        case EVENT_SEVERITY_WARNING: return LOG_WARNING;
        case EVENT_SEVERITY_NOTICE: return LOG_NOTICE;
        default: return LOG_INFO;
        }
}

static void arm_sync_timer(struct agent *agent)
{
        uint64_t now;
        if (!agent->sync_timer || agent->sync_pending)
                return;
        sd_event_now(agent->event, CLOCK_MONOTONIC, &now);
        sd_event_source_set_time(agent->sync_timer, now + SYNC_DELAY_USEC);
        sd_event_source_set_enabled(agent->sync_timer, SD_EVENT_ONESHOT);
        agent->sync_pending = true;
}

/* The spool's health after an append or a group commit: r < 0 means a write failed (for
 * an append: the event was not recorded at all), r > 0 that the event has its seq but
 * waits in memory (disk full or an I/O error; the next sync retries), 0 with all_durable
 * that everything appended is on disk. Logged once
 * per change, where it is handled; the agent keeps enforcing throughout. */
static void spool_health(struct agent *agent, int r, bool all_durable, const char *type)
{
        bool was_failing = agent->spool_error != 0;
        bool was_full = agent->disk_full;
        if (r != 0) {
                struct spool_stats st = { 0 };
                if (agent->spool)
                        spool_get_stats(agent->spool, &st);
                agent->disk_full = st.disk_full || r == -ENOSPC || r == -EDQUOT;
                int err = r < 0 ? r : agent->disk_full ? -ENOSPC : -EIO;
                if (agent->spool_error == err && was_full == agent->disk_full)
                        return;
                agent->spool_error = err;
                /* the spool has logged the fault itself; say only what it means here */
                log_warning_errno(err, "Events are not being made durable (now: %s); controls "
                                       "stay enforced, status and posture report it: %m",
                                  type);
        } else if (all_durable && was_failing) {
                /* space (or the disk) is back: say so, with what was lost meanwhile */
                agent->spool_error = 0;
                agent->disk_full = false;
                log_notice("Spool writable again; %llu event(s) could not be recorded",
                           (unsigned long long)agent->emit_failures);
                json_object *d = json_object_new_object();
                json_object_object_add(d, "lost_events",
                                       json_object_new_int64((int64_t)agent->emit_failures));
                agent_emit(agent, "agent.spool_resumed", EVENT_SEVERITY_WARNING, NULL, d);
        } else
                return;
        agent_update_status(agent);
        agent_posture_changed(agent);
}

int64_t agent_emit(struct agent *agent, const char *type, enum event_severity severity,
                   const char *user, json_object *details)
{
        char version[32] = "builtin";
        if (agent->policy && agent->policy_origin != AGENT_POLICY_BUILTIN)
                snprintf(version, sizeof version, "%lld", (long long)agent->policy->version);

        /* the journal gets the event even when the spool cannot take it */
        _cleanup_free_ char *summary = strdup(
                details ? json_object_to_json_string_ext(details, JSON_C_TO_STRING_PLAIN) : "{}");

        if (!agent->spool) {
                json_object_put(details);
                log_event(log_level_for(severity), type, 0, version, "%s %s (not recorded)",
                          user ? user : "", summary ? summary : "");
                int r = agent->spool_error ? agent->spool_error : -EIO;
                agent->emit_failures++;
                return r;
        }

        uint64_t seq = 0;
        int r = spool_append(agent->spool, agent_now_usec(), type, severity, user, details,
                             &seq);
        log_event(log_level_for(severity), type, seq, version, "%s %s%s", user ? user : "",
                  summary ? summary : "", r < 0 ? " (not recorded)" : "");
        if (r < 0)
                agent->emit_failures++; /* not even held in memory: this event is lost */
        spool_health(agent, r, r == 0 && event_severity_is_security(severity), type);
        if (r < 0)
                return r;
        if (r > 0 || !event_severity_is_security(severity))
                arm_sync_timer(agent);
        return (int64_t)seq;
}

void agent_notice(struct agent *agent, const char *user, const struct notice *notice)
{
        if (agent->notifier)
                notifier_show(agent->notifier, user, notice);
}

/* Faults the spool found (corrupt record, cut tail, missing segment) become events. */
static void report_spool_faults(struct agent *agent)
{
        if (!agent->spool)
                return;
        _cleanup_json_ json_object *faults = spool_take_faults(agent->spool);
        size_t n = faults ? json_object_array_length(faults) : 0;
        for (size_t i = 0; i < n; i++) {
                json_object *fault = json_object_array_get_idx(faults, i);
                const char *kind = json_object_get_string(json_object_object_get(fault, "kind"));
                /* a torn tail is what a crash leaves (it is cut) and a bad acked file is
                 * the uplink's: neither breaks the chain; everything else does */
                bool breaks = !kind || (STRNEQ(kind, "torn_tail") && STRNEQ(kind, "bad_acked"));
                if (!agent->chain_fault && breaks) {
                        if (asprintf(&agent->chain_fault, "%s",
                                     json_object_to_json_string_ext(
                                             fault, JSON_C_TO_STRING_PLAIN)) < 0)
                                agent->chain_fault = NULL;
                        agent_posture_changed(agent);
                }
                agent_emit(agent, "agent.spool_fault",
                           breaks ? EVENT_SEVERITY_ALERT : EVENT_SEVERITY_WARNING, NULL,
                           json_object_get(fault));
        }
}

static int open_spool(struct agent *agent)
{
        struct spool_options options = {
                .dir = agent->config->spool_dir,
                .max_bytes = agent->config->spool_max_bytes,
        };
        int r = mkdir_parents(agent->config->spool_dir, 0755);
        if (r >= 0)
                r = spool_open(&options, &agent->spool);
        if (r < 0) {
                agent->spool = NULL;
                if (r != agent->spool_error)
                        log_error_errno(r, "Cannot open the spool %s; controls stay enforced, "
                                           "events are not recorded until it opens: %m",
                                        agent->config->spool_dir);
                agent->spool_error = r;
                return r;
        }
        agent->spool_error = 0;
        report_spool_faults(agent);
        return 0;
}

static int on_sync_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct agent *agent = userdata;
        agent->sync_pending = false;
        if (!agent->spool)
                return 0;
        int r = spool_sync(agent->spool);
        spool_health(agent, r, r == 0, "group commit");
        if (r < 0) {
                /* events wait in memory: try again, but not in a tight loop */
                sd_event_source_set_time(s, usec + SYNC_RETRY_USEC);
                sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                agent->sync_pending = true;
        }
        return 0;
}

static int rearm(sd_event_source *s, uint64_t usec, uint64_t interval)
{
        int r = sd_event_source_set_time(s, usec + interval);
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_ON);
        return r;
}

static int on_collect_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct agent *agent = userdata;
        if (!agent->spool && open_spool(agent) >= 0) {
                log_notice("Spool %s opened; events are recorded again",
                           agent->config->spool_dir);
                agent_update_status(agent);
                agent_posture_changed(agent);
        }
        if (agent->spool) {
                (void)spool_collect(agent->spool, NULL); /* logs its own failures */
                report_spool_faults(agent);
                struct spool_stats st;
                spool_get_stats(agent->spool, &st);
                if (st.disk_full != agent->disk_full) {
                        agent->disk_full = st.disk_full;
                        agent_update_status(agent);
                        agent_posture_changed(agent);
                }
        }
        return rearm(s, usec, COLLECT_INTERVAL_USEC);
}

static int on_posture_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct agent *agent = userdata;
        agent_posture_write(agent, true);
        return rearm(s, usec, POSTURE_INTERVAL_USEC);
}

static int on_watchdog_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct agent *agent = userdata;
        sd_notify(false, "WATCHDOG=1");
        return rearm(s, usec, agent->watchdog_usec / 2);
}

void agent_posture_changed(struct agent *agent)
{
        /* during start-up (spool faults come before the policy) the first posture is
         * written once everything is up */
        if (agent->config && agent->policy && !agent->stopping)
                agent_posture_write(agent, false);
}

void agent_update_status(struct agent *agent)
{
        char policy[64];
        if (!agent->policy)
                snprintf(policy, sizeof policy, "no policy");
        else if (agent->policy_origin == AGENT_POLICY_BUILTIN)
                snprintf(policy, sizeof policy, "built-in strict policy");
        else
                snprintf(policy, sizeof policy, "policy %lld",
                         (long long)agent->policy->version);

        const char *spool = !agent->spool        ? "spool unavailable, events not recorded"
                            : agent->disk_full   ? "disk full, events not recorded"
                            : agent->spool_error ? "spool write failing"
                                                 : "spool ok";
        sd_notifyf(false, "STATUS=Enforcing %s; %s%s", policy, spool,
                   agent->chain_fault ? "; event chain fault found" : "");
}

static int on_signal_stop(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        struct agent *agent = userdata;
        log_info("Received %s, stopping", strsignal((int)si->ssi_signo));
        sd_notify(false, "STOPPING=1");
        agent->stopping = true;
        return sd_event_exit(agent->event, 0);
}

static void reload_config(struct agent *agent)
{
        struct agent_config *config = NULL;
        _cleanup_free_ char *errors = NULL;
        int r = agent_config_load(agent->config_path, &config, &errors);
        if (r < 0) {
                log_error("Configuration %s not reloaded, the running one is kept:\n%s",
                          agent->config_path, errors ? errors : "");
                return;
        }
        /* these are bound at start (sockets, watches, the open spool): keep the running
         * values and say so instead of pretending a new one took effect */
        static const struct {
                const char *key;
                size_t offset;
        } fixed[] = {
                { "spool_dir", offsetof(struct agent_config, spool_dir) },
                { "policy_dir", offsetof(struct agent_config, policy_dir) },
                { "state_dir", offsetof(struct agent_config, state_dir) },
                { "control_socket", offsetof(struct agent_config, control_socket) },
                { "control_group", offsetof(struct agent_config, control_group) },
        };
        for (size_t i = 0; i < ELEMENTSOF(fixed); i++) {
                char **old = (char **)((char *)agent->config + fixed[i].offset);
                char **new = (char **)((char *)config + fixed[i].offset);
                if ((*old == NULL) != (*new == NULL) || (*old && STRNEQ(*old, *new))) {
                        log_warning("Configuration: %s changed; takes effect at restart",
                                    fixed[i].key);
                        char *keep = *new;
                        *new = *old;
                        *old = keep;
                }
        }
        if (config->spool_max_bytes != agent->config->spool_max_bytes) {
                log_warning("Configuration: spool_max_bytes changed; takes effect at restart");
                config->spool_max_bytes = agent->config->spool_max_bytes;
        }
        agent_config_free(agent->config);
        agent->config = config;
        log_setup("hogo-agent", agent->log_target, config->log_level);
}

static int on_signal_reload(sd_event_source *s, const struct signalfd_siginfo *si,
                            void *userdata)
{
        struct agent *agent = userdata;
        sd_notify(false, "RELOADING=1");
        log_info("Received SIGHUP: reloading configuration and policy");
        reload_config(agent);
        agent_policy_reload(agent);
        agent_update_status(agent);
        sd_notify(false, "READY=1");
        return 0;
}

static int start_sources(struct agent *agent)
{
        size_t n = 0;
        while (agent_sources[n])
                n++;
        agent->sources = calloc(n ? n : 1, sizeof *agent->sources);
        if (!agent->sources)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                struct source_instance *si = &agent->sources[i];
                si->ops = agent_sources[i];
                int r = si->ops->init(agent, agent->policy, &si->self);
                if (r < 0) {
                        /* one source failing must not take the other controls down */
                        log_error_errno(r, "Source %s could not start; the other controls "
                                           "run on: %m",
                                        si->ops->name);
                        si->init_error = r;
                        si->self = NULL;
                }
                agent->n_sources = i + 1;
        }
        return 0;
}

static int add_timer(struct agent *agent, sd_event_source **ret, uint64_t first_usec,
                     sd_event_time_handler_t handler, bool enabled)
{
        uint64_t now;
        sd_event_now(agent->event, CLOCK_MONOTONIC, &now);
        int r = sd_event_add_time(agent->event, ret, CLOCK_MONOTONIC, now + first_usec,
                                  TIMER_ACCURACY_USEC, handler, agent);
        if (r >= 0 && !enabled)
                r = sd_event_source_set_enabled(*ret, SD_EVENT_OFF);
        return r;
}

static int setup_loop(struct agent *agent)
{
        int r = sd_event_new(&agent->event);
        if (r < 0)
                return log_error_errno(r, "Cannot create the event loop: %m");

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD); /* notification helpers, through sd_event_add_child */
        sigprocmask(SIG_BLOCK, &mask, NULL);
        /* notices write to terminals that may go away; a broken pipe is an error code */
        signal(SIGPIPE, SIG_IGN);
        if ((r = sd_event_add_signal(agent->event, NULL, SIGTERM, on_signal_stop, agent)) < 0 ||
            (r = sd_event_add_signal(agent->event, NULL, SIGINT, on_signal_stop, agent)) < 0 ||
            (r = sd_event_add_signal(agent->event, NULL, SIGHUP, on_signal_reload, agent)) < 0)
                return log_error_errno(r, "Cannot watch signals: %m");

        /* the sync timer has exact accuracy: it bounds how late a batch becomes durable */
        if ((r = add_timer(agent, &agent->sync_timer, SYNC_DELAY_USEC, on_sync_timer,
                           false)) < 0 ||
            (r = sd_event_source_set_time_accuracy(agent->sync_timer, 1)) < 0 ||
            (r = add_timer(agent, &agent->collect_timer, COLLECT_INTERVAL_USEC,
                           on_collect_timer, true)) < 0 ||
            (r = add_timer(agent, &agent->posture_timer, POSTURE_INTERVAL_USEC,
                           on_posture_timer, true)) < 0)
                return log_error_errno(r, "Cannot set up timers: %m");

        if (sd_watchdog_enabled(false, &agent->watchdog_usec) > 0 && agent->watchdog_usec > 0)
                /* coalescing must never make a ping later than the watchdog allows */
                if ((r = add_timer(agent, &agent->watchdog_timer, agent->watchdog_usec / 2,
                                   on_watchdog_timer, true)) < 0 ||
                    (r = sd_event_source_set_time_accuracy(
                             agent->watchdog_timer,
                             MIN(TIMER_ACCURACY_USEC, agent->watchdog_usec / 8))) < 0)
                        return log_error_errno(r, "Cannot set up the watchdog timer: %m");
        return 0;
}

static void open_system_bus(struct agent *agent)
{
        int r = sd_bus_open_system(&agent->system_bus);
        if (r >= 0)
                r = sd_bus_attach_event(agent->system_bus, agent->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0) {
                /* containers and tests may have no system bus: sources report "unavailable" */
                log_warning_errno(r, "No system bus; sources that need logind are unavailable: %m");
                agent->system_bus = sd_bus_flush_close_unref(agent->system_bus);
        }
}

static void emit_started(struct agent *agent)
{
        json_object *d = json_object_new_object();
        json_object *names = json_object_new_array();
        for (size_t i = 0; i < agent->n_sources; i++)
                json_object_array_add(names, json_object_new_string(agent->sources[i].ops->name));
        json_object_object_add(d, "version", json_object_new_string(HOGO_VERSION));
        json_object_object_add(d, "pid", json_object_new_int64(getpid()));
        json_object_object_add(d, "sources", names);
        json_object_object_add(d, "policy_version",
                               json_object_new_int64(agent->policy->version));
        json_object_object_add(d, "policy_hash", json_object_new_string(agent->policy->hash));
        json_object_object_add(
                d, "policy_origin",
                json_object_new_string(agent_policy_origin_to_string(agent->policy_origin)));
        agent_emit(agent, "agent.started", EVENT_SEVERITY_NOTICE, NULL, d);
}

int agent_new(const char *config_path, struct agent_config *config, enum log_target log_target,
              struct agent **ret)
{
        struct agent *agent = calloc(1, sizeof *agent);
        if (!agent) {
                agent_config_free(config);
                return -ENOMEM;
        }
        agent->config = config;
        agent->log_target = log_target;
        agent->config_path = strdup(config_path);
        agent->started_usec = agent_now_usec();
        if (!agent->config_path) {
                agent_free(agent);
                return -ENOMEM;
        }

        int r = setup_loop(agent);
        if (r >= 0) {
                r = mkdir_parents(config->state_dir, 0755);
                if (r < 0)
                        log_error_errno(r, "Cannot create the state directory %s: %m",
                                        config->state_dir);
        }
        if (r >= 0) {
                open_spool(agent); /* failure is reported and retried; enforcement goes on */
                open_system_bus(agent);
                /* watch before the first read: a policy dropped while the agent starts is
                 * then seen by the loop instead of falling between the read and the watch */
                r = agent_policy_watch(agent);
        }
        if (r >= 0)
                r = agent_policy_start(agent);
        if (r >= 0)
                r = notifier_new(agent, &agent->notifier);
        if (r >= 0)
                r = start_sources(agent);
        if (r >= 0)
                r = control_open(agent->event, config->control_socket, config->control_group,
                                 agent_control_request, agent, &agent->control);
        if (r < 0) {
                agent_free(agent);
                return r;
        }
        emit_started(agent);
        if (agent->spool) {
                spool_sync(agent->spool);
                (void)spool_collect(agent->spool, NULL); /* what the uplink acked meanwhile */
        }
        agent_posture_write(agent, true);
        *ret = agent;
        return 0;
}

int agent_run(struct agent *agent)
{
        agent_update_status(agent);
        sd_notify(false, "READY=1");
        log_info("hogo-agent %s running with %zu source(s)", HOGO_VERSION, agent->n_sources);
        int r = sd_event_loop(agent->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return 0;
}

void agent_free(struct agent *agent)
{
        if (!agent)
                return;
        agent->stopping = true;
        for (size_t i = agent->n_sources; i > 0; i--) {
                struct source_instance *si = &agent->sources[i - 1];
                if (si->self)
                        si->ops->shutdown(si->self);
        }
        free(agent->sources);
        control_close(agent->control);
        notifier_free(agent->notifier);
        if (agent->spool)
                spool_close(agent->spool);
        policy_free(agent->policy);
        sd_event_source_disable_unref(agent->policy_watch);
        sd_event_source_disable_unref(agent->sync_timer);
        sd_event_source_disable_unref(agent->collect_timer);
        sd_event_source_disable_unref(agent->posture_timer);
        sd_event_source_disable_unref(agent->watchdog_timer);
        sd_bus_flush_close_unref(agent->system_bus);
        sd_event_unref(agent->event);
        agent_config_free(agent->config);
        free(agent->config_path);
        free(agent->chain_fault);
        free(agent->policy_rejected_reason);
        free(agent->posture_written);
        free(agent);
}

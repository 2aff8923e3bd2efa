/* notify.c — notices to staff, see notify.h.
 *
 * notifier_show() starts hogo-agent-helper (agent_helper.h) for each notice with
 * posix_spawn(), the notice as JSON on its stdin. The helper asks logind for the sessions,
 * becomes each user concerned in a grandchild to call org.freedesktop.Notifications on
 * the user's session bus, or writes to the user's terminals (notice_delivery.h), and
 * reports one JSON line per user through a pipe; the agent reads them in its loop and
 * records every notice that could not be shown graphically as an agent.notice_fallback
 * event, as it does when the helper cannot be started or fails.
 */
#include "agent/notify.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "agent/agent_core.h"
#include "agent/agent_helper.h"
#include "agent/notice_delivery.h"
#include "agent/notice_ratelimit.h"
#include "agent/notice_text.h"
#include "common/canon_json.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/util.h"

struct notifier {
        struct agent *agent;
        struct notice_ratelimit ratelimit;
        uint64_t shown, fallback, undelivered, suppressed;
        struct notify_job *jobs; /* helpers still running */
};

/* One helper at work on one notice. */
struct notify_job {
        struct notifier *notifier;
        struct notify_job *next;
        pid_t pid;
        int fd;
        sd_event_source *io, *child, *timeout;
        enum notice_kind kind;
        char *user; /* NULL: everyone */
        unsigned n_results;
        int status; /* the helper's exit status, or -signal; when exited */
        char results[8192];
        size_t len;
        bool exited, eof;
};

static void job_free(struct notify_job *job)
{
        struct notifier *n = job->notifier;
        for (struct notify_job **p = &n->jobs; *p; p = &(*p)->next)
                if (*p == job) {
                        *p = job->next;
                        break;
                }
        sd_event_source_disable_unref(job->io);
        sd_event_source_disable_unref(job->timeout);
        if (job->child && !job->exited) {
                kill(-job->pid, SIGKILL); /* the helper and any session-bus grandchild */
                kill(job->pid, SIGKILL);
                (void)waitpid(job->pid, NULL, 0);
        }
        sd_event_source_disable_unref(job->child);
        if (job->fd >= 0)
                close(job->fd);
        free(job->user);
        free(job);
}

/* A notice that could not be shown graphically is itself recorded: details carries what
 * the helper said (or why there was no helper to say it). Takes ownership of details. */
static void record_not_shown(struct notifier *n, enum notice_kind kind, const char *user,
                             json_object *details)
{
        json_object_object_add(details, "rule", json_object_new_string(notice_rule(kind)));
        json_object_object_add(details, "notice_kind",
                               json_object_new_string(notice_kind_to_string(kind)));
        agent_emit(n->agent, "agent.notice_fallback", EVENT_SEVERITY_NOTICE, user, details);
}

/* The helper could not show the notice at all (not started, failed, stopped). */
static void record_helper_failure(struct notifier *n, enum notice_kind kind, const char *user,
                                  const char *reason)
{
        n->undelivered++;
        json_object *d = json_object_new_object();
        json_object_object_add(d, "shown", json_object_new_string("none"));
        json_object_object_add(d, "reason", json_object_new_string(reason));
        record_not_shown(n, kind, user, d);
}

static void job_result(struct notify_job *job, json_object *r)
{
        struct notifier *n = job->notifier;
        const char *shown = json_object_get_string(json_object_object_get(r, "shown"));
        const char *user = json_object_get_string(json_object_object_get(r, "user"));
        job->n_results++;
        if (shown && STREQ(shown, "graphical")) {
                n->shown++;
                log_info("Notice %s shown to %s", notice_rule(job->kind), user ? user : "?");
                return;
        }
        if (shown && STREQ(shown, "terminals"))
                n->fallback++;
        else
                n->undelivered++;
        json_object *d = json_object_get(r);
        _cleanup_free_ char *who = user && user[0] ? strdup(user) : NULL;
        json_object_object_del(d, "user"); /* frees user: it is the event's user instead */
        record_not_shown(n, job->kind, who, d);
}

static void job_finish(struct notify_job *job)
{
        job->results[job->len] = '\0';
        for (char *line = job->results, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
                *nl = '\0';
                json_object *r = json_tokener_parse(line);
                if (r && json_object_is_type(r, json_type_object))
                        job_result(job, r);
                json_object_put(r);
        }
        /* a helper that found no session says nothing and exits 0; one that died or
         * failed before it could say anything leaves the notice unshown */
        if (job->n_results == 0 && job->status != 0) {
                char reason[160];
                snprintf(reason, sizeof reason, "the notice helper failed (%s %d)",
                         job->status > 0 ? "exit status" : "signal",
                         job->status > 0 ? job->status : -job->status);
                log_error("Notice %s not shown: %s", notice_rule(job->kind), reason);
                record_helper_failure(job->notifier, job->kind, job->user, reason);
        }
        job_free(job);
}

static int on_job_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct notify_job *job = userdata;
        ssize_t n = read(fd, job->results + job->len, sizeof job->results - 1 - job->len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n > 0) {
                job->len += (size_t)n;
                if (job->len < sizeof job->results - 1)
                        return 0;
        }
        job->eof = true;
        sd_event_source_set_enabled(job->io, SD_EVENT_OFF);
        if (job->exited)
                job_finish(job);
        return 0;
}

static int on_job_exit(sd_event_source *s, const siginfo_t *si, void *userdata)
{
        struct notify_job *job = userdata;
        job->exited = true;
        job->status = si->si_code == CLD_EXITED ? si->si_status : -si->si_status;
        if (job->eof)
                job_finish(job);
        return 0;
}

static int on_job_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct notify_job *job = userdata;
        log_warning("Notice %s: the notification helper did not finish in time; stopped",
                    notice_rule(job->kind));
        record_helper_failure(job->notifier, job->kind, job->user,
                              "the notice helper did not finish in time and was stopped");
        job_free(job); /* kills and reaps the helper */
        return 0;
}

/* Starts the helper on the request; returns its pid and the read end of its answers. */
static int start_helper(struct agent *agent, const struct notice_request *req, pid_t *ret_pid,
                        int *ret_fd, char **ret_reason)
{
        _cleanup_free_ char *helper = NULL;
        int r = agent_helper_path(agent->config, &helper);
        if (r < 0)
                return r;
        _cleanup_json_ json_object *o = notice_request_to_json(req);
        const char *text = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : NULL;
        if (!text)
                return -ENOMEM;
        _cleanup_close_ int in = agent_helper_input("hogo-notice", text, strlen(text));
        if (in < 0)
                return in;
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0)
                return negative_errno();
        char *argv[] = { (char *)AGENT_HELPER_NAME, (char *)AGENT_HELPER_NOTIFY, NULL };
        pid_t pid;
        r = agent_helper_spawn(helper, argv, in, fds[1], &pid);
        close(fds[1]);
        if (r < 0) {
                close(fds[0]);
                errno = -r;
                if (asprintf(ret_reason, "the notice helper %s cannot be run: %m", helper) < 0)
                        *ret_reason = NULL;
                return r;
        }
        *ret_pid = pid;
        *ret_fd = fds[0];
        return 0;
}

void notifier_show(struct notifier *n, const char *user, const struct notice *notice)
{
        struct agent *agent = n->agent;
        uint64_t now;
        sd_event_now(agent->event, CLOCK_MONOTONIC, &now);
        if (!notice_ratelimit_allow(&n->ratelimit, notice->rate_key, now)) {
                n->suppressed++;
                log_debug("Notice %s for %s suppressed (rate limit on %s)",
                          notice_rule(notice->kind), user ? user : "everyone", notice->rate_key);
                return;
        }

        struct notice_request req = {
                .user = user,
                .notice = *notice,
                .contact = agent->config->notify.contact,
                .address = agent->config->notify.session_bus_address,
                .locale_dir = agent->config->notify.locale_dir,
                .fallback_terminals = agent->config->notify.fallback == NOTIFY_FALLBACK_TERMINALS,
        };
        pid_t pid;
        int fd;
        _cleanup_free_ char *reason = NULL;
        int r = start_helper(agent, &req, &pid, &fd, &reason);
        if (r < 0) {
                /* the control that raised the notice has acted already; only the notice
                 * is missing, and that is recorded */
                errno = -r;
                log_error("Notice %s for %s not shown: %s", notice_rule(notice->kind),
                          user ? user : "everyone", reason ? reason : strerror(-r));
                record_helper_failure(n, notice->kind, user,
                                      reason ? reason : "the notice helper cannot be run");
                return;
        }

        struct notify_job *job = calloc(1, sizeof *job);
        if (!job || (user && !(job->user = strdup(user)))) {
                free(job);
                close(fd);
                kill(pid, SIGKILL);
                (void)waitpid(pid, NULL, 0);
                return;
        }
        job->notifier = n;
        job->pid = pid;
        job->fd = fd;
        job->kind = notice->kind;
        job->next = n->jobs;
        n->jobs = job;
        fcntl(job->fd, F_SETFL, O_NONBLOCK);
        r = sd_event_add_io(agent->event, &job->io, job->fd, EPOLLIN, on_job_io, job);
        if (r >= 0)
                r = sd_event_add_child(agent->event, &job->child, pid, WEXITED, on_job_exit, job);
        if (r >= 0)
                r = sd_event_add_time(agent->event, &job->timeout, CLOCK_MONOTONIC,
                                      now + NOTIFY_CHILD_TIMEOUT_USEC, 0, on_job_timeout, job);
        if (r < 0) {
                log_error_errno(r, "Cannot follow the notification helper: %m");
                if (!job->child) {
                        kill(pid, SIGKILL);
                        (void)waitpid(pid, NULL, 0);
                        job->exited = true;
                }
                job_free(job);
        }
}

int notifier_new(struct agent *agent, struct notifier **ret)
{
        struct notifier *n = calloc(1, sizeof *n);
        if (!n)
                return -ENOMEM;
        n->agent = agent;
        notice_ratelimit_init(&n->ratelimit, NOTIFY_RATELIMIT_INTERVAL_USEC,
                              NOTIFY_RATELIMIT_BURST);
        *ret = n;
        return 0;
}

void notifier_free(struct notifier *n)
{
        if (!n)
                return;
        while (n->jobs)
                job_free(n->jobs);
        free(n);
}

void notifier_status(struct notifier *n, json_object *status)
{
        json_object_object_add(status, "shown", json_object_new_int64((int64_t)n->shown));
        json_object_object_add(status, "fallback_terminals",
                               json_object_new_int64((int64_t)n->fallback));
        json_object_object_add(status, "undelivered",
                               json_object_new_int64((int64_t)n->undelivered));
        json_object_object_add(status, "suppressed",
                               json_object_new_int64((int64_t)n->suppressed));
}

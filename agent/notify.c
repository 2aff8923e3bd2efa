/* notify.c — notices to staff, see notify.h.
 *
 * notifier_show() hands the notice to hogo-agent-helper's notice server
 * (notice_server.h), started with posix_spawn() when a notice comes and none is running,
 * and returns at once. The server forks a worker per notice that asks logind for the
 * sessions, becomes each user concerned in a grandchild to call
 * org.freedesktop.Notifications on the user's session bus, or writes to the user's
 * terminals (notice_delivery.h). Its answers come back one message per line on the
 * socket; the agent reads them in its loop and records every notice that could not be
 * shown graphically as an agent.notice_fallback event, as it does when the helper cannot
 * be started, fails or does not answer in time. After a minute without notices the agent
 * closes the socket and the server exits.
 */
#include "agent/notify.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "agent/agent_core.h"
#include "agent/agent_helper.h"
#include "agent/notice_delivery.h"
#include "agent/notice_ratelimit.h"
#include "agent/notice_text.h"
#include "common/canon_json.h"
#include "common/log.h"
#include "common/util.h"

/* the server has NOTIFY_CHILD_TIMEOUT_USEC per notice; this is for a server that hangs */
#define NOTIFY_SERVER_TIMEOUT_USEC (NOTIFY_CHILD_TIMEOUT_USEC + 5 * 1000000ull)
#define NOTIFY_SERVER_IDLE_USEC (60 * 1000000ull)
#define NOTIFY_MESSAGE_MAX (64 * 1024)

/* The running notice server. */
struct notice_server {
        pid_t pid;
        int fd; /* our end of its SOCK_SEQPACKET socket */
        sd_event_source *io, *child;
};

struct notifier {
        struct agent *agent;
        struct notice_ratelimit ratelimit;
        uint64_t shown, fallback, undelivered, suppressed;
        struct notice_server server; /* pid 0: none running */
        sd_event_source *idle; /* closes the server's socket after a quiet minute */
        int64_t next_id;
        struct notify_job *jobs; /* notices the server has not finished */
};

/* One notice the server is working on. */
struct notify_job {
        struct notifier *notifier;
        struct notify_job *next;
        int64_t id;
        enum notice_kind kind;
        char *user; /* NULL: everyone */
        unsigned n_results;
        sd_event_source *timeout;
};

static void job_free(struct notify_job *job)
{
        struct notifier *n = job->notifier;
        for (struct notify_job **p = &n->jobs; *p; p = &(*p)->next)
                if (*p == job) {
                        *p = job->next;
                        break;
                }
        sd_event_source_disable_unref(job->timeout);
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
        log_error("Notice %s for %s not shown: %s", notice_rule(kind), user ? user : "everyone",
                  reason);
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
        json_object_object_del(d, "id");
        record_not_shown(n, job->kind, who, d);
}

/* The server finished the notice: status is its worker's exit status or -signal. A worker
 * that found no session says nothing and exits 0; one that failed or was stopped before
 * it said anything leaves the notice unshown. */
static void job_done(struct notify_job *job, int status, const char *reason)
{
        if (job->n_results == 0 && (status != 0 || reason)) {
                char why[200];
                if (!reason) {
                        snprintf(why, sizeof why, "the notice helper failed (%s %d)",
                                 status > 0 ? "exit status" : "signal", status > 0 ? status : -status);
                        reason = why;
                }
                record_helper_failure(job->notifier, job->kind, job->user, reason);
        }
        job_free(job);
}

static struct notify_job *job_find(struct notifier *n, int64_t id)
{
        for (struct notify_job *j = n->jobs; j; j = j->next)
                if (j->id == id)
                        return j;
        return NULL;
}

static void server_message(struct notifier *n, const char *text)
{
        _cleanup_json_ json_object *r = json_tokener_parse(text);
        if (!r || !json_object_is_type(r, json_type_object))
                return;
        struct notify_job *job = job_find(n, json_object_get_int64(json_object_object_get(r, "id")));
        if (!job)
                return; /* one given up on already */
        json_object *done = json_object_object_get(r, "done");
        if (done)
                job_done(job, json_object_get_int(done),
                         json_object_get_string(json_object_object_get(r, "reason")));
        else
                job_result(job, r);
}

static void idle_arm(struct notifier *n)
{
        uint64_t now;
        sd_event_now(n->agent->event, CLOCK_MONOTONIC, &now);
        if (n->idle)
                (void)sd_event_source_set_time(n->idle, now + NOTIFY_SERVER_IDLE_USEC);
}

/* Reads what the server said; messages left after it exited are read too. */
static void server_drain(struct notifier *n)
{
        char buf[NOTIFY_MESSAGE_MAX + 1];
        for (;;) {
                ssize_t len = recv(n->server.fd, buf, sizeof buf - 1, MSG_DONTWAIT);
                if (len < 0 && errno == EINTR)
                        continue;
                if (len <= 0)
                        return;
                buf[len] = '\0';
                server_message(n, buf);
        }
}

/* Lets go of the server: closing the socket makes a live one stop its workers and exit,
 * and every notice it had not finished is recorded as not shown. */
static void server_close(struct notifier *n, const char *reason)
{
        struct notice_server *s = &n->server;
        sd_event_source_disable_unref(s->io);
        s->io = NULL;
        if (s->fd >= 0)
                close(s->fd);
        s->fd = -1;
        if (s->child) {
                /* reaped by the loop when it exits */
                (void)sd_event_source_set_floating(s->child, true);
                sd_event_source_unref(s->child);
                s->child = NULL;
        }
        s->pid = 0;
        while (n->jobs)
                job_done(n->jobs, 0, reason);
}

static int on_server_io(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
        struct notifier *n = userdata;
        server_drain(n);
        if (revents & (EPOLLHUP | EPOLLERR))
                /* it closed its end: it is exiting, and on_server_exit says how */
                sd_event_source_set_enabled(es, SD_EVENT_OFF);
        return 0;
}

static int on_server_exit(sd_event_source *es, const siginfo_t *si, void *userdata)
{
        struct notifier *n = userdata;
        if (es != n->server.child)
                return 0; /* one let go of (idle, or stopped): reaped, nothing more to do */
        server_drain(n);
        char reason[160];
        snprintf(reason, sizeof reason, "the notice helper failed (%s %d)",
                 si->si_code == CLD_EXITED ? "exit status" : "signal", si->si_status);
        if (n->jobs)
                log_warning("The notice helper (pid %d) ended with notices unfinished: %s",
                            (int)si->si_pid, reason);
        server_close(n, reason);
        return 0;
}

static int on_idle(sd_event_source *es, uint64_t usec, void *userdata)
{
        struct notifier *n = userdata;
        if (n->server.pid && !n->jobs) {
                log_debug("No notices for a minute: letting the notice helper exit");
                server_close(n, NULL);
        }
        return 0;
}

static int server_start(struct notifier *n, char **ret_reason)
{
        struct agent *agent = n->agent;
        _cleanup_free_ char *helper = NULL;
        int r = agent_helper_path(agent->config, &helper);
        if (r < 0)
                return r;
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return negative_errno();
        char *argv[] = { (char *)AGENT_HELPER_NAME, (char *)AGENT_HELPER_NOTIFY_SERVER, NULL };
        pid_t pid;
        r = agent_helper_spawn(helper, argv, sv[1], sv[1], &pid);
        close(sv[1]);
        if (r < 0) {
                close(sv[0]);
                errno = -r;
                if (asprintf(ret_reason, "the notice helper %s cannot be run: %m", helper) < 0)
                        *ret_reason = NULL;
                return r;
        }
        struct notice_server *s = &n->server;
        *s = (struct notice_server){ .pid = pid, .fd = sv[0] };
        (void)fcntl(s->fd, F_SETFL, O_NONBLOCK);
        r = sd_event_add_child(agent->event, &s->child, pid, WEXITED, on_server_exit, n);
        if (r >= 0)
                r = sd_event_add_io(agent->event, &s->io, s->fd, EPOLLIN, on_server_io, n);
        if (r >= 0 && !n->idle)
                r = sd_event_add_time(agent->event, &n->idle, CLOCK_MONOTONIC, 0, 0, on_idle, n);
        if (r < 0) {
                if (!s->child) {
                        kill(pid, SIGKILL);
                        (void)waitpid(pid, NULL, 0);
                }
                server_close(n, NULL);
                errno = -r;
                if (asprintf(ret_reason, "cannot follow the notice helper: %m") < 0)
                        *ret_reason = NULL;
                return r;
        }
        log_debug("Notice helper %s started (pid %d)", helper, (int)pid);
        return 0;
}

static int on_job_timeout(sd_event_source *es, uint64_t usec, void *userdata)
{
        struct notify_job *job = userdata;
        struct notifier *n = job->notifier;
        /* the server stops a worker at NOTIFY_CHILD_TIMEOUT_USEC; one that has not said so
         * by now is stuck itself: it is stopped, and what it had is recorded as not shown */
        log_warning("The notice helper (pid %d) does not answer; stopped", (int)n->server.pid);
        if (n->server.pid)
                kill(n->server.pid, SIGKILL);
        server_close(n, "the notice helper did not finish in time and was stopped");
        return 0;
}

/* Sends the notice to the server (starting one when none runs). */
static int job_send(struct notifier *n, struct notify_job *job, const struct notice_request *req,
                    char **ret_reason)
{
        if (!n->server.pid) {
                int r = server_start(n, ret_reason);
                if (r < 0)
                        return r;
        }
        _cleanup_json_ json_object *o = notice_request_to_json(req);
        const char *text = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : NULL;
        if (!text)
                return -ENOMEM;
        if (strlen(text) > NOTIFY_MESSAGE_MAX) {
                *ret_reason = strdup("the notice is too long for the notice helper");
                return -EMSGSIZE;
        }
        /* never waits: a server too far behind to take it leaves the notice unshown */
        if (send(n->server.fd, text, strlen(text), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
                int r = negative_errno();
                if (asprintf(ret_reason, "the notice helper does not take notices: %m") < 0)
                        *ret_reason = NULL;
                return r;
        }
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

        struct notify_job *job = calloc(1, sizeof *job);
        if (!job || (user && !(job->user = strdup(user)))) {
                free(job);
                record_helper_failure(n, notice->kind, user, "out of memory");
                return;
        }
        job->notifier = n;
        job->id = ++n->next_id;
        job->kind = notice->kind;
        struct notice_request req = {
                .id = job->id,
                .user = user,
                .notice = *notice,
                .contact = agent->config->notify.contact,
                .address = agent->config->notify.session_bus_address,
                .locale_dir = agent->config->notify.locale_dir,
                .fallback_terminals = agent->config->notify.fallback == NOTIFY_FALLBACK_TERMINALS,
        };
        _cleanup_free_ char *reason = NULL;
        int r = job_send(n, job, &req, &reason);
        if (r >= 0)
                r = sd_event_add_time(agent->event, &job->timeout, CLOCK_MONOTONIC,
                                      now + NOTIFY_SERVER_TIMEOUT_USEC, 0, on_job_timeout, job);
        if (r < 0) {
                /* the control that raised the notice has acted already; only the notice is
                 * missing, and that is recorded */
                errno = -r;
                if (!reason && asprintf(&reason, "cannot hand the notice to the helper: %m") < 0)
                        reason = NULL;
                record_helper_failure(n, notice->kind, user, reason ? reason : "out of memory");
                free(job->user);
                free(job);
                return;
        }
        job->next = n->jobs;
        n->jobs = job;
        idle_arm(n);
        sd_event_source_set_enabled(n->idle, SD_EVENT_ONESHOT);
}

int notifier_new(struct agent *agent, struct notifier **ret)
{
        struct notifier *n = calloc(1, sizeof *n);
        if (!n)
                return -ENOMEM;
        n->agent = agent;
        n->server.fd = -1;
        notice_ratelimit_init(&n->ratelimit, NOTIFY_RATELIMIT_INTERVAL_USEC,
                              NOTIFY_RATELIMIT_BURST);
        *ret = n;
        return 0;
}

void notifier_free(struct notifier *n)
{
        if (!n)
                return;
        pid_t pid = n->server.pid;
        sd_event_source_disable_unref(n->server.child);
        n->server.child = NULL;
        server_close(n, NULL); /* the agent is stopping: nothing more is recorded */
        if (pid > 0) {
                /* its socket is closed: it stops its workers and exits */
                kill(pid, SIGTERM);
                (void)waitpid(pid, NULL, 0);
        }
        sd_event_source_disable_unref(n->idle);
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

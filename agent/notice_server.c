/* notice_server.c — see notice_server.h. Runs in hogo-agent-helper only. */
#include "agent/notice_server.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/notice_delivery.h"
#include "agent/notify.h"
#include "common/canon_json.h"
#include "common/util.h"

struct worker {
        pid_t pid;
        int pidfd;
        int64_t id;
        uint64_t deadline;
};

static void send_done(int fd, int64_t id, int status, const char *reason)
{
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_int64(id));
        json_object_object_add(o, "done", json_object_new_int64(status));
        if (reason)
                json_object_object_add(o, "reason", json_object_new_string(reason));
        const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        (void)send(fd, text, strlen(text), MSG_NOSIGNAL);
}

/* The worker: one notice, its answers on fd, one message per line. */
static _Noreturn void worker_run(int fd, const struct notice_request *req)
{
        (void)setpgid(0, 0); /* a stuck grandchild is killed with it */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                _exit(1);
        FILE *out = fdopen(fd, "w");
        if (!out)
                _exit(1);
        /* each line leaves in one write: one message on the socket */
        static char buf[64 * 1024];
        setvbuf(out, buf, _IOFBF, sizeof buf);
        notice_deliver(out, req);
        _exit(fflush(out) == 0 ? 0 : 1);
}

static void worker_start(int fd, struct worker *workers, size_t *n, const char *text)
{
        _cleanup_json_ json_object *o = json_tokener_parse(text);
        struct notice_request req;
        if (!o || notice_request_from_json(o, &req) < 0) {
                int64_t id = o ? json_object_get_int64(json_object_object_get(o, "id")) : -1;
                fprintf(stderr, "hogo-agent-helper: a notice request is not valid\n");
                return send_done(fd, id, 1, "the notice request is not valid");
        }
        if (*n >= NOTICE_SERVER_MAX_WORKERS)
                return send_done(fd, req.id, 1, "too many notices in progress");
        pid_t pid = fork();
        if (pid < 0)
                return send_done(fd, req.id, 1, "the notice helper cannot fork");
        if (pid == 0)
                worker_run(fd, &req);
        (void)setpgid(pid, pid); /* also here: whichever runs first */
        int pidfd = pidfd_open(pid, 0);
        if (pidfd < 0) {
                /* cannot watch it: it is not let run unwatched */
                kill(pid, SIGKILL);
                (void)waitpid(pid, NULL, 0);
                return send_done(fd, req.id, 1, "the notice helper cannot watch its worker");
        }
        uint64_t deadline = clock_usec(CLOCK_MONOTONIC) + NOTIFY_CHILD_TIMEOUT_USEC;
        workers[(*n)++] = (struct worker){ .pid = pid, .pidfd = pidfd, .id = req.id,
                                           .deadline = deadline };
}

static void worker_reap(int fd, struct worker *workers, size_t *n, size_t i, bool stop)
{
        struct worker *w = &workers[i];
        if (stop) {
                kill(-w->pid, SIGKILL);
                kill(w->pid, SIGKILL);
        }
        int status = 0;
        while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (fd >= 0)
                send_done(fd, w->id,
                          WIFEXITED(status) ? WEXITSTATUS(status)
                          : WIFSIGNALED(status) ? -WTERMSIG(status) : 1,
                          stop ? "the notice helper did not finish in time and was stopped"
                               : NULL);
        close(w->pidfd);
        workers[i] = workers[--*n];
}

int notice_serve(int fd)
{
        /* dies with the agent; had the agent died already, its end is closed and the
         * first recv() says so */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                return 1;
        struct worker workers[NOTICE_SERVER_MAX_WORKERS] = {};
        size_t n = 0;
        static char msg[NOTICE_REQUEST_MAX + 1];
        bool open = true;
        while (open || n > 0) {
                struct pollfd p[NOTICE_SERVER_MAX_WORKERS + 1];
                uint64_t now = clock_usec(CLOCK_MONOTONIC), next = UINT64_MAX;
                size_t k = 0;
                if (open)
                        p[k++] = (struct pollfd){ .fd = fd, .events = POLLIN };
                for (size_t i = 0; i < n; i++) {
                        p[k++] = (struct pollfd){ .fd = workers[i].pidfd, .events = POLLIN };
                        next = MIN(next, workers[i].deadline);
                }
                int timeout = next == UINT64_MAX ? -1
                              : next <= now      ? 0
                                                 : (int)((next - now) / 1000) + 1;
                int r = poll(p, k, timeout);
                if (r < 0 && errno != EINTR)
                        return 1;
                size_t first_worker = open ? 1 : 0;
                if (open && r > 0 && p[0].revents) {
                        ssize_t len = recv(fd, msg, sizeof msg - 1, MSG_DONTWAIT);
                        if (len > 0) {
                                msg[len] = '\0';
                                worker_start(fd, workers, &n, msg);
                        } else if (len == 0 || (errno != EAGAIN && errno != EINTR))
                                open = false; /* the agent closed its end: finish up */
                }
                /* workers that exited or overran their time; p[] was taken before any
                 * change to workers[], so look up by pidfd */
                now = clock_usec(CLOCK_MONOTONIC);
                for (size_t j = first_worker; r > 0 && j < k; j++)
                        if (p[j].revents)
                                for (size_t i = 0; i < n; i++)
                                        if (workers[i].pidfd == p[j].fd) {
                                                worker_reap(open ? fd : -1, workers, &n, i, false);
                                                break;
                                        }
                for (size_t i = 0; i < n;)
                        if (workers[i].deadline <= now || !open)
                                worker_reap(open ? fd : -1, workers, &n, i, true);
                        else
                                i++;
        }
        return 0;
}

/* control.c — the control socket, see control.h. */
#include "agent/control.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "common/canon_json.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/util.h"

struct control {
        sd_event *event;
        int fd;
        char *path;
        gid_t gid; /* (gid_t)-1: root only */
        sd_event_source *listen_source;
        control_handler_t handler;
        void *userdata;
};

struct control_client {
        struct control *control;
        int fd;
        sd_event_source *io, *timeout;
        char request[CONTROL_REQUEST_MAX + 1];
        size_t request_len;
        char *answer;
        size_t answer_len, answer_sent;
};

static void client_free(struct control_client *c)
{
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->timeout);
        if (c->fd >= 0)
                close(c->fd);
        free(c->answer);
        free(c);
}

static int on_client_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        log_debug("Control client too slow; connection closed");
        client_free(userdata);
        return 0;
}

static int client_write(struct control_client *c)
{
        while (c->answer_sent < c->answer_len) {
                ssize_t n = send(c->fd, c->answer + c->answer_sent, c->answer_len - c->answer_sent,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0 && errno == EAGAIN)
                        return sd_event_source_set_io_events(c->io, EPOLLOUT);
                if (n < 0) {
                        client_free(c);
                        return 0;
                }
                c->answer_sent += (size_t)n;
        }
        client_free(c);
        return 0;
}

static void client_answer(struct control_client *c)
{
        c->request[c->request_len] = '\0';
        json_object *request = json_tokener_parse(c->request);
        _cleanup_json_ json_object *answer = NULL;
        if (!request || !json_object_is_type(request, json_type_object)) {
                answer = json_object_new_object();
                json_object_object_add(answer, "ok", json_object_new_boolean(false));
                json_object_object_add(answer, "error",
                                       json_object_new_string("request is not a JSON object"));
        } else
                answer = c->control->handler(c->control->userdata, request);
        json_object_put(request);

        const char *text = answer ? json_object_to_json_string_ext(answer, JSON_C_TO_STRING_PLAIN)
                                  : "{\"ok\":false,\"error\":\"out of memory\"}";
        if (asprintf(&c->answer, "%s\n", text) < 0) {
                c->answer = NULL;
                client_free(c);
                return;
        }
        c->answer_len = strlen(c->answer);
        client_write(c);
}

static int on_client_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct control_client *c = userdata;
        if (c->answer)
                return client_write(c);

        ssize_t n = recv(fd, c->request + c->request_len, CONTROL_REQUEST_MAX - c->request_len,
                         MSG_DONTWAIT);
        if (n < 0 && errno == EAGAIN)
                return 0;
        if (n <= 0) {
                /* a client that closes its sending side has sent all it will */
                if (n == 0 && c->request_len > 0)
                        client_answer(c);
                else
                        client_free(c);
                return 0;
        }
        c->request_len += (size_t)n;
        if (memchr(c->request, '\n', c->request_len))
                client_answer(c);
        else if (c->request_len >= CONTROL_REQUEST_MAX) {
                log_warning("Control request larger than %d bytes refused", CONTROL_REQUEST_MAX);
                client_free(c);
        }
        return 0;
}

/* Root, or a member of the configured group (primary or supplementary). */
static bool peer_allowed(const struct control *control, const struct ucred *cred)
{
        if (cred->uid == 0)
                return true;
        if (control->gid == (gid_t)-1)
                return false;
        if (cred->gid == control->gid)
                return true;
        struct passwd *pw = getpwuid(cred->uid);
        if (!pw)
                return false;
        gid_t groups[256];
        int n = ELEMENTSOF(groups);
        if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
                return false;
        for (int i = 0; i < n; i++)
                if (groups[i] == control->gid)
                        return true;
        return false;
}

static int on_listen(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct control *control = userdata;
        _cleanup_close_ int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
                return 0;

        struct ucred cred;
        socklen_t len = sizeof cred;
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
            !peer_allowed(control, &cred)) {
                log_warning("Control connection from uid %u refused: only root and the "
                            "control group may use it",
                            (unsigned)cred.uid);
                return 0;
        }

        struct control_client *c = calloc(1, sizeof *c);
        if (!c)
                return 0;
        c->control = control;
        c->fd = TAKE_FD(cfd);
        uint64_t now;
        sd_event_now(control->event, CLOCK_MONOTONIC, &now);
        if (sd_event_add_io(control->event, &c->io, c->fd, EPOLLIN, on_client_io, c) < 0 ||
            sd_event_add_time(control->event, &c->timeout, CLOCK_MONOTONIC,
                              now + CONTROL_TIMEOUT_USEC, 0, on_client_timeout, c) < 0)
                client_free(c);
        return 0;
}

int control_open(sd_event *event, const char *path, const char *group,
                 control_handler_t handler, void *userdata, struct control **ret)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof sa.sun_path)
                return log_error_errno(-ENAMETOOLONG, "Control socket path too long: %s", path);
        strcpy(sa.sun_path, path);

        gid_t gid = (gid_t)-1;
        if (group) {
                struct group *gr = getgrnam(group);
                if (!gr)
                        return log_error_errno(-ESRCH, "Control group \"%s\" does not exist; "
                                                       "create it or remove control_group",
                                               group);
                gid = gr->gr_gid;
        }

        _cleanup_free_ char *dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = '\0';
                mkdir_parents(dir, 0755);
        }

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return log_error_errno(negative_errno(), "Cannot create the control socket: %m");
        (void)unlink(path); /* a stale socket of an earlier run */
        /* bind under a restrictive umask so no moment exists with a wider mode */
        mode_t old = umask(0177);
        int r = bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ? negative_errno() : 0;
        umask(old);
        if (r < 0)
                return log_error_errno(r, "Cannot bind the control socket %s: %m", path);
        if (gid != (gid_t)-1 && (chown(path, 0, gid) < 0 || chmod(path, 0660) < 0))
                return log_error_errno(negative_errno(), "Cannot give %s to group %s: %m", path,
                                       group);
        if (listen(fd, 16) < 0)
                return log_error_errno(negative_errno(), "Cannot listen on %s: %m", path);

        struct control *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->event = event;
        c->gid = gid;
        c->handler = handler;
        c->userdata = userdata;
        c->path = strdup(path);
        c->fd = TAKE_FD(fd);
        r = c->path ? sd_event_add_io(event, &c->listen_source, c->fd, EPOLLIN, on_listen, c)
                    : -ENOMEM;
        if (r < 0) {
                control_close(c);
                return log_error_errno(r, "Cannot watch the control socket: %m");
        }
        *ret = c;
        return 0;
}

void control_close(struct control *c)
{
        if (!c)
                return;
        sd_event_source_disable_unref(c->listen_source);
        if (c->fd >= 0)
                close(c->fd);
        if (c->path)
                unlink(c->path);
        free(c->path);
        free(c);
}

int control_call(const char *path, json_object *request, json_object **ret_answer)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
                return negative_errno();

        _cleanup_free_ char *line = NULL;
        if (asprintf(&line, "%s\n",
                     json_object_to_json_string_ext(request, JSON_C_TO_STRING_PLAIN)) < 0)
                return -ENOMEM;
        if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0)
                return negative_errno();

        /* the agent answers within its own timeout; do not wait forever on a hung one */
        size_t cap = 64 * 1024, len = 0;
        _cleanup_free_ char *buf = malloc(cap + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int pr = poll(&p, 1, 5000);
                if (pr == 0)
                        return -ETIMEDOUT;
                if (pr < 0)
                        return negative_errno();
                ssize_t n = recv(fd, buf + len, cap - len, 0);
                if (n < 0)
                        return negative_errno();
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len == cap) {
                        if (cap >= 16u << 20)
                                return -EFBIG;
                        char *nb = realloc(buf, cap * 2 + 1);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                        cap *= 2;
                }
        }
        buf[len] = '\0';
        json_object *answer = json_tokener_parse(buf);
        if (!answer || !json_object_is_type(answer, json_type_object)) {
                json_object_put(answer);
                return -EBADMSG;
        }
        *ret_answer = answer;
        return 0;
}

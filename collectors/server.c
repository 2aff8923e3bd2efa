/* server.c — see server.h. */
#include "collectors/server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>

#include "collectors/tls.h"
#include "collectors/writer.h"
#include "common/log.h"
#include "common/util.h"

#define MAX_HEADERS_SIZE (16 * 1024)
/* Above this many queued store jobs heartbeats wait for their commit again (back-pressure
 * instead of an unbounded write-behind queue). */
#define WRITER_BACKLOG_EARLY 1024

struct worker;

struct listener_ctx {
        struct worker *worker;
        enum listener_kind kind;
        SSL_CTX *ssl_ctx;
};

struct worker {
        struct server *server;
        unsigned index;
        pthread_t thread;
        bool running;
        struct event_base *base;
        struct evhttp *http[_LISTENER_KIND_MAX];
        struct listener_ctx lctx[_LISTENER_KIND_MAX];
        struct event *done_ev;
        pthread_mutex_t done_lock;
        struct writer_item *done_head;
};

struct server {
        const struct collector_config *config;
        struct store *store;
        struct api_context api;
        SSL_CTX *ssl_ctx[_LISTENER_KIND_MAX];
        struct writer *writer;
        struct worker *workers;
        unsigned n_workers;
};

static const char *method_name(enum evhttp_cmd_type t)
{
        switch (t) {
        case EVHTTP_REQ_GET: return "GET";
        case EVHTTP_REQ_POST: return "POST";
        case EVHTTP_REQ_HEAD: return "HEAD";
        case EVHTTP_REQ_PUT: return "PUT";
        case EVHTTP_REQ_DELETE: return "DELETE";
        case EVHTTP_REQ_OPTIONS: return "OPTIONS";
        case EVHTTP_REQ_TRACE: return "TRACE";
        case EVHTTP_REQ_CONNECT: return "CONNECT";
        case EVHTTP_REQ_PATCH: return "PATCH";
        }
        return "UNKNOWN";
}

static void send_reply(struct evhttp_request *req, struct api_reply *reply)
{
        metrics_count_request(reply->endpoint, reply->status);
        struct evkeyvalq *h = evhttp_request_get_output_headers(req);
        struct evbuffer *out = evhttp_request_get_output_buffer(req);
        if (reply->content_type)
                evhttp_add_header(h, "Content-Type", reply->content_type);
        evhttp_add_header(h, "Cache-Control", "no-store");
        if (reply->status == 503)
                evhttp_add_header(h, "Retry-After", "5");
        if (reply->body && reply->body_len)
                evbuffer_add(out, reply->body, reply->body_len);
        evhttp_send_reply(req, reply->status, NULL, NULL);
}

static void item_free(struct writer_item *it)
{
        api_job_free(it->job);
        api_reply_clear(&it->reply);
        free(it);
}

/* Writer thread: hand the finished item back to the worker that owns the request. */
static void on_job_done(struct writer_item *it)
{
        struct worker *w = it->owner;
        pthread_mutex_lock(&w->done_lock);
        it->next = w->done_head;
        w->done_head = it;
        pthread_mutex_unlock(&w->done_lock);
        event_active(w->done_ev, EV_READ, 0);
}

/* Writer thread: a detached job's reply was sent already; only free it. */
static void on_detached_done(struct writer_item *it)
{
        item_free(it);
}

/* Worker thread: send the replies the writer finished. */
static void on_done_event(evutil_socket_t fd, short what, void *arg)
{
        struct worker *w = arg;
        pthread_mutex_lock(&w->done_lock);
        struct writer_item *list = w->done_head;
        w->done_head = NULL;
        pthread_mutex_unlock(&w->done_lock);
        for (struct writer_item *it = list, *next; it; it = next) {
                next = it->next;
                send_reply(it->userdata, &it->reply);
                item_free(it);
        }
}

static void on_request(struct evhttp_request *req, void *arg)
{
        struct listener_ctx *l = arg;
        struct server *s = l->worker->server;
        struct evhttp_connection *evcon = evhttp_request_get_connection(req);
        struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
        SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;

        char *addr = NULL;
        ev_uint16_t port = 0;
        char peer[96] = "unknown peer";
        if (evcon) {
                evhttp_connection_get_peer(evcon, &addr, &port);
                snprintf(peer, sizeof peer, strchr(addr ?: "", ':') ? "[%s]:%u" : "%s:%u",
                         addr ?: "?", port);
        }
        char agent_id[128] = "", department[256] = "";
        bool have_department = false;
        if (ssl) {
                tls_connection_served(ssl);
                if (l->kind == LISTENER_AGENT && tls_peer_agent_id(ssl, agent_id, sizeof agent_id) < 0)
                        agent_id[0] = '\0';
                if (agent_id[0])
                        have_department = tls_peer_department(ssl, department, sizeof department) >= 0;
        }

        const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t len = evbuffer_get_length(in);
        struct api_request rq = {
                .listener = l->kind,
                .method = method_name(evhttp_request_get_command(req)),
                .path = uri ? evhttp_uri_get_path(uri) : NULL,
                .content_type = evhttp_find_header(evhttp_request_get_input_headers(req),
                                                   "Content-Type"),
                .body = len ? (const char *)evbuffer_pullup(in, -1) : "",
                .body_len = len,
                .agent_id = agent_id[0] ? agent_id : NULL,
                .department = have_department ? department : NULL,
                .may_answer_early = writer_backlog(s->writer) < WRITER_BACKLOG_EARLY,
                .peer = peer,
        };
        if (!rq.path)
                rq.path = "";

        struct api_reply reply;
        struct api_job *job = NULL;
        int r = api_handle(&s->api, &rq, &reply, &job);
        if (r < 0) {
                log_error_errno(r, "%s %s from %s: cannot handle the request: %m", rq.method,
                                rq.path, peer);
                api_reply_clear(&reply);
                reply.status = 500;
                send_reply(req, &reply);
                return;
        }
        if (!job || api_job_detached(job)) {
                send_reply(req, &reply);
                api_reply_clear(&reply);
                if (!job)
                        return;
        }
        struct writer_item *it = calloc(1, sizeof *it);
        if (!it) {
                bool answered = api_job_detached(job);
                enum metrics_endpoint endpoint = reply.endpoint;
                api_job_free(job);
                if (!answered) {
                        reply = (struct api_reply){ .status = 503, .endpoint = endpoint };
                        send_reply(req, &reply);
                }
                return;
        }
        it->job = job;
        it->userdata = api_job_detached(job) ? NULL : req;
        it->owner = l->worker;
        it->done = api_job_detached(job) ? on_detached_done : on_job_done;
        it->lazy = api_job_detached(job);
        writer_submit(s->writer, it);
}

static struct bufferevent *make_bufferevent(struct event_base *base, void *arg)
{
        struct listener_ctx *l = arg;
        SSL *ssl;
        if (tls_new_connection(l->ssl_ctx, &ssl) < 0)
                return NULL;
        struct bufferevent *bev = bufferevent_openssl_socket_new(
                base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
        if (!bev) {
                SSL_free(ssl);
                return NULL;
        }
        /* Many clients close without close_notify; that is not an error after a reply. */
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
        return bev;
}

/* One listening socket per worker and address: SO_REUSEPORT lets the kernel balance. */
static int bind_socket(const struct listen_address *a, evutil_socket_t *ret)
{
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
        struct addrinfo *res;
        char port[8];
        snprintf(port, sizeof port, "%u", a->port);
        int gai = getaddrinfo(a->host[0] ? a->host : NULL, port, &hints, &res);
        if (gai != 0)
                return log_error_errno(-EADDRNOTAVAIL, "Cannot resolve %s: %s", a->host,
                                       gai_strerror(gai));
        int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                freeaddrinfo(res);
                return log_error_errno(negative_errno(), "Cannot create a socket: %m");
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        int r = 0;
        /* Accepted sockets inherit TCP_NODELAY: a reply goes out as several TLS records,
         * and Nagle + delayed ACK would hold the last one back ~40 ms. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
            bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1024) < 0)
                r = negative_errno();
        freeaddrinfo(res);
        if (r < 0) {
                close(fd);
                return log_error_errno(r, "Cannot listen on %s:%u: %m", a->host[0] ? a->host : "*",
                                       a->port);
        }
        *ret = fd;
        return 0;
}

static int worker_init(struct server *s, struct worker *w, unsigned index, bool check_only)
{
        w->server = s;
        w->index = index;
        pthread_mutex_init(&w->done_lock, NULL);
        w->base = event_base_new();
        if (!w->base)
                return log_error_errno(-ENOMEM, "Cannot create an event loop");
        w->done_ev = event_new(w->base, -1, 0, on_done_event, w);
        if (!w->done_ev)
                return -ENOMEM;

        for (enum listener_kind k = 0; k < _LISTENER_KIND_MAX; k++) {
                if (s->config->n_listen[k] == 0)
                        continue;
                w->lctx[k] = (struct listener_ctx){ .worker = w, .kind = k,
                                                    .ssl_ctx = s->ssl_ctx[k] };
                struct evhttp *http = evhttp_new(w->base);
                if (!http)
                        return -ENOMEM;
                w->http[k] = http;
                size_t route_max = k == LISTENER_AGENT ? s->config->limits.max_body_bytes
                                                       : API_ENROLL_MAX_BODY;
                evhttp_set_max_body_size(http, (ev_ssize_t)(2 * route_max));
                evhttp_set_max_headers_size(http, MAX_HEADERS_SIZE);
                evhttp_set_timeout(http, (int)s->config->limits.timeout_seconds);
                evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
                                                         EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                                         EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                                         EVHTTP_REQ_PATCH);
                evhttp_set_bevcb(http, make_bufferevent, &w->lctx[k]);
                evhttp_set_gencb(http, on_request, &w->lctx[k]);
                for (size_t i = 0; !check_only && i < s->config->n_listen[k]; i++) {
                        evutil_socket_t fd = -1;
                        int r = bind_socket(&s->config->listen[k][i], &fd);
                        if (r < 0)
                                return r;
                        if (!evhttp_accept_socket_with_handle(http, fd)) {
                                close(fd);
                                return log_error_errno(-ENOMEM, "Cannot accept on a socket");
                        }
                }
        }
        return 0;
}

int server_new(const struct collector_config *config, struct store *store, struct hogo_ca *ca,
               bool check_only, struct server **ret)
{
        static pthread_once_t threads_once = PTHREAD_ONCE_INIT;
        pthread_once(&threads_once, (void (*)(void))evthread_use_pthreads);

        struct server *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->config = config;
        s->store = store;
        s->api = (struct api_context){ .limits = &config->limits, .ca = ca };

        int r = 0;
        for (enum listener_kind k = 0; k < _LISTENER_KIND_MAX && r >= 0; k++)
                if (config->n_listen[k] > 0)
                        r = tls_server_ctx_new(config, k, &s->ssl_ctx[k]);
        if (r < 0) {
                server_free(s);
                return r;
        }
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        s->n_workers = config->threads ?: (unsigned)(cpus > 0 ? cpus : 1);
        s->workers = calloc(s->n_workers, sizeof *s->workers);
        if (!s->workers) {
                server_free(s);
                return -ENOMEM;
        }
        for (unsigned i = 0; i < s->n_workers; i++) {
                r = worker_init(s, &s->workers[i], i, check_only);
                if (r < 0) {
                        server_free(s);
                        return r;
                }
        }
        *ret = s;
        return 0;
}

static void *worker_main(void *arg)
{
        struct worker *w = arg;
        char name[16];
        snprintf(name, sizeof name, "worker-%u", w->index);
        pthread_setname_np(pthread_self(), name);
        event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
        return NULL;
}

int server_start(struct server *s)
{
        int r = writer_start(s->store, s->config->limits.revocation_refresh_ms, &s->writer);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < s->n_workers; i++) {
                r = -pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]);
                if (r < 0)
                        return log_error_errno(r, "Cannot start a worker thread: %m");
                s->workers[i].running = true;
        }
        return 0;
}

void server_free(struct server *s)
{
        if (!s)
                return;
        for (unsigned i = 0; i < s->n_workers; i++)
                if (s->workers[i].running) {
                        event_base_loopbreak(s->workers[i].base);
                        pthread_join(s->workers[i].thread, NULL);
                }
        /* The writer finishes what was queued (committing it); the answers can no longer
         * be sent and are dropped with their connections: the agents re-send, idempotently. */
        writer_stop(s->writer);
        for (unsigned i = 0; s->workers && i < s->n_workers; i++) {
                struct worker *w = &s->workers[i];
                for (struct writer_item *it = w->done_head, *next; it; it = next) {
                        next = it->next;
                        item_free(it);
                }
                for (enum listener_kind k = 0; k < _LISTENER_KIND_MAX; k++)
                        if (w->http[k])
                                evhttp_free(w->http[k]);
                /* Freed bufferevents finish freeing in deferred callbacks: let them run
                 * (connections closed just before the loop stopped, and the ones above). */
                if (w->base)
                        for (int round = 0; round < 3; round++)
                                event_base_loop(w->base, EVLOOP_NONBLOCK);
                if (w->done_ev)
                        event_free(w->done_ev);
                if (w->base)
                        event_base_free(w->base);
                pthread_mutex_destroy(&w->done_lock);
        }
        free(s->workers);
        for (enum listener_kind k = 0; k < _LISTENER_KIND_MAX; k++)
                SSL_CTX_free(s->ssl_ctx[k]);
        free(s);
}

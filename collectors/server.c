/* server.c — see server.h. */
#include "collectors/server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <netdb.h>
#include <openssl/err.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>

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
        atomic_uint connections;       /* open connections over all workers */
        atomic_uint limit_refused;     /* refused since the last "connection limit" log line */
        atomic_llong limit_logged_sec; /* when that line was last written (monotonic s) */
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

/* ---- per-connection deadlines and the connection cap ----------------------------------
 * evhttp only has an idle timeout (reset by every byte), so a client trickling one byte
 * every few seconds would hold its connection forever. Each connection therefore carries
 * absolute deadlines, one per state:
 *   handshaking  the TLS handshake must finish within limits.handshake_seconds of the accept;
 *   idle         no request begun (after the handshake or an answer): a kept-alive
 *                connection may wait limits.timeout_seconds for its next request;
 *   receiving    from a request's first byte, its headers and body must be in within
 *                limits.request_seconds (408 after), however long the connection idled before;
 *   busy         the answer waits for the store, not for the client: no deadline.
 * The first byte is seen by a callback on the bufferevent's input buffer (evhttp has no
 * hook for it). The bookkeeping hangs on the SSL object (ex_data), which
 * bufferevent_openssl frees exactly when the connection is gone. */

struct connection {
        struct worker *worker;
        struct bufferevent *bev;
        SSL *ssl;
        struct event *deadline_ev;
        int64_t handshake_deadline_us, idle_deadline_us, request_deadline_us;
        int64_t armed_us;   /* when deadline_ev fires; 0 when it is not pending */
        bool receiving;     /* a request's first byte came; its answer was not sent yet */
        bool busy;          /* a complete request is being handled; its answer is pending */
        bool replying;      /* our own reply is being written (not an evhttp error page) */
        bool over_limit;    /* accepted over limits.max_connections: closed at once */
        /* Who the peer is, worked out at its first request: the verified certificate
         * cannot change on the connection (no renegotiation), so later requests reuse it. */
        struct peer_identity {
                bool known;
                bool have_department;
                char peer[96];
                char agent_id[128];
                char department[256];
        } identity;
};

/* "host:port" of the client; the socket is only attached after the accept callback. */
static const char *connection_peer(const struct connection *c, char *buf, size_t len)
{
        struct sockaddr_storage sa;
        socklen_t salen = sizeof sa;
        char host[NI_MAXHOST], port[NI_MAXSERV];
        int fd = SSL_get_fd(c->ssl);
        snprintf(buf, len, "unknown peer");
        if (fd >= 0 && getpeername(fd, (struct sockaddr *)&sa, &salen) == 0 &&
            getnameinfo((struct sockaddr *)&sa, salen, host, sizeof host, port, sizeof port,
                        NI_NUMERICHOST | NI_NUMERICSERV) == 0)
                snprintf(buf, len, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
        return buf;
}

static int connection_index = -1;
static pthread_once_t connection_index_once = PTHREAD_ONCE_INIT;

static void connection_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                            void *argp)
{
        struct connection *c = ptr;
        if (!c)
                return;
        if (c->deadline_ev)
                event_free(c->deadline_ev);
        atomic_fetch_sub(&c->worker->server->connections, 1);
        free(c);
}

static void connection_index_init(void)
{
        connection_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, connection_free);
}

static struct connection *connection_of_bev(struct bufferevent *bev)
{
        SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
        return ssl && connection_index >= 0 ? SSL_get_ex_data(ssl, connection_index) : NULL;
}

static struct connection *connection_of_request(struct evhttp_request *req)
{
        struct evhttp_connection *evcon = req ? evhttp_request_get_connection(req) : NULL;
        return evcon ? connection_of_bev(evhttp_connection_get_bufferevent(evcon)) : NULL;
}

static int64_t connection_deadline(const struct connection *c)
{
        if (!SSL_is_init_finished(c->ssl))
                return c->handshake_deadline_us;
        return c->receiving ? c->request_deadline_us : c->idle_deadline_us;
}

static void connection_arm(struct connection *c)
{
        int64_t now = (int64_t)clock_usec(CLOCK_MONOTONIC), deadline = connection_deadline(c);
        /* A handshake that ends before its deadline leaves a connection that may only idle
         * until the idle deadline: wake then too (the handshake end has no hook here). */
        if (!SSL_is_init_finished(c->ssl) && c->idle_deadline_us > now &&
            c->idle_deadline_us < deadline)
                deadline = c->idle_deadline_us;
        /* Deadlines mostly move later (every request and answer): a timer that fires first
         * re-arms itself then, instead of a timer update per request. */
        if (c->armed_us && c->armed_us <= deadline)
                return;
        int64_t left = deadline - now;
        if (left < 0)
                left = 0;
        struct timeval tv = { .tv_sec = left / 1000000, .tv_usec = left % 1000000 };
        c->armed_us = deadline;
        event_add(c->deadline_ev, &tv);
}

static void connection_begin_request(struct connection *c)
{
        c->receiving = true;
        c->request_deadline_us =
            (int64_t)clock_usec(CLOCK_MONOTONIC) +
            (int64_t)c->worker->server->config->limits.request_seconds * 1000000;
        connection_arm(c);
}

/* The answer was queued: the connection idles until the next request's first byte (which
 * may be here already when the client pipelines). */
static void connection_answered(struct connection *c)
{
        c->busy = false;
        c->receiving = false;
        c->idle_deadline_us = (int64_t)clock_usec(CLOCK_MONOTONIC) +
                              (int64_t)c->worker->server->config->limits.timeout_seconds * 1000000;
        if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
                connection_begin_request(c);
        else
                connection_arm(c);
}

/* Input buffer hook: decrypted bytes arrived; the first ones of a request start its clock. */
static void on_input_added(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
        struct connection *c = arg;
        if (info->n_added > 0 && !c->receiving && !c->busy)
                connection_begin_request(c);
}

/* Closes the connection through evhttp's own timeout path (which frees the connection
 * and its pending request), after a 408 written straight to the TLS session when the
 * client is between requests' bytes and can still read one. c is freed on return. */
static void connection_cut(struct connection *c, bool answer_408)
{
#define BODY_408 "{\"error\":\"request_timeout\",\"message\":\"the request did not arrive in time\"}\n"
        static const char reply_408[] =
                "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
                "Connection: close\r\nContent-Length: 75\r\n\r\n" BODY_408;
        _Static_assert(sizeof BODY_408 - 1 == 75, "Content-Length of the 408 body");
#undef BODY_408
        tls_connection_logged(c->ssl);
        if (answer_408 && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
                ERR_clear_error();
                (void)SSL_write(c->ssl, reply_408, (int)sizeof reply_408 - 1);
                ERR_clear_error();
        }
        bufferevent_data_cb readcb, writecb;
        bufferevent_event_cb eventcb;
        void *arg;
        bufferevent_getcb(c->bev, &readcb, &writecb, &eventcb, &arg);
        if (eventcb)
                eventcb(c->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, arg);
}

static void connection_log_limit(struct server *s)
{
        /* One line per second at most: a flood must not become a flood of log lines. */
        atomic_fetch_add(&s->limit_refused, 1);
        long long sec = (int64_t)clock_usec(CLOCK_MONOTONIC) / 1000000,
                  last = atomic_load(&s->limit_logged_sec);
        if (sec <= last || !atomic_compare_exchange_strong(&s->limit_logged_sec, &last, sec))
                return;
        unsigned n = atomic_exchange(&s->limit_refused, 0);
        log_warning("%u new connection(s) closed at once: limits.max_connections (%u) are "
                    "open; those are still served. Raise the limit if the clients are legitimate",
                    n, s->config->limits.max_connections);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
        struct connection *c = arg;
        const struct collector_limits *lim = &c->worker->server->config->limits;
        c->armed_us = 0;
        if (c->over_limit) {
                metrics_count_reject(REJECT_CONNECTION_LIMIT);
                connection_log_limit(c->worker->server);
                connection_cut(c, false);
                return;
        }
        int64_t now = (int64_t)clock_usec(CLOCK_MONOTONIC);
        if (c->busy)
                return; /* the answer waits for the store, not for the client */
        if (now < connection_deadline(c)) {
                connection_arm(c);
                return;
        }
        bool handshaking = !SSL_is_init_finished(c->ssl);
        char peer[96];
        connection_peer(c, peer, sizeof peer);
        if (!handshaking && !c->receiving) {
                /* an idle keep-alive connection: closing it is routine, not a refusal */
                log_debug("%s: idle for %us (limits.timeout_seconds) since the last answer; "
                          "connection closed", peer, lim->timeout_seconds);
                connection_cut(c, false);
                return;
        }
        if (handshaking)
                log_notice("%s: TLS handshake not finished within %us (limits.handshake_seconds); "
                           "connection closed, nothing was stored",
                           peer, lim->handshake_seconds);
        else
                log_notice("%s: request not complete within %us (limits.request_seconds; slow "
                           "client); answered 408 and closed, nothing was stored",
                           peer, lim->request_seconds);
        metrics_count_reject(handshaking ? REJECT_HANDSHAKE_TIMEOUT : REJECT_REQUEST_TIMEOUT);
        /* a client still in the handshake could not read an HTTP answer */
        connection_cut(c, !handshaking);
}

/* Output buffer hook: bytes queued while we are not replying are evhttp's own error page
 * (413 for a body over twice the route limit, 400 for broken headers); say why. */
static void on_output_added(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
        struct connection *c = arg;
        if (c->replying || info->n_added == 0 || info->orig_size != 0)
                return;
        char head[13] = "";
        evbuffer_copyout(buf, head, sizeof head - 1);
        if (strncmp(head, "HTTP/1.", 7) != 0)
                return;
        int status = atoi(head + 9);
        char peer[96];
        connection_peer(c, peer, sizeof peer);
        if (status == 413) {
                log_notice("%s: 413 too_large: the announced or received body is over twice "
                           "the route's limit; refused before reading it, nothing was stored",
                           peer);
                metrics_count_reject(REJECT_TOO_LARGE);
        } else {
                log_notice("%s: %d http_layer: the HTTP request could not be parsed "
                           "(request line, headers or body framing); nothing was stored",
                           peer, status);
                metrics_count_reject(REJECT_HTTP_LAYER);
        }
        tls_connection_logged(c->ssl);
}

static int connection_attach(struct worker *w, struct bufferevent *bev, SSL *ssl)
{
        struct server *s = w->server;
        struct connection *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->worker = w;
        c->bev = bev;
        c->ssl = ssl;
        c->deadline_ev = evtimer_new(w->base, on_deadline, c);
        if (!c->deadline_ev || SSL_set_ex_data(ssl, connection_index, c) != 1) {
                if (c->deadline_ev)
                        event_free(c->deadline_ev);
                free(c);
                return -ENOMEM;
        }
        /* From here connection_free() undoes the count. */
        unsigned open = atomic_fetch_add(&s->connections, 1);
        int64_t now = (int64_t)clock_usec(CLOCK_MONOTONIC);
        c->handshake_deadline_us = now + (int64_t)s->config->limits.handshake_seconds * 1000000;
        c->idle_deadline_us = now + (int64_t)s->config->limits.timeout_seconds * 1000000;
        evbuffer_add_cb(bufferevent_get_output(bev), on_output_added, c);
        evbuffer_add_cb(bufferevent_get_input(bev), on_input_added, c);
        if (open >= s->config->limits.max_connections) {
                c->over_limit = true;
                event_active(c->deadline_ev, EV_TIMEOUT, 0);
        } else
                connection_arm(c);
        return 0;
}

/* The Date header (RFC 7231 IMF-fixdate). evhttp formats one for every answer that has
 * none (gmtime + printf per request); a worker formats it once a second instead. */
static const char *http_date_now(void)
{
        static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
        static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
        static _Thread_local time_t formatted = -1;
        static _Thread_local char text[40];
        time_t now = time(NULL);
        struct tm tm;
        if (now != formatted && gmtime_r(&now, &tm)) {
                snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                         days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
                         tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
                formatted = now;
        }
        return text;
}

static void send_reply(struct evhttp_request *req, struct api_reply *reply)
{
        metrics_count_request(reply->endpoint, reply->status);
        struct evkeyvalq *h = evhttp_request_get_output_headers(req);
        struct evbuffer *out = evhttp_request_get_output_buffer(req);
        const char *date = http_date_now();
        if (*date)
                evhttp_add_header(h, "Date", date);
        if (reply->content_type)
                evhttp_add_header(h, "Content-Type", reply->content_type);
        evhttp_add_header(h, "Cache-Control", "no-store");
        if (reply->status == 503)
                evhttp_add_header(h, "Retry-After", "5");
        if (reply->body && reply->body_len)
                evbuffer_add(out, reply->body, reply->body_len);
        /* Looked up before: without a connection evhttp_send_reply() frees req. The
         * connection itself is only freed once the reply was written, later. */
        struct connection *c = connection_of_request(req);
        if (c)
                c->replying = true;
        evhttp_send_reply(req, reply->status, NULL, NULL);
        if (c) {
                /* Headers and body as one TLS record and one write(), not two: the
                 * bufferevent writes each buffer chain with its own SSL_write(). */
                evbuffer_pullup(bufferevent_get_output(c->bev), -1);
                /* Write now instead of waiting for epoll to say the socket is writable (it
                 * nearly always is): the write event runs in this same loop pass, and the
                 * changelist then sees EPOLLOUT turned on and off again and skips both
                 * epoll_ctl calls. A socket that is not writable leaves the event pending,
                 * as the bufferevent would. */
                event_active(&c->bev->ev_write, EV_WRITE, 1);
                c->replying = false;
                connection_answered(c);
        }
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

static void peer_identity_get(struct peer_identity *id, enum listener_kind kind,
                              struct evhttp_connection *evcon, SSL *ssl)
{
        char *addr = NULL;
        ev_uint16_t port = 0;
        snprintf(id->peer, sizeof id->peer, "unknown peer");
        if (evcon) {
                evhttp_connection_get_peer(evcon, &addr, &port);
                snprintf(id->peer, sizeof id->peer, strchr(addr ?: "", ':') ? "[%s]:%u" : "%s:%u",
                         addr ?: "?", port);
        }
        id->agent_id[0] = id->department[0] = '\0';
        id->have_department = false;
        if (ssl && kind == LISTENER_AGENT &&
            tls_peer_agent_id(ssl, id->agent_id, sizeof id->agent_id) < 0)
                id->agent_id[0] = '\0';
        if (id->agent_id[0])
                id->have_department =
                        tls_peer_department(ssl, id->department, sizeof id->department) >= 0;
        id->known = true;
}

static void on_request(struct evhttp_request *req, void *arg)
{
        struct listener_ctx *l = arg;
        struct server *s = l->worker->server;
        struct evhttp_connection *evcon = evhttp_request_get_connection(req);
        struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
        SSL *ssl = bev && l->kind != LISTENER_METRICS ? bufferevent_openssl_get_ssl(bev) : NULL;
        struct connection *c = ssl ? connection_of_bev(bev) : NULL;

        struct peer_identity own = { 0 }, *id = c ? &c->identity : &own;
        if (!id->known) {
                if (ssl)
                        tls_connection_served(ssl);
                peer_identity_get(id, l->kind, evcon, ssl);
        }
        const char *peer = id->peer;
        const char *agent_id = id->agent_id;
        const char *department = id->have_department ? id->department : NULL;

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
                .department = department,
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
        if (!api_job_detached(job) && c)
                c->busy = true;
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
        if (connection_attach(l->worker, bev, ssl) < 0) {
                bufferevent_free(bev);
                return NULL;
        }
        return bev;
}

/* One listening socket per worker and address: SO_REUSEPORT lets the kernel balance.
 * Without share (the metrics listener, on one worker) a second collector on the same
 * port fails to start instead of silently taking half of the scrapes. */
static int bind_socket(const struct listen_address *a, bool share, evutil_socket_t *ret)
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
        /* Accepted sockets inherit TCP_NODELAY: Nagle + delayed ACK would hold an answer
         * back ~40 ms behind an unacknowledged segment. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if ((share && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
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
        /* The changelist folds the read-off/write-on/read-on flips of one request into at
         * most one epoll_ctl per connection and loop pass. */
        struct event_config *cfg = event_config_new();
        if (!cfg)
                return -ENOMEM;
        event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
        w->base = event_base_new_with_config(cfg);
        event_config_free(cfg);
        if (!w->base)
                return log_error_errno(-ENOMEM, "Cannot create an event loop");
        w->done_ev = event_new(w->base, -1, 0, on_done_event, w);
        if (!w->done_ev)
                return -ENOMEM;

        for (enum listener_kind k = 0; k < _LISTENER_KIND_MAX; k++) {
                /* The metrics listener (loopback, plain HTTP, rare requests) lives on
                 * the first worker only. */
                bool tls = k != LISTENER_METRICS;
                if (s->config->n_listen[k] == 0 || (!tls && index > 0))
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
                if (tls)
                        evhttp_set_bevcb(http, make_bufferevent, &w->lctx[k]);
                evhttp_set_gencb(http, on_request, &w->lctx[k]);
                for (size_t i = 0; !check_only && i < s->config->n_listen[k]; i++) {
                        evutil_socket_t fd = -1;
                        int r = bind_socket(&s->config->listen[k][i], tls, &fd);
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
        pthread_once(&connection_index_once, connection_index_init);

        struct server *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->config = config;
        s->store = store;
        s->api = (struct api_context){ .limits = &config->limits, .ca = ca };

        int r = heartbeat_queue_new(&s->api.heartbeats);
        if (r < 0) {
                free(s);
                return r;
        }
        for (enum listener_kind k = 0; k < _LISTENER_KIND_MAX && r >= 0; k++)
                if (config->n_listen[k] > 0 && k != LISTENER_METRICS)
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
        int r = writer_start(s->store, s->config->limits.revocation_refresh_ms,
                             s->config->limits.gap_declaration_seconds, &s->writer);
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
        heartbeat_queue_free(s->api.heartbeats);
        free(s);
}

/* server.h — the collector's HTTPS front: libevent workers, one per core.
 *
 * Each worker thread has its own event_base and, for every configured address of both
 * listeners, its own listening socket bound with SO_REUSEPORT, so the kernel spreads new
 * connections over the workers and no lock is shared on the hot path. A connection lives
 * on one worker: TLS (bufferevent_openssl), HTTP parsing (evhttp), api_handle(). Requests
 * that need the store become jobs for the single writer (writer.h); their replies come
 * back to the worker through a per-worker queue and a libevent user event.
 *
 * Limits: the handshake has limits.handshake_seconds; a kept-alive connection may idle
 * limits.timeout_seconds between requests; a request has limits.request_seconds from its
 * first byte (408 after); headers above 16 KiB and bodies above twice the route's limit
 * are refused by the HTTP layer, bodies between the limit and twice it by the API with a
 * 413 that says the limit.
 *
 * The metrics listener (plain HTTP, loopback only) lives on the first worker alone, with
 * no TLS, deadlines or SO_REUSEPORT.
 */
#ifndef HOGO_COLLECTOR_SERVER_H
#define HOGO_COLLECTOR_SERVER_H

#include "collectors/api.h"
#include "collectors/config.h"
#include "collectors/store.h"

struct server;

/* Creates TLS contexts and, unless check_only, binds every listening socket (so errors
 * show before start). check_only binds nothing: with SO_REUSEPORT a check next to a running
 * collector would otherwise take a share of its connections. */
int server_new(const struct collector_config *config, struct store *store, struct hogo_ca *ca,
               bool check_only, struct server **ret);
/* Starts the workers and the writer; returns at once. */
int server_start(struct server *s);
/* Stops accepting, finishes the store writer, frees everything. */
void server_free(struct server *s);

#endif

/* client.h — HTTPS to the collector with libcurl: pinned CA, TLS 1.2+, optional client
 * certificate, keep-alive, failover across a list of URLs.
 *
 * The pinned hogo CA is the only trust anchor (the system store is not consulted) and the
 * collector's certificate must carry the URL's host name. One curl easy handle serves every
 * request, so its connection is kept alive between batches. When a URL cannot be reached
 * (connection, DNS, TLS — including a collector that presents the wrong name or another
 * CA) the next URL in the list is tried at once; the URL that answered is kept for the
 * following requests. An HTTP answer, whatever its status, ends the request: deciding what
 * it means is the caller's job (backoff.h).
 */
#ifndef HOGO_UPLINK_CLIENT_H
#define HOGO_UPLINK_CLIENT_H

#include <stddef.h>

#define CLIENT_MAX_RESPONSE (4u << 20)

struct collector_client;

struct collector_client_options {
        char *const *urls;
        size_t n_urls;
        const char *ca_file;
        const char *cert_file; /* NULL: no client certificate (enrollment) */
        const char *key_file;
        unsigned timeout_seconds;
};

int collector_client_new(const struct collector_client_options *o, struct collector_client **ret);
void collector_client_free(struct collector_client *c);

struct collector_response {
        long status; /* HTTP status */
        char *body;  /* NUL-terminated, malloc()ed */
        size_t body_len;
        long retry_after; /* seconds from Retry-After, 0 when absent */
        const char *url;  /* the base URL that answered (owned by the client) */
};
void collector_response_free(struct collector_response *r);

/* Sends method path (body may be NULL) to the current URL, failing over through the list.
 * 0 and the response when some collector answered; -EHOSTUNREACH when none could be
 * reached (each failure is logged once, with curl's reason). */
int collector_request(struct collector_client *c, const char *method, const char *path,
                      const char *body, size_t body_len, struct collector_response *ret);
/* The transport error of the last URL tried, for the status file ("" when none). */
const char *collector_client_last_error(struct collector_client *c);

/* Connections opened so far (shown in uplink-status.json: with keep-alive it grows only
 * when a collector closes the connection or the uplink fails over). */
unsigned long collector_client_connections(struct collector_client *c);

#endif

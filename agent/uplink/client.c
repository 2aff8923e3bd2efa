/* client.c — see client.h. */
#include "agent/uplink/client.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <strings.h>

#include "common/log.h"
#include "common/util.h"

struct collector_client {
        CURL *curl;
        struct curl_slist *headers;
        char **urls;
        size_t n_urls;
        size_t current;
        char last_error[CURL_ERROR_SIZE + 256];
        char curl_error[CURL_ERROR_SIZE];
        unsigned long connections; /* opened so far: keep-alive keeps this near 1 */
        bool has_client_cert;
};

struct response_buffer {
        char *data;
        size_t len, cap;
        bool too_large;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct response_buffer *b = userdata;
        size_t n = size * nmemb;
        if (b->len + n > CLIENT_MAX_RESPONSE) {
                b->too_large = true;
                return 0; /* aborts the transfer */
        }
        if (b->len + n + 1 > b->cap) {
                size_t cap = MAX(b->cap * 2, b->len + n + 1);
                char *p = realloc(b->data, cap);
                if (!p)
                        return 0;
                b->data = p;
                b->cap = cap;
        }
        memcpy(b->data + b->len, ptr, n);
        b->len += n;
        b->data[b->len] = '\0';
        return n;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
        long *retry_after = userdata;
        size_t n = size * nitems;
        if (n > 12 && strncasecmp(buf, "Retry-After:", 12) == 0) {
                long v = strtol(buf + 12, NULL, 10);
                *retry_after = v > 0 && v < 86400 ? v : 0;
        }
        return n;
}

static int curl_global(void)
{
        static bool done;
        if (!done) {
                if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                        return -EIO;
                done = true;
        }
        return 0;
}

#define SETOPT(c, opt, val)                                                                        \
        do {                                                                                       \
                if (curl_easy_setopt((c), (opt), (val)) != CURLE_OK)                               \
                        return log_error_errno(-EINVAL, "curl: cannot set " #opt);                 \
        } while (0)

static int client_configure(struct collector_client *c, const struct collector_client_options *o)
{
        CURL *h = c->curl;
        SETOPT(h, CURLOPT_PROTOCOLS_STR, "https");
        SETOPT(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
        SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
        /* the hogo CA and nothing else: a certificate from a public CA is not a collector */
        SETOPT(h, CURLOPT_CAINFO, o->ca_file);
        SETOPT(h, CURLOPT_CAPATH, NULL);
        SETOPT(h, CURLOPT_SSL_VERIFYPEER, 1L);
        SETOPT(h, CURLOPT_SSL_VERIFYHOST, 2L);
        SETOPT(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        if (o->cert_file) {
                c->has_client_cert = true;
                SETOPT(h, CURLOPT_SSLCERT, o->cert_file);
                SETOPT(h, CURLOPT_SSLCERTTYPE, "PEM");
                SETOPT(h, CURLOPT_SSLKEY, o->key_file);
                SETOPT(h, CURLOPT_SSLKEYTYPE, "PEM");
        }
        SETOPT(h, CURLOPT_NOSIGNAL, 1L);
        SETOPT(h, CURLOPT_TCP_KEEPALIVE, 1L);
        SETOPT(h, CURLOPT_CONNECTTIMEOUT, (long)MIN(o->timeout_seconds, 10u));
        SETOPT(h, CURLOPT_TIMEOUT, (long)o->timeout_seconds);
        SETOPT(h, CURLOPT_ERRORBUFFER, c->curl_error);
        SETOPT(h, CURLOPT_USERAGENT, "hogo-uplink/" HOGO_VERSION);
        SETOPT(h, CURLOPT_WRITEFUNCTION, on_body);
        SETOPT(h, CURLOPT_HEADERFUNCTION, on_header);

        c->headers = curl_slist_append(NULL, "Content-Type: application/json");
        struct curl_slist *h2 = c->headers ? curl_slist_append(c->headers, "Expect:") : NULL;
        if (!h2)
                return -ENOMEM;
        c->headers = h2;
        SETOPT(h, CURLOPT_HTTPHEADER, c->headers);
        return 0;
}

int collector_client_new(const struct collector_client_options *o, struct collector_client **ret)
{
        if (o->n_urls == 0)
                return -EINVAL;
        int r = curl_global();
        if (r < 0)
                return log_error_errno(r, "curl: global initialisation failed");
        struct collector_client *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->curl = curl_easy_init();
        c->urls = calloc(o->n_urls, sizeof(char *));
        if (!c->curl || !c->urls) {
                collector_client_free(c);
                return -ENOMEM;
        }
        for (size_t i = 0; i < o->n_urls; i++) {
                c->urls[i] = strdup(o->urls[i]);
                if (!c->urls[i]) {
                        collector_client_free(c);
                        return -ENOMEM;
                }
                c->n_urls = i + 1;
        }
        r = client_configure(c, o);
        if (r < 0) {
                collector_client_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

void collector_client_free(struct collector_client *c)
{
        if (!c)
                return;
        if (c->curl)
                curl_easy_cleanup(c->curl);
        curl_slist_free_all(c->headers);
        for (size_t i = 0; i < c->n_urls; i++)
                free(c->urls[i]);
        free(c->urls);
        free(c);
}

void collector_response_free(struct collector_response *r)
{
        free(r->body);
        *r = (struct collector_response){0};
}

unsigned long collector_client_connections(struct collector_client *c)
{
        return c->connections;
}

const char *collector_client_last_error(struct collector_client *c)
{
        return c->last_error;
}

/* With TLS 1.3 the server judges the client certificate after the client thinks the
 * handshake is done, so a refused certificate surfaces as a dropped connection with a
 * cryptic socket error; say what it most likely means. */
static const char *refusal_hint(const struct collector_client *c, CURLcode cc)
{
        if (!c->has_client_cert)
                return "";
        switch (cc) {
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_GOT_NOTHING:
                return " (if the collector is up, it may have refused this terminal's certificate: "
                       "revoked or expired; its log says which)";
        default: return "";
        }
}

/* One attempt against one URL: 0 with an HTTP answer, -EHOSTUNREACH on a transport error. */
static int request_once(struct collector_client *c, const char *base, const char *method,
                        const char *path, const char *body, size_t body_len,
                        struct collector_response *ret)
{
        _cleanup_free_ char *url = NULL;
        if (asprintf(&url, "%s%s", base, path) < 0)
                return -ENOMEM;
        struct response_buffer buf = {0};
        long retry_after = 0;
        CURL *h = c->curl;
        c->curl_error[0] = '\0';
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &buf);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &retry_after);
        if (STREQ(method, "POST")) {
                curl_easy_setopt(h, CURLOPT_POST, 1L);
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
        } else
                curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);

        CURLcode cc = curl_easy_perform(h);
        if (cc != CURLE_OK) {
                snprintf(c->last_error, sizeof(c->last_error), "%s: %s%s", base,
                         buf.too_large      ? "response larger than allowed"
                         : c->curl_error[0] ? c->curl_error
                                            : curl_easy_strerror(cc),
                         refusal_hint(c, cc));
                free(buf.data);
                return -EHOSTUNREACH;
        }
        long status = 0, new_connections = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &new_connections);
        c->connections += (unsigned long)new_connections;
        if (new_connections > 0)
                log_debug("New TLS connection to %s (%lu so far; kept alive between requests)",
                          base, c->connections);
        if (!buf.data) {
                buf.data = strdup("");
                if (!buf.data)
                        return -ENOMEM;
        }
        c->last_error[0] = '\0';
        *ret = (struct collector_response){
            .status = status,
            .body = buf.data,
            .body_len = buf.len,
            .retry_after = retry_after,
            .url = base,
        };
        /* the body now belongs to *ret (collector_response_free) */
        // cppcheck-suppress memleak
        return 0;
}

int collector_request(struct collector_client *c, const char *method, const char *path,
                      const char *body, size_t body_len, struct collector_response *ret)
{
        for (size_t tried = 0; tried < c->n_urls; tried++) {
                const char *base = c->urls[c->current];
                int r = request_once(c, base, method, path, body, body_len, ret);
                if (r != -EHOSTUNREACH)
                        return r;
                log_warning("Collector %s not reachable (%s)%s", base, c->last_error,
                            c->n_urls > 1 ? "; trying the next one" : "");
                c->current = (c->current + 1) % c->n_urls;
        }
        return -EHOSTUNREACH;
}

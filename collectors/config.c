/* config.c — see config.h. */
#include "collectors/config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>

#include "collectors/ingest.h"
#include "common/canon_json.h"
#include "common/fileio.h"
#include "common/json_strict.h"
#include "common/log.h"
#include "common/util.h"

#define CONFIG_FILE_MAX (256 * 1024)

static const char *const listener_kind_names[_LISTENER_KIND_MAX] = {
        [LISTENER_AGENT] = "agent",
        [LISTENER_ENROLL] = "enroll",
        [LISTENER_METRICS] = "metrics",
};

const char *listener_kind_to_string(enum listener_kind k)
{
        return (unsigned)k < _LISTENER_KIND_MAX ? listener_kind_names[k] : "invalid";
}

int listen_address_parse(const char *s, struct listen_address *ret)
{
        const char *colon;
        struct listen_address a = { 0 };

        if (s[0] == '[') {
                const char *close = strchr(s, ']');
                if (!close || close[1] != ':')
                        return -EINVAL;
                if ((size_t)(close - s - 1) >= sizeof a.host)
                        return -EINVAL;
                memcpy(a.host, s + 1, (size_t)(close - s - 1));
                colon = close + 1;
        } else {
                colon = strrchr(s, ':');
                if (!colon || (size_t)(colon - s) >= sizeof a.host)
                        return -EINVAL;
                memcpy(a.host, s, (size_t)(colon - s));
                if (strchr(a.host, ':'))
                        return -EINVAL; /* a bare IPv6 address needs brackets */
        }
        char *end;
        errno = 0;
        unsigned long port = strtoul(colon + 1, &end, 10);
        if (errno != 0 || end == colon + 1 || *end != '\0' || port == 0 || port > 65535)
                return -EINVAL;
        a.port = (uint16_t)port;
        *ret = a;
        return 0;
}

/* Checks that every member of o is one of the names in known[]. */
static int check_members(json_object *o, const char *where, const char *const *known,
                         size_t n_known, char *err, size_t errlen)
{
        if (!json_object_is_type(o, json_type_object)) {
                snprintf(err, errlen, "%s: expected an object", where);
                return -EINVAL;
        }
        json_object_object_foreach(o, key, val)
        {
                (void)val;
                bool found = false;
                for (size_t i = 0; i < n_known && !found; i++)
                        found = STREQ(key, known[i]);
                if (!found) {
                        snprintf(err, errlen, "%s.%s: unknown key", where, key);
                        return -EINVAL;
                }
        }
        return 0;
}

static int get_string(json_object *o, const char *where, const char *key, bool required,
                      char **ret, char *err, size_t errlen)
{
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v)) {
                if (!required)
                        return 0;
                snprintf(err, errlen, "%s.%s: missing", where, key);
                return -EINVAL;
        }
        if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0) {
                snprintf(err, errlen, "%s.%s: expected a non-empty string", where, key);
                return -EINVAL;
        }
        char *s = strdup(json_object_get_string(v));
        if (!s)
                return -ENOMEM;
        free(*ret);
        *ret = s;
        return 0;
}

static int get_uint(json_object *o, const char *where, const char *key, uint64_t min,
                    uint64_t max, uint64_t *ret, char *err, size_t errlen)
{
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v))
                return 0; /* keeps the default */
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < (int64_t)min ||
            (uint64_t)json_object_get_int64(v) > max) {
                snprintf(err, errlen, "%s.%s: expected an integer from %llu to %llu", where, key,
                         (unsigned long long)min, (unsigned long long)max);
                return -EINVAL;
        }
        *ret = (uint64_t)json_object_get_int64(v);
        return 0;
}

bool listen_address_is_loopback(const struct listen_address *a)
{
        struct in_addr v4;
        struct in6_addr v6;
        if (STREQ(a->host, "localhost"))
                return true;
        if (inet_pton(AF_INET, a->host, &v4) == 1)
                return (ntohl(v4.s_addr) >> 24) == 127;
        return inet_pton(AF_INET6, a->host, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

/* The metrics listener has no TLS and no client authentication: loopback only. */
static int check_metrics_listen(struct collector_config *c, char *err, size_t errlen)
{
        for (size_t i = 0; i < c->n_listen[LISTENER_METRICS]; i++) {
                struct listen_address *a = &c->listen[LISTENER_METRICS][i];
                if (!a->host[0])
                        snprintf(a->host, sizeof a->host, "127.0.0.1");
                if (!listen_address_is_loopback(a)) {
                        snprintf(err, errlen,
                                 "listen.metrics[%zu]: %s is not a loopback address; /metrics is "
                                 "plain HTTP without client authentication, so it is served on "
                                 "127.0.0.1 or ::1 only (scrape it locally or through a tunnel)",
                                 i, a->host);
                        return -EINVAL;
                }
        }
        return 0;
}

static int parse_listen(json_object *o, struct collector_config *c, char *err, size_t errlen)
{
        static const char *const known[] = { "agent", "enroll", "metrics" };
        int r = check_members(o, "listen", known, ELEMENTSOF(known), err, errlen);
        if (r < 0)
                return r;
        c->listen[LISTENER_METRICS][0] = (struct listen_address){
                .host = "127.0.0.1", .port = COLLECTOR_DEFAULT_METRICS_PORT };
        c->n_listen[LISTENER_METRICS] = 1;
        for (enum listener_kind k = 0; k < _LISTENER_KIND_MAX; k++) {
                json_object *list;
                if (!json_object_object_get_ex(o, listener_kind_names[k], &list))
                        continue;
                if (json_object_is_type(list, json_type_string)) {
                        /* a single address may be written without the list */
                        r = listen_address_parse(json_object_get_string(list), &c->listen[k][0]);
                        if (r < 0) {
                                snprintf(err, errlen, "listen.%s: expected \"host:port\"",
                                         listener_kind_names[k]);
                                return r;
                        }
                        c->n_listen[k] = 1;
                        continue;
                }
                if (!json_object_is_type(list, json_type_array) ||
                    json_object_array_length(list) > CONFIG_MAX_LISTEN) {
                        snprintf(err, errlen,
                                 "listen.%s: expected a list of at most %d \"host:port\"",
                                 listener_kind_names[k], CONFIG_MAX_LISTEN);
                        return -EINVAL;
                }
                c->n_listen[k] = 0;
                for (size_t i = 0; i < json_object_array_length(list); i++) {
                        json_object *a = json_object_array_get_idx(list, i);
                        if (!json_object_is_type(a, json_type_string) ||
                            listen_address_parse(json_object_get_string(a),
                                                 &c->listen[k][i]) < 0) {
                                snprintf(err, errlen, "listen.%s[%zu]: expected \"host:port\"",
                                         listener_kind_names[k], i);
                                return -EINVAL;
                        }
                        c->n_listen[k]++;
                }
        }
        if (c->n_listen[LISTENER_AGENT] == 0) {
                snprintf(err, errlen, "listen.agent: at least one address is needed");
                return -EINVAL;
        }
        return check_metrics_listen(c, err, errlen);
}

static int parse_tls(json_object *o, struct collector_config *c, char *err, size_t errlen)
{
        static const char *const known[] = { "certificate", "key", "ca", "ca_key" };
        int r = check_members(o, "tls", known, ELEMENTSOF(known), err, errlen);
        if (r < 0)
                return r;
        if ((r = get_string(o, "tls", "certificate", true, &c->tls_certificate, err, errlen)) < 0 ||
            (r = get_string(o, "tls", "key", true, &c->tls_key, err, errlen)) < 0 ||
            (r = get_string(o, "tls", "ca", true, &c->tls_ca, err, errlen)) < 0 ||
            (r = get_string(o, "tls", "ca_key", c->n_listen[LISTENER_ENROLL] > 0,
                            &c->tls_ca_key, err, errlen)) < 0)
                return r;
        return 0;
}

static int parse_store(json_object *o, struct collector_config *c, char *err, size_t errlen)
{
        static const char *const known[] = { "sqlite", "postgres" };
        int r = check_members(o, "store", known, ELEMENTSOF(known), err, errlen);
        if (r < 0)
                return r;
        if (json_object_object_length(o) != 1) {
                snprintf(err, errlen, "store: expected exactly one of \"sqlite\" or \"postgres\"");
                return -EINVAL;
        }
        bool sqlite = json_object_object_get_ex(o, "sqlite", NULL);
        c->store_kind = sqlite ? STORE_SQLITE : STORE_POSTGRES;
        return get_string(o, "store", sqlite ? "sqlite" : "postgres", true, &c->store_target, err,
                          errlen);
}

static int parse_limits(json_object *o, struct collector_config *c, char *err, size_t errlen)
{
        static const char *const known[] = { "max_body_bytes", "max_batch_events",
                                             "timeout_seconds", "handshake_seconds",
                                             "request_seconds", "max_connections",
                                             "revocation_refresh_ms", "gap_declaration_seconds" };
        int r = check_members(o, "limits", known, ELEMENTSOF(known), err, errlen);
        if (r < 0)
                return r;
        uint64_t body = c->limits.max_body_bytes, events = c->limits.max_batch_events,
                 timeout = c->limits.timeout_seconds, refresh = c->limits.revocation_refresh_ms,
                 handshake = c->limits.handshake_seconds, request = c->limits.request_seconds,
                 connections = c->limits.max_connections,
                 gap_wait = c->limits.gap_declaration_seconds;
        /* The contract caps a batch at 1,000 events / 1 MiB; a site may only lower it. */
        if ((r = get_uint(o, "limits", "max_body_bytes", 1024, 1024 * 1024, &body, err, errlen)) < 0 ||
            (r = get_uint(o, "limits", "max_batch_events", 1, 1000, &events, err, errlen)) < 0 ||
            (r = get_uint(o, "limits", "timeout_seconds", 1, 3600, &timeout, err, errlen)) < 0 ||
            (r = get_uint(o, "limits", "handshake_seconds", 1, 3600, &handshake, err, errlen)) < 0 ||
            (r = get_uint(o, "limits", "request_seconds", 1, 3600, &request, err, errlen)) < 0 ||
            (r = get_uint(o, "limits", "max_connections", 1, 1000000, &connections, err,
                          errlen)) < 0 ||
            (r = get_uint(o, "limits", "revocation_refresh_ms", 10, 60000, &refresh, err,
                          errlen)) < 0 ||
            (r = get_uint(o, "limits", "gap_declaration_seconds", 0, 7 * 24 * 3600, &gap_wait,
                          err, errlen)) < 0)
                return r;
        c->limits.gap_declaration_seconds = (unsigned)gap_wait;
        c->limits.handshake_seconds = (unsigned)handshake;
        c->limits.request_seconds = (unsigned)request;
        c->limits.max_connections = (unsigned)connections;
        c->limits.max_body_bytes = body;
        c->limits.max_batch_events = (unsigned)events;
        c->limits.timeout_seconds = (unsigned)timeout;
        c->limits.revocation_refresh_ms = (unsigned)refresh;
        return 0;
}

int config_parse(const char *text, size_t len, struct collector_config **ret, char *err,
                 size_t errlen)
{
        static const char *const known[] = { "listen", "tls",     "store",
                                             "limits", "threads", "log_level" };
        _cleanup_json_ json_object *root = NULL;
        int r = json_parse_strict(text, len, &root, err, errlen);
        if (r < 0)
                return r;
        r = check_members(root, "(top)", known, ELEMENTSOF(known), err, errlen);
        if (r < 0)
                return r;

        _cleanup_config_ struct collector_config *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->limits = (struct collector_limits){
                .max_body_bytes = 1024 * 1024,
                .max_batch_events = 1000,
                .timeout_seconds = 10,
                .handshake_seconds = 10,
                .request_seconds = 30,
                .max_connections = 4096,
                .revocation_refresh_ms = 250,
                .gap_declaration_seconds = INGEST_GAP_DECLARATION_WAIT_SECONDS,
        };
        c->log_level = LOG_INFO;

        struct {
                const char *key;
                int (*parse)(json_object *, struct collector_config *, char *, size_t);
        } sections[] = {
                { "listen", parse_listen }, { "tls", parse_tls },
                { "store", parse_store },   { "limits", parse_limits },
        };
        for (size_t i = 0; i < ELEMENTSOF(sections); i++) {
                json_object *o;
                if (!json_object_object_get_ex(root, sections[i].key, &o)) {
                        if (STREQ(sections[i].key, "limits"))
                                continue;
                        snprintf(err, errlen, "%s: missing", sections[i].key);
                        return -EINVAL;
                }
                r = sections[i].parse(o, c, err, errlen);
                if (r < 0)
                        return r;
        }
        uint64_t threads = 0;
        r = get_uint(root, "(top)", "threads", 0, 64, &threads, err, errlen);
        if (r < 0)
                return r;
        c->threads = (unsigned)threads;

        json_object *lvl;
        if (json_object_object_get_ex(root, "log_level", &lvl)) {
                int level = json_object_is_type(lvl, json_type_string)
                                    ? log_level_from_string(json_object_get_string(lvl))
                                    : -EINVAL;
                if (level < 0) {
                        snprintf(err, errlen,
                                 "log_level: expected debug, info, notice, warning or err");
                        return -EINVAL;
                }
                c->log_level = level;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

int config_load(const char *path, struct collector_config **ret)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r = read_file_bounded(path, CONFIG_FILE_MAX, &text, &len);
        if (r < 0)
                return log_error_errno(r, "Cannot read the configuration %s: %m", path);
        char err[512];
        r = config_parse(text, len, ret, err, sizeof err);
        if (r < 0)
                return log_error_errno(r, "%s: %s; the collector was not started, fix the file "
                                          "and run 'hogo-collector -n -c %s'",
                                       path, err, path);
        return 0;
}

void config_free(struct collector_config *c)
{
        if (!c)
                return;
        free(c->tls_certificate);
        free(c->tls_key);
        free(c->tls_ca);
        free(c->tls_ca_key);
        free(c->store_target);
        free(c);
}

int config_open_store(const char *path, struct store **ret)
{
        _cleanup_config_ struct collector_config *c = NULL;
        int r = config_load(path, &c);
        if (r < 0)
                return r;
        assert(c);
        r = store_open(c->store_kind, c->store_target, ret);
        if (r < 0)
                return log_error_errno(r, "Cannot open the store %s: %m", c->store_target);
        return 0;
}

/* uplink.c — see uplink.h. */
#include "agent/uplink/uplink.h"

#include <dirent.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/spool.h"
#include "agent/uplink/backoff.h"
#include "agent/uplink/batch.h"
#include "agent/uplink/client.h"
#include "agent/uplink/enroll.h"
#include "common/atomic_tmp.h"
#include "common/canon_json.h"
#include "common/event.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/util.h"

#define POSTURE_MAX_BYTES (1u << 20)
#define ACKED_MAX_BYTES   64
#define MSEC_PER_SEC      1000ull

/* The result of the last attempt of one kind, as uplink-status.json shows it. */
struct attempt {
        uint64_t at_usec;   /* wall clock; 0 = never */
        const char *result; /* "ok", "unreachable", or an uplink_outcome name */
        long http_status;
        char error[512];
};

struct uplink {
        const struct uplink_config *config;
        struct collector_client *client;
        char *agent_id;
        char *acked_path;
        char *status_path;
        struct event_batch batch;
        unsigned batch_limit; /* shrinks on 413 */
        struct backoff upload_backoff, heartbeat_backoff;
        uint64_t acked;
        uint64_t last_seen_seq;
        uint64_t next_upload_ms, next_heartbeat_ms; /* monotonic */
        uint64_t events_sent;
        int spool_error;             /* last error reading the spool, 0 when it reads */
        bool batch_full;             /* the last batch stopped at a limit, not at the spool's end */
        struct spool_reader *reader; /* kept open while batches are acknowledged in full */
        char *carry;                 /* the event read but not fitting the last batch */
        size_t carry_len;
        uint64_t carry_seq;
        char *assigned_policy;
        char *dropped_policy;
        struct attempt upload, heartbeat, policy;
        char collector[256];
};

static uint64_t now_ms(void)
{
        return clock_usec(CLOCK_MONOTONIC) / 1000;
}

static uint32_t jitter_random(void)
{
        uint32_t v = 0;
        if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
                v = (uint32_t)now_ms() * 2654435761u;
        return v;
}

uint64_t uplink_read_acked(const char *spool_dir)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        if (asprintf(&path, "%s/%s", spool_dir, SPOOL_ACKED_FILE) < 0)
                return 0;
        if (read_file_bounded(path, ACKED_MAX_BYTES, &text, NULL) < 0)
                return 0;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(text, &end, 10);
        if (errno != 0 || end == text || (*end != '\0' && *end != '\n')) {
                log_warning(
                    "%s does not hold a sequence number; uploading from the start (the collector "
                    "ignores what it already has)",
                    path);
                return 0;
        }
        return v;
}

static int write_acked(struct uplink *u, uint64_t acked)
{
        char line[32];
        int n = snprintf(line, sizeof(line), "%" PRIu64 "\n", acked);
        int r = write_file_atomic(u->acked_path, line, (size_t)n, 0644);
        if (r < 0)
                return log_error_errno(
                    r,
                    "Cannot record the acknowledged seq in %s: %m (the events stay in the "
                    "spool and are sent again)",
                    u->acked_path);
        u->acked = acked;
        return 0;
}

static void attempt_record(struct attempt *a, const char *result, long http_status,
                           const char *error)
{
        a->at_usec = clock_usec(CLOCK_REALTIME);
        a->result = result;
        a->http_status = http_status;
        snprintf(a->error, sizeof(a->error), "%s", error ?: "");
}

static json_object *attempt_to_json(const struct attempt *a)
{
        if (a->at_usec == 0)
                return NULL;
        char ts[32];
        event_format_ts(a->at_usec, ts);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "at", json_object_new_string(ts));
        json_object_object_add(o, "result", json_object_new_string(a->result));
        if (a->http_status)
                json_object_object_add(o, "http_status", json_object_new_int64(a->http_status));
        if (a->error[0])
                json_object_object_add(o, "error", json_object_new_string(a->error));
        return o;
}

static json_object *string_or_null(const char *s)
{
        return s ? json_object_new_string(s) : NULL;
}

static void write_status(struct uplink *u)
{
        _cleanup_json_ json_object *o = json_object_new_object();
        char ts[32];
        event_format_ts(clock_usec(CLOCK_REALTIME), ts);
        json_object_object_add(o, "updated", json_object_new_string(ts));
        json_object_object_add(o, "agent_id", string_or_null(u->agent_id));
        json_object_object_add(o, "collector",
                               string_or_null(u->collector[0] ? u->collector : NULL));
        json_object_object_add(o, "acked_seq", json_object_new_uint64(u->acked));
        json_object_object_add(o, "last_seq",
                               json_object_new_uint64(MAX(u->last_seen_seq, u->acked)));
        json_object_object_add(
            o, "pending_events",
            json_object_new_uint64(u->last_seen_seq > u->acked ? u->last_seen_seq - u->acked : 0));
        json_object_object_add(o, "events_sent", json_object_new_uint64(u->events_sent));
        json_object_object_add(o, "connections",
                               json_object_new_uint64(collector_client_connections(u->client)));
        json_object_object_add(o, "assigned_policy_version", string_or_null(u->assigned_policy));
        json_object_object_add(o, "upload", attempt_to_json(&u->upload));
        json_object_object_add(o, "heartbeat", attempt_to_json(&u->heartbeat));
        json_object_object_add(o, "policy_fetch", attempt_to_json(&u->policy));
        const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                                 JSON_C_TO_STRING_NOSLASHESCAPE);
        int r = write_file_atomic(u->status_path, text, strlen(text), 0644);
        if (r < 0)
                log_warning_errno(r, "Cannot write %s: %m (hogoctl status will show old figures)",
                                  u->status_path);
}

static char *memdup_nul(const char *p, size_t len)
{
        char *s = malloc(len + 1);
        if (s) {
                memcpy(s, p, len);
                s[len] = '\0';
        }
        return s;
}

/* Forgets the reader's position: the next batch is read again from acked + 1. */
static void reader_reset(struct uplink *u)
{
        spool_reader_close(u->reader);
        u->reader = NULL;
        free(u->carry);
        u->carry = NULL;
}

static char *read_agent_id(const struct uplink_config *config)
{
        _cleanup_free_ char *path = NULL;
        char *text = NULL;
        if (asprintf(&path, "%s/%s", config->state_dir, ENROLL_ID_FILE) < 0 ||
            read_file_bounded(path, 256, &text, NULL) < 0)
                return NULL;
        text[strcspn(text, "\r\n")] = '\0';
        return text;
}

int uplink_new(const struct uplink_config *config, struct uplink **ret)
{
        _cleanup_free_ char *cert = NULL, *key = NULL;
        if (asprintf(&cert, "%s/%s", config->state_dir, ENROLL_CERT_FILE) < 0 ||
            asprintf(&key, "%s/%s", config->state_dir, ENROLL_KEY_FILE) < 0)
                return -ENOMEM;
        struct uplink *u = calloc(1, sizeof(*u));
        if (!u)
                return -ENOMEM;
        u->config = config;
        if (asprintf(&u->acked_path, "%s/%s", config->spool_dir, SPOOL_ACKED_FILE) < 0 ||
            asprintf(&u->status_path, "%s/%s", config->spool_dir, SPOOL_UPLINK_STATUS_FILE) < 0) {
                u->acked_path = u->status_path = NULL;
                uplink_free(u);
                return -ENOMEM;
        }
        /* the one directory of the spool the uplink writes (spool.h); packaging creates it
         * owned by the uplink's user, a development set-up may not have it yet */
        _cleanup_free_ char *own_dir = NULL;
        if (asprintf(&own_dir, "%s/%s", config->spool_dir, SPOOL_UPLINK_DIR) < 0) {
                uplink_free(u);
                return -ENOMEM;
        }
        if (mkdir(own_dir, 0750) < 0 && errno != EEXIST) {
                int r = log_error_errno(negative_errno(), "Cannot create %s: %m", own_dir);
                uplink_free(u);
                return r;
        }
        /* an uplink killed while writing them left its temporary files */
        (void)atomic_tmp_remove_stale(u->acked_path);
        (void)atomic_tmp_remove_stale(u->status_path);
        u->agent_id = read_agent_id(config);
        struct collector_client_options o = {
            .urls = config->collectors,
            .n_urls = config->n_collectors,
            .ca_file = config->ca,
            .cert_file = cert,
            .key_file = key,
            .timeout_seconds = config->timeout_seconds,
        };
        int r = collector_client_new(&o, &u->client);
        if (r < 0) {
                uplink_free(u);
                return r;
        }
        u->batch_limit = config->batch_max_events;
        event_batch_init(&u->batch, u->batch_limit, UPLINK_BATCH_MAX_BYTES);
        backoff_init(&u->upload_backoff, config->retry_min_ms, config->retry_max_ms);
        backoff_init(&u->heartbeat_backoff, config->retry_min_ms, config->retry_max_ms);
        u->acked = uplink_read_acked(config->spool_dir);
        u->last_seen_seq = u->acked;
        *ret = u;
        return 0;
}

void uplink_free(struct uplink *u)
{
        if (!u)
                return;
        reader_reset(u);
        collector_client_free(u->client);
        event_batch_free(&u->batch);
        free(u->agent_id);
        free(u->acked_path);
        free(u->status_path);
        free(u->assigned_policy);
        free(u->dropped_policy);
        free(u);
}

/* A spool that cannot be read is logged when the error first appears (the poll would
 * otherwise repeat it every poll_ms) and shown in uplink-status.json. */
static int spool_failed(struct uplink *u, int r)
{
        if (r != u->spool_error)
                log_error_errno(
                    r,
                    "Cannot read the spool %s: %m. Nothing is uploaded until it can be read "
                    "(the events stay in the spool); check that the uplink's user may read it.",
                    u->config->spool_dir);
        if (r != u->spool_error || u->upload.at_usec == 0) {
                char msg[300];
                snprintf(msg, sizeof(msg), "%s: %s", u->config->spool_dir, strerror(-r));
                attempt_record(&u->upload, "spool_unreadable", 0, msg);
        }
        u->spool_error = r;
        return r;
}

/* Fills the batch from the spool. While a backlog drains and every batch is acknowledged
 * in full, one reader stays open and continues where the last batch stopped (reopening
 * would re-read the segment from its start each time); after a failure, a partial ack
 * or the end of the spool it is reopened at acked + 1. */
static int fill_batch(struct uplink *u)
{
        event_batch_reset(&u->batch);
        u->batch.max_events = u->batch_limit;
        u->batch_full = false;
        int r;
        if (!u->reader) {
                free(u->carry);
                u->carry = NULL;
                r = spool_reader_open(u->config->spool_dir, u->acked + 1, &u->reader);
                if (r == -ENOENT)
                        return 0; /* the agent has not created its spool yet */
                if (r < 0)
                        return spool_failed(u, r);
        }
        r = 0;
        if (u->carry) { /* the event that did not fit into the previous batch */
                r = event_batch_add(&u->batch, u->carry, u->carry_len, u->carry_seq);
                free(u->carry);
                u->carry = NULL;
        }
        while (r >= 0) {
                const char *json;
                size_t len;
                uint64_t seq;
                r = spool_reader_next(u->reader, &json, &len, &seq);
                if (r == -EBADMSG) {
                        r = 0;
                        continue; /* the agent reports corrupt records itself; the collector sees
                                     the gap */
                }
                if (r == 0) {
                        reader_reset(u); /* at the end: new events need a fresh look */
                        break;
                }
                if (r < 0)
                        break;
                if (seq <= u->acked)
                        continue;
                u->last_seen_seq = MAX(u->last_seen_seq, seq);
                r = event_batch_add(&u->batch, json, len, seq);
                if (r == -ENOSPC) {
                        u->batch_full = true; /* more is waiting */
                        u->carry = memdup_nul(json, len);
                        if (!u->carry) {
                                reader_reset(u);
                                return -ENOMEM;
                        }
                        u->carry_len = len;
                        u->carry_seq = seq;
                        r = 0;
                        break;
                }
        }
        if (r < 0) {
                reader_reset(u);
                return spool_failed(u, r);
        }
        if (u->spool_error < 0)
                log_info("The spool %s is readable again", u->config->spool_dir);
        u->spool_error = 0;
        return (int)u->batch.count;
}

static void note_collector(struct uplink *u, const char *url)
{
        if (STRNEQ(u->collector, url))
                log_info("Talking to collector %s", url);
        snprintf(u->collector, sizeof(u->collector), "%s", url);
}

/* How long to wait after an answer that was not a success. */
static uint64_t failure_delay(struct backoff *b, enum uplink_outcome outcome, long retry_after)
{
        uint64_t d = outcome == UPLINK_REJECTED ? backoff_max(b, jitter_random())
                                                : backoff_next(b, jitter_random());
        return MAX(d, (uint64_t)retry_after * MSEC_PER_SEC);
}

static int parse_acked(const char *body, uint64_t *ret)
{
        _cleanup_json_ json_object *o = json_tokener_parse(body);
        json_object *v;
        if (!o || !json_object_object_get_ex(o, "acked_seq", &v) ||
            !json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
                return -EBADMSG;
        *ret = json_object_get_uint64(v);
        return 0;
}

/* One batch. Returns 1 when a full batch went through (more may be waiting), 0 when there
 * was nothing more to send, negative after a failure (already logged and recorded). */
static int upload_once(struct uplink *u, uint64_t now)
{
        u->next_upload_ms = now + u->config->poll_ms;
        int n = fill_batch(u);
        if (n <= 0)
                return n;
        size_t len;
        const char *body = event_batch_body(&u->batch, &len);
        struct collector_response resp = {0};
        int r = collector_request(u->client, "POST", "/v1/events", body, len, &resp);
        if (r < 0) {
                reader_reset(u);
                attempt_record(&u->upload, "unreachable", 0,
                               collector_client_last_error(u->client));
                u->next_upload_ms = now + backoff_next(&u->upload_backoff, jitter_random());
                return r;
        }
        note_collector(u, resp.url);
        enum uplink_outcome outcome = uplink_classify_status(resp.status);
        uint64_t reply = 0;
        if (outcome == UPLINK_DONE && parse_acked(resp.body, &reply) < 0) {
                outcome = UPLINK_REJECTED;
                log_error("Collector %s answered the batch without a valid acked_seq: %.200s",
                          resp.url, resp.body);
        }
        /* one event alone too large: there is nothing smaller to try, so wait as for a
         * refusal rather than hammer the collector */
        if (outcome == UPLINK_SHRINK && n == 1)
                outcome = UPLINK_REJECTED;
        switch (outcome) {
        case UPLINK_DONE: {
                uint64_t acked = uplink_acked_after(u->acked, reply, u->batch.last_seq);
                if (reply < u->batch.last_seq)
                        log_warning("Collector acknowledged up to seq %" PRIu64
                                    " of a batch ending at %" PRIu64 "; the rest is sent again",
                                    reply, u->batch.last_seq);
                uint64_t before = u->acked;
                r = acked > u->acked ? write_acked(u, acked) : 0;
                if (r >= 0) {
                        u->events_sent += u->acked - before;
                        attempt_record(&u->upload, "ok", resp.status, NULL);
                        if (u->upload_backoff.failures > 0)
                                log_info("Upload works again; acknowledged up to seq %" PRIu64,
                                         u->acked);
                        backoff_reset(&u->upload_backoff);
                        log_debug("Sent seq %" PRIu64 "..%" PRIu64 ", acked %" PRIu64,
                                  u->batch.first_seq, u->batch.last_seq, u->acked);
                        r = u->batch_full && reply >= u->batch.last_seq ? 1 : 0;
                        if (r == 1)
                                u->next_upload_ms = now;
                } else
                        u->next_upload_ms = now + backoff_next(&u->upload_backoff, jitter_random());
                break;
        }
        case UPLINK_SHRINK:
                u->batch_limit = MAX(1u, u->batch_limit / 2);
                log_warning(
                    "Collector %s found the batch of %d events too large; sending %u at a time",
                    resp.url, n, u->batch_limit);
                attempt_record(&u->upload, uplink_outcome_to_string(outcome), resp.status,
                               resp.body);
                u->next_upload_ms = now;
                r = -E2BIG;
                break;
        case UPLINK_TRANSIENT:
        case UPLINK_REJECTED:
                log_warning("Collector %s answered HTTP %ld to seq %" PRIu64 "..%" PRIu64
                            ": %.300s; the events stay "
                            "in the spool and are sent again",
                            resp.url, resp.status, u->batch.first_seq, u->batch.last_seq,
                            resp.body);
                attempt_record(&u->upload, uplink_outcome_to_string(outcome), resp.status,
                               resp.body);
                u->next_upload_ms =
                    now + failure_delay(&u->upload_backoff, outcome, resp.retry_after);
                r = -EPROTO;
                break;
        }
        /* anything but a batch acknowledged in full is sent again from acked + 1 */
        if (r < 0 || reply < u->batch.last_seq)
                reader_reset(u);
        collector_response_free(&resp);
        return r;
}

static void closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}

static uint64_t spool_segment_bytes(const char *dir)
{
        _cleanup_(closedirp) DIR *d = opendir(dir);
        uint64_t total = 0;
        if (!d)
                return 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                struct stat st;
                if (strncmp(de->d_name, "seg-", 4) == 0 &&
                    fstatat(dirfd(d), de->d_name, &st, 0) == 0)
                        total += (uint64_t)st.st_size;
        }
        return total;
}

/* The posture file as the agent wrote it, or {} (with a warning once) when it is missing. */
static json_object *read_posture(struct uplink *u)
{
        _cleanup_free_ char *text = NULL;
        int r = read_file_bounded(u->config->posture_file, POSTURE_MAX_BYTES, &text, NULL);
        json_object *o = r >= 0 ? json_tokener_parse(text) : NULL;
        if (o && json_object_is_type(o, json_type_object))
                return o;
        json_object_put(o);
        log_debug("No posture in %s yet (%s); the heartbeat carries an empty one",
                  u->config->posture_file, r < 0 ? strerror(-r) : "not a JSON object");
        return json_object_new_object();
}

/* A policy version as text: the policy's "version" is an integer, the store keeps it as a
 * string; either form compares the same way here. NULL when absent or of another type. */
static char *policy_version_of(json_object *o, const char *key)
{
        json_object *v;
        if (!o || !json_object_object_get_ex(o, key, &v))
                return NULL;
        if (json_object_is_type(v, json_type_string))
                return strdup(json_object_get_string(v));
        if (json_object_is_type(v, json_type_int)) {
                char *s;
                return asprintf(&s, "%" PRId64, json_object_get_int64(v)) < 0 ? NULL : s;
        }
        return NULL;
}

static char *heartbeat_body(struct uplink *u, char **ret_agent_policy)
{
        _cleanup_json_ json_object *posture = read_posture(u);
        _cleanup_free_ char *agent_policy = policy_version_of(posture, "policy_version");
        char hostname[256] = "";
        gethostname(hostname, sizeof(hostname) - 1);
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object *spool = json_object_new_object();
        json_object_object_add(spool, "last_seq",
                               json_object_new_uint64(MAX(u->last_seen_seq, u->acked)));
        json_object_object_add(spool, "acked_seq", json_object_new_uint64(u->acked));
        /* Read after acked (taken together): any drop the collector sees as a gap at or below
         * acked was declared at or below this mark, which lets the collector alert an
         * undeclared gap without waiting (collectors/ingest.h, ingest_gaps_bound()). */
        uint64_t durable;
        if (spool_read_durable(u->config->spool_dir, &durable) >= 0)
                json_object_object_add(spool, "durable_seq", json_object_new_uint64(durable));
        json_object_object_add(spool, "bytes",
                               json_object_new_uint64(spool_segment_bytes(u->config->spool_dir)));
        json_object_object_add(o, "posture", json_object_get(posture));
        json_object_object_add(o, "policy_version", string_or_null(agent_policy));
        json_object_object_add(o, "agent_version", json_object_new_string(HOGO_VERSION));
        json_object_object_add(o, "hostname", json_object_new_string(hostname));
        json_object_object_add(o, "spool", spool);
        char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE));
        if (s)
                *ret_agent_policy = TAKE_PTR(agent_policy);
        return s;
}

/* GET /v1/policy and drop it for the agent. The uplink does not judge the policy: only
 * that it is a JSON object, so a broken answer does not replace a good file. */
static int fetch_policy(struct uplink *u, const char *version)
{
        if (!u->config->policy_drop_dir)
                return 0;
        struct collector_response resp = {0};
        int r = collector_request(u->client, "GET", "/v1/policy", NULL, 0, &resp);
        if (r < 0) {
                attempt_record(&u->policy, "unreachable", 0,
                               collector_client_last_error(u->client));
                return r;
        }
        _cleanup_json_ json_object *envelope = NULL;
        if (resp.status == 200)
                envelope = json_tokener_parse(resp.body);
        if (!envelope || !json_object_is_type(envelope, json_type_object)) {
                r = resp.status == 404 ? -ENOENT : -EBADMSG;
                log_warning("Collector %s assigned policy %s but GET /v1/policy answered HTTP %ld: "
                            "%.200s; the agent "
                            "keeps its current policy",
                            resp.url, version, resp.status, resp.body);
                attempt_record(&u->policy,
                               resp.status == 200
                                   ? "rejected"
                                   : uplink_outcome_to_string(uplink_classify_status(resp.status)),
                               resp.status, resp.body);
                collector_response_free(&resp);
                return r;
        }
        _cleanup_free_ char *path = NULL;
        r = mkdir_parents(u->config->policy_drop_dir, 0755);
        if (r >= 0)
                r = asprintf(&path, "%s/%s", u->config->policy_drop_dir, UPLINK_POLICY_DROP_FILE) <
                            0
                        ? -ENOMEM
                        : 0;
        if (r >= 0)
                r = write_file_atomic(path, resp.body, resp.body_len, 0644);
        if (r < 0) {
                log_error_errno(
                    r, "Cannot drop policy %s into %s: %m; the agent keeps its current policy",
                    version, u->config->policy_drop_dir);
                attempt_record(&u->policy, "drop_failed", resp.status, strerror(-r));
        } else {
                log_info("Policy %s dropped into %s for the agent to verify", version, path);
                attempt_record(&u->policy, "ok", resp.status, NULL);
                free(u->dropped_policy);
                u->dropped_policy = strdup(version);
        }
        collector_response_free(&resp);
        return r;
}

static void heartbeat_answer(struct uplink *u, const char *body, const char *agent_policy)
{
        _cleanup_json_ json_object *o = json_tokener_parse(body);
        _cleanup_free_ char *assigned = policy_version_of(o, "policy_version");
        if (!assigned)
                return; /* null or absent: nothing assigned */
        if (!u->assigned_policy || STRNEQ(u->assigned_policy, assigned)) {
                free(u->assigned_policy);
                u->assigned_policy = strdup(assigned);
        }
        if ((agent_policy && STREQ(agent_policy, assigned)) ||
            (u->dropped_policy && STREQ(u->dropped_policy, assigned)))
                return;
        fetch_policy(u, assigned);
}

static void heartbeat_once(struct uplink *u, uint64_t now)
{
        uint64_t interval = (uint64_t)u->config->heartbeat_seconds * MSEC_PER_SEC;
        _cleanup_free_ char *agent_policy = NULL;
        _cleanup_free_ char *body = heartbeat_body(u, &agent_policy);
        if (!body) {
                u->next_heartbeat_ms = now + interval;
                return;
        }
        struct collector_response resp = {0};
        int r = collector_request(u->client, "POST", "/v1/heartbeat", body, strlen(body), &resp);
        if (r < 0) {
                attempt_record(&u->heartbeat, "unreachable", 0,
                               collector_client_last_error(u->client));
                u->next_heartbeat_ms =
                    now + MIN(interval, backoff_next(&u->heartbeat_backoff, jitter_random()));
                return;
        }
        note_collector(u, resp.url);
        enum uplink_outcome outcome = uplink_classify_status(resp.status);
        if (outcome == UPLINK_DONE) {
                attempt_record(&u->heartbeat, "ok", resp.status, NULL);
                backoff_reset(&u->heartbeat_backoff);
                u->next_heartbeat_ms = now + interval;
                heartbeat_answer(u, resp.body, agent_policy);
        } else {
                log_warning("Collector %s answered HTTP %ld to the heartbeat: %.300s", resp.url,
                            resp.status, resp.body);
                attempt_record(&u->heartbeat, uplink_outcome_to_string(outcome), resp.status,
                               resp.body);
                u->next_heartbeat_ms =
                    now +
                    MIN(interval, failure_delay(&u->heartbeat_backoff, outcome, resp.retry_after));
        }
        collector_response_free(&resp);
}

int uplink_run(struct uplink *u, int signal_fd)
{
        log_info("Uploading %s from seq %" PRIu64 " to %zu collector(s), heartbeat every %us",
                 u->config->spool_dir, u->acked + 1, u->config->n_collectors,
                 u->config->heartbeat_seconds);
        uint64_t now = now_ms();
        u->next_upload_ms = u->next_heartbeat_ms = now;
        for (;;) {
                now = now_ms();
                bool changed = false;
                if (now >= u->next_upload_ms) {
                        uint64_t before = u->upload.at_usec;
                        int r = upload_once(u, now);
                        changed = u->upload.at_usec != before;
                        /* r == 1: a full batch went through and more is waiting; next_upload_ms is
                         * now, so the poll below only looks for signals before the next one */
                        changed = changed || r == 1;
                }
                if (now >= u->next_heartbeat_ms) {
                        heartbeat_once(u, now);
                        changed = true;
                }
                if (changed)
                        write_status(u);

                now = now_ms();
                uint64_t next = MIN(u->next_upload_ms, u->next_heartbeat_ms);
                int timeout = next > now ? (int)MIN(next - now, (uint64_t)INT32_MAX) : 0;
                struct pollfd p = {.fd = signal_fd, .events = POLLIN};
                int r = poll(&p, 1, timeout);
                if (r < 0 && errno != EINTR)
                        return log_error_errno(negative_errno(), "poll: %m");
                if (r > 0) {
                        struct signalfd_siginfo si;
                        if (read(signal_fd, &si, sizeof(si)) == sizeof(si) &&
                            (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)) {
                                log_info("Stopping on signal %u; acknowledged up to seq %" PRIu64,
                                         si.ssi_signo, u->acked);
                                write_status(u);
                                return 0;
                        }
                }
        }
}

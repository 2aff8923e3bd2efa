/* api.c — see api.h. */
#include "collectors/api.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <openssl/x509.h>
#include <strings.h>

#include "collectors/ingest.h"
#include "collectors/policy_cache.h"
#include "collectors/tls.h"
#include "common/canon_json.h"
#include "common/digest.h"
#include "common/event.h"
#include "common/json_strict.h"
#include "common/log.h"
#include "common/util.h"

#define TOKEN_MAX 256
#define HOSTNAME_MAX 253
#define VERSION_MAX 63

enum job_kind {
        JOB_ENROLL,
        JOB_EVENTS,
        JOB_HEARTBEAT,
        JOB_POLICY,
};

struct api_job {
        enum job_kind kind;
        const struct api_context *ctx;
        char agent_id[64];
        char peer[80];

        /* events */
        struct ingest_batch *batch;
        struct ingest_result result;
        /* enroll */
        char token_hash[SHA256_HEX_LEN + 1];
        char hostname[HOSTNAME_MAX + 1];
        EVP_PKEY *key;
        char new_agent_id[CA_AGENT_ID_LEN + 1];
        char department[256];
        char *cert_pem;
        /* heartbeat */
        char *heartbeat_json;
        char reported_version[VERSION_MAX + 1];
        struct ingest_spool_report spool_report; /* taken with the posture it came with */
        unsigned gaps_alerted;
        bool detached;
        struct heartbeat_queue *queued_in; /* set while waiting in that queue */
        struct api_job *queue_next;
        /* heartbeat and policy */
        char *policy_version;
        char *policy_envelope;

        /* a refusal decided inside the transaction (nothing written) */
        int refuse_status;
        enum reject_reason refuse_reason;
        const char *refuse_code; /* the error code the client sees, when not the reason */
        char refuse_message[256];
};

struct route {
        const char *path;
        const char *method;
        enum metrics_endpoint endpoint;
        unsigned listeners; /* bit per enum listener_kind */
        size_t max_body;    /* 0: the configured limit */
        int (*handle)(const struct api_context *ctx, const struct api_request *rq,
                      struct api_reply *reply, struct api_job **ret_job);
};

void api_reply_clear(struct api_reply *reply)
{
        free(reply->body);
        *reply = (struct api_reply){ 0 };
}

static int reply_json(struct api_reply *reply, int status, json_object *o)
{
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        free(reply->body);
        reply->body = strdup(s ? s : "{}");
        json_object_put(o);
        if (!reply->body)
                return -ENOMEM;
        reply->body_len = strlen(reply->body);
        reply->status = status;
        reply->content_type = "application/json";
        return 0;
}

/* Every refusal: one log line (what, from whom, why), one counter, a JSON body that says
 * what happened and that nothing was stored. */
static int refuse_as(const struct api_request *rq, struct api_reply *reply, int status,
                     enum reject_reason reason, const char *public_code, int64_t seq,
                     const char *message)
{
        metrics_count_reject(reason);
        log_notice("%s %s from %s%s%s: %d %s: %s", rq->method, rq->path, rq->peer,
                   rq->agent_id ? " agent " : "", rq->agent_id ?: "", status,
                   reject_reason_to_string(reason), message);
        json_object *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "error", json_object_new_string(public_code ?: reject_reason_to_string(reason)));
        json_object_object_add(o, "message", json_object_new_string(message));
        if (seq >= 0)
                json_object_object_add(o, "seq", json_object_new_int64(seq));
        return reply_json(reply, status, o);
}

static int refuse(const struct api_request *rq, struct api_reply *reply, int status,
                  enum reject_reason reason, const char *message)
{
        return refuse_as(rq, reply, status, reason, NULL, -1, message);
}

static bool content_type_is_json(const char *ct)
{
        if (!ct)
                return false;
        static const char want[] = "application/json";
        if (strncasecmp(ct, want, sizeof want - 1) != 0)
                return false;
        ct += sizeof want - 1;
        while (*ct == ' ' || *ct == '\t')
                ct++;
        return *ct == '\0' || *ct == ';';
}

static struct api_job *job_new(enum job_kind kind, const struct api_context *ctx,
                               const struct api_request *rq)
{
        struct api_job *job = calloc(1, sizeof *job);
        if (!job)
                return NULL;
        job->kind = kind;
        job->ctx = ctx;
        if (rq->agent_id)
                snprintf(job->agent_id, sizeof job->agent_id, "%s", rq->agent_id);
        snprintf(job->peer, sizeof job->peer, "%s", rq->peer ?: "");
        return job;
}

bool api_job_detached(const struct api_job *job) { return job->detached; }

/* ---- heartbeats waiting for the writer, one per terminal ----------------------------- */

#define HEARTBEAT_QUEUE_BUCKETS 4096

struct heartbeat_queue {
        pthread_mutex_t lock;
        struct api_job *buckets[HEARTBEAT_QUEUE_BUCKETS];
};

int heartbeat_queue_new(struct heartbeat_queue **ret)
{
        struct heartbeat_queue *q = calloc(1, sizeof *q);
        if (!q)
                return -ENOMEM;
        pthread_mutex_init(&q->lock, NULL);
        *ret = q;
        return 0;
}

void heartbeat_queue_free(struct heartbeat_queue *q)
{
        if (!q)
                return;
        pthread_mutex_destroy(&q->lock);
        free(q);
}

static struct api_job **heartbeat_queue_slot(struct heartbeat_queue *q, const char *agent_id)
{
        uint32_t h = 2166136261u; /* FNV-1a */
        for (const char *p = agent_id; *p; p++)
                h = (h ^ (unsigned char)*p) * 16777619u;
        struct api_job **slot = &q->buckets[h % HEARTBEAT_QUEUE_BUCKETS];
        while (*slot && STRNEQ((*slot)->agent_id, agent_id))
                slot = &(*slot)->queue_next;
        return slot;
}

/* With q locked: true when agent_id has a queued heartbeat, whose posture, reported
 * version and spool report are then replaced (*posture_json gets the older posture, for
 * the caller to free). */
static bool heartbeat_queue_replace_locked(struct heartbeat_queue *q, const char *agent_id,
                                           char **posture_json, const char *version,
                                           const struct ingest_spool_report *report)
{
        struct api_job *queued = *heartbeat_queue_slot(q, agent_id);
        if (!queued)
                return false;
        char *older = queued->heartbeat_json;
        queued->heartbeat_json = *posture_json;
        *posture_json = older;
        snprintf(queued->reported_version, sizeof queued->reported_version, "%s", version);
        queued->spool_report = *report;
        return true;
}

/* true: the posture replaced the one queued for agent_id, no job is needed. */
static bool heartbeat_queue_fold(struct heartbeat_queue *q, const char *agent_id,
                                 char **posture_json, const char *version,
                                 const struct ingest_spool_report *report)
{
        pthread_mutex_lock(&q->lock);
        bool folded = heartbeat_queue_replace_locked(q, agent_id, posture_json, version, report);
        pthread_mutex_unlock(&q->lock);
        return folded;
}

/* As heartbeat_queue_fold() for job's posture (another worker may have queued one for the
 * terminal meanwhile: job is then left to the caller to free); false: job is queued now
 * and must go to the writer. */
static bool heartbeat_queue_merge(struct heartbeat_queue *q, struct api_job *job)
{
        pthread_mutex_lock(&q->lock);
        bool folded = heartbeat_queue_replace_locked(q, job->agent_id, &job->heartbeat_json,
                                                     job->reported_version, &job->spool_report);
        if (!folded) {
                struct api_job **slot = heartbeat_queue_slot(q, job->agent_id);
                job->queued_in = q;
                job->queue_next = NULL;
                *slot = job;
        }
        pthread_mutex_unlock(&q->lock);
        return folded;
}

/* The writer takes the job's posture as it is now; later heartbeats make a new job. */
static void heartbeat_queue_remove(struct api_job *job)
{
        struct heartbeat_queue *q = job->queued_in;
        if (!q)
                return;
        pthread_mutex_lock(&q->lock);
        struct api_job **slot = heartbeat_queue_slot(q, job->agent_id);
        if (*slot == job)
                *slot = job->queue_next;
        job->queued_in = NULL;
        pthread_mutex_unlock(&q->lock);
}

void api_job_free(struct api_job *job)
{
        if (!job)
                return;
        heartbeat_queue_remove(job);
        ingest_batch_free(job->batch);
        EVP_PKEY_free(job->key);
        free(job->cert_pem);
        free(job->heartbeat_json);
        free(job->policy_version);
        free(job->policy_envelope);
        free(job);
}

static void api_job_freep(struct api_job **job) { api_job_free(*job); }
#define _cleanup_job_ _cleanup_(api_job_freep)

/* Parses a body that must be one JSON object whose members are all in known[]. */
static int parse_object(const struct api_request *rq, struct api_reply *reply,
                        const char *const *known, size_t n_known, json_object **ret)
{
        char err[256];
        json_object *o;
        if (json_parse_strict(rq->body, rq->body_len, &o, err, sizeof err) < 0)
                return refuse(rq, reply, 400, REJECT_MALFORMED_JSON, err) ?: -EINVAL;
        if (!json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return refuse(rq, reply, 400, REJECT_INVALID_REQUEST,
                              "the body must be a JSON object") ?: -EINVAL;
        }
        json_object_object_foreach(o, key, val)
        {
                (void)val;
                bool found = false;
                for (size_t i = 0; i < n_known && !found; i++)
                        found = STREQ(key, known[i]);
                if (!found) {
                        char msg[128];
                        snprintf(msg, sizeof msg, "%.64s: unknown member", key);
                        json_object_put(o);
                        return refuse(rq, reply, 400, REJECT_INVALID_REQUEST, msg) ?: -EINVAL;
                }
        }
        *ret = o;
        return 0;
}

/* A member that must be a string of 0/1..max bytes; NULL (after refusing) otherwise. */
static const char *member_string(const struct api_request *rq, struct api_reply *reply,
                                 json_object *o, const char *key, size_t min, size_t max)
{
        json_object *v;
        if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) &&
            (size_t)json_object_get_string_len(v) >= min &&
            (size_t)json_object_get_string_len(v) <= max)
                return json_object_get_string(v);
        char msg[128];
        snprintf(msg, sizeof msg, "%s: expected a string of %zu to %zu bytes", key, min, max);
        refuse(rq, reply, 400, REJECT_INVALID_REQUEST, msg);
        return NULL;
}

static bool valid_hostname(const char *s)
{
        for (; *s; s++)
                if (!isalnum((unsigned char)*s) && *s != '-' && *s != '.' && *s != '_')
                        return false;
        return true;
}

/* ---- POST /v1/enroll --------------------------------------------------------------- */

static int handle_enroll(const struct api_context *ctx, const struct api_request *rq,
                         struct api_reply *reply, struct api_job **ret_job)
{
        static const char *const known[] = { "token", "csr", "hostname" };
        _cleanup_json_ json_object *o = NULL;
        int r = parse_object(rq, reply, known, ELEMENTSOF(known), &o);
        if (r < 0)
                return r == -EINVAL ? 0 : r;

        const char *token = member_string(rq, reply, o, "token", 1, TOKEN_MAX);
        const char *csr = token ? member_string(rq, reply, o, "csr", 1, 16384) : NULL;
        const char *hostname = csr ? member_string(rq, reply, o, "hostname", 1, HOSTNAME_MAX)
                                   : NULL;
        if (!hostname)
                return 0;
        if (!valid_hostname(hostname))
                return refuse(rq, reply, 400, REJECT_INVALID_REQUEST,
                              "hostname: only letters, digits, '-', '.' and '_'");
        if (!ctx->ca)
                return refuse(rq, reply, 503, REJECT_STORE_UNAVAILABLE,
                              "this collector does not enroll (no CA key configured)");

        char err[256];
        X509_REQ *req = NULL;
        r = ca_csr_parse(csr, strlen(csr), &req, err, sizeof err);
        if (r < 0)
                return refuse(rq, reply, 400, REJECT_CSR_INVALID, err);

        _cleanup_job_ struct api_job *job = job_new(JOB_ENROLL, ctx, rq);
        if (!job) {
                X509_REQ_free(req);
                return -ENOMEM;
        }
        job->key = X509_REQ_get_pubkey(req);
        X509_REQ_free(req);
        if (!job->key)
                return -ENOMEM;
        sha256_hex(token, strlen(token), job->token_hash);
        snprintf(job->hostname, sizeof job->hostname, "%s", hostname);
        *ret_job = TAKE_PTR(job);
        return 0;
}

static int run_enroll(struct api_job *job, struct store *store, int64_t now)
{
        char department[256];
        int r = store_token_use(store, job->token_hash, now, department);
        if (r < 0) {
                static const struct {
                        int err;
                        enum reject_reason reason;
                        const char *message;
                } token_errors[] = {
                        { -ENOENT, REJECT_TOKEN_UNKNOWN,
                          "the enrollment token is not known; ask the administrator for a new one "
                          "(hogoctl token create)" },
                        { -EKEYEXPIRED, REJECT_TOKEN_EXPIRED,
                          "the enrollment token has expired; ask the administrator for a new one" },
                        { -EUSERS, REJECT_TOKEN_USED_UP,
                          "the enrollment token was already used; ask the administrator for a new one" },
                };
                for (size_t i = 0; i < ELEMENTSOF(token_errors); i++)
                        if (r == token_errors[i].err) {
                                job->refuse_status = 403;
                                job->refuse_reason = token_errors[i].reason;
                                /* one answer for all three: a guesser learns nothing */
                                job->refuse_code = "token_refused";
                                snprintf(job->refuse_message, sizeof job->refuse_message, "%s",
                                         token_errors[i].message);
                                return 0;
                        }
                return r;
        }

        r = ca_new_agent_id(job->new_agent_id);
        if (r < 0)
                return r;
        free(job->cert_pem);
        job->cert_pem = NULL;
        char serial[CA_SERIAL_HEX_MAX + 1];
        r = ca_issue_agent(job->ctx->ca, job->key, job->new_agent_id, department, now - 300,
                           now + 86400L * CA_AGENT_CERT_DAYS, &job->cert_pem, serial);
        if (r < 0)
                return r;

        struct store_terminal t = { .enrolled_at = now, .last_seq = 0 };
        snprintf(t.cert_serial, sizeof t.cert_serial, "%s", serial);
        snprintf(t.agent_id, sizeof t.agent_id, "%s", job->new_agent_id);
        snprintf(t.hostname, sizeof t.hostname, "%s", job->hostname);
        snprintf(t.department, sizeof t.department, "%s", department);
        memcpy(t.last_hash, EVENT_GENESIS_HASH, sizeof t.last_hash);
        r = store_terminal_add(store, &t);
        if (r < 0)
                return r;
        snprintf(job->department, sizeof job->department, "%s", department);
        return 0;
}

static int finish_enroll(struct api_job *job, struct api_reply *reply)
{
        _cleanup_free_ char *ca_pem = NULL;
        int r = ca_cert_pem(job->ctx->ca, &ca_pem);
        if (r < 0)
                return r;
        metrics_count_enrollment();
        log_info("%s: enrolled agent %s (host %s, department %s)", job->peer, job->new_agent_id,
                 job->hostname, job->department);
        json_object *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "agent_id", json_object_new_string(job->new_agent_id));
        json_object_object_add(o, "certificate", json_object_new_string(job->cert_pem));
        json_object_object_add(o, "ca", json_object_new_string(ca_pem));
        json_object_object_add(o, "department", json_object_new_string(job->department));
        return reply_json(reply, 200, o);
}

/* ---- POST /v1/events ---------------------------------------------------------------- */

static int handle_events(const struct api_context *ctx, const struct api_request *rq,
                         struct api_reply *reply, struct api_job **ret_job)
{
        char err[256];
        enum reject_reason reason;
        int64_t bad_seq;
        struct ingest_batch *batch = NULL;
        int r = ingest_batch_parse(rq->body, rq->body_len, ctx->limits->max_batch_events, &batch,
                                   &reason, &bad_seq, err, sizeof err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return refuse_as(rq, reply,
                                 reason == REJECT_TOO_MANY_EVENTS ? 413
                                 : reason == REJECT_INVALID_EVENT ? 422
                                                                  : 400,
                                 reason, NULL, bad_seq, err);
        struct api_job *job = job_new(JOB_EVENTS, ctx, rq);
        if (!job) {
                ingest_batch_free(batch);
                return -ENOMEM;
        }
        job->batch = batch;
        *ret_job = job;
        return 0;
}

static void refuse_agent(struct api_job *job, int r)
{
        job->refuse_status = 403;
        job->refuse_reason = r == -EPERM ? REJECT_REVOKED : REJECT_UNKNOWN_AGENT;
        snprintf(job->refuse_message, sizeof job->refuse_message, "%s",
                 r == -EPERM ? "this agent is revoked; nothing was stored"
                             : "this agent is not enrolled here; nothing was stored");
}

static int run_events(struct api_job *job, struct store *store, int64_t now)
{
        job->result = (struct ingest_result){ 0 };
        int r = ingest_batch_apply(store, job->agent_id, job->batch, now, &job->result);
        if (r == -ENOENT || r == -EPERM) {
                refuse_agent(job, r);
                return 0;
        }
        return r;
}

static int finish_events(struct api_job *job, struct api_reply *reply)
{
        metrics_count_events(job->result.stored, job->result.duplicates);
        metrics_count_gap_alerts(GAP_ALERT_BY_BOUND, job->result.gaps_alerted);
        for (size_t k = 0; k < _CHAIN_BREAK_MAX; k++)
                for (unsigned i = 0; i < job->result.breaks[k]; i++)
                        metrics_count_chain_break(k);
        json_object *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "acked_seq", json_object_new_int64((int64_t)job->result.acked_seq));
        return reply_json(reply, 200, o);
}

/* ---- POST /v1/heartbeat ------------------------------------------------------------- */

/* A version spelt with letters, digits and ".-_+:" only needs no JSON escaping. */
static bool version_is_plain(const char *v)
{
        for (; *v; v++)
                if (!isalnum((unsigned char)*v) && !strchr(".-_+:", *v))
                        return false;
        return true;
}

/* {"policy_version": version or null}: every heartbeat's answer. */
static int heartbeat_reply(const char *policy_version, struct api_reply *reply)
{
        /* the usual versions are written straight, without building a JSON object */
        if (!policy_version || version_is_plain(policy_version)) {
                char *body = NULL;
                int n = policy_version
                                ? asprintf(&body, "{\"policy_version\":\"%s\"}", policy_version)
                                : asprintf(&body, "{\"policy_version\":null}");
                if (n < 0)
                        return -ENOMEM;
                free(reply->body);
                *reply = (struct api_reply){ .status = 200, .body = body, .body_len = (size_t)n,
                                             .content_type = "application/json",
                                             .endpoint = reply->endpoint };
                return 0;
        }
        json_object *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "policy_version", json_object_new_string(policy_version));
        return reply_json(reply, 200, o);
}

static int finish_heartbeat(struct api_job *job, struct api_reply *reply)
{
        metrics_count_gap_alerts(GAP_ALERT_BY_BOUND, job->gaps_alerted);
        job->gaps_alerted = 0;
        return heartbeat_reply(job->policy_version, reply);
}

/* The spool member's acked_seq and durable_seq when both are non-negative integers (what
 * ingest_gaps_bound() needs); anything else there reports nothing, and the gap wait
 * applies. */
static struct ingest_spool_report spool_report_of(json_object *o)
{
        json_object *spool, *acked, *durable;
        if (!json_object_object_get_ex(o, "spool", &spool) ||
            !json_object_object_get_ex(spool, "acked_seq", &acked) ||
            !json_object_object_get_ex(spool, "durable_seq", &durable) ||
            !json_object_is_type(acked, json_type_int) ||
            !json_object_is_type(durable, json_type_int) || json_object_get_int64(acked) < 0 ||
            json_object_get_int64(durable) < 0)
                return (struct ingest_spool_report){ 0 };
        return (struct ingest_spool_report){ .acked_seq = (uint64_t)json_object_get_int64(acked),
                                             .durable_seq =
                                                 (uint64_t)json_object_get_int64(durable) };
}

static int handle_heartbeat(const struct api_context *ctx, const struct api_request *rq,
                            struct api_reply *reply, struct api_job **ret_job)
{
        static const char *const known[] = { "posture", "policy_version", "agent_version",
                                             "hostname", "spool" };
        _cleanup_json_ json_object *o = NULL;
        int r = parse_object(rq, reply, known, ELEMENTSOF(known), &o);
        if (r < 0)
                return r == -EINVAL ? 0 : r;
        json_object *v;
        if (!json_object_object_get_ex(o, "posture", &v) || !json_object_is_type(v, json_type_object))
                return refuse(rq, reply, 400, REJECT_INVALID_REQUEST, "posture: expected an object");
        if (json_object_object_get_ex(o, "spool", &v) && !json_object_is_type(v, json_type_object))
                return refuse(rq, reply, 400, REJECT_INVALID_REQUEST, "spool: expected an object");
        /* The version the agent runs: a string, the policy's integer version, or null. */
        char version[VERSION_MAX + 1] = "";
        if (json_object_object_get_ex(o, "policy_version", &v) && v) {
                if (json_object_is_type(v, json_type_int))
                        snprintf(version, sizeof version, "%" PRId64, json_object_get_int64(v));
                else if (json_object_is_type(v, json_type_string) &&
                         json_object_get_string_len(v) <= VERSION_MAX)
                        snprintf(version, sizeof version, "%s", json_object_get_string(v));
                else
                        return refuse(rq, reply, 400, REJECT_INVALID_REQUEST,
                                      "policy_version: expected a string, an integer or null");
        }
        if (json_object_object_get_ex(o, "agent_version", &v) &&
            !member_string(rq, reply, o, "agent_version", 0, VERSION_MAX))
                return 0;
        if (json_object_object_get_ex(o, "hostname", &v) &&
            !member_string(rq, reply, o, "hostname", 0, HOSTNAME_MAX))
                return 0;

        struct ingest_spool_report report = spool_report_of(o);
        _cleanup_free_ char *posture_json = NULL;
        r = json_canonical(o, NULL, &posture_json, NULL);
        if (r == -EDOM)
                return refuse(rq, reply, 400, REJECT_INVALID_REQUEST,
                              "numbers must be integers");
        if (r < 0)
                return r;

        bool assigned;
        char assigned_version[VERSION_MAX + 1];
        bool early = rq->may_answer_early && rq->department &&
                     policy_cache_get(rq->department, &assigned, assigned_version,
                                      sizeof assigned_version);
        /* the terminal's write is queued already: replace its posture, no job */
        if (early && ctx->heartbeats &&
            heartbeat_queue_fold(ctx->heartbeats, rq->agent_id, &posture_json, version, &report))
                return heartbeat_reply(assigned ? assigned_version : NULL, reply);

        _cleanup_job_ struct api_job *job = job_new(JOB_HEARTBEAT, ctx, rq);
        if (!job)
                return -ENOMEM;
        snprintf(job->reported_version, sizeof job->reported_version, "%s", version);
        job->heartbeat_json = TAKE_PTR(posture_json);
        job->spool_report = report;
        if (early) {
                job->detached = true;
                free(job->policy_version);
                job->policy_version = assigned ? strdup(assigned_version) : NULL;
                if (assigned && !job->policy_version)
                        return -ENOMEM;
                r = finish_heartbeat(job, reply);
                if (r < 0)
                        return r;
                if (ctx->heartbeats && heartbeat_queue_merge(ctx->heartbeats, job))
                        return 0; /* folded into the queued one; job is freed here */
        }
        *ret_job = TAKE_PTR(job);
        return 0;
}

/* The terminal's department, or a refusal for an unknown or revoked agent. */
static int job_terminal(struct api_job *job, struct store *store, struct store_terminal *t)
{
        int r = store_terminal_get(store, job->agent_id, t);
        if (r == -ENOENT || (r >= 0 && t->revoked)) {
                refuse_agent(job, r == -ENOENT ? -ENOENT : -EPERM);
                return 0;
        }
        return r < 0 ? r : 1;
}

static int policy_lookup(struct api_job *job, struct store *store, const char *department)
{
        free(job->policy_version);
        free(job->policy_envelope);
        job->policy_version = job->policy_envelope = NULL;
        int r = store_policy_get(store, department, &job->policy_version, &job->policy_envelope);
        if (r == -ENOENT)
                r = 0;
        if (r >= 0)
                policy_cache_put(department, job->policy_version);
        return r;
}

static int run_heartbeat(struct api_job *job, struct store *store, int64_t now)
{
        heartbeat_queue_remove(job);
        struct store_terminal t;
        int r = job_terminal(job, store, &t);
        if (r <= 0)
                return r;
        r = store_terminal_seen(store, job->agent_id, now, job->reported_version);
        if (r >= 0)
                r = store_posture_put(store, job->agent_id, job->heartbeat_json, now);
        if (r >= 0)
                r = ingest_gaps_bound(store, job->agent_id, &job->spool_report, t.last_seq, now,
                                      &job->gaps_alerted);
        if (r >= 0)
                r = policy_lookup(job, store, t.department);
        return r;
}

/* ---- GET /v1/policy ----------------------------------------------------------------- */

static int handle_policy(const struct api_context *ctx, const struct api_request *rq,
                         struct api_reply *reply, struct api_job **ret_job)
{
        struct api_job *job = job_new(JOB_POLICY, ctx, rq);
        if (!job)
                return -ENOMEM;
        *ret_job = job;
        return 0;
}

static int run_policy(struct api_job *job, struct store *store, int64_t now)
{
        struct store_terminal t;
        int r = job_terminal(job, store, &t);
        if (r <= 0)
                return r;
        return policy_lookup(job, store, t.department);
}

static int finish_policy(struct api_job *job, struct api_reply *reply)
{
        if (!job->policy_envelope) {
                json_object *o = json_object_new_object();
                if (!o)
                        return -ENOMEM;
                json_object_object_add(o, "error", json_object_new_string("no_policy"));
                json_object_object_add(o, "message",
                                       json_object_new_string("no policy has been pushed for this "
                                                              "agent's department or as default"));
                return reply_json(reply, 404, o);
        }
        reply->body = TAKE_PTR(job->policy_envelope);
        reply->body_len = strlen(reply->body);
        reply->status = 200;
        reply->content_type = "application/json";
        return 0;
}

/* ---- probes ------------------------------------------------------------------------- */

static int handle_healthz(const struct api_context *ctx, const struct api_request *rq,
                          struct api_reply *reply, struct api_job **ret_job)
{
        json_object *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "status", json_object_new_string("ok"));
        return reply_json(reply, 200, o);
}

static int handle_metrics(const struct api_context *ctx, const struct api_request *rq,
                          struct api_reply *reply, struct api_job **ret_job)
{
        int r = metrics_render(&reply->body, &reply->body_len);
        if (r < 0)
                return r;
        reply->status = 200;
        reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
        return 0;
}

#define ON_AGENT (1u << LISTENER_AGENT)
#define ON_ENROLL (1u << LISTENER_ENROLL)
#define ON_METRICS (1u << LISTENER_METRICS)

static const struct route routes[] = {
        { "/v1/enroll", "POST", ENDPOINT_ENROLL, ON_ENROLL, API_ENROLL_MAX_BODY, handle_enroll },
        { "/v1/events", "POST", ENDPOINT_EVENTS, ON_AGENT, 0, handle_events },
        { "/v1/heartbeat", "POST", ENDPOINT_HEARTBEAT, ON_AGENT, API_HEARTBEAT_MAX_BODY,
          handle_heartbeat },
        { "/v1/policy", "GET", ENDPOINT_POLICY, ON_AGENT, 0, handle_policy },
        { "/healthz", "GET", ENDPOINT_HEALTHZ, ON_AGENT | ON_ENROLL | ON_METRICS, 0,
          handle_healthz },
        /* Counters name refused agents and why: not for the agents' or the enrollment
         * network, only for the loopback metrics listener. */
        { "/metrics", "GET", ENDPOINT_METRICS, ON_METRICS, 0, handle_metrics },
};

int api_handle(const struct api_context *ctx, const struct api_request *rq,
               struct api_reply *reply, struct api_job **ret_job)
{
        *reply = (struct api_reply){ .endpoint = ENDPOINT_OTHER };
        *ret_job = NULL;

        const struct route *route = NULL;
        for (size_t i = 0; i < ELEMENTSOF(routes) && !route; i++)
                if (rq->path && STREQ(rq->path, routes[i].path))
                        route = &routes[i];
        if (!route)
                return refuse(rq, reply, 404, REJECT_UNKNOWN_PATH, "no such path");
        reply->endpoint = route->endpoint;
        if (!(route->listeners & (1u << rq->listener)))
                return refuse(rq, reply, 404, REJECT_WRONG_LISTENER,
                              route->listeners == ON_METRICS
                                      ? "metrics are served on the metrics listener only "
                                        "(listen.metrics, loopback)"
                              : rq->listener == LISTENER_METRICS
                                      ? "this port only serves /metrics and /healthz"
                              : rq->listener == LISTENER_ENROLL
                                      ? "this port only enrolls; agents use the mTLS port"
                                      : "enrollment is on the enrollment port, not the mTLS port");
        if (!rq->method || STRNEQ(rq->method, route->method)) {
                char msg[64];
                snprintf(msg, sizeof msg, "use %s", route->method);
                return refuse(rq, reply, 405, REJECT_METHOD, msg);
        }
        /* The agent listener's handshake only lets verified certificates through; this is
         * the second lock of the same door. */
        if (rq->listener == LISTENER_AGENT && (!rq->agent_id || !*rq->agent_id))
                return refuse(rq, reply, 403, REJECT_UNKNOWN_AGENT, "no client certificate");
        /* A revocation also ends connections that were open before it (keep-alive). */
        if (rq->listener == LISTENER_AGENT && revoked_set_contains(rq->agent_id))
                return refuse(rq, reply, 403, REJECT_REVOKED,
                              "this agent is revoked; nothing was stored");
        if (STREQ(route->method, "POST")) {
                size_t max = route->max_body ?: ctx->limits->max_body_bytes;
                if (!content_type_is_json(rq->content_type))
                        return refuse(rq, reply, 415, REJECT_CONTENT_TYPE,
                                      "send Content-Type: application/json");
                if (rq->body_len > max) {
                        char msg[96];
                        snprintf(msg, sizeof msg, "the body is %zu bytes, at most %zu", rq->body_len,
                                 max);
                        return refuse(rq, reply, 413, REJECT_TOO_LARGE, msg);
                }
        }
        return route->handle(ctx, rq, reply, ret_job);
}

int api_job_run(struct api_job *job, struct store *store, int64_t now)
{
        job->refuse_status = 0;
        job->refuse_code = NULL;
        switch (job->kind) {
        case JOB_ENROLL: return run_enroll(job, store, now);
        case JOB_EVENTS: return run_events(job, store, now);
        case JOB_HEARTBEAT: return run_heartbeat(job, store, now);
        case JOB_POLICY: return run_policy(job, store, now);
        }
        return -EINVAL;
}

static const enum metrics_endpoint job_endpoints[] = {
        [JOB_ENROLL] = ENDPOINT_ENROLL,
        [JOB_EVENTS] = ENDPOINT_EVENTS,
        [JOB_HEARTBEAT] = ENDPOINT_HEARTBEAT,
        [JOB_POLICY] = ENDPOINT_POLICY,
};
static const char *const job_routes[] = {
        [JOB_ENROLL] = "POST /v1/enroll",
        [JOB_EVENTS] = "POST /v1/events",
        [JOB_HEARTBEAT] = "POST /v1/heartbeat",
        [JOB_POLICY] = "GET /v1/policy",
};

void api_job_finish(struct api_job *job, bool committed, struct api_reply *reply)
{
        *reply = (struct api_reply){ .endpoint = job_endpoints[job->kind] };
        char method[8];
        const char *space = strchr(job_routes[job->kind], ' ');
        snprintf(method, sizeof method, "%.*s", (int)(space - job_routes[job->kind]),
                 job_routes[job->kind]);
        struct api_request rq = {
                .method = method,
                .path = space + 1,
                .agent_id = job->agent_id[0] ? job->agent_id : NULL,
                .peer = job->peer,
        };
        int r;
        if (!committed)
                r = refuse(&rq, reply, 503, REJECT_STORE_UNAVAILABLE,
                           "the store could not commit; nothing was kept, send it again later");
        else if (job->refuse_status)
                r = refuse_as(&rq, reply, job->refuse_status, job->refuse_reason,
                              job->refuse_code, -1, job->refuse_message);
        else
                switch (job->kind) {
                case JOB_ENROLL: r = finish_enroll(job, reply); break;
                case JOB_EVENTS: r = finish_events(job, reply); break;
                case JOB_HEARTBEAT: r = finish_heartbeat(job, reply); break;
                default: r = finish_policy(job, reply); break;
                }
        if (r < 0) {
                api_reply_clear(reply);
                reply->endpoint = job_endpoints[job->kind];
                reply->status = 500;
        }
}

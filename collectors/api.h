/* api.h — the collector's HTTP API, apart from the network.
 *
 * server.c turns an evhttp request into a struct api_request and hands it to
 * api_handle(), which either answers at once (errors, /healthz, /metrics) or returns a
 * job for the store writer. The writer runs api_job_run() inside a transaction and, after
 * COMMIT (or ROLLBACK), api_job_finish() makes the answer. Nothing here touches a socket,
 * so the fuzz target drives the same code.
 *
 * Routes (see docs/ARCHITECTURE.md, "Collector"):
 *   enroll listener:  POST /v1/enroll,  GET /healthz
 *   agent listener:   POST /v1/events, POST /v1/heartbeat, GET /v1/policy, GET /healthz
 *   metrics listener: GET /metrics, GET /healthz (plain HTTP, loopback only)
 * On the agent listener the agent id is the verified client certificate's CN
 * (api_request.agent_id); no body field is ever read as an identity.
 */
#ifndef HOGO_COLLECTOR_API_H
#define HOGO_COLLECTOR_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collectors/ca.h"
#include "collectors/config.h"
#include "collectors/metrics.h"
#include "collectors/store.h"

#define API_ENROLL_MAX_BODY (32 * 1024)
#define API_HEARTBEAT_MAX_BODY (64 * 1024)

struct heartbeat_queue;

struct api_context {
        const struct collector_limits *limits;
        struct hogo_ca *ca; /* NULL when this collector does not enroll */
        struct heartbeat_queue *heartbeats; /* NULL: every heartbeat is its own job */
};

/* Heartbeats answered early and not yet written, one per terminal. A heartbeat is a
 * snapshot that the next one replaces, so while a terminal's write is still queued a newer
 * heartbeat from it only replaces the queued posture (latest wins) instead of adding a
 * job: under load the writer writes each terminal once per group, not once per request.
 * What the answer promises stays true: the latest posture the terminal sent is stored. */
int heartbeat_queue_new(struct heartbeat_queue **ret);
/* After the writer stopped (no job in it is queued any more). */
void heartbeat_queue_free(struct heartbeat_queue *q);

struct api_request {
        enum listener_kind listener;
        const char *method;
        const char *path; /* without the query string */
        const char *content_type; /* NULL when absent */
        const char *body;
        size_t body_len;
        const char *agent_id; /* verified client certificate CN, agent listener only */
        const char *department; /* its OU (set by the CA from the enrollment token) */
        bool may_answer_early;  /* the writer is not backlogged: see api_job_detached() */
        const char *peer;     /* for log lines */
};

struct api_reply {
        int status;
        char *body; /* malloc()ed */
        size_t body_len;
        const char *content_type;
        enum metrics_endpoint endpoint;
};

struct api_job;

/* 0: either *ret_job is set (the writer must run it) or reply is complete; both when the
 * job is detached. A heartbeat folded into its terminal's queued one (api_context.
 * heartbeats) has a complete reply and no job. */
int api_handle(const struct api_context *ctx, const struct api_request *rq,
               struct api_reply *reply, struct api_job **ret_job);

/* In the writer thread, inside an open transaction. Negative: the transaction must be
 * rolled back (a store failure); refusals that wrote nothing return 0. May run again
 * after a rollback. */
int api_job_run(struct api_job *job, struct store *store, int64_t now);
/* Completes the reply after the transaction ended; committed is false after a rollback. */
void api_job_finish(struct api_job *job, bool committed, struct api_reply *reply);
void api_job_free(struct api_job *job);
/* A detached job's reply was made by api_handle() already (a heartbeat answered from the
 * policy cache): the writer runs it for its writes and the reply it makes is dropped.
 * Heartbeats are snapshots that the next one replaces, so they may be acknowledged before
 * they are durable; events never are. */
bool api_job_detached(const struct api_job *job);

void api_reply_clear(struct api_reply *reply);

#endif

/* fuzz_request.c — libFuzzer target for the collector's request handler without a network:
 * api_handle() with any listener, method, path, content type, agent and body, and, when it
 * makes a store job, the job run on a real SQLite store (rolled back) and its reply made.
 *
 * Input layout: byte 0 picks the listener and whether an agent id is present, byte 1 the
 * method, byte 2 the path, byte 3 the content type; the rest is the body. Beyond not
 * crashing: every reply has a status from 200 to 599 and, when it has a body, a content
 * type. */
#include <stdint.h>
#include <stdlib.h>

#include "collectors/api.h"
#include "collectors/ca.h"
#include "collectors/store.h"
#include "common/event.h"
#include "common/log.h"
#include "common/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *store;
static struct hogo_ca *ca;
static struct collector_limits limits = { .max_body_bytes = 1024 * 1024, .max_batch_events = 1000,
                                          .timeout_seconds = 10, .revocation_refresh_ms = 250 };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        log_setup("fuzz_request", LOG_TARGET_STDERR, LOG_EMERG);
        char dir[] = "/tmp/hogo-fuzz-request.XXXXXX";
        if (!mkdtemp(dir))
                abort();
        char path[sizeof dir + 32], key[sizeof dir + 32], crt[sizeof dir + 32];
        snprintf(path, sizeof path, "%s/ca", dir);
        char *names[] = { "localhost" };
        if (ca_init_dir(path, names, 1) < 0)
                abort();
        snprintf(crt, sizeof crt, "%s/ca/ca.crt", dir);
        snprintf(key, sizeof key, "%s/ca/ca.key", dir);
        if (ca_load(crt, key, &ca) < 0)
                abort();
        snprintf(path, sizeof path, "%s/c.db", dir);
        if (store_open(STORE_SQLITE, path, &store) < 0)
                abort();
        struct store_terminal t = { .enrolled_at = 1 };
        snprintf(t.agent_id, sizeof t.agent_id, "fuzz-agent");
        memcpy(t.last_hash, EVENT_GENESIS_HASH, sizeof t.last_hash);
        if (store_terminal_add(store, &t) < 0)
                abort();
        return 0;
}

static void check_reply(const struct api_reply *reply)
{
        if (reply->status < 200 || reply->status > 599)
                abort();
        if (reply->body && !reply->content_type)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char *const methods[] = { "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH" };
        static const char *const paths[] = { "/v1/enroll", "/v1/events", "/v1/heartbeat",
                                             "/v1/policy", "/healthz",   "/metrics",
                                             "/",          "/v1/events/" };
        static const char *const types[] = { "application/json", "application/json; charset=utf-8",
                                             "text/plain", NULL, "application/jsonp" };
        if (size < 4)
                return 0;
        struct api_context ctx = { .limits = &limits, .ca = ca };
        struct api_request rq = {
                .listener = (enum listener_kind)((data[0] & 0x18) >> 3) % _LISTENER_KIND_MAX,
                .agent_id = (data[0] & 2) ? "fuzz-agent" : (data[0] & 4) ? "unknown" : NULL,
                .method = methods[data[1] % ELEMENTSOF(methods)],
                .path = paths[data[2] % ELEMENTSOF(paths)],
                .content_type = types[data[3] % ELEMENTSOF(types)],
                .body = (const char *)data + 4,
                .body_len = size - 4,
                .peer = "fuzz",
        };
        struct api_reply reply;
        struct api_job *job = NULL;
        if (api_handle(&ctx, &rq, &reply, &job) < 0)
                return 0; /* out of memory */
        if (!job) {
                check_reply(&reply);
                api_reply_clear(&reply);
                return 0;
        }
        api_reply_clear(&reply);
        if (store_begin(store) < 0)
                abort();
        int r = api_job_run(job, store, 1);
        store_rollback(store);
        api_job_finish(job, r >= 0, &reply);
        check_reply(&reply);
        api_reply_clear(&reply);
        api_job_free(job);
        return 0;
}

/* collector_load — simulated agents for bench/collector_ingest.sh: enrolls N agents, then
 * drives a collector (or, for comparison, any mTLS server) from N threads, each with its
 * own keep-alive mTLS connection (libcurl), and prints the rate.
 *
 *   collector_load enroll URL CA TOKEN N DIR
 *        POST URL/v1/enroll N times (new P-256 key + CSR each); DIR/agentI.{key,crt}
 *   collector_load ingest URL CA DIR N BATCHES BATCH_SIZE
 *        each agent posts BATCHES batches of BATCH_SIZE chained events (built before the
 *        clock starts) to URL/v1/events; checks every acked_seq; prints events/s
 *   collector_load requests URL CA DIR N SECONDS PATH
 *        each agent posts heartbeats to URL PATH for SECONDS; prints requests/s
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <sys/resource.h>
#include <stdatomic.h>
#include <time.h>

#include "collectors/ca.h"
#include "common/event.h"
#include "common/fileio.h"
#include "common/util.h"

struct buf {
        char *data;
        size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
        struct buf *b = ud;
        char *nd = realloc(b->data, b->len + size * n + 1);
        if (!nd)
                return 0;
        memcpy(nd + b->len, p, size * n);
        b->data = nd;
        b->len += size * n;
        b->data[b->len] = '\0';
        return size * n;
}

/* A whole number in [min, max] from the command line; exits with a usage error otherwise. */
static long arg_long(const char *s, long min, long max)
{
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max) {
                fprintf(stderr, "collector_load: '%s' is not a number from %ld to %ld\n", s, min, max);
                exit(2);
        }
        return v;
}

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds this process used (all threads): what the load generator takes from the
 * cores it shares with the collector. */
static double cpu_s(void)
{
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static CURL *client(const char *ca, const char *crt, const char *key, struct curl_slist *hdrs,
                    struct buf *out)
{
        CURL *c = curl_easy_init();
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
        if (crt) {
                curl_easy_setopt(c, CURLOPT_SSLCERT, crt);
                curl_easy_setopt(c, CURLOPT_SSLKEY, key);
        }
        curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
        return c;
}

static long post(CURL *c, const char *url, const char *body, size_t len, struct buf *out)
{
        out->len = 0;
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
        if (curl_easy_perform(c) != CURLE_OK)
                return -1;
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        return status;
}

/* ---- enroll --------------------------------------------------------------------------- */

static int enroll(const char *url, const char *ca, const char *token, int n, const char *dir)
{
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
        struct buf out = { 0 };
        CURL *c = client(ca, NULL, NULL, h, &out);
        char full[512];
        snprintf(full, sizeof full, "%s/v1/enroll", url);
        for (int i = 0; i < n; i++) {
                EVP_PKEY *k = NULL;
                if (ca_generate_key(&k) < 0)
                        return 1;
                X509_REQ *req = X509_REQ_new();
                X509_REQ_set_pubkey(req, k);
                X509_REQ_sign(req, k, EVP_sha256());
                BIO *b = BIO_new(BIO_s_mem());
                PEM_write_bio_X509_REQ(b, req);
                char *pem;
                long plen = BIO_get_mem_data(b, &pem);
                json_object *o = json_object_new_object();
                json_object_object_add(o, "token", json_object_new_string(token));
                json_object_object_add(o, "csr", json_object_new_string_len(pem, (int)plen));
                char host[32];
                snprintf(host, sizeof host, "bench-%d", i);
                json_object_object_add(o, "hostname", json_object_new_string(host));
                const char *body = json_object_to_json_string(o);
                long st = post(c, full, body, strlen(body), &out);
                json_object *resp = st == 200 ? json_tokener_parse(out.data) : NULL, *cert;
                if (!resp || !json_object_object_get_ex(resp, "certificate", &cert)) {
                        fprintf(stderr, "enroll %d: HTTP %ld %s\n", i, st, out.data ? out.data : "");
                        return 1;
                }
                char path[600];
                snprintf(path, sizeof path, "%s/agent%d.crt", dir, i);
                write_file_atomic(path, json_object_get_string(cert),
                                  (size_t)json_object_get_string_len(cert), 0644);
                snprintf(path, sizeof path, "%s/agent%d.key", dir, i);
                ca_write_key(path, k);
                json_object_put(resp);
                json_object_put(o);
                BIO_free(b);
                X509_REQ_free(req);
                EVP_PKEY_free(k);
        }
        curl_easy_cleanup(c);
        curl_slist_free_all(h);
        free(out.data);
        return 0;
}

/* ---- load ----------------------------------------------------------------------------- */

struct worker {
        pthread_t thread;
        int index;
        const char *url, *ca, *dir, *path;
        int batches, batch_size;
        double seconds;
        char **bodies; /* prepared batches */
        uint64_t done, failed;
};

static pthread_barrier_t start_line;
static atomic_bool stop_now;

static char **prepare_batches(int batches, int size)
{
        char **out = calloc((size_t)batches, sizeof *out);
        char prev[SHA256_HEX_LEN + 1] = EVENT_GENESIS_HASH;
        uint64_t seq = 1;
        for (int b = 0; b < batches; b++) {
                json_object *arr = json_object_new_array();
                for (int i = 0; i < size; i++, seq++) {
                        json_object *d = json_object_new_object();
                        json_object_object_add(d, "path", json_object_new_string("/home/tanaka/名簿.xlsx"));
                        json_object_object_add(d, "bytes", json_object_new_int64((int64_t)seq * 37));
                        json_object *ev;
                        event_build(seq, 1795791600000000ull + seq * 1000, "files.bulk_warning",
                                    EVENT_SEVERITY_WARNING, "tanaka", d, prev, &ev);
                        json_object *h;
                        json_object_object_get_ex(ev, "hash", &h);
                        memcpy(prev, json_object_get_string(h), sizeof prev);
                        json_object_array_add(arr, ev);
                }
                json_object *o = json_object_new_object();
                json_object_object_add(o, "events", arr);
                out[b] = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
                json_object_put(o);
        }
        return out;
}

static void *ingest_main(void *arg)
{
        struct worker *w = arg;
        char crt[600], key[600], url[600];
        snprintf(crt, sizeof crt, "%s/agent%d.crt", w->dir, w->index);
        snprintf(key, sizeof key, "%s/agent%d.key", w->dir, w->index);
        snprintf(url, sizeof url, "%s%s", w->url, w->path);
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
        struct buf out = { 0 };
        CURL *c = client(w->ca, crt, key, h, &out);
        /* open the connection before the clock starts */
        post(c, url, "{\"posture\":{}}", 14, &out);
        if (w->batches > 0)
                w->bodies = prepare_batches(w->batches, w->batch_size);
        pthread_barrier_wait(&start_line);

        if (w->batches > 0) {
                for (int b = 0; b < w->batches; b++) {
                        long st = post(c, url, w->bodies[b], strlen(w->bodies[b]), &out);
                        uint64_t want = (uint64_t)(b + 1) * (uint64_t)w->batch_size;
                        json_object *r = st == 200 ? json_tokener_parse(out.data) : NULL, *acked;
                        if (r && json_object_object_get_ex(r, "acked_seq", &acked) &&
                            (uint64_t)json_object_get_int64(acked) == want)
                                w->done += (uint64_t)w->batch_size;
                        else
                                w->failed++;
                        json_object_put(r);
                }
        } else {
                static const char hb[] = "{\"posture\":{\"screen_lock\":\"pass\"},\"policy_version\":null,"
                                         "\"agent_version\":\"0.1.0\",\"spool\":{\"bytes\":0}}";
                while (!atomic_load(&stop_now)) {
                        long st = post(c, url, hb, sizeof hb - 1, &out);
                        if (st == 200 || st == 204)
                                w->done++;
                        else
                                w->failed++;
                }
        }
        curl_easy_cleanup(c);
        curl_slist_free_all(h);
        free(out.data);
        return NULL;
}

static int load(int argc, char **argv, bool ingest)
{
        int n = (int)arg_long(argv[5], 1, 256);
        struct worker *ws = calloc((size_t)n, sizeof *ws);
        pthread_barrier_init(&start_line, NULL, (unsigned)n + 1);
        for (int i = 0; i < n; i++) {
                ws[i] = (struct worker){ .index = i, .url = argv[2], .ca = argv[3], .dir = argv[4],
                                         .path = ingest ? "/v1/events" : argv[7] };
                if (ingest) {
                        ws[i].batches = (int)arg_long(argv[6], 1, 100000);
                        ws[i].batch_size = (int)arg_long(argv[7], 1, 1000);
                }
                pthread_create(&ws[i].thread, NULL, ingest_main, &ws[i]);
        }
        pthread_barrier_wait(&start_line);
        double t0 = now_s(), cpu0 = cpu_s();
        if (!ingest) {
                struct timespec d = { .tv_sec = arg_long(argv[6], 1, 3600) };
                nanosleep(&d, NULL);
                atomic_store(&stop_now, true);
        }
        uint64_t done = 0, failed = 0;
        for (int i = 0; i < n; i++) {
                pthread_join(ws[i].thread, NULL);
                done += ws[i].done;
                failed += ws[i].failed;
                for (int b = 0; b < ws[i].batches; b++)
                        free(ws[i].bodies[b]);
                free(ws[i].bodies);
        }
        double el = now_s() - t0, cpu = cpu_s() - cpu0;
        if (ingest)
                printf("%.0f events/s (%" PRIu64 " events in %.2f s, %d agents, %s-event batches, "
                       "%" PRIu64 " failed batches; load generator CPU %.2f s)\n",
                       (double)done / el, done, el, n, argv[7], failed, cpu);
        else
                printf("%.0f requests/s (%" PRIu64 " in %.2f s, %d agents, %" PRIu64 " failed)\n",
                       (double)done / el, done, el, n, failed);
        free(ws);
        return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int r = 2;
        if (argc == 7 && STREQ(argv[1], "enroll"))
                r = enroll(argv[2], argv[3], argv[4], (int)arg_long(argv[5], 1, 256), argv[6]);
        else if (argc == 8 && STREQ(argv[1], "ingest"))
                r = load(argc, argv, true);
        else if (argc == 8 && STREQ(argv[1], "requests"))
                r = load(argc, argv, false);
        else
                fprintf(stderr, "Usage: see the comment at the top of tests/tools/collector_load.c\n");
        curl_global_cleanup();
        return r;
}

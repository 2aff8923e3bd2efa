/* writer.c — see writer.h. */
#include "collectors/writer.h"

#include <pthread.h>
#include <time.h>

#include "collectors/ingest.h"
#include "collectors/metrics.h"
#include "collectors/policy_cache.h"
#include "collectors/tls.h"
#include "common/log.h"
#include "common/util.h"

struct writer {
        struct store *store;
        unsigned refresh_ms;
        unsigned gap_wait_seconds;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct writer_item *head, *tail;
        size_t queued;
        size_t urgent;       /* queued items someone waits for (not lazy) */
        uint64_t lazy_since; /* when the oldest queued item was queued */
        bool stopping;
};

struct revoked_list {
        char **ids;
        size_t n, cap;
};

static int revoked_collect(const char *agent_id, void *ud)
{
        struct revoked_list *l = ud;
        if (l->n == l->cap) {
                size_t ncap = l->cap ? l->cap * 2 : 16;
                char **n = realloc(l->ids, ncap * sizeof *n);
                if (!n)
                        return -ENOMEM;
                l->ids = n;
                l->cap = ncap;
        }
        if (!(l->ids[l->n] = strdup(agent_id)))
                return -ENOMEM;
        l->n++;
        return 0;
}

int writer_refresh_revoked(struct store *store)
{
        struct revoked_list l = { 0 };
        int r = store_revoked_foreach(store, revoked_collect, &l);
        if (r < 0) {
                for (size_t i = 0; i < l.n; i++)
                        free(l.ids[i]);
                free(l.ids);
                /* keep the previous set: failing open here would let revoked agents in */
                return log_error_errno(r, "Cannot reload the revoked agents; the previous list "
                                          "stays in force: %m");
        }
        revoked_set_replace(l.ids, l.n);
        return 0;
}

int writer_refresh_policy_cache(struct store *store)
{
        char **departments = NULL;
        size_t n = 0;
        int r = policy_cache_departments(&departments, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *version = NULL, *envelope = NULL;
                int q = store_policy_get(store, departments[i], &version, &envelope);
                if (q >= 0 || q == -ENOENT)
                        policy_cache_put(departments[i], q >= 0 ? version : NULL);
                else
                        r = q; /* keep the cached answer; the store said why */
                free(departments[i]);
        }
        free(departments);
        return r;
}

int writer_expire_gaps(struct store *store, int64_t now, unsigned wait_seconds)
{
        /* A read first: almost always nothing is due, and then no transaction is begun. */
        _cleanup_free_ struct store_chain_gap *due = NULL;
        size_t n = 0;
        int r = store_chain_gaps_get(store, NULL, now - (int64_t)wait_seconds, &due, &n);
        if (r < 0 || n == 0)
                return r;
        r = store_begin(store);
        if (r < 0)
                return log_error_errno(r, "Cannot begin a store transaction: %m");
        unsigned alerted = 0;
        r = ingest_gaps_expire(store, now, (int64_t)wait_seconds, &alerted);
        if (r >= 0)
                r = store_commit(store);
        if (r < 0) {
                store_rollback(store);
                /* the gaps stay pending: the next refresh tries again */
                return log_error_errno(r, "Cannot raise the alerts of overdue chain gaps; "
                                          "they stay pending and are tried again: %m");
        }
        metrics_count_gap_alerts(GAP_ALERT_BY_TIME_LIMIT, alerted);
        return 0;
}

int writer_count_gaps(struct store *store)
{
        int64_t n = store_chain_gap_count(store);
        if (n < 0)
                return (int)n; /* the store logged it; the gauge keeps its last value */
        metrics_set_chain_gaps_pending((uint64_t)n);
        return 0;
}

/* Runs items in one transaction; false when it had to be rolled back. */
static bool run_transaction(struct store *store, struct writer_item *first,
                            struct writer_item *stop)
{
        uint64_t start = clock_usec(CLOCK_MONOTONIC);
        int64_t now = (int64_t)(clock_usec(CLOCK_REALTIME) / 1000000u);
        int r = store_begin(store);
        if (r < 0) {
                log_error_errno(r, "Cannot begin a store transaction: %m");
                return false;
        }
        for (struct writer_item *it = first; it != stop; it = it->next) {
                r = api_job_run(it->job, store, now);
                if (r < 0) {
                        log_error_errno(r, "Store failure; the transaction is rolled back: %m");
                        store_rollback(store);
                        return false;
                }
        }
        r = store_commit(store);
        if (r < 0) {
                log_error_errno(r, "Cannot commit a store transaction; rolled back: %m");
                store_rollback(store);
                return false;
        }
        metrics_observe_store_transaction(clock_usec(CLOCK_MONOTONIC) - start);
        return true;
}

static void finish(struct writer_item *it, bool committed)
{
        api_job_finish(it->job, committed, &it->reply);
        it->done(it);
}

void writer_run_group(struct store *store, struct writer_item *items)
{
        if (!items)
                return;
        bool ok = run_transaction(store, items, NULL);
        if (ok || !items->next) {
                for (struct writer_item *it = items, *next; it; it = next) {
                        next = it->next; /* done() hands the item to another thread */
                        finish(it, ok);
                }
                return;
        }
        /* The group failed: each job alone, so only the one at fault is refused. */
        for (struct writer_item *it = items, *next; it; it = next) {
                next = it->next;
                it->next = NULL;
                finish(it, run_transaction(store, it, NULL));
        }
}

static void *writer_main(void *arg)
{
        struct writer *w = arg;
        pthread_setname_np(pthread_self(), "store-writer");
        uint64_t next_refresh = clock_usec(CLOCK_MONOTONIC) + w->refresh_ms * 1000u;

        pthread_mutex_lock(&w->lock);
        for (;;) {
                for (;;) {
                        uint64_t now = clock_usec(CLOCK_MONOTONIC);
                        /* Work someone waits for goes at once; write-behind work waits up
                         * to WRITER_LAZY_USEC to share a commit with more of its kind. */
                        bool due = w->stopping || w->urgent > 0 ||
                                   w->queued >= WRITER_MAX_GROUP ||
                                   (w->head && now >= w->lazy_since + WRITER_LAZY_USEC);
                        if (due || now >= next_refresh)
                                break;
                        uint64_t until = next_refresh;
                        if (w->head)
                                until = MIN(until, w->lazy_since + WRITER_LAZY_USEC);
                        struct timespec deadline;
                        clock_gettime(CLOCK_MONOTONIC, &deadline);
                        uint64_t wait = until - now;
                        deadline.tv_sec += (time_t)(wait / 1000000u);
                        deadline.tv_nsec += (long)(wait % 1000000u) * 1000;
                        if (deadline.tv_nsec >= 1000000000L) {
                                deadline.tv_sec++;
                                deadline.tv_nsec -= 1000000000L;
                        }
                        pthread_cond_timedwait(&w->cond, &w->lock, &deadline);
                }
                /* take up to WRITER_MAX_GROUP items */
                struct writer_item *group = w->head, *last = NULL;
                size_t n = 0;
                for (struct writer_item *it = w->head; it && n < WRITER_MAX_GROUP; it = it->next) {
                        last = it;
                        n++;
                }
                for (struct writer_item *it = group; last && it != last->next; it = it->next)
                        w->urgent -= !it->lazy;
                if (last) {
                        w->queued -= n;
                        w->head = last->next;
                        if (!w->head)
                                w->tail = NULL;
                        last->next = NULL;
                } else {
                        group = NULL;
                }
                bool stop = w->stopping && !w->head && !group;
                pthread_mutex_unlock(&w->lock);

                if (stop)
                        break;
                writer_run_group(w->store, group);
                if (clock_usec(CLOCK_MONOTONIC) >= next_refresh) {
                        writer_refresh_revoked(w->store);
                        writer_refresh_policy_cache(w->store);
                        writer_expire_gaps(w->store,
                                           (int64_t)(clock_usec(CLOCK_REALTIME) / 1000000u),
                                           w->gap_wait_seconds);
                        writer_count_gaps(w->store);
                        next_refresh = clock_usec(CLOCK_MONOTONIC) + w->refresh_ms * 1000u;
                }
                pthread_mutex_lock(&w->lock);
        }
        return NULL;
}

int writer_start(struct store *store, unsigned refresh_ms, unsigned gap_wait_seconds,
                 struct writer **ret)
{
        int r = writer_refresh_revoked(store);
        if (r < 0)
                return r;
        struct writer *w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        w->store = store;
        w->refresh_ms = refresh_ms ?: 250;
        w->gap_wait_seconds = gap_wait_seconds;
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&w->cond, &attr);
        pthread_condattr_destroy(&attr);
        pthread_mutex_init(&w->lock, NULL);
        r = -pthread_create(&w->thread, NULL, writer_main, w);
        if (r < 0) {
                pthread_cond_destroy(&w->cond);
                pthread_mutex_destroy(&w->lock);
                free(w);
                return log_error_errno(r, "Cannot start the store writer thread: %m");
        }
        *ret = w;
        return 0;
}

void writer_submit(struct writer *w, struct writer_item *item)
{
        item->next = NULL;
        pthread_mutex_lock(&w->lock);
        if (w->tail)
                w->tail->next = item;
        else {
                w->head = item;
                w->lazy_since = clock_usec(CLOCK_MONOTONIC);
        }
        w->tail = item;
        w->queued++;
        w->urgent += !item->lazy;
        /* lazy items do not wake the writer: it comes for them on its own deadline */
        if (!item->lazy || w->queued >= WRITER_MAX_GROUP)
                pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
}

size_t writer_backlog(struct writer *w)
{
        pthread_mutex_lock(&w->lock);
        size_t n = w->queued;
        pthread_mutex_unlock(&w->lock);
        return n;
}

void writer_stop(struct writer *w)
{
        if (!w)
                return;
        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
}

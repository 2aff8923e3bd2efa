/* policy_cache.c — see policy_cache.h. */
#include "collectors/policy_cache.h"

#include <pthread.h>

#include "common/util.h"

struct entry {
        char *department;
        char *version; /* NULL: none assigned */
};

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static struct entry entries[POLICY_CACHE_MAX];
static size_t n_entries;

static struct entry *find(const char *department)
{
        for (size_t i = 0; i < n_entries; i++)
                if (STREQ(entries[i].department, department))
                        return &entries[i];
        return NULL;
}

bool policy_cache_get(const char *department, bool *ret_assigned, char *ret_version,
                      size_t len)
{
        pthread_rwlock_rdlock(&lock);
        struct entry *e = find(department);
        if (e) {
                *ret_assigned = e->version != NULL;
                snprintf(ret_version, len, "%s", e->version ?: "");
        }
        pthread_rwlock_unlock(&lock);
        return e != NULL;
}

void policy_cache_put(const char *department, const char *version)
{
        char *v = version ? strdup(version) : NULL;
        if (version && !v)
                return;
        pthread_rwlock_wrlock(&lock);
        struct entry *e = find(department);
        if (!e && n_entries < POLICY_CACHE_MAX) {
                char *d = strdup(department);
                if (d) {
                        e = &entries[n_entries++];
                        *e = (struct entry){ .department = d };
                }
        }
        if (e) {
                free(e->version);
                e->version = TAKE_PTR(v);
        }
        pthread_rwlock_unlock(&lock);
        free(v);
}

int policy_cache_departments(char ***ret, size_t *ret_n)
{
        pthread_rwlock_rdlock(&lock);
        size_t n = n_entries;
        char **list = calloc(n + 1, sizeof *list);
        for (size_t i = 0; list && i < n; i++)
                if (!(list[i] = strdup(entries[i].department))) {
                        for (size_t j = 0; j < i; j++)
                                free(list[j]);
                        free(list);
                        list = NULL;
                }
        pthread_rwlock_unlock(&lock);
        if (!list)
                return -ENOMEM;
        *ret = list;
        *ret_n = n;
        return 0;
}

void policy_cache_clear(void)
{
        pthread_rwlock_wrlock(&lock);
        for (size_t i = 0; i < n_entries; i++) {
                free(entries[i].department);
                free(entries[i].version);
        }
        n_entries = 0;
        pthread_rwlock_unlock(&lock);
}

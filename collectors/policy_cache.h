/* policy_cache.h — which policy version each department is assigned, kept in memory so a
 * heartbeat can be answered without waiting for the store.
 *
 * Filled by the store writer whenever it looks a department up (store_policy_get) and
 * refreshed by it for every cached department each limits.revocation_refresh_ms, so a
 * `hogoctl policy push` reaches the answers within that time. A department that is not
 * cached yet is answered through the store (and cached then). Thread-safe.
 */
#ifndef HOGO_COLLECTOR_POLICY_CACHE_H
#define HOGO_COLLECTOR_POLICY_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#define POLICY_CACHE_MAX 1024

/* true when the department is cached; *ret_assigned false when no policy applies to it
 * (neither its own nor the default), else the version in ret_version. */
bool policy_cache_get(const char *department, bool *ret_assigned, char *ret_version,
                      size_t len);
/* version NULL: no policy assigned. Silently keeps the cache as is when it is full. */
void policy_cache_put(const char *department, const char *version);
/* Copies the cached department names (malloc()ed array of malloc()ed strings). */
int policy_cache_departments(char ***ret, size_t *ret_n);
void policy_cache_clear(void);

#endif

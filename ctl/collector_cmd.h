/* collector_cmd.h — what hogoctl's collector commands (ca, token, agent, policy push)
 * share: the -c option naming the collector's configuration, through which they reach
 * the same store the collector uses. */
#ifndef HOGO_CTL_COLLECTOR_CMD_H
#define HOGO_CTL_COLLECTOR_CMD_H

#include "collectors/store.h"

static inline void store_closep(struct store **s)
{
        if (*s)
                store_close(*s);
}
#define _cleanup_store_ __attribute__((cleanup(store_closep)))

/* Opens the store of the collector configured in path (NULL: the default path). Prints
 * why on failure. */
int ctl_open_collector_store(const char *prog, const char *path, struct store **ret);

#endif

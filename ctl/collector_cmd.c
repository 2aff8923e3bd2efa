/* collector_cmd.c — see collector_cmd.h. */
#include "ctl/collector_cmd.h"

#include <stdio.h>

#include "collectors/config.h"
#include "common/log.h"

int ctl_open_collector_store(const char *prog, const char *path, struct store **ret)
{
        const char *p = path ?: COLLECTOR_DEFAULT_CONFIG;
        int r = config_open_store(p, ret);
        if (r < 0)
                fprintf(stderr, "%s: cannot reach the collector's store through %s; nothing was "
                                "changed (use -c FILE to name the collector's configuration)\n",
                        prog, p);
        return r;
}

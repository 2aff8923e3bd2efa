/* sources.c — the event sources hogo-agent runs, in start order (source.h).
 *
 * Adding a source is one line here and one file of its own; no other source changes. */
#include "agent/source.h"

#include <stddef.h>

extern const struct source_ops usb_source;
extern const struct source_ops files_source; /* source_files.c */

const struct source_ops *const agent_sources[] = {
        &usb_source,
        &session_source,
        &files_source,
        NULL,
};

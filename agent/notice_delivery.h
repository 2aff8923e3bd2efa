/* notice_delivery.h — showing one notice to staff, in hogo-agent-helper (see notify.h).
 *
 * The agent sends the notice server (notice_server.h) a notice_request as JSON; a worker
 * asks logind for the sessions, and for each user concerned renders the notice in that user's language
 * and forks a grandchild that becomes the user (groups, gid, uid) and calls
 * org.freedesktop.Notifications.Notify on the user's session bus: the bus authenticates
 * the connecting uid, and a notice must never be a way into a user's session with root's
 * rights. When no daemon answers, the worker writes the notice to the user's terminals.
 * It answers with one JSON line per user:
 *   {"id","user","uid","shown":"graphical"|"terminals"|"none","graphical_sessions",
 *    "terminals","language"?,"reason"?}
 */
#ifndef HOGO_AGENT_NOTICE_DELIVERY_H
#define HOGO_AGENT_NOTICE_DELIVERY_H

#include <stdbool.h>
#include <stdio.h>

#include "agent/agent.h"

/* Largest request the helper reads (the configuration itself is at most 64 KiB). */
#define NOTICE_REQUEST_MAX (256u * 1024)

struct notice_request {
        int64_t id; /* the agent's number for the notice, in every answer line */
        const char *user; /* NULL: every active session */
        struct notice notice; /* rate_key is not carried */
        const char *contact, *address, *locale_dir;
        bool fallback_terminals;
};

/* The request as the helper reads it (NULL on allocation failure). */
json_object *notice_request_to_json(const struct notice_request *req);
/* Parses a request; its strings point into o. -EINVAL when a member is missing or wrong. */
int notice_request_from_json(json_object *o, struct notice_request *ret);

/* Shows the notice to every user concerned, one result line per user on out. */
void notice_deliver(FILE *out, const struct notice_request *req);

#endif

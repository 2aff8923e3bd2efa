/* control.h — the agent's local control socket (`hogoctl status`).
 *
 * A unix stream socket. A client sends one JSON object on one line, e.g.
 * {"command":"status"}, and reads one JSON object back; the agent then closes the
 * connection. Only root, and members of the configured group, may connect: the socket
 * file is 0600 (0660 with the group) and every peer's credentials are checked again
 * (SO_PEERCRED), so a wrong file mode alone never opens it. A client gets
 * CONTROL_TIMEOUT_USEC to send its request and requests are bounded to
 * CONTROL_REQUEST_MAX bytes, so a stuck or hostile client cannot hold the agent.
 */
#ifndef HOGO_AGENT_CONTROL_H
#define HOGO_AGENT_CONTROL_H

#include <json-c/json.h>
#include <systemd/sd-event.h>

#define CONTROL_REQUEST_MAX 4096
#define CONTROL_TIMEOUT_USEC (2 * 1000000ull)

/* Answers one request; returns a new reference (never NULL unless out of memory). */
typedef json_object *(*control_handler_t)(void *userdata, json_object *request);

struct control;

int control_open(sd_event *event, const char *path, const char *group,
                 control_handler_t handler, void *userdata, struct control **ret);
void control_close(struct control *control);

/* Client side (hogoctl): sends request, returns the answer. */
int control_call(const char *path, json_object *request, json_object **ret_answer);

#endif

/* notice_server.h — `hogo-agent-helper notify-server`: one helper process for many notices.
 *
 * Measured on the USB bench (bench/usb_latency.py), starting a helper per notice cost
 * some 4.5 ms of CPU each, nearly all of it the dynamic loader relocating libsystemd,
 * libcrypto and json-c; a fork of this small, single-threaded server costs a fraction of
 * that. So the agent starts one server when a notice comes and keeps it while notices
 * come; its stdin and stdout are one SOCK_SEQPACKET socket, one message per line:
 *   agent → server   a notice_request (JSON, with its "id")
 *   server → agent   the worker's result lines (notice_delivery.h, each with the "id"),
 *                    then {"id":N,"done":S} with S the worker's exit status or -signal,
 *                    and a "reason" when the worker was stopped or could not start
 * Each notice runs in a worker forked from the server, in a process group of its own, so
 * a stuck session bus stalls only that notice; a worker is killed with its group after
 * NOTIFY_CHILD_TIMEOUT_USEC. When the agent closes its end (idle, or stopping) the server
 * stops its workers and exits; it dies with the agent (PR_SET_PDEATHSIG), and workers
 * with the server.
 */
#ifndef HOGO_AGENT_NOTICE_SERVER_H
#define HOGO_AGENT_NOTICE_SERVER_H

/* Notices in progress at once; one more is answered done with a reason at once. */
#define NOTICE_SERVER_MAX_WORKERS 64

/* Serves on fd (the socket) until the agent closes it; returns the exit code. */
int notice_serve(int fd);

#endif

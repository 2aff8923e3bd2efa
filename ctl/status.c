/* status.c — `hogoctl status [--json] [--socket PATH]`: what the running agent says about
 * itself over its control socket (agent/control.h). */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>

#include "agent/control.h"
#include "common/canon_json.h"
#include "common/util.h"
#include "ctl/hogoctl.h"

const char *ctl_json_str(json_object *o, const char *key)
{
        json_object *v = NULL;
        return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : NULL;
}

int ctl_parse_agent_options(int argc, char **argv, const char *who, const char *usage,
                            const char **ret_socket, bool *ret_json)
{
        static const struct option options[] = {
                { "json", no_argument, NULL, 'j' },
                { "socket", required_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *socket_path = CTL_DEFAULT_SOCKET;
        bool json = false;
        int c;
        optind = 1;
        while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
                switch (c) {
                case 'j': json = true; break;
                case 's': socket_path = optarg; break;
                case 'h': fputs(usage, stdout); return 0;
                default: return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "%s: unexpected argument '%s'\n", who, argv[optind]);
                return -EINVAL;
        }
        *ret_socket = socket_path;
        *ret_json = json;
        return 1;
}

int ctl_agent_status(const char *socket_path, const char *who, const char *hint,
                     json_object **ret_status)
{
        _cleanup_json_ json_object *request = json_object_new_object();
        json_object_object_add(request, "command", json_object_new_string("status"));
        _cleanup_json_ json_object *answer = NULL;
        int r = control_call(socket_path, request, &answer);
        if (r < 0) {
                errno = -r;
                fprintf(stderr, "%s: cannot ask the agent at %s: %m\n%s\n", who, socket_path, hint);
                return r;
        }
        json_object *status = json_object_object_get(answer, "status");
        if (!json_object_get_boolean(json_object_object_get(answer, "ok")) || !status) {
                fprintf(stderr, "%s: the agent refused: %s\n", who,
                        ctl_json_str(answer, "error") ? ctl_json_str(answer, "error")
                                                      : "no reason given");
                return -EPROTO;
        }
        *ret_status = json_object_get(status);
        return 0;
}

static long long num(json_object *o, const char *key)
{
        return (long long)json_object_get_int64(json_object_object_get(o, key));
}

static void print_attempt(const char *what, json_object *a)
{
        if (!a) {
                printf("          %-10s never\n", what);
                return;
        }
        printf("          %-10s %s at %s", what,
               ctl_json_str(a, "result") ? ctl_json_str(a, "result") : "?",
               ctl_json_str(a, "at") ? ctl_json_str(a, "at") : "?");
        if (json_object_object_get(a, "http_status"))
                printf(" (HTTP %lld)", num(a, "http_status"));
        if (ctl_json_str(a, "error"))
                printf(": %s", ctl_json_str(a, "error"));
        printf("\n");
}

static void print_status(json_object *s)
{
        json_object *agent = json_object_object_get(s, "agent");
        printf("agent:    hogo-agent %s, pid %lld, started %s\n", ctl_json_str(agent, "version"),
               num(agent, "pid"), ctl_json_str(agent, "started"));

        json_object *p = json_object_object_get(s, "policy");
        printf("policy:   version %lld (%s), hash %s\n", num(p, "version"),
               ctl_json_str(p, "origin"), ctl_json_str(p, "hash"));
        json_object *rej = json_object_object_get(p, "last_rejected");
        if (rej)
                printf("          last drop refused at %s: %s\n", ctl_json_str(rej, "at"),
                       ctl_json_str(rej, "reason"));

        json_object *sources = json_object_object_get(s, "sources");
        printf("sources:%s\n", json_object_object_length(sources) ? "" : "  (none registered)");
        json_object_object_foreach (sources, name, src) {
                printf("          %-10s %s", name,
                       ctl_json_str(src, "state") ? ctl_json_str(src, "state") : "?");
                if (ctl_json_str(src, "reason") && ctl_json_str(src, "reason")[0])
                        printf(": %s", ctl_json_str(src, "reason"));
                printf("\n");
        }

        json_object *sp = json_object_object_get(s, "spool");
        printf("spool:    %s", ctl_json_str(sp, "state"));
        if (ctl_json_str(sp, "error"))
                printf(" (%s)", ctl_json_str(sp, "error"));
        if (json_object_object_get(sp, "depth")) {
                printf(", %lld event(s) not yet acknowledged (seq %lld..%lld, acked %lld)",
                       num(sp, "depth"), num(sp, "first_seq"), num(sp, "last_seq"),
                       num(sp, "acked_seq"));
                printf(", oldest unacknowledged %s", ctl_json_str(sp, "oldest_unacked")
                                                         ? ctl_json_str(sp, "oldest_unacked")
                                                         : "none");
        }
        if (num(sp, "lost_events"))
                printf(", %lld event(s) could not be recorded", num(sp, "lost_events"));
        printf("\n");

        json_object *u = json_object_object_get(s, "uplink");
        if (!u)
                printf("uplink:   no report yet (the uplink has not written uplink-status.json)\n");
        else if (ctl_json_str(u, "error") && !json_object_object_get(u, "updated"))
                printf("uplink:   %s\n", ctl_json_str(u, "error"));
        else {
                printf("uplink:   updated %s, acked seq %lld\n", ctl_json_str(u, "updated"),
                       num(u, "acked_seq"));
                print_attempt("upload", json_object_object_get(u, "upload"));
                print_attempt("heartbeat", json_object_object_get(u, "heartbeat"));
        }

        json_object *checks = json_object_object_get(s, "checks");
        printf("checks:\n");
        json_object_object_foreach (checks, check, c)
                printf("          %-22s %-7s %s\n", check, ctl_json_str(c, "result"),
                       ctl_json_str(c, "reason"));
}

int ctl_status_main(int argc, char **argv)
{
        const char *socket_path;
        bool json;
        int r = ctl_parse_agent_options(
                argc, argv, "hogoctl status",
                "Usage: hogoctl status [--json] [--socket PATH]\n\n"
                "Asks the running hogo-agent (root or the control group only) for its version,\n"
                "policy, sources, spool and last upload.\n"
                "  --json         print the agent's answer as JSON\n"
                "  --socket PATH  control socket (default " CTL_DEFAULT_SOCKET ")\n",
                &socket_path, &json);
        if (r <= 0)
                return r == 0 ? CTL_EXIT_OK : CTL_EXIT_USAGE;

        _cleanup_json_ json_object *status = NULL;
        if (ctl_agent_status(socket_path, "hogoctl status",
                             "Is hogo-agent running (systemctl status hogo-agent), and are you "
                             "root or in its control group?",
                             &status) < 0)
                return CTL_EXIT_ERROR;
        if (json)
                printf("%s\n",
                       json_object_to_json_string_ext(status, JSON_C_TO_STRING_PRETTY |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE));
        else
                print_status(status);
        return CTL_EXIT_OK;
}

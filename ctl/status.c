/* status.c — `hogoctl status [--json] [--socket PATH]`: what the running agent says about
 * itself over its control socket (agent/control.h). */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>

#include "agent/control.h"
#include "common/canon_json.h"
#include "common/util.h"
#include "ctl/hogoctl.h"


static const char *str(json_object *o, const char *key)
{
        json_object *v = json_object_object_get(o, key);
        return v ? json_object_get_string(v) : NULL;
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
        printf("          %-10s %s at %s", what, str(a, "result") ? str(a, "result") : "?",
               str(a, "at") ? str(a, "at") : "?");
        if (json_object_object_get(a, "http_status"))
                printf(" (HTTP %lld)", num(a, "http_status"));
        if (str(a, "error"))
                printf(": %s", str(a, "error"));
        printf("\n");
}

static void print_status(json_object *s)
{
        json_object *agent = json_object_object_get(s, "agent");
        printf("agent:    hogo-agent %s, pid %lld, started %s\n", str(agent, "version"),
               num(agent, "pid"), str(agent, "started"));

        json_object *p = json_object_object_get(s, "policy");
        printf("policy:   version %lld (%s), hash %s\n", num(p, "version"), str(p, "origin"),
               str(p, "hash"));
        json_object *rej = json_object_object_get(p, "last_rejected");
        if (rej)
                printf("          last drop refused at %s: %s\n", str(rej, "at"),
                       str(rej, "reason"));

        json_object *sources = json_object_object_get(s, "sources");
        printf("sources:%s\n", json_object_object_length(sources) ? "" : "  (none registered)");
        json_object_object_foreach(sources, name, src)
        {
                printf("          %-10s %s", name, str(src, "state") ? str(src, "state") : "?");
                if (str(src, "reason") && str(src, "reason")[0])
                        printf(": %s", str(src, "reason"));
                printf("\n");
        }

        json_object *sp = json_object_object_get(s, "spool");
        printf("spool:    %s", str(sp, "state"));
        if (str(sp, "error"))
                printf(" (%s)", str(sp, "error"));
        if (json_object_object_get(sp, "depth")) {
                printf(", %lld event(s) not yet acknowledged (seq %lld..%lld, acked %lld)",
                       num(sp, "depth"), num(sp, "first_seq"), num(sp, "last_seq"),
                       num(sp, "acked_seq"));
                printf(", oldest unacknowledged %s", str(sp, "oldest_unacked")
                                                              ? str(sp, "oldest_unacked")
                                                              : "none");
        }
        if (num(sp, "lost_events"))
                printf(", %lld event(s) could not be recorded", num(sp, "lost_events"));
        printf("\n");

        json_object *u = json_object_object_get(s, "uplink");
        if (!u)
                printf("uplink:   no report yet (the uplink has not written uplink-status.json)\n");
        else if (str(u, "error") && !json_object_object_get(u, "updated"))
                printf("uplink:   %s\n", str(u, "error"));
        else {
                printf("uplink:   updated %s, acked seq %lld\n", str(u, "updated"),
                       num(u, "acked_seq"));
                print_attempt("upload", json_object_object_get(u, "upload"));
                print_attempt("heartbeat", json_object_object_get(u, "heartbeat"));
        }

        json_object *checks = json_object_object_get(s, "checks");
        printf("checks:\n");
        json_object_object_foreach(checks, check, c)
                printf("          %-22s %-7s %s\n", check, str(c, "result"), str(c, "reason"));
}

int ctl_status_main(int argc, char **argv)
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
                case 'h':
                        printf("Usage: hogoctl status [--json] [--socket PATH]\n\n"
                               "Asks the running hogo-agent (root or the control group only) "
                               "for its version, policy,\nsources, spool and last upload.\n"
                               "  --json         print the agent's answer as JSON\n"
                               "  --socket PATH  control socket (default " CTL_DEFAULT_SOCKET
                               ")\n");
                        return CTL_EXIT_OK;
                default: return CTL_EXIT_USAGE;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "hogoctl status: unexpected argument '%s'\n", argv[optind]);
                return CTL_EXIT_USAGE;
        }

        _cleanup_json_ json_object *request = json_object_new_object();
        json_object_object_add(request, "command", json_object_new_string("status"));
        _cleanup_json_ json_object *answer = NULL;
        int r = control_call(socket_path, request, &answer);
        if (r < 0) {
                errno = -r;
                fprintf(stderr,
                        "hogoctl status: cannot ask the agent at %s: %m\n"
                        "Is hogo-agent running (systemctl status hogo-agent), and are you root "
                        "or in its control group?\n",
                        socket_path);
                return CTL_EXIT_ERROR;
        }
        json_object *status = json_object_object_get(answer, "status");
        if (!json_object_get_boolean(json_object_object_get(answer, "ok")) || !status) {
                fprintf(stderr, "hogoctl status: the agent refused: %s\n",
                        str(answer, "error") ? str(answer, "error") : "no reason given");
                return CTL_EXIT_ERROR;
        }
        if (json)
                printf("%s\n", json_object_to_json_string_ext(
                                       status, JSON_C_TO_STRING_PRETTY |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
        else
                print_status(status);
        return CTL_EXIT_OK;
}

/* hogoctl.c — entry point: dispatches to the area named by the first argument. */
#include <locale.h>
#include <stdio.h>

#include "common/log.h"
#include "common/util.h"
#include "ctl/hogoctl.h"

static int ctl_version_main(int argc, char **argv)
{
        printf("hogoctl %s\n", HOGO_VERSION);
        return CTL_EXIT_OK;
}

static const struct ctl_command commands[] = {
        { "version", "print hogoctl's version", ctl_version_main },
        { "spool", "verify an agent spool's CRCs and hash chain", ctl_spool_main },
        { "status", "ask the running agent: policy, sources, spool, last upload", ctl_status_main },
        { "media", "USB devices and their decisions; allowlist entries for sticks", ctl_media_main },
        { "policy", "validate, sign, verify and explain policies; policy keys", ctl_policy_main },
        { "ca", "make the collector's CA, server certificate and policy key", ctl_ca_main },
        { "token", "create one-time enrollment tokens", ctl_token_main },
        { "agent", "revoke an enrolled agent", ctl_agent_main },
        { "mark", "mark files as holding personal information", ctl_mark_main },
        { "unmark", "remove the mark from files", ctl_unmark_main },
        { "classify", "say whether files hold personal information", ctl_classify_main },
};

bool ctl_wants_help(int argc, char **argv)
{
        for (int i = 1; i < argc; i++)
                if (STREQ(argv[i], "-h") || STREQ(argv[i], "--help"))
                        return true;
        return false;
}

static void usage(FILE *f)
{
        fprintf(f, "Usage: hogoctl COMMAND [ARGS...]\n\n"
                   "Administers hogo: policies, the collector's CA and tokens, the agent.\n\n"
                   "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
        fprintf(f, "\nRun 'hogoctl COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
        setlocale(LC_ALL, "");
        log_setup("hogoctl", LOG_TARGET_STDERR, LOG_WARNING);

        if (argc < 2) {
                usage(stderr);
                return CTL_EXIT_USAGE;
        }
        if (STREQ(argv[1], "-h") || STREQ(argv[1], "--help")) {
                usage(stdout);
                return CTL_EXIT_OK;
        }
        if (STREQ(argv[1], "--version")) {
                printf("hogoctl %s\n", HOGO_VERSION);
                return CTL_EXIT_OK;
        }
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (STREQ(argv[1], commands[i].name))
                        return commands[i].main(argc - 1, argv + 1);

        fprintf(stderr, "hogoctl: unknown command '%s'; see 'hogoctl --help'\n", argv[1]);
        return CTL_EXIT_USAGE;
}

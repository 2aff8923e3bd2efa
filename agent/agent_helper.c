/* agent_helper.c — see agent_helper.h. */
#include "agent/agent_helper.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/util.h"

#ifndef HOGO_LIBEXECDIR
#define HOGO_LIBEXECDIR "/usr/local/libexec"
#endif

extern char **environ;

int agent_helper_path(const struct agent_config *config, char **ret)
{
        if (config->helper) {
                char *p = strdup(config->helper);
                if (!p)
                        return -ENOMEM;
                *ret = p;
                return 0;
        }
        /* a build tree: the helper is built beside hogo-agent. Only a file owned by the
         * agent's user and writable by no one else is taken from there. */
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n > 0) {
                self[n] = '\0';
                char *slash = strrchr(self, '/');
                if (slash) {
                        *slash = '\0';
                        char *p = NULL;
                        struct stat st;
                        if (asprintf(&p, "%s/%s", self, AGENT_HELPER_NAME) < 0)
                                return -ENOMEM;
                        if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
                            (st.st_mode & (S_IWGRP | S_IWOTH)) == 0) {
                                *ret = p;
                                return 0;
                        }
                        free(p);
                }
        }
        char *p = strdup(HOGO_LIBEXECDIR "/hogo/" AGENT_HELPER_NAME);
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

int agent_helper_input(const char *name, const void *data, size_t len)
{
        _cleanup_close_ int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return negative_errno();
        int r = write_all(fd, data, len);
        if (r < 0)
                return r;
        if (lseek(fd, 0, SEEK_SET) < 0)
                return negative_errno();
        /* what the helper reads is exactly what the agent wrote */
        (void)fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
        return TAKE_FD(fd);
}

int agent_helper_spawn(const char *path, char *const argv[], int stdin_fd, int stdout_fd,
                       pid_t *ret_pid)
{
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        int r = posix_spawn_file_actions_init(&fa);
        if (r != 0)
                return -r;
        r = posix_spawnattr_init(&attr);
        if (r != 0) {
                posix_spawn_file_actions_destroy(&fa);
                return -r;
        }
        sigset_t none, all;
        sigemptyset(&none);
        sigfillset(&all);
        /* the agent blocks the signals its signalfd reads; the helper must not inherit that,
         * nor any ignored signal. Its own process group: a stuck grandchild dies with it. */
        r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                                    POSIX_SPAWN_SETPGROUP);
        if (r == 0)
                r = posix_spawnattr_setsigmask(&attr, &none);
        if (r == 0)
                r = posix_spawnattr_setsigdefault(&attr, &all);
        if (r == 0)
                r = posix_spawnattr_setpgroup(&attr, 0);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(&fa, stdin_fd, STDIN_FILENO);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(&fa, stdout_fd, STDOUT_FILENO);
        /* the agent's fds are O_CLOEXEC; this also covers one that is not */
        if (r == 0)
                r = posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
        pid_t pid = 0;
        if (r == 0)
                r = posix_spawn(&pid, path, &fa, &attr, argv, environ);
        posix_spawnattr_destroy(&attr);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0)
                return -r;
        *ret_pid = pid;
        return 0;
}

/* dconf_lock.c — see dconf_lock.h. */
#include "agent/dconf_lock.h"

#include <inttypes.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/util.h"

#define GNOME_SCHEMA "usr/share/glib-2.0/schemas/org.gnome.desktop.screensaver.gschema.xml"
#define DCONF_PROFILE "etc/dconf/profile/user"
#define DCONF_SETTINGS "etc/dconf/db/local.d/00-hogo-screenlock"
#define DCONF_LOCKS "etc/dconf/db/local.d/locks/00-hogo-screenlock"
#define DCONF_MAX_FILE (64 * 1024)

static const char *const locked_keys[] = {
        "/org/gnome/desktop/session/idle-delay",
        "/org/gnome/desktop/screensaver/lock-enabled",
        "/org/gnome/desktop/screensaver/lock-delay",
};

static char *path_under(const char *root, const char *rel)
{
        char *p = NULL;
        size_t n = strlen(root);
        bool slash = n > 0 && root[n - 1] == '/';
        if (asprintf(&p, "%s%s%s", root, slash ? "" : "/", rel) < 0)
                return NULL;
        return p;
}

static bool gnome_present(const char *root)
{
        _cleanup_free_ char *p = path_under(root, GNOME_SCHEMA);
        return p && access(p, F_OK) == 0;
}

static int write_under(const char *root, const char *rel, const char *text)
{
        _cleanup_free_ char *p = path_under(root, rel);
        if (!p)
                return -ENOMEM;
        _cleanup_free_ char *dir = strdup(p);
        if (!dir)
                return -ENOMEM;
        *strrchr(dir, '/') = '\0';
        int r = mkdir_parents(dir, 0755);
        if (r < 0)
                return r;
        return write_file_atomic(p, text, strlen(text), 0644);
}

static bool profile_has_local_db(const char *text)
{
        for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strncmp(l, "system-db:local", 15) == 0 && (l[15] == '\n' || l[15] == '\0'))
                        return true;
        return false;
}

static int ensure_profile(const char *root)
{
        _cleanup_free_ char *p = path_under(root, DCONF_PROFILE);
        if (!p)
                return -ENOMEM;
        _cleanup_free_ char *text = NULL;
        int r = read_file_bounded(p, DCONF_MAX_FILE, &text, NULL);
        if (r == -ENOENT)
                return write_under(root, DCONF_PROFILE, "user-db:user\nsystem-db:local\n");
        if (r < 0)
                return r;
        if (profile_has_local_db(text))
                return 0;
        /* keep the site's own profile, and add our database below the user's */
        _cleanup_free_ char *joined = NULL;
        size_t n = strlen(text);
        if (asprintf(&joined, "%s%ssystem-db:local\n", text,
                     n > 0 && text[n - 1] != '\n' ? "\n" : "") < 0)
                return -ENOMEM;
        return write_under(root, DCONF_PROFILE, joined);
}

static int run_dconf_update(void)
{
        const char *dconf = "/usr/bin/dconf";
        if (access(dconf, X_OK) < 0)
                return 0; /* the keyfiles are in place; dconf compiles them when installed */
        char *argv[] = { (char *)"dconf", (char *)"update", NULL };
        pid_t pid;
        int r = posix_spawn(&pid, dconf, NULL, NULL, argv, NULL);
        if (r != 0)
                return -r;
        int status;
        if (waitpid(pid, &status, 0) < 0)
                return negative_errno();
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

int dconf_lock_install(const char *root, const struct policy_screen_lock *lock)
{
        if (!gnome_present(root))
                return -ENOENT;

        _cleanup_free_ char *settings = NULL;
        if (asprintf(&settings,
                     "# Written by hogo-agent from the policy (screen_lock); edits are replaced.\n"
                     "[org/gnome/desktop/session]\n"
                     "idle-delay=uint32 %" PRIu32 "\n"
                     "\n"
                     "[org/gnome/desktop/screensaver]\n"
                     "lock-enabled=true\n"
                     "lock-delay=uint32 0\n",
                     lock->idle_lock_seconds) < 0)
                return -ENOMEM;

        char locks[512] = "";
        for (size_t i = 0; i < ELEMENTSOF(locked_keys); i++) {
                strncat(locks, locked_keys[i], sizeof locks - strlen(locks) - 2);
                strcat(locks, "\n");
        }

        int r;
        if ((r = ensure_profile(root)) < 0 || (r = write_under(root, DCONF_SETTINGS, settings)) < 0 ||
            (r = write_under(root, DCONF_LOCKS, locks)) < 0)
                return r;
        if (STREQ(root, "/") && (r = run_dconf_update()) < 0)
                return log_warning_errno(r, "dconf update failed: %m");
        return 1;
}

/* The value of key in [section] of a dconf keyfile, copied into out. */
static bool keyfile_get(const char *text, const char *section, const char *key, char *out,
                        size_t out_len)
{
        bool in_section = false;
        size_t klen = strlen(key);
        for (const char *l = text; l && *l;) {
                const char *end = strchr(l, '\n');
                size_t len = end ? (size_t)(end - l) : strlen(l);
                if (len > 0 && l[0] == '[') {
                        in_section = len == strlen(section) + 2 &&
                                     strncmp(l + 1, section, strlen(section)) == 0;
                } else if (in_section && len > klen && strncmp(l, key, klen) == 0 &&
                           l[klen] == '=') {
                        size_t vlen = MIN(len - klen - 1, out_len - 1);
                        memcpy(out, l + klen + 1, vlen);
                        out[vlen] = '\0';
                        return true;
                }
                l = end ? end + 1 : NULL;
        }
        return false;
}

static bool parse_uint32_value(const char *v, uint32_t *ret)
{
        if (strncmp(v, "uint32 ", 7) == 0)
                v += 7;
        char *end;
        errno = 0;
        unsigned long n = strtoul(v, &end, 10);
        if (errno || end == v || *end || n > UINT32_MAX)
                return false;
        *ret = (uint32_t)n;
        return true;
}

int dconf_lock_check(const char *root, const struct policy_screen_lock *lock, char *reason,
                     size_t reason_len)
{
        if (!gnome_present(root)) {
                snprintf(reason, reason_len,
                         "no GNOME desktop installed; the desktop's own lock settings are not "
                         "managed here");
                return -ENOENT;
        }
        _cleanup_free_ char *ppath = path_under(root, DCONF_PROFILE),
                            *spath = path_under(root, DCONF_SETTINGS),
                            *lpath = path_under(root, DCONF_LOCKS);
        if (!ppath || !spath || !lpath)
                return -ENOMEM;
        _cleanup_free_ char *profile = NULL, *settings = NULL, *locks = NULL;
        int r;
        if ((r = read_file_bounded(ppath, DCONF_MAX_FILE, &profile, NULL)) < 0 ||
            (r = read_file_bounded(spath, DCONF_MAX_FILE, &settings, NULL)) < 0 ||
            (r = read_file_bounded(lpath, DCONF_MAX_FILE, &locks, NULL)) < 0) {
                snprintf(reason, reason_len, "the dconf lock settings cannot be read: %s",
                         strerror(-r));
                return r == -ENOENT ? 0 : r;
        }
        if (!profile_has_local_db(profile)) {
                snprintf(reason, reason_len, "%s does not include system-db:local", ppath);
                return 0;
        }
        char v[64];
        uint32_t n;
        if (!keyfile_get(settings, "org/gnome/desktop/session", "idle-delay", v, sizeof v) ||
            !parse_uint32_value(v, &n) || n == 0 || n > lock->idle_lock_seconds) {
                snprintf(reason, reason_len, "idle-delay is not at most %" PRIu32 " s",
                         lock->idle_lock_seconds);
                return 0;
        }
        if (!keyfile_get(settings, "org/gnome/desktop/screensaver", "lock-enabled", v, sizeof v) ||
            STRNEQ(v, "true")) {
                snprintf(reason, reason_len, "lock-enabled is not true");
                return 0;
        }
        if (!keyfile_get(settings, "org/gnome/desktop/screensaver", "lock-delay", v, sizeof v) ||
            !parse_uint32_value(v, &n) || n != 0) {
                snprintf(reason, reason_len, "lock-delay is not 0");
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(locked_keys); i++)
                if (!strstr(locks, locked_keys[i])) {
                        snprintf(reason, reason_len, "%s is not locked", locked_keys[i]);
                        return 0;
                }
        snprintf(reason, reason_len,
                 "GNOME locks the screen after %" PRIu32 " s idle; users cannot weaken it",
                 lock->idle_lock_seconds);
        return 1;
}

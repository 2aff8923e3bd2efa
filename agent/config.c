/* config.c — parsing agent.json, see config.h. */
#include "agent/config.h"

#include <stdarg.h>
#include <syslog.h>

#include "common/canon_json.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/util.h"

/* Error lines are collected in a memory stream so that every problem of a file is reported
 * at once, not one per attempt. */
struct config_errors {
        FILE *f;
        char *text;
        size_t len;
        unsigned count;
};

static void config_error(struct config_errors *e, const char *path, const char *fmt, ...)
        _printf_(3, 4);
static void config_error(struct config_errors *e, const char *path, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fprintf(e->f, "%s: ", path);
        vfprintf(e->f, fmt, ap);
        fputc('\n', e->f);
        va_end(ap);
        e->count++;
}

static const char *json_type_word(json_object *o)
{
        switch (json_object_get_type(o)) {
        case json_type_null: return "null";
        case json_type_boolean: return "boolean";
        case json_type_double:
        case json_type_int: return "number";
        case json_type_object: return "object";
        case json_type_array: return "array";
        case json_type_string: return "string";
        }
        return "unknown";
}

static int config_string(struct config_errors *e, const char *path, json_object *v,
                         char **ret)
{
        if (!json_object_is_type(v, json_type_string)) {
                config_error(e, path, "expected a string, got %s", json_type_word(v));
                return -EINVAL;
        }
        const char *s = json_object_get_string(v);
        if (s[0] == '\0') {
                config_error(e, path, "must not be empty");
                return -EINVAL;
        }
        char *copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        free(*ret);
        *ret = copy;
        return 0;
}

/* Paths must be absolute: the daemon's working directory is "/" and a relative path would
 * silently mean something else under systemd than in a shell. */
static int config_path(struct config_errors *e, const char *path, json_object *v, char **ret)
{
        if (json_object_is_type(v, json_type_string) && json_object_get_string(v)[0] != '/' &&
            json_object_get_string(v)[0] != '\0') {
                config_error(e, path, "expected an absolute path, got \"%s\"",
                             json_object_get_string(v));
                return -EINVAL;
        }
        return config_string(e, path, v, ret);
}

static int config_notify(struct config_errors *e, json_object *notify, struct agent_config *c)
{
        if (!json_object_is_type(notify, json_type_object)) {
                config_error(e, "notify", "expected an object, got %s", json_type_word(notify));
                return -EINVAL;
        }
        json_object_object_foreach(notify, key, v)
        {
                char path[128];
                snprintf(path, sizeof path, "notify.%s", key);
                if (STREQ(key, "contact"))
                        config_string(e, path, v, &c->notify.contact);
                else if (STREQ(key, "session_bus_address"))
                        config_string(e, path, v, &c->notify.session_bus_address);
                else if (STREQ(key, "locale_dir"))
                        config_path(e, path, v, &c->notify.locale_dir);
                else if (STREQ(key, "fallback")) {
                        const char *s = json_object_is_type(v, json_type_string)
                                                ? json_object_get_string(v)
                                                : NULL;
                        if (s && STREQ(s, "terminals"))
                                c->notify.fallback = NOTIFY_FALLBACK_TERMINALS;
                        else if (s && STREQ(s, "none"))
                                c->notify.fallback = NOTIFY_FALLBACK_NONE;
                        else
                                config_error(e, path,
                                             "expected \"terminals\" or \"none\", got %s",
                                             s ? s : json_type_word(v));
                } else
                        config_error(e, path, "unknown key");
        }
        return 0;
}

static int config_set_defaults(struct agent_config *c)
{
        static const struct {
                size_t offset;
                const char *value;
        } defaults[] = {
                { offsetof(struct agent_config, spool_dir), "/var/lib/hogo/spool" },
                { offsetof(struct agent_config, policy_dir), "/var/lib/hogo/policy" },
                { offsetof(struct agent_config, policy_pubkey), "/etc/hogo/policy.pub" },
                { offsetof(struct agent_config, state_dir), "/var/lib/hogo/agent" },
                { offsetof(struct agent_config, control_socket), "/run/hogo/agent.sock" },
                { offsetof(struct agent_config, posture_file), AGENT_POSTURE_DEFAULT_PATH },
                { offsetof(struct agent_config, notify.contact),
                  "情報システム担当 (Information Systems)" },
                { offsetof(struct agent_config, notify.session_bus_address),
                  "unix:path=/run/user/%U/bus" },
                { offsetof(struct agent_config, notify.locale_dir), HOGO_LOCALEDIR },
                { offsetof(struct agent_config, sysfs_root), "/" },
                { offsetof(struct agent_config, desktop_root), "/" },
        };
        for (size_t i = 0; i < ELEMENTSOF(defaults); i++) {
                char **slot = (char **)((char *)c + defaults[i].offset);
                *slot = strdup(defaults[i].value);
                if (!*slot)
                        return -ENOMEM;
        }
        c->notify.fallback = NOTIFY_FALLBACK_TERMINALS;
        c->log_level = LOG_INFO;
        return 0;
}

static void config_members(struct config_errors *e, json_object *root, struct agent_config *c)
{
        static const struct {
                const char *key;
                size_t offset;
        } paths[] = {
                { "spool_dir", offsetof(struct agent_config, spool_dir) },
                { "policy_dir", offsetof(struct agent_config, policy_dir) },
                { "policy_pubkey", offsetof(struct agent_config, policy_pubkey) },
                { "state_dir", offsetof(struct agent_config, state_dir) },
                { "control_socket", offsetof(struct agent_config, control_socket) },
                { "posture_file", offsetof(struct agent_config, posture_file) },
                { "sysfs_root", offsetof(struct agent_config, sysfs_root) },
                { "desktop_root", offsetof(struct agent_config, desktop_root) },
                { "helper", offsetof(struct agent_config, helper) },
        };

        json_object_object_foreach(root, key, v)
        {
                bool known = false;
                for (size_t i = 0; i < ELEMENTSOF(paths); i++)
                        if (STREQ(key, paths[i].key)) {
                                config_path(e, key, v, (char **)((char *)c + paths[i].offset));
                                known = true;
                        }
                if (known)
                        continue;
                if (STREQ(key, "control_group"))
                        config_string(e, key, v, &c->control_group);
                else if (STREQ(key, "notify"))
                        config_notify(e, v, c);
                else if (STREQ(key, "log_level")) {
                        int level = json_object_is_type(v, json_type_string)
                                            ? log_level_from_string(json_object_get_string(v))
                                            : -EINVAL;
                        if (level < 0)
                                config_error(e, key,
                                             "expected one of \"debug\", \"info\", \"notice\", "
                                             "\"warning\", \"err\"");
                        else
                                c->log_level = level;
                } else if (STREQ(key, "spool_max_bytes")) {
                        /* below 1 MiB the spool could not hold one segment of events */
                        if (!json_object_is_type(v, json_type_int))
                                config_error(e, key, "expected an integer, got %s",
                                             json_type_word(v));
                        else if (json_object_get_int64(v) < (1 << 20))
                                config_error(e, key, "must be at least 1048576 (1 MiB)");
                        else
                                c->spool_max_bytes = (uint64_t)json_object_get_int64(v);
                } else
                        config_error(e, key, "unknown key");
        }
}

int agent_config_from_json(json_object *root, struct agent_config **ret, char **ret_errors)
{
        struct config_errors e = { 0 };
        e.f = open_memstream(&e.text, &e.len);
        if (!e.f)
                return -ENOMEM;

        struct agent_config *c = calloc(1, sizeof *c);
        int r = c ? config_set_defaults(c) : -ENOMEM;
        if (r < 0) {
                fclose(e.f);
                free(e.text);
                agent_config_free(c);
                return r;
        }

        if (!json_object_is_type(root, json_type_object))
                config_error(&e, "(top level)", "expected an object, got %s",
                             json_type_word(root));
        else
                config_members(&e, root, c);

        fclose(e.f);
        if (e.count > 0) {
                agent_config_free(c);
                if (ret_errors)
                        *ret_errors = e.text;
                else
                        free(e.text);
                return -EINVAL;
        }
        free(e.text);
        *ret = c;
        return 0;
}

/* One error line for a file that could not be used at all. */
static int config_file_error(char **ret_errors, int r, const char *fmt, ...) _printf_(3, 4);
static int config_file_error(char **ret_errors, int r, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *msg = NULL;
        errno = -r; /* for %m */
        int n = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        if (ret_errors)
                *ret_errors = msg;
        else
                free(msg);
        return r;
}

int agent_config_load(const char *path, struct agent_config **ret, char **ret_errors)
{
        _cleanup_free_ char *data = NULL;
        int r = read_file_bounded(path, AGENT_CONFIG_MAX_SIZE, &data, NULL);
        if (r == -EFBIG)
                return config_file_error(ret_errors, r, "%s: larger than %u bytes\n", path,
                                         AGENT_CONFIG_MAX_SIZE);
        if (r < 0)
                return config_file_error(ret_errors, r, "%s: cannot read: %m\n", path);

        enum json_tokener_error jerr = json_tokener_success;
        _cleanup_json_ json_object *root = json_tokener_parse_verbose(data, &jerr);
        if (jerr != json_tokener_success)
                return config_file_error(ret_errors, -EINVAL, "%s: not valid JSON: %s\n", path,
                                         json_tokener_error_desc(jerr));
        return agent_config_from_json(root, ret, ret_errors);
}

void agent_config_free(struct agent_config *c)
{
        if (!c)
                return;
        free(c->spool_dir);
        free(c->policy_dir);
        free(c->policy_pubkey);
        free(c->state_dir);
        free(c->control_socket);
        free(c->posture_file);
        free(c->control_group);
        free(c->notify.contact);
        free(c->notify.session_bus_address);
        free(c->notify.locale_dir);
        free(c->sysfs_root);
        free(c->desktop_root);
        free(c->helper);
        free(c);
}

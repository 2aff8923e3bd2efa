/* config.c — see config.h. */
#include "agent/uplink/config.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <syslog.h>

#include "agent/config.h"
#include "common/canon_json.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/util.h"

#define CONFIG_MAX_BYTES (64u << 10)

_printf_(3, 4) static int config_error(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static int parse_path(const char *key, json_object *v, char **ret, char *err, size_t errlen)
{
        if (!json_object_is_type(v, json_type_string))
                return config_error(err, errlen, "\"%s\" must be a string", key);
        const char *s = json_object_get_string(v);
        if (s[0] != '/')
                return config_error(err, errlen, "\"%s\" must be an absolute path, not \"%s\"", key,
                                    s);
        free(*ret);
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static int parse_uint(const char *key, json_object *v, unsigned min, unsigned max, unsigned *ret,
                      char *err, size_t errlen)
{
        if (!json_object_is_type(v, json_type_int))
                return config_error(err, errlen, "\"%s\" must be an integer", key);
        int64_t n = json_object_get_int64(v);
        if (n < min || n > max)
                return config_error(err, errlen, "\"%s\" is %lld; it must be between %u and %u",
                                    key, (long long)n, min, max);
        *ret = (unsigned)n;
        return 0;
}

static int parse_urls(const char *key, json_object *v, char **urls, size_t *n, char *err,
                      size_t errlen)
{
        if (!json_object_is_type(v, json_type_array))
                return config_error(err, errlen, "\"%s\" must be a list of https:// URLs", key);
        size_t len = json_object_array_length(v);
        if (len == 0 || len > UPLINK_MAX_URLS)
                return config_error(err, errlen, "\"%s\" must hold 1 to %d URLs", key,
                                    UPLINK_MAX_URLS);
        for (size_t i = 0; i < len; i++) {
                json_object *u = json_object_array_get_idx(v, i);
                const char *s =
                    json_object_is_type(u, json_type_string) ? json_object_get_string(u) : "";
                /* plain http would send the agent's events in clear and trust anyone */
                if (strncmp(s, "https://", 8) != 0 || s[8] == '\0' || s[8] == '/')
                        return config_error(err, errlen, "\"%s\"[%zu] is not an https:// URL", key,
                                            i);
                if (strchr(s + 8, '/') && strchr(s + 8, '/')[1] != '\0')
                        return config_error(
                            err, errlen, "\"%s\"[%zu] must be scheme://host[:port] without a path",
                            key, i);
        }
        for (size_t i = 0; i < *n; i++)
                free(urls[i]);
        *n = 0;
        for (size_t i = 0; i < len; i++) {
                const char *s = json_object_get_string(json_object_array_get_idx(v, i));
                size_t l = strlen(s);
                if (s[l - 1] == '/')
                        l--;
                urls[i] = strndup(s, l);
                if (!urls[i])
                        return -ENOMEM;
                *n = i + 1;
        }
        return 0;
}

/* One integer member of a section: its key, range and place in struct uplink_config. */
struct uint_field {
        const char *key;
        unsigned min, max;
        size_t offset;
};

#define UINT_FIELD(k, lo, hi, member)                                                              \
        {                                                                                          \
                k, lo, hi, offsetof(struct uplink_config, member)                                  \
        }

static const struct uint_field reporting_fields[] = {
    UINT_FIELD("heartbeat_seconds", 1, 86400, heartbeat_seconds),
    UINT_FIELD("batch_max_events", 1, UPLINK_BATCH_MAX_EVENTS, batch_max_events),
    {},
};
static const struct uint_field retry_fields[] = {
    UINT_FIELD("min_ms", 10, 3600000, retry_min_ms),
    UINT_FIELD("max_ms", 10, 86400000, retry_max_ms),
    {},
};

/* An object of integer members ("reporting", "retry"); anything else in it is an error. */
static int parse_uint_section(const char *section, json_object *o, const struct uint_field *fields,
                              struct uplink_config *c, char *err, size_t errlen)
{
        if (!json_object_is_type(o, json_type_object))
                return config_error(err, errlen, "\"%s\" must be an object", section);
        json_object_object_foreach (o, key, v) {
                const struct uint_field *f = fields;
                while (f->key && STRNEQ(f->key, key))
                        f++;
                char path[128];
                snprintf(path, sizeof(path), "%s.%s", section, key);
                if (!f->key)
                        return config_error(err, errlen, "unknown key \"%s\"", path);
                int r = parse_uint(path, v, f->min, f->max, (unsigned *)((char *)c + f->offset),
                                   err, errlen);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_member(const char *key, json_object *v, struct uplink_config *c, char *err,
                        size_t errlen)
{
        static const struct {
                const char *key;
                size_t offset;
        } paths[] = {
            {"ca", offsetof(struct uplink_config, ca)},
            {"state_dir", offsetof(struct uplink_config, state_dir)},
            {"spool_dir", offsetof(struct uplink_config, spool_dir)},
            {"policy_drop_dir", offsetof(struct uplink_config, policy_drop_dir)},
            {"posture_file", offsetof(struct uplink_config, posture_file)},
            {"token_file", offsetof(struct uplink_config, token_file)},
        };
        for (size_t i = 0; i < ELEMENTSOF(paths); i++)
                if (STREQ(key, paths[i].key))
                        return parse_path(key, v, (char **)((char *)c + paths[i].offset), err,
                                          errlen);

        if (STREQ(key, "collectors"))
                return parse_urls(key, v, c->collectors, &c->n_collectors, err, errlen);
        if (STREQ(key, "enroll_urls"))
                return parse_urls(key, v, c->enroll_urls, &c->n_enroll_urls, err, errlen);
        if (STREQ(key, "reporting"))
                return parse_uint_section(key, v, reporting_fields, c, err, errlen);
        if (STREQ(key, "retry"))
                return parse_uint_section(key, v, retry_fields, c, err, errlen);
        if (STREQ(key, "poll_ms"))
                return parse_uint(key, v, 10, 60000, &c->poll_ms, err, errlen);
        if (STREQ(key, "timeout_seconds"))
                return parse_uint(key, v, 1, 600, &c->timeout_seconds, err, errlen);
        if (STREQ(key, "log_level")) {
                int level = json_object_is_type(v, json_type_string)
                                ? log_level_from_string(json_object_get_string(v))
                                : -EINVAL;
                if (level < 0)
                        return config_error(
                            err, errlen,
                            "\"log_level\" must be one of debug, info, notice, warning, err");
                c->log_level = level;
                return 0;
        }
        return config_error(err, errlen, "unknown key \"%s\"", key);
}

int uplink_config_parse(const char *text, struct uplink_config *ret, char *err, size_t errlen)
{
        struct uplink_config c = {
            .heartbeat_seconds = 300,
            .batch_max_events = 500,
            .retry_min_ms = 1000,
            .retry_max_ms = 300000,
            .poll_ms = 1000,
            .timeout_seconds = 30,
            .log_level = LOG_INFO,
        };

        enum json_tokener_error jerr;
        _cleanup_json_ json_object *root = json_tokener_parse_verbose(text, &jerr);
        int r;
        if (!root)
                r = config_error(err, errlen, "not valid JSON: %s", json_tokener_error_desc(jerr));
        else if (!json_object_is_type(root, json_type_object))
                r = config_error(err, errlen, "the configuration must be a JSON object");
        else {
                r = 0;
                json_object_object_foreach (root, key, v) {
                        r = parse_member(key, v, &c, err, errlen);
                        if (r < 0)
                                break;
                }
        }
        if (r == 0) {
                if (c.n_collectors == 0)
                        r = config_error(err, errlen, "\"collectors\" is missing");
                else if (!c.ca)
                        r = config_error(err, errlen,
                                         "\"ca\" (the hogo CA certificate) is missing");
                else if (!c.state_dir)
                        r = config_error(err, errlen, "\"state_dir\" is missing");
                else if (!c.spool_dir)
                        r = config_error(err, errlen, "\"spool_dir\" is missing");
                else if (c.retry_max_ms < c.retry_min_ms)
                        r = config_error(err, errlen,
                                         "\"retry.max_ms\" is smaller than \"retry.min_ms\"");
        }
        if (r == 0 && !c.posture_file &&
            !(c.posture_file = strdup(AGENT_POSTURE_DEFAULT_PATH))) {
                c.posture_file = NULL;
                r = -ENOMEM;
        }
        if (r < 0) {
                uplink_config_free(&c);
                return r;
        }
        *ret = c;
        return 0;
}

int uplink_config_load(const char *path, struct uplink_config *ret)
{
        _cleanup_free_ char *text = NULL;
        int r = read_file_bounded(path, CONFIG_MAX_BYTES, &text, NULL);
        if (r < 0)
                return log_error_errno(r, "Cannot read the configuration %s: %m", path);
        char err[256];
        r = uplink_config_parse(text, ret, err, sizeof(err));
        if (r < 0)
                return log_error_errno(
                    r, "Configuration %s is not valid: %s. Nothing was started; fix the file.",
                    path, err);
        return 0;
}

void uplink_config_free(struct uplink_config *c)
{
        for (size_t i = 0; i < c->n_collectors; i++)
                free(c->collectors[i]);
        for (size_t i = 0; i < c->n_enroll_urls; i++)
                free(c->enroll_urls[i]);
        free(c->ca);
        free(c->state_dir);
        free(c->spool_dir);
        free(c->policy_drop_dir);
        free(c->posture_file);
        free(c->token_file);
        *c = (struct uplink_config){0};
}

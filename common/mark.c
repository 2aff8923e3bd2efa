/* mark.c — see mark.h. */
#include "common/mark.h"

#include <fnmatch.h>
#include <sys/xattr.h>

#include "common/util.h"
#include "policy/policy.h"

bool mark_label_valid(const char *label)
{
        size_t n = 0;
        for (const char *p = label; *p; p++, n++) {
                char c = *p;
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '.' || c == '-'))
                        return false;
        }
        return n >= 1 && n <= MARK_LABEL_MAX;
}

static int label_from_value(ssize_t n, char *buf, char ret_label[static MARK_LABEL_MAX + 1])
{
        if (n < 0) {
                if (errno == ENODATA || errno == ENOTSUP)
                        return 0;
                if (errno == ERANGE) { /* longer than any label: still a mark */
                        strcpy(ret_label, "invalid");
                        return 1;
                }
                return negative_errno();
        }
        buf[n] = '\0';
        /* a value written by someone else may end in a newline or NUL */
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\0'))
                buf[--n] = '\0';
        strcpy(ret_label, mark_label_valid(buf) ? buf : "invalid");
        return 1;
}

int mark_label_fd(int fd, const char *xattr, char ret_label[static MARK_LABEL_MAX + 1])
{
        char buf[MARK_LABEL_MAX + 2];
        ssize_t n = fgetxattr(fd, xattr, buf, sizeof buf - 1);
        return label_from_value(n, buf, ret_label);
}

int mark_label_path(const char *path, const char *xattr, char ret_label[static MARK_LABEL_MAX + 1])
{
        char buf[MARK_LABEL_MAX + 2];
        ssize_t n = lgetxattr(path, xattr, buf, sizeof buf - 1);
        return label_from_value(n, buf, ret_label);
}

bool mark_glob_match(const char *pattern, const char *path)
{
        const char *p = pattern, *s = path;
        while (*p) {
                if (p[0] == '*' && p[1] == '*') {
                        while (*p == '*')
                                p++;
                        if (!*p)
                                return true;
                        for (const char *t = s;; t++) {
                                if (mark_glob_match(p, t))
                                        return true;
                                if (!*t)
                                        return false;
                        }
                }
                if (*p == '*') {
                        p++;
                        for (const char *t = s;; t++) {
                                if (mark_glob_match(p, t))
                                        return true;
                                if (!*t || *t == '/')
                                        return false;
                        }
                }
                if (*p == '[') {
                        /* one character against a set: let fnmatch judge the bracket */
                        const char *close = strchr(p + 2, ']');
                        if (!close || !*s || *s == '/')
                                return false;
                        char set[256], one[2] = { *s, 0 };
                        size_t n = (size_t)(close - p) + 1;
                        if (n >= sizeof set)
                                return false;
                        memcpy(set, p, n);
                        set[n] = '\0';
                        if (fnmatch(set, one, 0) != 0)
                                return false;
                        p = close + 1;
                        s++;
                        continue;
                }
                if (!*s || (*p == '?' ? *s == '/' : *p != *s))
                        return false;
                p++;
                s++;
        }
        return !*s;
}

bool mark_path_marked(const struct policy_marked_files *m, const char *path)
{
        for (size_t i = 0; i < m->n_paths; i++)
                if (mark_glob_match(m->paths[i], path))
                        return true;
        return false;
}

void mark_classify_config(const struct policy_marked_files *m, struct classify_config *ret)
{
        struct classify_config cfg;
        classify_config_init(&cfg);
        cfg.enabled[CLASSIFY_MY_NUMBER] = m->my_number;
        cfg.threshold[CLASSIFY_MY_NUMBER] = m->my_number_min_matches;
        for (size_t i = 0; i < m->n_patterns; i++) {
                int k = classify_kind_from_string(policy_content_kind_to_string(m->patterns[i].kind));
                if (k < 0)
                        continue; /* the policy library knows a kind this classifier does not */
                cfg.enabled[k] = true;
                cfg.threshold[k] = m->patterns[i].min_matches;
        }
        if (m->scan_max_bytes > 0)
                cfg.max_prefix = (size_t)MIN(m->scan_max_bytes, (uint64_t)SIZE_MAX / 2);
        *ret = cfg;
}

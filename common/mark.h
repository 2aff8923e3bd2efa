/* mark.h — what makes a file "marked": its label attribute, a policy glob, its content.
 *
 * A file is marked when it carries the label xattr (policy marked_files.xattr, by default
 * user.hogo.label; the value is a label such as "personal" or "my_number"), when its path
 * matches one of marked_files.paths, or — for new files in watched destinations — when the
 * classifier (classify.h) finds personal information in it. hogoctl (mark, unmark,
 * classify) and the agent's files source share these helpers.
 *
 * Globs: `**` matches any run of characters including '/', `*` any run without '/', `?`
 * one character other than '/', `[...]` a set as in fnmatch(3); everything else itself.
 */
#ifndef HOGO_MARK_H
#define HOGO_MARK_H

#include <stdbool.h>
#include <stddef.h>

#include "common/classify.h"

struct policy_marked_files;

#define MARK_XATTR_DEFAULT "user.hogo.label"
#define MARK_LABEL_DEFAULT "personal"
#define MARK_LABEL_MAX 64

/* A label is 1..MARK_LABEL_MAX characters of [A-Za-z0-9_.-]. */
bool mark_label_valid(const char *label);

/* Reads the label of an open file / a path (not following a final symlink). Returns 1 and
 * the label in ret_label, 0 when there is none (or it is not a valid label: treated as
 * present but unnamed, ret_label "invalid"), or -errno. */
int mark_label_fd(int fd, const char *xattr, char ret_label[static MARK_LABEL_MAX + 1]);
int mark_label_path(const char *path, const char *xattr, char ret_label[static MARK_LABEL_MAX + 1]);

bool mark_glob_match(const char *pattern, const char *path);
/* true when path matches any of the policy's marked_files.paths. */
bool mark_path_marked(const struct policy_marked_files *m, const char *path);

/* The classifier's configuration from the policy's marked_files.content. */
void mark_classify_config(const struct policy_marked_files *m, struct classify_config *ret);

#endif

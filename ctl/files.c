/* files.c — `hogoctl mark`, `hogoctl unmark`, `hogoctl classify`: marking files and
 * asking the classifier what it sees in them, for IT teams, scripts and tests.
 *
 * classify exits 0 when no file holds personal information, 3 when one does, and 1 when
 * a file could not be read (the other files are still classified).
 */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <sys/xattr.h>

#include "common/canon_json.h"
#include "common/classify_file.h"
#include "common/mark.h"
#include "common/util.h"
#include "ctl/hogoctl.h"
#include "policy/policy.h"

static void mark_usage(FILE *f)
{
        fprintf(f, "Usage: hogoctl mark FILE... [--label LABEL] [--xattr NAME]\n"
                   "       hogoctl unmark FILE... [--xattr NAME]\n\n"
                   "Marks files as holding personal information by setting the extended\n"
                   "attribute %s (LABEL defaults to '%s'; letters, digits, '_', '.', '-',\n"
                   "at most %d), or removes the mark. The agent counts reads of marked files\n"
                   "toward the bulk-transfer limit. Use the policy's marked_files.xattr for NAME\n"
                   "when it is not the default.\n",
                MARK_XATTR_DEFAULT, MARK_LABEL_DEFAULT, MARK_LABEL_MAX);
}

/* mark and unmark share their options; label NULL means unmark. */
static int mark_or_unmark(int argc, char **argv, bool mark)
{
        static const struct option options[] = {
                { "label", required_argument, NULL, 'l' },
                { "xattr", required_argument, NULL, 'x' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *label = MARK_LABEL_DEFAULT, *xattr = MARK_XATTR_DEFAULT;
        int c;
        optind = 1;
        while ((c = getopt_long(argc, argv, mark ? "l:x:h" : "x:h", options, NULL)) >= 0) {
                switch (c) {
                case 'l':
                        if (!mark) {
                                mark_usage(stderr);
                                return CTL_EXIT_USAGE;
                        }
                        label = optarg;
                        break;
                case 'x':
                        xattr = optarg;
                        break;
                case 'h':
                        mark_usage(stdout);
                        return CTL_EXIT_OK;
                default:
                        mark_usage(stderr);
                        return CTL_EXIT_USAGE;
                }
        }
        if (optind >= argc) {
                mark_usage(stderr);
                return CTL_EXIT_USAGE;
        }
        if (mark && !mark_label_valid(label)) {
                fprintf(stderr, "hogoctl mark: '%s' is not a label (1-%d of A-Z a-z 0-9 _ . -); nothing was marked\n",
                        label, MARK_LABEL_MAX);
                return CTL_EXIT_USAGE;
        }
        if (strncmp(xattr, "user.", 5) != 0 && strncmp(xattr, "trusted.", 8) != 0) {
                fprintf(stderr, "hogoctl: --xattr must name a user. or trusted. attribute, not '%s'\n", xattr);
                return CTL_EXIT_USAGE;
        }

        int ret = CTL_EXIT_OK;
        for (int i = optind; i < argc; i++) {
                const char *path = argv[i];
                int r = mark ? setxattr(path, xattr, label, strlen(label), 0) : removexattr(path, xattr);
                if (r < 0 && !mark && errno == ENODATA)
                        continue; /* not marked: already what was asked */
                if (r < 0) {
                        if (errno == ENOTSUP)
                                fprintf(stderr, "hogoctl %s: %s: this file system does not store extended attributes; "
                                                "mark the file with a marked_files.paths glob in the policy instead\n",
                                        argv[0], path);
                        else
                                fprintf(stderr, "hogoctl %s: %s: %m\n", argv[0], path);
                        ret = CTL_EXIT_ERROR;
                }
        }
        return ret;
}

int ctl_mark_main(int argc, char **argv)
{
        return mark_or_unmark(argc, argv, true);
}

int ctl_unmark_main(int argc, char **argv)
{
        return mark_or_unmark(argc, argv, false);
}

static void classify_usage(FILE *f)
{
        fprintf(f, "Usage: hogoctl classify FILE... [--json] [--policy FILE] [--xattr NAME]\n"
                   "                                [--pattern KIND[=MIN]]... [--no-my-number]\n\n"
                   "Says per file whether its content holds personal information, as the agent\n"
                   "decides it for files written to watched destinations: its label (the mark\n"
                   "attribute, if any), the matches by kind and the verdict ('personal' or\n"
                   "'none', from the content alone). The classifier settings come from the\n"
                   "policy's marked_files (--policy, a policy JSON file; by default the built-in\n"
                   "strict policy: 個人番号 only, first 1 MiB of each file).\n\n"
                   "  --json               one JSON object per line: file, verdict, label,\n"
                   "                       matches (counts by kind), format, encoding, complete\n"
                   "  --pattern KIND[=MIN] also count KIND (corporate_number, phone, email); with\n"
                   "                       MIN, MIN matches make a file personal\n"
                   "  --no-my-number       do not look for 個人番号\n\n"
                   "Exit status: 0 nothing found, 3 personal information found, 1 a file could\n"
                   "not be read (the others are still classified).\n");
}

struct classify_options {
        struct classify_config cfg;
        const char *xattr;
        bool json;
};

static void print_text(const char *path, const char *label, const struct classify_config *cfg,
                       const struct classify_result *r)
{
        printf("%s: %s  label=%s ", path, r->personal ? "personal" : "none", label ? label : "-");
        for (int k = 0; k < _CLASSIFY_KIND_MAX; k++)
                if (cfg->enabled[k])
                        printf(" %s=%lu", classify_kind_to_string(k), r->count[k]);
        printf("  (%s, %s", classify_format_to_string(r->format), classify_encoding_to_string(r->encoding));
        if (r->incomplete == CLASSIFY_PREFIX_ONLY)
                printf("; only the first %zu bytes were read", cfg->max_prefix);
        else if (r->incomplete != CLASSIFY_COMPLETE)
                printf("; not fully read: %s", classify_incomplete_to_string(r->incomplete));
        printf(")\n");
}

static int print_json(const char *path, const char *label, const struct classify_config *cfg,
                      const struct classify_result *r)
{
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object *matches = json_object_new_object();
        if (!o || !matches) {
                json_object_put(matches);
                return -ENOMEM;
        }
        json_object_object_add(o, "file", json_object_new_string(path));
        json_object_object_add(o, "verdict", json_object_new_string(r->personal ? "personal" : "none"));
        json_object_object_add(o, "label", label ? json_object_new_string(label) : NULL);
        for (int k = 0; k < _CLASSIFY_KIND_MAX; k++)
                if (cfg->enabled[k])
                        json_object_object_add(matches, classify_kind_to_string(k),
                                               json_object_new_int64((int64_t)r->count[k]));
        json_object_object_add(o, "matches", matches);
        json_object_object_add(o, "format", json_object_new_string(classify_format_to_string(r->format)));
        json_object_object_add(o, "encoding", json_object_new_string(classify_encoding_to_string(r->encoding)));
        json_object_object_add(o, "complete", json_object_new_boolean(r->incomplete == CLASSIFY_COMPLETE));
        if (r->incomplete != CLASSIFY_COMPLETE)
                json_object_object_add(o, "incomplete",
                                       json_object_new_string(classify_incomplete_to_string(r->incomplete)));
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!s)
                return -ENOMEM;
        printf("%s\n", s);
        return 0;
}

/* 1 when the file is personal, 0 when not, -errno when it could not be read. */
static int classify_one(const struct classify_options *o, const char *path)
{
        struct classify_result r;
        int k = classify_path(&o->cfg, path, &r);
        if (k < 0) {
                errno = -k;
                fprintf(stderr, "hogoctl classify: %s: %m\n", path);
                return k;
        }
        char label[MARK_LABEL_MAX + 1];
        int has = mark_label_path(path, o->xattr, label);
        if (has < 0) {
                errno = -has;
                fprintf(stderr, "hogoctl classify: %s: cannot read its label: %m\n", path);
                return has;
        }
        if (o->json) {
                int j = print_json(path, has ? label : NULL, &o->cfg, &r);
                if (j < 0)
                        return j;
        } else {
                print_text(path, has ? label : NULL, &o->cfg, &r);
        }
        return r.personal;
}

/* KIND[=MIN] */
static int parse_pattern(const char *arg, struct classify_config *cfg)
{
        if (!arg)
                return -EINVAL;
        _cleanup_free_ char *kind = strdup(arg);
        if (!kind)
                return -ENOMEM;
        char *eq = strchr(kind, '=');
        unsigned long min = 0;
        if (eq) {
                *eq = '\0';
                char *end;
                errno = 0;
                min = strtoul(eq + 1, &end, 10);
                if (errno || end == eq + 1 || *end || min > UINT32_MAX)
                        return -EINVAL;
        }
        int k = classify_kind_from_string(kind);
        if (k < 0)
                return k;
        cfg->enabled[k] = true;
        cfg->threshold[k] = (unsigned)min;
        return 0;
}

static int load_classify_policy(const char *path, struct classify_options *o)
{
        _cleanup_policy_ struct policy *p = NULL;
        _cleanup_policy_errors_ struct policy_errors errs = POLICY_ERRORS_INIT;
        int r = path ? policy_load_file(path, &p, &errs) : policy_default_strict(&p);
        if (r < 0) {
                fprintf(stderr, "hogoctl classify: %s is not a usable policy:\n", path ? path : "the built-in policy");
                policy_errors_print(&errs, stderr);
                return r;
        }
        mark_classify_config(&p->marked_files, &o->cfg);
        if (!o->xattr) {
                o->xattr = strdup(p->marked_files.xattr);
                if (!o->xattr)
                        return -ENOMEM;
        }
        return 0;
}

int ctl_classify_main(int argc, char **argv)
{
        static const struct option options[] = {
                { "json", no_argument, NULL, 'j' },
                { "policy", required_argument, NULL, 'p' },
                { "xattr", required_argument, NULL, 'x' },
                { "pattern", required_argument, NULL, 'P' },
                { "no-my-number", no_argument, NULL, 'N' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct classify_options o = { 0 };
        const char *policy_path = NULL, *xattr = NULL;
        _cleanup_free_ char **patterns = calloc((size_t)argc + 1, sizeof(char *));
        size_t n_patterns = 0;
        bool no_my_number = false;
        int c;
        if (!patterns)
                return CTL_EXIT_ERROR;
        optind = 1;
        while ((c = getopt_long(argc, argv, "jp:x:P:Nh", options, NULL)) >= 0) {
                switch (c) {
                case 'j':
                        o.json = true;
                        break;
                case 'p':
                        policy_path = optarg;
                        break;
                case 'x':
                        xattr = optarg;
                        break;
                case 'P':
                        patterns[n_patterns++] = optarg;
                        break;
                case 'N':
                        no_my_number = true;
                        break;
                case 'h':
                        classify_usage(stdout);
                        return CTL_EXIT_OK;
                default:
                        classify_usage(stderr);
                        return CTL_EXIT_USAGE;
                }
        }
        if (optind >= argc) {
                classify_usage(stderr);
                return CTL_EXIT_USAGE;
        }

        o.xattr = xattr;
        if (load_classify_policy(policy_path, &o) < 0)
                return CTL_EXIT_ERROR;
        _cleanup_free_ char *owned_xattr = xattr ? NULL : (char *)o.xattr;
        for (size_t i = 0; i < n_patterns; i++)
                if (parse_pattern(patterns[i], &o.cfg) < 0) {
                        fprintf(stderr, "hogoctl classify: --pattern %s: expected KIND[=MIN] with KIND one of "
                                        "my_number, corporate_number, phone, email\n", patterns[i]);
                        return CTL_EXIT_USAGE;
                }
        if (no_my_number)
                o.cfg.enabled[CLASSIFY_MY_NUMBER] = false;

        bool found = false, failed = false;
        for (int i = optind; i < argc; i++) {
                int r = classify_one(&o, argv[i]);
                if (r < 0)
                        failed = true;
                else if (r > 0)
                        found = true;
        }
        fflush(stdout);
        if (failed)
                return CTL_EXIT_ERROR;
        return found ? CTL_EXIT_FOUND : CTL_EXIT_OK;
}

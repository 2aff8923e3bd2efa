/* policy.c — `hogoctl policy`: validate, keygen, sign, verify and show policies.
 *
 * An IT team writes a policy as JSON, checks it with `validate` (every error, by path),
 * signs it with the department's key and pushes it; `verify` checks an envelope the way
 * the agent does, and `show` explains a policy in the language of the reader. */
#include <getopt.h>
#include <time.h>

#include "common/ed25519.h"
#include "common/fileio.h"
#include "common/lang.h"
#include "common/util.h"
#include "ctl/hogoctl.h"
#include "policy/policy.h"

#define PRIVATE_KEY_NAME "policy-signing.key"
#define PUBLIC_KEY_NAME "policy-signing.pub"
#define MAX_PUBKEYS 16

static void usage(FILE *f)
{
        fprintf(f, "Usage: hogoctl policy COMMAND [OPTIONS] [FILE]\n\n"
                   "Checks, signs and explains hogo policies.\n\n"
                   "Commands:\n"
                   "  validate FILE                  check a policy; every error as PATH: message\n"
                   "  keygen --out DIR               create an Ed25519 policy signing key pair\n"
                   "  sign --key KEY FILE [--out F]  write the signed envelope of a valid policy\n"
                   "  verify --pubkey PUB FILE       check a signed envelope as the agent does\n"
                   "  show FILE                      explain a policy or envelope (Japanese; English\n"
                   "                                 when LC_ALL/LC_MESSAGES/LANG start with \"en\")\n"
                   "  push ...                       send a signed policy to the collector\n\n"
                   "Run 'hogoctl policy COMMAND --help' for a command's options.\n");
}

/* An option of a subcommand; every one takes an argument. */
struct cli_option {
        const char *name;
        const char **values; /* where the arguments go, max of them */
        size_t max;
        size_t n; /* how many were given */
};

/* Parses the options of a subcommand (argv[0] is its name). Returns the index of the first
 * operand, or -1 after printing a usage error. */
static int parse_options(int argc, char **argv, struct cli_option *opts, size_t n_opts)
{
        struct option longopts[8] = { { 0 } };
        if (n_opts >= ELEMENTSOF(longopts))
                return -1;
        for (size_t i = 0; i < n_opts; i++)
                longopts[i] = (struct option){ opts[i].name, required_argument, NULL, (int)(i + 1) };
        optind = 0; /* GNU getopt: start afresh on this argv */
        opterr = 0;
        int c;
        while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
                if (c <= 0 || (size_t)c > n_opts) {
                        fprintf(stderr, "hogoctl policy %s: unknown or incomplete option '%s'\n",
                                argv[0], argv[optind - 1]);
                        return -1;
                }
                struct cli_option *o = &opts[c - 1];
                if (o->n >= o->max) {
                        fprintf(stderr, "hogoctl policy %s: --%s given too often\n", argv[0], o->name);
                        return -1;
                }
                o->values[o->n++] = optarg;
        }
        return optind;
}

static int one_operand(int argc, char **argv, int first, const char *what)
{
        if (first < 0)
                return -1;
        if (argc - first != 1) {
                fprintf(stderr, "hogoctl policy %s: expected one %s; see --help\n", argv[0], what);
                return -1;
        }
        return first;
}

/* ---- validate ------------------------------------------------------------------------------ */

static int cmd_validate(int argc, char **argv)
{
        if (ctl_wants_help(argc, argv)) {
                printf("Usage: hogoctl policy validate FILE\n\n"
                       "Checks a policy file: UTF-8 JSON of at most 1 MiB, no unknown keys, every\n"
                       "value of the right type and within range, no duplicate entries. Prints\n"
                       "\"policy OK\" and exits 0, or prints one \"PATH: message\" line per error\n"
                       "on stderr and exits 1.\n");
                return CTL_EXIT_OK;
        }
        int i = one_operand(argc, argv, parse_options(argc, argv, NULL, 0), "FILE");
        if (i < 0)
                return CTL_EXIT_USAGE;

        _cleanup_policy_errors_ struct policy_errors errs = POLICY_ERRORS_INIT;
        _cleanup_policy_ struct policy *p = NULL;
        int r = policy_load_file(argv[i], &p, &errs);
        if (r < 0) {
                policy_errors_print(&errs, stderr);
                if (errs.n == 0)
                        fprintf(stderr, "$: %s\n", strerror(-r));
                return CTL_EXIT_ERROR;
        }
        printf("policy OK: %s version %" PRId64 ", hash %s\n", p->name, p->version, p->hash);
        return CTL_EXIT_OK;
}

/* ---- keygen ------------------------------------------------------------------------------- */

static int cmd_keygen(int argc, char **argv)
{
        if (ctl_wants_help(argc, argv)) {
                printf("Usage: hogoctl policy keygen --out DIR\n\n"
                       "Creates an Ed25519 key pair for signing policies: DIR/" PRIVATE_KEY_NAME
                       " (mode 0600,\nkeep it offline or on the collector only) and DIR/"
                       PUBLIC_KEY_NAME " (give it to the agents).\nExisting keys are never "
                       "replaced. Prints the key id that signed envelopes name.\n");
                return CTL_EXIT_OK;
        }
        const char *out[1] = { NULL };
        struct cli_option opts[] = { { "out", out, 1, 0 } };
        int first = parse_options(argc, argv, opts, ELEMENTSOF(opts));
        if (first < 0)
                return CTL_EXIT_USAGE;
        if (!out[0] || first != argc) {
                fprintf(stderr, "hogoctl policy keygen: expected --out DIR and nothing else; see --help\n");
                return CTL_EXIT_USAGE;
        }

        _cleanup_free_ char *priv = NULL, *pub = NULL;
        if (asprintf(&priv, "%s/%s", out[0], PRIVATE_KEY_NAME) < 0 ||
            asprintf(&pub, "%s/%s", out[0], PUBLIC_KEY_NAME) < 0) {
                priv = pub = NULL;
                fprintf(stderr, "hogoctl policy keygen: out of memory\n");
                return CTL_EXIT_ERROR;
        }
        int r = mkdir_parents(out[0], 0700);
        if (r < 0) {
                fprintf(stderr, "hogoctl policy keygen: cannot create %s: %s\n", out[0], strerror(-r));
                return CTL_EXIT_ERROR;
        }
        if (access(priv, F_OK) == 0 || access(pub, F_OK) == 0) {
                fprintf(stderr,
                        "hogoctl policy keygen: %s already holds a policy key; nothing was "
                        "changed. Agents trust that key: to replace it, move it away first.\n",
                        out[0]);
                return CTL_EXIT_ERROR;
        }
        _cleanup_pkey_ EVP_PKEY *key = NULL;
        char id[ED25519_KEY_ID_LEN + 1];
        r = ed25519_generate(&key);
        if (r >= 0)
                r = ed25519_key_id(key, id);
        if (r < 0) {
                fprintf(stderr, "hogoctl policy keygen: cannot generate a key: %s\n", strerror(-r));
                return CTL_EXIT_ERROR;
        }
        r = ed25519_write_private_pem(key, priv);
        if (r < 0) {
                fprintf(stderr, "hogoctl policy keygen: cannot write %s: %s\n", priv, strerror(-r));
                return CTL_EXIT_ERROR;
        }
        r = ed25519_write_public_pem(key, pub);
        if (r < 0) {
                /* a private key without its public half is of no use: do not leave it */
                unlink(priv);
                fprintf(stderr, "hogoctl policy keygen: cannot write %s: %s; no key was kept\n",
                        pub, strerror(-r));
                return CTL_EXIT_ERROR;
        }
        printf("key id %s\nprivate key %s\npublic key %s\n", id, priv, pub);
        return CTL_EXIT_OK;
}

/* ---- sign ---------------------------------------------------------------------------------- */

static const char *key_error(int r)
{
        switch (r) {
        case -EBADMSG: return "holds no PEM key of that kind";
        case -EKEYREJECTED: return "is not an Ed25519 key";
        default: return strerror(-r);
        }
}

static int cmd_sign(int argc, char **argv)
{
        if (ctl_wants_help(argc, argv)) {
                printf("Usage: hogoctl policy sign --key KEY FILE [--out OUT]\n\n"
                       "Validates the policy FILE and writes its signed envelope\n"
                       "{\"policy\": ..., \"key_id\": ..., \"signature\": ...} to OUT (atomically)\n"
                       "or to stdout. The signature is Ed25519 over the canonical form of the\n"
                       "policy. An invalid policy is not signed: its errors are printed.\n");
                return CTL_EXIT_OK;
        }
        const char *key_path[1] = { NULL }, *out[1] = { NULL };
        struct cli_option opts[] = { { "key", key_path, 1, 0 }, { "out", out, 1, 0 } };
        int i = one_operand(argc, argv, parse_options(argc, argv, opts, ELEMENTSOF(opts)),
                            "policy FILE");
        if (i < 0)
                return CTL_EXIT_USAGE;
        if (!key_path[0]) {
                fprintf(stderr, "hogoctl policy sign: --key KEY is required; see --help\n");
                return CTL_EXIT_USAGE;
        }

        _cleanup_pkey_ EVP_PKEY *key = NULL;
        int r = ed25519_load_private_pem(key_path[0], &key);
        if (r < 0) {
                fprintf(stderr, "hogoctl policy sign: %s %s; nothing was signed\n", key_path[0],
                        key_error(r));
                return CTL_EXIT_ERROR;
        }
        _cleanup_policy_errors_ struct policy_errors errs = POLICY_ERRORS_INIT;
        _cleanup_policy_ struct policy *p = NULL;
        r = policy_load_file(argv[i], &p, &errs);
        if (r < 0) {
                policy_errors_print(&errs, stderr);
                fprintf(stderr, "hogoctl policy sign: %s is not a valid policy; nothing was signed\n",
                        argv[i]);
                return CTL_EXIT_ERROR;
        }
        _cleanup_free_ char *env = NULL;
        r = policy_envelope_sign(p, key, &env);
        if (r < 0) {
                fprintf(stderr, "hogoctl policy sign: cannot sign: %s\n", strerror(-r));
                return CTL_EXIT_ERROR;
        }
        if (!out[0]) {
                fputs(env, stdout);
                return fflush(stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_ERROR;
        }
        r = write_file_atomic(out[0], env, strlen(env), 0644);
        if (r < 0) {
                fprintf(stderr, "hogoctl policy sign: cannot write %s: %s\n", out[0], strerror(-r));
                return CTL_EXIT_ERROR;
        }
        return CTL_EXIT_OK;
}

/* ---- verify --------------------------------------------------------------------------------- */

static void pkeys_free(EVP_PKEY **keys, size_t n)
{
        for (size_t i = 0; i < n; i++)
                EVP_PKEY_free(keys[i]);
}

static int cmd_verify(int argc, char **argv)
{
        if (ctl_wants_help(argc, argv)) {
                printf("Usage: hogoctl policy verify --pubkey PUB [--pubkey PUB2 ...] FILE\n\n"
                       "Checks a signed policy envelope exactly as the agent does: the key named\n"
                       "by key_id must be one of the given public keys, the Ed25519 signature\n"
                       "must match the canonical policy bytes, and the policy must be valid.\n"
                       "Exits 0 when all holds, 1 otherwise (with the reason on stderr).\n");
                return CTL_EXIT_OK;
        }
        const char *pubs[MAX_PUBKEYS] = { NULL };
        struct cli_option opts[] = { { "pubkey", pubs, MAX_PUBKEYS, 0 } };
        int i = one_operand(argc, argv, parse_options(argc, argv, opts, ELEMENTSOF(opts)),
                            "envelope FILE");
        size_t n_pubs = opts[0].n;
        if (i < 0)
                return CTL_EXIT_USAGE;
        if (n_pubs == 0) {
                fprintf(stderr, "hogoctl policy verify: --pubkey PUB is required; see --help\n");
                return CTL_EXIT_USAGE;
        }
        EVP_PKEY *keys[MAX_PUBKEYS] = { NULL };
        for (size_t k = 0; k < n_pubs; k++) {
                int r = ed25519_load_public_pem(pubs[k], &keys[k]);
                if (r < 0) {
                        fprintf(stderr, "hogoctl policy verify: %s %s\n", pubs[k], key_error(r));
                        pkeys_free(keys, k);
                        return CTL_EXIT_ERROR;
                }
        }
        _cleanup_policy_errors_ struct policy_errors errs = POLICY_ERRORS_INIT;
        _cleanup_policy_ struct policy *p = NULL;
        int r = policy_envelope_load_file(argv[i], keys, n_pubs, &p, &errs);
        pkeys_free(keys, n_pubs);
        if (r < 0) {
                policy_errors_print(&errs, stderr);
                fprintf(stderr, "hogoctl policy verify: %s: %s\n", argv[i],
                        r == -ENOKEY         ? "signed by an untrusted key; an agent would refuse it"
                        : r == -EKEYREJECTED ? "BAD SIGNATURE; an agent would refuse it and keep its policy"
                        : r == -EINVAL       ? "signature good but the policy is invalid; an agent would refuse it"
                                             : "not a valid signed policy; an agent would refuse it");
                return CTL_EXIT_ERROR;
        }
        printf("signature OK: policy %s version %" PRId64 ", hash %s\n", p->name, p->version,
               p->hash);
        return CTL_EXIT_OK;
}

/* ---- show ------------------------------------------------------------------------------------ */

static bool english;
#define L(ja, en) (english ? (en) : (ja))

static const char *duration(uint64_t secs, char buf[static 48])
{
        if (secs >= 3600 && secs % 3600 == 0)
                snprintf(buf, 48, L("%" PRIu64 "時間", "%" PRIu64 " h"), secs / 3600);
        else if (secs >= 60 && secs % 60 == 0)
                snprintf(buf, 48, L("%" PRIu64 "分", "%" PRIu64 " min"), secs / 60);
        else
                snprintf(buf, 48, L("%" PRIu64 "秒", "%" PRIu64 " s"), secs);
        return buf;
}

static const char *bytes(uint64_t n, char buf[static 48])
{
        if (n >= 1024 * 1024 * 1024 && n % (1024 * 1024 * 1024) == 0)
                snprintf(buf, 48, "%" PRIu64 " GiB", n >> 30);
        else if (n >= 1024 * 1024 && n % (1024 * 1024) == 0)
                snprintf(buf, 48, "%" PRIu64 " MiB", n >> 20);
        else if (n >= 1024 && n % 1024 == 0)
                snprintf(buf, 48, "%" PRIu64 " KiB", n >> 10);
        else
                snprintf(buf, 48, L("%" PRIu64 " バイト", "%" PRIu64 " bytes"), n);
        return buf;
}

static const char *access_text(enum media_access a)
{
        switch (a) {
        case MEDIA_ACCESS_READ_WRITE: return L("読み書き可", "read-write");
        case MEDIA_ACCESS_READ_ONLY: return L("読み取りのみ", "read-only");
        default: return L("使用不可", "blocked");
        }
}

static const char *validity(int64_t valid_until, const char *text, char buf[static 128])
{
        if (!text)
                snprintf(buf, 128, "%s", L("期限なし", "no end date"));
        else if (valid_until <= (int64_t)time(NULL))
                snprintf(buf, 128, L("有効期限 %s (期限切れ: 使用不可)", "valid until %s (EXPIRED: allows nothing)"),
                         text);
        else
                snprintf(buf, 128, L("有効期限 %s", "valid until %s"), text);
        return buf;
}

static void show_strv(FILE *f, const char *label, char *const *v, size_t n)
{
        fprintf(f, "  %s: ", label);
        if (n == 0)
                fputs(L("なし", "none"), f);
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%s%s", i ? ", " : "", v[i]);
        fputc('\n', f);
}

static void show_removable_media(FILE *f, const struct policy_removable_media *m)
{
        static const char *const modes_ja[] = { "遮断 (登録媒体・例外承認のみ使用可)",
                                                "読み取りのみ (未登録の媒体も読み取りは可)",
                                                "監査のみ (遮断せず記録する)" };
        static const char *const modes_en[] = {
                "block (only registered media and approved exceptions work)",
                "read-only (unregistered media can be read, not written)",
                "audit (nothing blocked, everything recorded)"
        };
        char v[128];
        fprintf(f, "%s\n", L("■ 記録媒体 (USBメモリ・スマートフォン等)", "■ Removable media (USB storage, phones)"));
        fprintf(f, "  %s: %s\n", L("方式", "Mode"), english ? modes_en[m->mode] : modes_ja[m->mode]);
        fprintf(f, "  %s: 0x08, 0x06", L("遮断するインターフェース種別", "Blocked interface classes"));
        for (size_t i = 0; i < m->n_classes; i++)
                fprintf(f, ", 0x%02x", m->classes[i]);
        fputc('\n', f);
        fprintf(f, L("  登録媒体: %zu 件\n", "  Registered media: %zu\n"), m->n_allow);
        for (size_t i = 0; i < m->n_allow; i++) {
                const struct policy_media_allow *a = &m->allow[i];
                fprintf(f, "    [%zu] %04x:%04x %s %s, %s, %s", i, a->vendor, a->product,
                        L("シリアル", "serial"), a->serial, access_text(a->access),
                        validity(a->valid_until, a->valid_until_text, v));
                if (a->registration_no)
                        fprintf(f, ", %s %s", L("登録番号", "registration no."), a->registration_no);
                if (a->holder)
                        fprintf(f, ", %s %s", L("管理者", "holder"), a->holder);
                fputc('\n', f);
        }
        fprintf(f, L("  例外承認: %zu 件\n", "  Approved exceptions: %zu\n"), m->n_exceptions);
        for (size_t i = 0; i < m->n_exceptions; i++) {
                const struct policy_media_exception *x = &m->exceptions[i];
                fprintf(f, "    [%zu] %04x:%04x %s %s, %s, %s\n", i, x->vendor, x->product,
                        L("シリアル", "serial"), x->serial, access_text(x->access),
                        validity(x->valid_until, x->valid_until_text, v));
                fprintf(f, "        %s: ", L("端末", "terminals"));
                for (size_t k = 0; k < x->n_terminals; k++)
                        fprintf(f, "%s%s", k ? ", " : "", x->terminals[k]);
                fprintf(f, "\n        %s: %s / %s: %s\n", L("理由", "reason"), x->reason,
                        L("承認者", "approved by"), x->approver);
        }
}

static void show_sessions(FILE *f, const struct policy *p)
{
        static const char *const days_ja[] = { "日", "月", "火", "水", "木", "金", "土" };
        static const char *const days_en[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
        char a[48], b[48], c[48];
        const struct policy_screen_lock *s = &p->screen_lock;
        const struct policy_logoff *l = &p->logoff;

        fprintf(f, "%s\n", L("■ 画面ロック", "■ Screen lock"));
        fprintf(f, L("  無操作 %s でロック (%s 前に通知)\n", "  Lock after %s idle (notice %s before)\n"),
                duration(s->idle_lock_seconds, a), duration(s->warn_before_seconds, b));
        fprintf(f, L("  %s 以内にロックされない場合: %s\n", "  If the screen is not locked within %s: %s\n"),
                duration(s->lock_grace_seconds, c),
                s->lock_ignored_action == POLICY_LOCK_IGNORED_LOGOFF
                        ? L("違反として記録し、ログオフする", "record it as non-compliant and log off")
                        : L("違反として記録する", "record it as non-compliant"));

        fprintf(f, "%s\n", L("■ ログオフ", "■ Logoff"));
        fprintf(f, L("  無操作 %s でログオフ (%s 前に警告)\n", "  Log off after %s idle (warning %s before)\n"),
                duration(l->idle_logoff_seconds, a), duration(l->warn_before_seconds, b));
        fprintf(f, "  %s: ", L("利用できる時間", "Permitted hours"));
        if (l->n_hours == 0)
                fputs(L("制限なし", "any time"), f);
        for (size_t i = 0; i < l->n_hours; i++) {
                fputs(i ? "; " : "", f);
                bool first = true;
                for (int k = 1; k <= 7; k++) /* Monday first */
                        if (l->hours[i].days & (1u << (k % 7))) {
                                fprintf(f, "%s%s", english && !first ? "," : "",
                                        english ? days_en[k % 7] : days_ja[k % 7]);
                                first = false;
                        }
                fprintf(f, " %02u:%02u-%02u:%02u", l->hours[i].start_minute / 60u,
                        l->hours[i].start_minute % 60u, l->hours[i].end_minute / 60u,
                        l->hours[i].end_minute % 60u);
        }
        fputc('\n', f);
        show_strv(f, L("対象外のセッション種別", "Exempt session classes"), l->exempt_classes,
                  l->n_exempt_classes);
        show_strv(f, L("対象外の利用者", "Exempt users"), l->exempt_users, l->n_exempt_users);
}

static void show_files(FILE *f, const struct policy *p)
{
        static const char *const kinds_ja[] = { "法人番号", "電話番号", "メールアドレス" };
        static const char *const kinds_en[] = { "corporate numbers", "phone numbers", "e-mail addresses" };
        static const char *const dest_ja[] = { "リムーバブルメディア", "ネットワーク共有", "ダウンロード" };
        static const char *const dest_en[] = { "removable media", "network shares", "downloads" };
        char a[48], b[48];
        const struct policy_marked_files *m = &p->marked_files;
        const struct policy_bulk_transfer *t = &p->bulk_transfer;

        fprintf(f, "%s\n", L("■ 個人情報を含むファイル", "■ Files holding personal information"));
        fprintf(f, "  %s: %s\n", L("ラベルの拡張属性", "Label attribute"), m->xattr);
        show_strv(f, L("対象のパス", "Marked paths"), m->paths, m->n_paths);
        fprintf(f, "  %s: ", L("内容による判定", "Content checks"));
        if (m->my_number)
                fprintf(f, L("個人番号 %u 件以上", "My Number (individual number) at %u or more"),
                        m->my_number_min_matches);
        else
                fputs(L("個人番号は判定しない", "My Number not checked"), f);
        for (size_t i = 0; i < m->n_patterns; i++)
                fprintf(f, L(", %s %u 件以上", ", %s at %u or more"),
                        english ? kinds_en[m->patterns[i].kind] : kinds_ja[m->patterns[i].kind],
                        m->patterns[i].min_matches);
        fprintf(f, L(" (先頭 %s まで読む)\n", " (reads the first %s)\n"), bytes(m->scan_max_bytes, a));

        fprintf(f, "%s\n", L("■ 大量の持ち出し・ダウンロード", "■ Bulk copy and download"));
        fprintf(f, L("  %s 以内に %u ファイル以上 または %s 以上: ",
                     "  Within %s, %u or more marked files or %s or more: "),
                duration(t->window_seconds, b), t->max_files, bytes(t->max_bytes, a));
        if (t->action == POLICY_BULK_BLOCK)
                fprintf(f, L("警告し、%s の間それ以上の読み出しを止める\n",
                             "warn, then deny further reads of marked files for %s\n"),
                        duration(t->cooldown_seconds, b));
        else
                fputs(L("警告して記録する\n", "warn and record\n"), f);
        fprintf(f, "  %s: ", L("監視する書き出し先", "Watched destinations"));
        for (size_t i = 0; i < t->n_destinations; i++) {
                const struct policy_destination *d = &t->destinations[i];
                fprintf(f, "%s%s", i ? ", " : "",
                        d->kind == POLICY_DEST_PATH ? d->path
                                                    : (english ? dest_en[d->kind] : dest_ja[d->kind]));
        }
        if (t->n_destinations == 0)
                fputs(L("なし", "none"), f);
        fputc('\n', f);
}

static void show_policy(FILE *f, const struct policy *p, const char *key_id)
{
        char a[48];
        fprintf(f, L("ポリシー %s (版 %" PRId64 ")\n", "Policy %s (version %" PRId64 ")\n"), p->name,
                p->version);
        fprintf(f, "  %s: %s\n", L("対象の課", "Department"),
                p->department ? p->department : L("全部署", "all departments"));
        if (p->description)
                fprintf(f, "  %s: %s\n", L("説明", "Description"), p->description);
        fprintf(f, "  %s: %s\n", L("ハッシュ", "Hash"), p->hash);
        if (key_id)
                fprintf(f, L("  署名鍵: %s (署名はここでは検証していません: hogoctl policy verify)\n",
                             "  Signed by key %s (signature not checked here: use hogoctl policy verify)\n"),
                        key_id);
        show_removable_media(f, &p->removable_media);
        show_sessions(f, p);
        show_files(f, p);
        fprintf(f, "%s\n", L("■ 報告", "■ Reporting"));
        fprintf(f, L("  %s ごとに状態を報告、イベントは最大 %u 件ずつ送信\n",
                     "  Heartbeat every %s, events sent in batches of up to %u\n"),
                duration(p->reporting.heartbeat_seconds, a), p->reporting.batch_max_events);
}

static int cmd_show(int argc, char **argv)
{
        if (ctl_wants_help(argc, argv)) {
                printf("Usage: hogoctl policy show FILE\n\n"
                       "Explains a policy, or the policy inside a signed envelope, in Japanese\n"
                       "(in English when LC_ALL, LC_MESSAGES or LANG starts with \"en\"). The\n"
                       "signature is not checked: use 'hogoctl policy verify' for that.\n");
                return CTL_EXIT_OK;
        }
        int i = one_operand(argc, argv, parse_options(argc, argv, NULL, 0), "FILE");
        if (i < 0)
                return CTL_EXIT_USAGE;
        english = lang_english();

        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r = read_file_bounded(argv[i], POLICY_FILE_MAX_SIZE, &data, &len);
        if (r < 0) {
                fprintf(stderr, "hogoctl policy show: cannot read %s: %s\n", argv[i],
                        r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
                return CTL_EXIT_ERROR;
        }
        _cleanup_policy_errors_ struct policy_errors errs = POLICY_ERRORS_INIT;
        _cleanup_policy_ struct policy *p = NULL;
        char key_id[ED25519_KEY_ID_LEN + 1];
        bool signed_envelope = strstr(data, "\"signature\"") &&
                               policy_envelope_parse_unverified(data, len, &p, key_id, NULL) == 0;
        if (!signed_envelope) {
                r = policy_parse(data, len, &p, &errs);
                if (r < 0) {
                        policy_errors_print(&errs, stderr);
                        fprintf(stderr, "hogoctl policy show: %s is not a valid policy\n", argv[i]);
                        return CTL_EXIT_ERROR;
                }
        }
        show_policy(stdout, p, signed_envelope ? key_id : NULL);
        return fflush(stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_ERROR;
}

/* ---- dispatch ------------------------------------------------------------------------------ */

int ctl_policy_main(int argc, char **argv)
{
        static const struct {
                const char *name;
                int (*run)(int argc, char **argv);
        } cmds[] = {
                { "validate", cmd_validate }, { "keygen", cmd_keygen }, { "sign", cmd_sign },
                { "verify", cmd_verify },     { "show", cmd_show },     { "push", ctl_policy_push },
        };
        if (argc < 2) {
                usage(stderr);
                return CTL_EXIT_USAGE;
        }
        if (STREQ(argv[1], "-h") || STREQ(argv[1], "--help")) {
                usage(stdout);
                return CTL_EXIT_OK;
        }
        for (size_t i = 0; i < ELEMENTSOF(cmds); i++)
                if (STREQ(argv[1], cmds[i].name))
                        return cmds[i].run(argc - 1, argv + 1);
        fprintf(stderr, "hogoctl policy: unknown command '%s'; see 'hogoctl policy --help'\n",
                argv[1]);
        return CTL_EXIT_USAGE;
}

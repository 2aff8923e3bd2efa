/* notice_text.c — wording of the notices, see notice_text.h. */
#include "agent/notice_text.h"

#include <stdio.h>

#include "common/lang.h"
#include "common/util.h"

#define N_(s) (s) /* marks source text for the catalogues (po/) */

static const struct notice_wording {
        const char *summary;
        const char *what;
        const char *rule;
} wordings[_NOTICE_KIND_MAX] = {
        [NOTICE_USB_BLOCKED] = {
                N_("USB機器の接続を制限しました"),
                N_("「{subject}」は記録機能を有する機器のため、この端末では使用できません。"
                   "端末内のデータは保護されています。業務で必要な場合は登録済みの媒体を使うか、"
                   "下記へ申請してください。"),
                N_("記録機能を有する機器の接続制限"),
        },
        [NOTICE_USB_READ_ONLY] = {
                N_("USB媒体を読み取り専用で接続しました"),
                N_("「{subject}」は登録された媒体として読み取り専用で使えます。"
                   "この媒体へ書き込むことはできません。"),
                N_("記録機能を有する機器の接続制限"),
        },
        [NOTICE_LOCK_WARNING] = {
                N_("まもなく画面をロックします"),
                N_("操作がないため、あと{seconds}秒で画面をロックします。"
                   "席を離れるときは画面をロックしてください。"),
                N_("離席時の画面ロック（第三者の閲覧防止）"),
        },
        [NOTICE_LOGOFF_WARNING] = {
                N_("まもなくログオフします"),
                N_("長い間操作がないため、あと{seconds}秒でログオフします。"
                   "作業中のファイルを保存してください。"),
                N_("離席時のログオフ"),
        },
        [NOTICE_LOGOFF_HOURS] = {
                N_("利用時間外のためログオフします"),
                N_("利用が認められた時間の外のため、あと{seconds}秒でログオフします。"
                   "作業中のファイルを保存してください。"),
                N_("端末の利用時間の制限"),
        },
        [NOTICE_FILES_BULK_WARNING] = {
                N_("個人情報を含むファイルの大量の複製を検知しました"),
                N_("個人情報を含むファイル{count}件が短い間に「{subject}」へ複製されました。"
                   "この操作は記録され、保護管理者に報告されます。"),
                N_("アクセス状況の監視（大量の複製・ダウンロードの警告）"),
        },
        [NOTICE_FILES_BULK_BLOCKED] = {
                N_("個人情報を含むファイルの大量の複製を止めました"),
                N_("個人情報を含むファイルの「{subject}」への大量の複製を止めました。"
                   "{seconds}秒後に再び開けるようになります。この操作は記録され、"
                   "保護管理者に報告されます。"),
                N_("アクセス状況の監視（大量の複製・ダウンロードの警告）"),
        },
};

static const char *const kind_names[_NOTICE_KIND_MAX] = {
        [NOTICE_USB_BLOCKED] = "usb_blocked",
        [NOTICE_USB_READ_ONLY] = "usb_read_only",
        [NOTICE_LOCK_WARNING] = "lock_warning",
        [NOTICE_LOGOFF_WARNING] = "logoff_warning",
        [NOTICE_LOGOFF_HOURS] = "logoff_hours",
        [NOTICE_FILES_BULK_WARNING] = "files_bulk_warning",
        [NOTICE_FILES_BULK_BLOCKED] = "files_bulk_blocked",
};

const char *notice_kind_to_string(enum notice_kind kind)
{
        return kind >= 0 && kind < _NOTICE_KIND_MAX ? kind_names[kind] : NULL;
}

int notice_kind_from_string(const char *s)
{
        for (int k = 0; s && k < _NOTICE_KIND_MAX; k++)
                if (STREQ(s, kind_names[k]))
                        return k;
        return -EINVAL;
}

static const char body_layout[] = N_("{what}\n規程: {rule}\n問い合わせ先: {contact}");

static const char *environ_value(const char *env, size_t len, const char *name)
{
        size_t nl = strlen(name);
        for (size_t off = 0; off < len; off += strnlen(env + off, len - off) + 1)
                if (len - off > nl && strncmp(env + off, name, nl) == 0 && env[off + nl] == '=')
                        return env + off + nl + 1;
        return NULL;
}

const char *notice_language_for_environ(const char *env, size_t len)
{
        /* /proc/PID/environ may end without a NUL; only complete strings are read */
        while (len > 0 && env[len - 1] != '\0')
                len--;
        return lang_english_from(environ_value(env, len, "LC_ALL"),
                                 environ_value(env, len, "LC_MESSAGES"),
                                 environ_value(env, len, "LANG"))
                       ? "en"
                       : "ja";
}

const char *notice_rule(enum notice_kind kind)
{
        return kind >= 0 && kind < _NOTICE_KIND_MAX ? wordings[kind].rule : NULL;
}

static const char *translate(const struct catalog *catalog, const char *msgid)
{
        const char *s = catalog_lookup(catalog, msgid);
        return s ? s : msgid;
}

struct placeholder {
        const char *name;
        const char *value;
};

/* Replaces {name} by its value; unknown or unset placeholders are left as written. */
static int expand(const char *text, const struct placeholder *ph, size_t n_ph, char **ret)
{
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        if (!f)
                return -ENOMEM;
        for (const char *p = text; *p;) {
                bool done = false;
                for (size_t i = 0; *p == '{' && i < n_ph && !done; i++) {
                        size_t nl = strlen(ph[i].name);
                        if (ph[i].value && strncmp(p + 1, ph[i].name, nl) == 0 &&
                            p[1 + nl] == '}') {
                                fputs(ph[i].value, f);
                                p += nl + 2;
                                done = true;
                        }
                }
                if (!done)
                        fputc(*p++, f);
        }
        if (fclose(f) != 0) {
                free(out);
                return -ENOMEM;
        }
        *ret = out;
        return 0;
}

int notice_render(const struct notice *notice, const struct catalog *catalog,
                  const char *contact, char **ret_summary, char **ret_body)
{
        if (notice->kind < 0 || notice->kind >= _NOTICE_KIND_MAX)
                return -EINVAL;
        const struct notice_wording *w = &wordings[notice->kind];

        char count[32], seconds[32];
        snprintf(count, sizeof count, "%ld", notice->count);
        snprintf(seconds, sizeof seconds, "%ld", notice->seconds);
        const struct placeholder args[] = {
                { "subject", notice->subject ? notice->subject : "-" },
                { "count", count },
                { "seconds", seconds },
        };

        _cleanup_free_ char *summary = NULL, *what = NULL, *body = NULL;
        int r = expand(translate(catalog, w->summary), args, ELEMENTSOF(args), &summary);
        if (r >= 0)
                r = expand(translate(catalog, w->what), args, ELEMENTSOF(args), &what);
        if (r < 0)
                return r;
        const struct placeholder layout[] = {
                { "what", what },
                { "rule", translate(catalog, w->rule) },
                { "contact", contact ? contact : "" },
        };
        r = expand(translate(catalog, body_layout), layout, ELEMENTSOF(layout), &body);
        if (r < 0)
                return r;
        *ret_summary = TAKE_PTR(summary);
        *ret_body = TAKE_PTR(body);
        return 0;
}

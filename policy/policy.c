/* policy.c — the policy's defaults, its JSON and canonical form, hash, errors and freeing.
 * Parsing lives in parse.c, the envelope in envelope.c, the matching helpers in match.c. */
#include <stdarg.h>

#include "common/canon_json.h"
#include "policy/policy-internal.h"

const char *const policy_media_access_names[] = {
        [MEDIA_ACCESS_NONE] = "none",
        [MEDIA_ACCESS_READ_ONLY] = "read_only",
        [MEDIA_ACCESS_READ_WRITE] = "read_write",
        NULL,
};
const char *const policy_media_mode_names[] = {
        [POLICY_MEDIA_BLOCK] = "block",
        [POLICY_MEDIA_READ_ONLY] = "read_only",
        [POLICY_MEDIA_AUDIT] = "audit",
        NULL,
};
const char *const policy_lock_ignored_names[] = {
        [POLICY_LOCK_IGNORED_REPORT] = "report",
        [POLICY_LOCK_IGNORED_LOGOFF] = "logoff",
        NULL,
};
const char *const policy_bulk_action_names[] = {
        [POLICY_BULK_WARN] = "warn",
        [POLICY_BULK_BLOCK] = "block",
        NULL,
};
const char *const policy_content_kind_names[] = {
        [POLICY_CONTENT_CORPORATE_NUMBER] = "corporate_number",
        [POLICY_CONTENT_PHONE] = "phone",
        [POLICY_CONTENT_EMAIL] = "email",
        NULL,
};
const char *const policy_destination_kind_names[] = {
        [POLICY_DEST_REMOVABLE] = "removable",
        [POLICY_DEST_NETWORK_SHARE] = "network_share",
        [POLICY_DEST_DOWNLOADS] = "downloads",
        NULL,
};
const char *const policy_day_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL };

const char *media_access_to_string(enum media_access a)
{
        return (unsigned)a <= MEDIA_ACCESS_READ_WRITE ? policy_media_access_names[a] : "?";
}
const char *policy_media_mode_to_string(enum policy_media_mode m)
{
        return (unsigned)m <= POLICY_MEDIA_AUDIT ? policy_media_mode_names[m] : "?";
}
const char *policy_lock_ignored_action_to_string(enum policy_lock_ignored_action a)
{
        return (unsigned)a <= POLICY_LOCK_IGNORED_LOGOFF ? policy_lock_ignored_names[a] : "?";
}
const char *policy_bulk_action_to_string(enum policy_bulk_action a)
{
        return (unsigned)a <= POLICY_BULK_BLOCK ? policy_bulk_action_names[a] : "?";
}
const char *policy_content_kind_to_string(enum policy_content_kind k)
{
        return (unsigned)k < _POLICY_CONTENT_KIND_MAX ? policy_content_kind_names[k] : "?";
}

/* ---- errors ---------------------------------------------------------------------------- */

int policy_errors_add(struct policy_errors *errs, const char *path, const char *fmt, ...)
{
        if (!errs)
                return 0;
        if (errs->n == errs->allocated) {
                size_t n = errs->allocated ? errs->allocated * 2 : 8;
                struct policy_error *items = reallocarray(errs->items, n, sizeof *items);
                if (!items)
                        return -ENOMEM;
                errs->items = items;
                errs->allocated = n;
        }
        _cleanup_free_ char *p = strdup(path && *path ? path : "$");
        _cleanup_free_ char *m = NULL;
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&m, fmt, ap);
        va_end(ap);
        if (!p || r < 0) {
                m = NULL; /* vasprintf leaves it undefined on failure */
                return -ENOMEM;
        }
        errs->items[errs->n++] = (struct policy_error){ TAKE_PTR(p), TAKE_PTR(m) };
        return 0;
}

void policy_errors_clear(struct policy_errors *errs)
{
        if (!errs)
                return;
        for (size_t i = 0; i < errs->n; i++) {
                free(errs->items[i].path);
                free(errs->items[i].message);
        }
        free(errs->items);
        *errs = (struct policy_errors)POLICY_ERRORS_INIT;
}

void policy_errors_print(const struct policy_errors *errs, FILE *f)
{
        for (size_t i = 0; i < errs->n; i++)
                fprintf(f, "%s: %s\n", errs->items[i].path, errs->items[i].message);
}

/* ---- defaults and freeing ----------------------------------------------------------------- */

void policy_strv_free(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static int strv_from(const char *const *src, size_t n, char ***ret)
{
        char **v = calloc(n ? n : 1, sizeof *v);
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (!(v[i] = strdup(src[i]))) {
                        policy_strv_free(v, i);
                        return -ENOMEM;
                }
        *ret = v;
        return 0;
}

int policy_fill_defaults(struct policy *p)
{
        static const char *const exempt_classes[] = { "greeter", "lock-screen", "background" };
        static const enum policy_destination_kind destinations[] = {
                POLICY_DEST_REMOVABLE, POLICY_DEST_NETWORK_SHARE, POLICY_DEST_DOWNLOADS
        };

        p->version = 1;
        p->removable_media.mode = POLICY_MEDIA_BLOCK;
        p->screen_lock = (struct policy_screen_lock){
                .idle_lock_seconds = 300,
                .warn_before_seconds = 60,
                .lock_grace_seconds = 15,
                /* an unlocked, unattended screen is exactly what the control is about */
                .lock_ignored_action = POLICY_LOCK_IGNORED_LOGOFF,
        };
        p->logoff.idle_logoff_seconds = 3600;
        p->logoff.warn_before_seconds = 300;
        int r = strv_from(exempt_classes, ELEMENTSOF(exempt_classes), &p->logoff.exempt_classes);
        if (r < 0)
                return r;
        p->logoff.n_exempt_classes = ELEMENTSOF(exempt_classes);

        if (!(p->marked_files.xattr = strdup("user.hogo.label")))
                return -ENOMEM;
        p->marked_files.my_number = true;
        p->marked_files.my_number_min_matches = 1;
        p->marked_files.scan_max_bytes = 1024 * 1024;

        p->bulk_transfer.window_seconds = 60;
        p->bulk_transfer.max_files = 20;
        p->bulk_transfer.max_bytes = 100 * 1024 * 1024;
        p->bulk_transfer.action = POLICY_BULK_WARN;
        p->bulk_transfer.cooldown_seconds = 600;
        p->bulk_transfer.destinations = calloc(ELEMENTSOF(destinations),
                                               sizeof *p->bulk_transfer.destinations);
        if (!p->bulk_transfer.destinations)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(destinations); i++)
                p->bulk_transfer.destinations[i].kind = destinations[i];
        p->bulk_transfer.n_destinations = ELEMENTSOF(destinations);

        p->reporting.heartbeat_seconds = 60;
        p->reporting.batch_max_events = 500;
        return 0;
}

int policy_default_strict(struct policy **ret_policy)
{
        _cleanup_policy_ struct policy *p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        int r = policy_fill_defaults(p);
        if (r < 0)
                return r;
        p->name = strdup("strict-default");
        p->description = strdup("Built-in strict default: removable storage blocked, lock "
                                 "after 5 min, logoff after 60 min, bulk warning at 20 "
                                 "marked files or 100 MiB in 60 s.");
        if (!p->name || !p->description)
                return -ENOMEM;
        r = policy_update_hash(p);
        if (r < 0)
                return r;
        *ret_policy = TAKE_PTR(p);
        return 0;
}

void policy_free(struct policy *p)
{
        if (!p)
                return;
        free(p->name);
        free(p->department);
        free(p->description);

        struct policy_removable_media *m = &p->removable_media;
        free(m->classes);
        for (size_t i = 0; i < m->n_allow; i++) {
                free(m->allow[i].serial);
                free(m->allow[i].registration_no);
                free(m->allow[i].holder);
                free(m->allow[i].valid_until_text);
        }
        free(m->allow);
        for (size_t i = 0; i < m->n_exceptions; i++) {
                struct policy_media_exception *e = &m->exceptions[i];
                free(e->serial);
                policy_strv_free(e->terminals, e->n_terminals);
                free(e->reason);
                free(e->approver);
                free(e->valid_until_text);
        }
        free(m->exceptions);

        free(p->logoff.hours);
        policy_strv_free(p->logoff.exempt_classes, p->logoff.n_exempt_classes);
        policy_strv_free(p->logoff.exempt_users, p->logoff.n_exempt_users);

        free(p->marked_files.xattr);
        policy_strv_free(p->marked_files.paths, p->marked_files.n_paths);
        free(p->marked_files.patterns);

        for (size_t i = 0; i < p->bulk_transfer.n_destinations; i++)
                free(p->bulk_transfer.destinations[i].path);
        free(p->bulk_transfer.destinations);
        free(p);
}

/* ---- JSON and canonical form ----------------------------------------------------------------
 * The builders below allocate as they go. add() and append() own the value they are given
 * and turn any failed allocation (a NULL container or value) into b->oom, so the callers
 * check once at the end. */

struct builder {
        bool oom;
};

static void add(struct builder *b, json_object *obj, const char *key, json_object *val)
{
        if (!obj || !val || json_object_object_add(obj, key, val) < 0) {
                json_object_put(val);
                b->oom = true;
        }
}

static void append(struct builder *b, json_object *arr, json_object *val)
{
        if (!arr || !val || json_object_array_add(arr, val) < 0) {
                json_object_put(val);
                b->oom = true;
        }
}

static void add_string(struct builder *b, json_object *obj, const char *key, const char *s)
{
        if (s)
                add(b, obj, key, json_object_new_string(s));
}

static json_object *strv_json(struct builder *b, char *const *v, size_t n)
{
        json_object *arr = json_object_new_array();
        if (!arr) {
                b->oom = true;
                return NULL;
        }
        for (size_t i = 0; i < n; i++)
                append(b, arr, json_object_new_string(v[i]));
        return arr;
}

static json_object *hex16_json(uint16_t v)
{
        char s[5];
        snprintf(s, sizeof s, "%04x", v);
        return json_object_new_string(s);
}

static json_object *clock_json(uint16_t minute)
{
        char s[16];
        snprintf(s, sizeof s, "%02u:%02u", (unsigned)(minute / 60), (unsigned)(minute % 60));
        return json_object_new_string(s);
}

static void add_device(struct builder *b, json_object *o, uint16_t vendor, uint16_t product,
                       const char *serial, enum media_access access)
{
        add(b, o, "vendor", hex16_json(vendor));
        add(b, o, "product", hex16_json(product));
        add_string(b, o, "serial", serial);
        add(b, o, "access", json_object_new_string(media_access_to_string(access)));
}

static json_object *removable_media_json(struct builder *b, const struct policy_removable_media *m)
{
        json_object *o = json_object_new_object(), *classes = json_object_new_array(),
                    *allow = json_object_new_array(), *exceptions = json_object_new_array();
        add(b, o, "mode", json_object_new_string(policy_media_mode_to_string(m->mode)));
        add(b, o, "classes", classes);
        add(b, o, "allow", allow);
        add(b, o, "exceptions", exceptions);
        if (b->oom)
                return o;
        for (size_t i = 0; i < m->n_classes; i++)
                append(b, classes, json_object_new_int(m->classes[i]));
        for (size_t i = 0; i < m->n_allow; i++) {
                const struct policy_media_allow *a = &m->allow[i];
                json_object *e = json_object_new_object();
                append(b, allow, e);
                if (b->oom)
                        break;
                add_device(b, e, a->vendor, a->product, a->serial, a->access);
                add_string(b, e, "registration_no", a->registration_no);
                add_string(b, e, "holder", a->holder);
                add_string(b, e, "valid_until", a->valid_until_text);
        }
        for (size_t i = 0; i < m->n_exceptions && !b->oom; i++) {
                const struct policy_media_exception *x = &m->exceptions[i];
                json_object *e = json_object_new_object();
                append(b, exceptions, e);
                if (b->oom)
                        break;
                add_device(b, e, x->vendor, x->product, x->serial, x->access);
                add(b, e, "terminals", strv_json(b, x->terminals, x->n_terminals));
                add_string(b, e, "reason", x->reason);
                add_string(b, e, "approver", x->approver);
                add_string(b, e, "valid_until", x->valid_until_text);
        }
        return o;
}

static json_object *screen_lock_json(struct builder *b, const struct policy_screen_lock *s)
{
        json_object *o = json_object_new_object();
        add(b, o, "idle_lock_seconds", json_object_new_int64(s->idle_lock_seconds));
        add(b, o, "warn_before_seconds", json_object_new_int64(s->warn_before_seconds));
        add(b, o, "lock_grace_seconds", json_object_new_int64(s->lock_grace_seconds));
        add(b, o, "lock_ignored_action",
            json_object_new_string(policy_lock_ignored_action_to_string(s->lock_ignored_action)));
        return o;
}

static json_object *logoff_json(struct builder *b, const struct policy_logoff *l)
{
        json_object *o = json_object_new_object(), *hours = json_object_new_array();
        add(b, o, "idle_logoff_seconds", json_object_new_int64(l->idle_logoff_seconds));
        add(b, o, "warn_before_seconds", json_object_new_int64(l->warn_before_seconds));
        add(b, o, "hours", hours);
        add(b, o, "exempt_classes", strv_json(b, l->exempt_classes, l->n_exempt_classes));
        add(b, o, "exempt_users", strv_json(b, l->exempt_users, l->n_exempt_users));
        for (size_t i = 0; i < l->n_hours && !b->oom; i++) {
                json_object *w = json_object_new_object();
                append(b, hours, w);
                if (b->oom)
                        break;
                json_object *days = json_object_new_array();
                add(b, w, "days", days);
                if (b->oom)
                        break;
                /* Monday first, as office calendars are written */
                for (int k = 1; k <= 7; k++)
                        if (l->hours[i].days & (1u << (k % 7)))
                                append(b, days, json_object_new_string(policy_day_names[k % 7]));
                add(b, w, "start", clock_json(l->hours[i].start_minute));
                add(b, w, "end", clock_json(l->hours[i].end_minute));
        }
        return o;
}

static json_object *marked_files_json(struct builder *b, const struct policy_marked_files *m)
{
        json_object *o = json_object_new_object(), *content = json_object_new_object(),
                    *patterns = json_object_new_array();
        add_string(b, o, "xattr", m->xattr);
        add(b, o, "paths", strv_json(b, m->paths, m->n_paths));
        add(b, o, "content", content);
        if (b->oom) {
                json_object_put(patterns);
                return o;
        }
        add(b, content, "my_number", json_object_new_boolean(m->my_number));
        add(b, content, "my_number_min_matches", json_object_new_int64(m->my_number_min_matches));
        add(b, content, "scan_max_bytes", json_object_new_int64((int64_t)m->scan_max_bytes));
        add(b, content, "patterns", patterns);
        for (size_t i = 0; i < m->n_patterns && !b->oom; i++) {
                json_object *pat = json_object_new_object();
                append(b, patterns, pat);
                if (b->oom)
                        break;
                add(b, pat, "kind",
                    json_object_new_string(policy_content_kind_to_string(m->patterns[i].kind)));
                add(b, pat, "min_matches", json_object_new_int64(m->patterns[i].min_matches));
        }
        return o;
}

static json_object *bulk_transfer_json(struct builder *b, const struct policy_bulk_transfer *t)
{
        json_object *o = json_object_new_object(), *dest = json_object_new_array();
        add(b, o, "window_seconds", json_object_new_int64(t->window_seconds));
        add(b, o, "max_files", json_object_new_int64(t->max_files));
        add(b, o, "max_bytes", json_object_new_int64((int64_t)t->max_bytes));
        add(b, o, "destinations", dest);
        add(b, o, "action", json_object_new_string(policy_bulk_action_to_string(t->action)));
        add(b, o, "cooldown_seconds", json_object_new_int64(t->cooldown_seconds));
        for (size_t i = 0; i < t->n_destinations && !b->oom; i++) {
                const struct policy_destination *d = &t->destinations[i];
                append(b, dest,
                       json_object_new_string(d->kind == POLICY_DEST_PATH
                                                      ? d->path
                                                      : policy_destination_kind_names[d->kind]));
        }
        return o;
}

int policy_to_json(const struct policy *p, json_object **ret)
{
        struct builder b = { false };
        _cleanup_json_ json_object *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        add(&b, o, "version", json_object_new_int64(p->version));
        add_string(&b, o, "name", p->name);
        add_string(&b, o, "department", p->department);
        add_string(&b, o, "description", p->description);
        add(&b, o, "removable_media", removable_media_json(&b, &p->removable_media));
        add(&b, o, "screen_lock", screen_lock_json(&b, &p->screen_lock));
        add(&b, o, "logoff", logoff_json(&b, &p->logoff));
        add(&b, o, "marked_files", marked_files_json(&b, &p->marked_files));
        add(&b, o, "bulk_transfer", bulk_transfer_json(&b, &p->bulk_transfer));

        json_object *rep = json_object_new_object();
        add(&b, o, "reporting", rep);
        if (!b.oom) {
                add(&b, rep, "heartbeat_seconds", json_object_new_int64(p->reporting.heartbeat_seconds));
                add(&b, rep, "batch_max_events", json_object_new_int64(p->reporting.batch_max_events));
        }
        if (b.oom)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

int policy_canonical(const struct policy *p, char **ret, size_t *ret_len)
{
        _cleanup_json_ json_object *o = NULL;
        int r = policy_to_json(p, &o);
        if (r < 0)
                return r;
        return json_canonical(o, NULL, ret, ret_len);
}

int policy_update_hash(struct policy *p)
{
        _cleanup_free_ char *canon = NULL;
        size_t len = 0;
        int r = policy_canonical(p, &canon, &len);
        if (r < 0)
                return r;
        sha256_hex(canon, len, p->hash);
        return 0;
}

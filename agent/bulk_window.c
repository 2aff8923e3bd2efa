/* bulk_window.c — see bulk_window.h. */
#include "agent/bulk_window.h"

#include "common/util.h"

/* The distinct files of a user's window: a pool of entries, in a list from the most to
 * the least recently read (so expiry and making room take the tail) and in an
 * open-addressing hash by (dev, ino) (so a read finds its entry at once). A policy may
 * allow many thousands of files; every operation stays O(1) however many. */
#define NIL UINT32_MAX

struct file_entry {
        uint64_t dev, ino;
        uint64_t seen;       /* last read */
        uint32_t newer, older; /* the list; NIL at the ends */
};

struct byte_entry {
        uint64_t at;
        uint64_t bytes;
};

struct recent_name {
        uint64_t dev, ino;
        char *path;
};

struct user_window {
        uid_t uid;
        uint64_t last_active;
        struct file_entry *files; /* the pool: n_files in use, at most max_files (or BULK_LIST_MAX) */
        size_t n_files, files_cap;
        uint32_t newest, oldest;  /* the list's ends */
        uint32_t *slots;          /* hash: an index into files or NIL; n_slots a power of 2 */
        size_t n_slots;
        uint64_t bytes_sum;       /* of bytes[] */
        struct byte_entry bytes[BULK_BYTE_ENTRIES_MAX]; /* oldest first */
        size_t n_bytes;
        struct recent_name recent[BULK_LIST_MAX]; /* ring, newest at recent_head - 1 */
        size_t recent_head, n_recent;
        uint64_t raised_at; /* 0: never */
        bool raised;
        uint64_t blocked_until;
};

struct bulk_window {
        struct bulk_window_config cfg;
        struct user_window **users;
        size_t n_users;
};

int bulk_window_new(const struct bulk_window_config *cfg, struct bulk_window **ret)
{
        struct bulk_window *w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        /* an array of pointers: sizeof a pointer is meant */
        w->users = calloc(BULK_USERS_MAX, sizeof *w->users); // NOLINT(bugprone-sizeof-expression)
        if (!w->users) {
                free(w);
                return -ENOMEM;
        }
        w->cfg = *cfg;
        *ret = w;
        return 0;
}

static void user_free(struct user_window *u)
{
        if (!u)
                return;
        for (size_t i = 0; i < BULK_LIST_MAX; i++)
                free(u->recent[i].path);
        free(u->files);
        free(u->slots);
        free(u);
}

void bulk_window_free(struct bulk_window *w)
{
        if (!w)
                return;
        for (size_t i = 0; i < w->n_users; i++)
                user_free(w->users[i]);
        free(w->users);
        free(w);
}

void bulk_window_set_config(struct bulk_window *w, const struct bulk_window_config *cfg)
{
        w->cfg = *cfg;
        if (!cfg->block)
                bulk_window_unblock_all(w);
}

void bulk_window_unblock_all(struct bulk_window *w)
{
        for (size_t i = 0; i < w->n_users; i++)
                w->users[i]->blocked_until = 0;
}

static bool in_window(const struct bulk_window *w, uint64_t t, uint64_t now)
{
        return t + w->cfg.window_usec > now;
}

static size_t slot_of(const struct user_window *u, uint64_t dev, uint64_t ino)
{
        uint64_t h = (dev * 0x9E3779B97F4A7C15ull) ^ (ino * 0xC2B2AE3D27D4EB4Full);
        return (size_t)(h ^ (h >> 29)) & (u->n_slots - 1);
}

static uint32_t file_find(const struct user_window *u, uint64_t dev, uint64_t ino)
{
        if (!u->n_slots)
                return NIL;
        for (size_t i = slot_of(u, dev, ino);; i = (i + 1) & (u->n_slots - 1)) {
                uint32_t e = u->slots[i];
                if (e == NIL || (u->files[e].dev == dev && u->files[e].ino == ino))
                        return e;
        }
}

static void slot_put(struct user_window *u, uint32_t e)
{
        size_t i = slot_of(u, u->files[e].dev, u->files[e].ino);
        while (u->slots[i] != NIL)
                i = (i + 1) & (u->n_slots - 1);
        u->slots[i] = e;
}

/* Linear probing's deletion: later entries of the cluster move back into the hole. */
static void slot_remove(struct user_window *u, uint32_t e)
{
        size_t mask = u->n_slots - 1, i = slot_of(u, u->files[e].dev, u->files[e].ino);
        while (u->slots[i] != e)
                i = (i + 1) & mask;
        for (size_t j = (i + 1) & mask; u->slots[j] != NIL; j = (j + 1) & mask) {
                size_t home = slot_of(u, u->files[u->slots[j]].dev, u->files[u->slots[j]].ino);
                /* the entry at j may fill the hole at i when its home is not in (i, j] */
                if (((j - home) & mask) >= ((j - i) & mask)) {
                        u->slots[i] = u->slots[j];
                        i = j;
                }
        }
        u->slots[i] = NIL;
}

static void list_unlink(struct user_window *u, uint32_t e)
{
        struct file_entry *f = &u->files[e];
        if (f->newer != NIL)
                u->files[f->newer].older = f->older;
        else
                u->newest = f->older;
        if (f->older != NIL)
                u->files[f->older].newer = f->newer;
        else
                u->oldest = f->newer;
}

static void list_push_newest(struct user_window *u, uint32_t e)
{
        u->files[e].newer = NIL;
        u->files[e].older = u->newest;
        if (u->newest != NIL)
                u->files[u->newest].newer = e;
        else
                u->oldest = e;
        u->newest = e;
}

/* Drops entry e: the pool's last entry moves into its place, so the pool stays dense. */
static void file_drop(struct user_window *u, uint32_t e)
{
        slot_remove(u, e);
        list_unlink(u, e);
        uint32_t last = (uint32_t)--u->n_files;
        if (e == last)
                return;
        slot_remove(u, last);
        list_unlink(u, last);
        u->files[e] = u->files[last];
        /* relink the moved entry at e, where last was in the list */
        struct file_entry *f = &u->files[e];
        if (f->newer != NIL)
                u->files[f->newer].older = e;
        else
                u->newest = e;
        if (f->older != NIL)
                u->files[f->older].newer = e;
        else
                u->oldest = e;
        slot_put(u, e);
}

/* Room for one more entry: the pool and the hash (kept at most half full) grow by
 * doubling, up to limit entries. */
static int files_reserve(struct user_window *u, size_t limit)
{
        if (u->n_files < u->files_cap)
                return 0;
        size_t ncap = MIN(MAX(u->files_cap * 2, (size_t)16), limit);
        struct file_entry *nf = realloc(u->files, ncap * sizeof *nf);
        if (!nf)
                return -ENOMEM;
        u->files = nf;
        u->files_cap = ncap;
        size_t nslots = 32;
        while (nslots < 2 * ncap)
                nslots *= 2;
        if (nslots == u->n_slots)
                return 0;
        uint32_t *ns = malloc(nslots * sizeof *ns);
        if (!ns)
                return -ENOMEM;
        free(u->slots);
        u->slots = ns;
        u->n_slots = nslots;
        memset(u->slots, 0xff, nslots * sizeof *ns); /* NIL */
        for (uint32_t e = 0; e < u->n_files; e++)
                slot_put(u, e);
        return 0;
}

static void expire(const struct bulk_window *w, struct user_window *u, uint64_t now)
{
        while (u->oldest != NIL && !in_window(w, u->files[u->oldest].seen, now))
                file_drop(u, u->oldest);

        size_t drop = 0;
        while (drop < u->n_bytes && !in_window(w, u->bytes[drop].at, now))
                u->bytes_sum -= u->bytes[drop++].bytes;
        if (drop) {
                memmove(u->bytes, u->bytes + drop, (u->n_bytes - drop) * sizeof u->bytes[0]);
                u->n_bytes -= drop;
        }
        if (u->raised && !in_window(w, u->raised_at, now))
                u->raised = false;
}

static uint64_t bytes_total(const struct user_window *u)
{
        return u->bytes_sum;
}

static bool over_files(const struct bulk_window *w, const struct user_window *u)
{
        return w->cfg.max_files > 0 && u->n_files >= w->cfg.max_files;
}

static bool over_bytes(const struct bulk_window *w, const struct user_window *u)
{
        return w->cfg.max_bytes > 0 && bytes_total(u) >= w->cfg.max_bytes;
}

static bool user_idle(const struct bulk_window *w, const struct user_window *u, uint64_t now)
{
        return u->n_files == 0 && u->n_bytes == 0 && !u->raised && u->blocked_until <= now &&
               !in_window(w, u->last_active, now);
}

static int user_get(struct bulk_window *w, uid_t uid, uint64_t now, struct user_window **ret)
{
        for (size_t i = 0; i < w->n_users; i++)
                if (w->users[i]->uid == uid) {
                        *ret = w->users[i];
                        return 0;
                }
        if (w->n_users == BULK_USERS_MAX) {
                /* forget the least recently active user that is not in a cool-down */
                size_t victim = SIZE_MAX;
                for (size_t i = 0; i < w->n_users; i++)
                        if (w->users[i]->blocked_until <= now &&
                            (victim == SIZE_MAX || w->users[i]->last_active < w->users[victim]->last_active))
                                victim = i;
                if (victim == SIZE_MAX)
                        return -ENOSPC;
                user_free(w->users[victim]);
                w->users[victim] = w->users[--w->n_users];
        }
        struct user_window *u = calloc(1, sizeof *u);
        if (!u)
                return -ENOMEM;
        u->uid = uid;
        u->newest = u->oldest = NIL;
        w->users[w->n_users++] = u;
        *ret = u;
        return 0;
}

static enum bulk_outcome evaluate(struct bulk_window *w, struct user_window *u, uint64_t now)
{
        if (!over_files(w, u) && !over_bytes(w, u))
                return BULK_WITHIN;
        if (u->raised)
                return BULK_OVER;
        u->raised = true;
        u->raised_at = now;
        if (w->cfg.block)
                u->blocked_until = now + w->cfg.cooldown_usec;
        return BULK_CROSSED;
}

static int remember_name(struct user_window *u, uint64_t dev, uint64_t ino, const char *path)
{
        if (!path)
                return 0;
        for (size_t i = 0; i < BULK_LIST_MAX; i++)
                if (u->recent[i].path && u->recent[i].dev == dev && u->recent[i].ino == ino)
                        return 0;
        char *copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        struct recent_name *slot = &u->recent[u->recent_head];
        free(slot->path);
        *slot = (struct recent_name){ dev, ino, copy };
        u->recent_head = (u->recent_head + 1) % BULK_LIST_MAX;
        u->n_recent = MIN(u->n_recent + 1, (size_t)BULK_LIST_MAX);
        return 0;
}

int bulk_window_add_file(struct bulk_window *w, uid_t uid, uint64_t dev, uint64_t ino,
                         const char *path, uint64_t now, enum bulk_outcome *ret)
{
        struct user_window *u;
        int r = user_get(w, uid, now, &u);
        if (r < 0)
                return r;
        expire(w, u, now);
        u->last_active = now;

        uint32_t e = file_find(u, dev, ino);
        if (e != NIL) {
                u->files[e].seen = now;
                list_unlink(u, e);
                list_push_newest(u, e);
        } else {
                size_t limit = MAX((size_t)w->cfg.max_files, (size_t)BULK_LIST_MAX);
                /* already at the limit (a lower one since a policy change, too): the
                 * oldest entries make room (the count stays at the limit, which is all a
                 * decision needs) */
                while (u->n_files >= limit)
                        file_drop(u, u->oldest);
                r = files_reserve(u, limit);
                if (r < 0)
                        return r;
                e = (uint32_t)u->n_files++;
                u->files[e] = (struct file_entry){ .dev = dev, .ino = ino, .seen = now };
                list_push_newest(u, e);
                slot_put(u, e);
        }
        r = remember_name(u, dev, ino, path);
        if (r < 0)
                return r;
        *ret = evaluate(w, u, now);
        return 0;
}

int bulk_window_add_bytes(struct bulk_window *w, uid_t uid, uint64_t bytes, uint64_t now,
                          enum bulk_outcome *ret)
{
        struct user_window *u;
        int r = user_get(w, uid, now, &u);
        if (r < 0)
                return r;
        expire(w, u, now);
        u->last_active = now;
        if (u->n_bytes == BULK_BYTE_ENTRIES_MAX) {
                /* merge the two oldest under the newer time: counted longer, never less */
                u->bytes[1].bytes += u->bytes[0].bytes;
                memmove(u->bytes, u->bytes + 1, (u->n_bytes - 1) * sizeof u->bytes[0]);
                u->n_bytes--;
        }
        u->bytes[u->n_bytes++] = (struct byte_entry){ now, bytes };
        u->bytes_sum += bytes;
        *ret = evaluate(w, u, now);
        return 0;
}

static struct user_window *user_find(const struct bulk_window *w, uid_t uid)
{
        for (size_t i = 0; i < w->n_users; i++)
                if (w->users[i]->uid == uid)
                        return w->users[i];
        return NULL;
}

bool bulk_window_blocked(struct bulk_window *w, uid_t uid, uint64_t now, uint64_t *ret_until)
{
        struct user_window *u = user_find(w, uid);
        if (!u || u->blocked_until <= now)
                return false;
        if (ret_until)
                *ret_until = u->blocked_until;
        return true;
}

void bulk_window_stats(struct bulk_window *w, uid_t uid, uint64_t now, struct bulk_window_stats *ret)
{
        struct bulk_window_stats s = { 0 };
        struct user_window *u = user_find(w, uid);
        if (u) {
                expire(w, u, now);
                s.files = (uint32_t)u->n_files;
                s.bytes = bytes_total(u);
                s.files_over = over_files(w, u);
                s.bytes_over = over_bytes(w, u);
                for (size_t k = 1; k <= u->n_recent; k++) {
                        const struct recent_name *n =
                                &u->recent[(u->recent_head + BULK_LIST_MAX - k) % BULK_LIST_MAX];
                        if (file_find(u, n->dev, n->ino) != NIL)
                                s.recent[s.n_recent++] = n->path;
                }
        }
        *ret = s;
}

void bulk_window_gc(struct bulk_window *w, uint64_t now)
{
        for (size_t i = 0; i < w->n_users;) {
                struct user_window *u = w->users[i];
                expire(w, u, now);
                if (user_idle(w, u, now)) {
                        user_free(u);
                        w->users[i] = w->users[--w->n_users];
                } else {
                        i++;
                }
        }
}

size_t bulk_window_users(const struct bulk_window *w)
{
        return w->n_users;
}

/* source_files.c — the `files` event source: bulk copy and download of marked files.
 *
 * Two fanotify groups (both FAN_CLASS_CONTENT):
 *   - the notification group, read on the agent's loop: FAN_OPEN on the data mounts (where
 *     marked files live) and FAN_CLOSE_WRITE on the watched destinations. Opens of marked
 *     files and marked content written to destinations feed the per-user sliding window
 *     (bulk_window.h); crossing a limit raises files.bulk_warning once per window with a
 *     notice to the user.
 *   - the permission group, present only while some user is in a block cool-down:
 *     FAN_OPEN_PERM on the data mounts, answered by a thread of its own. The thread never
 *     opens a file on a watched mount (only the event's fd and /proc), so the agent's own
 *     file I/O on the loop (spool, password database) can never wait on itself; it allows
 *     the agent's own opens at once, denies opens of marked files by a blocked user, and
 *     allows everything else — including whenever it cannot decide (recorded and reported).
 *
 * A file is marked by its label xattr, a policy glob, or (for files written to
 * destinations) its content. The mark check is cached by (device, inode, ctime), and a
 * file found unmarked gets an ignore mark, so a hot unmarked file costs the kernel's floor
 * only once. The ignore marks are flushed with every rescan (each minute, on mount changes
 * and policy changes), so a file labelled after it was found unmarked is seen again soon.
 *
 * The fanotify descriptor failing, a mark failing, or the event queue overflowing is an
 * event (files.monitor_failed, files.mark_failed, files.queue_overflow) and shows in the
 * posture check "file_monitoring": fanotify fails open when its listener is gone.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/agent.h"
#include "agent/agent_core.h"
#include "agent/bulk_window.h"
#include "agent/files_targets.h"
#include "agent/source.h"
#include "common/canon_json.h"
#include "common/classify_file.h"
#include "common/log.h"
#include "common/mark.h"
#include "common/util.h"
#include "policy/policy.h"

#define USEC_PER_SEC 1000000ull
#define RESCAN_USEC (60 * USEC_PER_SEC)
#define REPORT_INTERVAL_USEC (60 * USEC_PER_SEC) /* rate of overflow / error events */
#define CACHE_SLOTS 8192                         /* direct-mapped mark cache */
#define IGNORE_MARKS_MAX 4096                    /* below the kernel's per-group mark limit */
#define READERS_MAX 128                          /* processes that read marked files lately */
#define OVERFLOW_POSTURE_USEC (3600 * USEC_PER_SEC) /* an overflow fails the posture this long */
#define PENDING_MAX 128
#define PENDING_USEC (2 * USEC_PER_SEC)          /* unattributed opens wait this long */
#define PID_OWNERS_MAX 256
#define PID_OWNER_USEC (10 * USEC_PER_SEC)       /* how long a pid's owner is trusted */
/* An event is read after it happened (a queue of 16384 may lie between), so /proc tells a
 * process's uid as of reading time, not as of the open. A uid read from /proc this recently
 * is as good as reading it again, and saves three system calls per event of a busy
 * process. A pid is not reused this fast (the kernel hands pids out in a cycle). */
#define PID_OWNER_FRESH_USEC (100 * 1000)
/* Opens whose process was gone before we could see its uid are counted under this uid,
 * so a burst of short-lived processes is still detected (as "unknown"). */
#define UID_UNATTRIBUTED ((uid_t)-2)
#define BLOCKED_MAX BULK_USERS_MAX                 /* every user the window can hold */
#define DENIALS_MAX 64
#define PERM_DEADLINE_USEC (200 * 1000)          /* a decision slower than this is recorded */
#define EVENT_BUF_SIZE (64 * 1024)
#define NOTIF_BATCH_USEC (4 * 1000) /* 16384 queued events last far longer at any rate we see */
#define FORWARDED_MAX 1024 /* marked opens the permission thread hands to the loop */

struct cache_slot {
        uint64_t dev, ino;
        int64_t ctime_sec, ctime_nsec;
        bool used, marked;
        char label[MARK_LABEL_MAX + 1];
};

/* What the permission thread needs to decide, copied from the policy under the lock. */
struct mark_rules {
        char *xattr;
        char **globs;
        size_t n_globs;
};

struct blocked_user {
        uid_t uid;
        uint64_t until;
        uint64_t reported_until; /* files.bulk_blocked sent for this cool-down (loop only) */
        uint64_t denied;
};

struct denial {
        uid_t uid;
        pid_t pid;
        char path[PATH_MAX];
        char exe[256], comm[32]; /* read while the process waits for the answer */
};

struct reader {
        pid_t pid;
        uint64_t at;
};

/* Who a pid belonged to, remembered from its first event: a short-lived process is often
 * gone (and reaped) before its later events are read. */
struct pid_owner {
        pid_t pid;
        uid_t uid;
        uint64_t at;
        uint64_t read_at; /* when /proc last confirmed uid (0: learned otherwise) */
        char exe[256];
        char comm[32];
};

/* An open of a marked file whose process was gone before its uid could be read. It waits
 * for the pid's owner to become known (from the file it writes to a destination, which
 * the writer owns); if that does not come soon it counts as "unknown". */
struct pending_open {
        pid_t pid;
        uint64_t dev, ino, at;
        char path[PATH_MAX];
};

/* While the permission group runs, the notification group does not watch opens on the
 * data mounts (each open would cost two events, and the thread sees every one anyway):
 * the thread hands the opens of marked files to the loop instead. It reads the uid while
 * the opener waits for the answer, so a short-lived process is still attributed. */
struct forwarded_open {
        pid_t pid;
        uid_t uid;
        bool uid_known;
        uint64_t dev, ino;
        char path[PATH_MAX];
};

struct user_note {
        uid_t uid;
        char destination[PATH_MAX];
        const char *destination_kind;
};

struct files_source {
        struct agent *agent;
        const struct policy *policy;
        pid_t self;

        int notif_fd;
        sd_event_source *notif_io;
        int mountinfo_fd;
        sd_event_source *mountinfo_io;
        sd_event_source *rescan_timer;
        sd_event_source *cooldown_timer;
        int denial_efd;
        sd_event_source *denial_io;

        struct files_targets targets;
        struct classify_config classify;
        struct bulk_window *window;
        struct reader readers[READERS_MAX];
        struct pid_owner owners[PID_OWNERS_MAX];
        struct pending_open pending[PENDING_MAX];
        size_t n_pending;
        struct user_note notes[BULK_USERS_MAX];
        size_t n_notes;

        /* shared with the permission thread, under lock */
        pthread_mutex_t lock;
        struct cache_slot *cache;
        struct mark_rules rules;
        struct blocked_user blocked[BLOCKED_MAX];
        size_t n_blocked;
        struct denial denials[DENIALS_MAX];
        size_t n_denials;
        uint64_t perm_events, perm_denied, perm_errors, perm_slow, denials_dropped;
        struct forwarded_open forwarded[FORWARDED_MAX];
        size_t n_forwarded;
        uint64_t perm_opens_unmarked, forwarded_dropped;
        uint64_t forwarded_dropped_seen; /* loop only */
        int perm_last_error;

        /* the permission group and its thread (only while someone is blocked) */
        int perm_fd;
        pthread_t perm_thread;
        char *perm_buf; /* the thread's read buffer (off its stack: it is cancelled) */
        bool perm_running;
        size_t perm_ignore_marks; /* permission thread only; reset with each group */

        /* counters and health, loop only */
        uint64_t opens_marked, opens_unmarked, writes_counted, writes_ignored, writes_unplaced, unattributed;
        uint64_t warnings, overflows, overflows_reported, ignore_marks, classify_errors;
        uint64_t perm_errors_reported;
        uint64_t last_overflow, last_overflow_report, last_error_report;
        /* events the kernel could not hand over (read() failed for one event) */
        uint64_t receive_errors, receive_errors_reported, last_receive_error, last_receive_report;
        int receive_errno;
        unsigned marks_failed;
        /* places whose mark failed in the last scan: files.mark_failed only for new ones */
        char *failed_places[16], *failed_before[16];
        size_t n_failed_places, n_failed_before;
        bool failed;
        char reason[256];
};

/* --- process facts ------------------------------------------------------------------- */

static int proc_uid(pid_t pid, uid_t *ret)
{
        char path[64], buf[1024];
        snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        ssize_t n = read(fd, buf, sizeof buf - 1);
        if (n <= 0)
                return n < 0 ? negative_errno() : -EIO;
        buf[n] = '\0';
        const char *u = strstr(buf, "\nUid:");
        unsigned long uid;
        if (!u || sscanf(u + 5, "%lu", &uid) != 1)
                return -EIO;
        *ret = (uid_t)uid;
        return 0;
}

static void proc_link(pid_t pid, const char *what, char *buf, size_t size)
{
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
        ssize_t n = readlink(path, buf, size - 1);
        buf[n > 0 ? n : 0] = '\0';
}

static void proc_comm(pid_t pid, char *buf, size_t size)
{
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
        buf[0] = '\0';
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, size - 1) : -1;
        buf[n > 0 ? n : 0] = '\0';
        char *nl = strchr(buf, '\n');
        if (nl)
                *nl = '\0';
}

/* /proc/self/fd, opened once: looking up "/proc/self/fd/N" from the root for every event
 * was the agent's costliest system call on a busy data mount (three extra lookups). */
static int proc_fd_dir = -1;
static pthread_once_t proc_fd_once = PTHREAD_ONCE_INIT;

static void proc_fd_dir_open(void)
{
        proc_fd_dir = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
}

static void fd_path(int fd, char *buf, size_t size)
{
        char link[64];
        ssize_t n;
        pthread_once(&proc_fd_once, proc_fd_dir_open);
        if (proc_fd_dir >= 0) {
                snprintf(link, sizeof link, "%d", fd);
                n = readlinkat(proc_fd_dir, link, buf, size - 1);
        } else {
                snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
                n = readlink(link, buf, size - 1);
        }
        buf[n > 0 ? n : 0] = '\0';
}

static void user_name(uid_t uid, char *buf, size_t size)
{
        if (uid == UID_UNATTRIBUTED) {
                snprintf(buf, size, "unknown");
                return;
        }
        struct passwd pw, *res = NULL;
        char tmp[1024];
        if (getpwuid_r(uid, &pw, tmp, sizeof tmp, &res) == 0 && res)
                snprintf(buf, size, "%s", res->pw_name);
        else
                snprintf(buf, size, "%u", (unsigned)uid);
}

/* --- is this file marked? (both threads) --------------------------------------------- */

static size_t cache_index(uint64_t dev, uint64_t ino)
{
        uint64_t h = (dev * 0x9E3779B97F4A7C15ull) ^ (ino * 0xC2B2AE3D27D4EB4Full);
        return (size_t)(h >> 32) % CACHE_SLOTS;
}

/* The path of an event's fd, read once and only when someone needs it (path[0] == 0: not
 * read yet). */
static const char *lazy_path(int fd, char path[static PATH_MAX])
{
        if (!path[0])
                fd_path(fd, path, PATH_MAX);
        return path;
}

/* Marked by label or glob: 1 (label in ret_label, "path" for a glob), 0 not, -errno.
 * The lock is held only around the cache and the rules, never across a system call, so
 * the permission thread never waits for the loop's I/O. path is read lazily. */
static int file_marked(struct files_source *s, int fd, const struct stat *st, char path[static PATH_MAX],
                       char ret_label[static MARK_LABEL_MAX + 1])
{
        char xattr[256];
        size_t n_globs;
        pthread_mutex_lock(&s->lock);
        const struct cache_slot *c = &s->cache[cache_index(st->st_dev, st->st_ino)];
        if (c->used && c->dev == st->st_dev && c->ino == st->st_ino &&
            c->ctime_sec == st->st_ctim.tv_sec && c->ctime_nsec == st->st_ctim.tv_nsec) {
                strcpy(ret_label, c->label);
                bool marked = c->marked;
                pthread_mutex_unlock(&s->lock);
                return marked;
        }
        snprintf(xattr, sizeof xattr, "%s", s->rules.xattr);
        n_globs = s->rules.n_globs;
        pthread_mutex_unlock(&s->lock);

        char label[MARK_LABEL_MAX + 1] = "";
        int r = mark_label_fd(fd, xattr, label);
        if (r < 0)
                return r;
        bool marked = r > 0;
        if (!marked && n_globs > 0 && lazy_path(fd, path)[0] == '/') {
                pthread_mutex_lock(&s->lock); /* the rules may have changed meanwhile: fine */
                for (size_t i = 0; !marked && i < s->rules.n_globs; i++)
                        marked = mark_glob_match(s->rules.globs[i], path);
                pthread_mutex_unlock(&s->lock);
                if (marked)
                        strcpy(label, "path");
        }
        pthread_mutex_lock(&s->lock);
        struct cache_slot *w = &s->cache[cache_index(st->st_dev, st->st_ino)];
        *w = (struct cache_slot){ .dev = st->st_dev, .ino = st->st_ino,
                                  .ctime_sec = st->st_ctim.tv_sec, .ctime_nsec = st->st_ctim.tv_nsec,
                                  .used = true, .marked = marked };
        strcpy(w->label, label);
        pthread_mutex_unlock(&s->lock);
        strcpy(ret_label, label);
        return marked;
}

/* --- the permission thread ------------------------------------------------------------ */

static bool uid_blocked_locked(struct files_source *s, uid_t uid, uint64_t now)
{
        for (size_t i = 0; i < s->n_blocked; i++)
                if (s->blocked[i].uid == uid && s->blocked[i].until > now)
                        return true;
        return false;
}

/* FAN_DENY for an open of a marked file by a blocked user, FAN_ALLOW otherwise. Errors
 * allow: an agent fault must not lock staff out of their files. */
static uint32_t perm_decide(struct files_source *s, const struct fanotify_event_metadata *m,
                            uint64_t now, int *ret_error)
{
        *ret_error = 0;
        if (m->pid == s->self)
                return FAN_ALLOW;

        /* cheapest questions first: is the file marked (an unmarked one is not asked about
         * again), and only then whose process it is. Asked even when nobody is blocked any
         * more: the marked opens are counted from here while this group runs. */
        struct stat st;
        if (fstat(m->fd, &st) < 0) {
                *ret_error = negative_errno();
                return FAN_ALLOW;
        }
        /* an empty file holds nothing to take out (a copy's new files are opened empty) */
        if (!S_ISREG(st.st_mode) || st.st_size == 0) {
                if (S_ISREG(st.st_mode))
                        __atomic_add_fetch(&s->perm_opens_unmarked, 1, __ATOMIC_RELAXED);
                return FAN_ALLOW;
        }
        char path[PATH_MAX] = "", label[MARK_LABEL_MAX + 1];
        int r = file_marked(s, m->fd, &st, path, label);
        if (r < 0) {
                *ret_error = r;
                return FAN_ALLOW;
        }
        if (r == 0) {
                __atomic_add_fetch(&s->perm_opens_unmarked, 1, __ATOMIC_RELAXED);
                /* the group lives only for this cool-down, so the ignore marks go with it */
                if (s->perm_ignore_marks < IGNORE_MARKS_MAX &&
                    fanotify_mark(s->perm_fd, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK, FAN_OPEN_PERM, m->fd, NULL) == 0)
                        s->perm_ignore_marks++;
                return FAN_ALLOW;
        }
        /* read every time: a process may change its uid (su, setpriv) and keep its pid */
        uid_t uid;
        r = proc_uid(m->pid, &uid);
        lazy_path(m->fd, path);
        pthread_mutex_lock(&s->lock);
        if (s->n_forwarded < FORWARDED_MAX) {
                struct forwarded_open *f = &s->forwarded[s->n_forwarded++];
                *f = (struct forwarded_open){ .pid = m->pid, .uid = uid, .uid_known = r >= 0,
                                              .dev = st.st_dev, .ino = st.st_ino };
                snprintf(f->path, sizeof f->path, "%s", path);
        } else {
                s->forwarded_dropped++;
        }
        bool blocked = r >= 0 && uid_blocked_locked(s, uid, now);
        pthread_mutex_unlock(&s->lock);
        if (r < 0) {
                *ret_error = r;
                return FAN_ALLOW;
        }
        if (!blocked)
                return FAN_ALLOW;

        char exe[256], comm[32];
        proc_link(m->pid, "exe", exe, sizeof exe);
        proc_comm(m->pid, comm, sizeof comm);
        pthread_mutex_lock(&s->lock);
        s->perm_denied++;
        for (size_t i = 0; i < s->n_blocked; i++)
                if (s->blocked[i].uid == uid)
                        s->blocked[i].denied++;
        if (s->n_denials < DENIALS_MAX) {
                struct denial *d = &s->denials[s->n_denials++];
                d->uid = uid;
                d->pid = m->pid;
                snprintf(d->path, sizeof d->path, "%s", path);
                snprintf(d->exe, sizeof d->exe, "%s", exe);
                snprintf(d->comm, sizeof d->comm, "%s", comm);
        } else {
                s->denials_dropped++;
        }
        pthread_mutex_unlock(&s->lock);
        return FAN_DENY;
}

static void perm_answer(int fan_fd, int fd, uint32_t response)
{
        struct fanotify_response resp = { .fd = fd, .response = response };
        while (write(fan_fd, &resp, sizeof resp) < 0 && errno == EINTR)
                ;
}

/* Wakes the loop: denials, errors or forwarded opens to report. */
static void perm_wake_loop(struct files_source *s)
{
        uint64_t one = 1;
        (void)!write(s->denial_efd, &one, sizeof one);
}

/* read() on the group failed for one event: the kernel could not open the file for us and
 * answered that one open itself; the thread keeps answering the others (a thread that
 * stopped here would leave every open on the data mounts waiting). */
__attribute__((noinline)) static void perm_receive_failed(struct files_source *s, int err)
{
        pthread_mutex_lock(&s->lock);
        s->perm_errors++;
        s->perm_last_error = err;
        pthread_mutex_unlock(&s->lock);
        perm_wake_loop(s);
}

/* not inlined: its locals must stay out of the cancelled read's frame */
__attribute__((noinline)) static void perm_answer_batch(struct files_source *s, const char *buf, ssize_t n)
{
        bool denied = false;
        uint64_t events = 0, errors = 0, slow = 0;
        int last_error = 0;
        const struct fanotify_event_metadata *m = (const struct fanotify_event_metadata *)buf;
        for (; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
                if (m->fd < 0)
                        continue;
                uint64_t start = clock_usec(CLOCK_MONOTONIC);
                int err = 0;
                uint32_t resp = FAN_ALLOW;
                if (m->vers == FANOTIFY_METADATA_VERSION && (m->mask & FAN_OPEN_PERM))
                        resp = perm_decide(s, m, start, &err);
                perm_answer(s->perm_fd, m->fd, resp);
                close(m->fd);
                events++;
                denied |= resp == FAN_DENY;
                if (err) {
                        errors++;
                        last_error = err;
                }
                if (clock_usec(CLOCK_MONOTONIC) - start > PERM_DEADLINE_USEC)
                        slow++;
        }
        pthread_mutex_lock(&s->lock);
        s->perm_events += events;
        s->perm_errors += errors;
        s->perm_slow += slow;
        if (last_error)
                s->perm_last_error = last_error;
        bool forwarded = s->n_forwarded > 0;
        pthread_mutex_unlock(&s->lock);
        if (denied || errors || forwarded)
                perm_wake_loop(s);
}

/* A blocking read, cancelled by perm_stop(): a copy opens one file at a time and waits for
 * each answer, so a poll() before each read doubled the thread's cost per event.
 * Cancellation is allowed only inside that read, where no lock is held; events read and
 * not yet answered are allowed when the group is closed. Nothing of this frame lives on
 * the stack by address (the buffer is s->perm_buf), so the unwinding leaves nothing behind. */
static void *perm_thread_main(void *arg)
{
        struct files_source *s = arg;
        (void)pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
        for (;;) {
                (void)pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
                ssize_t n = read(s->perm_fd, s->perm_buf, EVENT_BUF_SIZE);
                (void)pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
                if (n >= 0) {
                        perm_answer_batch(s, s->perm_buf, n);
                        continue;
                }
                if (errno == EAGAIN || errno == EINTR)
                        continue;
                if (errno == EBADF || errno == EINVAL || errno == EFAULT)
                        break;
                perm_receive_failed(s, negative_errno());
        }
        return NULL;
}

/* --- marks ------------------------------------------------------------------------------ */

static void record_failure(struct files_source *s, const char *fmt, ...) _printf_(2, 3);
static void record_failure(struct files_source *s, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->reason, sizeof s->reason, fmt, ap);
        va_end(ap);
}

static bool target_is_data(const struct files_target *t)
{
        return t->kind == FILES_TARGET_DATA_MOUNT || t->kind == FILES_TARGET_DATA_DIR;
}

static int mark_target(struct files_source *s, int fan_fd, const struct files_target *t, uint64_t mask)
{
        unsigned flags = FAN_MARK_ADD;
        if (t->kind == FILES_TARGET_DEST_DIR || t->kind == FILES_TARGET_DATA_DIR)
                mask |= FAN_EVENT_ON_CHILD;
        else
                flags |= FAN_MARK_MOUNT;
        if (fanotify_mark(fan_fd, flags, mask, AT_FDCWD, t->path) < 0) {
                int r = negative_errno();
                s->marks_failed++;
                record_failure(s, "cannot watch %s (%s): %s", t->path, t->why, strerror(-r));
                bool known = false;
                for (size_t i = 0; i < s->n_failed_before; i++)
                        known |= STREQ(s->failed_before[i], t->path);
                if (s->n_failed_places < ELEMENTSOF(s->failed_places)) {
                        char *copy = strdup(t->path);
                        if (copy)
                                s->failed_places[s->n_failed_places++] = copy;
                }
                if (known)
                        return r;
                log_warning_errno(r, "files: cannot watch %s: %m", t->path);
                json_object *d = json_object_new_object();
                json_object_object_add(d, "path", json_object_new_string(t->path));
                json_object_object_add(d, "why", json_object_new_string(t->why));
                json_object_object_add(d, "error", json_object_new_string(strerror(-r)));
                (void)agent_emit(s->agent, "files.mark_failed", EVENT_SEVERITY_WARNING, NULL, d);
                return r;
        }
        return 0;
}

/* The notification group watches opens on the data mounts only while the permission group
 * does not (see struct forwarded_open). Put back before the permission thread stops, so no
 * open goes unseen in between; an open seen by both counts once (files count by inode). */
static void notif_watch_opens(struct files_source *s, const struct files_target *t, bool on)
{
        if (on)
                (void)mark_target(s, s->notif_fd, t, FAN_OPEN);
        else
                (void)fanotify_mark(s->notif_fd, FAN_MARK_REMOVE | (t->kind == FILES_TARGET_DATA_MOUNT ? FAN_MARK_MOUNT : 0),
                                    FAN_OPEN, AT_FDCWD, t->path);
}

static void perm_stop(struct files_source *s, bool restore_opens)
{
        if (!s->perm_running)
                return;
        for (size_t i = 0; restore_opens && s->notif_fd >= 0 && i < s->targets.n; i++)
                if (target_is_data(&s->targets.items[i]))
                        notif_watch_opens(s, &s->targets.items[i], true);
        (void)pthread_cancel(s->perm_thread);
        pthread_join(s->perm_thread, NULL);
        s->perm_running = false;
        /* closing the group answers (allows) whatever was still queued */
        close(s->perm_fd);
        s->perm_fd = -1;
}

/* Blocking could not start: the warning still stands, the block does not. Said loudly. */
static int block_unavailable(struct files_source *s, int r, const char *what)
{
        s->marks_failed++;
        record_failure(s, "cannot block: %s: %s", what, strerror(-r));
        json_object *d = json_object_new_object();
        json_object_object_add(d, "reason", json_object_new_string(what));
        json_object_object_add(d, "error", json_object_new_string(strerror(-r)));
        (void)agent_emit(s->agent, "files.block_unavailable", EVENT_SEVERITY_ALERT, NULL, d);
        return log_error_errno(r, "files: cannot block, %s: %m", what);
}

/* Permission events only while someone is blocked: they cost every open on the mount. */
static int perm_start(struct files_source *s)
{
        if (s->perm_running)
                return 0;
        s->perm_fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC,
                                   O_RDONLY | O_LARGEFILE | O_CLOEXEC | O_NOATIME);
        s->perm_ignore_marks = 0;
        if (s->perm_fd < 0)
                return block_unavailable(s, negative_errno(), "cannot create the permission group");
        if (!s->perm_buf)
                s->perm_buf = malloc(EVENT_BUF_SIZE);
        if (!s->perm_buf) {
                close(s->perm_fd);
                s->perm_fd = -1;
                return block_unavailable(s, -ENOMEM, "cannot start the permission thread");
        }
        /* the thread answers (and forwards) the opens where its marks hold; until it runs
         * they wait in the group's queue */
        for (size_t i = 0; i < s->targets.n; i++)
                if (target_is_data(&s->targets.items[i]) &&
                    mark_target(s, s->perm_fd, &s->targets.items[i], FAN_OPEN_PERM) == 0)
                        notif_watch_opens(s, &s->targets.items[i], false);
        int r = -pthread_create(&s->perm_thread, NULL, perm_thread_main, s);
        if (r < 0) {
                for (size_t i = 0; i < s->targets.n; i++)
                        if (target_is_data(&s->targets.items[i]))
                                notif_watch_opens(s, &s->targets.items[i], true);
                close(s->perm_fd);
                s->perm_fd = -1;
                return block_unavailable(s, r, "cannot start the permission thread");
        }
        s->perm_running = true;
        return 0;
}

static void failed_places_rotate(struct files_source *s)
{
        for (size_t i = 0; i < s->n_failed_before; i++)
                free(s->failed_before[i]);
        memcpy(s->failed_before, s->failed_places, s->n_failed_places * sizeof(char *));
        s->n_failed_before = s->n_failed_places;
        s->n_failed_places = 0;
}

/* Recomputes the targets and puts every mark again (which also drops ignore marks). */
static int rescan(struct files_source *s, bool force)
{
        struct files_targets t = { 0 };
        /* after a mount change or a policy change every home is walked again */
        int r = files_targets_compute(s->policy, agent_sysfs_root(s->agent), force ? NULL : &s->targets, &t);
        if (r < 0) {
                record_failure(s, "cannot work out what to watch: %s", strerror(-r));
                s->marks_failed++;
                return log_error_errno(r, "files: cannot work out what to watch: %m");
        }
        /* the same places, every mark in place, no ignore mark to drop: nothing to redo
         * (re-marking thousands of home directories each minute is what an idle agent
         * would otherwise spend its time on) */
        if (!force && s->ignore_marks == 0 && s->marks_failed == 0 && !s->perm_running &&
            files_targets_equal(&s->targets, &t)) {
                files_targets_clear(&t);
                log_debug("files: rescan: %zu place(s) as before, marks kept", s->targets.n);
                return 0;
        }
        files_targets_clear(&s->targets);
        s->targets = t;

        (void)fanotify_mark(s->notif_fd, FAN_MARK_FLUSH | FAN_MARK_MOUNT, 0, AT_FDCWD, "/");
        (void)fanotify_mark(s->notif_fd, FAN_MARK_FLUSH, 0, AT_FDCWD, "/");
        uint64_t ignore_before = s->ignore_marks;
        s->ignore_marks = 0;
        unsigned failed_before = s->marks_failed;
        s->marks_failed = 0;
        for (size_t i = 0; i < t.n; i++)
                (void)mark_target(s, s->notif_fd, &t.items[i],
                                  target_is_data(&t.items[i]) ? FAN_OPEN : FAN_CLOSE_WRITE);
        if (s->perm_running) { /* the perm group follows the new targets */
                perm_stop(s, true);
                (void)perm_start(s);
        }
        if (s->marks_failed == 0 && failed_before)
                s->reason[0] = '\0';
        failed_places_rotate(s);
        if (s->marks_failed != failed_before)
                agent_posture_changed(s->agent);
        log_debug("files: watching %zu place(s), marked again%s (ignore marks %zu, failed %u)", t.n,
                  force ? " after a change" : "", (size_t)ignore_before, failed_before);
        return 0;
}

/* --- blocking ---------------------------------------------------------------------------- */

static struct user_note *note_for(struct files_source *s, uid_t uid)
{
        for (size_t i = 0; i < s->n_notes; i++)
                if (s->notes[i].uid == uid)
                        return &s->notes[i];
        if (s->n_notes == ELEMENTSOF(s->notes))
                s->n_notes = 0; /* forget all: only the destination name is lost */
        struct user_note *n = &s->notes[s->n_notes++];
        *n = (struct user_note){ .uid = uid };
        return n;
}

static int on_cooldown_timer(sd_event_source *es, uint64_t usec, void *userdata);

static void update_blocking(struct files_source *s)
{
        uint64_t now = clock_usec(CLOCK_MONOTONIC), next = UINT64_MAX;
        pthread_mutex_lock(&s->lock);
        size_t o = 0;
        for (size_t i = 0; i < s->n_blocked; i++)
                if (s->blocked[i].until > now) {
                        s->blocked[o++] = s->blocked[i];
                        next = MIN(next, s->blocked[i].until);
                }
        s->n_blocked = o;
        pthread_mutex_unlock(&s->lock);

        if (o == 0) {
                perm_stop(s, true);
                (void)sd_event_source_set_enabled(s->cooldown_timer, SD_EVENT_OFF);
                return;
        }
        (void)perm_start(s);
        (void)sd_event_source_set_time(s->cooldown_timer, next);
        (void)sd_event_source_set_enabled(s->cooldown_timer, SD_EVENT_ONESHOT);
}

static int on_cooldown_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
        update_blocking(userdata);
        return 0;
}

static void block_user(struct files_source *s, uid_t uid, uint64_t until)
{
        pthread_mutex_lock(&s->lock);
        size_t i;
        for (i = 0; i < s->n_blocked && s->blocked[i].uid != uid; i++)
                ;
        if (i == s->n_blocked && s->n_blocked < BLOCKED_MAX)
                s->blocked[s->n_blocked++] = (struct blocked_user){ .uid = uid };
        if (i < s->n_blocked)
                s->blocked[i].until = until;
        pthread_mutex_unlock(&s->lock);
        update_blocking(s);
}

static struct pid_owner *owner_find(struct files_source *s, pid_t pid, uint64_t now)
{
        for (size_t i = 0; i < PID_OWNERS_MAX; i++)
                if (s->owners[i].pid == pid && s->owners[i].at + PID_OWNER_USEC > now)
                        return &s->owners[i];
        return NULL;
}

/* The process as first seen (a pid may be reused later), else as /proc shows it now;
 * exe and comm are null when it was gone before anyone looked. */
static json_object *process_json(struct files_source *s, pid_t pid)
{
        char exe[PATH_MAX] = "", comm[64] = "";
        const struct pid_owner *o = owner_find(s, pid, clock_usec(CLOCK_MONOTONIC));
        if (o && o->exe[0]) {
                snprintf(exe, sizeof exe, "%s", o->exe);
                snprintf(comm, sizeof comm, "%s", o->comm);
        } else {
                proc_link(pid, "exe", exe, sizeof exe);
                proc_comm(pid, comm, sizeof comm);
        }
        json_object *p = json_object_new_object();
        json_object_object_add(p, "pid", json_object_new_int64(pid));
        json_object_object_add(p, "exe", exe[0] ? json_object_new_string(exe) : NULL);
        json_object_object_add(p, "comm", comm[0] ? json_object_new_string(comm) : NULL);
        return p;
}

/* files.bulk_blocked once per cool-down per user, at the first denial. */
static void report_denials(struct files_source *s)
{
        struct denial dn; /* one at a time: records are large */
        for (;;) {
                pthread_mutex_lock(&s->lock);
                if (s->n_denials == 0) {
                        pthread_mutex_unlock(&s->lock);
                        break;
                }
                dn = s->denials[0];
                memmove(s->denials, s->denials + 1, --s->n_denials * sizeof s->denials[0]);
                struct blocked_user *b = NULL;
                for (size_t k = 0; k < s->n_blocked; k++)
                        if (s->blocked[k].uid == dn.uid)
                                b = &s->blocked[k];
                bool first = b && b->reported_until != b->until;
                uint64_t until = b ? b->until : 0, denied = b ? b->denied : 0;
                if (first)
                        b->reported_until = b->until;
                pthread_mutex_unlock(&s->lock);
                if (!first)
                        continue;

                char user[256];
                user_name(dn.uid, user, sizeof user);
                uint64_t now = clock_usec(CLOCK_MONOTONIC);
                long left = until > now ? (long)((until - now + USEC_PER_SEC - 1) / USEC_PER_SEC) : 0;
                struct user_note *note = note_for(s, dn.uid);
                json_object *d = json_object_new_object();
                json_object_object_add(d, "file", json_object_new_string(dn.path));
                json_object *proc = json_object_new_object();
                json_object_object_add(proc, "pid", json_object_new_int64(dn.pid));
                json_object_object_add(proc, "exe", dn.exe[0] ? json_object_new_string(dn.exe) : NULL);
                json_object_object_add(proc, "comm", dn.comm[0] ? json_object_new_string(dn.comm) : NULL);
                json_object_object_add(d, "process", proc);
                json_object_object_add(d, "uid", json_object_new_int64(dn.uid));
                json_object_object_add(d, "cooldown_seconds", json_object_new_int64(s->policy->bulk_transfer.cooldown_seconds));
                json_object_object_add(d, "seconds_left", json_object_new_int64(left));
                json_object_object_add(d, "denied", json_object_new_int64((int64_t)denied));
                json_object_object_add(d, "destination",
                                       note->destination[0] ? json_object_new_string(note->destination) : NULL);
                (void)agent_emit(s->agent, "files.bulk_blocked", EVENT_SEVERITY_ALERT, user, d);
                char key[64];
                snprintf(key, sizeof key, "files.bulk_blocked:%u", (unsigned)dn.uid);
                struct notice notice = { .kind = NOTICE_FILES_BULK_BLOCKED,
                                         .subject = note->destination[0] ? note->destination : NULL,
                                         .seconds = left,
                                         .rate_key = key };
                agent_notice(s->agent, user, &notice);
        }
}

static void report_perm_errors(struct files_source *s, uint64_t now)
{
        pthread_mutex_lock(&s->lock);
        uint64_t errors = s->perm_errors, slow = s->perm_slow;
        int last = s->perm_last_error;
        pthread_mutex_unlock(&s->lock);
        if (errors == s->perm_errors_reported ||
            (s->last_error_report && now - s->last_error_report < REPORT_INTERVAL_USEC))
                return;
        json_object *d = json_object_new_object();
        json_object_object_add(d, "allowed_on_error", json_object_new_int64((int64_t)(errors - s->perm_errors_reported)));
        json_object_object_add(d, "total", json_object_new_int64((int64_t)errors));
        json_object_object_add(d, "slow_decisions", json_object_new_int64((int64_t)slow));
        json_object_object_add(d, "last_error", json_object_new_string(strerror(-last)));
        (void)agent_emit(s->agent, "files.permission_error", EVENT_SEVERITY_WARNING, NULL, d);
        s->perm_errors_reported = errors;
        s->last_error_report = now;
}

static void forwarded_drain(struct files_source *s, uint64_t now);

static int on_denial(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
        struct files_source *s = userdata;
        uint64_t v;
        (void)!read(fd, &v, sizeof v);
        forwarded_drain(s, clock_usec(CLOCK_MONOTONIC));
        report_denials(s);
        report_perm_errors(s, clock_usec(CLOCK_MONOTONIC));
        return 0;
}

/* --- the window ------------------------------------------------------------------------ */

static void raise_warning(struct files_source *s, uid_t uid, pid_t pid, uint64_t now)
{
        const struct policy_bulk_transfer *bt = &s->policy->bulk_transfer;
        struct bulk_window_stats st;
        bulk_window_stats(s->window, uid, now, &st);
        char user[256];
        user_name(uid, user, sizeof user);
        struct user_note *note = note_for(s, uid);
        s->warnings++;

        json_object *d = json_object_new_object();
        json_object *files = json_object_new_array();
        for (size_t i = 0; i < st.n_recent; i++)
                json_object_array_add(files, json_object_new_string(st.recent[i]));
        json_object *exceeded = json_object_new_array();
        if (st.files_over)
                json_object_array_add(exceeded, json_object_new_string("max_files"));
        if (st.bytes_over)
                json_object_array_add(exceeded, json_object_new_string("max_bytes"));
        json_object_object_add(d, "files", json_object_new_int64(st.files));
        json_object_object_add(d, "bytes", json_object_new_int64((int64_t)st.bytes));
        json_object_object_add(d, "exceeded", exceeded);
        json_object_object_add(d, "file_list", files);
        json_object_object_add(d, "file_list_complete", json_object_new_boolean(st.n_recent >= st.files));
        json_object_object_add(d, "window_seconds", json_object_new_int64(bt->window_seconds));
        json_object_object_add(d, "max_files", json_object_new_int64(bt->max_files));
        json_object_object_add(d, "max_bytes", json_object_new_int64((int64_t)bt->max_bytes));
        json_object_object_add(d, "destination",
                               note->destination[0] ? json_object_new_string(note->destination) : NULL);
        json_object_object_add(d, "destination_kind",
                               note->destination_kind ? json_object_new_string(note->destination_kind) : NULL);
        json_object_object_add(d, "process", process_json(s, pid));
        json_object_object_add(d, "uid", json_object_new_int64(uid));
        json_object_object_add(d, "action", json_object_new_string(policy_bulk_action_to_string(bt->action)));
        if (bt->action == POLICY_BULK_BLOCK)
                json_object_object_add(d, "cooldown_seconds", json_object_new_int64(bt->cooldown_seconds));
        (void)agent_emit(s->agent, "files.bulk_warning", EVENT_SEVERITY_WARNING, user, d);

        char key[64];
        snprintf(key, sizeof key, "files.bulk_warning:%u", (unsigned)uid);
        struct notice notice = { .kind = NOTICE_FILES_BULK_WARNING,
                                 .subject = note->destination[0] ? note->destination : NULL,
                                 .count = st.files,
                                 .rate_key = key };
        agent_notice(s->agent, user, &notice);
        log_notice("files: user %s passed the bulk-transfer limit (%" PRIu32 " marked files, %" PRIu64 " bytes)",
                   user, st.files, st.bytes);

        uint64_t until;
        if (bt->action == POLICY_BULK_BLOCK && bulk_window_blocked(s->window, uid, now, &until))
                block_user(s, uid, until);
}

static void note_reader(struct files_source *s, pid_t pid, uint64_t now)
{
        size_t oldest = 0;
        for (size_t i = 0; i < READERS_MAX; i++) {
                if (s->readers[i].pid == pid) {
                        s->readers[i].at = now;
                        return;
                }
                if (s->readers[i].at < s->readers[oldest].at)
                        oldest = i;
        }
        s->readers[oldest] = (struct reader){ pid, now };
}

static bool recent_reader(const struct files_source *s, pid_t pid, uint64_t now)
{
        uint64_t window = (uint64_t)s->policy->bulk_transfer.window_seconds * USEC_PER_SEC;
        for (size_t i = 0; i < READERS_MAX; i++)
                if (s->readers[i].pid == pid && s->readers[i].at + window > now)
                        return true;
        return false;
}

static void owner_learn(struct files_source *s, pid_t pid, uid_t uid, uint64_t now, bool from_proc)
{
        size_t slot = 0;
        for (size_t i = 0; i < PID_OWNERS_MAX; i++) {
                if (s->owners[i].pid == pid) {
                        slot = i;
                        break;
                }
                if (s->owners[i].at < s->owners[slot].at)
                        slot = i;
        }
        struct pid_owner *o = &s->owners[slot];
        *o = (struct pid_owner){ .pid = pid, .uid = uid, .at = now, .read_at = from_proc ? now : 0 };
        if (from_proc) {
                proc_link(pid, "exe", o->exe, sizeof o->exe);
                proc_comm(pid, o->comm, sizeof o->comm);
        }
}

/* The uid behind an event's pid: read from /proc (a process may change its uid and keep
 * its pid, so /proc comes first), else remembered from an earlier event of that pid when
 * the process is gone. -ESRCH when neither. */
static int event_owner(struct files_source *s, pid_t pid, uint64_t now, uid_t *ret)
{
        uid_t uid = 0;
        struct pid_owner *o = owner_find(s, pid, now);
        if (o && o->read_at && o->read_at + PID_OWNER_FRESH_USEC > now) {
                *ret = o->uid;
                return 0;
        }
        if (proc_uid(pid, &uid) == 0) {
                if (!o || o->uid != uid)
                        owner_learn(s, pid, uid, now, true);
                else
                        o->at = o->read_at = now;
                *ret = uid;
                return 0;
        }
        if (o) {
                *ret = o->uid;
                return 0;
        }
        return -ESRCH;
}

static void count_file(struct files_source *s, uid_t uid, pid_t pid, uint64_t dev, uint64_t ino,
                       const char *path, uint64_t now)
{
        enum bulk_outcome o;
        if (bulk_window_add_file(s->window, uid, dev, ino, path, now, &o) >= 0 && o == BULK_CROSSED)
                raise_warning(s, uid, pid, now);
}

/* Opens that waited for their owner: to that owner once known (uid given), or to
 * "unknown" once they waited too long (uid_known false). */
static void pending_settle(struct files_source *s, pid_t pid, uid_t uid, bool uid_known, uint64_t now)
{
        size_t o = 0;
        for (size_t i = 0; i < s->n_pending; i++) {
                struct pending_open *p = &s->pending[i];
                bool mine = uid_known ? p->pid == pid : p->at + PENDING_USEC <= now;
                if (!mine) {
                        if (o != i)
                                s->pending[o] = *p;
                        o++;
                        continue;
                }
                if (!uid_known)
                        s->unattributed++;
                count_file(s, uid_known ? uid : UID_UNATTRIBUTED, p->pid, p->dev, p->ino, p->path, now);
        }
        s->n_pending = o;
}

static void pending_add(struct files_source *s, pid_t pid, uint64_t dev, uint64_t ino, const char *path, uint64_t now)
{
        if (s->n_pending == PENDING_MAX) { /* full: the oldest counts as unknown now */
                s->unattributed++;
                struct pending_open *p = &s->pending[0];
                count_file(s, UID_UNATTRIBUTED, p->pid, p->dev, p->ino, p->path, now);
                memmove(s->pending, s->pending + 1, (PENDING_MAX - 1) * sizeof s->pending[0]);
                s->n_pending--;
        }
        struct pending_open *p = &s->pending[s->n_pending++];
        *p = (struct pending_open){ .pid = pid, .dev = dev, .ino = ino, .at = now };
        snprintf(p->path, sizeof p->path, "%s", path);
}

/* An open of a marked file, by pid; uid when the permission thread read it already. */
static void count_marked_open(struct files_source *s, pid_t pid, uint64_t dev, uint64_t ino, const char *path,
                              const uid_t *uid, uint64_t now)
{
        s->opens_marked++;
        note_reader(s, pid, now);
        uid_t owner;
        if (uid)
                count_file(s, *uid, pid, dev, ino, path, now);
        else if (event_owner(s, pid, now, &owner) < 0)
                pending_add(s, pid, dev, ino, path, now);
        else
                count_file(s, owner, pid, dev, ino, path, now);
}

static void on_open(struct files_source *s, const struct fanotify_event_metadata *m, uint64_t now)
{
        struct stat st;
        if (fstat(m->fd, &st) < 0 || !S_ISREG(st.st_mode))
                return;
        if (st.st_size == 0) { /* nothing read, nothing taken out; written soon, most likely */
                s->opens_unmarked++;
                return;
        }
        char path[PATH_MAX] = "", label[MARK_LABEL_MAX + 1];
        int r = file_marked(s, m->fd, &st, path, label);
        if (r <= 0) {
                s->opens_unmarked++;
                /* the kernel stops telling us about this file until it is modified */
                if (r == 0 && s->ignore_marks < IGNORE_MARKS_MAX &&
                    fanotify_mark(s->notif_fd, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK, FAN_OPEN, m->fd, NULL) == 0)
                        s->ignore_marks++;
                return;
        }
        count_marked_open(s, m->pid, st.st_dev, st.st_ino, lazy_path(m->fd, path), NULL, now);
}

static void report_overflow(struct files_source *s, uint64_t now);

/* The marked opens the permission thread saw, one at a time (records are large). */
static void forwarded_drain(struct files_source *s, uint64_t now)
{
        struct forwarded_open f;
        for (;;) {
                pthread_mutex_lock(&s->lock);
                if (s->n_forwarded == 0) {
                        uint64_t dropped = s->forwarded_dropped;
                        pthread_mutex_unlock(&s->lock);
                        /* lost opens are a queue overflow of ours: reported and failing the
                         * posture like the kernel's */
                        if (dropped != s->forwarded_dropped_seen) {
                                s->overflows += dropped - s->forwarded_dropped_seen;
                                s->last_overflow = now;
                                s->forwarded_dropped_seen = dropped;
                                report_overflow(s, now);
                        }
                        return;
                }
                f = s->forwarded[--s->n_forwarded];
                pthread_mutex_unlock(&s->lock);
                count_marked_open(s, f.pid, f.dev, f.ino, f.path, f.uid_known ? &f.uid : NULL, now);
        }
}

/* Marked content written to a destination: its bytes count; it counts as a file too when
 * the writer did not read marked files first (a download), so a copy is not counted twice. */
static void on_close_write(struct files_source *s, const struct fanotify_event_metadata *m, uint64_t now)
{
        struct stat st;
        if (fstat(m->fd, &st) < 0 || !S_ISREG(st.st_mode))
                return;
        /* the path only when it decides: a write on a destination mount is known by its
         * device, and an unmarked file needs its path only for the globs */
        char path[PATH_MAX] = "", label[MARK_LABEL_MAX + 1];
        const struct files_target *dest = files_targets_destination_by_dev(&s->targets, st.st_dev);
        if (!dest)
                dest = files_targets_destination(&s->targets, lazy_path(m->fd, path));
        if (!dest) {
                s->writes_unplaced++;
                return;
        }
        uid_t uid;
        if (event_owner(s, m->pid, now, &uid) < 0) {
                /* gone already: a file it created is owned by it */
                uid = st.st_uid;
                owner_learn(s, m->pid, uid, now, false);
        }
        bool copy = recent_reader(s, m->pid, now);
        bool marked = copy;
        if (!marked)
                marked = file_marked(s, m->fd, &st, path, label) > 0;
        if (!marked && st.st_size > 0) { /* nothing to read in an empty file */
                struct classify_result res;
                int r = classify_fd(&s->classify, m->fd, &res);
                if (r < 0)
                        s->classify_errors++;
                marked = r >= 0 && res.personal;
        }
        if (!marked) {
                s->writes_ignored++;
                pending_settle(s, m->pid, uid, true, now);
                return;
        }
        s->writes_counted++;
        struct user_note *note = note_for(s, uid);
        snprintf(note->destination, sizeof note->destination, "%s", dest->path);
        note->destination_kind = dest->why;
        pending_settle(s, m->pid, uid, true, now);

        if (!copy)
                count_file(s, uid, m->pid, st.st_dev, st.st_ino, lazy_path(m->fd, path), now);
        enum bulk_outcome ob;
        if (bulk_window_add_bytes(s->window, uid, (uint64_t)st.st_size, now, &ob) >= 0 && ob == BULK_CROSSED)
                raise_warning(s, uid, m->pid, now);
}

static void report_overflow(struct files_source *s, uint64_t now)
{
        if (s->overflows == s->overflows_reported ||
            (s->last_overflow_report && now - s->last_overflow_report < REPORT_INTERVAL_USEC))
                return;
        json_object *d = json_object_new_object();
        json_object_object_add(d, "overflows", json_object_new_int64((int64_t)(s->overflows - s->overflows_reported)));
        json_object_object_add(d, "total", json_object_new_int64((int64_t)s->overflows));
        (void)agent_emit(s->agent, "files.queue_overflow", EVENT_SEVERITY_WARNING, NULL, d);
        s->overflows_reported = s->overflows;
        s->last_overflow_report = now;
        agent_posture_changed(s->agent);
}

static void monitor_failed(struct files_source *s, const char *why)
{
        if (s->failed)
                return;
        s->failed = true;
        record_failure(s, "file monitoring stopped: %s", why);
        log_error("files: file monitoring stopped: %s", why);
        json_object *d = json_object_new_object();
        json_object_object_add(d, "reason", json_object_new_string(why));
        json_object_object_add(d, "stopped", json_object_new_boolean(true));
        (void)agent_emit(s->agent, "files.monitor_failed", EVENT_SEVERITY_ALERT, NULL, d);
        s->notif_io = sd_event_source_disable_unref(s->notif_io);
        agent_posture_changed(s->agent);
}

/* read() on the group failed for one event: the kernel could not open the file for us
 * (a file we may not read, our descriptor limit, memory) and dropped that event; the group
 * itself still works, so reading goes on. Lost events fail the posture like an overflow. */
static void receive_failed(struct files_source *s, int error, uint64_t now)
{
        s->receive_errors++;
        s->receive_errno = error;
        s->last_receive_error = now;
}

static void report_receive_errors(struct files_source *s, uint64_t now)
{
        if (s->receive_errors == s->receive_errors_reported ||
            (s->last_receive_report && now - s->last_receive_report < REPORT_INTERVAL_USEC))
                return;
        uint64_t lost = s->receive_errors - s->receive_errors_reported;
        char why[256];
        snprintf(why, sizeof why, "the kernel could not hand over %" PRIu64 " event(s): %s", lost,
                 strerror(s->receive_errno));
        log_error("files: %s; those events are lost", why);
        json_object *d = json_object_new_object();
        json_object_object_add(d, "reason", json_object_new_string(why));
        json_object_object_add(d, "error", json_object_new_string(strerror(s->receive_errno)));
        json_object_object_add(d, "events_lost", json_object_new_int64((int64_t)lost));
        json_object_object_add(d, "total", json_object_new_int64((int64_t)s->receive_errors));
        json_object_object_add(d, "stopped", json_object_new_boolean(false));
        (void)agent_emit(s->agent, "files.monitor_failed", EVENT_SEVERITY_ALERT, NULL, d);
        s->receive_errors_reported = s->receive_errors;
        s->last_receive_report = now;
        agent_posture_changed(s->agent);
}

/* epoll does not report a descriptor that was closed under us (it only forgets it), so
 * the loop checks now and then that the number still names our fanotify group. */
static void check_descriptor(struct files_source *s)
{
        char link[64], target[64];
        if (s->failed || s->notif_fd < 0)
                return;
        snprintf(link, sizeof link, "/proc/self/fd/%d", s->notif_fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        target[n > 0 ? n : 0] = '\0';
        if (n < 0 && errno != ENOENT && errno != EBADF)
                return; /* /proc unreadable: cannot tell, say nothing */
        if (!STREQ(target, "anon_inode:[fanotify]"))
                monitor_failed(s, "the fanotify descriptor was closed");
}

static int on_notification(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
        struct files_source *s = userdata;
        if (revents & (EPOLLERR | EPOLLHUP)) {
                monitor_failed(s, "the fanotify descriptor reported an error");
                return 0;
        }
        char buf[EVENT_BUF_SIZE] __attribute__((aligned(8)));
        /* a bounded batch per wake-up, so the loop's other work is never starved */
        for (int batch = 0; batch < 16; batch++) {
                ssize_t n = read(fd, buf, sizeof buf);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        if (errno == EBADF || errno == EINVAL || errno == EFAULT) {
                                monitor_failed(s, strerror(errno));
                                return 0;
                        }
                        receive_failed(s, errno, clock_usec(CLOCK_MONOTONIC));
                        continue;
                }
                if (n == 0) {
                        monitor_failed(s, "the fanotify descriptor was closed");
                        return 0;
                }
                uint64_t now = clock_usec(CLOCK_MONOTONIC);
                struct fanotify_event_metadata *m = (struct fanotify_event_metadata *)buf;
                for (; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
                        if (m->vers != FANOTIFY_METADATA_VERSION) {
                                monitor_failed(s, "the kernel speaks another fanotify version");
                                return 0;
                        }
                        if (m->mask & FAN_Q_OVERFLOW) {
                                s->overflows++;
                                s->last_overflow = now;
                        }
                        if (m->fd < 0)
                                continue;
                        if (m->pid != s->self) {
                                if (m->mask & FAN_OPEN)
                                        on_open(s, m, now);
                                if (m->mask & FAN_CLOSE_WRITE)
                                        on_close_write(s, m, now);
                        }
                        close(m->fd);
                }
                pending_settle(s, 0, UID_UNATTRIBUTED, false, now);
                report_overflow(s, now);
        }
        report_receive_errors(s, clock_usec(CLOCK_MONOTONIC));
        return 0;
}

/* --- policy, timers, mounts ---------------------------------------------------------------- */

static void rules_clear(struct mark_rules *r)
{
        free(r->xattr);
        for (size_t i = 0; i < r->n_globs; i++)
                free(r->globs[i]);
        free(r->globs);
        *r = (struct mark_rules){ 0 };
}

static int rules_from_policy(const struct policy *p, struct mark_rules *ret)
{
        struct mark_rules r = { 0 };
        r.xattr = strdup(p->marked_files.xattr);
        r.globs = calloc(p->marked_files.n_paths + 1, sizeof(char *));
        if (!r.xattr || !r.globs) {
                rules_clear(&r);
                return -ENOMEM;
        }
        for (size_t i = 0; i < p->marked_files.n_paths; i++) {
                r.globs[i] = strdup(p->marked_files.paths[i]);
                if (!r.globs[i]) {
                        rules_clear(&r);
                        return -ENOMEM;
                }
                r.n_globs++;
        }
        *ret = r;
        return 0;
}

static void window_config(const struct policy *p, struct bulk_window_config *ret)
{
        const struct policy_bulk_transfer *bt = &p->bulk_transfer;
        *ret = (struct bulk_window_config){
                .window_usec = (uint64_t)bt->window_seconds * USEC_PER_SEC,
                .max_files = bt->max_files,
                .max_bytes = bt->max_bytes,
                .block = bt->action == POLICY_BULK_BLOCK,
                .cooldown_usec = (uint64_t)bt->cooldown_seconds * USEC_PER_SEC,
        };
}


#define CACHE_BYTES (CACHE_SLOTS * sizeof(struct cache_slot))
/* Every slot empty again; the kernel hands out zeroed pages when they are next used. */
static void cache_clear(struct files_source *s)
{
        if (madvise(s->cache, CACHE_BYTES, MADV_DONTNEED) < 0)
                memset(s->cache, 0, CACHE_BYTES);
}
static int files_apply_policy(void *self, const struct policy *policy)
{
        struct files_source *s = self;
        struct mark_rules rules;
        int r = rules_from_policy(policy, &rules);
        if (r < 0)
                return r;
        s->policy = policy;
        mark_classify_config(&policy->marked_files, &s->classify);
        struct bulk_window_config wc;
        window_config(policy, &wc);
        bulk_window_set_config(s->window, &wc);

        pthread_mutex_lock(&s->lock);
        rules_clear(&s->rules);
        s->rules = rules;
        /* globs or the attribute may have changed: every cached answer is stale */
        cache_clear(s);
        if (!wc.block)
                s->n_blocked = 0;
        pthread_mutex_unlock(&s->lock);
        update_blocking(s);
        if (!s->failed)
                (void)rescan(s, true);
        return 0;
}

static int on_rescan_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
        struct files_source *s = userdata;
        check_descriptor(s);
        if (!s->failed)
                (void)rescan(s, false);
        pending_settle(s, 0, UID_UNATTRIBUTED, false, clock_usec(CLOCK_MONOTONIC));
        report_overflow(s, clock_usec(CLOCK_MONOTONIC));
        report_receive_errors(s, clock_usec(CLOCK_MONOTONIC));
        bulk_window_gc(s->window, clock_usec(CLOCK_MONOTONIC));
        report_perm_errors(s, clock_usec(CLOCK_MONOTONIC));
        (void)sd_event_source_set_time(es, usec + RESCAN_USEC);
        (void)sd_event_source_set_enabled(es, SD_EVENT_ON);
        return 0;
}

static int on_mountinfo(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
        struct files_source *s = userdata;
        /* a mount came or went (a USB stick, a share): watch the new set — marks again in
         * any case, since a mount gone and mounted again at the same place can show the
         * same device and inodes and has none of the old marks */
        check_descriptor(s);
        if (!s->failed)
                (void)rescan(s, true);
        return 0;
}

static void files_shutdown(void *self)
{
        struct files_source *s = self;
        if (!s)
                return;
        perm_stop(s, false);
        sd_event_source_disable_unref(s->notif_io);
        sd_event_source_disable_unref(s->mountinfo_io);
        sd_event_source_disable_unref(s->rescan_timer);
        sd_event_source_disable_unref(s->cooldown_timer);
        sd_event_source_disable_unref(s->denial_io);
        closep(&s->notif_fd);
        closep(&s->mountinfo_fd);
        closep(&s->denial_efd);
        files_targets_clear(&s->targets);
        failed_places_rotate(s);
        failed_places_rotate(s);
        bulk_window_free(s->window);
        rules_clear(&s->rules);
        free(s->perm_buf);
        if (s->cache)
                munmap(s->cache, CACHE_BYTES);
        pthread_mutex_destroy(&s->lock);
        free(s);
}

static int files_init(struct agent *agent, const struct policy *policy, void **ret_self)
{
        struct files_source *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->agent = agent;
        s->self = getpid();
        s->notif_fd = s->mountinfo_fd = s->denial_efd = s->perm_fd = -1;
        pthread_mutex_init(&s->lock, NULL);
        /* its own mapping: untouched slots cost no memory, and clearing it gives the
         * pages back (an idle agent's resident memory) */
        s->cache = mmap(NULL, CACHE_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (s->cache == MAP_FAILED)
                s->cache = NULL;
        struct bulk_window_config wc;
        window_config(policy, &wc);
        int r = s->cache ? bulk_window_new(&wc, &s->window) : -ENOMEM;
        if (r < 0) {
                files_shutdown(s);
                return r;
        }
        s->denial_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (s->denial_efd < 0) {
                r = negative_errno();
                files_shutdown(s);
                return log_error_errno(r, "files: cannot create an eventfd: %m");
        }

        sd_event *loop = agent_event_loop(agent);
        s->notif_fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK,
                                    O_RDONLY | O_LARGEFILE | O_CLOEXEC | O_NOATIME);
        if (s->notif_fd < 0) {
                /* no fanotify here (a container without CAP_SYS_ADMIN): say so, keep running */
                r = negative_errno();
                s->failed = true;
                record_failure(s, "fanotify is not available: %s", strerror(-r));
                log_warning_errno(r, "files: fanotify is not available, marked files are not watched: %m");
                s->policy = policy;
                *ret_self = s;
                return 0;
        }
        r = sd_event_add_io(loop, &s->notif_io, s->notif_fd, EPOLLIN, on_notification, s);
        /* under load, read the queue in batches rather than a wake-up per event: at most one
         * dispatch per NOTIF_BATCH_USEC (the first event after a quiet spell is read at once) */
        if (r >= 0)
                r = sd_event_source_set_ratelimit(s->notif_io, NOTIF_BATCH_USEC, 1);
        if (r >= 0)
                r = sd_event_add_io(loop, &s->denial_io, s->denial_efd, EPOLLIN, on_denial, s);
        if (r >= 0)
                r = sd_event_add_time_relative(loop, &s->rescan_timer, CLOCK_MONOTONIC, RESCAN_USEC,
                                               USEC_PER_SEC, on_rescan_timer, s);
        if (r >= 0)
                r = sd_event_add_time(loop, &s->cooldown_timer, CLOCK_MONOTONIC, UINT64_MAX, 0,
                                      on_cooldown_timer, s);
        if (r >= 0) {
                (void)sd_event_source_set_enabled(s->cooldown_timer, SD_EVENT_OFF);
                (void)sd_event_source_set_priority(s->denial_io, SD_EVENT_PRIORITY_IMPORTANT);
        }
        s->mountinfo_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
        if (r >= 0 && s->mountinfo_fd >= 0)
                r = sd_event_add_io(loop, &s->mountinfo_io, s->mountinfo_fd, EPOLLPRI, on_mountinfo, s);
        if (r < 0) {
                files_shutdown(s);
                return log_error_errno(r, "files: cannot hook into the event loop: %m");
        }
        r = files_apply_policy(s, policy);
        if (r < 0) {
                files_shutdown(s);
                return r;
        }
        log_info("files: watching %zu place(s) for marked files", s->targets.n);
        *ret_self = s;
        return 0;
}

static const char *files_state(const struct files_source *s)
{
        if (s->failed)
                return s->notif_fd < 0 ? "unavailable" : "failed";
        return s->marks_failed ? "degraded" : "running";
}

static void files_status(void *self, json_object *status)
{
        struct files_source *s = self;
        json_object_object_add(status, "state", json_object_new_string(files_state(s)));
        json_object_object_add(status, "reason", json_object_new_string(s->reason[0] ? s->reason : "watching"));
        json_object *targets = json_object_new_array();
        for (size_t i = 0; i < s->targets.n; i++) {
                json_object *t = json_object_new_object();
                json_object_object_add(t, "path", json_object_new_string(s->targets.items[i].path));
                json_object_object_add(t, "why", json_object_new_string(s->targets.items[i].why));
                json_object_array_add(targets, t);
        }
        json_object_object_add(status, "watching", targets);
        pthread_mutex_lock(&s->lock);
        json_object_object_add(status, "blocked_users", json_object_new_int64((int64_t)s->n_blocked));
        json_object_object_add(status, "permission_events", json_object_new_int64((int64_t)s->perm_events));
        json_object_object_add(status, "denied", json_object_new_int64((int64_t)s->perm_denied));
        json_object_object_add(status, "marked_opens_dropped", json_object_new_int64((int64_t)s->forwarded_dropped));
        json_object_object_add(status, "allowed_on_error", json_object_new_int64((int64_t)s->perm_errors));
        json_object_object_add(status, "slow_decisions", json_object_new_int64((int64_t)s->perm_slow));
        pthread_mutex_unlock(&s->lock);
        json_object_object_add(status, "blocking_active", json_object_new_boolean(s->perm_running));
        json_object_object_add(status, "marked_opens", json_object_new_int64((int64_t)s->opens_marked));
        json_object_object_add(status, "unmarked_opens",
                               json_object_new_int64((int64_t)(s->opens_unmarked +
                                                               __atomic_load_n(&s->perm_opens_unmarked, __ATOMIC_RELAXED))));
        json_object_object_add(status, "ignore_marks", json_object_new_int64((int64_t)s->ignore_marks));
        json_object_object_add(status, "destination_writes_counted", json_object_new_int64((int64_t)s->writes_counted));
        json_object_object_add(status, "destination_writes_unmarked", json_object_new_int64((int64_t)s->writes_ignored));
        json_object_object_add(status, "destination_writes_unplaced", json_object_new_int64((int64_t)s->writes_unplaced));
        json_object_object_add(status, "unattributed", json_object_new_int64((int64_t)s->unattributed));
        json_object_object_add(status, "warnings", json_object_new_int64((int64_t)s->warnings));
        json_object_object_add(status, "queue_overflows", json_object_new_int64((int64_t)s->overflows));
        json_object_object_add(status, "events_lost", json_object_new_int64((int64_t)s->receive_errors));
        json_object_object_add(status, "classify_errors", json_object_new_int64((int64_t)s->classify_errors));
}

static void files_posture(void *self, json_object *checks)
{
        struct files_source *s = self;
        const char *result = "pass";
        char reason[320];
        if (s->failed) {
                result = "fail";
                snprintf(reason, sizeof reason, "%s", s->reason);
        } else if (s->marks_failed) {
                result = "fail";
                snprintf(reason, sizeof reason, "%u place(s) cannot be watched: %s", s->marks_failed, s->reason);
        } else if (s->receive_errors &&
                   s->last_receive_error + OVERFLOW_POSTURE_USEC > clock_usec(CLOCK_MONOTONIC)) {
                result = "fail";
                snprintf(reason, sizeof reason,
                         "the kernel could not hand over events within the last hour (%" PRIu64
                         " in all, last: %s): they were lost",
                         s->receive_errors, strerror(s->receive_errno));
        } else if (s->overflows &&
                   s->last_overflow + OVERFLOW_POSTURE_USEC > clock_usec(CLOCK_MONOTONIC)) {
                result = "fail";
                snprintf(reason, sizeof reason,
                         "the event queue overflowed within the last hour (%" PRIu64 " time(s) in all): events were lost",
                         s->overflows);
        } else {
                snprintf(reason, sizeof reason, "watching %zu place(s)", s->targets.n);
        }
        json_object *o = json_object_new_object();
        json_object_object_add(o, "result", json_object_new_string(result));
        json_object_object_add(o, "reason", json_object_new_string(reason));
        json_object_object_add(checks, "file_monitoring", o);
}

const struct source_ops files_source = {
        .name = "files",
        .init = files_init,
        .apply_policy = files_apply_policy,
        .status = files_status,
        .posture = files_posture,
        .shutdown = files_shutdown,
};

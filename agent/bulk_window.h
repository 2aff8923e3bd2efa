/* bulk_window.h — per-user sliding window over marked-file reads and destination writes.
 *
 * アクセス状況の監視: the files source feeds every open of a marked file
 * (bulk_window_add_file) and every byte count of marked content written to a watched
 * destination (bulk_window_add_bytes), each with the user and the time. Within the last
 * window_usec the window counts distinct marked files (by device and inode: reading one
 * file ten times is one file) and bytes. Reaching max_files or max_bytes is reported once
 * per window (BULK_CROSSED); further additions inside that window are BULK_OVER, so a bulk
 * copy raises one warning, not one per file. With block set, crossing also starts a
 * cool-down during which bulk_window_blocked() is true for that user.
 *
 * Pure: time is an argument (CLOCK_MONOTONIC microseconds), no I/O. Memory is bounded:
 * at most max_files file entries and BULK_BYTE_ENTRIES_MAX byte entries per user (older
 * byte entries are merged, which can only make the count err towards the limit), at most
 * BULK_USERS_MAX users (the least recently active one that is not blocked is forgotten).
 */
#ifndef HOGO_AGENT_BULK_WINDOW_H
#define HOGO_AGENT_BULK_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BULK_LIST_MAX 32          /* file names kept per user for the event's list */
#define BULK_BYTE_ENTRIES_MAX 1024
#define BULK_USERS_MAX 256

struct bulk_window_config {
        uint64_t window_usec;
        uint32_t max_files; /* 0: files are not limited */
        uint64_t max_bytes; /* 0: bytes are not limited */
        bool block;
        uint64_t cooldown_usec;
};

enum bulk_outcome {
        BULK_WITHIN,  /* under both limits */
        BULK_CROSSED, /* a limit is reached and nothing was raised in this window yet: raise */
        BULK_OVER,    /* over a limit, already raised within the window */
};

struct bulk_window;

int bulk_window_new(const struct bulk_window_config *cfg, struct bulk_window **ret);
void bulk_window_free(struct bulk_window *w);
/* A new policy: limits change, what was counted stays. */
void bulk_window_set_config(struct bulk_window *w, const struct bulk_window_config *cfg);

/* path is copied (for the list in the event); may be NULL. */
int bulk_window_add_file(struct bulk_window *w, uid_t uid, uint64_t dev, uint64_t ino,
                         const char *path, uint64_t now, enum bulk_outcome *ret);
int bulk_window_add_bytes(struct bulk_window *w, uid_t uid, uint64_t bytes, uint64_t now,
                          enum bulk_outcome *ret);

/* true while uid is in a cool-down; ret_until (may be NULL) gets its end. */
bool bulk_window_blocked(struct bulk_window *w, uid_t uid, uint64_t now, uint64_t *ret_until);
/* Ends every cool-down (a policy switched from block to warn). */
void bulk_window_unblock_all(struct bulk_window *w);

struct bulk_window_stats {
        uint32_t files;
        uint64_t bytes;
        bool files_over;
        bool bytes_over;
        /* the most recent distinct file names, newest first (pointers into the window,
         * valid until the next call that changes it) */
        const char *recent[BULK_LIST_MAX];
        size_t n_recent;
};
/* What the window holds for uid at now. */
void bulk_window_stats(struct bulk_window *w, uid_t uid, uint64_t now, struct bulk_window_stats *ret);

/* Forgets users with nothing left in their window and no cool-down. */
void bulk_window_gc(struct bulk_window *w, uint64_t now);
size_t bulk_window_users(const struct bulk_window *w);

#endif

/* util.h — small helpers every hogo file may use.
 *
 * Cleanup attributes in the style of systemd (`_cleanup_free_ char *p = NULL;`) instead
 * of goto ladders, TAKE_PTR/TAKE_FD to hand ownership on, and a few tiny macros.
 * Functions in hogo return 0 (or a positive count) on success and -errno on failure;
 * output parameters are named ret_… and are written only on success.
 */
#ifndef HOGO_UTIL_H
#define HOGO_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
static inline void fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

#define TAKE_PTR(p)                        \
        ({                                 \
                __typeof__(p) _taken = (p); \
                (p) = NULL;                \
                _taken;                    \
        })
#define TAKE_FD(fd)                  \
        ({                           \
                int _taken = (fd);   \
                (fd) = -1;           \
                _taken;              \
        })

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define STREQ(a, b) (strcmp((a), (b)) == 0)
#define STRNEQ(a, b) (strcmp((a), (b)) != 0)
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Microseconds on clock: CLOCK_MONOTONIC for deadlines and durations, CLOCK_REALTIME for
 * timestamps. */
static inline uint64_t clock_usec(clockid_t clock)
{
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* -errno of the last libc failure, never 0 (so `return -errno_or_eio();` is safe). */
static inline int negative_errno(void)
{
        /* Spelt out so that static analysis knows the result is negative: otherwise it
         * follows "error" paths that return >= 0 without writing ret_* outputs. errno is
         * read once (each read is a call to __errno_location()). */
        int e = errno;
        if (e <= 0)
                return -EIO;
        int r = -e;
        if (r >= 0)
                __builtin_unreachable();
        return r;
}

#endif

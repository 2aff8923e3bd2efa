/* dconf_lock.h — the desktop's own screen-lock settings as a second line of defence.
 *
 * On GNOME, the policy's idle lock is also written as a system dconf database with locks
 * (/etc/dconf/db/local.d/00-hogo-screenlock and its locks file, plus system-db:local in
 * /etc/dconf/profile/user), so idle-delay, lock-enabled and lock-delay cannot be set
 * weaker than the policy by the user. The posture check reads them back.
 *
 * root is the file system root the agent manages ("/" normally, a temporary tree in
 * tests). Both functions return -ENOENT when no GNOME desktop is installed under root (the
 * settings do not apply and posture says "unknown", never "pass").
 */
#ifndef HOGO_AGENT_DCONF_LOCK_H
#define HOGO_AGENT_DCONF_LOCK_H

#include <stddef.h>

#include "policy/policy.h"

/* Writes the profile, the settings and the locks; runs `dconf update` when root is "/".
 * Returns 1 when written, -ENOENT when there is no GNOME, -errno on failure. */
int dconf_lock_install(const char *root, const struct policy_screen_lock *lock);

/* Reads the settings back: 1 when they enforce at least the policy, 0 when not (reason
 * says which key), -ENOENT without GNOME, -errno when they cannot be read. reason always
 * gets a sentence. */
int dconf_lock_check(const char *root, const struct policy_screen_lock *lock, char *reason,
                     size_t reason_len);

#endif

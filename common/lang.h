/* lang.h — which language hogo speaks to a person: Japanese first, English when the locale
 * says so.
 *
 * The locale is read as POSIX orders it: LC_ALL, else LC_MESSAGES, else LANG, the first
 * that is set and not empty. English when it starts with "en" ("en_US.UTF-8", "en"),
 * Japanese otherwise, including "C" and unset: the people at the terminals read Japanese.
 */
#ifndef HOGO_LANG_H
#define HOGO_LANG_H

#include <stdbool.h>

/* From the process's environment. */
bool lang_english(void);
/* The same rule over given values (NULL or "" counts as unset), for a locale taken from
 * somewhere else, e.g. a user's session. */
bool lang_english_from(const char *lc_all, const char *lc_messages, const char *lang);

#endif

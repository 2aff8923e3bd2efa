/* lang.c — see lang.h. */
#include "common/lang.h"

#include <stdlib.h>
#include <string.h>

bool lang_english_from(const char *lc_all, const char *lc_messages, const char *lang)
{
        const char *v = (lc_all && *lc_all) ? lc_all : (lc_messages && *lc_messages) ? lc_messages : lang;
        return v && strncmp(v, "en", 2) == 0;
}

bool lang_english(void)
{
        return lang_english_from(getenv("LC_ALL"), getenv("LC_MESSAGES"), getenv("LANG"));
}

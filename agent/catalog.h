/* catalog.h — a gettext message catalogue (.mo) held in memory, one per language.
 *
 * The agent speaks to several users at once, each in the language of their own session,
 * so it cannot switch the process-wide locale (setlocale/LANGUAGE) per notice, and the
 * ja_JP/en_US locales need not even be generated on the machine. It therefore reads the
 * catalogues msgfmt builds from po/<lang>.po itself: `<locale_dir>/<lang>/LC_MESSAGES/
 * hogo-agent.mo`. The file is checked fully when opened (magic, table bounds, NUL
 * terminators), so lookups never read outside it.
 */
#ifndef HOGO_AGENT_CATALOG_H
#define HOGO_AGENT_CATALOG_H

#include <stddef.h>

#define CATALOG_DOMAIN "hogo-agent"
#define CATALOG_MAX_SIZE (1u << 20)

struct catalog;

/* Opens <locale_dir>/<lang>/LC_MESSAGES/hogo-agent.mo. */
int catalog_open(const char *locale_dir, const char *lang, struct catalog **ret);
/* Parses a .mo image (copied). -EBADMSG when it is not a valid catalogue. */
int catalog_parse(const void *data, size_t len, struct catalog **ret);
/* The translation of msgid, or NULL when the catalogue has none (or it is empty). */
const char *catalog_lookup(const struct catalog *catalog, const char *msgid);
void catalog_free(struct catalog *catalog);

#endif

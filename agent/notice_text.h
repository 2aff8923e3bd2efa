/* notice_text.h — the words of a notice to staff, in the user's language.
 *
 * The source text is Japanese (the default, and what staff see even when no catalogue is
 * installed); po/en.po gives English and po/ja.po is where the Japanese wording is edited.
 * Each notice says what happened, which rule of the 安全管理措置 applies, and whom to
 * contact. Placeholders are {subject}, {count}, {seconds}, {what}, {rule} and {contact}
 * rather than printf conversions, so a catalogue can reorder them and a broken one can
 * never make the agent read arguments that are not there.
 */
#ifndef HOGO_AGENT_NOTICE_TEXT_H
#define HOGO_AGENT_NOTICE_TEXT_H

#include "agent/agent.h"
#include "agent/catalog.h"

/* The language ("ja" or "en", by common/lang.h's rule) of a process environment as
 * /proc/PID/environ holds it: NUL-separated NAME=value strings, len bytes. */
const char *notice_language_for_environ(const char *env, size_t len);

/* "usb_blocked", "lock_warning", … (events and the control socket); -EINVAL if unknown. */
const char *notice_kind_to_string(enum notice_kind kind);
int notice_kind_from_string(const char *s);

/* The rule a notice kind cites, untranslated (for events and logs). */
const char *notice_rule(enum notice_kind kind);

/* Renders summary and body; catalog may be NULL (Japanese source text). */
int notice_render(const struct notice *notice, const struct catalog *catalog,
                  const char *contact, char **ret_summary, char **ret_body);

#endif

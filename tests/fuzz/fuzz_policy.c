/* fuzz_policy.c — libFuzzer target for the policy parser and the envelope verifier.
 *
 * Policy files come from IT teams' editors and envelopes from the network (through the
 * uplink), so both parsers must survive anything. Beyond not crashing, every accepted
 * policy must keep its invariants: its canonical form parses back to the same hash, and
 * the matching helpers give an answer for it. */
#include <stdint.h>

#include "common/ed25519.h"
#include "common/util.h"
#include "policy/policy.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *trusted;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        if (ed25519_generate(&trusted) < 0)
                abort();
        return 0;
}

static void check_invariants(const struct policy *p)
{
        _cleanup_free_ char *canon = NULL;
        size_t len = 0;
        if (policy_canonical(p, &canon, &len) < 0)
                abort();
        struct policy *q = NULL;
        if (policy_parse(canon, len, &q, NULL) < 0 || STRNEQ(q->hash, p->hash))
                abort(); /* a valid policy must round-trip through its canonical form */
        policy_free(q);

        struct media_decision d;
        const struct policy_removable_media *m = &p->removable_media;
        if (m->n_allow > 0) {
                const struct policy_media_allow *a = &m->allow[0];
                media_allowlist_match(p, a->vendor, a->product, a->serial, "pc", a->valid_until - 1, &d);
                if (d.rule != MEDIA_RULE_ALLOW && d.rule != MEDIA_RULE_EXCEPTION)
                        abort(); /* a registered medium inside its validity is allowed */
        }
        media_allowlist_match(p, 0x1234, 0x5678, "fuzz", "pc", 0, &d);
        (void)policy_media_next_expiry(p, 0);
        struct tm t = { .tm_wday = 3, .tm_hour = 12 };
        (void)policy_logoff_hours_seconds_left(&p->logoff, &t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct policy_errors errs = POLICY_ERRORS_INIT;
        struct policy *p = NULL;
        if (policy_parse((const char *)data, size, &p, &errs) == 0) {
                if (errs.n != 0)
                        abort(); /* accepted means no errors */
                check_invariants(p);
                policy_free(p);
        } else if (errs.n == 0)
                abort(); /* refused means at least one error saying why */
        policy_errors_clear(&errs);

        p = NULL;
        EVP_PKEY *keys[] = { trusted };
        if (policy_envelope_verify((const char *)data, size, keys, 1, &p, &errs) == 0)
                abort(); /* nobody but this process holds the key */
        policy_errors_clear(&errs);
        return 0;
}

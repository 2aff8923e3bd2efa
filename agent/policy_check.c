/* policy_check.c — see policy_check.h. */
#include "agent/policy_check.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/ed25519.h"
#include "common/fileio.h"
#include "common/util.h"

/* "PATH: message; PATH: message" from the policy library's error list. */
static char *errors_to_reason(const struct policy_errors *errs, int r)
{
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (!f)
                return NULL;
        for (size_t i = 0; i < errs->n; i++)
                fprintf(f, "%s%s: %s", i ? "; " : "", errs->items[i].path,
                        errs->items[i].message);
        if (errs->n == 0) {
                errno = -r;
                fprintf(f, "%m");
        }
        fclose(f);
        return text;
}

int policy_check_envelope(const char *pubkey_path, const char *path, const char *data,
                          size_t len, struct policy **ret_policy, char **ret_reason)
{
        _cleanup_pkey_ EVP_PKEY *key = NULL;
        int r = ed25519_load_public_pem(pubkey_path, &key);
        if (r < 0) {
                errno = -r;
                if (asprintf(ret_reason, "cannot load the policy signing key %s: %m",
                             pubkey_path) < 0)
                        *ret_reason = NULL;
                return r;
        }

        _cleanup_policy_errors_ struct policy_errors errs = POLICY_ERRORS_INIT;
        r = policy_envelope_verify(data, len, &key, 1, ret_policy, &errs);
        if (r < 0) {
                _cleanup_free_ char *why = errors_to_reason(&errs, r);
                const char *what = r == -EKEYREJECTED ? "signature does not match (changed or forged)"
                                   : r == -ENOKEY     ? "signed by an unknown key"
                                   : r == -EBADMSG    ? "not a signed policy envelope"
                                                      : "policy is not valid";
                if (asprintf(ret_reason, "%s: %s: %s", path, what, why ? why : "") < 0)
                        *ret_reason = NULL;
                return r;
        }
        return 0;
}

int policy_check_write_verdict(int fd, const char *pubkey_path, const char *path,
                               const char *data, size_t len)
{
        struct policy *p = NULL;
        _cleanup_free_ char *reason = NULL;
        int32_t r = policy_check_envelope(pubkey_path, path, data, len, &p, &reason);
        policy_free(p);
        char out[POLICY_CHECK_VERDICT_MAX];
        size_t n = r < 0 && reason ? MIN(strlen(reason), (size_t)POLICY_CHECK_REASON_MAX) : 0;
        memcpy(out, &r, sizeof r);
        /* the reason's bytes without a NUL: the verdict's length says where they end */
        if (n > 0)
                memcpy(out + sizeof r, reason, n); // NOLINT(bugprone-not-null-terminated-result)
        return write_all(fd, out, sizeof r + n);
}

int policy_check_read_verdict(const char *verdict, size_t len, int *ret_result,
                              char **ret_reason)
{
        int32_t r;
        if (len < sizeof r || len > POLICY_CHECK_VERDICT_MAX)
                return -EBADMSG;
        memcpy(&r, verdict, sizeof r);
        if (r > 0 || (r == 0 && len > sizeof r))
                return -EBADMSG;
        char *reason = NULL;
        if (r < 0 && len > sizeof r && !(reason = strndup(verdict + sizeof r, len - sizeof r)))
                return -ENOMEM;
        *ret_result = r;
        *ret_reason = reason;
        return 0;
}

/* envelope.c — the signed policy envelope:
 *   { "policy": {...}, "key_id": "<16 hex>", "signature": "<base64 of 64 bytes>" }
 * The signature is Ed25519 over the canonical bytes of "policy" (canon_json.h), so
 * whitespace and key order of the envelope do not matter but every value does. */
#include "common/canon_json.h"
#include "common/ed25519.h"
#include "policy/policy-internal.h"

int policy_envelope_sign(const struct policy *p, EVP_PKEY *key, char **ret_envelope)
{
        _cleanup_json_ json_object *policy = NULL;
        int r = policy_to_json(p, &policy);
        if (r < 0)
                return r;
        _cleanup_free_ char *canon = NULL;
        size_t len = 0;
        r = json_canonical(policy, NULL, &canon, &len);
        if (r < 0)
                return r;

        unsigned char sig[ED25519_SIG_LEN];
        char key_id[ED25519_KEY_ID_LEN + 1];
        r = ed25519_key_id(key, key_id);
        if (r < 0)
                return r;
        r = ed25519_sign(key, canon, len, sig);
        if (r < 0)
                return r;
        _cleanup_free_ char *sig64 = base64_encode(sig, sizeof sig);
        _cleanup_json_ json_object *env = json_object_new_object();
        if (!sig64 || !env)
                return -ENOMEM;
        json_object *kid = json_object_new_string(key_id), *s = json_object_new_string(sig64);
        if (!kid || !s || json_object_object_add(env, "key_id", kid) < 0) {
                json_object_put(kid);
                json_object_put(s);
                return -ENOMEM;
        }
        if (json_object_object_add(env, "signature", s) < 0) {
                json_object_put(s);
                return -ENOMEM;
        }
        if (json_object_object_add(env, "policy", policy) < 0)
                return -ENOMEM;
        policy = NULL; /* owned by env now */

        const char *text = json_object_to_json_string_ext(
                env, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
        char *out = NULL;
        if (!text || asprintf(&out, "%s\n", text) < 0)
                return -ENOMEM;
        *ret_envelope = out;
        return 0;
}

/* Adds an error at path and returns code (or -ENOMEM when even that fails). */
static int envelope_error(struct policy_errors *errs, int code, const char *path, const char *msg)
{
        int r = policy_errors_add(errs, path, "%s", msg);
        return r < 0 ? r : code;
}

int policy_envelope_verify(const char *data, size_t len, EVP_PKEY *const *keys, size_t n_keys,
                           struct policy **ret_policy, struct policy_errors *errs)
{
        _cleanup_json_ json_object *env = NULL;
        int r = policy_document_parse(data, len, &env, errs);
        if (r < 0)
                return r == -ENOMEM ? r : -EBADMSG;
        if (!json_object_is_type(env, json_type_object))
                return envelope_error(errs, -EBADMSG, "$",
                                      "not a signed policy: expected an object with policy, "
                                      "key_id and signature");

        json_object *policy = NULL, *key_id = NULL, *sig = NULL;
        if (!json_object_object_get_ex(env, "policy", &policy) ||
            !json_object_is_type(policy, json_type_object))
                return envelope_error(errs, -EBADMSG, "policy",
                                      policy ? "expected the policy object" :
                                               "missing: this is not a signed policy (sign it "
                                               "with 'hogoctl policy sign')");
        json_object_object_foreach(env, k, v)
        {
                (void)v;
                if (STRNEQ(k, "policy") && STRNEQ(k, "key_id") && STRNEQ(k, "signature"))
                        return envelope_error(errs, -EBADMSG, k,
                                              "unknown member of a signed policy (only policy, "
                                              "key_id and signature may appear)");
        }
        if (!json_object_object_get_ex(env, "signature", &sig))
                return envelope_error(errs, -EBADMSG, "signature",
                                      "missing: the policy is not signed");
        if (!json_object_object_get_ex(env, "key_id", &key_id))
                return envelope_error(errs, -EBADMSG, "key_id", "missing: which key signed it?");
        const char *kid = json_object_get_string(key_id);
        if (!json_object_is_type(key_id, json_type_string) || !is_lower_hex(kid, ED25519_KEY_ID_LEN))
                return envelope_error(errs, -EBADMSG, "key_id", "expected 16 lower-case hex digits");

        _cleanup_free_ unsigned char *raw_sig = NULL;
        size_t sig_len = 0;
        if (!json_object_is_type(sig, json_type_string) ||
            base64_decode(json_object_get_string(sig), &raw_sig, &sig_len) < 0 ||
            sig_len != ED25519_SIG_LEN)
                return envelope_error(errs, -EBADMSG, "signature",
                                      "malformed: expected base64 of a 64-byte Ed25519 signature");

        EVP_PKEY *key = NULL;
        for (size_t i = 0; i < n_keys && !key; i++) {
                char id[ED25519_KEY_ID_LEN + 1];
                if (ed25519_key_id(keys[i], id) == 0 && STREQ(id, kid))
                        key = keys[i];
        }
        if (!key) {
                r = policy_errors_add(errs, "key_id",
                                      "signed with key %s, which is not a trusted policy key here",
                                      kid);
                return r < 0 ? r : -ENOKEY;
        }

        _cleanup_free_ char *canon = NULL;
        size_t canon_len = 0;
        r = json_canonical(policy, NULL, &canon, &canon_len);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return envelope_error(errs, -EKEYREJECTED, "policy",
                                      "holds a value no signed policy can hold (a fractional "
                                      "number); it was changed after signing");
        r = ed25519_verify(key, canon, canon_len, raw_sig, sig_len);
        if (r < 0)
                return envelope_error(errs, r == -ENOMEM ? r : -EKEYREJECTED, "signature",
                                      "does not match the policy: it was changed after signing, "
                                      "or signed by another key");

        /* the signature is good: now the policy must also be a valid one */
        struct policy_errors perrs = POLICY_ERRORS_INIT;
        r = policy_from_json(policy, ret_policy, errs ? &perrs : NULL);
        if (errs)
                for (size_t i = 0; i < perrs.n; i++) {
                        _cleanup_free_ char *path = NULL;
                        const char *inner = perrs.items[i].path;
                        if (asprintf(&path, "policy%s%s", STREQ(inner, "$") ? "" : ".",
                                     STREQ(inner, "$") ? "" : inner) < 0) {
                                path = NULL;
                                r = -ENOMEM;
                                break;
                        }
                        if (policy_errors_add(errs, path, "%s", perrs.items[i].message) < 0) {
                                r = -ENOMEM;
                                break;
                        }
                }
        policy_errors_clear(&perrs);
        return r;
}

int policy_envelope_load_file(const char *path, EVP_PKEY *const *keys, size_t n_keys,
                              struct policy **ret_policy, struct policy_errors *errs)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r = policy_read_document(path, &data, &len, errs);
        if (r < 0)
                return r;
        return policy_envelope_verify(data, len, keys, n_keys, ret_policy, errs);
}

int policy_envelope_parse_unverified(const char *data, size_t len, struct policy **ret_policy,
                                     char ret_key_id[static ED25519_KEY_ID_LEN + 1], struct policy_errors *errs)
{
        _cleanup_json_ json_object *env = NULL;
        int r = policy_document_parse(data, len, &env, errs);
        if (r < 0)
                return r;
        json_object *policy = NULL, *key_id = NULL;
        if (!json_object_is_type(env, json_type_object) ||
            !json_object_object_get_ex(env, "policy", &policy) ||
            !json_object_object_get_ex(env, "key_id", &key_id) ||
            !is_lower_hex(json_object_get_string(key_id), ED25519_KEY_ID_LEN))
                return envelope_error(errs, -EBADMSG, "$", "not a signed policy envelope");
        _cleanup_policy_ struct policy *p = NULL;
        r = policy_from_json(policy, &p, errs);
        if (r < 0)
                return r;
        memcpy(ret_key_id, json_object_get_string(key_id), ED25519_KEY_ID_LEN + 1);
        *ret_policy = TAKE_PTR(p);
        return 0;
}

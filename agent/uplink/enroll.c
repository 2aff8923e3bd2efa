/* enroll.c — see enroll.h. */
#include "agent/uplink/enroll.h"

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include "agent/uplink/client.h"
#include "common/canon_json.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/util.h"

#define TOKEN_MAX_BYTES 4096

static void evp_pkey_freep(EVP_PKEY **p)
{
        EVP_PKEY_free(*p);
}
static void x509_req_freep(X509_REQ **p)
{
        X509_REQ_free(*p);
}
static void bio_freep(BIO **p)
{
        BIO_free(*p);
}
/* the private key's PEM is wiped, not just freed */
static void secret_freep(char **p)
{
        if (*p) {
                explicit_bzero(*p, strlen(*p));
                free(*p);
        }
}

static int bio_to_string(BIO *bio, char **ret)
{
        char *data;
        long len = BIO_get_mem_data(bio, &data);
        if (len <= 0)
                return -EIO;
        char *s = strndup(data, (size_t)len);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int enroll_make_key_and_csr(const char *hostname, char **ret_key_pem, char **ret_csr_pem)
{
        _cleanup_(evp_pkey_freep) EVP_PKEY *key = EVP_EC_gen("P-256");
        if (!key)
                return -EIO;
        _cleanup_(x509_req_freep) X509_REQ *req = X509_REQ_new();
        if (!req)
                return -ENOMEM;
        X509_NAME *name = X509_REQ_get_subject_name(req);
        /* the collector sets the real subject (CN = agent id); this only says who asked */
        if (X509_REQ_set_version(req, 0) != 1 || X509_REQ_set_pubkey(req, key) != 1 ||
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)hostname,
                                       -1, -1, 0) != 1 ||
            X509_REQ_sign(req, key, EVP_sha256()) <= 0)
                return -EIO;

        _cleanup_(bio_freep) BIO *kb = BIO_new(BIO_s_mem());
        _cleanup_(bio_freep) BIO *cb = BIO_new(BIO_s_mem());
        if (!kb || !cb)
                return -ENOMEM;
        if (PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) != 1 ||
            PEM_write_bio_X509_REQ(cb, req) != 1)
                return -EIO;
        _cleanup_(secret_freep) char *key_pem = NULL;
        _cleanup_free_ char *csr_pem = NULL;
        int r = bio_to_string(kb, &key_pem);
        if (r < 0)
                return r;
        r = bio_to_string(cb, &csr_pem);
        if (r < 0)
                return r;
        *ret_key_pem = TAKE_PTR(key_pem);
        *ret_csr_pem = TAKE_PTR(csr_pem);
        return 0;
}

static char *state_path(const struct uplink_config *config, const char *name)
{
        char *p;
        return asprintf(&p, "%s/%s", config->state_dir, name) < 0 ? NULL : p;
}

bool uplink_is_enrolled(const struct uplink_config *config)
{
        _cleanup_free_ char *key = state_path(config, ENROLL_KEY_FILE);
        _cleanup_free_ char *cert = state_path(config, ENROLL_CERT_FILE);
        return key && cert && access(key, R_OK) == 0 && access(cert, R_OK) == 0;
}

static int write_state_file(const struct uplink_config *config, const char *name, const char *data)
{
        _cleanup_free_ char *path = state_path(config, name);
        if (!path)
                return -ENOMEM;
        int r = write_file_atomic(path, data, strlen(data), 0600);
        if (r < 0)
                return log_error_errno(r, "Cannot write %s: %m", path);
        return 0;
}

static int read_token(const char *path, char **ret)
{
        _cleanup_free_ char *text = NULL;
        int r = read_file_bounded(path, TOKEN_MAX_BYTES, &text, NULL);
        if (r < 0)
                return log_error_errno(
                    r,
                    "Cannot read the enrollment token %s: %m. "
                    "Create a token with 'hogoctl token create' and put it there.",
                    path);
        text[strcspn(text, " \t\r\n")] = '\0';
        if (text[0] == '\0')
                return log_error_errno(-EINVAL, "The enrollment token file %s is empty.", path);
        *ret = TAKE_PTR(text);
        return 0;
}

static const char *json_string_member(json_object *o, const char *key)
{
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static int enroll_request_body(const char *token, const char *csr, const char *hostname, char **ret)
{
        _cleanup_json_ json_object *req = json_object_new_object();
        if (!req || json_object_object_add(req, "token", json_object_new_string(token)) < 0 ||
            json_object_object_add(req, "csr", json_object_new_string(csr)) < 0 ||
            json_object_object_add(req, "hostname", json_object_new_string(hostname)) < 0)
                return -ENOMEM;
        char *s = strdup(json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int enroll_store_answer(const struct uplink_config *config, const char *key_pem,
                               const struct collector_response *resp)
{
        _cleanup_json_ json_object *ans = json_tokener_parse(resp->body);
        const char *agent_id = ans ? json_string_member(ans, "agent_id") : NULL;
        const char *cert = ans ? json_string_member(ans, "certificate") : NULL;
        const char *ca = ans ? json_string_member(ans, "ca") : NULL;
        if (!agent_id || !cert || !ca || strncmp(cert, "-----BEGIN CERTIFICATE-----", 27) != 0)
                return log_error_errno(
                    -EBADMSG,
                    "The collector %s accepted the enrollment but its answer lacks "
                    "agent_id, certificate or ca; nothing was kept. Try again later.",
                    resp->url);
        /* the certificate last: uplink_is_enrolled() looks for it, so a crash in between
         * leaves a state that simply enrolls again */
        int r = write_state_file(config, ENROLL_KEY_FILE, key_pem);
        if (r >= 0)
                r = write_state_file(config, ENROLL_CA_FILE, ca);
        if (r >= 0) {
                _cleanup_free_ char *line = NULL;
                r = asprintf(&line, "%s\n", agent_id) < 0
                        ? -ENOMEM
                        : write_state_file(config, ENROLL_ID_FILE, line);
        }
        if (r >= 0)
                r = write_state_file(config, ENROLL_CERT_FILE, cert);
        if (r < 0)
                return r;
        log_info("Enrolled with %s as agent %s (department %s)", resp->url, agent_id,
                 json_string_member(ans, "department") ?: "?");
        return 0;
}

int uplink_enroll(const struct uplink_config *config, const char *token_file)
{
        token_file = token_file ?: config->token_file;
        if (!token_file)
                return log_error_errno(
                    -EINVAL, "Not enrolled and no token file is configured (\"token_file\" or -t). "
                             "Create one with 'hogoctl token create'.");
        if (config->n_enroll_urls == 0)
                return log_error_errno(-EINVAL,
                                       "Not enrolled and \"enroll_urls\" is not configured.");

        _cleanup_(secret_freep) char *token = NULL;
        int r = read_token(token_file, &token);
        if (r < 0)
                return r;
        r = mkdir_parents(config->state_dir, 0700);
        if (r < 0)
                return log_error_errno(r, "Cannot create the state directory %s: %m",
                                       config->state_dir);

        char hostname[256] = "";
        if (gethostname(hostname, sizeof(hostname) - 1) < 0 || hostname[0] == '\0')
                strcpy(hostname, "localhost");
        _cleanup_(secret_freep) char *key_pem = NULL;
        _cleanup_free_ char *csr_pem = NULL;
        _cleanup_(secret_freep) char *body = NULL; /* holds the token */
        r = enroll_make_key_and_csr(hostname, &key_pem, &csr_pem);
        if (r < 0)
                return log_error_errno(r, "Cannot generate the agent key and CSR: %m");
        r = enroll_request_body(token, csr_pem, hostname, &body);
        if (r < 0)
                return log_error_errno(r, "Cannot build the enrollment request: %m");

        struct collector_client_options o = {
            .urls = config->enroll_urls,
            .n_urls = config->n_enroll_urls,
            .ca_file = config->ca,
            .timeout_seconds = config->timeout_seconds,
        };
        struct collector_client *client = NULL;
        r = collector_client_new(&o, &client);
        if (r < 0)
                return log_error_errno(r, "Cannot set up HTTPS: %m");
        struct collector_response resp = {0};
        r = collector_request(client, "POST", "/v1/enroll", body, strlen(body), &resp);
        if (r < 0) {
                log_error_errno(
                    r,
                    "No enrollment URL answered (%s); the token is kept. Check the network and "
                    "\"enroll_urls\", then start again.",
                    collector_client_last_error(client));
        } else if (resp.status == 403) {
                r = log_error_errno(
                    -EACCES,
                    "The collector %s refused the enrollment token (unknown, expired or "
                    "used up); the token file %s is kept. Ask for a new token "
                    "('hogoctl token create').",
                    resp.url, token_file);
        } else if (resp.status != 200) {
                r = log_error_errno(-EPROTO, "Enrollment at %s failed with HTTP %ld: %.300s",
                                    resp.url, resp.status, resp.body);
        } else {
                r = enroll_store_answer(config, key_pem, &resp);
                /* consumed: the collector has counted its use; keeping it only leaks a secret */
                if (r >= 0 && unlink(token_file) < 0 && errno != ENOENT)
                        log_warning_errno(negative_errno(),
                                          "Enrolled, but cannot delete the used token %s: %m",
                                          token_file);
        }
        collector_response_free(&resp);
        collector_client_free(client);
        return r;
}

/* Validate presented handles as an API would, against the PersistedGrants store, without
 * the HTTP round trip to IdentityServer's introspection endpoint. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <reftoken.h>

/* A stand-in for the PersistedGrants table. A real lookup runs
 *   SELECT Type, Data FROM PersistedGrants WHERE Key = @key
 * and hands the row to reftoken_row_set. */
struct row { char key[REFTOKEN_MAX_KEY_LEN + 1]; char data[4096]; };
struct store { struct row rows[8]; size_t count; };

static reftoken_status lookup(void *ctx, const char *key, size_t key_len, reftoken_row *out) {
    const struct store *store = ctx;
    size_t i;
    for (i = 0; i < store->count; i++) {
        const struct row *r = &store->rows[i];
        if (strlen(r->key) == key_len && memcmp(r->key, key, key_len) == 0)
            return reftoken_row_set(out, "reference_token", 15, r->data, strlen(r->data));
    }
    return REFTOKEN_NOT_FOUND;
}

/* IdentityServer answers only for tokens whose client exists and is enabled. */
static bool client_enabled(void *ctx, const char *client_id, size_t len) {
    (void)ctx;
    return len == 7 && memcmp(client_id, "client1", 7) == 0;
}

/* Issues a token for client_id into the store; writes its handle. */
static reftoken_status issue(struct store *store, const char *client_id, int64_t now, char *handle) {
    struct row *r = &store->rows[store->count];
    reftoken_grant *token = NULL;
    size_t len;
    reftoken_status st = reftoken_handle_new(handle, REFTOKEN_HANDLE_LEN + 1, &len);
    if (st == REFTOKEN_OK) st = reftoken_reference_token_key(handle, len, r->key, sizeof r->key, &len);
    if (st == REFTOKEN_OK)
        st = reftoken_grant_new(client_id, strlen(client_id), "https://idp.example", 19, now, 3600, &token);
    if (st == REFTOKEN_OK) st = reftoken_grant_add_audience(token, "api1", 4);
    if (st == REFTOKEN_OK) st = reftoken_grant_add_claim(token, "client_id", 9, client_id, strlen(client_id), NULL, 0);
    if (st == REFTOKEN_OK) st = reftoken_grant_add_claim(token, "scope", 5, "api1.read", 9, NULL, 0);
    if (st == REFTOKEN_OK) st = reftoken_grant_add_claim(token, "sub", 3, "alice", 5, NULL, 0);
    if (st == REFTOKEN_OK)
        st = reftoken_grant_add_claim(token, "level", 5, "3", 1, "http://www.w3.org/2001/XMLSchema#integer", 40);
    if (st == REFTOKEN_OK) st = reftoken_grant_data(token, r->data, sizeof r->data, &len);
    if (st == REFTOKEN_OK) store->count++;
    reftoken_grant_free(token);
    return st;
}

static const char *reason(uint32_t r) {
    switch (r) {
    case REFTOKEN_ACTIVE: return "active";
    case REFTOKEN_INACTIVE_EXPIRED: return "expired";
    case REFTOKEN_INACTIVE_CLIENT_DISABLED: return "client unknown or disabled";
    case REFTOKEN_INACTIVE_NO_MATCHING_SCOPE: return "no scope of this API";
    case REFTOKEN_INACTIVE_OTHER_CLIENT: return "another client's token";
    case REFTOKEN_INACTIVE_UNKNOWN_HANDLE: return "unknown handle";
    default: return "?";
    }
}

static int check(reftoken_status st, const char *what) {
    char why[256];
    size_t len;
    if (st == REFTOKEN_OK) return 0;
    if (reftoken_last_error(why, sizeof why, &len) != REFTOKEN_OK) why[0] = '\0';
    fprintf(stderr, "validator: %s: %s: %s\n", what, reftoken_status_str(st), why);
    return 1;
}

int main(void) {
    struct store store = {0};
    char alice[REFTOKEN_HANDLE_LEN + 1], mallory[REFTOKEN_HANDLE_LEN + 1], unknown[REFTOKEN_HANDLE_LEN + 1];
    char response[4096], key[REFTOKEN_MAX_KEY_LEN + 1];
    const int64_t now = (int64_t)time(NULL);
    size_t len;
    int failed = 0;
    reftoken_validator *validator = NULL;
    reftoken_grant *token = NULL;
    reftoken_verdict verdict;
    /* The API "api1" with its scopes; the caller of every check below. */
    const reftoken_caller api = {REFTOKEN_CALLER_API, {"api1", 4}, {"api1.read api1.write", 20}};
    reftoken_options options;
    memset(&options, 0, sizeof options);
    options.client_enabled = client_enabled;

    if (check(issue(&store, "client1", now, alice), "issue") || check(issue(&store, "client9", now, mallory), "issue") ||
        check(reftoken_handle_new(unknown, sizeof unknown, &len), "reftoken_handle_new"))
        return 1;

    /* One validator for the whole process: thread-safe, with a cache of up to 10000 tokens,
     * each served from the cache for at most 60 seconds (bounding how long a revoked token
     * keeps validating on a node that is not told to evict it). */
    if (check(reftoken_validator_new(lookup, &store, NULL, 10000, 60, &validator), "reftoken_validator_new"))
        return 1;

    /* The decision alone, with the subject and client, for authorizing a request. */
    failed |= check(reftoken_validator_validate(validator, alice, strlen(alice), &api, now, &options, &token, &verdict),
                    "reftoken_validator_validate");
    if (!failed)
        printf("alice's token: %s, sub=%.*s, client_id=%.*s, exp=%lld\n", reason(verdict.reason),
               (int)verdict.subject.len, verdict.subject.ptr, (int)verdict.client_id.len, verdict.client_id.ptr,
               (long long)verdict.expiration);
    reftoken_grant_free(token);
    token = NULL;

    /* The RFC 7662 response IdentityServer's endpoint would give, byte for byte. */
    failed |= check(reftoken_validator_introspect(validator, alice, strlen(alice), &api, now, &options, response,
                                                  sizeof response, &len), "reftoken_validator_introspect");
    if (!failed) printf("introspection: %s\n", response);

    /* Inactive: a client that is not enabled, a handle that is not in the store, an expired token. */
    failed |= check(reftoken_validator_validate(validator, mallory, strlen(mallory), &api, now, &options, NULL, &verdict),
                    "reftoken_validator_validate");
    if (!failed) printf("client9's token: %s\n", reason(verdict.reason));
    failed |= check(reftoken_validator_validate(validator, unknown, strlen(unknown), &api, now, &options, NULL, &verdict),
                    "reftoken_validator_validate");
    if (!failed) printf("unknown handle: %s\n", reason(verdict.reason));
    failed |= check(reftoken_validator_validate(validator, alice, strlen(alice), &api, now + 7200, &options, NULL, &verdict),
                    "reftoken_validator_validate");
    if (!failed) printf("alice's token two hours later: %s\n", reason(verdict.reason));

    /* Revocation: delete the row, then evict it from every node's cache by its store key. */
    failed |= check(reftoken_reference_token_key(alice, strlen(alice), key, sizeof key, &len), "reftoken_reference_token_key");
    store.rows[0].key[0] = '\0';
    failed |= check(reftoken_validator_evict(validator, key, len), "reftoken_validator_evict");
    failed |= check(reftoken_validator_validate(validator, alice, strlen(alice), &api, now, &options, NULL, &verdict),
                    "reftoken_validator_validate");
    if (!failed) printf("alice's token after revocation: %s\n", reason(verdict.reason));

    reftoken_validator_free(validator);
    return failed;
}

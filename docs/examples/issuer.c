/* Issue a reference token as IdentityServer does: a handle for the client, and the
 * PersistedGrants row to store for it. */
#include <stdio.h>
#include <time.h>
#include <reftoken.h>

static void print_column(const reftoken_grant *token, uint32_t field, const char *column) {
    char value[512];
    size_t len;
    if (reftoken_grant_field(token, field, value, sizeof value, &len) == REFTOKEN_OK)
        printf("  %-12s %s\n", column, value);
    else
        printf("  %-12s NULL\n", column);
}

int main(void) {
    char handle[REFTOKEN_HANDLE_LEN + 1], key[REFTOKEN_MAX_KEY_LEN + 1], data[8192];
    size_t handle_len, len;
    reftoken_grant *token = NULL;
    reftoken_status st;

    /* The handle the client receives (64 hex digits and "-1"), and the store key: SHA-256 of
     * "handle:reference_token". Only the key is stored, so the store never holds a usable handle. */
    st = reftoken_handle_new(handle, sizeof handle, &handle_len);
    if (st == REFTOKEN_OK) st = reftoken_reference_token_key(handle, handle_len, key, sizeof key, &len);

    /* The token: client, issuer, creation time and lifetime, then what IdentityServer puts in
     * it: audiences, client_id, one scope claim per scope, the user's sub and sid. */
    if (st == REFTOKEN_OK)
        st = reftoken_grant_new("client1", 7, "https://idp.example", 19, (int64_t)time(NULL), 3600, &token);
    if (st == REFTOKEN_OK) st = reftoken_grant_add_audience(token, "api1", 4);
    if (st == REFTOKEN_OK) st = reftoken_grant_add_claim(token, "client_id", 9, "client1", 7, NULL, 0);
    if (st == REFTOKEN_OK) st = reftoken_grant_add_claim(token, "scope", 5, "api1.read", 9, NULL, 0);
    if (st == REFTOKEN_OK) st = reftoken_grant_add_claim(token, "sub", 3, "alice", 5, NULL, 0);
    if (st == REFTOKEN_OK) st = reftoken_grant_add_claim(token, "sid", 3, "5D3A0E1C", 8, NULL, 0);
    if (st == REFTOKEN_OK) st = reftoken_grant_add_claim(token, "amr", 3, "pwd", 3, NULL, 0);

    /* The Data column, as PersistentGrantSerializer writes it with Data Protection off. */
    if (st == REFTOKEN_OK) st = reftoken_grant_data(token, data, sizeof data, &len);

    if (st != REFTOKEN_OK) {
        char why[256];
        if (reftoken_last_error(why, sizeof why, &len) != REFTOKEN_OK) why[0] = '\0';
        fprintf(stderr, "issuer: %s: %s\n", reftoken_status_str(st), why);
        reftoken_grant_free(token);
        return 1;
    }

    printf("handle for the client: %s\n", handle);
    printf("PersistedGrants row:\n");
    printf("  %-12s %s\n", "Key", key);
    printf("  %-12s %s\n", "Type", "reference_token");
    print_column(token, REFTOKEN_FIELD_SUBJECT_ID, "SubjectId");
    print_column(token, REFTOKEN_FIELD_SESSION_ID, "SessionId");
    print_column(token, REFTOKEN_FIELD_CLIENT_ID, "ClientId");
    print_column(token, REFTOKEN_FIELD_DESCRIPTION, "Description");
    print_column(token, REFTOKEN_FIELD_CREATION_TIME, "CreationTime");
    print_column(token, REFTOKEN_FIELD_EXPIRATION, "Expiration");
    printf("  %-12s %s\n", "ConsumedTime", "NULL");
    printf("  %-12s %s\n", "Data", data);
    reftoken_grant_free(token);
    return 0;
}

#include <stdio.h>
#include <string.h>
#include "reftoken.h"

int main(void) {
    /* Issue: a handle for the client, and the row IdentityServer would store for it. */
    char handle[REFTOKEN_HANDLE_LEN + 1], key[REFTOKEN_MAX_KEY_LEN + 1];
    size_t len;
    if (reftoken_handle_new(handle, sizeof handle, &len) != REFTOKEN_OK) return 1;
    reftoken_store_key(handle, len, "reference_token", 15, key, sizeof key, &len);

    reftoken_grant *token = NULL;
    reftoken_grant_new("client1", 7, "https://idp.example", 19, 1735689600, 3600, &token);
    reftoken_grant_add_audience(token, "api1", 4);
    reftoken_grant_add_claim(token, "client_id", 9, "client1", 7, NULL, 0);
    reftoken_grant_add_claim(token, "scope", 5, "api1.read", 9, NULL, 0);
    reftoken_grant_add_claim(token, "sub", 3, "alice", 5, NULL, 0);
    char data[4096];
    reftoken_grant_data(token, data, sizeof data, &len);
    printf("Key:  %s\nData: %s\n", key, data);
    reftoken_grant_free(token);

    /* Validate: the API "api1" introspects what it read back from the Data column. */
    reftoken_caller api = {REFTOKEN_CALLER_API, {"api1", 4}, {"api1.read api1.write", 20}};
    char response[4096];
    reftoken_status st = reftoken_introspect_data(data, strlen(data), NULL, &api, 1735689700, NULL,
                                                  response, sizeof response, &len);
    if (st != REFTOKEN_OK) {
        char why[256];
        reftoken_last_error(why, sizeof why, &len);
        fprintf(stderr, "%s: %s\n", reftoken_status_str(st), why);
        return 1;
    }
    printf("Introspection: %s\n", response);
    return 0;
}

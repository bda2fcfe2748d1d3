/*
 * rt_tool: test helper for the nginx module and the Lua binding.
 *
 *   rt_tool issue SUB CLIENT SCOPES CREATED LIFETIME [KEYRING_DIR APP_NAME]
 *       a new reference token: prints HANDLE TAB KEY TAB DATA (the PersistedGrants row's
 *       Data column, protected with the key ring when one is given); SCOPES space-separated
 *   rt_tool publish REDIS_URL KEY
 *       "evict KEY on every node" on Redis (reftoken_revocation_publish_redis); prints the
 *       number of subscribers that received it
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reftoken.h"

static int fail(const char *what, reftoken_status st) {
    char why[256] = "";
    size_t n = 0;
    reftoken_last_error(why, sizeof why, &n);
    fprintf(stderr, "rt_tool: %s: %s: %s\n", what, reftoken_status_str(st), why);
    return 1;
}

static int issue(int argc, char **argv) {
    const char *sub = argv[2], *client = argv[3], *scopes = argv[4];
    int64_t created = strtoll(argv[5], NULL, 10), lifetime = strtoll(argv[6], NULL, 10);
    char handle[REFTOKEN_HANDLE_LEN + 1], key[REFTOKEN_MAX_KEY_LEN + 1];
    static char data[65536];
    size_t handle_len, key_len, len;
    reftoken_grant *g = NULL;
    reftoken_status st;

    if ((st = reftoken_handle_new(handle, sizeof handle, &handle_len)) != REFTOKEN_OK) return fail("handle", st);
    if ((st = reftoken_reference_token_key(handle, handle_len, key, sizeof key, &key_len)) != REFTOKEN_OK)
        return fail("key", st);
    if ((st = reftoken_grant_new(client, strlen(client), "https://idp.example", 19, created, (int32_t)lifetime, &g)) !=
        REFTOKEN_OK)
        return fail("grant", st);
    reftoken_grant_add_audience(g, "api1", 4);
    reftoken_grant_add_claim(g, "client_id", 9, client, strlen(client), NULL, 0);
    /* One scope claim per scope, as IdentityServer writes them. */
    for (const char *p = scopes; *p;) {
        const char *q = strchr(p, ' ');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (n) reftoken_grant_add_claim(g, "scope", 5, p, n, NULL, 0);
        p += n;
        while (*p == ' ') p++;
    }
    reftoken_grant_add_claim(g, "sub", 3, sub, strlen(sub), NULL, 0);
    if (argc >= 9) {
        reftoken_keyring *ring = NULL;
        st = reftoken_keyring_new_from_dir(argv[7], strlen(argv[7]), argv[8], strlen(argv[8]), &ring);
        if (st != REFTOKEN_OK) return fail("keyring", st);
        st = reftoken_grant_data_protected(g, ring, created, data, sizeof data, &len);
        /* The test key ring's one key may not be active at CREATED: any time within its
         * lifetime protects as well (unprotecting accepts every key of the ring). */
        if (st == REFTOKEN_UNKNOWN_KEY)
            st = reftoken_grant_data_protected(g, ring, 1796083200, data, sizeof data, &len);
        reftoken_keyring_free(ring);
    } else {
        st = reftoken_grant_data(g, data, sizeof data, &len);
    }
    reftoken_grant_free(g);
    if (st != REFTOKEN_OK) return fail("data", st);
    printf("%s\t%s\t%s\n", handle, key, data);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 7 && strcmp(argv[1], "issue") == 0) return issue(argc, argv);
    if (argc == 4 && strcmp(argv[1], "publish") == 0) {
        uint64_t receivers = 0;
        reftoken_status st =
            reftoken_revocation_publish_redis(argv[2], strlen(argv[2]), NULL, 0, argv[3], strlen(argv[3]), &receivers);
        if (st != REFTOKEN_OK) return fail("publish", st);
        printf("%" PRIu64 "\n", receivers);
        return 0;
    }
    fprintf(stderr, "usage: rt_tool issue SUB CLIENT SCOPES CREATED LIFETIME [KEYRING_DIR APP_NAME]\n"
                    "       rt_tool publish REDIS_URL KEY\n");
    return 2;
}

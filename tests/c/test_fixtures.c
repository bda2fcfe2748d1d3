/* C harness: the responses a real Duende IdentityServer 7.4.8 gave (tests/fixtures/duende,
 * introspection-cases.tsv), reproduced through the ABI from the stored Data columns,
 * including Data Protection with the fixture key ring. */
#define _GNU_SOURCE
#include "reftoken.h"
#include "harness.h"

#include <stdlib.h>

#ifndef FIXTURES_DIR
#error "FIXTURES_DIR must name tests/fixtures/duende"
#endif

static char enabled_clients[512];

bool harness_client_listed(void *ctx, const char *id, size_t len) {
    const char *p = ctx;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && memcmp(p, id, len) == 0) return true;
        if (!end) break;
        p = end + 1;
    }
    return false;
}

char *harness_case_line(FILE *f, char **line, size_t *cap, char *clients, size_t clients_cap) {
    ssize_t got;
    while ((got = getline(line, cap, f)) > 0) {
        char *l = *line;
        if (l[got - 1] == '\n') l[--got] = '\0';
        if (strncmp(l, "# enabled clients: ", 19) == 0) {
            snprintf(clients, clients_cap, "%s", l + 19);
            continue;
        }
        if (l[0] == '#' || l[0] == '\0') continue;
        return l;
    }
    return NULL;
}

int harness_split_tabs(char *line, char **fields, int max) {
    int n = 0;
    fields[n++] = line;
    for (char *p = line; *p && n < max; p++) {
        if (*p == '\t') {
            *p = '\0';
            fields[n++] = p + 1;
        }
    }
    return n;
}

void test_fixtures(void) {
    reftoken_keyring *ring = NULL;
    const char *dir = FIXTURES_DIR "/keyring";
    CHECK_STATUS(reftoken_keyring_new_from_dir(dir, strlen(dir), "reftoken-fixtures", 17, &ring), REFTOKEN_OK);
    FILE *f = fopen(FIXTURES_DIR "/introspection-cases.tsv", "r");
    CHECK(f != NULL);
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    int cases = 0, protected_cases = 0, errors = 0;
    char *out = malloc(1 << 16);
    while (harness_case_line(f, &line, &cap, enabled_clients, sizeof enabled_clients)) {
        char *fld[8];
        if (harness_split_tabs(line, fld, 8) != 8) {
            CHECK(!"a fixture line has 8 fields");
            continue;
        }
        const char *name = fld[0], *scopes = fld[3], *data = fld[6], *body = fld[7];
        reftoken_caller caller = {strcmp(fld[1], "api") == 0 ? REFTOKEN_CALLER_API : REFTOKEN_CALLER_CLIENT,
                                  {fld[2], strlen(fld[2])},
                                  {scopes, strlen(scopes)}};
        reftoken_options opts = {REFTOKEN_IDENTITYSERVER_LATEST, harness_client_listed, enabled_clients, NULL, NULL};
        int64_t now = strtoll(fld[4], NULL, 10);
        size_t len = 0;
        reftoken_status st = reftoken_introspect_data(data, strlen(data), ring, &caller, now, &opts, out, 1 << 16, &len);
        protected_cases += strstr(data, "\"DataProtected\":true") != NULL;
        if (strcmp(fld[5], "500") == 0) {
            /* IdentityServer failed with a 500; RefToken reports the token as unanswerable. */
            CHECK_STATUS(st, REFTOKEN_MALFORMED_INPUT);
            errors++;
        } else if (st == REFTOKEN_OK) {
            if (!(len == strlen(body) && memcmp(out, body, len) == 0))
                fprintf(stderr, "fixture %s:\n  got      %.*s\n  expected %s\n", name, (int)len, out, body);
            CHECK(len == strlen(body) && memcmp(out, body, len) == 0);
        } else {
            /* Rows IdentityServer could not read (other app name, wrong version) answer
             * inactive there; RefToken reports why. */
            CHECK(strcmp(body, "{\"active\":false}") == 0);
        }
        cases++;
    }
    free(out);
    free(line);
    fclose(f);
    CHECK(cases >= 150);
    CHECK(protected_cases >= 60);
    CHECK(errors >= 4);
    printf("fixtures: %d introspections (%d protected, %d IdentityServer errors)\n", cases, protected_cases, errors);
    reftoken_keyring_free(ring);
}

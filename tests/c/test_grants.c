/* C harness: grants, Data columns and introspection through the ABI. */
#include "reftoken.h"
#include "harness.h"

#include <stdlib.h>

#define XSD "http://www.w3.org/2001/XMLSchema#"
#define S(lit) lit, sizeof(lit) - 1

/* Reads `field` of grant `g` into the array `buf` (its length into `len`) and checks it is
 * `expected`; a macro, so that a failure names the line of its use. */
#define CHECK_FIELD(g, field, buf, len, expected)                                                  \
    do {                                                                                           \
        CHECK_STATUS(reftoken_grant_field((g), (field), (buf), sizeof(buf), &(len)), REFTOKEN_OK); \
        CHECK_STR((buf), (len), (expected));                                                       \
    } while (0)

static reftoken_grant *sample_grant(void) {
    reftoken_grant *g = NULL;
    /* 2024-01-01T00:00:00Z, one hour. */
    CHECK_STATUS(reftoken_grant_new(S("client1"), S("https://idp.example"), 1704067200, 3600, &g), REFTOKEN_OK);
    CHECK_STATUS(reftoken_grant_add_audience(g, S("api1")), REFTOKEN_OK);
    CHECK_STATUS(reftoken_grant_add_claim(g, S("client_id"), S("client1"), NULL, 0), REFTOKEN_OK);
    CHECK_STATUS(reftoken_grant_add_claim(g, S("scope"), S("api1.read"), NULL, 0), REFTOKEN_OK);
    CHECK_STATUS(reftoken_grant_add_claim(g, S("scope"), S("other"), NULL, 0), REFTOKEN_OK);
    CHECK_STATUS(reftoken_grant_add_claim(g, S("sub"), S("alice"), S(XSD "string")), REFTOKEN_OK);
    CHECK_STATUS(reftoken_grant_add_claim(g, S("sid"), S("S1"), NULL, 0), REFTOKEN_OK);
    CHECK_STATUS(reftoken_grant_add_claim(g, S("auth_time"), S("1704067100"), S(XSD "integer64")), REFTOKEN_OK);
    CHECK_STATUS(reftoken_grant_add_claim(g, S("role"), S("a<b"), NULL, 0), REFTOKEN_OK);
    CHECK_STATUS(reftoken_grant_add_claim(g, S("role"), S("\xc3\xa9"), NULL, 0), REFTOKEN_OK);
    return g;
}

static void test_build_and_read(void) {
    reftoken_grant *g = sample_grant();
    char buf[4096];
    size_t len = 0;
    CHECK_STATUS(reftoken_grant_token_json(g, buf, sizeof buf, &len), REFTOKEN_OK);
    /* System.Text.Json's shape: PascalCase members in declaration order, nulls omitted,
     * the string value type omitted, HTML-sensitive and non-ASCII characters escaped. */
    CHECK_STR(buf, len,
              "{\"AllowedSigningAlgorithms\":[],\"Audiences\":[\"api1\"],\"Issuer\":\"https://idp.example\","
              "\"CreationTime\":\"2024-01-01T00:00:00Z\",\"Lifetime\":3600,\"Type\":\"access_token\","
              "\"ClientId\":\"client1\",\"AccessTokenType\":1,\"IncludeJwtId\":false,\"Claims\":["
              "{\"Type\":\"client_id\",\"Value\":\"client1\"},{\"Type\":\"scope\",\"Value\":\"api1.read\"},"
              "{\"Type\":\"scope\",\"Value\":\"other\"},{\"Type\":\"sub\",\"Value\":\"alice\"},"
              "{\"Type\":\"sid\",\"Value\":\"S1\"},{\"Type\":\"auth_time\",\"Value\":\"1704067100\","
              "\"ValueType\":\"http://www.w3.org/2001/XMLSchema#integer64\"},"
              "{\"Type\":\"role\",\"Value\":\"a\\u003Cb\"},{\"Type\":\"role\",\"Value\":\"\\u00E9\"}],\"Version\":5,"
              "\"Scopes\":[\"api1.read\",\"other\"]}");
    char data[8192];
    size_t data_len = 0;
    CHECK_STATUS(reftoken_grant_data(g, data, sizeof data, &data_len), REFTOKEN_OK);
    CHECK(strncmp(data, "{\"PersistentGrantDataContainerVersion\":1,\"DataProtected\":false,\"Payload\":\"{\\u0022AllowedSigningAlgorithms\\u0022:[]", 109) == 0);

    /* Fields of the row. */
    CHECK_FIELD(g, REFTOKEN_FIELD_SUBJECT_ID, buf, len, "alice");
    CHECK_FIELD(g, REFTOKEN_FIELD_SESSION_ID, buf, len, "S1");
    CHECK_FIELD(g, REFTOKEN_FIELD_CLIENT_ID, buf, len, "client1");
    CHECK_FIELD(g, REFTOKEN_FIELD_ISSUER, buf, len, "https://idp.example");
    CHECK_FIELD(g, REFTOKEN_FIELD_CREATION_TIME, buf, len, "2024-01-01T00:00:00Z");
    CHECK_FIELD(g, REFTOKEN_FIELD_EXPIRATION, buf, len, "2024-01-01T01:00:00Z");
    CHECK_STATUS(reftoken_grant_field(g, REFTOKEN_FIELD_DESCRIPTION, buf, sizeof buf, &len), REFTOKEN_NOT_FOUND);
    CHECK(len == 0);
    CHECK_STATUS(reftoken_grant_field(g, REFTOKEN_FIELD_CONFIRMATION, buf, sizeof buf, &len), REFTOKEN_NOT_FOUND);
    CHECK_STATUS(reftoken_grant_field(g, 999, buf, sizeof buf, &len), REFTOKEN_INVALID_ARGUMENT);
    CHECK_STATUS(reftoken_grant_field(NULL, REFTOKEN_FIELD_SUBJECT_ID, buf, sizeof buf, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_STATUS(reftoken_grant_field(g, REFTOKEN_FIELD_SUBJECT_ID, buf, 2, &len), REFTOKEN_BUFFER_TOO_SMALL);
    CHECK(len == 5);
    CHECK(reftoken_grant_creation_time(g) == 1704067200);
    CHECK(reftoken_grant_expiration(g) == 1704070800);
    CHECK(reftoken_grant_creation_time(NULL) == 0 && reftoken_grant_expiration(NULL) == 0);

    /* Description and confirmation can be set and cleared. */
    CHECK_STATUS(reftoken_grant_set_description(g, S("my token")), REFTOKEN_OK);
    CHECK_FIELD(g, REFTOKEN_FIELD_DESCRIPTION, buf, len, "my token");
    CHECK_STATUS(reftoken_grant_set_description(g, NULL, 0), REFTOKEN_OK);
    CHECK_STATUS(reftoken_grant_field(g, REFTOKEN_FIELD_DESCRIPTION, buf, sizeof buf, &len), REFTOKEN_NOT_FOUND);
    CHECK_STATUS(reftoken_grant_set_confirmation(g, S("{\"x5t#S256\":\"abc\"}")), REFTOKEN_OK);
    CHECK_STATUS(reftoken_grant_set_confirmation(g, S("{not json")), REFTOKEN_MALFORMED_INPUT);
    CHECK_FIELD(g, REFTOKEN_FIELD_CONFIRMATION, buf, len, "{\"x5t#S256\":\"abc\"}");

    /* The Data column parses back into the same token. */
    CHECK_STATUS(reftoken_grant_data(g, data, sizeof data, &data_len), REFTOKEN_OK);
    reftoken_grant *back = NULL;
    CHECK_STATUS(reftoken_grant_parse(data, data_len, &back), REFTOKEN_OK);
    char j1[4096], j2[4096];
    size_t l1 = 0, l2 = 0;
    reftoken_grant_token_json(g, j1, sizeof j1, &l1);
    reftoken_grant_token_json(back, j2, sizeof j2, &l2);
    CHECK(l1 == l2 && memcmp(j1, j2, l1) == 0);
    /* ...and so does the bare token JSON (an IdentityServer4 row without container). */
    reftoken_grant *v0 = NULL;
    CHECK_STATUS(reftoken_grant_parse(j1, l1, &v0), REFTOKEN_OK);
    CHECK(v0 != NULL && reftoken_grant_expiration(v0) == 1704070800);
    reftoken_grant *tj = NULL;
    CHECK_STATUS(reftoken_grant_parse_token_json(j1, l1, &tj), REFTOKEN_OK);
    CHECK(tj != NULL);
    reftoken_grant_free(tj);
    reftoken_grant_free(v0);
    reftoken_grant_free(back);
    reftoken_grant_free(g);
    reftoken_grant_free(NULL);
}

static void test_introspect(void) {
    reftoken_grant *g = sample_grant();
    char buf[4096];
    size_t len = 0;
    reftoken_caller api = {REFTOKEN_CALLER_API, {S("api1")}, {S("api1.read api1.write")}};
    reftoken_caller client = {REFTOKEN_CALLER_CLIENT, {S("client1")}, {NULL, 0}};
    reftoken_caller other_client = {REFTOKEN_CALLER_CLIENT, {S("client2")}, {NULL, 0}};
    reftoken_caller other_api = {REFTOKEN_CALLER_API, {S("api2")}, {S("api2.read")}};
    const int64_t created = 1704067200, exp = created + 3600;

    CHECK_STATUS(reftoken_introspect(g, &api, created + 10, NULL, buf, sizeof buf, &len), REFTOKEN_OK);
    CHECK_STR(buf, len,
              "{\"iss\":\"https://idp.example\",\"nbf\":1704067200,\"iat\":1704067200,\"exp\":1704070800,"
              "\"aud\":\"api1\",\"client_id\":\"client1\",\"sub\":\"alice\",\"sid\":\"S1\",\"auth_time\":1704067100,"
              "\"role\":[\"a\\u003Cb\",\"\\u00E9\"],\"active\":true,\"scope\":\"api1.read\"}");
    CHECK_STATUS(reftoken_introspect(g, &client, created + 10, NULL, buf, sizeof buf, &len), REFTOKEN_OK);
    CHECK(len > 60 && strstr(buf, "\"token_type\":\"access_token\",\"active\":true,\"scope\":\"api1.read other\"}") != NULL);
    /* Exactly at expiry the token is still active; one second later it is not. */
    CHECK_STATUS(reftoken_introspect(g, &api, exp, NULL, buf, sizeof buf, &len), REFTOKEN_OK);
    CHECK(strstr(buf, "\"active\":true") != NULL);
    CHECK_STATUS(reftoken_introspect(g, &api, exp + 1, NULL, buf, sizeof buf, &len), REFTOKEN_OK);
    CHECK_STR(buf, len, "{\"active\":false}");
    CHECK_STATUS(reftoken_introspect(g, &other_api, created, NULL, buf, sizeof buf, &len), REFTOKEN_OK);
    CHECK_STR(buf, len, "{\"active\":false}");
    CHECK_STATUS(reftoken_introspect(g, &other_client, created, NULL, buf, sizeof buf, &len), REFTOKEN_OK);
    CHECK_STR(buf, len, "{\"active\":false}");

    /* IdentityServer4 behaviour: no iat. */
    reftoken_options is4 = {REFTOKEN_IDENTITYSERVER_4, NULL, NULL, NULL, NULL};
    CHECK_STATUS(reftoken_introspect(g, &api, created, &is4, buf, sizeof buf, &len), REFTOKEN_OK);
    CHECK(strstr(buf, "\"iat\"") == NULL && strstr(buf, "\"nbf\":1704067200,\"exp\":1704070800") != NULL);
    reftoken_options bad = {12345, NULL, NULL, NULL, NULL};
    CHECK_STATUS(reftoken_introspect(g, &api, created, &bad, buf, sizeof buf, &len), REFTOKEN_INVALID_ARGUMENT);

    /* Buffer handling. */
    CHECK_STATUS(reftoken_introspect(g, &api, created, NULL, buf, 10, &len), REFTOKEN_BUFFER_TOO_SMALL);
    CHECK(len > 10);
    size_t need = len;
    char *exact = malloc(need);
    CHECK_STATUS(reftoken_introspect(g, &api, created, NULL, exact, need, &len), REFTOKEN_OK);
    CHECK(len == need);
    free(exact);

    /* Bad arguments. */
    reftoken_caller bad_kind = {7, {S("api1")}, {NULL, 0}};
    CHECK_STATUS(reftoken_introspect(g, &bad_kind, created, NULL, buf, sizeof buf, &len), REFTOKEN_INVALID_ARGUMENT);
    reftoken_caller bad_utf8 = {REFTOKEN_CALLER_API, {S("api1")}, {S("\xff")}};
    CHECK_STATUS(reftoken_introspect(g, &bad_utf8, created, NULL, buf, sizeof buf, &len), REFTOKEN_INVALID_UTF8);
    reftoken_caller null_name = {REFTOKEN_CALLER_API, {NULL, 4}, {NULL, 0}};
    CHECK_STATUS(reftoken_introspect(g, &null_name, created, NULL, buf, sizeof buf, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_STATUS(reftoken_introspect(NULL, &api, created, NULL, buf, sizeof buf, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_STATUS(reftoken_introspect(g, NULL, created, NULL, buf, sizeof buf, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_STATUS(reftoken_introspect(g, &api, created, NULL, buf, sizeof buf, NULL), REFTOKEN_NULL_ARGUMENT);

    /* One call from the Data column. */
    char data[8192];
    size_t data_len;
    reftoken_grant_data(g, data, sizeof data, &data_len);
    char direct[4096];
    size_t direct_len;
    reftoken_introspect(g, &api, created, NULL, direct, sizeof direct, &direct_len);
    CHECK_STATUS(reftoken_introspect_data(data, data_len, NULL, &api, created, NULL, buf, sizeof buf, &len), REFTOKEN_OK);
    CHECK(len == direct_len && memcmp(buf, direct, len) == 0);
    reftoken_grant_free(g);
}

static bool deny_client2(void *ctx, const char *id, size_t len) {
    int *calls = ctx;
    (*calls)++;
    return !(len == 7 && memcmp(id, "client1", 7) == 0);
}

static void test_evaluate(void) {
    reftoken_grant *g = sample_grant();
    reftoken_caller api = {REFTOKEN_CALLER_API, {S("api1")}, {S("api1.read")}};
    reftoken_verdict v;
    CHECK_STATUS(reftoken_evaluate(g, &api, 1704067200, NULL, &v), REFTOKEN_OK);
    CHECK(v.active && v.reason == REFTOKEN_ACTIVE && v.expiration == 1704070800);
    CHECK(v.subject.len == 5 && memcmp(v.subject.ptr, "alice", 5) == 0);
    CHECK(v.client_id.len == 7 && memcmp(v.client_id.ptr, "client1", 7) == 0);
    CHECK_STATUS(reftoken_evaluate(g, &api, 1704070801, NULL, &v), REFTOKEN_OK);
    CHECK(!v.active && v.reason == REFTOKEN_INACTIVE_EXPIRED);
    reftoken_caller other_api = {REFTOKEN_CALLER_API, {S("api2")}, {S("api2.read api2.write")}};
    CHECK_STATUS(reftoken_evaluate(g, &other_api, 1704067200, NULL, &v), REFTOKEN_OK);
    CHECK(!v.active && v.reason == REFTOKEN_INACTIVE_NO_MATCHING_SCOPE);
    reftoken_caller other_client = {REFTOKEN_CALLER_CLIENT, {S("client2")}, {NULL, 0}};
    CHECK_STATUS(reftoken_evaluate(g, &other_client, 1704067200, NULL, &v), REFTOKEN_OK);
    CHECK(!v.active && v.reason == REFTOKEN_INACTIVE_OTHER_CLIENT);
    /* The caller's client check is consulted. */
    int calls = 0;
    reftoken_options opts = {REFTOKEN_IDENTITYSERVER_LATEST, deny_client2, &calls, NULL, NULL};
    CHECK_STATUS(reftoken_evaluate(g, &api, 1704067200, &opts, &v), REFTOKEN_OK);
    CHECK(!v.active && v.reason == REFTOKEN_INACTIVE_CLIENT_DISABLED && calls >= 1);
    char buf[64];
    size_t len;
    CHECK_STATUS(reftoken_introspect(g, &api, 1704067200, &opts, buf, sizeof buf, &len), REFTOKEN_OK);
    CHECK_STR(buf, len, "{\"active\":false}");
    CHECK_STATUS(reftoken_evaluate(NULL, &api, 0, NULL, &v), REFTOKEN_NULL_ARGUMENT);
    CHECK_STATUS(reftoken_evaluate(g, &api, 0, NULL, NULL), REFTOKEN_NULL_ARGUMENT);
    reftoken_grant_free(g);
}

static void test_bad_data(void) {
    reftoken_grant *g = (reftoken_grant *)0x1;
    CHECK_STATUS(reftoken_grant_parse(S("{"), &g), REFTOKEN_MALFORMED_INPUT);
    CHECK(g == NULL);
    CHECK_STATUS(reftoken_grant_parse(S("[]"), &g), REFTOKEN_MALFORMED_INPUT);
    CHECK_STATUS(reftoken_grant_parse(S(""), &g), REFTOKEN_MALFORMED_INPUT);
    CHECK_STATUS(reftoken_grant_parse(S("\xff\xfe"), &g), REFTOKEN_INVALID_UTF8);
    CHECK_STATUS(reftoken_grant_parse(NULL, 3, &g), REFTOKEN_NULL_ARGUMENT);
    CHECK_STATUS(reftoken_grant_parse(S("{}"), NULL), REFTOKEN_NULL_ARGUMENT);
    CHECK_STATUS(reftoken_grant_parse(S("{\"PersistentGrantDataContainerVersion\":1,\"DataProtected\":true,\"Payload\":\"CfDJ8AAAA\"}"), &g),
                 REFTOKEN_DATA_PROTECTED);
    CHECK_STATUS(reftoken_grant_parse(S("{\"PersistentGrantDataContainerVersion\":3,\"Payload\":\"{}\"}"), &g),
                 REFTOKEN_UNSUPPORTED_VERSION);
    CHECK_STATUS(reftoken_grant_parse(S("{\"PersistentGrantDataContainerVersion\":1,\"Payload\":\"{\\\"Lifetime\\\":\\\"x\\\"}\"}"), &g),
                 REFTOKEN_MALFORMED_INPUT);
    CHECK_STATUS(reftoken_grant_parse(S("{\"CreationTime\":\"yesterday\"}"), &g), REFTOKEN_MALFORMED_INPUT);
    CHECK_STATUS(reftoken_grant_parse(S("{\"Claims\":[{\"Type\":\"a\"}]}"), &g), REFTOKEN_MALFORMED_INPUT);
    /* Every truncation of a valid Data column fails cleanly; only the whole parses. */
    reftoken_grant *src = sample_grant();
    char data[8192];
    size_t data_len;
    reftoken_grant_data(src, data, sizeof data, &data_len);
    reftoken_grant_free(src);
    int clean = 1;
    for (size_t n = 0; n < data_len; n++) {
        reftoken_status st = reftoken_grant_parse(data, n, &g);
        clean &= (st == REFTOKEN_MALFORMED_INPUT || st == REFTOKEN_INVALID_UTF8) && g == NULL;
    }
    CHECK(clean);
    CHECK_STATUS(reftoken_grant_parse(data, data_len, &g), REFTOKEN_OK);
    reftoken_grant_free(g);
    /* Over the size limit. */
    char *big = malloc(REFTOKEN_MAX_DATA_LEN + 1);
    memset(big, ' ', REFTOKEN_MAX_DATA_LEN + 1);
    CHECK_STATUS(reftoken_grant_parse(big, REFTOKEN_MAX_DATA_LEN + 1, &g), REFTOKEN_INPUT_TOO_LARGE);
    free(big);
    /* Builder arguments. */
    CHECK_STATUS(reftoken_grant_new(S("c"), S("i"), 0, -1, &g), REFTOKEN_INVALID_ARGUMENT);
    CHECK_STATUS(reftoken_grant_new(S("c"), S("i"), INT64_MAX, 1, &g), REFTOKEN_INVALID_ARGUMENT);
    CHECK_STATUS(reftoken_grant_new(S("\xc3"), S("i"), 0, 1, &g), REFTOKEN_INVALID_UTF8);
    CHECK_STATUS(reftoken_grant_new(S("c"), S("i"), 0, 1, NULL), REFTOKEN_NULL_ARGUMENT);
    CHECK_STATUS(reftoken_grant_add_claim(NULL, S("a"), S("b"), NULL, 0), REFTOKEN_NULL_ARGUMENT);
    CHECK_STATUS(reftoken_grant_add_audience(NULL, S("a")), REFTOKEN_NULL_ARGUMENT);
    CHECK_STATUS(reftoken_grant_set_confirmation(NULL, S("{}")), REFTOKEN_NULL_ARGUMENT);
    CHECK_STATUS(reftoken_grant_set_description(NULL, S("x")), REFTOKEN_NULL_ARGUMENT);
    CHECK_STATUS(reftoken_grant_token_json(NULL, NULL, 0, &data_len), REFTOKEN_NULL_ARGUMENT);
    CHECK_STATUS(reftoken_grant_data(NULL, NULL, 0, &data_len), REFTOKEN_NULL_ARGUMENT);
    CHECK_STATUS(reftoken_grant_new(S("c"), S("i"), 0, 1, &g), REFTOKEN_OK);
    CHECK_STATUS(reftoken_grant_add_claim(g, S("a"), S("\xff"), NULL, 0), REFTOKEN_INVALID_UTF8);
    CHECK_STATUS(reftoken_grant_data(g, NULL, 0, &data_len), REFTOKEN_BUFFER_TOO_SMALL);
    CHECK(data_len > 0);
    reftoken_grant_free(g);
}

int test_grants(void) {
    test_build_and_read();
    test_introspect();
    test_evaluate();
    test_bad_data();
    return 0;
}

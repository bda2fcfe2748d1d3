/* Stress and abuse of the C ABI (issue 7): every entry point that takes bytes or buffers from
 * outside, called the way a careless or hostile C caller would call it.
 *
 *  - NULL for every pointer (with zero and non-zero lengths), NULL objects, _free(NULL);
 *  - text that is not UTF-8 (stray continuation bytes, overlong forms, surrogates, 0xFF,
 *    sequences cut short) in every text argument;
 *  - lengths that lie within the buffer (every prefix of a valid input), inputs in heap blocks
 *    of exactly their length with no NUL after them, output buffers of exactly every size
 *    around the one needed (so that one byte too many read or written is an error under
 *    AddressSanitizer and valgrind);
 *  - huge sizes: lengths beyond any object, counts beyond the limits, inputs one byte over
 *    each limit, output capacities of SIZE_MAX;
 *  - lengths one over each limit with a 16-byte buffer: refused (or answered) unread;
 *  - a deterministic random mutation loop through every parser (STRESS_ITERATIONS, default
 *    20000), and several threads sharing a key ring, a validator and grants.
 *
 * Built twice by tests/c/CMakeLists.txt: with the default compiler for valgrind memcheck, and
 * with clang -fsanitize=address,undefined (STRESS_SANITIZERS), which also checks that the
 * sanitizers really are linked in. Both must end with " 0 failed", no sanitizer report and no
 * leak. */
#define _GNU_SOURCE
#include "reftoken.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FIXTURES_DIR
#define FIXTURES_DIR "tests/fixtures/duende"
#endif

static int passed = 0;
static int failed = 0;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

static void record(int ok, const char *file, int line, const char *what) {
    pthread_mutex_lock(&count_lock);
    if (ok) {
        passed++;
    } else {
        failed++;
        fprintf(stderr, "FAIL %s:%d: %s\n", file, line, what);
    }
    pthread_mutex_unlock(&count_lock);
}

#define CHECK(cond) record((cond) ? 1 : 0, __FILE__, __LINE__, #cond)
#define CHECK_ST(expr, expected)                                                          \
    do {                                                                                  \
        reftoken_status st_ = (expr);                                                     \
        if (st_ != (expected))                                                            \
            fprintf(stderr, "  %s returned %s, expected %s\n", #expr,                    \
                    reftoken_status_str(st_), reftoken_status_str(expected));             \
        record(st_ == (expected), __FILE__, __LINE__, #expr);                             \
    } while (0)

/* A status the library may return: any documented code except the panic code. */
static int known(reftoken_status st) {
    return st == REFTOKEN_OK || (st >= 1 && st <= 5) || (st >= 10 && st <= 13) ||
           (st >= 20 && st <= 23) || st == 30 || st == 31;
}

/* A heap block of exactly `n` bytes holding `p` (no NUL after it); `n` 0 gives a 1-byte block
 * so that the pointer is not NULL. */
static char *exact(const void *p, size_t n) {
    char *b = malloc(n ? n : 1);
    if (n) memcpy(b, p, n);
    return b;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    fclose(f);
    b[got] = 0;
    *len = got;
    return b;
}

/* ------------------------------------------------------------------------------------------ */
/* Shared fixtures */

static const int64_t KEY_TIME = 1796100000; /* 2026-11-30: the fixture key is active */
static const char APP[] = "reftoken-fixtures";
static reftoken_keyring *ring;
static char *key_xml;
static size_t key_xml_len;
static const char EC_JWK[] = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"d\":\"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA\",\"kid\":\"k1\"}";
static char data_plain[4096], data_protected[8192], token_json[4096];
static size_t data_plain_len, data_protected_len, token_json_len;

static reftoken_grant *sample_grant(void) {
    reftoken_grant *g = NULL;
    reftoken_grant_new("client1", 7, "https://idsvr.test", 18, 1740830340, 3600, &g);
    reftoken_grant_add_audience(g, "api1", 4);
    reftoken_grant_add_claim(g, "client_id", 9, "client1", 7, NULL, 0);
    reftoken_grant_add_claim(g, "scope", 5, "api1.read", 9, NULL, 0);
    reftoken_grant_add_claim(g, "sub", 3, "alice", 5, NULL, 0);
    reftoken_grant_add_claim(g, "n", 1, "42", 2, "http://www.w3.org/2001/XMLSchema#integer", 40);
    reftoken_grant_add_claim(g, "j", 1, "{\"a\":[1,2]}", 11, "json", 4);
    reftoken_grant_set_confirmation(g, "{\"x5t#S256\":\"abc\"}", 18);
    reftoken_grant_set_description(g, "d\xC3\xA9", 3);
    return g;
}

static void setup(void) {
    CHECK_ST(reftoken_keyring_new_from_dir(FIXTURES_DIR "/keyring", strlen(FIXTURES_DIR "/keyring"), APP,
                                           strlen(APP), &ring),
             REFTOKEN_OK);
    key_xml = read_file(FIXTURES_DIR "/keyring/key-3e8fa111-b37f-4806-a7d7-20ddc589534f.xml", &key_xml_len);
    CHECK(key_xml != NULL);
    reftoken_grant *g = sample_grant();
    CHECK_ST(reftoken_grant_data(g, data_plain, sizeof data_plain, &data_plain_len), REFTOKEN_OK);
    CHECK_ST(reftoken_grant_data_protected(g, ring, KEY_TIME, data_protected, sizeof data_protected,
                                           &data_protected_len),
             REFTOKEN_OK);
    CHECK_ST(reftoken_grant_token_json(g, token_json, sizeof token_json, &token_json_len), REFTOKEN_OK);
    reftoken_grant_free(g);
}

/* ------------------------------------------------------------------------------------------ */
/* The sanitizers are really there */

#ifdef STRESS_SANITIZERS
extern int __asan_address_is_poisoned(void const volatile *addr) __attribute__((weak));
extern void __ubsan_handle_add_overflow(void *, void *, void *) __attribute__((weak));

static void test_sanitizers_linked(void) {
    CHECK(__asan_address_is_poisoned != NULL);
    CHECK(__ubsan_handle_add_overflow != NULL);
    if (__asan_address_is_poisoned) {
        char *p = malloc(5);
        CHECK(!__asan_address_is_poisoned(p + 4));
        CHECK(__asan_address_is_poisoned(p + 5)); /* the byte after the block is a redzone */
        free(p);
    }
}
#endif

/* ------------------------------------------------------------------------------------------ */
/* NULLs */

static void test_nulls(void) {
    char out[128];
    size_t len = 0;
    bool b = true;
    reftoken_grant *g = NULL;
    reftoken_keyring *k = NULL;

    CHECK_ST(reftoken_last_error(out, sizeof out, NULL), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_random_hex(4, out, sizeof out, NULL), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_random_hex(4, NULL, 0, &len), REFTOKEN_BUFFER_TOO_SMALL);
    CHECK(len == 8);
    CHECK_ST(reftoken_random_hex(4, NULL, 100, &len), REFTOKEN_BUFFER_TOO_SMALL);
    CHECK_ST(reftoken_handle_new(out, sizeof out, NULL), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_handle_new(NULL, 67, &len), REFTOKEN_BUFFER_TOO_SMALL);
    CHECK_ST(reftoken_store_key(NULL, 3, "g", 1, out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_store_key("h", 1, NULL, 1, out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_store_key(NULL, 0, NULL, 0, out, sizeof out, &len), REFTOKEN_OK);
    CHECK(!reftoken_handle_is_wellformed(NULL, 66));
    CHECK(!reftoken_handle_is_wellformed(NULL, 0));
    CHECK_ST(reftoken_secret_hash(NULL, 5, 1, out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_secret_hash("s", 1, 1, out, sizeof out, NULL), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_secret_verify("s", 1, NULL, NULL, 1, 0, &b, NULL), REFTOKEN_NULL_ARGUMENT);
    CHECK(!b);
    CHECK_ST(reftoken_secret_verify("s", 1, NULL, NULL, 0, 0, NULL, NULL), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_secret_verify("s", 1, NULL, NULL, 0, 0, &b, NULL), REFTOKEN_OK);
    reftoken_str bad_entry = {NULL, 3};
    CHECK_ST(reftoken_secret_verify("s", 1, &bad_entry, NULL, 1, 0, &b, NULL), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_basic_parse(NULL, 3, out, 64, &len, out + 64, 64, &len, &b), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_basic_parse("Basic YTpi", 10, out, 64, NULL, out + 64, 64, &len, &b),
             REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_basic_parse("Basic YTpi", 10, out, 64, &len, out + 64, 64, NULL, &b),
             REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_basic_parse("Basic YTpi", 10, out, 64, &len, out + 64, 64, &len, NULL),
             REFTOKEN_NULL_ARGUMENT);

    /* Grants */
    CHECK_ST(reftoken_grant_parse(data_plain, data_plain_len, NULL), REFTOKEN_NULL_ARGUMENT);
    g = (reftoken_grant *)1;
    CHECK_ST(reftoken_grant_parse(NULL, 10, &g), REFTOKEN_NULL_ARGUMENT);
    CHECK(g == NULL);
    CHECK_ST(reftoken_grant_parse(NULL, 0, &g), REFTOKEN_MALFORMED_INPUT);
    CHECK_ST(reftoken_grant_parse_protected(data_protected, data_protected_len, NULL, &g), REFTOKEN_DATA_PROTECTED);
    CHECK_ST(reftoken_grant_parse_token_json(NULL, 1, &g), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_grant_new(NULL, 1, "i", 1, 0, 1, &g), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_grant_new("c", 1, "i", 1, 0, 1, NULL), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_grant_add_claim(NULL, "a", 1, "b", 1, NULL, 0), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_grant_add_audience(NULL, "a", 1), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_grant_set_confirmation(NULL, "{}", 2), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_grant_set_description(NULL, "d", 1), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_grant_field(NULL, REFTOKEN_FIELD_CLIENT_ID, out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK(reftoken_grant_creation_time(NULL) == 0);
    CHECK(reftoken_grant_expiration(NULL) == 0);
    CHECK_ST(reftoken_grant_token_json(NULL, out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_grant_data(NULL, out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_grant_data_protected(NULL, ring, KEY_TIME, out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);
    g = sample_grant();
    CHECK_ST(reftoken_grant_data_protected(g, NULL, KEY_TIME, out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_grant_add_claim(g, NULL, 1, "b", 1, NULL, 0), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_grant_add_claim(g, "a", 1, NULL, 1, NULL, 0), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_grant_add_claim(g, "a", 1, "b", 1, NULL, 5), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_grant_token_json(g, out, sizeof out, NULL), REFTOKEN_NULL_ARGUMENT);
    reftoken_caller api = {REFTOKEN_CALLER_API, {"api1", 4}, {"api1.read", 9}};
    reftoken_caller null_name = {REFTOKEN_CALLER_API, {NULL, 4}, {"api1.read", 9}};
    reftoken_verdict v;
    CHECK_ST(reftoken_introspect(NULL, &api, 0, NULL, out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_introspect(g, NULL, 0, NULL, out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_introspect(g, &null_name, 0, NULL, out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_evaluate(g, &api, 0, NULL, NULL), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_evaluate(NULL, &api, 0, NULL, &v), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_introspect_data(NULL, 5, NULL, &api, 0, NULL, out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_introspect_data(data_plain, data_plain_len, NULL, NULL, 0, NULL, out, sizeof out, &len),
             REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_reference_token_key(NULL, 2, out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);
    reftoken_grant_free(g);
    reftoken_grant_free(NULL);

    /* Key rings */
    reftoken_str purpose = {"p", 1};
    CHECK_ST(reftoken_keyring_new_from_dir(NULL, 3, NULL, 0, &k), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_keyring_new_from_dir(FIXTURES_DIR, strlen(FIXTURES_DIR), NULL, 0, NULL), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_keyring_new_from_xml(NULL, 2, NULL, 0, &k), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_keyring_new_from_xml(NULL, 0, NULL, 0, &k), REFTOKEN_OK);
    CHECK_ST(reftoken_keyring_default_key_id(k, KEY_TIME, out, sizeof out, &len), REFTOKEN_UNKNOWN_KEY);
    reftoken_keyring_free(k);
    reftoken_keyring_free(NULL);
    CHECK_ST(reftoken_keyring_default_key_id(NULL, KEY_TIME, out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_protect(NULL, &purpose, 1, "x", 1, KEY_TIME, out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_protect(ring, NULL, 1, "x", 1, KEY_TIME, out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_protect(ring, &purpose, 1, NULL, 1, KEY_TIME, out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_protect(ring, &purpose, 1, "x", 1, KEY_TIME, out, sizeof out, NULL), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_unprotect(NULL, &purpose, 1, "x", 1, out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_unprotect(ring, &purpose, 1, NULL, 1, out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_protect_bytes(ring, &purpose, 1, NULL, 1, KEY_TIME, (uint8_t *)out, sizeof out, &len),
             REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_unprotect_bytes(ring, &purpose, 1, NULL, 1, (uint8_t *)out, sizeof out, &len),
             REFTOKEN_NULL_ARGUMENT);
    reftoken_str null_purpose = {NULL, 1};
    CHECK_ST(reftoken_protect(ring, &null_purpose, 1, "x", 1, KEY_TIME, out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);

    /* Endpoint */
    reftoken_introspection_request *req = NULL;
    reftoken_http_request http = {{"POST", 4}, {NULL, 0}, {NULL, 0}, {NULL, 0}, NULL, 0};
    CHECK_ST(reftoken_introspection_request_parse(NULL, &req), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_introspection_request_parse(&http, NULL), REFTOKEN_NULL_ARGUMENT);
    http.body_len = 4;
    CHECK_ST(reftoken_introspection_request_parse(&http, &req), REFTOKEN_NULL_ARGUMENT);
    CHECK(req == NULL);
    http.body_len = 0;
    http.method.ptr = NULL;
    CHECK_ST(reftoken_introspection_request_parse(&http, &req), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_introspection_form_parse(NULL, 3, &req), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_introspection_form_parse(NULL, 0, &req), REFTOKEN_OK);
    reftoken_credentials cred;
    reftoken_endpoint_answer ans;
    CHECK_ST(reftoken_introspection_request_credentials(req, NULL), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_introspection_request_credentials(NULL, &cred), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_introspection_request_decide(NULL, true, &ans), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_introspection_request_decide(req, true, NULL), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_introspection_request_decide(req, true, &ans), REFTOKEN_OK);
    CHECK(ans.status == 400);
    reftoken_introspection_request_free(req);
    reftoken_introspection_request_free(NULL);
    reftoken_signing_key *sk = NULL;
    CHECK_ST(reftoken_signing_key_new_from_pem(NULL, 5, 0, NULL, 0, &sk), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_signing_key_new_from_jwk("{}", 2, 0, NULL, 3, &sk), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_signing_key_new_from_jwk("{}", 2, 0, NULL, 0, NULL), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_signing_key_public_jwk(NULL, out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_introspection_jwt(NULL, "i", 1, "a", 1, 0, "{}", 2, out, sizeof out, &len),
             REFTOKEN_NULL_ARGUMENT);
    reftoken_signing_key_free(NULL);

    /* Validators */
    reftoken_validator *val = NULL;
    CHECK_ST(reftoken_validator_new(NULL, NULL, NULL, 10, 60, &val), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_row_set(NULL, "t", 1, "d", 1), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_validator_introspect(NULL, "h", 1, &api, 0, NULL, out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_validator_validate(NULL, "h", 1, &api, 0, NULL, NULL, &v), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_validator_check(NULL, "h", 1, &api, 0, NULL, NULL, &v, out, sizeof out, &len),
             REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_validator_evict(NULL, "k", 1), REFTOKEN_NULL_ARGUMENT);
    CHECK_ST(reftoken_validator_clear(NULL), REFTOKEN_NULL_ARGUMENT);
    CHECK(reftoken_validator_cached(NULL) == 0);
    reftoken_validator_free(NULL);
    CHECK(reftoken_status_str(12345) != NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Text that is not UTF-8 */

static const char *const BAD_UTF8[] = {
    "\x80",             /* a continuation byte alone */
    "a\xC3",            /* cut short */
    "\xE2\x82",         /* cut short */
    "\xC0\xAF",         /* overlong '/' */
    "\xE0\x80\xAF",     /* overlong */
    "\xED\xA0\x80",     /* a UTF-16 surrogate */
    "\xF4\x90\x80\x80", /* beyond U+10FFFF */
    "\xFF",
    "\xFE\xFF",
    "ok\xF0\x9F\x98", /* an emoji cut short */
};
#define NBAD (sizeof BAD_UTF8 / sizeof BAD_UTF8[0])

static void test_not_utf8(void) {
    char out[256];
    size_t len = 0;
    bool b = false;
    reftoken_grant *g = sample_grant(), *pg = NULL;
    reftoken_caller api = {REFTOKEN_CALLER_API, {"api1", 4}, {"api1.read", 9}};
    for (size_t i = 0; i < NBAD; i++) {
        size_t n = strlen(BAD_UTF8[i]);
        char *s = exact(BAD_UTF8[i], n);
        reftoken_str rs = {s, n};
        CHECK_ST(reftoken_store_key(s, n, "g", 1, out, sizeof out, &len), REFTOKEN_INVALID_UTF8);
        CHECK_ST(reftoken_store_key("h", 1, s, n, out, sizeof out, &len), REFTOKEN_INVALID_UTF8);
        CHECK(!reftoken_handle_is_wellformed(s, n));
        CHECK_ST(reftoken_secret_hash(s, n, 1, out, sizeof out, &len), REFTOKEN_INVALID_UTF8);
        CHECK_ST(reftoken_secret_verify(s, n, NULL, NULL, 0, 0, &b, NULL), REFTOKEN_INVALID_UTF8);
        CHECK_ST(reftoken_secret_verify("s", 1, &rs, NULL, 1, 0, &b, NULL), REFTOKEN_INVALID_UTF8);
        CHECK_ST(reftoken_basic_parse(s, n, out, 64, &len, out + 64, 64, &len, &b), REFTOKEN_INVALID_UTF8);
        CHECK_ST(reftoken_grant_parse(s, n, &pg), REFTOKEN_INVALID_UTF8);
        CHECK_ST(reftoken_grant_parse_protected(s, n, ring, &pg), REFTOKEN_INVALID_UTF8);
        CHECK_ST(reftoken_grant_parse_token_json(s, n, &pg), REFTOKEN_INVALID_UTF8);
        CHECK_ST(reftoken_grant_new(s, n, "i", 1, 0, 1, &pg), REFTOKEN_INVALID_UTF8);
        CHECK_ST(reftoken_grant_new("c", 1, s, n, 0, 1, &pg), REFTOKEN_INVALID_UTF8);
        CHECK_ST(reftoken_grant_add_claim(g, s, n, "v", 1, NULL, 0), REFTOKEN_INVALID_UTF8);
        CHECK_ST(reftoken_grant_add_claim(g, "t", 1, s, n, NULL, 0), REFTOKEN_INVALID_UTF8);
        CHECK_ST(reftoken_grant_add_claim(g, "t", 1, "v", 1, s, n), REFTOKEN_INVALID_UTF8);
        CHECK_ST(reftoken_grant_add_audience(g, s, n), REFTOKEN_INVALID_UTF8);
        CHECK_ST(reftoken_grant_set_confirmation(g, s, n), REFTOKEN_INVALID_UTF8);
        CHECK_ST(reftoken_grant_set_description(g, s, n), REFTOKEN_INVALID_UTF8);
        reftoken_caller c1 = {REFTOKEN_CALLER_API, {s, n}, {"api1.read", 9}};
        reftoken_caller c2 = {REFTOKEN_CALLER_API, {"api1", 4}, {s, n}};
        CHECK_ST(reftoken_introspect(g, &c1, 0, NULL, out, sizeof out, &len), REFTOKEN_INVALID_UTF8);
        CHECK_ST(reftoken_introspect(g, &c2, 0, NULL, out, sizeof out, &len), REFTOKEN_INVALID_UTF8);
        CHECK_ST(reftoken_introspect_data(s, n, NULL, &api, 0, NULL, out, sizeof out, &len), REFTOKEN_INVALID_UTF8);
        CHECK_ST(reftoken_reference_token_key(s, n, out, sizeof out, &len), REFTOKEN_INVALID_UTF8);
        reftoken_keyring *k = NULL;
        CHECK_ST(reftoken_keyring_new_from_xml(&rs, 1, NULL, 0, &k), REFTOKEN_INVALID_UTF8);
        reftoken_str ok_el = {key_xml, key_xml_len};
        CHECK_ST(reftoken_keyring_new_from_xml(&ok_el, 1, s, n, &k), REFTOKEN_INVALID_UTF8);
        CHECK_ST(reftoken_keyring_new_from_dir(s, n, NULL, 0, &k), REFTOKEN_INVALID_UTF8);
        CHECK(k == NULL);
        CHECK_ST(reftoken_protect(ring, &rs, 1, "x", 1, KEY_TIME, out, sizeof out, &len), REFTOKEN_INVALID_UTF8);
        reftoken_str p = {"p", 1};
        CHECK_ST(reftoken_protect(ring, &p, 1, s, n, KEY_TIME, out, sizeof out, &len), REFTOKEN_INVALID_UTF8);
        CHECK_ST(reftoken_unprotect(ring, &p, 1, s, n, out, sizeof out, &len), REFTOKEN_INVALID_UTF8);
        /* The bytes forms take any bytes. */
        reftoken_status st = reftoken_protect_bytes(ring, &p, 1, (const uint8_t *)s, n, KEY_TIME, (uint8_t *)out,
                                                    sizeof out, &len);
        CHECK_ST(st, REFTOKEN_OK);
        size_t plen = len;
        char back[16];
        CHECK_ST(reftoken_unprotect_bytes(ring, &p, 1, (const uint8_t *)out, plen, (uint8_t *)back, sizeof back, &len),
                 REFTOKEN_OK);
        CHECK(len == n && memcmp(back, s, n) == 0);
        reftoken_signing_key *sk = NULL;
        CHECK_ST(reftoken_signing_key_new_from_pem(s, n, 0, NULL, 0, &sk), REFTOKEN_INVALID_UTF8);
        CHECK_ST(reftoken_signing_key_new_from_jwk(s, n, 0, NULL, 0, &sk), REFTOKEN_INVALID_UTF8);
        CHECK_ST(reftoken_signing_key_new_from_jwk(EC_JWK, strlen(EC_JWK), 0, s, n, &sk), REFTOKEN_INVALID_UTF8);
        CHECK(sk == NULL);
        reftoken_http_request http = {{"POST", 4}, {"application/x-www-form-urlencoded", 33}, {s, n}, {NULL, 0},
                                      (const uint8_t *)s, n};
        reftoken_introspection_request *req = NULL;
        CHECK_ST(reftoken_introspection_request_parse(&http, &req), REFTOKEN_INVALID_UTF8);
        http.authorization.ptr = NULL;
        http.authorization.len = 0;
        /* The body may be any bytes. */
        CHECK_ST(reftoken_introspection_request_parse(&http, &req), REFTOKEN_OK);
        reftoken_introspection_request_free(req);
        CHECK_ST(reftoken_introspection_form_parse((const uint8_t *)s, n, &req), REFTOKEN_OK);
        reftoken_introspection_request_free(req);
        free(s);
    }
    reftoken_grant_free(g);
}

/* ------------------------------------------------------------------------------------------ */
/* Lengths that lie within the buffer, inputs without a NUL, outputs of every size */

/* Every prefix of `full`, each in a heap block of exactly its length. */
static void every_prefix(const char *full, size_t n, void (*f)(const char *, size_t)) {
    for (size_t i = 0; i <= n; i++) {
        char *b = exact(full, i);
        f(b, i);
        free(b);
    }
    /* And the whole buffer with the length claiming less. */
    char *b = exact(full, n);
    for (size_t i = 0; i <= n; i += 7) f(b, i);
    free(b);
}

static void parse_prefix(const char *s, size_t n) {
    reftoken_grant *g = NULL;
    reftoken_status st = reftoken_grant_parse_protected(s, n, ring, &g);
    CHECK(known(st));
    CHECK((st == REFTOKEN_OK) == (g != NULL));
    reftoken_grant_free(g);
    st = reftoken_grant_parse_token_json(s, n, &g);
    CHECK(known(st));
    reftoken_grant_free(g);
}

static void unprotect_prefix(const char *s, size_t n) {
    reftoken_str p = {"PersistentGrantSerializer", 25};
    char out[4096];
    size_t len = 0;
    CHECK(known(reftoken_unprotect(ring, &p, 1, s, n, out, sizeof out, &len)));
    CHECK(known(reftoken_unprotect_bytes(ring, &p, 1, (const uint8_t *)s, n, (uint8_t *)out, sizeof out, &len)));
}

static void keyring_prefix(const char *s, size_t n) {
    reftoken_str el = {s, n};
    reftoken_keyring *k = NULL;
    reftoken_status st = reftoken_keyring_new_from_xml(&el, 1, APP, strlen(APP), &k);
    CHECK(known(st));
    reftoken_keyring_free(k);
}

static void basic_prefix(const char *s, size_t n) {
    char id[300], secret[300];
    size_t il = 0, sl = 0;
    bool has = false;
    CHECK(known(reftoken_basic_parse(s, n, id, sizeof id, &il, secret, sizeof secret, &sl, &has)));
}

static void form_prefix(const char *s, size_t n) {
    reftoken_introspection_request *r = NULL;
    CHECK_ST(reftoken_introspection_form_parse((const uint8_t *)s, n, &r), REFTOKEN_OK);
    reftoken_credentials c;
    reftoken_endpoint_answer a;
    CHECK_ST(reftoken_introspection_request_credentials(r, &c), REFTOKEN_OK);
    CHECK_ST(reftoken_introspection_request_decide(r, true, &a), REFTOKEN_OK);
    reftoken_introspection_request_free(r);
}


static void jwk_prefix(const char *s, size_t n) {
    reftoken_signing_key *k = NULL;
    reftoken_status st = reftoken_signing_key_new_from_jwk(s, n, 0, NULL, 0, &k);
    CHECK(known(st));
    CHECK((st == REFTOKEN_OK) == (k != NULL));
    reftoken_signing_key_free(k);
}

/* Calls an output function with exact-size heap buffers from 0 to needed + 1 bytes. */
typedef reftoken_status (*out_fn)(void *ctx, char *out, size_t cap, size_t *len);

static void every_out_size(out_fn f, void *ctx) {
    size_t needed = 0;
    reftoken_status st = f(ctx, NULL, 0, &needed);
    if (st == REFTOKEN_OK) { /* an empty output */
        CHECK(needed == 0);
        return;
    }
    CHECK_ST(st, REFTOKEN_BUFFER_TOO_SMALL);
    for (size_t cap = 0; cap <= needed + 1; cap++) {
        char *b = malloc(cap ? cap : 1);
        memset(b, 0x5A, cap ? cap : 1);
        size_t len = 0;
        st = f(ctx, cap ? b : NULL, cap, &len);
        if (cap < needed) {
            CHECK_ST(st, REFTOKEN_BUFFER_TOO_SMALL);
            CHECK(len == needed);
            int untouched = 1;
            for (size_t i = 0; i < cap; i++) untouched &= b[i] == 0x5A;
            CHECK(untouched);
        } else {
            CHECK_ST(st, REFTOKEN_OK);
            CHECK(len == needed);
            if (cap > needed) CHECK(b[needed] == 0);
        }
        free(b);
        if (needed > 512 && cap + 64 < needed) cap += 63; /* long outputs: sample the sizes */
    }
    /* A capacity far beyond the buffer is fine when the output fits. */
    char *b = malloc(needed + 1);
    size_t len = 0;
    CHECK_ST(f(ctx, b, SIZE_MAX, &len), REFTOKEN_OK);
    CHECK(b[needed] == 0);
    free(b);
}

static reftoken_status out_handle(void *ctx, char *o, size_t c, size_t *l) {
    (void)ctx;
    return reftoken_handle_new(o, c, l);
}
static reftoken_status out_hex(void *ctx, char *o, size_t c, size_t *l) {
    return reftoken_random_hex(*(size_t *)ctx, o, c, l);
}
static reftoken_status out_key(void *ctx, char *o, size_t c, size_t *l) {
    const char *h = ctx;
    return reftoken_store_key(h, strlen(h), "reference_token", 15, o, c, l);
}
static reftoken_status out_secret(void *ctx, char *o, size_t c, size_t *l) {
    return reftoken_secret_hash("secret", 6, *(uint32_t *)ctx, o, c, l);
}
static reftoken_status out_data(void *ctx, char *o, size_t c, size_t *l) {
    return reftoken_grant_data(ctx, o, c, l);
}
static reftoken_status out_token_json(void *ctx, char *o, size_t c, size_t *l) {
    return reftoken_grant_token_json(ctx, o, c, l);
}
static reftoken_status out_protected(void *ctx, char *o, size_t c, size_t *l) {
    return reftoken_grant_data_protected(ctx, ring, KEY_TIME, o, c, l);
}
static reftoken_status out_field(void *ctx, char *o, size_t c, size_t *l) {
    return reftoken_grant_field(ctx, REFTOKEN_FIELD_DESCRIPTION, o, c, l);
}
static reftoken_status out_introspect(void *ctx, char *o, size_t c, size_t *l) {
    reftoken_caller api = {REFTOKEN_CALLER_API, {"api1", 4}, {"api1.read", 9}};
    return reftoken_introspect(ctx, &api, 1740830400, NULL, o, c, l);
}
static reftoken_status out_introspect_data(void *ctx, char *o, size_t c, size_t *l) {
    (void)ctx;
    reftoken_caller api = {REFTOKEN_CALLER_API, {"api1", 4}, {"api1.read", 9}};
    return reftoken_introspect_data(data_protected, data_protected_len, ring, &api, 1740830400, NULL, o, c, l);
}
static reftoken_status out_default_key(void *ctx, char *o, size_t c, size_t *l) {
    (void)ctx;
    return reftoken_keyring_default_key_id(ring, KEY_TIME, o, c, l);
}
static reftoken_status out_protect(void *ctx, char *o, size_t c, size_t *l) {
    (void)ctx;
    reftoken_str p = {"p", 1};
    return reftoken_protect(ring, &p, 1, "plaintext", 9, KEY_TIME, o, c, l);
}
static char protected_text[256];
static size_t protected_text_len;
static reftoken_status out_unprotect(void *ctx, char *o, size_t c, size_t *l) {
    (void)ctx;
    reftoken_str p = {"p", 1};
    return reftoken_unprotect(ring, &p, 1, protected_text, protected_text_len, o, c, l);
}
static reftoken_status out_jwk(void *ctx, char *o, size_t c, size_t *l) {
    return reftoken_signing_key_public_jwk(ctx, o, c, l);
}
static reftoken_status out_jwt(void *ctx, char *o, size_t c, size_t *l) {
    return reftoken_introspection_jwt(ctx, "https://idsvr.test", 18, "api1", 4, 1740830400, "{\"active\":true}", 15,
                                      o, c, l);
}
static reftoken_status out_last_error(void *ctx, char *o, size_t c, size_t *l) {
    (void)ctx;
    return reftoken_last_error(o, c, l);
}

static void test_lengths_and_buffers(void) {
    every_prefix(data_plain, data_plain_len, parse_prefix);
    every_prefix(data_protected, data_protected_len, parse_prefix);
    every_prefix(token_json, token_json_len, parse_prefix);
    /* The protected payload alone, string and bytes. */
    const char *payload = strstr(data_protected, "CfDJ8");
    size_t payload_len = (size_t)(strchr(payload, '"') - payload);
    every_prefix(payload, payload_len, unprotect_prefix);
    every_prefix(key_xml, key_xml_len, keyring_prefix);
    const char basic[] = "Basic Y2xpZW50JTIwMTpzZWNyZXQlM0ErKw==";
    every_prefix(basic, strlen(basic), basic_prefix);
    const char form[] = "token=AB%20C+D&token_type_hint=access_token&client_id=api1&client_secret=s%E2%82%AC";
    every_prefix(form, strlen(form), form_prefix);
    every_prefix(EC_JWK, strlen(EC_JWK), jwk_prefix);

    reftoken_grant *g = sample_grant();
    size_t lengths[] = {1, 16, 32, 33, 64, 65};
    uint32_t algs[] = {REFTOKEN_SECRET_SHA256, REFTOKEN_SECRET_SHA512};
    every_out_size(out_handle, NULL);
    for (size_t i = 0; i < 6; i++) every_out_size(out_hex, &lengths[i]);
    every_out_size(out_key, "ABC-1");
    every_out_size(out_key, "ABC");
    for (size_t i = 0; i < 2; i++) every_out_size(out_secret, &algs[i]);
    every_out_size(out_data, g);
    every_out_size(out_token_json, g);
    every_out_size(out_protected, g);
    every_out_size(out_field, g);
    every_out_size(out_introspect, g);
    every_out_size(out_introspect_data, NULL);
    every_out_size(out_default_key, NULL);
    every_out_size(out_protect, NULL);
    reftoken_str p = {"p", 1};
    CHECK_ST(reftoken_protect(ring, &p, 1, "plaintext", 9, KEY_TIME, protected_text, sizeof protected_text,
                              &protected_text_len),
             REFTOKEN_OK);
    every_out_size(out_unprotect, NULL);
    reftoken_signing_key *sk = NULL;
    CHECK_ST(reftoken_signing_key_new_from_jwk(EC_JWK, strlen(EC_JWK), 0, NULL, 0, &sk), REFTOKEN_OK);
    every_out_size(out_jwk, sk);
    every_out_size(out_jwt, sk);
    reftoken_signing_key_free(sk);
    reftoken_grant *bad = NULL;
    reftoken_grant_parse("{", 1, &bad); /* leaves a last-error message */
    every_out_size(out_last_error, NULL);

    /* Basic: both buffers at every size around the needed ones. */
    const char *hdr = "Basic Y2xpZW50MTpjbGllbnQxLXNlY3JldA=="; /* client1:client1-secret */
    for (size_t ic = 0; ic <= 8; ic++) {
        for (size_t sc = 0; sc <= 15; sc++) {
            char *id = malloc(ic ? ic : 1), *sec = malloc(sc ? sc : 1);
            size_t il = 0, sl = 0;
            bool has = false;
            reftoken_status st = reftoken_basic_parse(hdr, strlen(hdr), ic ? id : NULL, ic, &il, sc ? sec : NULL, sc,
                                                      &sl, &has);
            if (ic >= 7 && sc >= 14) {
                CHECK_ST(st, REFTOKEN_OK);
                CHECK(has && il == 7 && sl == 14 && memcmp(id, "client1", 7) == 0);
            } else {
                CHECK_ST(st, REFTOKEN_BUFFER_TOO_SMALL);
                CHECK(il == 7 && sl == 14);
            }
            free(id);
            free(sec);
        }
    }
    reftoken_grant_free(g);
}

/* ------------------------------------------------------------------------------------------ */
/* Huge sizes */

static void test_huge(void) {
    char out[256];
    size_t len = 0;
    bool b = false;
    const size_t too_long = (size_t)PTRDIFF_MAX + 1;
    reftoken_grant *g = NULL;
    /* Lengths beyond any object: refused before anything is read. */
    CHECK_ST(reftoken_grant_parse("{}", SIZE_MAX, &g), REFTOKEN_INVALID_ARGUMENT);
    CHECK_ST(reftoken_grant_parse("{}", too_long, &g), REFTOKEN_INVALID_ARGUMENT);
    CHECK_ST(reftoken_store_key("h", SIZE_MAX, "g", 1, out, sizeof out, &len), REFTOKEN_INVALID_ARGUMENT);
    CHECK_ST(reftoken_secret_hash("s", SIZE_MAX, 1, out, sizeof out, &len), REFTOKEN_INVALID_ARGUMENT);
    CHECK_ST(reftoken_basic_parse("B", SIZE_MAX, out, 64, &len, out + 64, 64, &len, &b), REFTOKEN_INVALID_ARGUMENT);
    reftoken_introspection_request *req = NULL;
    CHECK_ST(reftoken_introspection_form_parse((const uint8_t *)"t", too_long, &req), REFTOKEN_INVALID_ARGUMENT);
    CHECK(req == NULL);
    reftoken_str p = {"p", 1};
    CHECK_ST(reftoken_unprotect_bytes(ring, &p, 1, (const uint8_t *)"x", SIZE_MAX, (uint8_t *)out, sizeof out, &len),
             REFTOKEN_INVALID_ARGUMENT);
    CHECK_ST(reftoken_protect(ring, &p, 1, "x", too_long, KEY_TIME, out, sizeof out, &len), REFTOKEN_INVALID_ARGUMENT);
    /* Counts beyond the limits: refused before the arrays are read. */
    CHECK_ST(reftoken_protect(ring, &p, SIZE_MAX, "x", 1, KEY_TIME, out, sizeof out, &len), REFTOKEN_INPUT_TOO_LARGE);
    CHECK_ST(reftoken_unprotect(ring, &p, 257, "x", 1, out, sizeof out, &len), REFTOKEN_INPUT_TOO_LARGE);
    reftoken_keyring *k = NULL;
    CHECK_ST(reftoken_keyring_new_from_xml(&p, SIZE_MAX, NULL, 0, &k), REFTOKEN_INPUT_TOO_LARGE);
    CHECK_ST(reftoken_secret_verify("s", 1, &p, NULL, SIZE_MAX, 0, &b, NULL), REFTOKEN_INPUT_TOO_LARGE);
    /* Random lengths whose hex would overflow. */
    CHECK_ST(reftoken_random_hex(SIZE_MAX, out, sizeof out, &len), REFTOKEN_INPUT_TOO_LARGE);
    CHECK_ST(reftoken_random_hex(SIZE_MAX / 2 + 1, out, sizeof out, &len), REFTOKEN_INPUT_TOO_LARGE);
    CHECK_ST(reftoken_random_hex(REFTOKEN_MAX_RANDOM_BYTES + 1, NULL, 0, &len), REFTOKEN_INPUT_TOO_LARGE);
    /* Times at the ends of int64. */
    CHECK_ST(reftoken_grant_new("c", 1, "i", 1, INT64_MAX, 1, &g), REFTOKEN_INVALID_ARGUMENT);
    CHECK_ST(reftoken_grant_new("c", 1, "i", 1, INT64_MIN, 1, &g), REFTOKEN_INVALID_ARGUMENT);
    /* An expiration past .NET's DateTime.MaxValue (9999-12-31T23:59:59) is refused, as
     * IdentityServer's CreationTime.AddSeconds(Lifetime) throws; the last second is not. */
    CHECK_ST(reftoken_grant_new("c", 1, "i", 1, 253402300799, INT32_MAX, &g), REFTOKEN_INVALID_ARGUMENT);
    CHECK_ST(reftoken_grant_new("c", 1, "i", 1, 253402300799 - INT32_MAX, INT32_MAX, &g), REFTOKEN_OK);
    CHECK(reftoken_grant_expiration(g) == 253402300799);
    reftoken_caller api = {REFTOKEN_CALLER_API, {"api1", 4}, {"api1.read", 9}};
    reftoken_verdict v;
    CHECK_ST(reftoken_evaluate(g, &api, INT64_MIN, NULL, &v), REFTOKEN_OK);
    CHECK_ST(reftoken_evaluate(g, &api, INT64_MAX, NULL, &v), REFTOKEN_OK);
    CHECK(!v.active);
    CHECK(known(reftoken_introspect(g, &api, INT64_MAX, NULL, out, sizeof out, &len)));
    char *field = malloc(64);
    CHECK_ST(reftoken_grant_field(g, REFTOKEN_FIELD_EXPIRATION, field, 64, &len), REFTOKEN_OK);
    free(field);
    reftoken_grant_free(g);
    CHECK(known(reftoken_protect(ring, &p, 1, "x", 1, INT64_MAX, out, sizeof out, &len)));
    CHECK(known(reftoken_protect(ring, &p, 1, "x", 1, INT64_MIN, out, sizeof out, &len)));
    CHECK(known(reftoken_keyring_default_key_id(ring, INT64_MIN, out, sizeof out, &len)));
    reftoken_secret_verify("s", 1, NULL, NULL, 0, INT64_MIN, &b, NULL);
    /* Inputs one byte over each limit, in exact-size blocks. */
    size_t big = REFTOKEN_MAX_DATA_LEN + 1;
    char *s = malloc(big);
    memset(s, ' ', big);
    s[0] = '{';
    s[big - 1] = '}';
    CHECK_ST(reftoken_grant_parse(s, big, &g), REFTOKEN_INPUT_TOO_LARGE);
    CHECK_ST(reftoken_grant_parse_token_json(s, big, &g), REFTOKEN_INPUT_TOO_LARGE);
    CHECK_ST(reftoken_introspect_data(s, big, ring, &api, 0, NULL, out, sizeof out, &len), REFTOKEN_INPUT_TOO_LARGE);
    CHECK_ST(reftoken_protect(ring, &p, 1, s, big, KEY_TIME, out, sizeof out, &len), REFTOKEN_INPUT_TOO_LARGE);
    reftoken_str el = {s, big};
    CHECK_ST(reftoken_keyring_new_from_xml(&el, 1, NULL, 0, &k), REFTOKEN_INPUT_TOO_LARGE);
    CHECK_ST(reftoken_store_key(s, REFTOKEN_MAX_HANDLE_LEN + 1, "g", 1, out, sizeof out, &len), REFTOKEN_INPUT_TOO_LARGE);
    CHECK_ST(reftoken_store_key("h", 1, s, REFTOKEN_MAX_GRANT_TYPE_LEN + 1, out, sizeof out, &len),
             REFTOKEN_INPUT_TOO_LARGE);
    reftoken_signing_key *sk = NULL;
    CHECK_ST(reftoken_signing_key_new_from_pem(s, 65537, 0, NULL, 0, &sk), REFTOKEN_INPUT_TOO_LARGE);
    reftoken_introspection_request *r = NULL;
    CHECK_ST(reftoken_introspection_form_parse((const uint8_t *)s, 65537, &r), REFTOKEN_OK);
    reftoken_endpoint_answer a;
    CHECK_ST(reftoken_introspection_request_decide(r, true, &a), REFTOKEN_OK);
    CHECK(a.status == 400);
    reftoken_introspection_request_free(r);
    free(s);
}

/* ------------------------------------------------------------------------------------------ */
/* Lengths over a limit with a buffer shorter than the length (issue "Shape"): the length is
 * checked against the limit before any byte is read, so every argument here is a 16-byte heap
 * block of ASCII (a text read past its end is an invalid read under valgrind and AddressSanitizer)
 * with a length one over the limit. Over a limit the core refuses, the answer is
 * REFTOKEN_INPUT_TOO_LARGE with the core's message; where the core answers every over-long
 * value alike (a presented handle over 100 bytes is inactive, a form body over 64 KiB is a 400),
 * that answer comes unread. */

#define SHORT_BLOCK 16

/* st is REFTOKEN_INPUT_TOO_LARGE and the last error starts with `what`. */
static void check_too_large(reftoken_status st, const char *what, const char *expr, int line) {
    char msg[256];
    size_t len = 0;
    reftoken_last_error(msg, sizeof msg, &len);
    int ok = st == REFTOKEN_INPUT_TOO_LARGE && len < sizeof msg && strncmp(msg, what, strlen(what)) == 0;
    if (!ok)
        fprintf(stderr, "  %s returned %s (%.*s), expected REFTOKEN_INPUT_TOO_LARGE naming \"%s\"\n", expr,
                reftoken_status_str(st), (int)(len < sizeof msg ? len : 0), msg, what);
    record(ok, __FILE__, line, expr);
}
#define CHECK_TOO_LARGE(expr, what) check_too_large((expr), (what), #expr, __LINE__)

static reftoken_status over_limit_row_status = REFTOKEN_OK;
static char over_limit_row_error[256];
static int over_limit_lookups = 0;

/* Answers with reftoken_row_set of the 16-byte block in ctx, one byte over the Data limit. */
static reftoken_status over_limit_lookup(void *ctx, const char *key, size_t key_len, reftoken_row *row) {
    (void)key;
    (void)key_len;
    over_limit_lookups++;
    if (ctx) {
        size_t len = 0;
        over_limit_row_status = reftoken_row_set(row, "reference_token", 15, ctx, REFTOKEN_MAX_DATA_LEN + 1);
        reftoken_last_error(over_limit_row_error, sizeof over_limit_row_error - 1, &len);
        over_limit_row_error[len < sizeof over_limit_row_error ? len : 0] = '\0';
    }
    return REFTOKEN_NOT_FOUND;
}

static void test_lengths_over_limits_unread(void) {
    char out[256];
    size_t len = 0, len2 = 0;
    bool b = true;
    char *s = malloc(SHORT_BLOCK);
    memset(s, 'A', SHORT_BLOCK);
    const uint8_t *u = (const uint8_t *)s;
    reftoken_grant *g = (reftoken_grant *)1;
    reftoken_caller api = {REFTOKEN_CALLER_API, {"api1", 4}, {"api1.read", 9}};
    reftoken_caller client = {REFTOKEN_CALLER_CLIENT, {"client1", 7}, {NULL, 0}};

    /* Store keys */
    CHECK_TOO_LARGE(reftoken_store_key(s, REFTOKEN_MAX_HANDLE_LEN + 1, "g", 1, out, sizeof out, &len), "handle ");
    CHECK_TOO_LARGE(reftoken_store_key("h", 1, s, REFTOKEN_MAX_GRANT_TYPE_LEN + 1, out, sizeof out, &len),
                    "grant type ");
    CHECK_TOO_LARGE(reftoken_reference_token_key(s, REFTOKEN_MAX_HANDLE_LEN + 1, out, sizeof out, &len), "handle ");
    CHECK(!reftoken_handle_is_wellformed(s, REFTOKEN_HANDLE_LEN + 1));

    /* Grants */
    CHECK_TOO_LARGE(reftoken_grant_parse(s, REFTOKEN_MAX_DATA_LEN + 1, &g), "Data column ");
    CHECK(g == NULL);
    CHECK_TOO_LARGE(reftoken_grant_parse_protected(s, REFTOKEN_MAX_DATA_LEN + 1, ring, &g), "Data column ");
    CHECK_TOO_LARGE(reftoken_grant_parse_token_json(s, REFTOKEN_MAX_DATA_LEN + 1, &g), "token JSON ");
    CHECK_TOO_LARGE(
        reftoken_introspect_data(s, REFTOKEN_MAX_DATA_LEN + 1, ring, &api, 0, NULL, out, sizeof out, &len),
        "Data column ");

    /* Validators: a presented handle over 100 bytes is inactive and never looked up; a key over
     * 64 bytes is in no entry; a row's Data over 1 MiB is refused. */
    reftoken_validator *val = NULL;
    CHECK_ST(reftoken_validator_new(over_limit_lookup, NULL, ring, 8, 60, &val), REFTOKEN_OK);
    CHECK_ST(reftoken_validator_introspect(val, s, 101, &api, 0, NULL, out, sizeof out, &len), REFTOKEN_OK);
    CHECK(len == 16 && memcmp(out, "{\"active\":false}", 16) == 0);
    CHECK_ST(reftoken_validator_introspect(val, s, 101, &client, 0, NULL, out, sizeof out, &len), REFTOKEN_OK);
    CHECK(len == 16 && memcmp(out, "{\"active\":false}", 16) == 0);
    reftoken_verdict v;
    memset(&v, 0, sizeof v); /* reason 0: a call that fails leaves no verdict */
    CHECK_ST(reftoken_validator_validate(val, s, 101, &api, 0, NULL, &g, &v), REFTOKEN_OK);
    CHECK(!v.active && v.reason == REFTOKEN_INACTIVE_UNKNOWN_HANDLE && g == NULL);
    memset(&v, 0, sizeof v);
    g = (reftoken_grant *)1;
    CHECK_ST(reftoken_validator_check(val, s, 101, &api, 0, NULL, &g, &v, out, sizeof out, &len), REFTOKEN_OK);
    CHECK(!v.active && v.reason == REFTOKEN_INACTIVE_UNKNOWN_HANDLE && g == NULL);
    CHECK(len == 16 && memcmp(out, "{\"active\":false}", 16) == 0);
    /* Too small for even the inactive answer: the length needed, nothing else. */
    memset(&v, 0, sizeof v);
    CHECK_ST(reftoken_validator_check(val, s, 101, &api, 0, NULL, &g, &v, out, 15, &len), REFTOKEN_BUFFER_TOO_SMALL);
    CHECK(len == 16 && g == NULL && v.reason == 0);
    CHECK_ST(reftoken_validator_check(val, s, 101, &api, 0, NULL, &g, &v, out, sizeof out, NULL),
             REFTOKEN_NULL_ARGUMENT);
    CHECK(over_limit_lookups == 0);
    CHECK_ST(reftoken_validator_evict(val, s, REFTOKEN_MAX_KEY_LEN + 1), REFTOKEN_OK);
    reftoken_validator_free(val);
    val = NULL;
    CHECK_ST(reftoken_validator_new(over_limit_lookup, s, ring, 8, 60, &val), REFTOKEN_OK);
    char handle[67];
    CHECK_ST(reftoken_handle_new(handle, sizeof handle, &len), REFTOKEN_OK);
    CHECK_ST(reftoken_validator_validate(val, handle, 66, &api, 0, NULL, NULL, &v), REFTOKEN_OK);
    CHECK(over_limit_lookups == 1);
    CHECK(over_limit_row_status == REFTOKEN_INPUT_TOO_LARGE);
    CHECK(strncmp(over_limit_row_error, "Data column ", 12) == 0);
    reftoken_validator_free(val);

    /* Signing keys and JWT responses (64 KiB of key text, 1 MiB of response) */
    reftoken_signing_key *sk = (reftoken_signing_key *)1;
    CHECK_TOO_LARGE(reftoken_signing_key_new_from_pem(s, 65537, 0, NULL, 0, &sk), "signing key PEM ");
    CHECK(sk == NULL);
    CHECK_TOO_LARGE(reftoken_signing_key_new_from_jwk(s, 65537, 0, NULL, 0, &sk), "signing key JWK ");
    CHECK_ST(reftoken_signing_key_new_from_jwk(EC_JWK, strlen(EC_JWK), 0, NULL, 0, &sk), REFTOKEN_OK);
    CHECK_TOO_LARGE(reftoken_introspection_jwt(sk, "i", 1, "a", 1, 0, s, REFTOKEN_MAX_DATA_LEN + 1, out, sizeof out,
                                               &len),
                    "introspection response ");
    reftoken_signing_key_free(sk);

    /* The endpoint: a Basic header over 2430 bytes (810 UTF-16 code units of at most 3 bytes
     * each) is refused; in a request it gives no credentials, and a body over 64 KiB is a 400. */
    CHECK_TOO_LARGE(reftoken_basic_parse(s, 2431, out, 128, &len, out + 128, 128, &len2, &b), "Authorization header ");
    CHECK(len == 0 && len2 == 0 && !b);
    const char form[] = "token=abc&client_id=client1&client_secret=s";
    reftoken_http_request http = {{"POST", 4},     {"application/x-www-form-urlencoded", 33},
                                  {s, 2431},       {NULL, 0},
                                  (const uint8_t *)form, strlen(form)};
    reftoken_introspection_request *req = NULL;
    reftoken_credentials cred;
    reftoken_endpoint_answer ans;
    memset(&cred, 0, sizeof cred);
    memset(&ans, 0, sizeof ans);
    CHECK_ST(reftoken_introspection_request_parse(&http, &req), REFTOKEN_OK);
    CHECK_ST(reftoken_introspection_request_credentials(req, &cred), REFTOKEN_OK);
    CHECK(cred.kind == REFTOKEN_CREDENTIALS_SHARED_SECRET && cred.source == REFTOKEN_CREDENTIALS_FROM_POST_BODY);
    reftoken_introspection_request_free(req);
    req = NULL;
    http.authorization.ptr = NULL;
    http.authorization.len = 0;
    http.body = u;
    http.body_len = 65537;
    CHECK_ST(reftoken_introspection_request_parse(&http, &req), REFTOKEN_OK);
    CHECK_ST(reftoken_introspection_request_decide(req, false, &ans), REFTOKEN_OK);
    CHECK(ans.status == 400);
    reftoken_introspection_request_free(req);
    req = NULL;
    CHECK_ST(reftoken_introspection_form_parse(u, 65537, &req), REFTOKEN_OK);
    CHECK_ST(reftoken_introspection_request_decide(req, true, &ans), REFTOKEN_OK);
    CHECK(ans.status == 400);
    reftoken_introspection_request_free(req);

    /* Key rings and Data Protection: an element over 1 MiB; plaintext over 1 MiB; a string
     * payload over 1398104 bytes (base64url of 1 MiB), a binary one over 1 MiB; a purpose over
     * 64 KiB. */
    reftoken_keyring *k = (reftoken_keyring *)1;
    reftoken_str el = {s, 1048577};
    CHECK_TOO_LARGE(reftoken_keyring_new_from_xml(&el, 1, NULL, 0, &k), "key ring XML element ");
    CHECK(k == NULL);
    reftoken_str p = {"p", 1};
    CHECK_TOO_LARGE(reftoken_protect(ring, &p, 1, s, 1048577, KEY_TIME, out, sizeof out, &len), "plaintext ");
    CHECK_TOO_LARGE(reftoken_protect_bytes(ring, &p, 1, u, 1048577, KEY_TIME, (uint8_t *)out, sizeof out, &len),
                    "plaintext ");
    CHECK_TOO_LARGE(reftoken_unprotect(ring, &p, 1, s, 1398105, out, sizeof out, &len), "protected payload ");
    CHECK_TOO_LARGE(reftoken_unprotect_bytes(ring, &p, 1, u, 1048577, (uint8_t *)out, sizeof out, &len),
                    "protected payload ");
    reftoken_str long_purpose[2] = {{"p", 1}, {s, 65537}};
    CHECK_TOO_LARGE(reftoken_protect(ring, long_purpose, 2, "x", 1, KEY_TIME, out, sizeof out, &len), "purpose ");
    CHECK_TOO_LARGE(
        reftoken_protect_bytes(ring, long_purpose, 2, (const uint8_t *)"x", 1, KEY_TIME, (uint8_t *)out, sizeof out, &len),
        "purpose ");
    CHECK_TOO_LARGE(reftoken_unprotect(ring, long_purpose, 2, "CfDJ8", 5, out, sizeof out, &len), "purpose ");
    CHECK_TOO_LARGE(
        reftoken_unprotect_bytes(ring, long_purpose, 2, (const uint8_t *)"\x09\xF0\xC9\xF0", 4, (uint8_t *)out, sizeof out, &len),
        "purpose ");
    free(s);
}

/* ------------------------------------------------------------------------------------------ */
/* Random mutations through every parser */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t next_rand(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t mutate(const char *seed, size_t n, char *out, size_t cap, uint64_t *r) {
    size_t len = n < cap ? n : cap;
    memcpy(out, seed, len);
    int edits = 1 + (int)(next_rand(r) % 8);
    for (int e = 0; e < edits && len > 0; e++) {
        size_t at = (size_t)(next_rand(r) % len);
        switch (next_rand(r) % 6) {
        case 0: out[at] = (char)next_rand(r); break;                  /* any byte */
        case 1: out[at] ^= (char)(1u << (next_rand(r) % 8)); break;  /* one bit */
        case 2: len = at; break;                                      /* cut */
        case 3: out[at] = "{}[]\":,\\ %+=&<>"[next_rand(r) % 16]; break;
        case 4:                                                       /* duplicate a run */
            if (len * 2 < cap) {
                memmove(out + at + (len - at), out + at, len - at);
                len += len - at;
            }
            break;
        default: out[at] = (char)(0x80 | (next_rand(r) & 0x7F)); break; /* stray UTF-8 */
        }
    }
    return len;
}

static void stress_one(const char *seed, size_t n, uint64_t *r, char *scratch, size_t cap) {
    size_t len = mutate(seed, n, scratch, cap, r);
    char *in = exact(scratch, len);
    char out[1024];
    size_t olen = 0;
    bool b = false;
    reftoken_grant *g = NULL;
    reftoken_caller api = {REFTOKEN_CALLER_API, {"api1", 4}, {"api1.read", 9}};
    reftoken_caller client = {REFTOKEN_CALLER_CLIENT, {"client1", 7}, {NULL, 0}};
    size_t ocap = (size_t)(next_rand(r) % sizeof out);
    reftoken_status st = reftoken_grant_parse_protected(in, len, ring, &g);
    CHECK(known(st));
    if (g) {
        CHECK(known(reftoken_introspect(g, &api, 1740830400, NULL, out, ocap, &olen)));
        CHECK(known(reftoken_introspect(g, &client, 1740830400, NULL, out, ocap, &olen)));
        CHECK(known(reftoken_grant_data(g, out, ocap, &olen)));
        reftoken_grant_free(g);
    }
    CHECK(known(reftoken_introspect_data(in, len, ring, &client, 1740830400, NULL, out, ocap, &olen)));
    reftoken_str p = {"PersistentGrantSerializer", 25};
    CHECK(known(reftoken_unprotect(ring, &p, 1, in, len, out, ocap, &olen)));
    CHECK(known(reftoken_unprotect_bytes(ring, &p, 1, (const uint8_t *)in, len, (uint8_t *)out, ocap, &olen)));
    char id[300], sec[300];
    size_t il, sl;
    CHECK(known(reftoken_basic_parse(in, len, id, next_rand(r) % 300, &il, sec, next_rand(r) % 300, &sl, &b)));
    reftoken_introspection_request *req = NULL;
    reftoken_http_request http = {{"POST", 4}, {"application/x-www-form-urlencoded", 33}, {in, len},
                                  {"application/token-introspection+jwt", 36}, (const uint8_t *)in, len};
    CHECK(known(reftoken_introspection_request_parse(&http, &req)));
    if (req) {
        reftoken_credentials c;
        reftoken_endpoint_answer a;
        CHECK_ST(reftoken_introspection_request_credentials(req, &c), REFTOKEN_OK);
        CHECK_ST(reftoken_introspection_request_decide(req, next_rand(r) & 1, &a), REFTOKEN_OK);
        reftoken_introspection_request_free(req);
    }
    reftoken_str el = {in, len};
    reftoken_keyring *k = NULL;
    CHECK(known(reftoken_keyring_new_from_xml(&el, 1, APP, strlen(APP), &k)));
    reftoken_keyring_free(k);
    reftoken_signing_key *sk = NULL;
    CHECK(known(reftoken_signing_key_new_from_jwk(in, len, 0, NULL, 0, &sk)));
    reftoken_signing_key_free(sk);
    CHECK(known(reftoken_store_key(in, len, "reference_token", 15, out, ocap, &olen)));
    reftoken_str stored = {in, len};
    CHECK(known(reftoken_secret_verify("s", 1, &stored, NULL, 1, 0, &b, NULL)));
    free(in);
}

static void test_random(long iterations) {
    const char *seeds[] = {data_plain, data_protected, token_json, key_xml, EC_JWK,
                           "Basic Y2xpZW50MTpjbGllbnQxLXNlY3JldA==",
                           "token=AB%20C+D&token_type_hint=access_token&client_id=api1&client_secret=s%E2%82%AC"};
    size_t lens[] = {data_plain_len, data_protected_len, token_json_len, key_xml_len, strlen(EC_JWK),
                     strlen(seeds[5]), strlen(seeds[6])};
    size_t cap = 2 * key_xml_len + 2 * data_protected_len;
    char *scratch = malloc(cap);
    for (long i = 0; i < iterations; i++) {
        size_t s = (size_t)(next_rand(&rng_state) % 7);
        stress_one(seeds[s], lens[s], &rng_state, scratch, cap);
    }
    free(scratch);
}

/* ------------------------------------------------------------------------------------------ */
/* Threads sharing a key ring, a validator and a grant */

static char row_key[65];
static reftoken_status lookup(void *ctx, const char *key, size_t key_len, reftoken_row *row) {
    (void)ctx;
    if (key_len == 64 && memcmp(key, row_key, 64) == 0)
        return reftoken_row_set(row, "reference_token", 15, data_protected, data_protected_len);
    return REFTOKEN_NOT_FOUND;
}

struct shared {
    reftoken_validator *validator;
    const reftoken_grant *grant;
    const char *handle;
    long iterations;
    uint64_t seed;
};

static void *worker(void *arg) {
    struct shared *sh = arg;
    uint64_t r = sh->seed;
    char out[2048], scratch[16384];
    size_t len = 0;
    reftoken_caller api = {REFTOKEN_CALLER_API, {"api1", 4}, {"api1.read", 9}};
    for (long i = 0; i < sh->iterations; i++) {
        CHECK_ST(reftoken_handle_new(out, sizeof out, &len), REFTOKEN_OK);
        CHECK_ST(reftoken_validator_introspect(sh->validator, sh->handle, 66, &api, 1740830400, NULL, out, sizeof out,
                                               &len),
                 REFTOKEN_OK);
        CHECK(len > 20 && memcmp(out, "{\"iss\"", 6) == 0);
        reftoken_verdict v;
        reftoken_grant *g = NULL;
        CHECK_ST(reftoken_validator_validate(sh->validator, sh->handle, 66, &api, 1740830400, NULL, &g, &v),
                 REFTOKEN_OK);
        CHECK(v.active && g != NULL);
        reftoken_grant_free(g);
        /* The kept response, raced against the evictions and clears below. */
        size_t jlen = 0;
        CHECK_ST(reftoken_validator_check(sh->validator, sh->handle, 66, &api, 1740830400, NULL, NULL, &v, scratch,
                                          sizeof scratch, &jlen),
                 REFTOKEN_OK);
        CHECK(v.active && jlen == len && memcmp(scratch, out, len) == 0);
        if (i % 16 == 0) reftoken_validator_evict(sh->validator, row_key, 64);
        if (i % 64 == 0) reftoken_validator_clear(sh->validator);
        CHECK_ST(reftoken_introspect(sh->grant, &api, 1740830400, NULL, out, sizeof out, &len), REFTOKEN_OK);
        reftoken_str p = {"p", 1};
        CHECK_ST(reftoken_protect(ring, &p, 1, "x", 1, KEY_TIME, out, sizeof out, &len), REFTOKEN_OK);
        char back[4];
        CHECK_ST(reftoken_unprotect(ring, &p, 1, out, len, back, sizeof back, &len), REFTOKEN_OK);
        stress_one(data_protected, data_protected_len, &r, scratch, sizeof scratch);
    }
    return NULL;
}

static void test_threads(long iterations) {
    char handle[67];
    size_t len = 0;
    reftoken_handle_new(handle, sizeof handle, &len);
    reftoken_reference_token_key(handle, 66, row_key, sizeof row_key, &len);
    struct shared sh = {NULL, NULL, handle, iterations, 0};
    CHECK_ST(reftoken_validator_new(lookup, NULL, ring, 8, 60, &sh.validator), REFTOKEN_OK);
    reftoken_grant *g = sample_grant();
    sh.grant = g;
    enum { N = 4 };
    pthread_t t[N];
    struct shared each[N];
    for (int i = 0; i < N; i++) {
        each[i] = sh;
        each[i].seed = 0x1234567ull * (uint64_t)(i + 1);
        pthread_create(&t[i], NULL, worker, &each[i]);
    }
    for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
    reftoken_validator_free(sh.validator);
    reftoken_grant_free(g);
}

int main(void) {
    const char *env = getenv("STRESS_ITERATIONS");
    long iterations = env ? atol(env) : 20000;
    setup();
#ifdef STRESS_SANITIZERS
    test_sanitizers_linked();
#endif
    test_nulls();
    test_not_utf8();
    test_lengths_and_buffers();
    test_huge();
    test_lengths_over_limits_unread();
    test_random(iterations);
    test_threads(iterations / 50 + 1);
    reftoken_keyring_free(ring);
    free(key_xml);
    printf("stress_abi: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

/* C harness: Data Protection key rings and the endpoint side (secrets, Basic credentials,
 * requests, RFC 9701 JWTs) through the ABI. Expected values come from Microsoft's published
 * Data Protection vector, from Duende (the fixture secrets), and from OpenSSL, which
 * verifies the JWT signatures. */
#define _GNU_SOURCE
#include "reftoken.h"
#include "harness.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdlib.h>

#define S(lit) lit, sizeof(lit) - 1

/* ASP.NET Core's own test vector (ServiceCollectionTests.CanUnprotectPayloadCreatedBy10_0_5). */
static const char V1_KEY[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<key id=\"ead9607a-7754-4369-a7f4-6696e5713ced\" version=\"1\">\n"
    "  <creationDate>2026-04-16T16:40:09.6237156Z</creationDate>\n"
    "  <activationDate>2026-04-16T16:40:09.6237156Z</activationDate>\n"
    "  <expirationDate>2026-07-15T16:40:09.6237156Z</expirationDate>\n"
    "  <descriptor deserializerType=\"Microsoft.AspNetCore.DataProtection.AuthenticatedEncryption.ConfigurationModel."
    "AuthenticatedEncryptorDescriptorDeserializer, Microsoft.AspNetCore.DataProtection, Version=10.0.0.0, Culture=neutral, "
    "PublicKeyToken=adb9793829ddae60\">\n"
    "    <descriptor>\n"
    "      <encryption algorithm=\"AES_256_CBC\" />\n"
    "      <validation algorithm=\"HMACSHA256\" />\n"
    "      <masterKey p4:requiresEncryption=\"true\" xmlns:p4=\"http://schemas.asp.net/2015/03/dataProtection\">\n"
    "        <value>iEQ2XFkBUwAnEotfX5b+ZWrqKdJFlxJ4bDuJqljdR6KNolzKxa/1hro1PZg4tsb6CJsOZ/fCA/8VKGX+bXHq4Q==</value>\n"
    "      </masterKey>\n"
    "    </descriptor>\n"
    "  </descriptor>\n"
    "</key>\n";
static const char V1_PAYLOAD[] =
    "CfDJ8Hpg2epUd2lDp_RmluVxPO1RuoXCtT528WJ_4cy3XD_uhLBk9GBkYOQF-iIWlloCb4CP7rX609LnU7BiXXgZU1fKvNGfjwau5YJRIXcvDy"
    "XDnvn1kyRDojEYPc5Ic4WQgzBnpZrf2qiI4JrX9nkqCew";

static void test_keyring(void) {
    reftoken_str elements[1] = {{V1_KEY, sizeof V1_KEY - 1}};
    reftoken_keyring *ring = NULL;
    CHECK_STATUS(reftoken_keyring_new_from_xml(elements, 1, S("repro-app"), &ring), REFTOKEN_OK);
    reftoken_str purposes[1] = {{S("purpose")}};
    char out[256];
    size_t len = 0;
    CHECK_STATUS(reftoken_unprotect(ring, purposes, 1, V1_PAYLOAD, sizeof V1_PAYLOAD - 1, out, sizeof out, &len), REFTOKEN_OK);
    CHECK_STR(out, len, "hello from 10.0.5");
    /* Too small a buffer: told the size. */
    CHECK_STATUS(reftoken_unprotect(ring, purposes, 1, V1_PAYLOAD, sizeof V1_PAYLOAD - 1, out, 4, &len), REFTOKEN_BUFFER_TOO_SMALL);
    CHECK(len == 17);
    /* Wrong purpose, wrong application name, every tampered character: authentication fails. */
    reftoken_str wrong[1] = {{S("other")}};
    CHECK_STATUS(reftoken_unprotect(ring, wrong, 1, V1_PAYLOAD, sizeof V1_PAYLOAD - 1, out, sizeof out, &len), REFTOKEN_CRYPTO_FAILURE);
    char tampered[sizeof V1_PAYLOAD];
    int rejected = 0, positions = 0;
    for (size_t i = 30; i < sizeof V1_PAYLOAD - 2; i++) {
        memcpy(tampered, V1_PAYLOAD, sizeof V1_PAYLOAD);
        tampered[i] = tampered[i] == 'A' ? 'B' : 'A';
        reftoken_status st = reftoken_unprotect(ring, purposes, 1, tampered, sizeof V1_PAYLOAD - 1, out, sizeof out, &len);
        rejected += st == REFTOKEN_CRYPTO_FAILURE;
        positions++;
    }
    CHECK(rejected == positions);
    /* Not a payload at all: malformed, told apart from a failed authentication. */
    CHECK_STATUS(reftoken_unprotect(ring, purposes, 1, S("not base64 !"), out, sizeof out, &len), REFTOKEN_MALFORMED_INPUT);
    CHECK_STATUS(reftoken_unprotect(ring, purposes, 1, S("CfDJ8"), out, sizeof out, &len), REFTOKEN_MALFORMED_INPUT);

    /* Protect and unprotect round trip while the key is active; expired keys still unprotect. */
    const int64_t active = 1777000000; /* 2026-04-24, within the key's life */
    char prot[512];
    size_t plen = 0;
    CHECK_STATUS(reftoken_protect(ring, purposes, 1, S("round trip \xc3\xa9"), active, prot, sizeof prot, &plen), REFTOKEN_OK);
    CHECK(plen > 5 && strncmp(prot, "CfDJ8Hpg2epUd2lDp_RmluVxPO", 26) == 0);
    CHECK_STATUS(reftoken_unprotect(ring, purposes, 1, prot, plen, out, sizeof out, &len), REFTOKEN_OK);
    CHECK_STR(out, len, "round trip \xc3\xa9");
    CHECK_STATUS(reftoken_protect(ring, purposes, 1, S("x"), 1900000000, prot, sizeof prot, &plen), REFTOKEN_UNKNOWN_KEY);
    CHECK_STATUS(reftoken_keyring_default_key_id(ring, active, out, sizeof out, &len), REFTOKEN_OK);
    CHECK_STR(out, len, "ead9607a-7754-4369-a7f4-6696e5713ced");
    CHECK_STATUS(reftoken_keyring_default_key_id(ring, 1900000000, out, sizeof out, &len), REFTOKEN_UNKNOWN_KEY);

    /* Bytes form. */
    const uint8_t bin[] = {0, 1, 2, 255};
    uint8_t pb[256], ub[16];
    size_t pbl = 0, ubl = 0;
    CHECK_STATUS(reftoken_protect_bytes(ring, purposes, 1, bin, sizeof bin, active, pb, sizeof pb, &pbl), REFTOKEN_OK);
    CHECK(pbl > 20 && pb[0] == 0x09 && pb[1] == 0xF0 && pb[2] == 0xC9 && pb[3] == 0xF0);
    CHECK_STATUS(reftoken_unprotect_bytes(ring, purposes, 1, pb, pbl, ub, sizeof ub, &ubl), REFTOKEN_OK);
    CHECK(ubl == sizeof bin && memcmp(ub, bin, ubl) == 0);

    /* A protected Data column written here reads back (as IdentityServer would read it). */
    reftoken_grant *g = NULL, *back = NULL;
    reftoken_grant_new(S("client1"), S("https://idp"), active, 3600, &g);
    reftoken_grant_add_claim(g, S("sub"), S("alice"), NULL, 0);
    char data[4096];
    size_t dlen = 0;
    CHECK_STATUS(reftoken_grant_data_protected(g, ring, active, data, sizeof data, &dlen), REFTOKEN_OK);
    CHECK(strncmp(data, "{\"PersistentGrantDataContainerVersion\":1,\"DataProtected\":true,\"Payload\":\"CfDJ8", 78) == 0);
    CHECK_STATUS(reftoken_grant_parse(data, dlen, &back), REFTOKEN_DATA_PROTECTED);
    CHECK_STATUS(reftoken_grant_parse_protected(data, dlen, ring, &back), REFTOKEN_OK);
    CHECK(back != NULL && reftoken_grant_expiration(back) == active + 3600);
    reftoken_grant_free(back);
    reftoken_grant_free(g);

    /* A ring without that key. */
    reftoken_keyring *empty = NULL;
    CHECK_STATUS(reftoken_keyring_new_from_xml(NULL, 0, NULL, 0, &empty), REFTOKEN_OK);
    CHECK_STATUS(reftoken_unprotect(empty, purposes, 1, V1_PAYLOAD, sizeof V1_PAYLOAD - 1, out, sizeof out, &len), REFTOKEN_UNKNOWN_KEY);
    reftoken_keyring_free(empty);

    /* Bad inputs. */
    reftoken_str bad_xml[1] = {{S("<key id=")}};
    reftoken_keyring *k2 = (reftoken_keyring *)0x1;
    CHECK_STATUS(reftoken_keyring_new_from_xml(bad_xml, 1, NULL, 0, &k2), REFTOKEN_MALFORMED_INPUT);
    CHECK(k2 == NULL);
    CHECK_STATUS(reftoken_keyring_new_from_dir(S("/nonexistent/reftoken-keys"), NULL, 0, &k2), REFTOKEN_IO_ERROR);
    CHECK_STATUS(reftoken_keyring_new_from_dir(NULL, 3, NULL, 0, &k2), REFTOKEN_NULL_ARGUMENT);
    CHECK_STATUS(reftoken_unprotect(NULL, purposes, 1, S("x"), out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_STATUS(reftoken_protect(ring, purposes, 1, S("\xff"), active, prot, sizeof prot, &plen), REFTOKEN_INVALID_UTF8);
    reftoken_keyring_free(ring);
    reftoken_keyring_free(NULL);
}

static void test_secrets(void) {
    char out[REFTOKEN_MAX_SECRET_HASH_LEN + 1];
    size_t len = 0;
    /* The stored values Duende computed for the fixtures (tests/fixtures/duende/secrets.json). */
    CHECK_STATUS(reftoken_secret_hash(S("api1-secret"), REFTOKEN_SECRET_SHA256, out, sizeof out, &len), REFTOKEN_OK);
    CHECK_STR(out, len, "6wQyUUAdTu9zHPV8/6ZUj+5sLyiatf+sGw+hjp41K8A=");
    CHECK_STATUS(reftoken_secret_hash(S("api2-secret"), REFTOKEN_SECRET_SHA512, out, sizeof out, &len), REFTOKEN_OK);
    CHECK_STR(out, len, "mr2dKnhXBohuIxEJhEmyhjKwk/1q9YgA8uZuBXBwkhkxwdNj4/IswFEwLWmgDHaMDjO2U5LGBRUWq/j3albglg==");
    CHECK_STATUS(reftoken_secret_hash(S("x"), 99, out, sizeof out, &len), REFTOKEN_INVALID_ARGUMENT);

    reftoken_str stored[2] = {{S("mr2dKnhXBohuIxEJhEmyhjKwk/1q9YgA8uZuBXBwkhkxwdNj4/IswFEwLWmgDHaMDjO2U5LGBRUWq/j3albglg==")},
                              {S("6wQyUUAdTu9zHPV8/6ZUj+5sLyiatf+sGw+hjp41K8A=")}};
    int64_t exp[2] = {REFTOKEN_NO_EXPIRATION, 1000};
    bool valid = false;
    size_t index = 99;
    CHECK_STATUS(reftoken_secret_verify(S("api1-secret"), stored, NULL, 2, 2000, &valid, &index), REFTOKEN_OK);
    CHECK(valid && index == 1);
    CHECK_STATUS(reftoken_secret_verify(S("api2-secret"), stored, NULL, 2, 2000, &valid, &index), REFTOKEN_OK);
    CHECK(valid && index == 0);
    /* The SHA-256 secret expired at 1000: now 1000 still counts, 1001 does not. */
    CHECK_STATUS(reftoken_secret_verify(S("api1-secret"), stored, exp, 2, 1000, &valid, &index), REFTOKEN_OK);
    CHECK(valid);
    CHECK_STATUS(reftoken_secret_verify(S("api1-secret"), stored, exp, 2, 1001, &valid, &index), REFTOKEN_OK);
    CHECK(!valid);
    CHECK_STATUS(reftoken_secret_verify(S("wrong"), stored, NULL, 2, 0, &valid, &index), REFTOKEN_OK);
    CHECK(!valid);
    CHECK_STATUS(reftoken_secret_verify(S("x"), NULL, NULL, 2, 0, &valid, &index), REFTOKEN_NULL_ARGUMENT);
}

static void test_basic(void) {
    char id[128], secret[128];
    size_t idl = 0, sl = 0;
    bool has = false;
    /* "api1:api1-secret" */
    CHECK_STATUS(reftoken_basic_parse(S("Basic YXBpMTphcGkxLXNlY3JldA=="), id, sizeof id, &idl, secret, sizeof secret, &sl, &has), REFTOKEN_OK);
    CHECK_STR(id, idl, "api1");
    CHECK_STR(secret, sl, "api1-secret");
    CHECK(has);
    /* Form-url-decoding of both parts: "my%20client:p%3Aw+d" */
    CHECK_STATUS(reftoken_basic_parse(S("basic bXklMjBjbGllbnQ6cCUzQXcrZA=="), id, sizeof id, &idl, secret, sizeof secret, &sl, &has), REFTOKEN_OK);
    CHECK_STR(id, idl, "my client");
    CHECK_STR(secret, sl, "p:w d");
    /* "client:" has no secret. */
    CHECK_STATUS(reftoken_basic_parse(S("Basic Y2xpZW50Og=="), id, sizeof id, &idl, secret, sizeof secret, &sl, &has), REFTOKEN_OK);
    CHECK_STR(id, idl, "client");
    CHECK(!has && sl == 0);
    /* Malformed: no colon, bad base64, wrong scheme. */
    CHECK_STATUS(reftoken_basic_parse(S("Basic Y2xpZW50"), id, sizeof id, &idl, secret, sizeof secret, &sl, &has), REFTOKEN_MALFORMED_INPUT);
    CHECK_STATUS(reftoken_basic_parse(S("Basic ***"), id, sizeof id, &idl, secret, sizeof secret, &sl, &has), REFTOKEN_MALFORMED_INPUT);
    CHECK_STATUS(reftoken_basic_parse(S("Bearer abc"), id, sizeof id, &idl, secret, sizeof secret, &sl, &has), REFTOKEN_MALFORMED_INPUT);
    CHECK_STATUS(reftoken_basic_parse(NULL, 4, id, sizeof id, &idl, secret, sizeof secret, &sl, &has), REFTOKEN_NULL_ARGUMENT);
}

static void test_request(void) {
    reftoken_http_request req = {{S("POST")}, {S("application/x-www-form-urlencoded")}, {S("Basic YXBpMTphcGkxLXNlY3JldA==")},
                                 {NULL, 0}, (const uint8_t *)"token=ABC-1&token_type_hint=unknown", 35};
    reftoken_introspection_request *r = NULL;
    CHECK_STATUS(reftoken_introspection_request_parse(&req, &r), REFTOKEN_OK);
    reftoken_credentials cred;
    CHECK_STATUS(reftoken_introspection_request_credentials(r, &cred), REFTOKEN_OK);
    CHECK(cred.client_id.len == 4 && memcmp(cred.client_id.ptr, "api1", 4) == 0);
    reftoken_endpoint_answer a;
    CHECK_STATUS(reftoken_introspection_request_decide(r, true, &a), REFTOKEN_OK);
    CHECK(a.introspect && a.token.len == 5 && memcmp(a.token.ptr, "ABC-1", 5) == 0);
    CHECK(a.token_type_hint == REFTOKEN_HINT_NONE && !a.jwt_requested);
    CHECK_STATUS(reftoken_introspection_request_decide(r, false, &a), REFTOKEN_OK);
    CHECK(!a.introspect && a.status == 401);
    reftoken_introspection_request_free(r);
    /* No token: 400 missing_token. */
    reftoken_http_request none = req;
    none.body = (const uint8_t *)"foo=bar";
    none.body_len = 7;
    CHECK_STATUS(reftoken_introspection_request_parse(&none, &r), REFTOKEN_OK);
    CHECK_STATUS(reftoken_introspection_request_decide(r, true, &a), REFTOKEN_OK);
    CHECK(a.status == 400 && a.body.len > 0 && strstr(a.body.ptr, "missing_token") != NULL);
    reftoken_introspection_request_free(r);
    /* GET: 405. */
    reftoken_http_request get = req;
    get.method = (reftoken_str){S("GET")};
    CHECK_STATUS(reftoken_introspection_request_parse(&get, &r), REFTOKEN_OK);
    CHECK_STATUS(reftoken_introspection_request_decide(r, true, &a), REFTOKEN_OK);
    CHECK(a.status == 405);
    reftoken_introspection_request_free(r);
    CHECK_STATUS(reftoken_introspection_request_parse(NULL, &r), REFTOKEN_NULL_ARGUMENT);
    CHECK_STATUS(reftoken_introspection_form_parse((const uint8_t *)"token=x", 7, &r), REFTOKEN_OK);
    reftoken_introspection_request_free(r);
    reftoken_introspection_request_free(NULL);
}

static int b64url_decode(const char *in, size_t n, unsigned char *out) {
    char buf[1024];
    size_t j = 0;
    for (size_t i = 0; i < n && j < sizeof buf - 4; i++) buf[j++] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
    while (j % 4) buf[j++] = '=';
    int len = EVP_DecodeBlock(out, (unsigned char *)buf, (int)j);
    if (len < 0) return -1;
    while (j > 0 && buf[--j] == '=') len--;
    return len;
}

/* Signs with RefToken, verifies with OpenSSL. */
static void test_jwt(void) {
    EVP_PKEY *pkey = EVP_RSA_gen(2048);
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL);
    char *pem = NULL;
    long pem_len = BIO_get_mem_data(bio, &pem);
    reftoken_signing_key *key = NULL;
    CHECK_STATUS(reftoken_signing_key_new_from_pem(pem, (size_t)pem_len, REFTOKEN_JWT_ALG_RS256, S("k1"), &key), REFTOKEN_OK);
    const char *resp = "{\"active\":true,\"scope\":\"api1.read\"}";
    char jwt[4096];
    size_t len = 0;
    CHECK_STATUS(reftoken_introspection_jwt(key, S("https://idp"), S("api1"), 1740830400, resp, strlen(resp), jwt, sizeof jwt, &len), REFTOKEN_OK);
    jwt[len] = '\0';
    char *dot1 = strchr(jwt, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    CHECK(dot1 && dot2);
    if (dot1 && dot2) {
        unsigned char header[512], payload[1024], sig[512];
        int hl = b64url_decode(jwt, (size_t)(dot1 - jwt), header);
        int pl = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), payload);
        int sl = b64url_decode(dot2 + 1, strlen(dot2 + 1), sig);
        CHECK(hl > 0 && pl > 0 && sl == 256);
        header[hl > 0 ? hl : 0] = 0;
        payload[pl > 0 ? pl : 0] = 0;
        CHECK(strstr((char *)header, "\"typ\":\"token-introspection+jwt\"") != NULL);
        CHECK(strstr((char *)header, "\"alg\":\"RS256\"") != NULL);
        CHECK(strcmp((char *)payload, "{\"iss\":\"https://idp\",\"iat\":1740830400,\"aud\":\"api1\",\"token_introspection\":"
                                      "{\"active\":true,\"scope\":\"api1.read\"}}") == 0);
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey);
        int ok = EVP_DigestVerify(ctx, sig, (size_t)sl, (unsigned char *)jwt, (size_t)(dot2 - jwt));
        CHECK(ok == 1);
        /* A changed payload does not verify. */
        jwt[(dot1 - jwt) + 3] ^= 1;
        EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey);
        CHECK(EVP_DigestVerify(ctx, sig, (size_t)sl, (unsigned char *)jwt, (size_t)(dot2 - jwt)) != 1);
        EVP_MD_CTX_free(ctx);
    }
    CHECK_STATUS(reftoken_signing_key_public_jwk(key, jwt, sizeof jwt, &len), REFTOKEN_OK);
    jwt[len] = '\0';
    CHECK(strstr(jwt, "\"kty\":\"RSA\"") != NULL && strstr(jwt, "\"d\"") == NULL);
    CHECK_STATUS(reftoken_introspection_jwt(key, S("i"), S("a"), 0, S("{not json"), jwt, sizeof jwt, &len), REFTOKEN_MALFORMED_INPUT);
    reftoken_signing_key_free(key);
    reftoken_signing_key_free(NULL);
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    CHECK_STATUS(reftoken_signing_key_new_from_pem(S("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), REFTOKEN_JWT_ALG_RS256, NULL, 0, &key),
                 REFTOKEN_MALFORMED_INPUT);
    CHECK(key == NULL);
    /* A public JWK cannot sign; text that is not JSON is malformed. */
    CHECK_STATUS(reftoken_signing_key_new_from_jwk(S("{\"kty\":\"EC\"}"), REFTOKEN_JWT_ALG_ES256, NULL, 0, &key), REFTOKEN_INVALID_ARGUMENT);
    CHECK_STATUS(reftoken_signing_key_new_from_jwk(S("{not json"), REFTOKEN_JWT_ALG_ES256, NULL, 0, &key), REFTOKEN_MALFORMED_INPUT);
}

void test_services(void) {
    test_keyring();
    test_secrets();
    test_basic();
    test_request();
    test_jwt();
}

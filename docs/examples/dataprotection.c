/* Data Protection: read and write the protected Data column that IdentityServer writes by
 * default, with the host's ASP.NET Core key ring.
 *
 *   dataprotection                 uses the key below, as a database would hold it
 *   dataprotection DIR APP_NAME    uses the key files in DIR (PersistKeysToFileSystem) and the
 *                                  host's application name (SetApplicationName) */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <reftoken.h>

/* One <key> element, as EF Core's DataProtectionKeys.Xml column (or a key file) holds it. */
static const char key_xml[] =
    "<key id=\"5f779e89-4a80-4fc6-9430-64ac8d634d76\" version=\"1\">"
    "<creationDate>2025-01-01T00:00:00Z</creationDate>"
    "<activationDate>2025-01-01T00:00:00Z</activationDate>"
    "<expirationDate>2100-01-01T00:00:00Z</expirationDate>"
    "<descriptor deserializerType=\"Microsoft.AspNetCore.DataProtection.AuthenticatedEncryption."
    "ConfigurationModel.AuthenticatedEncryptorDescriptorDeserializer, Microsoft.AspNetCore.DataProtection\">"
    "<descriptor><encryption algorithm=\"AES_256_CBC\" /><validation algorithm=\"HMACSHA256\" />"
    "<masterKey p4:requiresEncryption=\"true\" xmlns:p4=\"http://schemas.asp.net/2015/03/dataProtection\">"
    "<value>FI7UDkqJ1H8Sr0sPX4OCr+GF5AwInm34llhND8xHCG8IsJtrbrPcUfbfazDJ0mBL7wNaVHm4ZxLyeNae1Qmtdg==</value>"
    "</masterKey></descriptor></descriptor></key>";

static int fail(reftoken_status st, const char *what) {
    char why[256];
    size_t len;
    if (reftoken_last_error(why, sizeof why, &len) != REFTOKEN_OK) why[0] = '\0';
    fprintf(stderr, "dataprotection: %s: %s: %s\n", what, reftoken_status_str(st), why);
    return 1;
}

int main(int argc, char **argv) {
    reftoken_keyring *ring = NULL;
    reftoken_grant *token = NULL;
    reftoken_status st;
    const int64_t now = (int64_t)time(NULL);
    char key_id[37], data[8192], response[4096], payload[512], text[64];
    size_t len;
    int rc = 1;
    const reftoken_caller api = {REFTOKEN_CALLER_API, {"api1", 4}, {"api1.read", 9}};
    const reftoken_str purpose = {"MyPurpose", 9};

    /* The key ring, loaded once and shared by every thread. */
    if (argc == 3) {
        st = reftoken_keyring_new_from_dir(argv[1], strlen(argv[1]), argv[2], strlen(argv[2]), &ring);
    } else {
        const reftoken_str element = {key_xml, sizeof key_xml - 1};
        st = reftoken_keyring_new_from_xml(&element, 1, "my-idp", 6, &ring);
    }
    if (st != REFTOKEN_OK) return fail(st, "loading the key ring");
    st = reftoken_keyring_default_key_id(ring, now, key_id, sizeof key_id, &len);
    if (st != REFTOKEN_OK) { fail(st, "reftoken_keyring_default_key_id"); goto done; }
    printf("default key: %s\n", key_id);

    /* Write: the Data column of a new token, protected as IdentityServer protects it (purposes
     * [application name, "PersistentGrantSerializer"]). */
    st = reftoken_grant_new("client1", 7, "https://idp.example", 19, now, 3600, &token);
    if (st == REFTOKEN_OK) st = reftoken_grant_add_claim(token, "client_id", 9, "client1", 7, NULL, 0);
    if (st == REFTOKEN_OK) st = reftoken_grant_add_claim(token, "scope", 5, "api1.read", 9, NULL, 0);
    if (st == REFTOKEN_OK) st = reftoken_grant_add_claim(token, "sub", 3, "alice", 5, NULL, 0);
    if (st == REFTOKEN_OK) st = reftoken_grant_data_protected(token, ring, now, data, sizeof data, &len);
    if (st != REFTOKEN_OK) { fail(st, "protecting the grant"); goto done; }
    printf("Data: %.100s...\n", data);

    /* Read: the host's rows (and ours) unprotect with the same key ring and application name. */
    st = reftoken_introspect_data(data, len, ring, &api, now, NULL, response, sizeof response, &len);
    if (st != REFTOKEN_OK) { fail(st, "reftoken_introspect_data"); goto done; }
    printf("introspection: %s\n", response);

    /* Any other purpose chain, as IDataProtector.Protect and Unprotect use it. */
    st = reftoken_protect(ring, &purpose, 1, "hello", 5, now, payload, sizeof payload, &len);
    if (st == REFTOKEN_OK) st = reftoken_unprotect(ring, &purpose, 1, payload, len, text, sizeof text, &len);
    if (st != REFTOKEN_OK) { fail(st, "protect and unprotect"); goto done; }
    printf("protected \"%s\" as %.24s...\n", text, payload);
    rc = 0;

done:
    reftoken_grant_free(token);
    reftoken_keyring_free(ring);
    return rc;
}

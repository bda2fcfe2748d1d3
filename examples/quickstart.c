/*
 * quickstart.c: issue a reference token into an SQLite store in IdentityServer's schema, then
 * validate its handle from another process, as an API would, against the live store.
 *
 *   quickstart [DB]                   all of it: issue, then validate in a second process,
 *                                     revoke, validate again (DB defaults to quickstart.db)
 *   quickstart issue DB               create the PersistedGrants table if needed, store a new
 *                                     token's row and print its handle
 *   quickstart validate DB HANDLE     print the introspection response API "api1" gets
 *   quickstart revoke DB HANDLE       delete the token's row, as revocation does
 *
 * Build (examples/quickstart.sh does this):
 *   cc -Iinclude -Iexamples examples/quickstart.c examples/store_sqlite.c \
 *      -Ltarget/release -lreftoken -lsqlite3 -lpthread -Wl,-rpath,$PWD/target/release
 */
#define _POSIX_C_SOURCE 200809L
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "reftoken.h"
#include "store_sqlite.h"

/* The table as Entity Framework Core creates it for IdentityServer's PersistedGrantDbContext
 * on SQLite (see examples/README.md, which also has the PostgreSQL version). */
static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS \"PersistedGrants\" (\n"
    "    \"Id\" INTEGER NOT NULL CONSTRAINT \"PK_PersistedGrants\" PRIMARY KEY AUTOINCREMENT,\n"
    "    \"Key\" TEXT NULL,\n"
    "    \"Type\" TEXT NOT NULL,\n"
    "    \"SubjectId\" TEXT NULL,\n"
    "    \"SessionId\" TEXT NULL,\n"
    "    \"ClientId\" TEXT NOT NULL,\n"
    "    \"Description\" TEXT NULL,\n"
    "    \"CreationTime\" TEXT NOT NULL,\n"
    "    \"Expiration\" TEXT NULL,\n"
    "    \"ConsumedTime\" TEXT NULL,\n"
    "    \"Data\" TEXT NOT NULL\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS \"IX_PersistedGrants_ConsumedTime\" ON \"PersistedGrants\" (\"ConsumedTime\");\n"
    "CREATE INDEX IF NOT EXISTS \"IX_PersistedGrants_Expiration\" ON \"PersistedGrants\" (\"Expiration\");\n"
    "CREATE UNIQUE INDEX IF NOT EXISTS \"IX_PersistedGrants_Key\" ON \"PersistedGrants\" (\"Key\");\n"
    "CREATE INDEX IF NOT EXISTS \"IX_PersistedGrants_SubjectId_ClientId_Type\" ON \"PersistedGrants\" "
    "(\"SubjectId\", \"ClientId\", \"Type\");\n"
    "CREATE INDEX IF NOT EXISTS \"IX_PersistedGrants_SubjectId_SessionId_Type\" ON \"PersistedGrants\" "
    "(\"SubjectId\", \"SessionId\", \"Type\");\n";

static int fail(const char *what, reftoken_status st) {
    char why[256] = "";
    size_t len;
    reftoken_last_error(why, sizeof why, &len);
    fprintf(stderr, "quickstart: %s: %s: %s\n", what, reftoken_status_str(st), why);
    return 1;
}

/* EF Core's SQLite text for a DateTime: "yyyy-MM-dd HH:mm:ss". */
static void ef_time(int64_t unix_seconds, char out[20]) {
    time_t t = (time_t)unix_seconds;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 20, "%Y-%m-%d %H:%M:%S", &tm);
}

/* Issues a token for client "client1" (user alice, scope api1.read, one hour) and stores the
 * row IdentityServer's DefaultReferenceTokenStore would write. The handle, for the client,
 * goes to `handle` (REFTOKEN_HANDLE_LEN + 1 bytes). */
static int issue(const char *db_path, char *handle) {
    char key[REFTOKEN_MAX_KEY_LEN + 1];
    size_t handle_len, key_len, len;
    reftoken_status st = reftoken_handle_new(handle, REFTOKEN_HANDLE_LEN + 1, &handle_len);
    if (st != REFTOKEN_OK) return fail("handle", st);
    st = reftoken_reference_token_key(handle, handle_len, key, sizeof key, &key_len);
    if (st != REFTOKEN_OK) return fail("store key", st);

    int64_t now = (int64_t)time(NULL);
    reftoken_grant *token = NULL;
    st = reftoken_grant_new("client1", 7, "https://idp.example", 19, now, 3600, &token);
    if (st != REFTOKEN_OK) return fail("grant", st);
    reftoken_grant_add_audience(token, "api1", 4);
    reftoken_grant_add_claim(token, "client_id", 9, "client1", 7, NULL, 0);
    reftoken_grant_add_claim(token, "scope", 5, "api1.read", 9, NULL, 0);
    reftoken_grant_add_claim(token, "sub", 3, "alice", 5, NULL, 0);
    reftoken_grant_set_description(token, "quickstart", 10);
    /* Data Protection off for the quickstart ("DataProtected":false); IdentityServer's default
     * protects it: use reftoken_grant_data_protected with the host's key ring for that. */
    char data[4096];
    st = reftoken_grant_data(token, data, sizeof data, &len);
    if (st != REFTOKEN_OK) {
        reftoken_grant_free(token);
        return fail("data", st);
    }
    char subject[256] = "";
    if (reftoken_grant_field(token, REFTOKEN_FIELD_SUBJECT_ID, subject, sizeof subject, &len) != REFTOKEN_OK) subject[0] = '\0';
    char created[20], expires[20];
    ef_time(reftoken_grant_creation_time(token), created);
    ef_time(reftoken_grant_expiration(token), expires);
    reftoken_grant_free(token);

    sqlite3 *db = NULL;
    int rc = sqlite3_open(db_path, &db);
    char *err = NULL;
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, SCHEMA, NULL, NULL, &err);
    sqlite3_stmt *ins = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "INSERT INTO \"PersistedGrants\" (\"Key\", \"Type\", \"SubjectId\", \"SessionId\", "
                                "\"ClientId\", \"Description\", \"CreationTime\", \"Expiration\", \"ConsumedTime\", "
                                "\"Data\") VALUES (?1, 'reference_token', ?2, NULL, 'client1', 'quickstart', ?3, ?4, "
                                "NULL, ?5)",
                                -1, &ins, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(ins, 1, key, (int)key_len, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, subject, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, created, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 4, expires, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 5, data, -1, SQLITE_STATIC);
        rc = sqlite3_step(ins) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    if (rc != SQLITE_OK) fprintf(stderr, "quickstart: %s: %s\n", db_path, err ? err : sqlite3_errmsg(db));
    sqlite3_free(err);
    sqlite3_finalize(ins);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : 1;
}

/* Validates a presented handle as API "api1" (scopes api1.read, api1.write) would, against
 * the store, and prints the introspection response. */
static int validate(const char *db_path, const char *handle) {
    char err[256];
    sqlite_store *store = NULL;
    if (sqlite_store_open(db_path, 2, &store, err, sizeof err) != 0) {
        fprintf(stderr, "quickstart: %s\n", err);
        return 1;
    }
    /* No key ring: the quickstart's rows are not protected. A cache of 10000 tokens, each
     * served for at most 60 seconds. */
    reftoken_validator *v = NULL;
    reftoken_status st = reftoken_validator_new(sqlite_store_lookup, store, NULL, 10000, 60, &v);
    if (st != REFTOKEN_OK) {
        sqlite_store_close(store);
        return fail("validator", st);
    }
    reftoken_caller api = {REFTOKEN_CALLER_API, {"api1", 4}, {"api1.read api1.write", 20}};
    char response[8192];
    size_t len;
    st = reftoken_validator_introspect(v, handle, strlen(handle), &api, (int64_t)time(NULL), NULL, response,
                                       sizeof response, &len);
    int code = 0;
    if (st == REFTOKEN_OK) {
        printf("%s\n", response);
    } else {
        code = fail("introspect", st);
        if (st == REFTOKEN_IO_ERROR) {
            sqlite_store_last_error(store, err, sizeof err);
            fprintf(stderr, "quickstart: %s\n", err);
        }
    }
    reftoken_validator_free(v);
    sqlite_store_close(store);
    return code;
}

static int revoke(const char *db_path, const char *handle) {
    char key[REFTOKEN_MAX_KEY_LEN + 1];
    size_t key_len;
    reftoken_status st = reftoken_reference_token_key(handle, strlen(handle), key, sizeof key, &key_len);
    if (st != REFTOKEN_OK) return fail("store key", st);
    sqlite3 *db = NULL;
    sqlite3_stmt *del = NULL;
    int rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, "DELETE FROM \"PersistedGrants\" WHERE \"Key\" = ?1", -1, &del, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(del, 1, key, (int)key_len, SQLITE_STATIC);
        rc = sqlite3_step(del) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    if (rc != SQLITE_OK) fprintf(stderr, "quickstart: %s: %s\n", db_path, sqlite3_errmsg(db));
    else printf("deleted %d row(s)\n", sqlite3_changes(db));
    sqlite3_finalize(del);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : 1;
}

/* Runs this program again as `self verb db handle` in a new process, as a separate service
 * would; returns its exit code. */
static int run_again(const char *self, const char *verb, const char *db, const char *handle) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("quickstart: fork");
        return 1;
    }
    if (pid == 0) {
        char *args[] = {(char *)self, (char *)verb, (char *)db, (char *)handle, NULL};
        execv("/proc/self/exe", args);
        execv(self, args);
        perror("quickstart: exec");
        _exit(127);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) < 0) return 1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv) {
    if (reftoken_abi_version() != REFTOKEN_ABI_VERSION) {
        fprintf(stderr, "quickstart: libreftoken's ABI version differs from reftoken.h's\n");
        return 1;
    }
    if (argc == 3 && strcmp(argv[1], "issue") == 0) {
        char handle[REFTOKEN_HANDLE_LEN + 1];
        if (issue(argv[2], handle) != 0) return 1;
        printf("%s\n", handle);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "validate") == 0) return validate(argv[2], argv[3]);
    if (argc == 4 && strcmp(argv[1], "revoke") == 0) return revoke(argv[2], argv[3]);
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: %s [DB] | issue DB | validate DB HANDLE | revoke DB HANDLE\n", argv[0]);
        return 2;
    }
    const char *db = argc == 2 ? argv[1] : "quickstart.db";

    /* 1. The identity provider issues a token: its row goes into the store, the handle to the
     *    client. */
    printf("1. issue: a reference token for client1 (sub alice, scope api1.read) into %s\n   handle: ", db);
    fflush(stdout);
    char handle[REFTOKEN_HANDLE_LEN + 1];
    if (issue(db, handle) != 0) return 1;
    printf("%s\n", handle);

    /* 2. An API receives the handle and validates it against the store, in another process. */
    printf("2. validate (another process, API api1): ");
    if (run_again(argv[0], "validate", db, handle) != 0) return 1;

    /* 3. Revocation deletes the row; the next validation finds nothing. */
    printf("3. revoke: ");
    if (run_again(argv[0], "revoke", db, handle) != 0) return 1;
    printf("4. validate again: ");
    if (run_again(argv[0], "validate", db, handle) != 0) return 1;
    return 0;
}

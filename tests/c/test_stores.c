/* C harness: validating handles against the live store through the example store adapters
 * (examples/store_sqlite.c, examples/store_postgres.c) and the validator's cache.
 *
 * - Every row a real Duende IdentityServer 7.4.8 wrote (tests/fixtures/duende, Data
 *   Protection on) introspects through the SQLite adapter exactly as Duende answered
 *   (store-cases.tsv is generated from introspection.json, see cli/tests/store_cases.rs),
 *   twice: from the store, then from the cache.
 * - The same rows copied into PostgreSQL (REFTOKEN_TEST_POSTGRES; required when CI=true).
 * - Revoked (deleted) and expired rows are refused; the cache never serves a token past its
 *   expiry, its time to live or its eviction (a fake clock through `now`).
 * - A load test: threads validating valid, expired, unknown and malformed handles against
 *   SQLite through the cache, every count checked exactly. */
#define _GNU_SOURCE
#include "reftoken.h"
#include "harness.h"
#include "store_postgres.h"
#include "store_sqlite.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#ifndef FIXTURES_DIR
#error "FIXTURES_DIR must name tests/fixtures/duende"
#endif
#ifndef STORE_CASES
#error "STORE_CASES must name tests/c/store-cases.tsv"
#endif

#define S(lit) lit, sizeof(lit) - 1
#define NOW 1740830400 /* 2025-03-01T12:00:00Z: the fixtures' clock */

/* ---- the fixture cases --------------------------------------------------------------- */

typedef struct store_case {
    char *name, *db, *handle, *kind, *caller, *scopes, *body;
    int64_t now;
    int status, has_row;
} store_case;

static store_case *cases;
static size_t n_cases;
static char enabled_clients[512];
static char **case_lines;

static void load_cases(void) {
    FILE *f = fopen(STORE_CASES, "r");
    CHECK(f != NULL);
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    size_t room = 0;
    while (harness_case_line(f, &line, &cap, enabled_clients, sizeof enabled_clients)) {
        if (n_cases == room) {
            room = room ? 2 * room : 256;
            cases = realloc(cases, room * sizeof *cases);
            case_lines = realloc(case_lines, room * sizeof *case_lines);
        }
        char *own = strdup(line), *fld[10];
        if (harness_split_tabs(own, fld, 10) != 10) {
            CHECK(!"a store case has 10 fields");
            free(own);
            continue;
        }
        case_lines[n_cases] = own;
        cases[n_cases++] = (store_case){fld[0], fld[1], fld[2], fld[3], fld[4], fld[5], fld[9],
                                        strtoll(fld[6], NULL, 10), atoi(fld[7]), atoi(fld[8])};
    }
    free(line);
    fclose(f);
}

static void free_cases(void) {
    for (size_t i = 0; i < n_cases; i++) free(case_lines[i]);
    free(case_lines);
    free(cases);
    cases = NULL;
    case_lines = NULL;
    n_cases = 0;
}

static reftoken_caller case_caller(const store_case *c) {
    reftoken_caller caller = {strcmp(c->kind, "api") == 0 ? REFTOKEN_CALLER_API : REFTOKEN_CALLER_CLIENT,
                              {c->caller, strlen(c->caller)},
                              {c->scopes, strlen(c->scopes)}};
    return caller;
}

/* Introspects every case with the validator of its database, through
 * reftoken_validator_check and reftoken_validator_introspect; returns how many matched Duende
 * both ways (a 500 matches as REFTOKEN_MALFORMED_INPUT). */
static size_t run_cases(const char *label, reftoken_validator *protected_v, reftoken_validator *unprotected_v,
                        int quiet) {
    reftoken_options opts;
    memset(&opts, 0, sizeof opts); /* later fields: NULL callbacks, IdentityServer's defaults */
    opts.identityserver_version = REFTOKEN_IDENTITYSERVER_LATEST;
    opts.client_enabled = harness_client_listed;
    opts.client_enabled_ctx = enabled_clients;
    char *out = malloc(1 << 16);
    size_t matched = 0;
    for (size_t i = 0; i < n_cases; i++) {
        const store_case *c = &cases[i];
        reftoken_validator *v = strcmp(c->db, "protected") == 0 ? protected_v : unprotected_v;
        reftoken_caller caller = case_caller(c);
        /* reftoken_validator_check first, so the response the cache keeps is the one it
         * built: Duende's answer for the handle as a reference token (a refresh token's
         * handle is none), with a verdict that agrees. */
        int refresh = strstr(c->body, "\"token_type\":\"refresh_token\"") != NULL;
        const char *want = refresh ? "{\"active\":false}" : c->body;
        reftoken_verdict verdict;
        size_t clen = 0;
        reftoken_status cst = reftoken_validator_check(v, c->handle, strlen(c->handle), &caller, c->now, &opts, NULL,
                                                       &verdict, out, 1 << 16, &clen);
        int cok = c->status == 500 ? cst == REFTOKEN_MALFORMED_INPUT
                                   : cst == REFTOKEN_OK && clen == strlen(want) && memcmp(out, want, clen) == 0 &&
                                         verdict.active == (strcmp(want, "{\"active\":false}") != 0);
        if (!cok && !quiet)
            fprintf(stderr, "%s %s (check): %s %.*s\n  Duende: %d %s\n", label, c->name, reftoken_status_str(cst),
                    cst == REFTOKEN_OK ? (int)clen : 0, out, c->status, want);
        size_t len = 0;
        reftoken_status st = reftoken_validator_introspect(v, c->handle, strlen(c->handle), &caller, c->now, &opts,
                                                           out, 1 << 16, &len);
        int ok;
        if (c->status == 500) {
            ok = st == REFTOKEN_MALFORMED_INPUT;
        } else {
            ok = st == REFTOKEN_OK && len == strlen(c->body) && memcmp(out, c->body, len) == 0;
        }
        if (!ok && !quiet)
            fprintf(stderr, "%s %s: %s %.*s\n  Duende: %d %s\n", label, c->name, reftoken_status_str(st),
                    st == REFTOKEN_OK ? (int)len : 0, out, c->status, c->body);
        matched += ok && cok;
    }
    free(out);
    return matched;
}

/* Counts lookups on the way to a store adapter. */
typedef struct counting_lookup {
    reftoken_lookup_fn inner;
    void *ctx;
    long lookups;
} counting_lookup;

static reftoken_status count_lookup(void *ctx, const char *key, size_t key_len, reftoken_row *row) {
    counting_lookup *c = ctx;
    __atomic_fetch_add(&c->lookups, 1, __ATOMIC_RELAXED);
    return c->inner(c->ctx, key, key_len, row);
}

static long lookups(counting_lookup *c) { return __atomic_load_n(&c->lookups, __ATOMIC_RELAXED); }

static reftoken_keyring *fixture_keyring(void) {
    reftoken_keyring *ring = NULL;
    const char *dir = FIXTURES_DIR "/keyring";
    CHECK_STATUS(reftoken_keyring_new_from_dir(dir, strlen(dir), S("reftoken-fixtures"), &ring), REFTOKEN_OK);
    return ring;
}

/* ---- SQLite: Duende's own databases --------------------------------------------------- */

static void test_sqlite_fixtures(void) {
    char err[256];
    sqlite_store *sp = NULL, *su = NULL;
    CHECK(sqlite_store_open(FIXTURES_DIR "/persisted-grants.db", 2, &sp, err, sizeof err) == 0);
    CHECK(sqlite_store_open(FIXTURES_DIR "/persisted-grants-unprotected.db", 2, &su, err, sizeof err) == 0);
    if (!sp || !su) {
        fprintf(stderr, "sqlite store: %s\n", err);
        sqlite_store_close(sp);
        sqlite_store_close(su);
        return;
    }
    reftoken_keyring *ring = fixture_keyring();
    counting_lookup cp = {sqlite_store_lookup, sp, 0}, cu = {sqlite_store_lookup, su, 0};
    reftoken_validator *vp = NULL, *vu = NULL;
    CHECK_STATUS(reftoken_validator_new(count_lookup, &cp, ring, 1000, 3600, &vp), REFTOKEN_OK);
    CHECK_STATUS(reftoken_validator_new(count_lookup, &cu, ring, 1000, 3600, &vu), REFTOKEN_OK);
    /* The validator keeps its own reference to the key ring. */
    reftoken_keyring_free(ring);

    size_t first = run_cases("sqlite", vp, vu, 0);
    long store_lookups = lookups(&cp) + lookups(&cu);
    size_t cached = reftoken_validator_cached(vp) + reftoken_validator_cached(vu);
    size_t second = run_cases("sqlite (cached)", vp, vu, 0);
    long more_lookups = lookups(&cp) + lookups(&cu) - store_lookups;
    CHECK(n_cases >= 165);
    CHECK(first == n_cases);
    CHECK(second == n_cases);
    /* The second pass asked the store again only for handles not cached: those without a
     * readable token, and tokens expired at their case's time. */
    CHECK(cached >= 50);
    CHECK(more_lookups > 0 && more_lookups < store_lookups);
    printf("stores: sqlite: %zu of %zu Duende introspections reproduced (%ld lookups, then %ld with %zu cached)\n",
           first, n_cases, store_lookups, more_lookups, cached);

    /* A store that is not a database, or has no PersistedGrants table. */
    sqlite_store *bad = NULL;
    CHECK(sqlite_store_open(FIXTURES_DIR "/no-such.db", 1, &bad, err, sizeof err) == -1 && bad == NULL);
    CHECK(sqlite_store_open(FIXTURES_DIR "/README.md", 1, &bad, err, sizeof err) == -1 && bad == NULL);
    CHECK(sqlite_store_open(NULL, 1, &bad, NULL, 0) == -1);
    sqlite_store_close(NULL);

    reftoken_validator_free(vp);
    reftoken_validator_free(vu);
    sqlite_store_close(sp);
    sqlite_store_close(su);
}

/* ---- a writable SQLite store --------------------------------------------------------- */

static const char STORE_SCHEMA[] =
    "CREATE TABLE \"PersistedGrants\" ("
    "\"Id\" INTEGER NOT NULL CONSTRAINT \"PK_PersistedGrants\" PRIMARY KEY AUTOINCREMENT,"
    "\"Key\" TEXT NULL, \"Type\" TEXT NOT NULL, \"SubjectId\" TEXT NULL, \"SessionId\" TEXT NULL,"
    "\"ClientId\" TEXT NOT NULL, \"Description\" TEXT NULL, \"CreationTime\" TEXT NOT NULL,"
    "\"Expiration\" TEXT NULL, \"ConsumedTime\" TEXT NULL, \"Data\" TEXT NOT NULL);"
    "CREATE UNIQUE INDEX \"IX_PersistedGrants_Key\" ON \"PersistedGrants\" (\"Key\");";

typedef struct temp_db {
    char dir[64];
    char path[96];
    sqlite3 *db; /* a writer, as IdentityServer is */
} temp_db;

static int temp_db_create(temp_db *t) {
    snprintf(t->dir, sizeof t->dir, "%s", "/tmp/reftoken-c-XXXXXX");
    if (!mkdtemp(t->dir)) return -1;
    snprintf(t->path, sizeof t->path, "%s/grants.db", t->dir);
    if (sqlite3_open(t->path, &t->db) != SQLITE_OK) return -1;
    /* WAL: readers (the adapter's connections) and the writer do not block each other. */
    return sqlite3_exec(t->db, "PRAGMA journal_mode=WAL;", NULL, NULL, NULL) == SQLITE_OK &&
                   sqlite3_exec(t->db, STORE_SCHEMA, NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : -1;
}

static void temp_db_remove(temp_db *t) {
    sqlite3_close(t->db);
    char p[128];
    const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", t->path, suffixes[i]);
        unlink(p);
    }
    rmdir(t->dir);
}

/* The adapter over `t`'s database with `max_connections`; on failure (NULL) it says why and
 * removes `t`. */
static sqlite_store *temp_db_open(temp_db *t, unsigned max_connections) {
    char err[256];
    sqlite_store *store = NULL;
    CHECK(sqlite_store_open(t->path, max_connections, &store, err, sizeof err) == 0);
    if (!store) {
        fprintf(stderr, "%s\n", err);
        temp_db_remove(t);
    }
    return store;
}

/* Issues a token for client1 (scope api1.read) created at `created` living `lifetime`
 * seconds, stores its row, and writes its handle (REFTOKEN_HANDLE_LEN + 1 bytes). */
static int store_token(sqlite3 *db, int64_t created, int32_t lifetime, char *handle) {
    char key[REFTOKEN_MAX_KEY_LEN + 1], data[4096];
    size_t hlen, klen, dlen;
    reftoken_grant *g = NULL;
    if (reftoken_handle_new(handle, REFTOKEN_HANDLE_LEN + 1, &hlen) != REFTOKEN_OK ||
        reftoken_reference_token_key(handle, hlen, key, sizeof key, &klen) != REFTOKEN_OK ||
        reftoken_grant_new(S("client1"), S("https://idp.example"), created, lifetime, &g) != REFTOKEN_OK)
        return -1;
    reftoken_grant_add_audience(g, S("api1"));
    reftoken_grant_add_claim(g, S("client_id"), S("client1"), NULL, 0);
    reftoken_grant_add_claim(g, S("scope"), S("api1.read"), NULL, 0);
    reftoken_grant_add_claim(g, S("sub"), S("alice"), NULL, 0);
    reftoken_status st = reftoken_grant_data(g, data, sizeof data, &dlen);
    reftoken_grant_free(g);
    if (st != REFTOKEN_OK) return -1;
    sqlite3_stmt *ins = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO \"PersistedGrants\" (\"Key\", \"Type\", \"SubjectId\", \"ClientId\", "
                                "\"CreationTime\", \"Data\") VALUES (?1, 'reference_token', 'alice', 'client1', "
                                "'2025-03-01 12:00:00', ?2)",
                                -1, &ins, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(ins, 1, key, (int)klen, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, data, (int)dlen, SQLITE_STATIC);
        rc = sqlite3_step(ins) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(ins);
    return rc == SQLITE_OK ? 0 : -1;
}

/* Deletes a handle's row, as revocation (or IdentityServer's token cleanup) does. */
static int delete_token(sqlite3 *db, const char *handle) {
    char key[REFTOKEN_MAX_KEY_LEN + 1];
    size_t klen;
    sqlite3_stmt *del = NULL;
    if (reftoken_reference_token_key(handle, strlen(handle), key, sizeof key, &klen) != REFTOKEN_OK) return -1;
    int rc = sqlite3_prepare_v2(db, "DELETE FROM \"PersistedGrants\" WHERE \"Key\" = ?1", -1, &del, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(del, 1, key, (int)klen, SQLITE_STATIC);
        rc = sqlite3_step(del) == SQLITE_DONE && sqlite3_changes(db) == 1 ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(del);
    return rc == SQLITE_OK ? 0 : -1;
}

static const reftoken_caller API1 = {REFTOKEN_CALLER_API, {"api1", 4}, {"api1.read", 9}};

/* Validates at `now`: 1 active, 0 inactive (reason in *reason), -1 failure. */
static int validate_at(reftoken_validator *v, const char *handle, int64_t now, uint32_t *reason) {
    reftoken_verdict verdict;
    reftoken_status st = reftoken_validator_validate(v, handle, strlen(handle), &API1, now, NULL, NULL, &verdict);
    if (st != REFTOKEN_OK) return -1;
    if (reason) *reason = verdict.reason;
    return verdict.active ? 1 : 0;
}

static void test_revocation_expiry_and_cache(void) {
    temp_db t;
    CHECK(temp_db_create(&t) == 0);
    sqlite_store *store = temp_db_open(&t, 2);
    if (!store) return;
    counting_lookup cl = {sqlite_store_lookup, store, 0};
    const int64_t T = NOW;
    uint32_t why = 0;
    char h1[REFTOKEN_HANDLE_LEN + 1], h2[REFTOKEN_HANDLE_LEN + 1], h3[REFTOKEN_HANDLE_LEN + 1],
        h4[REFTOKEN_HANDLE_LEN + 1], h5[REFTOKEN_HANDLE_LEN + 1];
    CHECK(store_token(t.db, T, 3600, h1) == 0);
    CHECK(store_token(t.db, T, 3600, h2) == 0);
    CHECK(store_token(t.db, T, 10, h3) == 0);
    CHECK(store_token(t.db, T - 7200, 3600, h4) == 0); /* expired an hour ago */
    CHECK(store_token(t.db, T, 3600, h5) == 0);

    /* Without a cache, revocation (deleting the row) takes effect at once. */
    reftoken_validator *nocache = NULL;
    CHECK_STATUS(reftoken_validator_new(sqlite_store_lookup, store, NULL, 0, 0, &nocache), REFTOKEN_OK);
    CHECK(validate_at(nocache, h5, T, &why) == 1);
    CHECK(delete_token(t.db, h5) == 0);
    CHECK(validate_at(nocache, h5, T, &why) == 0 && why == REFTOKEN_INACTIVE_UNKNOWN_HANDLE);
    /* Expired rows are refused (and not deleted: the next call finds the row again). */
    CHECK(validate_at(nocache, h4, T, &why) == 0 && why == REFTOKEN_INACTIVE_EXPIRED);
    CHECK(validate_at(nocache, h4, T, &why) == 0 && why == REFTOKEN_INACTIVE_EXPIRED);
    CHECK(reftoken_validator_cached(nocache) == 0);
    reftoken_validator_free(nocache);

    /* With a cache serving entries for at most 30 seconds. */
    reftoken_validator *v = NULL;
    CHECK_STATUS(reftoken_validator_new(count_lookup, &cl, NULL, 100, 30, &v), REFTOKEN_OK);
    CHECK(validate_at(v, h1, T, &why) == 1 && why == REFTOKEN_ACTIVE);
    CHECK(validate_at(v, h1, T + 10, &why) == 1);
    CHECK(lookups(&cl) == 1); /* the second from the cache */
    /* Revoked: the cache may serve it until its time to live, never after. */
    CHECK(delete_token(t.db, h1) == 0);
    CHECK(validate_at(v, h1, T + 30, &why) == 1);
    CHECK(validate_at(v, h1, T + 31, &why) == 0 && why == REFTOKEN_INACTIVE_UNKNOWN_HANDLE);
    CHECK(lookups(&cl) == 2);
    CHECK(validate_at(v, h1, T + 31, &why) == 0); /* not found is never cached */
    CHECK(lookups(&cl) == 3);

    /* Revoked and evicted by store key: gone at once. */
    CHECK(validate_at(v, h2, T, &why) == 1);
    CHECK(validate_at(v, h2, T + 1, &why) == 1);
    CHECK(lookups(&cl) == 4);
    CHECK(delete_token(t.db, h2) == 0);
    char key[REFTOKEN_MAX_KEY_LEN + 1];
    size_t klen;
    CHECK_STATUS(reftoken_reference_token_key(h2, strlen(h2), key, sizeof key, &klen), REFTOKEN_OK);
    size_t before = reftoken_validator_cached(v);
    CHECK_STATUS(reftoken_validator_evict(v, key, klen), REFTOKEN_OK);
    CHECK(reftoken_validator_cached(v) == before - 1);
    CHECK_STATUS(reftoken_validator_evict(v, key, klen), REFTOKEN_OK); /* absent: still OK */
    CHECK(validate_at(v, h2, T + 2, &why) == 0 && why == REFTOKEN_INACTIVE_UNKNOWN_HANDLE);

    /* Expiry: a 10-second token is served from the cache up to its expiry, never after, even
     * though the cache's time to live is longer. */
    CHECK(validate_at(v, h3, T, &why) == 1);
    long n = lookups(&cl);
    CHECK(validate_at(v, h3, T + 10, &why) == 1); /* now == expiry: still active */
    CHECK(lookups(&cl) == n);
    CHECK(validate_at(v, h3, T + 11, &why) == 0 && why == REFTOKEN_INACTIVE_EXPIRED);
    CHECK(lookups(&cl) == n + 1); /* the entry was dropped, the store asked */
    /* ...and when its row is gone too, nothing is served at all. */
    CHECK(delete_token(t.db, h3) == 0);
    CHECK(validate_at(v, h3, T + 5, &why) == 0 && why == REFTOKEN_INACTIVE_UNKNOWN_HANDLE);

    /* An expired row is never cached. */
    n = lookups(&cl);
    CHECK(validate_at(v, h4, T, &why) == 0 && why == REFTOKEN_INACTIVE_EXPIRED);
    CHECK(validate_at(v, h4, T, &why) == 0 && why == REFTOKEN_INACTIVE_EXPIRED);
    CHECK(lookups(&cl) == n + 2);

    /* Clear forgets everything. */
    char h6[REFTOKEN_HANDLE_LEN + 1];
    CHECK(store_token(t.db, T, 3600, h6) == 0);
    CHECK(validate_at(v, h6, T, &why) == 1);
    CHECK(reftoken_validator_cached(v) >= 1);
    CHECK_STATUS(reftoken_validator_clear(v), REFTOKEN_OK);
    CHECK(reftoken_validator_cached(v) == 0);
    CHECK(delete_token(t.db, h6) == 0);
    CHECK(validate_at(v, h6, T, &why) == 0);

    /* The store's failures reach the caller as the lookup's status. */
    sqlite3_exec(t.db, "DROP TABLE \"PersistedGrants\"", NULL, NULL, NULL);
    reftoken_verdict verdict;
    char h7[REFTOKEN_HANDLE_LEN + 1];
    size_t hlen;
    CHECK_STATUS(reftoken_handle_new(h7, sizeof h7, &hlen), REFTOKEN_OK);
    CHECK_STATUS(reftoken_validator_validate(v, h7, hlen, &API1, T, NULL, NULL, &verdict), REFTOKEN_IO_ERROR);
    char err[256];
    sqlite_store_last_error(store, err, sizeof err);
    CHECK(strstr(err, "PersistedGrants") != NULL);

    reftoken_validator_free(v);
    sqlite_store_close(store);
    temp_db_remove(&t);
}

/* ---- load ------------------------------------------------------------------------------ */

#define LOAD_THREADS 8
#define LOAD_VALID 40
#define LOAD_EXPIRED 10
#define LOAD_UNKNOWN 10
#define LOAD_MALFORMED 6
#define LOAD_HANDLES (LOAD_VALID + LOAD_EXPIRED + LOAD_UNKNOWN + LOAD_MALFORMED)

enum { KIND_VALID, KIND_EXPIRED, KIND_UNKNOWN, KIND_MALFORMED };

typedef struct load_shared {
    reftoken_validator *v;
    char handles[LOAD_HANDLES][128];
    int kind[LOAD_HANDLES];
    int iterations;
} load_shared;

typedef struct load_thread {
    load_shared *shared;
    int index;
    long counts[4];  /* answers by the kind of handle asked */
    long active;     /* answers that were active */
    long wrong;      /* answers that did not fit the handle's kind */
    long failed;     /* calls that did not return REFTOKEN_OK */
} load_thread;

static void *load_worker(void *arg) {
    load_thread *t = arg;
    load_shared *s = t->shared;
    char json[4096];
    for (int it = 0; it < s->iterations; it++) {
        for (int j = 0; j < LOAD_HANDLES; j++) {
            /* Each thread walks the handles from another starting point. */
            int i = (j + t->index * 7 + it) % LOAD_HANDLES;
            const char *h = s->handles[i];
            int kind = s->kind[i];
            int ok;
            if ((it + j) % 4 == 0) {
                size_t len;
                reftoken_status st =
                    reftoken_validator_introspect(s->v, h, strlen(h), &API1, NOW, NULL, json, sizeof json, &len);
                if (st != REFTOKEN_OK) {
                    t->failed++;
                    continue;
                }
                int active = strstr(json, "\"active\":true") != NULL;
                t->active += active;
                ok = kind == KIND_VALID ? active && strncmp(json, "{\"iss\":", 7) == 0
                                        : strcmp(json, "{\"active\":false}") == 0;
            } else {
                reftoken_verdict verdict;
                reftoken_status st = reftoken_validator_validate(s->v, h, strlen(h), &API1, NOW, NULL, NULL, &verdict);
                if (st != REFTOKEN_OK) {
                    t->failed++;
                    continue;
                }
                t->active += verdict.active;
                switch (kind) {
                case KIND_VALID: ok = verdict.active && verdict.expiration == NOW + 3600; break;
                case KIND_EXPIRED: ok = !verdict.active && verdict.reason == REFTOKEN_INACTIVE_EXPIRED; break;
                default: ok = !verdict.active && verdict.reason == REFTOKEN_INACTIVE_UNKNOWN_HANDLE; break;
                }
            }
            t->counts[kind]++;
            t->wrong += !ok;
        }
    }
    return NULL;
}

static int load_iterations(void) {
    const char *env = getenv("REFTOKEN_LOAD_ITERATIONS");
    if (env && atoi(env) > 0) return atoi(env);
#ifdef HAVE_VALGRIND_H
    if (RUNNING_ON_VALGRIND) return 3;
#endif
    return 200;
}

static void test_load(void) {
    temp_db t;
    CHECK(temp_db_create(&t) == 0);
    static load_shared s;
    memset(&s, 0, sizeof s);
    s.iterations = load_iterations();
    int n = 0;
    for (int i = 0; i < LOAD_VALID; i++, n++) {
        s.kind[n] = KIND_VALID;
        CHECK(store_token(t.db, NOW, 3600, s.handles[n]) == 0);
    }
    for (int i = 0; i < LOAD_EXPIRED; i++, n++) {
        s.kind[n] = KIND_EXPIRED;
        CHECK(store_token(t.db, NOW - 7200 - i, 3600, s.handles[n]) == 0);
    }
    for (int i = 0; i < LOAD_UNKNOWN; i++, n++) {
        size_t len;
        s.kind[n] = KIND_UNKNOWN;
        CHECK_STATUS(reftoken_handle_new(s.handles[n], sizeof s.handles[n], &len), REFTOKEN_OK);
        if (i % 2) s.handles[n][len - 2] = '\0'; /* an IdentityServer4-style handle, no -1 */
    }
    const char *malformed[LOAD_MALFORMED] = {"", "not a handle", "eyJhbGciOi.eyJzdWIi.sig", "\xc3\xa9t\xc3\xa9",
                                             "AAAA\"-1", NULL};
    for (int i = 0; i < LOAD_MALFORMED; i++, n++) {
        s.kind[n] = KIND_MALFORMED;
        if (malformed[i]) {
            snprintf(s.handles[n], sizeof s.handles[n], "%s", malformed[i]);
        } else {
            memset(s.handles[n], 'A', 101); /* over IdentityServer's 100-character limit */
            s.handles[n][101] = '\0';
        }
    }
    sqlite_store *store = temp_db_open(&t, 4);
    if (!store) return;
    counting_lookup cl = {sqlite_store_lookup, store, 0};
    CHECK_STATUS(reftoken_validator_new(count_lookup, &cl, NULL, 1000, 3600, &s.v), REFTOKEN_OK);

    pthread_t threads[LOAD_THREADS];
    load_thread work[LOAD_THREADS];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < LOAD_THREADS; i++) {
        memset(&work[i], 0, sizeof work[i]);
        work[i].shared = &s;
        work[i].index = i;
        CHECK(pthread_create(&threads[i], NULL, load_worker, &work[i]) == 0);
    }
    long counts[4] = {0, 0, 0, 0}, active = 0, wrong = 0, failed = 0;
    for (int i = 0; i < LOAD_THREADS; i++) {
        pthread_join(threads[i], NULL);
        for (int k = 0; k < 4; k++) counts[k] += work[i].counts[k];
        active += work[i].active;
        wrong += work[i].wrong;
        failed += work[i].failed;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long per = (long)LOAD_THREADS * s.iterations;
    CHECK(failed == 0);
    CHECK(wrong == 0);
    CHECK(counts[KIND_VALID] == per * LOAD_VALID);
    CHECK(counts[KIND_EXPIRED] == per * LOAD_EXPIRED);
    CHECK(counts[KIND_UNKNOWN] == per * LOAD_UNKNOWN);
    CHECK(counts[KIND_MALFORMED] == per * LOAD_MALFORMED);
    CHECK(active == per * LOAD_VALID);
    /* Unknown and expired handles go to the store every time (they are never cached);
     * malformed ones never do; each valid token at least once, at most once per thread. */
    long store_calls = lookups(&cl), fixed = per * (LOAD_UNKNOWN + LOAD_EXPIRED);
    CHECK(store_calls >= fixed + LOAD_VALID && store_calls <= fixed + (long)LOAD_THREADS * LOAD_VALID);
    CHECK(reftoken_validator_cached(s.v) == LOAD_VALID);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("stores: load: %d threads, %ld validations (%ld active, %ld expired, %ld unknown, %ld malformed), "
           "%ld store lookups, %.2f s\n",
           LOAD_THREADS, per * LOAD_HANDLES, counts[KIND_VALID], counts[KIND_EXPIRED], counts[KIND_UNKNOWN],
           counts[KIND_MALFORMED], store_calls, secs);
    if (failed) {
        char why[256];
        sqlite_store_last_error(store, why, sizeof why);
        fprintf(stderr, "load: %s\n", why);
    }
    reftoken_validator_free(s.v);
    sqlite_store_close(store);
    temp_db_remove(&t);
}

/* ---- PostgreSQL ---------------------------------------------------------------------- */

/* IdentityServer's PersistedGrants table as Entity Framework Core (Npgsql) creates it. */
static const char PG_SCHEMA[] =
    "CREATE TABLE \"PersistedGrants\" ("
    "\"Id\" bigint GENERATED BY DEFAULT AS IDENTITY,"
    "\"Key\" character varying(200) NULL,"
    "\"Type\" character varying(50) NOT NULL,"
    "\"SubjectId\" character varying(200) NULL,"
    "\"SessionId\" character varying(100) NULL,"
    "\"ClientId\" character varying(200) NOT NULL,"
    "\"Description\" character varying(200) NULL,"
    "\"CreationTime\" timestamp with time zone NOT NULL,"
    "\"Expiration\" timestamp with time zone NULL,"
    "\"ConsumedTime\" timestamp with time zone NULL,"
    "\"Data\" character varying(50000) NOT NULL,"
    "CONSTRAINT \"PK_PersistedGrants\" PRIMARY KEY (\"Id\"));"
    "CREATE UNIQUE INDEX \"IX_PersistedGrants_Key\" ON \"PersistedGrants\" (\"Key\");";

static void pg_quiet(void *arg, const char *message) {
    (void)arg;
    (void)message; /* NOTICEs such as "database ... does not exist, skipping" */
}

static int pg_ok(PGconn *c, const char *sql) {
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    int ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
    if (!ok) fprintf(stderr, "postgres: %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    return ok;
}

/* Appends ` key='value'` to a conninfo string, quoted as libpq wants. */
static void conninfo_add(char *out, size_t cap, const char *key, const char *value) {
    if (!value || !*value) return;
    size_t n = strlen(out);
    n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, " %s='", key);
    for (const char *p = value; *p && n + 3 < cap; p++) {
        if (*p == '\'' || *p == '\\') out[n++] = '\\';
        out[n++] = *p;
    }
    if (n + 2 < cap) {
        out[n++] = '\'';
        out[n] = '\0';
    }
}

/* Copies both fixture databases' rows (their keys are distinct) into PostgreSQL. */
static int pg_copy_fixture_rows(PGconn *pg) {
    const char *files[] = {FIXTURES_DIR "/persisted-grants.db", FIXTURES_DIR "/persisted-grants-unprotected.db"};
    int copied = 0;
    if (!pg_ok(pg, "SET TIME ZONE 'UTC'")) return -1;
    for (int f = 0; f < 2; f++) {
        sqlite3 *db = NULL;
        sqlite3_stmt *q = NULL;
        if (sqlite3_open_v2(files[f], &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db,
                               "SELECT \"Key\", \"Type\", \"SubjectId\", \"SessionId\", \"ClientId\", \"Description\", "
                               "\"CreationTime\", \"Expiration\", \"ConsumedTime\", \"Data\" FROM \"PersistedGrants\"",
                               -1, &q, NULL) != SQLITE_OK) {
            sqlite3_close(db);
            return -1;
        }
        while (sqlite3_step(q) == SQLITE_ROW) {
            const char *v[10];
            for (int i = 0; i < 10; i++) v[i] = (const char *)sqlite3_column_text(q, i);
            PGresult *r = PQexecParams(pg,
                                       "INSERT INTO \"PersistedGrants\" (\"Key\", \"Type\", \"SubjectId\", \"SessionId\", "
                                       "\"ClientId\", \"Description\", \"CreationTime\", \"Expiration\", "
                                       "\"ConsumedTime\", \"Data\") VALUES ($1, $2, $3, $4, $5, $6, $7::timestamptz, "
                                       "$8::timestamptz, $9::timestamptz, $10)",
                                       10, NULL, v, NULL, NULL, 0);
            if (PQresultStatus(r) == PGRES_COMMAND_OK) copied++;
            else fprintf(stderr, "postgres insert: %s", PQerrorMessage(pg));
            PQclear(r);
        }
        sqlite3_finalize(q);
        sqlite3_close(db);
    }
    return copied;
}

typedef struct pg_thread {
    reftoken_validator *vp, *vu;
    size_t matched;
} pg_thread;

static void *pg_worker(void *arg) {
    pg_thread *t = arg;
    t->matched = run_cases("postgres (threads)", t->vp, t->vu, 0);
    return NULL;
}

static void test_postgres(void) {
    const char *url = getenv("REFTOKEN_TEST_POSTGRES");
    if (!url || !*url) {
        const char *ci = getenv("CI");
        if (ci && strcmp(ci, "true") == 0) {
            fprintf(stderr, "REFTOKEN_TEST_POSTGRES is not set; it is required under CI "
                            "(eval \"$(scripts/test-servers.sh start)\" sets it)\n");
            CHECK(!"REFTOKEN_TEST_POSTGRES is set under CI");
        } else {
            printf("stores: postgres SKIPPED: REFTOKEN_TEST_POSTGRES is not set "
                   "(eval \"$(scripts/test-servers.sh start)\" sets it)\n");
        }
        return;
    }
    /* GSSAPI negotiation off: the test server does not use it, and it is not what is tested. */
    const char *keys[] = {"dbname", "gssencmode", NULL};
    const char *vals[] = {url, "disable", NULL};
    PGconn *admin = PQconnectdbParams(keys, vals, 1);
    CHECK(PQstatus(admin) == CONNECTION_OK);
    PQsetNoticeProcessor(admin, pg_quiet, NULL);
    if (PQstatus(admin) != CONNECTION_OK) {
        fprintf(stderr, "postgres: %s", PQerrorMessage(admin));
        PQfinish(admin);
        return;
    }
    char name[64], sql[256];
    snprintf(name, sizeof name, "reftoken_c_%ld", (long)getpid());
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    CHECK(pg_ok(admin, sql));
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    CHECK(pg_ok(admin, sql));

    /* The test database, reached as the admin connection was. */
    char conninfo[1024] = "gssencmode=disable";
    conninfo_add(conninfo, sizeof conninfo, "host", PQhost(admin));
    conninfo_add(conninfo, sizeof conninfo, "port", PQport(admin));
    conninfo_add(conninfo, sizeof conninfo, "user", PQuser(admin));
    conninfo_add(conninfo, sizeof conninfo, "password", PQpass(admin));
    conninfo_add(conninfo, sizeof conninfo, "dbname", name);
    PGconn *pg = PQconnectdb(conninfo);
    CHECK(PQstatus(pg) == CONNECTION_OK);
    int copied = -1;
    if (PQstatus(pg) == CONNECTION_OK && pg_ok(pg, PG_SCHEMA)) copied = pg_copy_fixture_rows(pg);
    CHECK(copied >= 100);

    char err[256];
    pg_store *store = NULL;
    CHECK(pg_store_open(conninfo, 4, &store, err, sizeof err) == 0);
    if (store && copied > 0) {
        reftoken_keyring *ring = fixture_keyring();
        reftoken_validator *vp = NULL, *vu = NULL;
        /* Without a cache for the first validator: every call reaches the server. */
        CHECK_STATUS(reftoken_validator_new(pg_store_lookup, store, ring, 0, 0, &vp), REFTOKEN_OK);
        CHECK_STATUS(reftoken_validator_new(pg_store_lookup, store, ring, 1000, 3600, &vu), REFTOKEN_OK);
        reftoken_keyring_free(ring);
        size_t matched = run_cases("postgres", vp, vu, 0);
        CHECK(matched == n_cases);
        printf("stores: postgres: %zu of %zu Duende introspections reproduced (%d rows copied)\n", matched, n_cases,
               copied);

        /* Several threads at once through the pool of connections. */
        pg_thread work[4];
        pthread_t th[4];
        for (int i = 0; i < 4; i++) {
            work[i] = (pg_thread){vp, vu, 0};
            CHECK(pthread_create(&th[i], NULL, pg_worker, &work[i]) == 0);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            CHECK(work[i].matched == n_cases);
        }

        /* Revocation: the row deleted, the uncached validator refuses the handle at once. */
        const store_case *basic = NULL;
        for (size_t i = 0; i < n_cases; i++)
            if (strcmp(cases[i].name, "basic/api1") == 0) basic = &cases[i];
        CHECK(basic != NULL);
        if (basic) {
            reftoken_caller caller = case_caller(basic);
            reftoken_verdict verdict;
            CHECK_STATUS(reftoken_validator_validate(vp, basic->handle, strlen(basic->handle), &caller, NOW, NULL,
                                                     NULL, &verdict),
                         REFTOKEN_OK);
            CHECK(verdict.active);
            char key[REFTOKEN_MAX_KEY_LEN + 1];
            size_t klen;
            reftoken_reference_token_key(basic->handle, strlen(basic->handle), key, sizeof key, &klen);
            const char *params[1] = {key};
            PGresult *r = PQexecParams(pg, "DELETE FROM \"PersistedGrants\" WHERE \"Key\" = $1", 1, NULL, params,
                                       NULL, NULL, 0);
            CHECK(PQresultStatus(r) == PGRES_COMMAND_OK && strcmp(PQcmdTuples(r), "1") == 0);
            PQclear(r);
            CHECK_STATUS(reftoken_validator_validate(vp, basic->handle, strlen(basic->handle), &caller, NOW, NULL,
                                                     NULL, &verdict),
                         REFTOKEN_OK);
            CHECK(!verdict.active && verdict.reason == REFTOKEN_INACTIVE_UNKNOWN_HANDLE);
        }

        /* The server drops every connection (a restart): the pool reconnects and carries on. */
        snprintf(sql, sizeof sql,
                 "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s' AND pid <> "
                 "pg_backend_pid()",
                 name);
        CHECK(pg_ok(pg, sql));
        const store_case *c0 = &cases[0];
        reftoken_caller caller = case_caller(c0);
        reftoken_verdict verdict;
        CHECK_STATUS(reftoken_validator_validate(vp, c0->handle, strlen(c0->handle), &caller, c0->now, NULL, NULL,
                                                 &verdict),
                     REFTOKEN_OK);
        /* A store that cannot answer fails the validation with REFTOKEN_IO_ERROR: never an
         * "inactive" that would hide the outage. */
        CHECK(pg_ok(pg, "DROP TABLE \"PersistedGrants\""));
        CHECK_STATUS(reftoken_validator_validate(vp, c0->handle, strlen(c0->handle), &caller, c0->now, NULL, NULL,
                                                 &verdict),
                     REFTOKEN_IO_ERROR);
        pg_store_last_error(store, err, sizeof err);
        CHECK(strstr(err, "PersistedGrants") != NULL);

        reftoken_validator_free(vp);
        reftoken_validator_free(vu);
    } else if (!store) {
        fprintf(stderr, "postgres store: %s\n", err);
    }
    pg_store_close(store);
    PQfinish(pg);

    /* A store that cannot connect, or finds no table. */
    pg_store *bad = NULL;
    CHECK(pg_store_open("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2&gssencmode=disable", 1, &bad, err,
                        sizeof err) == -1 &&
          bad == NULL);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    CHECK(pg_ok(admin, sql));
    PQfinish(admin);
}

void test_stores(void) {
    load_cases();
    test_sqlite_fixtures();
    test_revocation_expiry_and_cache();
    test_load();
    test_postgres();
    free_cases();
}

/*
 * bench_validate.c: validations per second through the C ABI, against an SQLite store in
 * IdentityServer's schema (examples/store_sqlite.c), with a warm cache and with every
 * validation reaching the store (no cache), for plain and for Data Protection rows, four ways
 * (see MODE_NAMES).
 *
 *   bench_validate [SECONDS] [THREADS] [KEYRING_DIR APP_NAME]
 *
 * SECONDS per measurement (default 2); THREADS the largest thread count (default: the
 * number of CPUs; 1 and THREADS are measured). With a key ring that has a key active now
 * (ASP.NET Core's `PersistKeysToFileSystem` folder), rows are also written protected, as
 * IdentityServer writes them by default, and validated through it.
 *
 * Build: cc -O2 -Iinclude -Iexamples examples/bench_validate.c examples/store_sqlite.c \
 *           -Ltarget/release -lreftoken -lsqlite3 -lpthread -Wl,-rpath,$PWD/target/release
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "reftoken.h"
#include "store_sqlite.h"

#define TOKENS 10000

static char handles[TOKENS][REFTOKEN_HANDLE_LEN + 1];
static const reftoken_caller API1 = {REFTOKEN_CALLER_API, {"api1", 4}, {"api1.read api1.write", 20}};

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes TOKENS rows (protected with `ring` when not NULL) into a new database at `path`. */
static int fill(const char *path, reftoken_keyring *ring, int64_t now) {
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL;
    unlink(path);
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "CREATE TABLE \"PersistedGrants\" (\"Id\" INTEGER NOT NULL CONSTRAINT \"PK_PersistedGrants\" "
                     "PRIMARY KEY AUTOINCREMENT, \"Key\" TEXT NULL, \"Type\" TEXT NOT NULL, \"SubjectId\" TEXT NULL, "
                     "\"SessionId\" TEXT NULL, \"ClientId\" TEXT NOT NULL, \"Description\" TEXT NULL, "
                     "\"CreationTime\" TEXT NOT NULL, \"Expiration\" TEXT NULL, \"ConsumedTime\" TEXT NULL, "
                     "\"Data\" TEXT NOT NULL);"
                     "CREATE UNIQUE INDEX \"IX_PersistedGrants_Key\" ON \"PersistedGrants\" (\"Key\");"
                     "BEGIN;",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO \"PersistedGrants\" (\"Key\", \"Type\", \"SubjectId\", \"ClientId\", "
                           "\"CreationTime\", \"Data\") VALUES (?1, 'reference_token', 'alice', 'client1', "
                           "'2025-03-01 12:00:00', ?2)",
                           -1, &ins, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench: %s: %s\n", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return -1;
    }
    for (int i = 0; i < TOKENS; i++) {
        char key[REFTOKEN_MAX_KEY_LEN + 1], data[8192];
        size_t hlen, klen, dlen;
        reftoken_grant *g = NULL;
        reftoken_handle_new(handles[i], sizeof handles[i], &hlen);
        reftoken_reference_token_key(handles[i], hlen, key, sizeof key, &klen);
        reftoken_grant_new("client1", 7, "https://idp.example", 19, now - 60, 3600, &g);
        reftoken_grant_add_audience(g, "api1", 4);
        reftoken_grant_add_claim(g, "client_id", 9, "client1", 7, NULL, 0);
        reftoken_grant_add_claim(g, "scope", 5, "api1.read", 9, NULL, 0);
        reftoken_grant_add_claim(g, "sub", 3, "alice", 5, NULL, 0);
        reftoken_grant_add_claim(g, "jti", 3, handles[i], 32, NULL, 0);
        reftoken_status st = ring ? reftoken_grant_data_protected(g, ring, now, data, sizeof data, &dlen)
                                  : reftoken_grant_data(g, data, sizeof data, &dlen);
        reftoken_grant_free(g);
        if (st != REFTOKEN_OK) {
            fprintf(stderr, "bench: Data: %s\n", reftoken_status_str(st));
            sqlite3_finalize(ins);
            sqlite3_close(db);
            return -1;
        }
        sqlite3_bind_text(ins, 1, key, (int)klen, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 2, data, (int)dlen, SQLITE_TRANSIENT);
        sqlite3_step(ins);
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    return 0;
}

/* What each validation asks for. */
enum mode {
    VERDICT,    /* reftoken_validator_validate: active or not, no JSON */
    INTROSPECT, /* reftoken_validator_introspect: the JSON */
    BUILD,      /* reftoken_validator_validate with the token, then reftoken_introspect on it:
                 * the verdict and JSON built on every call */
    CHECK,      /* reftoken_validator_check with the token: the verdict and the kept JSON */
    MODES
};
static const char *const MODE_NAMES[MODES] = {"verdict", "JSON", "verdict+JSON built", "check"};

typedef struct worker {
    reftoken_validator *v;
    int64_t now;
    double until;
    unsigned seed;
    enum mode mode;
    long done, active, failed;
} worker;

static void *run(void *arg) {
    worker *w = arg;
    char out[2048];
    while (now_seconds() < w->until) {
        for (int k = 0; k < 256; k++) {
            w->seed = w->seed * 1103515245u + 12345u;
            const char *h = handles[(w->seed >> 8) % TOKENS];
            reftoken_status st;
            reftoken_verdict verdict;
            reftoken_grant *grant = NULL;
            size_t len = 0;
            switch (w->mode) {
                case VERDICT:
                    st = reftoken_validator_validate(w->v, h, REFTOKEN_HANDLE_LEN, &API1, w->now, NULL, NULL, &verdict);
                    w->active += st == REFTOKEN_OK && verdict.active;
                    break;
                case INTROSPECT:
                    st = reftoken_validator_introspect(w->v, h, REFTOKEN_HANDLE_LEN, &API1, w->now, NULL, out,
                                                       sizeof out, &len);
                    w->active += st == REFTOKEN_OK && len > 20;
                    break;
                case BUILD:
                    st = reftoken_validator_validate(w->v, h, REFTOKEN_HANDLE_LEN, &API1, w->now, NULL, &grant, &verdict);
                    if (st == REFTOKEN_OK && verdict.active)
                        st = reftoken_introspect(grant, &API1, w->now, NULL, out, sizeof out, &len);
                    w->active += st == REFTOKEN_OK && verdict.active && len > 20;
                    reftoken_grant_free(grant);
                    break;
                default:
                    st = reftoken_validator_check(w->v, h, REFTOKEN_HANDLE_LEN, &API1, w->now, NULL, &grant, &verdict,
                                                  out, sizeof out, &len);
                    w->active += st == REFTOKEN_OK && verdict.active && len > 20;
                    reftoken_grant_free(grant);
                    break;
            }
            w->failed += st != REFTOKEN_OK;
            w->done++;
        }
    }
    return NULL;
}

/* Runs `threads` workers for `seconds`; returns validations per second. */
static double measure(reftoken_validator *v, int64_t now, int threads, double seconds, enum mode mode) {
    pthread_t th[256];
    worker w[256];
    double start = now_seconds();
    for (int i = 0; i < threads; i++) {
        w[i] = (worker){v, now, start + seconds, (unsigned)(i * 7919 + 1), mode, 0, 0, 0};
        pthread_create(&th[i], NULL, run, &w[i]);
    }
    long done = 0, active = 0, failed = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        done += w[i].done;
        active += w[i].active;
        failed += w[i].failed;
    }
    double took = now_seconds() - start;
    if (failed || active != done) fprintf(stderr, "bench: %ld failed, %ld of %ld active\n", failed, active, done);
    return (double)done / took;
}

static int bench_store(const char *label, const char *path, reftoken_keyring *ring, int64_t now, int max_threads,
                       double seconds) {
    char err[256];
    sqlite_store *store = NULL;
    if (sqlite_store_open(path, (unsigned)max_threads, &store, err, sizeof err) != 0) {
        fprintf(stderr, "bench: %s\n", err);
        return -1;
    }
    reftoken_validator *cached = NULL, *uncached = NULL;
    reftoken_validator_new(sqlite_store_lookup, store, ring, TOKENS * 2, 3600, &cached);
    reftoken_validator_new(sqlite_store_lookup, store, ring, 0, 0, &uncached);
    /* Warm the cache: every token once. */
    for (int i = 0; i < TOKENS; i++) {
        reftoken_verdict verdict;
        reftoken_validator_validate(cached, handles[i], REFTOKEN_HANDLE_LEN, &API1, now, NULL, NULL, &verdict);
    }
    int counts[2] = {1, max_threads};
    for (int c = 0; c < (max_threads > 1 ? 2 : 1); c++) {
        int t = counts[c];
        for (int m = 0; m < MODES; m++) {
            printf("%-22s %2d thread%s  %-18s warm cache %11.0f/s   store, no cache %9.0f/s\n", label, t,
                   t == 1 ? " " : "s", MODE_NAMES[m], measure(cached, now, t, seconds, (enum mode)m),
                   measure(uncached, now, t, seconds, (enum mode)m));
            fflush(stdout);
        }
    }
    reftoken_validator_free(cached);
    reftoken_validator_free(uncached);
    sqlite_store_close(store);
    return 0;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = argc > 2 ? atoi(argv[2]) : (int)(cpus > 0 ? cpus : 1);
    if (seconds <= 0 || threads < 1 || threads > 256 || argc == 4 || argc > 5) {
        fprintf(stderr, "usage: %s [SECONDS] [THREADS] [KEYRING_DIR APP_NAME]\n", argv[0]);
        return 2;
    }
    int64_t now = (int64_t)time(NULL);
    char path[] = "/tmp/reftoken-bench-XXXXXX";
    if (!mkdtemp(path)) return 1;
    char db[64];
    snprintf(db, sizeof db, "%s/grants.db", path);
    printf("%d tokens in SQLite (%s), API caller, random handles; %.1f s per figure\n", TOKENS, db, seconds);

    int rc = 0;
    if (fill(db, NULL, now) != 0 || bench_store("plain rows", db, NULL, now, threads, seconds) != 0) rc = 1;
    if (argc == 5) {
        reftoken_keyring *ring = NULL;
        reftoken_status st = reftoken_keyring_new_from_dir(argv[3], strlen(argv[3]), argv[4], strlen(argv[4]), &ring);
        if (st != REFTOKEN_OK) {
            fprintf(stderr, "bench: key ring: %s\n", reftoken_status_str(st));
            rc = 1;
        } else if (fill(db, ring, now) != 0) {
            fprintf(stderr, "bench: the key ring has no key active now; protected rows skipped\n");
        } else if (bench_store("Data Protection rows", db, ring, now, threads, seconds) != 0) {
            rc = 1;
        }
        reftoken_keyring_free(ring);
    }
    unlink(db);
    rmdir(path);
    return rc;
}

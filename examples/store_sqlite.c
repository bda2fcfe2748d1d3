/*
 * store_sqlite.c: a reftoken_lookup_fn over SQLite (IdentityServer's EF Core PersistedGrants
 * table). See store_sqlite.h. Copy it into your service and build with -lsqlite3 -lpthread.
 */
#define _POSIX_C_SOURCE 200809L
#include "store_sqlite.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The lookup IdentityServer's EF Core store makes (PersistedGrantStore.GetAsync): by Key. */
static const char LOOKUP_SQL[] = "SELECT \"Type\", \"Data\" FROM \"PersistedGrants\" WHERE \"Key\" = ?1";

/* One connection and its prepared statement; used by one thread at a time. */
typedef struct sqlite_conn {
    sqlite3 *db;
    sqlite3_stmt *lookup;
} sqlite_conn;

struct sqlite_store {
    char *path;
    pthread_mutex_t mu;
    pthread_cond_t idle_cv;
    sqlite_conn **idle; /* connections not in use: a stack of n_idle */
    unsigned n_idle;
    unsigned n_open; /* idle or in use */
    unsigned max;
    char last_error[256];
};

static void set_error(sqlite_store *s, const char *what, const char *detail) {
    pthread_mutex_lock(&s->mu);
    snprintf(s->last_error, sizeof s->last_error, "%s: %s", what, detail);
    pthread_mutex_unlock(&s->mu);
}

static void conn_close(sqlite_conn *c) {
    if (!c) return;
    sqlite3_finalize(c->lookup);
    sqlite3_close(c->db);
    free(c);
}

/* Opens a connection; on failure returns NULL and writes why into err. */
static sqlite_conn *conn_open(const char *path, char *err, size_t err_cap) {
    sqlite_conn *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    /* Read-only: a validator never writes. NOMUTEX: the pool gives a connection to one
     * thread at a time, so SQLite's own per-connection mutex is not needed. */
    int rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        /* IdentityServer (or its token cleanup) may be writing: wait for its lock. */
        sqlite3_busy_timeout(c->db, 5000);
        rc = sqlite3_prepare_v3(c->db, LOOKUP_SQL, -1, SQLITE_PREPARE_PERSISTENT, &c->lookup, NULL);
    }
    if (rc != SQLITE_OK) {
        snprintf(err, err_cap, "%s: %s", path, c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        conn_close(c);
        return NULL;
    }
    return c;
}

int sqlite_store_open(const char *path, unsigned max_connections, sqlite_store **out, char *err, size_t err_cap) {
    char scratch[1];
    if (!err) {
        err = scratch;
        err_cap = sizeof scratch;
    }
    if (!out || !path) {
        snprintf(err, err_cap, "path and out must not be NULL");
        return -1;
    }
    *out = NULL;
    sqlite_store *s = calloc(1, sizeof *s);
    unsigned max = max_connections ? max_connections : 1;
    if (!s || !(s->path = strdup(path)) || !(s->idle = calloc(max, sizeof *s->idle))) {
        snprintf(err, err_cap, "out of memory");
        if (s) {
            free(s->path);
            free(s);
        }
        return -1;
    }
    s->max = max;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->idle_cv, NULL);
    /* Open one connection now, so a wrong path or schema fails here and not at the first
     * validation. */
    sqlite_conn *first = conn_open(path, err, err_cap);
    if (!first) {
        sqlite_store_close(s);
        return -1;
    }
    s->idle[s->n_idle++] = first;
    s->n_open = 1;
    *out = s;
    return 0;
}

void sqlite_store_close(sqlite_store *s) {
    if (!s) return;
    for (unsigned i = 0; i < s->n_idle; i++) conn_close(s->idle[i]);
    pthread_cond_destroy(&s->idle_cv);
    pthread_mutex_destroy(&s->mu);
    free(s->idle);
    free(s->path);
    free(s);
}

/* Takes an idle connection, opens a new one while under the limit, or waits for one. */
static sqlite_conn *acquire(sqlite_store *s) {
    pthread_mutex_lock(&s->mu);
    while (s->n_idle == 0 && s->n_open >= s->max) pthread_cond_wait(&s->idle_cv, &s->mu);
    if (s->n_idle > 0) {
        sqlite_conn *c = s->idle[--s->n_idle];
        pthread_mutex_unlock(&s->mu);
        return c;
    }
    s->n_open++;
    pthread_mutex_unlock(&s->mu);
    char err[256];
    sqlite_conn *c = conn_open(s->path, err, sizeof err);
    if (!c) {
        pthread_mutex_lock(&s->mu);
        s->n_open--;
        snprintf(s->last_error, sizeof s->last_error, "%s", err);
        pthread_cond_signal(&s->idle_cv);
        pthread_mutex_unlock(&s->mu);
    }
    return c;
}

/* Returns a connection to the pool, or closes it when it failed (`broken`). */
static void release(sqlite_store *s, sqlite_conn *c, int broken) {
    pthread_mutex_lock(&s->mu);
    if (broken) {
        s->n_open--;
    } else {
        s->idle[s->n_idle++] = c;
    }
    pthread_cond_signal(&s->idle_cv);
    pthread_mutex_unlock(&s->mu);
    if (broken) conn_close(c);
}

reftoken_status sqlite_store_lookup(void *ctx, const char *key, size_t key_len, reftoken_row *row) {
    sqlite_store *s = ctx;
    if (!s || !row || (!key && key_len)) return REFTOKEN_NULL_ARGUMENT;
    if (key_len > 1000) return REFTOKEN_NOT_FOUND; /* longer than any key IdentityServer writes */
    sqlite_conn *c = acquire(s);
    if (!c) return REFTOKEN_IO_ERROR;
    reftoken_status st;
    int rc = sqlite3_bind_text(c->lookup, 1, key_len ? key : "", (int)key_len, SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = sqlite3_step(c->lookup);
    if (rc == SQLITE_ROW) {
        /* Text is read before its length, as SQLite asks. */
        const char *type = (const char *)sqlite3_column_text(c->lookup, 0);
        size_t type_len = (size_t)sqlite3_column_bytes(c->lookup, 0);
        const char *data = (const char *)sqlite3_column_text(c->lookup, 1);
        size_t data_len = (size_t)sqlite3_column_bytes(c->lookup, 1);
        /* reftoken_row_set copies; the column memory is valid until the reset below. */
        st = reftoken_row_set(row, type, type ? type_len : 0, data, data ? data_len : 0);
    } else if (rc == SQLITE_DONE) {
        st = REFTOKEN_NOT_FOUND;
    } else {
        set_error(s, "PersistedGrants lookup", sqlite3_errmsg(c->db));
        st = REFTOKEN_IO_ERROR;
    }
    sqlite3_reset(c->lookup);
    sqlite3_clear_bindings(c->lookup);
    /* A connection whose database went away (SQLITE_IOERR, SQLITE_CORRUPT...) is replaced. */
    int broken = st == REFTOKEN_IO_ERROR && rc != SQLITE_BUSY && rc != SQLITE_LOCKED;
    release(s, c, broken);
    return st;
}

void sqlite_store_last_error(sqlite_store *s, char *out, size_t out_cap) {
    if (!out || out_cap == 0) return;
    if (!s) {
        out[0] = '\0';
        return;
    }
    pthread_mutex_lock(&s->mu);
    snprintf(out, out_cap, "%s", s->last_error);
    pthread_mutex_unlock(&s->mu);
}

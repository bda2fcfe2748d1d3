/*
 * store_postgres.c: a reftoken_lookup_fn over PostgreSQL with libpq (IdentityServer's EF Core
 * "PersistedGrants" table, Npgsql naming). See store_postgres.h. Copy it into your service and
 * build with -I$(pg_config --includedir) -lpq -lpthread.
 */
#define _POSIX_C_SOURCE 200809L
#include "store_postgres.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char LOOKUP_NAME[] = "reftoken_lookup";
/* The lookup IdentityServer's EF Core store makes (PersistedGrantStore.GetAsync): by Key. */
static const char LOOKUP_SQL[] = "SELECT \"Type\", \"Data\" FROM \"PersistedGrants\" WHERE \"Key\" = $1";

struct pg_store {
    char *conninfo;
    pthread_mutex_t mu;
    pthread_cond_t idle_cv;
    PGconn **idle; /* connections not in use: a stack of n_idle */
    unsigned n_idle;
    unsigned n_open; /* idle or in use */
    unsigned max;
    char last_error[256];
};

static void set_error(pg_store *s, const char *what, const char *detail) {
    pthread_mutex_lock(&s->mu);
    snprintf(s->last_error, sizeof s->last_error, "%s: %s", what, detail);
    /* libpq's messages end with a newline. */
    size_t n = strlen(s->last_error);
    while (n > 0 && (s->last_error[n - 1] == '\n' || s->last_error[n - 1] == '\r')) s->last_error[--n] = '\0';
    pthread_mutex_unlock(&s->mu);
}

/* Prepares the lookup on a fresh (or freshly reset) connection. */
static int prepare(PGconn *c, char *err, size_t err_cap) {
    PGresult *r = PQprepare(c, LOOKUP_NAME, LOOKUP_SQL, 1, NULL);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) snprintf(err, err_cap, "preparing the PersistedGrants lookup: %s", PQerrorMessage(c));
    PQclear(r);
    return ok;
}

static PGconn *conn_open(const char *conninfo, char *err, size_t err_cap) {
    PGconn *c = PQconnectdb(conninfo);
    if (!c) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(err, err_cap, "cannot connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    if (!prepare(c, err, err_cap)) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

int pg_store_open(const char *conninfo, unsigned max_connections, pg_store **out, char *err, size_t err_cap) {
    char scratch[1];
    if (!err) {
        err = scratch;
        err_cap = sizeof scratch;
    }
    if (!out || !conninfo) {
        snprintf(err, err_cap, "conninfo and out must not be NULL");
        return -1;
    }
    *out = NULL;
    pg_store *s = calloc(1, sizeof *s);
    unsigned max = max_connections ? max_connections : 1;
    if (!s || !(s->conninfo = strdup(conninfo)) || !(s->idle = calloc(max, sizeof *s->idle))) {
        snprintf(err, err_cap, "out of memory");
        if (s) {
            free(s->conninfo);
            free(s);
        }
        return -1;
    }
    s->max = max;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->idle_cv, NULL);
    PGconn *first = conn_open(conninfo, err, err_cap);
    if (!first) {
        pg_store_close(s);
        return -1;
    }
    s->idle[s->n_idle++] = first;
    s->n_open = 1;
    *out = s;
    return 0;
}

void pg_store_close(pg_store *s) {
    if (!s) return;
    for (unsigned i = 0; i < s->n_idle; i++) PQfinish(s->idle[i]);
    pthread_cond_destroy(&s->idle_cv);
    pthread_mutex_destroy(&s->mu);
    free(s->idle);
    free(s->conninfo);
    free(s);
}

static PGconn *acquire(pg_store *s) {
    pthread_mutex_lock(&s->mu);
    while (s->n_idle == 0 && s->n_open >= s->max) pthread_cond_wait(&s->idle_cv, &s->mu);
    if (s->n_idle > 0) {
        PGconn *c = s->idle[--s->n_idle];
        pthread_mutex_unlock(&s->mu);
        return c;
    }
    s->n_open++;
    pthread_mutex_unlock(&s->mu);
    /* Connect outside the lock: other threads keep using the idle connections meanwhile. */
    char err[256];
    PGconn *c = conn_open(s->conninfo, err, sizeof err);
    if (!c) {
        set_error(s, "PostgreSQL", err);
        pthread_mutex_lock(&s->mu);
        s->n_open--;
        pthread_cond_signal(&s->idle_cv);
        pthread_mutex_unlock(&s->mu);
    }
    return c;
}

static void release(pg_store *s, PGconn *c) {
    pthread_mutex_lock(&s->mu);
    if (c) {
        s->idle[s->n_idle++] = c;
    } else {
        s->n_open--;
    }
    pthread_cond_signal(&s->idle_cv);
    pthread_mutex_unlock(&s->mu);
}

reftoken_status pg_store_lookup(void *ctx, const char *key, size_t key_len, reftoken_row *row) {
    pg_store *s = ctx;
    if (!s || !row || (!key && key_len)) return REFTOKEN_NULL_ARGUMENT;
    /* The key column holds at most 200 characters; a key never has a NUL. */
    char param[201];
    if (key_len >= sizeof param || (key_len && memchr(key, '\0', key_len))) return REFTOKEN_NOT_FOUND;
    if (key_len) memcpy(param, key, key_len);
    param[key_len] = '\0';
    const char *values[1] = {param};

    PGconn *c = acquire(s);
    if (!c) return REFTOKEN_IO_ERROR;
    reftoken_status st = REFTOKEN_IO_ERROR;
    for (int attempt = 0; attempt < 2; attempt++) {
        PGresult *r = PQexecPrepared(c, LOOKUP_NAME, 1, values, NULL, NULL, 0);
        ExecStatusType rs = PQresultStatus(r);
        if (rs == PGRES_TUPLES_OK) {
            if (PQntuples(r) == 0) {
                st = REFTOKEN_NOT_FOUND;
            } else {
                /* Text results; reftoken_row_set copies them before PQclear. */
                st = reftoken_row_set(row, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0), PQgetvalue(r, 0, 1),
                                      (size_t)PQgetlength(r, 0, 1));
            }
            PQclear(r);
            break;
        }
        set_error(s, "PersistedGrants lookup", PQerrorMessage(c));
        PQclear(r);
        if (PQstatus(c) != CONNECTION_BAD || attempt > 0) break;
        /* The connection broke (server restart, network): reconnect, prepare again, retry. */
        char err[256];
        PQreset(c);
        if (PQstatus(c) != CONNECTION_OK || !prepare(c, err, sizeof err)) {
            set_error(s, "PostgreSQL", PQstatus(c) != CONNECTION_OK ? PQerrorMessage(c) : err);
            break;
        }
    }
    if (PQstatus(c) == CONNECTION_BAD) {
        PQfinish(c);
        c = NULL;
    }
    release(s, c);
    return st;
}

void pg_store_last_error(pg_store *s, char *out, size_t out_cap) {
    if (!out || out_cap == 0) return;
    if (!s) {
        out[0] = '\0';
        return;
    }
    pthread_mutex_lock(&s->mu);
    snprintf(out, out_cap, "%s", s->last_error);
    pthread_mutex_unlock(&s->mu);
}

/*
 * store_postgres.h: a reftoken_lookup_fn over PostgreSQL (libpq), reading IdentityServer's
 * Entity Framework Core operational store as Npgsql creates it: table "PersistedGrants" with
 * quoted PascalCase columns "Key", "Type", "Data" (see examples/README.md for the schema).
 *
 * A store keeps a pool of connections, each with the lookup prepared on it, guarded by a
 * mutex: any number of threads may validate at once, at most `max_connections` of them
 * query the server at the same time. A connection that breaks (server restart, network) is
 * reset and the query retried once. Nothing is ever written.
 *
 *     pg_store *store = NULL;
 *     char err[256];
 *     if (pg_store_open("postgresql://idsrv@db/identity", 8, &store, err, sizeof err) != 0) ...
 *     reftoken_validator_new(pg_store_lookup, store, keyring, 10000, 60, &validator);
 *     ...
 *     reftoken_validator_free(validator);
 *     pg_store_close(store);
 *
 * This file is an example meant to be copied into your service; build it with
 * -I$(pg_config --includedir) -lpq -lpthread.
 */
#ifndef REFTOKEN_EXAMPLE_STORE_POSTGRES_H
#define REFTOKEN_EXAMPLE_STORE_POSTGRES_H

#include <stddef.h>

#include "reftoken.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pg_store pg_store;

/*
 * Connects with `conninfo` (a libpq URL or key=value string) and prepares the lookup, which
 * checks that the table exists. Further connections (up to `max_connections`; 0 means 1)
 * are opened as threads need them. Returns 0 and sets *out, or -1 with a message in `err`
 * (which may be NULL) and *out NULL.
 */
int pg_store_open(const char *conninfo, unsigned max_connections, pg_store **out, char *err, size_t err_cap);

/* Closes every connection. NULL is ignored. No lookup may be running. */
void pg_store_close(pg_store *store);

/*
 * The reftoken_lookup_fn: `ctx` is the pg_store. Finds the row whose "Key" is `key` and hands
 * its "Type" and "Data" to reftoken_row_set. Returns REFTOKEN_OK, REFTOKEN_NOT_FOUND (no row)
 * or REFTOKEN_IO_ERROR (the server could not be asked; pg_store_last_error says why). Safe
 * to call from any number of threads at once.
 */
reftoken_status pg_store_lookup(void *ctx, const char *key, size_t key_len, reftoken_row *row);

/* Copies the message of the store's last failure (any thread) into `out`, NUL-terminated. */
void pg_store_last_error(pg_store *store, char *out, size_t out_cap);

#ifdef __cplusplus
}
#endif

#endif

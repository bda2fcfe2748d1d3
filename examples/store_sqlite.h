/*
 * store_sqlite.h: a reftoken_lookup_fn over SQLite, reading IdentityServer's Entity Framework
 * Core operational store (the PersistedGrants table; see examples/README.md for the schema).
 *
 * A store keeps a small pool of read-only connections, each with its prepared lookup
 * statement, guarded by a mutex: any number of threads may validate at once, and at most
 * `max_connections` of them query SQLite at the same time. Nothing is ever written.
 *
 *     sqlite_store *store = NULL;
 *     char err[256];
 *     if (sqlite_store_open("grants.db", 4, &store, err, sizeof err) != 0) { puts(err); ... }
 *     reftoken_validator *v = NULL;
 *     reftoken_validator_new(sqlite_store_lookup, store, keyring, 10000, 60, &v);
 *     ... reftoken_validator_validate(v, handle, len, &caller, time(NULL), NULL, NULL, &verdict);
 *     reftoken_validator_free(v);
 *     sqlite_store_close(store);
 *
 * This file is an example meant to be copied into your service; build it with -lsqlite3
 * -lpthread.
 */
#ifndef REFTOKEN_EXAMPLE_STORE_SQLITE_H
#define REFTOKEN_EXAMPLE_STORE_SQLITE_H

#include <stddef.h>

#include "reftoken.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sqlite_store sqlite_store;

/*
 * Opens the SQLite database at `path` (UTF-8) read-only and checks that it has a
 * PersistedGrants table. Up to `max_connections` connections are opened as threads need
 * them (0 means 1). Returns 0 and sets *out, or -1 with a message in `err` (which may be
 * NULL) and *out NULL.
 */
int sqlite_store_open(const char *path, unsigned max_connections, sqlite_store **out, char *err, size_t err_cap);

/* Closes every connection. NULL is ignored. No lookup may be running. */
void sqlite_store_close(sqlite_store *store);

/*
 * The reftoken_lookup_fn: `ctx` is the sqlite_store. Finds the row whose "Key" is `key` and
 * hands its "Type" and "Data" to reftoken_row_set. Returns REFTOKEN_OK, REFTOKEN_NOT_FOUND
 * (no row), or REFTOKEN_IO_ERROR (SQLite failed; sqlite_store_last_error says why). Safe to
 * call from any number of threads at once.
 */
reftoken_status sqlite_store_lookup(void *ctx, const char *key, size_t key_len, reftoken_row *row);

/* Copies the message of the store's last failure (any thread) into `out`, NUL-terminated. */
void sqlite_store_last_error(sqlite_store *store, char *out, size_t out_cap);

#ifdef __cplusplus
}
#endif

#endif

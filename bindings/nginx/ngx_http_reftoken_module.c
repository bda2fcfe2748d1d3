/*
 * ngx_http_reftoken_module: validates IdentityServer reference tokens (RFC 6750 bearer
 * tokens) in nginx's access phase with libreftoken, against IdentityServer's PersistedGrants
 * table in SQLite or PostgreSQL, and exposes the token's subject, client, scopes, expiry and
 * introspection response as variables. See README.md beside this file.
 *
 * Threading: every worker process has its own validator (created in init_process, after the
 * fork) and its own revocation listener. A validation is first tried on the event loop with
 * store access forbidden: a cache hit answers at once; anything that needs the store (a miss,
 * or an entry past the staleness bound) is handed to nginx's thread pool, so a store lookup
 * never runs on the event loop.
 */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#if !(NGX_THREADS)
#error "ngx_http_reftoken_module needs nginx built --with-threads"
#endif
#include <ngx_thread_pool.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "reftoken.h"
#include "store_postgres.h"
#include "store_sqlite.h"

/* Longest token looked at; the validator refuses handles over 100 bytes anyway. */
#define RT_MAX_TOKEN 4096
/* Seconds between attempts to open a store that could not be opened. */
#define RT_REOPEN_INTERVAL 1
/* Added to PostgreSQL URLs without one, so that opening a connection has a bound. */
#define RT_PG_CONNECT_TIMEOUT "5"

typedef enum { RT_STORE_SQLITE = 1, RT_STORE_POSTGRES = 2 } rt_store_kind;

/* The store of one worker: opened in init_process, and again lazily (from pool threads)
 * while it cannot be opened, so a worker started while its database is down recovers. */
typedef struct {
    rt_store_kind kind;
    char *spec; /* path or libpq conninfo, NUL-terminated (malloc) */
    unsigned connections;
    pthread_mutex_t mu;
    void *backend; /* sqlite_store or pg_store */
    time_t last_attempt;
    char err[256];
} rt_store_t;

typedef struct {
    ngx_str_t store;
    ngx_uint_t store_connections;
    ngx_str_t keyring_dir;
    ngx_str_t app_name;
    size_t cache_size;
    time_t cache_ttl;
    ngx_str_t revocation;
    ngx_str_t channel;
    ngx_msec_t stale_bound;
    ngx_str_t thread_pool_name;
    ngx_thread_pool_t *thread_pool;
    ngx_str_t jwt_key_file;
    ngx_str_t jwt_kid;
    ngx_str_t jwt_issuer;
    reftoken_keyring *keyring;
    reftoken_signing_key *jwt_key;
    /* Per worker, from init_process. */
    rt_store_t *rt_store;
    reftoken_validator *validator;
    reftoken_revocation_listener *listener;
} rt_main_conf_t;

typedef struct {
    ngx_flag_t enable;
    ngx_flag_t jwt;
    ngx_str_t api;
    ngx_str_t api_scopes; /* space-separated */
    ngx_array_t *require; /* of ngx_str_t: every one must be granted */
    ngx_str_t require_joined;
    ngx_str_t realm;
} rt_loc_conf_t;

/* What one validation found. On the event loop (a cache hit) the strings are allocated
 * from the request's pool; on a pool thread, which cannot use nginx pools, with malloc,
 * freed by a cleanup of the request's pool (`heap`). `scope` is made from `json` when
 * something asks for it (a required scope, $reftoken_scope), on the event loop. */
typedef struct {
    reftoken_status st;
    unsigned deferred : 1; /* needed the store while on the event loop */
    unsigned active : 1;
    unsigned heap : 1;       /* sub, client_id, json and jwt are malloc'd */
    unsigned scope_done : 1; /* scope is set (from the pool) */
    uint32_t reason;
    int64_t exp;
    char *sub, *client_id, *scope, *json, *jwt;
    size_t sub_len, client_id_len, scope_len, json_len, jwt_len;
    char err[256];
} rt_result_t;

typedef struct {
    rt_main_conf_t *mcf;
    rt_loc_conf_t *lcf;
    u_char *token;
    size_t token_len;
    time_t now;
    rt_result_t *res;
} rt_task_ctx_t;

typedef enum { RT_NEW = 0, RT_WAITING, RT_DONE } rt_state;

typedef struct {
    rt_state state;
    rt_result_t res;
} rt_ctx_t;

static ngx_int_t rt_preconfiguration(ngx_conf_t *cf);
static ngx_int_t rt_postconfiguration(ngx_conf_t *cf);
static void *rt_create_main_conf(ngx_conf_t *cf);
static char *rt_init_main_conf(ngx_conf_t *cf, void *conf);
static void *rt_create_loc_conf(ngx_conf_t *cf);
static char *rt_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child);
static ngx_int_t rt_init_process(ngx_cycle_t *cycle);
static void rt_exit_process(ngx_cycle_t *cycle);
static char *rt_set_scopes(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *rt_set_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *rt_set_revocation(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *rt_set_jwt_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

static ngx_command_t rt_commands[] = {
    {ngx_string("reftoken"), NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_FLAG,
     ngx_conf_set_flag_slot, NGX_HTTP_LOC_CONF_OFFSET, offsetof(rt_loc_conf_t, enable), NULL},
    {ngx_string("reftoken_store"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_HTTP_MAIN_CONF_OFFSET, offsetof(rt_main_conf_t, store), NULL},
    {ngx_string("reftoken_store_connections"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, ngx_conf_set_num_slot,
     NGX_HTTP_MAIN_CONF_OFFSET, offsetof(rt_main_conf_t, store_connections), NULL},
    {ngx_string("reftoken_keyring"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_HTTP_MAIN_CONF_OFFSET, offsetof(rt_main_conf_t, keyring_dir), NULL},
    {ngx_string("reftoken_app_name"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_HTTP_MAIN_CONF_OFFSET, offsetof(rt_main_conf_t, app_name), NULL},
    {ngx_string("reftoken_cache_size"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, ngx_conf_set_size_slot,
     NGX_HTTP_MAIN_CONF_OFFSET, offsetof(rt_main_conf_t, cache_size), NULL},
    {ngx_string("reftoken_cache_ttl"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, ngx_conf_set_sec_slot,
     NGX_HTTP_MAIN_CONF_OFFSET, offsetof(rt_main_conf_t, cache_ttl), NULL},
    {ngx_string("reftoken_revocation"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE12, rt_set_revocation,
     NGX_HTTP_MAIN_CONF_OFFSET, 0, NULL},
    {ngx_string("reftoken_revocation_stale"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, ngx_conf_set_msec_slot,
     NGX_HTTP_MAIN_CONF_OFFSET, offsetof(rt_main_conf_t, stale_bound), NULL},
    {ngx_string("reftoken_thread_pool"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_HTTP_MAIN_CONF_OFFSET, offsetof(rt_main_conf_t, thread_pool_name), NULL},
    {ngx_string("reftoken_jwt_key"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE12, rt_set_jwt_key, NGX_HTTP_MAIN_CONF_OFFSET,
     0, NULL},
    {ngx_string("reftoken_jwt"), NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_FLAG,
     ngx_conf_set_flag_slot, NGX_HTTP_LOC_CONF_OFFSET, offsetof(rt_loc_conf_t, jwt), NULL},
    {ngx_string("reftoken_jwt_issuer"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_HTTP_MAIN_CONF_OFFSET, offsetof(rt_main_conf_t, jwt_issuer), NULL},
    {ngx_string("reftoken_api"), NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_str_slot, NGX_HTTP_LOC_CONF_OFFSET, offsetof(rt_loc_conf_t, api), NULL},
    {ngx_string("reftoken_api_scopes"), NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_1MORE,
     rt_set_scopes, NGX_HTTP_LOC_CONF_OFFSET, offsetof(rt_loc_conf_t, api_scopes), NULL},
    {ngx_string("reftoken_require_scope"), NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_1MORE,
     rt_set_require, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    {ngx_string("reftoken_realm"), NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_str_slot, NGX_HTTP_LOC_CONF_OFFSET, offsetof(rt_loc_conf_t, realm), NULL},
    ngx_null_command};

static ngx_http_module_t rt_module_ctx = {
    rt_preconfiguration, rt_postconfiguration, rt_create_main_conf, rt_init_main_conf, NULL, NULL,
    rt_create_loc_conf,  rt_merge_loc_conf};

ngx_module_t ngx_http_reftoken_module = {NGX_MODULE_V1,
                                         &rt_module_ctx,
                                         rt_commands,
                                         NGX_HTTP_MODULE,
                                         NULL,
                                         NULL,
                                         rt_init_process,
                                         NULL,
                                         NULL,
                                         rt_exit_process,
                                         NULL,
                                         NGX_MODULE_V1_PADDING};

/* ---------------------------------------------------------------------------------------- */
/* The store */

/* Set on the event loop around a validation: the lookup then refuses to touch the store and
 * marks the validation deferred, to be run again on a pool thread. */
static __thread int rt_tls_event_loop;
static __thread int rt_tls_deferred;

static void *rt_store_backend(rt_store_t *s) {
    void *b;
    pthread_mutex_lock(&s->mu);
    b = s->backend;
    if (b == NULL) {
        time_t now = time(NULL);
        if (now - s->last_attempt >= RT_REOPEN_INTERVAL) {
            char err[256] = "";
            s->last_attempt = now;
            /* Opened under the lock: concurrent lookups wait for this attempt rather than
             * stack more connection attempts onto a store that is down. */
            if (s->kind == RT_STORE_SQLITE) {
                sqlite_store *st = NULL;
                if (sqlite_store_open(s->spec, s->connections, &st, err, sizeof err) == 0) b = st;
            } else {
                pg_store *st = NULL;
                if (pg_store_open(s->spec, s->connections, &st, err, sizeof err) == 0) b = st;
            }
            s->backend = b;
            if (b == NULL) snprintf(s->err, sizeof s->err, "%s", err);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return b;
}

static void rt_store_error(rt_store_t *s, char *out, size_t cap) {
    pthread_mutex_lock(&s->mu);
    if (s->backend == NULL) {
        /* The message is cut to the buffer on purpose. */
        size_t n = (size_t)snprintf(out, cap, "cannot open the store: ");
        if (n < cap) snprintf(out + n, cap - n, "%.200s", s->err[0] ? s->err : "retrying later");
        pthread_mutex_unlock(&s->mu);
        return;
    }
    pthread_mutex_unlock(&s->mu);
    if (s->kind == RT_STORE_SQLITE)
        sqlite_store_last_error(s->backend, out, cap);
    else
        pg_store_last_error(s->backend, out, cap);
}

static reftoken_status rt_lookup(void *ctx, const char *key, size_t key_len, reftoken_row *row) {
    rt_store_t *s = ctx;
    void *b;
    if (rt_tls_event_loop) {
        rt_tls_deferred = 1;
        return REFTOKEN_IO_ERROR;
    }
    b = rt_store_backend(s);
    if (b == NULL) return REFTOKEN_IO_ERROR;
    return s->kind == RT_STORE_SQLITE ? sqlite_store_lookup(b, key, key_len, row)
                                      : pg_store_lookup(b, key, key_len, row);
}

static void rt_store_free(rt_store_t *s) {
    if (s == NULL) return;
    if (s->backend) {
        if (s->kind == RT_STORE_SQLITE)
            sqlite_store_close(s->backend);
        else
            pg_store_close(s->backend);
    }
    pthread_mutex_destroy(&s->mu);
    free(s->spec);
    free(s);
}

/* ---------------------------------------------------------------------------------------- */
/* Validation (runs on the event loop with store access forbidden, or on a pool thread) */

/* From `pool`, or with malloc when it is NULL (on a pool thread). */
static void *rt_alloc(ngx_pool_t *pool, size_t len) {
    return pool ? ngx_pnalloc(pool, len) : malloc(len);
}

static char *rt_dup(ngx_pool_t *pool, const char *p, size_t len) {
    char *d = rt_alloc(pool, len + 1);
    if (d) {
        if (len) memcpy(d, p, len);
        d[len] = '\0';
    }
    return d;
}

static void rt_result_clear(rt_result_t *res) {
    if (res->heap) {
        free(res->sub);
        free(res->client_id);
        free(res->json);
        free(res->jwt);
    }
    res->heap = 0;
    res->scope_done = 0;
    res->sub = res->client_id = res->scope = res->json = res->jwt = NULL;
    res->sub_len = res->client_id_len = res->scope_len = res->json_len = res->jwt_len = 0;
}

static int rt_hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static size_t rt_utf8(unsigned long cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * The token's scopes for this API, unescaped, from the introspection response: the library
 * has no accessor for claims, and the response ends with `"active":true,"scope":"..."}`
 * (a claim named scope never appears before it, and a `"` inside a string is always
 * escaped, so the last occurrence of the marker is that member). Returns 0, or -1 when the
 * response has no such member or cannot be read.
 */
static int rt_scope_from_json(ngx_pool_t *pool, const char *json, size_t len, rt_result_t *res) {
    static const char marker[] = "\"active\":true,\"scope\":\"";
    size_t mlen = sizeof marker - 1, i, start = 0, o = 0;
    int found = 0;
    char *out;
    if (len < mlen) return -1;
    for (i = len - mlen + 1; i-- > 0;) {
        if (memcmp(json + i, marker, mlen) == 0) {
            start = i + mlen;
            found = 1;
            break;
        }
    }
    if (!found) return -1;
    out = ngx_pnalloc(pool, len - start + 1);
    if (out == NULL) return -1;
    for (i = start; i < len && json[i] != '"'; i++) {
        char c = json[i];
        if (c != '\\') {
            out[o++] = c;
            continue;
        }
        if (++i >= len) goto bad;
        c = json[i];
        switch (c) {
            case 'n': out[o++] = '\n'; break;
            case 't': out[o++] = '\t'; break;
            case 'r': out[o++] = '\r'; break;
            case 'b': out[o++] = '\b'; break;
            case 'f': out[o++] = '\f'; break;
            case 'u': {
                unsigned long cp = 0;
                int k, h;
                if (i + 4 >= len) goto bad;
                for (k = 1; k <= 4; k++) {
                    if ((h = rt_hex(json[i + k])) < 0) goto bad;
                    cp = cp * 16 + (unsigned long)h;
                }
                i += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 < len && json[i + 1] == '\\' && json[i + 2] == 'u') {
                    unsigned long lo = 0;
                    for (k = 3; k <= 6; k++) {
                        if ((h = rt_hex(json[i + k])) < 0) goto bad;
                        lo = lo * 16 + (unsigned long)h;
                    }
                    if (lo >= 0xDC00 && lo <= 0xDFFF) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        i += 6;
                    }
                }
                /* Six escaped bytes never give more than four. */
                o += rt_utf8(cp, out + o);
                break;
            }
            default: out[o++] = c; break;
        }
    }
    if (i >= len) goto bad;
    out[o] = '\0';
    res->scope = out;
    res->scope_len = o;
    return 0;
bad:
    return -1;
}

/* Makes `res->scope` (on the event loop, from the request's pool): "" when the response has
 * none. Returns 0, or -1 when out of memory. */
static int rt_result_scope(ngx_http_request_t *r, rt_result_t *res) {
    if (res->scope_done) return 0;
    if (rt_scope_from_json(r->main->pool, res->json, res->json_len, res) != 0) {
        res->scope = ngx_pnalloc(r->main->pool, 1);
        if (res->scope == NULL) return -1;
        res->scope[0] = '\0';
        res->scope_len = 0;
    }
    res->scope_done = 1;
    return 0;
}

static void rt_last_error(char *out, size_t cap) {
    size_t n = 0;
    if (reftoken_last_error(out, cap, &n) != REFTOKEN_OK) out[0] = '\0';
}

/* Validates `token` for the location's API at `now` into `res`: on the event loop when
 * `pool` is the request's pool (the store may not be used; strings from the pool), on a
 * pool thread when it is NULL (strings malloc'd). */
static void rt_validate(rt_main_conf_t *mcf, rt_loc_conf_t *lcf, const u_char *token, size_t token_len, time_t now,
                        ngx_pool_t *pool, rt_result_t *res) {
    reftoken_caller caller;
    reftoken_verdict v;
    reftoken_grant *grant = NULL;
    reftoken_status st;
    char buf[4096], *big = NULL;
    size_t n = 0;

    rt_result_clear(res);
    res->heap = pool == NULL;
    res->deferred = 0;
    res->active = 0;
    res->err[0] = '\0';
    memset(&v, 0, sizeof v);
    caller.kind = REFTOKEN_CALLER_API;
    caller.name.ptr = (const char *)lcf->api.data;
    caller.name.len = lcf->api.len;
    caller.scopes.ptr = (const char *)lcf->api_scopes.data;
    caller.scopes.len = lcf->api_scopes.len;

    /* One call: the verdict, and the response the validator keeps for a cached token (built
     * once per token and API, not per request). */
    rt_tls_event_loop = pool != NULL;
    rt_tls_deferred = 0;
    st = reftoken_validator_check(mcf->validator, (const char *)token, token_len, &caller, (int64_t)now, NULL, &grant,
                                  &v, buf, sizeof buf, &n);
    if (st == REFTOKEN_BUFFER_TOO_SMALL && !rt_tls_deferred) {
        /* A response over 4 KiB (many claims): again into a buffer of its size. */
        big = rt_alloc(pool, n + 1);
        st = big ? reftoken_validator_check(mcf->validator, (const char *)token, token_len, &caller, (int64_t)now,
                                            NULL, &grant, &v, big, n + 1, &n)
                 : REFTOKEN_INTERNAL_PANIC;
    }
    rt_tls_event_loop = 0;
    if (rt_tls_deferred) {
        reftoken_grant_free(grant);
        if (pool == NULL) free(big);
        res->deferred = 1;
        res->st = REFTOKEN_IO_ERROR;
        return;
    }
    res->st = st;
    if (st != REFTOKEN_OK) {
        /* Includes a token IdentityServer could not answer for either (for example a claim
         * named `active`): not usable. */
        if (st == REFTOKEN_IO_ERROR)
            rt_store_error(mcf->rt_store, res->err, sizeof res->err);
        else
            rt_last_error(res->err, sizeof res->err);
        reftoken_grant_free(grant);
        if (pool == NULL) free(big);
        return;
    }
    res->reason = v.reason;
    res->exp = v.expiration;
    if (!v.active || grant == NULL) {
        reftoken_grant_free(grant);
        if (pool == NULL) free(big);
        return;
    }
    res->sub = rt_dup(pool, v.subject.ptr ? v.subject.ptr : "", v.subject.len);
    res->client_id = rt_dup(pool, v.client_id.ptr ? v.client_id.ptr : "", v.client_id.len);
    res->sub_len = v.subject.len;
    res->client_id_len = v.client_id.len;
    res->json = big ? big : rt_dup(pool, buf, n);
    reftoken_grant_free(grant);
    if (res->json == NULL || res->sub == NULL || res->client_id == NULL) {
        res->st = REFTOKEN_INTERNAL_PANIC;
        ngx_cpystrn((u_char *)res->err, (u_char *)"out of memory", sizeof res->err);
        rt_result_clear(res);
        return;
    }
    res->json_len = n;
    res->active = 1;

    /* Only on a pool thread (reftoken_jwt on always takes it): a signature is not free. */
    if (pool == NULL && lcf->jwt && mcf->jwt_key) {
        char *jwt = malloc(4096 + 2 * n);
        size_t cap = 4096 + 2 * n, m = 0;
        const char *iss = mcf->jwt_issuer.len ? (const char *)mcf->jwt_issuer.data : "";
        st = jwt ? reftoken_introspection_jwt(mcf->jwt_key, iss, mcf->jwt_issuer.len, caller.name.ptr, caller.name.len,
                                              (int64_t)now, res->json, res->json_len, jwt, cap, &m)
                 : REFTOKEN_INTERNAL_PANIC;
        if (st == REFTOKEN_OK) {
            res->jwt = jwt;
            res->jwt_len = m;
        } else {
            free(jwt);
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Answers (RFC 6750 section 3) */

static ngx_int_t rt_challenge(ngx_http_request_t *r, rt_loc_conf_t *lcf, ngx_uint_t status, const char *error,
                              const char *description) {
    ngx_table_elt_t *h;
    u_char *p;
    size_t len;

    len = sizeof("Bearer realm=\"\"") - 1 + lcf->realm.len;
    if (error) len += sizeof(", error=\"\"") - 1 + strlen(error);
    if (description) len += sizeof(", error_description=\"\"") - 1 + strlen(description);
    if (status == NGX_HTTP_FORBIDDEN) len += sizeof(", scope=\"\"") - 1 + lcf->require_joined.len;

    p = ngx_pnalloc(r->pool, len);
    h = ngx_list_push(&r->headers_out.headers);
    if (p == NULL || h == NULL) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    h->value.data = p;
    p = ngx_sprintf(p, "Bearer realm=\"%V\"", &lcf->realm);
    if (error) p = ngx_sprintf(p, ", error=\"%s\"", error);
    if (description) p = ngx_sprintf(p, ", error_description=\"%s\"", description);
    if (status == NGX_HTTP_FORBIDDEN) p = ngx_sprintf(p, ", scope=\"%V\"", &lcf->require_joined);
    h->value.len = p - h->value.data;
#if defined(nginx_version) && nginx_version >= 1023000
    h->next = NULL;
#endif
    r->headers_out.www_authenticate = h;
    return status;
}

static const char *rt_reason_text(uint32_t reason) {
    switch (reason) {
        case REFTOKEN_INACTIVE_EXPIRED: return "The access token expired";
        case REFTOKEN_INACTIVE_UNKNOWN_HANDLE: return "The access token is not known";
        case REFTOKEN_INACTIVE_NO_MATCHING_SCOPE: return "The access token is not for this resource";
        case REFTOKEN_INACTIVE_CLIENT_DISABLED: return "The access token's client is disabled";
        default: return "The access token is not active";
    }
}

static int rt_has_scope(const rt_result_t *res, const ngx_str_t *want) {
    const char *p = res->scope, *end = res->scope + res->scope_len;
    while (p < end) {
        const char *q = p;
        while (q < end && *q != ' ') q++;
        if ((size_t)(q - p) == want->len && memcmp(p, want->data, want->len) == 0) return 1;
        p = q + 1;
    }
    return 0;
}

/* During an outage every request fails the same way: a worker logs the first failure, then
 * at most one line per RT_OUTAGE_LOG_MS with how many it left out, so that a busy gateway
 * does not fill its disk with one message. Only the event loop's thread calls it. */
#define RT_OUTAGE_LOG_MS 1000
static void rt_log_outage(ngx_http_request_t *r, const char *why) {
    static ngx_msec_t last;
    static ngx_uint_t logged, suppressed;
    if (logged && ngx_current_msec - last < RT_OUTAGE_LOG_MS) {
        suppressed++;
        return;
    }
    /* The error text comes from the store and the library; neither includes the token, and
     * the connection string is never logged. */
    if (suppressed) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "reftoken: store unavailable: %s (and %ui more since the last line)", why, suppressed);
    } else {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "reftoken: store unavailable: %s", why);
    }
    last = ngx_current_msec;
    logged = 1;
    suppressed = 0;
}

/* The phase result for a finished validation. */
static ngx_int_t rt_answer(ngx_http_request_t *r, rt_loc_conf_t *lcf, rt_result_t *res) {
    ngx_uint_t i;
    if (res->st == REFTOKEN_IO_ERROR || res->deferred) {
        rt_log_outage(r, res->err);
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }
    if (res->st == REFTOKEN_MALFORMED_INPUT) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0, "reftoken: token cannot be answered for: %s", res->err);
        return rt_challenge(r, lcf, NGX_HTTP_UNAUTHORIZED, "invalid_token", "The access token is not active");
    }
    if (res->st != REFTOKEN_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "reftoken: validation failed: %s: %s",
                      reftoken_status_str(res->st), res->err);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!res->active) return rt_challenge(r, lcf, NGX_HTTP_UNAUTHORIZED, "invalid_token", rt_reason_text(res->reason));
    if (lcf->require) {
        ngx_str_t *want = lcf->require->elts;
        if (rt_result_scope(r, res) != 0) return NGX_HTTP_INTERNAL_SERVER_ERROR;
        for (i = 0; i < lcf->require->nelts; i++)
            if (!rt_has_scope(res, &want[i]))
                return rt_challenge(r, lcf, NGX_HTTP_FORBIDDEN, "insufficient_scope",
                                    "The access token lacks a required scope");
    }
    return NGX_DECLINED;
}

/* ---------------------------------------------------------------------------------------- */
/* The access phase */

static void rt_result_cleanup(void *data) {
    rt_result_clear(data);
}

static void rt_thread_handler(void *data, ngx_log_t *log) {
    rt_task_ctx_t *t = data;
    (void)log;
    rt_validate(t->mcf, t->lcf, t->token, t->token_len, t->now, NULL, t->res);
}

static void rt_thread_done(ngx_event_t *ev) {
    ngx_http_request_t *r = ev->data;
    ngx_connection_t *c = r->connection;
    rt_ctx_t *ctx = ngx_http_get_module_ctx(r, ngx_http_reftoken_module);

    ngx_http_set_log_request(c->log, r);
    r->main->blocked--;
    r->aio = 0;
    if (ctx) ctx->state = RT_DONE;
    r->write_event_handler(r);
    ngx_http_run_posted_requests(c);
}

/* Token68 (RFC 7235), which RFC 6750's b64token is: 1 for the characters before the '='
 * padding, 2 for '='. A table, since every request's token goes through it. */
static u_char rt_token68_chars[256];

static void rt_token68_init(void) {
    const char *extra = "-._~+/";
    int c;
    for (c = '0'; c <= '9'; c++) rt_token68_chars[c] = 1;
    for (c = 'a'; c <= 'z'; c++) rt_token68_chars[c] = 1;
    for (c = 'A'; c <= 'Z'; c++) rt_token68_chars[c] = 1;
    for (; *extra; extra++) rt_token68_chars[(u_char)*extra] = 1;
    rt_token68_chars['='] = 2;
}

static int rt_token68(const u_char *p, size_t len) {
    size_t i = 0;
    while (i < len && rt_token68_chars[p[i]] == 1) i++;
    if (i == 0) return 0;
    while (i < len && p[i] == '=') i++;
    return i == len;
}

static ngx_int_t rt_access_handler(ngx_http_request_t *r) {
    rt_loc_conf_t *lcf = ngx_http_get_module_loc_conf(r, ngx_http_reftoken_module);
    rt_main_conf_t *mcf;
    rt_ctx_t *ctx;
    rt_result_t *res;
    ngx_str_t *auth;
    u_char *p, *end, *tok;
    size_t tok_len;
    time_t now;
    rt_task_ctx_t *t;
    ngx_thread_task_t *task;
    ngx_pool_cleanup_t *cln;

    if (!lcf->enable) return NGX_DECLINED;
    mcf = ngx_http_get_module_main_conf(r, ngx_http_reftoken_module);

    ctx = ngx_http_get_module_ctx(r, ngx_http_reftoken_module);
    if (ctx) {
        if (ctx->state == RT_WAITING) return NGX_AGAIN;
        if (ctx->state == RT_DONE) return rt_answer(r, lcf, &ctx->res);
    }

    if (r->headers_in.authorization == NULL) return rt_challenge(r, lcf, NGX_HTTP_UNAUTHORIZED, NULL, NULL);
    auth = &r->headers_in.authorization->value;
    p = auth->data;
    end = p + auth->len;
    /* Another scheme is not a bearer token: RFC 6750 3.1 says no error code then. */
    if (auth->len < 6 || ngx_strncasecmp(p, (u_char *)"Bearer", 6) != 0 || (auth->len > 6 && p[6] != ' '))
        return rt_challenge(r, lcf, NGX_HTTP_UNAUTHORIZED, NULL, NULL);
    p += 6;
    while (p < end && *p == ' ') p++;
    tok = p;
    while (p < end && *p != ' ') p++;
    tok_len = p - tok;
    while (p < end && *p == ' ') p++;
    if (tok_len == 0 || p != end)
        return rt_challenge(r, lcf, NGX_HTTP_BAD_REQUEST, "invalid_request", "The Authorization header is malformed");
    if (tok_len > RT_MAX_TOKEN || !rt_token68(tok, tok_len))
        return rt_challenge(r, lcf, NGX_HTTP_UNAUTHORIZED, "invalid_token", "The access token is malformed");

    if (ctx == NULL) {
        /* Not zeroed as a whole: the result's fields are set below or by rt_validate. */
        ctx = ngx_palloc(r->pool, sizeof *ctx);
        if (ctx == NULL) return NGX_HTTP_INTERNAL_SERVER_ERROR;
        ctx->state = RT_NEW;
        ngx_http_set_ctx(r, ctx, ngx_http_reftoken_module);
    }
    res = &ctx->res;
    ngx_memzero(res, offsetof(rt_result_t, err));
    res->err[0] = '\0';
    now = ngx_time();

    if (mcf->validator == NULL) {
        res->st = REFTOKEN_IO_ERROR;
        ngx_cpystrn((u_char *)res->err, (u_char *)"no validator in this worker", sizeof res->err);
        ctx->state = RT_DONE;
        return rt_answer(r, lcf, res);
    }

    /* First from the cache, on the event loop, with nothing but the request's pool
     * allocated here; the JWT (a signature) is always made on a pool thread. */
    if (!lcf->jwt) {
        rt_validate(mcf, lcf, tok, tok_len, now, r->pool, res);
        if (!res->deferred) {
            ctx->state = RT_DONE;
            return rt_answer(r, lcf, res);
        }
    }

    /* The store is needed: a pool thread validates, with malloc'd results that a cleanup of
     * the request's pool frees. */
    task = ngx_thread_task_alloc(r->pool, sizeof *t);
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (task == NULL || cln == NULL) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    cln->handler = rt_result_cleanup;
    cln->data = res;
    t = task->ctx;
    t->mcf = mcf;
    t->lcf = lcf;
    t->now = now;
    t->res = res;
    t->token = ngx_pnalloc(r->pool, tok_len);
    if (t->token == NULL) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    ngx_memcpy(t->token, tok, tok_len);
    t->token_len = tok_len;
    task->handler = rt_thread_handler;
    task->event.data = r;
    task->event.handler = rt_thread_done;
    if (ngx_thread_task_post(mcf->thread_pool, task) != NGX_OK) {
        /* The pool's queue is full: shed load rather than block the event loop. */
        res->st = REFTOKEN_IO_ERROR;
        res->deferred = 0;
        ngx_cpystrn((u_char *)res->err, (u_char *)"thread pool queue full", sizeof res->err);
        ctx->state = RT_DONE;
        return rt_answer(r, lcf, res);
    }
    ctx->state = RT_WAITING;
    r->main->blocked++;
    r->aio = 1;
    return NGX_AGAIN;
}

/* ---------------------------------------------------------------------------------------- */
/* Variables */

enum { RT_VAR_SUBJECT, RT_VAR_CLIENT_ID, RT_VAR_SCOPE, RT_VAR_EXPIRES, RT_VAR_INTROSPECTION, RT_VAR_JWT };

static ngx_int_t rt_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data) {
    rt_ctx_t *ctx = ngx_http_get_module_ctx(r->main, ngx_http_reftoken_module);
    rt_result_t *res;
    u_char *p = NULL;
    size_t len = 0;

    if (ctx == NULL || ctx->state != RT_DONE || !ctx->res.active) {
        v->not_found = 1;
        return NGX_OK;
    }
    res = &ctx->res;
    switch (data) {
        case RT_VAR_SUBJECT: p = (u_char *)res->sub; len = res->sub_len; break;
        case RT_VAR_CLIENT_ID: p = (u_char *)res->client_id; len = res->client_id_len; break;
        case RT_VAR_SCOPE:
            if (rt_result_scope(r, res) != 0) return NGX_ERROR;
            p = (u_char *)res->scope;
            len = res->scope_len;
            break;
        case RT_VAR_INTROSPECTION: p = (u_char *)res->json; len = res->json_len; break;
        case RT_VAR_JWT: p = (u_char *)res->jwt; len = res->jwt_len; break;
        case RT_VAR_EXPIRES:
            p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
            if (p == NULL) return NGX_ERROR;
            len = ngx_sprintf(p, "%L", res->exp) - p;
            break;
    }
    if (p == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }
    /* Header values cannot carry CR or LF; a subject holding them is not forwarded. */
    if (memchr(p, '\r', len) || memchr(p, '\n', len)) {
        v->not_found = 1;
        return NGX_OK;
    }
    v->data = p;
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    return NGX_OK;
}

static ngx_http_variable_t rt_vars[] = {
    {ngx_string("reftoken_subject"), NULL, rt_variable, RT_VAR_SUBJECT, NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("reftoken_client_id"), NULL, rt_variable, RT_VAR_CLIENT_ID, NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("reftoken_scope"), NULL, rt_variable, RT_VAR_SCOPE, NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("reftoken_expires"), NULL, rt_variable, RT_VAR_EXPIRES, NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("reftoken_introspection"), NULL, rt_variable, RT_VAR_INTROSPECTION, NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("reftoken_jwt"), NULL, rt_variable, RT_VAR_JWT, NGX_HTTP_VAR_NOCACHEABLE, 0},
    ngx_http_null_variable};

/* ---------------------------------------------------------------------------------------- */
/* Configuration */

static ngx_int_t rt_preconfiguration(ngx_conf_t *cf) {
    ngx_http_variable_t *v, *d;
    rt_token68_init();
    for (d = rt_vars; d->name.len; d++) {
        v = ngx_http_add_variable(cf, &d->name, d->flags);
        if (v == NULL) return NGX_ERROR;
        v->get_handler = d->get_handler;
        v->data = d->data;
    }
    return NGX_OK;
}

static ngx_int_t rt_postconfiguration(ngx_conf_t *cf) {
    ngx_http_core_main_conf_t *cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    ngx_http_handler_pt *h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) return NGX_ERROR;
    *h = rt_access_handler;
    return NGX_OK;
}

static void *rt_create_main_conf(ngx_conf_t *cf) {
    rt_main_conf_t *m = ngx_pcalloc(cf->pool, sizeof *m);
    if (m == NULL) return NULL;
    m->store_connections = NGX_CONF_UNSET_UINT;
    m->cache_size = NGX_CONF_UNSET_SIZE;
    m->cache_ttl = NGX_CONF_UNSET;
    m->stale_bound = NGX_CONF_UNSET_MSEC;
    return m;
}

static void rt_main_conf_cleanup(void *data) {
    rt_main_conf_t *m = data;
    reftoken_keyring_free(m->keyring);
    reftoken_signing_key_free(m->jwt_key);
    m->keyring = NULL;
    m->jwt_key = NULL;
}

static char *rt_cstr(ngx_conf_t *cf, ngx_str_t *s) {
    char *p = ngx_pnalloc(cf->pool, s->len + 1);
    if (p) {
        ngx_memcpy(p, s->data, s->len);
        p[s->len] = '\0';
    }
    return p;
}

static char *rt_init_main_conf(ngx_conf_t *cf, void *conf) {
    rt_main_conf_t *m = conf;
    ngx_pool_cleanup_t *cln;
    reftoken_status st;
    char why[256];

    ngx_conf_init_uint_value(m->store_connections, 4);
    ngx_conf_init_size_value(m->cache_size, 10000);
    ngx_conf_init_value(m->cache_ttl, 60);
    ngx_conf_init_msec_value(m->stale_bound, 10000);
    if (m->stale_bound < 50) return "reftoken_revocation_stale must be at least 50ms";
    if (m->thread_pool_name.len == 0) {
        ngx_str_set(&m->thread_pool_name, "default");
    }
    if (m->store.len == 0) return NGX_CONF_OK;

    if (!(m->store.len > 7 && ngx_strncmp(m->store.data, "sqlite:", 7) == 0) &&
        !(m->store.len > 13 && ngx_strncmp(m->store.data, "postgresql://", 13) == 0) &&
        !(m->store.len > 11 && ngx_strncmp(m->store.data, "postgres://", 11) == 0))
        return "reftoken_store must be sqlite:PATH or a postgresql:// URL";

    m->thread_pool = ngx_thread_pool_add(cf, &m->thread_pool_name);
    if (m->thread_pool == NULL) return NGX_CONF_ERROR;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) return NGX_CONF_ERROR;
    cln->handler = rt_main_conf_cleanup;
    cln->data = m;

    /* Key ring and signing key are read here, in the master, so that `nginx -t` and a
     * reload report a bad path; workers inherit them. */
    if (m->keyring_dir.len) {
        char *dir = rt_cstr(cf, &m->keyring_dir);
        if (dir == NULL) return NGX_CONF_ERROR;
        st = reftoken_keyring_new_from_dir(dir, m->keyring_dir.len, (const char *)m->app_name.data, m->app_name.len,
                                           &m->keyring);
        if (st != REFTOKEN_OK) {
            rt_last_error(why, sizeof why);
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "reftoken_keyring \"%V\": %s: %s", &m->keyring_dir,
                               reftoken_status_str(st), why);
            return NGX_CONF_ERROR;
        }
    }
    if (m->jwt_key_file.len) {
        ngx_file_t file;
        ngx_file_info_t fi;
        u_char *pem;
        ssize_t n;
        char *path = rt_cstr(cf, &m->jwt_key_file);
        if (path == NULL) return NGX_CONF_ERROR;
        ngx_memzero(&file, sizeof file);
        file.name = m->jwt_key_file;
        file.log = cf->log;
        file.fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
        if (file.fd == NGX_INVALID_FILE) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno, "reftoken_jwt_key: cannot open \"%s\"", path);
            return NGX_CONF_ERROR;
        }
        if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR || ngx_file_size(&fi) > 65536 ||
            (pem = ngx_pnalloc(cf->pool, (size_t)ngx_file_size(&fi) + 1)) == NULL ||
            (n = ngx_read_file(&file, pem, (size_t)ngx_file_size(&fi), 0)) < 0) {
            ngx_close_file(file.fd);
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "reftoken_jwt_key: cannot read \"%s\"", path);
            return NGX_CONF_ERROR;
        }
        ngx_close_file(file.fd);
        st = reftoken_signing_key_new_from_pem((const char *)pem, (size_t)n, REFTOKEN_JWT_ALG_DEFAULT,
                                               (const char *)m->jwt_kid.data, m->jwt_kid.len, &m->jwt_key);
        ngx_explicit_memzero(pem, (size_t)n);
        if (st != REFTOKEN_OK) {
            rt_last_error(why, sizeof why);
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "reftoken_jwt_key \"%s\": %s: %s", path, reftoken_status_str(st),
                               why);
            return NGX_CONF_ERROR;
        }
    }
    return NGX_CONF_OK;
}

static void *rt_create_loc_conf(ngx_conf_t *cf) {
    rt_loc_conf_t *l = ngx_pcalloc(cf->pool, sizeof *l);
    if (l == NULL) return NULL;
    l->enable = NGX_CONF_UNSET;
    l->jwt = NGX_CONF_UNSET;
    l->require = NGX_CONF_UNSET_PTR;
    return l;
}

static char *rt_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child) {
    rt_loc_conf_t *prev = parent, *l = child;
    rt_main_conf_t *m = ngx_http_conf_get_module_main_conf(cf, ngx_http_reftoken_module);
    size_t i;

    ngx_conf_merge_value(l->enable, prev->enable, 0);
    ngx_conf_merge_value(l->jwt, prev->jwt, 0);
    ngx_conf_merge_str_value(l->api, prev->api, "");
    ngx_conf_merge_str_value(l->api_scopes, prev->api_scopes, "");
    ngx_conf_merge_str_value(l->realm, prev->realm, "api");
    ngx_conf_merge_ptr_value(l->require, prev->require, NULL);
    if (l->require_joined.len == 0 && l->require == prev->require) l->require_joined = prev->require_joined;
    for (i = 0; i < l->realm.len; i++)
        if (l->realm.data[i] == '"' || l->realm.data[i] == '\\' || l->realm.data[i] < 0x20)
            return "reftoken_realm must not contain quotes, backslashes or control characters";
    if (l->enable) {
        if (m->store.len == 0) return "reftoken is on but reftoken_store is not set";
        if (l->api.len == 0) return "reftoken is on but reftoken_api is not set";
        if (l->api_scopes.len == 0) return "reftoken is on but reftoken_api_scopes is not set";
        if (l->jwt && m->jwt_key_file.len == 0) return "reftoken_jwt is on but reftoken_jwt_key is not set";
    }
    return NGX_CONF_OK;
}

/* Joins the directive's arguments with spaces. */
static char *rt_join(ngx_conf_t *cf, ngx_str_t *out) {
    ngx_str_t *a = cf->args->elts;
    ngx_uint_t i;
    size_t len = 0;
    u_char *p;
    for (i = 1; i < cf->args->nelts; i++) len += a[i].len + 1;
    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) return NGX_CONF_ERROR;
    out->data = p;
    for (i = 1; i < cf->args->nelts; i++) {
        if (i > 1) *p++ = ' ';
        p = ngx_cpymem(p, a[i].data, a[i].len);
    }
    out->len = p - out->data;
    return NGX_CONF_OK;
}

static char *rt_set_scopes(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) {
    ngx_str_t *field = (ngx_str_t *)((char *)conf + cmd->offset);
    if (field->data) return "is duplicate";
    return rt_join(cf, field);
}

static char *rt_set_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) {
    rt_loc_conf_t *l = conf;
    ngx_str_t *a = cf->args->elts, *s;
    ngx_uint_t i;
    (void)cmd;
    if (l->require != NGX_CONF_UNSET_PTR) return "is duplicate";
    l->require = ngx_array_create(cf->pool, cf->args->nelts - 1, sizeof(ngx_str_t));
    if (l->require == NULL) return NGX_CONF_ERROR;
    for (i = 1; i < cf->args->nelts; i++) {
        size_t k;
        for (k = 0; k < a[i].len; k++)
            if (a[i].data[k] == '"' || a[i].data[k] == '\\' || a[i].data[k] <= 0x20)
                return "scope names must not contain quotes, backslashes, spaces or control characters";
        s = ngx_array_push(l->require);
        if (s == NULL) return NGX_CONF_ERROR;
        *s = a[i];
    }
    return rt_join(cf, &l->require_joined);
}

static char *rt_set_revocation(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) {
    rt_main_conf_t *m = conf;
    ngx_str_t *a = cf->args->elts;
    (void)cmd;
    if (m->revocation.data) return "is duplicate";
    if (!(a[1].len > 13 && ngx_strncmp(a[1].data, "postgresql://", 13) == 0) &&
        !(a[1].len > 11 && ngx_strncmp(a[1].data, "postgres://", 11) == 0) &&
        !(a[1].len > 8 && ngx_strncmp(a[1].data, "redis://", 8) == 0))
        return "takes a postgresql:// or redis:// URL";
    m->revocation = a[1];
    if (cf->args->nelts == 3) {
        if (a[2].len <= 8 || ngx_strncmp(a[2].data, "channel=", 8) != 0) return "takes channel=NAME as its option";
        m->channel.data = a[2].data + 8;
        m->channel.len = a[2].len - 8;
    }
    return NGX_CONF_OK;
}

static char *rt_set_jwt_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) {
    rt_main_conf_t *m = conf;
    ngx_str_t *a = cf->args->elts;
    (void)cmd;
    if (m->jwt_key_file.data) return "is duplicate";
    m->jwt_key_file = a[1];
    if (ngx_conf_full_name(cf->cycle, &m->jwt_key_file, 1) != NGX_OK) return NGX_CONF_ERROR;
    if (cf->args->nelts == 3) {
        if (a[2].len <= 4 || ngx_strncmp(a[2].data, "kid=", 4) != 0) return "takes kid=ID as its option";
        m->jwt_kid.data = a[2].data + 4;
        m->jwt_kid.len = a[2].len - 4;
    }
    return NGX_CONF_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Worker processes */

/* A malloc'd libpq conninfo with a connect timeout, unless the URL sets one. */
static char *rt_pg_conninfo(const u_char *url, size_t len) {
    int has_query = memchr(url, '?', len) != NULL;
    int has_timeout = ngx_strlcasestrn((u_char *)url, (u_char *)url + len, (u_char *)"connect_timeout", 15 - 1) != NULL;
    size_t extra = has_timeout ? 0 : sizeof("?connect_timeout=" RT_PG_CONNECT_TIMEOUT);
    char *s = malloc(len + extra + 1);
    if (s == NULL) return NULL;
    memcpy(s, url, len);
    s[len] = '\0';
    if (!has_timeout) strcat(s, has_query ? "&connect_timeout=" RT_PG_CONNECT_TIMEOUT : "?connect_timeout=" RT_PG_CONNECT_TIMEOUT);
    return s;
}

static ngx_int_t rt_init_process(ngx_cycle_t *cycle) {
    rt_main_conf_t *m;
    rt_store_t *s;
    reftoken_status st;
    char why[256];

    if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE) return NGX_OK;
    m = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_reftoken_module);
    if (m == NULL || m->store.len == 0) return NGX_OK;

    s = calloc(1, sizeof *s);
    if (s == NULL) return NGX_ERROR;
    pthread_mutex_init(&s->mu, NULL);
    s->connections = (unsigned)m->store_connections;
    if (m->store.data[0] == 's') {
        s->kind = RT_STORE_SQLITE;
        s->spec = rt_dup(NULL, (const char *)m->store.data + 7, m->store.len - 7);
    } else {
        s->kind = RT_STORE_POSTGRES;
        s->spec = rt_pg_conninfo(m->store.data, m->store.len);
    }
    if (s->spec == NULL) {
        rt_store_free(s);
        return NGX_ERROR;
    }
    m->rt_store = s;
    /* A store that is down now is not fatal: requests get 503 and the store is opened again
     * later (at most once a second), from a pool thread. */
    s->last_attempt = 0;
    if (rt_store_backend(s) == NULL) {
        rt_store_error(s, why, sizeof why);
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0, "reftoken: store unavailable at start: %s", why);
    }

    st = reftoken_validator_new(rt_lookup, s, m->keyring, m->cache_size, (int64_t)m->cache_ttl, &m->validator);
    if (st != REFTOKEN_OK) {
        rt_last_error(why, sizeof why);
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0, "reftoken: cannot create the validator: %s: %s",
                      reftoken_status_str(st), why);
        return NGX_ERROR;
    }
    if (m->revocation.len) {
        if (m->revocation.data[0] == 'r')
            st = reftoken_revocation_listener_start_redis(m->validator, (const char *)m->revocation.data,
                                                          m->revocation.len, (const char *)m->channel.data,
                                                          m->channel.len, (uint32_t)m->stale_bound, &m->listener);
        else
            st = reftoken_revocation_listener_start_postgres(m->validator, (const char *)m->revocation.data,
                                                             m->revocation.len, (const char *)m->channel.data,
                                                             m->channel.len, (uint32_t)m->stale_bound, &m->listener);
        if (st != REFTOKEN_OK) {
            /* The library's message names no credentials. */
            rt_last_error(why, sizeof why);
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0, "reftoken: cannot start the revocation listener: %s: %s",
                          reftoken_status_str(st), why);
            return NGX_ERROR;
        }
    }
    return NGX_OK;
}

static void rt_exit_process(ngx_cycle_t *cycle) {
    rt_main_conf_t *m = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_reftoken_module);
    if (m == NULL) return;
    /* The thread pool (a core module) has already finished its tasks by now. */
    reftoken_revocation_listener_free(m->listener);
    reftoken_validator_free(m->validator);
    rt_store_free(m->rt_store);
    m->listener = NULL;
    m->validator = NULL;
    m->rt_store = NULL;
}

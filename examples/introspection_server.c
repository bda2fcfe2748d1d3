/*
 * introspection_server.c: an RFC 7662 introspection endpoint in C, serving IdentityServer's
 * reference tokens from its own SQLite store through RefToken, with IdentityServer's
 * semantics: API secrets (hashed as IdentityServer stores them), HTTP Basic or form-body
 * credentials, 400 missing_token, 401 for a failed caller, and RFC 9701 JWT responses.
 *
 * A deliberately small HTTP/1.1 server (Connection: close) so that the RefToken calls stay in
 * view; put a real HTTP server in front for production. What it does take care of, as
 * anything that faces a network must:
 *  - WORKERS threads each accept and serve one connection at a time, sharing one validator;
 *    connections beyond them wait in the kernel's listen queue (SOMAXCONN), and past that the
 *    kernel refuses them: the process never holds more than WORKERS client sockets.
 *  - A client has REQUEST_TIMEOUT_SECONDS to send its whole request (and to take the answer);
 *    then its connection is closed, so a client that goes quiet holds one worker that long.
 *  - SIGPIPE is ignored (and writes use MSG_NOSIGNAL): a client that resets costs only its
 *    own connection, not the process.
 *
 *   introspection_server --db persisted-grants.db --port 5005
 *       [--keyring DIR --app-name NAME]      key ring for Data Protection
 *       [--api NAME STORED_SECRET SCOPES]... an API resource: its secret as IdentityServer
 *                                            stores it ("secret".Sha256()) and its scopes
 *       [--client ID STORED_SECRET]...       a client that may introspect its own tokens;
 *                                            tokens of other clients are inactive
 *       [--issuer URL --jwt-key PEM [--jwt-kid KID]]  sign RFC 9701 responses (ES256/RS256)
 *       [--now UNIX_SECONDS]                 a fixed clock, for tests
 *
 * Build: cc -Iinclude examples/introspection_server.c examples/store_sqlite.c
 *        -Ltarget/release -lreftoken -lsqlite3 -lpthread
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "reftoken.h"
#include "store_sqlite.h"

#define MAX_PRINCIPALS 16
#define MAX_REQUEST 65536
#define WORKERS 16                 /* connections served at once */
#define REQUEST_TIMEOUT_SECONDS 5  /* to send a whole request, and to take the answer */

typedef struct {
    const char *name;   /* API resource name or client id */
    const char *secret; /* stored value: base64 SHA-256 or SHA-512 */
    const char *scopes; /* APIs: space-separated scopes */
} principal;

static principal apis[MAX_PRINCIPALS], clients[MAX_PRINCIPALS];
static int api_count, client_count;

/* What every worker shares; read-only once the workers start. */
typedef struct {
    int listener;
    reftoken_validator *validator;
    reftoken_signing_key *jwt_key;
    const char *issuer;
    int64_t fixed_now;
} endpoint;

static const principal *find(const principal *list, int count, reftoken_str name) {
    for (int i = 0; i < count; i++)
        if (strlen(list[i].name) == name.len && memcmp(list[i].name, name.ptr, name.len) == 0) return &list[i];
    return NULL;
}

/* IdentityServer checks the caller as an API resource first, then as a client. */
static int authenticate(const reftoken_credentials *cred, int64_t now, reftoken_caller *caller) {
    if (cred->kind != REFTOKEN_CREDENTIALS_SHARED_SECRET) return 0;
    const principal *p = find(apis, api_count, cred->client_id);
    int is_api = p != NULL;
    if (!p) p = find(clients, client_count, cred->client_id);
    if (!p) return 0;
    reftoken_str stored = {p->secret, strlen(p->secret)};
    bool valid = false;
    size_t index = 0;
    if (reftoken_secret_verify(cred->secret.ptr, cred->secret.len, &stored, NULL, 1, now, &valid, &index) != REFTOKEN_OK || !valid)
        return 0;
    caller->kind = is_api ? REFTOKEN_CALLER_API : REFTOKEN_CALLER_CLIENT;
    caller->name = (reftoken_str){p->name, strlen(p->name)};
    caller->scopes = (reftoken_str){p->scopes ? p->scopes : "", p->scopes ? strlen(p->scopes) : 0};
    return 1;
}

static bool client_known(void *ctx, const char *id, size_t len) {
    (void)ctx;
    return find(clients, client_count, (reftoken_str){id, len}) != NULL;
}

static void send_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0) return;
        data += n;
        len -= (size_t)n;
    }
}

static void respond(int fd, int status, const char *content_type, int no_store, const char *body, size_t body_len) {
    const char *reason = status == 200 ? "OK" : status == 400 ? "Bad Request" : status == 401 ? "Unauthorized"
                       : status == 405 ? "Method Not Allowed" : status == 415 ? "Unsupported Media Type"
                       : status == 404 ? "Not Found" : "Internal Server Error";
    char head[512];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s%s%s%s\r\n", status,
                     reason, body_len, content_type ? "Content-Type: " : "", content_type ? content_type : "",
                     content_type ? "\r\n" : "", no_store ? "Cache-Control: no-store, no-cache, max-age=0\r\nPragma: no-cache\r\n" : "");
    send_all(fd, head, (size_t)n);
    send_all(fd, body, body_len);
}

/* Finds a header's value in the request head (case-insensitive name); NULL when absent. */
static reftoken_str header(const char *head, const char *name) {
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ') v++;
            const char *end = strstr(v, "\r\n");
            return (reftoken_str){v, (size_t)(end - v)};
        }
    }
    return (reftoken_str){NULL, 0};
}

/* Milliseconds until `deadline` (CLOCK_MONOTONIC), 0 once it has passed. */
static int ms_until(const struct timespec *deadline) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ms = (deadline->tv_sec - now.tv_sec) * 1000LL + (deadline->tv_nsec - now.tv_nsec) / 1000000;
    return ms > 0 ? (int)ms : 0;
}

static void serve(int fd, const endpoint *e) {
    char buf[MAX_REQUEST + 1];
    size_t got = 0;
    char *body = NULL;
    size_t content_length = 0;
    /* One deadline for the whole request, so that a client sending a byte at a time cannot
     * hold the worker longer than one that sends nothing. */
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += REQUEST_TIMEOUT_SECONDS;
    while (got < MAX_REQUEST) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, ms_until(&deadline)) != 1) return; /* timed out: close */
        ssize_t n = read(fd, buf + got, MAX_REQUEST - got);
        if (n <= 0) return;
        got += (size_t)n;
        buf[got] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (!end) continue;
        reftoken_str cl = header(buf, "Content-Length");
        content_length = cl.ptr ? strtoul(cl.ptr, NULL, 10) : 0;
        body = end + 4;
        if (content_length > MAX_REQUEST || (size_t)(buf + got - body) >= content_length) break;
    }
    if (!body || (size_t)(buf + got - body) < content_length) return;
    *(body - 2) = '\0'; /* end the head (keeps its last CRLF for header()) */

    char *sp = strchr(buf, ' ');
    char *sp2 = sp ? strchr(sp + 1, ' ') : NULL;
    if (!sp || !sp2) return;
    if ((size_t)(sp2 - sp - 1) != strlen("/connect/introspect") || strncmp(sp + 1, "/connect/introspect", (size_t)(sp2 - sp - 1)) != 0) {
        respond(fd, 404, NULL, 0, "", 0);
        return;
    }
    reftoken_http_request req = {{buf, (size_t)(sp - buf)}, header(buf, "Content-Type"), header(buf, "Authorization"),
                                 header(buf, "Accept"), (const uint8_t *)body, content_length};
    int64_t now = e->fixed_now ? e->fixed_now : (int64_t)time(NULL);
    reftoken_introspection_request *r = NULL;
    if (reftoken_introspection_request_parse(&req, &r) != REFTOKEN_OK) {
        respond(fd, 400, NULL, 0, "", 0);
        return;
    }
    reftoken_credentials cred;
    reftoken_caller caller;
    int authenticated = reftoken_introspection_request_credentials(r, &cred) == REFTOKEN_OK && authenticate(&cred, now, &caller);
    reftoken_endpoint_answer a;
    if (reftoken_introspection_request_decide(r, authenticated, &a) != REFTOKEN_OK) {
        respond(fd, 500, NULL, 0, "", 0);
    } else if (!a.introspect) {
        /* 400/401/405/415 as IdentityServer answers them; the body borrows from `r`. */
        char ct[128] = {0};
        if (a.content_type.len) memcpy(ct, a.content_type.ptr, a.content_type.len < 127 ? a.content_type.len : 127);
        respond(fd, a.status, a.content_type.len ? ct : NULL, a.no_store, a.body.ptr ? a.body.ptr : "", a.body.len);
    } else {
        char json[65536], jwt[65536];
        size_t len = 0;
        /* Tokens of clients this server does not know (or has disabled) are inactive. */
        reftoken_options opts = {REFTOKEN_IDENTITYSERVER_LATEST, client_known, NULL, NULL, NULL};
        reftoken_status st = reftoken_validator_introspect(e->validator, a.token.ptr, a.token.len, &caller, now, &opts, json, sizeof json, &len);
        if (st != REFTOKEN_OK) {
            respond(fd, 500, NULL, 0, "", 0); /* where IdentityServer fails too */
        } else if (a.jwt_requested && e->jwt_key) {
            size_t jlen = 0;
            if (reftoken_introspection_jwt(e->jwt_key, e->issuer, strlen(e->issuer), caller.name.ptr, caller.name.len, now, json, len, jwt, sizeof jwt, &jlen) == REFTOKEN_OK)
                respond(fd, 200, "application/token-introspection+jwt", 1, jwt, jlen);
            else
                respond(fd, 500, NULL, 0, "", 0);
        } else {
            respond(fd, 200, "application/json; charset=UTF-8", 1, json, len);
        }
    }
    reftoken_introspection_request_free(r);
}

static void *worker(void *arg) {
    const endpoint *e = arg;
    for (;;) {
        int fd = accept(e->listener, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                poll(NULL, 0, 100); /* out of descriptors or memory: the others may free some */
                continue;
            }
            return NULL; /* the listener was shut down */
        }
        /* The answer too must be taken within the timeout (the request's is in serve()). */
        struct timeval tv = {REQUEST_TIMEOUT_SECONDS, 0};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        serve(fd, e);
        close(fd);
    }
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char data[65536];
    *len = fread(data, 1, sizeof data - 1, f);
    fclose(f);
    data[*len] = '\0';
    return data;
}

int main(int argc, char **argv) {
    const char *db = NULL, *keyring_dir = NULL, *app_name = "", *issuer = "", *jwt_pem = NULL, *jwt_kid = "";
    int port = 5005;
    int64_t fixed_now = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--db") && i + 1 < argc) db = argv[++i];
        else if (!strcmp(argv[i], "--port") && i + 1 < argc) port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--keyring") && i + 1 < argc) keyring_dir = argv[++i];
        else if (!strcmp(argv[i], "--app-name") && i + 1 < argc) app_name = argv[++i];
        else if (!strcmp(argv[i], "--issuer") && i + 1 < argc) issuer = argv[++i];
        else if (!strcmp(argv[i], "--jwt-key") && i + 1 < argc) jwt_pem = argv[++i];
        else if (!strcmp(argv[i], "--jwt-kid") && i + 1 < argc) jwt_kid = argv[++i];
        else if (!strcmp(argv[i], "--now") && i + 1 < argc) fixed_now = strtoll(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--api") && i + 3 < argc && api_count < MAX_PRINCIPALS) {
            apis[api_count++] = (principal){argv[i + 1], argv[i + 2], argv[i + 3]};
            i += 3;
        } else if (!strcmp(argv[i], "--client") && i + 2 < argc && client_count < MAX_PRINCIPALS) {
            clients[client_count++] = (principal){argv[i + 1], argv[i + 2], NULL};
            i += 2;
        } else {
            fprintf(stderr, "usage: %s --db FILE [--port N] [--keyring DIR --app-name NAME] [--api NAME SECRET SCOPES]... "
                            "[--client ID SECRET]... [--issuer URL --jwt-key PEM] [--now UNIX_SECONDS]\n", argv[0]);
            return 2;
        }
    }
    if (!db) {
        fprintf(stderr, "--db is required\n");
        return 2;
    }
    char err[512];
    sqlite_store *store = NULL;
    if (sqlite_store_open(db, 2, &store, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    reftoken_keyring *ring = NULL;
    if (keyring_dir && reftoken_keyring_new_from_dir(keyring_dir, strlen(keyring_dir), app_name, strlen(app_name), &ring) != REFTOKEN_OK) {
        size_t n;
        reftoken_last_error(err, sizeof err, &n);
        fprintf(stderr, "key ring: %s\n", err);
        return 1;
    }
    reftoken_signing_key *jwt_key = NULL;
    if (jwt_pem) {
        size_t n = 0;
        char *pem = read_file(jwt_pem, &n);
        if (!pem || reftoken_signing_key_new_from_pem(pem, n, REFTOKEN_JWT_ALG_DEFAULT, jwt_kid, strlen(jwt_kid), &jwt_key) != REFTOKEN_OK) {
            fprintf(stderr, "cannot load the JWT signing key %s\n", jwt_pem);
            return 1;
        }
    }
    reftoken_validator *validator = NULL;
    reftoken_validator_new(sqlite_store_lookup, store, ring, 10000, 60, &validator);
    reftoken_keyring_free(ring); /* the validator keeps its own reference */

    int srv = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(srv, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(srv, SOMAXCONN) != 0) {
        perror("bind 127.0.0.1");
        return 1;
    }
    /* A write to a connection the client reset raises SIGPIPE, which would end the process. */
    signal(SIGPIPE, SIG_IGN);
    /* SIGTERM and SIGINT go to this thread's sigwait alone: the workers start with them blocked. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    endpoint e = {srv, validator, jwt_key, issuer, fixed_now};
    pthread_t workers[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        if (pthread_create(&workers[i], NULL, worker, &e) != 0) {
            fprintf(stderr, "cannot start a worker thread\n");
            return 1;
        }
    }
    printf("listening on http://127.0.0.1:%d/connect/introspect\n", port);
    fflush(stdout);
    int sig;
    sigwait(&stop, &sig);
    /* Wakes the workers blocked in accept(); each finishes its connection first. */
    shutdown(srv, SHUT_RDWR);
    for (int i = 0; i < WORKERS; i++) pthread_join(workers[i], NULL);
    close(srv);
    reftoken_validator_free(validator);
    reftoken_signing_key_free(jwt_key);
    sqlite_store_close(store);
    return 0;
}

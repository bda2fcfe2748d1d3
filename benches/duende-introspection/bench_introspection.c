/*
 * bench_introspection.c: validations per second of the same reference tokens, in the same
 * SQLite store, (a) through a real Duende IdentityServer host's introspection endpoint over
 * loopback HTTP (libcurl, one keep-alive connection per thread) and (b) through RefToken's
 * validator in-process (the C ABI, examples/store_sqlite.c), with a warm cache and with every
 * validation reaching the store. run.sh drives it; see README.md.
 *
 *   bench_introspection issue  URL COUNT HANDLES_FILE
 *   bench_introspection check  URL DB KEYRING_DIR APP_NAME HANDLES_FILE COUNT
 *   bench_introspection http   URL HANDLES_FILE SECONDS THREADS...
 *   bench_introspection native DB KEYRING_DIR APP_NAME HANDLES_FILE SECONDS THREADS...
 *
 * issue:  COUNT reference tokens from URL/connect/token (client credentials), one handle a line.
 * check:  the first COUNT handles introspected both ways must give byte-identical JSON.
 * http:   POST token=<handle> with the API's Basic credentials to URL/connect/introspect; every
 *         answer must be 200 with "active":true.
 * native: reftoken_validator_validate (a verdict) and reftoken_validator_introspect (the same
 *         JSON as the endpoint), warm cache and no cache; every token must be active.
 *
 * Each measurement runs for a warm-up second (not counted) and then SECONDS, with handles drawn
 * at random, and prints one line:
 *   result SERIES THREADS CALLS SECONDS PER_SECOND P50_US P99_US CPU_US
 * Latency is timed on every HTTP call and on every 16th native call (the clock reads, about
 * 20 ns each, are included). CPU_US is the CPU time per validation: this process's, plus for
 * HTTP the host's when the environment variable HOST_PID names it.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "reftoken.h"
#include "store_sqlite.h"

#define MAX_THREADS 64
#define LAT_CAP (1u << 21)
#define WARMUP_SECONDS 1.0

static const char CLIENT_ID[] = "bench.client";
static const char CLIENT_SECRET[] = "bench-client-secret";
static const char API_NAME[] = "api1";
static const char API_SECRET[] = "api1-secret";
static const reftoken_caller API1 = {REFTOKEN_CALLER_API, {"api1", 4}, {"api1.read api1.write", 20}};

static char (*handles)[REFTOKEN_HANDLE_LEN + 1];
static size_t n_handles;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds used so far by this process and, when `host_pid` is set, by the host's process
 * (from /proc; clock ticks, so 10 ms resolution). */
static long host_pid;

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    double cpu = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    if (host_pid > 0) {
        char path[64], buf[1024];
        snprintf(path, sizeof path, "/proc/%ld/stat", host_pid);
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f) fclose(f);
        buf[n] = '\0';
        /* Fields after the ")" closing the command name: state is field 3; utime, stime are 14, 15. */
        const char *p = strrchr(buf, ')');
        unsigned long utime = 0, stime = 0;
        if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) == 2)
            cpu += (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
    }
    return cpu;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ HTTP */

typedef struct body {
    char buf[8192];
    size_t len;
    bool overflow;
} body;

static size_t on_body(char *data, size_t size, size_t n, void *arg) {
    body *b = arg;
    size_t len = size * n;
    if (b->len + len >= sizeof b->buf) {
        b->overflow = true;
        return len;
    }
    memcpy(b->buf + b->len, data, len);
    b->len += len;
    b->buf[b->len] = '\0';
    return len;
}

/* An easy handle for POSTs to `url` with Basic credentials, writing answers into `b`. */
static CURL *http_new(const char *url, const char *user, const char *password, body *b) {
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, user);
    curl_easy_setopt(c, CURLOPT_PASSWORD, password);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    return c;
}

/* POSTs `form`; returns the HTTP status (0 when the transfer failed). */
static long http_post(CURL *c, body *b, const char *form, size_t form_len) {
    b->len = 0;
    b->buf[0] = '\0';
    b->overflow = false;
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)form_len);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        snprintf(b->buf, sizeof b->buf, "%s", curl_easy_strerror(rc));
        return 0;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

static int cmd_issue(const char *base, long count, const char *path) {
    char url[512];
    snprintf(url, sizeof url, "%s/connect/token", base);
    body *b = calloc(1, sizeof *b);
    CURL *c = http_new(url, CLIENT_ID, CLIENT_SECRET, b);
    FILE *f = fopen(path, "w");
    if (!b || !c || !f) {
        fprintf(stderr, "issue: cannot start (%s)\n", path);
        return 1;
    }
    static const char form[] = "grant_type=client_credentials&scope=api1.read";
    double start = now_seconds();
    for (long i = 0; i < count; i++) {
        long status = http_post(c, b, form, sizeof form - 1);
        const char *at = strstr(b->buf, "\"access_token\":\"");
        const char *end = at ? strchr(at + 16, '"') : NULL;
        if (status != 200 || !end || end - (at + 16) != REFTOKEN_HANDLE_LEN) {
            fprintf(stderr, "issue: token %ld: HTTP %ld: %s\n", i, status, b->buf);
            return 1;
        }
        fprintf(f, "%.*s\n", REFTOKEN_HANDLE_LEN, at + 16);
    }
    double took = now_seconds() - start;
    fclose(f);
    curl_easy_cleanup(c);
    free(b);
    printf("issued %ld reference tokens through %s in %.1f s (%.0f/s)\n", count, url, took, (double)count / took);
    return 0;
}

/* ------------------------------------------------------------------ measurement */

typedef enum { SERIES_HTTP, SERIES_VERDICT, SERIES_JSON } series_kind;

typedef struct worker {
    series_kind kind;
    int index;
    /* HTTP */
    const char *url;
    /* native */
    reftoken_validator *v;
    const reftoken_options *options;
    int64_t now;
    /* timing */
    double count_from, until, ended;
    unsigned seed;
    unsigned sample_every;
    long done, failed;
    long connects;
    uint32_t *lat;
    size_t n_lat;
    char error[256];
} worker;

static const char *pick(worker *w) {
    w->seed = w->seed * 1103515245u + 12345u;
    return handles[(w->seed >> 8) % n_handles];
}

static void record(worker *w, uint64_t ns) {
    if (w->n_lat < LAT_CAP) w->lat[w->n_lat++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

static void fail(worker *w, const char *fmt, const char *detail) {
    if (w->failed++ == 0) snprintf(w->error, sizeof w->error, fmt, detail);
}

static void *run_http(void *arg) {
    worker *w = arg;
    body *b = calloc(1, sizeof *b);
    CURL *c = b ? http_new(w->url, API_NAME, API_SECRET, b) : NULL;
    if (!c) {
        fail(w, "%s", "cannot create a curl handle");
        free(b);
        return NULL;
    }
    char form[6 + REFTOKEN_HANDLE_LEN + 1] = "token=";
    for (;;) {
        double t = now_seconds();
        if (t >= w->until) break;
        bool counting = t >= w->count_from;
        memcpy(form + 6, pick(w), REFTOKEN_HANDLE_LEN);
        uint64_t t0 = now_ns();
        long status = http_post(c, b, form, sizeof form - 1);
        uint64_t t1 = now_ns();
        if (status != 200 || b->overflow || !strstr(b->buf, "\"active\":true")) {
            char why[200];
            snprintf(why, sizeof why, "HTTP %ld: %.160s", status, b->buf);
            fail(w, "%s", why);
        }
        if (counting) {
            w->done++;
            record(w, t1 - t0);
        }
    }
    w->ended = now_seconds();
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &w->connects); /* of the last transfer: 0 when reused */
    curl_easy_cleanup(c);
    free(b);
    return NULL;
}

static void *run_native(void *arg) {
    worker *w = arg;
    char out[4096];
    unsigned mask = w->sample_every - 1;
    for (;;) {
        double t = now_seconds();
        if (t >= w->until) break;
        bool counting = t >= w->count_from;
        for (unsigned k = 0; k < 256; k++) {
            const char *h = pick(w);
            bool timed = counting && (k & mask) == 0;
            uint64_t t0 = timed ? now_ns() : 0;
            reftoken_status st;
            bool active;
            if (w->kind == SERIES_JSON) {
                size_t len;
                st = reftoken_validator_introspect(w->v, h, REFTOKEN_HANDLE_LEN, &API1, w->now, w->options, out,
                                                   sizeof out, &len);
                active = st == REFTOKEN_OK && len > 20;
            } else {
                reftoken_verdict verdict;
                st = reftoken_validator_validate(w->v, h, REFTOKEN_HANDLE_LEN, &API1, w->now, w->options, NULL,
                                                 &verdict);
                active = st == REFTOKEN_OK && verdict.active;
            }
            if (timed) record(w, now_ns() - t0);
            if (!active) fail(w, "inactive or failed: %s", reftoken_status_str(st));
        }
        if (counting) w->done += 256;
    }
    w->ended = now_seconds();
    return NULL;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Runs `threads` workers like `proto` for the warm-up and `seconds`; prints the result line. */
static int measure(const char *series, const worker *proto, int threads, double seconds) {
    pthread_t th[MAX_THREADS];
    static worker w[MAX_THREADS];
    double start = now_seconds();
    for (int i = 0; i < threads; i++) {
        w[i] = *proto;
        w[i].index = i;
        w[i].seed = (unsigned)(i * 7919 + 1) ^ (unsigned)(start * 1000);
        w[i].count_from = start + WARMUP_SECONDS;
        w[i].until = start + WARMUP_SECONDS + seconds;
        w[i].lat = malloc(LAT_CAP * sizeof(uint32_t));
        if (!w[i].lat) return 1;
        pthread_create(&th[i], NULL, proto->kind == SERIES_HTTP ? run_http : run_native, &w[i]);
    }
    /* CPU used while counting: from the end of the warm-up to the last worker's end. */
    double wait = start + WARMUP_SECONDS - now_seconds();
    if (wait > 0) {
        struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        nanosleep(&ts, NULL);
    }
    double cpu0 = cpu_seconds();
    long done = 0, failed = 0, connects = 0;
    size_t n_lat = 0;
    double ended = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        done += w[i].done;
        failed += w[i].failed;
        connects += w[i].connects;
        n_lat += w[i].n_lat;
        if (w[i].ended > ended) ended = w[i].ended;
        if (w[i].failed) fprintf(stderr, "%s: thread %d: %ld failed, first: %s\n", series, i, w[i].failed, w[i].error);
    }
    double cpu = cpu_seconds() - cpu0;
    uint32_t *all = malloc((n_lat ? n_lat : 1) * sizeof *all);
    size_t at = 0;
    for (int i = 0; i < threads; i++) {
        memcpy(all + at, w[i].lat, w[i].n_lat * sizeof *all);
        at += w[i].n_lat;
        free(w[i].lat);
    }
    qsort(all, n_lat, sizeof *all, cmp_u32);
    double p50 = n_lat ? all[n_lat / 2] / 1000.0 : 0, p99 = n_lat ? all[n_lat * 99 / 100] / 1000.0 : 0;
    free(all);
    double took = ended - (start + WARMUP_SECONDS);
    printf("result %s %d %ld %.2f %.0f %.3f %.3f %.3f\n", series, threads, done, took, (double)done / took, p50, p99,
               done ? cpu * 1e6 / (double)done : 0);
    fflush(stdout);
    if (proto->kind == SERIES_HTTP && connects)
        fprintf(stderr, "%s: the last call of %ld thread(s) opened a new connection\n", series, connects);
    return failed ? 1 : 0;
}

/* ------------------------------------------------------------------ native */

/* IdentityServer answers inactive for a token whose client is unknown or disabled; the
 * validator asks this (the host's one client, enabled). */
static bool client_enabled(void *ctx, const char *id, size_t len) {
    (void)ctx;
    return len == sizeof CLIENT_ID - 1 && memcmp(id, CLIENT_ID, len) == 0;
}
static const reftoken_options OPTIONS = {0, client_enabled, NULL, NULL, NULL};

static int load_handles(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 1024;
    handles = malloc(cap * sizeof *handles);
    char line[256];
    while (fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\r\n");
        if (len == 0) continue;
        if (len != REFTOKEN_HANDLE_LEN) {
            fprintf(stderr, "%s: not a handle: %s\n", path, line);
            fclose(f);
            return -1;
        }
        if (n_handles == cap) handles = realloc(handles, (cap *= 2) * sizeof *handles);
        memcpy(handles[n_handles], line, len);
        handles[n_handles++][len] = '\0';
    }
    fclose(f);
    if (n_handles == 0) {
        fprintf(stderr, "%s: no handles\n", path);
        return -1;
    }
    return 0;
}

static int open_native(const char *db, const char *dir, const char *app, unsigned conns, sqlite_store **store,
                       reftoken_keyring **ring) {
    char err[256];
    if (sqlite_store_open(db, conns, store, err, sizeof err) != 0) {
        fprintf(stderr, "store: %s\n", err);
        return -1;
    }
    reftoken_status st = reftoken_keyring_new_from_dir(dir, strlen(dir), app, strlen(app), ring);
    if (st != REFTOKEN_OK) {
        size_t len;
        reftoken_last_error(err, sizeof err, &len);
        fprintf(stderr, "key ring %s: %s: %s\n", dir, reftoken_status_str(st), err);
        return -1;
    }
    return 0;
}

static int cmd_check(const char *base, const char *db, const char *dir, const char *app, long count) {
    sqlite_store *store = NULL;
    reftoken_keyring *ring = NULL;
    reftoken_validator *v = NULL;
    if (open_native(db, dir, app, 1, &store, &ring) != 0) return 1;
    reftoken_validator_new(sqlite_store_lookup, store, ring, 0, 0, &v);
    char url[512];
    snprintf(url, sizeof url, "%s/connect/introspect", base);
    body *b = calloc(1, sizeof *b);
    CURL *c = http_new(url, API_NAME, API_SECRET, b);
    long same = 0;
    if ((size_t)count > n_handles) count = (long)n_handles;
    for (long i = 0; i < count; i++) {
        char form[6 + REFTOKEN_HANDLE_LEN + 1], native[4096];
        size_t len = 0;
        int n = snprintf(form, sizeof form, "token=%s", handles[i]);
        long status = http_post(c, b, form, (size_t)n);
        reftoken_status st = reftoken_validator_introspect(v, handles[i], REFTOKEN_HANDLE_LEN, &API1,
                                                          (int64_t)time(NULL), &OPTIONS, native, sizeof native, &len);
        if (status == 200 && st == REFTOKEN_OK && len == b->len && memcmp(native, b->buf, len) == 0 &&
            strstr(native, "\"active\":true")) {
            same++;
        } else if (same == i) {
            fprintf(stderr, "check: handle %ld differs\n  HTTP %ld: %s\n  native %s: %.*s\n", i, status, b->buf,
                    reftoken_status_str(st), (int)len, native);
        }
    }
    curl_easy_cleanup(c);
    free(b);
    reftoken_validator_free(v);
    reftoken_keyring_free(ring);
    sqlite_store_close(store);
    printf("check: %ld of %ld handles: the endpoint's JSON and the native JSON are byte-identical and active\n", same,
           count);
    return same == count ? 0 : 1;
}

static int cmd_native(const char *db, const char *dir, const char *app, double seconds, int *threads, int n_threads) {
    int max = 1;
    for (int i = 0; i < n_threads; i++)
        if (threads[i] > max) max = threads[i];
    sqlite_store *store = NULL;
    reftoken_keyring *ring = NULL;
    if (open_native(db, dir, app, (unsigned)max, &store, &ring) != 0) return 1;
    reftoken_validator *cached = NULL, *uncached = NULL;
    reftoken_validator_new(sqlite_store_lookup, store, ring, n_handles * 2, 3600, &cached);
    reftoken_validator_new(sqlite_store_lookup, store, ring, 0, 0, &uncached);
    int64_t now = (int64_t)time(NULL);
    /* Warm the cache: every token once. */
    for (size_t i = 0; i < n_handles; i++) {
        reftoken_verdict verdict;
        reftoken_status st =
            reftoken_validator_validate(cached, handles[i], REFTOKEN_HANDLE_LEN, &API1, now, &OPTIONS, NULL, &verdict);
        if (st != REFTOKEN_OK || !verdict.active) {
            fprintf(stderr, "native: handle %zu: %s, active %d\n", i, reftoken_status_str(st), verdict.active);
            return 1;
        }
    }
    int rc = 0;
    struct {
        const char *name;
        series_kind kind;
        reftoken_validator *v;
    } series[] = {
        {"native-cache-verdict", SERIES_VERDICT, cached},
        {"native-cache-json", SERIES_JSON, cached},
        {"native-store-verdict", SERIES_VERDICT, uncached},
        {"native-store-json", SERIES_JSON, uncached},
    };
    for (size_t s = 0; s < sizeof series / sizeof series[0]; s++) {
        for (int i = 0; i < n_threads; i++) {
            worker proto = {.kind = series[s].kind, .v = series[s].v, .options = &OPTIONS, .now = now, .sample_every = 16};
            rc |= measure(series[s].name, &proto, threads[i], seconds);
        }
    }
    reftoken_validator_free(cached);
    reftoken_validator_free(uncached);
    reftoken_keyring_free(ring);
    sqlite_store_close(store);
    return rc;
}

static int cmd_http(const char *base, double seconds, int *threads, int n_threads) {
    char url[512];
    snprintf(url, sizeof url, "%s/connect/introspect", base);
    worker proto = {.kind = SERIES_HTTP, .url = url, .sample_every = 1};
    int rc = 0;
    for (int i = 0; i < n_threads; i++) rc |= measure("http-duende", &proto, threads[i], seconds);
    return rc;
}

static int parse_threads(int argc, char **argv, int first, int *out) {
    int n = 0;
    for (int i = first; i < argc; i++) {
        int t = atoi(argv[i]);
        if (t < 1 || t > MAX_THREADS || n == MAX_THREADS) return -1;
        out[n++] = t;
    }
    return n;
}

static int usage(const char *prog) {
    fprintf(stderr,
            "usage: %s issue URL COUNT HANDLES_FILE\n"
            "       %s check URL DB KEYRING_DIR APP_NAME HANDLES_FILE COUNT\n"
            "       %s http URL HANDLES_FILE SECONDS THREADS...\n"
            "       %s native DB KEYRING_DIR APP_NAME HANDLES_FILE SECONDS THREADS...\n",
            prog, prog, prog, prog);
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage(argv[0]);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return 1;
    const char *cmd = argv[1];
    const char *pid = getenv("HOST_PID");
    host_pid = pid ? atol(pid) : 0;
    int threads[MAX_THREADS], n_threads, rc;
    if (strcmp(cmd, "issue") == 0 && argc == 5) {
        rc = cmd_issue(argv[2], atol(argv[3]), argv[4]);
    } else if (strcmp(cmd, "check") == 0 && argc == 8) {
        rc = load_handles(argv[6]) != 0 ? 1 : cmd_check(argv[2], argv[3], argv[4], argv[5], atol(argv[7]));
    } else if (strcmp(cmd, "http") == 0 && argc >= 6 && (n_threads = parse_threads(argc, argv, 5, threads)) > 0) {
        rc = load_handles(argv[3]) != 0 ? 1 : cmd_http(argv[2], atof(argv[4]), threads, n_threads);
    } else if (strcmp(cmd, "native") == 0 && argc >= 8 && (n_threads = parse_threads(argc, argv, 7, threads)) > 0) {
        rc = load_handles(argv[5]) != 0 ? 1 : cmd_native(argv[2], argv[3], argv[4], atof(argv[6]), threads, n_threads);
    } else {
        rc = usage(argv[0]);
    }
    curl_global_cleanup();
    return rc;
}

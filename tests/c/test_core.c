/* C harness: every exported function of reftoken.h through the ABI, with expected values
 * from an independent implementation (OpenSSL's SHA-256 and base64). */
#define _GNU_SOURCE
#include "reftoken.h"
#include "harness.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int harness_passed = 0;
int harness_failed = 0;

static int is_upper_hex(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!(isdigit((unsigned char)s[i]) || (s[i] >= 'A' && s[i] <= 'F'))) return 0;
    }
    return 1;
}

/* The store key computed with OpenSSL, the independent second implementation. */
static void openssl_store_key(const char *handle, const char *grant_type, char *out) {
    unsigned char digest[32];
    unsigned int dlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, handle, strlen(handle));
    EVP_DigestUpdate(ctx, ":", 1);
    EVP_DigestUpdate(ctx, grant_type, strlen(grant_type));
    EVP_DigestFinal_ex(ctx, digest, &dlen);
    EVP_MD_CTX_free(ctx);
    size_t hl = strlen(handle);
    if (hl >= 2 && handle[hl - 2] == '-' && handle[hl - 1] == '1') {
        for (int i = 0; i < 32; i++) sprintf(out + 2 * i, "%02X", digest[i]);
        out[64] = 0;
    } else {
        EVP_EncodeBlock((unsigned char *)out, digest, 32);
    }
}

static void test_status_and_version(void) {
    CHECK(reftoken_abi_version() == REFTOKEN_ABI_VERSION);
    CHECK(strcmp(reftoken_status_str(REFTOKEN_OK), "REFTOKEN_OK") == 0);
    CHECK(strcmp(reftoken_status_str(REFTOKEN_BUFFER_TOO_SMALL), "REFTOKEN_BUFFER_TOO_SMALL") == 0);
    CHECK(strcmp(reftoken_status_str(REFTOKEN_DATA_PROTECTED), "REFTOKEN_DATA_PROTECTED") == 0);
    CHECK(strcmp(reftoken_status_str(REFTOKEN_INTERNAL_PANIC), "REFTOKEN_INTERNAL_PANIC") == 0);
    CHECK(strcmp(reftoken_status_str(9999), "REFTOKEN_UNKNOWN_STATUS") == 0);
    const uint32_t all[] = {0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 20, 21, 22, 23, 30, 31, 100};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        CHECK(strncmp(reftoken_status_str(all[i]), "REFTOKEN_", 9) == 0);
        CHECK(strcmp(reftoken_status_str(all[i]), "REFTOKEN_UNKNOWN_STATUS") != 0);
    }
}

static void test_last_error(void) {
    size_t len = 0;
    char buf[512];
    CHECK_STATUS(reftoken_store_key(NULL, 5, "x", 1, buf, sizeof buf, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_STATUS(reftoken_last_error(buf, sizeof buf, &len), REFTOKEN_OK);
    CHECK(len > 0 && strstr(buf, "handle") != NULL);
    /* Too small a buffer for the message: told the size, message kept for the retry. */
    char tiny[4];
    size_t need = 0;
    CHECK_STATUS(reftoken_last_error(tiny, sizeof tiny, &need), REFTOKEN_BUFFER_TOO_SMALL);
    CHECK(need == len);
    CHECK_STATUS(reftoken_last_error(buf, sizeof buf, &len), REFTOKEN_OK);
    CHECK(len == need);
    CHECK_STATUS(reftoken_last_error(buf, sizeof buf, NULL), REFTOKEN_NULL_ARGUMENT);
}

static void test_random_hex(void) {
    char buf[1024];
    size_t len = 0;
    for (size_t n = 1; n <= 200; n++) {
        memset(buf, 'x', sizeof buf);
        CHECK_STATUS(reftoken_random_hex(n, buf, sizeof buf, &len), REFTOKEN_OK);
        CHECK(len == 2 * n && buf[len] == '\0' && is_upper_hex(buf, len));
    }
    /* Exactly fitting buffer: no NUL is written past it. */
    memset(buf, 'x', sizeof buf);
    CHECK_STATUS(reftoken_random_hex(16, buf, 32, &len), REFTOKEN_OK);
    CHECK(len == 32 && buf[32] == 'x');
    /* Too small: nothing written, the size needed reported. */
    memset(buf, 'x', sizeof buf);
    CHECK_STATUS(reftoken_random_hex(16, buf, 31, &len), REFTOKEN_BUFFER_TOO_SMALL);
    CHECK(len == 32 && buf[0] == 'x');
    CHECK_STATUS(reftoken_random_hex(16, NULL, 0, &len), REFTOKEN_BUFFER_TOO_SMALL);
    CHECK(len == 32);
    CHECK_STATUS(reftoken_random_hex(0, buf, sizeof buf, &len), REFTOKEN_INVALID_ARGUMENT);
    CHECK_STATUS(reftoken_random_hex(REFTOKEN_MAX_RANDOM_BYTES + 1, buf, sizeof buf, &len), REFTOKEN_INPUT_TOO_LARGE);
    CHECK_STATUS(reftoken_random_hex(16, buf, sizeof buf, NULL), REFTOKEN_NULL_ARGUMENT);
    /* Two draws differ. */
    char a[65], b[65];
    reftoken_random_hex(32, a, sizeof a, &len);
    reftoken_random_hex(32, b, sizeof b, &len);
    CHECK(strcmp(a, b) != 0);
}

static int cmp_handles(const void *a, const void *b) { return memcmp(a, b, REFTOKEN_HANDLE_LEN); }

static void test_handle_new(void) {
    char buf[REFTOKEN_HANDLE_LEN + 1];
    size_t len = 0;
    CHECK_STATUS(reftoken_handle_new(buf, sizeof buf, &len), REFTOKEN_OK);
    CHECK(len == 66 && buf[66] == '\0');
    CHECK(is_upper_hex(buf, 64) && buf[64] == '-' && buf[65] == '1');
    CHECK(reftoken_handle_is_wellformed(buf, len));
    CHECK_STATUS(reftoken_handle_new(buf, 65, &len), REFTOKEN_BUFFER_TOO_SMALL);
    CHECK(len == 66);
    CHECK_STATUS(reftoken_handle_new(NULL, 0, &len), REFTOKEN_BUFFER_TOO_SMALL);
    CHECK_STATUS(reftoken_handle_new(buf, sizeof buf, NULL), REFTOKEN_NULL_ARGUMENT);
    /* 20000 handles, no duplicates. */
    enum { N = 20000 };
    char *all = malloc((size_t)N * REFTOKEN_HANDLE_LEN);
    int ok = 1;
    for (int i = 0; i < N; i++) {
        ok &= reftoken_handle_new(buf, sizeof buf, &len) == REFTOKEN_OK && len == 66;
        memcpy(all + (size_t)i * REFTOKEN_HANDLE_LEN, buf, REFTOKEN_HANDLE_LEN);
    }
    CHECK(ok);
    qsort(all, N, REFTOKEN_HANDLE_LEN, cmp_handles);
    int dups = 0;
    for (int i = 1; i < N; i++) dups += memcmp(all + (size_t)(i - 1) * REFTOKEN_HANDLE_LEN, all + (size_t)i * REFTOKEN_HANDLE_LEN, REFTOKEN_HANDLE_LEN) == 0;
    CHECK(dups == 0);
    free(all);
}

static void test_wellformed(void) {
    CHECK(!reftoken_handle_is_wellformed(NULL, 0));
    CHECK(!reftoken_handle_is_wellformed(NULL, 66));
    CHECK(!reftoken_handle_is_wellformed("", 0));
    char h[67];
    memset(h, 'a', 64);
    h[64] = '-';
    h[65] = '1';
    CHECK(reftoken_handle_is_wellformed(h, 66));
    h[3] = 'g';
    CHECK(!reftoken_handle_is_wellformed(h, 66));
    h[3] = (char)0xff;
    CHECK(!reftoken_handle_is_wellformed(h, 66));
    CHECK(!reftoken_handle_is_wellformed(h, 65));
}

#define THREADS 8
#define PER_THREAD 5000
static char *thread_out;

static void *handle_thread(void *arg) {
    size_t t = (size_t)arg;
    char buf[REFTOKEN_HANDLE_LEN + 1];
    size_t len;
    for (int i = 0; i < PER_THREAD; i++) {
        if (reftoken_handle_new(buf, sizeof buf, &len) != REFTOKEN_OK) return (void *)1;
        memcpy(thread_out + (t * PER_THREAD + (size_t)i) * REFTOKEN_HANDLE_LEN, buf, REFTOKEN_HANDLE_LEN);
        /* Store keys from many threads at once, too. */
        char key[65];
        if (reftoken_store_key(buf, len, "reference_token", 15, key, sizeof key, &len) != REFTOKEN_OK) return (void *)1;
    }
    return NULL;
}

static void test_threads(void) {
    thread_out = malloc((size_t)THREADS * PER_THREAD * REFTOKEN_HANDLE_LEN);
    pthread_t th[THREADS];
    for (size_t t = 0; t < THREADS; t++) pthread_create(&th[t], NULL, handle_thread, (void *)t);
    int errors = 0;
    for (size_t t = 0; t < THREADS; t++) {
        void *r;
        pthread_join(th[t], &r);
        errors += r != NULL;
    }
    CHECK(errors == 0);
    qsort(thread_out, (size_t)THREADS * PER_THREAD, REFTOKEN_HANDLE_LEN, cmp_handles);
    int dups = 0;
    for (size_t i = 1; i < (size_t)THREADS * PER_THREAD; i++)
        dups += memcmp(thread_out + (i - 1) * REFTOKEN_HANDLE_LEN, thread_out + i * REFTOKEN_HANDLE_LEN, REFTOKEN_HANDLE_LEN) == 0;
    CHECK(dups == 0);
    free(thread_out);
}

/* A child after fork() never repeats the parent's stream, even though both start from the
 * same thread-local generator state. */
static void test_fork(void) {
    enum { N = 200 };
    char buf[REFTOKEN_HANDLE_LEN + 1];
    size_t len;
    reftoken_handle_new(buf, sizeof buf, &len); /* seed this thread's generator */
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        for (int i = 0; i < N; i++) {
            reftoken_handle_new(buf, sizeof buf, &len);
            if (write(fds[1], buf, REFTOKEN_HANDLE_LEN) != REFTOKEN_HANDLE_LEN) _exit(2);
        }
        close(fds[1]);
        _exit(0);
    }
    close(fds[1]);
    char *mine = malloc((size_t)N * REFTOKEN_HANDLE_LEN);
    char *theirs = malloc((size_t)N * REFTOKEN_HANDLE_LEN);
    for (int i = 0; i < N; i++) {
        reftoken_handle_new(buf, sizeof buf, &len);
        memcpy(mine + (size_t)i * REFTOKEN_HANDLE_LEN, buf, REFTOKEN_HANDLE_LEN);
    }
    size_t got = 0;
    while (got < (size_t)N * REFTOKEN_HANDLE_LEN) {
        ssize_t r = read(fds[0], theirs + got, (size_t)N * REFTOKEN_HANDLE_LEN - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(got == (size_t)N * REFTOKEN_HANDLE_LEN);
    int same = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            same += memcmp(mine + (size_t)i * REFTOKEN_HANDLE_LEN, theirs + (size_t)j * REFTOKEN_HANDLE_LEN, REFTOKEN_HANDLE_LEN) == 0;
    CHECK(same == 0);
    free(mine);
    free(theirs);
}

static void test_store_key(void) {
    char out[128], expected[128];
    size_t len = 0;
    const char *grant_types[] = {"reference_token", "refresh_token", "authorization_code", "user_consent",
                                 "backchannel_authentication_request", "", "type:with:colons", "\xc3\xa9t\xc3\xa9"};
    for (int round = 0; round < 200; round++) {
        char handle[80];
        size_t hl;
        reftoken_random_hex((size_t)(1 + round % 40), handle, sizeof handle, &hl);
        if (round % 2 == 0) {
            handle[hl++] = '-';
            handle[hl++] = '1';
            handle[hl] = 0;
        }
        const char *gt = grant_types[round % (sizeof grant_types / sizeof grant_types[0])];
        CHECK_STATUS(reftoken_store_key(handle, hl, gt, strlen(gt), out, sizeof out, &len), REFTOKEN_OK);
        openssl_store_key(handle, gt, expected);
        CHECK_STR(out, len, expected);
        CHECK(len == (round % 2 == 0 ? 64u : 44u));
    }
    /* The reference-token shortcut agrees. */
    char h[REFTOKEN_HANDLE_LEN + 1];
    reftoken_handle_new(h, sizeof h, &len);
    char k1[65], k2[65];
    size_t l1, l2;
    CHECK_STATUS(reftoken_store_key(h, 66, "reference_token", 15, k1, sizeof k1, &l1), REFTOKEN_OK);
    CHECK_STATUS(reftoken_reference_token_key(h, 66, k2, sizeof k2, &l2), REFTOKEN_OK);
    CHECK(l1 == l2 && memcmp(k1, k2, l1) == 0);
    /* A known answer, recomputed with OpenSSL as well. */
    CHECK_STATUS(reftoken_store_key("ABC-1", 5, "reference_token", 15, out, sizeof out, &len), REFTOKEN_OK);
    openssl_store_key("ABC-1", "reference_token", expected);
    CHECK_STR(out, len, expected);
    /* Empty handle and grant type, as NULL with length 0. */
    CHECK_STATUS(reftoken_store_key(NULL, 0, NULL, 0, out, sizeof out, &len), REFTOKEN_OK);
    openssl_store_key("", "", expected);
    CHECK_STR(out, len, expected);
    /* Errors. */
    CHECK_STATUS(reftoken_store_key(NULL, 3, "x", 1, out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_STATUS(reftoken_store_key("x", 1, NULL, 3, out, sizeof out, &len), REFTOKEN_NULL_ARGUMENT);
    CHECK_STATUS(reftoken_store_key("x", 1, "y", 1, out, sizeof out, NULL), REFTOKEN_NULL_ARGUMENT);
    CHECK_STATUS(reftoken_store_key("\xff\xfe-1", 4, "y", 1, out, sizeof out, &len), REFTOKEN_INVALID_UTF8);
    CHECK_STATUS(reftoken_store_key("ok-1", 4, "\xc3", 1, out, sizeof out, &len), REFTOKEN_INVALID_UTF8);
    memset(out, 'x', sizeof out);
    CHECK_STATUS(reftoken_store_key("ABC-1", 5, "reference_token", 15, out, 63, &len), REFTOKEN_BUFFER_TOO_SMALL);
    CHECK(len == 64 && out[0] == 'x');
    CHECK_STATUS(reftoken_store_key("ABC", 3, "reference_token", 15, out, 43, &len), REFTOKEN_BUFFER_TOO_SMALL);
    CHECK(len == 44);
    CHECK_STATUS(reftoken_store_key("ABC", 3, "reference_token", 15, out, 44, &len), REFTOKEN_OK);
    CHECK(len == 44);
    char *big = malloc(REFTOKEN_MAX_HANDLE_LEN + 1);
    memset(big, 'A', REFTOKEN_MAX_HANDLE_LEN + 1);
    CHECK_STATUS(reftoken_store_key(big, REFTOKEN_MAX_HANDLE_LEN + 1, "x", 1, out, sizeof out, &len), REFTOKEN_INPUT_TOO_LARGE);
    CHECK_STATUS(reftoken_store_key(big, REFTOKEN_MAX_HANDLE_LEN, "x", 1, out, sizeof out, &len), REFTOKEN_OK);
    CHECK_STATUS(reftoken_store_key("x", 1, big, REFTOKEN_MAX_GRANT_TYPE_LEN + 1, out, sizeof out, &len), REFTOKEN_INPUT_TOO_LARGE);
    free(big);
}

int test_grants(void);
void test_fixtures(void);
void test_stores(void);
void test_services(void);

int main(void) {
    test_status_and_version();
    test_last_error();
    test_random_hex();
    test_handle_new();
    test_wellformed();
    test_threads();
    test_fork();
    test_store_key();
    test_grants();
    test_fixtures();
    test_stores();
    test_services();
    printf("%d passed, %d failed\n", harness_passed, harness_failed);
    return harness_failed == 0 ? 0 : 1;
}

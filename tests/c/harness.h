/* A tiny test framework for the C harness: checks count, failures print where they are. */
#ifndef REFTOKEN_HARNESS_H
#define REFTOKEN_HARNESS_H

#include <stdio.h>
#include <string.h>

extern int harness_passed;
extern int harness_failed;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (cond) {                                                                  \
            harness_passed++;                                                        \
        } else {                                                                     \
            harness_failed++;                                                        \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);          \
        }                                                                            \
    } while (0)

#define CHECK_STATUS(expr, expected)                                                 \
    do {                                                                             \
        reftoken_status check_status_ = (expr);                                      \
        if (check_status_ == (expected)) {                                           \
            harness_passed++;                                                        \
        } else {                                                                     \
            harness_failed++;                                                        \
            fprintf(stderr, "FAIL %s:%d: %s returned %s, expected %s\n", __FILE__,   \
                    __LINE__, #expr, reftoken_status_str(check_status_),             \
                    reftoken_status_str(expected));                                  \
        }                                                                            \
    } while (0)

#define CHECK_STR(actual, actual_len, expected)                                      \
    do {                                                                             \
        size_t check_len_ = strlen(expected);                                        \
        if ((actual_len) == check_len_ && memcmp((actual), (expected), check_len_) == 0) { \
            harness_passed++;                                                        \
        } else {                                                                     \
            harness_failed++;                                                        \
            fprintf(stderr, "FAIL %s:%d: got \"%.*s\"\n  expected \"%s\"\n", __FILE__, \
                    __LINE__, (int)(actual_len), (const char *)(actual), (expected));  \
        }                                                                            \
    } while (0)

#endif

/* A tiny test framework for the C harness: checks count, failures print where they are. */
#ifndef REFTOKEN_HARNESS_H
#define REFTOKEN_HARNESS_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

extern int harness_passed;
extern int harness_failed;

/* The fixture case files (tab-separated lines, `#` comments), in test_fixtures.c. */

/* A reftoken_client_enabled_fn: whether `id` is in `ctx`, a comma-separated list of client
 * ids (what a "# enabled clients: " line lists). */
bool harness_client_listed(void *ctx, const char *id, size_t len);
/* The next case line of `f` in getline's buffer `*line` (its newline removed), or NULL at the
 * end: comments and empty lines are skipped, and the list of a "# enabled clients: " line is
 * copied into `clients` (`clients_cap` bytes). */
char *harness_case_line(FILE *f, char **line, size_t *cap, char *clients, size_t clients_cap);
/* Splits `line` at tabs in place into at most `max` fields; returns how many. */
int harness_split_tabs(char *line, char **fields, int max);

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

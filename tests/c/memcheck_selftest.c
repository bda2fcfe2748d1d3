/* A deliberately broken program for the memcheck self-test (REFTOKEN_MEMCHECK_SELFTEST):
 * its summary claims success and it exits 0, but it leaks and branches on uninitialised
 * memory, so valgrind exits with --error-exitcode and the test must fail. */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    int *leaked = malloc(64 * sizeof *leaked);
    if (leaked == NULL) return 1;
    if (leaked[3] == 12345) puts("unlikely"); /* branches on memory never written */
    leaked = NULL;                           /* and loses the only pointer to it */
    printf("1 passed, 0 failed\n");
    return 0;
}

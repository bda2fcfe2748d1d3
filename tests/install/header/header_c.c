/* The installed header, alone and twice, as a C program sees it; links and runs when a
 * library is given (packaging/check-header.sh). */
#include <reftoken.h>
#include <reftoken.h>

#include <stdio.h>

int main(void) {
    char handle[REFTOKEN_HANDLE_LEN + 1];
    size_t len = 0;
    reftoken_status st = reftoken_handle_new(handle, sizeof handle, &len);
    reftoken_str s = {"api1", 4};
    reftoken_caller caller = {REFTOKEN_CALLER_API, {"api1", 4}, {"api1.read", 9}};
    (void)s;
    (void)caller;
    if (st != REFTOKEN_OK || len != REFTOKEN_HANDLE_LEN) {
        fprintf(stderr, "reftoken_handle_new: %s\n", reftoken_status_str(st));
        return 1;
    }
    if (reftoken_abi_version() != REFTOKEN_ABI_VERSION) {
        fprintf(stderr, "ABI version %u in the library, %d in the header\n",
                (unsigned)reftoken_abi_version(), REFTOKEN_ABI_VERSION);
        return 1;
    }
    printf("C %ld: ABI %u, handle %s\n", (long)__STDC_VERSION__, (unsigned)reftoken_abi_version(), handle);
    return 0;
}

// The installed header, alone and twice, as a C++ program sees it: every function must have C
// linkage (extern "C"), or the link fails. Links and runs when a library is given
// (packaging/check-header.sh).
#include <reftoken.h>
#include <reftoken.h>

#include <cstdio>
#include <type_traits>

static_assert(std::is_same<decltype(&reftoken_abi_version), uint32_t (*)()>::value,
              "reftoken_abi_version takes nothing and returns uint32_t");
static_assert(sizeof(reftoken_status) == 4, "reftoken_status is 32 bits, as in C");
static_assert(REFTOKEN_OK == 0, "REFTOKEN_OK is zero");

int main() {
    char handle[REFTOKEN_HANDLE_LEN + 1];
    std::size_t len = 0;
    reftoken_status st = reftoken_handle_new(handle, sizeof handle, &len);
    reftoken_caller caller = {REFTOKEN_CALLER_API, {"api1", 4}, {"api1.read", 9}};
    static_cast<void>(caller);
    if (st != REFTOKEN_OK || len != REFTOKEN_HANDLE_LEN) {
        std::fprintf(stderr, "reftoken_handle_new: %s\n", reftoken_status_str(st));
        return 1;
    }
    if (reftoken_abi_version() != REFTOKEN_ABI_VERSION) {
        std::fprintf(stderr, "ABI version %u in the library, %d in the header\n",
                     static_cast<unsigned>(reftoken_abi_version()), REFTOKEN_ABI_VERSION);
        return 1;
    }
    std::printf("C++ %ld: ABI %u, handle %s\n", static_cast<long>(__cplusplus),
                static_cast<unsigned>(reftoken_abi_version()), handle);
    return 0;
}

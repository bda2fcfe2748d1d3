// RefToken from C++: the C header as it is (it declares everything extern "C"), with the
// library's objects owned by std::unique_ptr and its statuses turned into exceptions.
#include <reftoken.h>

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <string>

namespace {

struct grant_free {
    void operator()(reftoken_grant *grant) const noexcept { reftoken_grant_free(grant); }
};
using grant_ptr = std::unique_ptr<reftoken_grant, grant_free>;

void check(reftoken_status status, const char *what) {
    if (status == REFTOKEN_OK) return;
    char why[256];
    std::size_t len = 0;
    if (reftoken_last_error(why, sizeof why, &len) != REFTOKEN_OK) why[0] = '\0';
    throw std::runtime_error(std::string(what) + ": " + reftoken_status_str(status) + ": " + why);
}

// Calls fill(out, out_cap, &out_len) and returns what it wrote, asking again with the length
// the library reports when the first buffer is too small.
template <class Fill>
std::string text(const char *what, Fill fill) {
    std::string s(256, '\0');
    std::size_t len = 0;
    reftoken_status status = fill(&s[0], s.size(), &len);
    if (status == REFTOKEN_BUFFER_TOO_SMALL) {
        s.resize(len);
        status = fill(&s[0], s.size(), &len);
    }
    check(status, what);
    s.resize(len);
    return s;
}

}  // namespace

int main() try {
    const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
    const std::string handle = text("reftoken_handle_new", [](char *out, std::size_t cap, std::size_t *len) {
        return reftoken_handle_new(out, cap, len);
    });
    const std::string key = text("reftoken_reference_token_key", [&](char *out, std::size_t cap, std::size_t *len) {
        return reftoken_reference_token_key(handle.data(), handle.size(), out, cap, len);
    });

    reftoken_grant *raw = nullptr;
    check(reftoken_grant_new("client1", 7, "https://idp.example", 19, now, 3600, &raw), "reftoken_grant_new");
    const grant_ptr token(raw);
    check(reftoken_grant_add_audience(token.get(), "api1", 4), "reftoken_grant_add_audience");
    check(reftoken_grant_add_claim(token.get(), "client_id", 9, "client1", 7, nullptr, 0), "reftoken_grant_add_claim");
    check(reftoken_grant_add_claim(token.get(), "scope", 5, "api1.read", 9, nullptr, 0), "reftoken_grant_add_claim");
    check(reftoken_grant_add_claim(token.get(), "sub", 3, "alice", 5, nullptr, 0), "reftoken_grant_add_claim");
    const std::string data = text("reftoken_grant_data", [&](char *out, std::size_t cap, std::size_t *len) {
        return reftoken_grant_data(token.get(), out, cap, len);
    });

    const reftoken_caller api = {REFTOKEN_CALLER_API, {"api1", 4}, {"api1.read api1.write", 20}};
    const std::string response = text("reftoken_introspect_data", [&](char *out, std::size_t cap, std::size_t *len) {
        return reftoken_introspect_data(data.data(), data.size(), nullptr, &api, now, nullptr, out, cap, len);
    });

    std::printf("handle: %s\nkey: %s\nintrospection: %s\n", handle.c_str(), key.c_str(), response.c_str());
    return 0;
} catch (const std::exception &e) {
    std::fprintf(stderr, "hello: %s\n", e.what());
    return 1;
}

// A validator whose store lookup is C++ that throws. The library calls the lookup through a C
// function pointer and cannot unwind through its own frames: an exception that reached them
// would abort the process. So the callback catches everything and turns an exception into
// its failure status, REFTOKEN_IO_ERROR, keeping the message for the code that validated.
#include <reftoken.h>

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

namespace {

// A stand-in for the PersistedGrants table (Key -> Data) that fails as a database can.
struct store {
    std::map<std::string, std::string> rows;
    bool reachable = true;

    const std::string *find(const std::string &key) const {
        if (!reachable) throw std::runtime_error("cannot reach the grants database");
        auto row = rows.find(key);
        return row == rows.end() ? nullptr : &row->second;
    }
};

// Why the last lookup failed. The validator calls the lookup on the thread that validates,
// so a thread_local is read by the right caller.
thread_local std::string lookup_error;

// noexcept: should an exception still escape, std::terminate says so here, at the boundary.
extern "C" reftoken_status lookup(void *ctx, const char *key, std::size_t key_len, reftoken_row *row) noexcept {
    try {
        const std::string *data = static_cast<const store *>(ctx)->find(std::string(key, key_len));
        if (!data) return REFTOKEN_NOT_FOUND;
        return reftoken_row_set(row, "reference_token", 15, data->data(), data->size());
    } catch (const std::exception &e) {
        lookup_error = e.what();
    } catch (...) {
        lookup_error = "unknown exception";
    }
    return REFTOKEN_IO_ERROR;  // the validator returns it: answer 503, not "inactive"
}

struct validator_free {
    void operator()(reftoken_validator *validator) const noexcept { reftoken_validator_free(validator); }
};

void check(reftoken_status status, const char *what) {
    if (status != REFTOKEN_OK) throw std::runtime_error(std::string(what) + ": " + reftoken_status_str(status));
}

// Issues a token for client1 into the store; returns its handle.
std::string issue(store &db, std::int64_t now) {
    char handle[REFTOKEN_HANDLE_LEN + 1], key[REFTOKEN_MAX_KEY_LEN + 1], data[4096];
    std::size_t handle_len = 0, key_len = 0, data_len = 0;
    check(reftoken_handle_new(handle, sizeof handle, &handle_len), "reftoken_handle_new");
    check(reftoken_reference_token_key(handle, handle_len, key, sizeof key, &key_len), "reftoken_reference_token_key");
    reftoken_grant *token = nullptr;
    reftoken_status st = reftoken_grant_new("client1", 7, "https://idp.example", 19, now, 3600, &token);
    if (st == REFTOKEN_OK) st = reftoken_grant_add_audience(token, "api1", 4);
    if (st == REFTOKEN_OK) st = reftoken_grant_add_claim(token, "client_id", 9, "client1", 7, nullptr, 0);
    if (st == REFTOKEN_OK) st = reftoken_grant_add_claim(token, "scope", 5, "api1.read", 9, nullptr, 0);
    if (st == REFTOKEN_OK) st = reftoken_grant_data(token, data, sizeof data, &data_len);
    reftoken_grant_free(token);
    check(st, "issue");
    db.rows[std::string(key, key_len)] = std::string(data, data_len);
    return std::string(handle, handle_len);
}

}  // namespace

int main() try {
    const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
    store db;
    const std::string alice = issue(db, now), bob = issue(db, now);

    reftoken_validator *raw = nullptr;
    check(reftoken_validator_new(lookup, &db, nullptr, 10000, 60, &raw), "reftoken_validator_new");
    const std::unique_ptr<reftoken_validator, validator_free> validator(raw);
    const reftoken_caller api = {REFTOKEN_CALLER_API, {"api1", 4}, {"api1.read", 9}};
    reftoken_verdict verdict;

    check(reftoken_validator_validate(validator.get(), alice.data(), alice.size(), &api, now, nullptr, nullptr, &verdict),
          "reftoken_validator_validate");
    const bool alice_active = verdict.active;
    std::printf("alice's token: %s\n", alice_active ? "active" : "inactive");

    // The database goes away: the lookup throws, the validation fails cleanly.
    db.reachable = false;
    const reftoken_status st =
        reftoken_validator_validate(validator.get(), bob.data(), bob.size(), &api, now, nullptr, nullptr, &verdict);
    std::printf("bob's token with the store down: %s (%s)\n", reftoken_status_str(st), lookup_error.c_str());
    return alice_active && st == REFTOKEN_IO_ERROR && lookup_error == "cannot reach the grants database" ? 0 : 1;
} catch (const std::exception &e) {
    std::fprintf(stderr, "lookup_callback: %s\n", e.what());
    return 1;
}

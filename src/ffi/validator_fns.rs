//! Validating presented handles against the caller's store, with a cache.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use super::grant_fns::{
    reftoken_caller, reftoken_grant, reftoken_options, reftoken_verdict, verdict_to_c,
};
use super::keyring_fns::reftoken_keyring;
use super::reftoken_status::{self, *};
use super::with_caller;
use super::{
    FfiResult, Opaque, check_null, fail, fail_with, ffi_boundary, try_ref, try_str, write_out,
};
use reftoken::Error;
use reftoken::dataprotection::KeyRing;
use reftoken::grant::Token;
use reftoken::instant::Instant;
use reftoken::introspection::{self, INACTIVE};
use reftoken::validation::{MAX_PRESENTED_HANDLE_LEN, StoredGrant};
use reftoken::validator::{CacheOptions, Found, Lookup, Validator};

/// Where a lookup callback puts the row it found. Valid only during the callback.
pub struct reftoken_row {
    _private: [u8; 0],
}

/// Fetches the `PersistedGrants` row stored under `key` (a store key, `key_len` bytes, not
/// NUL-terminated). When there is a row, the callback calls `reftoken_row_set` with its
/// `Type` and `Data` and returns `REFTOKEN_OK`; when there is none it returns
/// `REFTOKEN_NOT_FOUND`. Any other status (for example `REFTOKEN_IO_ERROR` when the database
/// is unreachable) ends the validation with that status. It may be called from several
/// threads at once, one call per thread (the thread that called the validator), and must not
/// call back into the same validator.
///
/// It must return: no C++ exception, Rust panic or `longjmp` may leave it. The library cannot
/// unwind through its own frames (a C++ exception reaching them aborts the process, and a
/// `longjmp` over them is undefined behaviour: locks stay held). Catch everything in its body
/// (`catch (...)` in C++) and return a failure status instead, such as `REFTOKEN_IO_ERROR`,
/// keeping the message where the caller can read it once the validator returns that status.
pub type reftoken_lookup_fn = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        key: *const c_char,
        key_len: usize,
        row: *mut reftoken_row,
    ) -> reftoken_status,
>;

/// Stores the row a lookup callback found: its `Type` and `Data` columns, copied. Call it at
/// most once per callback, from inside the callback.
///
/// Returns `REFTOKEN_OK`, `REFTOKEN_NULL_ARGUMENT`, `REFTOKEN_INVALID_UTF8` or
/// `REFTOKEN_INPUT_TOO_LARGE` (`Data` over 1 MiB, refused from the length alone: nothing is
/// read).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_row_set(
    row: *mut reftoken_row,
    grant_type: *const c_char,
    grant_type_len: usize,
    data: *const c_char,
    data_len: usize,
) -> reftoken_status {
    ffi_boundary("reftoken_row_set", || {
        check_null!(row);
        let t = try_str!(grant_type, grant_type_len);
        let d = try_str!(
            data,
            data_len,
            max = reftoken::limits::MAX_DATA_LEN,
            "Data column"
        );
        // SAFETY: `row` is the slot the library passed to the callback, alive for its duration.
        let slot = unsafe { &mut *row.cast::<Option<StoredGrant>>() };
        *slot = Some(StoredGrant {
            grant_type: t.to_owned(),
            data: d.to_owned(),
        });
        Ok(())
    })
}

pub(crate) struct CLookup {
    f: unsafe extern "C" fn(
        *mut c_void,
        *const c_char,
        usize,
        *mut reftoken_row,
    ) -> reftoken_status,
    ctx: *mut c_void,
}

// SAFETY: the C caller promises that the callback may be called from any thread with this
// context (documented on `reftoken_validator_new`).
unsafe impl Send for CLookup {}
// SAFETY: as above.
unsafe impl Sync for CLookup {}

impl Lookup for CLookup {
    fn lookup(&self, key: &str) -> Result<Option<StoredGrant>, Error> {
        let mut slot: Option<StoredGrant> = None;
        // SAFETY: the callback and context come from the caller for exactly this use; the
        // slot outlives the call.
        let status = unsafe {
            (self.f)(
                self.ctx,
                key.as_ptr().cast(),
                key.len(),
                (&mut slot as *mut Option<StoredGrant>).cast(),
            )
        };
        match status {
            REFTOKEN_OK if slot.is_some() => Ok(slot),
            REFTOKEN_OK | REFTOKEN_NOT_FOUND => Ok(None),
            other => Err(Error::Lookup(other as u32)),
        }
    }
}

/// Validates presented handles against the caller's store (through a lookup callback),
/// unprotecting protected rows with a key ring, with a bounded cache of tokens keyed by
/// store key. One validator serves any number of threads at once.
pub struct reftoken_validator {
    _private: [u8; 0],
}

/// Shared by reference count: a revocation listener holds the validator it evicts from, so
/// the two may be freed in either order.
impl Opaque for Arc<Validator<CLookup>> {
    type C = reftoken_validator;
}

/// Creates a validator. `lookup` fetches rows (see `reftoken_lookup_fn`) and is called with
/// `lookup_ctx`, from any thread that validates; it must return normally, never throw or
/// `longjmp` (see `reftoken_lookup_fn`). `keyring` may be NULL when no row is
/// protected; the validator keeps its own reference, so the caller may free its key ring
/// at any time. `cache_capacity` is the most tokens cached (0: no cache); `cache_ttl` the
/// longest an entry is served, in seconds, however long its token lives (a bound on how
/// long a revoked token keeps validating on a node not told to evict it). Entries never
/// outlive their token. A cached token also keeps the active responses built from it for up
/// to four callers (`reftoken_validator_check`, `reftoken_validator_introspect`), about the
/// size of the response each. Free with `reftoken_validator_free`.
///
/// Returns `REFTOKEN_OK`, `REFTOKEN_NULL_ARGUMENT` (`lookup` or `out`) or
/// `REFTOKEN_INVALID_ARGUMENT` (negative TTL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_validator_new(
    lookup: reftoken_lookup_fn,
    lookup_ctx: *mut c_void,
    keyring: *const reftoken_keyring,
    cache_capacity: usize,
    cache_ttl: i64,
    out: *mut *mut reftoken_validator,
) -> reftoken_status {
    ffi_boundary("reftoken_validator_new", || {
        check_null!(out);
        // SAFETY: checked non-null.
        unsafe { *out = std::ptr::null_mut() };
        let Some(f) = lookup else {
            return Err(fail_with(
                REFTOKEN_NULL_ARGUMENT,
                "argument `lookup` is NULL",
            ));
        };
        if cache_ttl < 0 {
            return Err(fail(Error::InvalidArgument(
                "cache_ttl must not be negative",
            )));
        }
        // SAFETY: NULL or a live key ring.
        let ring = unsafe { <Arc<KeyRing>>::borrow_c(keyring) }.cloned();
        let v = Validator::new(
            CLookup { f, ctx: lookup_ctx },
            ring,
            CacheOptions {
                capacity: cache_capacity,
                ttl_seconds: cache_ttl,
            },
        );
        // SAFETY: checked non-null.
        unsafe { *out = Arc::new(v).into_c() };
        Ok(())
    })
}

/// Frees a validator and its cache. NULL is ignored. No call may be using it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_validator_free(validator: *mut reftoken_validator) {
    ffi_boundary("reftoken_validator_free", || {
        // SAFETY: NULL or a live validator owned by the caller.
        unsafe { <Arc<Validator<CLookup>>>::free(validator) }
    })
}

/// The introspection response IdentityServer's endpoint would return to `caller` for the
/// presented `handle` at `now` (Unix seconds): `{"active":false}` for malformed handles
/// (refused before any lookup; a handle over 100 bytes is malformed from its length alone
/// and is not read), handles not in the store, rows of another type or that cannot be read,
/// and tokens inactive for the caller; else the full response. A client caller also gets its
/// own refresh tokens introspected, as IdentityServer does. `options` may be NULL.
///
/// Returns `REFTOKEN_OK`; `REFTOKEN_NULL_ARGUMENT`; `REFTOKEN_INVALID_UTF8`;
/// `REFTOKEN_INVALID_ARGUMENT`; `REFTOKEN_MALFORMED_INPUT` (a token IdentityServer cannot
/// answer for either); `REFTOKEN_BUFFER_TOO_SMALL`; or the status the lookup callback
/// returned. Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_validator_introspect(
    validator: *const reftoken_validator,
    handle: *const c_char,
    handle_len: usize,
    caller: *const reftoken_caller,
    now: i64,
    options: *const reftoken_options,
    out: *mut c_char,
    out_cap: usize,
    out_len: *mut usize,
) -> reftoken_status {
    ffi_boundary("reftoken_validator_introspect", || {
        let v = try_ref!(Arc<Validator<CLookup>>, validator);
        let h = try_str!(handle, handle_len, stand_in_over = MAX_PRESENTED_HANDLE_LEN);
        check_null!(out_len);
        let now = Instant::from_unix_seconds(now);
        // SAFETY: forwarded pointer contracts.
        let body = unsafe { with_caller(caller, options, |c, o| v.introspect(h, c, now, o)) }??;
        // SAFETY: caller's buffer contract.
        unsafe { write_out(body.as_bytes(), out, out_cap, out_len) }
    })
}

/// Decides whether the presented `handle` is active for `caller` at `now` without building
/// JSON, and fills `*out` (`reason` is `REFTOKEN_INACTIVE_UNKNOWN_HANDLE` when the handle led
/// to no readable token; a handle over 100 bytes is not read). When `out_grant` is not NULL
/// and the token was found, `*out_grant` receives it (free it with `reftoken_grant_free`;
/// `out`'s strings borrow from it), else NULL; when `out_grant` is NULL, `out`'s `subject`
/// and `client_id` are left empty.
///
/// Returns `REFTOKEN_OK` (whether active or not); `REFTOKEN_NULL_ARGUMENT`;
/// `REFTOKEN_INVALID_UTF8`; `REFTOKEN_INVALID_ARGUMENT`; `REFTOKEN_MALFORMED_INPUT` (a token
/// IdentityServer's validator fails on, as for `reftoken_evaluate`); or the lookup
/// callback's status.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_validator_validate(
    validator: *const reftoken_validator,
    handle: *const c_char,
    handle_len: usize,
    caller: *const reftoken_caller,
    now: i64,
    options: *const reftoken_options,
    out_grant: *mut *mut reftoken_grant,
    out: *mut reftoken_verdict,
) -> reftoken_status {
    ffi_boundary("reftoken_validator_validate", || {
        let v = try_ref!(Arc<Validator<CLookup>>, validator);
        let h = try_str!(handle, handle_len, stand_in_over = MAX_PRESENTED_HANDLE_LEN);
        check_null!(out, caller);
        // SAFETY: NULL or valid for a write.
        unsafe { clear_grant(out_grant) };
        let now = Instant::from_unix_seconds(now);
        let token: Arc<Token> = match v.find(h, now)? {
            Found::Token(t) => t,
            // SAFETY: forwarded pointer contracts; `out` checked non-null.
            Found::NotFound(_) => return unsafe { not_found(caller, options, out) },
        };
        // SAFETY: forwarded pointer contracts.
        let verdict = unsafe {
            with_caller(caller, options, |c, o| {
                introspection::evaluate(&token, c, now, o)
            })
        }??;
        // SAFETY: `out` checked non-null; `out_grant` NULL or valid.
        unsafe { give_verdict(&verdict, &token, out_grant, out) };
        Ok(())
    })
}

/// As `reftoken_validator_validate`, and writes the introspection response for the
/// presented `handle` as a reference token into `out_json` (the buffer conventions of the
/// header's top): the full response when active, else `{"active":false}`. A token's active
/// response is built once per caller (API name and scopes, or client id) and options'
/// version while the validator caches it, and goes with the cache entry (eviction, TTL,
/// expiry); the verdict is decided on every call. A gateway answers a cached token with this
/// one call. Unlike `reftoken_validator_introspect`, a client caller's refresh tokens are not
/// tried.
///
/// When `out_json` is too small, `*out_json_len` is the length needed, nothing else is
/// written (`*out_grant` is NULL) and `REFTOKEN_BUFFER_TOO_SMALL` is returned: call again
/// with a larger buffer. Otherwise returns as `reftoken_validator_validate` does.
/// Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_validator_check(
    validator: *const reftoken_validator,
    handle: *const c_char,
    handle_len: usize,
    caller: *const reftoken_caller,
    now: i64,
    options: *const reftoken_options,
    out_grant: *mut *mut reftoken_grant,
    out: *mut reftoken_verdict,
    out_json: *mut c_char,
    out_json_cap: usize,
    out_json_len: *mut usize,
) -> reftoken_status {
    ffi_boundary("reftoken_validator_check", || {
        let v = try_ref!(Arc<Validator<CLookup>>, validator);
        let h = try_str!(handle, handle_len, stand_in_over = MAX_PRESENTED_HANDLE_LEN);
        check_null!(out, caller, out_json_len);
        // SAFETY: NULL or valid for a write.
        unsafe { clear_grant(out_grant) };
        let now = Instant::from_unix_seconds(now);
        let hit = match v.find_hit(h, now)? {
            Ok(hit) => hit,
            Err(_) => {
                // SAFETY: the caller's buffer contract.
                unsafe { write_out(INACTIVE.as_bytes(), out_json, out_json_cap, out_json_len) }?;
                // SAFETY: forwarded pointer contracts; `out` checked non-null.
                return unsafe { not_found(caller, options, out) };
            }
        };
        // SAFETY: forwarded pointer contracts.
        let (verdict, body) =
            unsafe { with_caller(caller, options, |c, o| hit.introspect(c, now, o)) }??;
        // SAFETY: the caller's buffer contract.
        unsafe { write_out(body.as_bytes(), out_json, out_json_cap, out_json_len) }?;
        // SAFETY: `out` checked non-null; `out_grant` NULL or valid.
        unsafe { give_verdict(&verdict, &hit.token, out_grant, out) };
        Ok(())
    })
}

/// # Safety
/// `out_grant` must be NULL or valid for a write.
unsafe fn clear_grant(out_grant: *mut *mut reftoken_grant) {
    if !out_grant.is_null() {
        // SAFETY: checked non-null.
        unsafe { *out_grant = std::ptr::null_mut() };
    }
}

/// The verdict for a handle that led to no token, once the caller's arguments are checked
/// (so errors do not depend on the store).
///
/// # Safety
/// `caller` and `options` as for `with_caller`; `out` valid for a write.
unsafe fn not_found(
    caller: *const reftoken_caller,
    options: *const reftoken_options,
    out: *mut reftoken_verdict,
) -> FfiResult {
    // SAFETY: forwarded pointer contracts.
    unsafe { with_caller(caller, options, |_, _| ()) }?;
    // SAFETY: forwarded.
    unsafe { *out = verdict_unknown() };
    Ok(())
}

/// Writes the verdict, and hands out the token when `out_grant` is not NULL (the verdict's
/// strings point into the token's heap data, which the handed-out reference keeps); without
/// it the strings are left empty.
///
/// # Safety
/// `out` valid for a write; `out_grant` NULL or valid for a write.
unsafe fn give_verdict(
    verdict: &introspection::Verdict<'_>,
    token: &Arc<Token>,
    out_grant: *mut *mut reftoken_grant,
    out: *mut reftoken_verdict,
) {
    let mut c = verdict_to_c(verdict);
    if out_grant.is_null() {
        c.subject = super::grant_fns::reftoken_str::empty();
        c.client_id = super::grant_fns::reftoken_str::empty();
    } else {
        // SAFETY: valid for a write.
        unsafe { *out_grant = token.clone().into_c() };
    }
    // SAFETY: valid for a write.
    unsafe { *out = c };
}

fn verdict_unknown() -> reftoken_verdict {
    reftoken_verdict {
        active: false,
        reason: super::grant_fns::REFTOKEN_INACTIVE_UNKNOWN_HANDLE,
        expiration: 0,
        subject: super::grant_fns::reftoken_str::empty(),
        client_id: super::grant_fns::reftoken_str::empty(),
    }
}

/// Forgets the cached token stored under `key` (its store key: revocation paths and store
/// notifications know keys, not handles). Returns `REFTOKEN_OK` whether or not an entry was
/// there (a key over 64 bytes, which no entry has, is not read), `REFTOKEN_NULL_ARGUMENT` or
/// `REFTOKEN_INVALID_UTF8`. Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_validator_evict(
    validator: *const reftoken_validator,
    key: *const c_char,
    key_len: usize,
) -> reftoken_status {
    ffi_boundary("reftoken_validator_evict", || {
        let v = try_ref!(Arc<Validator<CLookup>>, validator);
        let k = try_str!(key, key_len, stand_in_over = reftoken::key::MAX_KEY_LEN);
        v.evict(k);
        Ok(())
    })
}

/// Forgets every cached token. Returns `REFTOKEN_OK` or `REFTOKEN_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_validator_clear(
    validator: *const reftoken_validator,
) -> reftoken_status {
    ffi_boundary("reftoken_validator_clear", || {
        let v = try_ref!(Arc<Validator<CLookup>>, validator);
        v.clear();
        Ok(())
    })
}

/// The number of tokens the validator's cache holds; 0 for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_validator_cached(validator: *const reftoken_validator) -> usize {
    ffi_boundary("reftoken_validator_cached", || {
        // SAFETY: NULL or a live validator.
        unsafe { <Arc<Validator<CLookup>>>::borrow_c(validator) }.map_or(0, |v| v.cached())
    })
}

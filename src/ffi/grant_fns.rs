//! Grants: parse a `Data` column, read its fields, build and serialize a new token, and
//! introspect.

use std::cell::RefCell;
use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::thread::LocalKey;

use super::keyring_fns::reftoken_keyring;
use super::reftoken_status::{self, *};
use super::with_caller;
use super::{Opaque, check_null, fail, fail_with, ffi_boundary, try_ref, try_str, write_out};
use reftoken::dataprotection::KeyRing;
use reftoken::grant::{self, Claim, Token};
use reftoken::instant::Instant;
use reftoken::introspection::{self, Inactive};
use reftoken::validation::{self, Unprotect};
use reftoken::{Error, json, key, limits};

/// A parsed reference token (IdentityServer's `Token`), from a `Data` column or built with
/// `reftoken_grant_new`. Free it with `reftoken_grant_free`. Functions that take a `const`
/// grant may be called from several threads at once; the `reftoken_grant_set_*` and
/// `reftoken_grant_add_*` functions must not run concurrently with any other use of the same
/// grant.
pub struct reftoken_grant {
    _private: [u8; 0],
}

/// Shared so that cached tokens can be handed out without copying.
impl Opaque for Arc<Token> {
    type C = reftoken_grant;
}

/// A borrowed UTF-8 string: `len` bytes at `ptr`, no NUL needed. `ptr` may be NULL when
/// `len` is 0.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct reftoken_str {
    /// The first byte.
    pub ptr: *const c_char,
    /// The length in bytes.
    pub len: usize,
}

impl reftoken_str {
    pub(crate) fn empty() -> Self {
        reftoken_str {
            ptr: std::ptr::null(),
            len: 0,
        }
    }

    fn from_str(s: Option<&str>) -> Self {
        match s {
            Some(s) => reftoken_str {
                ptr: s.as_ptr().cast(),
                len: s.len(),
            },
            None => reftoken_str {
                ptr: std::ptr::null(),
                len: 0,
            },
        }
    }
}

/// The caller is an API resource authenticated with its secret.
pub const REFTOKEN_CALLER_API: u32 = 1;
/// The caller is a client authenticated with its secret.
pub const REFTOKEN_CALLER_CLIENT: u32 = 2;

/// Who asks for introspection.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct reftoken_caller {
    /// `REFTOKEN_CALLER_API` or `REFTOKEN_CALLER_CLIENT`.
    pub kind: u32,
    /// The API resource's name, or the client id.
    pub name: reftoken_str,
    /// For an API: its scopes, separated by spaces. The token is active for the API only if
    /// it carries one of them, and `scope` lists only these. Ignored for clients.
    pub scopes: reftoken_str,
}

/// Reproduce the newest supported IdentityServer (Duende 7.3 and later, 7.4.x).
pub const REFTOKEN_IDENTITYSERVER_LATEST: u32 = 0;
/// IdentityServer4 4.x: no `iat`, no `cnf`, no typed doubles; stored `iss`/`nbf`/`iat`/`exp`
/// claims are merged with the generated ones.
pub const REFTOKEN_IDENTITYSERVER_4: u32 = 40_000;
/// Duende 5.0 to 6.1.0: adds `iat`.
pub const REFTOKEN_DUENDE_5_0: u32 = 50_000;
/// Duende 6.1.1 to 6.2: `double` claims are numbers.
pub const REFTOKEN_DUENDE_6_1: u32 = 60_100;
/// Duende 6.3 to 7.0: adds `cnf`.
pub const REFTOKEN_DUENDE_6_3: u32 = 60_300;
/// Duende 7.1 and 7.2: stored claims named `iss`, `nbf`, `iat`, `exp` are dropped.
pub const REFTOKEN_DUENDE_7_1: u32 = 70_100;
/// Duende 7.3 and later: the `json` value type matches case-insensitively.
pub const REFTOKEN_DUENDE_7_3: u32 = 70_300;

/// Asked with a client id (not NUL-terminated); returns whether that client exists and is
/// enabled. Called on the thread that called into the library, possibly more than once per
/// call; it must not call back into the library with the same grant being mutated.
///
/// It must return: no C++ exception, Rust panic or `longjmp` may leave it (a C++ exception
/// reaching the library aborts the process; a `longjmp` over its frames is undefined
/// behaviour). Catch everything in its body (`catch (...)` in C++) and return `false`
/// instead, which answers the token as inactive, as for an unknown client.
pub type reftoken_client_enabled_fn = Option<
    unsafe extern "C" fn(ctx: *mut c_void, client_id: *const c_char, client_id_len: usize) -> bool,
>;

/// How to introspect. Pass NULL for the defaults (newest IdentityServer, every client
/// enabled). Zero-initialise and set what you need. The callbacks must return normally,
/// never throw or `longjmp` (see `reftoken_client_enabled_fn`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct reftoken_options {
    /// One of the `REFTOKEN_IDENTITYSERVER_*` / `REFTOKEN_DUENDE_*` values; 0 for the newest.
    pub identityserver_version: u32,
    /// IdentityServer requires the token's client to exist and be enabled. NULL: every
    /// client counts as enabled.
    pub client_enabled: reftoken_client_enabled_fn,
    /// Passed to `client_enabled` untouched.
    pub client_enabled_ctx: *mut c_void,
    /// Whether a client may still use refresh tokens (`Client.AllowOfflineAccess`), asked
    /// when a client introspects one of its refresh tokens. NULL: every client may.
    pub client_offline_access: reftoken_client_enabled_fn,
    /// Passed to `client_offline_access` untouched.
    pub client_offline_access_ctx: *mut c_void,
}

/// The token is active.
pub const REFTOKEN_ACTIVE: u32 = 0;
/// Inactive: `now > CreationTime + Lifetime`.
pub const REFTOKEN_INACTIVE_EXPIRED: u32 = 1;
/// Inactive: the token's client is unknown or disabled.
pub const REFTOKEN_INACTIVE_CLIENT_DISABLED: u32 = 2;
/// Inactive: an API caller, and none of the token's scopes is the API's.
pub const REFTOKEN_INACTIVE_NO_MATCHING_SCOPE: u32 = 3;
/// Inactive: a client caller, and the token belongs to another client.
pub const REFTOKEN_INACTIVE_OTHER_CLIENT: u32 = 4;
/// Inactive: the presented handle led to no readable reference token (malformed handle, no
/// row, a row of another type, or `Data` that cannot be read).
pub const REFTOKEN_INACTIVE_UNKNOWN_HANDLE: u32 = 5;

/// The outcome of introspection without JSON. The strings borrow from the grant and stay
/// valid until it is freed or mutated.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct reftoken_verdict {
    /// Whether the token is active for the caller.
    pub active: bool,
    /// `REFTOKEN_ACTIVE` or one of the `REFTOKEN_INACTIVE_*` reasons.
    pub reason: u32,
    /// The `exp` value: Unix seconds of `CreationTime + Lifetime`, rounded down.
    pub expiration: i64,
    /// The `sub` claim (`ptr` NULL when absent).
    pub subject: reftoken_str,
    /// The token's client id (`ptr` NULL when absent).
    pub client_id: reftoken_str,
}

/// Parses a `Data` column (a version-1 container or an IdentityServer4 version-0 payload)
/// into a new grant, stored in `*out`. The caller owns it and frees it with
/// `reftoken_grant_free`. On failure `*out` is set to NULL.
///
/// Returns `REFTOKEN_OK`; `REFTOKEN_NULL_ARGUMENT`; `REFTOKEN_INVALID_UTF8`;
/// `REFTOKEN_INPUT_TOO_LARGE` (over 1 MiB, refused from the length alone: nothing is read; or
/// over 10000 claims); `REFTOKEN_MALFORMED_INPUT`
/// (not a container or not a token); `REFTOKEN_UNSUPPORTED_VERSION`;
/// `REFTOKEN_DATA_PROTECTED` (the payload is protected with ASP.NET Core Data Protection:
/// use `reftoken_grant_parse_protected`). Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_grant_parse(
    data: *const c_char,
    data_len: usize,
    out: *mut *mut reftoken_grant,
) -> reftoken_status {
    ffi_boundary("reftoken_grant_parse", || {
        check_null!(out);
        // SAFETY: checked non-null; cleared first so that failures leave NULL.
        unsafe { *out = std::ptr::null_mut() };
        let text = try_str!(data, data_len, max = limits::MAX_DATA_LEN, "Data column");
        let token = grant::read_token(text)?;
        // SAFETY: checked non-null.
        unsafe { *out = Arc::new(token).into_c() };
        Ok(())
    })
}

/// Parses a `Data` column like `reftoken_grant_parse`, unprotecting a
/// `"DataProtected":true` payload with `keyring` (purposes: the key ring's application name,
/// then `PersistentGrantSerializer`, as IdentityServer's serializer uses). `keyring` may be
/// NULL, which behaves as `reftoken_grant_parse`.
///
/// Returns the statuses of `reftoken_grant_parse`, and for protected payloads
/// `REFTOKEN_CRYPTO_FAILURE` (tampered, truncated, wrong application name),
/// `REFTOKEN_UNKNOWN_KEY`, `REFTOKEN_KEY_REVOKED` or `REFTOKEN_UNSUPPORTED_PROTECTOR`.
/// Thread-safe; the key ring may be shared by any number of threads.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_grant_parse_protected(
    data: *const c_char,
    data_len: usize,
    keyring: *const reftoken_keyring,
    out: *mut *mut reftoken_grant,
) -> reftoken_status {
    ffi_boundary("reftoken_grant_parse_protected", || {
        check_null!(out);
        // SAFETY: checked non-null; cleared first so that failures leave NULL.
        unsafe { *out = std::ptr::null_mut() };
        let text = try_str!(data, data_len, max = limits::MAX_DATA_LEN, "Data column");
        // SAFETY: NULL or a live key ring.
        let ring = unsafe { <Arc<KeyRing>>::borrow_c(keyring) };
        let token = validation::read_token(text, ring.map(|r| &**r as &dyn Unprotect))?;
        // SAFETY: checked non-null.
        unsafe { *out = Arc::new(token).into_c() };
        Ok(())
    })
}

/// The `Data` column IdentityServer writes for this token with Data Protection on (its
/// default): the token protected with `keyring`'s default key at `now` (Unix seconds) under
/// the purposes [application name, `PersistentGrantSerializer`], in the version-1 container
/// with `"DataProtected":true`. IdentityServer hosts sharing the key ring and application
/// name read it back.
///
/// Returns `REFTOKEN_OK`; `REFTOKEN_NULL_ARGUMENT`; `REFTOKEN_UNKNOWN_KEY` (no key is active
/// at `now`); `REFTOKEN_RNG_FAILURE`; `REFTOKEN_BUFFER_TOO_SMALL`. Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_grant_data_protected(
    grant: *const reftoken_grant,
    keyring: *const reftoken_keyring,
    now: i64,
    out: *mut c_char,
    out_cap: usize,
    out_len: *mut usize,
) -> reftoken_status {
    ffi_boundary("reftoken_grant_data_protected", || {
        let token = try_ref!(Arc<Token>, grant);
        let ring = try_ref!(Arc<KeyRing>, keyring);
        check_null!(out_len);
        let json = zeroize::Zeroizing::new(token.to_json());
        let payload = ring.protect_str(
            &[grant::DATA_PROTECTION_PURPOSE],
            &json,
            Instant::from_unix_seconds(now),
        )?;
        let data = grant::seal_data(&payload, true);
        // SAFETY: caller's buffer contract.
        unsafe { write_out(data.as_bytes(), out, out_cap, out_len) }
    })
}

/// Parses the `Token` JSON itself (the container's payload) into a new grant in `*out`.
/// Statuses as `reftoken_grant_parse`, without `REFTOKEN_DATA_PROTECTED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_grant_parse_token_json(
    json_text: *const c_char,
    json_len: usize,
    out: *mut *mut reftoken_grant,
) -> reftoken_status {
    ffi_boundary("reftoken_grant_parse_token_json", || {
        check_null!(out);
        // SAFETY: checked non-null.
        unsafe { *out = std::ptr::null_mut() };
        let text = try_str!(
            json_text,
            json_len,
            max = limits::MAX_DATA_LEN,
            "token JSON"
        );
        let token = Token::from_json(text)?;
        // SAFETY: checked non-null.
        unsafe { *out = Arc::new(token).into_c() };
        Ok(())
    })
}

/// Creates a new reference token for `client_id`, issued by `issuer`, created at
/// `creation_time` (Unix seconds) and living `lifetime` seconds, with no claims or
/// audiences yet; add them with `reftoken_grant_add_claim` and `reftoken_grant_add_audience`.
/// IdentityServer's own tokens also carry a `client_id` claim and one `scope` claim per scope.
///
/// Returns `REFTOKEN_OK`; `REFTOKEN_NULL_ARGUMENT`; `REFTOKEN_INVALID_UTF8`;
/// `REFTOKEN_INVALID_ARGUMENT` (negative lifetime, or a creation time or expiration
/// (`creation_time + lifetime`) outside years 1 to 9999, which IdentityServer cannot store).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_grant_new(
    client_id: *const c_char,
    client_id_len: usize,
    issuer: *const c_char,
    issuer_len: usize,
    creation_time: i64,
    lifetime: i32,
    out: *mut *mut reftoken_grant,
) -> reftoken_status {
    ffi_boundary("reftoken_grant_new", || {
        check_null!(out);
        // SAFETY: checked non-null.
        unsafe { *out = std::ptr::null_mut() };
        let client = try_str!(client_id, client_id_len);
        let iss = try_str!(issuer, issuer_len);
        if lifetime < 0 {
            return Err(fail(Error::InvalidArgument(
                "lifetime must not be negative",
            )));
        }
        if !reftoken::instant::DOTNET_UNIX_SECONDS.contains(&creation_time) {
            return Err(fail(Error::InvalidArgument(
                "creation time outside years 1 to 9999",
            )));
        }
        let token = Token {
            client_id: Some(client.to_owned()),
            issuer: Some(iss.to_owned()),
            creation_time: Instant::from_unix_seconds(creation_time),
            lifetime,
            ..Token::default()
        };
        if token.checked_expiration().is_none() {
            return Err(fail(reftoken::grant::EXPIRATION_OUT_OF_RANGE));
        }
        // SAFETY: checked non-null.
        unsafe { *out = Arc::new(token).into_c() };
        Ok(())
    })
}

/// Frees a grant. NULL is ignored. The grant must not be used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_grant_free(grant: *mut reftoken_grant) {
    ffi_boundary("reftoken_grant_free", || {
        // SAFETY: the caller passes NULL or a live grant it owns.
        unsafe { <Arc<Token>>::free(grant) }
    })
}

/// The grant's token for changing it; a token shared with a validator's cache is copied
/// first, so the cache never changes.
///
/// # Safety
/// As [`Opaque::borrow_c_mut`]: NULL or a live grant the caller owns exclusively for the call.
unsafe fn token_mut<'a>(grant: *mut reftoken_grant) -> Option<&'a mut Token> {
    // SAFETY: forwarded contract.
    unsafe { <Arc<Token>>::borrow_c_mut(grant) }.map(Arc::make_mut)
}

/// Appends a claim. `value_type` is a `ClaimValueTypes` URI such as
/// `http://www.w3.org/2001/XMLSchema#integer64`, or `json`; empty (or NULL with length 0)
/// for a plain string. Claims are kept in the order added, which the introspection response
/// follows.
///
/// Returns `REFTOKEN_OK`; `REFTOKEN_NULL_ARGUMENT`; `REFTOKEN_INVALID_UTF8`;
/// `REFTOKEN_INPUT_TOO_LARGE` (over 10000 claims).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_grant_add_claim(
    grant: *mut reftoken_grant,
    claim_type: *const c_char,
    claim_type_len: usize,
    value: *const c_char,
    value_len: usize,
    value_type: *const c_char,
    value_type_len: usize,
) -> reftoken_status {
    ffi_boundary("reftoken_grant_add_claim", || {
        check_null!(grant);
        let t = try_str!(claim_type, claim_type_len);
        let v = try_str!(value, value_len);
        let vt = try_str!(value_type, value_type_len);
        // SAFETY: checked non-null; the caller owns the grant for the call.
        let token = unsafe { token_mut(grant) }.expect("checked non-null");
        Error::check_len(
            "claim count",
            token.claims.len() + 1,
            reftoken::limits::MAX_CLAIMS,
        )?;
        token.claims.push(Claim::typed(t, v, vt));
        Ok(())
    })
}

/// Appends an audience (`aud`). Returns `REFTOKEN_OK`, `REFTOKEN_NULL_ARGUMENT` or
/// `REFTOKEN_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_grant_add_audience(
    grant: *mut reftoken_grant,
    audience: *const c_char,
    audience_len: usize,
) -> reftoken_status {
    ffi_boundary("reftoken_grant_add_audience", || {
        check_null!(grant);
        let a = try_str!(audience, audience_len);
        // SAFETY: the caller owns the grant for the call.
        unsafe { token_mut(grant) }
            .expect("checked non-null")
            .audiences
            .push(a.to_owned());
        Ok(())
    })
}

/// Sets the confirmation (`cnf`) as JSON text, such as `{"x5t#S256":"..."}`; length 0
/// clears it. Returns `REFTOKEN_OK`, `REFTOKEN_NULL_ARGUMENT`, `REFTOKEN_INVALID_UTF8` or
/// `REFTOKEN_MALFORMED_INPUT` (not a JSON value).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_grant_set_confirmation(
    grant: *mut reftoken_grant,
    cnf_json: *const c_char,
    cnf_json_len: usize,
) -> reftoken_status {
    ffi_boundary("reftoken_grant_set_confirmation", || {
        check_null!(grant);
        let c = try_str!(cnf_json, cnf_json_len);
        if !c.is_empty() && !json::validate(c) {
            return Err(fail(Error::malformed("confirmation", "not a JSON value")));
        }
        // SAFETY: checked non-null; the caller owns the grant for the call.
        unsafe { token_mut(grant) }
            .expect("checked non-null")
            .confirmation = (!c.is_empty()).then(|| c.to_owned());
        Ok(())
    })
}

/// Sets the description; length 0 clears it. Returns `REFTOKEN_OK`,
/// `REFTOKEN_NULL_ARGUMENT` or `REFTOKEN_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_grant_set_description(
    grant: *mut reftoken_grant,
    description: *const c_char,
    description_len: usize,
) -> reftoken_status {
    ffi_boundary("reftoken_grant_set_description", || {
        check_null!(grant);
        let d = try_str!(description, description_len);
        // SAFETY: checked non-null; the caller owns the grant for the call.
        unsafe { token_mut(grant) }
            .expect("checked non-null")
            .description = (!d.is_empty()).then(|| d.to_owned());
        Ok(())
    })
}

/// Text fields of a grant, for `reftoken_grant_field`.
pub const REFTOKEN_FIELD_SUBJECT_ID: u32 = 1;
/// The `sid` claim: the row's `SessionId`.
pub const REFTOKEN_FIELD_SESSION_ID: u32 = 2;
/// The token's `ClientId`: the row's `ClientId`.
pub const REFTOKEN_FIELD_CLIENT_ID: u32 = 3;
/// The token's `Description`: the row's `Description`.
pub const REFTOKEN_FIELD_DESCRIPTION: u32 = 4;
/// The token's `Issuer`.
pub const REFTOKEN_FIELD_ISSUER: u32 = 5;
/// The token's `Confirmation` (JSON text).
pub const REFTOKEN_FIELD_CONFIRMATION: u32 = 6;
/// The row's `CreationTime` as IdentityServer writes it (ISO 8601, UTC).
pub const REFTOKEN_FIELD_CREATION_TIME: u32 = 7;
/// The row's `Expiration` (`CreationTime + Lifetime`), ISO 8601, UTC.
pub const REFTOKEN_FIELD_EXPIRATION: u32 = 8;

/// Copies a text field of the grant (one of `REFTOKEN_FIELD_*`) into `out`: the values of a
/// `PersistedGrants` row besides `Key`, `Type` and `Data`. `SubjectId` is the `sub` claim
/// and `SessionId` the `sid` claim, as IdentityServer writes them.
///
/// Returns `REFTOKEN_OK`; `REFTOKEN_NULL_ARGUMENT`; `REFTOKEN_INVALID_ARGUMENT` (unknown
/// field); `REFTOKEN_NOT_FOUND` (the grant has no such value: store NULL);
/// `REFTOKEN_BUFFER_TOO_SMALL`. Thread-safe for a grant not being mutated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_grant_field(
    grant: *const reftoken_grant,
    field: u32,
    out: *mut c_char,
    out_cap: usize,
    out_len: *mut usize,
) -> reftoken_status {
    ffi_boundary("reftoken_grant_field", || {
        let token = try_ref!(Arc<Token>, grant);
        let mut buf = String::new();
        let value: Option<&str> = match field {
            REFTOKEN_FIELD_SUBJECT_ID => token.subject_id(),
            REFTOKEN_FIELD_SESSION_ID => token.session_id(),
            REFTOKEN_FIELD_CLIENT_ID => token.client_id.as_deref(),
            REFTOKEN_FIELD_DESCRIPTION => token.description.as_deref(),
            REFTOKEN_FIELD_ISSUER => token.issuer.as_deref(),
            REFTOKEN_FIELD_CONFIRMATION => token.confirmation.as_deref(),
            REFTOKEN_FIELD_CREATION_TIME | REFTOKEN_FIELD_EXPIRATION => {
                let t = if field == REFTOKEN_FIELD_CREATION_TIME {
                    token.creation_time
                } else {
                    token.expiration()
                };
                reftoken::instant::format(t, &mut buf);
                Some(buf.as_str())
            }
            _ => return Err(fail(Error::InvalidArgument("unknown grant field"))),
        };
        match value {
            // SAFETY: caller's buffer contract.
            Some(v) => unsafe { write_out(v.as_bytes(), out, out_cap, out_len) },
            None => {
                if !out_len.is_null() {
                    // SAFETY: checked non-null.
                    unsafe { *out_len = 0 };
                }
                Err(fail_with(REFTOKEN_NOT_FOUND, "the grant has no such value"))
            }
        }
    })
}

/// Unix seconds of the token's `CreationTime`, rounded down; 0 for a NULL grant.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_grant_creation_time(grant: *const reftoken_grant) -> i64 {
    ffi_boundary("reftoken_grant_creation_time", || {
        // SAFETY: NULL or a live grant.
        unsafe { <Arc<Token>>::borrow_c(grant) }.map_or(0, |t| t.creation_time.unix_seconds())
    })
}

/// Unix seconds of `CreationTime + Lifetime` (the `exp` claim), rounded down; 0 for a NULL
/// grant.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_grant_expiration(grant: *const reftoken_grant) -> i64 {
    ffi_boundary("reftoken_grant_expiration", || {
        // SAFETY: NULL or a live grant.
        unsafe { <Arc<Token>>::borrow_c(grant) }.map_or(0, |t| t.expiration().unix_seconds())
    })
}

/// Serializes the token exactly as IdentityServer's `PersistentGrantSerializer` does (the
/// container's payload, without the container).
///
/// Returns `REFTOKEN_OK`, `REFTOKEN_NULL_ARGUMENT` or `REFTOKEN_BUFFER_TOO_SMALL`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_grant_token_json(
    grant: *const reftoken_grant,
    out: *mut c_char,
    out_cap: usize,
    out_len: *mut usize,
) -> reftoken_status {
    ffi_boundary("reftoken_grant_token_json", || {
        let token = try_ref!(Arc<Token>, grant);
        // SAFETY: caller's buffer contract.
        unsafe { write_out(token.to_json().as_bytes(), out, out_cap, out_len) }
    })
}

/// The `Data` column IdentityServer writes for this token with Data Protection off:
/// `{"PersistentGrantDataContainerVersion":1,"DataProtected":false,"Payload":"..."}`.
/// For protected rows use `reftoken_grant_data_protected`.
///
/// Returns `REFTOKEN_OK`, `REFTOKEN_NULL_ARGUMENT` or `REFTOKEN_BUFFER_TOO_SMALL`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_grant_data(
    grant: *const reftoken_grant,
    out: *mut c_char,
    out_cap: usize,
    out_len: *mut usize,
) -> reftoken_status {
    ffi_boundary("reftoken_grant_data", || {
        let token = try_ref!(Arc<Token>, grant);
        let data = grant::seal_data(&token.to_json(), false);
        // SAFETY: caller's buffer contract.
        unsafe { write_out(data.as_bytes(), out, out_cap, out_len) }
    })
}

/// Builds the RFC 7662 response IdentityServer's introspection endpoint returns for this
/// token, asked by `caller` at `now` (Unix seconds): `{"active":false}` when inactive,
/// else the claims, `"active":true` and `scope`, byte for byte as IdentityServer writes
/// them. `options` may be NULL.
///
/// Returns `REFTOKEN_OK`; `REFTOKEN_NULL_ARGUMENT`; `REFTOKEN_INVALID_UTF8` (caller
/// strings); `REFTOKEN_INVALID_ARGUMENT` (caller kind or IdentityServer version);
/// `REFTOKEN_MALFORMED_INPUT` (a token IdentityServer cannot answer for either, its endpoint
/// failing with 500: a claim named `active`, a non-finite `double` claim, an expiration past
/// 9999-12-31, no `Issuer`, a null `Audiences` or `Claims`; see `reftoken_evaluate`);
/// `REFTOKEN_BUFFER_TOO_SMALL`. Thread-safe for a grant not being mutated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_introspect(
    grant: *const reftoken_grant,
    caller: *const reftoken_caller,
    now: i64,
    options: *const reftoken_options,
    out: *mut c_char,
    out_cap: usize,
    out_len: *mut usize,
) -> reftoken_status {
    ffi_boundary("reftoken_introspect", || {
        let token = try_ref!(Arc<Token>, grant);
        check_null!(out_len);
        with_response_buffer(|body| {
            // SAFETY: forwarded pointer contracts.
            unsafe {
                with_caller(caller, options, |c, o| {
                    introspection::respond_into(token, c, Instant::from_unix_seconds(now), o, body)
                })
            }??;
            // SAFETY: caller's buffer contract.
            unsafe { write_out(body.as_bytes(), out, out_cap, out_len) }
        })
    })
}

/// Runs `f` with this thread's response buffer (empty), and wipes what it wrote afterwards:
/// a response holds the token's claims. Reused so that a response costs no allocation; a
/// nested call (from an options callback) gets a buffer of its own.
fn with_response_buffer<R>(f: impl FnOnce(&mut String) -> R) -> R {
    use zeroize::Zeroize;
    thread_local!(static BUFFER: RefCell<String> = const { RefCell::new(String::new()) });
    // Buffers grown past this by an unusually large response are not kept.
    const KEEP: usize = 16 * 1024;
    with_thread_scratch(
        &BUFFER,
        |buf| {
            buf.as_mut_str().zeroize();
            buf.clear();
        },
        |buf| buf.capacity() > KEEP,
        f,
    )
}

/// Runs `f` with this thread's value in `slot`, then `reset`s it (wiping what it held, keeping
/// its buffers); one that `oversized` says grew too large is dropped instead of kept. A nested
/// call (from an options callback, while the slot is in use) gets a fresh value of its own.
fn with_thread_scratch<T: Default + 'static, R>(
    slot: &'static LocalKey<RefCell<T>>,
    reset: fn(&mut T),
    oversized: fn(&T) -> bool,
    f: impl FnOnce(&mut T) -> R,
) -> R {
    let run = |value: &mut T| {
        let r = f(value);
        reset(value);
        r
    };
    slot.with(|cell| match cell.try_borrow_mut() {
        Ok(mut value) => {
            let r = run(&mut value);
            if oversized(&value) {
                *value = T::default();
            }
            r
        }
        Err(_) => run(&mut T::default()),
    })
}

/// Parses a `Data` column (unprotecting it with `keyring` when it is protected; `keyring`
/// may be NULL for unprotected rows) and builds the introspection response in one call; see
/// `reftoken_grant_parse_protected` and `reftoken_introspect` for the statuses. The row is
/// read into a token the calling thread keeps for its next call (its claims wiped when the
/// call returns), so a warm call allocates almost nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_introspect_data(
    data: *const c_char,
    data_len: usize,
    keyring: *const reftoken_keyring,
    caller: *const reftoken_caller,
    now: i64,
    options: *const reftoken_options,
    out: *mut c_char,
    out_cap: usize,
    out_len: *mut usize,
) -> reftoken_status {
    ffi_boundary("reftoken_introspect_data", || {
        let text = try_str!(data, data_len, max = limits::MAX_DATA_LEN, "Data column");
        check_null!(out_len);
        // SAFETY: NULL or a live key ring.
        let ring = unsafe { <Arc<KeyRing>>::borrow_c(keyring) };
        with_scratch_token(|token| {
            validation::read_token_into(text, ring.map(|r| &**r as &dyn Unprotect), token)?;
            with_response_buffer(|body| {
                // SAFETY: forwarded pointer contracts.
                unsafe {
                    with_caller(caller, options, |c, o| {
                        introspection::respond_into(
                            token,
                            c,
                            Instant::from_unix_seconds(now),
                            o,
                            body,
                        )
                    })
                }??;
                // SAFETY: caller's buffer contract.
                unsafe { write_out(body.as_bytes(), out, out_cap, out_len) }
            })
        })
    })
}

/// Runs `f` with this thread's scratch token, and wipes its text afterwards (keeping the
/// buffers): reading one row after another then allocates nothing. A nested call (from an
/// options callback) gets a token of its own.
fn with_scratch_token<R>(f: impl FnOnce(&mut Token) -> R) -> R {
    thread_local!(static TOKEN: RefCell<Token> = RefCell::new(Token::default()));
    // A token grown past this by an unusually large row is not kept.
    const KEEP_BYTES: usize = 64 * 1024;
    with_thread_scratch(
        &TOKEN,
        Token::wipe_claims,
        |token| token.retained_bytes() > KEEP_BYTES,
        f,
    )
}

/// Decides whether the token is active for `caller` at `now` (Unix seconds) without
/// building JSON, and fills `*out`. `options` may be NULL.
///
/// Returns `REFTOKEN_OK` (whether active or not: see `out->active`);
/// `REFTOKEN_NULL_ARGUMENT`; `REFTOKEN_INVALID_UTF8`; `REFTOKEN_INVALID_ARGUMENT`;
/// `REFTOKEN_MALFORMED_INPUT` where IdentityServer's validator fails on the token (a 500):
/// `CreationTime + Lifetime` past 9999-12-31, or, for a token otherwise valid, no `Issuer`
/// or a null `Audiences` or `Claims` (or a null item in them).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_evaluate(
    grant: *const reftoken_grant,
    caller: *const reftoken_caller,
    now: i64,
    options: *const reftoken_options,
    out: *mut reftoken_verdict,
) -> reftoken_status {
    ffi_boundary("reftoken_evaluate", || {
        let token = try_ref!(Arc<Token>, grant);
        check_null!(out);
        // SAFETY: forwarded pointer contracts.
        let v = unsafe {
            with_caller(caller, options, |c, o| {
                introspection::evaluate(token, c, Instant::from_unix_seconds(now), o)
            })
        }??;
        let verdict = verdict_to_c(&v);
        // SAFETY: checked non-null.
        unsafe { *out = verdict };
        Ok(())
    })
}

pub(crate) fn verdict_to_c(v: &introspection::Verdict<'_>) -> reftoken_verdict {
    reftoken_verdict {
        active: v.active(),
        reason: match v.status {
            Ok(()) => REFTOKEN_ACTIVE,
            Err(Inactive::Expired) => REFTOKEN_INACTIVE_EXPIRED,
            Err(Inactive::ClientDisabled) => REFTOKEN_INACTIVE_CLIENT_DISABLED,
            Err(Inactive::NoMatchingScope) => REFTOKEN_INACTIVE_NO_MATCHING_SCOPE,
            Err(Inactive::OtherClient) => REFTOKEN_INACTIVE_OTHER_CLIENT,
        },
        expiration: v.expiration,
        subject: reftoken_str::from_str(v.subject),
        client_id: reftoken_str::from_str(v.client_id),
    }
}

/// The `PersistedGrants` key of `handle` for a reference token; the same as
/// `reftoken_store_key(handle, "reference_token")`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_reference_token_key(
    handle: *const c_char,
    handle_len: usize,
    out: *mut c_char,
    out_cap: usize,
    out_len: *mut usize,
) -> reftoken_status {
    ffi_boundary("reftoken_reference_token_key", || {
        let h = try_str!(handle, handle_len, max = limits::MAX_HANDLE_LEN, "handle");
        let k = key::store_key(h, key::REFERENCE_TOKEN)?;
        // SAFETY: caller's buffer contract.
        unsafe { write_out(k.as_bytes(), out, out_cap, out_len) }
    })
}

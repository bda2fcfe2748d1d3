//! The introspection endpoint: shared secrets, caller credentials, the request and the
//! answer, and RFC 9701 JWT responses.
//!
//! A C endpoint handles a request in four steps: `reftoken_introspection_request_parse` reads
//! it; `reftoken_introspection_request_credentials` gives the caller's id and secret, which
//! the host checks against its configuration with `reftoken_secret_verify`;
//! `reftoken_introspection_request_decide` says what to answer; when that is an introspection,
//! the host builds the JSON (`reftoken_introspect_data`, for the token the answer names) and,
//! when asked for a JWT, signs it with `reftoken_introspection_jwt`.

use std::ffi::c_char;

use super::reftoken_status::{self, *};
use super::{
    FfiResult, Limit, Opaque, bytes_arg, check_null, fail, fail_with, ffi_boundary, reftoken_str,
    str_arg, try_ref, try_str, write_out, write_out_quiet,
};
use reftoken::Error;
use reftoken::endpoint::{
    self, CredentialSource, Decision, HttpRequest, IntrospectionRequest, TokenTypeHint,
};
use reftoken::instant::Instant;
use reftoken::jwt::{self, Algorithm, SigningKey};
use reftoken::secret::{self, HashAlgorithm, StoredSecret};

/// `"secret".Sha256()`: base64 of SHA-256, 44 characters.
pub const REFTOKEN_SECRET_SHA256: u32 = 1;
/// `"secret".Sha512()`: base64 of SHA-512, 88 characters.
pub const REFTOKEN_SECRET_SHA512: u32 = 2;
/// Length of the longest hashed secret, without the NUL.
pub const REFTOKEN_MAX_SECRET_HASH_LEN: usize = 88;
/// An expiration meaning "never expires", for `reftoken_secret_verify`.
pub const REFTOKEN_NO_EXPIRATION: i64 = i64::MAX;
/// Most stored secrets `reftoken_secret_verify` accepts in one call.
pub const REFTOKEN_MAX_STORED_SECRETS: usize = 1024;
/// Longest client id (and API name) IdentityServer accepts, in UTF-16 code units.
pub const REFTOKEN_MAX_CLIENT_ID_LEN: usize = 100;
/// Longest client secret IdentityServer accepts, in UTF-16 code units (a code unit takes at
/// most 3 bytes of UTF-8).
pub const REFTOKEN_MAX_CLIENT_SECRET_LEN: usize = 100;

/// No credentials were found.
pub const REFTOKEN_CREDENTIALS_NONE: u32 = 0;
/// A client id without a secret (IdentityServer's `NoSecret`).
pub const REFTOKEN_CREDENTIALS_NO_SECRET: u32 = 1;
/// A client id and a shared secret.
pub const REFTOKEN_CREDENTIALS_SHARED_SECRET: u32 = 2;
/// The credentials came from the `Authorization: Basic` header.
pub const REFTOKEN_CREDENTIALS_FROM_BASIC: u32 = 1;
/// The credentials came from `client_id` / `client_secret` in the form body.
pub const REFTOKEN_CREDENTIALS_FROM_POST_BODY: u32 = 2;

/// No (or an unknown) `token_type_hint`.
pub const REFTOKEN_HINT_NONE: u32 = 0;
/// `token_type_hint=access_token`.
pub const REFTOKEN_HINT_ACCESS_TOKEN: u32 = 1;
/// `token_type_hint=refresh_token`.
pub const REFTOKEN_HINT_REFRESH_TOKEN: u32 = 2;

/// Choose the algorithm from the key: RS256 for RSA (or a JWK's `alg`), ES256 for P-256.
pub const REFTOKEN_JWT_ALG_DEFAULT: u32 = 0;
/// RSASSA-PKCS1-v1_5 with SHA-256 (RSA key).
pub const REFTOKEN_JWT_ALG_RS256: u32 = 1;
/// RSASSA-PSS with SHA-256 and a 32-byte salt (RSA key).
pub const REFTOKEN_JWT_ALG_PS256: u32 = 2;
/// ECDSA P-256 with SHA-256 (P-256 key).
pub const REFTOKEN_JWT_ALG_ES256: u32 = 3;

/// The longest `Authorization` header read, in bytes: a header over it is over
/// IdentityServer's limit of [`endpoint::MAX_AUTHORIZATION_LEN`] UTF-16 code units whatever
/// it holds (a code unit takes at most 3 bytes of UTF-8), so it is refused unread.
const MAX_AUTHORIZATION_BYTES: usize = 3 * endpoint::MAX_AUTHORIZATION_LEN;

/// A form body over [`endpoint::MAX_FORM_LEN`] bytes is an unreadable form (400) whatever it
/// holds: it is not read, and the core gets a stand-in as long as the limit plus one.
const FORM_BODY: Limit = Limit::stand_in(endpoint::MAX_FORM_LEN);

// The header's copies of the limits must agree with the core's.
const _: () = {
    assert!(REFTOKEN_MAX_SECRET_HASH_LEN == secret::MAX_HASHED_SECRET_LEN);
    assert!(REFTOKEN_MAX_CLIENT_ID_LEN == endpoint::MAX_CLIENT_ID_LEN);
    assert!(REFTOKEN_MAX_CLIENT_SECRET_LEN == endpoint::MAX_CLIENT_SECRET_LEN);
};

fn borrowed(s: &str) -> reftoken_str {
    reftoken_str {
        ptr: s.as_ptr().cast(),
        len: s.len(),
    }
}

fn null_str() -> reftoken_str {
    reftoken_str {
        ptr: std::ptr::null(),
        len: 0,
    }
}

/// Writes IdentityServer's stored value for `secret` into `out`: `secret.Sha256()` or
/// `secret.Sha512()` (`algorithm` is `REFTOKEN_SECRET_SHA256` or `REFTOKEN_SECRET_SHA512`),
/// the standard padded base64 of the digest of its UTF-8 bytes. An empty or whitespace-only
/// secret gives the empty string, as in IdentityServer. At most
/// `REFTOKEN_MAX_SECRET_HASH_LEN` bytes.
///
/// Returns `REFTOKEN_OK`; `REFTOKEN_NULL_ARGUMENT`; `REFTOKEN_INVALID_UTF8`;
/// `REFTOKEN_INVALID_ARGUMENT` (unknown algorithm); `REFTOKEN_BUFFER_TOO_SMALL`.
/// Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_secret_hash(
    secret: *const c_char,
    secret_len: usize,
    algorithm: u32,
    out: *mut c_char,
    out_cap: usize,
    out_len: *mut usize,
) -> reftoken_status {
    ffi_boundary("reftoken_secret_hash", || {
        let s = try_str!(secret, secret_len);
        let alg = match algorithm {
            REFTOKEN_SECRET_SHA256 => HashAlgorithm::Sha256,
            REFTOKEN_SECRET_SHA512 => HashAlgorithm::Sha512,
            _ => {
                return Err(fail(Error::InvalidArgument(
                    "unknown secret hash algorithm",
                )));
            }
        };
        let h = secret::hash_secret(s, alg);
        // SAFETY: caller's buffer contract.
        unsafe { write_out(h.as_bytes(), out, out_cap, out_len) }
    })
}

/// Checks a presented secret against `count` stored secrets, as IdentityServer's
/// `HashedSharedSecretValidator` does: `stored[i]` is a stored value (base64 of the SHA-256
/// or SHA-512 of the secret, as `reftoken_secret_hash` makes it) and `expirations[i]` its
/// expiration in Unix seconds, or `REFTOKEN_NO_EXPIRATION`; `expirations` may be NULL when
/// none expires. A secret with `now > expirations[i]` is skipped. Pass only secrets of type
/// `SharedSecret`. The comparison takes the same time wherever the values differ and
/// whichever secret matches.
///
/// On `REFTOKEN_OK`, `*out_valid` says whether the secret matched (an empty or whitespace
/// secret never does), and `*out_index` (when `out_index` is not NULL) is the index of the
/// first matching secret, or `count` when none matched. Nothing in the arrays is kept.
///
/// Returns `REFTOKEN_OK`; `REFTOKEN_NULL_ARGUMENT` (`out_valid`, `stored` with a non-zero
/// count, or a string); `REFTOKEN_INVALID_UTF8`; `REFTOKEN_INPUT_TOO_LARGE` (more than
/// `REFTOKEN_MAX_STORED_SECRETS`); `REFTOKEN_MALFORMED_INPUT` (an unexpired stored value,
/// reached before any match, is not base64 of 32 or 64 bytes: IdentityServer fails the whole
/// check there, and so must the caller; `*out_valid` is false). Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_secret_verify(
    presented: *const c_char,
    presented_len: usize,
    stored: *const reftoken_str,
    expirations: *const i64,
    count: usize,
    now: i64,
    out_valid: *mut bool,
    out_index: *mut usize,
) -> reftoken_status {
    ffi_boundary("reftoken_secret_verify", || {
        check_null!(out_valid);
        // SAFETY: checked non-null.
        unsafe { *out_valid = false };
        if !out_index.is_null() {
            // SAFETY: checked non-null.
            unsafe { *out_index = count };
        }
        let p = try_str!(presented, presented_len);
        Error::check_len("stored secret count", count, REFTOKEN_MAX_STORED_SECRETS)?;
        if count > 0 && stored.is_null() {
            return Err(fail_with(
                REFTOKEN_NULL_ARGUMENT,
                "argument `stored` is NULL",
            ));
        }
        let mut secrets = Vec::with_capacity(count);
        for i in 0..count {
            // SAFETY: the caller promises `count` readable elements.
            let s = unsafe { *stored.add(i) };
            // SAFETY: the caller promises valid strings.
            let value = unsafe { str_arg(s.ptr, s.len, "stored[i]", Limit::Unlimited) }?;
            let expiration = if expirations.is_null() {
                REFTOKEN_NO_EXPIRATION
            } else {
                // SAFETY: the caller promises `count` readable elements.
                unsafe { *expirations.add(i) }
            };
            secrets.push(StoredSecret {
                value,
                expiration: (expiration != REFTOKEN_NO_EXPIRATION)
                    .then(|| Instant::from_unix_seconds(expiration)),
            });
        }
        let found = secret::verify_secret(p, &secrets, Instant::from_unix_seconds(now))?;
        if let Some(i) = found {
            // SAFETY: checked non-null above.
            unsafe { *out_valid = true };
            if !out_index.is_null() {
                // SAFETY: checked non-null.
                unsafe { *out_index = i };
            }
        }
        Ok(())
    })
}

/// Reads an `Authorization` header value as IdentityServer's Basic parser does (RFC 6749
/// 2.3.1): scheme `Basic ` in any case, at most 810 UTF-16 code units (a header over 2430
/// bytes is over that whatever it holds, and is refused unread), base64 (whitespace
/// ignored, padding required), UTF-8, split at the first `:`, each half form-url-decoded
/// (`+` is a space; `%XX` escapes that do not form UTF-8 stay as written). Writes the client
/// id into `client_id_out` and the secret into `secret_out` (buffer conventions as
/// everywhere; when either buffer is too small neither is written and both lengths are set);
/// `*out_has_secret` is false when the secret is empty or whitespace (IdentityServer's
/// `NoSecret`), and then `*secret_len` is 0. Buffers of `REFTOKEN_MAX_CLIENT_ID_LEN * 3`
/// and `REFTOKEN_MAX_CLIENT_SECRET_LEN * 3` bytes are always enough.
///
/// Returns `REFTOKEN_OK`; `REFTOKEN_NULL_ARGUMENT`; `REFTOKEN_INVALID_UTF8` (the header);
/// `REFTOKEN_MALFORMED_INPUT` (empty header, another scheme, not base64, credentials that are
/// not UTF-8, no `:`, empty or whitespace client id); `REFTOKEN_INPUT_TOO_LARGE` (header,
/// client id or secret over its limit); `REFTOKEN_BUFFER_TOO_SMALL`. IdentityServer finds no
/// credentials in the header in every failing case. Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_basic_parse(
    header: *const c_char,
    header_len: usize,
    client_id_out: *mut c_char,
    client_id_cap: usize,
    client_id_len: *mut usize,
    secret_out: *mut c_char,
    secret_cap: usize,
    secret_len: *mut usize,
    out_has_secret: *mut bool,
) -> reftoken_status {
    ffi_boundary("reftoken_basic_parse", || {
        check_null!(client_id_len, secret_len, out_has_secret);
        // SAFETY: checked non-null.
        unsafe {
            *client_id_len = 0;
            *secret_len = 0;
            *out_has_secret = false;
        }
        let h = try_str!(
            header,
            header_len,
            max = MAX_AUTHORIZATION_BYTES,
            "Authorization header"
        );
        let c = endpoint::parse_basic(h)?;
        let id = c.client_id.as_bytes();
        let sec = c.secret.as_ref().map_or(&b""[..], |s| s.as_bytes());
        // Both or neither: check the capacities before writing anything.
        let fits = |v: &[u8], out: *mut c_char, cap: usize| {
            v.len() <= cap && (!out.is_null() || v.is_empty())
        };
        if !fits(id, client_id_out, client_id_cap) || !fits(sec, secret_out, secret_cap) {
            // SAFETY: checked non-null.
            unsafe {
                *client_id_len = id.len();
                *secret_len = sec.len();
            }
            return Err(fail_with(
                REFTOKEN_BUFFER_TOO_SMALL,
                format!(
                    "the client id needs {} bytes and the secret {} (plus one each for a NUL)",
                    id.len(),
                    sec.len()
                ),
            ));
        }
        // SAFETY: caller's buffer contracts; both fit.
        unsafe {
            write_out_quiet(id, client_id_out, client_id_cap, client_id_len)?;
            write_out_quiet(sec, secret_out, secret_cap, secret_len)?;
            *out_has_secret = c.secret.is_some();
        }
        Ok(())
    })
}

/// The parts of an HTTP request the introspection endpoint reads. A header that was not sent
/// has `ptr` NULL and `len` 0 (an empty header means the same to the endpoint).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct reftoken_http_request {
    /// The method, such as `POST`.
    pub method: reftoken_str,
    /// The `Content-Type` header.
    pub content_type: reftoken_str,
    /// The first `Authorization` header.
    pub authorization: reftoken_str,
    /// The `Accept` header; several `Accept` headers joined with `,`.
    pub accept: reftoken_str,
    /// The body (any bytes).
    pub body: *const u8,
    /// The body's length in bytes.
    pub body_len: usize,
}

/// An introspection request read from HTTP, from `reftoken_introspection_request_parse`.
/// Immutable: every function taking it may run on several threads at once. Free it with
/// `reftoken_introspection_request_free`; strings it hands out borrow from it.
pub struct reftoken_introspection_request {
    _private: [u8; 0],
}

impl Opaque for IntrospectionRequest {
    type C = reftoken_introspection_request;
}

/// The caller's credentials from a request: `kind` is `REFTOKEN_CREDENTIALS_NONE`,
/// `_NO_SECRET` or `_SHARED_SECRET`; `source` is `REFTOKEN_CREDENTIALS_FROM_BASIC` or
/// `_FROM_POST_BODY` (0 with none). The strings borrow from the request (`ptr` NULL when
/// absent).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct reftoken_credentials {
    /// Which credentials were found.
    pub kind: u32,
    /// Where they were found.
    pub source: u32,
    /// The client id or API resource name.
    pub client_id: reftoken_str,
    /// The secret, for `REFTOKEN_CREDENTIALS_SHARED_SECRET`.
    pub secret: reftoken_str,
}

/// What the endpoint answers. All strings are static or borrow from the request.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct reftoken_endpoint_answer {
    /// The HTTP status: 200, 400, 401, 405 or 415.
    pub status: u16,
    /// True (status 200): build the introspection response for `token` (for example with
    /// `reftoken_introspect_data`, or `{"active":false}` when there is no such token) and send
    /// it with `content_type`; when `jwt_requested`, sign it first with
    /// `reftoken_introspection_jwt` (the audience is the authenticated caller's name).
    pub introspect: bool,
    /// The `Accept` header asked for `application/token-introspection+jwt`.
    pub jwt_requested: bool,
    /// Send `Cache-Control: no-store, no-cache, max-age=0` and `Pragma: no-cache`.
    pub no_store: bool,
    /// With `introspect`: `REFTOKEN_HINT_*`; for client callers it says whether access or
    /// refresh tokens are tried first.
    pub token_type_hint: u32,
    /// With `introspect`: the presented token.
    pub token: reftoken_str,
    /// The `Content-Type` to send (`ptr` NULL: none, and no body).
    pub content_type: reftoken_str,
    /// The body to send when not `introspect` (empty for 401, 405, 415 and a bare 400).
    pub body: reftoken_str,
}

fn parse_into(req: &HttpRequest<'_>, out: *mut *mut reftoken_introspection_request) -> FfiResult {
    let parsed = IntrospectionRequest::parse(req);
    // SAFETY: the callers checked `out` non-null.
    unsafe { *out = parsed.into_c() };
    Ok(())
}

/// Reads an introspection request as IdentityServer's endpoint does, up to the point where
/// the caller must be authenticated: method, content type (`application/x-www-form-urlencoded`,
/// UTF-8), the caller's credentials (Basic header first, then `client_id`/`client_secret` in
/// the body) and the form parameters (`token`, `token_type_hint`; empty values ignored; a
/// repeated `token` or `token_type_hint` is refused, where IdentityServer joins the values).
/// HTTP-level problems are not errors: they are in the answer from
/// `reftoken_introspection_request_decide`. The new request is stored in `*out` (NULL on
/// failure); the caller frees it with `reftoken_introspection_request_free`. The request's
/// strings and body are copied; nothing borrowed is kept. What the endpoint answers for any
/// value over a limit is decided from the length alone, without reading it: an
/// `Authorization` header over 2430 bytes gives no credentials, a body over 65536 bytes is an
/// unreadable form (400).
///
/// Returns `REFTOKEN_OK`; `REFTOKEN_NULL_ARGUMENT`; `REFTOKEN_INVALID_UTF8` (method or a
/// header within its limit is not UTF-8; the body may be any bytes). Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_introspection_request_parse(
    request: *const reftoken_http_request,
    out: *mut *mut reftoken_introspection_request,
) -> reftoken_status {
    ffi_boundary("reftoken_introspection_request_parse", || {
        check_null!(out, request);
        // SAFETY: checked non-null.
        unsafe { *out = std::ptr::null_mut() };
        // SAFETY: checked non-null; the caller promises a valid struct.
        let r = unsafe { *request };
        let opt =
            |s: reftoken_str, name: &str, limit: Limit| -> Result<Option<&str>, reftoken_status> {
                if s.ptr.is_null() && s.len == 0 {
                    return Ok(None);
                }
                // SAFETY: the caller promises valid strings.
                unsafe { str_arg(s.ptr, s.len, name, limit) }.map(Some)
            };
        let fields = (|| {
            Ok::<_, reftoken_status>((
                opt(r.method, "request.method", Limit::Unlimited)?.unwrap_or(""),
                opt(r.content_type, "request.content_type", Limit::Unlimited)?,
                // Over the limit in any case: no Basic credentials, whatever it holds.
                opt(
                    r.authorization,
                    "request.authorization",
                    const { Limit::stand_in(MAX_AUTHORIZATION_BYTES) },
                )?,
                opt(r.accept, "request.accept", Limit::Unlimited)?,
                // SAFETY: the caller promises `body_len` readable bytes.
                unsafe { bytes_arg(r.body, r.body_len, "request.body", FORM_BODY) }?,
            ))
        })();
        let (method, content_type, authorization, accept, body) = fields?;
        parse_into(
            &HttpRequest {
                method,
                content_type,
                authorization,
                accept,
                body,
            },
            out,
        )
    })
}

/// Reads a form body alone as `reftoken_introspection_request_parse` reads a POST with
/// `Content-Type: application/x-www-form-urlencoded` and no `Authorization` or `Accept`
/// header: credentials from `client_id`/`client_secret`, and the parameters. `*out` as
/// there; a body over 65536 bytes is an unreadable form (400), and is not read.
///
/// Returns `REFTOKEN_OK` or `REFTOKEN_NULL_ARGUMENT`. Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_introspection_form_parse(
    body: *const u8,
    body_len: usize,
    out: *mut *mut reftoken_introspection_request,
) -> reftoken_status {
    ffi_boundary("reftoken_introspection_form_parse", || {
        check_null!(out);
        // SAFETY: checked non-null.
        unsafe { *out = std::ptr::null_mut() };
        // SAFETY: the caller promises `body_len` readable bytes.
        let body = unsafe { bytes_arg(body, body_len, "body", FORM_BODY) }?;
        parse_into(
            &HttpRequest {
                method: "POST",
                content_type: Some("application/x-www-form-urlencoded"),
                authorization: None,
                accept: None,
                body,
            },
            out,
        )
    })
}

/// Frees a request. NULL is ignored. Strings borrowed from it become invalid; no other thread
/// may be using it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_introspection_request_free(
    request: *mut reftoken_introspection_request,
) {
    ffi_boundary("reftoken_introspection_request_free", || {
        // SAFETY: NULL or a live request the caller owns.
        unsafe { IntrospectionRequest::free(request) }
    })
}

/// Fills `*out` with the caller's credentials (see `reftoken_credentials`): what the host
/// looks up (an API resource by that name first, then a client by that id) and checks with
/// `reftoken_secret_verify`. The strings stay valid until the request is freed.
///
/// Returns `REFTOKEN_OK` (also when there are none: `kind` is `REFTOKEN_CREDENTIALS_NONE`)
/// or `REFTOKEN_NULL_ARGUMENT`. Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_introspection_request_credentials(
    request: *const reftoken_introspection_request,
    out: *mut reftoken_credentials,
) -> reftoken_status {
    ffi_boundary("reftoken_introspection_request_credentials", || {
        let r = try_ref!(IntrospectionRequest, request);
        check_null!(out);
        let c = match r.credentials() {
            None => reftoken_credentials {
                kind: REFTOKEN_CREDENTIALS_NONE,
                source: 0,
                client_id: null_str(),
                secret: null_str(),
            },
            Some(c) => reftoken_credentials {
                kind: if c.secret.is_some() {
                    REFTOKEN_CREDENTIALS_SHARED_SECRET
                } else {
                    REFTOKEN_CREDENTIALS_NO_SECRET
                },
                source: match c.source {
                    CredentialSource::Basic => REFTOKEN_CREDENTIALS_FROM_BASIC,
                    CredentialSource::PostBody => REFTOKEN_CREDENTIALS_FROM_POST_BODY,
                },
                client_id: borrowed(&c.client_id),
                secret: c.secret.as_deref().map_or_else(null_str, |s| borrowed(s)),
            },
        };
        // SAFETY: checked non-null.
        unsafe { *out = c };
        Ok(())
    })
}

/// Decides what to answer, given whether the caller authenticated (as an enabled API resource
/// with a valid secret, else as an enabled client with a valid secret or one that needs
/// none): 405, 415 or a bare 400 when the request was refused before authentication; 401 when
/// `caller_authenticated` is false; 400 `{"error":"missing_token"}` (or RefToken's
/// `invalid_request` for a repeated parameter); else an introspection (see
/// `reftoken_endpoint_answer`). The strings stay valid until the request is freed.
///
/// Returns `REFTOKEN_OK` or `REFTOKEN_NULL_ARGUMENT`. Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_introspection_request_decide(
    request: *const reftoken_introspection_request,
    caller_authenticated: bool,
    out: *mut reftoken_endpoint_answer,
) -> reftoken_status {
    ffi_boundary("reftoken_introspection_request_decide", || {
        let r = try_ref!(IntrospectionRequest, request);
        check_null!(out);
        let answer = match r.decide(caller_authenticated) {
            Decision::Respond(resp) => reftoken_endpoint_answer {
                status: resp.status,
                introspect: false,
                jwt_requested: r.jwt_requested(),
                no_store: resp.no_store,
                token_type_hint: REFTOKEN_HINT_NONE,
                token: null_str(),
                content_type: resp.content_type.map_or_else(null_str, borrowed),
                // Error bodies are static strings (see `endpoint::param_error_body`).
                body: match r.params() {
                    Some(Err(e)) if resp.status == 400 => borrowed(endpoint::param_error_body(*e)),
                    _ => borrowed(""),
                },
            },
            Decision::Introspect {
                params,
                jwt_requested,
            } => reftoken_endpoint_answer {
                status: 200,
                introspect: true,
                jwt_requested,
                no_store: true,
                token_type_hint: match params.token_type_hint {
                    None => REFTOKEN_HINT_NONE,
                    Some(TokenTypeHint::AccessToken) => REFTOKEN_HINT_ACCESS_TOKEN,
                    Some(TokenTypeHint::RefreshToken) => REFTOKEN_HINT_REFRESH_TOKEN,
                },
                token: borrowed(&params.token),
                content_type: borrowed(if jwt_requested {
                    endpoint::JWT_CONTENT_TYPE
                } else {
                    endpoint::JSON_CONTENT_TYPE
                }),
                body: borrowed(""),
            },
        };
        // SAFETY: checked non-null.
        unsafe { *out = answer };
        Ok(())
    })
}

/// A private key that signs RFC 9701 introspection responses, with its algorithm and key id.
/// Immutable: may be used from several threads at once. Free it with
/// `reftoken_signing_key_free`.
pub struct reftoken_signing_key {
    _private: [u8; 0],
}

impl Opaque for SigningKey {
    type C = reftoken_signing_key;
}

fn algorithm(alg: u32) -> Result<Option<Algorithm>, Error> {
    match alg {
        REFTOKEN_JWT_ALG_DEFAULT => Ok(None),
        REFTOKEN_JWT_ALG_RS256 => Ok(Some(Algorithm::RS256)),
        REFTOKEN_JWT_ALG_PS256 => Ok(Some(Algorithm::PS256)),
        REFTOKEN_JWT_ALG_ES256 => Ok(Some(Algorithm::ES256)),
        _ => Err(Error::InvalidArgument("unknown JWT algorithm")),
    }
}

/// Loads a signing key from PEM text: PKCS#8 `PRIVATE KEY` (RSA or P-256), PKCS#1 `RSA
/// PRIVATE KEY` or SEC1 `EC PRIVATE KEY` (P-256). `alg` is a `REFTOKEN_JWT_ALG_*` value
/// (`REFTOKEN_JWT_ALG_DEFAULT`: RS256 for RSA, ES256 for P-256); `kid` (length 0 for none)
/// goes into the JWS header. The new key is stored in `*out` (NULL on failure); the caller
/// frees it with `reftoken_signing_key_free`. Nothing borrowed is kept.
///
/// Returns `REFTOKEN_OK`; `REFTOKEN_NULL_ARGUMENT`; `REFTOKEN_INVALID_UTF8`;
/// `REFTOKEN_INPUT_TOO_LARGE` (over 64 KiB); `REFTOKEN_MALFORMED_INPUT` (not PEM or not a
/// key); `REFTOKEN_INVALID_ARGUMENT` (unknown `alg`, an algorithm that does not fit the key,
/// encrypted or public-only PEM, another key type or curve, RSA under 2048 bits).
/// Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_signing_key_new_from_pem(
    pem: *const c_char,
    pem_len: usize,
    alg: u32,
    kid: *const c_char,
    kid_len: usize,
    out: *mut *mut reftoken_signing_key,
) -> reftoken_status {
    ffi_boundary("reftoken_signing_key_new_from_pem", || {
        check_null!(out);
        // SAFETY: checked non-null.
        unsafe { *out = std::ptr::null_mut() };
        let text = try_str!(pem, pem_len, max = jwt::MAX_KEY_TEXT_LEN, "signing key PEM");
        let k = try_str!(kid, kid_len);
        let a = algorithm(alg)?;
        let key = SigningKey::from_pem(text, a, (!k.is_empty()).then_some(k))?;
        // SAFETY: checked non-null.
        unsafe { *out = key.into_c() };
        Ok(())
    })
}

/// Loads a signing key from a private JWK: `kty` `RSA` (`n`, `e`, `d`, optionally `p`, `q`)
/// or `EC` with `crv` `P-256` (`d`, optionally `x`, `y`, which must match). The algorithm is
/// `alg` unless `REFTOKEN_JWT_ALG_DEFAULT`, else the JWK's `alg`, else RS256 / ES256; `kid`
/// (length 0: the JWK's `kid`, if any) goes into the JWS header. `*out` as in
/// `reftoken_signing_key_new_from_pem`.
///
/// Returns as `reftoken_signing_key_new_from_pem`; `REFTOKEN_INVALID_ARGUMENT` also when
/// `alg` and the JWK's `alg` differ. Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_signing_key_new_from_jwk(
    jwk: *const c_char,
    jwk_len: usize,
    alg: u32,
    kid: *const c_char,
    kid_len: usize,
    out: *mut *mut reftoken_signing_key,
) -> reftoken_status {
    ffi_boundary("reftoken_signing_key_new_from_jwk", || {
        check_null!(out);
        // SAFETY: checked non-null.
        unsafe { *out = std::ptr::null_mut() };
        let text = try_str!(jwk, jwk_len, max = jwt::MAX_KEY_TEXT_LEN, "signing key JWK");
        let k = try_str!(kid, kid_len);
        let a = algorithm(alg)?;
        let key = SigningKey::from_jwk(text, a, (!k.is_empty()).then_some(k))?;
        // SAFETY: checked non-null.
        unsafe { *out = key.into_c() };
        Ok(())
    })
}

/// Frees a signing key. NULL is ignored; no other thread may be using it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_signing_key_free(key: *mut reftoken_signing_key) {
    ffi_boundary("reftoken_signing_key_free", || {
        // SAFETY: NULL or a live key the caller owns.
        unsafe { SigningKey::free(key) }
    })
}

/// Writes the key's public part as a JWK for a JWKS document (`kty`, `use`, `kid`, `alg`,
/// then `e`, `n` or `x`, `y`, `crv`).
///
/// Returns `REFTOKEN_OK`, `REFTOKEN_NULL_ARGUMENT` or `REFTOKEN_BUFFER_TOO_SMALL`.
/// Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_signing_key_public_jwk(
    key: *const reftoken_signing_key,
    out: *mut c_char,
    out_cap: usize,
    out_len: *mut usize,
) -> reftoken_status {
    ffi_boundary("reftoken_signing_key_public_jwk", || {
        let k = try_ref!(SigningKey, key);
        // SAFETY: caller's buffer contract.
        unsafe { write_out(k.public_jwk().as_bytes(), out, out_cap, out_len) }
    })
}

/// Writes the RFC 9701 response body IdentityServer 7.3+ sends for `Accept:
/// application/token-introspection+jwt`: a compact JWS signed with `key`, header
/// `{"alg":..,"kid":..,"typ":"token-introspection+jwt"}` (no `kid` when the key has none),
/// payload `{"iss":issuer,"iat":now,"aud":audience,"token_introspection":response}`.
/// `response` is the introspection JSON (a JSON object, such as `reftoken_introspect`
/// writes); `audience` is the authenticated caller's name (API resource name or client id);
/// `now` is Unix seconds. Send it with content type `application/token-introspection+jwt`.
///
/// Returns `REFTOKEN_OK`; `REFTOKEN_NULL_ARGUMENT`; `REFTOKEN_INVALID_UTF8`;
/// `REFTOKEN_INPUT_TOO_LARGE` (response over 1 MiB); `REFTOKEN_MALFORMED_INPUT` (response is
/// not a JSON object); `REFTOKEN_RNG_FAILURE` (RSA blinding or PSS salt);
/// `REFTOKEN_BUFFER_TOO_SMALL`. Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_introspection_jwt(
    key: *const reftoken_signing_key,
    issuer: *const c_char,
    issuer_len: usize,
    audience: *const c_char,
    audience_len: usize,
    now: i64,
    response: *const c_char,
    response_len: usize,
    out: *mut c_char,
    out_cap: usize,
    out_len: *mut usize,
) -> reftoken_status {
    ffi_boundary("reftoken_introspection_jwt", || {
        let k = try_ref!(SigningKey, key);
        check_null!(out_len);
        let iss = try_str!(issuer, issuer_len);
        let aud = try_str!(audience, audience_len);
        let resp = try_str!(
            response,
            response_len,
            max = reftoken::limits::MAX_DATA_LEN,
            "introspection response"
        );
        let token = jwt::introspection_jwt(k, iss, aud, Instant::from_unix_seconds(now), resp)?;
        // SAFETY: caller's buffer contract.
        unsafe { write_out(token.as_bytes(), out, out_cap, out_len) }
    })
}

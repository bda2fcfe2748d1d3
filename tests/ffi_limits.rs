//! Lengths are checked against the limits before any byte is read (issue "Shape"): a length
//! over a limit is `REFTOKEN_INPUT_TOO_LARGE` even when the buffer is shorter, with the
//! message the core gives for that limit; where the core answers every over-long value alike
//! without failing (a presented handle over 100 bytes is inactive, a form body over 64 KiB is
//! a 400), that answer comes without the argument being read.
//!
//! Every argument under test is a 16-byte buffer that ends where an inaccessible page begins,
//! so a read past it faults, and its first byte is not UTF-8, so a text argument validated
//! before its length is checked gives `REFTOKEN_INVALID_UTF8` instead of the expected status.
//! One test per entry point and argument. tests/c/stress_abi.c has the same cases under
//! valgrind and AddressSanitizer.

mod common;

use std::ffi::{CStr, c_char, c_void};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicUsize, Ordering};

use reftoken::dataprotection::{
    KeyRing, MAX_PAYLOAD_LEN, MAX_PAYLOAD_STR_LEN, MAX_PURPOSE_LEN, MAX_XML_LEN,
};
use reftoken::grant::{self, Token};
use reftoken::instant::Instant;
use reftoken::jwt::{self, MAX_KEY_TEXT_LEN, SigningKey};
use reftoken::{Error, endpoint, key, limits, validation};
use reftoken_ffi::*;

use common::DpFn;

/// Bytes of each argument that really are there.
const BUF: usize = 16;

/// `BUF` bytes right before a page that cannot be read.
struct Guarded {
    map: *mut c_void,
    map_len: usize,
    ptr: *mut u8,
}

impl Guarded {
    /// `BUF` bytes of `fill`.
    fn new(fill: u8) -> Self {
        // SAFETY: plain calls into the C library; the results are checked.
        unsafe {
            let page = libc::sysconf(libc::_SC_PAGESIZE) as usize;
            let map = libc::mmap(
                null_mut(),
                2 * page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(map, libc::MAP_FAILED);
            assert_eq!(
                libc::mprotect(map.cast::<u8>().add(page).cast(), page, libc::PROT_NONE),
                0
            );
            let ptr = map.cast::<u8>().add(page - BUF);
            std::ptr::write_bytes(ptr, fill, BUF);
            Guarded {
                map,
                map_len: 2 * page,
                ptr,
            }
        }
    }

    /// Starting with 0xFF, which is never UTF-8.
    fn not_utf8() -> Self {
        Guarded::new(0xFF)
    }

    fn text(&self) -> *const c_char {
        self.ptr.cast()
    }

    fn bytes(&self) -> *const u8 {
        self.ptr
    }

    /// The buffer with a length it does not have.
    fn str(&self, len: usize) -> reftoken_str {
        reftoken_str {
            ptr: self.text(),
            len,
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`.
        unsafe { libc::munmap(self.map, self.map_len) };
    }
}

fn last_error() -> String {
    let mut buf = vec![0u8; 1024];
    let mut len = 0;
    let st = unsafe { reftoken_last_error(buf.as_mut_ptr().cast(), buf.len(), &mut len) };
    assert_eq!(st, reftoken_status::REFTOKEN_OK);
    buf.truncate(len);
    String::from_utf8(buf).unwrap()
}

/// `st` is `REFTOKEN_INPUT_TOO_LARGE` and the last error is the core's message `core`, which
/// names the argument.
fn assert_too_large(st: reftoken_status, core: Error, names: &str) {
    let msg = last_error();
    assert_eq!(
        st,
        reftoken_status::REFTOKEN_INPUT_TOO_LARGE,
        "last error: {msg}"
    );
    assert!(
        matches!(core, Error::TooLarge { .. }),
        "the core gave {core:?}"
    );
    assert_eq!(msg, core.to_string());
    assert!(msg.starts_with(names), "{msg:?} does not name {names:?}");
}

fn spaces(len: usize) -> String {
    " ".repeat(len)
}

fn now() -> Instant {
    Instant::from_unix_seconds(1_740_830_400)
}

/// An empty key ring with an application name: the limits are checked before any key is needed.
fn ring() -> *mut reftoken_keyring {
    let mut k = null_mut();
    let st = unsafe { reftoken_keyring_new_from_xml(null(), 0, c"app".as_ptr(), 3, &mut k) };
    assert_eq!(st, reftoken_status::REFTOKEN_OK);
    k
}

fn core_ring() -> KeyRing {
    KeyRing::from_xml::<&str>(&[])
        .unwrap()
        .with_application_name(Some("app"))
}

const PURPOSE: reftoken_str = cstr(c"p");

/// No value: a NULL pointer and no length.
const NONE: reftoken_str = reftoken_str {
    ptr: null(),
    len: 0,
};

/// A whole C string literal as a `reftoken_str`.
const fn cstr(s: &'static CStr) -> reftoken_str {
    reftoken_str {
        ptr: s.as_ptr(),
        len: s.count_bytes(),
    }
}

const EC_JWK: &str =
    r#"{"kty":"EC","crv":"P-256","d":"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA","kid":"k1"}"#;

// ---------------------------------------------------------------------------------------------
// Store keys

/// `reftoken_store_key` of `handle` and `grant_type`: the status and the key written.
fn store_key(handle: reftoken_str, grant_type: reftoken_str) -> (reftoken_status, Vec<u8>) {
    let (mut out, mut len) = ([0u8; 65], 0);
    let st = unsafe {
        reftoken_store_key(
            handle.ptr,
            handle.len,
            grant_type.ptr,
            grant_type.len,
            out.as_mut_ptr().cast(),
            out.len(),
            &mut len,
        )
    };
    (st, out[..len.min(out.len())].to_vec())
}

#[test]
fn store_key_refuses_a_handle_over_4096_bytes_unread() {
    let b = Guarded::not_utf8();
    let (st, _) = store_key(b.str(limits::MAX_HANDLE_LEN + 1), cstr(c"reference_token"));
    let core = key::store_key(&"A".repeat(limits::MAX_HANDLE_LEN + 1), "reference_token");
    assert_too_large(st, core.unwrap_err(), "handle ");
}

#[test]
fn store_key_refuses_a_grant_type_over_256_bytes_unread() {
    let b = Guarded::not_utf8();
    let (st, _) = store_key(cstr(c"A-1"), b.str(limits::MAX_GRANT_TYPE_LEN + 1));
    let core = key::store_key("A-1", &"g".repeat(limits::MAX_GRANT_TYPE_LEN + 1));
    assert_too_large(st, core.unwrap_err(), "grant type ");
}

#[test]
fn reference_token_key_refuses_a_handle_over_4096_bytes_unread() {
    let b = Guarded::not_utf8();
    let (mut out, mut len) = ([0u8; 65], 0);
    let st = unsafe {
        reftoken_reference_token_key(
            b.text(),
            limits::MAX_HANDLE_LEN + 1,
            out.as_mut_ptr().cast(),
            out.len(),
            &mut len,
        )
    };
    let core = key::store_key(
        &"A".repeat(limits::MAX_HANDLE_LEN + 1),
        key::REFERENCE_TOKEN,
    );
    assert_too_large(st, core.unwrap_err(), "handle ");
}

#[test]
fn handle_is_wellformed_says_no_to_a_handle_over_66_bytes_unread() {
    // ASCII this time: the old code validated all 67 bytes as UTF-8, into the guard page.
    let b = Guarded::new(b'A');
    assert!(!unsafe { reftoken_handle_is_wellformed(b.text(), REFTOKEN_HANDLE_LEN + 1) });
}

// ---------------------------------------------------------------------------------------------
// Grants

/// `parse` of a text one byte over `limits::MAX_DATA_LEN`, which must make no grant: the
/// status.
fn parse_over_the_data_limit(
    parse: impl FnOnce(*const c_char, usize, &mut *mut reftoken_grant) -> reftoken_status,
) -> reftoken_status {
    let b = Guarded::not_utf8();
    let mut g = null_mut();
    let st = parse(b.text(), limits::MAX_DATA_LEN + 1, &mut g);
    assert!(g.is_null());
    st
}

#[test]
fn grant_parse_refuses_a_data_column_over_1_mib_unread() {
    let st = parse_over_the_data_limit(|t, n, g| unsafe { reftoken_grant_parse(t, n, g) });
    let core = grant::read_token(&spaces(limits::MAX_DATA_LEN + 1));
    assert_too_large(st, core.unwrap_err(), "Data column ");
}

#[test]
fn grant_parse_protected_refuses_a_data_column_over_1_mib_unread() {
    let k = ring();
    let st =
        parse_over_the_data_limit(|t, n, g| unsafe { reftoken_grant_parse_protected(t, n, k, g) });
    unsafe { reftoken_keyring_free(k) };
    let core = validation::read_token(&spaces(limits::MAX_DATA_LEN + 1), None);
    assert_too_large(st, core.unwrap_err(), "Data column ");
}

#[test]
fn grant_parse_token_json_refuses_json_over_1_mib_unread() {
    let st =
        parse_over_the_data_limit(|t, n, g| unsafe { reftoken_grant_parse_token_json(t, n, g) });
    let core = Token::from_json(&spaces(limits::MAX_DATA_LEN + 1));
    assert_too_large(st, core.unwrap_err(), "token JSON ");
}

#[test]
fn introspect_data_refuses_a_data_column_over_1_mib_unread() {
    let b = Guarded::not_utf8();
    let caller = api_caller();
    let (mut out, mut len) = ([0u8; 256], 0);
    let st = unsafe {
        reftoken_introspect_data(
            b.text(),
            limits::MAX_DATA_LEN + 1,
            null(),
            &caller,
            0,
            null(),
            out.as_mut_ptr().cast(),
            out.len(),
            &mut len,
        )
    };
    let core = validation::read_token(&spaces(limits::MAX_DATA_LEN + 1), None);
    assert_too_large(st, core.unwrap_err(), "Data column ");
}

// ---------------------------------------------------------------------------------------------
// Validators

/// Counts lookups; with `row_data` set, answers each with `reftoken_row_set` of that buffer
/// and a length over the limit, and keeps the status and message it got.
struct Store {
    lookups: AtomicUsize,
    row_data: Option<Guarded>,
    row_set: std::sync::Mutex<Option<(reftoken_status, String)>>,
}

unsafe extern "C" fn lookup(
    ctx: *mut c_void,
    _key: *const c_char,
    _key_len: usize,
    row: *mut reftoken_row,
) -> reftoken_status {
    let store = unsafe { &*ctx.cast::<Store>() };
    store.lookups.fetch_add(1, Ordering::SeqCst);
    if let Some(data) = &store.row_data {
        let st = unsafe {
            reftoken_row_set(
                row,
                c"reference_token".as_ptr(),
                15,
                data.text(),
                limits::MAX_DATA_LEN + 1,
            )
        };
        *store.row_set.lock().unwrap() = Some((st, last_error()));
    }
    reftoken_status::REFTOKEN_NOT_FOUND
}

fn store(row_data: Option<Guarded>) -> Box<Store> {
    Box::new(Store {
        lookups: AtomicUsize::new(0),
        row_data,
        row_set: std::sync::Mutex::new(None),
    })
}

fn validator(store: &Store) -> *mut reftoken_validator {
    let mut v = null_mut();
    let ctx = (store as *const Store).cast_mut().cast();
    let st = unsafe { reftoken_validator_new(Some(lookup), ctx, null(), 16, 60, &mut v) };
    assert_eq!(st, reftoken_status::REFTOKEN_OK);
    v
}

fn api_caller() -> reftoken_caller {
    reftoken_caller {
        kind: REFTOKEN_CALLER_API,
        name: cstr(c"api1"),
        scopes: cstr(c"api1.read"),
    }
}

/// `reftoken_validator_introspect` of `handle_len` bytes at `handle` for `caller`: the status
/// and the response body.
fn introspect(
    v: *mut reftoken_validator,
    handle: *const c_char,
    handle_len: usize,
    caller: &reftoken_caller,
) -> (reftoken_status, Vec<u8>) {
    let (mut out, mut len) = ([0u8; 64], 0);
    let st = unsafe {
        reftoken_validator_introspect(
            v,
            handle,
            handle_len,
            caller,
            0,
            null(),
            out.as_mut_ptr().cast(),
            out.len(),
            &mut len,
        )
    };
    (st, out[..len.min(out.len())].to_vec())
}

/// Introspection of a handle one byte over the limit is answered inactive, with no lookup.
fn assert_inactive_unread(caller: &reftoken_caller) {
    let b = Guarded::not_utf8();
    let s = store(None);
    let v = validator(&s);
    let (st, body) = introspect(
        v,
        b.text(),
        validation::MAX_PRESENTED_HANDLE_LEN + 1,
        caller,
    );
    unsafe { reftoken_validator_free(v) };
    assert_eq!(st, reftoken_status::REFTOKEN_OK, "{}", last_error());
    assert_eq!(body, b"{\"active\":false}");
    assert_eq!(s.lookups.load(Ordering::SeqCst), 0);
}

#[test]
fn row_set_refuses_a_data_column_over_1_mib_unread() {
    let s = store(Some(Guarded::not_utf8()));
    let v = validator(&s);
    let mut handle = [0u8; 67];
    let mut len = 0;
    unsafe { reftoken_handle_new(handle.as_mut_ptr().cast(), handle.len(), &mut len) };
    let mut verdict = std::mem::MaybeUninit::<reftoken_verdict>::uninit();
    let caller = api_caller();
    let st = unsafe {
        reftoken_validator_validate(
            v,
            handle.as_ptr().cast(),
            66,
            &caller,
            0,
            null(),
            null_mut(),
            verdict.as_mut_ptr(),
        )
    };
    unsafe { reftoken_validator_free(v) };
    assert_eq!(st, reftoken_status::REFTOKEN_OK);
    assert_eq!(s.lookups.load(Ordering::SeqCst), 1);
    let (row_st, msg) = s
        .row_set
        .lock()
        .unwrap()
        .take()
        .expect("reftoken_row_set ran");
    let core = grant::open_data(&spaces(limits::MAX_DATA_LEN + 1)).unwrap_err();
    assert_eq!(
        row_st,
        reftoken_status::REFTOKEN_INPUT_TOO_LARGE,
        "last error: {msg}"
    );
    assert_eq!(msg, core.to_string());
    assert!(msg.starts_with("Data column "));
}

#[test]
fn validator_introspect_answers_inactive_for_a_handle_over_100_bytes_unread() {
    assert_inactive_unread(&api_caller());
}

#[test]
fn validator_introspect_as_a_client_answers_inactive_for_a_handle_over_100_bytes_unread() {
    // A client caller also has its refresh tokens tried: still no lookup.
    assert_inactive_unread(&reftoken_caller {
        kind: REFTOKEN_CALLER_CLIENT,
        name: cstr(c"client1"),
        scopes: NONE,
    });
}

#[test]
fn validator_validate_answers_unknown_for_a_handle_over_100_bytes_unread() {
    let b = Guarded::not_utf8();
    let s = store(None);
    let v = validator(&s);
    let caller = api_caller();
    // Not NULL, so that the test sees the library clear it.
    let mut g: *mut reftoken_grant = std::ptr::dangling_mut();
    let mut verdict = std::mem::MaybeUninit::<reftoken_verdict>::uninit();
    let st = unsafe {
        reftoken_validator_validate(
            v,
            b.text(),
            validation::MAX_PRESENTED_HANDLE_LEN + 1,
            &caller,
            0,
            null(),
            &mut g,
            verdict.as_mut_ptr(),
        )
    };
    unsafe { reftoken_validator_free(v) };
    assert_eq!(st, reftoken_status::REFTOKEN_OK, "{}", last_error());
    let verdict = unsafe { verdict.assume_init() };
    assert!(!verdict.active);
    assert_eq!(verdict.reason, REFTOKEN_INACTIVE_UNKNOWN_HANDLE);
    assert!(g.is_null());
    assert_eq!(s.lookups.load(Ordering::SeqCst), 0);
}

#[test]
fn validator_evict_ignores_a_key_over_64_bytes_unread() {
    let b = Guarded::not_utf8();
    let s = store(None);
    let v = validator(&s);
    let st = unsafe { reftoken_validator_evict(v, b.text(), key::MAX_KEY_LEN + 1) };
    unsafe { reftoken_validator_free(v) };
    assert_eq!(st, reftoken_status::REFTOKEN_OK, "{}", last_error());
}

// ---------------------------------------------------------------------------------------------
// Signing keys and JWT responses

/// `reftoken_signing_key_new_from_pem` or `_from_jwk`, which take the same arguments.
type NewSigningKey = unsafe extern "C" fn(
    *const c_char,
    usize,
    u32,
    *const c_char,
    usize,
    *mut *mut reftoken_signing_key,
) -> reftoken_status;

/// `new` of `text` with the default algorithm and no key id: the status and the key.
fn signing_key(
    new: NewSigningKey,
    text: reftoken_str,
) -> (reftoken_status, *mut reftoken_signing_key) {
    let mut k = null_mut();
    let st = unsafe {
        new(
            text.ptr,
            text.len,
            REFTOKEN_JWT_ALG_DEFAULT,
            null(),
            0,
            &mut k,
        )
    };
    (st, k)
}

/// `new` refuses a key text one byte over the limit with the core's error `core`, and makes no
/// key.
fn assert_key_text_refused(new: NewSigningKey, core: Error, names: &str) {
    let b = Guarded::not_utf8();
    let (st, k) = signing_key(new, b.str(MAX_KEY_TEXT_LEN + 1));
    assert!(k.is_null());
    assert_too_large(st, core, names);
}

#[test]
fn signing_key_from_pem_refuses_pem_over_64_kib_unread() {
    let core = SigningKey::from_pem(&spaces(MAX_KEY_TEXT_LEN + 1), None, None);
    assert_key_text_refused(
        reftoken_signing_key_new_from_pem,
        core.unwrap_err(),
        "signing key PEM ",
    );
}

#[test]
fn signing_key_from_jwk_refuses_a_jwk_over_64_kib_unread() {
    let core = SigningKey::from_jwk(&spaces(MAX_KEY_TEXT_LEN + 1), None, None);
    assert_key_text_refused(
        reftoken_signing_key_new_from_jwk,
        core.unwrap_err(),
        "signing key JWK ",
    );
}

#[test]
fn introspection_jwt_refuses_a_response_over_1_mib_unread() {
    let b = Guarded::not_utf8();
    let jwk = reftoken_str {
        ptr: EC_JWK.as_ptr().cast(),
        len: EC_JWK.len(),
    };
    let (st, k) = signing_key(reftoken_signing_key_new_from_jwk, jwk);
    assert_eq!(st, reftoken_status::REFTOKEN_OK);
    let (mut out, mut len) = ([0u8; 256], 0);
    let st = unsafe {
        reftoken_introspection_jwt(
            k,
            c"https://idsvr.test".as_ptr(),
            18,
            c"api1".as_ptr(),
            4,
            0,
            b.text(),
            limits::MAX_DATA_LEN + 1,
            out.as_mut_ptr().cast(),
            out.len(),
            &mut len,
        )
    };
    unsafe { reftoken_signing_key_free(k) };
    let key = SigningKey::from_jwk(EC_JWK, None, None).unwrap();
    let core = jwt::introspection_jwt(
        &key,
        "https://idsvr.test",
        "api1",
        now(),
        &spaces(limits::MAX_DATA_LEN + 1),
    );
    assert_too_large(st, core.unwrap_err(), "introspection response ");
}

// ---------------------------------------------------------------------------------------------
// The introspection endpoint

#[test]
fn basic_parse_refuses_a_header_over_2430_bytes_unread() {
    // The limit is 810 UTF-16 code units; a code unit takes at most 3 bytes of UTF-8, so a
    // header over 2430 bytes is over it whatever it holds.
    let over = 3 * endpoint::MAX_AUTHORIZATION_LEN + 1;
    let b = Guarded::not_utf8();
    let (st, id_len, sec_len, has) = common::c_basic_parse_raw(b.text(), over);
    let expected = Error::TooLarge {
        what: "Authorization header",
        len: over,
        max: 3 * endpoint::MAX_AUTHORIZATION_LEN,
    };
    assert_too_large(st, expected, "Authorization header ");
    assert_eq!((id_len, sec_len, has), (0, 0, false));
    // The core refuses the same header (in UTF-16 code units).
    let header = format!("Basic {}", "A".repeat(over - 6));
    assert!(matches!(
        endpoint::parse_basic(&header),
        Err(Error::TooLarge { what, .. }) if what.starts_with("Authorization header")
    ));
}

fn form_request(
    authorization: reftoken_str,
    body: *const u8,
    body_len: usize,
) -> reftoken_http_request {
    reftoken_http_request {
        method: cstr(c"POST"),
        content_type: cstr(c"application/x-www-form-urlencoded"),
        authorization,
        accept: NONE,
        body,
        body_len,
    }
}

fn decide(
    req: *mut reftoken_introspection_request,
    authenticated: bool,
) -> reftoken_endpoint_answer {
    let mut a = std::mem::MaybeUninit::<reftoken_endpoint_answer>::uninit();
    let st = unsafe { reftoken_introspection_request_decide(req, authenticated, a.as_mut_ptr()) };
    assert_eq!(st, reftoken_status::REFTOKEN_OK);
    unsafe { a.assume_init() }
}

#[test]
fn introspection_request_parse_answers_400_for_a_body_over_64_kib_unread() {
    let b = Guarded::not_utf8();
    let http = form_request(NONE, b.bytes(), endpoint::MAX_FORM_LEN + 1);
    let mut req = null_mut();
    let st = unsafe { reftoken_introspection_request_parse(&http, &mut req) };
    assert_eq!(st, reftoken_status::REFTOKEN_OK, "{}", last_error());
    assert_eq!(decide(req, false).status, 400);
    unsafe { reftoken_introspection_request_free(req) };
}

#[test]
fn introspection_request_parse_finds_no_basic_credentials_in_a_header_over_2430_bytes_unread() {
    let b = Guarded::not_utf8();
    let body = b"token=abc&client_id=client1&client_secret=s";
    let http = form_request(
        b.str(3 * endpoint::MAX_AUTHORIZATION_LEN + 1),
        body.as_ptr(),
        body.len(),
    );
    let mut req = null_mut();
    let st = unsafe { reftoken_introspection_request_parse(&http, &mut req) };
    assert_eq!(st, reftoken_status::REFTOKEN_OK, "{}", last_error());
    let mut c = std::mem::MaybeUninit::<reftoken_credentials>::uninit();
    let st = unsafe { reftoken_introspection_request_credentials(req, c.as_mut_ptr()) };
    assert_eq!(st, reftoken_status::REFTOKEN_OK);
    let c = unsafe { c.assume_init() };
    // As for any over-long (or non-Basic) header: the credentials come from the body.
    assert_eq!(c.kind, REFTOKEN_CREDENTIALS_SHARED_SECRET);
    assert_eq!(c.source, REFTOKEN_CREDENTIALS_FROM_POST_BODY);
    assert_eq!(decide(req, true).status, 200);
    unsafe { reftoken_introspection_request_free(req) };
    // The core, given a real header that long, also finds no Basic credentials in it.
    let header = format!(
        "Basic {}",
        "A".repeat(3 * endpoint::MAX_AUTHORIZATION_LEN + 1 - 6)
    );
    let r = endpoint::IntrospectionRequest::parse(&endpoint::HttpRequest {
        method: "POST",
        content_type: Some("application/x-www-form-urlencoded"),
        authorization: Some(&header),
        accept: None,
        body,
    });
    assert!(matches!(r.basic_error(), Some(Error::TooLarge { .. })));
    assert_eq!(
        r.credentials().map(|c| c.source),
        Some(endpoint::CredentialSource::PostBody)
    );
}

#[test]
fn introspection_form_parse_answers_400_for_a_body_over_64_kib_unread() {
    let b = Guarded::not_utf8();
    let mut req = null_mut();
    let st = unsafe {
        reftoken_introspection_form_parse(b.bytes(), endpoint::MAX_FORM_LEN + 1, &mut req)
    };
    assert_eq!(st, reftoken_status::REFTOKEN_OK, "{}", last_error());
    assert_eq!(decide(req, true).status, 400);
    unsafe { reftoken_introspection_request_free(req) };
    // The core reads a real body that long as an unreadable form, answered 400 at once.
    let body = vec![b'a'; endpoint::MAX_FORM_LEN + 1];
    let r = endpoint::IntrospectionRequest::parse(&endpoint::HttpRequest {
        method: "POST",
        content_type: Some("application/x-www-form-urlencoded"),
        authorization: None,
        accept: None,
        body: &body,
    });
    assert!(matches!(r.form_error(), Some(Error::TooLarge { .. })));
    assert!(matches!(
        r.decide(true),
        endpoint::Decision::Respond(endpoint::HttpResponse { status: 400, .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Key rings and Data Protection

#[test]
fn keyring_from_xml_refuses_an_element_over_1_mib_unread() {
    let b = Guarded::not_utf8();
    let el = b.str(MAX_XML_LEN + 1);
    let mut k = null_mut();
    let st = unsafe { reftoken_keyring_new_from_xml(&el, 1, null(), 0, &mut k) };
    assert!(k.is_null());
    let core = KeyRing::from_xml(&[spaces(MAX_XML_LEN + 1)]);
    assert_too_large(st, core.unwrap_err(), "key ring XML element ");
}

/// `f` over the key ring from `ring()` with `purposes` and `input_len` bytes at `input`.
fn dp_call(
    f: DpFn,
    purposes: &[reftoken_str],
    input: *const u8,
    input_len: usize,
) -> reftoken_status {
    let k = ring();
    let st = common::c_dp_raw(f, k, purposes, input, input_len, Some(64)).status;
    unsafe { reftoken_keyring_free(k) };
    st
}

/// `f` of an input of `len` bytes (one over its limit) refuses it unread, with the core's
/// error `core`.
fn assert_input_refused(f: DpFn, len: usize, core: Error, names: &str) {
    let b = Guarded::not_utf8();
    let st = dp_call(f, &[PURPOSE], b.bytes(), len);
    assert_too_large(st, core, names);
}

#[test]
fn protect_refuses_plaintext_over_1_mib_unread() {
    let core = core_ring().protect_str(&["p"], &spaces(MAX_PAYLOAD_LEN + 1), now());
    assert_input_refused(
        DpFn::Protect(0),
        MAX_PAYLOAD_LEN + 1,
        core.unwrap_err(),
        "plaintext ",
    );
}

#[test]
fn protect_bytes_refuses_plaintext_over_1_mib_unread() {
    let core = core_ring().protect(&["p"], &vec![0; MAX_PAYLOAD_LEN + 1], now());
    assert_input_refused(
        DpFn::ProtectBytes(0),
        MAX_PAYLOAD_LEN + 1,
        core.unwrap_err(),
        "plaintext ",
    );
}

#[test]
fn unprotect_refuses_a_payload_over_the_string_limit_unread() {
    let core = core_ring().unprotect_str(&["p"], &"A".repeat(MAX_PAYLOAD_STR_LEN + 1));
    assert_input_refused(
        DpFn::Unprotect,
        MAX_PAYLOAD_STR_LEN + 1,
        core.unwrap_err(),
        "protected payload ",
    );
}

#[test]
fn unprotect_bytes_refuses_a_payload_over_1_mib_unread() {
    let core = core_ring().unprotect(&["p"], &vec![0; MAX_PAYLOAD_LEN + 1]);
    assert_input_refused(
        DpFn::UnprotectBytes,
        MAX_PAYLOAD_LEN + 1,
        core.unwrap_err(),
        "protected payload ",
    );
}

/// `op` with a purpose one byte over its limit, after the purposes `before`, refuses it as the
/// core does, whatever the (well-formed) `input`.
fn assert_purpose_refused(op: DpFn, before: &[reftoken_str], input: &[u8]) {
    let b = Guarded::not_utf8();
    let purposes: Vec<reftoken_str> = before
        .iter()
        .copied()
        .chain([b.str(MAX_PURPOSE_LEN + 1)])
        .collect();
    let st = dp_call(op, &purposes, input.as_ptr(), input.len());
    let long = "p".repeat(MAX_PURPOSE_LEN + 1);
    let core = core_ring().protect(&[&long], b"x", now()).unwrap_err();
    assert_too_large(st, core, "purpose ");
}

#[test]
fn protect_refuses_a_purpose_over_64_kib_unread() {
    assert_purpose_refused(DpFn::Protect(0), &[PURPOSE], b"x");
}

#[test]
fn protect_bytes_refuses_a_purpose_over_64_kib_unread() {
    assert_purpose_refused(DpFn::ProtectBytes(0), &[], b"x");
}

#[test]
fn unprotect_refuses_a_purpose_over_64_kib_unread() {
    assert_purpose_refused(DpFn::Unprotect, &[], b"CfDJ8");
}

#[test]
fn unprotect_bytes_refuses_a_purpose_over_64_kib_unread() {
    assert_purpose_refused(DpFn::UnprotectBytes, &[], b"\x09\xF0\xC9\xF0");
}

// ---------------------------------------------------------------------------------------------
// At the limits the arguments are still read and handed to the core.

#[test]
fn at_the_limit_the_argument_still_reaches_the_core() {
    let h = vec![b'A'; limits::MAX_HANDLE_LEN];
    let handle = reftoken_str {
        ptr: h.as_ptr().cast(),
        len: h.len(),
    };
    let (st, out) = store_key(handle, cstr(c"reference_token"));
    assert_eq!(st, reftoken_status::REFTOKEN_OK);
    assert_eq!(
        out,
        key::store_key(std::str::from_utf8(&h).unwrap(), "reference_token")
            .unwrap()
            .as_bytes()
    );
    // A presented handle of exactly 100 bytes is looked up.
    let s = store(None);
    let v = validator(&s);
    let caller = api_caller();
    let handle = [b'A'; validation::MAX_PRESENTED_HANDLE_LEN];
    let (st, _) = introspect(v, handle.as_ptr().cast(), handle.len(), &caller);
    unsafe { reftoken_validator_free(v) };
    assert_eq!(st, reftoken_status::REFTOKEN_OK);
    assert_eq!(s.lookups.load(Ordering::SeqCst), 1);
    // A NULL pointer with a length over the limit is still a NULL argument.
    let mut g = null_mut();
    let st = unsafe { reftoken_grant_parse(null(), limits::MAX_DATA_LEN + 1, &mut g) };
    assert_eq!(st, reftoken_status::REFTOKEN_NULL_ARGUMENT);
}

//! The `Data` column of a `PersistedGrants` row, as read from the store: the container
//! (versions 0 and 1), the `Token` JSON inside it, and protected payloads (unprotected with the
//! Duende fixture key ring). Every token read must survive write-then-read unchanged, and the
//! C entry point must agree with the core.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reftoken_ffi::{self as ffi, reftoken_grant, reftoken_status};
use reftoken::grant::{self, DataPayload, Token};
use reftoken::validation;
use reftoken_fuzz::{fixture_ring, is_known_status};

fuzz_target!(|data: &[u8]| {
    let ring = fixture_ring();
    // The C ABI takes any bytes: not UTF-8 must be refused, never read.
    let mut g: *mut reftoken_grant = std::ptr::null_mut();
    let st = unsafe {
        ffi::reftoken_grant_parse_protected(
            data.as_ptr().cast(),
            data.len(),
            reftoken_fuzz::fixture_c_ring(),
            &mut g,
        )
    };
    assert!(is_known_status(st), "panic on {data:?}");
    assert_eq!(st == reftoken_status::REFTOKEN_OK, !g.is_null());
    unsafe { ffi::reftoken_grant_free(g) };

    let Ok(text) = std::str::from_utf8(data) else {
        assert_eq!(st, reftoken_status::REFTOKEN_INVALID_UTF8);
        return;
    };
    let opened = grant::open_data(text);
    let plain = grant::read_token(text);
    let read = validation::read_token(text, Some(ring));
    match (&opened, &plain) {
        (Ok(DataPayload::Protected(_)), r) => {
            assert!(matches!(r, Err(reftoken::Error::DataProtected)))
        }
        (Err(_), r) => assert!(r.is_err()),
        (Ok(DataPayload::Plain(_)), _) => assert_eq!(plain.is_ok(), read.is_ok()),
    }
    assert_eq!(st == reftoken_status::REFTOKEN_OK, read.is_ok());
    // IdentityServer's own rows are read in one pass without a general parser: that must agree
    // with opening the container and giving the payload to serde_json.
    if let Ok(DataPayload::Plain(p)) = &opened {
        reftoken_fuzz::assert_serde_agrees(p, plain.as_ref().ok());
    }
    if let Ok(token) = read {
        round_trip(&token);
    }
});

/// What IdentityServer's serializer writes for a token reads back as the same token, in the
/// container (unprotected, and protected with the fixture key) and without it.
fn round_trip(token: &Token) {
    let json = token.to_json();
    let again = Token::from_json(&json).unwrap_or_else(|e| panic!("re-read failed: {e}\n{json}"));
    assert_eq!(again, reftoken_fuzz::normalized(token));
    assert_eq!(again.to_json(), json, "writing is not stable");
    let token = &again;
    let sealed = grant::seal_data(&json, false);
    assert_eq!(&grant::read_token(&sealed).expect("sealed row"), token);
    let ring = fixture_ring();
    let protected = ring
        .protect_str(
            &[grant::DATA_PROTECTION_PURPOSE],
            &json,
            reftoken_fuzz::now(),
        )
        .expect("protect");
    let row = grant::seal_data(&protected, true);
    assert_eq!(
        &validation::read_token(&row, Some(ring)).expect("protected row"),
        token
    );
}

//! `protector.Unprotect(string)`: a Data Protection string (base64url, lenient as ASP.NET
//! Core) unprotected with the Duende fixture key ring, through the core and through
//! `reftoken_unprotect`. The first byte picks the purpose chain. Only payloads that decode and
//! authenticate may succeed, and the C ABI must say what the core says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reftoken::Error;
use reftoken_ffi::{self as ffi, reftoken_status};
use reftoken_fuzz::{c_strs, fixture_c_ring, fixture_ring, is_known_status};

const CHAINS: [&[&str]; 4] = [
    &["PersistentGrantSerializer"],
    &["p"],
    &["PersistentGrantSerializer", "x"],
    &[],
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, payload)) = data.split_first() else {
        return;
    };
    let purposes = CHAINS[sel as usize % CHAINS.len()];
    let ring = fixture_ring();
    let c_purposes = c_strs(purposes);
    let mut out = vec![0u8; payload.len() + 1];
    let mut len = 0usize;
    let st = unsafe {
        ffi::reftoken_unprotect(
            fixture_c_ring(),
            c_purposes.as_ptr(),
            c_purposes.len(),
            payload.as_ptr().cast(),
            payload.len(),
            out.as_mut_ptr().cast(),
            out.len(),
            &mut len,
        )
    };
    assert!(is_known_status(st));
    let Ok(text) = std::str::from_utf8(payload) else {
        assert_eq!(st, reftoken_status::REFTOKEN_INVALID_UTF8);
        return;
    };
    let r = ring.unprotect_str(purposes, text);
    match &r {
        Ok(pt) => {
            assert_eq!(st, reftoken_status::REFTOKEN_OK);
            assert_eq!(&out[..len], pt.as_bytes());
            // What decrypts was protected by the key: protecting it again round-trips.
            let again = ring
                .protect_str(purposes, pt, reftoken_fuzz::now())
                .unwrap();
            assert_eq!(&*ring.unprotect_str(purposes, &again).unwrap(), &**pt);
        }
        Err(e) => {
            assert_ne!(st, reftoken_status::REFTOKEN_OK);
            assert_eq!(st, reftoken_status::from(e), "{e}");
            assert!(
                matches!(
                    e,
                    Error::Malformed { .. }
                        | Error::Decrypt(_)
                        | Error::UnknownKey(_)
                        | Error::TooLarge { .. }
                ),
                "{e}"
            );
        }
    }
    // Whatever decodes as base64url re-encodes to the canonical form that decodes the same.
    if let Ok(bytes) = reftoken::dataprotection::base64url_decode(text) {
        let canon = reftoken::dataprotection::base64url_encode(&bytes);
        assert_eq!(
            reftoken::dataprotection::base64url_decode(&canon).unwrap(),
            bytes
        );
        assert_eq!(
            ring.unprotect(purposes, &bytes).is_ok(),
            r.is_ok() || matches!(r, Err(Error::Decrypt("the plaintext is not UTF-8")))
        );
    }
});

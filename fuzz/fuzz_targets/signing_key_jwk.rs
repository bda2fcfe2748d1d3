//! Private and public JWKs: `SigningKey::from_jwk` / `reftoken_signing_key_new_from_jwk` and
//! `VerifyingKey::from_jwk`. The first byte picks the algorithm. A key that loads signs, and
//! its public JWK verifies the signature.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reftoken_ffi::{self as ffi, reftoken_status};
use reftoken::jwt::{Algorithm, SigningKey, VerifyingKey};
use reftoken_fuzz::is_known_status;

const ALGS: [Option<Algorithm>; 4] = [
    None,
    Some(Algorithm::RS256),
    Some(Algorithm::PS256),
    Some(Algorithm::ES256),
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, jwk)) = data.split_first() else {
        return;
    };
    let alg = ALGS[sel as usize % 4];
    let mut key = std::ptr::null_mut();
    let st = unsafe {
        ffi::reftoken_signing_key_new_from_jwk(
            jwk.as_ptr().cast(),
            jwk.len(),
            sel as u32 % 4,
            std::ptr::null(),
            0,
            &mut key,
        )
    };
    assert!(is_known_status(st));
    if st == reftoken_status::REFTOKEN_OK {
        let mut out = vec![0u8; 4096];
        let mut len = 0;
        let st = unsafe {
            ffi::reftoken_signing_key_public_jwk(key, out.as_mut_ptr().cast(), out.len(), &mut len)
        };
        assert!(matches!(
            st,
            reftoken_status::REFTOKEN_OK | reftoken_status::REFTOKEN_BUFFER_TOO_SMALL
        ));
    }
    unsafe { ffi::reftoken_signing_key_free(key) };
    let Ok(text) = std::str::from_utf8(jwk) else {
        return;
    };
    let _ = VerifyingKey::from_jwk(text, alg);
    match SigningKey::from_jwk(text, alg, None) {
        Ok(k) => {
            assert_eq!(st, reftoken_status::REFTOKEN_OK);
            let jwk = k.public_jwk();
            let v = VerifyingKey::from_jwk(&jwk, None).unwrap_or_else(|e| panic!("{e}: {jwk}"));
            assert_eq!(v.algorithm(), k.algorithm());
            if k.algorithm() != Algorithm::ES256 && sel & 0xE0 != 0 {
                return;
            }
            match k.sign(b"header.payload") {
                Ok(sig) => assert!(v.verify_signature(b"header.payload", &sig)),
                Err(reftoken::Error::InvalidArgument(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
        Err(e) => assert_eq!(st, reftoken_status::from(&e), "{e}"),
    }
});

//! PEM keys: `SigningKey::from_pem` / `reftoken_signing_key_new_from_pem` (PKCS#8, PKCS#1,
//! SEC1) and `VerifyingKey::from_pem` (SubjectPublicKeyInfo). The first byte picks the
//! algorithm. A key that loads signs, and its public JWK verifies the signature.
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
    let Some((&sel, pem)) = data.split_first() else {
        return;
    };
    let alg = ALGS[sel as usize % 4];
    let mut key = std::ptr::null_mut();
    let st = unsafe {
        ffi::reftoken_signing_key_new_from_pem(
            pem.as_ptr().cast(),
            pem.len(),
            sel as u32 % 4,
            b"kid".as_ptr().cast(),
            3,
            &mut key,
        )
    };
    assert!(is_known_status(st));
    unsafe { ffi::reftoken_signing_key_free(key) };
    let Ok(text) = std::str::from_utf8(pem) else {
        return;
    };
    let _ = VerifyingKey::from_pem(text, alg);
    match SigningKey::from_pem(text, alg, Some("kid")) {
        Ok(k) => {
            assert_eq!(st, reftoken_status::REFTOKEN_OK);
            check_key(&k, sel);
        }
        Err(e) => assert_eq!(st, reftoken_status::from(&e), "{e}"),
    }
});

/// Signs with the key (RSA only for one input in eight: RSA signing is slow and the parse is
/// what is fuzzed) and verifies with the key's public JWK.
pub fn check_key(k: &SigningKey, sel: u8) {
    let jwk = k.public_jwk();
    let v = VerifyingKey::from_jwk(&jwk, None).unwrap_or_else(|e| panic!("{e}: {jwk}"));
    assert_eq!(v.algorithm(), k.algorithm());
    if k.algorithm() != Algorithm::ES256 && sel & 0xE0 != 0 {
        return;
    }
    let sig = match k.sign(b"header.payload") {
        Ok(s) => s,
        // A key whose components do not fit together may fail to sign: never panic.
        Err(reftoken::Error::InvalidArgument(_)) => return,
        Err(e) => panic!("{e}"),
    };
    assert!(v.verify_signature(b"header.payload", &sig));
}

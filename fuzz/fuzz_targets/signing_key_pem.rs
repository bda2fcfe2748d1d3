//! PEM keys: `SigningKey::from_pem` / `reftoken_signing_key_new_from_pem` (PKCS#8, PKCS#1,
//! SEC1) and `VerifyingKey::from_pem` (SubjectPublicKeyInfo). The first byte picks the
//! algorithm. A key that loads signs, and its public JWK verifies the signature.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reftoken_fuzz::{KeyText, check_key_text};

fuzz_target!(|data: &[u8]| check_key_text(data, KeyText::Pem));

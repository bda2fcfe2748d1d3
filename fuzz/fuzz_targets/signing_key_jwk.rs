//! Private and public JWKs: `SigningKey::from_jwk` / `reftoken_signing_key_new_from_jwk` and
//! `VerifyingKey::from_jwk`. The first byte picks the algorithm. A key that loads signs, and
//! its public JWK verifies the signature.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reftoken_fuzz::{KeyText, check_key_text};

fuzz_target!(|data: &[u8]| check_key_text(data, KeyText::Jwk));

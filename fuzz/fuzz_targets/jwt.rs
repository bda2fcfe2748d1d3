//! RFC 9701 responses: `jwt::verify` of any compact JWS with the fixtures' ES256 key, and
//! `introspection_payload` / `introspection_jwt` / `reftoken_introspection_jwt` of any
//! response text: what is signed verifies and carries the response unchanged as JSON.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use reftoken::instant::Instant;
use reftoken::jwt::{self, SigningKey, VerifyingKey};
use reftoken_ffi::{self as ffi, reftoken_status};
use reftoken_fuzz::{assert_json, c_signing_key, is_known_status, split_parts};

/// A P-256 key fixed for the fuzzer (d = 0x01..0x20).
const JWK: &str = r#"{"kty":"EC","crv":"P-256","d":"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA"}"#;

fn keys() -> &'static (SigningKey, VerifyingKey, usize) {
    static K: OnceLock<(SigningKey, VerifyingKey, usize)> = OnceLock::new();
    K.get_or_init(|| {
        let k = SigningKey::from_jwk(JWK, None, Some("fuzz")).unwrap();
        let v = k.verifying_key();
        let (st, c) = c_signing_key(
            ffi::reftoken_signing_key_new_from_jwk,
            JWK.as_bytes(),
            0,
            "fuzz",
        );
        assert_eq!(st, reftoken_status::REFTOKEN_OK);
        (k, v, c as usize)
    })
}

fuzz_target!(|data: &[u8]| {
    let (k, v, c_key) = keys();
    let parts = split_parts(data, 3);
    let (Ok(issuer), Ok(audience), Ok(response)) = (
        std::str::from_utf8(parts[0]),
        std::str::from_utf8(parts[1]),
        std::str::from_utf8(parts[2]),
    ) else {
        return;
    };
    let _ = jwt::verify(response, v);
    let now = Instant::from_unix_seconds(1_740_830_400);
    let r = jwt::introspection_jwt(k, issuer, audience, now, response);
    let sign = |out: &mut Vec<u8>, len: &mut usize| unsafe {
        ffi::reftoken_introspection_jwt(
            *c_key as *const _,
            issuer.as_ptr().cast(),
            issuer.len(),
            audience.as_ptr().cast(),
            audience.len(),
            now.unix_seconds(),
            response.as_ptr().cast(),
            response.len(),
            out.as_mut_ptr().cast(),
            out.len(),
            len,
        )
    };
    // A guess at the size first (escaping and base64 can outgrow it), then exactly the size
    // the library asks for, which must then suffice.
    let mut out = vec![0u8; 2 * (response.len() + issuer.len() + audience.len()) + 512];
    let mut len = 0;
    let mut st = sign(&mut out, &mut len);
    if st == reftoken_status::REFTOKEN_BUFFER_TOO_SMALL {
        out = vec![0u8; len + 1];
        st = sign(&mut out, &mut len);
        assert_ne!(
            st,
            reftoken_status::REFTOKEN_BUFFER_TOO_SMALL,
            "the size asked for"
        );
    }
    assert!(is_known_status(st));
    match r {
        Ok(token) => {
            assert_eq!(st, reftoken_status::REFTOKEN_OK);
            let verified = jwt::verify(&token, v)
                .expect("well-formed")
                .expect("verifies");
            let payload = assert_json("payload", &verified.payload);
            let original = serde_json::from_str::<serde_json::Value>(response);
            if let (Some(payload), Ok(original)) = (payload, original) {
                assert_eq!(payload["iss"].as_str(), Some(issuer));
                assert_eq!(payload["aud"].as_str(), Some(audience));
                assert_eq!(payload["token_introspection"], original);
            }
            let c_token = std::str::from_utf8(&out[..len]).unwrap();
            assert!(jwt::verify(c_token, v).unwrap().is_some());
        }
        Err(e) => assert_eq!(st, reftoken_status::from(&e), "{e}"),
    }
});

//! The `Token` JSON (the container's payload) as `reftoken_grant_parse_token_json` and
//! `Token::from_json` read it, checked against serde_json (which its fast path must agree
//! with); a token that reads is introspected for every IdentityServer version and both kinds
//! of caller, and every response must be one JSON object.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reftoken_ffi::{self as ffi, reftoken_grant, reftoken_status};
use reftoken::grant::Token;
use reftoken::instant::Instant;
use reftoken::introspection::{self, Caller, IdentityServerVersion, Options};
use reftoken_fuzz::{assert_json, is_known_status};

const VERSIONS: [IdentityServerVersion; 6] = [
    IdentityServerVersion::IdentityServer4,
    IdentityServerVersion::Duende5_0,
    IdentityServerVersion::Duende6_1,
    IdentityServerVersion::Duende6_3,
    IdentityServerVersion::Duende7_1,
    IdentityServerVersion::Duende7_3,
];

fuzz_target!(|data: &[u8]| {
    let mut g: *mut reftoken_grant = std::ptr::null_mut();
    let st =
        unsafe { ffi::reftoken_grant_parse_token_json(data.as_ptr().cast(), data.len(), &mut g) };
    assert!(is_known_status(st));
    unsafe { ffi::reftoken_grant_free(g) };
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = Token::from_json(text);
    assert_eq!(parsed.is_ok(), st == reftoken_status::REFTOKEN_OK);
    // What IdentityServer lays out is read without a general parser: it must agree with one.
    reftoken_fuzz::assert_serde_agrees(text, parsed.as_ref().ok());
    let Ok(token) = parsed else { return };
    let json = token.to_json();
    let again = Token::from_json(&json).unwrap_or_else(|e| panic!("re-read failed: {e}\n{json}"));
    assert_eq!(again, reftoken_fuzz::normalized(&token));
    assert_eq!(again.to_json(), json, "writing is not stable");

    let scopes: Vec<&str> = token.scopes().take(4).collect();
    let client = token.claim("client_id").unwrap_or("client");
    let now = token.creation_time;
    for (i, v) in VERSIONS.iter().enumerate() {
        let opts = Options {
            version: *v,
            ..Options::default()
        };
        let callers = [
            Caller::Api {
                name: "api",
                scopes: &scopes,
            },
            Caller::Client { id: client },
        ];
        let caller = &callers[i % 2];
        let t = Instant(now.0.saturating_add(i as i64));
        match introspection::respond(&token, caller, t, &opts) {
            Ok(body) => {
                // Where respond answers, evaluate decides too (it refuses only where respond does).
                let active = introspection::evaluate(&token, caller, t, &opts)
                    .expect("respond answered, so evaluate must")
                    .active();
                if let Some(v) = assert_json("respond", &body) {
                    assert!(v.is_object());
                    assert_eq!(
                        v.get("active").and_then(|a| a.as_bool()),
                        Some(active),
                        "{body}"
                    );
                }
            }
            Err(reftoken::Error::Malformed { .. }) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
});

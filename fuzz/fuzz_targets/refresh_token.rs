//! Refresh tokens as a client introspects them: the `Data` column of a `refresh_token` row
//! (protected with the fixture key ring, or not) or the bare `RefreshToken` JSON (first byte
//! odd), read with `RefreshToken::from_json` (also the pre-version-5 `AccessToken` form) and
//! answered with `respond_refresh`: one JSON object, or `None`, or `Error::Malformed`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reftoken::grant::RefreshToken;
use reftoken::instant::Instant;
use reftoken::introspection::{self, Options};
use reftoken::validation;
use reftoken_fuzz::{assert_json, fixture_ring};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let json = if sel & 1 == 1 {
        text.to_owned()
    } else {
        match validation::read_grant_json(text, Some(fixture_ring())) {
            Ok(j) => j.to_string(),
            Err(_) => return,
        }
    };
    let Ok(rt) = RefreshToken::from_json(&json) else {
        return;
    };
    let client = rt.client_id.clone().unwrap_or_default();
    for now in [
        rt.creation_time,
        Instant(rt.creation_time.0.saturating_add(i64::from(sel) << 24)),
    ] {
        match introspection::respond_refresh(&rt, &client, now, &Options::default()) {
            Ok(Some(body)) => {
                let v = assert_json("respond_refresh", &body).expect("no numbers beyond f64");
                assert_eq!(v["active"].as_bool(), Some(true), "{body}");
            }
            Ok(None) | Err(reftoken::Error::Malformed { .. }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
});

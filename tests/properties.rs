//! Property tests for the core: round trips, well-formed output, and store keys checked
//! against coreutils' `sha256sum` (an independent SHA-256).

#[macro_use]
mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine;
use proptest::prelude::*;
use reftoken::grant::{self, Claim, Token};
use reftoken::instant::{self, Instant};
use reftoken::introspection::{
    self, Caller, Options, VT_BOOLEAN, VT_DOUBLE, VT_INTEGER, VT_INTEGER64, VT_JSON,
};
use reftoken::{json, key};

use common::check_all;

fn sha256sum(input: &[u8]) -> Vec<u8> {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum (coreutils) is needed for this test");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    hex::decode(&String::from_utf8(out.stdout).unwrap()[..64]).unwrap()
}

fn value_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some(VT_INTEGER.to_owned())),
        Just(Some(VT_INTEGER64.to_owned())),
        Just(Some(VT_DOUBLE.to_owned())),
        Just(Some(VT_BOOLEAN.to_owned())),
        Just(Some(VT_JSON.to_owned())),
    ]
}

fn claim() -> impl Strategy<Value = Claim> {
    let claim_type = prop_oneof![
        Just("sub".to_owned()),
        Just("scope".to_owned()),
        Just("role".to_owned()),
        Just("Role".to_owned()),
        Just("aud".to_owned()),
        "[a-z_]{1,8}",
        ".{0,6}"
    ];
    let value = prop_oneof![
        "[0-9]{1,12}",
        "-?[0-9]{1,3}\\.[0-9]{1,3}",
        Just("true".to_owned()),
        Just("{\"a\":[1,2]}".to_owned()),
        Just("api1.read".to_owned()),
        ".{0,12}"
    ];
    (claim_type, value, value_type()).prop_map(|(t, v, vt)| Claim {
        claim_type: t,
        value: v,
        value_type: vt,
    })
}

fn token() -> impl Strategy<Value = Token> {
    (
        proptest::collection::vec(claim(), 0..20),
        proptest::collection::vec(".{0,8}", 0..3),
        any::<i32>().prop_map(|l| l.rem_euclid(1_000_000)),
        0i64..4_000_000_000i64,
        0u32..10_000_000,
        proptest::option::of(".{0,10}"),
    )
        .prop_map(
            |(claims, audiences, lifetime, secs, frac, description)| Token {
                claims,
                audiences,
                lifetime,
                issuer: Some("https://idp".into()),
                client_id: Some("client1".into()),
                creation_time: Instant(secs * 10_000_000 + i64::from(frac)),
                description,
                ..Token::default()
            },
        )
}

/// The bytes edits put in: JSON's structure, escapes, digits and a control character.
const EDIT_BYTES: &[u8] = b"\"\\u0022,:[]{}- 1059aeE.\x01/n";

/// Applies (position, byte, kind) edits: 0 replaces the byte there, 1 inserts one, 2 removes.
fn edit(mut b: Vec<u8>, edits: &[(proptest::sample::Index, usize, u8)]) -> Vec<u8> {
    for (at, byte, kind) in edits {
        if b.is_empty() {
            break;
        }
        let i = at.index(b.len());
        match kind {
            0 => b[i] = EDIT_BYTES[*byte],
            1 => b.insert(i, EDIT_BYTES[*byte]),
            _ => {
                b.remove(i);
            }
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn json_strings_round_trip(s in any::<String>()) {
        let mut out = String::new();
        json::write_str(&mut out, &s);
        prop_assert!(out.is_ascii());
        let back: String = serde_json::from_str(&out).unwrap();
        prop_assert_eq!(back, s);
    }

    /// The Data column's fast path agrees with serde_json on every string it accepts,
    /// whatever mix of escapes, quotes and control characters the content holds.
    #[test]
    fn unescape_plain_agrees_with_serde_json(
        parts in proptest::collection::vec(prop_oneof![
            any::<String>(),
            Just("\\u0022".to_owned()),
            Just("\\u002B".to_owned()),
            Just("\\ud83d\\ude00".to_owned()),
            Just("\\udc00".to_owned()),
            Just("\\u00e9\\u00E9".to_owned()),
            Just("\\n\\t\\/\\b\\f\\r\\\\".to_owned()),
            Just("\\x".to_owned()),
            Just("\\u12".to_owned()),
            Just("\"".to_owned()),
            Just("\\".to_owned()),
            Just("\u{1}".to_owned()),
        ], 0..8),
    ) {
        let content = parts.concat();
        let serde = serde_json::from_str::<String>(&format!("\"{content}\""));
        if let Some(fast) = json::unescape_plain(&content) {
            prop_assert_eq!(Some(fast), serde.ok());
        }
        // And the whole Data column reads the same through either path.
        let data = format!("{{\"PersistentGrantDataContainerVersion\":1,\"DataProtected\":false,\"Payload\":\"{content}\"}}");
        let spaced = data.replacen(":1,", ": 1,", 1);
        let (a, b) = (grant::open_data(&data), grant::open_data(&spaced));
        // (Error positions differ by the added space.)
        prop_assert_eq!(a.ok(), b.ok());
    }

    #[test]
    fn doubles_round_trip(d in any::<f64>().prop_filter("finite", |d| d.is_finite())) {
        let mut out = String::new();
        json::write_f64(&mut out, d);
        let back: f64 = out.parse().unwrap();
        prop_assert_eq!(back.to_bits(), d.to_bits(), "{}", out);
    }

    #[test]
    fn instants_round_trip(ticks in -621_355_968_000_000_000i64..2_534_023_007_990_000_000i64) {
        let mut out = String::new();
        instant::format(Instant(ticks), &mut out);
        prop_assert_eq!(instant::parse(&out).unwrap(), Instant(ticks));
    }

    #[test]
    fn tokens_round_trip_through_the_data_column(t in token()) {
        let data = grant::seal_data(&t.to_json(), false);
        prop_assert_eq!(grant::read_token(&data).unwrap(), t);
    }

    #[test]
    fn responses_are_json_and_end_with_active_and_scope(t in token(), now in 0i64..4_000_000_000i64, api in any::<bool>()) {
        let scopes = ["api1.read", "api1.write"];
        let caller = if api { Caller::Api { name: "api1", scopes: &scopes } } else { Caller::Client { id: "client1" } };
        let now = Instant::from_unix_seconds(now);
        let verdict = introspection::evaluate(&t, &caller, now, &Options::default());
        match introspection::respond(&t, &caller, now, &Options::default()) {
            Ok(body) => {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                let verdict = verdict.unwrap();
                if verdict.active() {
                    prop_assert!(body.contains("\"active\":true,\"scope\":"));
                    prop_assert_eq!(v["exp"].as_i64(), Some(verdict.expiration));
                } else {
                    prop_assert_eq!(body, "{\"active\":false}");
                }
            }
            // Only what IdentityServer itself cannot answer.
            Err(e) => prop_assert!(e.to_string().contains("active") || e.to_string().contains("not finite") || e.to_string().contains("client_id"), "{}", e),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn store_keys_match_an_independent_sha256(handle in "[0-9A-Za-z_-]{0,80}", suffix in any::<bool>(), grant_type in ".{0,20}") {
        let handle = if suffix { format!("{handle}-1") } else { handle };
        let digest = sha256sum(format!("{handle}:{grant_type}").as_bytes());
        let expected = if handle.ends_with("-1") {
            hex::encode_upper(&digest)
        } else {
            base64::engine::general_purpose::STANDARD.encode(&digest)
        };
        let actual = key::store_key(&handle, &grant_type).unwrap();
        prop_assert_eq!(actual.as_str(), expected);
    }
}

proptest! {
    // Many cases: most edits break the layout, and the interesting ones keep it.
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    /// `Token::from_json` and `read_token` read what IdentityServer writes without a general
    /// parser. Whatever the edits to such a text (bytes replaced, inserted or removed, quotes
    /// and escapes broken, numbers changed), they agree with serde_json: same token, or both
    /// refuse.
    #[test]
    fn token_fast_paths_agree_with_serde_json(
        t in token(),
        extra in (proptest::option::of(".{0,6}"), proptest::option::of(".{0,6}"), proptest::collection::vec(".{0,4}", 0..2), any::<bool>(), any::<i32>(), any::<i32>()),
        edits in proptest::collection::vec((any::<proptest::sample::Index>(), 0usize..EDIT_BYTES.len(), 0u8..3), 0..3),
        in_column in any::<bool>(),
    ) {
        let (confirmation, token_type, algorithms, include_jwt_id, access_token_type, version) = extra;
        let t = Token { confirmation, token_type, allowed_signing_algorithms: algorithms, include_jwt_id, access_token_type, version, ..t };
        let json = t.to_json();
        let text = if in_column { grant::seal_data(&json, false) } else { json };
        let Ok(text) = String::from_utf8(edit(text.into_bytes(), &edits)) else { return Ok(()) };
        if in_column {
            // The reference: the container opened (its own fast path is checked against serde
            // above), then the payload given to serde_json.
            let reference = match grant::open_data(&text) {
                Ok(grant::DataPayload::Plain(p)) if p.starts_with('{') => serde_json::from_str::<Token>(&p).ok(),
                _ => None,
            };
            prop_assert_eq!(grant::read_token(&text).ok(), reference, "{}", text);
        } else if text.starts_with('{') {
            prop_assert_eq!(Token::from_json(&text).ok(), serde_json::from_str::<Token>(&text).ok(), "{}", text);
        }
    }
}

/// The edits random ones rarely make, one at a time: each text is read by `Token::from_json`
/// and, sealed in a `Data` column, by `read_token`, and both must agree with serde_json.
#[test]
fn token_layout_edge_cases_agree_with_serde_json() {
    let t = Token {
        audiences: vec!["api1".into(), "a\"b".into()],
        issuer: Some("https://idp".into()),
        lifetime: 3600,
        description: Some("x+y".into()),
        claims: vec![
            Claim::new("sub", "alice"),
            Claim::typed("n", "1", VT_INTEGER64),
            Claim::new("s", "line\nbreak \u{e9}\u{1F600}"),
        ],
        ..Token::default()
    };
    let json = t.to_json();
    assert!(json.contains("\"Lifetime\":3600,"), "{json}");
    let cases: &[(&str, &str)] = &[
        ("\"Lifetime\":3600", "\"Lifetime\":03600"),
        ("\"Lifetime\":3600", "\"Lifetime\":-0"),
        ("\"Lifetime\":3600", "\"Lifetime\":-3600"),
        ("\"Lifetime\":3600", "\"Lifetime\":2147483647"),
        ("\"Lifetime\":3600", "\"Lifetime\":2147483648"),
        ("\"Lifetime\":3600", "\"Lifetime\":-2147483648"),
        ("\"Lifetime\":3600", "\"Lifetime\":-2147483649"),
        ("\"Lifetime\":3600", "\"Lifetime\":99999999999"),
        ("\"Lifetime\":3600", "\"Lifetime\":3600.0"),
        ("\"Lifetime\":3600", "\"Lifetime\":36e2"),
        ("\"Lifetime\":3600", "\"Lifetime\":-"),
        ("\"Lifetime\":3600", "\"Lifetime\": 3600"),
        ("\"Lifetime\":3600", "\"Lifetime\":\"3600\""),
        ("\"Version\":5", "\"Version\":05"),
        ("\"IncludeJwtId\":false", "\"IncludeJwtId\":true"),
        ("\"IncludeJwtId\":false", "\"IncludeJwtId\":fals"),
        ("\"IncludeJwtId\":false", "\"IncludeJwtId\":0"),
        ("\"Issuer\":\"https://idp\"", "\"Issuer\":null"),
        ("\"Issuer\":\"https://idp\"", "\"Issuer\":\"\\ud800\""),
        (
            "\"Issuer\":\"https://idp\"",
            "\"Issuer\":\"\\ud83d\\ude00\"",
        ),
        ("\"Issuer\":\"https://idp\"", "\"Issuer\":\"\\u0068ttps\""),
        ("\"Issuer\":\"https://idp\"", "\"Issuer\":\"a\\qb\""),
        ("\"Issuer\":\"https://idp\"", "\"Issuer\":\"a\u{1}b\""),
        ("\"Issuer\":\"https://idp\"", "\"Issuer\":\"a\\\\\""),
        ("\"Issuer\":\"https://idp\"", "\"Issuer\":\"a\\\"\""),
        ("\"Issuer\"", "\"\\u0049ssuer\""),
        ("\"Issuer\"", "\"issuer\""),
        ("\"Audiences\":[", "\"Audiences\":[\"x\","),
        ("\"Audiences\":[", "\"Audiences\":[1,"),
        (
            "\"Claims\":[",
            "\"Claims\":[{\"Type\":\"t\",\"Value\":\"v\",\"ValueType\":null},",
        ),
        (
            "\"Claims\":[",
            "\"Claims\":[{\"Type\":\"t\",\"Value\":\"v\",\"Extra\":1},",
        ),
        (
            "\"Claims\":[",
            "\"Claims\":[{\"Value\":\"v\",\"Type\":\"t\"},",
        ),
        (
            "\"Claims\":[",
            "\"Claims\":[{\"Type\":\"t\",\"Type\":\"u\",\"Value\":\"v\"},",
        ),
        ("\"Scopes\":[", "\"Scopes\":[\"\\ud800\","),
        ("\"Scopes\":[", "\"Scopes\":[\"\\x\","),
        ("\"Scopes\":[", "\"Scopes\":[7,"),
        (
            "{\"AllowedSigningAlgorithms\"",
            "{\"Lifetime\":1,\"AllowedSigningAlgorithms\"",
        ),
        ("\"CreationTime\":\"", "\"CreationTime\":\"x"),
    ];
    let mut differing = 0;
    let named =
        |(from, to): &(&'static str, &'static str)| (format!("{from} -> {to}"), (*from, *to));
    check_all(cases.iter().map(named), |(from, to)| {
        assert!(json.contains(from), "{from}");
        let text = json.replacen(from, to, 1);
        // A member given twice takes its last value, as in System.Text.Json
        // (tests/field_exactness.rs asks .NET): serde_json's maps keep the last too.
        let general = serde_json::from_str::<Token>(&text).ok().or_else(|| {
            let v = serde_json::from_str::<serde_json::Value>(&text).ok()?;
            <Token as serde::Deserialize>::deserialize(&v).ok()
        });
        differing += usize::from(general.as_ref() != Some(&t));
        assert_eq!(Token::from_json(&text).ok(), general, "{text}");
        let column = grant::seal_data(&text, false);
        assert_eq!(grant::read_token(&column).ok(), general, "{column}");
    });
    let column_edits = [
        ("}\"}", "} \"}"),
        ("}\"}", "}\"} "),
        ("\\u0022Issuer\\u0022", "\\\"Issuer\\\""),
    ];
    check_all(column_edits.iter().map(named), |(from, to)| {
        let column = grant::seal_data(&json, false).replacen(from, to, 1);
        let payload: Option<String> = serde_json::from_str::<serde_json::Value>(&column)
            .ok()
            .and_then(|v| v["Payload"].as_str().map(str::to_owned));
        let general = payload.and_then(|p| serde_json::from_str::<Token>(&p).ok());
        assert_eq!(grant::read_token(&column).ok(), general, "{column}");
    });
    // The cases do reach the fast paths' edges: most change or break the token.
    assert!(differing > cases.len() / 2);
}

/// Hands a protected payload back as it is: the container's payload is the token JSON itself.
struct AsIs;

impl reftoken::validation::Unprotect for AsIs {
    fn unprotect_grant(
        &self,
        payload: &str,
    ) -> Result<zeroize::Zeroizing<String>, reftoken::Error> {
        Ok(zeroize::Zeroizing::new(payload.to_owned()))
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// One token read into again and again (as `reftoken_introspect_data` does) holds what
    /// reading each row on its own gives, whatever it held before: rows larger and smaller,
    /// edited, refused, protected.
    #[test]
    fn reading_into_a_reused_token_agrees_with_reading_alone(
        rows in proptest::collection::vec((token(), any::<bool>(), proptest::collection::vec((any::<proptest::sample::Index>(), 0usize..EDIT_BYTES.len(), 0u8..3), 0..2)), 1..5),
    ) {
        let mut scratch = Token::default();
        for (t, protected, edits) in rows {
            let data = grant::seal_data(&t.to_json(), protected);
            let Ok(data) = String::from_utf8(edit(data.into_bytes(), &edits)) else { continue };
            let alone = reftoken::validation::read_token(&data, Some(&AsIs));
            match reftoken::validation::read_token_into(&data, Some(&AsIs), &mut scratch) {
                Ok(()) => prop_assert_eq!(Some(&scratch), alone.as_ref().ok(), "{}", data),
                Err(e) => prop_assert_eq!(Err(e.to_string()), alone.map_err(|e| e.to_string()), "{}", data),
            }
        }
    }
}

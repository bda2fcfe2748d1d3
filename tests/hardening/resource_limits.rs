//! Resource limits: each documented limit, enforced with its documented status.

use std::hint::black_box;
use std::ptr::null;
use std::time::{Duration, Instant as Clock};

use reftoken::endpoint::{self, Form, HttpRequest, IntrospectionRequest};
use reftoken::{dataprotection, jwt, limits};

use super::*;
use crate::common::{
    DpFn, c_basic_parse_raw, c_dp, c_fixture_keyring, c_keyring_from_dir, c_keyring_from_xml,
};

/// `text` padded with spaces after its closing brace to exactly `len` bytes (JSON allows
/// trailing white space).
fn padded(text: &str, len: usize) -> String {
    let mut s = text.to_owned();
    s.extend(std::iter::repeat_n(' ', len - text.len()));
    s
}

#[test]
fn limit_data_column_is_1_mib() {
    let row = grant::seal_data(&token_json(0), false);
    let at = padded(&row, limits::MAX_DATA_LEN);
    let (st, peak) = peak_alloc(|| grant_parse(at.as_bytes()));
    assert_eq!(st, reftoken_status::REFTOKEN_OK);
    assert!(peak < 8 * limits::MAX_DATA_LEN, "peak {peak}");
    let over = padded(&row, limits::MAX_DATA_LEN + 1);
    let (st, peak) = peak_alloc(|| grant_parse(over.as_bytes()));
    assert_eq!(st, reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
    assert!(peak < 4096, "refused only after allocating {peak} bytes");
    // The bare token JSON, and the row handed to a validator, have the same limit.
    let mut g = null_mut();
    let tok = padded(&token_json(0), limits::MAX_DATA_LEN + 1);
    let st = unsafe { reftoken_grant_parse_token_json(tok.as_ptr().cast(), tok.len(), &mut g) };
    assert_eq!(st, reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
    assert!(g.is_null());
    assert!(matches!(
        grant::read_token(&over),
        Err(Error::TooLarge { max, .. }) if max == limits::MAX_DATA_LEN
    ));
}

#[test]
fn limit_claims_is_10000() {
    let at = token_json(limits::MAX_CLAIMS - 3);
    assert_eq!(grant_parse(at.as_bytes()), reftoken_status::REFTOKEN_OK);
    let over = token_json(limits::MAX_CLAIMS - 2);
    assert_eq!(
        grant_parse(over.as_bytes()),
        reftoken_status::REFTOKEN_INPUT_TOO_LARGE
    );
    // Building: the 10001st claim is refused.
    let g = new_grant();
    unsafe {
        let add_claim = || {
            reftoken_grant_add_claim(
                g,
                b"r".as_ptr().cast(),
                1,
                b"v".as_ptr().cast(),
                1,
                null(),
                0,
            )
        };
        for _ in 0..limits::MAX_CLAIMS {
            assert_eq!(add_claim(), reftoken_status::REFTOKEN_OK);
        }
        assert_eq!(add_claim(), reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
        reftoken_grant_free(g);
    }
}

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

/// A token whose unknown member `X` holds `value` (System.Text.Json and RefToken ignore
/// unknown members, but must still read them).
fn token_with_member(value: &str) -> String {
    let t = token_json(0);
    format!("{{\"X\":{value},{}", &t[1..])
}

#[test]
fn limit_json_depth_is_64_for_data_columns_and_tokens() {
    // System.Text.Json (JsonSerializerOptions.MaxDepth 64) fails on the 65th level, so
    // IdentityServer cannot read such a row; RefToken refuses it too. The token object itself
    // is the first level.
    let ok = token_with_member(&nested(limits::MAX_JSON_DEPTH - 1));
    assert_eq!(grant_parse(ok.as_bytes()), reftoken_status::REFTOKEN_OK);
    let deep = token_with_member(&nested(limits::MAX_JSON_DEPTH));
    assert_eq!(
        grant_parse(deep.as_bytes()),
        reftoken_status::REFTOKEN_MALFORMED_INPUT,
        "a token nested 65 deep is read"
    );
    let row = grant::seal_data(&deep, false);
    assert_eq!(
        grant_parse(row.as_bytes()),
        reftoken_status::REFTOKEN_MALFORMED_INPUT
    );
    let deep_container = format!(
        "{{\"X\":{},\"PersistentGrantDataContainerVersion\":1,\"DataProtected\":false,\"Payload\":{}}}",
        nested(limits::MAX_JSON_DEPTH),
        serde_json::to_string(&token_json(0)).unwrap()
    );
    assert_eq!(
        grant_parse(deep_container.as_bytes()),
        reftoken_status::REFTOKEN_MALFORMED_INPUT
    );
    // However deep, parsing takes bounded time and stack (1 MiB of brackets).
    let huge = token_with_member(&nested((limits::MAX_DATA_LEN - 2048) / 2));
    let t0 = Clock::now();
    assert_eq!(
        grant_parse(huge.as_bytes()),
        reftoken_status::REFTOKEN_MALFORMED_INPUT
    );
    assert!(t0.elapsed() < Duration::from_secs(2));
}

#[test]
fn limit_json_depth_is_64_for_confirmations_and_json_claims() {
    let g = new_grant();
    unsafe {
        let ok = nested(limits::MAX_JSON_DEPTH);
        assert_eq!(
            reftoken_grant_set_confirmation(g, ok.as_ptr().cast(), ok.len()),
            reftoken_status::REFTOKEN_OK
        );
        let deep = nested(limits::MAX_JSON_DEPTH + 1);
        assert_eq!(
            reftoken_grant_set_confirmation(g, deep.as_ptr().cast(), deep.len()),
            reftoken_status::REFTOKEN_MALFORMED_INPUT
        );
        reftoken_grant_free(g);
    }
    // A `json` claim nested too deep is written as a string, not embedded.
    let mut t = Token::from_json(&token_json(0)).unwrap();
    t.claims
        .push(grant::Claim::typed("deep", nested(65), "json"));
    t.claims
        .push(grant::Claim::typed("fine", nested(64), "json"));
    let body = client1_response(&t);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["deep"].is_string());
    assert!(v["fine"].is_array());
}

#[test]
fn limit_handles_and_grant_types() {
    let mut out = [0u8; 65];
    let mut len = 0;
    let key = |h: &[u8], g: &[u8], out: &mut [u8; 65], len: &mut usize| unsafe {
        reftoken_store_key(
            h.as_ptr().cast(),
            h.len(),
            g.as_ptr().cast(),
            g.len(),
            out.as_mut_ptr().cast(),
            65,
            len,
        )
    };
    let h = vec![b'A'; limits::MAX_HANDLE_LEN];
    assert_eq!(
        key(&h, b"reference_token", &mut out, &mut len),
        reftoken_status::REFTOKEN_OK
    );
    let h = vec![b'A'; limits::MAX_HANDLE_LEN + 1];
    assert_eq!(
        key(&h, b"reference_token", &mut out, &mut len),
        reftoken_status::REFTOKEN_INPUT_TOO_LARGE
    );
    let g = vec![b'g'; limits::MAX_GRANT_TYPE_LEN];
    assert_eq!(
        key(b"A-1", &g, &mut out, &mut len),
        reftoken_status::REFTOKEN_OK
    );
    let g = vec![b'g'; limits::MAX_GRANT_TYPE_LEN + 1];
    assert_eq!(
        key(b"A-1", &g, &mut out, &mut len),
        reftoken_status::REFTOKEN_INPUT_TOO_LARGE
    );
    // A presented handle longer than IdentityServer's 100 characters is refused before any
    // lookup.
    assert!(reftoken::validation::plausible_handle(&"A".repeat(100)));
    assert!(!reftoken::validation::plausible_handle(&"A".repeat(101)));
}

#[test]
fn limit_random_bytes_is_64_kib() {
    let mut buf = vec![0u8; 2 * limits::MAX_RANDOM_BYTES + 2];
    let mut len = 0;
    unsafe {
        assert_eq!(
            reftoken_random_hex(
                limits::MAX_RANDOM_BYTES,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut len
            ),
            reftoken_status::REFTOKEN_OK
        );
        assert_eq!(
            reftoken_random_hex(
                limits::MAX_RANDOM_BYTES + 1,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut len
            ),
            reftoken_status::REFTOKEN_INPUT_TOO_LARGE
        );
        assert_eq!(
            reftoken_random_hex(0, buf.as_mut_ptr().cast(), buf.len(), &mut len),
            reftoken_status::REFTOKEN_INVALID_ARGUMENT
        );
    }
}

#[test]
fn limit_data_protection_payloads_are_1_mib() {
    let ring = fixture_ring();
    let t = key_time();
    let max = dataprotection::MAX_PAYLOAD_LEN;
    let p = ring.protect(&["p"], &vec![1u8; max], t).unwrap();
    assert!(matches!(
        ring.protect(&["p"], &vec![1u8; max + 1], t),
        Err(Error::TooLarge { .. })
    ));
    // A payload over the limit is refused before anything is decoded or allocated.
    let mut long = p.clone();
    long.resize(max + 1, 0);
    let (r, peak) = peak_alloc(|| ring.unprotect(&["p"], &long).map(|_| ()));
    assert!(matches!(r, Err(Error::TooLarge { .. })));
    assert!(peak < 4096, "peak {peak}");
    let text = "A".repeat(dataprotection::MAX_PAYLOAD_STR_LEN + 1);
    let (r, peak) = peak_alloc(|| ring.unprotect_str(&["p"], &text).map(|_| ()));
    assert!(matches!(r, Err(Error::TooLarge { .. })));
    assert!(peak < 4096, "peak {peak}");
    // The largest plaintext round-trips as a string (its base64url is at the string limit).
    let s = ring.protect_str(&["p"], &"x".repeat(max - 100), t).unwrap();
    assert!(s.len() <= dataprotection::MAX_PAYLOAD_STR_LEN);
    assert_eq!(ring.unprotect_str(&["p"], &s).unwrap().len(), max - 100);
    // Through the C ABI.
    let c_ring = c_fixture_keyring();
    let purpose = [rs("p")];
    let big = vec![b'x'; max + 1];
    for (what, w) in [
        (
            "unprotect_bytes",
            c_dp(
                DpFn::UnprotectBytes,
                c_ring.ptr(),
                &purpose,
                &long,
                Some(16),
            ),
        ),
        (
            "unprotect",
            c_dp(
                DpFn::Unprotect,
                c_ring.ptr(),
                &purpose,
                text.as_bytes(),
                Some(16),
            ),
        ),
        (
            "protect",
            c_dp(
                DpFn::Protect(t.unix_seconds()),
                c_ring.ptr(),
                &purpose,
                &big,
                Some(16),
            ),
        ),
    ] {
        assert_eq!(
            w.status,
            reftoken_status::REFTOKEN_INPUT_TOO_LARGE,
            "{what}"
        );
    }
}

#[test]
fn limit_purposes_256_of_64_kib() {
    let ring = fixture_ring();
    let t = key_time();
    let many: Vec<&str> = vec!["p"; dataprotection::MAX_PURPOSES];
    assert!(ring.protect(&many, b"x", t).is_ok());
    let too_many: Vec<&str> = vec!["p"; dataprotection::MAX_PURPOSES + 1];
    let e = ring.protect(&too_many, b"x", t).unwrap_err();
    assert_eq!(status_of(&e), reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
    let e = ring.unprotect(&too_many, b"x").unwrap_err();
    assert_eq!(status_of(&e), reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
    let long = "p".repeat(dataprotection::MAX_PURPOSE_LEN);
    assert!(ring.protect(&[&long], b"x", t).is_ok());
    let longer = "p".repeat(dataprotection::MAX_PURPOSE_LEN + 1);
    let e = ring.protect(&[&longer], b"x", t).unwrap_err();
    assert_eq!(status_of(&e), reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
}

fn keyring_status(elements: &[String]) -> reftoken_status {
    c_keyring_from_xml(elements, None).1
}

fn numbered_key(i: usize) -> String {
    key_xml(
        &format!("00000000-0000-4000-8000-{i:012}"),
        "AES_256_CBC",
        Some("HMACSHA256"),
        &[i as u8; 64],
    )
}

#[test]
fn limit_key_ring_xml_is_1_mib_and_10000_nodes() {
    let key = numbered_key(1);
    // White space before the root element is allowed: pad to exactly the limit.
    let pad = |n: usize| {
        let body = key.trim_start_matches(|c| c != '<');
        let decl_end = body.find("?>").unwrap() + 2;
        let mut s = body[..decl_end].to_owned();
        s.extend(std::iter::repeat_n(' ', n - body.len()));
        s.push_str(&body[decl_end..]);
        s
    };
    assert_eq!(
        keyring_status(&[pad(dataprotection::MAX_XML_LEN)]),
        reftoken_status::REFTOKEN_OK
    );
    assert_eq!(
        keyring_status(&[pad(dataprotection::MAX_XML_LEN + 1)]),
        reftoken_status::REFTOKEN_INPUT_TOO_LARGE
    );
    // Nodes: comments are nodes. A key with 10000 nodes in all loads; one more is refused.
    let nodes = |n: usize| {
        let base = xml_nodes(&key);
        let extra = "<!---->".repeat(n - base);
        key.replacen("</key>", &format!("{extra}</key>"), 1)
    };
    assert_eq!(
        keyring_status(&[nodes(dataprotection::MAX_XML_NODES as usize)]),
        reftoken_status::REFTOKEN_OK
    );
    assert_eq!(
        keyring_status(&[nodes(dataprotection::MAX_XML_NODES as usize + 1)]),
        reftoken_status::REFTOKEN_INPUT_TOO_LARGE,
        "an element over the node limit is not refused as too large"
    );
}

/// The nodes roxmltree makes of a document (the limit counts them): the document itself,
/// elements, text runs, comments and processing instructions; attributes are not nodes.
fn xml_nodes(xml: &str) -> usize {
    roxmltree::Document::parse(xml.trim_start_matches('\u{feff}'))
        .unwrap()
        .root()
        .descendants()
        .count()
}

#[test]
fn limit_key_ring_1000_keys_and_10000_elements() {
    let keys: Vec<String> = (0..dataprotection::MAX_KEYS).map(numbered_key).collect();
    assert_eq!(keyring_status(&keys), reftoken_status::REFTOKEN_OK);
    let mut more = keys.clone();
    more.push(numbered_key(dataprotection::MAX_KEYS));
    assert_eq!(
        keyring_status(&more),
        reftoken_status::REFTOKEN_INPUT_TOO_LARGE
    );
    let other = "<other/>".to_owned();
    let elements = vec![other.clone(); dataprotection::MAX_KEY_RING_ELEMENTS];
    assert_eq!(keyring_status(&elements), reftoken_status::REFTOKEN_OK);
    let elements = vec![other; dataprotection::MAX_KEY_RING_ELEMENTS + 1];
    assert_eq!(
        keyring_status(&elements),
        reftoken_status::REFTOKEN_INPUT_TOO_LARGE
    );
}

#[test]
fn limit_key_ring_directory_1_mib_per_file_10000_files() {
    let load = |dir: &std::path::Path| c_keyring_from_dir(dir, None).1;
    let dir = tempfile::tempdir().unwrap();
    let key = numbered_key(7);
    let padded_key = |n: usize| {
        let mut s = key.clone();
        s.extend(std::iter::repeat_n(' ', n - key.len()));
        s
    };
    std::fs::write(
        dir.path().join("key-1.xml"),
        padded_key(dataprotection::MAX_XML_LEN),
    )
    .unwrap();
    assert_eq!(load(dir.path()), reftoken_status::REFTOKEN_OK);
    std::fs::write(
        dir.path().join("key-1.xml"),
        padded_key(dataprotection::MAX_XML_LEN + 1),
    )
    .unwrap();
    assert_eq!(load(dir.path()), reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
    let many = tempfile::tempdir().unwrap();
    for i in 0..=dataprotection::MAX_KEY_RING_ELEMENTS {
        std::fs::write(many.path().join(format!("x-{i}.xml")), "<other/>").unwrap();
    }
    assert_eq!(load(many.path()), reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
    std::fs::remove_file(many.path().join("x-0.xml")).unwrap();
    assert_eq!(load(many.path()), reftoken_status::REFTOKEN_OK);
}

#[test]
fn limit_authorization_header_and_credentials() {
    let basic =
        |id: &str, secret: &str| format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
    let parse = |h: &str| c_basic_parse_raw(h.as_ptr().cast(), h.len()).0;
    let id = "i".repeat(endpoint::MAX_CLIENT_ID_LEN);
    let secret = "s".repeat(endpoint::MAX_CLIENT_SECRET_LEN);
    assert_eq!(parse(&basic(&id, &secret)), reftoken_status::REFTOKEN_OK);
    assert_eq!(
        parse(&basic(&format!("{id}i"), "s")),
        reftoken_status::REFTOKEN_INPUT_TOO_LARGE
    );
    assert_eq!(
        parse(&basic("i", &format!("{secret}s"))),
        reftoken_status::REFTOKEN_INPUT_TOO_LARGE
    );
    // Limits count UTF-16 code units, as .NET does: 100 × U+20AC (3 bytes each) is at it.
    let euro = "\u{20AC}".repeat(endpoint::MAX_CLIENT_ID_LEN);
    assert_eq!(parse(&basic(&euro, "s")), reftoken_status::REFTOKEN_OK);
    let euro_over = "\u{20AC}".repeat(endpoint::MAX_CLIENT_ID_LEN + 1);
    assert_eq!(
        parse(&basic(&euro_over, "s")),
        reftoken_status::REFTOKEN_INPUT_TOO_LARGE
    );
    // The header itself: at most 4 * (100 + 100) + 10 UTF-16 code units.
    let at = format!("Basic {}", "A".repeat(endpoint::MAX_AUTHORIZATION_LEN - 6));
    assert_ne!(parse(&at), reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
    let over = format!("Basic {}", "A".repeat(endpoint::MAX_AUTHORIZATION_LEN - 5));
    assert_eq!(parse(&over), reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
}

fn form_status(body: &[u8]) -> u16 {
    let req = IntrospectionRequest::parse(&HttpRequest {
        method: "POST",
        content_type: Some("application/x-www-form-urlencoded"),
        authorization: None,
        accept: None,
        body,
    });
    match req.decide(true) {
        endpoint::Decision::Respond(r) => r.status,
        endpoint::Decision::Introspect { .. } => 200,
    }
}

#[test]
fn limit_form_body_64_kib_1024_pairs_2048_byte_keys() {
    let body = |n: usize| {
        let mut b = b"client_id=api1&token=".to_vec();
        b.resize(n, b'A');
        b
    };
    assert_eq!(form_status(&body(endpoint::MAX_FORM_LEN)), 200);
    assert_eq!(form_status(&body(endpoint::MAX_FORM_LEN + 1)), 400);
    assert!(matches!(
        Form::parse(&body(endpoint::MAX_FORM_LEN + 1)),
        Err(Error::TooLarge { .. })
    ));
    let pairs = |n: usize| {
        let mut b = b"token=T".to_vec();
        for _ in 1..n {
            b.extend_from_slice(b"&a=b");
        }
        b
    };
    assert_eq!(form_status(&pairs(endpoint::MAX_FORM_VALUES)), 200);
    assert_eq!(form_status(&pairs(endpoint::MAX_FORM_VALUES + 1)), 400);
    let key = |n: usize| format!("token=T&{}=v", "k".repeat(n)).into_bytes();
    assert_eq!(form_status(&key(endpoint::MAX_FORM_KEY_LEN)), 200);
    assert_eq!(form_status(&key(endpoint::MAX_FORM_KEY_LEN + 1)), 400);
    // Through the C ABI the request is read and the answer is the bare 400.
    let b = body(endpoint::MAX_FORM_LEN + 1);
    let mut req = null_mut();
    unsafe {
        assert_eq!(
            reftoken_introspection_form_parse(b.as_ptr(), b.len(), &mut req),
            reftoken_status::REFTOKEN_OK
        );
        let mut a: reftoken_endpoint_answer = std::mem::zeroed();
        assert_eq!(
            reftoken_introspection_request_decide(req, true, &mut a),
            reftoken_status::REFTOKEN_OK
        );
        assert_eq!(a.status, 400);
        assert!(!a.introspect);
        reftoken_introspection_request_free(req);
    }
}

#[test]
fn limit_signing_keys_64_kib_and_responses_1_mib() {
    let big = " ".repeat(jwt::MAX_KEY_TEXT_LEN + 1);
    let mut k = null_mut();
    unsafe {
        assert_eq!(
            reftoken_signing_key_new_from_pem(big.as_ptr().cast(), big.len(), 0, null(), 0, &mut k),
            reftoken_status::REFTOKEN_INPUT_TOO_LARGE
        );
        assert_eq!(
            reftoken_signing_key_new_from_jwk(big.as_ptr().cast(), big.len(), 0, null(), 0, &mut k),
            reftoken_status::REFTOKEN_INPUT_TOO_LARGE
        );
    }
    assert!(k.is_null());
    let jwk = r#"{"kty":"EC","crv":"P-256","d":"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA"}"#;
    let key = jwt::SigningKey::from_jwk(jwk, None, None).unwrap();
    let now = Instant::from_unix_seconds(0);
    let at = padded("{\"active\":false}", limits::MAX_DATA_LEN);
    assert!(jwt::introspection_jwt(&key, "i", "a", now, &at).is_ok());
    let over = padded("{\"active\":false}", limits::MAX_DATA_LEN + 1);
    let e = jwt::introspection_jwt(&key, "i", "a", now, &over).unwrap_err();
    assert_eq!(status_of(&e), reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
    // RSA moduli over 8192 bits are refused before any arithmetic.
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(vec![0xFFu8; 1025]);
    let rsa = format!(r#"{{"kty":"RSA","n":"{n}","e":"AQAB","d":"{n}"}}"#);
    let t0 = Clock::now();
    assert!(jwt::SigningKey::from_jwk(&rsa, None, None).is_err());
    assert!(t0.elapsed() < Duration::from_secs(1));
}

#[test]
fn limit_stored_secrets_1024() {
    let stored: Vec<reftoken_str> = vec![rs(b"QQ=="); REFTOKEN_MAX_STORED_SECRETS + 1];
    let mut valid = true;
    unsafe {
        let st = reftoken_secret_verify(
            b"s".as_ptr().cast(),
            1,
            stored.as_ptr(),
            null(),
            stored.len(),
            0,
            &mut valid,
            null_mut(),
        );
        assert_eq!(st, reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
        let st = reftoken_secret_verify(
            b"s".as_ptr().cast(),
            1,
            stored.as_ptr(),
            null(),
            REFTOKEN_MAX_STORED_SECRETS,
            0,
            &mut valid,
            null_mut(),
        );
        assert_eq!(st, reftoken_status::REFTOKEN_MALFORMED_INPUT);
    }
}

/// Worst-case inputs at the limits, one test each: each takes bounded time and memory.
mod worst_case_inputs_at_the_limits_take_bounded_time_and_memory {
    use super::*;

    /// Runs `f` and checks its time and the most it allocated at once.
    fn bounded(what: &str, max_peak: usize, f: &mut dyn FnMut()) {
        let scale = if is_debug() { 10 } else { 1 };
        let t0 = Clock::now();
        let ((), peak) = peak_alloc(f);
        let d = t0.elapsed();
        eprintln!("{what}: {d:.1?}, peak {} KiB", peak / 1024);
        assert!(d < Duration::from_secs(2) * scale, "{what} took {d:?}");
        assert!(peak <= max_peak, "{what} allocated {peak} bytes at once");
    }

    /// 10000 claims: parse, introspect, serialize.
    #[test]
    fn ten_thousand_claims() {
        let data = grant::seal_data(&token_json(limits::MAX_CLAIMS - 3), false);
        bounded("10000 claims", 16 * data.len(), &mut || {
            let t = grant::read_token(&data).unwrap();
            black_box(client1_response(&t));
            black_box(t.to_json());
        });
    }

    /// A 1 MiB string of escapes (every character `\u0022`).
    #[test]
    fn a_mib_of_escapes() {
        let escaped = format!(
            "{{\"Claims\":[{{\"Type\":\"x\",\"Value\":\"{}\"}}]}}",
            "\\u0022".repeat((limits::MAX_DATA_LEN - 64) / 6)
        );
        bounded("1 MiB of escapes", 8 * limits::MAX_DATA_LEN, &mut || {
            black_box(grant_parse(escaped.as_bytes()));
        });
    }

    /// A 64 KiB form body of 1024 pairs of `%XX` escapes.
    #[test]
    fn a_form_body_of_escapes() {
        let mut form = b"token=T".to_vec();
        while form.len() + 70 < endpoint::MAX_FORM_LEN {
            form.extend_from_slice(b"&a=");
            form.extend(std::iter::repeat_n(*b"%E2%82", 10).flatten());
        }
        bounded(
            "64 KiB form of escapes",
            16 * endpoint::MAX_FORM_LEN,
            &mut || {
                black_box(Form::parse(&form).ok());
            },
        );
    }

    /// A 1 MiB key-ring element of 10000 nodes.
    #[test]
    fn a_key_ring_element_of_10000_nodes() {
        let key = numbered_key(3);
        let el = key.replacen(
            "</key>",
            &format!(
                "{}</key>",
                format!("<x a=\"{}\"/>", "v".repeat(90)).repeat(9_900)
            ),
            1,
        );
        bounded(
            "key ring element of 10000 nodes",
            16 * el.len(),
            &mut || {
                black_box(keyring_status(std::slice::from_ref(&el)));
            },
        );
    }

    /// A Data Protection string at the limit, all white space but the payload.
    #[test]
    fn white_space_around_a_payload() {
        let ring = fixture_ring();
        let payload = ring.protect_str(&["p"], "x", key_time()).unwrap();
        let spaced = format!(
            "{payload}{}",
            " ".repeat(dataprotection::MAX_PAYLOAD_STR_LEN - payload.len())
        );
        bounded(
            "1.4 MB of white space around a payload",
            4 * spaced.len(),
            &mut || {
                assert_eq!(&*ring.unprotect_str(&["p"], &spaced).unwrap(), "x");
            },
        );
    }
}

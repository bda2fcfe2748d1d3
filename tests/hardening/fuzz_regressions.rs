//! Regression tests for what fuzzing found (fuzz/artifacts inputs, named after the finding).
//! A finding with several inputs is a module of that name with one test per input.

use std::ffi::c_char;
use std::ptr::null;

use reftoken::jwt;

use super::*;
use crate::common::{c_keyring_from_dir, written};

/// fuzz target `instant`: `9999-12-31T23:54-09:59` parsed to an instant in year 10000, which
/// `instant::format` wrote as `10000-01-01T09:53:00Z`, which does not parse: a token read from
/// such a row was written back unreadable. .NET's `DateTime` stops at year 9999 (and starts at
/// year 1), so System.Text.Json refuses these dates, and RefToken now does too.
mod fuzz_instant_offset_pushing_a_date_past_year_9999_is_refused {
    use super::*;
    use reftoken::instant;

    fn refused(s: &str) {
        assert!(instant::parse(s).is_err(), "{s}");
    }

    test_cases!(refused {
        refused_a_negative_offset_into_year_10000: ("9999-12-31T23:54-09:59"),
        refused_the_last_tick_of_9999_a_minute_west: ("9999-12-31T23:59:59.9999999-00:01"),
        refused_the_first_instant_of_year_1_a_minute_east: ("0001-01-01T00:00:00+00:01"),
        refused_year_1_fourteen_hours_east: ("0001-01-01T00:00+14:00"),
    });

    /// Parsed, written and parsed again: the same instant.
    fn round_trips(s: &str) {
        let t = instant::parse(s).unwrap();
        let mut out = String::new();
        instant::format(t, &mut out);
        assert_eq!(instant::parse(&out).unwrap(), t, "{s} -> {out}");
    }

    test_cases!(round_trips {
        round_trips_the_last_tick_of_9999: ("9999-12-31T23:59:59.9999999Z"),
        round_trips_the_last_tick_of_9999_at_offset_zero: ("9999-12-31T23:59:59.9999999+00:00"),
        round_trips_the_last_hours_of_9999_west: ("9999-12-31T14:00:00-09:59"),
        round_trips_the_first_instant_of_year_1: ("0001-01-01T00:00:00Z"),
        round_trips_the_first_instant_of_year_1_east: ("0001-01-01T14:00:00+14:00"),
    });

    /// A row carrying such a date is unreadable (IdentityServer cannot read it either).
    #[test]
    fn a_row_carrying_such_a_date_is_unreadable() {
        let json = token_json(0).replace("2025-03-01T11:59:00Z", "9999-12-31T23:54-09:59");
        assert!(json.contains("-09:59"));
        assert_eq!(
            grant_parse(json.as_bytes()),
            reftoken_status::REFTOKEN_MALFORMED_INPUT
        );
    }
}

/// fuzz target `json`: `"\ud8e00"` (a high surrogate escape not followed by a low one) passed
/// `json::validate`, so a `json` claim or a confirmation holding it was copied verbatim into
/// responses that strict readers (serde_json, .NET's `JsonElement.WriteTo`) refuse.
mod fuzz_json_lone_surrogate_escape_is_not_embedded {
    use super::*;
    use reftoken::json;

    fn invalid(text: &str) {
        assert!(!json::validate(text), "{text}");
    }

    test_cases!(invalid {
        invalid_the_artifact_a_high_surrogate_then_a_digit: (r#""\ud8e00""#),
        invalid_a_lone_low_surrogate: (r#""\udc00""#),
        invalid_a_high_surrogate_then_a_letter: (r#"["\uD800x"]"#),
        invalid_a_high_surrogate_then_an_escaped_letter: (r#"{"a":"\ud800\u0041"}"#),
    });

    fn valid(text: &str) {
        assert!(json::validate(text), "{text}");
    }

    test_cases!(valid {
        valid_a_surrogate_pair: (r#""\ud83d\ude00""#),
        valid_a_surrogate_pair_in_capitals: (r#""\uD83D\uDE00""#),
        valid_an_escaped_backslash_before_u: (r#""\\ud800""#),
        valid_an_escape_of_the_bmp: (r#""\u00e9""#),
        valid_a_number_beyond_f64: ("1e400"),
    });

    /// A `json` claim holding one is written as a string, which strict readers read.
    #[test]
    fn a_json_claim_holding_one_is_written_as_a_string() {
        let mut t = Token::from_json(&token_json(0)).unwrap();
        t.claims
            .push(grant::Claim::typed("j", r#"{"a":"\ud8e00"}"#, "json"));
        let body = client1_response(&t);
        let v: serde_json::Value =
            serde_json::from_str(&body).expect("a response serde_json reads");
        assert_eq!(v["j"], r#"{"a":"\ud8e00"}"#);
    }

    #[test]
    fn a_confirmation_holding_one_is_refused() {
        let g = new_grant();
        unsafe {
            let cnf = r#"{"x5t#S256":"\ud8e00"}"#;
            assert_eq!(
                reftoken_grant_set_confirmation(g, cnf.as_ptr().cast(), cnf.len()),
                reftoken_status::REFTOKEN_MALFORMED_INPUT
            );
            reftoken_grant_free(g);
        }
    }
}

/// fuzz targets `data_column` and `token_json` (a finding in the harness, kept as a test of
/// the behaviour it relies on): IdentityServer4 rows spell out the string value type;
/// RefToken writes such claims without it, which reads back as the same claim.
#[test]
fn fuzz_explicit_string_value_type_is_written_without_it() {
    let json = token_json(0).replace(
        r#""Value":"alice"}"#,
        r#""Value":"alice","ValueType":"http://www.w3.org/2001/XMLSchema#string"}"#,
    );
    assert!(json.contains("XMLSchema#string"));
    let t = Token::from_json(&json).unwrap();
    let written = t.to_json();
    assert!(!written.contains("XMLSchema#string"));
    let back = Token::from_json(&written).unwrap();
    assert_eq!(back.to_json(), written);
    let sub = |t: &Token| {
        let c = t.claims.iter().find(|c| c.claim_type == "sub").unwrap();
        (c.value.clone(), c.value_type().to_owned())
    };
    assert_eq!(sub(&t), sub(&back));
}

/// fuzz target `signing_key_jwk` (crash-b743dc335a2dbba1b76a86fee0db1d7b746c7fe2): an RSA JWK
/// whose `d` is zero and which has no `p`/`q` made `rsa`'s prime recovery compute `d * e - 1`
/// and panic with "attempted to subtract with underflow" (`SigningKey::from_jwk` panicked;
/// through the C ABI, `REFTOKEN_INTERNAL_PANIC`). Small moduli are now refused before any
/// arithmetic, and a zero `d` as malformed.
mod fuzz_rsa_jwk_with_a_zero_private_exponent_is_refused_not_a_panic {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    /// `jwk` is refused with `status`, by `SigningKey::from_jwk` and through the C ABI.
    fn refused(jwk: &str, status: reftoken_status) {
        let r = std::panic::catch_unwind(|| jwt::SigningKey::from_jwk(jwk, None, None).map(|_| ()));
        let e = r.expect("no panic").expect_err("refused");
        assert_eq!(status_of(&e), status, "{e}");
        let mut k = null_mut();
        let st = unsafe {
            reftoken_signing_key_new_from_jwk(jwk.as_ptr().cast(), jwk.len(), 0, null(), 0, &mut k)
        };
        assert_eq!(st, status);
        assert!(k.is_null());
    }

    /// The artifact: a tiny modulus, refused before any arithmetic.
    #[test]
    fn the_artifact() {
        refused(
            r#"{"kty": "RSA", "n": "i8ng3Yvv", "e": "AQAB", "d": "AAAAAAAAAAAA"}"#,
            reftoken_status::REFTOKEN_INVALID_ARGUMENT,
        );
    }

    /// A zero `d` with a 2048-bit modulus: malformed.
    #[test]
    fn a_2048_bit_modulus() {
        let n2048 = URL_SAFE_NO_PAD.encode([0xC5u8; 256]);
        refused(
            &format!(r#"{{"kty":"RSA","n":"{n2048}","e":"AQAB","d":"AAAAAAAA"}}"#),
            reftoken_status::REFTOKEN_MALFORMED_INPUT,
        );
    }
}

/// Options whose `client_enabled` callback is `enabled` with `ctx`.
fn with_client_enabled(
    enabled: unsafe extern "C" fn(*mut std::ffi::c_void, *const c_char, usize) -> bool,
    ctx: *mut std::ffi::c_void,
) -> reftoken_options {
    reftoken_options {
        identityserver_version: 0,
        client_enabled: Some(enabled),
        client_enabled_ctx: ctx,
        client_offline_access: None,
        client_offline_access_ctx: null_mut(),
    }
}

/// Responses are built in a buffer each thread reuses; a callback that introspects again from
/// inside a call (its options' `client_enabled`) gets a buffer of its own, and neither answer
/// is disturbed, nor are the answers of a later call with a smaller response.
#[test]
fn introspection_nested_in_a_callback_gets_its_own_buffer() {
    struct Ctx {
        grant: *const reftoken_grant,
        nested: Vec<u8>,
    }
    fn introspect(grant: *const reftoken_grant, options: *const reftoken_options) -> Vec<u8> {
        let caller = reftoken_caller {
            kind: REFTOKEN_CALLER_API,
            name: rs(b"api1"),
            scopes: rs(b"api1.read"),
        };
        written(Some(64 * 1024), |out, cap, len| unsafe {
            reftoken_introspect(grant, &caller, 1_740_830_400, options, out.cast(), cap, len)
        })
        .ok()
        .unwrap()
    }
    unsafe extern "C" fn enabled(ctx: *mut std::ffi::c_void, _: *const c_char, _: usize) -> bool {
        let ctx = unsafe { &mut *ctx.cast::<Ctx>() };
        ctx.nested = introspect(ctx.grant, null());
        true
    }
    let parse = |json: &str| {
        let mut g = null_mut();
        let st =
            unsafe { reftoken_grant_parse_token_json(json.as_ptr().cast(), json.len(), &mut g) };
        assert_eq!(st, reftoken_status::REFTOKEN_OK);
        g
    };
    let (big, small) = (parse(&token_json(300)), parse(&token_json(1)));
    let plain = introspect(big, null());
    assert!(
        plain.len() > 2000 && plain.starts_with(b"{\"iss\""),
        "{}",
        plain.len()
    );
    let mut ctx = Ctx {
        grant: big,
        nested: Vec::new(),
    };
    let options = with_client_enabled(enabled, (&raw mut ctx).cast());
    assert_eq!(introspect(big, &options), plain);
    assert_eq!(ctx.nested, plain);
    let small_alone = {
        let json: serde_json::Value = serde_json::from_slice(&introspect(small, null())).unwrap();
        json
    };
    assert_eq!(small_alone["role"], "r0");
    assert_eq!(small_alone["active"], true);
    unsafe {
        reftoken_grant_free(big);
        reftoken_grant_free(small);
    }
}

/// fuzz target `keyring_file` (crash-363c596df7f21a30321c20884c6e7c7280e531a7, minimised to
/// `EF BB BF EF BB BF EF BB BF <k/>`): a key file starting with three UTF-8 byte-order marks
/// failed `KeyRing::from_dir`, while the file's
/// text after its encoding signature loaded with `KeyRing::from_xml`: `from_dir` kept the
/// signature in the text, and a text could start with two marks (`KeyRing::from_xml` skipped
/// one, roxmltree another). A UTF-8 mark is now the file's signature, as the UTF-16 ones were,
/// and a text starts with one mark at most.
mod fuzz_key_file_byte_order_marks_read_as_the_text_from_xml_is_given {
    use super::*;

    const BOM: &str = "\u{FEFF}";

    /// The fixture key without its mark.
    fn key() -> &'static str {
        FIXTURE_KEY
            .strip_prefix(BOM)
            .expect("the fixture file has a mark")
    }

    /// A key file starting with `marks` marks reads as its text after the encoding signature
    /// (one mark) does with `KeyRing::from_xml`; up to two marks load.
    fn marks(marks: usize) {
        let dir = tempfile::tempdir().unwrap();
        let file = format!("{}{}", BOM.repeat(marks), key());
        std::fs::write(dir.path().join("key.xml"), &file).unwrap();
        let from_dir = KeyRing::from_dir(dir.path());
        let from_xml = KeyRing::from_xml(&[file.strip_prefix(BOM).unwrap_or(&file)]);
        assert_eq!(from_dir.is_ok(), marks <= 2, "{marks} marks");
        assert_eq!(from_xml.is_ok(), from_dir.is_ok(), "{marks} marks");
        if let (Ok(a), Ok(b)) = (&from_dir, &from_xml) {
            assert_eq!(a.keys().count(), 1);
            assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        }
    }

    test_cases!(marks {
        no_mark: (0),
        one_mark: (1),
        two_marks: (2),
        three_marks: (3),
    });

    #[test]
    fn a_text_starts_with_one_mark_at_most() {
        assert!(KeyRing::from_xml(&[format!("{BOM}{}", key())]).is_ok());
        assert!(matches!(
            KeyRing::from_xml(&[format!("{BOM}{BOM}{}", key())]),
            Err(Error::Malformed { .. })
        ));
    }

    /// The fuzzer's input, minimised: three marks and an element that is not a key.
    #[test]
    fn the_minimised_artifact() {
        let dir = tempfile::tempdir().unwrap();
        let artifact = "\u{FEFF}\u{FEFF}\u{FEFF}<k/>";
        std::fs::write(dir.path().join("key.xml"), artifact).unwrap();
        let (_, st) = c_keyring_from_dir(dir.path(), None);
        assert_eq!(st, reftoken_status::REFTOKEN_MALFORMED_INPUT);
        assert!(KeyRing::from_xml(&[&artifact[3..]]).is_err());
    }
}

/// `reftoken_introspect_data` reads each row into a token the thread reuses. Rows large and
/// small, one with a claim escaped (`+` is `\u002B` twice over), one that the general parser
/// reads (white space), a malformed one, and a call nested in a callback must each answer as
/// the row parsed on its own does, and nothing of an earlier row may show in a later answer.
#[test]
fn introspection_from_rows_in_turn_answers_each_row_alone() {
    let caller = reftoken_caller {
        kind: REFTOKEN_CALLER_API,
        name: rs(b"api1"),
        scopes: rs(b"api1.read"),
    };
    fn from_data(
        data: &str,
        caller: &reftoken_caller,
        options: *const reftoken_options,
    ) -> Result<Vec<u8>, reftoken_status> {
        written(Some(64 * 1024), |out, cap, len| unsafe {
            reftoken_introspect_data(
                data.as_ptr().cast(),
                data.len(),
                null(),
                caller,
                1_740_830_400,
                options,
                out.cast(),
                cap,
                len,
            )
        })
        .ok()
        .map_err(|(st, _)| st)
    }
    // The reference: the row parsed into a grant of its own, then introspected.
    let alone = |data: &str| -> Vec<u8> {
        let mut g = null_mut();
        let st = unsafe { reftoken_grant_parse(data.as_ptr().cast(), data.len(), &mut g) };
        assert_eq!(st, reftoken_status::REFTOKEN_OK);
        let out = written(Some(64 * 1024), |out, cap, len| unsafe {
            reftoken_introspect(g, &caller, 1_740_830_400, null(), out.cast(), cap, len)
        });
        unsafe { reftoken_grant_free(g) };
        out.ok().unwrap()
    };
    let mut escaped = Token::from_json(&token_json(2)).unwrap();
    escaped
        .claims
        .push(grant::Claim::typed("amr", "a+b", "urn:x"));
    escaped.audiences.push("api2".into());
    let rows = [
        grant::seal_data(&token_json(300), false),
        grant::seal_data(&token_json(1), false),
        grant::seal_data(&escaped.to_json(), false),
        grant::seal_data(&token_json(40).replacen(":[", ": [", 1), false),
        grant::seal_data(&token_json(0), false),
    ];
    for data in rows.iter().chain(rows.iter().rev()) {
        let answer = from_data(data, &caller, null()).unwrap();
        assert_eq!(answer, alone(data), "{data}");
    }
    let tail = rows[4].len() - 5;
    let broken = format!("{}x{}", &rows[4][..tail], &rows[4][tail..]);
    assert_eq!(
        from_data(&broken, &caller, null()),
        Err(reftoken_status::REFTOKEN_MALFORMED_INPUT)
    );
    assert_eq!(
        from_data(&rows[1], &caller, null()).unwrap(),
        alone(&rows[1])
    );

    // Nested: the callback reads another row while the outer call holds the thread's token.
    struct Ctx<'a> {
        data: &'a str,
        caller: &'a reftoken_caller,
        nested: Vec<u8>,
    }
    unsafe extern "C" fn enabled(ctx: *mut std::ffi::c_void, _: *const c_char, _: usize) -> bool {
        let ctx = unsafe { &mut *ctx.cast::<Ctx>() };
        ctx.nested = from_data(ctx.data, ctx.caller, null()).unwrap();
        true
    }
    let mut ctx = Ctx {
        data: &rows[0],
        caller: &caller,
        nested: Vec::new(),
    };
    let options = with_client_enabled(enabled, (&raw mut ctx).cast());
    assert_eq!(
        from_data(&rows[2], &caller, &options).unwrap(),
        alone(&rows[2])
    );
    assert_eq!(ctx.nested, alone(&rows[0]));
}

//! Rows only a store writer can create (IdentityServer never writes them): RefToken must answer
//! what IdentityServer 7.4 answers, and refuse (`REFTOKEN_MALFORMED_INPUT`) where
//! IdentityServer's endpoint fails with a 500.
//!
//! Expected values come from .NET 10 itself (tests/dotnet/GrantOracle: System.Text.Json
//! reading the payload into a class shaped like IdentityServer's `Token`, then the steps of
//! IdentityServer's validator and response generator with .NET's own parsers and JSON
//! writer), run once for all cases. RefToken is driven through the C ABI
//! (`reftoken_grant_parse_token_json`, `reftoken_introspect`, `reftoken_evaluate`,
//! `reftoken_grant_new`).

#[macro_use]
mod common;

use std::ptr::null;
use std::sync::OnceLock;

use reftoken::instant;
use reftoken_ffi::reftoken_status::*;
use reftoken_ffi::*;
use serde_json::{Value, json};

use common::{GRANT_ORACLE, c_string, check_all, last_error, oracle_batch};

/// 2026-01-01T00:00:00Z.
const CREATED: i64 = 1_767_225_600;
/// An hour into the tokens' lives.
const NOW: i64 = CREATED + 3600;
const INTEGER: &str = "http://www.w3.org/2001/XMLSchema#integer";
const INTEGER64: &str = "http://www.w3.org/2001/XMLSchema#integer64";
const DOUBLE: &str = "http://www.w3.org/2001/XMLSchema#double";
const BOOLEAN: &str = "http://www.w3.org/2001/XMLSchema#boolean";

/// A token as IdentityServer would write it, with `members` (JSON text) inserted after
/// `Issuer` and `claims` (JSON text) after its own claims: System.Text.Json keeps the last of
/// a member given twice, so `members` can override the ones before it.
fn token_with(members: &str, claims: &str) -> String {
    format!(
        "{{\"AllowedSigningAlgorithms\":[],\"Audiences\":[\"api1\"],\"Issuer\":\"https://idp\",\
         {members}\"CreationTime\":\"2026-01-01T00:00:00Z\",\"Lifetime\":86400,\
         \"ClientId\":\"c1\",\"AccessTokenType\":1,\"IncludeJwtId\":false,\"Claims\":[\
         {CLAIMS}{claims}],\"Version\":5}}"
    )
}

const ISSUER: &str = "\"Issuer\":\"https://idp\"";
const AUDIENCES: &str = "\"Audiences\":[\"api1\"]";
/// The claims of [`token_with`].
const CLAIMS: &str = "{\"Type\":\"client_id\",\"Value\":\"c1\"},{\"Type\":\"scope\",\"Value\":\"api1\"},\
                      {\"Type\":\"sub\",\"Value\":\"alice\"}";

/// The token of [`token_with`] with `from` (which it holds) replaced by `to`.
fn replaced(from: &str, to: &str) -> String {
    let t = token_with("", "");
    assert!(t.contains(from), "{from}");
    t.replace(from, to)
}

/// A token whose `CreationTime` is the JSON string `created` (its text between the quotes).
fn created_at(created: &str) -> String {
    token_with("", "").replace(
        "\"CreationTime\":\"2026-01-01T00:00:00Z\"",
        &format!("\"CreationTime\":\"{created}\""),
    )
}

/// A token with one more claim of this value and value type.
fn typed_claim(value: &str, value_type: &str) -> String {
    let claim = json!({"Type": "n", "Value": value, "ValueType": value_type});
    token_with("", &format!(",{claim}"))
}

/// The stored payloads, by name.
fn payloads() -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = vec![
        ("as_written".into(), token_with("", "")),
        // The issuer and the lists IdentityServer's validator reads through.
        (
            "no_issuer".into(),
            token_with("", "").replace("\"Issuer\":\"https://idp\",", ""),
        ),
        ("null_issuer".into(), replaced(ISSUER, "\"Issuer\":null")),
        (
            "null_issuer_expired".into(),
            replaced(ISSUER, "\"Issuer\":null").replace("\"Lifetime\":86400", "\"Lifetime\":60"),
        ),
        (
            "null_issuer_without_client".into(),
            replaced(ISSUER, "\"Issuer\":null").replace("\"ClientId\":\"c1\",", ""),
        ),
        ("empty_issuer".into(), replaced(ISSUER, "\"Issuer\":\"\"")),
        (
            "null_audiences".into(),
            replaced(AUDIENCES, "\"Audiences\":null"),
        ),
        (
            "null_audience_item".into(),
            replaced(AUDIENCES, "\"Audiences\":[\"api1\",null]"),
        ),
        (
            "no_audiences".into(),
            token_with("", "").replace("\"Audiences\":[\"api1\"],", ""),
        ),
        (
            "null_claims".into(),
            token_with("", "").replace(&format!("\"Claims\":[{CLAIMS}]"), "\"Claims\":null"),
        ),
        ("null_claim_item".into(), token_with("", ",null")),
        (
            "null_allowed_signing_algorithm".into(),
            replaced(
                "\"AllowedSigningAlgorithms\":[]",
                "\"AllowedSigningAlgorithms\":[null]",
            ),
        ),
        // Expiration at the ends of .NET's DateTime range.
        (
            "expiration_past_9999".into(),
            created_at("9999-12-31T00:00:00Z"),
        ),
        (
            "expiration_at_9999_12_31_23_59_59".into(),
            created_at("9999-12-31T00:00:00.9999999Z")
                .replace("\"Lifetime\":86400", "\"Lifetime\":86399"),
        ),
        (
            "expiration_before_year_1".into(),
            created_at("0001-01-01T00:00:00Z").replace("\"Lifetime\":86400", "\"Lifetime\":-1"),
        ),
        (
            "no_creation_time_longest_lifetime".into(),
            token_with("", "")
                .replace("\"CreationTime\":\"2026-01-01T00:00:00Z\",", "")
                .replace("\"Lifetime\":86400", "\"Lifetime\":2147483647"),
        ),
        // Members given twice: the last counts.
        (
            "duplicate_client_and_lifetime".into(),
            token_with("\"ClientId\":\"other\",\"Lifetime\":1,", "").replace(
                "\"Version\":5}",
                "\"Version\":5,\"Lifetime\":7200,\"ClientId\":\"c1\"}",
            ),
        ),
        (
            "duplicate_issuer_null_last".into(),
            token_with("\"Issuer\":null,", "").replace(
                "\"Issuer\":\"https://idp\",\"Issuer\":null,",
                "\"Issuer\":null,\"Issuer\":\"https://other\",",
            ),
        ),
        (
            "duplicate_creation_time".into(),
            created_at("2026-01-01T05:00:00Z").replace(
                "\"Version\":5}",
                "\"Version\":5,\"CreationTime\":\"2026-01-01T00:30:00Z\"}",
            ),
        ),
        (
            "duplicate_claims_array".into(),
            token_with(
                "\"Claims\":[{\"Type\":\"scope\",\"Value\":\"other\"}],",
                ",{\"Type\":\"role\",\"Value\":\"r\"}",
            ),
        ),
        (
            "duplicate_members_in_a_claim".into(),
            token_with(
                "",
                ",{\"Type\":\"x\",\"Value\":\"1\",\"Type\":\"n\",\"ValueType\":\"bad\",\
                  \"Value\":\"42\",\"ValueType\":\"http://www.w3.org/2001/XMLSchema#integer\"}",
            ),
        ),
        (
            "duplicate_audiences".into(),
            token_with("\"Audiences\":null,", "")
                .replace("\"Version\":5}", "\"Version\":5,\"Audiences\":[\"api2\"]}"),
        ),
        // Claim types equal under OrdinalIgnoreCase or not.
        (
            "dotless_i_and_long_s_types".into(),
            token_with(
                "",
                ",{\"Type\":\"\u{131}d\",\"Value\":\"1\"},{\"Type\":\"ID\",\"Value\":\"1\"},\
                  {\"Type\":\"\u{17f}ub\",\"Value\":\"alice\"},{\"Type\":\"Role\",\"Value\":\"a\"},\
                  {\"Type\":\"ROLE\",\"Value\":\"a\"}",
            ),
        ),
    ];
    // Dates System.Text.Json refuses, and the reduced forms it reads.
    for (name, date) in DATES {
        p.push((format!("creation_time_{name}"), created_at(date)));
    }
    p.push((
        "creation_time_escaped_z".into(),
        created_at("2026-01-01T00:00:00\\u005A"),
    ));
    p.push((
        "creation_time_escaped_lowercase_z".into(),
        created_at("2026-01-01T00:00:00\\u007A"),
    ));
    // Claim values as .NET's parsers read them.
    for (name, value, vt) in CLAIM_VALUES {
        p.push((format!("claim_{name}"), typed_claim(value, vt)));
    }
    p
}

/// CreationTime strings, by name (all near 2026-01-01 so that the tokens are active).
const DATES: &[(&str, &str)] = &[
    ("utc", "2026-01-01T00:00:00Z"),
    ("lowercase_z", "2026-01-01T00:00:00z"),
    ("lowercase_t", "2026-01-01t00:00:00Z"),
    (
        "fraction_16_digits",
        "2026-01-01T00:00:00.1234567890123456Z",
    ),
    (
        "fraction_17_digits",
        "2026-01-01T00:00:00.12345678901234567Z",
    ),
    ("offset_14_00", "2026-01-01T13:00:00+14:00"),
    ("offset_14_01", "2026-01-01T13:00:00+14:01"),
    ("offset_hours_only", "2026-01-01T13:00:00+14"),
    ("offset_minus_hours_only", "2025-12-31T23:00:00-01"),
    ("offset_minus_zero", "2026-01-01T00:00:00-00:00"),
    ("offset_minutes_60", "2026-01-01T00:00:00+00:60"),
    ("offset_one_digit", "2026-01-01T00:00:00+1:00"),
    ("date_only", "2026-01-01"),
    ("no_seconds", "2026-01-01T00:00"),
    ("no_seconds_utc", "2026-01-01T00:00Z"),
    ("no_seconds_offset", "2026-01-01T01:00+01"),
    ("no_zone", "2026-01-01T00:00:00"),
    ("empty_fraction_then_z", "2026-01-01T00:00:00.Z"),
    ("empty_fraction_then_offset", "2026-01-01T01:00:00.+01:00"),
    ("empty_fraction_at_end", "2026-01-01T00:00:00."),
    ("trailing_space", "2026-01-01T00:00:00Z "),
    ("space_for_t", "2026-01-01 00:00:00Z"),
    ("hour_only", "2026-01-01T00"),
    ("year_0", "0000-01-01T00:00:00Z"),
    ("leap_second", "2025-12-31T23:59:60Z"),
    ("february_29_2026", "2026-02-29T00:00:00Z"),
];

/// Claim values, by name, with their value types.
const CLAIM_VALUES: &[(&str, &str, &str)] = &[
    ("integer_trailing_nul", "5\0", INTEGER),
    ("integer_trailing_nuls", "5\0\0", INTEGER),
    ("integer_space_then_nul", "5 \0", INTEGER),
    ("integer_nul_then_space", "5\0 ", INTEGER),
    ("integer_leading_nul", "\x005", INTEGER),
    ("integer_nbsp", "\u{a0}5", INTEGER),
    ("integer_only_nul", "\0", INTEGER),
    ("integer_overflow_nul", "2147483648\0", INTEGER),
    (
        "integer64_trailing_nul",
        "-9223372036854775808\0",
        INTEGER64,
    ),
    ("double_trailing_nul", "1.5\0", DOUBLE),
    ("double_exponent_nul", "1e3\0\0", DOUBLE),
    ("double_infinity_sign", "\u{221e}", DOUBLE),
    ("double_minus_infinity_sign", "-\u{221e}", DOUBLE),
    ("double_nbsp_infinity", "\u{a0}Infinity", DOUBLE),
    ("double_em_space_nan", "\u{2003}NaN\u{3000}", DOUBLE),
    ("double_infinity_nul", "Infinity\0", DOUBLE),
    (
        "double_dotless_infinity",
        "\u{131}nf\u{131}n\u{131}ty",
        DOUBLE,
    ),
    ("double_minus_infinity", "-infinity", DOUBLE),
    ("double_plus_nan", "+NaN", DOUBLE),
    ("double_minus_nan", "-nan", DOUBLE),
    ("double_plus_minus_infinity", "+-Infinity", DOUBLE),
    ("double_overflow", "1e400", DOUBLE),
    ("double_minus_zero", "-0", DOUBLE),
    ("double_thousands", "1,000.5", DOUBLE),
    ("double_nbsp_number", "\u{a0}1.5", DOUBLE),
    ("boolean_trailing_nul", "true\0", BOOLEAN),
    ("boolean_nbsp", "\u{a0}True", BOOLEAN),
];

/// .NET's verdict on each payload, one oracle run for the whole file.
fn dotnet() -> &'static [(Value, Value)] {
    static CELL: OnceLock<Vec<(Value, Value)>> = OnceLock::new();
    oracle_batch(&CELL, &GRANT_ORACLE, || {
        let mut ops: Vec<Value> = payloads()
            .into_iter()
            .map(|(name, payload)| {
                json!({"op": "introspect", "name": name, "payload": payload, "now": NOW,
                       "api_scopes": ["api1"]})
            })
            .collect();
        for (name, date) in DATES {
            ops.push(json!({"op": "date", "name": name, "json": json!(date).to_string()}));
        }
        for (creation, lifetime) in EXPIRATIONS {
            ops.push(json!({"op": "expiration", "creation": creation, "lifetime": lifetime}));
        }
        ops
    })
}

/// (creation time in Unix seconds, lifetime) pairs around the ends of .NET's range.
const EXPIRATIONS: &[(i64, i32)] = &[
    (253_402_300_799 - 10, 10),
    (253_402_300_799 - 10, 11),
    (253_402_300_799, 0),
    (253_402_300_799, 1),
    (253_402_300_799 - 2_147_483_647, i32::MAX),
    (253_402_300_799 - 2_147_483_646, i32::MAX),
    (CREATED, i32::MAX),
];

const API: reftoken_caller = reftoken_caller {
    kind: REFTOKEN_CALLER_API,
    name: reftoken_str {
        ptr: c"api1".as_ptr(),
        len: 4,
    },
    scopes: reftoken_str {
        ptr: c"api1".as_ptr(),
        len: 4,
    },
};

/// What RefToken does with `payload`, in the oracle's terms: "not_found" when the payload
/// does not parse (a row that fails to decode reads as no row), else "inactive", "active"
/// with the body, or "fails" for `REFTOKEN_MALFORMED_INPUT`.
fn reftoken(payload: &str) -> (String, Option<String>) {
    let mut grant = std::ptr::null_mut();
    let st = unsafe {
        reftoken_grant_parse_token_json(payload.as_ptr().cast(), payload.len(), &mut grant)
    };
    if st != REFTOKEN_OK {
        assert_eq!(st, REFTOKEN_MALFORMED_INPUT, "{}", last_error());
        return ("not_found".into(), None);
    }
    let body = c_string(|out, cap, len| unsafe {
        reftoken_introspect(grant, &API, NOW, null(), out, cap, len)
    });
    let mut verdict = std::mem::MaybeUninit::<reftoken_verdict>::zeroed();
    let evaluated = unsafe { reftoken_evaluate(grant, &API, NOW, null(), verdict.as_mut_ptr()) };
    unsafe { reftoken_grant_free(grant) };
    match body {
        Ok(b) if b == "{\"active\":false}" => {
            assert_eq!(evaluated, REFTOKEN_OK);
            assert!(!unsafe { verdict.assume_init() }.active);
            ("inactive".into(), None)
        }
        Ok(b) => {
            assert_eq!(evaluated, REFTOKEN_OK);
            assert!(unsafe { verdict.assume_init() }.active);
            ("active".into(), Some(b))
        }
        Err((REFTOKEN_MALFORMED_INPUT, _)) => {
            // Where the verdict alone already meets the failure, evaluate reports it too.
            if evaluated != REFTOKEN_OK {
                assert_eq!(evaluated, REFTOKEN_MALFORMED_INPUT);
            }
            ("fails".into(), None)
        }
        Err((st, e)) => panic!("reftoken_introspect: {st:?}: {e}"),
    }
}

#[test]
fn introspection_of_hand_written_rows_matches_dotnet() {
    let cases = dotnet()
        .iter()
        .filter(|(op, _)| op["op"] == "introspect")
        .map(|(op, r)| (op["name"].as_str().unwrap().to_owned(), (op, r)));
    let n = check_all(cases, |(op, r)| {
        let (outcome, body) = reftoken(op["payload"].as_str().unwrap());
        assert_eq!(
            outcome,
            r["outcome"].as_str().unwrap(),
            ".NET: {r}; RefToken: {outcome} {body:?}"
        );
        if let Some(expected) = r["body"].as_str() {
            assert_eq!(body.as_deref(), Some(expected));
        }
    });
    assert_eq!(n, payloads().len());
}

/// The `fails` cases are those where IdentityServer's validator throws, not rows it cannot read.
#[test]
fn dotnet_fails_where_the_issue_says_it_does() {
    let outcome = |name: &str| {
        dotnet()
            .iter()
            .find(|(op, _)| op["name"] == name && op["op"] == "introspect")
            .map(|(_, r)| r["outcome"].as_str().unwrap().to_owned())
            .unwrap()
    };
    for name in [
        "no_issuer",
        "null_issuer",
        "null_audiences",
        "null_claims",
        "expiration_past_9999",
        "claim_double_nbsp_infinity",
    ] {
        assert_eq!(outcome(name), "fails", "{name}");
    }
    for name in [
        "creation_time_lowercase_z",
        "creation_time_fraction_17_digits",
        "creation_time_offset_14_01",
    ] {
        assert_eq!(outcome(name), "not_found", "{name}");
    }
    for name in [
        "creation_time_date_only",
        "creation_time_offset_hours_only",
        "creation_time_empty_fraction_then_z",
        "duplicate_client_and_lifetime",
        "claim_double_infinity_sign",
    ] {
        assert_eq!(outcome(name), "active", "{name}");
    }
}

/// Every date System.Text.Json reads gives the same instant, to the tick; every date it
/// refuses is refused.
#[test]
fn creation_times_parse_as_system_text_json_reads_them() {
    let cases = dotnet()
        .iter()
        .filter(|(op, _)| op["op"] == "date")
        .map(|(op, r)| (op["name"].as_str().unwrap().to_owned(), (op, r)));
    check_all(cases, |(op, r)| {
        let text: String = serde_json::from_str(op["json"].as_str().unwrap()).unwrap();
        let ours = instant::parse(&text).ok().map(|t| t.0);
        let theirs = r["parsed"]
            .as_bool()
            .unwrap()
            .then(|| r["ticks"].as_i64().unwrap());
        assert_eq!(ours, theirs, "{text:?}: .NET {r}");
    });
}

/// `reftoken_grant_new` refuses exactly the lifetimes .NET cannot add to the creation time.
#[test]
fn grant_new_refuses_an_expiration_dotnet_cannot_hold() {
    let cases = dotnet()
        .iter()
        .filter(|(op, _)| op["op"] == "expiration")
        .map(|(op, r)| (format!("{} + {}", op["creation"], op["lifetime"]), (op, r)));
    check_all(cases, |(op, r)| {
        let creation = op["creation"].as_i64().unwrap();
        let lifetime = i32::try_from(op["lifetime"].as_i64().unwrap()).unwrap();
        let mut grant = std::ptr::null_mut();
        let st = unsafe {
            reftoken_grant_new(
                c"c1".as_ptr(),
                2,
                c"https://idp".as_ptr(),
                11,
                creation,
                lifetime,
                &mut grant,
            )
        };
        unsafe { reftoken_grant_free(grant) };
        if r["throws"].as_bool().unwrap() {
            assert_eq!(st, REFTOKEN_INVALID_ARGUMENT);
            assert!(last_error().contains("9999"), "{}", last_error());
            assert!(grant.is_null());
        } else {
            assert_eq!(st, REFTOKEN_OK, "{}", last_error());
        }
    });
}

/// The refusal is the status IdentityServer's other failures have, with a message that says
/// why, at each C entry point that evaluates a token.
#[test]
fn refusals_name_their_cause_at_the_c_boundary() {
    for (payload, cause) in [
        (replaced(ISSUER, "\"Issuer\":null"), "Issuer"),
        (
            replaced(AUDIENCES, "\"Audiences\":null"),
            "Audiences is null",
        ),
        (token_with("", ",null"), "an item of Claims is null"),
        (
            created_at("9999-12-31T00:00:00Z"),
            "outside .NET's DateTime range",
        ),
    ] {
        let mut grant = std::ptr::null_mut();
        let st = unsafe {
            reftoken_grant_parse_token_json(payload.as_ptr().cast(), payload.len(), &mut grant)
        };
        assert_eq!(st, REFTOKEN_OK);
        let mut verdict = std::mem::MaybeUninit::<reftoken_verdict>::zeroed();
        let st = unsafe { reftoken_evaluate(grant, &API, NOW, null(), verdict.as_mut_ptr()) };
        assert_eq!(st, REFTOKEN_MALFORMED_INPUT);
        assert!(last_error().contains(cause), "{cause}: {}", last_error());
        let body = c_string(|out, cap, len| unsafe {
            reftoken_introspect(grant, &API, NOW, null(), out, cap, len)
        });
        assert!(
            matches!(&body, Err((REFTOKEN_MALFORMED_INPUT, e)) if e.contains(cause)),
            "{body:?}"
        );
        unsafe { reftoken_grant_free(grant) };
    }
}

//! Shared secrets: their hashes against .NET's, the stored secrets Duende computed, and the
//! rules of verification.

use std::sync::OnceLock;

use crate::common::{oracle_batch, rs, written};

use super::*;

/// .NET's hashes of every input of the cases below, in both algorithms: one run of the oracle
/// for all of them.
fn dotnet_hashes() -> &'static [(Value, Value)] {
    static BATCH: OnceLock<Vec<(Value, Value)>> = OnceLock::new();
    oracle_batch(&BATCH, &ENDPOINT_ORACLE, || {
        let mut ops = Vec::new();
        for input in SECRET_INPUTS.iter().map(|(_, make)| make()) {
            for alg in ["sha256", "sha512"] {
                ops.push(json!({"op": "hash", "alg": alg, "input": input}));
            }
        }
        ops
    })
}

/// The inputs hashed, by the name of their test.
const SECRET_INPUTS: &[(&str, fn() -> String)] = &[
    ("ordinary", || "api1-secret".into()),
    ("short", || "secret".into()),
    ("empty", || "".into()),
    ("a_space", || " ".into()),
    ("ascii_white_space", || " \t\r\n".into()),
    ("unicode_white_space", || "\u{a0}\u{2003}\u{3000}".into()),
    ("padded", || " padded ".into()),
    ("an_accent", || "é".into()),
    ("an_emoji", || "😀 emoji".into()),
    ("japanese", || "日本語のシークレット".into()),
    ("a_nul", || "\u{0}nul".into()),
    ("a_byte_order_mark", || "\u{feff}bom".into()),
    ("url_characters", || "a:b+c%20d".into()),
    ("ten_thousand_characters", || "x".repeat(10_000)),
    ("all_of_ascii", || (0u8..128).map(char::from).collect()),
];

/// `reftoken_secret_hash` (and `secret::hash_secret`) of the input named `name` give what .NET
/// gives, in both algorithms.
fn hash_matches_dotnet(name: &str) {
    let input = SECRET_INPUTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, make)| make())
        .unwrap_or_else(|| panic!("no input named {name}"));
    let mut n = 0;
    for (op, r) in dotnet_hashes()
        .iter()
        .filter(|(op, _)| op["input"] == input)
    {
        let want = s(&ok(op, r)["value"]).unwrap();
        let (alg, code) = if op["alg"] == "sha256" {
            (HashAlgorithm::Sha256, ffi::REFTOKEN_SECRET_SHA256)
        } else {
            (HashAlgorithm::Sha512, ffi::REFTOKEN_SECRET_SHA512)
        };
        assert_eq!(secret::hash_secret(&input, alg).as_str(), want, "{op}");
        // And through the C ABI.
        let w = written(Some(89), |out, cap, len| unsafe {
            ffi::reftoken_secret_hash(
                input.as_ptr().cast(),
                input.len(),
                code,
                out.cast(),
                cap,
                len,
            )
        });
        assert_eq!(w.status, reftoken_status::REFTOKEN_OK);
        assert_eq!(w.bytes(), want.as_bytes(), "{op}");
        assert_eq!(w.buf[w.len], 0, "NUL-terminated");
        n += 1;
    }
    assert_eq!(n, 2, "{name}: both algorithms");
}

/// One test per input.
mod secret_hashes_match_dotnet {
    use super::hash_matches_dotnet;

    test_cases!(hash_matches_dotnet {
        ordinary: ("ordinary"),
        short: ("short"),
        empty: ("empty"),
        a_space: ("a_space"),
        ascii_white_space: ("ascii_white_space"),
        unicode_white_space: ("unicode_white_space"),
        padded: ("padded"),
        an_accent: ("an_accent"),
        an_emoji: ("an_emoji"),
        japanese: ("japanese"),
        a_nul: ("a_nul"),
        a_byte_order_mark: ("a_byte_order_mark"),
        url_characters: ("url_characters"),
        ten_thousand_characters: ("ten_thousand_characters"),
        all_of_ascii: ("all_of_ascii"),
    });

    #[test]
    fn every_input_has_a_test() {
        assert_eq!(super::SECRET_INPUTS.len(), 15);
    }
}

#[test]
fn secret_hash_arguments() {
    let w = written(None, |out, cap, len| unsafe {
        ffi::reftoken_secret_hash(c"s".as_ptr(), 1, 7, out.cast(), cap, len)
    });
    assert_eq!(w.status, reftoken_status::REFTOKEN_INVALID_ARGUMENT);
    let w = written(None, |out, cap, len| unsafe {
        ffi::reftoken_secret_hash(
            c"s".as_ptr(),
            1,
            ffi::REFTOKEN_SECRET_SHA256,
            out.cast(),
            cap,
            len,
        )
    });
    assert_eq!(
        (w.status, w.len),
        (reftoken_status::REFTOKEN_BUFFER_TOO_SMALL, 44)
    );
}

/// The stored secret of secrets.json named `name` (as Duende stored it) is the hash of its
/// plaintext and verifies with it, and with nothing else; also through the C ABI.
fn stored_secret_verifies(name: &str) {
    let secrets = load("secrets.json");
    let e = secrets["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no secret named {name}"));
    let now = Instant::from_unix_seconds(1_740_830_400);
    let plain = s(&e["secret"]).unwrap();
    let stored = s(&e["stored"]).unwrap();
    let alg = match s(&e["hash"]) {
        Some("sha512") => HashAlgorithm::Sha512,
        _ => HashAlgorithm::Sha256,
    };
    assert_eq!(secret::hash_secret(plain, alg).as_str(), stored);
    let list = [StoredSecret::new(stored)];
    assert_eq!(secret::verify_secret(plain, &list, now).unwrap(), Some(0));
    assert_eq!(secret::verify_secret("wrong", &list, now).unwrap(), None);
    assert_eq!(
        secret::verify_secret(&format!("{plain} "), &list, now).unwrap(),
        None
    );
    // Through the C ABI, NULL expirations meaning none expires.
    let strs = [rs(stored)];
    let (mut valid, mut index) = (false, 99usize);
    let st = unsafe {
        ffi::reftoken_secret_verify(
            plain.as_ptr().cast(),
            plain.len(),
            strs.as_ptr(),
            std::ptr::null(),
            1,
            1_740_830_400,
            &mut valid,
            &mut index,
        )
    };
    assert_eq!((st, valid, index), (reftoken_status::REFTOKEN_OK, true, 0));
}

/// One test per stored secret of secrets.json.
mod duende_stored_secrets_verify {
    use super::*;

    test_cases!(stored_secret_verifies {
        api1: ("api1"),
        api2_sha512: ("api2"),
        client1: ("client1"),
        client2: ("client2"),
        client3: ("client3"),
        ropc_client: ("ropc.client"),
    });

    #[test]
    fn every_stored_secret_has_a_test() {
        assert_eq!(load("secrets.json")["secrets"].as_array().unwrap().len(), 6);
    }
}

#[test]
fn secret_verification_edge_cases() {
    let now = Instant::from_unix_seconds(1_000_000);
    let h256 = secret::hash_secret("right", HashAlgorithm::Sha256).to_string();
    let h512 = secret::hash_secret("right", HashAlgorithm::Sha512).to_string();
    let other = secret::hash_secret("other", HashAlgorithm::Sha256).to_string();
    let sec = |v: &str, exp: Option<i64>| StoredSecret {
        value: v.to_owned(),
        expiration: exp.map(Instant::from_unix_seconds),
    };
    let v = |list: &[StoredSecret]| secret::verify_secret("right", list, now);
    // Either kind, in any position; the first match wins.
    assert_eq!(v(&[sec(&h512, None)]).unwrap(), Some(0));
    assert_eq!(
        v(&[sec(&other, None), sec(&h256, None), sec(&h512, None)]).unwrap(),
        Some(1)
    );
    assert_eq!(v(&[]).unwrap(), None);
    // Expiration: still valid at the instant itself, skipped one second later.
    assert_eq!(v(&[sec(&h256, Some(1_000_000))]).unwrap(), Some(0));
    assert_eq!(v(&[sec(&h256, Some(999_999))]).unwrap(), None);
    assert_eq!(
        v(&[sec(&h256, Some(999_999)), sec(&h512, None)]).unwrap(),
        Some(1)
    );
    // A stored value of another length, or not base64, fails the whole check when reached...
    let short = STANDARD.encode([7u8; 16]);
    for bad in [short.as_str(), "not base64!", "QQ=", ""] {
        let e = v(&[sec(bad, None), sec(&h256, None)]).unwrap_err();
        assert!(matches!(e, Error::Malformed { .. }), "{bad}: {e}");
        // ...but not when a match comes first, nor when it has expired.
        assert_eq!(v(&[sec(&h256, None), sec(bad, None)]).unwrap(), Some(0));
        assert_eq!(v(&[sec(bad, Some(5)), sec(&h256, None)]).unwrap(), Some(1));
    }
    // IdentityServer compares the stored text with the canonical base64: a value that decodes
    // to the right hash but is spelled differently (whitespace, unused bits) does not match.
    let spaced = format!("{} {}", &h256[..10], &h256[10..]);
    assert_eq!(v(&[sec(&spaced, None)]).unwrap(), None);
    let mut bits = h256.clone().into_bytes();
    bits[42] = if bits[42] == b'A' { b'B' } else { b'A' };
    let odd_bits = String::from_utf8(bits).unwrap();
    assert_eq!(v(&[sec(&odd_bits, None)]).unwrap(), None);
    // Nothing presented.
    assert_eq!(
        secret::verify_secret("", &[sec(&h256, None)], now).unwrap(),
        None
    );
    assert_eq!(
        secret::verify_secret(" \t", &[sec(&h256, None)], now).unwrap(),
        None
    );

    // The C ABI: expirations with the sentinel, the index, malformed values.
    let values = [other.as_str(), h512.as_str(), h256.as_str()];
    let strs: Vec<reftoken_str> = values.iter().map(|v| rs(v)).collect();
    let call = |exps: &[i64], strs: &[reftoken_str]| {
        let (mut valid, mut index) = (true, 0usize);
        let st = unsafe {
            ffi::reftoken_secret_verify(
                c"right".as_ptr(),
                5,
                strs.as_ptr(),
                exps.as_ptr(),
                strs.len(),
                1_000_000,
                &mut valid,
                &mut index,
            )
        };
        (st, valid, index)
    };
    let none = ffi::REFTOKEN_NO_EXPIRATION;
    assert_eq!(
        call(&[none, none, none], &strs),
        (reftoken_status::REFTOKEN_OK, true, 1)
    );
    assert_eq!(
        call(&[none, 999_999, none], &strs),
        (reftoken_status::REFTOKEN_OK, true, 2)
    );
    assert_eq!(
        call(&[none, 999_999, 5], &strs),
        (reftoken_status::REFTOKEN_OK, false, 3)
    );
    let bad = [strs[0], rs(&short), strs[2]];
    assert_eq!(
        call(&[none, none, none], &bad),
        (reftoken_status::REFTOKEN_MALFORMED_INPUT, false, 3)
    );
    // NULL arrays, counts without arrays, too many; no expirations and no index wanted.
    let call_counted = |strs: *const reftoken_str, count: usize| {
        let mut valid = true;
        let st = unsafe {
            ffi::reftoken_secret_verify(
                c"right".as_ptr(),
                5,
                strs,
                std::ptr::null(),
                count,
                0,
                &mut valid,
                std::ptr::null_mut(),
            )
        };
        (st, valid)
    };
    assert_eq!(
        call_counted(std::ptr::null(), 1),
        (reftoken_status::REFTOKEN_NULL_ARGUMENT, false)
    );
    assert_eq!(
        call_counted(std::ptr::null(), 0),
        (reftoken_status::REFTOKEN_OK, false)
    );
    assert_eq!(
        call_counted(strs.as_ptr(), 2000).0,
        reftoken_status::REFTOKEN_INPUT_TOO_LARGE
    );
}

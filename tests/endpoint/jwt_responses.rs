//! RFC 9701 JWT responses: signed by RefToken with keys .NET made, verified by both; the keys
//! RefToken refuses; signing through the C ABI.

use std::sync::OnceLock;

use reftoken::jwt::{self, Algorithm, SigningKey, VerifyingKey};

use crate::common::{c_string, fixture_case, written};

use super::*;

const RESPONSE: &str = "{\"iss\":\"https://idsvr.test\",\"sub\":\"\\u00E9 < > & \\u0027\",\"active\":true,\"scope\":\"api1.read\"}";

/// The keys .NET made (`genkeys`: RSA and EC keys in PEM and JWK forms), once per test process.
fn dotnet_keys() -> &'static Value {
    static KEYS: OnceLock<Value> = OnceLock::new();
    KEYS.get_or_init(|| ENDPOINT_ORACLE.run_ok(&json!({"op": "genkeys"})))
}

/// A response signed by RefToken with one of .NET's keys, and what .NET said of it.
struct Signed {
    field: &'static str,
    alg: Algorithm,
    /// The algorithm of the key as loaded.
    key_alg: Algorithm,
    public_jwk: String,
    token: String,
    /// The token with a changed payload.
    bad: String,
    /// .NET's verification of the token with the key it made (PEM or JWK), of the token with
    /// the JWK RefToken publishes, and of the changed token with that JWK: (op, result).
    dotnet: Vec<(Value, Value)>,
}

/// The key forms and algorithms of the cases below.
const KEY_FORMS: [(&str, Algorithm); 9] = [
    ("rsa_pkcs1", Algorithm::RS256),
    ("rsa_pkcs8", Algorithm::RS256),
    ("rsa_jwk", Algorithm::RS256),
    ("rsa_pkcs1", Algorithm::PS256),
    ("rsa_pkcs8", Algorithm::PS256),
    ("rsa_jwk", Algorithm::PS256),
    ("ec_pkcs8", Algorithm::ES256),
    ("ec_sec1", Algorithm::ES256),
    ("ec_jwk", Algorithm::ES256),
];

/// Every key form signs [`RESPONSE`]; .NET verifies them all in one run. A key that does not
/// load fails its own case only.
fn signed_responses() -> &'static [Result<Signed, String>] {
    static SIGNED: OnceLock<Vec<Result<Signed, String>>> = OnceLock::new();
    SIGNED.get_or_init(|| {
        let keys = dotnet_keys();
        let now = Instant::from_unix_seconds(1_740_830_400);
        let mut signed: Vec<Result<Signed, String>> = KEY_FORMS
            .iter()
            .map(|&(field, alg)| {
                let key = if field.ends_with("_jwk") {
                    SigningKey::from_jwk(&keys[field].to_string(), Some(alg), Some("k1"))
                } else {
                    SigningKey::from_pem(s(&keys[field]).unwrap(), Some(alg), Some("k1"))
                }
                .map_err(|e| format!("{field} {alg:?}: {e}"))?;
                let token =
                    jwt::introspection_jwt(&key, "https://idsvr.test", "api1", now, RESPONSE)
                        .map_err(|e| e.to_string())?;
                let (_, p) = jwt_parts(&token);
                let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
                parts[1] = URL_SAFE_NO_PAD.encode(p.replace("api1\",\"token", "api2\",\"token"));
                let bad = parts.join(".");
                // .NET verifies with the key it made (PEM), with the JWK RefToken publishes,
                // and rejects the changed payload.
                let source = if field.ends_with("_jwk") {
                    json!({"jwk": keys[field]})
                } else {
                    json!({"pem": keys[field]})
                };
                let mut op = json!({"op": "verify", "jwt": token, "alg": alg.name()});
                op.as_object_mut()
                    .unwrap()
                    .extend(source.as_object().unwrap().clone());
                let public: Value = serde_json::from_str(&key.public_jwk()).unwrap();
                let ops = vec![
                    op,
                    json!({"op": "verify", "jwt": token, "alg": alg.name(), "jwk": public}),
                    json!({"op": "verify", "jwt": bad, "alg": alg.name(), "jwk": public}),
                ];
                Ok(Signed {
                    field,
                    alg,
                    key_alg: key.algorithm(),
                    public_jwk: key.public_jwk(),
                    token,
                    bad,
                    dotnet: ops.into_iter().map(|op| (op, Value::Null)).collect(),
                })
            })
            .collect();
        let ops: Vec<Value> = signed
            .iter()
            .flatten()
            .flat_map(|c| c.dotnet.iter().map(|(op, _)| op.clone()))
            .collect();
        let mut results = oracle(&ops).into_iter();
        for c in signed.iter_mut().flatten() {
            for (_, r) in &mut c.dotnet {
                *r = results.next().unwrap();
            }
        }
        signed
    })
}

/// The response signed with the key of `field` as `alg`: its header and payload, verified by
/// RefToken (the public key as JWK and as PEM) and by .NET, and a changed payload refused.
fn signs_and_verifies(field: &str, alg: Algorithm) {
    let c = signed_responses()
        .iter()
        .find(|c| c.as_ref().is_ok_and(|c| c.field == field && c.alg == alg))
        .unwrap_or_else(|| {
            let failed = signed_responses().iter().filter_map(|c| c.as_ref().err());
            panic!(
                "{field} {alg:?} not signed: {:?}",
                failed.collect::<Vec<_>>()
            )
        })
        .as_ref()
        .unwrap();
    assert_eq!(c.key_alg, alg);
    let (h, p) = jwt_parts(&c.token);
    assert_eq!(
        h,
        format!(
            "{{\"alg\":\"{}\",\"kid\":\"k1\",\"typ\":\"token-introspection+jwt\"}}",
            alg.name()
        )
    );
    // The response is re-written as System.Text.Json writes a JSON claim: `<`, `>`, `&`
    // escaped even where the input did not escape them.
    assert_eq!(
        p,
        "{\"iss\":\"https://idsvr.test\",\"iat\":1740830400,\"aud\":\"api1\",\"token_introspection\":\
             {\"iss\":\"https://idsvr.test\",\"sub\":\"\\u00E9 \\u003C \\u003E \\u0026 \\u0027\",\
             \"active\":true,\"scope\":\"api1.read\"}}"
    );
    // RefToken's verifier, with the public key as JWK and as PEM.
    let v = VerifyingKey::from_jwk(&c.public_jwk, None).unwrap();
    assert!(jwt::verify(&c.token, &v).unwrap().is_some(), "as JWK");
    let keys = dotnet_keys();
    let public_pem = s(&keys[if alg == Algorithm::ES256 {
        "ec_public"
    } else {
        "rsa_public"
    }])
    .unwrap();
    let v = VerifyingKey::from_pem(public_pem, Some(alg)).unwrap();
    assert!(jwt::verify(&c.token, &v).unwrap().is_some(), "as PEM");
    // A changed payload does not verify.
    assert!(jwt::verify(&c.bad, &v).unwrap().is_none());
    // .NET: the first two verify, the changed one does not.
    for ((op, r), want) in c.dotnet.iter().zip([true, true, false]) {
        assert_eq!(ok(op, r)["valid"], want, "{op}");
    }
}

/// One test per key form and algorithm; the keys RefToken refuses.
mod jwt_responses_verify_with_dotnet {
    use super::*;
    use Algorithm::*;

    test_cases!(signs_and_verifies {
        rsa_pkcs1_rs256: ("rsa_pkcs1", RS256),
        rsa_pkcs8_rs256: ("rsa_pkcs8", RS256),
        rsa_jwk_rs256: ("rsa_jwk", RS256),
        rsa_pkcs1_ps256: ("rsa_pkcs1", PS256),
        rsa_pkcs8_ps256: ("rsa_pkcs8", PS256),
        rsa_jwk_ps256: ("rsa_jwk", PS256),
        ec_pkcs8_es256: ("ec_pkcs8", ES256),
        ec_sec1_es256: ("ec_sec1", ES256),
        ec_jwk_es256: ("ec_jwk", ES256),
    });

    #[test]
    fn every_key_form_has_a_test() {
        assert_eq!(KEY_FORMS.len(), 9);
        let ops: usize = signed_responses()
            .iter()
            .flatten()
            .map(|c| c.dotnet.len())
            .sum();
        assert_eq!(ops, 27);
    }

    /// Keys RefToken refuses, and why.
    #[test]
    fn refused_keys() {
        let keys = dotnet_keys();
        let now = Instant::from_unix_seconds(1_740_830_400);
        let invalid = |r: Result<SigningKey, Error>| match r {
            Err(Error::InvalidArgument(m)) => m,
            other => panic!("expected InvalidArgument, got {other:?}"),
        };
        let pem = |f: &str| s(&keys[f]).unwrap().to_owned();
        invalid(SigningKey::from_pem(
            &pem("rsa_pkcs8"),
            Some(Algorithm::ES256),
            None,
        ));
        invalid(SigningKey::from_pem(
            &pem("ec_pkcs8"),
            Some(Algorithm::RS256),
            None,
        ));
        invalid(SigningKey::from_pem(
            &pem("rsa_encrypted_pkcs8"),
            None,
            None,
        ));
        invalid(SigningKey::from_pem(&pem("ec384_pkcs8"), None, None));
        invalid(SigningKey::from_pem(&pem("rsa_public"), None, None));
        assert!(SigningKey::from_pem(&pem("ec384_sec1"), None, None).is_err());
        let mut jwk = keys["ec_jwk"].clone();
        jwk["alg"] = json!("ES256");
        invalid(SigningKey::from_jwk(
            &jwk.to_string(),
            Some(Algorithm::RS256),
            None,
        ));
        assert_eq!(
            SigningKey::from_jwk(&jwk.to_string(), None, None)
                .unwrap()
                .algorithm(),
            Algorithm::ES256
        );
        jwk["x"] = keys["rsa_jwk"]["n"].clone();
        assert!(matches!(
            SigningKey::from_jwk(&jwk.to_string(), None, None),
            Err(Error::Malformed { .. })
        ));
        let mut rsa_jwk = keys["rsa_jwk"].clone();
        rsa_jwk["alg"] = json!("PS256");
        rsa_jwk["kid"] = json!("from-jwk");
        let k = SigningKey::from_jwk(&rsa_jwk.to_string(), None, None).unwrap();
        assert_eq!(
            (k.algorithm(), k.kid()),
            (Algorithm::PS256, Some("from-jwk"))
        );
        let k = SigningKey::from_jwk(&rsa_jwk.to_string(), None, Some("override")).unwrap();
        assert_eq!(k.kid(), Some("override"));
        // Without p and q the primes are recovered from n, e and d.
        for m in ["p", "q", "dp", "dq", "qi"] {
            rsa_jwk.as_object_mut().unwrap().remove(m);
        }
        assert!(SigningKey::from_jwk(&rsa_jwk.to_string(), None, None).is_ok());
        for bad in [
            "",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "not pem",
        ] {
            assert!(
                matches!(
                    SigningKey::from_pem(bad, None, None),
                    Err(Error::Malformed { .. })
                ),
                "{bad}"
            );
        }
        for bad in [
            "{}",
            "[]",
            "{\"kty\":\"oct\",\"k\":\"AA\"}",
            "{\"kty\":\"EC\",\"crv\":\"P-256\"}",
            "nope",
        ] {
            assert!(SigningKey::from_jwk(bad, None, None).is_err(), "{bad}");
        }
        let k = SigningKey::from_pem(&pem("ec_sec1"), None, None).unwrap();
        assert!(matches!(
            jwt::introspection_jwt(&k, "i", "a", now, "[1]"),
            Err(Error::Malformed { .. })
        ));
        let t = jwt::introspection_jwt(&k, "i", "a", now, " { \"active\" : false } ").unwrap();
        assert_eq!(
            jwt_parts(&t).0,
            "{\"alg\":\"ES256\",\"typ\":\"token-introspection+jwt\"}"
        );
        assert_eq!(
            jwt_parts(&t).1,
            "{\"iss\":\"i\",\"iat\":1740830400,\"aud\":\"a\",\"token_introspection\":{\"active\":false}}"
        );

        // A 1024-bit RSA key is refused.
        let small_op = json!({"op": "genkeys", "rsa_bits": 1024});
        let small = oracle(std::slice::from_ref(&small_op)).remove(0);
        let small = ok(&small_op, &small);
        assert!(
            invalid(SigningKey::from_pem(
                s(&small["rsa_pkcs8"]).unwrap(),
                None,
                None
            ))
            .contains("2048")
        );
        invalid(SigningKey::from_jwk(
            &small["rsa_jwk"].to_string(),
            None,
            None,
        ));
    }
}

#[test]
fn jwt_through_the_c_abi() {
    let (private_jwk, public_jwk) = fixture_signing_jwk();
    let cases = load("introspection.json");
    let case = fixture_case(&cases, "jwt/basic/api1");
    let plain = fixture_case(&cases, "basic/api1");
    let mut key = std::ptr::null_mut();
    let st = unsafe {
        ffi::reftoken_signing_key_new_from_jwk(
            private_jwk.as_ptr().cast(),
            private_jwk.len(),
            ffi::REFTOKEN_JWT_ALG_DEFAULT,
            std::ptr::null(),
            0,
            &mut key,
        )
    };
    assert_eq!(st, reftoken_status::REFTOKEN_OK);
    let body = s(&plain["body"]).unwrap();
    let (iss, aud) = ("https://idsvr.test", "api1");
    let sign = |now: i64, response: &str, cap: usize| {
        written(Some(cap), |out, cap, len| unsafe {
            ffi::reftoken_introspection_jwt(
                key,
                iss.as_ptr().cast(),
                iss.len(),
                aud.as_ptr().cast(),
                aud.len(),
                now,
                response.as_ptr().cast(),
                response.len(),
                out.cast(),
                cap,
                len,
            )
        })
    };
    let token = sign(1_740_830_400, body, 2048).string().unwrap();
    let (h, p) = jwt_parts(&token);
    assert_eq!(h, s(&case["jwt_header"]).unwrap());
    assert_eq!(p, s(&case["jwt_payload"]).unwrap());
    let v = VerifyingKey::from_jwk(&public_jwk.to_string(), None).unwrap();
    assert!(jwt::verify(&token, &v).unwrap().is_some());
    // Too small a buffer: the length needed.
    let w = sign(1_740_830_400, body, 10);
    assert_eq!(
        (w.status, w.len),
        (reftoken_status::REFTOKEN_BUFFER_TOO_SMALL, token.len())
    );
    // The published JWK is the fixture's JWKS entry.
    let jwk = c_string(|out, cap, len| unsafe {
        ffi::reftoken_signing_key_public_jwk(key, out, cap, len)
    })
    .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&jwk).unwrap(), public_jwk);
    assert_eq!(
        sign(0, "[]", 2048).status,
        reftoken_status::REFTOKEN_MALFORMED_INPUT
    );
    unsafe { ffi::reftoken_signing_key_free(key) };
    unsafe { ffi::reftoken_signing_key_free(std::ptr::null_mut()) };

    // PEM loading and its statuses.
    let pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    let mut key = std::ptr::dangling_mut();
    let st = unsafe {
        ffi::reftoken_signing_key_new_from_pem(
            pem.as_ptr().cast(),
            pem.len(),
            0,
            std::ptr::null(),
            0,
            &mut key,
        )
    };
    assert_eq!(
        (st, key.is_null()),
        (reftoken_status::REFTOKEN_INVALID_ARGUMENT, true)
    );
    let st = unsafe {
        ffi::reftoken_signing_key_new_from_pem(c"x".as_ptr(), 1, 9, std::ptr::null(), 0, &mut key)
    };
    assert_eq!(st, reftoken_status::REFTOKEN_INVALID_ARGUMENT);
    let st = unsafe {
        ffi::reftoken_signing_key_new_from_pem(c"x".as_ptr(), 1, 0, std::ptr::null(), 0, &mut key)
    };
    assert_eq!(st, reftoken_status::REFTOKEN_MALFORMED_INPUT);
    let st = unsafe {
        ffi::reftoken_signing_key_new_from_pem(
            c"x".as_ptr(),
            1,
            0,
            std::ptr::null(),
            0,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(st, reftoken_status::REFTOKEN_NULL_ARGUMENT);
}

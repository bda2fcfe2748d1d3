//! The introspection endpoint: shared secrets, Basic and form-body credentials, the form and
//! content type, the endpoint's answers and RFC 9701 JWT responses.
//!
//! Expected values come from elsewhere: .NET itself (tests/dotnet/EndpointOracle: SHA-256/512,
//! base64, UTF-8, `Uri.UnescapeDataString`, ASP.NET Core's form reader and media-type parser,
//! RSA/ECDsa signature verification), the stored secrets Duende computed
//! (tests/fixtures/duende/secrets.json) and the answers of a real Duende IdentityServer 7.4.8
//! (tests/fixtures/duende/introspection.json). The .NET tests are never skipped: without
//! `dotnet` on PATH they fail.

use std::collections::HashMap;
use std::ffi::c_char;
use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant as Clock;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reftoken::Error;
use reftoken::dataprotection::KeyRing;
use reftoken::endpoint::{
    self, ApiResource, AuthFailure, Client, CredentialSource, Decision, Form, FormContentType,
    HttpRequest, IntrospectionRequest, JwtSettings, ParamError, TokenTypeHint,
};
use reftoken::ffi::{self, reftoken_status, reftoken_str};
use reftoken::instant::Instant;
use reftoken::introspection::Options;
use reftoken::jwt::{self, Algorithm, SigningKey, VerifyingKey};
use reftoken::secret::{self, HashAlgorithm, StoredSecret};
use reftoken::validation::StoredGrant;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------------
// The .NET oracle

/// Builds tests/dotnet/EndpointOracle once per test process (under target/) and returns the
/// path of its DLL. Panics with instructions when the .NET SDK is missing.
fn oracle_dll() -> &'static Path {
    static DLL: OnceLock<PathBuf> = OnceLock::new();
    DLL.get_or_init(|| {
        let project = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/dotnet/EndpointOracle/EndpointOracle.csproj");
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .unwrap()
            .join("dotnet/EndpointOracle");
        let out = base.join("out");
        let output = Command::new("dotnet")
            .arg("build")
            .arg(&project)
            .args(["-c", "Release", "-nologo", "-v", "q", "--artifacts-path"])
            .arg(base.join("artifacts"))
            .arg("-o")
            .arg(&out)
            .envs([
                ("DOTNET_CLI_TELEMETRY_OPTOUT", "1"),
                ("DOTNET_NOLOGO", "1"),
                ("DOTNET_SKIP_FIRST_TIME_EXPERIENCE", "1"),
            ])
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run `dotnet` ({e}). tests/endpoint.rs checks RefToken against .NET \
                     itself and needs the .NET 10 SDK (with the ASP.NET Core shared framework) on \
                     PATH; these tests are never skipped. Install it from https://dot.net and run \
                     the tests again."
                )
            });
        assert!(
            output.status.success(),
            "`dotnet build {}` failed:\n{}\n{}",
            project.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let dll = out.join("EndpointOracle.dll");
        assert!(
            dll.is_file(),
            "the oracle build did not produce {}",
            dll.display()
        );
        dll
    })
}

/// Runs a batch of operations through .NET; one result per operation.
fn oracle(ops: &[Value]) -> Vec<Value> {
    let mut child = Command::new("dotnet")
        .arg(oracle_dll())
        .envs([("DOTNET_CLI_TELEMETRY_OPTOUT", "1"), ("DOTNET_NOLOGO", "1")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start `dotnet` to run the endpoint oracle");
    let input = serde_json::to_vec(ops).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the oracle failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Value> =
        serde_json::from_slice(&output.stdout).expect("oracle output is a JSON array");
    assert_eq!(results.len(), ops.len());
    results
}

fn ok<'a>(op: &Value, r: &'a Value) -> &'a Value {
    assert_eq!(r["ok"], true, ".NET failed {op}: {r}");
    r
}

fn s(v: &Value) -> Option<&str> {
    v.as_str()
}

// ---------------------------------------------------------------------------------------------
// Fixtures

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/duende")
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(name)).expect("fixture file");
    serde_json::from_str(&text).expect("fixture JSON")
}

/// The fixture host's configuration: API resources and clients with their stored secrets.
struct Config {
    apis: HashMap<String, ApiResource>,
    clients: HashMap<String, Client>,
    plaintext: HashMap<String, String>,
}

fn config() -> Config {
    let secrets = load("secrets.json");
    let mut apis = HashMap::new();
    let mut clients = HashMap::new();
    let mut plaintext = HashMap::new();
    let enabled: HashMap<&str, bool> = secrets["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (s(&c["client_id"]).unwrap(), c["enabled"].as_bool().unwrap()))
        .collect();
    for e in secrets["secrets"].as_array().unwrap() {
        let name = s(&e["name"]).unwrap().to_owned();
        let stored = vec![StoredSecret::new(s(&e["stored"]).unwrap().to_owned())];
        plaintext.insert(name.clone(), s(&e["secret"]).unwrap().to_owned());
        if s(&e["kind"]) == Some("api") {
            let scopes = secrets["api_scopes"][&name]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| s(x).unwrap().to_owned())
                .collect();
            apis.insert(
                name.clone(),
                ApiResource {
                    name,
                    enabled: true,
                    scopes,
                    secrets: stored,
                },
            );
        } else {
            clients.insert(
                name.clone(),
                Client {
                    enabled: enabled[name.as_str()],
                    client_id: name,
                    require_client_secret: true,
                    secrets: stored,
                },
            );
        }
    }
    Config {
        apis,
        clients,
        plaintext,
    }
}

fn rows() -> HashMap<(String, String), StoredGrant> {
    let grants = load("grants.json");
    let mut rows = HashMap::new();
    for g in grants.as_array().unwrap() {
        let db = if s(&g["db"]) == Some("persisted-grants.db") {
            "protected"
        } else {
            "unprotected"
        };
        rows.insert(
            (db.to_owned(), s(&g["key"]).unwrap().to_owned()),
            StoredGrant {
                grant_type: s(&g["type"]).unwrap().to_owned(),
                data: s(&g["data"]).unwrap().to_owned(),
            },
        );
    }
    rows
}

fn keyring() -> KeyRing {
    KeyRing::from_dir(&fixtures().join("keyring"))
        .expect("fixture key ring")
        .with_application_name(Some("reftoken-fixtures"))
}

/// The fixture host's ES256 key: the README says its private scalar is the SHA-256 of
/// `reftoken-fixtures ES256 signing key`; the JWKS gives x and y (which `from_jwk` checks).
fn fixture_signing_jwk() -> (String, Value) {
    let jwks = load("signing-jwks.json");
    let public = jwks["keys"][0].clone();
    let d = Sha256::digest(b"reftoken-fixtures ES256 signing key");
    let mut private = public.clone();
    private["d"] = json!(URL_SAFE_NO_PAD.encode(d));
    (private.to_string(), public)
}

fn jwt_parts(token: &str) -> (String, String) {
    let mut p = token.split('.');
    let h = URL_SAFE_NO_PAD.decode(p.next().unwrap()).unwrap();
    let b = URL_SAFE_NO_PAD.decode(p.next().unwrap()).unwrap();
    (String::from_utf8(h).unwrap(), String::from_utf8(b).unwrap())
}

// ---------------------------------------------------------------------------------------------
// Secrets

fn secret_inputs() -> Vec<String> {
    vec![
        "api1-secret".into(),
        "secret".into(),
        "".into(),
        " ".into(),
        " \t\r\n".into(),
        "\u{a0}\u{2003}\u{3000}".into(),
        " padded ".into(),
        "é".into(),
        "😀 emoji".into(),
        "日本語のシークレット".into(),
        "\u{0}nul".into(),
        "\u{feff}bom".into(),
        "a:b+c%20d".into(),
        "x".repeat(10_000),
        (0u8..128).map(char::from).collect(),
    ]
}

#[test]
fn secret_hashes_match_dotnet() {
    let inputs = secret_inputs();
    let mut ops = Vec::new();
    for i in &inputs {
        for alg in ["sha256", "sha512"] {
            ops.push(json!({"op": "hash", "alg": alg, "input": i}));
        }
    }
    let results = oracle(&ops);
    for (op, r) in ops.iter().zip(&results) {
        let want = s(&ok(op, r)["value"]).unwrap();
        let alg = if op["alg"] == "sha256" {
            HashAlgorithm::Sha256
        } else {
            HashAlgorithm::Sha512
        };
        let input = s(&op["input"]).unwrap();
        assert_eq!(secret::hash_secret(input, alg).as_str(), want, "{op}");
        // And through the C ABI.
        let mut buf = [0 as c_char; 89];
        let mut len = 0usize;
        let code = if alg == HashAlgorithm::Sha256 {
            ffi::REFTOKEN_SECRET_SHA256
        } else {
            ffi::REFTOKEN_SECRET_SHA512
        };
        let st = unsafe {
            ffi::reftoken_secret_hash(
                input.as_ptr().cast(),
                input.len(),
                code,
                buf.as_mut_ptr(),
                buf.len(),
                &mut len,
            )
        };
        assert_eq!(st, reftoken_status::REFTOKEN_OK);
        let got: Vec<u8> = buf[..len].iter().map(|&c| c as u8).collect();
        assert_eq!(got, want.as_bytes());
        assert_eq!(buf[len], 0, "NUL-terminated");
    }
    let mut len = 0usize;
    let st = unsafe {
        ffi::reftoken_secret_hash(c"s".as_ptr(), 1, 7, std::ptr::null_mut(), 0, &mut len)
    };
    assert_eq!(st, reftoken_status::REFTOKEN_INVALID_ARGUMENT);
    let st = unsafe {
        ffi::reftoken_secret_hash(
            c"s".as_ptr(),
            1,
            ffi::REFTOKEN_SECRET_SHA256,
            std::ptr::null_mut(),
            0,
            &mut len,
        )
    };
    assert_eq!((st, len), (reftoken_status::REFTOKEN_BUFFER_TOO_SMALL, 44));
}

#[test]
fn duende_stored_secrets_verify() {
    let secrets = load("secrets.json");
    let now = Instant::from_unix_seconds(1_740_830_400);
    let mut n = 0;
    for e in secrets["secrets"].as_array().unwrap() {
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
        let strs = [reftoken_str {
            ptr: stored.as_ptr().cast(),
            len: stored.len(),
        }];
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
        n += 1;
    }
    assert_eq!(n, 6);
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
    let strs: Vec<reftoken_str> = values
        .iter()
        .map(|v| reftoken_str {
            ptr: v.as_ptr().cast(),
            len: v.len(),
        })
        .collect();
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
    let bad = [
        strs[0],
        reftoken_str {
            ptr: short.as_ptr().cast(),
            len: short.len(),
        },
        strs[2],
    ];
    assert_eq!(
        call(&[none, none, none], &bad),
        (reftoken_status::REFTOKEN_MALFORMED_INPUT, false, 3)
    );
    let mut valid = true;
    let st = unsafe {
        ffi::reftoken_secret_verify(
            c"right".as_ptr(),
            5,
            std::ptr::null(),
            std::ptr::null(),
            1,
            0,
            &mut valid,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(
        (st, valid),
        (reftoken_status::REFTOKEN_NULL_ARGUMENT, false)
    );
    let st = unsafe {
        ffi::reftoken_secret_verify(
            c"right".as_ptr(),
            5,
            std::ptr::null(),
            std::ptr::null(),
            0,
            0,
            &mut valid,
            std::ptr::null_mut(),
        )
    };
    assert_eq!((st, valid), (reftoken_status::REFTOKEN_OK, false));
    let st = unsafe {
        ffi::reftoken_secret_verify(
            c"right".as_ptr(),
            5,
            strs.as_ptr(),
            std::ptr::null(),
            2000,
            0,
            &mut valid,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(st, reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
}

// ---------------------------------------------------------------------------------------------
// Timing

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn welch_t(a: &[f64], b: &[f64]) -> f64 {
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let var =
        |v: &[f64], m: f64| v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
    let (ma, mb) = (mean(a), mean(b));
    let se = (var(a, ma) / a.len() as f64 + var(b, mb) / b.len() as f64).sqrt();
    if se == 0.0 { 0.0 } else { (ma - mb) / se }
}

/// Times `a` and `b` in interleaved batches (alternating which goes first) and returns the
/// median batch times and Welch's t over the batch times.
fn compare_timing(
    mut a: impl FnMut(),
    mut b: impl FnMut(),
    batches: usize,
    per_batch: usize,
) -> (f64, f64, f64) {
    let mut ta = Vec::with_capacity(batches);
    let mut tb = Vec::with_capacity(batches);
    let time = |f: &mut dyn FnMut()| {
        let t0 = Clock::now();
        for _ in 0..per_batch {
            f();
        }
        t0.elapsed().as_secs_f64()
    };
    // Warm up.
    time(&mut a);
    time(&mut b);
    for i in 0..batches {
        if i % 2 == 0 {
            ta.push(time(&mut a));
            tb.push(time(&mut b));
        } else {
            tb.push(time(&mut b));
            ta.push(time(&mut a));
        }
    }
    let trim = |v: &mut Vec<f64>| {
        // Drop the slowest tenth: preemptions on a loaded machine.
        v.sort_by(f64::total_cmp);
        v.truncate(v.len() - v.len() / 10);
    };
    let (ma, mb) = (median(&ta), median(&tb));
    trim(&mut ta);
    trim(&mut tb);
    (ma, mb, welch_t(&ta, &tb))
}

fn assert_same_time(what: &str, (ma, mb, t): (f64, f64, f64)) {
    let rel = (ma - mb).abs() / ma.min(mb);
    eprintln!(
        "{what}: medians {ma:.3e} s / {mb:.3e} s per batch, relative difference {rel:.3}, Welch's t {t:.2}"
    );
    assert!(
        rel < 0.20 || t.abs() < 10.0,
        "{what}: first-byte difference takes {ma:.3e} s per batch, last-byte {mb:.3e} s \
         (relative difference {rel:.3}, Welch's t {t:.2})"
    );
}

#[test]
fn secret_comparison_takes_the_same_time_wherever_the_values_differ() {
    // The harness detects an early-exit comparison: slice equality (memcmp) over 16 KiB.
    let base = vec![0x5Au8; 16 * 1024];
    let mut first = base.clone();
    first[0] ^= 1;
    let mut last = base.clone();
    *last.last_mut().unwrap() ^= 1;
    let (ma, mb, t) = compare_timing(
        || {
            black_box(black_box(&base[..]) == black_box(&first[..]));
        },
        || {
            black_box(black_box(&base[..]) == black_box(&last[..]));
        },
        200,
        20,
    );
    assert!(
        mb > 3.0 * ma,
        "the timing harness should see memcmp exit early ({ma:.3e} vs {mb:.3e}, t {t:.1})"
    );

    // RefToken's comparison reads everything.
    assert_same_time(
        "constant_time_eq",
        compare_timing(
            || {
                black_box(secret::constant_time_eq(
                    black_box(&base),
                    black_box(&first),
                ));
            },
            || {
                black_box(secret::constant_time_eq(black_box(&base), black_box(&last)));
            },
            100,
            4,
        ),
    );

    // And so does secret verification: stored values that differ from the presented secret's
    // hash in their first or in their last base64 character.
    let now = Instant::from_unix_seconds(0);
    let right = secret::hash_secret("timing-secret", HashAlgorithm::Sha256).to_string();
    let flip = |i: usize| {
        let mut b = right.clone().into_bytes();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        vec![StoredSecret::new(String::from_utf8(b).unwrap())]
    };
    let (s_first, s_last) = (flip(0), flip(42));
    assert_eq!(
        secret::verify_secret("timing-secret", &s_first, now).unwrap(),
        None
    );
    assert_eq!(
        secret::verify_secret("timing-secret", &s_last, now).unwrap(),
        None
    );
    assert_same_time(
        "verify_secret",
        compare_timing(
            || {
                black_box(
                    secret::verify_secret(black_box("timing-secret"), &s_first, now).unwrap(),
                );
            },
            || {
                black_box(secret::verify_secret(black_box("timing-secret"), &s_last, now).unwrap());
            },
            300,
            10,
        ),
    );
}

// ---------------------------------------------------------------------------------------------
// Basic credentials

fn basic(pair: &[u8]) -> String {
    format!("Basic {}", STANDARD.encode(pair))
}

fn basic_headers() -> Vec<String> {
    let mut h = vec![
        basic(b"api1:api1-secret"),
        format!("basic {}", STANDARD.encode("api1:api1-secret")),
        format!("BASIC {}", STANDARD.encode("api1:api1-secret")),
        format!("Basic  {}", STANDARD.encode("api1:api1-secret")),
        format!("Basic\t{}", STANDARD.encode("api1:api1-secret")),
        format!("Bearer {}", STANDARD.encode("api1:api1-secret")),
        "Basic".into(),
        "Basic ".into(),
        "".into(),
        "   ".into(),
        // Form-url-encoding of id and secret.
        basic(b"my+client:my+secret"),
        basic(b"my%20client:my%20secret"),
        basic(b"a%3Ab:c%3Ad"),
        basic(b"a%2Bb:c%2bd"),
        basic(b"id:se:cr:et"),
        basic(b"%C3%A9t%C3%A9:%F0%9F%98%80"),
        basic("été:😀 raw".as_bytes()),
        basic(b"bad%FFescape:%E2%82%41%C0%AF%ED%A0%80"),
        basic(b"trunc%2:%4"),
        basic(b"pct%%41:%G0"),
        basic(b"nul:%00secret"),
        // Empty parts.
        basic(b"api1:"),
        basic(b"api1: "),
        basic(b"api1:%20"),
        basic(b"api1:+"),
        basic(b":secret"),
        basic(b" :secret"),
        basic(b"%20:secret"),
        basic(b"+:secret"),
        basic(b":"),
        basic(b"no-colon"),
        basic(b""),
        // Base64 as .NET reads it.
        "Basic !!!!".into(),
        "Basic YQ".into(),
        "Basic YQ=".into(),
        "Basic YQ=Q=".into(),
        "Basic YXBp MTph cGkx LXNl Y3Jl dA==".into(),
        "Basic YXBpMTphcGkxLXNlY3JldA==\r\n".into(),
        "Basic YXBpMTphcGkxLXNlY3JldB==".into(),
        "Basic YXBpMTphcGkxLXNlY3JldA".into(),
        "Basic YXBpMTphcGkxLXNlY3JldA=\u{a0}".into(),
        // Not UTF-8 (RefToken refuses; .NET decodes with U+FFFD).
        basic(b"\xff\xfe:x"),
        basic(b"id:\xc3"),
        // Lengths: 100 UTF-16 code units pass, 101 do not; astral characters count twice.
        basic(format!("{}:s", "i".repeat(100)).as_bytes()),
        basic(format!("{}:s", "i".repeat(101)).as_bytes()),
        basic(format!("{}:s", "é".repeat(100)).as_bytes()),
        basic(format!("{}:s", "😀".repeat(50)).as_bytes()),
        basic(format!("{}:s", "😀".repeat(51)).as_bytes()),
        basic(format!("id:{}", "s".repeat(100)).as_bytes()),
        basic(format!("id:{}", "s".repeat(101)).as_bytes()),
        basic(format!("id:{}", "%41".repeat(100)).as_bytes()),
        basic(format!("id:{}", "%41".repeat(101)).as_bytes()),
    ];
    // The header limit: 810 UTF-16 code units in all (base64 whitespace pads it out).
    let core = basic(b"api1:api1-secret");
    h.push(format!("{core}{}", " ".repeat(810 - core.len())));
    h.push(format!("{core}{}", " ".repeat(811 - core.len())));
    h
}

#[test]
fn basic_credentials_match_dotnet() {
    let headers = basic_headers();
    let ops: Vec<Value> = headers
        .iter()
        .map(|h| json!({"op": "basic", "header": h}))
        .collect();
    let results = oracle(&ops);
    let mut refused_non_utf8 = 0;
    for ((h, op), r) in headers.iter().zip(&ops).zip(&results) {
        let r = ok(op, r);
        let ours = endpoint::parse_basic(h);
        match (&r["parsed"], &ours) {
            (Value::Null, Err(e)) => {
                let reason = s(&r["reason"]).unwrap();
                let too_large = reason.ends_with("too_long");
                assert_eq!(
                    matches!(e, Error::TooLarge { .. }),
                    too_large,
                    "{h:?}: .NET says {reason}, RefToken {e}"
                );
            }
            (Value::Object(p), Ok(c)) => {
                assert_eq!(c.client_id, s(&p["id"]).unwrap(), "{h:?}");
                assert_eq!(
                    c.secret.as_deref().map(|x| x.as_str()),
                    s(&p["secret"]),
                    "{h:?}"
                );
                assert_eq!(c.secret.is_some(), p["type"] == "SharedSecret", "{h:?}");
                assert_eq!(c.source, CredentialSource::Basic);
            }
            (Value::Object(_), Err(e)) => {
                // The one deliberate difference: credentials that are not UTF-8.
                let pair = s(&r["pair"]).unwrap();
                assert!(
                    pair.contains('\u{fffd}'),
                    "{h:?}: .NET parsed it, RefToken: {e}"
                );
                assert!(e.to_string().contains("not UTF-8"), "{e}");
                refused_non_utf8 += 1;
            }
            (p, Ok(c)) => panic!("{h:?}: .NET found nothing ({p}), RefToken found {c:?}"),
            (p, Err(e)) => panic!("{h:?}: unexpected oracle answer {p} (RefToken: {e})"),
        }
    }
    assert_eq!(refused_non_utf8, 2);

    // The C ABI writes both halves, or neither.
    let h = basic(b"my+client:s%3Acret");
    let (mut id, mut sec) = ([0 as c_char; 16], [0 as c_char; 16]);
    let (mut id_len, mut sec_len, mut has) = (0usize, 0usize, false);
    let st = unsafe {
        ffi::reftoken_basic_parse(
            h.as_ptr().cast(),
            h.len(),
            id.as_mut_ptr(),
            16,
            &mut id_len,
            sec.as_mut_ptr(),
            16,
            &mut sec_len,
            &mut has,
        )
    };
    assert_eq!(
        (st, id_len, sec_len, has),
        (reftoken_status::REFTOKEN_OK, 9, 6, true)
    );
    let text = |b: &[c_char], n: usize| {
        String::from_utf8(b[..n].iter().map(|&c| c as u8).collect()).unwrap()
    };
    assert_eq!(
        (text(&id, 9), text(&sec, 6)),
        ("my client".into(), "s:cret".into())
    );
    assert_eq!((id[9], sec[6]), (0, 0), "NUL-terminated");
    let st = unsafe {
        ffi::reftoken_basic_parse(
            h.as_ptr().cast(),
            h.len(),
            id.as_mut_ptr(),
            16,
            &mut id_len,
            sec.as_mut_ptr(),
            3,
            &mut sec_len,
            &mut has,
        )
    };
    assert_eq!(
        (st, id_len, sec_len, has),
        (reftoken_status::REFTOKEN_BUFFER_TOO_SMALL, 9, 6, false)
    );
    let h = basic(b"public:");
    let st = unsafe {
        ffi::reftoken_basic_parse(
            h.as_ptr().cast(),
            h.len(),
            id.as_mut_ptr(),
            16,
            &mut id_len,
            std::ptr::null_mut(),
            0,
            &mut sec_len,
            &mut has,
        )
    };
    assert_eq!(
        (st, id_len, sec_len, has),
        (reftoken_status::REFTOKEN_OK, 6, 0, false)
    );
    for (h, want) in [
        (
            basic(b"no-colon"),
            reftoken_status::REFTOKEN_MALFORMED_INPUT,
        ),
        (
            basic(format!("id:{}", "s".repeat(101)).as_bytes()),
            reftoken_status::REFTOKEN_INPUT_TOO_LARGE,
        ),
        (
            "Bearer x".to_owned(),
            reftoken_status::REFTOKEN_MALFORMED_INPUT,
        ),
    ] {
        let st = unsafe {
            ffi::reftoken_basic_parse(
                h.as_ptr().cast(),
                h.len(),
                id.as_mut_ptr(),
                16,
                &mut id_len,
                sec.as_mut_ptr(),
                16,
                &mut sec_len,
                &mut has,
            )
        };
        assert_eq!(st, want, "{h}");
    }
    let st = unsafe {
        ffi::reftoken_basic_parse(
            h.as_ptr().cast(),
            h.len(),
            id.as_mut_ptr(),
            16,
            std::ptr::null_mut(),
            sec.as_mut_ptr(),
            16,
            &mut sec_len,
            &mut has,
        )
    };
    assert_eq!(st, reftoken_status::REFTOKEN_NULL_ARGUMENT);
}

// ---------------------------------------------------------------------------------------------
// Form bodies and content types

fn form_bodies() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        &b"token=abc"[..],
        b"token=abc&token=def",
        b"token=abc&token=",
        b"token=&token=abc",
        b"token=%20&token=abc",
        b"Token=abc&TOKEN=def",
        b"a&token=x",
        b"token",
        b"token&token=y",
        b"=x&token=y",
        b"&&token=y&&",
        b"&",
        b"=",
        b"==",
        b"token==x",
        b"token=a=b",
        b"token=a+b%2Bc",
        b"token=%FF%41",
        b"token=\xff\xfeA",
        b"token=\xe2\x82&x=1",
        b"token=%E2%82%AC%e2%82%ac",
        b"token=%E2%82%E2%82%AC",
        b"token=%C0%80%ED%A0%80%F4%90%80%80",
        b"token=%F0%9F%98%80",
        b"token=a%&b=%2&c=%%41&d=%G1",
        b"token=%00",
        b"x=%00&token=a",
        b"token=a\x00b",
        b"token=%01%1F%7F",
        b"token=%0D%0A",
        b"token=\t",
        b"token=%C2%A0",
        b"token=+",
        b"token=++x++",
        b"token+=abc",
        b"%74oken=abc",
        b"clIent_id=x",
        b"cl\xc4\xb1ent_id=x",
        b"client_\xc5\xbfecret=x&client_id=y",
        b"client_id=&client_id=api1&client_secret=s",
        b"client_id=api1&client_secret=&client_secret=s",
        b"client_id=+&client_secret=s",
        b"client_id=a%2Bb&client_secret=c+d",
        b"token=x&token_type_hint=access_token",
        b"token=x&token_type_hint=refresh_token",
        b"token=x&token_type_hint=ACCESS_TOKEN",
        b"token=x&token_type_hint=bogus",
        b"token=x&token_type_hint=access_token&token_type_hint=refresh_token",
        b"token=x&token_type_hint=&token_type_hint=refresh_token",
        b"token_type_hint=a&token_type_hint=b",
        b"",
    ]
    .iter()
    .map(|b| b.to_vec())
    .collect();
    v.push(format!("client_id={}&client_secret=s", "i".repeat(101)).into_bytes());
    v.push(format!("client_id=id&client_secret={}", "😀".repeat(51)).into_bytes());
    v.push(format!("{}=v", "k".repeat(2048)).into_bytes());
    v.push(format!("{}=v", "k".repeat(2049)).into_bytes());
    v.push(format!("{}=v", "%41".repeat(700)).into_bytes());
    v.push(vec!["a=b"; 1024].join("&").into_bytes());
    v.push(vec!["a=b"; 1025].join("&").into_bytes());
    v.push(format!("token={}", "A".repeat(60_000)).into_bytes());
    v
}

/// The form grouped by key as ASP.NET Core's collection does (these bodies use ASCII keys,
/// or non-ASCII keys that no other key folds to).
fn grouped(form: &Form) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (k, v) in form.pairs() {
        match out.iter_mut().find(|(key, _)| key.eq_ignore_ascii_case(k)) {
            Some((_, vals)) => vals.push(v.to_owned()),
            None => out.push((k.to_owned(), vec![v.to_owned()])),
        }
    }
    out
}

#[test]
fn form_bodies_match_aspnetcore() {
    let bodies = form_bodies();
    let ops: Vec<Value> = bodies
        .iter()
        .map(|b| json!({"op": "form", "body_b64": STANDARD.encode(b)}))
        .collect();
    let results = oracle(&ops);
    let (mut compared, mut repeated) = (0, 0);
    for (body, r) in bodies.iter().zip(&results) {
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        let ours = Form::parse(body);
        if r["ok"] == false {
            let e = ours.expect_err(&format!(
                "{shown:?}: ASP.NET Core fails ({r}), RefToken reads it"
            ));
            let net = s(&r["error"]).unwrap();
            assert!(
                net.contains("InvalidDataException"),
                "{shown:?}: {net} / {e}"
            );
            continue;
        }
        let form = ours.unwrap_or_else(|e| panic!("{shown:?}: {e}"));
        let want: Vec<(String, Vec<String>)> = serde_json::from_value(r["fields"].clone()).unwrap();
        assert_eq!(grouped(&form), want, "{shown:?}");
        assert_eq!(form.first("client_id"), s(&r["client_id"]), "{shown:?}");
        assert_eq!(
            form.first("client_secret"),
            s(&r["client_secret"]),
            "{shown:?}"
        );
        let params = endpoint::introspection_params(&form);
        let non_blank = |name: &str| -> Vec<&str> {
            form.values(name)
                .filter(|v| !v.chars().all(char::is_whitespace))
                .collect()
        };
        match (&params, s(&r["token"])) {
            (Ok(p), Some(t)) => assert_eq!(p.token.as_str(), t, "{shown:?}"),
            (Err(ParamError::MissingToken), None) => {}
            (Err(ParamError::Repeated(name)), _) => {
                // RefToken refuses what .NET joins with ",".
                let values = non_blank(name);
                assert!(values.len() > 1, "{shown:?}");
                assert_eq!(s(&r[*name]), Some(values.join(",").as_str()), "{shown:?}");
                repeated += 1;
            }
            (p, t) => panic!("{shown:?}: RefToken {p:?}, .NET token {t:?}"),
        }
        if let Ok(p) = &params {
            let hint = s(&r["token_type_hint"]);
            let want = match hint {
                Some("access_token") => Some(TokenTypeHint::AccessToken),
                Some("refresh_token") => Some(TokenTypeHint::RefreshToken),
                _ => None,
            };
            assert_eq!(p.token_type_hint, want, "{shown:?}");
        }
        compared += 1;
    }
    assert!(
        compared >= 50 && repeated >= 3,
        "compared {compared}, repeated {repeated}"
    );
}

#[test]
fn content_types_match_aspnetcore() {
    let cts = [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
        "application/x-www-form-urlencoded; charset=UTF8",
        "Application/X-WWW-Form-URLencoded ; charset=\"UTF-8\"",
        " application/x-www-form-urlencoded ",
        "\tapplication/x-www-form-urlencoded",
        "application /x-www-form-urlencoded",
        "application/ x-www-form-urlencoded",
        "application/x-www-form-urlencoded;",
        "application/x-www-form-urlencoded;;",
        "application/x-www-form-urlencoded; charset",
        "application/x-www-form-urlencoded; charset=",
        "application/x-www-form-urlencoded; charset=\"\"",
        "application/x-www-form-urlencoded ;charset=utf-8 ; ",
        "application/x-www-form-urlencoded;=x",
        "application/x-www-form-urlencoded; a=\"b\\\"c\"",
        "application/x-www-form-urlencoded; a=\"unterminated",
        "application/x-www-form-urlencoded\r\n ; a=b",
        "application/x-www-form-urlencoded;a=b;a=c",
        "application/x-www-form-urlencoded; a = b",
        "application/x-www-form-urlencoded; a=b c",
        "application/x-www-form-urlencoded; a=b,c",
        "application/x-www-form-urlencoded; a=é",
        "application/x-www-form-urlencoded, text/plain",
        "application/x-www-form-urlencoded/x",
        "application/x-www-form-urlencoded\u{a0}",
        "application/x-www-form-urlencoded\tx",
        "application/x-www-form-urlencoded; charset=iso-8859-1",
        "application/x-www-form-urlencoded; charset=\"us-ascii\"",
        "application/json",
        "multipart/form-data; boundary=x",
        "application/*",
        "",
    ];
    let ops: Vec<Value> = cts
        .iter()
        .map(|c| json!({"op": "media_type", "content_type": c}))
        .collect();
    let results = oracle(&ops);
    for ((ct, op), r) in cts.iter().zip(&ops).zip(&results) {
        let r = ok(op, r);
        let ours = endpoint::form_content_type(ct);
        assert_eq!(
            ours != FormContentType::NotForm,
            r["is_form"] == true,
            "{ct:?}: {r}"
        );
        if ours == FormContentType::OtherCharset {
            let charset = s(&r["charset"])
                .unwrap()
                .trim_matches('"')
                .to_ascii_lowercase();
            assert!(charset != "utf-8" && !charset.is_empty(), "{ct:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The endpoint against Duende's answers

struct Answer {
    response: endpoint::HttpResponse,
    refresh_hint: Option<Option<TokenTypeHint>>,
}

fn run_fixture_case(
    c: &Value,
    cfg: &Config,
    rows: &HashMap<(String, String), StoredGrant>,
    ring: &KeyRing,
    key: &SigningKey,
) -> Answer {
    let req = &c["request"];
    let request = HttpRequest {
        method: s(&req["method"]).unwrap(),
        content_type: s(&req["content_type"]),
        authorization: s(&req["authorization"]),
        accept: s(&req["accept"]),
        body: s(&req["form"]).unwrap().as_bytes(),
    };
    let now = Instant::from_unix_seconds(c["now_unix"].as_i64().unwrap());
    let db = s(&c["db"]).unwrap().to_owned();
    let enabled = |id: &str| cfg.clients.get(id).is_some_and(|c| c.enabled);
    let opts = Options {
        client_enabled: Some(&enabled),
        ..Options::default()
    };
    let mut refresh_hint = None;
    let introspect = |p: &endpoint::IntrospectionParams, caller: &endpoint::AuthenticatedCaller| {
        if s(&c["grant_type"]) == Some("refresh_token") {
            // Refresh-token introspection is not in the core: check that the request got this
            // far with the right caller and hint, and hand back Duende's body.
            assert_eq!(caller.name(), s(&c["caller"]["id"]).unwrap());
            assert_eq!(p.token.as_str(), s(&c["handle"]).unwrap());
            refresh_hint = Some(p.token_type_hint);
            return Ok(s(&c["body"]).unwrap().to_owned());
        }
        let lookup = |k: &str| Ok(rows.get(&(db.clone(), k.to_owned())).cloned());
        endpoint::reference_token_introspector(
            lookup,
            Some(ring as &dyn reftoken::validation::Unprotect),
            &opts,
            now,
        )(p, caller)
    };
    let response = endpoint::process(
        &request,
        now,
        |name| cfg.apis.get(name).cloned(),
        |id| cfg.clients.get(id).cloned(),
        introspect,
        Some(&JwtSettings {
            key,
            issuer: "https://idsvr.test",
        }),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", c["name"]));
    Answer {
        response,
        refresh_hint,
    }
}

#[test]
fn endpoint_answers_as_duende_does() {
    let cfg = config();
    let rows = rows();
    let ring = keyring();
    let (private_jwk, public_jwk) = fixture_signing_jwk();
    let key = SigningKey::from_jwk(&private_jwk, None, None).expect("the fixture key");
    assert_eq!(key.kid(), Some("reftoken-fixtures-es256"));
    assert_eq!(key.algorithm(), Algorithm::ES256);
    let verifier = VerifyingKey::from_jwk(&public_jwk.to_string(), None).unwrap();
    let cases = load("introspection.json");
    let mut by_prefix: HashMap<&str, usize> = HashMap::new();
    let mut jwts = Vec::new();
    let mut refresh = 0;
    for c in cases.as_array().unwrap() {
        let name = s(&c["name"]).unwrap();
        let prefix = name.split('/').next().unwrap();
        if !["auth", "error", "hint", "jwt"].contains(&prefix) {
            continue;
        }
        let a = run_fixture_case(c, &cfg, &rows, &ring, &key);
        let r = &a.response;
        assert_eq!(i64::from(r.status), c["status"].as_i64().unwrap(), "{name}");
        assert_eq!(r.content_type, s(&c["content_type"]), "{name}");
        assert_eq!(
            r.headers().find(|h| h.0 == "Cache-Control").map(|h| h.1),
            s(&c["cache_control"]),
            "{name}"
        );
        assert_eq!(
            r.headers().any(|h| h == ("Pragma", "no-cache")),
            r.no_store,
            "{name}"
        );
        if let Some(hint) = a.refresh_hint {
            let form = s(&c["request"]["form"]).unwrap();
            let want = if form.contains("token_type_hint=refresh_token") {
                Some(TokenTypeHint::RefreshToken)
            } else {
                Some(TokenTypeHint::AccessToken)
            };
            assert_eq!(hint, want, "{name}");
            refresh += 1;
        }
        if r.content_type == Some(endpoint::JWT_CONTENT_TYPE) {
            // Header and payload exactly as Duende wrote them; ES256 signatures are random.
            let (h, p) = jwt_parts(&r.body);
            assert_eq!(h, s(&c["jwt_header"]).unwrap(), "{name}");
            assert_eq!(p, s(&c["jwt_payload"]).unwrap(), "{name}");
            let ours = jwt::verify(&r.body, &verifier)
                .unwrap()
                .expect("our signature verifies");
            assert_eq!((ours.header, ours.payload), (h, p));
            // Duende's own JWT verifies with RefToken's verifier too.
            let theirs = s(&c["body"]).unwrap();
            let v = jwt::verify(theirs, &verifier)
                .unwrap()
                .expect("Duende's signature verifies");
            assert_eq!(v.payload, s(&c["jwt_payload"]).unwrap());
            jwts.push(r.body.clone());
            jwts.push(theirs.to_owned());
        } else {
            assert_eq!(r.body, s(&c["body"]).unwrap(), "{name}");
        }
        *by_prefix.entry(prefix).or_default() += 1;
    }
    assert!(
        by_prefix["auth"] >= 4
            && by_prefix["error"] >= 9
            && by_prefix["hint"] >= 6
            && by_prefix["jwt"] >= 5,
        "{by_prefix:?}"
    );
    assert_eq!(refresh, 2);
    assert_eq!(jwts.len(), 8);
    // .NET's ECDsa agrees on every signature, Duende's and RefToken's.
    let ops: Vec<Value> = jwts
        .iter()
        .map(|t| json!({"op": "verify", "jwt": t, "alg": "ES256", "jwk": public_jwk}))
        .collect();
    for (op, r) in ops.iter().zip(oracle(&ops)) {
        assert_eq!(ok(op, &r)["valid"], true, "{op}");
    }
}

fn form_request(body: &[u8], authorization: Option<&str>) -> IntrospectionRequest {
    IntrospectionRequest::parse(&HttpRequest {
        method: "POST",
        content_type: Some("application/x-www-form-urlencoded"),
        authorization,
        accept: None,
        body,
    })
}

fn decided_status(r: &IntrospectionRequest, authenticated: bool) -> (u16, String) {
    match r.decide(authenticated) {
        Decision::Respond(resp) => (resp.status, resp.body),
        Decision::Introspect { params, .. } => (200, params.token.to_string()),
    }
}

#[test]
fn endpoint_decisions() {
    let api1 = basic(b"api1:api1-secret");
    // Repeated parameters: refused after authentication (Duende joins them).
    let r = form_request(b"token=a&token=b", Some(&api1));
    assert_eq!(decided_status(&r, false).0, 401);
    assert_eq!(
        decided_status(&r, true),
        (400, "{\"error\":\"invalid_request\",\"error_description\":\"the token parameter is repeated\"}".into())
    );
    let r = form_request(
        b"token=a&token_type_hint=access_token&token_type_hint=x",
        Some(&api1),
    );
    assert_eq!(decided_status(&r, true).0, 400);
    let r = form_request(b"token=a&token=+&token=", Some(&api1));
    assert_eq!(decided_status(&r, true), (200, "a".into()));
    // Missing token after authentication; 401 first.
    let r = form_request(b"token=%20", Some(&api1));
    assert_eq!(decided_status(&r, false).0, 401);
    assert_eq!(
        decided_status(&r, true),
        (400, "{\"error\":\"missing_token\"}".into())
    );
    // An unreadable form: with Basic credentials IdentityServer reads it after authenticating
    // the caller; without, while parsing the post body (before).
    let r = form_request(b"token=%00", Some(&api1));
    assert_eq!(r.rejection(), None);
    assert_eq!(decided_status(&r, false), (401, String::new()));
    assert_eq!(decided_status(&r, true), (400, String::new()));
    let r = form_request(b"token=%00&client_id=api1&client_secret=api1-secret", None);
    assert_eq!(r.rejection(), Some(endpoint::Rejection::UnreadableForm));
    assert_eq!(decided_status(&r, true), (400, String::new()));
    let r = form_request(&vec![b'a'; endpoint::MAX_FORM_LEN + 1], None);
    assert!(matches!(r.form_error(), Some(Error::TooLarge { .. })));
    // Method and content type come first.
    for (method, ct, want) in [
        ("GET", Some("application/x-www-form-urlencoded"), 405),
        ("post", Some("application/x-www-form-urlencoded"), 200),
        ("POST", None, 415),
        ("POST", Some("text/plain"), 415),
        (
            "POST",
            Some("application/x-www-form-urlencoded; charset=iso-8859-1"),
            415,
        ),
        (
            "POST",
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            200,
        ),
    ] {
        let r = IntrospectionRequest::parse(&HttpRequest {
            method,
            content_type: ct,
            authorization: None,
            accept: None,
            body: b"token=t",
        });
        assert_eq!(decided_status(&r, true).0, want, "{method} {ct:?}");
    }
    // Credentials: Basic with a secret wins; a Basic id without one yields to the body's;
    // a broken header does not stop the body's.
    let c = |r: &IntrospectionRequest| {
        r.credentials().map(|c| {
            (
                c.client_id.clone(),
                c.secret.as_ref().map(|s| s.to_string()),
                c.source,
            )
        })
    };
    let body = b"token=t&client_id=c2&client_secret=s2";
    assert_eq!(
        c(&form_request(body, Some(&basic(b"c1:s1")))),
        Some(("c1".into(), Some("s1".into()), CredentialSource::Basic))
    );
    assert_eq!(
        c(&form_request(body, Some(&basic(b"c1:")))),
        Some(("c2".into(), Some("s2".into()), CredentialSource::PostBody))
    );
    assert_eq!(
        c(&form_request(b"token=t", Some(&basic(b"c1:")))),
        Some(("c1".into(), None, CredentialSource::Basic))
    );
    let r = form_request(body, Some("Basic !!"));
    assert!(r.basic_error().is_some());
    assert_eq!(
        c(&r),
        Some(("c2".into(), Some("s2".into()), CredentialSource::PostBody))
    );
    let long = format!("token=t&client_id={}&client_secret=s", "x".repeat(101));
    let r = form_request(long.as_bytes(), Some(&basic(b"c1:")));
    assert!(matches!(r.post_body_error(), Some(Error::TooLarge { .. })));
    assert_eq!(c(&r), Some(("c1".into(), None, CredentialSource::Basic)));
    assert_eq!(
        c(&form_request(b"token=t&client_id=c3", None)),
        Some(("c3".into(), None, CredentialSource::PostBody))
    );
    assert_eq!(c(&form_request(b"token=t", None)), None);
    // Accept: exactly the RFC 9701 type, ignoring case.
    for (accept, jwt) in [
        ("application/token-introspection+jwt", true),
        ("APPLICATION/Token-Introspection+JWT", true),
        (
            "application/token-introspection+jwt, application/json",
            false,
        ),
        (" application/token-introspection+jwt", false),
        ("application/token-introspection+jwt;q=1", false),
        ("application/json", false),
    ] {
        let r = IntrospectionRequest::parse(&HttpRequest {
            method: "POST",
            content_type: Some("application/x-www-form-urlencoded"),
            authorization: None,
            accept: Some(accept),
            body: b"token=t",
        });
        assert_eq!(r.jwt_requested(), jwt, "{accept}");
    }
}

#[test]
fn caller_authentication() {
    let now = Instant::from_unix_seconds(1_000);
    let stored = |secret: &str, exp: Option<i64>| StoredSecret {
        value: secret::hash_secret(secret, HashAlgorithm::Sha256).to_string(),
        expiration: exp.map(Instant::from_unix_seconds),
    };
    let api = |enabled: bool, exp: Option<i64>| ApiResource {
        name: "shared".into(),
        enabled,
        scopes: vec!["s".into()],
        secrets: vec![stored("api-secret", exp)],
    };
    let client = |enabled: bool, require: bool| Client {
        client_id: "shared".into(),
        enabled,
        require_client_secret: require,
        secrets: vec![stored("client-secret", None)],
    };
    let creds = |secret: Option<&str>| endpoint::Credentials {
        client_id: "shared".into(),
        secret: secret.map(|s| zeroize::Zeroizing::new(s.to_owned())),
        source: CredentialSource::Basic,
    };
    let auth = |c: Option<endpoint::Credentials>, a: Option<ApiResource>, cl: Option<Client>| {
        endpoint::authenticate(c.as_ref(), |_| a, |_| cl, now).map(|c| match c {
            endpoint::AuthenticatedCaller::Api(_) => "api",
            endpoint::AuthenticatedCaller::Client(_) => "client",
        })
    };
    assert_eq!(
        auth(None, Some(api(true, None)), None),
        Err(AuthFailure::NoCredentials)
    );
    assert_eq!(
        auth(
            Some(creds(Some("api-secret"))),
            Some(api(true, None)),
            Some(client(true, true))
        ),
        Ok("api")
    );
    assert_eq!(
        auth(
            Some(creds(Some("client-secret"))),
            Some(api(true, None)),
            Some(client(true, true))
        ),
        Ok("client")
    );
    assert_eq!(
        auth(
            Some(creds(Some("api-secret"))),
            Some(api(false, None)),
            None
        ),
        Err(AuthFailure::Disabled)
    );
    assert_eq!(
        auth(
            Some(creds(Some("api-secret"))),
            Some(api(true, Some(999))),
            None
        ),
        Err(AuthFailure::WrongSecret)
    );
    assert_eq!(
        auth(
            Some(creds(Some("api-secret"))),
            Some(api(true, Some(1000))),
            None
        ),
        Ok("api")
    );
    assert_eq!(
        auth(Some(creds(None)), Some(api(true, None)), None),
        Err(AuthFailure::MissingSecret)
    );
    assert_eq!(
        auth(Some(creds(Some("x"))), None, None),
        Err(AuthFailure::UnknownCaller)
    );
    assert_eq!(
        auth(
            Some(creds(Some("client-secret"))),
            None,
            Some(client(false, true))
        ),
        Err(AuthFailure::Disabled)
    );
    assert_eq!(
        auth(Some(creds(Some("wrong"))), None, Some(client(true, true))),
        Err(AuthFailure::WrongSecret)
    );
    // A client that needs no secret is accepted with any secret or none.
    assert_eq!(
        auth(Some(creds(None)), None, Some(client(true, false))),
        Ok("client")
    );
    assert_eq!(
        auth(Some(creds(Some("wrong"))), None, Some(client(true, false))),
        Ok("client")
    );
    let mut broken = client(true, true);
    broken.secrets.insert(0, StoredSecret::new("QQ==".into()));
    assert_eq!(
        auth(Some(creds(Some("client-secret"))), None, Some(broken)),
        Err(AuthFailure::MalformedStoredSecret)
    );
}

// ---------------------------------------------------------------------------------------------
// JWT responses

const RESPONSE: &str = "{\"iss\":\"https://idsvr.test\",\"sub\":\"\\u00E9 < > & \\u0027\",\"active\":true,\"scope\":\"api1.read\"}";

#[test]
fn jwt_responses_verify_with_dotnet() {
    let gen_op = json!({"op": "genkeys"});
    let keys = oracle(std::slice::from_ref(&gen_op)).remove(0);
    let keys = ok(&gen_op, &keys).clone();
    let now = Instant::from_unix_seconds(1_740_830_400);
    let mut ops = Vec::new();
    let mut tampered = Vec::new();
    let cases: Vec<(&str, Algorithm, bool)> = vec![
        ("rsa_pkcs1", Algorithm::RS256, false),
        ("rsa_pkcs8", Algorithm::RS256, false),
        ("rsa_jwk", Algorithm::RS256, true),
        ("rsa_pkcs1", Algorithm::PS256, false),
        ("rsa_pkcs8", Algorithm::PS256, false),
        ("rsa_jwk", Algorithm::PS256, true),
        ("ec_pkcs8", Algorithm::ES256, false),
        ("ec_sec1", Algorithm::ES256, false),
        ("ec_jwk", Algorithm::ES256, true),
    ];
    for (field, alg, is_jwk) in cases {
        let key = if is_jwk {
            SigningKey::from_jwk(&keys[field].to_string(), Some(alg), Some("k1"))
        } else {
            SigningKey::from_pem(s(&keys[field]).unwrap(), Some(alg), Some("k1"))
        }
        .unwrap_or_else(|e| panic!("{field} {alg:?}: {e}"));
        assert_eq!(key.algorithm(), alg);
        let token =
            jwt::introspection_jwt(&key, "https://idsvr.test", "api1", now, RESPONSE).unwrap();
        let (h, p) = jwt_parts(&token);
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
        let v = VerifyingKey::from_jwk(&key.public_jwk(), None).unwrap();
        assert!(
            jwt::verify(&token, &v).unwrap().is_some(),
            "{field} {alg:?}"
        );
        let public_pem = s(&keys[if alg == Algorithm::ES256 {
            "ec_public"
        } else {
            "rsa_public"
        }])
        .unwrap();
        let v = VerifyingKey::from_pem(public_pem, Some(alg)).unwrap();
        assert!(
            jwt::verify(&token, &v).unwrap().is_some(),
            "{field} {alg:?}"
        );
        // A changed payload does not verify.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(p.replace("api1\",\"token", "api2\",\"token"));
        let bad = parts.join(".");
        assert!(jwt::verify(&bad, &v).unwrap().is_none());
        // .NET verifies with the key it made (PEM), with the JWK RefToken publishes, and
        // rejects the changed payload.
        let source = if is_jwk {
            json!({"jwk": keys[field]})
        } else {
            json!({"pem": keys[field]})
        };
        let mut op = json!({"op": "verify", "jwt": token, "alg": alg.name()});
        op.as_object_mut()
            .unwrap()
            .extend(source.as_object().unwrap().clone());
        ops.push(op);
        let public: Value = serde_json::from_str(&key.public_jwk()).unwrap();
        ops.push(json!({"op": "verify", "jwt": token, "alg": alg.name(), "jwk": public}));
        tampered.push(ops.len());
        ops.push(json!({"op": "verify", "jwt": bad, "alg": alg.name(), "jwk": public}));
    }
    let results = oracle(&ops);
    for (i, (op, r)) in ops.iter().zip(&results).enumerate() {
        let r = ok(op, r);
        assert_eq!(r["valid"], !tampered.contains(&i), "{op}");
    }
    assert_eq!(ops.len(), 27);

    // Keys RefToken refuses, and why.
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

#[test]
fn jwt_through_the_c_abi() {
    let (private_jwk, public_jwk) = fixture_signing_jwk();
    let cases = load("introspection.json");
    let case = cases
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "jwt/basic/api1")
        .unwrap();
    let plain = cases
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "basic/api1")
        .unwrap();
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
    let mut out = vec![0 as c_char; 2048];
    let mut len = 0usize;
    let st = unsafe {
        ffi::reftoken_introspection_jwt(
            key,
            iss.as_ptr().cast(),
            iss.len(),
            aud.as_ptr().cast(),
            aud.len(),
            1_740_830_400,
            body.as_ptr().cast(),
            body.len(),
            out.as_mut_ptr(),
            out.len(),
            &mut len,
        )
    };
    assert_eq!(st, reftoken_status::REFTOKEN_OK);
    let token = String::from_utf8(out[..len].iter().map(|&c| c as u8).collect()).unwrap();
    let (h, p) = jwt_parts(&token);
    assert_eq!(h, s(&case["jwt_header"]).unwrap());
    assert_eq!(p, s(&case["jwt_payload"]).unwrap());
    let v = VerifyingKey::from_jwk(&public_jwk.to_string(), None).unwrap();
    assert!(jwt::verify(&token, &v).unwrap().is_some());
    // Too small a buffer: the length needed.
    let st = unsafe {
        ffi::reftoken_introspection_jwt(
            key,
            iss.as_ptr().cast(),
            iss.len(),
            aud.as_ptr().cast(),
            aud.len(),
            1_740_830_400,
            body.as_ptr().cast(),
            body.len(),
            out.as_mut_ptr(),
            10,
            &mut len,
        )
    };
    assert_eq!(
        (st, len),
        (reftoken_status::REFTOKEN_BUFFER_TOO_SMALL, token.len())
    );
    // The published JWK is the fixture's JWKS entry.
    let st =
        unsafe { ffi::reftoken_signing_key_public_jwk(key, out.as_mut_ptr(), out.len(), &mut len) };
    assert_eq!(st, reftoken_status::REFTOKEN_OK);
    let jwk: Value =
        serde_json::from_slice(&out[..len].iter().map(|&c| c as u8).collect::<Vec<_>>()).unwrap();
    assert_eq!(jwk, public_jwk);
    let st = unsafe {
        ffi::reftoken_introspection_jwt(
            key,
            iss.as_ptr().cast(),
            iss.len(),
            aud.as_ptr().cast(),
            aud.len(),
            0,
            c"[]".as_ptr(),
            2,
            out.as_mut_ptr(),
            out.len(),
            &mut len,
        )
    };
    assert_eq!(st, reftoken_status::REFTOKEN_MALFORMED_INPUT);
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

#[test]
fn request_flow_through_the_c_abi() {
    let cfg = config();
    let cases = load("introspection.json");
    let find = |n: &str| {
        cases
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .unwrap()
            .clone()
    };
    let text = |s: reftoken_str| -> Option<String> {
        (!s.ptr.is_null()).then(|| {
            String::from_utf8(
                unsafe { std::slice::from_raw_parts(s.ptr.cast::<u8>(), s.len) }.to_vec(),
            )
            .unwrap()
        })
    };
    let as_str = |v: Option<&str>| match v {
        Some(v) => reftoken_str {
            ptr: v.as_ptr().cast(),
            len: v.len(),
        },
        None => reftoken_str {
            ptr: std::ptr::null(),
            len: 0,
        },
    };
    for name in [
        "auth/api1_form_body_credentials",
        "auth/client1_form_body_credentials",
        "auth/api2_sha512_secret_basic",
        "auth/disabled_client3_caller",
        "error/api1_wrong_secret",
        "error/no_credentials",
        "error/api1_missing_token",
        "error/get_method",
        "error/json_content_type",
        "hint/ropc_refresh_token_hint",
        "jwt/basic/api1",
    ] {
        let c = find(name);
        let req = &c["request"];
        let body = s(&req["form"]).unwrap();
        let http = ffi::reftoken_http_request {
            method: as_str(s(&req["method"])),
            content_type: as_str(s(&req["content_type"])),
            authorization: as_str(s(&req["authorization"])),
            accept: as_str(s(&req["accept"])),
            body: body.as_ptr(),
            body_len: body.len(),
        };
        let mut r = std::ptr::null_mut();
        assert_eq!(
            unsafe { ffi::reftoken_introspection_request_parse(&http, &mut r) },
            reftoken_status::REFTOKEN_OK
        );
        let mut creds = std::mem::MaybeUninit::<ffi::reftoken_credentials>::uninit();
        assert_eq!(
            unsafe { ffi::reftoken_introspection_request_credentials(r, creds.as_mut_ptr()) },
            reftoken_status::REFTOKEN_OK
        );
        let creds = unsafe { creds.assume_init() };
        // The host's own check: an API first, then a client, with reftoken_secret_verify.
        let authenticated = creds.kind == ffi::REFTOKEN_CREDENTIALS_SHARED_SECRET && {
            let id = text(creds.client_id).unwrap();
            let stored: Option<(bool, &Vec<StoredSecret>)> = cfg
                .apis
                .get(&id)
                .map(|a| (a.enabled, &a.secrets))
                .into_iter()
                .chain(cfg.clients.get(&id).map(|c| (c.enabled, &c.secrets)))
                .find(|(enabled, secrets)| {
                    let strs: Vec<reftoken_str> =
                        secrets.iter().map(|s| as_str(Some(&s.value))).collect();
                    let mut valid = false;
                    let st = unsafe {
                        ffi::reftoken_secret_verify(
                            creds.secret.ptr,
                            creds.secret.len,
                            strs.as_ptr(),
                            std::ptr::null(),
                            strs.len(),
                            c["now_unix"].as_i64().unwrap(),
                            &mut valid,
                            std::ptr::null_mut(),
                        )
                    };
                    assert_eq!(st, reftoken_status::REFTOKEN_OK);
                    *enabled && valid
                });
            stored.is_some()
        };
        if creds.kind == ffi::REFTOKEN_CREDENTIALS_SHARED_SECRET && !name.contains("wrong") {
            let id = text(creds.client_id).unwrap();
            assert_eq!(
                text(creds.secret),
                cfg.plaintext.get(&id).cloned(),
                "{name}"
            );
        }
        let mut answer = std::mem::MaybeUninit::<ffi::reftoken_endpoint_answer>::uninit();
        assert_eq!(
            unsafe {
                ffi::reftoken_introspection_request_decide(r, authenticated, answer.as_mut_ptr())
            },
            reftoken_status::REFTOKEN_OK
        );
        let a = unsafe { answer.assume_init() };
        assert_eq!(i64::from(a.status), c["status"].as_i64().unwrap(), "{name}");
        assert_eq!(
            text(a.content_type).as_deref(),
            s(&c["content_type"]),
            "{name}"
        );
        assert_eq!(a.no_store, c["cache_control"].is_string(), "{name}");
        if a.introspect {
            assert_eq!(text(a.token).as_deref(), s(&c["handle"]), "{name}");
            assert_eq!(a.jwt_requested, name.starts_with("jwt/"));
            let hint = if name.starts_with("hint/ropc_refresh") {
                ffi::REFTOKEN_HINT_REFRESH_TOKEN
            } else {
                ffi::REFTOKEN_HINT_NONE
            };
            assert_eq!(a.token_type_hint, hint, "{name}");
        } else {
            assert_eq!(text(a.body).unwrap(), s(&c["body"]).unwrap(), "{name}");
        }
        unsafe { ffi::reftoken_introspection_request_free(r) };
    }
    unsafe { ffi::reftoken_introspection_request_free(std::ptr::null_mut()) };

    // A form body alone; a repeated token; NULL arguments; a header that is not UTF-8.
    let body = b"token=a&token=b&client_id=c&client_secret=s";
    let mut r = std::ptr::null_mut();
    assert_eq!(
        unsafe { ffi::reftoken_introspection_form_parse(body.as_ptr(), body.len(), &mut r) },
        reftoken_status::REFTOKEN_OK
    );
    let mut answer = std::mem::MaybeUninit::<ffi::reftoken_endpoint_answer>::uninit();
    assert_eq!(
        unsafe { ffi::reftoken_introspection_request_decide(r, true, answer.as_mut_ptr()) },
        reftoken_status::REFTOKEN_OK
    );
    let a = unsafe { answer.assume_init() };
    assert_eq!((a.status, a.introspect), (400, false));
    assert!(text(a.body).unwrap().contains("invalid_request"));
    let mut creds = std::mem::MaybeUninit::<ffi::reftoken_credentials>::uninit();
    assert_eq!(
        unsafe { ffi::reftoken_introspection_request_credentials(r, creds.as_mut_ptr()) },
        reftoken_status::REFTOKEN_OK
    );
    let creds = unsafe { creds.assume_init() };
    assert_eq!(
        (creds.kind, creds.source),
        (
            ffi::REFTOKEN_CREDENTIALS_SHARED_SECRET,
            ffi::REFTOKEN_CREDENTIALS_FROM_POST_BODY
        )
    );
    unsafe { ffi::reftoken_introspection_request_free(r) };
    assert_eq!(
        unsafe {
            ffi::reftoken_introspection_request_decide(std::ptr::null(), true, answer.as_mut_ptr())
        },
        reftoken_status::REFTOKEN_NULL_ARGUMENT
    );
    assert_eq!(
        unsafe { ffi::reftoken_introspection_request_parse(std::ptr::null(), &mut r) },
        reftoken_status::REFTOKEN_NULL_ARGUMENT
    );
    let bad = [0xffu8];
    let http = ffi::reftoken_http_request {
        method: as_str(Some("POST")),
        content_type: reftoken_str {
            ptr: bad.as_ptr().cast(),
            len: 1,
        },
        authorization: as_str(None),
        accept: as_str(None),
        body: std::ptr::null(),
        body_len: 0,
    };
    assert_eq!(
        unsafe { ffi::reftoken_introspection_request_parse(&http, &mut r) },
        reftoken_status::REFTOKEN_INVALID_UTF8
    );
    assert!(r.is_null());
}

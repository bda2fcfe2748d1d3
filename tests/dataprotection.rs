//! ASP.NET Core Data Protection: behaviour tests, C ABI tests, and cross-implementation tests
//! against real ASP.NET Core (tests/dotnet/DataProtectionOracle, built here with the .NET SDK).
//!
//! The cross-implementation tests are never skipped: without `dotnet` on PATH they fail.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reftoken::Error;
use reftoken::dataprotection::{
    AesKeySize, Algorithm, DefaultKeyPolicy, HmacAlgorithm, KeyRing, MAX_PAYLOAD_LEN, MAX_PURPOSES,
    application_discriminator, base64url_decode, base64url_encode,
};
use reftoken::instant::{self, Instant};
use serde_json::{Value, json};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Fixtures

const V1_ID: &str = "ead9607a-7754-4369-a7f4-6696e5713ced";
const V1_MASTER_KEY: &str =
    "iEQ2XFkBUwAnEotfX5b+ZWrqKdJFlxJ4bDuJqljdR6KNolzKxa/1hro1PZg4tsb6CJsOZ/fCA/8VKGX+bXHq4Q==";
/// Real ASP.NET Core 10.0.5 output (dataprotection.md V1): app "repro-app", purpose "purpose".
const V1_PAYLOAD: &str = "CfDJ8Hpg2epUd2lDp_RmluVxPO1RuoXCtT528WJ_4cy3XD_uhLBk9GBkYOQF-iIWlloCb4CP7rX609LnU7BiXXgZU1fKvNGfjwau5YJRIXcvDyXDnvn1kyRDojEYPc5Ic4WQgzBnpZrf2qiI4JrX9nkqCew";
/// §16.2: the V1 key as AES-256-GCM, same chain and plaintext.
const V1_GCM_PAYLOAD: &str = "CfDJ8Hpg2epUd2lDp_RmluVxPO0AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHv-GIF-TsrF20gixJYkLtZA1tvaDOmVgAqLE2-FOVuxc";
const DEFAULT_DESERIALIZER: &str = "Microsoft.AspNetCore.DataProtection.AuthenticatedEncryption.ConfigurationModel.AuthenticatedEncryptorDescriptorDeserializer, Microsoft.AspNetCore.DataProtection, Version=10.0.0.0, Culture=neutral, PublicKeyToken=adb9793829ddae60";
const MASTER_KEY_COMMENT: &str = "<!-- Warning: the key below is in an unencrypted form. -->";

fn now() -> Instant {
    Instant(
        (SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            / 100) as i64,
    )
}

fn days(n: f64) -> i64 {
    (n * 86_400.0) as i64
}

fn fmt(t: Instant) -> String {
    let mut s = String::new();
    instant::format(t, &mut s);
    s
}

fn random_master_key() -> String {
    let mut k = [0u8; 64];
    getrandom::fill(&mut k).unwrap();
    STANDARD.encode(k)
}

/// The inner `<descriptor>` of the default deserializer, with `master` as its `<masterKey>`.
fn default_descriptor(enc: &str, val: Option<&str>, master: &str) -> String {
    let val = val
        .map(|v| format!(r#"<validation algorithm="{v}" />"#))
        .unwrap_or_default();
    format!(r#"<descriptor><encryption algorithm="{enc}" />{val}{master}</descriptor>"#)
}

fn master_key_element(b64: &str) -> String {
    format!(
        r#"<masterKey p4:requiresEncryption="true" xmlns:p4="http://schemas.asp.net/2015/03/dataProtection">{MASTER_KEY_COMMENT}<value>{b64}</value></masterKey>"#
    )
}

fn key_xml_full(
    id: &str,
    creation: Instant,
    activation: Instant,
    expiration: Instant,
    deserializer: &str,
    inner: &str,
) -> String {
    format!(
        "\u{FEFF}<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<key id=\"{id}\" version=\"1\">\n  <creationDate>{}</creationDate>\n  <activationDate>{}</activationDate>\n  <expirationDate>{}</expirationDate>\n  <descriptor deserializerType=\"{deserializer}\">\n    {inner}\n  </descriptor>\n</key>",
        fmt(creation),
        fmt(activation),
        fmt(expiration)
    )
}

fn key_xml(
    id: &str,
    creation: Instant,
    activation: Instant,
    expiration: Instant,
    master: &str,
) -> String {
    key_xml_full(
        id,
        creation,
        activation,
        expiration,
        DEFAULT_DESERIALIZER,
        &default_descriptor(
            "AES_256_CBC",
            Some("HMACSHA256"),
            &master_key_element(master),
        ),
    )
}

/// A key created `age` days ago, active since then, expiring `left` days from now.
fn active_key(id: &str, age: f64, left: f64) -> String {
    let n = now();
    key_xml(
        id,
        n.add_seconds(-days(age)),
        n.add_seconds(-days(age)),
        n.add_seconds(days(left)),
        &random_master_key(),
    )
}

fn v1_key_with(deserializer: &str, inner: &str) -> String {
    let t = instant::parse("2026-04-16T16:40:09.6237156Z").unwrap();
    key_xml_full(
        V1_ID,
        t,
        t,
        instant::parse("2026-07-15T16:40:09.6237156Z").unwrap(),
        deserializer,
        inner,
    )
}

fn v1_key() -> String {
    v1_key_with(
        DEFAULT_DESERIALIZER,
        &default_descriptor(
            "AES_256_CBC",
            Some("HMACSHA256"),
            &master_key_element(V1_MASTER_KEY),
        ),
    )
}

fn revocation_xml(id: &str, date: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<revocation version=\"1\">\n  <revocationDate>{date}</revocationDate>\n  <!-- All keys created before the revocation date are revoked. -->\n  <key id=\"{id}\" />\n  <reason>test</reason>\n</revocation>"
    )
}

fn ring(elements: &[String], app: Option<&str>) -> KeyRing {
    KeyRing::from_xml(elements)
        .unwrap()
        .with_application_name(app)
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

// ---------------------------------------------------------------------------------------------
// The .NET oracle

/// Builds tests/dotnet/DataProtectionOracle once per test process into target/dotnet/ and
/// returns the path of its DLL. Panics with instructions when the .NET SDK is missing.
fn oracle_dll() -> &'static Path {
    static DLL: OnceLock<PathBuf> = OnceLock::new();
    DLL.get_or_init(|| {
        let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dotnet/DataProtectionOracle/DataProtectionOracle.csproj");
        let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("dotnet/DataProtectionOracle");
        let output = Command::new("dotnet")
            .arg("build")
            .arg(&project)
            .args(["-c", "Release", "-nologo", "-v", "q", "--artifacts-path"])
            .arg(&artifacts)
            .envs([("DOTNET_CLI_TELEMETRY_OPTOUT", "1"), ("DOTNET_NOLOGO", "1"), ("DOTNET_SKIP_FIRST_TIME_EXPERIENCE", "1")])
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run `dotnet` ({e}). The ASP.NET Core Data Protection cross-implementation tests \
                     need the .NET 10 SDK (with the ASP.NET Core shared framework) on PATH; they are never \
                     skipped. Install it from https://dot.net and run the tests again."
                )
            });
        assert!(
            output.status.success(),
            "`dotnet build {}` failed:\n{}\n{}",
            project.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let dll = artifacts.join("bin/DataProtectionOracle/release/DataProtectionOracle.dll");
        assert!(dll.is_file(), "the oracle build did not produce {}", dll.display());
        dll
    })
}

/// Runs a batch of operations through real ASP.NET Core; one result per operation.
fn oracle(ops: &[Value]) -> Vec<Value> {
    let mut child = Command::new("dotnet")
        .arg(oracle_dll())
        .envs([("DOTNET_CLI_TELEMETRY_OPTOUT", "1"), ("DOTNET_NOLOGO", "1")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start `dotnet` to run the Data Protection oracle");
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
    assert_eq!(r["ok"], true, "ASP.NET Core failed {op}: {r}");
    r
}

fn s(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

fn app_json(app: Option<&str>) -> Value {
    app.map_or(Value::Null, |a| json!(a))
}

// ---------------------------------------------------------------------------------------------
// Cross-implementation: every algorithm, both directions

struct Config {
    name: &'static str,
    fields: Value,
    expected: Algorithm,
}

fn configs() -> Vec<Config> {
    use AesKeySize::*;
    use HmacAlgorithm::*;
    let mut v = Vec::new();
    for (bits, aes) in [(128, Aes128), (192, Aes192), (256, Aes256)] {
        for (val, hmac) in [("HMACSHA256", HmacSha256), ("HMACSHA512", HmacSha512)] {
            v.push(Config {
                name: "default descriptor, CBC",
                fields: json!({"alg": format!("AES_{bits}_CBC"), "validation": val}),
                expected: Algorithm::Cbc { aes, hmac },
            });
        }
        v.push(Config {
            name: "default descriptor, GCM",
            fields: json!({"alg": format!("AES_{bits}_GCM")}),
            expected: Algorithm::Gcm { aes },
        });
    }
    for (bits, aes, val, hmac) in [
        (128, Aes128, "HMACSHA256", HmacSha256),
        (192, Aes192, "HMACSHA384", HmacSha384),
        (256, Aes256, "HMACSHA512", HmacSha512),
    ] {
        v.push(Config {
            name: "managed descriptor (UseCustomCryptographicAlgorithms)",
            fields: json!({"descriptor": "managed", "key_bits": bits, "validation_type": val}),
            expected: Algorithm::Cbc { aes, hmac },
        });
    }
    v.push(Config {
        name: "NullXmlEncryptor at rest",
        fields: json!({"encryptor": "null"}),
        expected: Algorithm::DEFAULT,
    });
    v
}

const APPS: [Option<&str>; 4] = [None, Some(""), Some("repro-app"), Some("/srv/ünï app/")];

fn purpose_sets() -> Vec<Vec<String>> {
    vec![
        vec!["PersistentGrantSerializer".into()],
        vec!["a".into(), "b".into(), "c".into()],
        vec!["ünïcødé ✓ 𝄞".into(), String::new()],
        vec!["p".repeat(200)],
    ]
}

fn plaintexts() -> Vec<String> {
    let mut json_like = String::from("{\"Audiences\":[\"api\"],\"Claims\":[");
    while json_like.len() < 1500 {
        json_like.push_str("{\"Type\":\"name\",\"Value\":\"Zoë Ünïcode ✓\"},");
    }
    json_like.push_str("{}]}");
    vec![
        String::new(),
        "x".into(),
        "fifteen bytes!!".into(),
        "sixteen bytes!!!".into(),
        "seventeen bytes!!".into(),
        json_like,
    ]
}

fn with_fields(mut op: Value, fields: &Value) -> Value {
    for (k, v) in fields.as_object().unwrap() {
        op[k] = v.clone();
    }
    op
}

#[test]
fn cross_dotnet_and_reftoken_every_algorithm() {
    let root = tempdir();
    let configs = configs();
    let sets = purpose_sets();
    let texts = plaintexts();
    // 1. ASP.NET Core creates one key per configuration and protects with it.
    struct Case {
        config: usize,
        app: Option<&'static str>,
        purposes: Vec<String>,
        plaintext: String,
        binary: bool,
    }
    let mut cases = Vec::new();
    let mut ops = Vec::new();
    for (ci, c) in configs.iter().enumerate() {
        let dir = root.path().join(format!("c{ci}"));
        for (ai, app) in APPS.iter().enumerate() {
            for (pi, purposes) in sets.iter().enumerate() {
                for binary in [false, true] {
                    if binary && (ai + pi) % 3 != 0 {
                        continue;
                    }
                    let plaintext =
                        texts[(ai + pi + ci + usize::from(binary)) % texts.len()].clone();
                    ops.push(with_fields(
                        json!({"op": "protect", "dir": dir, "app": app_json(*app), "purposes": purposes,
                               "plaintext_b64": STANDARD.encode(&plaintext), "binary": binary}),
                        &c.fields,
                    ));
                    cases.push(Case {
                        config: ci,
                        app: *app,
                        purposes: purposes.clone(),
                        plaintext,
                        binary,
                    });
                }
            }
        }
    }
    let results = oracle(&ops);

    // 2. RefToken reads the key directories and unprotects everything.
    let mut back = Vec::new();
    for (i, (case, r)) in cases.iter().zip(&results).enumerate() {
        let r = ok(&ops[i], r);
        let config = &configs[case.config];
        let dir = root.path().join(format!("c{}", case.config));
        let ring = KeyRing::from_dir(&dir)
            .unwrap()
            .with_application_name(case.app);
        let keys: Vec<_> = ring.keys().collect();
        assert_eq!(keys.len(), 1, "{}", config.name);
        assert_eq!(keys[0].algorithm, Some(config.expected), "{}", config.name);
        assert_eq!(keys[0].id.to_string(), s(&r["key_id"]));
        let purposes: Vec<&str> = case.purposes.iter().map(String::as_str).collect();
        let what = format!(
            "{} ({}) app {:?} purposes {:?} binary {}",
            config.name, config.expected, case.app, purposes, case.binary
        );
        if case.binary {
            let payload = STANDARD.decode(s(&r["payload"])).unwrap();
            assert_eq!(
                &*ring.unprotect(&purposes, &payload).unwrap(),
                case.plaintext.as_bytes(),
                "{what}"
            );
        } else {
            let payload = s(&r["payload"]);
            assert!(payload.starts_with("CfDJ8"));
            assert_eq!(
                ring.unprotect_str(&purposes, payload).unwrap().as_str(),
                case.plaintext,
                "{what}"
            );
            // Another purpose chain must not open it.
            let mut other = purposes.clone();
            other.push("other");
            assert!(
                matches!(ring.unprotect_str(&other, payload), Err(Error::Decrypt(_))),
                "{what}"
            );
        }
        // 3. RefToken protects the same plaintext; ASP.NET Core unprotects it.
        let now = now();
        assert_eq!(ring.default_key_id(now), Some(keys[0].id), "{what}");
        let payload = if case.binary {
            STANDARD.encode(
                ring.protect(&purposes, case.plaintext.as_bytes(), now)
                    .unwrap(),
            )
        } else {
            ring.protect_str(&purposes, &case.plaintext, now).unwrap()
        };
        back.push(with_fields(
            json!({"op": "unprotect", "dir": dir, "app": app_json(case.app), "purposes": case.purposes,
                   "payload": payload, "binary": case.binary}),
            &config.fields,
        ));
    }
    let results = oracle(&back);
    for ((case, op), r) in cases.iter().zip(&back).zip(&results) {
        let r = ok(op, r);
        assert_eq!(
            STANDARD.decode(s(&r["plaintext_b64"])).unwrap(),
            case.plaintext.as_bytes(),
            "{op}"
        );
    }
    eprintln!(
        "cross-checked {} payloads each way over {} key configurations",
        cases.len(),
        configs.len()
    );
}

#[test]
fn cross_certificate_protected_key_is_unsupported() {
    let dir = tempdir();
    let op = json!({"op": "protect", "dir": dir.path(), "app": "app", "purposes": ["p"],
                    "plaintext_b64": STANDARD.encode("secret"), "encryptor": "cert"});
    let r = oracle(std::slice::from_ref(&op));
    let r = ok(&op, &r[0]);
    let ring = KeyRing::from_dir(dir.path())
        .unwrap()
        .with_application_name(Some("app"));
    let key = ring.keys().next().unwrap();
    assert_eq!(key.id.to_string(), s(&r["key_id"]));
    let problem = key.problem.unwrap();
    assert!(
        problem.contains("EncryptedXmlDecryptor") && problem.contains(&key.id.to_string()),
        "{problem}"
    );
    match ring.unprotect_str(&["p"], s(&r["payload"])) {
        Err(Error::UnsupportedProtector(m)) => {
            assert!(
                m.contains("EncryptedXmlDecryptor") && m.contains(&key.id.to_string()),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ring.default_key_id(now()), None);
    assert!(matches!(
        ring.protect_str(&["p"], "x", now()),
        Err(Error::NoActiveKey)
    ));
}

#[test]
fn cross_revocation() {
    let dir = tempdir();
    let d = dir.path();
    let protect = |text: &str| json!({"op": "protect", "dir": d, "app": "app", "purposes": ["p"], "plaintext_b64": STANDARD.encode(text)});
    // One key, one payload; then ASP.NET Core revokes the key and protects again (new key).
    let ops = [protect("one")];
    let r1 = oracle(&ops);
    let k1 = s(&ok(&ops[0], &r1[0])["key_id"]).to_owned();
    let p1 = s(&r1[0]["payload"]).to_owned();
    let ops = [
        json!({"op": "revoke", "dir": d, "key_id": k1}),
        json!({"op": "unprotect", "dir": d, "app": "app", "purposes": ["p"], "payload": p1}),
        protect("two"),
    ];
    let r2 = oracle(&ops);
    ok(&ops[0], &r2[0]);
    assert_eq!(
        r2[1]["ok"], false,
        "ASP.NET Core must refuse a revoked key: {}",
        r2[1]
    );
    let k2 = s(&ok(&ops[2], &r2[2])["key_id"]).to_owned();
    assert_ne!(k1, k2);
    let ring = KeyRing::from_dir(d)
        .unwrap()
        .with_application_name(Some("app"));
    let id1 = Uuid::parse_str(&k1).unwrap();
    assert!(matches!(ring.unprotect_str(&["p"], &p1), Err(Error::KeyRevoked(id)) if id == id1));
    assert_eq!(
        &*ring.unprotect_str(&["p"], s(&r2[2]["payload"])).unwrap(),
        "two"
    );
    assert_eq!(
        ring.default_key_id(now()).map(|u| u.to_string()),
        Some(k2.clone())
    );
    assert!(ring.keys().any(|k| k.id == id1 && k.revoked));

    // Revoke every key created so far (`<key id="*" />`); ASP.NET Core then makes a third key.
    let ops = [json!({"op": "revoke_all", "dir": d}), protect("three")];
    let r3 = oracle(&ops);
    ok(&ops[0], &r3[0]);
    let k3 = s(&ok(&ops[1], &r3[1])["key_id"]).to_owned();
    let ring = KeyRing::from_dir(d)
        .unwrap()
        .with_application_name(Some("app"));
    assert_eq!(ring.keys().count(), 3);
    for k in ring.keys() {
        assert_eq!(k.revoked, k.id.to_string() != k3, "{k:?}");
    }
    assert!(matches!(
        ring.unprotect_str(&["p"], s(&r2[2]["payload"])),
        Err(Error::KeyRevoked(_))
    ));
    assert_eq!(
        &*ring.unprotect_str(&["p"], s(&r3[1]["payload"])).unwrap(),
        "three"
    );
    assert_eq!(ring.default_key_id(now()).map(|u| u.to_string()), Some(k3));
    // What RefToken protects now, ASP.NET Core reads.
    let payload = ring.protect_str(&["p"], "four", now()).unwrap();
    let op =
        json!({"op": "unprotect", "dir": d, "app": "app", "purposes": ["p"], "payload": payload});
    let r = oracle(std::slice::from_ref(&op));
    assert_eq!(s(&ok(&op, &r[0])["plaintext_b64"]), STANDARD.encode("four"));
}

/// Key rotation: which key protects new payloads. Key files are written here with chosen dates;
/// ASP.NET Core reads them, protects, and the key id in its payload header must be the one
/// `default_key_id` names (or, where that is `None`, a key ASP.NET Core just created).
#[test]
fn cross_default_key_selection() {
    let n = now();
    let at = |d: f64| n.add_seconds(days(d));
    let mk = |id: &str, created: f64, activated: f64, expires: f64| {
        key_xml(
            id,
            at(created),
            at(activated),
            at(expires),
            &random_master_key(),
        )
    };
    let a = "aaaaaaaa-0000-4000-8000-000000000001";
    let b = "bbbbbbbb-0000-4000-8000-000000000002";
    // Two ids whose order differs between Guid.CompareTo (Data1 first) and raw byte order.
    let lo = "00000001-0000-4000-8000-000000000000";
    let hi = "00000100-0000-4000-8000-000000000000";
    let scenarios: Vec<(&str, Vec<(String, String)>)> = vec![
        (
            "a single active key",
            vec![(a.into(), mk(a, -10.0, -10.0, 80.0))],
        ),
        (
            "the most recently activated key, even if too new to have propagated",
            vec![
                (a.into(), mk(a, -10.0, -10.0, 80.0)),
                (b.into(), mk(b, -1.0, -1.0, 89.0)),
            ],
        ),
        (
            "activation decides, not creation",
            vec![
                (a.into(), mk(a, -10.0, -2.0, 80.0)),
                (b.into(), mk(b, -3.0, -3.0, 87.0)),
            ],
        ),
        (
            "the preferred key is expired: a new key is created",
            vec![
                (a.into(), mk(a, -100.0, -100.0, -0.1)),
                (b.into(), mk(b, -1.0, 1.0, 91.0)),
            ],
        ),
        (
            "activated within the clock skew",
            vec![
                (a.into(), mk(a, -0.01, 3.0 / 1440.0, 90.0)),
                (b.into(), mk(b, -0.01, -1.0, 90.0)),
            ],
        ),
        (
            "not yet activated beyond the clock skew: a new key is created",
            vec![(a.into(), mk(a, -0.01, 10.0 / 1440.0, 90.0))],
        ),
        (
            "the preferred key is revoked: a new key is created",
            vec![
                (a.into(), mk(a, -10.0, -10.0, 80.0)),
                (b.into(), mk(b, -1.0, -1.0, 89.0)),
                ("revocation".into(), revocation_xml(b, &fmt(at(-0.5)))),
            ],
        ),
        (
            "revoke-all before a date spares later keys",
            vec![
                (a.into(), mk(a, -10.0, -10.0, 80.0)),
                (b.into(), mk(b, -3.0, -1.0, 87.0)),
                ("revocation".into(), revocation_xml("*", &fmt(at(-5.0)))),
            ],
        ),
        (
            "equal activation: the smaller Guid",
            vec![
                (
                    hi.into(),
                    key_xml(hi, at(-10.0), at(-5.0), at(80.0), &random_master_key()),
                ),
                (
                    lo.into(),
                    key_xml(lo, at(-10.0), at(-5.0), at(80.0), &random_master_key()),
                ),
            ],
        ),
        (
            "an older revoked key does not matter",
            vec![
                (a.into(), mk(a, -10.0, -10.0, 80.0)),
                (b.into(), mk(b, -1.0, -1.0, 89.0)),
                ("revocation".into(), revocation_xml(a, &fmt(at(-0.5)))),
            ],
        ),
        (
            "an unusable (DPAPI) preferred key: a new key is created",
            vec![
                (a.into(), dpapi_key(a, at(-1.0), at(-1.0), at(80.0))),
                (b.into(), mk(b, -10.0, -10.0, 89.0)),
            ],
        ),
    ];
    let root = tempdir();
    let mut ops = Vec::new();
    let mut expected = Vec::new();
    for (i, (name, files)) in scenarios.iter().enumerate() {
        let dir = root.path().join(format!("s{i}"));
        std::fs::create_dir(&dir).unwrap();
        for (f, xml) in files {
            std::fs::write(dir.join(format!("{f}.xml")), xml).unwrap();
        }
        let ring = KeyRing::from_dir(&dir).unwrap();
        expected.push((
            name,
            ring.default_key_id(n),
            ring.keys().map(|k| k.id).collect::<Vec<_>>(),
        ));
        ops.push(json!({"op": "protect", "dir": dir, "app": "app", "purposes": ["p"], "plaintext_b64": ""}));
    }
    let results = oracle(&ops);
    for ((op, r), (name, ours, ids)) in ops.iter().zip(&results).zip(&expected) {
        let theirs = Uuid::parse_str(s(&ok(op, r)["key_id"])).unwrap();
        match ours {
            Some(id) => assert_eq!(*id, theirs, "{name}"),
            None => assert!(
                !ids.contains(&theirs),
                "{name}: ASP.NET Core used an existing key {theirs}"
            ),
        }
    }
    let want = [
        Some(a),
        Some(b),
        Some(a),
        None,
        Some(a),
        None,
        None,
        Some(b),
        Some(lo),
        Some(b),
        None,
    ];
    for ((name, ours, _), want) in expected.iter().zip(want) {
        assert_eq!(ours.map(|u| u.to_string()).as_deref(), want, "{name}");
    }
}

/// The rule of dotnet/aspnetcore's main branch (not yet released as of 10.0.12).
#[test]
fn prefer_propagated_default_key_policy() {
    let n = now();
    let at = |d: f64| n.add_seconds(days(d));
    let a = "aaaaaaaa-0000-4000-8000-000000000001";
    let b = "bbbbbbbb-0000-4000-8000-000000000002";
    let c = "cccccccc-0000-4000-8000-000000000003";
    let mk = |id: &str, created: f64, activated: f64| {
        key_xml(
            id,
            at(created),
            at(activated),
            at(80.0),
            &random_master_key(),
        )
    };
    let pick = |keys: Vec<String>| {
        let r = KeyRing::from_xml(&keys).unwrap();
        let old = r.default_key_id(n).map(|u| u.to_string());
        let r = r.with_default_key_policy(DefaultKeyPolicy::PreferPropagated);
        (old, r.default_key_id(n).map(|u| u.to_string()))
    };
    // An old key wins over a newer one that may not have reached every instance yet.
    assert_eq!(
        pick(vec![mk(a, -10.0, -10.0), mk(b, -1.0, -1.0)]),
        (Some(b.into()), Some(a.into()))
    );
    // Among old keys, the most recently activated.
    assert_eq!(
        pick(vec![mk(a, -10.0, -10.0), mk(b, -3.0, -3.0)]),
        (Some(b.into()), Some(b.into()))
    );
    // Only new keys: the *earliest* activated.
    assert_eq!(
        pick(vec![
            mk(a, -1.0, -0.5),
            mk(b, -1.0, -0.2),
            mk(c, -0.1, 0.001)
        ]),
        (Some(c.into()), Some(a.into()))
    );
    // The preferred key rejected: no default, even when another key would do.
    let revoked = vec![
        mk(a, -10.0, -10.0),
        mk(b, -1.0, -1.0),
        revocation_xml(a, "2000-01-01T00:00:00Z"),
    ];
    assert_eq!(pick(revoked), (Some(b.into()), None));
}

#[test]
fn cross_application_discriminator() {
    let roots = [
        "/srv/app",
        "/srv/app/",
        " /srv/app ",
        "app-path\\",
        "/",
        "  ",
        "/srv/ünï",
    ];
    let mut ops: Vec<Value> = roots
        .iter()
        .map(|r| json!({"op": "discriminator", "content_root": r}))
        .collect();
    ops.push(json!({"op": "discriminator"}));
    let dir = tempdir();
    ops.push(json!({"op": "protect", "dir": dir.path(), "content_root": "/srv/app", "purposes": ["PersistentGrantSerializer"],
                    "plaintext_b64": STANDARD.encode("{\"a\":1}")}));
    let results = oracle(&ops);
    for (root, (op, r)) in roots.iter().zip(ops.iter().zip(&results)) {
        let theirs = ok(op, r)["discriminator"].as_str().map(str::to_owned);
        assert_eq!(application_discriminator(root), theirs, "{root:?}");
    }
    assert_eq!(
        ok(&ops[roots.len()], &results[roots.len()])["discriminator"],
        Value::Null
    );
    let r = ok(ops.last().unwrap(), results.last().unwrap());
    let ring = KeyRing::from_dir(dir.path())
        .unwrap()
        .with_application_name(application_discriminator("/srv/app").as_deref());
    assert_eq!(
        &*ring
            .unprotect_str(&["PersistentGrantSerializer"], s(&r["payload"]))
            .unwrap(),
        "{\"a\":1}"
    );
}

#[test]
fn cross_base64url_decoding() {
    let mut inputs: Vec<String> = [
        "",
        "AQID",
        "AQI",
        "AQI=",
        "AQ==",
        "AQ=",
        "AQ",
        "AR",
        "AR==",
        "-_8",
        "+/8=",
        "+/9=",
        "+/8",
        "-/8",
        "A",
        "AQID A",
        "AQ ID",
        " AQID",
        "AQID\n",
        "AQ*D",
        "AQID====",
        "AQIDBA==",
        "AQIDBA",
        "AQIDB",
        "AQ=D",
        "AQI==",
        "AQID=",
        "A Q",
        "AQ=\t",
        "AQ\r\nID",
        "AQ\u{a0}ID",
        "AQ\u{b}ID",
        "=",
        "==",
        "AQIDBA=",
        "AQIDBA===",
        "AQIDBA= =",
        "+/+/",
        "+/+/=",
        "+/8==",
        "AQ=\n=",
        "-_-_",
        "____",
        "AQ_=",
        "A===",
        "+/8 =",
        "AQ%3D",
        "Q",
        "QQ",
        "QQ=",
        "QR",
        "QRE",
        "QRF",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    inputs.push(V1_PAYLOAD.into());
    inputs.push(format!("{V1_PAYLOAD}=="));
    inputs.push(V1_PAYLOAD.replace('-', "+").replace('_', "/"));
    let ops: Vec<Value> = inputs
        .iter()
        .map(|i| json!({"op": "b64decode", "input": i}))
        .collect();
    let results = oracle(&ops);
    for (input, r) in inputs.iter().zip(&results) {
        let theirs = (r["ok"] == true).then(|| STANDARD.decode(s(&r["bytes_b64"])).unwrap());
        let ours = base64url_decode(input).ok();
        assert_eq!(ours, theirs, "{input:?}: {r}");
    }
}

/// Performance against ASP.NET Core on this machine (not a pass/fail benchmark by default):
/// `cargo test --release --test dataprotection -- --ignored --nocapture quick_perf`.
#[test]
#[ignore]
fn quick_perf_unprotect_vs_aspnetcore() {
    let dir = tempdir();
    let json = plaintexts().pop().unwrap();
    let op = json!({"op": "protect", "dir": dir.path(), "app": "app", "purposes": ["PersistentGrantSerializer"],
                    "plaintext_b64": STANDARD.encode(&json)});
    let r = oracle(std::slice::from_ref(&op));
    let payload = s(&ok(&op, &r[0])["payload"]).to_owned();
    let iterations = 200_000;
    let bench = json!({"op": "bench_unprotect", "dir": dir.path(), "app": "app", "purposes": ["PersistentGrantSerializer"],
                       "payload": payload, "iterations": iterations});
    let r = oracle(std::slice::from_ref(&bench));
    let dotnet_ns = ok(&bench, &r[0])["ns_per_op"].as_f64().unwrap();
    let ring = KeyRing::from_dir(dir.path())
        .unwrap()
        .with_application_name(Some("app"));
    for _ in 0..20_000 {
        std::hint::black_box(
            ring.unprotect_str(&["PersistentGrantSerializer"], &payload)
                .unwrap(),
        );
    }
    let start = std::time::Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(
            ring.unprotect_str(
                &["PersistentGrantSerializer"],
                std::hint::black_box(&payload),
            )
            .unwrap(),
        );
    }
    let ours_ns = start.elapsed().as_nanos() as f64 / iterations as f64;
    eprintln!(
        "unprotect_str of a {}-char payload ({} bytes of plaintext): RefToken {ours_ns:.0} ns, ASP.NET Core {dotnet_ns:.0} ns ({:.2}x)",
        payload.len(),
        json.len(),
        dotnet_ns / ours_ns
    );
    assert!(ours_ns < dotnet_ns, "RefToken is slower than ASP.NET Core");
}

// ---------------------------------------------------------------------------------------------
// Behaviour without .NET

fn dpapi_key(id: &str, creation: Instant, activation: Instant, expiration: Instant) -> String {
    let secret = r#"<encryptedSecret decryptorType="Microsoft.AspNetCore.DataProtection.XmlEncryption.DpapiXmlDecryptor, Microsoft.AspNetCore.DataProtection, Version=8.0.0.0, Culture=neutral, PublicKeyToken=adb9793829ddae60" xmlns="http://schemas.asp.net/2015/03/dataProtection"><encryptedKey xmlns=""><!-- This key is encrypted with Windows DPAPI. --><value>AQAAANCMnd8BFdERjHoAwE/Cl+sBAAAA</value></encryptedKey></encryptedSecret>"#;
    key_xml_full(
        id,
        creation,
        activation,
        expiration,
        DEFAULT_DESERIALIZER,
        &default_descriptor("AES_256_CBC", Some("HMACSHA256"), secret),
    )
}

#[test]
fn v1_payload_from_every_descriptor_form() {
    let v1 = |xml: String| ring(&[xml], Some("repro-app"));
    let mk = master_key_element(V1_MASTER_KEY);
    assert_eq!(
        &*v1(v1_key())
            .unprotect_str(&["purpose"], V1_PAYLOAD)
            .unwrap(),
        "hello from 10.0.5"
    );
    // 1.x type names are forwarded to the current namespace.
    let legacy = "Microsoft.AspNet.DataProtection.AuthenticatedEncryption.ConfigurationModel.AuthenticatedEncryptorDescriptorDeserializer, Microsoft.AspNet.DataProtection, Version=1.0.0.0, Culture=neutral, PublicKeyToken=adb9793829ddae60";
    let r = v1(v1_key_with(
        legacy,
        &default_descriptor("AES_256_CBC", Some("HMACSHA256"), &mk),
    ));
    assert_eq!(
        &*r.unprotect_str(&["purpose"], V1_PAYLOAD).unwrap(),
        "hello from 10.0.5"
    );
    // Master key as bare text, with white space and line breaks inside.
    let bare = format!(
        "<masterKey>\n  {}\n  {}\n</masterKey>",
        &V1_MASTER_KEY[..40],
        &V1_MASTER_KEY[40..]
    );
    let r = v1(v1_key_with(
        DEFAULT_DESERIALIZER,
        &default_descriptor("AES_256_CBC", Some("HMACSHA256"), &bare),
    ));
    assert_eq!(
        &*r.unprotect_str(&["purpose"], V1_PAYLOAD).unwrap(),
        "hello from 10.0.5"
    );
    // NullXmlDecryptor: "encrypted" at rest without encryption.
    let null = format!(
        r#"<encryptedSecret decryptorType="Microsoft.AspNetCore.DataProtection.XmlEncryption.NullXmlDecryptor, Microsoft.AspNetCore.DataProtection, Version=10.0.0.0, Culture=neutral, PublicKeyToken=adb9793829ddae60" xmlns="http://schemas.asp.net/2015/03/dataProtection"><unencryptedKey xmlns=""><!-- This key is not encrypted. -->{mk}</unencryptedKey></encryptedSecret>"#
    );
    let r = v1(v1_key_with(
        DEFAULT_DESERIALIZER,
        &default_descriptor("AES_256_CBC", Some("HMACSHA256"), &null),
    ));
    assert_eq!(
        &*r.unprotect_str(&["purpose"], V1_PAYLOAD).unwrap(),
        "hello from 10.0.5"
    );
    // Managed (UseCustomCryptographicAlgorithms) form.
    let managed = "Microsoft.AspNetCore.DataProtection.AuthenticatedEncryption.ConfigurationModel.ManagedAuthenticatedEncryptorDescriptorDeserializer, Microsoft.AspNetCore.DataProtection, Version=8.0.0.0, Culture=neutral, PublicKeyToken=adb9793829ddae60";
    let inner = format!(
        r#"<descriptor><encryption algorithm="Aes" keyLength="256" /><validation algorithm="HMACSHA256" />{mk}</descriptor>"#
    );
    assert_eq!(
        &*v1(v1_key_with(managed, &inner))
            .unprotect_str(&["purpose"], V1_PAYLOAD)
            .unwrap(),
        "hello from 10.0.5"
    );
    // CNG CBC form (Windows), same wire format.
    let cng_cbc = "Microsoft.AspNetCore.DataProtection.AuthenticatedEncryption.ConfigurationModel.CngCbcAuthenticatedEncryptorDescriptorDeserializer, Microsoft.AspNetCore.DataProtection, Version=8.0.0.0, Culture=neutral, PublicKeyToken=adb9793829ddae60";
    let inner = format!(
        r#"<descriptor><encryption algorithm="AES" keyLength="256" provider="" /><hash algorithm="SHA256" />{mk}</descriptor>"#
    );
    assert_eq!(
        &*v1(v1_key_with(cng_cbc, &inner))
            .unprotect_str(&["purpose"], V1_PAYLOAD)
            .unwrap(),
        "hello from 10.0.5"
    );
    // CNG GCM form against the §16.2 AES-256-GCM vector.
    let cng_gcm = "Microsoft.AspNetCore.DataProtection.AuthenticatedEncryption.ConfigurationModel.CngGcmAuthenticatedEncryptorDescriptorDeserializer, Microsoft.AspNetCore.DataProtection, Version=8.0.0.0, Culture=neutral, PublicKeyToken=adb9793829ddae60";
    let inner =
        format!(r#"<descriptor><encryption algorithm="AES" keyLength="256" />{mk}</descriptor>"#);
    let r = v1(v1_key_with(cng_gcm, &inner));
    assert_eq!(
        r.keys().next().unwrap().algorithm,
        Some(Algorithm::Gcm {
            aes: AesKeySize::Aes256
        })
    );
    assert_eq!(
        &*r.unprotect_str(&["purpose"], V1_GCM_PAYLOAD).unwrap(),
        "hello from 10.0.5"
    );
    // The default form with GCM, and the wrong algorithm for the payload.
    let r = v1(v1_key_with(
        DEFAULT_DESERIALIZER,
        &default_descriptor("AES_256_GCM", None, &mk),
    ));
    assert_eq!(
        &*r.unprotect_str(&["purpose"], V1_GCM_PAYLOAD).unwrap(),
        "hello from 10.0.5"
    );
    assert!(matches!(
        r.unprotect_str(&["purpose"], V1_PAYLOAD),
        Err(Error::Decrypt(_))
    ));
}

#[test]
fn unusable_keys_are_kept_and_reported() {
    let n = now();
    let id = "11111111-2222-3333-4444-555555555555";
    let dpapi = ring(&[dpapi_key(id, n, n, n.add_seconds(days(90.0)))], None);
    let key = dpapi.keys().next().unwrap();
    assert!(key.algorithm.is_none());
    assert!(
        key.problem
            .as_deref()
            .unwrap()
            .contains("DpapiXmlDecryptor")
    );
    // A payload naming that key fails with UnsupportedProtector before any cryptography.
    let mut payload = base64url_decode(V1_PAYLOAD).unwrap();
    payload[4..20].copy_from_slice(&Uuid::parse_str(id).unwrap().to_bytes_le());
    match dpapi.unprotect(&["p"], &payload) {
        Err(Error::UnsupportedProtector(m)) => {
            assert!(m.contains(id) && m.contains("DpapiXmlDecryptor"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(dpapi.default_key_id(n), None);

    let unsupported = |inner: String, deserializer: &str| {
        let r = ring(&[v1_key_with(deserializer, &inner)], None);
        let p = r.keys().next().unwrap().problem.unwrap();
        (r, p)
    };
    let mk = master_key_element(V1_MASTER_KEY);
    for (inner, deser, what) in [
        (
            default_descriptor("AES_512_CBC", Some("HMACSHA256"), &mk),
            DEFAULT_DESERIALIZER,
            "AES_512_CBC",
        ),
        (
            default_descriptor("AES_256_CBC", Some("HMACMD5"), &mk),
            DEFAULT_DESERIALIZER,
            "HMACMD5",
        ),
        (
            default_descriptor("AES_256_CBC", Some("HMACSHA256"), &mk),
            "Contoso.MyDeserializer, Contoso",
            "Contoso.MyDeserializer",
        ),
        (
            default_descriptor(
                "AES_256_CBC",
                Some("HMACSHA256"),
                r#"<encryptedSecret decryptorType="Microsoft.AspNetCore.DataProtection.XmlEncryption.DpapiNGXmlDecryptor, Microsoft.AspNetCore.DataProtection" xmlns="http://schemas.asp.net/2015/03/dataProtection"><encryptedKey /></encryptedSecret>"#,
            ),
            DEFAULT_DESERIALIZER,
            "DpapiNGXmlDecryptor",
        ),
        (
            default_descriptor(
                "AES_256_CBC",
                Some("HMACSHA256"),
                r#"<x:encryptedSecret decryptorType="Azure.Extensions.AspNetCore.DataProtection.Keys.AzureKeyVaultXmlDecryptor, Azure.Extensions.AspNetCore.DataProtection.Keys" xmlns:x="http://schemas.asp.net/2015/03/dataProtection"><encryptedKey /></x:encryptedSecret>"#,
            ),
            DEFAULT_DESERIALIZER,
            "AzureKeyVaultXmlDecryptor",
        ),
    ] {
        let (r, p) = unsupported(inner, deser);
        assert!(p.contains(what) && p.contains(V1_ID), "{p}");
        assert!(
            matches!(
                r.unprotect_str(&["repro-app", "purpose"], V1_PAYLOAD),
                Err(Error::UnsupportedProtector(_))
            ),
            "{what}"
        );
    }
    // A master key that is not base64: the key is malformed, the ring loads.
    let (r, p) = unsupported(
        default_descriptor(
            "AES_256_CBC",
            Some("HMACSHA256"),
            &master_key_element("not base64!"),
        ),
        DEFAULT_DESERIALIZER,
    );
    assert!(p.contains("base64"), "{p}");
    assert!(matches!(
        r.unprotect_str(&["repro-app", "purpose"], V1_PAYLOAD),
        Err(Error::Malformed { .. })
    ));
    // Two <masterKey> elements.
    let (_, p) = unsupported(
        default_descriptor("AES_256_CBC", Some("HMACSHA256"), &format!("{mk}{mk}")),
        DEFAULT_DESERIALIZER,
    );
    assert!(p.contains("masterKey"), "{p}");
}

#[test]
fn key_ring_loading_rules() {
    let n = now();
    let k1 = "0f8fad5b-d9cb-469f-a165-70867728950e";
    let k2 = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
    let good = active_key(k1, 5.0, 85.0);
    // BOM, declaration, comments, processing instructions and unknown root elements are fine.
    let commented = format!(
        "<!-- a comment -->\n<?pi data?>\n{}",
        active_key(k2, 1.0, 89.0)
            .trim_start_matches('\u{FEFF}')
            .replace("<?xml version=\"1.0\" encoding=\"utf-8\"?>", "")
    );
    let r = KeyRing::from_xml(&[
        good.clone(),
        commented.clone(),
        "<somethingElse><key id=\"x\"/></somethingElse>".into(),
    ])
    .unwrap();
    assert_eq!(r.keys().count(), 2);
    assert!(r.skipped().is_empty());
    // Element order does not matter.
    let r2 = KeyRing::from_xml(&[commented.clone(), good.clone()]).unwrap();
    assert_eq!(r.default_key_id(n), r2.default_key_id(n));
    // A namespaced <key> is not a key.
    assert_eq!(
        KeyRing::from_xml(&[good.replace("<key id", "<key xmlns=\"urn:x\" id")])
            .unwrap()
            .keys()
            .count(),
        0
    );
    // Duplicate ids fail the ring.
    assert!(matches!(
        KeyRing::from_xml(&[good.clone(), good.clone()]),
        Err(Error::Malformed { .. })
    ));
    // Not XML, and DTDs (entity expansion), fail the ring.
    for bad in [
        "<key id=",
        "not xml",
        "<?xml version=\"1.0\"?><!DOCTYPE key [<!ENTITY a \"aaaa\">]><key id=\"&a;\"/>",
    ] {
        assert!(
            matches!(
                KeyRing::from_xml(&[good.clone(), bad.into()]),
                Err(Error::Malformed { .. })
            ),
            "{bad}"
        );
    }
    // A key without a readable id or date is skipped, and recorded.
    let no_date = good
        .replace(k1, k2)
        .replace("<activationDate>", "<activationDate>yesterday");
    let bad_id = good.replace(k1, "not-a-guid");
    let r = KeyRing::from_xml(&[good.clone(), no_date, bad_id]).unwrap();
    assert_eq!(r.keys().count(), 1);
    assert_eq!(r.skipped().len(), 2, "{:?}", r.skipped());
    // A revocation that cannot be read fails the ring.
    for bad in ["<revocation version=\"1\"><revocationDate>2024-01-01T00:00:00Z</revocationDate></revocation>".to_owned(), revocation_xml("*", "soon"), revocation_xml("nope", "2024-01-01T00:00:00Z")] {
        assert!(matches!(KeyRing::from_xml(&[good.clone(), bad.clone()]), Err(Error::Malformed { .. })), "{bad}");
    }
    // A revocation of an unknown key is harmless.
    assert!(
        KeyRing::from_xml(&[good.clone(), revocation_xml(k2, "2024-01-01T00:00:00Z")])
            .unwrap()
            .keys()
            .all(|k| !k.revoked)
    );
    // Braced GUIDs (XmlConvert.ToGuid) in revocations and ids.
    let r = KeyRing::from_xml(&[
        good.clone(),
        revocation_xml(
            &format!("{{{}}}", k1.to_uppercase()),
            "2024-01-01T00:00:00Z",
        ),
    ])
    .unwrap();
    assert!(r.keys().next().unwrap().revoked);
    // Revoke-all compares instants, whatever the offset; only keys created strictly before.
    let created = instant::parse("2024-01-01T00:00:00Z").unwrap();
    let key = key_xml(
        k1,
        created,
        created,
        created.add_seconds(days(90.0)),
        &random_master_key(),
    );
    for (date, revoked) in [
        ("2024-01-01T01:00:00+02:00", false),
        ("2024-01-01T03:00:00+02:00", true),
        ("2024-01-01T00:00:00Z", false),
        ("2024-01-01T00:00:00.0000001Z", true),
        ("2023-12-31T19:00:00.5-05:00", true),
    ] {
        let r = KeyRing::from_xml(&[key.clone(), revocation_xml("*", date)]).unwrap();
        assert_eq!(r.keys().next().unwrap().revoked, revoked, "{date}");
    }
    // The latest revoke-all wins.
    let r = KeyRing::from_xml(&[
        key.clone(),
        revocation_xml("*", "2023-01-01T00:00:00Z"),
        revocation_xml("*", "2025-01-01T00:00:00Z"),
    ])
    .unwrap();
    assert!(r.keys().next().unwrap().revoked);
    // Key info.
    let info = KeyRing::from_xml(&[key]).unwrap().keys().next().unwrap();
    assert_eq!(info.id.to_string(), k1);
    assert_eq!(
        (info.creation, info.activation, info.expiration),
        (created, created, created.add_seconds(days(90.0)))
    );
    assert_eq!(info.algorithm, Some(Algorithm::DEFAULT));
    assert_eq!(Algorithm::DEFAULT.to_string(), "AES_256_CBC+HMACSHA256");
}

#[test]
fn key_ring_from_dir() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(d.join("key-v1.xml"), v1_key()).unwrap();
    std::fs::write(d.join("notes.txt"), "not a key").unwrap();
    std::fs::write(d.join("key-v1.XML.bak"), "<").unwrap();
    std::fs::create_dir(d.join("sub.xml")).unwrap();
    std::fs::write(d.join("sub.xml").join("key.xml"), "<").unwrap();
    let r = KeyRing::from_dir(d)
        .unwrap()
        .with_application_name(Some("repro-app"));
    assert_eq!(
        &*r.unprotect_str(&["purpose"], V1_PAYLOAD).unwrap(),
        "hello from 10.0.5"
    );
    // UTF-16 with a byte-order mark.
    let utf16 = tempdir();
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(
        v1_key()
            .trim_start_matches('\u{FEFF}')
            .replace("utf-8", "utf-16")
            .encode_utf16()
            .flat_map(u16::to_le_bytes),
    );
    std::fs::write(utf16.path().join("k.xml"), bytes).unwrap();
    let r = KeyRing::from_dir(utf16.path())
        .unwrap()
        .with_application_name(Some("repro-app"));
    assert_eq!(
        &*r.unprotect_str(&["purpose"], V1_PAYLOAD).unwrap(),
        "hello from 10.0.5"
    );
    // A broken file fails the ring; a missing directory is an I/O error; an empty one is empty.
    std::fs::write(d.join("broken.xml"), "<key").unwrap();
    assert!(matches!(KeyRing::from_dir(d), Err(Error::Malformed { .. })));
    assert!(matches!(
        KeyRing::from_dir(&d.join("missing")),
        Err(Error::Io { .. })
    ));
    let empty = tempdir();
    let r = KeyRing::from_dir(empty.path()).unwrap();
    assert_eq!(r.keys().count(), 0);
    assert!(matches!(
        r.protect_str(&["p"], "x", now()),
        Err(Error::NoActiveKey)
    ));
    assert!(matches!(
        r.unprotect_str(&["p"], V1_PAYLOAD),
        Err(Error::UnknownKey(_))
    ));
}

/// Two rings, one CBC key and one GCM key, both active now.
fn test_rings() -> Vec<KeyRing> {
    let n = now();
    let mk = |id: &str, enc: &str, val: Option<&str>| {
        let inner = default_descriptor(enc, val, &master_key_element(&random_master_key()));
        key_xml_full(
            id,
            n.add_seconds(-days(3.0)),
            n.add_seconds(-days(3.0)),
            n.add_seconds(days(87.0)),
            DEFAULT_DESERIALIZER,
            &inner,
        )
    };
    vec![
        ring(
            &[mk(
                "4b9c6bbf-3f43-4c35-a6e0-1c1d1d2a4a01",
                "AES_256_CBC",
                Some("HMACSHA256"),
            )],
            Some("app"),
        ),
        ring(
            &[mk(
                "4b9c6bbf-3f43-4c35-a6e0-1c1d1d2a4a02",
                "AES_128_GCM",
                None,
            )],
            Some("app"),
        ),
        ring(
            &[mk(
                "4b9c6bbf-3f43-4c35-a6e0-1c1d1d2a4a03",
                "AES_192_CBC",
                Some("HMACSHA512"),
            )],
            Some("app"),
        ),
    ]
}

#[test]
fn tampering_is_always_detected() {
    for r in test_rings() {
        let payload = r
            .protect(
                &["p"],
                b"a plaintext of a few blocks, long enough to span three AES blocks",
                now(),
            )
            .unwrap();
        assert_eq!(
            &*r.unprotect(&["p"], &payload).unwrap(),
            b"a plaintext of a few blocks, long enough to span three AES blocks"
        );
        for i in 0..payload.len() {
            for bit in [0x01u8, 0x80] {
                let mut t = payload.clone();
                t[i] ^= bit;
                match r.unprotect(&["p"], &t) {
                    Err(Error::UnknownKey(_)) if (4..20).contains(&i) => {}
                    Err(Error::Decrypt(_)) if !(4..20).contains(&i) => {}
                    other => panic!("byte {i} bit {bit:#x}: {other:?}"),
                }
            }
        }
        for len in 0..payload.len() {
            assert!(
                matches!(r.unprotect(&["p"], &payload[..len]), Err(Error::Decrypt(_))),
                "truncated to {len}"
            );
        }
        let mut longer = payload.clone();
        longer.push(0);
        assert!(matches!(
            r.unprotect(&["p"], &longer),
            Err(Error::Decrypt(_))
        ));
        // String form: every character replaced.
        let text = base64url_encode(&payload);
        for i in 0..text.len() {
            let mut t = text.clone().into_bytes();
            t[i] = if t[i] == b'A' { b'B' } else { b'A' };
            assert!(
                r.unprotect_str(&["p"], std::str::from_utf8(&t).unwrap())
                    .is_err(),
                "char {i}"
            );
        }
        assert!(r.unprotect_str(&["p"], &text[..text.len() - 1]).is_err());
        assert!(matches!(
            r.unprotect_str(&["p"], "not base64!"),
            Err(Error::Malformed { .. })
        ));
        assert!(matches!(
            r.unprotect_str(&["p"], ""),
            Err(Error::Decrypt(_))
        ));
        // Other purpose chains.
        for purposes in [&["P"][..], &["p", "q"], &[], &["", "p"], &["app", "p"]] {
            assert!(
                matches!(r.unprotect(purposes, &payload), Err(Error::Decrypt(_))),
                "{purposes:?}"
            );
        }
    }
    // Another application name, or none.
    let n = now();
    let key = active_key("9a3b7f3e-1111-4222-8333-944444444444", 3.0, 80.0);
    let key = std::slice::from_ref(&key);
    let payload = ring(key, Some("app")).protect_str(&["p"], "x", n).unwrap();
    assert!(matches!(
        ring(key, Some("App")).unprotect_str(&["p"], &payload),
        Err(Error::Decrypt(_))
    ));
    assert!(matches!(
        ring(key, None).unprotect_str(&["p"], &payload),
        Err(Error::Decrypt(_))
    ));
    // The app name is exactly a leading purpose.
    assert_eq!(
        &*ring(key, None)
            .unprotect_str(&["app", "p"], &payload)
            .unwrap(),
        "x"
    );
}

#[test]
fn key_lifecycle() {
    let n = now();
    let id = "5d0c5b3e-2f65-4b1a-9a8f-3c1e2d4f5a6b";
    let master = random_master_key();
    let mk = |c: f64, a: f64, e: f64| {
        key_xml(
            id,
            n.add_seconds(days(c)),
            n.add_seconds(days(a)),
            n.add_seconds(days(e)),
            &master,
        )
    };
    let active = ring(&[mk(-10.0, -10.0, 80.0)], Some("app"));
    let payload = active.protect_str(&["p"], "still readable", n).unwrap();
    assert_eq!(
        base64url_decode(&payload).unwrap()[4..20],
        Uuid::parse_str(id).unwrap().to_bytes_le()
    );
    // Expired, or not yet active: protects nothing new, still unprotects.
    for r in [
        ring(&[mk(-100.0, -100.0, -10.0)], Some("app")),
        ring(&[mk(-1.0, 10.0, 100.0)], Some("app")),
    ] {
        assert_eq!(r.default_key_id(n), None);
        assert!(matches!(
            r.protect_str(&["p"], "x", n),
            Err(Error::NoActiveKey)
        ));
        assert!(matches!(r.protected_len(1, n), Err(Error::NoActiveKey)));
        assert_eq!(
            &*r.unprotect_str(&["p"], &payload).unwrap(),
            "still readable"
        );
    }
    // Revoked: refused with KeyRevoked, whatever the rest of the payload.
    let revoked = ring(
        &[
            mk(-10.0, -10.0, 80.0),
            revocation_xml(id, "2020-01-01T00:00:00Z"),
        ],
        Some("app"),
    );
    assert!(
        matches!(revoked.unprotect_str(&["p"], &payload), Err(Error::KeyRevoked(k)) if k.to_string() == id)
    );
    assert!(matches!(
        revoked.unprotect_str(&["other"], &payload),
        Err(Error::KeyRevoked(_))
    ));
    assert_eq!(revoked.default_key_id(n), None);
    // Unknown key.
    let other = ring(
        &[active_key(
            "6e1d6c4f-3a76-4c2b-8b9a-4d2f3e5a6b7c",
            10.0,
            80.0,
        )],
        Some("app"),
    );
    assert!(
        matches!(other.unprotect_str(&["p"], &payload), Err(Error::UnknownKey(k)) if k.to_string() == id)
    );
}

#[test]
fn argument_rules_and_limits() {
    let r = &test_rings()[0];
    let n = now();
    // With an application name, an empty purpose list is the root protector itself.
    let p = r.protect_str(&[], "root", n).unwrap();
    assert_eq!(&*r.unprotect_str(&[], &p).unwrap(), "root");
    let bare = KeyRing::from_xml(&[active_key(
        "7f2e7d5a-4b87-4d3c-9cab-5e3f4a6b7c8d",
        3.0,
        80.0,
    )])
    .unwrap();
    assert!(matches!(
        bare.protect_str(&[], "x", n),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        bare.unprotect_str(&[], &p),
        Err(Error::InvalidArgument(_))
    ));
    let many = vec!["p"; MAX_PURPOSES + 1];
    assert!(matches!(
        r.protect_str(&many, "x", n),
        Err(Error::TooLarge { .. })
    ));
    assert!(r.protect_str(&many[1..], "x", n).is_ok());
    let big = vec![0u8; MAX_PAYLOAD_LEN + 1];
    assert!(matches!(
        r.protect(&["p"], &big, n),
        Err(Error::TooLarge { .. })
    ));
    assert!(matches!(
        r.unprotect(&["p"], &big),
        Err(Error::TooLarge { .. })
    ));
    // Binary plaintext that is not UTF-8 cannot come out of the string form.
    let p = base64url_encode(&r.protect(&["p"], &[0xFF, 0xFE], n).unwrap());
    assert!(matches!(
        r.unprotect_str(&["p"], &p),
        Err(Error::Decrypt(_))
    ));
    // Exact lengths.
    for len in [0, 1, 15, 16, 17, 1000] {
        for r in test_rings() {
            let pt = vec![7u8; len];
            assert_eq!(
                r.protect(&["p"], &pt, n).unwrap().len(),
                r.protected_len(len, n).unwrap()
            );
        }
    }
    // Padded and standard-alphabet input is read as ASP.NET Core reads it.
    let p = r.protect_str(&["p"], "lenient", n).unwrap();
    let padded = format!("{p}{}", "=".repeat((4 - p.len() % 4) % 4));
    assert_eq!(&*r.unprotect_str(&["p"], &padded).unwrap(), "lenient");
    if padded.contains(['-', '_']) {
        assert_eq!(
            &*r.unprotect_str(&["p"], &padded.replace('-', "+").replace('_', "/"))
                .unwrap(),
            "lenient"
        );
    }
    // Fresh randomness per payload.
    assert_ne!(
        r.protect_str(&["p"], "same", n).unwrap(),
        r.protect_str(&["p"], "same", n).unwrap()
    );
}

#[test]
fn shared_between_threads() {
    let rings = test_rings();
    let n = now();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let rings = &rings;
            scope.spawn(move || {
                for i in 0..200 {
                    let r = &rings[(t + i) % rings.len()];
                    let text = format!("thread {t} message {i}");
                    let p = r.protect_str(&["p", &text], &text, n).unwrap();
                    assert_eq!(r.unprotect_str(&["p", &text], &p).unwrap().as_str(), text);
                }
            });
        }
    });
}

// ---------------------------------------------------------------------------------------------
// The C ABI

mod c_abi {
    use super::*;
    use reftoken::ffi::reftoken_status::{self, *};
    use reftoken::ffi::*;
    use std::ffi::c_char;
    use std::ptr::{null, null_mut};

    fn rs(s: &str) -> reftoken_str {
        reftoken_str {
            ptr: s.as_ptr().cast(),
            len: s.len(),
        }
    }

    fn from_xml(elements: &[String], app: &str) -> (*mut reftoken_keyring, reftoken_status) {
        let strs: Vec<reftoken_str> = elements.iter().map(|e| rs(e)).collect();
        let mut out = null_mut();
        let st = unsafe {
            reftoken_keyring_new_from_xml(
                strs.as_ptr(),
                strs.len(),
                app.as_ptr().cast(),
                app.len(),
                &mut out,
            )
        };
        (out, st)
    }

    fn last_error() -> String {
        let mut buf = vec![0u8; 1024];
        let mut len = 0;
        unsafe { reftoken_last_error(buf.as_mut_ptr().cast(), buf.len(), &mut len) };
        String::from_utf8_lossy(&buf[..len]).into_owned()
    }

    #[test]
    fn unprotect_v1_through_the_c_abi() {
        let (ring, st) = from_xml(&[v1_key()], "repro-app");
        assert_eq!(st, REFTOKEN_OK);
        let purposes = [rs("purpose")];
        let mut len = 0usize;
        // Size query: NULL buffer.
        let st = unsafe {
            reftoken_unprotect(
                ring,
                purposes.as_ptr(),
                1,
                V1_PAYLOAD.as_ptr().cast(),
                V1_PAYLOAD.len(),
                null_mut(),
                0,
                &mut len,
            )
        };
        assert_eq!((st, len), (REFTOKEN_BUFFER_TOO_SMALL, 17));
        let mut buf = vec![0xAAu8; 18];
        let st = unsafe {
            reftoken_unprotect(
                ring,
                purposes.as_ptr(),
                1,
                V1_PAYLOAD.as_ptr().cast(),
                V1_PAYLOAD.len(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut len,
            )
        };
        assert_eq!((st, len), (REFTOKEN_OK, 17));
        assert_eq!(&buf, b"hello from 10.0.5\0");
        // Failures.
        let bad = V1_PAYLOAD.replace("CfDJ8Hp", "CfDJ8Hq");
        let st = unsafe {
            reftoken_unprotect(
                ring,
                purposes.as_ptr(),
                1,
                bad.as_ptr().cast(),
                bad.len(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut len,
            )
        };
        assert_eq!(st, REFTOKEN_UNKNOWN_KEY, "{}", last_error());
        let mut tampered = V1_PAYLOAD.to_owned().into_bytes();
        tampered[60] = if tampered[60] == b'A' { b'B' } else { b'A' };
        let st = unsafe {
            reftoken_unprotect(
                ring,
                purposes.as_ptr(),
                1,
                tampered.as_ptr().cast(),
                tampered.len(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut len,
            )
        };
        assert_eq!(st, REFTOKEN_CRYPTO_FAILURE);
        let st = unsafe {
            reftoken_unprotect(
                ring,
                purposes.as_ptr(),
                1,
                c"*".as_ptr(),
                1,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut len,
            )
        };
        assert_eq!(st, REFTOKEN_MALFORMED_INPUT);
        let st = unsafe {
            reftoken_unprotect(
                null(),
                purposes.as_ptr(),
                1,
                V1_PAYLOAD.as_ptr().cast(),
                V1_PAYLOAD.len(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut len,
            )
        };
        assert_eq!(st, REFTOKEN_NULL_ARGUMENT);
        let st = unsafe {
            reftoken_unprotect(
                ring,
                null(),
                1,
                V1_PAYLOAD.as_ptr().cast(),
                V1_PAYLOAD.len(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut len,
            )
        };
        assert_eq!(st, REFTOKEN_NULL_ARGUMENT);
        let invalid = [reftoken_str {
            ptr: b"\xFF".as_ptr().cast::<c_char>(),
            len: 1,
        }];
        let st = unsafe {
            reftoken_unprotect(
                ring,
                invalid.as_ptr(),
                1,
                V1_PAYLOAD.as_ptr().cast(),
                V1_PAYLOAD.len(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut len,
            )
        };
        assert_eq!(st, REFTOKEN_INVALID_UTF8);
        assert!(last_error().contains("purposes[0]"), "{}", last_error());
        let st = unsafe {
            reftoken_unprotect(
                ring,
                purposes.as_ptr(),
                1,
                V1_PAYLOAD.as_ptr().cast(),
                V1_PAYLOAD.len(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                null_mut(),
            )
        };
        assert_eq!(st, REFTOKEN_NULL_ARGUMENT);
        let too_many = vec![rs("p"); MAX_PURPOSES + 1];
        let st = unsafe {
            reftoken_unprotect(
                ring,
                too_many.as_ptr(),
                too_many.len(),
                V1_PAYLOAD.as_ptr().cast(),
                V1_PAYLOAD.len(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut len,
            )
        };
        assert_eq!(st, REFTOKEN_INPUT_TOO_LARGE);
        unsafe { reftoken_keyring_free(ring) };
        unsafe { reftoken_keyring_free(null_mut()) };
    }

    #[test]
    fn protect_round_trip_through_the_c_abi() {
        let id = "8a1f8e6b-5c98-4e4d-8dbc-6f4a5b7c8d9e";
        let (ring, st) = from_xml(&[active_key(id, 3.0, 80.0)], "app");
        assert_eq!(st, REFTOKEN_OK);
        let now = now().unix_seconds();
        // The default key.
        let mut idbuf = [0u8; 37];
        let mut len = 0;
        assert_eq!(
            unsafe {
                reftoken_keyring_default_key_id(
                    ring,
                    now,
                    idbuf.as_mut_ptr().cast(),
                    idbuf.len(),
                    &mut len,
                )
            },
            REFTOKEN_OK
        );
        assert_eq!(std::str::from_utf8(&idbuf[..len]).unwrap(), id);
        assert_eq!(
            unsafe {
                reftoken_keyring_default_key_id(
                    ring,
                    now + 100 * 86_400,
                    idbuf.as_mut_ptr().cast(),
                    idbuf.len(),
                    &mut len,
                )
            },
            REFTOKEN_UNKNOWN_KEY
        );
        let purposes = [rs("PersistentGrantSerializer"), rs("ünï")];
        for text in ["", "a", "{\"json\":\"ünïcødé\"}", &"x".repeat(1000)] {
            let mut needed = 0;
            let st = unsafe {
                reftoken_protect(
                    ring,
                    purposes.as_ptr(),
                    2,
                    text.as_ptr().cast(),
                    text.len(),
                    now,
                    null_mut(),
                    0,
                    &mut needed,
                )
            };
            assert_eq!(st, REFTOKEN_BUFFER_TOO_SMALL);
            let mut buf = vec![0u8; needed];
            let st = unsafe {
                reftoken_protect(
                    ring,
                    purposes.as_ptr(),
                    2,
                    text.as_ptr().cast(),
                    text.len(),
                    now,
                    buf.as_mut_ptr().cast(),
                    needed - 1,
                    &mut len,
                )
            };
            assert_eq!((st, len), (REFTOKEN_BUFFER_TOO_SMALL, needed));
            let st = unsafe {
                reftoken_protect(
                    ring,
                    purposes.as_ptr(),
                    2,
                    text.as_ptr().cast(),
                    text.len(),
                    now,
                    buf.as_mut_ptr().cast(),
                    needed,
                    &mut len,
                )
            };
            assert_eq!((st, len), (REFTOKEN_OK, needed));
            assert!(buf.starts_with(b"CfDJ8"));
            let mut plain = vec![0u8; text.len() + 1];
            let st = unsafe {
                reftoken_unprotect(
                    ring,
                    purposes.as_ptr(),
                    2,
                    buf.as_ptr().cast(),
                    buf.len(),
                    plain.as_mut_ptr().cast(),
                    plain.len(),
                    &mut len,
                )
            };
            assert_eq!((st, &plain[..len]), (REFTOKEN_OK, text.as_bytes()));
            // Binary forms.
            let st = unsafe {
                reftoken_protect_bytes(
                    ring,
                    purposes.as_ptr(),
                    2,
                    text.as_ptr(),
                    text.len(),
                    now,
                    null_mut(),
                    0,
                    &mut needed,
                )
            };
            assert_eq!(st, REFTOKEN_BUFFER_TOO_SMALL);
            let mut bin = vec![0u8; needed];
            let st = unsafe {
                reftoken_protect_bytes(
                    ring,
                    purposes.as_ptr(),
                    2,
                    text.as_ptr(),
                    text.len(),
                    now,
                    bin.as_mut_ptr(),
                    bin.len(),
                    &mut len,
                )
            };
            assert_eq!((st, len), (REFTOKEN_OK, needed));
            let st = unsafe {
                reftoken_unprotect_bytes(
                    ring,
                    purposes.as_ptr(),
                    2,
                    bin.as_ptr(),
                    bin.len(),
                    plain.as_mut_ptr(),
                    plain.len(),
                    &mut len,
                )
            };
            assert_eq!((st, &plain[..len]), (REFTOKEN_OK, text.as_bytes()));
        }
        // Plaintext for the string form must be UTF-8.
        let mut buf = vec![0u8; 200];
        let st = unsafe {
            reftoken_protect(
                ring,
                purposes.as_ptr(),
                2,
                b"\xFF".as_ptr().cast(),
                1,
                now,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut len,
            )
        };
        assert_eq!(st, REFTOKEN_INVALID_UTF8);
        // No default key at that time.
        let st = unsafe {
            reftoken_protect(
                ring,
                purposes.as_ptr(),
                2,
                c"x".as_ptr(),
                1,
                now + 100 * 86_400,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut len,
            )
        };
        assert_eq!(st, REFTOKEN_UNKNOWN_KEY);
        unsafe { reftoken_keyring_free(ring) };
    }

    #[test]
    fn keyring_construction_through_the_c_abi() {
        // Not NULL, to see it cleared.
        let mut out = std::ptr::NonNull::<reftoken_keyring>::dangling().as_ptr();
        let dir = "/nonexistent/keys";
        let st = unsafe {
            reftoken_keyring_new_from_dir(dir.as_ptr().cast(), dir.len(), null(), 0, &mut out)
        };
        assert_eq!(st, REFTOKEN_IO_ERROR);
        assert!(out.is_null());
        let st = unsafe { reftoken_keyring_new_from_dir(null(), 3, null(), 0, &mut out) };
        assert_eq!(st, REFTOKEN_NULL_ARGUMENT);
        let st = unsafe {
            reftoken_keyring_new_from_dir(dir.as_ptr().cast(), dir.len(), null(), 0, null_mut())
        };
        assert_eq!(st, REFTOKEN_NULL_ARGUMENT);
        // From a directory, with the app name.
        let tmp = tempdir();
        std::fs::write(tmp.path().join("k.xml"), v1_key()).unwrap();
        let path = tmp.path().to_str().unwrap();
        let st = unsafe {
            reftoken_keyring_new_from_dir(
                path.as_ptr().cast(),
                path.len(),
                c"repro-app".as_ptr(),
                9,
                &mut out,
            )
        };
        assert_eq!(st, REFTOKEN_OK);
        let mut buf = [0u8; 64];
        let mut len = 0;
        let st = unsafe {
            reftoken_unprotect(
                out,
                [rs("purpose")].as_ptr(),
                1,
                V1_PAYLOAD.as_ptr().cast(),
                V1_PAYLOAD.len(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut len,
            )
        };
        assert_eq!((st, &buf[..len]), (REFTOKEN_OK, &b"hello from 10.0.5"[..]));
        unsafe { reftoken_keyring_free(out) };
        // An empty ring from no elements; malformed XML.
        let mut empty = null_mut();
        assert_eq!(
            unsafe { reftoken_keyring_new_from_xml(null(), 0, null(), 0, &mut empty) },
            REFTOKEN_OK
        );
        let st = unsafe {
            reftoken_protect(
                empty,
                [rs("p")].as_ptr(),
                1,
                c"x".as_ptr(),
                1,
                0,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut len,
            )
        };
        assert_eq!(st, REFTOKEN_UNKNOWN_KEY);
        // No app name and no purposes.
        let st = unsafe {
            reftoken_unprotect(
                empty,
                null(),
                0,
                V1_PAYLOAD.as_ptr().cast(),
                V1_PAYLOAD.len(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut len,
            )
        };
        assert_eq!(st, REFTOKEN_INVALID_ARGUMENT);
        unsafe { reftoken_keyring_free(empty) };
        assert_eq!(
            unsafe { reftoken_keyring_new_from_xml(null(), 1, null(), 0, &mut empty) },
            REFTOKEN_NULL_ARGUMENT
        );
        let (r, st) = from_xml(&["<key".into()], "");
        assert_eq!(st, REFTOKEN_MALFORMED_INPUT);
        assert!(r.is_null());
        let (r, st) = from_xml(&[dpapi_key(V1_ID, now(), now(), now())], "repro-app");
        assert_eq!(st, REFTOKEN_OK);
        let st = unsafe {
            reftoken_unprotect(
                r,
                [rs("purpose")].as_ptr(),
                1,
                V1_PAYLOAD.as_ptr().cast(),
                V1_PAYLOAD.len(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut len,
            )
        };
        assert_eq!(st, REFTOKEN_UNSUPPORTED_PROTECTOR);
        assert!(last_error().contains("DpapiXmlDecryptor"));
        unsafe { reftoken_keyring_free(r) };
    }
}

//! Cross-implementation: every algorithm, both directions, against real ASP.NET Core
//! (tests/dotnet/DataProtectionOracle).

use reftoken::dataprotection::{
    DefaultKeyPolicy, HmacAlgorithm, application_discriminator, base64url_decode,
};
use serde_json::{Value, json};

use super::*;
use crate::common::{DATA_PROTECTION_ORACLE, must_str as s, ok};

/// Runs a batch of operations through real ASP.NET Core; one result per operation.
fn oracle(ops: &[Value]) -> Vec<Value> {
    DATA_PROTECTION_ORACLE.run(ops)
}

fn app_json(app: Option<&str>) -> Value {
    app.map_or(Value::Null, |a| json!(a))
}

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
/// `default_key_id` names (or, where that is `None`, a key ASP.NET Core just created). One test
/// per scenario; ASP.NET Core protects in all of them in one run.
mod cross_default_key_selection {
    use std::collections::HashMap;
    use std::sync::OnceLock;

    use super::*;

    const A: &str = "aaaaaaaa-0000-4000-8000-000000000001";
    const B: &str = "bbbbbbbb-0000-4000-8000-000000000002";
    // Two ids whose order differs between Guid.CompareTo (Data1 first) and raw byte order.
    const LO: &str = "00000001-0000-4000-8000-000000000000";
    const HI: &str = "00000100-0000-4000-8000-000000000000";

    /// Key files (name, XML), and the key `default_key_id` must name (`None`: none of them).
    struct Scenario {
        name: &'static str,
        files: Vec<(String, String)>,
        want: Option<&'static str>,
    }

    fn scenarios(n: Instant) -> Vec<Scenario> {
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
        vec![
            Scenario {
                name: "a single active key",
                files: vec![(A.into(), mk(A, -10.0, -10.0, 80.0))],
                want: Some(A),
            },
            Scenario {
                name: "the most recently activated key, even if too new to have propagated",
                files: vec![
                    (A.into(), mk(A, -10.0, -10.0, 80.0)),
                    (B.into(), mk(B, -1.0, -1.0, 89.0)),
                ],
                want: Some(B),
            },
            Scenario {
                name: "activation decides, not creation",
                files: vec![
                    (A.into(), mk(A, -10.0, -2.0, 80.0)),
                    (B.into(), mk(B, -3.0, -3.0, 87.0)),
                ],
                want: Some(A),
            },
            Scenario {
                name: "the preferred key is expired: a new key is created",
                files: vec![
                    (A.into(), mk(A, -100.0, -100.0, -0.1)),
                    (B.into(), mk(B, -1.0, 1.0, 91.0)),
                ],
                want: None,
            },
            Scenario {
                name: "activated within the clock skew",
                files: vec![
                    (A.into(), mk(A, -0.01, 3.0 / 1440.0, 90.0)),
                    (B.into(), mk(B, -0.01, -1.0, 90.0)),
                ],
                want: Some(A),
            },
            Scenario {
                name: "not yet activated beyond the clock skew: a new key is created",
                files: vec![(A.into(), mk(A, -0.01, 10.0 / 1440.0, 90.0))],
                want: None,
            },
            Scenario {
                name: "the preferred key is revoked: a new key is created",
                files: vec![
                    (A.into(), mk(A, -10.0, -10.0, 80.0)),
                    (B.into(), mk(B, -1.0, -1.0, 89.0)),
                    ("revocation".into(), revocation_xml(B, &fmt(at(-0.5)))),
                ],
                want: None,
            },
            Scenario {
                name: "revoke-all before a date spares later keys",
                files: vec![
                    (A.into(), mk(A, -10.0, -10.0, 80.0)),
                    (B.into(), mk(B, -3.0, -1.0, 87.0)),
                    ("revocation".into(), revocation_xml("*", &fmt(at(-5.0)))),
                ],
                want: Some(B),
            },
            Scenario {
                name: "equal activation: the smaller Guid",
                files: vec![
                    (
                        HI.into(),
                        key_xml(HI, at(-10.0), at(-5.0), at(80.0), &random_master_key()),
                    ),
                    (
                        LO.into(),
                        key_xml(LO, at(-10.0), at(-5.0), at(80.0), &random_master_key()),
                    ),
                ],
                want: Some(LO),
            },
            Scenario {
                name: "an older revoked key does not matter",
                files: vec![
                    (A.into(), mk(A, -10.0, -10.0, 80.0)),
                    (B.into(), mk(B, -1.0, -1.0, 89.0)),
                    ("revocation".into(), revocation_xml(A, &fmt(at(-0.5)))),
                ],
                want: Some(B),
            },
            Scenario {
                name: "an unusable (DPAPI) preferred key: a new key is created",
                files: vec![
                    (A.into(), dpapi_key(A, at(-1.0), at(-1.0), at(80.0))),
                    (B.into(), mk(B, -10.0, -10.0, 89.0)),
                ],
                want: None,
            },
        ]
    }

    /// RefToken's default key and the keys it read, ASP.NET Core's operation and result.
    struct Outcome {
        want: Option<&'static str>,
        ours: Option<Uuid>,
        ids: Vec<Uuid>,
        op: Value,
        theirs: Value,
    }

    fn outcomes() -> &'static HashMap<&'static str, Outcome> {
        static OUTCOMES: OnceLock<HashMap<&'static str, Outcome>> = OnceLock::new();
        OUTCOMES.get_or_init(|| {
            let n = now();
            let root = tempdir();
            let mut ops = Vec::new();
            let mut ours = Vec::new();
            for (i, sc) in scenarios(n).into_iter().enumerate() {
                let dir = root.path().join(format!("s{i}"));
                std::fs::create_dir(&dir).unwrap();
                for (f, xml) in &sc.files {
                    std::fs::write(dir.join(format!("{f}.xml")), xml).unwrap();
                }
                let ring = KeyRing::from_dir(&dir).unwrap();
                ours.push((sc, ring.default_key_id(n), ring.keys().map(|k| k.id).collect()));
                ops.push(json!({"op": "protect", "dir": dir, "app": "app", "purposes": ["p"], "plaintext_b64": ""}));
            }
            let results = oracle(&ops);
            ours.into_iter()
                .zip(ops.into_iter().zip(results))
                .map(|((sc, default, ids), (op, theirs))| {
                    let o = Outcome { want: sc.want, ours: default, ids, op, theirs };
                    (sc.name, o)
                })
                .collect()
        })
    }

    fn selects(name: &str) {
        let o = &outcomes()[name];
        assert_eq!(
            o.ours.map(|u| u.to_string()).as_deref(),
            o.want,
            "RefToken's choice"
        );
        let theirs = Uuid::parse_str(s(&ok(&o.op, &o.theirs)["key_id"])).unwrap();
        match o.ours {
            Some(id) => assert_eq!(id, theirs, "ASP.NET Core's choice"),
            None => assert!(
                !o.ids.contains(&theirs),
                "ASP.NET Core used an existing key {theirs}"
            ),
        }
    }

    test_cases!(selects {
        a_single_active_key: ("a single active key"),
        the_most_recently_activated_key: ("the most recently activated key, even if too new to have propagated"),
        activation_decides_not_creation: ("activation decides, not creation"),
        the_preferred_key_is_expired: ("the preferred key is expired: a new key is created"),
        activated_within_the_clock_skew: ("activated within the clock skew"),
        not_yet_activated_beyond_the_clock_skew: ("not yet activated beyond the clock skew: a new key is created"),
        the_preferred_key_is_revoked: ("the preferred key is revoked: a new key is created"),
        revoke_all_before_a_date_spares_later_keys: ("revoke-all before a date spares later keys"),
        equal_activation_the_smaller_guid: ("equal activation: the smaller Guid"),
        an_older_revoked_key_does_not_matter: ("an older revoked key does not matter"),
        an_unusable_dpapi_preferred_key: ("an unusable (DPAPI) preferred key: a new key is created"),
    });

    #[test]
    fn every_scenario_has_a_test() {
        assert_eq!(scenarios(now()).len(), 11);
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

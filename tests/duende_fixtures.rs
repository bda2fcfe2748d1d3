//! Every introspection a real Duende IdentityServer 7.4.8 answered (tests/fixtures/duende,
//! see its README for how they were made), reproduced from the stored rows byte for byte.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use reftoken::dataprotection::KeyRing;
use reftoken::grant;
use reftoken::instant;
use reftoken::introspection::{Caller, Options};
use reftoken::key;
use reftoken::validation::{self, StoredGrant};
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/duende")
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(name)).expect("fixture file");
    serde_json::from_str(&text).expect("fixture JSON")
}

fn s(v: &Value) -> Option<&str> {
    v.as_str()
}

struct Fixtures {
    rows: HashMap<(String, String), StoredGrant>,
    enabled_clients: HashSet<String>,
    api_scopes: HashMap<String, Vec<String>>,
    keyring: KeyRing,
}

fn fixtures_loaded() -> Fixtures {
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
    let secrets = load("secrets.json");
    let enabled_clients = secrets["clients"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["enabled"].as_bool() == Some(true))
        .map(|c| s(&c["client_id"]).unwrap().to_owned())
        .collect();
    let api_scopes = secrets["api_scopes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| s(x).unwrap().to_owned())
                    .collect(),
            )
        })
        .collect();
    let keyring = KeyRing::from_dir(&fixtures().join("keyring"))
        .expect("fixture key ring")
        .with_application_name(Some("reftoken-fixtures"));
    Fixtures {
        rows,
        enabled_clients,
        api_scopes,
        keyring,
    }
}

#[test]
fn every_store_key_matches_duende() {
    let grants = load("grants.json");
    let mut n = 0;
    for g in grants.as_array().unwrap() {
        let (Some(handle), Some(gt)) = (s(&g["handle"]), s(&g["grant_type"])) else {
            continue;
        };
        assert_eq!(
            key::store_key(handle, gt).unwrap().as_str(),
            s(&g["key"]).unwrap(),
            "{}",
            g["name"]
        );
        n += 1;
    }
    assert!(n >= 100, "only {n} rows with handles");
}

#[test]
fn every_payload_reads_and_reserializes_as_duende_wrote_it() {
    let grants = load("grants.json");
    let mut n = 0;
    for g in grants.as_array().unwrap() {
        if s(&g["type"]) != Some("reference_token") {
            continue;
        }
        let Some(payload) = s(&g["payload"]) else {
            continue;
        };
        let name = s(&g["name"]).unwrap();
        let token = grant::Token::from_json(payload).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Rows written by the current serializer come back byte for byte; older shapes
        // (version 0, nulls written) only need to read.
        if payload.contains("\"Scopes\":") && !payload.contains("null") {
            assert_eq!(token.to_json(), payload, "{name}");
            n += 1;
            if s(&g["data"]).is_some_and(|d| d.contains("\"DataProtected\":false")) {
                assert_eq!(
                    grant::seal_data(&token.to_json(), false),
                    s(&g["data"]).unwrap(),
                    "{name}"
                );
            }
        }
    }
    assert!(n >= 60, "only {n} payloads compared");
}

#[test]
fn every_introspection_response_matches_duende() {
    let f = fixtures_loaded();
    let cases = load("introspection.json");
    let (mut compared, mut errors) = (0, 0);
    for c in cases.as_array().unwrap() {
        let name = s(&c["name"]).unwrap();
        let status = c["status"].as_i64().unwrap();
        // Endpoint-level results (401/400/405/415, JWT) are the endpoint's business.
        if !(status == 200 || status == 500) || c["request"]["accept"].is_string() {
            continue;
        }
        let caller_json = &c["caller"];
        let caller_name = s(&caller_json["name"])
            .or_else(|| s(&caller_json["id"]))
            .unwrap();
        let scopes: Vec<&str> = f
            .api_scopes
            .get(caller_name)
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let caller = match s(&caller_json["kind"]) {
            Some("api") => Caller::Api {
                name: caller_name,
                scopes: &scopes,
            },
            _ => Caller::Client { id: caller_name },
        };
        let db = s(&c["db"]).unwrap();
        let form = c["request"]["form"].as_str().unwrap();
        let param = |name: &str| {
            form.split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| percent_decode(v))
        };
        let handle = param("token").unwrap_or_default();
        let hint = match param("token_type_hint").as_deref() {
            Some("refresh_token") => Some(validation::TokenTypeHint::RefreshToken),
            Some("access_token") => Some(validation::TokenTypeHint::AccessToken),
            _ => None,
        };
        let now = instant::parse(s(&c["now"]).unwrap()).unwrap();
        let enabled = |id: &str| f.enabled_clients.contains(id);
        // Only ropc.client was configured with AllowOfflineAccess (see the generator).
        let offline = |id: &str| id == "ropc.client";
        let opts = Options {
            client_enabled: Some(&enabled),
            offline_access: Some(&offline),
            ..Options::default()
        };
        let result = validation::introspect_handle(
            &handle,
            hint,
            |k| Ok(f.rows.get(&(db.to_owned(), k.to_owned())).cloned()),
            Some(&f.keyring),
            &caller,
            now,
            &opts,
        );
        if status == 500 {
            assert!(
                result.is_err(),
                "{name}: IdentityServer failed (500) but RefToken answered {result:?}"
            );
            errors += 1;
        } else {
            let body = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(body, s(&c["body"]).unwrap(), "{name}");
            compared += 1;
        }
    }
    assert!(
        compared >= 170 && errors >= 4,
        "compared {compared}, errors {errors}"
    );
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// introspection-cases.tsv (the C harness's copy of the cases) says what the JSON says.
#[test]
fn the_c_harness_case_list_matches_the_json_fixtures() {
    let cases = load("introspection.json");
    let by_name: HashMap<&str, &Value> = cases
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (s(&c["name"]).unwrap(), c))
        .collect();
    let grants = load("grants.json");
    let data: HashSet<&str> = grants
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| s(&g["data"]))
        .collect();
    let tsv = std::fs::read_to_string(fixtures().join("introspection-cases.tsv")).unwrap();
    let mut n = 0;
    for line in tsv.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 8, "{line}");
        let c = by_name[f[0]];
        assert_eq!(f[4], c["now_unix"].to_string(), "{}", f[0]);
        assert_eq!(f[5], c["status"].to_string(), "{}", f[0]);
        if f[5] == "200" {
            assert_eq!(f[7], s(&c["body"]).unwrap(), "{}", f[0]);
        }
        assert!(
            data.contains(f[6]),
            "{}: Data column not among the stored rows",
            f[0]
        );
        n += 1;
    }
    assert!(n >= 150, "{n}");
}

//! Every introspection a real Duende IdentityServer 7.4.8 answered (tests/fixtures/duende,
//! see its README for how they were made), reproduced from the stored rows byte for byte.

#[macro_use]
mod common;

use std::collections::{HashMap, HashSet};

use reftoken::dataprotection::KeyRing;
use reftoken::grant;
use reftoken::instant;
use reftoken::introspection::{Caller, Options};
use reftoken::key;
use reftoken::validation::{self, StoredGrant};
use serde_json::Value;

use common::{
    api_scopes, check_all, clients_enabled, fixture_keyring, fixture_rows, fixtures, load, s,
};

struct Fixtures {
    rows: HashMap<(String, String), StoredGrant>,
    enabled_clients: HashSet<String>,
    api_scopes: HashMap<String, Vec<String>>,
    keyring: KeyRing,
}

fn fixtures_loaded() -> Fixtures {
    let secrets = load("secrets.json");
    Fixtures {
        rows: fixture_rows(),
        enabled_clients: clients_enabled(&secrets)
            .into_iter()
            .filter_map(|(id, enabled)| enabled.then_some(id))
            .collect(),
        api_scopes: api_scopes(&secrets),
        keyring: fixture_keyring(),
    }
}

/// The grants of grants.json, each named by its name and database.
fn named_grants() -> Vec<(String, Value)> {
    let grants = load("grants.json");
    grants
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (format!("{} in {}", g["name"], g["db"]), g.clone()))
        .collect()
}

#[test]
fn every_store_key_matches_duende() {
    let with_handles = named_grants()
        .into_iter()
        .filter(|(_, g)| s(&g["handle"]).is_some() && s(&g["grant_type"]).is_some());
    let n = check_all(with_handles, |g| {
        let (handle, gt) = (s(&g["handle"]).unwrap(), s(&g["grant_type"]).unwrap());
        assert_eq!(
            key::store_key(handle, gt).unwrap().as_str(),
            s(&g["key"]).unwrap()
        );
    });
    assert!(n >= 100, "only {n} rows with handles");
}

#[test]
fn every_payload_reads_and_reserializes_as_duende_wrote_it() {
    let tokens = named_grants()
        .into_iter()
        .filter(|(_, g)| s(&g["type"]) == Some("reference_token") && s(&g["payload"]).is_some());
    let mut n = 0;
    check_all(tokens, |g| {
        let payload = s(&g["payload"]).unwrap();
        let token = grant::Token::from_json(payload).unwrap_or_else(|e| panic!("{e}"));
        // Rows written by the current serializer come back byte for byte; older shapes
        // (version 0, nulls written) only need to read.
        if payload.contains("\"Scopes\":") && !payload.contains("null") {
            assert_eq!(token.to_json(), payload);
            n += 1;
            if s(&g["data"]).is_some_and(|d| d.contains("\"DataProtected\":false")) {
                assert_eq!(
                    grant::seal_data(&token.to_json(), false),
                    s(&g["data"]).unwrap()
                );
            }
        }
    });
    assert!(n >= 60, "only {n} payloads compared");
}

#[test]
fn every_introspection_response_matches_duende() {
    let f = fixtures_loaded();
    let cases = load("introspection.json");
    let (mut compared, mut errors) = (0, 0);
    // Endpoint-level results (401/400/405/415, JWT) are the endpoint's business.
    let answered = cases.as_array().unwrap().iter().filter(|c| {
        let status = c["status"].as_i64().unwrap();
        (status == 200 || status == 500) && !c["request"]["accept"].is_string()
    });
    check_all(
        answered.map(|c| (s(&c["name"]).unwrap().to_owned(), c)),
        |c| {
            let name = s(&c["name"]).unwrap();
            let status = c["status"].as_i64().unwrap();
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
        },
    );
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
    let lines = tsv.lines().filter(|l| !l.starts_with('#'));
    let n = check_all(
        lines.map(|l| (l.split('\t').next().unwrap().to_owned(), l)),
        |line| {
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
        },
    );
    assert!(n >= 150, "{n}");
}

//! The introspection endpoint: shared secrets, Basic and form-body credentials, the form and
//! content type, the endpoint's answers and RFC 9701 JWT responses.
//!
//! Expected values come from elsewhere: .NET itself (tests/dotnet/EndpointOracle: SHA-256/512,
//! base64, UTF-8, `Uri.UnescapeDataString`, ASP.NET Core's form reader and media-type parser,
//! RSA/ECDsa signature verification), the stored secrets Duende computed
//! (tests/fixtures/duende/secrets.json) and the answers of a real Duende IdentityServer 7.4.8
//! (tests/fixtures/duende/introspection.json). The .NET tests are never skipped: without
//! `dotnet` on PATH they fail.
//!
//! Here: the fixture host's configuration and keys; the sections are the modules below.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod basic_credentials;
mod duende_answers;
mod forms;
mod jwt_responses;
mod secrets;
mod timing;

use std::collections::HashMap;
use std::ffi::c_char;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reftoken::Error;
use reftoken::endpoint::{self, ApiResource, Client};
use reftoken::instant::Instant;
use reftoken::secret::{self, HashAlgorithm, StoredSecret};
use reftoken_ffi::{self as ffi, reftoken_status, reftoken_str};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use common::{ENDPOINT_ORACLE, api_scopes, clients_enabled, load, ok, s};

/// Runs a batch of operations through .NET (tests/dotnet/EndpointOracle); one result per
/// operation.
fn oracle(ops: &[Value]) -> Vec<Value> {
    ENDPOINT_ORACLE.run(ops)
}

/// Asks the oracle `op` of every input in one batch, then `check`s each input with its
/// answer (an error answer fails that input), as `check_all` does: a failure names the input.
fn check_with_oracle<T: std::fmt::Debug>(
    inputs: &[T],
    op: impl Fn(&T) -> Value,
    mut check: impl FnMut(&T, &Value),
) {
    let ops: Vec<Value> = inputs.iter().map(op).collect();
    let results = oracle(&ops);
    let cases = inputs.iter().zip(&ops).zip(&results);
    common::check_all(
        cases.map(|((i, op), r)| (format!("{i:?}"), (i, op, r))),
        |(i, op, r)| check(i, ok(op, r)),
    );
}

// ---------------------------------------------------------------------------------------------
// Fixtures

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
    let enabled = clients_enabled(&secrets);
    let scopes = api_scopes(&secrets);
    for e in secrets["secrets"].as_array().unwrap() {
        let name = s(&e["name"]).unwrap().to_owned();
        let stored = vec![StoredSecret::new(s(&e["stored"]).unwrap().to_owned())];
        plaintext.insert(name.clone(), s(&e["secret"]).unwrap().to_owned());
        if s(&e["kind"]) == Some("api") {
            let scopes = scopes[&name].clone();
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
                    enabled: enabled[&name],
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

/// A Basic `Authorization` header of `pair` (`id:secret`).
fn basic(pair: &[u8]) -> String {
    format!("Basic {}", STANDARD.encode(pair))
}

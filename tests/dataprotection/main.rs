//! ASP.NET Core Data Protection: behaviour tests, C ABI tests, and cross-implementation tests
//! against real ASP.NET Core (tests/dotnet/DataProtectionOracle, built here with the .NET SDK).
//!
//! The cross-implementation tests are never skipped: without `dotnet` on PATH they fail.
//!
//! Here: the key files and rings the sections share; the sections are the modules below.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod behaviour;
mod c_abi;
mod cross_implementation;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reftoken::Error;
use reftoken::dataprotection::{AesKeySize, Algorithm, KeyRing, base64url_decode};
use reftoken::instant::{self, Instant};
use uuid::Uuid;

use common::DEFAULT_DESERIALIZER;

// ---------------------------------------------------------------------------------------------
// Fixtures

const V1_ID: &str = "ead9607a-7754-4369-a7f4-6696e5713ced";
const V1_MASTER_KEY: &str =
    "iEQ2XFkBUwAnEotfX5b+ZWrqKdJFlxJ4bDuJqljdR6KNolzKxa/1hro1PZg4tsb6CJsOZ/fCA/8VKGX+bXHq4Q==";
/// Real ASP.NET Core 10.0.5 output (dataprotection.md V1): app "repro-app", purpose "purpose".
const V1_PAYLOAD: &str = "CfDJ8Hpg2epUd2lDp_RmluVxPO1RuoXCtT528WJ_4cy3XD_uhLBk9GBkYOQF-iIWlloCb4CP7rX609LnU7BiXXgZU1fKvNGfjwau5YJRIXcvDyXDnvn1kyRDojEYPc5Ic4WQgzBnpZrf2qiI4JrX9nkqCew";
/// §16.2: the V1 key as AES-256-GCM, same chain and plaintext.
const V1_GCM_PAYLOAD: &str = "CfDJ8Hpg2epUd2lDp_RmluVxPO0AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHv-GIF-TsrF20gixJYkLtZA1tvaDOmVgAqLE2-FOVuxc";
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

/// A key of the default descriptor (AES-256-CBC, HMACSHA256) whose master key is `secret`
/// (a `<masterKey>` or an `<encryptedSecret>` element).
fn default_key_xml(
    id: &str,
    creation: Instant,
    activation: Instant,
    expiration: Instant,
    secret: &str,
) -> String {
    key_xml_full(
        id,
        creation,
        activation,
        expiration,
        DEFAULT_DESERIALIZER,
        &default_descriptor("AES_256_CBC", Some("HMACSHA256"), secret),
    )
}

fn key_xml(
    id: &str,
    creation: Instant,
    activation: Instant,
    expiration: Instant,
    master: &str,
) -> String {
    default_key_xml(
        id,
        creation,
        activation,
        expiration,
        &master_key_element(master),
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

/// A key whose master key is encrypted with Windows DPAPI (which RefToken cannot read).
fn dpapi_key(id: &str, creation: Instant, activation: Instant, expiration: Instant) -> String {
    let secret = r#"<encryptedSecret decryptorType="Microsoft.AspNetCore.DataProtection.XmlEncryption.DpapiXmlDecryptor, Microsoft.AspNetCore.DataProtection, Version=8.0.0.0, Culture=neutral, PublicKeyToken=adb9793829ddae60" xmlns="http://schemas.asp.net/2015/03/dataProtection"><encryptedKey xmlns=""><!-- This key is encrypted with Windows DPAPI. --><value>AQAAANCMnd8BFdERjHoAwE/Cl+sBAAAA</value></encryptedKey></encryptedSecret>"#;
    default_key_xml(id, creation, activation, expiration, secret)
}

//! `reftoken keyring check`: a key ring's health (default, expiring, revoked and unusable
//! keys) and, with a store, which key protects each grant, on the Duende fixtures (their key
//! ring, and the same rows with the key removed).

mod common;

use std::collections::BTreeMap;

use common::{Run, fixture, fixtures, json, reftoken, unix_now};
use reftoken::instant::Instant;
use serde_json::Value;

/// The key id in a protected payload's header (magic 0x09F0C9F0, then `Guid.ToByteArray()`),
/// read with a base64url decoder of the test's own.
fn header_key_id(payload: &str) -> String {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => panic!("not base64url"),
    };
    let mut bytes = Vec::new();
    for chunk in payload.as_bytes()[..28].chunks(4) {
        let n = chunk.iter().fold(0u32, |a, &c| a << 6 | u32::from(val(c)));
        bytes.extend_from_slice(&n.to_be_bytes()[1..]);
    }
    assert_eq!(bytes[..4], [0x09, 0xF0, 0xC9, 0xF0]);
    let b = &bytes[4..20];
    format!(
        "{:08x}-{:04x}-{:04x}-{}-{}",
        u32::from_le_bytes(b[0..4].try_into().unwrap()),
        u16::from_le_bytes(b[4..6].try_into().unwrap()),
        u16::from_le_bytes(b[6..8].try_into().unwrap()),
        b[8..10]
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>(),
        b[10..16]
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
    )
}

type ByType = BTreeMap<String, u64>;

/// Protected rows of a fixture database by header key id and type, and unprotected rows by
/// type, from the rows themselves.
fn fixture_counts(file: &str) -> (BTreeMap<String, ByType>, ByType, u64) {
    let c = rusqlite::Connection::open_with_flags(
        fixtures().join(file),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = c
        .prepare(r#"SELECT "Type", "Data" FROM "PersistedGrants""#)
        .unwrap();
    let mut by_key: BTreeMap<String, ByType> = BTreeMap::new();
    let mut plain = BTreeMap::new();
    let mut total = 0;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap();
    for row in rows {
        let (ty, data) = row.unwrap();
        total += 1;
        let Ok(v) = serde_json::from_str::<Value>(&data) else {
            continue;
        };
        match (v["DataProtected"].as_bool(), v["Payload"].as_str()) {
            // Shorter than its header (the fixtures' truncated payload): no key id to read.
            (Some(true), Some(p)) if p.starts_with("CfDJ8") && p.len() >= 28 => {
                *by_key
                    .entry(header_key_id(p))
                    .or_default()
                    .entry(ty)
                    .or_default() += 1;
            }
            // A container (version 1, the only one IdentityServer reads) with DataProtected
            // false, or none (version 0: IdentityServer4 rows).
            (Some(false), _) if v["PersistentGrantDataContainerVersion"] == 1 => {
                *plain.entry(ty).or_default() += 1
            }
            (None, _) if v.get("PersistentGrantDataContainerVersion").is_none() => {
                *plain.entry(ty).or_default() += 1
            }
            _ => {}
        }
    }
    (by_key, plain, total)
}

const FIXTURE_KEY: &str = "3e8fa111-b37f-4806-a7d7-20ddc589534f";

/// `reftoken keyring check --keyring RING --app-name APP_NAME MORE...`.
fn check(ring: &str, app_name: &str, more: &[&str]) -> Run {
    let mut args = vec![
        "keyring",
        "check",
        "--keyring",
        ring,
        "--app-name",
        app_name,
    ];
    args.extend_from_slice(more);
    reftoken(&args, None)
}

#[test]
fn keyring_check_attributes_grants_to_keys_and_finds_a_removed_key() {
    let (by_key, plain, total) = fixture_counts("persisted-grants.db");
    assert_eq!(by_key.keys().collect::<Vec<_>>(), [FIXTURE_KEY]);
    let db = fixture("persisted-grants.db");
    let store = ["--sqlite", db.as_str(), "--json"];

    // The host's own ring: its one key is the default, and protects every protected row.
    let r = check(&fixture("keyring"), common::APP_NAME, &store);
    let j: Value = serde_json::from_str(r.stdout.trim_end()).unwrap();
    assert_eq!(j["default_key"], FIXTURE_KEY);
    assert_eq!(j["grants"]["total"], total);
    assert_eq!(
        j["grants"]["by_key"][FIXTURE_KEY]["grants"],
        serde_json::to_value(&by_key[FIXTURE_KEY]).unwrap()
    );
    assert_eq!(j["grants"]["by_key"][FIXTURE_KEY]["in_ring"], true);
    assert_eq!(
        j["grants"]["unprotected"],
        serde_json::to_value(&plain).unwrap()
    );
    // The fixtures hold deliberately broken rows (tampered, truncated): found, not readable.
    let broken = j["grants"]["unreadable_total"].as_u64().unwrap();
    assert!(j["grants"]["unreadable"].get("unknown_key").is_none());
    assert_eq!(
        j["grants"]["readable"].as_u64().unwrap() + broken + plain.values().sum::<u64>(),
        total
    );

    // The key removed (a ring rebuilt without it): every protected grant names a key that is
    // not there; there is no default key; exit 1 after the report.
    let dir = tempfile::tempdir().unwrap();
    let r = check(dir.path().to_str().unwrap(), common::APP_NAME, &store);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let j: Value = serde_json::from_str(r.stdout.trim_end()).unwrap();
    assert_eq!(j["default_key"], Value::Null);
    assert_eq!(j["healthy"], false);
    assert_eq!(j["grants"]["by_key"][FIXTURE_KEY]["in_ring"], false);
    assert_eq!(
        j["grants"]["unreadable"]["unknown_key"],
        serde_json::to_value(&by_key[FIXTURE_KEY]).unwrap()
    );
    assert_eq!(j["grants"]["readable"], 0);
    assert!(
        r.stderr
            .starts_with("reftoken: error: key ring unhealthy: no default key"),
        "{}",
        r.stderr
    );

    // Another application name: the key is there, the payloads do not authenticate.
    let r = check(&fixture("keyring"), "no-such-application", &store);
    assert_eq!(r.code, 1);
    let j: Value = serde_json::from_str(r.stdout.trim_end()).unwrap();
    let protected: u64 = by_key[FIXTURE_KEY].values().sum();
    let not_authentic: u64 = j["grants"]["unreadable"]["not_authentic"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(not_authentic, protected);
}

fn iso(unix: i64) -> String {
    let mut s = String::new();
    reftoken::instant::format(Instant::from_unix_seconds(unix), &mut s);
    s
}

fn key_xml(id: &str, created: i64, expires: i64, secret: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<key id="{id}" version="1">
  <creationDate>{c}</creationDate>
  <activationDate>{c}</activationDate>
  <expirationDate>{e}</expirationDate>
  <descriptor deserializerType="Microsoft.AspNetCore.DataProtection.AuthenticatedEncryption.ConfigurationModel.AuthenticatedEncryptorDescriptorDeserializer, Microsoft.AspNetCore.DataProtection, Version=8.0.0.0, Culture=neutral, PublicKeyToken=adb9793829ddae60">
    <descriptor><encryption algorithm="AES_256_CBC" /><validation algorithm="HMACSHA256" />{secret}</descriptor>
  </descriptor>
</key>"#,
        c = iso(created),
        e = iso(expires)
    )
}

const MASTER: &str = r#"<masterKey p4:requiresEncryption="true" xmlns:p4="http://schemas.asp.net/2015/03/dataProtection"><value>q2+dpTUBV9K8cvBzh0aqGqGoSW3FHKbnDnPiXXOA3aGJPfs0UwJQK8ZQr5bUWjVtb5+pS8kcqvQ8sT4pBczyMw==</value></masterKey>"#;
const DPAPI: &str = r#"<encryptedSecret decryptorType="Microsoft.AspNetCore.DataProtection.XmlEncryption.DpapiXmlDecryptor, Microsoft.AspNetCore.DataProtection, Version=8.0.0.0, Culture=neutral, PublicKeyToken=adb9793829ddae60" xmlns="http://schemas.asp.net/2015/03/dataProtection"><encryptedKey xmlns=""><value>AQAAANCMnd8BFdERjHoAwE/Cl+sBAAAA</value></encryptedKey></encryptedSecret>"#;

#[test]
fn keyring_check_reports_default_expiring_revoked_and_unusable_keys() {
    let dir = tempfile::tempdir().unwrap();
    let now = unix_now();
    let day = 86_400;
    let (old, current, dpapi, revoked) = (
        "11111111-1111-4111-8111-111111111111",
        "22222222-2222-4222-8222-222222222222",
        "33333333-3333-4333-8333-333333333333",
        "44444444-4444-4444-8444-444444444444",
    );
    let write = |name: &str, xml: String| std::fs::write(dir.path().join(name), xml).unwrap();
    write(
        &format!("key-{old}.xml"),
        key_xml(old, now - 100 * day, now - 10 * day, MASTER),
    );
    // The most recently activated usable key (ASP.NET Core's default), expiring in 3 days.
    write(
        &format!("key-{current}.xml"),
        key_xml(current, now - 20 * day, now + 3 * day, MASTER),
    );
    write(
        &format!("key-{dpapi}.xml"),
        key_xml(dpapi, now - 30 * day, now + 60 * day, DPAPI),
    );
    write(
        &format!("key-{revoked}.xml"),
        key_xml(revoked, now - 40 * day, now + 50 * day, MASTER),
    );
    write(
        "revocation-1.xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<revocation version=\"1\">\n  <revocationDate>{}</revocationDate>\n  <key id=\"{revoked}\" />\n  <reason>leaked</reason>\n</revocation>",
            iso(now - day)
        ),
    );
    let ring = dir.path().to_str().unwrap();
    let r = check(ring, "app", &["--json"]);
    let j = json(&r);
    assert_eq!(j["default_key"], current);
    assert_eq!(j["healthy"], true);
    let status = |id: &str| -> Vec<String> {
        let k = j["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id)
            .unwrap();
        serde_json::from_value(k["status"].clone()).unwrap()
    };
    assert_eq!(status(old), ["expired"]);
    assert_eq!(status(current), ["default", "expiring"]);
    assert_eq!(status(dpapi), ["unusable"]);
    assert_eq!(status(revoked), ["revoked"]);
    let warnings = j["warnings"].to_string();
    assert!(
        warnings.contains(&format!("the default key {current} expires at")),
        "{warnings}"
    );
    assert!(
        warnings.contains(&format!("key {dpapi} cannot be used")),
        "{warnings}"
    );

    // The text form says the same, and a shorter window drops "expiring".
    let r = check(ring, "app", &["--expiring-within", "2"]);
    let text = r.line();
    assert!(text.contains(&format!("default key: {current}")), "{text}");
    assert!(
        text.contains(&format!("{current} created ")) && text.contains("[default]"),
        "{text}"
    );
    assert!(text.ends_with("\nhealthy"), "{text}");
}

// ---------------------------------------------------------------------------------------
// Exit codes

mod usage_errors {
    crate::exits! { 2 =>
        no_app_name: ["keyring", "check", "--keyring", "dir"];
        no_keyring: ["keyring", "check", "--app-name", "x"];
        two_stores: [
            "keyring", "check", "--keyring", "d", "--app-name", "x", "--sqlite", "a", "--postgres", "b",
        ];
    }
}

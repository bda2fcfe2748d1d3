//! `reftoken cleanup`, `revoke` and `keyring check` on IdentityServer's own schema: SQLite
//! (the EF Core schema of the Duende fixtures) and PostgreSQL (the Npgsql schema with
//! RefToken's migrations), with validators listening for revocations.
//!
//! Servers: the tests that need them are named `servers_*` and ignored by a plain `cargo test`
//! (see watch.rs): `eval "$(scripts/test-servers.sh start)"`, then `scripts/test-rust.sh`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant as Clock, SystemTime, UNIX_EPOCH};

use common::{PG_SCHEMA, fixture, fixtures, reftoken, with_dbname};
use reftoken::grant::{self, Claim, Token};
use reftoken::instant::Instant;
use reftoken::validation::StoredGrant;
use reftoken::validator::{CacheOptions, Found, Validator};
use serde_json::Value;

fn json(r: &common::Run) -> Value {
    serde_json::from_str(r.line()).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn server(var: &str, test: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{test}: {var} is not set: eval \"$(scripts/test-servers.sh start)\", then scripts/test-rust.sh"
        ),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A reference token's Data column as IdentityServer writes it (unprotected), for `sub`.
fn token_data(sub: &str) -> String {
    let t = Token {
        client_id: Some("c1".into()),
        creation_time: Instant::from_unix_seconds(unix_now()),
        lifetime: 3600,
        claims: vec![
            Claim::new("client_id", "c1"),
            Claim::new("scope", "api1.read"),
            Claim::new("sub", sub),
        ],
        ..Token::default()
    };
    grant::seal_data(&t.to_json(), false)
}

fn new_handle() -> (String, String) {
    let handle = reftoken::handle::new_handle().unwrap().to_string();
    let key = reftoken::key::store_key(&handle, "reference_token")
        .unwrap()
        .to_string();
    (handle, key)
}

// ---------------------------------------------------------------------------------------
// SQLite

/// A copy of the Duende fixture database (EF Core's SQLite schema, written by IdentityServer)
/// with its rows, or emptied.
fn sqlite_copy(dir: &Path, file: &str, empty: bool) -> PathBuf {
    let path = dir.join(file);
    std::fs::copy(fixtures().join(file), &path).unwrap();
    if empty {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute(r#"DELETE FROM "PersistedGrants""#, []).unwrap();
    }
    path
}

/// Inserts `n` rows whose Expiration and ConsumedTime are SQLite time expressions relative to
/// now (`None`: NULL), in EF Core's text format (SQLite's own clock and formatting).
fn sqlite_rows(
    c: &rusqlite::Connection,
    n: u32,
    sub: &str,
    expiration: Option<&str>,
    consumed: Option<&str>,
) {
    let t = |m: Option<&str>| {
        m.map_or("NULL".to_owned(), |m| {
            format!("strftime('%Y-%m-%d %H:%M:%f', 'now', '{m}')")
        })
    };
    c.execute(
        &format!(
            r#"WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < {n})
               INSERT INTO "PersistedGrants" ("Key", "Type", "SubjectId", "ClientId", "CreationTime",
                   "Expiration", "ConsumedTime", "Data")
               SELECT hex(randomblob(32)), 'reference_token', ?1, 'c1',
                   strftime('%Y-%m-%d %H:%M:%f', 'now', '-2 days'), {}, {}, '{{}}' FROM i"#,
            t(expiration),
            t(consumed)
        ),
        [sub],
    )
    .unwrap();
}

fn count(c: &rusqlite::Connection, cond: &str) -> i64 {
    c.query_row(
        &format!(r#"SELECT count(*) FROM "PersistedGrants" WHERE {cond}"#),
        [],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn cleanup_sqlite_deletes_what_identityserver_would_in_bounded_batches() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_copy(dir.path(), "persisted-grants-unprotected.db", true);
    let c = rusqlite::Connection::open(&db).unwrap();
    sqlite_rows(&c, 1234, "old", Some("-1 hour"), None);
    sqlite_rows(&c, 7, "just", Some("-2 seconds"), None);
    sqlite_rows(
        &c,
        300,
        "consumed-long-ago",
        Some("+1 hour"),
        Some("-2 hours"),
    );
    sqlite_rows(
        &c,
        40,
        "consumed-recently",
        Some("+1 hour"),
        Some("-10 minutes"),
    );
    sqlite_rows(&c, 500, "live", Some("+1 hour"), None);
    sqlite_rows(&c, 9, "no-expiration", None, None);
    let db_s = db.to_str().unwrap();

    // Dry runs count and delete nothing.
    let r = reftoken(&["cleanup", "--sqlite", db_s, "--dry-run", "--json"], None);
    let j = json(&r);
    assert_eq!(
        (j["expired"].as_u64(), j["consumed"].as_u64()),
        (Some(1241), Some(0))
    );
    let r = reftoken(
        &[
            "cleanup",
            "--sqlite",
            db_s,
            "--dry-run",
            "--consumed",
            "--consumed-delay",
            "3600",
        ],
        None,
    );
    assert!(
        r.line()
            .starts_with("would delete 1541 grants (1241 expired, 300 consumed) from "),
        "{}",
        r.stdout
    );
    assert_eq!(count(&c, "1"), 2090);

    // Batches of at most 100: 1241 rows are 13 statements; the summary says so, and nothing
    // but the expired rows went.
    let r = reftoken(
        &["cleanup", "--sqlite", db_s, "--batch-size", "100", "--json"],
        None,
    );
    assert!(
        r.stderr.is_empty(),
        "no progress bar off a terminal: {}",
        r.stderr
    );
    let j = json(&r);
    assert_eq!(j["expired"], 1241);
    assert_eq!(j["consumed"], 0);
    assert_eq!(j["batches"], 13);
    assert_eq!(j["locked"], false);
    assert!(j["longest_statement_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(count(&c, "1"), 849);
    assert_eq!(count(&c, r#""SubjectId" IN ('old', 'just')"#), 0);

    // Consumed grants older than the delay (ConsumedTokenCleanupDelay), not the recent ones.
    let r = reftoken(
        &[
            "cleanup",
            "--sqlite",
            db_s,
            "--consumed",
            "--consumed-delay",
            "3600",
        ],
        None,
    );
    assert!(
        r.line()
            .starts_with("deleted 300 grants (0 expired, 300 consumed) from ")
            && r.line().contains(" in 3 batches of at most 100 "),
        "{}",
        r.stdout
    );
    assert_eq!(count(&c, "1"), 549);
    assert_eq!(count(&c, r#""SubjectId" = 'consumed-recently'"#), 40);
    assert_eq!(count(&c, r#""Expiration" IS NULL"#), 9);

    // Nothing left to do: a clean summary, exit 0.
    let j = json(&reftoken(&["cleanup", "--sqlite", db_s, "--json"], None));
    assert_eq!(
        (j["total"].as_u64(), j["batches"].as_u64()),
        (Some(0), Some(0))
    );
}

#[test]
fn cleanup_sqlite_also_removes_stale_device_codes_and_pushed_requests() {
    // TokenCleanupService's other two passes, on the tables EF Core creates beside the grants.
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_copy(dir.path(), "persisted-grants-unprotected.db", true);
    let c = rusqlite::Connection::open(&db).unwrap();
    for (code, when) in [("A", "-1 hour"), ("B", "-1 day"), ("C", "+5 minutes")] {
        c.execute(
            &format!(
                r#"INSERT INTO "DeviceCodes" ("UserCode", "DeviceCode", "ClientId", "CreationTime", "Expiration", "Data")
                   VALUES (?1, ?1 || 'dev', 'c1', strftime('%Y-%m-%d %H:%M:%f', 'now', '-2 hours'),
                           strftime('%Y-%m-%d %H:%M:%f', 'now', '{when}'), '{{}}')"#
            ),
            [code],
        )
        .unwrap();
    }
    for (i, when) in ["-10 seconds", "+1 minute"].iter().enumerate() {
        c.execute(
            &format!(
                r#"INSERT INTO "PushedAuthorizationRequests" ("ReferenceValueHash", "ExpiresAtUtc", "Parameters")
                   VALUES ('h{i}', strftime('%Y-%m-%d %H:%M:%f', 'now', '{when}'), 'p')"#
            ),
            [],
        )
        .unwrap();
    }
    sqlite_rows(&c, 3, "old", Some("-1 hour"), None);
    let db_s = db.to_str().unwrap();
    let j = json(&reftoken(
        &["cleanup", "--sqlite", db_s, "--dry-run", "--json"],
        None,
    ));
    assert_eq!(
        (
            j["total"].as_u64(),
            j["device_codes"].as_u64(),
            j["pushed_authorization_requests"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
    let r = reftoken(&["cleanup", "--sqlite", db_s, "--batch-size", "1"], None);
    assert!(
        r.line().starts_with(
            "deleted 3 grants (3 expired, 0 consumed), 2 device codes, 1 pushed authorization requests from "
        ) && r.line().contains(" in 6 batches of at most 1 "),
        "{}",
        r.stdout
    );
    let left = |sql: &str| -> String { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        left(r#"SELECT group_concat("UserCode") FROM "DeviceCodes""#),
        "C"
    );
    assert_eq!(
        left(r#"SELECT group_concat("ReferenceValueHash") FROM "PushedAuthorizationRequests""#),
        "h1"
    );
}

#[test]
fn cleanup_of_duende_written_rows_removes_exactly_the_expired_ones() {
    // The fixture rows carry the times IdentityServer wrote; grants.json records them.
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_copy(dir.path(), "persisted-grants.db", false);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let grants = common::load("grants.json");
    let mine: Vec<&Value> = grants
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["db"] == "persisted-grants.db")
        .collect();
    let unix = |s: &str| {
        // "yyyy-MM-dd HH:mm:ss": days from the civil date (Howard Hinnant's algorithm).
        let (y, m, d): (i64, i64, i64) = (
            s[0..4].parse().unwrap(),
            s[5..7].parse().unwrap(),
            s[8..10].parse().unwrap(),
        );
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let (h, mi, se): (i64, i64, i64) = (
            s[11..13].parse().unwrap(),
            s[14..16].parse().unwrap(),
            s[17..19].parse().unwrap(),
        );
        days * 86_400 + h * 3600 + mi * 60 + se
    };
    let expired = mine
        .iter()
        .filter(|g| g["expiration"].as_str().is_some_and(|e| unix(e) < now))
        .count();
    assert!(expired > 0);
    let r = reftoken(
        &["cleanup", "--sqlite", db.to_str().unwrap(), "--json"],
        None,
    );
    assert_eq!(json(&r)["expired"], expired as u64);
    let c = rusqlite::Connection::open(&db).unwrap();
    assert_eq!(count(&c, "1") as usize, mine.len() - expired);
}

#[test]
fn revoke_sqlite_deletes_the_filtered_grants_and_reports_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_copy(dir.path(), "persisted-grants-unprotected.db", true);
    let c = rusqlite::Connection::open(&db).unwrap();
    let mut alice_s1 = Vec::new();
    let rows: &[(&str, &str, &str, &str)] = &[
        ("alice", "s1", "c1", "reference_token"),
        ("alice", "s1", "c2", "reference_token"),
        ("alice", "s1", "c1", "refresh_token"),
        ("alice", "s2", "c1", "reference_token"),
        ("bob", "s1", "c1", "reference_token"),
    ];
    for (i, (sub, sid, client, ty)) in rows.iter().enumerate() {
        let key = format!("KEY{i}");
        if *sub == "alice" && *sid == "s1" {
            alice_s1.push(key.clone());
        }
        c.execute(
            r#"INSERT INTO "PersistedGrants" ("Key", "Type", "SubjectId", "SessionId", "ClientId",
                   "CreationTime", "Expiration", "Data")
               VALUES (?1, ?2, ?3, ?4, ?5, '2026-01-01 00:00:00', '2099-01-01 00:00:00', '{}')"#,
            rusqlite::params![key, ty, sub, sid, client],
        )
        .unwrap();
    }
    let db_s = db.to_str().unwrap();
    let base = ["revoke", "--sqlite", db_s, "--subject", "alice"];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).collect()
    };

    // Dry run: what would go, nothing gone.
    let j = json(&reftoken(
        &with(&["--session-id", "s1", "--dry-run", "--json"]),
        None,
    ));
    assert_eq!((j["rows"].as_u64(), j["keys"].as_u64()), (Some(3), Some(3)));
    assert_eq!(count(&c, "1"), 5);

    // Narrowed by client and type: one row.
    let r = reftoken(
        &with(&[
            "--session-id",
            "s1",
            "--client-id",
            "c1",
            "--type",
            "refresh_token",
            "--json",
        ]),
        None,
    );
    let j = json(&r);
    assert_eq!(j["store_keys"], serde_json::json!(["KEY2"]));
    // No trigger and no Redis: stderr says the nodes were not told.
    assert!(r.stderr.contains("no node was told"), "{}", r.stderr);

    // The session, in batches of one.
    let r = reftoken(&with(&["--session-id", "s1", "--batch-size", "1"]), None);
    assert!(
        r.line()
            .starts_with("revoked 2 grants (2 store keys) from "),
        "{}",
        r.stdout
    );
    assert_eq!(count(&c, r#""SubjectId" = 'alice'"#), 1);
    assert_eq!(count(&c, r#""SubjectId" = 'bob'"#), 1);
    // Unknown subject: nothing, exit 0.
    let j = json(&reftoken(
        &["revoke", "--sqlite", db_s, "--subject", "nobody", "--json"],
        None,
    ));
    assert_eq!(j["rows"], 0);
}

#[test]
fn usage_errors_exit_2_and_store_errors_exit_1() {
    for args in [
        &["cleanup"][..],
        &[
            "cleanup",
            "--sqlite",
            "a.db",
            "--postgres",
            "postgresql://h/db",
        ],
        &["cleanup", "--sqlite", "a.db", "--batch-size", "0"],
        &["cleanup", "--sqlite", "a.db", "--consumed-delay", "10"],
        &["cleanup", "--sqlite", "a.db", "--wait", "-1"],
        &["revoke", "--sqlite", "a.db"],
        &["revoke", "--subject", "s"],
        &[
            "revoke",
            "--sqlite",
            "a.db",
            "--subject",
            "s",
            "--channel",
            "c",
        ],
        &["keyring", "check", "--keyring", "dir"],
        &["keyring", "check", "--app-name", "x"],
        &[
            "keyring",
            "check",
            "--keyring",
            "d",
            "--app-name",
            "x",
            "--sqlite",
            "a",
            "--postgres",
            "b",
        ],
    ] {
        let r = reftoken(args, None);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty());
    }
    let r = reftoken(&["revoke", "--sqlite", "a.db", "--subject", ""], None);
    assert_eq!(r.code, 2, "{}", r.stderr);
    for args in [
        &["cleanup", "--sqlite", "/nonexistent/grants.db"][..],
        &[
            "revoke",
            "--sqlite",
            "/nonexistent/grants.db",
            "--subject",
            "s",
        ],
        &[
            "cleanup",
            "--postgres",
            "postgresql://nobody:hunter2@127.0.0.1:1/none",
        ],
    ] {
        let r = reftoken(args, None);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty());
        assert!(
            r.stderr.starts_with("reftoken: error: ") && !r.stderr.contains("hunter2"),
            "{}",
            r.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------
// Key ring

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

#[test]
fn keyring_check_attributes_grants_to_keys_and_finds_a_removed_key() {
    let (by_key, plain, total) = fixture_counts("persisted-grants.db");
    assert_eq!(by_key.keys().collect::<Vec<_>>(), [FIXTURE_KEY]);
    let db = fixture("persisted-grants.db");
    let args = |ring: &str| {
        vec![
            "keyring".to_owned(),
            "check".into(),
            "--keyring".into(),
            ring.to_owned(),
            "--app-name".into(),
            common::APP_NAME.into(),
            "--sqlite".into(),
            db.clone(),
            "--json".into(),
        ]
    };

    // The host's own ring: its one key is the default, and protects every protected row.
    let r = reftoken(&args(&fixture("keyring")), None);
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
    let r = reftoken(&args(dir.path().to_str().unwrap()), None);
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
    let mut a = args(&fixture("keyring"));
    a[5] = "no-such-application".into();
    let r = reftoken(&a, None);
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
    let r = reftoken(
        &[
            "keyring",
            "check",
            "--keyring",
            ring,
            "--app-name",
            "app",
            "--json",
        ],
        None,
    );
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
    let r = reftoken(
        &[
            "keyring",
            "check",
            "--keyring",
            ring,
            "--app-name",
            "app",
            "--expiring-within",
            "2",
        ],
        None,
    );
    let text = r.line();
    assert!(text.contains(&format!("default key: {current}")), "{text}");
    assert!(
        text.contains(&format!("{current} created ")) && text.contains("[default]"),
        "{text}"
    );
    assert!(text.ends_with("\nhealthy"), "{text}");
}

// ---------------------------------------------------------------------------------------
// PostgreSQL and Redis

/// A database of its own with IdentityServer's table and the migrations up to `migrations`,
/// dropped afterwards.
struct GrantsDb {
    admin: String,
    name: String,
    url: String,
}

impl GrantsDb {
    fn create(admin: &str, tag: &str, migrations: &[&str]) -> GrantsDb {
        let name = format!("reftoken_ops_{tag}_{}", std::process::id());
        let mut c = postgres::Client::connect(admin, postgres::NoTls).expect("connect");
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let db = GrantsDb {
            admin: admin.to_owned(),
            url: with_dbname(admin, &name),
            name,
        };
        let mut c = db.connect();
        c.batch_execute(PG_SCHEMA).unwrap();
        for m in migrations {
            let sql = std::fs::read_to_string(format!(
                "{}/../migrations/postgres/{m}.sql",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            c.batch_execute(&sql).unwrap();
        }
        db
    }

    fn connect(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("connect")
    }
}

impl Drop for GrantsDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

const MIGRATIONS: &[&str] = &[
    "0001_reftoken_revocation_notify",
    "0002_reftoken_revocation_skip_expired",
];

/// `n` rows for `sub` expiring at `now() + expiration`, keys `{prefix}{i}`.
fn pg_rows(c: &mut postgres::Client, n: i32, prefix: &str, sub: &str, expiration: &str) {
    c.execute(
        &format!(
            r#"INSERT INTO "PersistedGrants" ("Key", "Type", "SubjectId", "ClientId", "CreationTime", "Expiration", "Data")
               SELECT $1 || i, 'reference_token', $2, 'c1', now() - interval '2 days',
                      now() + interval '{expiration}', '{{}}'
               FROM generate_series(1, $3) i"#
        ),
        &[&prefix, &sub, &n],
    )
    .unwrap();
}

fn pg_count(c: &mut postgres::Client) -> i64 {
    c.query_one(r#"SELECT count(*) FROM "PersistedGrants""#, &[])
        .unwrap()
        .get(0)
}

/// Notifications received on `c` (which LISTENs) within `d`.
fn notified(c: &mut postgres::Client, d: Duration) -> Vec<String> {
    use postgres::fallible_iterator::FallibleIterator;
    let mut out = Vec::new();
    let mut n = c.notifications();
    let mut it = n.timeout_iter(d);
    while let Some(m) = it.next().unwrap() {
        out.push(m.payload().to_owned());
    }
    out
}

#[test]
#[ignore = "needs PostgreSQL (REFTOKEN_TEST_POSTGRES): eval \"$(scripts/test-servers.sh start)\", then scripts/test-rust.sh"]
fn servers_two_cleanups_at_once_one_leader_no_notification_flood() {
    let admin = server(
        "REFTOKEN_TEST_POSTGRES",
        "servers_two_cleanups_at_once_one_leader_no_notification_flood",
    );
    let db = GrantsDb::create(&admin, "cleanup", MIGRATIONS);
    let mut c = db.connect();
    pg_rows(&mut c, 30_000, "old", "u", "-1 hour");
    pg_rows(&mut c, 3, "recent", "u", "-10 seconds");
    pg_rows(&mut c, 100, "live", "u", "1 hour");
    let mut listen = db.connect();
    listen.batch_execute("LISTEN reftoken_revocations").unwrap();

    // Two cleanups started together: both exit 0; one deletes everything, the other either
    // found the lock taken or (started after the first was done) nothing left.
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_reftoken"))
            .args([
                "cleanup",
                "--postgres",
                &db.url,
                "--batch-size",
                "100",
                "--json",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let mut deleted = 0;
    let mut locked = 0;
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let j: Value = serde_json::from_slice(&out.stdout).unwrap();
        deleted += j["expired"].as_u64().unwrap();
        if j["locked"] == true {
            locked += 1;
            assert_eq!(j["expired"], 0);
        } else {
            assert!(j["batches"].as_u64().unwrap() <= 301);
        }
    }
    eprintln!("{locked} of the two cleanups found the lock taken");
    assert_eq!(deleted, 30_003);
    assert_eq!(pg_count(&mut c), 100);
    // 0002: rows expired for a minute or more are not notified; the three that expired
    // seconds ago still are (validators with slow clocks may still serve them).
    let mut keys = notified(&mut listen, Duration::from_millis(500));
    keys.sort();
    assert_eq!(keys, ["recent1", "recent2", "recent3"]);

    // A cleanup that finds the lock held waits up to --wait, then leaves it to the holder.
    pg_rows(&mut c, 50, "later", "u", "-1 hour");
    let mut holder = db.connect();
    holder
        .batch_execute(
            r#"SELECT pg_advisory_lock(1381256003, '"PersistedGrants"'::regclass::oid::int4)"#,
        )
        .unwrap();
    let t = Clock::now();
    let r = reftoken(&["cleanup", "--postgres", &db.url, "--wait", "1"], None);
    assert!(t.elapsed() >= Duration::from_millis(900));
    assert!(
        r.line().starts_with("another cleanup holds the lock on "),
        "{}",
        r.stdout
    );
    assert_eq!(pg_count(&mut c), 150);
    // Released while the next one waits: it takes over and does the work.
    let waiter = Command::new(env!("CARGO_BIN_EXE_reftoken"))
        .args(["cleanup", "--postgres", &db.url, "--wait", "20", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    drop(holder);
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (j["locked"].as_bool(), j["expired"].as_u64()),
        (Some(false), Some(50))
    );
}

#[test]
#[ignore = "needs PostgreSQL (REFTOKEN_TEST_POSTGRES): eval \"$(scripts/test-servers.sh start)\", then scripts/test-rust.sh"]
fn servers_cleanup_without_0002_notifies_and_says_so() {
    let admin = server(
        "REFTOKEN_TEST_POSTGRES",
        "servers_cleanup_without_0002_notifies_and_says_so",
    );
    let db = GrantsDb::create(&admin, "cleanup0001", &MIGRATIONS[..1]);
    let mut c = db.connect();
    pg_rows(&mut c, 5, "old", "u", "-1 hour");
    let mut listen = db.connect();
    listen.batch_execute("LISTEN reftoken_revocations").unwrap();
    let r = reftoken(&["cleanup", "--postgres", &db.url, "--dry-run"], None);
    assert!(
        r.line()
            .starts_with("would delete 5 grants (5 expired, 0 consumed)")
    );
    let r = reftoken(&["cleanup", "--postgres", &db.url], None);
    assert!(r.line().starts_with("deleted 5 grants"), "{}", r.stdout);
    assert!(
        r.stderr
            .contains("0002_reftoken_revocation_skip_expired.sql"),
        "{}",
        r.stderr
    );
    assert_eq!(notified(&mut listen, Duration::from_millis(500)).len(), 5);
    // The down migration of 0002 restores this behaviour.
    let db2 = GrantsDb::create(&admin, "cleanupdown", MIGRATIONS);
    let down = std::fs::read_to_string(format!(
        "{}/../migrations/postgres/0002_reftoken_revocation_skip_expired.down.sql",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut c2 = db2.connect();
    c2.batch_execute(&down).unwrap();
    pg_rows(&mut c2, 2, "old", "u", "-1 hour");
    let r = reftoken(&["cleanup", "--postgres", &db2.url], None);
    assert!(
        r.stderr
            .contains("0002_reftoken_revocation_skip_expired.sql"),
        "{}",
        r.stderr
    );
}

/// A validator of this process (the library's, with a long cache TTL so that only an eviction
/// makes it look again), reading rows with `get` and counting its lookups.
type Get = Box<dyn Fn(&str) -> Option<StoredGrant> + Send + Sync>;

fn validator(
    get: Get,
) -> (
    Arc<Validator<impl reftoken::validator::Lookup>>,
    Arc<AtomicU64>,
) {
    let lookups = Arc::new(AtomicU64::new(0));
    let l = lookups.clone();
    let lookup = move |k: &str| -> Result<Option<StoredGrant>, reftoken::Error> {
        l.fetch_add(1, Ordering::SeqCst);
        Ok(get(k))
    };
    let v = Validator::new(
        lookup,
        None,
        CacheOptions {
            capacity: 1000,
            ttl_seconds: 3600,
        },
    );
    (Arc::new(v), lookups)
}

fn found<L: reftoken::validator::Lookup>(v: &Validator<L>, handle: &str) -> bool {
    let now = Instant::from_unix_seconds(unix_now());
    matches!(v.find(handle, now).unwrap(), Found::Token(_))
}

/// Waits until `handle` is no longer found (it was evicted and its row is gone).
fn until_gone<L: reftoken::validator::Lookup>(v: &Validator<L>, handle: &str) -> Duration {
    let t = Clock::now();
    while found(v, handle) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "still served after 10 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    t.elapsed()
}

#[test]
#[ignore = "needs PostgreSQL (REFTOKEN_TEST_POSTGRES_NOTIFY): eval \"$(scripts/test-servers.sh start)\", then scripts/test-rust.sh"]
fn servers_revoke_evicts_from_a_validator_listening_on_postgres() {
    let admin = server(
        "REFTOKEN_TEST_POSTGRES_NOTIFY",
        "servers_revoke_evicts_from_a_validator_listening_on_postgres",
    );
    let db = GrantsDb::create(&admin, "revoke", MIGRATIONS);
    let mut c = db.connect();
    let mut issued = Vec::new();
    for (sub, sid) in [
        ("alice", "s1"),
        ("alice", "s2"),
        ("alice", "s1"),
        ("bob", "s1"),
    ] {
        let (handle, key) = new_handle();
        c.execute(
            r#"INSERT INTO "PersistedGrants" ("Key", "Type", "SubjectId", "SessionId", "ClientId", "CreationTime", "Expiration", "Data")
               VALUES ($1, 'reference_token', $2, $3, 'c1', now(), now() + interval '1 hour', $4)"#,
            &[&key, &sub, &sid, &token_data(sub)],
        )
        .unwrap();
        issued.push((handle, key));
    }
    let store = Mutex::new(db.connect());
    let (v, lookups) = validator(Box::new(move |k| {
        store
            .lock()
            .unwrap()
            .query_opt(
                r#"SELECT "Type", "Data" FROM "PersistedGrants" WHERE "Key" = $1"#,
                &[&k],
            )
            .unwrap()
            .map(|r| StoredGrant {
                grant_type: r.get(0),
                data: r.get(1),
            })
    }));
    let listener = reftoken::revocation::postgres::listen(
        &db.url,
        v.clone(),
        reftoken::revocation::Options::default(),
    )
    .unwrap();
    listener.wait_listening(Duration::from_secs(10)).unwrap();
    for (h, _) in &issued {
        assert!(found(&v, h));
    }
    let cached = lookups.load(Ordering::SeqCst);
    for (h, _) in &issued {
        assert!(found(&v, h));
    }
    assert_eq!(
        lookups.load(Ordering::SeqCst),
        cached,
        "served from the cache"
    );

    // Another process revokes alice's session s1: the trigger tells this validator.
    let r = reftoken(
        &[
            "revoke",
            "--postgres",
            &db.url,
            "--subject",
            "alice",
            "--session-id",
            "s1",
            "--json",
        ],
        None,
    );
    let j = json(&r);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    assert_eq!(
        (j["rows"].as_u64(), j["trigger"].as_bool()),
        (Some(2), Some(true))
    );
    let mut keys: Vec<String> = serde_json::from_value(j["store_keys"].clone()).unwrap();
    keys.sort();
    let mut want = vec![issued[0].1.clone(), issued[2].1.clone()];
    want.sort();
    assert_eq!(keys, want);
    for i in [0, 2] {
        let took = until_gone(&v, &issued[i].0);
        eprintln!("revoked token {i} evicted after {took:?}");
    }
    // The others are still served from the cache.
    let before = lookups.load(Ordering::SeqCst);
    assert!(found(&v, &issued[1].0) && found(&v, &issued[3].0));
    assert_eq!(lookups.load(Ordering::SeqCst), before);
    listener.stop();
}

#[test]
#[ignore = "needs Redis (REFTOKEN_TEST_REDIS): eval \"$(scripts/test-servers.sh start)\", then scripts/test-rust.sh"]
fn servers_revoke_on_sqlite_publishes_keys_that_a_redis_listener_evicts() {
    let redis = server(
        "REFTOKEN_TEST_REDIS",
        "servers_revoke_on_sqlite_publishes_keys_that_a_redis_listener_evicts",
    );
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_copy(dir.path(), "persisted-grants-unprotected.db", true);
    let c = rusqlite::Connection::open(&db).unwrap();
    let mut issued = Vec::new();
    for sub in ["carol", "carol", "dave"] {
        let (handle, key) = new_handle();
        c.execute(
            r#"INSERT INTO "PersistedGrants" ("Key", "Type", "SubjectId", "ClientId", "CreationTime", "Expiration", "Data")
               VALUES (?1, 'reference_token', ?2, 'c1', strftime('%Y-%m-%d %H:%M:%f', 'now'),
                       strftime('%Y-%m-%d %H:%M:%f', 'now', '+1 hour'), ?3)"#,
            rusqlite::params![key, sub, token_data(sub)],
        )
        .unwrap();
        issued.push((handle, key));
    }
    let store = Mutex::new(rusqlite::Connection::open(&db).unwrap());
    let (v, lookups) = validator(Box::new(move |k| {
        let c = store.lock().unwrap();
        c.query_row(
            r#"SELECT "Type", "Data" FROM "PersistedGrants" WHERE "Key" = ?1"#,
            [k],
            |r| {
                Ok(StoredGrant {
                    grant_type: r.get(0)?,
                    data: r.get(1)?,
                })
            },
        )
        .ok()
    }));
    let channel = format!("reftoken-ops-{}", std::process::id());
    let listener = reftoken::revocation::redis::listen(
        &redis,
        v.clone(),
        reftoken::revocation::Options {
            channel: channel.clone(),
            ..reftoken::revocation::Options::default()
        },
    )
    .unwrap();
    listener.wait_listening(Duration::from_secs(10)).unwrap();
    for (h, _) in &issued {
        assert!(found(&v, h));
    }
    let r = reftoken(
        &[
            "revoke",
            "--sqlite",
            db.to_str().unwrap(),
            "--subject",
            "carol",
            "--redis",
            &redis,
            "--channel",
            &channel,
        ],
        None,
    );
    assert!(
        r.line()
            .starts_with("revoked 2 grants (2 store keys) from ")
            && r.line().contains(&format!(
                "nodes told by Redis (2 keys published on {channel}, 2 deliveries)"
            )),
        "{}",
        r.stdout
    );
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    until_gone(&v, &issued[0].0);
    until_gone(&v, &issued[1].0);
    let before = lookups.load(Ordering::SeqCst);
    assert!(found(&v, &issued[2].0));
    assert_eq!(lookups.load(Ordering::SeqCst), before);
    listener.stop();
}

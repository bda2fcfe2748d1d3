//! `reftoken revoke` on IdentityServer's own schema, SQLite and PostgreSQL, with validators of
//! this process listening for revocations on PostgreSQL (the trigger) and Redis (the CLI's
//! publish).
//!
//! Servers: the tests that need them are named `servers_*` and ignored by a plain `cargo test`
//! (see watch.rs): `eval "$(scripts/test-servers.sh start)"`, then `scripts/test-rust.sh`.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant as Clock};

use common::stores::{GrantsDb, MIGRATIONS, count, sqlite_copy};
use common::{json, new_handle, reftoken, server, unix_now};
use reftoken::grant::{self, Claim, Token};
use reftoken::instant::Instant;
use reftoken::validation::StoredGrant;
use reftoken::validator::{CacheOptions, Found, Validator};

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

// ---------------------------------------------------------------------------------------
// SQLite

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

// ---------------------------------------------------------------------------------------
// Exit codes

mod usage_errors {
    crate::exits! { 2 =>
        no_subject: ["revoke", "--sqlite", "a.db"];
        no_store: ["revoke", "--subject", "s"];
        channel_without_redis: ["revoke", "--sqlite", "a.db", "--subject", "s", "--channel", "c"];
        empty_subject: ["revoke", "--sqlite", "a.db", "--subject", ""];
    }
}

mod store_errors {
    crate::exits! { 1 =>
        missing_sqlite_file: ["revoke", "--sqlite", "/nonexistent/grants.db", "--subject", "s"];
    }
}

// ---------------------------------------------------------------------------------------
// Validators listening on PostgreSQL and Redis

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
